#ifndef SAMPLED_SYMTAB_H
#define SAMPLED_SYMTAB_H

#include <stddef.h>
#include <stdint.h>

#include "elf_image.h"

/*
 * Function symbols of one ELF image, read once into a sorted array;
 * lookups are binary searches.  The names come from, in this order of
 * preference when several name one address (see symtab_load in symtab.c): the file's
 * .symtab, or when it was stripped the .symtab of its separate debug file
 * or else of its MiniDebugInfo; then .dynsym.  Code no symbol covers
 * (static functions of a stripped file without debug files) still has a
 * known start: that of the .eh_frame FDE covering it.  GCC and clang emit
 * one FDE per function on x86-64 by default (a split-off .cold part gets
 * its own); hand-written assembly may declare several in one function
 * (glibc's clone3 has one for its child half), or none.
 *
 * Names starting with _Z are shown demangled (__cxa_demangle) unless the
 * image's cache says otherwise; each is demangled once, on its first
 * lookup, and kept.
 *
 * With DWARF (in the file or its debug file), an address also resolves to
 * file:line and the chain of functions inlined there (symtab_lookup_inline).
 * Answers are cached per image and address, so repeating a lookup
 * allocates nothing.
 *
 * Not thread-safe: lookups fill caches inside the table (one thread, the
 * daemon's loop, owns every image).
 */

struct symtab;

/*
 * The image's symbol table, loaded on its first use and then kept with the
 * image (elf_image_set_derived), which frees it; never NULL (may be empty).
 */
const struct symtab *symtab_get(struct elf_image *img);
size_t symtab_count(const struct symtab *tab);
/*
 * Returns the name of the function covering vaddr (ELF virtual address) and
 * its start, or NULL.  The name lives as long as the image.
 */
const char *symtab_lookup(const struct symtab *tab, uint64_t vaddr, uint64_t *start);
/*
 * The start of the function covering vaddr, named or not: the symbol's when
 * one covers it, else that of the .eh_frame FDE covering it.  0 when found.
 */
int symtab_function_start(const struct symtab *tab, uint64_t vaddr, uint64_t *start);
/* The number of FDE ranges read from .eh_frame (tests, diagnostics). */
size_t symtab_fde_count(const struct symtab *tab);

/* One level of an address's inline chain. */
struct symtab_line {
	const char *function;	/* NULL when DWARF names none and no symbol covers it */
	const char *file;	/* NULL when unknown */
	uint32_t line;		/* 0 when unknown */
	/* Where the function itself is declared: what a call tree groups by. */
	const char *decl_file;	/* NULL when unknown */
	uint32_t decl_line;	/* 0 when unknown */
};

/*
 * The functions active at vaddr, innermost first: out[0] is the function
 * whose code is at vaddr (an inlined one, or the real function when nothing
 * is inlined there) with the file:line of vaddr itself; each next entry is
 * the function that inlined the previous one, with the file:line of that
 * inlined call; the last entry is the real (out-of-line) function.  Returns
 * the number of entries written (at most max), 0 when the image has no
 * DWARF for vaddr.  A chain longer than max keeps its max - 1 innermost
 * entries and the real function.  The strings live as long as the image.
 * The first call in an image opens its DWARF (and may look for its debug
 * file); each address is worked out once and then answered from a cache.
 * vaddr is an ELF virtual address: callers' frames should pass the call
 * instruction (return address - 1), as for every lookup.
 */
size_t symtab_lookup_inline(struct elf_image *img, uint64_t vaddr, struct symtab_line *out,
			    size_t max);
#endif
