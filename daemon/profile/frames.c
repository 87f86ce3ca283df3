#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "mem.h"
#include "symbols/resolve.h"
#include "symbols/symtab.h"

#define CACHE_MIN (1u << 12)
#define CACHE_MAX (1u << 20)

/*
 * Open addressing from pc to a run of frame ids in one shared pool; the
 * pool and the table are emptied together, so a run never outlives its
 * slot.
 */
struct frames {
	const struct maps *maps;
	struct tree *tree;
	uint64_t generation;	/* of maps when the cache was filled */
	uint64_t *pcs;		/* 0 = empty slot (address 0 is never code) */
	uint32_t *first;	/* index into pool */
	uint8_t *count;
	size_t size, used;
	uint32_t *pool;
	size_t pool_len, pool_cap;
	uint8_t *cls;		/* enum python_native_class by frame id */
	size_t cls_cap;
	uint64_t unmapped;
	int no_lines;		/* symbol tables only (frames_set_lines) */
};

static void table_alloc(struct frames *f, size_t size)
{
	free(f->pcs);
	free(f->first);
	free(f->count);
	f->pcs = mem_calloc(size, sizeof(*f->pcs));
	f->first = mem_calloc(size, sizeof(*f->first));
	f->count = mem_calloc(size, sizeof(*f->count));
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
	free(f->first);
	free(f->count);
	free(f->pool);
	free(f->cls);
	free(f);
}

/* Classifies a frame once, when it is first made. */
static uint32_t classify(struct frames *f, uint32_t id, const struct tree_frame *tf)
{
	size_t old = f->cls_cap;

	if (id >= f->cls_cap) {
		f->cls = mem_grow(f->cls, &f->cls_cap, (size_t)id + 1, sizeof(*f->cls));
		memset(f->cls + old, PYTHON_NATIVE_OTHER, f->cls_cap - old);
	}
	f->cls[id] = (uint8_t)python_classify(tf->function, tf->module);
	return id;
}

enum python_native_class frames_class(const struct frames *f, uint32_t id)
{
	return id < f->cls_cap ? (enum python_native_class)f->cls[id] : PYTHON_NATIVE_OTHER;
}

void frames_set_lines(struct frames *f, int on)
{
	f->no_lines = !on;
}

void frames_flush(struct frames *f)
{
	memset(f->pcs, 0, f->size * sizeof(*f->pcs));
	f->used = 0;
	f->pool_len = 0;
	f->generation = maps_generation(f->maps);
}

static size_t slot_of(uint64_t pc, size_t size)
{
	return (size_t)((pc * 0x9e3779b97f4a7c15ull) >> 20) & (size - 1);
}

static void insert(struct frames *f, uint64_t pc, uint32_t first, uint8_t count)
{
	size_t i = slot_of(pc, f->size);

	while (f->pcs[i] != 0)
		i = (i + 1) & (f->size - 1);
	f->pcs[i] = pc;
	f->first[i] = first;
	f->count[i] = count;
	f->used++;
}

/* Doubles the table, or empties everything at the cap so memory stays bounded. */
static void make_room(struct frames *f)
{
	uint64_t *pcs = f->pcs;
	uint32_t *first = f->first;
	uint8_t *count = f->count;
	size_t old = f->size;

	if (old >= CACHE_MAX) {
		frames_flush(f);
		return;
	}
	f->pcs = NULL;
	f->first = NULL;
	f->count = NULL;
	table_alloc(f, old * 2);
	for (size_t i = 0; i < old; i++)
		if (pcs[i] != 0)
			insert(f, pcs[i], first[i], count[i]);
	free(pcs);
	free(first);
	free(count);
}

/*
 * Names an address: through DWARF when the image has it (the inline chain,
 * each level with its function's own file and declaration line), else
 * through the symbol tables; a function no symbol names is still one
 * frame, at the start offset its unwind information gives.
 */
static size_t symbolize(struct frames *f, uint64_t pc, uint32_t *out)
{
	struct symtab_line lines[FRAMES_MAX_INLINE];
	struct resolve_result r;
	struct tree_frame tf = { .kind = TREE_KIND_NATIVE };
	size_t n;

	if (resolve_addr(f->maps, pc, &r) < 0) {
		f->unmapped++;
		tf.kind = TREE_KIND_UNKNOWN;
		tf.module = "[unknown]";
		tf.offset = pc;
		out[0] = classify(f, tree_frame_id(f->tree, &tf), &tf);
		return 1;
	}
	tf.module = r.module;
	n = f->no_lines ? 0 : resolve_inline(f->maps, pc, lines, FRAMES_MAX_INLINE);
	if (n > 0) {
		for (size_t i = 0; i < n; i++) {
			/*
			 * The real function goes by its symbol, the name users
			 * call it by ("qsort_r", not DWARF's "__GI___qsort_r");
			 * inlined ones exist only in DWARF.
			 */
			tf.function = lines[i].function;
			if (i == n - 1 && r.function != NULL)
				tf.function = r.function;
			tf.file = lines[i].decl_file ? lines[i].decl_file : lines[i].file;
			tf.line = lines[i].decl_file ? lines[i].decl_line : 0;
			tf.offset = tf.function ? 0 : r.module_offset;
			out[i] = classify(f, tree_frame_id(f->tree, &tf), &tf);
		}
		return n;
	}
	tf.function = r.function;
	if (r.function != NULL)
		tf.offset = 0;
	else if (r.function_start_known)
		tf.offset = r.function_start_offset;
	else
		tf.offset = r.module_offset;
	out[0] = classify(f, tree_frame_id(f->tree, &tf), &tf);
	return 1;
}

size_t frames_ids(struct frames *f, uint64_t pc, const uint32_t **ids)
{
	uint32_t found[FRAMES_MAX_INLINE];
	size_t i, n;

	if (f->generation != maps_generation(f->maps))
		frames_flush(f);
	if (pc == 0)
		pc = 1;	/* keep 0 free as the empty-slot marker */
	for (i = slot_of(pc, f->size); f->pcs[i] != 0; i = (i + 1) & (f->size - 1)) {
		if (f->pcs[i] == pc) {
			*ids = f->pool + f->first[i];
			return f->count[i];
		}
	}
	n = symbolize(f, pc, found);
	if ((f->used + 1) * 4 > f->size * 3 || f->pool_len + n > (size_t)UINT32_MAX)
		make_room(f);
	f->pool = mem_grow(f->pool, &f->pool_cap, f->pool_len + n, sizeof(*f->pool));
	memcpy(f->pool + f->pool_len, found, n * sizeof(*found));
	insert(f, pc, (uint32_t)f->pool_len, (uint8_t)n);
	*ids = f->pool + f->pool_len;
	f->pool_len += n;
	return n;
}

uint64_t frames_unmapped(const struct frames *f)
{
	return f->unmapped;
}
