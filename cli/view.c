#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "view.h"
#include "view_impl.h"

/* Arena blocks are this big unless one allocation needs more. */
#define VIEW_BLOCK_SIZE (256u << 10)

struct view_block {
	struct view_block *next;
	size_t used, size;
	_Alignas(16) unsigned char data[];
};

void view_options_init(struct view_options *o)
{
	o->hide = NULL;
	o->show = NULL;
	o->collapse = 1;
	o->min_share = 0.01;
}

/* Bump allocation: a view is built once, transformed a few times, freed whole. */
void *view_alloc(struct view *v, size_t size)
{
	struct view_block *b = v->blocks;
	void *p;

	size = (size + 15) & ~(size_t)15;
	if (b == NULL || b->size - b->used < size) {
		size_t cap = size > VIEW_BLOCK_SIZE ? size : VIEW_BLOCK_SIZE;

		b = mem_alloc(sizeof(*b) + cap);
		b->next = v->blocks;
		b->used = 0;
		b->size = cap;
		v->blocks = b;
	}
	p = b->data + b->used;
	b->used += size;
	memset(p, 0, size);
	return p;
}

char *view_strdup(struct view *v, const char *s)
{
	size_t len = strlen(s) + 1;
	char *p = view_alloc(v, len);

	memcpy(p, s, len);
	return p;
}

struct view_frame *view_add_frame(struct view *v)
{
	struct view_frame *f = view_alloc(v, sizeof(*f));

	v->frames = mem_grow(v->frames, &v->cap_frames, v->n_frames + 1, sizeof(*v->frames));
	f->id = (uint32_t)v->n_frames;
	f->name = f->function = f->module = f->file = "";
	v->frames[v->n_frames++] = f;
	return f;
}

struct view_node *view_add_node(struct view *v, const struct view_frame *f)
{
	struct view_node *n = view_alloc(v, sizeof(*n));

	n->frame = f;
	return n;
}

int view_frame_cmp(const struct view_frame *a, const struct view_frame *b)
{
	int c;

	if (a == b)
		return 0;
	if ((c = strcmp(a->name, b->name)) != 0 || (c = strcmp(a->module, b->module)) != 0 ||
	    (c = strcmp(a->file, b->file)) != 0)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->offset != b->offset)
		return a->offset < b->offset ? -1 : 1;
	/* Two groups are never the same frame, even with equal names. */
	if (a->kind == VIEW_KIND_GROUP)
		return a->id < b->id ? -1 : 1;
	return 0;
}

void view_set_children(struct view *v, struct view_node *n, struct view_node **kids, size_t k)
{
	n->children = NULL;
	n->n_children = k;
	if (k == 0)
		return;
	n->children = view_alloc(v, k * sizeof(*kids));
	memcpy(n->children, kids, k * sizeof(*kids));
	for (size_t i = 0; i < k; i++)
		n->children[i]->parent = n;
}

/* qsort order that puts equal frames next to each other. */
static int view_node_frame_order(const void *x, const void *y)
{
	const struct view_node *a = *(struct view_node *const *)x;
	const struct view_node *b = *(struct view_node *const *)y;

	return view_frame_cmp(a->frame, b->frame);
}

/* qsort order of display: largest total first, then by frame. */
static int view_node_display_order(const void *x, const void *y)
{
	const struct view_node *a = *(struct view_node *const *)x;
	const struct view_node *b = *(struct view_node *const *)y;

	if (a->total != b->total)
		return a->total > b->total ? -1 : 1;
	return view_frame_cmp(a->frame, b->frame);
}

/* Folds b into a (same frame): counts add up, children are merged in turn. */
static void view_merge_into(struct view *v, struct view_node *a, struct view_node *b)
{
	struct view_node **kids;
	size_t k = a->n_children + b->n_children;

	a->self += b->self;
	a->total += b->total;
	a->cut += b->cut;
	if (b->n_children == 0)
		return;
	kids = view_alloc(v, k * sizeof(*kids));
	if (a->n_children > 0)
		memcpy(kids, a->children, a->n_children * sizeof(*kids));
	memcpy(kids + a->n_children, b->children, b->n_children * sizeof(*kids));
	a->children = kids;
	a->n_children = k;
	for (size_t i = 0; i < k; i++)
		kids[i]->parent = a;
	view_merge_siblings(v, a);
}

/*
 * Sorting by frame puts equal frames side by side; each run folds into its
 * first node.  Merging two nodes merges their children, which recurses at
 * most as deep as the tree.
 */
void view_merge_siblings(struct view *v, struct view_node *n)
{
	size_t out = 0;

	if (n->n_children < 2)
		return;
	qsort(n->children, n->n_children, sizeof(*n->children), view_node_frame_order);
	for (size_t i = 0; i < n->n_children; i++) {
		struct view_node *c = n->children[i];

		if (out > 0 && view_frame_cmp(n->children[out - 1]->frame, c->frame) == 0)
			view_merge_into(v, n->children[out - 1], c);
		else
			n->children[out++] = c;
	}
	n->n_children = out;
}

/* Iterative, so that no transform's sort depends on the stack depth. */
void view_sort(struct view_node *n)
{
	struct view_node **stack = NULL;
	size_t depth = 0, cap = 0;

	stack = mem_grow(stack, &cap, 1, sizeof(*stack));
	stack[depth++] = n;
	while (depth > 0) {
		struct view_node *at = stack[--depth];

		if (at->n_children > 1)
			qsort(at->children, at->n_children, sizeof(*at->children),
			      view_node_display_order);
		stack = mem_grow(stack, &cap, depth + at->n_children, sizeof(*stack));
		for (size_t i = 0; i < at->n_children; i++)
			stack[depth++] = at->children[i];
	}
	free(stack);
}

/* Maps the wire kind; values this client does not know are unknown. */
static enum view_kind view_kind_of(Sampled__FrameKind k)
{
	switch (k) {
	case SAMPLED__FRAME_KIND__FRAME_NATIVE:
		return VIEW_KIND_NATIVE;
	case SAMPLED__FRAME_KIND__FRAME_PYTHON:
		return VIEW_KIND_PYTHON;
	case SAMPLED__FRAME_KIND__FRAME_KERNEL:
		return VIEW_KIND_KERNEL;
	case SAMPLED__FRAME_KIND__FRAME_THREAD:
		return VIEW_KIND_THREAD;
	default:
		return VIEW_KIND_UNKNOWN;
	}
}

/* The string at index i, copied once into the arena; NULL if out of range. */
static const char *view_wire_string(struct view *v, const Sampled__Tree *t, char **copies,
				    uint32_t i)
{
	if (i >= t->n_strings)
		return NULL;
	if (copies[i] == NULL)
		copies[i] = view_strdup(v, t->strings[i] != NULL ? t->strings[i] : "");
	return copies[i];
}

/* Turns the wire frames into view frames with ids equal to their wire index. */
static int view_decode_frames(struct view *v, const Sampled__Tree *t, struct error *err)
{
	char **copies = mem_calloc(t->n_strings + 1, sizeof(*copies));
	int rc = -1;

	for (size_t i = 0; i < t->n_frames; i++) {
		const Sampled__Frame *w = t->frames[i];
		struct view_frame *f = view_add_frame(v);
		const char *fn = view_wire_string(v, t, copies, w->function);
		const char *mod = view_wire_string(v, t, copies, w->module);
		const char *file = view_wire_string(v, t, copies, w->file);

		if (fn == NULL || mod == NULL || file == NULL) {
			error_set(err, 0, "malformed tree: frame %zu names a string out of range", i);
			goto out;
		}
		f->function = fn;
		f->module = mod;
		f->file = file;
		f->line = w->line;
		f->offset = w->offset;
		f->kind = view_kind_of(w->kind);
		if (fn[0] != '\0') {
			f->name = fn;
		} else {
			char *name = mem_printf("%s+0x%llx", mod[0] != '\0' ? mod : "[unknown]",
						(unsigned long long)w->offset);

			f->name = view_strdup(v, name);
			free(name);
		}
	}
	rc = 0;
out:
	free(copies);
	return rc;
}

/*
 * Nodes arrive in preorder with parent = index + 1, so one forward pass
 * checks parents and depths and counts children, and one backward pass
 * checks that children fit in their parent and derives cut.
 */
static int view_decode_nodes(struct view *v, const Sampled__Tree *t, struct error *err)
{
	size_t n = t->n_nodes;
	struct view_node *nodes = view_alloc(v, (n + 1) * sizeof(*nodes));
	size_t *count = mem_calloc(n + 1, sizeof(*count));
	uint32_t *depth = mem_calloc(n + 1, sizeof(*depth));
	uint64_t *sum = mem_calloc(n + 1, sizeof(*sum));
	struct view_frame *root_frame;
	int rc = -1;

	root_frame = view_add_frame(v);
	root_frame->kind = VIEW_KIND_ROOT;
	root_frame->name = "[root]";
	v->root = &nodes[0];
	nodes[0].frame = root_frame;
	nodes[0].total = t->total_samples;
	for (size_t i = 0; i < n; i++) {
		const Sampled__Node *w = t->nodes[i];

		if (w->parent > i || w->frame >= t->n_frames) {
			error_set(err, 0, "malformed tree: node %zu has a bad %s", i,
				  w->parent > i ? "parent" : "frame");
			goto out;
		}
		if (w->self > w->total) {
			error_set(err, 0, "malformed tree: node %zu has more self than total", i);
			goto out;
		}
		depth[i + 1] = depth[w->parent] + 1;
		if (depth[i + 1] > VIEW_MAX_DEPTH) {
			error_set(err, 0, "tree deeper than %d levels", VIEW_MAX_DEPTH);
			goto out;
		}
		nodes[i + 1].frame = v->frames[w->frame];
		nodes[i + 1].self = w->self;
		nodes[i + 1].total = w->total;
		nodes[i + 1].parent = &nodes[w->parent];
		count[w->parent]++;
	}
	for (size_t i = n + 1; i-- > 0;) {
		struct view_node *at = &nodes[i];

		if (sum[i] > at->total || at->self > at->total - sum[i]) {
			if (i == 0)
				error_set(err, 0, "malformed tree: the top level outweighs all samples");
			else
				error_set(err, 0, "malformed tree: the children of node %zu outweigh it",
					  i - 1);
			goto out;
		}
		at->cut = at->total - at->self - sum[i];
		if (i > 0) {
			uint32_t p = t->nodes[i - 1]->parent;

			if (sum[p] > UINT64_MAX - at->total) {
				error_set(err, 0, "malformed tree: counts overflow at node %zu", i - 1);
				goto out;
			}
			sum[p] += at->total;
		}
		if (count[i] > 0)
			at->children = view_alloc(v, count[i] * sizeof(*at->children));
	}
	/* The root's remainder is samples without a top-level node, not a cut. */
	nodes[0].self = nodes[0].cut;
	nodes[0].cut = 0;
	for (size_t i = 1; i <= n; i++) {
		struct view_node *p = nodes[i].parent;

		p->children[p->n_children++] = &nodes[i];
	}
	rc = 0;
out:
	free(count);
	free(depth);
	free(sum);
	return rc;
}

/* Decodes frames, then nodes, then puts children in display order. */
struct view *view_new(const Sampled__Tree *t, struct error *err)
{
	struct view *v = mem_zalloc(sizeof(*v));

	v->per_thread = t->per_thread;
	if (view_decode_frames(v, t, err) < 0 || view_decode_nodes(v, t, err) < 0) {
		view_free(v);
		return NULL;
	}
	view_sort(v->root);
	return v;
}

/* Frees the arena block by block, then the frame index. */
void view_free(struct view *v)
{
	struct view_block *b, *next;

	if (v == NULL)
		return;
	for (b = v->blocks; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	free(v->frames);
	free(v);
}

const struct view_node *view_root(const struct view *v)
{
	return v->root;
}

uint64_t view_total(const struct view *v)
{
	return v->root->total;
}

int view_per_thread(const struct view *v)
{
	return v->per_thread;
}

/* Counts by walking, since merges and cuts change the count. */
size_t view_node_count(const struct view *v)
{
	struct view_node **stack = NULL;
	size_t depth = 0, cap = 0, count = 0;

	stack = mem_grow(stack, &cap, 1, sizeof(*stack));
	stack[depth++] = v->root;
	while (depth > 0) {
		struct view_node *at = stack[--depth];

		count += at->n_children;
		stack = mem_grow(stack, &cap, depth + at->n_children, sizeof(*stack));
		for (size_t i = 0; i < at->n_children; i++)
			stack[depth++] = at->children[i];
	}
	free(stack);
	return count;
}

size_t view_frame_count(const struct view *v)
{
	return v->n_frames;
}

const struct view_frame *view_frame_at(const struct view *v, size_t id)
{
	return id < v->n_frames ? v->frames[id] : NULL;
}

size_t view_cut_nodes(const struct view *v)
{
	return v->cut_nodes;
}

uint64_t view_cut_samples(const struct view *v)
{
	return v->cut_samples;
}
