#include <stdint.h>

#include "maps.h"
#include "perfmap.h"
#include "resolve.h"
#include "symtab.h"

/* The address's mapping and image, then the image's answer. */
size_t resolve_inline(const struct maps *maps, uint64_t addr, struct symtab_line *out,
		      size_t max)
{
	const struct maps_entry *e = maps_find(maps, addr);
	uint64_t vaddr;

	if (e == NULL || e->image == NULL || maps_to_vaddr(e, addr, &vaddr) != 0)
		return 0;
	return symtab_lookup_inline(e->image, vaddr, out, max);
}

/*
 * JIT code: anonymous executable memory named by the target's perf map.
 * module_offset stays the offset into the anonymous mapping.
 */
static void resolve_jit(const struct maps *maps, uint64_t addr, struct resolve_result *out)
{
	struct perfmap *pm = maps_perfmap(maps);
	uint64_t start;
	const char *name;

	if (pm == NULL || (name = perfmap_lookup(pm, addr, &start)) == NULL)
		return;
	out->function = name;
	out->function_offset = addr - start;
	out->module = "[jit]";
	if (out->function_offset <= out->module_offset) {
		out->function_start_known = 1;
		out->function_start_offset = out->module_offset - out->function_offset;
	}
}

/*
 * Fills module and module_offset whenever a mapping holds addr, so even
 * unnamed code shows where it lives; the function when a symbol covers it;
 * the function's start whenever a symbol or an FDE covers it.
 */
int resolve_addr(const struct maps *maps, uint64_t addr, struct resolve_result *out)
{
	const struct maps_entry *e = maps_find(maps, addr);
	const struct symtab *tab;
	uint64_t vaddr, start;

	*out = (struct resolve_result){ 0 };
	if (e == NULL) {
		out->module = "[unknown]";
		out->module_offset = addr;
		return -1;
	}
	out->module = e->name;
	out->module_offset = addr - e->start + e->pgoff;
	if (e->image == NULL) {
		if (e->path[0] == '\0' && (e->prot & MAPS_PROT_EXEC))
			resolve_jit(maps, addr, out);
		return 0;
	}
	if (maps_to_vaddr(e, addr, &vaddr) != 0)
		return 0;
	tab = symtab_get(e->image);
	out->function = symtab_lookup(tab, vaddr, &start);
	if (out->function == NULL && symtab_function_start(tab, vaddr, &start) != 0)
		return 0;
	if (out->function != NULL)
		out->function_offset = vaddr - start;
	/* A function reaching below its mapping's first byte keeps no start. */
	if (vaddr - start <= out->module_offset) {
		out->function_start_known = 1;
		out->function_start_offset = out->module_offset - (vaddr - start);
	}
	return 0;
}
