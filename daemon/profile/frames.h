#ifndef SAMPLED_FRAMES_H
#define SAMPLED_FRAMES_H

#include <stddef.h>
#include <stdint.h>

#include "python/python.h"
#include "symbols/maps.h"
#include "tree.h"

/*
 * Addresses to tree frames: each distinct address is symbolized once and
 * its frames remembered, so the per-sample cost is a hash probe per
 * address.  One address can stand for several frames: the functions
 * inlined into each other there (DWARF), innermost first.  Native frames
 * are grouped by function: a frame carries the function's own file and
 * declaration line, not the line of the address, so every line of a
 * function counts in one node.  Memory is bounded: past its limit the cache
 * starts over.  It is dropped whenever the target's mappings change.
 */

/* The most frames one address can expand to (deeper inline chains are cut). */
#define FRAMES_MAX_INLINE 8

struct frames;

struct frames *frames_new(const struct maps *maps, struct tree *tree);
void frames_free(struct frames *f);
/*
 * The frame ids for a code address (already the call site for callers'
 * frames), innermost first; returns how many (1 to FRAMES_MAX_INLINE).
 * The array is owned by the cache and valid until the next call.
 */
size_t frames_ids(struct frames *f, uint64_t pc, const uint32_t **ids);
/* What a frame id returned here is to the Python merge (python_classify). */
enum python_native_class frames_class(const struct frames *f, uint32_t id);
/*
 * Whether addresses are looked up in DWARF (default on): off, frames come
 * from the symbol tables alone, one per real function, without file:line
 * or inlined functions, and no DWARF is ever opened.  Set it before the
 * first frames_ids.
 */
void frames_set_lines(struct frames *f, int on);
/* Forgets every cached address (after the tree's frames were reset). */
void frames_flush(struct frames *f);
/* Addresses that fell in no known mapping (a hint that the maps are stale). */
uint64_t frames_unmapped(const struct frames *f);

#endif
