#include <dwarf.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <stdlib.h>
#include <string.h>

#include "ehframe.h"
#include "elf_image.h"
#include "mem.h"
#include "symtab.h"

/* libstdc++'s demangler (the Itanium C++ ABI's entry point); link -lstdc++. */
extern char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* How far a lookup walks back past symbols nested inside a bigger one. */
#define SYMTAB_NEST_SCAN 8
/* Longer mangled names are shown as they are (the demangler recurses on them). */
#define SYMTAB_DEMANGLE_MAX 16384
/* Inline chains deeper than this keep their innermost levels and the real function. */
#define SYMTAB_INLINE_DEPTH 32
/* DIEs nested deeper than this around an address are not looked into. */
#define SYMTAB_SCOPE_DEPTH 64
/* Namespaces and types nested deeper than this are not searched for functions. */
#define SYMTAB_CONTAINER_DEPTH 16
/* Addresses whose inline chains an image remembers before it starts over. */
#define SYMTAB_INLINE_CACHE 65536

/* One function: [addr, addr + size) in ELF virtual addresses. */
struct symtab_sym {
	uint64_t addr, size;
	const char *name;
};

/* One FDE of .eh_frame: the code range [start, end) it describes. */
struct symtab_fde {
	uint64_t start, end;
};

/*
 * Demangled names keyed by the address of the mangled string (which lives
 * as long as the image), so each string is demangled once.  A value equal
 * to its key means "shown as is"; other values are ours to free.  Open
 * addressing, linear probing.
 */
struct symtab_names {
	const char **keys;
	const char **vals;
	size_t cap, used;
};

/* One remembered inline chain: lines[first .. first + count). */
struct symtab_inline_slot {
	uint64_t key;		/* vaddr + 1; 0 = empty */
	uint32_t first, count;
};

/* A compilation unit's code range, for DWARF without usable .debug_aranges. */
struct symtab_cu {
	uint64_t start, end;
	Dwarf_Off off;		/* of the CU's DIE */
};

/*
 * What lookups fill in as they go.  It hangs off the table through a
 * pointer so that lookups through a const table can still remember.
 */
struct symtab_cache {
	struct symtab_names names;
	struct symtab_inline_slot *slots;
	size_t nslots, used;
	struct symtab_line *lines;
	size_t nlines, caplines;
	int cus_built;
	struct symtab_cu *cus;
	size_t ncus;
};

struct symtab {
	struct symtab_sym *syms;
	size_t count;
	struct symtab_fde *fdes;
	size_t nfdes;
	struct elf_image *img;
	struct symtab_cache *cache;
};

/* A symbol while loading, with what alias selection and sizing need. */
struct symtab_cand {
	uint64_t addr, size;
	uint64_t sec_end;	/* end of its section: bounds a guessed size */
	const char *name;
	uint8_t bind_rank;	/* 0 global, 1 weak, 2 local */
	uint8_t source;		/* 0 .symtab (own, debug file or MiniDebugInfo), 1 .dynsym */
};

/* The fields of one symbol entry, whichever its class. */
struct symtab_raw {
	uint32_t name;
	uint8_t info;
	uint16_t shndx;
	uint64_t value, size;
};

/* Decodes entry i; memcpy because corrupt files may misalign the table. */
static void symtab_decode(const uint8_t *p, size_t i, int is_64, struct symtab_raw *r)
{
	if (is_64) {
		Elf64_Sym s;

		memcpy(&s, p + i * sizeof(s), sizeof(s));
		*r = (struct symtab_raw){ s.st_name, s.st_info, s.st_shndx, s.st_value, s.st_size };
	} else {
		Elf32_Sym s;

		memcpy(&s, p + i * sizeof(s), sizeof(s));
		*r = (struct symtab_raw){ s.st_name, s.st_info, s.st_shndx, s.st_value, s.st_size };
	}
}

/* Ranks bindings for alias selection: global (and GNU unique) first, local last. */
static uint8_t symtab_bind_rank(unsigned bind)
{
	switch (bind) {
	case STB_GLOBAL:
	case STB_GNU_UNIQUE:
		return 0;
	case STB_WEAK:
		return 1;
	default:
		return 2;
	}
}

/*
 * Appends the function symbols of one symbol table section.  Everything
 * comes from the file and is checked: the table and its string table must
 * lie inside the file, each name must end with a NUL inside the string
 * table, and each symbol must sit inside an allocated, executable section.
 */
static void symtab_read_table(struct elf_image *img, const struct elf_image_shdr *sec,
			      uint8_t source, struct symtab_cand **cands, size_t *n, size_t *cap)
{
	int is_64 = elf_image_is_64(img);
	size_t entsize = is_64 ? sizeof(Elf64_Sym) : sizeof(Elf32_Sym);
	const struct elf_image_shdr *strs = elf_image_section_at(img, sec->link);
	size_t count;

	if (sec->data == NULL || strs == NULL || strs->type != SHT_STRTAB || strs->data == NULL)
		return;
	count = sec->size / entsize;
	for (size_t i = 1; i < count; i++) {
		const struct elf_image_shdr *in;
		struct symtab_raw r;
		unsigned type;
		uint64_t sec_end;
		const char *name;

		symtab_decode(sec->data, i, is_64, &r);
		type = ELF64_ST_TYPE(r.info);
		if (type != STT_FUNC && type != STT_GNU_IFUNC && !(type == STT_NOTYPE && r.size > 0))
			continue;
		if (r.value == 0 || r.shndx == SHN_UNDEF || r.shndx >= SHN_LORESERVE)
			continue;
		in = elf_image_section_at(img, r.shndx);
		if (in == NULL || (in->flags & (SHF_ALLOC | SHF_EXECINSTR)) !=
		    (SHF_ALLOC | SHF_EXECINSTR))
			continue;
		sec_end = in->vaddr + in->size;
		if (r.value < in->vaddr || r.value >= sec_end || sec_end < in->vaddr)
			continue;
		if (r.name == 0 || r.name >= strs->size ||
		    memchr(strs->data + r.name, '\0', strs->size - r.name) == NULL)
			continue;
		name = (const char *)strs->data + r.name;
		if (name[0] == '\0')
			continue;
		*cands = mem_grow(*cands, cap, *n + 1, sizeof(**cands));
		(*cands)[(*n)++] = (struct symtab_cand){
			.addr = r.value,
			.size = r.size < sec_end - r.value ? r.size : sec_end - r.value,
			.sec_end = sec_end,
			.name = name,
			.bind_rank = symtab_bind_rank(ELF64_ST_BIND(r.info)),
			.source = source,
		};
	}
}

/*
 * Orders by address, then best alias first.  The alias rule, applied in
 * turn until one decides: global binding beats weak beats local; a name
 * without a leading underscore beats one with; the shorter name wins; then
 * strcmp order; then .symtab before .dynsym.  So malloc beats
 * __libc_malloc, and __vdso_clock_gettime (global) beats clock_gettime
 * (weak).  The rule only looks at the symbols, so it is deterministic.
 */
static int symtab_cand_cmp(const void *pa, const void *pb)
{
	const struct symtab_cand *a = pa, *b = pb;
	int ua, ub, c;
	size_t la, lb;

	if (a->addr != b->addr)
		return a->addr < b->addr ? -1 : 1;
	if (a->bind_rank != b->bind_rank)
		return a->bind_rank < b->bind_rank ? -1 : 1;
	ua = a->name[0] == '_';
	ub = b->name[0] == '_';
	if (ua != ub)
		return ua - ub;
	la = strlen(a->name);
	lb = strlen(b->name);
	if (la != lb)
		return la < lb ? -1 : 1;
	c = strcmp(a->name, b->name);
	if (c != 0)
		return c;
	return (int)a->source - (int)b->source;
}

/*
 * Starts a reader over .eh_frame for function starts: absptr is as wide as
 * the file's addresses, and data-relative FDE addresses are read as
 * absolute (datarel 0; compilers write them pc-relative).  Only the
 * pointers of .eh_frame_hdr are relative to its start, as
 * ehframe_reader_init sets them by default.
 */
static void symtab_frame_reader(struct ehframe_reader *r, const uint8_t *data, size_t size,
				uint64_t vaddr, int is_64)
{
	ehframe_reader_init(r, vaddr, data, size);
	r->ptr_size = is_64 ? 8 : 4;
	r->datarel = 0;
}

/*
 * Starts r at the CIE or FDE at off of .eh_frame (symtab_frame_reader) and
 * reads its length, then bounds r by it; -1 for a terminator or a record
 * longer than the rest of the section.
 */
static int symtab_record(struct ehframe_reader *r, const uint8_t *data, size_t size,
			 uint64_t vaddr, size_t off, int is_64, struct ehframe_record *rec)
{
	symtab_frame_reader(r, data, size, vaddr, is_64);
	r->pos = off;
	if (ehframe_record_length(r, rec) < 0 || rec->len == 0 || rec->len > r->end - r->pos)
		return -1;
	ehframe_set_end(r, rec->end);
	return 0;
}

/*
 * Whether an encoded address is one symbols can use: absolute,
 * pc-relative or data-relative, not omitted, not indirect.  Text- and
 * function-relative encodings do not occur in the tables we read.
 */
static int symtab_pointer_ok(uint8_t enc)
{
	uint8_t appl = enc & EHFRAME_PE_APPL;

	return enc != EHFRAME_PE_OMIT && (enc & EHFRAME_PE_INDIRECT) == 0 &&
	       (appl == EHFRAME_PE_ABSPTR || appl == EHFRAME_PE_PCREL ||
		appl == EHFRAME_PE_DATAREL);
}

/*
 * The pointer encoding a CIE prescribes for its FDEs' addresses: the 'R'
 * entry of its "z" augmentation data, absolute when there is none.  To
 * reach it, every augmentation entry before it must be understood ('P'
 * carries a pointer of its own encoding); -1 when one is not.  Unlike the
 * unwinder, which reads CIEs as libunwind does, this takes what any
 * producer may write: a string of any length, letters of other
 * architectures ('B', 'G'), GCC 2's "eh" pointer, ELFCLASS32 files.
 */
static int symtab_cie_encoding(const uint8_t *data, size_t size, uint64_t vaddr, size_t off,
			       int is_64, uint8_t *enc)
{
	struct ehframe_reader r;
	struct ehframe_record rec;
	struct ehframe_cie cie;
	const char *aug;
	int ret;

	if (symtab_record(&r, data, size, vaddr, off, is_64, &rec) < 0 ||
	    ehframe_record_id(&r, &rec) < 0 || rec.id != 0 || ehframe_cie_head(&r, &cie) < 0 ||
	    (cie.version != 1 && cie.version != 3))
		return -1;
	/* The whole string: the reader keeps only its first letters. */
	aug = (const char *)data + cie.aug_pos;
	if (strstr(aug, "eh") != NULL)
		(void)ehframe_uint(&r, r.ptr_size, NULL);
	if (ehframe_cie_factors(&r, &cie) < 0)
		return -1;
	*enc = EHFRAME_PE_ABSPTR;
	if (aug[0] == '\0')
		return 0;
	if (aug[0] != 'z' || ehframe_cie_letter(&r, &cie, 'z', 1) < 0 ||
	    cie.aug_size > r.end - r.pos)
		return -1;
	ehframe_set_end(&r, r.pos + cie.aug_size);
	for (const char *p = aug + 1; *p != '\0'; p++) {
		ret = ehframe_cie_letter(&r, &cie, *p, 0);
		if (ret < 0)
			return -1;
		if (*p == 'R') {
			*enc = cie.fde_enc;
			return 0;
		}
		/* An omitted personality pointer is not one we understand. */
		if (*p == 'P' && cie.per_enc == EHFRAME_PE_OMIT)
			return -1;
		if (ret > 0 && *p != 'B' && *p != 'G')
			return -1;
	}
	return 0;
}

/* The last CIE whose encoding was read: a file has few CIEs, and FDEs follow theirs. */
struct symtab_cie_memo {
	size_t off;
	uint8_t enc;
	int valid, ok;
};

/*
 * Reads the FDE at off in .eh_frame: the code range it covers.  -1 for a
 * CIE, a terminator or anything that does not parse; *next is where the
 * following entry starts (0 when the section cannot be walked further).
 * Its CIE must lie before it in the section (the CIE pointer is read
 * unsigned, unlike libunwind's).
 */
static int symtab_read_fde(const uint8_t *data, size_t size, uint64_t vaddr, size_t off,
			   int is_64, struct symtab_cie_memo *memo, struct symtab_fde *fde,
			   size_t *next)
{
	struct ehframe_reader r;
	struct ehframe_record rec;
	uint64_t start, range;
	size_t cie;

	*next = 0;
	if (symtab_record(&r, data, size, vaddr, off, is_64, &rec) < 0)
		return -1;
	*next = (size_t)rec.end;
	if (ehframe_record_id(&r, &rec) < 0 || rec.id == 0 || rec.id > rec.body)
		return -1;
	cie = (size_t)(rec.body - rec.id);
	if (!memo->valid || memo->off != cie) {
		memo->valid = 1;
		memo->off = cie;
		memo->ok = symtab_cie_encoding(data, size, vaddr, cie, is_64, &memo->enc) == 0;
	}
	if (!memo->ok || !symtab_pointer_ok(memo->enc) ||
	    ehframe_pointer(&r, memo->enc, NULL, &start) != 0 ||
	    ehframe_pointer(&r, memo->enc & EHFRAME_PE_FORMAT, &range, NULL) != 0 ||
	    range == 0 || start + range < start)
		return -1;
	fde->start = start;
	fde->end = start + range;
	return 0;
}

/*
 * The FDEs the .eh_frame_hdr binary search table lists: its entries are
 * pairs of 4-byte offsets from the header (initial location, FDE), sorted
 * by location.  Each FDE is read for the length of its range and must
 * start where the table says.  -1 when there is no usable table.
 */
static int symtab_fdes_from_hdr(struct elf_image *img, const uint8_t *frame, size_t frame_size,
				uint64_t frame_vaddr, struct symtab_fde **fdes, size_t *n)
{
	struct symtab_cie_memo memo = { 0 };
	struct ehframe_reader r;
	struct ehframe_hdr hdr;
	int is_64 = elf_image_is_64(img);
	uint64_t hdr_vaddr, loc, at;
	const uint8_t *data;
	size_t hdr_size, cap = 0;

	if (elf_image_section(img, ".eh_frame_hdr", &hdr_vaddr, &data, &hdr_size) != 0)
		return -1;
	ehframe_reader_init(&r, hdr_vaddr, data, hdr_size);
	r.ptr_size = is_64 ? 8 : 4;
	if (ehframe_hdr_read(&r, &hdr) != 0 || !symtab_pointer_ok(hdr.ptr_enc) ||
	    !symtab_pointer_ok(hdr.count_enc) || hdr.frame_ptr != frame_vaddr)
		return -1;
	r.pos = hdr.table;
	for (uint64_t i = 0; i < hdr.count; i++) {
		uint64_t fde_vaddr;
		struct symtab_fde fde;
		size_t next;

		(void)ehframe_uint(&r, 4, &loc);
		(void)ehframe_uint(&r, 4, &at);
		fde_vaddr = hdr_vaddr + (uint64_t)(int64_t)(int32_t)(uint32_t)at;
		if (fde_vaddr < frame_vaddr || fde_vaddr - frame_vaddr >= frame_size)
			continue;
		if (symtab_read_fde(frame, frame_size, frame_vaddr, (size_t)(fde_vaddr - frame_vaddr),
				    is_64, &memo, &fde, &next) != 0 ||
		    fde.start != hdr_vaddr + (uint64_t)(int64_t)(int32_t)(uint32_t)loc)
			continue;
		*fdes = mem_grow(*fdes, &cap, *n + 1, sizeof(**fdes));
		(*fdes)[(*n)++] = fde;
	}
	return 0;
}

/* Without a header table: every FDE of .eh_frame, in the order they come. */
static void symtab_fdes_from_frame(struct elf_image *img, const uint8_t *frame, size_t frame_size,
				   uint64_t frame_vaddr, struct symtab_fde **fdes, size_t *n)
{
	struct symtab_cie_memo memo = { 0 };
	size_t off = 0, next, cap = 0;

	while (off < frame_size) {
		struct symtab_fde fde;

		if (symtab_read_fde(frame, frame_size, frame_vaddr, off, elf_image_is_64(img), &memo,
				    &fde, &next) == 0) {
			*fdes = mem_grow(*fdes, &cap, *n + 1, sizeof(**fdes));
			(*fdes)[(*n)++] = fde;
		}
		if (next <= off)
			break;
		off = next;
	}
}

/* Orders FDEs by start. */
static int symtab_fde_cmp(const void *pa, const void *pb)
{
	const struct symtab_fde *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return a->end < b->end ? -1 : a->end > b->end;
}

/*
 * Reads the function ranges of .eh_frame, through .eh_frame_hdr when the
 * file has one (the table the unwinder searches) and by walking the
 * section otherwise, into a sorted array without duplicates.
 */
static void symtab_read_fdes(struct symtab *tab, struct elf_image *img)
{
	const uint8_t *frame;
	uint64_t frame_vaddr;
	size_t frame_size, kept = 0;

	if (elf_image_section(img, ".eh_frame", &frame_vaddr, &frame, &frame_size) != 0)
		return;
	if (symtab_fdes_from_hdr(img, frame, frame_size, frame_vaddr, &tab->fdes, &tab->nfdes) != 0)
		symtab_fdes_from_frame(img, frame, frame_size, frame_vaddr, &tab->fdes, &tab->nfdes);
	if (tab->nfdes == 0)
		return;
	qsort(tab->fdes, tab->nfdes, sizeof(*tab->fdes), symtab_fde_cmp);
	for (size_t i = 0; i < tab->nfdes; i++)
		if (kept == 0 || tab->fdes[kept - 1].start != tab->fdes[i].start)
			tab->fdes[kept++] = tab->fdes[i];
	tab->nfdes = kept;
}

/* The tables a stripped file's statics come from: its debug file's, else MiniDebugInfo's. */
static struct elf_image *symtab_source(struct elf_image *img)
{
	struct elf_image *dbg;

	if (elf_image_has_symtab(img))
		return img;
	dbg = elf_image_debug_file(img);
	if (dbg != NULL && elf_image_has_symtab(dbg))
		return dbg;
	dbg = elf_image_mini_debug(img);
	if (dbg != NULL && elf_image_has_symtab(dbg))
		return dbg;
	return img;
}

/*
 * Reads .symtab (every SHT_SYMTAB: the file's own, or when it was stripped
 * its debug file's or its MiniDebugInfo's, which use the same addresses),
 * then the file's .dynsym (SHT_DYNSYM), found by type so that unreadable
 * section names do not hide them.  De-duplication keeps one symbol per
 * address, so .dynsym only adds the addresses .symtab lacks (in a stripped
 * file without debug files, all of them); where both name an address the
 * alias rule chooses, and an identical name comes from .symtab.  Symbols
 * without a size reach to the next symbol, bounded by the end of their
 * section.  The .eh_frame function ranges are read too.  Never NULL: a
 * file without usable tables gives an empty table.
 */
static struct symtab *symtab_load(struct elf_image *img)
{
	struct symtab *tab = mem_zalloc(sizeof(*tab));
	struct elf_image *sources[2] = { symtab_source(img), img };
	static const uint32_t types[2] = { SHT_SYMTAB, SHT_DYNSYM };
	struct symtab_cand *cands = NULL;
	size_t n = 0, cap = 0, kept = 0;

	tab->img = img;
	tab->cache = mem_zalloc(sizeof(*tab->cache));
	symtab_read_fdes(tab, img);
	for (uint8_t source = 0; source < 2; source++) {
		size_t nsec = elf_image_section_count(sources[source]);

		for (size_t i = 0; i < nsec; i++) {
			const struct elf_image_shdr *s = elf_image_section_at(sources[source], i);

			if (s->type == types[source])
				symtab_read_table(sources[source], s, source, &cands, &n, &cap);
		}
	}
	if (n == 0)
		goto out;
	qsort(cands, n, sizeof(*cands), symtab_cand_cmp);

	/* Keep the best alias per address, with the largest size any alias has. */
	for (size_t i = 0; i < n; i++) {
		if (kept > 0 && cands[kept - 1].addr == cands[i].addr) {
			if (cands[i].size > cands[kept - 1].size)
				cands[kept - 1].size = cands[i].size;
			continue;
		}
		cands[kept++] = cands[i];
	}

	tab->syms = mem_calloc(kept, sizeof(*tab->syms));
	for (size_t i = 0; i < kept; i++) {
		struct symtab_cand *c = &cands[i];
		uint64_t size = c->size;

		if (size == 0) {
			uint64_t end = c->sec_end;

			if (i + 1 < kept && cands[i + 1].addr < end)
				end = cands[i + 1].addr;
			size = end - c->addr;
		}
		if (size == 0)
			continue;
		tab->syms[tab->count++] = (struct symtab_sym){ c->addr, size, c->name };
	}
out:
	free(cands);
	return tab;
}

/* Frees the array and what lookups cached; names from the files belong to the image. */
static void symtab_free(void *arg)
{
	struct symtab *tab = arg;
	struct symtab_cache *c;

	if (tab == NULL)
		return;
	c = tab->cache;
	for (size_t i = 0; i < c->names.cap; i++)
		if (c->names.keys[i] != NULL && c->names.vals[i] != c->names.keys[i])
			free((char *)c->names.vals[i]);
	free(c->names.keys);
	free(c->names.vals);
	free(c->slots);
	free(c->lines);
	free(c->cus);
	free(c);
	free(tab->fdes);
	free(tab->syms);
	free(tab);
}

/* Loads on first use and keeps the table with the image: most mapped files never appear in a sample. */
const struct symtab *symtab_get(struct elf_image *img)
{
	struct symtab *tab = elf_image_derived(img);

	if (tab == NULL) {
		tab = symtab_load(img);
		elf_image_set_derived(img, tab, symtab_free);
	}
	return tab;
}

/* The number of functions kept after de-duplication. */
size_t symtab_count(const struct symtab *tab)
{
	return tab->count;
}

/* The number of distinct FDE ranges. */
size_t symtab_fde_count(const struct symtab *tab)
{
	return tab->nfdes;
}

/* Fibonacci hashing of a key into a power-of-two table. */
static size_t symtab_slot(uint64_t key, size_t cap)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 17) & (cap - 1);
}

/* Doubles the name map, rehashing. */
static void symtab_names_grow(struct symtab_names *m)
{
	size_t cap = m->cap ? m->cap * 2 : 256;
	const char **keys = mem_calloc(cap, sizeof(*keys)), **vals = mem_calloc(cap, sizeof(*vals));

	for (size_t i = 0; i < m->cap; i++) {
		size_t j;

		if (m->keys[i] == NULL)
			continue;
		j = symtab_slot((uint64_t)(uintptr_t)m->keys[i], cap);
		while (keys[j] != NULL)
			j = (j + 1) & (cap - 1);
		keys[j] = m->keys[i];
		vals[j] = m->vals[i];
	}
	free(m->keys);
	free(m->vals);
	m->keys = keys;
	m->vals = vals;
	m->cap = cap;
}

/*
 * The shown form of a name, worked out on first sight and then remembered:
 * demangled (the name itself when the demangler refuses it: not C++ after
 * all, or too long to risk), or, for a versioned symbol of a static table
 * ("__libc_start_main@@GLIBC_2.34"), the name without its version.
 */
static const char *symtab_demangle(struct symtab_names *m, const char *name, int demangle)
{
	char *out;
	size_t i;
	int status = -1;

	if ((m->used + 1) * 2 > m->cap)
		symtab_names_grow(m);
	for (i = symtab_slot((uint64_t)(uintptr_t)name, m->cap); m->keys[i] != NULL;
	     i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == name)
			return m->vals[i];
	if (!demangle) {
		out = mem_strndup(name, strcspn(name, "@"));
		status = 0;
	} else if (strnlen(name, SYMTAB_DEMANGLE_MAX + 1) <= SYMTAB_DEMANGLE_MAX) {
		out = __cxa_demangle(name, NULL, NULL, &status);
	} else {
		out = NULL;
	}
	if (out == NULL || status != 0) {
		free(out);
		out = NULL;
	}
	m->keys[i] = name;
	m->vals[i] = out != NULL ? out : name;
	m->used++;
	return m->vals[i];
}

/*
 * How a name from this image is shown: demangled when it is C++'s and the
 * cache wants it, and without a symbol version ("@@GLIBC_2.34").
 */
static const char *symtab_show(const struct symtab *tab, const char *name)
{
	if (name == NULL)
		return name;
	if (name[0] == '_' && name[1] == 'Z' && elf_image_demangle(tab->img))
		return symtab_demangle(&tab->cache->names, name, 1);
	if (name[0] != '@' && strchr(name, '@') != NULL)
		return symtab_demangle(&tab->cache->names, name, 0);
	return name;
}

/*
 * Binary search for the last symbol starting at or below vaddr.  When it
 * does not reach vaddr, a few earlier ones are tried, since a function may
 * contain smaller symbols (local labels typed as functions).
 */
static const struct symtab_sym *symtab_find(const struct symtab *tab, uint64_t vaddr)
{
	size_t lo = 0, hi = tab->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tab->syms[mid].addr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, tries = 0; i > 0 && tries < SYMTAB_NEST_SCAN; i--, tries++) {
		const struct symtab_sym *s = &tab->syms[i - 1];

		if (vaddr - s->addr < s->size)
			return s;
	}
	return NULL;
}

/*
 * The covering symbol's name, demangled as the cache says.  Names point
 * into the mapped file: if it was cut on disk after loading, the SIGBUS
 * guard (sigbus.h) has put zero pages where they were, and an empty name
 * is no name.
 */
const char *symtab_lookup(const struct symtab *tab, uint64_t vaddr, uint64_t *start)
{
	const struct symtab_sym *s = symtab_find(tab, vaddr);

	if (s == NULL || s->name[0] == '\0')
		return NULL;
	if (start != NULL)
		*start = s->addr;
	return symtab_show(tab, s->name);
}

/* Symbols first (they know where a function really starts), then the FDEs. */
int symtab_function_start(const struct symtab *tab, uint64_t vaddr, uint64_t *start)
{
	const struct symtab_sym *s = symtab_find(tab, vaddr);
	size_t lo = 0, hi = tab->nfdes;

	if (s != NULL) {
		*start = s->addr;
		return 0;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (tab->fdes[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || vaddr >= tab->fdes[lo - 1].end)
		return -1;
	*start = tab->fdes[lo - 1].start;
	return 0;
}

/* Orders CU ranges by start. */
static int symtab_cu_cmp(const void *pa, const void *pb)
{
	const struct symtab_cu *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return 0;
}

/*
 * Indexes the code ranges of every compile unit (DW_AT_low_pc/high_pc or
 * DW_AT_ranges of the CU DIE), for files whose .debug_aranges is missing
 * (clang does not emit it by default) or does not list every unit.  Runs
 * once per image, on the first address .debug_aranges cannot place.
 */
static void symtab_index_cus(struct symtab_cache *c, Dwarf *dw)
{
	Dwarf_CU *cu = NULL;
	Dwarf_Die cudie;
	uint8_t unit_type;
	size_t cap = 0;

	c->cus_built = 1;
	while (dwarf_get_units(dw, cu, &cu, NULL, &unit_type, &cudie, NULL) == 0) {
		Dwarf_Addr base, start, end;
		ptrdiff_t off = 0;

		if (unit_type != DW_UT_compile)
			continue;
		while ((off = dwarf_ranges(&cudie, off, &base, &start, &end)) > 0) {
			if (end <= start)
				continue;
			c->cus = mem_grow(c->cus, &cap, c->ncus + 1, sizeof(*c->cus));
			c->cus[c->ncus++] = (struct symtab_cu){ start, end, dwarf_dieoffset(&cudie) };
		}
	}
	if (c->ncus > 0)
		qsort(c->cus, c->ncus, sizeof(*c->cus), symtab_cu_cmp);
}

/* The compile unit holding vaddr: .debug_aranges first, then our own index. */
static int symtab_cu_die(struct symtab_cache *c, Dwarf *dw, uint64_t vaddr, Dwarf_Die *cudie)
{
	size_t lo = 0, hi;

	if (dwarf_addrdie(dw, vaddr, cudie) != NULL)
		return 0;
	if (!c->cus_built)
		symtab_index_cus(c, dw);
	hi = c->ncus;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->cus[mid].start <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, tries = 0; i > 0 && tries < SYMTAB_NEST_SCAN; i--, tries++)
		if (vaddr < c->cus[i - 1].end)
			return dwarf_offdie(dw, c->cus[i - 1].off, cudie) != NULL ? 0 : -1;
	return -1;
}

/* Whether a scope DIE is a function level of an inline chain. */
static int symtab_is_function(Dwarf_Die *die)
{
	int tag = dwarf_tag(die);

	return tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine ||
	       tag == DW_TAG_entry_point;
}

/*
 * A function DIE's name: its linkage name (demangled as the cache says)
 * when it has one, which for C++ carries the class, namespace and
 * parameters, else DW_AT_name.  Both are followed through
 * DW_AT_abstract_origin and DW_AT_specification, which is where inlined
 * instances and out-of-class definitions keep them.
 */
static const char *symtab_die_name(const struct symtab *tab, Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name;

	name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));
	if (name == NULL)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	if (name != NULL)
		return symtab_show(tab, name);
	return dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
}

/* The position of the call an inlined instance stands for: DW_AT_call_file/line. */
static void symtab_call_site(Dwarf_Die *die, const char **file, uint32_t *line)
{
	Dwarf_Attribute attr;
	Dwarf_Word idx, val;
	Dwarf_Files *files;
	Dwarf_Die cu;
	size_t nfiles;

	*file = NULL;
	*line = 0;
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attr), &val) == 0 && val <= UINT32_MAX)
		*line = (uint32_t)val;
	if (dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attr), &idx) == 0 &&
	    dwarf_diecu(die, &cu, NULL, NULL) != NULL && dwarf_getsrcfiles(&cu, &files, &nfiles) == 0 &&
	    idx < nfiles)
		*file = dwarf_filesrc(files, idx, NULL, NULL);
}

/* Tags without addresses of their own whose children may be functions with code. */
static int symtab_is_container(int tag)
{
	return tag == DW_TAG_namespace || tag == DW_TAG_module || tag == DW_TAG_class_type ||
	       tag == DW_TAG_structure_type || tag == DW_TAG_union_type ||
	       tag == DW_TAG_interface_type;
}

/*
 * Finds the child of die whose code ranges hold vaddr, looking through
 * namespaces and types on the way (GCC nests function definitions in the
 * namespace DIEs).  Offsets must grow from one sibling to the next and
 * nesting is bounded, so corrupt DWARF cannot make the walk loop or
 * recurse without end.
 */
static int symtab_child_at(Dwarf_Die *die, uint64_t vaddr, Dwarf_Die *out, int depth)
{
	Dwarf_Die child, next;
	Dwarf_Off last = 0;

	if (depth > SYMTAB_CONTAINER_DEPTH || dwarf_child(die, &child) != 0)
		return -1;
	for (;;) {
		Dwarf_Off off = dwarf_dieoffset(&child);

		if (off <= last && last != 0)
			return -1;
		last = off;
		if (dwarf_haspc(&child, vaddr) > 0) {
			*out = child;
			return 0;
		}
		if (symtab_is_container(dwarf_tag(&child)) &&
		    symtab_child_at(&child, vaddr, out, depth + 1) == 0)
			return 0;
		if (dwarf_siblingof(&child, &next) != 0)
			return -1;
		child = next;
	}
}

/*
 * Works out the inline chain at vaddr (see symtab_lookup_inline) into out,
 * which holds SYMTAB_INLINE_DEPTH entries.
 *
 * The DIEs holding vaddr are found by descending from the CU DIE through
 * the children whose ranges contain it: functions, inlined instances and
 * lexical blocks, each inlined instance sitting inside the function (or
 * inlined instance) its code was inlined into.  (dwarf_getscopes is not
 * used: above an inlined instance it goes on with the scopes of the
 * abstract definition rather than the caller, and on some corrupt input it
 * leaks.)  The chain runs from the innermost function-like DIE outwards to
 * the first real function; each level's position is the call site of the
 * level below it, the innermost level's is vaddr's own row of the line
 * table.  A chain deeper than the array keeps overwriting its last entry,
 * which so ends as the real function.
 */
static size_t symtab_dwarf_chain(const struct symtab *tab, Dwarf *dw, uint64_t vaddr,
				 struct symtab_line *out)
{
	Dwarf_Die cudie, path[SYMTAB_SCOPE_DEPTH];
	Dwarf_Line *row;
	const char *file = NULL;
	uint32_t line = 0;
	int depth = 0, lineno, inner;
	size_t n = 0;

	if (symtab_cu_die(tab->cache, dw, vaddr, &cudie) != 0)
		return 0;
	row = dwarf_getsrc_die(&cudie, vaddr);
	if (row != NULL) {
		file = dwarf_linesrc(row, NULL, NULL);
		if (dwarf_lineno(row, &lineno) == 0 && lineno > 0)
			line = (uint32_t)lineno;
	}
	while (depth < SYMTAB_SCOPE_DEPTH &&
	       symtab_child_at(depth == 0 ? &cudie : &path[depth - 1], vaddr, &path[depth], 0) == 0)
		depth++;
	for (inner = depth - 1; inner >= 0 && !symtab_is_function(&path[inner]); inner--)
		;
	for (int i = inner; i >= 0; i--) {
		size_t at;

		if (!symtab_is_function(&path[i]))
			continue;
		at = n < SYMTAB_INLINE_DEPTH ? n++ : SYMTAB_INLINE_DEPTH - 1;
		out[at] = (struct symtab_line){ symtab_die_name(tab, &path[i]), file, line, NULL, 0 };
		/* Both follow DW_AT_abstract_origin to an inlined function's definition. */
		out[at].decl_file = dwarf_decl_file(&path[i]);
		if (dwarf_decl_line(&path[i], &lineno) == 0 && lineno > 0)
			out[at].decl_line = (uint32_t)lineno;
		if (dwarf_tag(&path[i]) != DW_TAG_inlined_subroutine)
			break;
		symtab_call_site(&path[i], &file, &line);
	}
	/* A line row without a function DIE (assembly): one level, named by the symbol. */
	if (n == 0 && file != NULL)
		out[n++] = (struct symtab_line){ NULL, file, line, NULL, 0 };
	if (n > 0 && out[n - 1].function == NULL)
		out[n - 1].function = symtab_lookup(tab, vaddr, NULL);
	return n;
}

/* The slot of vaddr in the inline cache, or the empty slot where it belongs. */
static struct symtab_inline_slot *symtab_inline_slot(struct symtab_cache *c, uint64_t vaddr)
{
	size_t i = symtab_slot(vaddr + 1, c->nslots);

	while (c->slots[i].key != 0 && c->slots[i].key != vaddr + 1)
		i = (i + 1) & (c->nslots - 1);
	return &c->slots[i];
}

/*
 * Remembers a chain.  The cache grows by doubling up to SYMTAB_INLINE_CACHE
 * addresses and then starts over, so memory stays bounded; strings are not
 * in it (they belong to the image), so forgetting costs only recomputation.
 */
static const struct symtab_inline_slot *symtab_inline_put(struct symtab_cache *c, uint64_t vaddr,
							 const struct symtab_line *lines, size_t n)
{
	struct symtab_inline_slot *slot;

	if (c->used >= SYMTAB_INLINE_CACHE) {
		memset(c->slots, 0, c->nslots * sizeof(*c->slots));
		c->used = 0;
		c->nlines = 0;
	}
	if ((c->used + 1) * 2 > c->nslots) {
		struct symtab_inline_slot *old = c->slots;
		size_t nold = c->nslots;

		c->nslots = nold ? nold * 2 : 1024;
		c->slots = mem_calloc(c->nslots, sizeof(*c->slots));
		for (size_t i = 0; i < nold; i++)
			if (old[i].key != 0)
				*symtab_inline_slot(c, old[i].key - 1) = old[i];
		free(old);
	}
	if (n > 0) {
		c->lines = mem_grow(c->lines, &c->caplines, c->nlines + n, sizeof(*c->lines));
		memcpy(c->lines + c->nlines, lines, n * sizeof(*lines));
	}
	slot = symtab_inline_slot(c, vaddr);
	*slot = (struct symtab_inline_slot){ vaddr + 1, (uint32_t)c->nlines, (uint32_t)n };
	c->nlines += n;
	c->used++;
	return slot;
}

/*
 * Answers from the image's cache when it can; otherwise opens DWARF (once
 * per image) and works the chain out.  Addresses without DWARF are cached
 * too (as empty chains), so they cost one probe next time.
 */
size_t symtab_lookup_inline(struct elf_image *img, uint64_t vaddr, struct symtab_line *out,
			    size_t max)
{
	const struct symtab *tab = symtab_get(img);
	struct symtab_cache *c = tab->cache;
	const struct symtab_inline_slot *slot = NULL;
	struct symtab_line chain[SYMTAB_INLINE_DEPTH];
	const struct symtab_line *lines;
	Dwarf *dw;
	size_t n;

	if (c->nslots > 0) {
		slot = symtab_inline_slot(c, vaddr);
		if (slot->key == 0)
			slot = NULL;
	}
	if (slot == NULL) {
		dw = elf_image_dwarf(img);
		if (dw == NULL)
			return 0;
		n = symtab_dwarf_chain(tab, dw, vaddr, chain);
		slot = symtab_inline_put(c, vaddr, chain, n);
	}
	n = slot->count;
	if (max == 0 || n == 0)
		return 0;
	lines = c->lines + slot->first;
	if (n <= max) {
		memcpy(out, lines, n * sizeof(*out));
		return n;
	}
	memcpy(out, lines, (max - 1) * sizeof(*out));
	out[max - 1] = lines[n - 1];
	return max;
}
