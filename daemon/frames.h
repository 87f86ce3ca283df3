#ifndef SAMPLED_FRAMES_H
#define SAMPLED_FRAMES_H

#include <stdint.h>

#include "maps.h"
#include "tree.h"

/*
 * Addresses to tree frames: each distinct address is symbolized once and
 * its frame id remembered, so the per-sample cost is a hash probe per frame.
 * The memory is bounded: past its limit the cache starts over.  It is
 * dropped whenever the target's mappings change.
 */

struct frames;

struct frames *frames_new(const struct maps *maps, struct tree *tree);
void frames_free(struct frames *f);
/* The frame id for a code address (already the call site for callers' frames). */
uint32_t frames_id(struct frames *f, uint64_t pc);
/* Forgets every cached address (after the tree's frames were reset). */
void frames_flush(struct frames *f);
/* Addresses that fell in no known mapping (a hint that the maps are stale). */
uint64_t frames_unmapped(const struct frames *f);

#endif
