#ifndef SAMPLED_TREE_FIXTURE_H
#define SAMPLED_TREE_FIXTURE_H

#include <stdint.h>

#include "sampled.pb-c.h"

/*
 * Wire trees for the view, render and export tests, written as folded
 * stacks: one "frame;frame;frame COUNT" per line, outermost first.  A
 * frame is NAME, NAME@MODULE or NAME@MODULE@FILE:LINE; NAME "+0x1f@libc.so.6"
 * is an unknown function at that offset; prefixes give the kind: "py:"
 * Python, "k:" kernel, "t:" a thread root, "u:" unknown.  Nodes come out
 * in preorder, siblings in first-seen order (the view sorts them), so the
 * message has the daemon's shape.
 */

/*
 * The message for folded stacks plus extra samples with no frame at all;
 * per_thread sets its flag.  Everything is plain calloc: free with
 * fx_tree_free.
 */
Sampled__Tree *fx_tree(const char *folded, uint64_t extra, int per_thread);
/* Frees a tree from fx_tree. */
void fx_tree_free(Sampled__Tree *t);

#endif
