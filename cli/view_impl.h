#ifndef SAMPLED_VIEW_IMPL_H
#define SAMPLED_VIEW_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "view.h"

/*
 * The inside of a view, shared by view.c (decoding, sorting, merging),
 * view_filter.c (the transforms) and view_flat.c; nothing else includes
 * this.  Nodes, frames, strings and children arrays live in an arena freed
 * at once with the view: a transform that replaces a children array just
 * abandons the old one.
 */

struct view_block;

struct view {
	struct view_block *blocks;	/* the arena, newest block first */
	struct view_node *root;
	struct view_frame **frames;	/* by id */
	size_t n_frames, cap_frames;
	int per_thread;
	size_t cut_nodes;
	uint64_t cut_samples;
};

/* Arena memory, 16-byte aligned, zeroed; lives as long as the view. */
void *view_alloc(struct view *v, size_t size);
/* A copy of s in the arena. */
char *view_strdup(struct view *v, const char *s);
/* A new frame in the arena, registered with the next id. */
struct view_frame *view_add_frame(struct view *v);
/* A new node in the arena with no children. */
struct view_node *view_add_node(struct view *v, const struct view_frame *f);

/* Orders frames by name, module, file, line, kind, offset; groups by identity. */
int view_frame_cmp(const struct view_frame *a, const struct view_frame *b);
/*
 * Gives n the k children in kids (copied to the arena; kids stays the
 * caller's), setting their parent pointers.
 */
void view_set_children(struct view *v, struct view_node *n, struct view_node **kids, size_t k);
/*
 * Merges n's children that have equal frames: counts summed, children
 * merged likewise, recursively.  Leaves the children in frame order.
 */
void view_merge_siblings(struct view *v, struct view_node *n);
/* Sorts every children array below n by total, largest first (display order). */
void view_sort(struct view_node *n);

#endif
