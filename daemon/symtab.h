#ifndef SAMPLED_SYMTAB_H
#define SAMPLED_SYMTAB_H

#include <stddef.h>
#include <stdint.h>

#include "maps.h"

/*
 * Function symbols of one ELF image: .symtab, then .dynsym for what .symtab
 * lacks, read once into a sorted array; lookups are binary searches.
 */

struct symtab;

struct symtab *symtab_load(struct elf_image *img);
void symtab_free(struct symtab *tab);
size_t symtab_count(const struct symtab *tab);
/*
 * Returns the name of the function covering vaddr (ELF virtual address) and
 * its start, or NULL.  The name lives as long as the image.
 */
const char *symtab_lookup(const struct symtab *tab, uint64_t vaddr, uint64_t *start);

/* A target address resolved to a name. */
struct symtab_result {
	const char *function;	/* NULL when unknown */
	uint64_t function_offset;
	const char *module;	/* "libc.so.6", "[vdso]", "[anon]", "[unknown]" */
	uint64_t module_offset;	/* file offset of addr in the module (module+0x...) */
};

/* Resolves addr in the target's address space; 0 if found in a mapping, -1 if not. */
int symtab_resolve(const struct maps *maps, uint64_t addr, struct symtab_result *out);

#endif
