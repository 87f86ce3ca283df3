#include <libunwind.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfi.h"
#include "mem.h"
#include "symbols/ehframe.h"
#include "unwind.h"

/*
 * How this works.  Two unwinders share one view of the sampled thread, which
 * never touches the live process.  The fast one steps frames itself with
 * CFI rows (cfi.c: the CFA rule and where the caller's registers are, per
 * code address, cached); libunwind's remote API (one address space per
 * target) takes over the rest of a stack at the first frame rows cannot
 * express (DWARF expressions: signal trampolines, PLT stubs; no FDE: JIT
 * code, which its heuristics and our frame-pointer fallback handle).  The
 * view libunwind gets:
 *
 *   - registers of the frame it starts from: the sample's, or those the
 *     fast path located (access_reg);
 *   - memory in [SP, SP + stack_len) comes from the sample's stack copy;
 *     .eh_frame_hdr, .eh_frame and code come from the bytes of the ELF
 *     files behind the mappings (access_mem);
 *   - unwind tables are found by our find_proc_info: the mapping of the IP,
 *     the image's .eh_frame_hdr binary search table (parsed once per image),
 *     handed to libunwind's own table search.
 *
 * libunwind keeps a per-address-space cache of register rules keyed by IP
 * (UNW_CACHE_GLOBAL), but Debian's libunwind 1.6.2 is built with signal
 * blocking: every unw_step takes that cache's lock with two rt_sigprocmask
 * syscalls, most of the time of a warm libunwind unwind.  Hence the fast
 * path, which must give exactly libunwind's answer: see unwind_fast.
 */

/*
 * Exported by Debian's libunwind 1.6.2 but not declared in its headers:
 * binary search of an .eh_frame_hdr style table, FDE parsing included.
 */
extern int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

/* libunwind numbers x86-64 registers as the DWARF columns (sample/regs.h). */
#define UNWIND_UNW_NREGS REGS_DWARF_COUNT

/* Recently read mappings remembered across calls (cleared when maps change). */
#define UNWIND_SPANS 8

/* The x86-64 ABI's red zone: bytes under SP a function may still use. */
#define UNWIND_RED_ZONE 128

/* Register-state cache entries libunwind keeps per target (its default is 128). */
#define UNWIND_RS_CACHE 1024

/* CFI rows cached per target (64 bytes each). */
#define UNWIND_ROWS 8192

/* Executable mappings remembered for the fast path (cleared when maps change). */
#define UNWIND_CODES 8

/* What a register of the frame being unwound is, as libunwind would locate it. */
enum unwind_reg_kind {
	UNWIND_REG_VALUE,	/* known value (the sample's, or set by a fallback) */
	UNWIND_REG_MEMORY,	/* saved at an address, read when needed */
	UNWIND_REG_UNDEFINED,	/* the CFI says undefined (libunwind: a null location) */
	UNWIND_REG_UNKNOWN,	/* not known after a frame-pointer step */
};

/* An image's unwind tables (.eh_frame_hdr, .eh_frame), found once. */
struct unwind_table {
	const struct elf_image *key; /* NULL = free slot */
	struct cfi_table cfi;	/* fde_count 0: no usable table, lookups fail fast */
};

/* An executable mapping with an image, as the fast path looks code up. */
struct unwind_code {
	uint64_t start, end;	/* end 0: free slot */
	uint64_t pgoff;
	const struct elf_image *image;
	const struct unwind_table *table;
};

/* A target range whose bytes we hold (a section or a mapping of an ELF file). */
struct unwind_span {
	uint64_t start, end;	/* end clipped to the bytes that exist */
	const uint8_t *bytes;	/* the byte for start */
};

/*
 * The thread being unwound, as the accessors see it.  Registers are
 * indexed in libunwind's numbering, which is DWARF's.  They mirror
 * libunwind's register locations: the fast path keeps them current frame
 * by frame, so that libunwind can take over at any frame and see what it
 * would have seen had it unwound from the start.
 */
struct unwind_frame_state {
	uint64_t val[UNWIND_UNW_NREGS];	/* value, or address for UNWIND_REG_MEMORY */
	uint8_t kind[UNWIND_UNW_NREGS];	/* enum unwind_reg_kind */
	uint64_t sample[UNWIND_UNW_NREGS]; /* the registers at the sample */
	int init_active;	/* unw_init_remote is reading IP and SP: */
	uint64_t init_ip, init_sp; /* what it must read */
	const uint8_t *stack;
	uint64_t stack_start, stack_end; /* [SP, SP + stack_len) at the sample */
	uint64_t stack_map_end;	/* end of the mapping holding SP, 0 if unknown */
	int past_copy;		/* a read wanted stack bytes the copy lacks */
	int noinfo;		/* the last step found no CFI for its IP */
	/* The red zone under SP: slot i is the word at SP - 8 * (i + 1). */
	uint64_t red_zone[UNWIND_RED_ZONE / 8];
	uint32_t red_zone_known; /* bit per valid red_zone[] entry */
	int red_zone_miss;	/* a read wanted a red-zone word we lack */
};

struct unwinder {
	struct maps *maps;
	unw_addr_space_t as;
	struct unwind_table *tables; /* open-addressing hash keyed by image */
	size_t tables_cap, tables_len;
	struct unwind_span spans[UNWIND_SPANS];
	unsigned span_next;
	uint64_t spans_generation;
	/* The image of the last table lookup, for reads outside its sections. */
	const struct elf_image *cur_image;
	uint64_t cur_bias;
	struct unwind_frame_state st;
	struct cfi_cache *rows;
	struct unwind_code codes[UNWIND_CODES];
	unsigned code_last, code_next;
	size_t fast_limit;	/* steps with rows per stack before libunwind takes over */
	struct unwind_stats stats;
};

/* Where a walk is when the fast path hands it to libunwind. */
struct unwind_pos {
	uint64_t ip, sp;	/* the frame's IP and SP (libunwind's CFA) */
	int use_prev;		/* look its CFI up at ip - 1 (a return address) */
	size_t n;		/* frames written so far */
};

/* Hash of an image pointer for the table cache. */
static size_t unwind_hash(const void *key, size_t cap)
{
	uint64_t h = (uint64_t)(uintptr_t)key;

	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (size_t)h & (cap - 1);
}

/* Doubles the table cache, rehashing; only happens when a new image shows up. */
static void unwind_tables_grow(struct unwinder *u)
{
	struct unwind_table *old = u->tables;
	size_t old_cap = u->tables_cap;

	u->tables_cap = old_cap ? old_cap * 2 : 64;
	u->tables = mem_calloc(u->tables_cap, sizeof(*u->tables));
	for (size_t i = 0; i < old_cap; i++) {
		size_t j;

		if (old[i].key == NULL)
			continue;
		j = unwind_hash(old[i].key, u->tables_cap);
		while (u->tables[j].key != NULL)
			j = (j + 1) & (u->tables_cap - 1);
		u->tables[j] = old[i];
	}
	free(old);
	/* The fast path's code slots point into the old array. */
	memset(u->codes, 0, sizeof(u->codes));
}

/*
 * Returns the unwind tables of an image, finding them on first use.
 * The result depends only on the file's bytes, which never change while the
 * image lives (images live as long as their elf_cache, which outlives the
 * unwinder), so unwind_flush has no reason to drop entries.
 */
static const struct unwind_table *unwind_table_get(struct unwinder *u,
						   const struct elf_image *img)
{
	struct unwind_table *t;
	size_t i;

	if (u->tables_cap != 0) {
		for (i = unwind_hash(img, u->tables_cap); u->tables[i].key != NULL;
		     i = (i + 1) & (u->tables_cap - 1)) {
			if (u->tables[i].key == img)
				return &u->tables[i];
		}
	}
	if ((u->tables_len + 1) * 4 > u->tables_cap * 3)
		unwind_tables_grow(u);
	i = unwind_hash(img, u->tables_cap);
	while (u->tables[i].key != NULL)
		i = (i + 1) & (u->tables_cap - 1);
	t = &u->tables[i];
	t->key = img;
	u->tables_len++;
	cfi_table_load(&t->cfi, img);
	return t;
}

/* Remembers that target range [start, start + size) reads as bytes. */
static void unwind_span_add(struct unwinder *u, uint64_t start, size_t size, const uint8_t *bytes)
{
	struct unwind_span *s;

	for (unsigned i = 0; i < UNWIND_SPANS; i++) {
		if (u->spans[i].start == start && u->spans[i].bytes == bytes)
			return;
	}
	s = &u->spans[u->span_next];
	u->span_next = (u->span_next + 1) % UNWIND_SPANS;
	s->start = start;
	s->end = start + size;
	s->bytes = bytes;
}

/*
 * Returns the bytes we hold for target address addr, with *avail set to how
 * many follow; NULL when we hold none.  Sources, fastest first: the spans
 * (recent .eh_frame_hdr / .eh_frame / code ranges: CFI parsing reads byte by
 * byte), an executable mapping with an image (code, for libunwind's
 * PLT and signal-trampoline checks), and the image of the current table
 * lookup through its program headers (indirect personality pointers in
 * .data.rel.ro or .got, which maps gives no image for).
 */
static const uint8_t *unwind_bytes(struct unwinder *u, uint64_t addr, size_t *avail)
{
	const struct maps_entry *e;
	const uint8_t *data;
	uint64_t off;
	size_t size;

	for (unsigned i = 0; i < UNWIND_SPANS; i++) {
		const struct unwind_span *s = &u->spans[i];

		if (addr >= s->start && addr < s->end) {
			*avail = s->end - addr;
			return s->bytes + (addr - s->start);
		}
	}
	e = maps_find(u->maps, addr);
	if (e != NULL && e->image != NULL) {
		data = elf_image_data(e->image, &size);
		if (data == NULL || e->pgoff >= size)
			return NULL;
		size -= e->pgoff;
		if (size > e->end - e->start)
			size = e->end - e->start;
		unwind_span_add(u, e->start, size, data + e->pgoff);
		if (addr - e->start >= size)
			return NULL;
		*avail = size - (addr - e->start);
		return data + e->pgoff + (addr - e->start);
	}
	if (u->cur_image != NULL &&
	    elf_image_vaddr_to_offset(u->cur_image, addr - u->cur_bias, &off) == 0) {
		data = elf_image_data(u->cur_image, &size);
		if (data == NULL || off >= size)
			return NULL;
		*avail = size - off;
		return data + off;
	}
	return NULL;
}

/* Forgets remembered ranges and code mappings; they hold addresses that may be stale now. */
static void unwind_spans_clear(struct unwinder *u)
{
	memset(u->spans, 0, sizeof(u->spans));
	u->span_next = 0;
	u->cur_image = NULL;
	memset(u->codes, 0, sizeof(u->codes));
	u->spans_generation = maps_generation(u->maps);
}

/*
 * Guarding libunwind against CFI it misreads.  libunwind 1.6.2 indexes its
 * per-frame array of register locations (17 entries) with numbers from the
 * file that it does not check: the second register of DW_CFA_register ("r9
 * is held in r1161", found by fuzzing) and, by its source, the
 * return-address column of a CIE.  A corrupt file with a larger number
 * makes unw_step read past the array: a crash (SIGSEGV past the top of the
 * stack), or stack garbage that changes the answer from one unwind to the
 * next.  So before libunwind runs an FDE's programs, unwind_cfi_sane reads
 * the FDE and its CIE the way libunwind will (the same table search, every
 * byte through unwind_access_mem, as libunwind's own reads go) and refuses
 * such numbers, opcodes libunwind does not know (it would run their
 * operands as opcodes) and operands it cannot read; the frame is then
 * unwound as one without CFI.  Compilers emit none of these.
 */

/* Register columns libunwind keeps per frame (its DWARF_NUM_PRESERVED_REGS on x86-64). */
#define UNWIND_CFI_COLUMNS 17

static int unwind_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write,
			     void *arg);

_Static_assert(sizeof(unw_word_t) <= EHFRAME_FETCH_MAX, "a word fits a reader's buffer");

/*
 * Gives an ehframe reader the aligned word holding target address addr,
 * through unwind_access_mem, one word at a time like libunwind's
 * dwarf_readu8: 0 where nothing can be read.
 */
static size_t unwind_cfi_fetch(void *arg, uint64_t addr, uint8_t *buf, uint64_t *start)
{
	struct unwinder *u = arg;
	uint64_t aligned = addr & ~(uint64_t)7;
	unw_word_t word;

	if (unwind_access_mem(u->as, aligned, &word, 0, u) < 0)
		return 0;
	memcpy(buf, &word, sizeof(word));
	*start = aligned;
	return sizeof(word);
}

/*
 * Starts a reader over target range [addr, end): positions are target
 * addresses, every byte comes from unwind_cfi_fetch (none from the file
 * bytes directly: what libunwind reads is what access_mem gives it).
 */
static void unwind_cfi_reader_init(struct ehframe_reader *r, struct unwinder *u, uint64_t addr,
				   uint64_t end)
{
	ehframe_reader_init(r, 0, NULL, 0);
	r->fetch = unwind_cfi_fetch;
	r->arg = u;
	r->pos = addr;
	ehframe_set_end(r, end);
}

/*
 * Skips a pointer of encoding enc; 0 for encodings libunwind cannot read
 * either.  Unlike ehframe_pointer, and unlike cfi.c, this aligns any
 * encoding whose application is DW_EH_PE_aligned before reading it, as
 * this check always has (no compiler writes such encodings): the shared
 * reader does not align, so the difference stays here.
 */
static int unwind_cfi_skip_ptr(struct ehframe_reader *r, uint8_t enc)
{
	if (enc == EHFRAME_PE_OMIT)
		return 1;
	if ((enc & EHFRAME_PE_APPL) == EHFRAME_PE_ALIGNED)
		r->pos = (r->pos + 7) & ~(uint64_t)7;
	return ehframe_pointer(r, enc, NULL, NULL) == 0;
}

/*
 * Walks one CFA program to its end, operand for operand as libunwind reads
 * it: 0 on a DW_CFA_register whose second register is past the array, an
 * opcode libunwind does not know (it would run its operands as opcodes), or
 * an operand that cannot be read.  Signed operands are read as unsigned:
 * only their extent matters.
 */
static int unwind_cfi_program_sane(struct ehframe_reader *r, uint8_t fde_enc)
{
	uint64_t v;
	uint8_t op;

	while (r->pos < r->end) {
		(void)ehframe_u8(r, &op);
		if (op & 0xc0) {
			/* advance_loc, offset, restore: the register is in the opcode, checked */
			if ((op & 0xc0) == 0x80)
				(void)ehframe_uleb(r, NULL);
		} else {
			switch (op) {
			case 0x00: case 0x0a: case 0x0b:		/* nop, remember/restore_state */
				break;
			case 0x01:					/* set_loc */
				if (!unwind_cfi_skip_ptr(r, fde_enc))
					return 0;
				break;
			case 0x02: case 0x03: case 0x04:		/* advance_loc1, 2, 4 */
				(void)ehframe_uint(r, op == 0x02 ? 1 : op == 0x03 ? 2 : 4, NULL);
				break;
			case 0x06: case 0x07: case 0x08: case 0x0d:	/* one register */
			case 0x0e: case 0x13: case 0x2e:		/* one offset */
				(void)ehframe_uleb(r, NULL);
				break;
			case 0x05: case 0x0c: case 0x11: case 0x12:	/* register, offset */
			case 0x2f:
				(void)ehframe_uleb(r, NULL);
				(void)ehframe_uleb(r, NULL);
				break;
			case 0x09:					/* register, register */
				(void)ehframe_uleb(r, NULL);
				(void)ehframe_uleb(r, &v);
				if (v >= UNWIND_CFI_COLUMNS)
					return 0;
				break;
			case 0x0f: case 0x10:				/* [register,] expression */
				if (op == 0x10)
					(void)ehframe_uleb(r, NULL);
				/* Skipped unchecked, as libunwind does (even past the end). */
				(void)ehframe_uleb(r, &v);
				r->pos += v;
				break;
			default:
				/* Unknown to libunwind 1.6.2 (val_offset...): it would run the operands. */
				return 0;
			}
		}
		if (r->bad)
			return 0;
	}
	return 1;
}

/*
 * Reads the CIE at cie_at as libunwind's parse_cie does: its head whatever
 * its length and id say (only its program stops at its end), the first four
 * letters of its augmentation, read from the first on, up to one it does
 * not know.  -1 when libunwind fails on it too (cleanly), 0 when libunwind
 * must not run it, 1 when it may.
 */
static int unwind_cfi_cie_check(struct unwinder *u, uint64_t cie_at, struct ehframe_cie *cie)
{
	struct ehframe_reader r;
	struct ehframe_record rec;
	uint8_t enc;
	int ret;

	unwind_cfi_reader_init(&r, u, cie_at, UINT64_MAX);
	(void)ehframe_record_length(&r, &rec);
	(void)ehframe_record_id(&r, &rec);
	if (ehframe_cie_head(&r, cie) < 0 || (cie->version != 1 && cie->version != 3) ||
	    ehframe_cie_factors(&r, cie) < 0)
		return -1;
	if (cie->ra >= UNWIND_CFI_COLUMNS)
		return 0;
	for (unsigned i = 0; cie->aug[i] != '\0'; i++) {
		if (cie->aug[i] == 'P') {
			/* Its pointer as unwind_cfi_skip_ptr reads it (aligning), not as ehframe_cie_letter. */
			(void)ehframe_u8(&r, &enc);
			if (!unwind_cfi_skip_ptr(&r, enc))
				return -1;
			continue;
		}
		ret = ehframe_cie_letter(&r, cie, cie->aug[i], i == 0);
		if (ret < 0)
			return -1;
		if (ret > 0)
			break;	/* libunwind stops reading the augmentation here, or gives up */
	}
	if (r.bad)
		return -1;
	ehframe_set_end(&r, rec.end);
	return unwind_cfi_program_sane(&r, cie->fde_enc);
}

/*
 * Whether libunwind may run the CFI it will find for ip (see above).  The
 * FDE is the one its table search picks: the last of the count (start,
 * FDE) pairs at table, offsets from segbase, that starts at or below ip.
 * 1 also when libunwind will find nothing usable there (it fails cleanly).
 */
static int unwind_cfi_sane(struct unwinder *u, uint64_t segbase, uint64_t table, uint64_t count,
			   uint64_t ip)
{
	struct ehframe_reader r;
	struct ehframe_record fde;
	struct ehframe_cie cie;
	uint64_t fde_at, len;
	int ret;

	unwind_cfi_reader_init(&r, u, table, UINT64_MAX);
	if (ehframe_hdr_search(&r, table, count, segbase, ip, &fde_at) < 0)
		return 1;

	/* The FDE's head (libunwind: no FDE when its length is 0), its CIE, the rest of its head. */
	unwind_cfi_reader_init(&r, u, fde_at, UINT64_MAX);
	if (ehframe_record_length(&r, &fde) < 0 || fde.len == 0 ||
	    ehframe_record_id(&r, &fde) < 0 || fde.id == 0)
		return 1;
	ret = unwind_cfi_cie_check(u, ehframe_record_cie(&fde), &cie);
	if (ret <= 0)
		return ret < 0;
	if (!unwind_cfi_skip_ptr(&r, cie.fde_enc) ||
	    !unwind_cfi_skip_ptr(&r, cie.fde_enc & EHFRAME_PE_FORMAT))
		return 1;
	if (cie.sized) {
		if (ehframe_uleb(&r, &len) < 0)
			return 1;
		r.pos += len;		/* unchecked, as libunwind does */
	} else if (!unwind_cfi_skip_ptr(&r, cie.lsda_enc)) {
		return 1;
	}
	ehframe_set_end(&r, fde.end);
	return unwind_cfi_program_sane(&r, cie.fde_enc);
}
/*
 * libunwind: finds the FDE for ip.  The table lives in the target's address
 * space at the image's .eh_frame_hdr plus the load bias of the mapping; its
 * entries are relative to the header (segbase), and libunwind reads them,
 * and the FDEs and CIEs in .eh_frame, back through access_mem, which serves
 * them from the file bytes.
 */
static int unwind_find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
				 int need_unwind_info, void *arg)
{
	struct unwinder *u = arg;
	const struct unwind_table *t;
	const struct maps_entry *e;
	unw_dyn_info_t di;
	uint64_t vaddr, bias;
	int ret;

	e = maps_find(u->maps, ip);
	t = NULL;
	if (e != NULL && e->image != NULL && (e->prot & MAPS_PROT_EXEC) != 0)
		t = unwind_table_get(u, e->image);
	if (t == NULL || t->cfi.fde_count == 0 || maps_to_vaddr(e, ip, &vaddr) < 0) {
		u->st.noinfo = 1;
		return -UNW_ENOINFO;
	}
	bias = ip - vaddr;
	u->cur_image = e->image;
	u->cur_bias = bias;
	unwind_span_add(u, t->cfi.hdr_vaddr + bias, t->cfi.hdr_size, t->cfi.hdr_data);
	if (t->cfi.frame_size != 0)
		unwind_span_add(u, t->cfi.frame_vaddr + bias, t->cfi.frame_size, t->cfi.frame_data);

	/* CFI that libunwind would misread (see unwind_cfi_sane): a frame without CFI. */
	if (need_unwind_info && !unwind_cfi_sane(u, t->cfi.hdr_vaddr + bias,
						 t->cfi.table_vaddr + bias, t->cfi.fde_count, ip)) {
		u->st.noinfo = 1;
		return -UNW_ENOINFO;
	}
	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = e->start;
	di.end_ip = e->end;
	di.u.rti.segbase = t->cfi.hdr_vaddr + bias;
	di.u.rti.table_data = t->cfi.table_vaddr + bias;
	di.u.rti.table_len = t->cfi.fde_count * 8 / sizeof(unw_word_t);
	ret = _Ux86_64_dwarf_search_unwind_table(as, ip, &di, pi, need_unwind_info, arg);
	if (ret == -UNW_ENOINFO)
		u->st.noinfo = 1;
	return ret;
}

/* libunwind: nothing to release, the unwind info lives in our caches. */
static void unwind_put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	(void)as;
	(void)pi;
	(void)arg;
}

/* libunwind: no dynamically registered (JIT) unwind info in remote targets. */
static int unwind_get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *addr, void *arg)
{
	(void)as;
	(void)addr;
	(void)arg;
	return -UNW_ENOINFO;
}

/*
 * Reads one word of the sampled thread, for both unwinders: from the stack
 * copy, the red zone words unwind_fill_red_zone knows, else from the file
 * bytes behind the mapping.  Never reads the live target.  A read above
 * the copy but inside SP's mapping means the copy was too short, which the
 * caller reports as truncation rather than failure.
 */
static int unwind_read_word(struct unwinder *u, uint64_t addr, uint64_t *valp)
{
	struct unwind_frame_state *st = &u->st;
	const uint8_t *p;
	size_t avail;

	if (addr >= st->stack_start && addr < st->stack_end && st->stack_end - addr >= 8) {
		memcpy(valp, st->stack + (addr - st->stack_start), 8);
		return 0;
	}
	if (addr < st->stack_start && st->stack_start - addr <= UNWIND_RED_ZONE &&
	    (st->stack_start - addr) % 8 == 0) {
		unsigned i = (unsigned)((st->stack_start - addr) / 8 - 1);

		if (st->red_zone_known & (1u << i)) {
			*valp = st->red_zone[i];
			return 0;
		}
		st->red_zone_miss = 1;
		return -1;
	}
	p = unwind_bytes(u, addr, &avail);
	if (p != NULL) {
		*valp = 0;
		memcpy(valp, p, avail < 8 ? avail : 8);
		return 0;
	}
	if (addr >= st->stack_start && addr < st->stack_map_end)
		st->past_copy = 1;
	return -1;
}

/*
 * Reads register reg of the frame being unwound (libunwind numbering); -1
 * when unreadable.  Inline for the common cases: a value, a slot in the
 * stack copy.
 */
static inline int unwind_reg_read(struct unwinder *u, unsigned reg, uint64_t *valp)
{
	struct unwind_frame_state *st = &u->st;
	uint64_t addr = st->val[reg];

	switch (st->kind[reg]) {
	case UNWIND_REG_VALUE:
		*valp = addr;
		return 0;
	case UNWIND_REG_MEMORY:
		if (addr >= st->stack_start && addr < st->stack_end && st->stack_end - addr >= 8) {
			memcpy(valp, st->stack + (addr - st->stack_start), 8);
			return 0;
		}
		return unwind_read_word(u, addr, valp);
	default:
		return -1;
	}
}

/* libunwind: reads a word of the sampled thread (writes are never needed). */
static int unwind_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write,
			     void *arg)
{
	uint64_t v;

	(void)as;
	if (write || unwind_read_word(arg, addr, &v) < 0)
		return -UNW_EINVAL;
	*valp = v;
	return 0;
}

/*
 * libunwind: reads a register of the frame it starts from.  While
 * unw_init_remote runs, IP and SP are the ones the fast path hands over
 * (the IP possibly backed up into the call, see unwind_slow).
 */
static int unwind_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *valp, int write,
			     void *arg)
{
	struct unwinder *u = arg;
	struct unwind_frame_state *st = &u->st;
	uint64_t v;

	(void)as;
	if (write)
		return -UNW_EINVAL;
	if (reg < 0 || reg >= UNWIND_UNW_NREGS)
		return -UNW_EBADREG;
	if (st->init_active && (reg == UNW_X86_64_RIP || reg == UNW_X86_64_RSP)) {
		*valp = reg == UNW_X86_64_RIP ? st->init_ip : st->init_sp;
		return 0;
	}
	/* What libunwind's own locations would give: a failed read, or no location. */
	if (unwind_reg_read(u, (unsigned)reg, &v) < 0)
		return st->kind[reg] == UNWIND_REG_MEMORY ? -UNW_EINVAL : -UNW_EBADREG;
	*valp = v;
	return 0;
}

/* libunwind: samples carry no floating-point registers. */
static int unwind_access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			       void *arg)
{
	(void)as;
	(void)reg;
	(void)val;
	(void)write;
	(void)arg;
	return -UNW_EINVAL;
}

/* libunwind: a sample cannot be resumed. */
static int unwind_resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as;
	(void)c;
	(void)arg;
	return -UNW_EINVAL;
}

/* libunwind: symbolization is symtab's job. */
static int unwind_get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
				unw_word_t *off, void *arg)
{
	(void)as;
	(void)addr;
	(void)buf;
	(void)len;
	(void)off;
	(void)arg;
	return -UNW_ENOINFO;
}

struct unwinder *unwind_new(struct maps *maps, struct error *err)
{
	unw_accessors_t acc;
	struct unwinder *u;

	memset(&acc, 0, sizeof(acc));
	acc.find_proc_info = unwind_find_proc_info;
	acc.put_unwind_info = unwind_put_unwind_info;
	acc.get_dyn_info_list_addr = unwind_get_dyn_info_list_addr;
	acc.access_mem = unwind_access_mem;
	acc.access_reg = unwind_access_reg;
	acc.access_fpreg = unwind_access_fpreg;
	acc.resume = unwind_resume;
	acc.get_proc_name = unwind_get_proc_name;

	u = mem_zalloc(sizeof(*u));
	u->maps = maps;
	/* libunwind copies the accessors into the address space. */
	u->as = unw_create_addr_space(&acc, 0);
	if (u->as == NULL) {
		error_set(err, 0, "libunwind: cannot create an address space");
		free(u);
		return NULL;
	}
	unw_set_caching_policy(u->as, UNW_CACHE_GLOBAL);
	unw_set_cache_size(u->as, UNWIND_RS_CACHE, 0);
	u->rows = cfi_cache_new(UNWIND_ROWS);
	u->fast_limit = SIZE_MAX;
	unwind_spans_clear(u);
	return u;
}

void unwind_free(struct unwinder *u)
{
	if (u == NULL)
		return;
	unw_destroy_addr_space(u->as);
	cfi_cache_free(u->rows);
	free(u->tables);
	free(u);
}

void unwind_flush(struct unwinder *u, uint64_t start, uint64_t end)
{
	unw_flush_cache(u->as, start, end);
	unwind_spans_clear(u);
}

/* The tables hold pointers into images (and are keyed by them), the rows are keyed by them. */
void unwind_forget_images(struct unwinder *u)
{
	unwind_flush(u, 0, UINT64_MAX);
	free(u->tables);
	u->tables = NULL;
	u->tables_cap = 0;
	u->tables_len = 0;
	cfi_cache_clear(u->rows);
}

void unwind_set_fast_limit(struct unwinder *u, size_t frames)
{
	u->fast_limit = frames;
}

void unwind_stats(const struct unwinder *u, struct unwind_stats *stats)
{
	struct cfi_cache_stats cs;

	*stats = u->stats;
	cfi_cache_stats(u->rows, &cs);
	stats->row_hits = cs.hits;
	stats->row_misses = cs.misses;
}

/*
 * The executable mapping with an image that holds addr, for the fast path:
 * from the few remembered ones (consecutive frames mostly share one), else
 * from maps, then remembered.  NULL when addr is not in such a mapping.
 */
static const struct unwind_code *unwind_code_get(struct unwinder *u, uint64_t addr)
{
	const struct maps_entry *e;
	struct unwind_code *c = &u->codes[u->code_last];
	const struct unwind_table *t;

	if (addr - c->start < c->end - c->start)
		return c;
	for (unsigned i = 0; i < UNWIND_CODES; i++) {
		c = &u->codes[i];
		if (addr - c->start < c->end - c->start) {
			u->code_last = i;
			return c;
		}
	}
	e = maps_find(u->maps, addr);
	if (e == NULL || e->image == NULL || (e->prot & MAPS_PROT_EXEC) == 0)
		return NULL;
	/* Before picking the slot: a growing table cache clears the slots. */
	t = unwind_table_get(u, e->image);
	u->code_last = u->code_next;
	u->code_next = (u->code_next + 1) % UNWIND_CODES;
	c = &u->codes[u->code_last];
	c->start = e->start;
	c->end = e->end;
	c->pgoff = e->pgoff;
	c->image = e->image;
	c->table = t;
	return c;
}

/* True when addr lies in an executable mapping: a return address must. */
static int unwind_is_code(const struct unwinder *u, uint64_t addr)
{
	const struct maps_entry *e;

	for (unsigned i = 0; i < UNWIND_CODES; i++) {
		if (addr - u->codes[i].start < u->codes[i].end - u->codes[i].start)
			return 1;
	}
	e = maps_find(u->maps, addr);
	return e != NULL && (e->prot & MAPS_PROT_EXEC) != 0;
}

/*
 * Frame-pointer fallback for a frame the CFI could not unwind (no table, as
 * for JIT code, or a table that led nowhere).  It trusts RBP only when RBP
 * points into the captured stack at or above SP and the saved word above it
 * is a return address into executable code: then the caller's frame is
 * rbp = [rbp], ip = [rbp + 8], sp = rbp + 16.  The caller is restarted from
 * those three registers at ip - 1 (inside the call, so the CFI lookup is for
 * the call site even after a noreturn call); the other callee-saved
 * registers become unknown and a frame that needs them fails cleanly.
 * Returns the caller's IP (ra - 1), or 0 when RBP is not usable.
 */
static uint64_t unwind_frame_pointer_caller(struct unwinder *u, uint64_t sp, uint64_t bp)
{
	struct unwind_frame_state *st = &u->st;
	uint64_t ra, saved_bp;

	if (bp < sp || bp < st->stack_start || bp >= st->stack_end || st->stack_end - bp < 16 ||
	    (bp & 7) != 0)
		return 0;
	memcpy(&saved_bp, st->stack + (bp - st->stack_start), 8);
	memcpy(&ra, st->stack + (bp - st->stack_start) + 8, 8);
	if (ra == 0 || !unwind_is_code(u, ra) || !unwind_is_code(u, ra - 1))
		return 0;
	for (int i = 0; i < UNWIND_UNW_NREGS; i++)
		st->kind[i] = UNWIND_REG_UNKNOWN;
	st->kind[UNW_X86_64_RIP] = st->kind[UNW_X86_64_RSP] = st->kind[UNW_X86_64_RBP] =
		UNWIND_REG_VALUE;
	st->val[UNW_X86_64_RIP] = ra - 1;
	st->val[UNW_X86_64_RSP] = bp + 16;
	st->val[UNW_X86_64_RBP] = saved_bp;
	return ra - 1;
}

/* The frame-pointer fallback for libunwind's cursor: the caller's IP, or 0. */
static uint64_t unwind_frame_pointer_step(struct unwinder *u, unw_cursor_t *cursor, uint64_t sp,
					  uint64_t bp)
{
	uint64_t pc = unwind_frame_pointer_caller(u, sp, bp);

	if (pc == 0 || unw_init_remote(cursor, u->as, u) < 0)
		return 0;
	return pc;
}

/*
 * Loads the sample into the accessor state: registers renumbered from perf's
 * order to libunwind's, the stack copy and the mapping SP lives in (so reads
 * past the copy can be told apart from wild reads).
 */
static void unwind_state_load(struct unwinder *u, const struct unwind_sample *s)
{
	struct unwind_frame_state *st = &u->st;
	const struct maps_entry *e;
	uint64_t sp = s->regs[REGS_SP];

	for (int i = 0; i < UNWIND_UNW_NREGS; i++) {
		st->sample[i] = st->val[i] = s->regs[regs_perf_of_dwarf[i]];
		st->kind[i] = UNWIND_REG_VALUE;
	}
	st->init_active = 0;
	st->stack = s->stack;
	st->stack_start = sp;
	st->stack_end = s->stack != NULL && s->stack_len <= UINT64_MAX - sp ? sp + s->stack_len : sp;
	e = maps_find(u->maps, sp);
	st->stack_map_end = e != NULL ? e->end : 0;
	st->past_copy = 0;
	st->noinfo = 0;
	st->red_zone_known = 0;
	st->red_zone_miss = 0;
}

/* Registers an epilogue pops from slots that may be under SP by the sample. */
static const int unwind_popped[] = { UNW_X86_64_RBX, UNW_X86_64_RBP, UNW_X86_64_R12,
				     UNW_X86_64_R13, UNW_X86_64_R14, UNW_X86_64_R15 };

/* Makes the red-zone word at addr hold reg's sampled value, if addr is a red-zone slot. */
static void unwind_red_zone_set(struct unwind_frame_state *st, uint64_t addr, int reg)
{
	uint64_t below;

	if (addr >= st->stack_start)
		return;
	below = st->stack_start - addr;
	if (below > UNWIND_RED_ZONE || below % 8 != 0)
		return;
	st->red_zone[below / 8 - 1] = st->sample[reg];
	st->red_zone_known |= 1u << (below / 8 - 1);
}

/*
 * Fills the red-zone words the innermost frame's CFI points at.  In an
 * epilogue (GCC with frame pointers: "lea -N(%rbp),%rsp; pop %rbx; ...;
 * pop %rbp; ret/jmp") the CFI still says the callee-saved registers sit in
 * their slots, which are now under SP and so not in the copy.  Those
 * registers were just popped from those slots: their sampled values are
 * the slot contents.  Called only after a first attempt needed such a word,
 * because unw_get_save_loc takes libunwind's lock (signal-mask syscalls).
 * The fast path does the same from its own register locations.
 */
static void unwind_fill_red_zone(struct unwinder *u, unw_cursor_t *cursor)
{
	unw_save_loc_t loc;

	for (unsigned i = 0; i < sizeof(unwind_popped) / sizeof(unwind_popped[0]); i++) {
		if (unw_get_save_loc(cursor, unwind_popped[i], &loc) == 0 &&
		    loc.type == UNW_SLT_MEMORY)
			unwind_red_zone_set(&u->st, loc.u.addr, unwind_popped[i]);
	}
}

/*
 * libunwind's loop, from the frame pos describes (the sample's first frame,
 * or where the fast path stopped).  Each unw_step is checked: a new frame
 * must have a return address in executable code and, except right after a
 * signal frame (which may switch to another stack), a higher SP; the same
 * IP and SP twice is a loop.  A step that fails (or that libunwind guessed
 * without CFI and got wrong) gets one frame-pointer attempt before the
 * unwind is declared failed.
 *
 * libunwind returns 0 from unw_step in two cases: the CFI says the return
 * address (or RBP) is undefined (glibc's _start and the clone/clone3 child
 * path: the real root), or it had no CFI and its own frame-chain guess gave
 * up.  Only the first is UNWIND_END_ROOT; find_proc_info flags the second
 * (noinfo).
 *
 * Taking over mid-stack: a fresh cursor looks its first frame's CFI up at
 * its IP exactly, where the cursor of a whole walk would look a return
 * address up at IP - 1 (the call).  So the cursor is started at IP - 1
 * then; the loop keeps the real IP.  libunwind uses its cursor's IP only
 * for that lookup, but for two things no compiler's output meets: a CFA
 * defined on rip, and its guesses for code without CFI, which look at the
 * code bytes at the IP for a PLT entry (a return address is never one).
 */
static size_t unwind_slow(struct unwinder *u, uint64_t *pcs, size_t max, enum unwind_end *end,
			  int fill_red_zone, const struct unwind_pos *pos)
{
	struct unwind_frame_state *st = &u->st;
	unw_word_t ip = pos->ip, sp = pos->sp, bp, new_ip, new_sp;
	unw_cursor_t cursor;
	size_t n = pos->n;
	int ret, sig;

	st->init_active = 1;
	st->init_ip = ip - (pos->use_prev ? 1 : 0);
	st->init_sp = sp;
	ret = unw_init_remote(&cursor, u->as, u);
	st->init_active = 0;
	if (ret < 0) {
		*end = UNWIND_END_FAILED;
		return n;
	}
	for (;;) {
		if (n == max) {
			*end = UNWIND_END_DEPTH;
			break;
		}
		if (unw_get_reg(&cursor, UNW_X86_64_RBP, &bp) < 0)
			bp = 0;
		st->noinfo = 0;
		st->past_copy = 0;
		u->stats.libunwind_steps++;
		ret = unw_step(&cursor);
		if (fill_red_zone && n == 1 && ret > 0)
			unwind_fill_red_zone(u, &cursor);
		if (ret > 0 && unw_get_reg(&cursor, UNW_REG_IP, &new_ip) == 0 &&
		    unw_get_reg(&cursor, UNW_REG_SP, &new_sp) == 0 && new_ip != 0) {
			/* libunwind 1.6.2: true when the frame just left was a signal frame. */
			sig = unw_is_signal_frame(&cursor) > 0;
			if (unwind_is_code(u, new_ip) && (new_ip != ip || new_sp != sp) &&
			    (sig || new_sp > sp)) {
				pcs[n++] = sig ? new_ip : new_ip - 1;
				ip = new_ip;
				sp = new_sp;
				continue;
			}
		} else if (ret == 0 && !st->noinfo) {
			*end = UNWIND_END_ROOT;
			break;
		}
		if (st->past_copy) {
			*end = UNWIND_END_TRUNCATED;
			break;
		}
		new_ip = unwind_frame_pointer_step(u, &cursor, sp, bp);
		if (new_ip == 0) {
			*end = UNWIND_END_FAILED;
			break;
		}
		pcs[n++] = new_ip;
		ip = new_ip;
		sp = st->val[UNW_X86_64_RSP];
	}
	return n;
}

/*
 * The fast path: libunwind's loop (unwind_slow) done with CFI rows instead
 * of unw_step, for as long as rows can express the frames.  It must give
 * what libunwind would, so it follows libunwind 1.6.2's step exactly:
 *
 *   - the CFI of a frame is looked up at its IP, minus one unless it is the
 *     sample's frame, a frame after a signal frame or after a frame-pointer
 *     step (libunwind's use_prev_instr);
 *   - CFA = register + offset, where rsp means the frame's SP (libunwind's
 *     CFA of the previous step); registers are located, not read: a saved
 *     register is read only when used, as libunwind reads its locations
 *     lazily, so the same reads fail (past the copy: truncation) in the
 *     same order;
 *   - a rule at CFA + offset that lands on address 0 is libunwind's null
 *     location, i.e. undefined;
 *   - the step fails when the IP and CFA stay the same; it ends the stack
 *     when the return address, or RBP, is undefined;
 *   - then the checks, the frame-pointer fallback and the red-zone fill of
 *     unwind_slow.
 *
 * At the first frame without a usable row (no FDE, expressions...) the
 * walk stops and *pos says where: libunwind continues from there with the
 * register locations kept in u->st.  Returns 1 when the walk is finished
 * (*end set), 0 to hand over.
 *
 * Where libunwind differs from itself, rows follow the uncached libunwind:
 * its rule cache is keyed by the IP alone, so the rules it found for a
 * return address (looked up at IP - 1) can later serve a sampled IP equal
 * to it, or the reverse.  The two differ only where a CFI row starts right
 * after a call instruction (after a call that does not return, in
 * hand-written assembly); rows are keyed by the address looked up.
 */
static int unwind_fast(struct unwinder *u, uint64_t *pcs, size_t max, enum unwind_end *end,
		       int fill_red_zone, struct unwind_pos *pos)
{
	struct unwind_frame_state *st = &u->st;
	uint64_t ip = pos->ip, sp = pos->sp, lookup, bp, base, cfa, new_ip;
	size_t n = pos->n, steps = 0;
	int use_prev = pos->use_prev, done = 1;

	for (;;) {
		const struct unwind_code *code;
		const struct cfi_row *row;
		int ret;

		if (n == max) {
			*end = UNWIND_END_DEPTH;
			goto out;
		}
		if (steps++ == u->fast_limit)
			break;
		if (unwind_reg_read(u, UNW_X86_64_RBP, &bp) < 0)
			bp = 0;
		st->past_copy = 0;
		lookup = ip - (use_prev ? 1 : 0);
		code = unwind_code_get(u, lookup);
		if (code == NULL)
			break;
		/* Keyed by file offset: the image address only matters on a miss. */
		row = cfi_cache_row(u->rows, &code->table->cfi, code->image,
				    lookup - code->start + code->pgoff);
		if (row->status != CFI_OK)
			break;

		/* The step. */
		if (row->cfa_reg == UNW_X86_64_RSP)
			base = sp;
		else if (unwind_reg_read(u, row->cfa_reg, &base) < 0)
			goto failed;
		cfa = base + (uint64_t)(int64_t)row->cfa_off;
		/* In register order: a register rule sees the rules before it applied. */
		for (unsigned i = 0; i < row->nrules; i++) {
			const struct cfi_rule *r = &row->rules[i];

			switch (r->how) {
			case CFI_UNDEFINED:
				st->kind[r->reg] = UNWIND_REG_UNDEFINED;
				break;
			case CFI_OFFSET:
				st->val[r->reg] = cfa + (uint64_t)(int64_t)r->arg;
				st->kind[r->reg] = st->val[r->reg] != 0 ? UNWIND_REG_MEMORY
									 : UNWIND_REG_UNDEFINED;
				break;
			case CFI_REGISTER:
				st->val[r->reg] = st->val[r->arg];
				st->kind[r->reg] = st->kind[r->arg];
				break;
			}
		}
		ret = 1;
		new_ip = 0;
		if (st->kind[UNW_X86_64_RIP] == UNWIND_REG_UNDEFINED)
			ret = 0;
		else if (unwind_reg_read(u, UNW_X86_64_RIP, &new_ip) < 0)
			goto failed;
		if (new_ip == ip && cfa == sp)
			goto failed;	/* libunwind: "ip and cfa unchanged" */
		if (st->kind[UNW_X86_64_RBP] == UNWIND_REG_UNDEFINED)
			ret = 0;
		if (fill_red_zone && n == 1 && ret > 0) {
			for (unsigned i = 0; i < sizeof(unwind_popped) / sizeof(unwind_popped[0]); i++) {
				if (st->kind[unwind_popped[i]] == UNWIND_REG_MEMORY)
					unwind_red_zone_set(st, st->val[unwind_popped[i]],
							    unwind_popped[i]);
			}
		}
		if (ret == 0) {
			*end = UNWIND_END_ROOT;
			goto out;
		}
		u->stats.fast_frames++;
		if (new_ip != 0 && unwind_is_code(u, new_ip) && (new_ip != ip || cfa != sp) &&
		    (row->signal || cfa > sp)) {
			pcs[n++] = row->signal ? new_ip : new_ip - 1;
			ip = new_ip;
			sp = cfa;
			use_prev = !row->signal;
			continue;
		}
failed:
		if (st->past_copy) {
			*end = UNWIND_END_TRUNCATED;
			goto out;
		}
		new_ip = unwind_frame_pointer_caller(u, sp, bp);
		if (new_ip == 0) {
			*end = UNWIND_END_FAILED;
			goto out;
		}
		pcs[n++] = new_ip;
		ip = new_ip;
		sp = st->val[UNW_X86_64_RSP];
		use_prev = 0;
	}
	done = 0;
out:
	pos->ip = ip;
	pos->sp = sp;
	pos->use_prev = use_prev;
	pos->n = n;
	return done;
}

/* One unwind of the sample: the fast path, then libunwind for whatever it leaves. */
static size_t unwind_walk(struct unwinder *u, const struct unwind_sample *s, uint64_t *pcs,
			  size_t max, enum unwind_end *end, int fill_red_zone)
{
	struct unwind_pos pos;

	unwind_state_load(u, s);
	pos.ip = s->regs[REGS_IP];
	pos.sp = s->regs[REGS_SP];
	pos.use_prev = 0;
	pos.n = 0;
	pcs[pos.n++] = pos.ip;
	if (unwind_fast(u, pcs, max, end, fill_red_zone, &pos))
		return pos.n;
	u->stats.handoffs++;
	return unwind_slow(u, pcs, max, end, fill_red_zone, &pos);
}

size_t unwind_stack(struct unwinder *u, const struct unwind_sample *s, uint64_t *pcs,
		    size_t max, enum unwind_end *end)
{
	size_t n;

	*end = UNWIND_END_DEPTH;
	if (max == 0)
		return 0;
	u->stats.stacks++;
	if (maps_generation(u->maps) != u->spans_generation)
		unwind_spans_clear(u);
	n = unwind_walk(u, s, pcs, max, end, 0);
	/* Rare (a sample in an epilogue): retry with the popped registers known. */
	if (*end == UNWIND_END_FAILED && u->st.red_zone_miss)
		n = unwind_walk(u, s, pcs, max, end, 1);
	return n;
}
