#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "mem.h"
#include "symtab.h"

#define CACHE_MIN (1u << 12)
#define CACHE_MAX (1u << 20)

struct frames {
	const struct maps *maps;
	struct tree *tree;
	uint64_t generation;	/* of maps when the cache was filled */
	uint64_t *pcs;		/* 0 = empty slot (address 0 is never code) */
	uint32_t *ids;
	size_t size, used;
	uint64_t unmapped;
};

static void table_alloc(struct frames *f, size_t size)
{
	free(f->pcs);
	free(f->ids);
	f->pcs = mem_calloc(size, sizeof(*f->pcs));
	f->ids = mem_calloc(size, sizeof(*f->ids));
	f->size = size;
	f->used = 0;
}

struct frames *frames_new(const struct maps *maps, struct tree *tree)
{
	struct frames *f = mem_zalloc(sizeof(*f));

	f->maps = maps;
	f->tree = tree;
	f->generation = maps_generation(maps);
	table_alloc(f, CACHE_MIN);
	return f;
}

void frames_free(struct frames *f)
{
	if (f == NULL)
		return;
	free(f->pcs);
	free(f->ids);
	free(f);
}

void frames_flush(struct frames *f)
{
	memset(f->pcs, 0, f->size * sizeof(*f->pcs));
	f->used = 0;
	f->generation = maps_generation(f->maps);
}

static size_t slot_of(uint64_t pc, size_t size)
{
	return (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 20) & (size - 1);
}

static void insert(struct frames *f, uint64_t pc, uint32_t id)
{
	size_t i = slot_of(pc, f->size);

	while (f->pcs[i] != 0)
		i = (i + 1) & (f->size - 1);
	f->pcs[i] = pc;
	f->ids[i] = id;
	f->used++;
}

/* Doubles the table, or empties it at the cap so memory stays bounded. */
static void make_room(struct frames *f)
{
	uint64_t *pcs = f->pcs;
	uint32_t *ids = f->ids;
	size_t old = f->size;

	if (old >= CACHE_MAX) {
		frames_flush(f);
		return;
	}
	f->pcs = NULL;
	f->ids = NULL;
	table_alloc(f, old * 2);
	for (size_t i = 0; i < old; i++)
		if (pcs[i] != 0)
			insert(f, pcs[i], ids[i]);
	free(pcs);
	free(ids);
}

static uint32_t symbolize(struct frames *f, uint64_t pc)
{
	struct symtab_result r;
	struct tree_frame tf = { .kind = TREE_KIND_NATIVE };

	if (symtab_resolve(f->maps, pc, &r) < 0) {
		f->unmapped++;
		tf.kind = TREE_KIND_UNKNOWN;
		tf.module = "[unknown]";
		tf.offset = pc;
		return tree_frame_id(f->tree, &tf);
	}
	tf.function = r.function;
	tf.module = r.module;
	tf.offset = r.function ? 0 : r.module_offset;
	return tree_frame_id(f->tree, &tf);
}

uint32_t frames_id(struct frames *f, uint64_t pc)
{
	size_t i;
	uint32_t id;

	if (f->generation != maps_generation(f->maps))
		frames_flush(f);
	if (pc == 0)
		pc = 1;	/* keep 0 free as the empty-slot marker */
	for (i = slot_of(pc, f->size); f->pcs[i] != 0; i = (i + 1) & (f->size - 1))
		if (f->pcs[i] == pc)
			return f->ids[i];
	id = symbolize(f, pc);
	if ((f->used + 1) * 4 > f->size * 3)
		make_room(f);
	insert(f, pc, id);
	return id;
}

uint64_t frames_unmapped(const struct frames *f)
{
	return f->unmapped;
}
