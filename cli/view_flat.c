#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "view.h"
#include "view_impl.h"

/* Whether a node is a function of the flat profile (see view_flat in view.h). */
static int view_flat_counts(const struct view_frame *f)
{
	return f->kind != VIEW_KIND_ROOT && f->kind != VIEW_KIND_THREAD;
}

/* Function identity: name, module, file and kind; every group is its own. */
int view_flat_cmp(const struct view_frame *a, const struct view_frame *b)
{
	int c;

	if ((c = strcmp(a->name, b->name)) != 0 || (c = strcmp(a->module, b->module)) != 0 ||
	    (c = strcmp(a->file, b->file)) != 0)
		return c;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	if (a->kind == VIEW_KIND_GROUP && a->id != b->id)
		return a->id < b->id ? -1 : 1;
	return 0;
}

/* Sorts frames by function identity, ids breaking ties for stability. */
static int view_flat_order(const void *x, const void *y)
{
	const struct view_frame *a = *(const struct view_frame *const *)x;
	const struct view_frame *b = *(const struct view_frame *const *)y;
	int c = view_flat_cmp(a, b);

	if (c != 0)
		return c;
	return (a->id > b->id) - (a->id < b->id);
}

/* Maps every frame id to a function number (newly allocated); *n_fn functions. */
static uint32_t *view_flat_functions(const struct view *v, size_t *n_fn)
{
	const struct view_frame **sorted = mem_calloc(v->n_frames + 1, sizeof(*sorted));
	uint32_t *fn = mem_calloc(v->n_frames + 1, sizeof(*fn));
	size_t count = 0;

	for (size_t i = 0; i < v->n_frames; i++)
		sorted[i] = v->frames[i];
	qsort(sorted, v->n_frames, sizeof(*sorted), view_flat_order);
	for (size_t i = 0; i < v->n_frames; i++) {
		if (i == 0 || view_flat_cmp(sorted[i - 1], sorted[i]) != 0)
			count++;
		fn[sorted[i]->id] = (uint32_t)(count - 1);
	}
	free(sorted);
	*n_fn = count;
	return fn;
}

struct view_flat_at {
	const struct view_node *node;
	size_t next;		/* the next child to visit */
};

/*
 * A depth-first walk that knows, per function, how many of the nodes on
 * the current path belong to it: a node adds its total only when its
 * function is not already on the path, so recursion counts once.
 */
struct view_flat_row *view_flat(const struct view *v, size_t *n)
{
	size_t n_fn = 0, depth = 0, cap = 0, out = 0;
	uint32_t *fn = view_flat_functions(v, &n_fn);
	uint32_t *active = mem_calloc(n_fn + 1, sizeof(*active));
	struct view_flat_row *rows = mem_calloc(n_fn + 1, sizeof(*rows));
	struct view_flat_at *stack = NULL;

	stack = mem_grow(stack, &cap, 1, sizeof(*stack));
	stack[depth++] = (struct view_flat_at){ v->root, 0 };
	while (depth > 0) {
		struct view_flat_at *at = &stack[depth - 1];
		const struct view_node *c;
		uint32_t k;

		if (at->next == at->node->n_children) {
			if (view_flat_counts(at->node->frame))
				active[fn[at->node->frame->id]]--;
			depth--;
			continue;
		}
		c = at->node->children[at->next++];
		if (view_flat_counts(c->frame)) {
			k = fn[c->frame->id];
			if (rows[k].frame == NULL)
				rows[k].frame = c->frame;
			rows[k].self += c->self;
			if (active[k]++ == 0)
				rows[k].total += c->total;
		}
		stack = mem_grow(stack, &cap, depth + 1, sizeof(*stack));
		stack[depth++] = (struct view_flat_at){ c, 0 };
	}
	for (size_t k = 0; k < n_fn; k++) {
		if (rows[k].frame != NULL)
			rows[out++] = rows[k];
	}
	free(stack);
	free(active);
	free(fn);
	*n = out;
	return rows;
}
