#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "elf_image.h"
#include "maps.h"
#include "mem.h"
#include "symtab.h"

/* How far a lookup walks back past symbols nested inside a bigger one. */
#define SYMTAB_NEST_SCAN 8

/* One function: [addr, addr + size) in ELF virtual addresses. */
struct symtab_sym {
	uint64_t addr, size;
	const char *name;
};

struct symtab {
	struct symtab_sym *syms;
	size_t count;
};

/* A symbol while loading, with what alias selection and sizing need. */
struct symtab_cand {
	uint64_t addr, size;
	uint64_t sec_end;	/* end of its section: bounds a guessed size */
	const char *name;
	uint8_t bind_rank;	/* 0 global, 1 weak, 2 local */
	uint8_t source;		/* 0 .symtab, 1 .dynsym */
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
 * Reads .symtab (every SHT_SYMTAB), then .dynsym (SHT_DYNSYM), found by
 * type so that unreadable section names do not hide them.  De-duplication
 * keeps one symbol per address, so .dynsym only adds the addresses .symtab
 * lacks (in a stripped file, all of them); where both name an address the
 * alias rule chooses, and an identical name comes from .symtab.  Symbols
 * without a size reach to the next symbol, bounded by the end of their
 * section.  Never NULL: a file without usable tables gives an empty table.
 */
struct symtab *symtab_load(struct elf_image *img)
{
	static const uint32_t order[] = { SHT_SYMTAB, SHT_DYNSYM };
	struct symtab *tab = mem_zalloc(sizeof(*tab));
	struct symtab_cand *cands = NULL;
	size_t n = 0, cap = 0, kept = 0, nsec = elf_image_section_count(img);

	for (uint8_t source = 0; source < 2; source++) {
		for (size_t i = 0; i < nsec; i++) {
			const struct elf_image_shdr *s = elf_image_section_at(img, i);

			if (s->type == order[source])
				symtab_read_table(img, s, source, &cands, &n, &cap);
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

/* Frees the array; names belong to the image and stay. */
void symtab_free(struct symtab *tab)
{
	if (tab == NULL)
		return;
	free(tab->syms);
	free(tab);
}

/* The number of functions kept after de-duplication. */
size_t symtab_count(const struct symtab *tab)
{
	return tab->count;
}

/*
 * Binary search for the last symbol starting at or below vaddr.  When it
 * does not reach vaddr, a few earlier ones are tried, since a function may
 * contain smaller symbols (local labels typed as functions).
 */
const char *symtab_lookup(const struct symtab *tab, uint64_t vaddr, uint64_t *start)
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

		if (vaddr - s->addr < s->size) {
			if (start != NULL)
				*start = s->addr;
			return s->name;
		}
	}
	return NULL;
}

/*
 * Fills module and module_offset whenever a mapping holds addr, so even
 * unnamed code shows where it lives; the function only when a symbol covers
 * it.  The first lookup in an image loads its symbols.
 */
int symtab_resolve(const struct maps *maps, uint64_t addr, struct symtab_result *out)
{
	const struct maps_entry *e = maps_find(maps, addr);
	uint64_t vaddr, start;
	const char *name;

	out->function = NULL;
	out->function_offset = 0;
	if (e == NULL) {
		out->module = "[unknown]";
		out->module_offset = addr;
		return -1;
	}
	out->module = e->name;
	out->module_offset = addr - e->start + e->pgoff;
	if (e->image == NULL || maps_to_vaddr(e, addr, &vaddr) != 0)
		return 0;
	name = symtab_lookup(elf_image_symtab(e->image), vaddr, &start);
	if (name != NULL) {
		out->function = name;
		out->function_offset = vaddr - start;
	}
	return 0;
}
