#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfi.h"
#include "mem.h"
#include "symbols/ehframe.h"

/*
 * How a row comes about.  The .eh_frame_hdr table gives, by binary search,
 * the FDE whose initial location is the last one at or below the address;
 * the FDE names its CIE.  The CIE's initial instructions run to the end and
 * give the initial rules (DW_CFA_restore returns to them); the FDE's run
 * from its initial location while that location is at or below the address
 * (libunwind's condition: an advance past the address stops the program,
 * instructions at exactly the address still apply).  The final rules become
 * the row.
 *
 * libunwind 1.6.2 is the reference, quirks included: it skips opcodes it
 * does not know without consuming their operands, reads the augmentation
 * of a 'z' CIE only as far as the letters it knows, keeps only the first
 * four letters, treats a pointer value of 0 as absolute.  Rather than copy
 * such readings, every case where they could make its rules differ from the
 * standard ones is CFI_UNSUPPORTED here, and the unwinder lets libunwind
 * itself handle that frame.  The bytes are read with symbols/ehframe.h,
 * which reads and reports; what a row accepts of them is decided here.
 */

/* DW_CFA_* opcodes (the high two bits carry advance_loc, offset, restore). */
#define DW_CFA_advance_loc 0x40
#define DW_CFA_offset 0x80
#define DW_CFA_restore 0xc0
#define DW_CFA_nop 0x00
#define DW_CFA_advance_loc1 0x02
#define DW_CFA_advance_loc2 0x03
#define DW_CFA_advance_loc4 0x04
#define DW_CFA_offset_extended 0x05
#define DW_CFA_restore_extended 0x06
#define DW_CFA_undefined 0x07
#define DW_CFA_same_value 0x08
#define DW_CFA_register 0x09
#define DW_CFA_remember_state 0x0a
#define DW_CFA_restore_state 0x0b
#define DW_CFA_def_cfa 0x0c
#define DW_CFA_def_cfa_register 0x0d
#define DW_CFA_def_cfa_offset 0x0e
#define DW_CFA_def_cfa_expression 0x0f
#define DW_CFA_expression 0x10
#define DW_CFA_offset_extended_sf 0x11
#define DW_CFA_def_cfa_sf 0x12
#define DW_CFA_def_cfa_offset_sf 0x13
#define DW_CFA_val_expression 0x16
#define DW_CFA_GNU_args_size 0x2e
#define DW_CFA_GNU_negative_offset_extended 0x2f

/* DW_CFA_remember_state nesting we follow (GCC uses one level). */
#define CFI_STATE_STACK 16

/* Ways per set of the row cache. */
#define CFI_WAYS 4

/*
 * LEB128 numbers of more bytes are refused (64 bits need ten): libunwind
 * would shift their further bytes by 64 or more, which C leaves undefined.
 */
#define CFI_LEB_MAX 10

/* Where a register is while the programs run (a superset of enum cfi_how). */
enum cfi_where {
	CFI_W_SAME,
	CFI_W_UNDEF,
	CFI_W_OFFSET,
	CFI_W_REG,
	CFI_W_EXPR,		/* DW_CFA_expression, DW_CFA_val_expression */
};

/* How the CFA is computed while the programs run. */
enum cfi_cfa_where {
	CFI_CFA_NONE,		/* never defined */
	CFI_CFA_REG,
	CFI_CFA_EXPR,
};

/* The rules while the programs run: what DW_CFA_remember_state saves. */
struct cfi_rules {
	uint8_t where[REGS_DWARF_COUNT];
	uint8_t cfa_where;
	uint8_t cfa_reg;
	uint64_t val[REGS_DWARF_COUNT];
	uint64_t cfa_off;
};

/* What a CIE says, as far as rows need it. */
struct cfi_cie {
	struct ehframe_cie e;
	uint64_t instr_start, instr_end;	/* its instructions, positions in .eh_frame */
};

struct cfi_entry {
	const struct elf_image *img;	/* NULL: empty */
	uint64_t off;
	struct cfi_row row;
};

struct cfi_cache {
	struct cfi_entry *slots;
	size_t nsets;		/* a power of two */
	unsigned shift;		/* 64 - log2(nsets) */
	unsigned victim;	/* round-robin way for evictions */
	struct cfi_cache_stats stats;
};

/* Starts a reader over one of the image's sections, with LEB128 numbers bounded as above. */
static void cfi_reader_init(struct ehframe_reader *r, uint64_t vaddr, const uint8_t *data,
			    size_t size)
{
	ehframe_reader_init(r, vaddr, data, size);
	r->leb_max = CFI_LEB_MAX;
}

/* Reads a register number, which libunwind refuses from 17 on (DW_CFA_* operands). */
static int cfi_read_reg(struct ehframe_reader *r, uint64_t *reg)
{
	return ehframe_uleb(r, reg) < 0 || *reg >= REGS_DWARF_COUNT ? -1 : 0;
}

/* Whether a pointer encoding's format has a fixed size: libunwind misreads sleb128. */
static int cfi_fixed_format(uint8_t enc)
{
	uint8_t format = enc & EHFRAME_PE_FORMAT;

	return format != EHFRAME_PE_ULEB128 && format != EHFRAME_PE_SLEB128;
}

/* Reads an encoded pointer of a fixed-size format (see cfi_fixed_format). */
static int cfi_read_pointer(struct ehframe_reader *r, uint8_t enc, uint64_t *raw, uint64_t *value)
{
	return cfi_fixed_format(enc) ? ehframe_pointer(r, enc, raw, value) : -1;
}

/* True when the word at image address vaddr is in the file (an indirect pointer's target). */
static int cfi_readable(const struct elf_image *img, uint64_t vaddr)
{
	uint64_t off;
	size_t size;

	return elf_image_vaddr_to_offset(img, vaddr, &off) == 0 && elf_image_data(img, &size) != NULL &&
	       off < size;
}

/*
 * Tells whether libunwind would read, without failing, a pointer whose
 * value we skip (personality, LSDA), read as raw and value: it rejects
 * text-relative and unknown applications, and follows an indirect pointer
 * through memory, which we only vouch for when it is pc-relative and inside
 * the file.
 */
static int cfi_pointer_ok(uint8_t enc, uint64_t raw, uint64_t value, const struct elf_image *img)
{
	if (enc == EHFRAME_PE_OMIT)
		return 0;
	if (enc == EHFRAME_PE_ALIGNED || !cfi_fixed_format(enc))
		return -1;
	if (raw == 0)
		return 0;	/* absolute 0 before anything else is applied */
	switch (enc & EHFRAME_PE_APPL) {
	case EHFRAME_PE_ABSPTR:
	case EHFRAME_PE_DATAREL:
	case EHFRAME_PE_FUNCREL:
		/* An absolute target address: fine unless it must be followed. */
		return (enc & EHFRAME_PE_INDIRECT) == 0 ? 0 : -1;
	case EHFRAME_PE_PCREL:
		return (enc & EHFRAME_PE_INDIRECT) == 0 || cfi_readable(img, value) ? 0 : -1;
	default:
		return -1;
	}
}

/* Reads a pointer whose value we skip (the LSDA); whether libunwind would, as cfi_pointer_ok. */
static int cfi_skip_pointer(struct ehframe_reader *r, uint8_t enc, const struct elf_image *img)
{
	uint64_t raw = 0, value = 0;

	if (enc != EHFRAME_PE_OMIT &&
	    (enc == EHFRAME_PE_ALIGNED || cfi_read_pointer(r, enc, &raw, &value) < 0))
		return -1;
	return cfi_pointer_ok(enc, raw, value, img);
}

/* Parses the CIE at position off of .eh_frame; -1 for anything a row should not rely on. */
static int cfi_parse_cie(struct ehframe_reader *r, uint64_t off, const struct elf_image *img,
			 struct cfi_cie *cie)
{
	struct ehframe_cie *e = &cie->e;
	struct ehframe_record rec;

	r->pos = off;
	/* The 32-bit format only, as for FDEs (cfi_row_find). */
	if (ehframe_record_length(r, &rec) < 0 || rec.wide || rec.len == 0 ||
	    rec.len > r->end - r->pos)
		return -1;
	cie->instr_end = rec.end;
	if (ehframe_record_id(r, &rec) < 0 || rec.id != 0 || ehframe_cie_head(r, e) < 0)
		return -1;
	/* libunwind takes versions 1 (GCC's) and 3 to 4, and would drop a fifth letter on. */
	if ((e->version != 1 && e->version != 3 && e->version != 4) || e->aug_len > EHFRAME_AUG_MAX)
		return -1;
	if (ehframe_cie_factors(r, e) < 0 || e->ra != REGS_DWARF_IP)
		return -1;
	for (size_t i = 0; e->aug[i] != '\0'; i++) {
		/* Another letter, or 'z' not first: libunwind would start the
		   instructions inside the augmentation. */
		if (ehframe_cie_letter(r, e, e->aug[i], i == 0) != 0)
			return -1;
		if (e->aug[i] == 'P' && cfi_pointer_ok(e->per_enc, e->per_raw, e->per_value, img) < 0)
			return -1;
	}
	cie->instr_start = r->pos;
	return cie->instr_start <= cie->instr_end ? 0 : -1;
}

/* Sets register reg's rule. */
static void cfi_set(struct cfi_rules *s, uint64_t reg, enum cfi_where where, uint64_t val)
{
	s->where[reg] = (uint8_t)where;
	s->val[reg] = val;
}

/*
 * Runs the CFI instructions in [r->pos, end) while the location is at or
 * below end_loc, starting at location loc.  init holds the rules after the
 * CIE (for DW_CFA_restore); NULL while running the CIE itself, where
 * DW_CFA_restore has nothing to return to (libunwind reads zeroes there:
 * not worth following).  -1 for anything unsupported.
 */
static int cfi_run(struct ehframe_reader *r, uint64_t end, const struct cfi_cie *cie, uint64_t loc,
		   uint64_t end_loc, const struct cfi_rules *init, struct cfi_rules *s)
{
	struct cfi_rules stack[CFI_STATE_STACK];
	unsigned depth = 0;
	uint64_t reg, val, len;
	uint8_t op, operand;

	while (loc <= end_loc && r->pos < end) {
		if (ehframe_u8(r, &op) < 0)
			return -1;
		operand = op & 0x3f;
		switch (op & 0xc0) {
		case DW_CFA_advance_loc:
			loc += operand * cie->e.code_align;
			continue;
		case DW_CFA_offset:
			if (operand >= REGS_DWARF_COUNT || ehframe_uleb(r, &val) < 0)
				return -1;
			cfi_set(s, operand, CFI_W_OFFSET, val * cie->e.data_align);
			continue;
		case DW_CFA_restore:
			if (operand >= REGS_DWARF_COUNT || init == NULL)
				return -1;
			cfi_set(s, operand, init->where[operand], init->val[operand]);
			continue;
		}
		switch (op) {
		case DW_CFA_nop:
			break;
		case DW_CFA_advance_loc1:
		case DW_CFA_advance_loc2:
		case DW_CFA_advance_loc4:
			/* 1, 2 and 4 bytes for opcodes 2, 3 and 4. */
			if (ehframe_uint(r, op == DW_CFA_advance_loc4 ? 4 : op - 1u, &val) < 0)
				return -1;
			loc += val * cie->e.code_align;
			break;
		case DW_CFA_offset_extended:
			if (cfi_read_reg(r, &reg) < 0 || ehframe_uleb(r, &val) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_OFFSET, val * cie->e.data_align);
			break;
		case DW_CFA_offset_extended_sf:
			if (cfi_read_reg(r, &reg) < 0 || ehframe_sleb(r, &val) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_OFFSET, val * cie->e.data_align);
			break;
		case DW_CFA_GNU_negative_offset_extended:
			if (cfi_read_reg(r, &reg) < 0 || ehframe_uleb(r, &val) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_OFFSET, -(val * cie->e.data_align));
			break;
		case DW_CFA_restore_extended:
			if (cfi_read_reg(r, &reg) < 0 || init == NULL)
				return -1;
			cfi_set(s, reg, init->where[reg], init->val[reg]);
			break;
		case DW_CFA_undefined:
			if (cfi_read_reg(r, &reg) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_UNDEF, 0);
			break;
		case DW_CFA_same_value:
			if (cfi_read_reg(r, &reg) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_SAME, 0);
			break;
		case DW_CFA_register:
			if (cfi_read_reg(r, &reg) < 0 || ehframe_uleb(r, &val) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_REG, val);
			break;
		case DW_CFA_remember_state:
			if (depth == CFI_STATE_STACK)
				return -1;
			stack[depth++] = *s;
			break;
		case DW_CFA_restore_state:
			if (depth == 0)
				return -1;
			*s = stack[--depth];
			break;
		case DW_CFA_def_cfa:
			if (cfi_read_reg(r, &reg) < 0 || ehframe_uleb(r, &val) < 0)
				return -1;
			s->cfa_where = CFI_CFA_REG;
			s->cfa_reg = (uint8_t)reg;
			s->cfa_off = val;
			break;
		case DW_CFA_def_cfa_sf:
			if (cfi_read_reg(r, &reg) < 0 || ehframe_sleb(r, &val) < 0)
				return -1;
			s->cfa_where = CFI_CFA_REG;
			s->cfa_reg = (uint8_t)reg;
			s->cfa_off = val * cie->e.data_align;
			break;
		case DW_CFA_def_cfa_register:
			if (cfi_read_reg(r, &reg) < 0)
				return -1;
			s->cfa_where = CFI_CFA_REG;
			s->cfa_reg = (uint8_t)reg;
			break;
		case DW_CFA_def_cfa_offset:
			if (ehframe_uleb(r, &val) < 0)
				return -1;
			s->cfa_off = val;
			break;
		case DW_CFA_def_cfa_offset_sf:
			if (ehframe_sleb(r, &val) < 0)
				return -1;
			s->cfa_off = val * cie->e.data_align;
			break;
		case DW_CFA_def_cfa_expression:
			if (ehframe_uleb(r, &len) < 0)
				return -1;
			s->cfa_where = CFI_CFA_EXPR;
			/* Skipping past the end just ends the program, as in libunwind. */
			r->pos = len < end - r->pos ? r->pos + len : end;
			break;
		case DW_CFA_expression:
		case DW_CFA_val_expression:
			if (cfi_read_reg(r, &reg) < 0 || ehframe_uleb(r, &len) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_EXPR, 0);
			r->pos = len < end - r->pos ? r->pos + len : end;
			break;
		case DW_CFA_GNU_args_size:
			if (ehframe_uleb(r, &val) < 0)
				return -1;
			break;
		default:
			/* DW_CFA_set_loc, val_offset, vendor opcodes: libunwind
			   fails on some and skips others without their operands. */
			return -1;
		}
	}
	return 0;
}

/* Turns the final rules into a row; CFI_UNSUPPORTED when a row cannot hold them. */
static void cfi_make_row(const struct cfi_rules *s, int signal, struct cfi_row *row)
{
	int64_t off;

	row->status = CFI_UNSUPPORTED;
	/* libunwind reads the CFA "register" rip as the frame's IP, not a column. */
	if (s->cfa_where != CFI_CFA_REG || s->cfa_reg == REGS_DWARF_IP)
		return;
	off = (int64_t)s->cfa_off;
	if (off < INT32_MIN || off > INT32_MAX)
		return;
	/* A rule for rsp would stop the CFA from being the caller's SP. */
	if (s->where[REGS_DWARF_SP] != CFI_W_SAME)
		return;
	row->cfa_reg = s->cfa_reg;
	row->cfa_off = (int32_t)off;
	row->signal = (uint8_t)signal;
	row->nrules = 0;
	for (unsigned reg = 0; reg < REGS_DWARF_COUNT; reg++) {
		struct cfi_rule *rule = &row->rules[row->nrules];

		if (s->where[reg] == CFI_W_SAME)
			continue;
		if (row->nrules == CFI_MAX_RULES)
			return;
		rule->reg = (uint8_t)reg;
		switch (s->where[reg]) {
		case CFI_W_UNDEF:
			rule->how = CFI_UNDEFINED;
			rule->arg = 0;
			break;
		case CFI_W_OFFSET:
			off = (int64_t)s->val[reg];
			if (off < INT16_MIN || off > INT16_MAX)
				return;
			rule->how = CFI_OFFSET;
			rule->arg = (int16_t)off;
			break;
		case CFI_W_REG:
			if (s->val[reg] >= REGS_DWARF_COUNT)
				return;
			rule->how = CFI_REGISTER;
			rule->arg = (int16_t)s->val[reg];
			break;
		default:
			return;
		}
		row->nrules++;
	}
	row->status = CFI_OK;
}

/*
 * Finds the FDE for vaddr in the search table (ehframe_hdr_search, in
 * libunwind's 32-bit arithmetic relative to the header).  Returns its
 * address, or -1 when vaddr is below the first.
 */
static int cfi_search(const struct cfi_table *t, uint64_t vaddr, uint64_t *fde_vaddr)
{
	struct ehframe_reader r;

	cfi_reader_init(&r, t->hdr_vaddr, t->hdr_data, t->hdr_size);
	return ehframe_hdr_search(&r, t->table_vaddr - t->hdr_vaddr, t->fde_count, t->hdr_vaddr,
				  vaddr, fde_vaddr);
}

void cfi_row_find(const struct cfi_table *t, const struct elf_image *img, uint64_t vaddr,
		  struct cfi_row *row)
{
	struct ehframe_reader r;
	struct ehframe_record fde;
	struct cfi_rules init, s;
	struct cfi_cie cie;
	uint64_t fde_vaddr, raw, value, start, range, aug_size, cie_off, instr_start;
	uint8_t enc;

	memset(row, 0, sizeof(*row));
	row->status = CFI_NOINFO;
	if (t->fde_count == 0 || cfi_search(t, vaddr, &fde_vaddr) < 0)
		return;
	row->status = CFI_UNSUPPORTED;
	if (t->frame_size == 0 || fde_vaddr - t->frame_vaddr >= t->frame_size)
		return;
	cfi_reader_init(&r, t->frame_vaddr, t->frame_data, t->frame_size);
	r.pos = fde_vaddr - t->frame_vaddr;
	/*
	 * Rows are made from the 32-bit format only, which is all compilers
	 * write to .eh_frame: libunwind unwinds the rest.
	 */
	if (ehframe_record_length(&r, &fde) < 0 || fde.wide)
		return;
	if (fde.len == 0) {
		row->status = CFI_NOINFO;	/* a terminator, not an FDE */
		return;
	}
	if (fde.len > r.end - r.pos || ehframe_record_id(&r, &fde) < 0)
		return;
	if (fde.id == 0) {
		row->status = CFI_NOINFO;	/* a CIE where an FDE should be */
		return;
	}
	/* The CIE pointer counts back from its own field. */
	cie_off = ehframe_record_cie(&fde);
	if (cie_off >= r.end || cfi_parse_cie(&r, cie_off, img, &cie) < 0)
		return;
	r.pos = fde.body + 4;

	/* Initial location: pc-relative, or absolute in an ET_EXEC file. */
	enc = cie.e.fde_enc;
	if (enc == EHFRAME_PE_OMIT || enc == EHFRAME_PE_ALIGNED || (enc & EHFRAME_PE_INDIRECT) != 0 ||
	    cfi_read_pointer(&r, enc, &raw, &value) < 0 || raw == 0)
		return;
	if ((enc & EHFRAME_PE_APPL) == EHFRAME_PE_PCREL)
		start = value;
	else if ((enc & EHFRAME_PE_APPL) == EHFRAME_PE_ABSPTR && elf_image_is_exec(img))
		start = raw;
	else
		return;
	if (cfi_read_pointer(&r, enc & EHFRAME_PE_FORMAT, &range, NULL) < 0)
		return;
	instr_start = 0;
	if (cie.e.sized) {
		if (ehframe_uleb(&r, &aug_size) < 0 || aug_size > fde.end - r.pos)
			return;
		instr_start = r.pos + aug_size;
	}
	if (cfi_skip_pointer(&r, cie.e.lsda_enc, img) < 0)
		return;
	/* libunwind reads an ABI marker after the LSDA of 'S' frames. */
	if (cie.e.signal && ehframe_uint(&r, 4, NULL) < 0)
		return;
	if (!cie.e.sized)
		instr_start = r.pos;
	if (instr_start > fde.end)
		return;
	if (vaddr < start || vaddr - start >= range) {
		row->status = CFI_NOINFO;
		return;
	}

	memset(&s, 0, sizeof(s));
	r.pos = cie.instr_start;
	if (cfi_run(&r, cie.instr_end, &cie, 0, UINT64_MAX, NULL, &s) < 0)
		return;
	init = s;
	r.pos = instr_start;
	if (cfi_run(&r, fde.end, &cie, start, vaddr, &init, &s) < 0)
		return;
	cfi_make_row(&s, cie.e.signal, row);
}

void cfi_table_load(struct cfi_table *t, const struct elf_image *img)
{
	struct ehframe_reader r;
	struct ehframe_hdr hdr;

	memset(t, 0, sizeof(*t));
	if (elf_image_section(img, ".eh_frame", &t->frame_vaddr, &t->frame_data, &t->frame_size) < 0)
		t->frame_size = 0;
	if (elf_image_section(img, ".eh_frame_hdr", &t->hdr_vaddr, &t->hdr_data, &t->hdr_size) < 0)
		return;
	cfi_reader_init(&r, t->hdr_vaddr, t->hdr_data, t->hdr_size);
	if (ehframe_hdr_read(&r, &hdr) < 0)
		return;
	/*
	 * As libunwind reads it: eh_frame_ptr is only skipped, fde_count is a
	 * plain number, both of fixed-size formats; and the table has entries.
	 */
	if (!cfi_fixed_format(hdr.ptr_enc) || !cfi_fixed_format(hdr.count_enc) ||
	    (hdr.count_enc & EHFRAME_PE_APPL) != 0 || hdr.count == 0)
		return;
	t->table_vaddr = t->hdr_vaddr + hdr.table;
	t->fde_count = hdr.count;
}

struct cfi_cache *cfi_cache_new(size_t slots)
{
	struct cfi_cache *c = mem_zalloc(sizeof(*c));
	size_t nsets = 1;
	unsigned bits = 0;

	while (nsets * CFI_WAYS < slots) {
		nsets *= 2;
		bits++;
	}
	c->nsets = nsets;
	c->shift = 64 - bits;
	c->slots = mem_calloc(nsets * CFI_WAYS, sizeof(*c->slots));
	return c;
}

void cfi_cache_free(struct cfi_cache *c)
{
	if (c == NULL)
		return;
	free(c->slots);
	free(c);
}

void cfi_cache_clear(struct cfi_cache *c)
{
	memset(c->slots, 0, c->nsets * CFI_WAYS * sizeof(*c->slots));
}

/* The set of (img, off): a multiplicative hash of both. */
static size_t cfi_cache_set(const struct cfi_cache *c, const struct elf_image *img, uint64_t off)
{
	uint64_t h = (off ^ ((uint64_t)(uintptr_t)img * 0xff51afd7ed558ccdULL)) *
		     0x9e3779b97f4a7c15ULL;

	return c->shift >= 64 ? 0 : (size_t)(h >> c->shift);
}

const struct cfi_row *cfi_cache_row(struct cfi_cache *c, const struct cfi_table *t,
				    const struct elf_image *img, uint64_t off)
{
	struct cfi_entry *set = &c->slots[cfi_cache_set(c, img, off) * CFI_WAYS], *e = NULL;
	uint64_t vaddr;

	for (unsigned i = 0; i < CFI_WAYS; i++) {
		if (set[i].img == img && set[i].off == off) {
			c->stats.hits++;
			return &set[i].row;
		}
		if (e == NULL && set[i].img == NULL)
			e = &set[i];
	}
	c->stats.misses++;
	if (e == NULL) {
		e = &set[c->victim++ % CFI_WAYS];
		c->stats.evictions++;
	}
	e->img = img;
	e->off = off;
	if (elf_image_offset_to_vaddr(img, off, &vaddr) == 0) {
		cfi_row_find(t, img, vaddr, &e->row);
	} else {
		memset(&e->row, 0, sizeof(e->row));
		e->row.status = CFI_NOINFO;
	}
	return &e->row;
}

void cfi_cache_stats(const struct cfi_cache *c, struct cfi_cache_stats *stats)
{
	*stats = c->stats;
}
