#ifndef SAMPLED_RESOLVE_H
#define SAMPLED_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "maps.h"
#include "symtab.h"

/*
 * Addresses of a target's address space to names: the mapping that holds
 * the address (maps), then the symbols (symtab) or DWARF inline chain of
 * the ELF image behind it, or the perf map for JIT code.  This is the one
 * place that knows both a process's mappings and a file's symbols; symtab
 * itself only knows one file.
 */

/* A target address resolved to a name. */
struct resolve_result {
	const char *function;	/* NULL when unknown */
	uint64_t function_offset;
	const char *module;	/* "libc.so.6", "[vdso]", "[anon]", "[jit]", "[unknown]" */
	uint64_t module_offset;	/* file offset of addr in the module (module+0x...) */
	/*
	 * Where the function holding addr starts, as a module offset like
	 * module_offset, whenever it is known, even without a name: from the
	 * symbol, the .eh_frame FDE (stripped static functions, see symtab.h)
	 * or the perf map.  Every address of one unnamed function gives the
	 * same value, so a tree keyed on it shows the function as one frame
	 * "libc.so.6+0x3f9a0" instead of one frame per address.  0 and
	 * function_start_known 0 when not known.
	 */
	int function_start_known;
	uint64_t function_start_offset;
};

/*
 * Resolves addr in the target's address space; 0 if found in a mapping, -1
 * if not.  Anonymous executable memory is looked up in the target's perf
 * map (see perfmap.h): a hit has module "[jit]".  The first lookup in an
 * image loads its symbols.
 */
int resolve_addr(const struct maps *maps, uint64_t addr, struct resolve_result *out);

/* symtab_lookup_inline for an address of the target: 0 outside mapped ELF images. */
size_t resolve_inline(const struct maps *maps, uint64_t addr, struct symtab_line *out,
		      size_t max);

#endif
