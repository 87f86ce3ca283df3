/*
 * libFuzzer harness for the ELF reader and the symbol tables: any bytes are
 * taken as an ELF file, the way the daemon reads a target's binaries and
 * its vdso (elf_cache_get_memory), then looked up at addresses the file
 * itself suggests: the edges and middle of every executable section and of
 * the file's loaded bytes.  Loading the table also walks .eh_frame_hdr and
 * .eh_frame, looks for a separate debug file (by build-id and
 * .gnu_debuglink, in places that hold none) and inflates .gnu_debugdata;
 * looking an address up for its inline chain opens the DWARF.  Besides the
 * sanitizers, the answers are checked against what every caller relies on.
 */
#include <elf.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "symbols/elf_image.h"
#include "symbols/symtab.h"

/* Executable sections looked up per input: a corrupt file may claim thousands. */
#define FUZZ_SECTIONS 16
/* Inline chain entries asked for: fewer than a chain may have, to cover the cut. */
#define FUZZ_INLINE_MAX 4

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stops the run on a broken promise, so libFuzzer keeps the input. */
static void fuzz_check(int ok, const char *what, uint64_t vaddr)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_symtab: %s at %#llx\n", what, (unsigned long long)vaddr);
	abort();
}

/* Reads a whole string, so ASan sees one that runs off its buffer. */
static void fuzz_touch(const char *s)
{
	if (s != NULL)
		fuzz_check(strlen(s) < ((size_t)1 << 30), "string of a gigabyte", 0);
}

/* Everything the daemon asks about one address of an image. */
static void fuzz_lookup(struct elf_image *img, const struct symtab *tab, uint64_t vaddr)
{
	struct symtab_line lines[FUZZ_INLINE_MAX];
	uint64_t start = 0, off, back;
	const char *name;
	size_t n;

	name = symtab_lookup(tab, vaddr, &start);
	fuzz_touch(name);
	fuzz_check(name == NULL || start <= vaddr, "symbol starting after the address", vaddr);
	if (symtab_function_start(tab, vaddr, &start) == 0)
		fuzz_check(start <= vaddr, "function starting after the address", vaddr);
	n = symtab_lookup_inline(img, vaddr, lines, FUZZ_INLINE_MAX);
	fuzz_check(n <= FUZZ_INLINE_MAX, "inline chain longer than asked", vaddr);
	for (size_t i = 0; i < n; i++) {
		fuzz_touch(lines[i].function);
		fuzz_touch(lines[i].file);
		fuzz_touch(lines[i].decl_file);
	}
	/* A second ask is answered from the cache, and must say the same. */
	fuzz_check(symtab_lookup_inline(img, vaddr, lines, FUZZ_INLINE_MAX) == n,
		   "cached inline chain differs", vaddr);
	if (elf_image_vaddr_to_offset(img, vaddr, &off) == 0)
		fuzz_check(elf_image_offset_to_vaddr(img, off, &back) == 0,
			   "offset of an address maps to no address", vaddr);
}

/* The log goes nowhere, but every message is still formatted (with names from the input). */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FILE *sink = fopen("/dev/null", "we");

	(void)argc;
	(void)argv;
	log_init(sink != NULL ? sink : stderr, sink != NULL ? LOG_DEBUG : LOG_ERROR);
	return 0;
}

/* One input: open it as an ELF image, load its symbols, look some addresses up. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct elf_cache *cache;
	struct elf_image *img;
	const struct symtab *tab;
	const uint8_t *bytes;
	struct error err;
	size_t nsec, len, looked = 0;
	uint64_t vaddr;

	/*
	 * A cache whose debug root holds nothing: an input that kept the
	 * build-id of a file of this machine would otherwise load its debug
	 * file, and inflate its DWARF, on every run.  The display path has a
	 * directory, so the .gnu_debuglink lookup runs too.
	 */
	cache = elf_cache_new();
	elf_cache_set_debug_root(cache, "/nonexistent");
	img = elf_cache_get_memory(cache, "/nonexistent/fuzz-input", data, size, &err);
	if (img == NULL) {
		fuzz_touch(err.msg);
		goto out;
	}
	fuzz_touch(elf_image_name(img));
	bytes = elf_image_data(img, &len);
	fuzz_check(len == size && memcmp(bytes, data, size) == 0, "image bytes differ", 0);
	elf_image_build_id(img, &len);
	tab = symtab_get(img);
	fuzz_check(tab == symtab_get(img), "symbol table loaded twice", 0);
	(void)symtab_count(tab);
	(void)symtab_fde_count(tab);

	nsec = elf_image_section_count(img);
	for (size_t i = 0; i < nsec && looked < FUZZ_SECTIONS; i++) {
		const struct elf_image_shdr *s = elf_image_section_at(img, i);

		fuzz_check(s != NULL, "section inside the count missing", i);
		fuzz_touch(s->name);
		if (!(s->flags & SHF_EXECINSTR))
			continue;
		looked++;
		fuzz_lookup(img, tab, s->vaddr);
		fuzz_lookup(img, tab, s->vaddr + s->size / 2);
		fuzz_lookup(img, tab, s->vaddr + s->size - 1);
	}
	fuzz_check(elf_image_section_at(img, nsec) == NULL, "section past the count", nsec);
	/* Stripped of section headers, the loaded bytes still have addresses. */
	if (elf_image_offset_to_vaddr(img, size / 2, &vaddr) == 0)
		fuzz_lookup(img, tab, vaddr);
	if (elf_image_offset_to_vaddr(img, size - 1, &vaddr) == 0)
		fuzz_lookup(img, tab, vaddr);
	fuzz_lookup(img, tab, 0);
	fuzz_lookup(img, tab, UINT64_MAX);
out:
	elf_cache_free(cache);
	return 0;
}
