#include <stdlib.h>
#include <string.h>

#include "kframes.h"
#include "log.h"
#include "mem.h"

/* The cache of kernel addresses starts this big and starts over at the cap. */
#define KFRAMES_MIN (1u << 10)
#define KFRAMES_MAX (1u << 16)

struct kframes {
	struct tree *tree;
	struct kallsyms *syms;
	int loaded;		/* syms was given or loading was tried */
	uint64_t *keys;		/* looked-up address, 0 = empty slot */
	uint32_t *ids;
	size_t size, used;
};

/* Gives the cache an empty table of size slots (a power of two). */
static void kframes_alloc(struct kframes *kf, size_t size)
{
	free(kf->keys);
	free(kf->ids);
	kf->keys = mem_calloc(size, sizeof(*kf->keys));
	kf->ids = mem_calloc(size, sizeof(*kf->ids));
	kf->size = size;
	kf->used = 0;
}

struct kframes *kframes_new(struct tree *tree, struct kallsyms *syms)
{
	struct kframes *kf = mem_zalloc(sizeof(*kf));

	kf->tree = tree;
	kf->syms = syms;
	kf->loaded = syms != NULL;
	kframes_alloc(kf, KFRAMES_MIN);
	return kf;
}

void kframes_free(struct kframes *kf)
{
	if (kf == NULL)
		return;
	kallsyms_free(kf->syms);
	free(kf->keys);
	free(kf->ids);
	free(kf);
}

/* Kernel text addresses share their high bits: the multiply spreads the low ones. */
static size_t kframes_slot(uint64_t key, size_t size)
{
	return (size_t)((key * 0x9e3779b97f4a7c15ull) >> 24) & (size - 1);
}

/* Puts a key known to be absent into the table, which has room. */
static void kframes_insert(struct kframes *kf, uint64_t key, uint32_t id)
{
	size_t i = kframes_slot(key, kf->size);

	while (kf->keys[i] != 0)
		i = (i + 1) & (kf->size - 1);
	kf->keys[i] = key;
	kf->ids[i] = id;
	kf->used++;
}

/* Doubles the cache, or empties it at the cap so that memory stays bounded. */
static void kframes_make_room(struct kframes *kf)
{
	uint64_t *keys = kf->keys;
	uint32_t *ids = kf->ids;
	size_t old = kf->size;

	if (old >= KFRAMES_MAX) {
		memset(kf->keys, 0, kf->size * sizeof(*kf->keys));
		kf->used = 0;
		return;
	}
	kf->keys = NULL;
	kf->ids = NULL;
	kframes_alloc(kf, old * 2);
	for (size_t i = 0; i < old; i++)
		if (keys[i] != 0)
			kframes_insert(kf, keys[i], ids[i]);
	free(keys);
	free(ids);
}

/* The frame of one kernel address, named on the first sight of it. */
static uint32_t kframes_frame(struct kframes *kf, uint64_t key)
{
	struct tree_frame f = { .kind = TREE_KIND_KERNEL, .module = "kernel" };
	struct kallsyms_symbol sym;
	uint32_t id;

	for (size_t i = kframes_slot(key, kf->size); kf->keys[i] != 0; i = (i + 1) & (kf->size - 1))
		if (kf->keys[i] == key)
			return kf->ids[i];
	if (kallsyms_lookup(kf->syms, key, &sym) == 0) {
		f.function = sym.name;
		f.module = sym.module;
	} else {
		f.offset = key;
	}
	id = tree_frame_id(kf->tree, &f);
	if ((kf->used + 1) * 4 > kf->size * 3)
		kframes_make_room(kf);
	kframes_insert(kf, key, id);
	return id;
}

size_t kframes_ids(struct kframes *kf, const uint64_t *pcs, size_t n, uint32_t *ids)
{
	if (!kf->loaded) {
		struct error err;

		kf->loaded = 1;
		error_clear(&err);
		kf->syms = kallsyms_load(&err);
		if (kf->syms == NULL)
			log_warn("kernel functions cannot be named, kernel frames show as [kernel]: %s",
				 err.msg);
		else
			log_info("%zu kernel functions from /proc/kallsyms",
				 kallsyms_count(kf->syms));
	}
	if (kf->syms == NULL)
		return 0;
	/*
	 * A return address is the instruction after the call, which can be
	 * the first of the next function when the call was the last thing
	 * in its own (a call to a function that does not return): the call
	 * itself is one byte before.  The interrupted instruction is exact.
	 */
	for (size_t i = 0; i < n; i++) {
		uint64_t key = i == 0 ? pcs[0] : pcs[i] - 1;

		ids[n - 1 - i] = kframes_frame(kf, key != 0 ? key : 1);
	}
	return n;
}
