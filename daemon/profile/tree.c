#include <sys/types.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "tree.h"

/*
 * Layout.  Everything is a dense array addressed by uint32 indexes, with
 * open-addressing hash tables (linear probing, at most half full, doubled
 * when needed) beside them:
 *
 *   strings  pool of copied strings; id 0 is always "" and stands for "none"
 *   frames   (kind, function, module, file, line, offset) as string ids
 *   nodes    (parent, frame) -> node; one root node per thread and class
 *            (state x GIL), held by the thread's record, not by the child
 *            table
 *   threads  tid -> record (a root per class, name), kept across resets for
 *            names
 *
 * Keeping a thread's classes apart as roots costs the hot path nothing
 * (the class picks the root, then the walk is the same) and a node no
 * bytes; the views merge the selected roots, which they do across threads
 * anyway.  The price is a stack seen in two classes stored twice: states
 * split the samples of a thread that both runs and waits, the GIL only
 * those of a Python thread (others are always of unknown GIL class).
 *
 * A node is always appended after its parent, so walking the node array in
 * index order visits parents before children; the merged view and the
 * invariants of the message rely on that.
 *
 * Bounds.  Memory, and the time and size of a reply, grow with the nodes,
 * which a target with endless distinct stacks (generated code, deep random
 * recursion) could grow forever.  So past max_nodes minus a reserve a new
 * stack stops at the deepest node it already has and goes on in one
 * "[other]" child there; past max_nodes itself even that child is not made
 * and the samples count as that node's own.  Frames are bounded the same
 * way: past the cap, a new frame is the "[other]" frame.  Either way the
 * samples are counted (tree_folded), and nothing is lost from the totals.
 *
 * Snapshots.  A reply is built from a frozen copy (tree_snapshot) so that
 * it can be made on another thread while sampling goes on: the nodes,
 * frames, threads and strings, without the hash tables only adding needs.
 */

#define TREE_NONE UINT32_MAX
#define TREE_MIN_SLOTS 64
#define TREE_N_STATES 2		/* the values of enum tree_state */
#define TREE_N_GIL 3		/* the values of enum tree_gil */
#define TREE_N_CLASSES (TREE_N_STATES * TREE_N_GIL)

_Static_assert(TREE_STATE_RUNNING == 0 && TREE_STATE_IDLE == TREE_N_STATES - 1,
	       "enum tree_state indexes the per-state arrays");
_Static_assert(TREE_GIL_UNKNOWN == 0 && TREE_GIL_RELEASED == TREE_N_GIL - 1,
	       "enum tree_gil indexes the per-class arrays");

struct tree_string {
	char *s;
	size_t len;
	uint64_t hash;
};

struct tree_frame_rec {
	uint64_t offset;
	uint64_t hash;
	uint32_t function;	/* string ids, 0 = none */
	uint32_t module;
	uint32_t file;
	uint32_t line;
	uint32_t kind;
};

struct tree_node {
	uint64_t self;
	uint64_t total;
	uint32_t parent;	/* TREE_NONE for a root */
	uint32_t frame;		/* TREE_NONE for a root */
	uint32_t first_child;	/* sibling list, for walking down */
	uint32_t next_sibling;
};

/* The key sits in the slot so that a probe miss does not touch the nodes. */
struct tree_child_slot {
	uint32_t parent;
	uint32_t frame;
	uint32_t node;		/* TREE_NONE: empty */
};

/* Nodes plus their (parent, frame) index: the tree's, or a merged view's. */
struct tree_nodes {
	struct tree_node *v;
	size_t n, cap;
	struct tree_child_slot *slots;
	size_t mask;		/* slot count - 1; the count is a power of two */
	size_t linked;		/* nodes in the slots (every non-root) */
};

/* An index table for records that carry their own key and hash. */
struct tree_index {
	uint32_t *slots;	/* record index, TREE_NONE: empty */
	size_t mask;
	size_t used;
};

struct tree_thread {
	pid_t tid;
	/* by tree_class(state, gil); TREE_NONE: no sample in it */
	uint32_t root[TREE_N_CLASSES];
	char *name;		/* NULL when unnamed */
};

struct tree {
	struct tree_string *strings;
	size_t n_strings, cap_strings;
	struct tree_index string_index;

	struct tree_frame_rec *frames;
	size_t n_frames, cap_frames;
	struct tree_index frame_index;

	struct tree_nodes nodes;

	struct tree_thread *threads;
	size_t n_threads, cap_threads;
	struct tree_index thread_index;
	size_t last_thread;	/* samples come in runs of one thread */

	uint64_t state_total[TREE_N_STATES];	/* samples by enum tree_state */
	uint64_t gil_total[TREE_N_GIL];		/* samples by enum tree_gil */

	size_t max_nodes;	/* see "Bounds" above */
	uint32_t other_frame;	/* the "[other]" frame, TREE_NONE until needed */
	uint64_t folded;	/* samples whose stack was cut at the bounds */
	char *snapshot_chars;	/* a snapshot's strings, in one block; NULL for a live tree */
};

/* Nodes held back from ordinary stacks for their "[other]" children. */
#define TREE_RESERVE(max) ((max) / 32)

/* The index of a thread's root for samples of one state and GIL class. */
static size_t tree_class(size_t state, size_t gil)
{
	return state * TREE_N_GIL + gil;
}

/* Spreads the bits of a 64-bit key so that the low bits index a table well. */
static uint64_t tree_mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/* Hashes string content (FNV-1a, then mixed). */
static uint64_t tree_hash_bytes(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 0x100000001b3ULL;
	}
	return tree_mix(h);
}

/* Hashes a child-table key. */
static uint64_t tree_hash_child(uint32_t parent, uint32_t frame)
{
	return tree_mix((uint64_t)parent << 32 | frame);
}

/* Hashes a thread id for the thread table. */
static uint64_t tree_hash_tid(pid_t tid)
{
	return tree_mix((uint64_t)(uint32_t)tid);
}

/* Allocates an empty slot array; n is a power of two. */
static uint32_t *tree_slots_new(size_t n)
{
	uint32_t *slots = mem_calloc(n, sizeof(*slots));

	memset(slots, 0xff, n * sizeof(*slots));
	return slots;
}

/* Gives an index table its first, empty slots. */
static void tree_index_init(struct tree_index *ix)
{
	ix->slots = tree_slots_new(TREE_MIN_SLOTS);
	ix->mask = TREE_MIN_SLOTS - 1;
	ix->used = 0;
}

/* Frees an index table's slots. */
static void tree_index_release(struct tree_index *ix)
{
	free(ix->slots);
	ix->slots = NULL;
	ix->mask = 0;
	ix->used = 0;
}

/* Stores idx at the first free slot after hash; the caller ensured room. */
static void tree_index_put(struct tree_index *ix, uint64_t hash, uint32_t idx)
{
	size_t i = hash & ix->mask;

	while (ix->slots[i] != TREE_NONE)
		i = (i + 1) & ix->mask;
	ix->slots[i] = idx;
	ix->used++;
}

/* Returns the stored hash of record idx, for rehashing. */
typedef uint64_t tree_hash_fn(const struct tree *t, uint32_t idx);

/* Doubles the table when one more entry would make it over half full. */
static void tree_index_reserve(struct tree_index *ix, const struct tree *t, tree_hash_fn *hash_of)
{
	uint32_t *old = ix->slots;
	size_t old_n = ix->mask + 1, i;

	if ((ix->used + 1) * 2 <= old_n)
		return;
	ix->slots = tree_slots_new(old_n * 2);
	ix->mask = old_n * 2 - 1;
	ix->used = 0;
	for (i = 0; i < old_n; i++)
		if (old[i] != TREE_NONE)
			tree_index_put(ix, hash_of(t, old[i]), old[i]);
	free(old);
}

/* The tree_hash_fn of the string pool. */
static uint64_t tree_string_hash(const struct tree *t, uint32_t idx)
{
	return t->strings[idx].hash;
}

/* The tree_hash_fn of the frame table. */
static uint64_t tree_frame_hash(const struct tree *t, uint32_t idx)
{
	return t->frames[idx].hash;
}

/* The tree_hash_fn of the thread table. */
static uint64_t tree_thread_hash(const struct tree *t, uint32_t idx)
{
	return tree_hash_tid(t->threads[idx].tid);
}

/* Sets up an empty node set with room for about hint nodes before any rehash. */
static void tree_nodes_init(struct tree_nodes *ns, size_t hint)
{
	size_t n = TREE_MIN_SLOTS, i;

	while (n / 2 < hint)
		n *= 2;
	ns->v = NULL;
	ns->n = 0;
	ns->cap = 0;
	if (hint > 0)
		ns->v = mem_grow(NULL, &ns->cap, hint, sizeof(*ns->v));
	ns->slots = mem_calloc(n, sizeof(*ns->slots));
	for (i = 0; i < n; i++)
		ns->slots[i].node = TREE_NONE;
	ns->mask = n - 1;
	ns->linked = 0;
}

/* Frees a node set and its child table. */
static void tree_nodes_release(struct tree_nodes *ns)
{
	free(ns->v);
	free(ns->slots);
	memset(ns, 0, sizeof(*ns));
}

/* Appends a node and links it under its parent (unless it is a root). */
static uint32_t tree_nodes_append(struct tree_nodes *ns, uint32_t parent, uint32_t frame)
{
	struct tree_node *node;
	uint32_t idx;

	if (ns->n >= TREE_NONE)
		mem_fatal("call tree: more than %u nodes", TREE_NONE - 1);
	ns->v = mem_grow(ns->v, &ns->cap, ns->n + 1, sizeof(*ns->v));
	idx = (uint32_t)ns->n++;
	node = &ns->v[idx];
	node->self = 0;
	node->total = 0;
	node->parent = parent;
	node->frame = frame;
	node->first_child = TREE_NONE;
	node->next_sibling = TREE_NONE;
	if (parent != TREE_NONE) {
		node->next_sibling = ns->v[parent].first_child;
		ns->v[parent].first_child = idx;
	}
	return idx;
}

/* Puts a node into the child table at the first free slot for its key. */
static void tree_nodes_put(struct tree_nodes *ns, uint32_t parent, uint32_t frame, uint32_t node)
{
	size_t i = tree_hash_child(parent, frame) & ns->mask;

	while (ns->slots[i].node != TREE_NONE)
		i = (i + 1) & ns->mask;
	ns->slots[i].parent = parent;
	ns->slots[i].frame = frame;
	ns->slots[i].node = node;
	ns->linked++;
}

/* Doubles the child table, re-inserting from the node array (keys live there too). */
static void tree_nodes_grow(struct tree_nodes *ns)
{
	size_t n = (ns->mask + 1) * 2, i;

	free(ns->slots);
	ns->slots = mem_calloc(n, sizeof(*ns->slots));
	for (i = 0; i < n; i++)
		ns->slots[i].node = TREE_NONE;
	ns->mask = n - 1;
	ns->linked = 0;
	for (i = 0; i < ns->n; i++)
		if (ns->v[i].parent != TREE_NONE)
			tree_nodes_put(ns, ns->v[i].parent, ns->v[i].frame, (uint32_t)i);
}

/* The child of parent for frame, or TREE_NONE.  A hit costs one hash and usually one slot read. */
static uint32_t tree_nodes_find(const struct tree_nodes *ns, uint32_t parent, uint32_t frame)
{
	size_t i = tree_hash_child(parent, frame) & ns->mask;

	for (;;) {
		const struct tree_child_slot *s = &ns->slots[i];

		if (s->node == TREE_NONE)
			return TREE_NONE;
		if (s->parent == parent && s->frame == frame)
			return s->node;
		i = (i + 1) & ns->mask;
	}
}

/* Makes the child of parent for frame, known to be missing. */
static uint32_t tree_nodes_make(struct tree_nodes *ns, uint32_t parent, uint32_t frame)
{
	uint32_t idx;

	if ((ns->linked + 1) * 2 > ns->mask + 1)
		tree_nodes_grow(ns);
	idx = tree_nodes_append(ns, parent, frame);
	tree_nodes_put(ns, parent, frame, idx);
	return idx;
}

/* The hot path: finds the child of parent for frame, creating it when missing. */
static uint32_t tree_nodes_child(struct tree_nodes *ns, uint32_t parent, uint32_t frame)
{
	uint32_t idx = tree_nodes_find(ns, parent, frame);

	return idx != TREE_NONE ? idx : tree_nodes_make(ns, parent, frame);
}

/*
 * Returns the id of s in the pool, copying it on first sight when add (else
 * TREE_NONE for a string never seen); NULL and "" are id 0.
 */
static uint32_t tree_string_lookup(struct tree *t, const char *s, int add)
{
	struct tree_string *rec;
	uint64_t hash;
	size_t len, i;
	uint32_t idx;

	if (s == NULL || *s == '\0')
		return 0;
	len = strlen(s);
	hash = tree_hash_bytes(s, len);
	for (i = hash & t->string_index.mask; t->string_index.slots[i] != TREE_NONE;
	     i = (i + 1) & t->string_index.mask) {
		rec = &t->strings[t->string_index.slots[i]];
		if (rec->hash == hash && rec->len == len && memcmp(rec->s, s, len) == 0)
			return t->string_index.slots[i];
	}
	if (!add)
		return TREE_NONE;
	if (t->n_strings >= TREE_NONE)
		mem_fatal("call tree: more than %u strings", TREE_NONE - 1);
	t->strings = mem_grow(t->strings, &t->cap_strings, t->n_strings + 1, sizeof(*t->strings));
	idx = (uint32_t)t->n_strings++;
	rec = &t->strings[idx];
	rec->s = mem_strndup(s, len);
	rec->len = len;
	rec->hash = hash;
	tree_index_reserve(&t->string_index, t, tree_string_hash);
	tree_index_put(&t->string_index, hash, idx);
	return idx;
}

/* Sets up the parts that tree_reset empties: strings (with "" as id 0), frames, nodes. */
static void tree_init_content(struct tree *t)
{
	tree_index_init(&t->string_index);
	tree_index_init(&t->frame_index);
	tree_nodes_init(&t->nodes, 0);
	t->strings = mem_grow(NULL, &t->cap_strings, 1, sizeof(*t->strings));
	t->strings[0].s = mem_strdup("");
	t->strings[0].len = 0;
	t->strings[0].hash = tree_hash_bytes("", 0);
	t->n_strings = 1;
	memset(t->state_total, 0, sizeof(t->state_total));
	memset(t->gil_total, 0, sizeof(t->gil_total));
	t->other_frame = TREE_NONE;
	t->folded = 0;
}

/* Frees what tree_init_content set up and everything added since. */
static void tree_release_content(struct tree *t)
{
	size_t i;

	for (i = 0; i < t->n_strings; i++)
		free(t->strings[i].s);
	free(t->strings);
	t->strings = NULL;
	t->n_strings = 0;
	t->cap_strings = 0;
	tree_index_release(&t->string_index);
	free(t->frames);
	t->frames = NULL;
	t->n_frames = 0;
	t->cap_frames = 0;
	tree_index_release(&t->frame_index);
	tree_nodes_release(&t->nodes);
}

/* Creates an empty tree with no threads. */
struct tree *tree_new(void)
{
	struct tree *t = mem_zalloc(sizeof(*t));

	tree_init_content(t);
	tree_index_init(&t->thread_index);
	t->max_nodes = TREE_DEFAULT_MAX_NODES;
	return t;
}

/*
 * Copies what the builders read.  Strings go into one block (the tree's are
 * freed by a reset the snapshot may outlive); the hash tables stay behind,
 * since nothing is added to a snapshot.
 */
struct tree *tree_snapshot(const struct tree *t)
{
	struct tree *s = mem_zalloc(sizeof(*s));
	size_t len = 0, i;
	char *p;

	for (i = 0; i < t->n_strings; i++)
		len += t->strings[i].len + 1;
	s->snapshot_chars = p = mem_alloc(len);
	s->strings = mem_calloc(t->n_strings, sizeof(*s->strings));
	s->n_strings = s->cap_strings = t->n_strings;
	for (i = 0; i < t->n_strings; i++) {
		memcpy(p, t->strings[i].s, t->strings[i].len + 1);
		s->strings[i] = (struct tree_string){ p, t->strings[i].len, t->strings[i].hash };
		p += t->strings[i].len + 1;
	}
	s->frames = mem_calloc(t->n_frames ? t->n_frames : 1, sizeof(*s->frames));
	if (t->n_frames > 0)
		memcpy(s->frames, t->frames, t->n_frames * sizeof(*s->frames));
	s->n_frames = s->cap_frames = t->n_frames;
	s->nodes.v = mem_calloc(t->nodes.n ? t->nodes.n : 1, sizeof(*s->nodes.v));
	if (t->nodes.n > 0)
		memcpy(s->nodes.v, t->nodes.v, t->nodes.n * sizeof(*s->nodes.v));
	s->nodes.n = s->nodes.cap = t->nodes.n;
	s->threads = mem_calloc(t->n_threads ? t->n_threads : 1, sizeof(*s->threads));
	for (i = 0; i < t->n_threads; i++) {
		s->threads[i] = t->threads[i];
		s->threads[i].name = t->threads[i].name ? mem_strdup(t->threads[i].name) : NULL;
	}
	s->n_threads = s->cap_threads = t->n_threads;
	memcpy(s->state_total, t->state_total, sizeof(s->state_total));
	memcpy(s->gil_total, t->gil_total, sizeof(s->gil_total));
	s->max_nodes = t->max_nodes;
	s->other_frame = t->other_frame;
	s->folded = t->folded;
	return s;
}

/* A cap below a few nodes per thread and class would fold every stack: keep a floor. */
void tree_set_max_nodes(struct tree *t, size_t max)
{
	t->max_nodes = max == 0 ? TREE_DEFAULT_MAX_NODES : max < TREE_MIN_MAX_NODES ?
								TREE_MIN_MAX_NODES : max;
}

size_t tree_max_nodes(const struct tree *t)
{
	return t->max_nodes;
}

uint64_t tree_folded(const struct tree *t)
{
	return t->folded;
}

/* Releases the tree and everything interned in it. */
void tree_free(struct tree *t)
{
	size_t i;

	if (t == NULL)
		return;
	if (t->snapshot_chars != NULL) {
		/* A snapshot's strings live in one block, not one allocation each. */
		free(t->snapshot_chars);
		t->n_strings = 0;
	}
	tree_release_content(t);
	for (i = 0; i < t->n_threads; i++)
		free(t->threads[i].name);
	free(t->threads);
	tree_index_release(&t->thread_index);
	free(t);
}

/*
 * Starts a new profile in the same tree.  Unnamed threads are forgotten so
 * that a long run with thread churn does not keep a record per dead thread;
 * named ones keep their names and lose their roots.
 */
void tree_reset(struct tree *t)
{
	size_t i, kept = 0;

	tree_release_content(t);
	tree_init_content(t);
	for (i = 0; i < t->n_threads; i++) {
		if (t->threads[i].name == NULL)
			continue;
		t->threads[kept] = t->threads[i];
		memset(t->threads[kept].root, 0xff, sizeof(t->threads[kept].root));
		kept++;
	}
	t->n_threads = kept;
	t->last_thread = 0;
	tree_index_release(&t->thread_index);
	tree_index_init(&t->thread_index);
	for (i = 0; i < kept; i++) {
		tree_index_reserve(&t->thread_index, t, tree_thread_hash);
		tree_index_put(&t->thread_index, tree_hash_tid(t->threads[i].tid), (uint32_t)i);
	}
}

static uint32_t tree_frame_intern(struct tree *t, const struct tree_frame *f, int bounded);

/* The frame stacks past the bounds end in, interned on first need. */
static uint32_t tree_other_frame(struct tree *t)
{
	static const struct tree_frame other = { .kind = TREE_KIND_UNKNOWN, .function = "[other]" };

	if (t->other_frame == TREE_NONE)
		t->other_frame = tree_frame_intern(t, &other, 0);
	return t->other_frame;
}

/* Interns a frame by content; strings are copied only when new. */
uint32_t tree_frame_id(struct tree *t, const struct tree_frame *f)
{
	return tree_frame_intern(t, f, 1);
}

/* Past the bounds (when bounded) a frame not yet known is the "[other]" frame. */
static uint32_t tree_frame_intern(struct tree *t, const struct tree_frame *f, int bounded)
{
	struct tree_frame_rec key, *rec;
	size_t i;
	uint32_t idx;
	int full = bounded && t->n_frames >= t->max_nodes;

	if (t->snapshot_chars != NULL)
		mem_fatal("call tree: a frame added to a snapshot");
	/* Full, a frame can only be one already known: its strings are looked up, not added. */
	key.function = tree_string_lookup(t, f->function, !full);
	key.module = tree_string_lookup(t, f->module, !full);
	key.file = tree_string_lookup(t, f->file, !full);
	if (key.function == TREE_NONE || key.module == TREE_NONE || key.file == TREE_NONE)
		return tree_other_frame(t);
	key.line = f->line;
	key.offset = f->offset;
	key.kind = (uint32_t)f->kind;
	key.hash = tree_mix((uint64_t)key.function << 32 | key.module);
	key.hash = tree_mix(key.hash ^ ((uint64_t)key.file << 32 | key.line));
	key.hash = tree_mix(key.hash ^ key.offset);
	key.hash = tree_mix(key.hash ^ key.kind);

	for (i = key.hash & t->frame_index.mask; t->frame_index.slots[i] != TREE_NONE;
	     i = (i + 1) & t->frame_index.mask) {
		rec = &t->frames[t->frame_index.slots[i]];
		if (rec->hash == key.hash && rec->function == key.function &&
		    rec->module == key.module && rec->file == key.file && rec->line == key.line &&
		    rec->offset == key.offset && rec->kind == key.kind)
			return t->frame_index.slots[i];
	}
	if (full)
		return tree_other_frame(t);
	if (t->n_frames >= TREE_NONE)
		mem_fatal("call tree: more than %u frames", TREE_NONE - 1);
	t->frames = mem_grow(t->frames, &t->cap_frames, t->n_frames + 1, sizeof(*t->frames));
	idx = (uint32_t)t->n_frames++;
	t->frames[idx] = key;
	tree_index_reserve(&t->frame_index, t, tree_frame_hash);
	tree_index_put(&t->frame_index, key.hash, idx);
	return idx;
}

/* Returns the index of tid's record, or TREE_NONE when it has none. */
static uint32_t tree_thread_find(const struct tree *t, pid_t tid)
{
	size_t i;

	for (i = tree_hash_tid(tid) & t->thread_index.mask; t->thread_index.slots[i] != TREE_NONE;
	     i = (i + 1) & t->thread_index.mask)
		if (t->threads[t->thread_index.slots[i]].tid == tid)
			return t->thread_index.slots[i];
	return TREE_NONE;
}

/* Returns tid's record, creating it (no root, no name) on first sight. */
static struct tree_thread *tree_thread_get(struct tree *t, pid_t tid)
{
	struct tree_thread *th;
	uint32_t idx;

	if (t->last_thread < t->n_threads && t->threads[t->last_thread].tid == tid)
		return &t->threads[t->last_thread];
	idx = tree_thread_find(t, tid);
	if (idx == TREE_NONE) {
		t->threads = mem_grow(t->threads, &t->cap_threads, t->n_threads + 1,
				      sizeof(*t->threads));
		idx = (uint32_t)t->n_threads++;
		th = &t->threads[idx];
		th->tid = tid;
		memset(th->root, 0xff, sizeof(th->root));
		th->name = NULL;
		tree_index_reserve(&t->thread_index, t, tree_thread_hash);
		tree_index_put(&t->thread_index, tree_hash_tid(tid), idx);
	}
	t->last_thread = idx;
	return &t->threads[idx];
}

int tree_frame_get(const struct tree *t, uint32_t id, struct tree_frame *out)
{
	const struct tree_frame_rec *rec;

	if (id >= t->n_frames)
		return -1;
	rec = &t->frames[id];
	out->kind = (enum tree_kind)rec->kind;
	out->function = rec->function ? t->strings[rec->function].s : NULL;
	out->module = rec->module ? t->strings[rec->module].s : NULL;
	out->file = rec->file ? t->strings[rec->file].s : NULL;
	out->line = rec->line;
	out->offset = rec->offset;
	return 0;
}

/* Records a thread's name for the per-thread view; the latest call wins. */
void tree_set_thread_name(struct tree *t, pid_t tid, const char *name)
{
	struct tree_thread *th = tree_thread_get(t, tid);

	if (th->name != NULL && name != NULL && strcmp(th->name, name) == 0)
		return;
	free(th->name);
	th->name = name != NULL ? mem_strdup(name) : NULL;
}

/* Counts a stack of unknown GIL class. */
uint32_t tree_add(struct tree *t, pid_t tid, enum tree_state state, const uint32_t *ids,
		  size_t n, uint64_t count)
{
	return tree_add_gil(t, tid, state, TREE_GIL_UNKNOWN, ids, n, count);
}

/* Counts one stack: every node on the path gets count in total, the leaf in self. */
/*
 * Where the rest of a stack goes when its next node would pass the bounds:
 * node's "[other]" child (made while the reserve lasts), else node itself.
 * Returns the node the stack ends at, its total already counted.
 */
static uint32_t tree_add_past_bounds(struct tree *t, uint32_t node, uint64_t count)
{
	uint32_t other = tree_other_frame(t), child;

	t->folded += count;
	child = tree_nodes_find(&t->nodes, node, other);
	if (child == TREE_NONE && t->nodes.n < t->max_nodes)
		child = tree_nodes_make(&t->nodes, node, other);
	if (child == TREE_NONE)
		return node;
	t->nodes.v[child].total += count;
	return child;
}

uint32_t tree_add_gil(struct tree *t, pid_t tid, enum tree_state state, enum tree_gil gil,
		      const uint32_t *ids, size_t n, uint64_t count)
{
	struct tree_thread *th;
	uint32_t node, child;
	size_t i, c;

	if ((unsigned)state >= TREE_N_STATES)
		mem_fatal("call tree: thread state %d out of range", (int)state);
	if ((unsigned)gil >= TREE_N_GIL)
		mem_fatal("call tree: GIL class %d out of range", (int)gil);
	if (count == 0)
		return TREE_NODE_NONE;
	if (t->snapshot_chars != NULL)
		mem_fatal("call tree: samples added to a snapshot");
	th = tree_thread_get(t, tid);
	c = tree_class(state, gil);
	if (th->root[c] == TREE_NONE)
		th->root[c] = tree_nodes_append(&t->nodes, TREE_NONE, TREE_NONE);
	node = th->root[c];
	t->nodes.v[node].total += count;
	for (i = 0; i < n; i++) {
		if (ids[i] >= t->n_frames)
			mem_fatal("call tree: frame id %u out of %zu", ids[i], t->n_frames);
		child = tree_nodes_find(&t->nodes, node, ids[i]);
		if (child == TREE_NONE) {
			if (t->nodes.n >= t->max_nodes - TREE_RESERVE(t->max_nodes)) {
				node = tree_add_past_bounds(t, node, count);
				break;
			}
			child = tree_nodes_make(&t->nodes, node, ids[i]);
		}
		node = child;
		t->nodes.v[node].total += count;
	}
	t->nodes.v[node].self += count;
	t->state_total[state] += count;
	t->gil_total[gil] += count;
	return node;
}

/* Returns the samples counted since creation or the last reset. */
uint64_t tree_total(const struct tree *t)
{
	return t->state_total[TREE_STATE_RUNNING] + t->state_total[TREE_STATE_IDLE];
}

/* Returns the samples counted in one state since creation or the last reset. */
uint64_t tree_state_total(const struct tree *t, enum tree_state s)
{
	if ((unsigned)s >= TREE_N_STATES)
		return 0;
	return t->state_total[s];
}

/* Returns the samples counted in one GIL class since creation or the last reset. */
uint64_t tree_gil_total(const struct tree *t, enum tree_gil g)
{
	if ((unsigned)g >= TREE_N_GIL)
		return 0;
	return t->gil_total[g];
}

/* Returns the nodes held (roots included), a measure of the tree's memory. */
size_t tree_node_count(const struct tree *t)
{
	return t->nodes.n;
}

/*
 * Building the message.
 *
 * The view is a node set whose top node's children are the top level to
 * emit: the tree's own nodes when one root is shown (a thread sampled in
 * one selected class, per-thread or alone), or a merged node set built for
 * the occasion.
 * Emission is an explicit-stack preorder walk (stacks can be deep; no
 * recursion): pop a node, give it the next output index, push its kept
 * children sorted so that the largest is popped first.  Frames and strings
 * get output indexes on first use, so the tables hold only what is used.
 */

/* The message and the three blocks behind its pointer arrays, freed together. */
struct tree_message {
	Sampled__Tree msg;	/* first: the public pointer is this struct's */
	char *chars;
	Sampled__Frame *frames;
	Sampled__Node *nodes;
};

struct tree_sort_key {
	uint64_t total;
	uint32_t idx;		/* node, or pick in the per-thread top level */
	uint32_t frame;
};

/* A thread as the query selects it: the roots of its selected classes, summed. */
struct tree_pick {
	uint32_t thread;	/* record index */
	uint32_t roots[TREE_N_CLASSES];
	uint32_t n_roots;
	uint32_t top;		/* per-thread, n_roots > 1: its top node in the merged set */
	uint64_t self;
	uint64_t total;
};

struct tree_walk {
	uint32_t node;
	uint32_t out_parent;	/* as in Node.parent: output index + 1, 0 = top */
};

struct tree_builder {
	const struct tree *t;
	const struct tree_nodes *src;	/* the tree's nodes, or a recounted copy */
	double threshold;	/* keep nodes whose total is at least this */
	uint32_t *frame_out;	/* frame id -> output frame, TREE_NONE if unused */
	uint32_t *string_out;	/* string id -> output string, TREE_NONE if unused */
	const char **strs;	/* output strings, borrowed from the pool or labels */
	size_t n_strs, cap_strs;
	Sampled__Frame *frames;
	size_t n_frames, cap_frames;
	Sampled__Node *nodes;
	size_t n_nodes, cap_nodes;
	struct tree_walk *stack;
	size_t n_stack, cap_stack;
	struct tree_sort_key *keys;
	size_t cap_keys;
	char **labels;		/* "name (tid)" strings made for thread nodes */
	size_t n_labels;
};

/* Orders two frames by their content, function name first. */
static int tree_frame_cmp(const struct tree *t, uint32_t a, uint32_t b)
{
	const struct tree_frame_rec *fa = &t->frames[a], *fb = &t->frames[b];
	int c;

	if (a == b)
		return 0;
	if ((c = strcmp(t->strings[fa->function].s, t->strings[fb->function].s)) != 0)
		return c;
	if ((c = strcmp(t->strings[fa->module].s, t->strings[fb->module].s)) != 0)
		return c;
	if ((c = strcmp(t->strings[fa->file].s, t->strings[fb->file].s)) != 0)
		return c;
	if (fa->line != fb->line)
		return fa->line < fb->line ? -1 : 1;
	if (fa->offset != fb->offset)
		return fa->offset < fb->offset ? -1 : 1;
	return fa->kind < fb->kind ? -1 : fa->kind > fb->kind;
}

/* Sibling order: total descending, then frame content; ties are impossible among siblings. */
static int tree_sibling_cmp(const void *pa, const void *pb, void *arg)
{
	const struct tree_sort_key *a = pa, *b = pb;

	if (a->total != b->total)
		return a->total > b->total ? -1 : 1;
	return tree_frame_cmp(arg, a->frame, b->frame);
}

/* Returns the output index of a string id, adding it to the output on first use. */
static uint32_t tree_builder_string(struct tree_builder *b, uint32_t sid)
{
	if (b->string_out[sid] == TREE_NONE) {
		b->strs = mem_grow(b->strs, &b->cap_strs, b->n_strs + 1, sizeof(*b->strs));
		b->strs[b->n_strs] = b->t->strings[sid].s;
		b->string_out[sid] = (uint32_t)b->n_strs++;
	}
	return b->string_out[sid];
}

/* Appends an output frame with its fields zeroed and returns it. */
static Sampled__Frame *tree_builder_new_frame(struct tree_builder *b)
{
	b->frames = mem_grow(b->frames, &b->cap_frames, b->n_frames + 1, sizeof(*b->frames));
	sampled__frame__init(&b->frames[b->n_frames]);
	return &b->frames[b->n_frames++];
}

/* Returns the output index of a frame id, adding the frame on first use. */
static uint32_t tree_builder_frame(struct tree_builder *b, uint32_t fid)
{
	const struct tree_frame_rec *rec = &b->t->frames[fid];
	Sampled__Frame *f;

	if (b->frame_out[fid] == TREE_NONE) {
		f = tree_builder_new_frame(b);
		f->function = tree_builder_string(b, rec->function);
		f->module = tree_builder_string(b, rec->module);
		f->file = tree_builder_string(b, rec->file);
		f->line = rec->line;
		f->kind = (Sampled__FrameKind)rec->kind;
		f->offset = rec->offset;
		b->frame_out[fid] = (uint32_t)(b->n_frames - 1);
	}
	return b->frame_out[fid];
}

/* Appends an output node and returns its Node.parent-style reference (index + 1). */
static uint32_t tree_builder_node(struct tree_builder *b, uint32_t out_parent, uint32_t frame,
				  uint64_t self, uint64_t total)
{
	static const Sampled__Node init = SAMPLED__NODE__INIT;
	Sampled__Node *n;

	if (b->n_nodes >= TREE_NONE - 1)
		mem_fatal("call tree message: too many nodes");
	b->nodes = mem_grow(b->nodes, &b->cap_nodes, b->n_nodes + 1, sizeof(*b->nodes));
	n = &b->nodes[b->n_nodes++];
	*n = init;
	n->parent = out_parent;
	n->frame = frame;
	n->self = self;
	n->total = total;
	return (uint32_t)b->n_nodes;
}

/* Pushes the kept children of node, sorted, so that the first in order pops first. */
static void tree_builder_push_children(struct tree_builder *b, const struct tree_nodes *view,
				       uint32_t node, uint32_t out_parent)
{
	size_t n = 0, i;
	uint32_t c;

	for (c = view->v[node].first_child; c != TREE_NONE; c = view->v[c].next_sibling) {
		/* No samples: a node only other counts than the tree's can leave empty. */
		if ((double)view->v[c].total < b->threshold || view->v[c].total == 0)
			continue;
		b->keys = mem_grow(b->keys, &b->cap_keys, n + 1, sizeof(*b->keys));
		b->keys[n].total = view->v[c].total;
		b->keys[n].idx = c;
		b->keys[n].frame = view->v[c].frame;
		n++;
	}
	if (n > 1)
		qsort_r(b->keys, n, sizeof(*b->keys), tree_sibling_cmp, (void *)b->t);
	b->stack = mem_grow(b->stack, &b->cap_stack, b->n_stack + n, sizeof(*b->stack));
	for (i = n; i-- > 0;) {
		b->stack[b->n_stack].node = b->keys[i].idx;
		b->stack[b->n_stack].out_parent = out_parent;
		b->n_stack++;
	}
}

/* Emits the subtrees under top (top itself excluded) in preorder. */
static void tree_builder_walk(struct tree_builder *b, const struct tree_nodes *view, uint32_t top,
			      uint32_t out_parent)
{
	struct tree_walk w;
	uint32_t ref;

	tree_builder_push_children(b, view, top, out_parent);
	while (b->n_stack > 0) {
		w = b->stack[--b->n_stack];
		ref = tree_builder_node(b, w.out_parent, tree_builder_frame(b, view->v[w.node].frame),
					view->v[w.node].self, view->v[w.node].total);
		tree_builder_push_children(b, view, w.node, ref);
	}
}

/*
 * Combines roots of the tree into a node set with n_tops top nodes, 0 to
 * n_tops - 1: roots[i] and its subtree go under top tops[i], so roots that
 * share a top are merged (all threads into one, or one thread's classes).
 * Source nodes are visited in index order, so a node's parent is already
 * mapped when the node comes up; nodes under roots not listed map to
 * TREE_NONE and so do their descendants.  One pass serves every top.
 */
static void tree_merge(const struct tree_nodes *src, const uint32_t *roots, const uint32_t *tops,
		       size_t n_roots, size_t n_tops, struct tree_nodes *out)
{
	uint32_t *map = mem_alloc((src->n ? src->n : 1) * sizeof(*map));
	uint32_t m;
	size_t i;

	memset(map, 0xff, (src->n ? src->n : 1) * sizeof(*map));
	tree_nodes_init(out, src->n + n_tops);
	for (i = 0; i < n_tops; i++)
		tree_nodes_append(out, TREE_NONE, TREE_NONE);
	for (i = 0; i < n_roots; i++) {
		map[roots[i]] = tops[i];
		out->v[tops[i]].self += src->v[roots[i]].self;
		out->v[tops[i]].total += src->v[roots[i]].total;
	}
	for (i = 0; i < src->n; i++) {
		const struct tree_node *s = &src->v[i];

		if (s->parent == TREE_NONE || map[s->parent] == TREE_NONE)
			continue;
		m = tree_nodes_child(out, map[s->parent], s->frame);
		map[i] = m;
		out->v[m].self += s->self;
		out->v[m].total += s->total;
	}
	free(map);
}

/*
 * Per-thread top level: one synthetic node per thread, then its stacks,
 * from the tree itself when one root is picked, else from merged.
 */
static void tree_builder_threads(struct tree_builder *b, const struct tree_pick *picks,
				 size_t n_sel, const struct tree_nodes *merged)
{
	const struct tree *t = b->t;
	struct tree_sort_key *keys = mem_calloc(n_sel, sizeof(*keys));
	const struct tree_thread *th;
	const struct tree_pick *pk;
	Sampled__Frame *f;
	size_t i, j;
	uint32_t ref;

	b->labels = mem_calloc(n_sel, sizeof(*b->labels));
	for (i = 0; i < n_sel; i++) {
		th = &t->threads[picks[i].thread];
		keys[i].total = picks[i].total;
		keys[i].idx = (uint32_t)i;
		keys[i].frame = (uint32_t)i;	/* no frame yet: the label's index */
		if (th->name != NULL)
			b->labels[i] = mem_printf("%s (%d)", th->name, (int)th->tid);
		else
			b->labels[i] = mem_printf("thread %d", (int)th->tid);
	}
	b->n_labels = n_sel;
	/* Few threads: a plain insertion sort by total, then label, then tid. */
	for (i = 1; i < n_sel; i++) {
		struct tree_sort_key k = keys[i];
		int c;

		for (j = i; j > 0; j--) {
			const struct tree_sort_key *p = &keys[j - 1];

			if (p->total != k.total)
				c = p->total < k.total;
			else if ((c = strcmp(b->labels[p->frame], b->labels[k.frame])) == 0)
				c = t->threads[picks[p->idx].thread].tid >
				    t->threads[picks[k.idx].thread].tid;
			else
				c = c > 0;
			if (!c)
				break;
			keys[j] = keys[j - 1];
		}
		keys[j] = k;
	}
	for (i = 0; i < n_sel; i++) {
		pk = &picks[keys[i].idx];
		if ((double)pk->total < b->threshold)
			continue;
		f = tree_builder_new_frame(b);
		b->strs = mem_grow(b->strs, &b->cap_strs, b->n_strs + 1, sizeof(*b->strs));
		b->strs[b->n_strs] = b->labels[keys[i].frame];
		f->function = (uint32_t)b->n_strs++;
		f->kind = SAMPLED__FRAME_KIND__FRAME_THREAD;
		ref = tree_builder_node(b, 0, (uint32_t)(b->n_frames - 1), pk->self, pk->total);
		if (pk->n_roots == 1)
			tree_builder_walk(b, b->src, pk->roots[0], ref);
		else
			tree_builder_walk(b, merged, pk->top, ref);
	}
	free(keys);
}

/* Moves the builder's output into one message that tree_message_free can release. */
static Sampled__Tree *tree_builder_finish(struct tree_builder *b, uint64_t total, int per_thread)
{
	struct tree_message *m = mem_zalloc(sizeof(*m));
	size_t i, len = 0;
	char *p;

	sampled__tree__init(&m->msg);
	m->msg.total_samples = total;
	m->msg.per_thread = per_thread != 0;

	for (i = 0; i < b->n_strs; i++)
		len += strlen(b->strs[i]) + 1;
	m->chars = p = mem_alloc(len);
	m->msg.strings = mem_calloc(b->n_strs, sizeof(*m->msg.strings));
	m->msg.n_strings = b->n_strs;
	for (i = 0; i < b->n_strs; i++) {
		len = strlen(b->strs[i]) + 1;
		memcpy(p, b->strs[i], len);
		m->msg.strings[i] = p;
		p += len;
	}

	m->frames = b->frames;
	b->frames = NULL;
	m->msg.frames = mem_calloc(b->n_frames, sizeof(*m->msg.frames));
	m->msg.n_frames = b->n_frames;
	for (i = 0; i < b->n_frames; i++)
		m->msg.frames[i] = &m->frames[i];

	m->nodes = b->nodes;
	b->nodes = NULL;
	m->msg.nodes = mem_calloc(b->n_nodes, sizeof(*m->msg.nodes));
	m->msg.n_nodes = b->n_nodes;
	for (i = 0; i < b->n_nodes; i++)
		m->msg.nodes[i] = &m->nodes[i];
	return &m->msg;
}

/* The states a filter selects, a bit per enum tree_state; none for an unknown filter. */
static unsigned tree_state_mask(enum tree_state_filter f)
{
	switch (f) {
	case TREE_STATE_ANY:
		return 1u << TREE_STATE_RUNNING | 1u << TREE_STATE_IDLE;
	case TREE_STATE_ONLY_RUNNING:
		return 1u << TREE_STATE_RUNNING;
	case TREE_STATE_ONLY_IDLE:
		return 1u << TREE_STATE_IDLE;
	}
	return 0;
}

/* The GIL classes a filter selects, a bit per enum tree_gil; none for an unknown filter. */
static unsigned tree_gil_mask(enum tree_gil_filter f)
{
	switch (f) {
	case TREE_GIL_ANY:
		return 1u << TREE_GIL_UNKNOWN | 1u << TREE_GIL_HELD | 1u << TREE_GIL_RELEASED;
	case TREE_GIL_ONLY_HELD:
		return 1u << TREE_GIL_HELD;
	case TREE_GIL_ONLY_RELEASED:
		return 1u << TREE_GIL_RELEASED;
	}
	return 0;
}

/*
 * Picks the threads a query shows, with the roots of their selected
 * classes; a thread with no samples in those classes is left out.  Returns
 * the count and adds the picked samples to *total.
 */
static size_t tree_pick_threads(const struct tree *t, const struct tree_nodes *src,
				const struct tree_query *q, struct tree_pick *picks, uint64_t *total)
{
	unsigned mask = tree_state_mask(q->state), gmask = tree_gil_mask(q->gil);
	size_t n = 0, i, s, g, c;

	for (i = 0; i < t->n_threads; i++) {
		const struct tree_thread *th = &t->threads[i];
		struct tree_pick *pk = &picks[n];

		if (q->tid != 0 && th->tid != q->tid)
			continue;
		memset(pk, 0, sizeof(*pk));
		pk->thread = (uint32_t)i;
		pk->top = TREE_NONE;
		for (s = 0; s < TREE_N_STATES; s++) {
			for (g = 0; g < TREE_N_GIL; g++) {
				c = tree_class(s, g);
				if (!(mask & 1u << s) || !(gmask & 1u << g) ||
				    th->root[c] == TREE_NONE || src->v[th->root[c]].total == 0)
					continue;
				pk->roots[pk->n_roots++] = th->root[c];
				pk->self += src->v[th->root[c]].self;
				pk->total += src->v[th->root[c]].total;
			}
		}
		if (pk->n_roots == 0)
			continue;
		*total += pk->total;
		n++;
	}
	return n;
}

/*
 * Builds the merged node set a view needs: merged, every picked root under
 * one top; per-thread, each thread with more than one root under a top of
 * its own (recorded in its pick).  Returns 0 when the view needs none: a
 * single root is walked in the tree itself.
 */
static int tree_pick_merge(const struct tree_nodes *src, struct tree_pick *picks, size_t n_sel,
			   int per_thread, struct tree_nodes *out)
{
	uint32_t *roots = mem_calloc(n_sel * TREE_N_CLASSES + 1, sizeof(*roots));
	uint32_t *tops = mem_calloc(n_sel * TREE_N_CLASSES + 1, sizeof(*tops));
	size_t n_roots = 0, n_tops = 0, i, s;
	int merged = 0;

	for (i = 0; i < n_sel; i++) {
		struct tree_pick *pk = &picks[i];

		if (per_thread && pk->n_roots < 2)
			continue;
		if (per_thread)
			pk->top = (uint32_t)n_tops++;
		for (s = 0; s < pk->n_roots; s++) {
			roots[n_roots] = pk->roots[s];
			tops[n_roots] = per_thread ? pk->top : 0;
			n_roots++;
		}
	}
	if (!per_thread && n_roots > 1)
		n_tops = 1;
	if (n_tops > 0) {
		tree_merge(src, roots, tops, n_roots, n_tops, out);
		merged = 1;
	}
	free(roots);
	free(tops);
	return merged;
}

/*
 * A copy of the tree's nodes (without their child table) carrying other
 * self counts, with totals summed bottom-up: children come after their
 * parents, so a walk from the last node adds every subtree before its root.
 */
static void tree_nodes_recount(const struct tree *t, const uint64_t *self, size_t n,
			       struct tree_nodes *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	out->n = out->cap = t->nodes.n;
	out->v = mem_alloc((out->n ? out->n : 1) * sizeof(*out->v));
	if (out->n > 0)
		memcpy(out->v, t->nodes.v, out->n * sizeof(*out->v));
	for (i = 0; i < out->n; i++) {
		out->v[i].self = i < n ? self[i] : 0;
		out->v[i].total = out->v[i].self;
	}
	for (i = out->n; i-- > 0;) {
		if (out->v[i].parent != TREE_NONE)
			out->v[out->v[i].parent].total += out->v[i].total;
	}
}

/* Builds the wire form of the tree for one query; see tree.h for the format. */
Sampled__Tree *tree_to_message(const struct tree *t, const struct tree_query *q)
{
	return tree_to_message_counts(t, q, NULL, 0);
}

/* The same, from other counts when self is given. */
Sampled__Tree *tree_to_message_counts(const struct tree *t, const struct tree_query *q,
				      const uint64_t *self, size_t n)
{
	static const struct tree_query all = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	struct tree_builder b;
	struct tree_nodes merged = { 0 }, recounted = { 0 };
	struct tree_pick *picks;
	Sampled__Tree *msg;
	size_t n_sel, i;
	uint64_t total = 0;
	int have_merged;

	if (q == NULL)
		q = &all;
	memset(&b, 0, sizeof(b));
	b.t = t;
	b.src = &t->nodes;
	if (self != NULL) {
		tree_nodes_recount(t, self, n, &recounted);
		b.src = &recounted;
	}

	/* The threads considered: sampled ones, through the tid, state and gil filters. */
	picks = mem_calloc(t->n_threads ? t->n_threads : 1, sizeof(*picks));
	n_sel = tree_pick_threads(t, b.src, q, picks, &total);
	b.threshold = q->min_share > 0 ? q->min_share * (double)total : 0.0;

	b.frame_out = mem_alloc((t->n_frames ? t->n_frames : 1) * sizeof(*b.frame_out));
	memset(b.frame_out, 0xff, (t->n_frames ? t->n_frames : 1) * sizeof(*b.frame_out));
	b.string_out = mem_alloc(t->n_strings * sizeof(*b.string_out));
	memset(b.string_out, 0xff, t->n_strings * sizeof(*b.string_out));
	tree_builder_string(&b, 0);	/* strings[0] = "" */

	have_merged = tree_pick_merge(b.src, picks, n_sel, q->per_thread, &merged);
	if (q->per_thread)
		tree_builder_threads(&b, picks, n_sel, &merged);
	else if (have_merged)
		tree_builder_walk(&b, &merged, 0, 0);
	else if (n_sel == 1)
		tree_builder_walk(&b, b.src, picks[0].roots[0], 0);
	msg = tree_builder_finish(&b, total, q->per_thread);

	for (i = 0; i < b.n_labels; i++)
		free(b.labels[i]);
	free(b.labels);
	free(b.keys);
	free(b.stack);
	free(b.strs);
	free(b.frame_out);
	free(b.string_out);
	tree_nodes_release(&merged);
	tree_nodes_release(&recounted);
	free(picks);
	return msg;
}

/* Releases a message built by tree_to_message. */
void tree_message_free(Sampled__Tree *msg)
{
	struct tree_message *m = (struct tree_message *)msg;

	if (m == NULL)
		return;
	free(m->chars);
	free(m->frames);
	free(m->nodes);
	free(m->msg.strings);
	free(m->msg.frames);
	free(m->msg.nodes);
	free(m);
}
