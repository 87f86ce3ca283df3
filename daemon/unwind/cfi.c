#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfi.h"
#include "mem.h"

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
 * itself handle that frame.
 */

/* DWARF exception-header pointer encodings. */
#define CFI_PE_OMIT 0xff
#define CFI_PE_ALIGNED 0x50
#define CFI_PE_FORMAT_MASK 0x0f
#define CFI_PE_APPL_MASK 0x70
#define CFI_PE_INDIRECT 0x80
#define CFI_PE_ABSPTR 0x00
#define CFI_PE_PCREL 0x10
#define CFI_PE_TEXTREL 0x20
#define CFI_PE_DATAREL 0x30
#define CFI_PE_FUNCREL 0x40
#define CFI_PE_DATAREL_SDATA4 0x3b

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

/* A cursor over .eh_frame bytes; any read past the section fails. */
struct cfi_reader {
	const uint8_t *data;
	size_t size;
	uint64_t vaddr;		/* of data[0] */
	size_t off;
};

/* What a CIE says, as far as rows need it. */
struct cfi_cie {
	uint64_t code_align;
	uint64_t data_align;	/* signed, kept in two's complement like the offsets */
	uint8_t fde_enc, lsda_enc;
	uint8_t sized;		/* 'z': FDEs carry their augmentation length */
	uint8_t signal;		/* 'S' */
	size_t instr_start, instr_end;
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

/* Reads n little-endian bytes, or fails at the end of the section. */
static int cfi_read_n(struct cfi_reader *r, size_t n, uint64_t *val)
{
	uint64_t v = 0;

	if (r->off > r->size || r->size - r->off < n)
		return -1;
	for (size_t i = n; i > 0; i--)
		v = (v << 8) | r->data[r->off + i - 1];
	r->off += n;
	*val = v;
	return 0;
}

/* Reads one byte. */
static int cfi_read_u8(struct cfi_reader *r, uint8_t *val)
{
	if (r->off >= r->size)
		return -1;
	*val = r->data[r->off++];
	return 0;
}

/* Reads an unsigned LEB128 of at most ten bytes. */
static int cfi_read_uleb(struct cfi_reader *r, uint64_t *val)
{
	uint64_t v = 0;
	uint8_t b;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (cfi_read_u8(r, &b) < 0)
			return -1;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			*val = v;
			return 0;
		}
	}
	return -1;
}

/* Reads a signed LEB128 of at most ten bytes, sign-extended to 64 bits. */
static int cfi_read_sleb(struct cfi_reader *r, uint64_t *val)
{
	uint64_t v = 0;
	uint8_t b;

	for (unsigned shift = 0; shift < 70; shift += 7) {
		if (cfi_read_u8(r, &b) < 0)
			return -1;
		if (shift < 64)
			v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0) {
			if ((b & 0x40) != 0 && shift + 7 < 64)
				v |= ~0ULL << (shift + 7);
			*val = v;
			return 0;
		}
	}
	return -1;
}

/* Reads a register number, which libunwind refuses from 17 on (DW_CFA_* operands). */
static int cfi_read_reg(struct cfi_reader *r, uint64_t *reg)
{
	return cfi_read_uleb(r, reg) < 0 || *reg >= REGS_DWARF_COUNT ? -1 : 0;
}

/*
 * Reads the value part of an encoded pointer: fixed-size formats only
 * (libunwind misreads sleb128), sign-extended.  *field is the address of
 * the field, for pcrel.
 */
static int cfi_read_pointer_raw(struct cfi_reader *r, uint8_t enc, uint64_t *raw, uint64_t *field)
{
	size_t n;
	int is_signed = 0;

	*field = r->vaddr + r->off;
	switch (enc & CFI_PE_FORMAT_MASK) {
	case 0x00: n = 8; break;			/* absptr */
	case 0x02: n = 2; break;			/* udata2 */
	case 0x03: n = 4; break;			/* udata4 */
	case 0x04: n = 8; break;			/* udata8 */
	case 0x0a: n = 2; is_signed = 1; break;		/* sdata2 */
	case 0x0b: n = 4; is_signed = 1; break;		/* sdata4 */
	case 0x0c: n = 8; is_signed = 1; break;		/* sdata8 */
	default: return -1;
	}
	if (cfi_read_n(r, n, raw) < 0)
		return -1;
	if (is_signed && n < 8 && (*raw >> (n * 8 - 1)) != 0)
		*raw |= ~0ULL << (n * 8);
	return 0;
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
 * Reads a pointer whose value we skip (personality, LSDA) and tells whether
 * libunwind would read it without failing: it rejects text-relative and
 * unknown applications, and follows an indirect pointer through memory,
 * which we only vouch for when it is pc-relative and inside the file.
 */
static int cfi_skip_pointer(struct cfi_reader *r, uint8_t enc, const struct elf_image *img)
{
	uint64_t raw, field;

	if (enc == CFI_PE_OMIT)
		return 0;
	if (enc == CFI_PE_ALIGNED || cfi_read_pointer_raw(r, enc, &raw, &field) < 0)
		return -1;
	if (raw == 0)
		return 0;	/* absolute 0 before anything else is applied */
	switch (enc & CFI_PE_APPL_MASK) {
	case CFI_PE_ABSPTR:
	case CFI_PE_DATAREL:
	case CFI_PE_FUNCREL:
		/* An absolute target address: fine unless it must be followed. */
		return (enc & CFI_PE_INDIRECT) == 0 ? 0 : -1;
	case CFI_PE_PCREL:
		return (enc & CFI_PE_INDIRECT) == 0 || cfi_readable(img, field + raw) ? 0 : -1;
	default:
		return -1;
	}
}

/* Parses the CIE at offset off of .eh_frame; -1 for anything a row should not rely on. */
static int cfi_parse_cie(struct cfi_reader *r, size_t off, const struct elf_image *img,
			 struct cfi_cie *cie)
{
	uint8_t version, ch, handler_enc, aug[4];
	uint64_t len, id, aug_size, ret_col;
	size_t naug = 0;

	memset(cie, 0, sizeof(*cie));
	cie->fde_enc = 0x04;		/* udata8: an address-sized constant */
	cie->lsda_enc = CFI_PE_OMIT;
	r->off = off;
	if (cfi_read_n(r, 4, &len) < 0 || len == 0 || len == 0xffffffff || len > r->size - r->off)
		return -1;
	cie->instr_end = r->off + len;
	if (cfi_read_n(r, 4, &id) < 0 || id != 0)
		return -1;
	/* libunwind takes versions 1 (GCC's) and 3 to 4. */
	if (cfi_read_u8(r, &version) < 0 || (version != 1 && version != 3 && version != 4))
		return -1;
	for (;;) {
		if (cfi_read_u8(r, &ch) < 0)
			return -1;
		if (ch == 0)
			break;
		if (naug == sizeof(aug))
			return -1;	/* libunwind would drop the fifth letter on */
		aug[naug++] = ch;
	}
	if (cfi_read_uleb(r, &cie->code_align) < 0 || cfi_read_sleb(r, &cie->data_align) < 0)
		return -1;
	if (version == 1) {
		if (cfi_read_u8(r, &ch) < 0)
			return -1;
		ret_col = ch;
	} else if (cfi_read_uleb(r, &ret_col) < 0) {
		return -1;
	}
	if (ret_col != REGS_DWARF_IP)
		return -1;
	for (size_t i = 0; i < naug; i++) {
		switch (aug[i]) {
		case 'z':
			if (i != 0 || cfi_read_uleb(r, &aug_size) < 0)
				return -1;
			cie->sized = 1;
			break;
		case 'L':
			if (cfi_read_u8(r, &cie->lsda_enc) < 0)
				return -1;
			break;
		case 'R':
			if (cfi_read_u8(r, &cie->fde_enc) < 0)
				return -1;
			break;
		case 'P':
			if (cfi_read_u8(r, &handler_enc) < 0 || cfi_skip_pointer(r, handler_enc, img) < 0)
				return -1;
			break;
		case 'S':
			cie->signal = 1;
			break;
		default:
			/* libunwind would start the instructions inside the augmentation. */
			return -1;
		}
	}
	cie->instr_start = r->off;
	return cie->instr_start <= cie->instr_end ? 0 : -1;
}

/* Sets register reg's rule. */
static void cfi_set(struct cfi_rules *s, uint64_t reg, enum cfi_where where, uint64_t val)
{
	s->where[reg] = (uint8_t)where;
	s->val[reg] = val;
}

/*
 * Runs the CFI instructions in [r->off, end) while the location is at or
 * below end_loc, starting at location loc.  init holds the rules after the
 * CIE (for DW_CFA_restore); NULL while running the CIE itself, where
 * DW_CFA_restore has nothing to return to (libunwind reads zeroes there:
 * not worth following).  -1 for anything unsupported.
 */
static int cfi_run(struct cfi_reader *r, size_t end, const struct cfi_cie *cie, uint64_t loc,
		   uint64_t end_loc, const struct cfi_rules *init, struct cfi_rules *s)
{
	struct cfi_rules stack[CFI_STATE_STACK];
	unsigned depth = 0;
	uint64_t reg, val, len;
	uint8_t op, operand;

	while (loc <= end_loc && r->off < end) {
		if (cfi_read_u8(r, &op) < 0)
			return -1;
		operand = op & 0x3f;
		switch (op & 0xc0) {
		case DW_CFA_advance_loc:
			loc += operand * cie->code_align;
			continue;
		case DW_CFA_offset:
			if (operand >= REGS_DWARF_COUNT || cfi_read_uleb(r, &val) < 0)
				return -1;
			cfi_set(s, operand, CFI_W_OFFSET, val * cie->data_align);
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
			if (cfi_read_n(r, op == DW_CFA_advance_loc4 ? 4 : op - 1u, &val) < 0)
				return -1;
			loc += val * cie->code_align;
			break;
		case DW_CFA_offset_extended:
			if (cfi_read_reg(r, &reg) < 0 || cfi_read_uleb(r, &val) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_OFFSET, val * cie->data_align);
			break;
		case DW_CFA_offset_extended_sf:
			if (cfi_read_reg(r, &reg) < 0 || cfi_read_sleb(r, &val) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_OFFSET, val * cie->data_align);
			break;
		case DW_CFA_GNU_negative_offset_extended:
			if (cfi_read_reg(r, &reg) < 0 || cfi_read_uleb(r, &val) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_OFFSET, -(val * cie->data_align));
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
			if (cfi_read_reg(r, &reg) < 0 || cfi_read_uleb(r, &val) < 0)
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
			if (cfi_read_reg(r, &reg) < 0 || cfi_read_uleb(r, &val) < 0)
				return -1;
			s->cfa_where = CFI_CFA_REG;
			s->cfa_reg = (uint8_t)reg;
			s->cfa_off = val;
			break;
		case DW_CFA_def_cfa_sf:
			if (cfi_read_reg(r, &reg) < 0 || cfi_read_sleb(r, &val) < 0)
				return -1;
			s->cfa_where = CFI_CFA_REG;
			s->cfa_reg = (uint8_t)reg;
			s->cfa_off = val * cie->data_align;
			break;
		case DW_CFA_def_cfa_register:
			if (cfi_read_reg(r, &reg) < 0)
				return -1;
			s->cfa_where = CFI_CFA_REG;
			s->cfa_reg = (uint8_t)reg;
			break;
		case DW_CFA_def_cfa_offset:
			if (cfi_read_uleb(r, &val) < 0)
				return -1;
			s->cfa_off = val;
			break;
		case DW_CFA_def_cfa_offset_sf:
			if (cfi_read_sleb(r, &val) < 0)
				return -1;
			s->cfa_off = val * cie->data_align;
			break;
		case DW_CFA_def_cfa_expression:
			if (cfi_read_uleb(r, &len) < 0)
				return -1;
			s->cfa_where = CFI_CFA_EXPR;
			/* Skipping past the end just ends the program, as in libunwind. */
			r->off = len < end - r->off ? r->off + len : end;
			break;
		case DW_CFA_expression:
		case DW_CFA_val_expression:
			if (cfi_read_reg(r, &reg) < 0 || cfi_read_uleb(r, &len) < 0)
				return -1;
			cfi_set(s, reg, CFI_W_EXPR, 0);
			r->off = len < end - r->off ? r->off + len : end;
			break;
		case DW_CFA_GNU_args_size:
			if (cfi_read_uleb(r, &val) < 0)
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
 * Finds the FDE for vaddr in the search table: the last entry whose initial
 * location is at or below it, in libunwind's 32-bit arithmetic relative to
 * the header.  Returns its address, or -1 when vaddr is below the first.
 */
static int cfi_search(const struct cfi_table *t, uint64_t vaddr, uint64_t *fde_vaddr)
{
	const uint8_t *table = t->hdr_data + (t->table_vaddr - t->hdr_vaddr);
	int32_t rel = (int32_t)(uint32_t)(vaddr - t->hdr_vaddr), start, fde;
	size_t lo = 0, hi = t->fde_count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		memcpy(&start, table + mid * 8, 4);
		if (rel < start)
			hi = mid;
		else
			lo = mid + 1;
	}
	if (hi == 0)
		return -1;
	memcpy(&fde, table + (hi - 1) * 8 + 4, 4);
	*fde_vaddr = t->hdr_vaddr + (uint64_t)(int64_t)fde;
	return 0;
}

void cfi_row_find(const struct cfi_table *t, const struct elf_image *img, uint64_t vaddr,
		  struct cfi_row *row)
{
	struct cfi_reader r = { t->frame_data, t->frame_size, t->frame_vaddr, 0 };
	struct cfi_rules init, s;
	struct cfi_cie cie;
	uint64_t fde_vaddr, len, cie_id, raw, field, start, range, aug_size, abi;
	size_t fde_end, cie_ptr, cie_off, instr_start;

	memset(row, 0, sizeof(*row));
	row->status = CFI_NOINFO;
	if (t->fde_count == 0 || cfi_search(t, vaddr, &fde_vaddr) < 0)
		return;
	row->status = CFI_UNSUPPORTED;
	if (t->frame_size == 0 || fde_vaddr - t->frame_vaddr >= t->frame_size)
		return;
	r.off = fde_vaddr - t->frame_vaddr;
	if (cfi_read_n(&r, 4, &len) < 0 || len == 0xffffffff)
		return;
	if (len == 0) {
		row->status = CFI_NOINFO;	/* a terminator, not an FDE */
		return;
	}
	if (len > r.size - r.off)
		return;
	fde_end = r.off + len;
	cie_ptr = r.off;
	if (cfi_read_n(&r, 4, &cie_id) < 0)
		return;
	if (cie_id == 0) {
		row->status = CFI_NOINFO;	/* a CIE where an FDE should be */
		return;
	}
	/* The CIE pointer counts back from its own field. */
	cie_off = cie_ptr - (size_t)(int64_t)(int32_t)cie_id;
	if (cie_off >= r.size || cfi_parse_cie(&r, cie_off, img, &cie) < 0)
		return;
	r.off = cie_ptr + 4;

	/* Initial location: pc-relative, or absolute in an ET_EXEC file. */
	if (cie.fde_enc == CFI_PE_OMIT || cie.fde_enc == CFI_PE_ALIGNED ||
	    (cie.fde_enc & CFI_PE_INDIRECT) != 0 ||
	    cfi_read_pointer_raw(&r, cie.fde_enc, &raw, &field) < 0 || raw == 0)
		return;
	if ((cie.fde_enc & CFI_PE_APPL_MASK) == CFI_PE_PCREL)
		start = field + raw;
	else if ((cie.fde_enc & CFI_PE_APPL_MASK) == CFI_PE_ABSPTR && elf_image_is_exec(img))
		start = raw;
	else
		return;
	if (cfi_read_pointer_raw(&r, cie.fde_enc & CFI_PE_FORMAT_MASK, &range, &field) < 0)
		return;
	instr_start = 0;
	if (cie.sized) {
		if (cfi_read_uleb(&r, &aug_size) < 0 || aug_size > fde_end - r.off)
			return;
		instr_start = r.off + aug_size;
	}
	if (cfi_skip_pointer(&r, cie.lsda_enc, img) < 0)
		return;
	/* libunwind reads an ABI marker after the LSDA of 'S' frames. */
	if (cie.signal && cfi_read_n(&r, 4, &abi) < 0)
		return;
	if (!cie.sized)
		instr_start = r.off;
	if (instr_start > fde_end)
		return;
	if (vaddr < start || vaddr - start >= range) {
		row->status = CFI_NOINFO;
		return;
	}

	memset(&s, 0, sizeof(s));
	r.off = cie.instr_start;
	if (cfi_run(&r, cie.instr_end, &cie, 0, UINT64_MAX, NULL, &s) < 0)
		return;
	init = s;
	r.off = instr_start;
	if (cfi_run(&r, fde_end, &cie, start, vaddr, &init, &s) < 0)
		return;
	cfi_make_row(&s, cie.signal, row);
}

void cfi_table_load(struct cfi_table *t, const struct elf_image *img)
{
	const uint8_t *data;
	struct cfi_reader r;
	uint64_t fde_count, raw, field;
	uint8_t ptr_enc, count_enc, table_enc;

	memset(t, 0, sizeof(*t));
	if (elf_image_section(img, ".eh_frame", &t->frame_vaddr, &t->frame_data, &t->frame_size) < 0)
		t->frame_size = 0;
	if (elf_image_section(img, ".eh_frame_hdr", &t->hdr_vaddr, &t->hdr_data, &t->hdr_size) < 0)
		return;
	data = t->hdr_data;
	r = (struct cfi_reader){ data, t->hdr_size, t->hdr_vaddr, 4 };
	if (t->hdr_size < 4 || data[0] != 1)
		return;
	ptr_enc = data[1];
	count_enc = data[2];
	table_enc = data[3];
	/* The search table must be datarel|sdata4 pairs for libunwind to use it. */
	if (table_enc != CFI_PE_DATAREL_SDATA4)
		return;
	/* eh_frame_ptr is only skipped; fde_count is a plain number. */
	if (ptr_enc != CFI_PE_OMIT && cfi_read_pointer_raw(&r, ptr_enc, &raw, &field) < 0)
		return;
	if (count_enc == CFI_PE_OMIT || (count_enc & CFI_PE_APPL_MASK) != 0 ||
	    cfi_read_pointer_raw(&r, count_enc, &fde_count, &field) < 0)
		return;
	if (fde_count == 0 || fde_count > (t->hdr_size - r.off) / 8)
		return;
	t->table_vaddr = t->hdr_vaddr + r.off;
	t->fde_count = fde_count;
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
