#include <libunwind.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "unwind.h"

/*
 * How this works.  libunwind's remote API (one address space per target)
 * does the DWARF CFI work; we give it a view of the sampled thread that never
 * touches the live process:
 *
 *   - registers come from the sample (access_reg);
 *   - memory in [SP, SP + stack_len) comes from the sample's stack copy;
 *     .eh_frame_hdr, .eh_frame and code come from the bytes of the ELF
 *     files behind the mappings (access_mem);
 *   - unwind tables are found by our find_proc_info: the mapping of the IP,
 *     the image's .eh_frame_hdr binary search table (parsed once per image),
 *     handed to libunwind's own table search.
 *
 * libunwind keeps a per-address-space cache of register rules keyed by IP
 * (UNW_CACHE_GLOBAL), so a warm unwind mostly reads the stack copy.  Known
 * cost: Debian's libunwind 1.6.2 is built with signal blocking, so every
 * unw_step takes that cache's lock with two rt_sigprocmask syscalls; they
 * are most of the time of a warm unwind (see the unit test's benchmark).
 */

/*
 * Exported by Debian's libunwind 1.6.2 but not declared in its headers:
 * binary search of an .eh_frame_hdr style table, FDE parsing included.
 */
extern int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

/* libunwind numbers x86-64 registers RAX RDX RCX RBX RSI RDI RBP RSP R8..R15 RIP. */
#define UNWIND_UNW_NREGS 17

/* DWARF exception-header pointer encodings (LSB, .eh_frame_hdr). */
#define UNWIND_PE_OMIT 0xff
#define UNWIND_PE_FORMAT_MASK 0x0f
#define UNWIND_PE_APPL_MASK 0x70
#define UNWIND_PE_DATAREL_SDATA4 0x3b

/* Recently read mappings remembered across calls (cleared when maps change). */
#define UNWIND_SPANS 8

/* The x86-64 ABI's red zone: bytes under SP a function may still use. */
#define UNWIND_RED_ZONE 128

/* Register-state cache entries libunwind keeps per target (its default is 128). */
#define UNWIND_RS_CACHE 1024

/* What find_proc_info needs from an image's .eh_frame_hdr, parsed once. */
struct unwind_table {
	const struct elf_image *key; /* NULL = free slot */
	uint64_t hdr_vaddr;	/* .eh_frame_hdr in the image's address space */
	uint64_t table_vaddr;	/* the sorted (initial location, FDE) pairs */
	uint64_t fde_count;	/* 0: no usable table, lookups fail fast */
	const uint8_t *hdr_data;
	size_t hdr_size;
	uint64_t frame_vaddr;	/* .eh_frame, where the FDEs and CIEs are */
	const uint8_t *frame_data;
	size_t frame_size;	/* 0 when absent (reads then go through the image) */
};

/* A target range whose bytes we hold (a section or a mapping of an ELF file). */
struct unwind_span {
	uint64_t start, end;	/* end clipped to the bytes that exist */
	const uint8_t *bytes;	/* the byte for start */
};

/* The thread being unwound, as the accessors see it. */
struct unwind_frame_state {
	uint64_t regs[UNWIND_UNW_NREGS]; /* libunwind numbering */
	uint32_t known;		/* bit per valid regs[] entry */
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
};

/* Perf register index for each libunwind register number (see unwind.h). */
static const uint8_t unwind_perf_index[UNWIND_UNW_NREGS] = {
	[UNW_X86_64_RAX] = 0, [UNW_X86_64_RDX] = 3, [UNW_X86_64_RCX] = 2,
	[UNW_X86_64_RBX] = 1, [UNW_X86_64_RSI] = 4, [UNW_X86_64_RDI] = 5,
	[UNW_X86_64_RBP] = UNWIND_REG_BP, [UNW_X86_64_RSP] = UNWIND_REG_SP,
	[UNW_X86_64_R8] = 16, [UNW_X86_64_R9] = 17, [UNW_X86_64_R10] = 18,
	[UNW_X86_64_R11] = 19, [UNW_X86_64_R12] = 20, [UNW_X86_64_R13] = 21,
	[UNW_X86_64_R14] = 22, [UNW_X86_64_R15] = 23, [UNW_X86_64_RIP] = UNWIND_REG_IP,
};

/* Reads a little-endian unsigned value of n bytes (no alignment needed). */
static uint64_t unwind_read_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i > 0; i--)
		v = (v << 8) | p[i - 1];
	return v;
}

/*
 * Reads one encoded value of .eh_frame_hdr at *off and advances past it.
 * Only fixed-size formats are accepted (all the header's first two fields
 * use in practice); the value comes back raw, its pcrel/datarel application
 * ignored: we need eh_frame_ptr only to skip it, fde_count is absolute.
 */
static int unwind_read_encoded(const uint8_t *data, size_t size, size_t *off, uint8_t enc,
			       uint64_t *val)
{
	size_t n;
	int is_signed = 0;

	if (enc == UNWIND_PE_OMIT) {
		*val = 0;
		return 0;
	}
	switch (enc & UNWIND_PE_FORMAT_MASK) {
	case 0x00: n = 8; break;			/* absptr */
	case 0x02: n = 2; break;			/* udata2 */
	case 0x03: n = 4; break;			/* udata4 */
	case 0x04: n = 8; break;			/* udata8 */
	case 0x0a: n = 2; is_signed = 1; break;		/* sdata2 */
	case 0x0b: n = 4; is_signed = 1; break;		/* sdata4 */
	case 0x0c: n = 8; is_signed = 1; break;		/* sdata8 */
	default: return -1;				/* uleb128/sleb128: never seen here */
	}
	if (*off > size || size - *off < n)
		return -1;
	*val = unwind_read_le(data + *off, n);
	if (is_signed && n < 8 && (*val >> (n * 8 - 1)) != 0)
		*val |= ~0ULL << (n * 8);
	*off += n;
	return 0;
}

/*
 * Parses the .eh_frame_hdr whose bytes and address t holds.  A header we
 * cannot use leaves fde_count at 0, so the image is remembered as having no
 * table and never parsed again.
 */
static void unwind_parse_hdr(struct unwind_table *t)
{
	const uint8_t *data = t->hdr_data;
	uint64_t eh_frame_ptr, fde_count;
	size_t size = t->hdr_size, off = 4;

	t->fde_count = 0;
	if (size < 4 || data[0] != 1)
		return;
	/* The search table must be datarel|sdata4 for libunwind to use it. */
	if (data[3] != UNWIND_PE_DATAREL_SDATA4)
		return;
	if (unwind_read_encoded(data, size, &off, data[1], &eh_frame_ptr) < 0)
		return;
	/* fde_count is a plain number: an applied (pcrel...) encoding is nonsense. */
	if (data[2] == UNWIND_PE_OMIT || (data[2] & UNWIND_PE_APPL_MASK) != 0 ||
	    unwind_read_encoded(data, size, &off, data[2], &fde_count) < 0)
		return;
	if (fde_count == 0 || fde_count > (size - off) / 8)
		return;
	t->table_vaddr = t->hdr_vaddr + off;
	t->fde_count = fde_count;
}

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
}

/*
 * Returns the parsed .eh_frame_hdr of an image, parsing it on first use.
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
	memset(t, 0, sizeof(*t));
	t->key = img;
	u->tables_len++;
	if (elf_image_section(img, ".eh_frame_hdr", &t->hdr_vaddr, &t->hdr_data, &t->hdr_size) == 0)
		unwind_parse_hdr(t);
	if (elf_image_section(img, ".eh_frame", &t->frame_vaddr, &t->frame_data, &t->frame_size) < 0)
		t->frame_size = 0;
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

/* Forgets remembered ranges; they hold addresses that may be stale now. */
static void unwind_spans_clear(struct unwinder *u)
{
	memset(u->spans, 0, sizeof(u->spans));
	u->span_next = 0;
	u->cur_image = NULL;
	u->spans_generation = maps_generation(u->maps);
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
	if (t == NULL || t->fde_count == 0 || maps_to_vaddr(e, ip, &vaddr) < 0) {
		u->st.noinfo = 1;
		return -UNW_ENOINFO;
	}
	bias = ip - vaddr;
	u->cur_image = e->image;
	u->cur_bias = bias;
	unwind_span_add(u, t->hdr_vaddr + bias, t->hdr_size, t->hdr_data);
	if (t->frame_size != 0)
		unwind_span_add(u, t->frame_vaddr + bias, t->frame_size, t->frame_data);

	memset(&di, 0, sizeof(di));
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.start_ip = e->start;
	di.end_ip = e->end;
	di.u.rti.segbase = t->hdr_vaddr + bias;
	di.u.rti.table_data = t->table_vaddr + bias;
	di.u.rti.table_len = t->fde_count * 8 / sizeof(unw_word_t);
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
 * libunwind: reads one word of the sampled thread: from the stack copy, the
 * red zone words unwind_fill_red_zone knows, else from the file bytes behind
 * the mapping.  Never reads the live target.  A read above the copy but
 * inside SP's mapping means the copy was too short, which the caller
 * reports as truncation rather than failure.
 */
static int unwind_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write,
			     void *arg)
{
	struct unwinder *u = arg;
	struct unwind_frame_state *st = &u->st;
	const uint8_t *p;
	size_t avail;

	(void)as;
	if (write)
		return -UNW_EINVAL;
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
		return -UNW_EINVAL;
	}
	p = unwind_bytes(u, addr, &avail);
	if (p != NULL) {
		*valp = 0;
		memcpy(valp, p, avail < 8 ? avail : 8);
		return 0;
	}
	if (addr >= st->stack_start && addr < st->stack_map_end)
		st->past_copy = 1;
	return -UNW_EINVAL;
}

/* libunwind: reads a register of the sample (writes are never needed). */
static int unwind_access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *valp, int write,
			     void *arg)
{
	struct unwinder *u = arg;

	(void)as;
	if (write)
		return -UNW_EINVAL;
	if (reg < 0 || reg >= UNWIND_UNW_NREGS || (u->st.known & (1u << reg)) == 0)
		return -UNW_EBADREG;
	*valp = u->st.regs[reg];
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
	unwind_spans_clear(u);
	return u;
}

void unwind_free(struct unwinder *u)
{
	if (u == NULL)
		return;
	unw_destroy_addr_space(u->as);
	free(u->tables);
	free(u);
}

void unwind_flush(struct unwinder *u, uint64_t start, uint64_t end)
{
	unw_flush_cache(u->as, start, end);
	unwind_spans_clear(u);
}

/* True when addr lies in an executable mapping: a return address must. */
static int unwind_is_code(const struct unwinder *u, uint64_t addr)
{
	const struct maps_entry *e = maps_find(u->maps, addr);

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
 */
static int unwind_frame_pointer_step(struct unwinder *u, unw_cursor_t *cursor, uint64_t sp,
				     uint64_t bp, uint64_t *pc)
{
	struct unwind_frame_state *st = &u->st;
	uint64_t ra, saved_bp;

	if (bp < sp || bp < st->stack_start || bp >= st->stack_end || st->stack_end - bp < 16 ||
	    (bp & 7) != 0)
		return -1;
	memcpy(&saved_bp, st->stack + (bp - st->stack_start), 8);
	memcpy(&ra, st->stack + (bp - st->stack_start) + 8, 8);
	if (ra == 0 || !unwind_is_code(u, ra) || !unwind_is_code(u, ra - 1))
		return -1;
	st->known = (1u << UNW_X86_64_RIP) | (1u << UNW_X86_64_RSP) | (1u << UNW_X86_64_RBP);
	st->regs[UNW_X86_64_RIP] = ra - 1;
	st->regs[UNW_X86_64_RSP] = bp + 16;
	st->regs[UNW_X86_64_RBP] = saved_bp;
	if (unw_init_remote(cursor, u->as, u) < 0)
		return -1;
	*pc = ra - 1;
	return 0;
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
	uint64_t sp = s->regs[UNWIND_REG_SP];

	for (int i = 0; i < UNWIND_UNW_NREGS; i++)
		st->regs[i] = s->regs[unwind_perf_index[i]];
	st->known = (1u << UNWIND_UNW_NREGS) - 1;
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

/*
 * Fills the red-zone words the innermost frame's CFI points at.  In an
 * epilogue (GCC with frame pointers: "lea -N(%rbp),%rsp; pop %rbx; ...;
 * pop %rbp; ret/jmp") the CFI still says the callee-saved registers sit in
 * their slots, which are now under SP and so not in the copy.  Those
 * registers were just popped from those slots: their sampled values are
 * the slot contents.  Called only after a first attempt needed such a word,
 * because unw_get_save_loc takes libunwind's lock (signal-mask syscalls).
 */
static void unwind_fill_red_zone(struct unwinder *u, unw_cursor_t *cursor)
{
	static const int saved[] = { UNW_X86_64_RBX, UNW_X86_64_RBP, UNW_X86_64_R12,
				     UNW_X86_64_R13, UNW_X86_64_R14, UNW_X86_64_R15 };
	struct unwind_frame_state *st = &u->st;
	unw_save_loc_t loc;
	uint64_t below;

	for (unsigned i = 0; i < sizeof(saved) / sizeof(saved[0]); i++) {
		if (unw_get_save_loc(cursor, saved[i], &loc) < 0 || loc.type != UNW_SLT_MEMORY ||
		    loc.u.addr >= st->stack_start)
			continue;
		below = st->stack_start - loc.u.addr;
		if (below > UNWIND_RED_ZONE || below % 8 != 0)
			continue;
		st->red_zone[below / 8 - 1] = st->regs[saved[i]];
		st->red_zone_known |= 1u << (below / 8 - 1);
	}
}

/*
 * The loop.  Each unw_step is checked: a new frame must have a return
 * address in executable code and, except right after a signal frame (which
 * may switch to another stack), a higher SP; the same IP and SP twice is a
 * loop.  A step that fails (or that libunwind guessed without CFI and got
 * wrong) gets one frame-pointer attempt before the unwind is declared failed.
 *
 * libunwind returns 0 from unw_step in two cases: the CFI says the return
 * address is undefined (glibc's _start and the clone/clone3 child path: the
 * real root), or it had no CFI and its own frame-chain guess gave up.  Only
 * the first is UNWIND_END_ROOT; find_proc_info flags the second (noinfo).
 */
static size_t unwind_walk(struct unwinder *u, const struct unwind_sample *s, uint64_t *pcs,
			  size_t max, enum unwind_end *end, int fill_red_zone)
{
	struct unwind_frame_state *st = &u->st;
	unw_word_t ip, sp, bp, new_ip, new_sp;
	unw_cursor_t cursor;
	size_t n = 0;
	int ret, sig;

	unwind_state_load(u, s);
	ip = s->regs[UNWIND_REG_IP];
	sp = s->regs[UNWIND_REG_SP];
	pcs[n++] = ip;
	if (unw_init_remote(&cursor, u->as, u) < 0) {
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
		if (unwind_frame_pointer_step(u, &cursor, sp, bp, &new_ip) < 0) {
			*end = UNWIND_END_FAILED;
			break;
		}
		pcs[n++] = new_ip;
		ip = new_ip;
		sp = st->regs[UNW_X86_64_RSP];
	}
	return n;
}

size_t unwind_stack(struct unwinder *u, const struct unwind_sample *s, uint64_t *pcs,
		    size_t max, enum unwind_end *end)
{
	size_t n;

	*end = UNWIND_END_DEPTH;
	if (max == 0)
		return 0;
	if (maps_generation(u->maps) != u->spans_generation)
		unwind_spans_clear(u);
	n = unwind_walk(u, s, pcs, max, end, 0);
	/* Rare (a sample in an epilogue): retry with the popped registers known. */
	if (*end == UNWIND_END_FAILED && u->st.red_zone_miss)
		n = unwind_walk(u, s, pcs, max, end, 1);
	return n;
}
