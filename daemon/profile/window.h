#ifndef SAMPLED_WINDOW_H
#define SAMPLED_WINDOW_H

#include <stddef.h>
#include <stdint.h>

/*
 * Time windows over a long profile: the samples of each interval of time
 * (a bucket, 10 s by default) counted apart, so that a view can show the
 * last minute of a process that has run for weeks.  A bucket does not hold
 * stacks: every sample already ends at one node of the call tree (its
 * leaf, which also names its thread and class), so a bucket is a sparse
 * map leaf node id -> samples.  A window's tree is the main tree's
 * structure with the counts summed from the buckets in the range
 * (tree_to_message_counts).
 *
 * Buckets are aligned on multiples of the bucket length (of the samples'
 * clock, CLOCK_MONOTONIC) and made only when a sample falls in them, so
 * idle stretches cost nothing.  They live in a ring in time order, and the
 * whole ring stays under a memory cap: when a bucket must be made or grow
 * past it, the oldest buckets are dropped (counted).  A bucket that alone
 * would outgrow the cap takes no new node: such samples are counted as
 * dropped, so the cap is never exceeded.
 *
 * Adding a sample to the current bucket is one hash probe, no allocation
 * in steady state (a new bucket starts with room for as many nodes as the
 * one before it held) and no system call: the sample's own time says
 * which bucket it belongs to.  Samples come in slightly out of order
 * (rings are read thread by thread): a late one goes to the bucket that
 * holds its time, or, when that interval has no bucket (no sample came
 * in it before a later one), to the next one after it; one older than
 * every bucket kept is dropped if buckets were dropped already, else
 * counted in the oldest.
 *
 * Not thread-safe: one window belongs to one thread (the daemon's loop).
 */

/* The smallest memory cap: room for a few small buckets. */
#define WINDOW_MIN_MEMORY ((size_t)16 << 10)

struct window;

/* What a range query summed: the span its buckets cover and their samples. */
struct window_span {
	uint64_t start_ns;	/* start of the first bucket summed, 0 when none */
	uint64_t end_ns;	/* end of the last bucket summed, 0 when none */
	size_t buckets;
	uint64_t samples;
};

/* The ring as a whole, for status. */
struct window_stats {
	uint64_t bucket_ns;
	size_t memory_bytes;		/* the ring and every bucket's table */
	size_t memory_cap;
	size_t buckets;
	uint64_t oldest_ns;		/* start of the oldest bucket, 0 when none */
	uint64_t newest_end_ns;		/* end of the newest bucket, 0 when none */
	uint64_t dropped_buckets;	/* since creation or the last reset */
	uint64_t dropped_samples;	/* in dropped buckets, or that did not fit */
};

/*
 * An empty ring of buckets bucket_ns long (> 0) using at most memory_cap
 * bytes (at least WINDOW_MIN_MEMORY; smaller caps are raised to it).
 */
struct window *window_new(uint64_t bucket_ns, size_t memory_cap);
void window_free(struct window *w);
/* Drops every bucket and zeroes the counters (after the tree was reset). */
void window_reset(struct window *w);
/*
 * Counts count samples that ended at tree node `node` at time_ns (the
 * samples' clock).  node must not be UINT32_MAX.
 */
void window_add(struct window *w, uint64_t time_ns, uint32_t node, uint32_t count);
/*
 * Adds the samples of every bucket that overlaps [from_ns, to_ns) to
 * counts[node] (n entries; nodes at n or beyond are skipped) and says what
 * was summed in *span.
 */
void window_sum(const struct window *w, uint64_t from_ns, uint64_t to_ns, uint64_t *counts,
		size_t n, struct window_span *span);
void window_stats(const struct window *w, struct window_stats *out);

#endif
