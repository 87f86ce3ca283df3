#ifndef SAMPLED_EXPORT_COLLAPSED_H
#define SAMPLED_EXPORT_COLLAPSED_H

#include <stdio.h>

#include "error.h"
#include "sampled.pb-c.h"

/*
 * FlameGraph's folded stacks: one line per node with self samples,
 * "root;child;leaf COUNT", frames named as in the text tree.  Frame names
 * never contain ';' (it would split the frame), so it is replaced by ':'.
 */

/* Writes the tree; -1 with err set if the tree is malformed or out fails. */
int export_collapsed(FILE *out, const Sampled__Tree *tree, struct error *err);

/* The name a frame is shown under: "function" or "module+0xoffset" (newly allocated). */
char *export_frame_name(const Sampled__Tree *tree, const Sampled__Frame *frame);

#endif
