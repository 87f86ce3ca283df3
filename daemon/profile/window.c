#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "window.h"

/*
 * Layout.  The ring is an array of buckets (by value) used as a circular
 * buffer, oldest at head, its capacity a power of two; it grows by doubling
 * and never shrinks.  Each bucket owns an open-addressing table of (node,
 * count) pairs, 8 bytes a slot, at most half full, doubled when needed.
 * Slots are picked by Fibonacci hashing (the high bits of node times
 * 2^64/phi): leaf ids are often spaced by a stack's depth, and the low
 * bits of a plain product would crowd such ids into a few runs.
 *
 * The memory counted is the ring array plus every table; it is checked
 * before anything is allocated, so the cap holds at every moment.
 */

#define WINDOW_EMPTY UINT32_MAX
#define WINDOW_MIN_BITS 4u		/* 16 slots */
#define WINDOW_MAX_BITS 31u
#define WINDOW_MIN_RING 16u

struct window_slot {
	uint32_t node;		/* WINDOW_EMPTY: free */
	uint32_t count;
};

struct window_bucket {
	uint64_t start_ns;
	uint64_t samples;
	struct window_slot *slots;
	uint32_t used;
	uint32_t bits;		/* 1 << bits slots */
};

struct window {
	uint64_t bucket_ns;
	size_t cap;
	size_t memory;
	struct window_bucket *ring;
	size_t ring_cap;	/* a power of two */
	size_t head;		/* index of the oldest bucket */
	size_t n;
	uint64_t dropped_buckets;
	uint64_t dropped_samples;
};

/* The i-th bucket from the oldest. */
static struct window_bucket *window_at(const struct window *w, size_t i)
{
	return &w->ring[(w->head + i) & (w->ring_cap - 1)];
}

/* Bytes of a table of 1 << bits slots. */
static size_t window_table_bytes(uint32_t bits)
{
	return ((size_t)1 << bits) * sizeof(struct window_slot);
}

/* The first slot to probe for node in a table of 1 << bits slots. */
static size_t window_slot_of(uint32_t node, uint32_t bits)
{
	return (size_t)(((uint64_t)node * 0x9e3779b97f4a7c15ull) >> (64 - bits));
}

/* A table of 1 << bits empty slots. */
static struct window_slot *window_table_new(uint32_t bits)
{
	struct window_slot *slots = mem_alloc(window_table_bytes(bits));

	memset(slots, 0xff, window_table_bytes(bits));
	return slots;
}

/* Frees the oldest bucket, counting it and its samples as dropped. */
static void window_drop_oldest(struct window *w)
{
	struct window_bucket *b = window_at(w, 0);

	w->memory -= window_table_bytes(b->bits);
	w->dropped_buckets++;
	w->dropped_samples += b->samples;
	free(b->slots);
	memset(b, 0, sizeof(*b));
	w->head = (w->head + 1) & (w->ring_cap - 1);
	w->n--;
}

/*
 * Drops the oldest buckets until need more bytes fit under the cap, but
 * never keep (the bucket that needs them; NULL for none) or one newer.
 * Returns whether they fit.
 */
static int window_make_room(struct window *w, size_t need, const struct window_bucket *keep)
{
	while (w->memory + need > w->cap && w->n > 0 && window_at(w, 0) != keep)
		window_drop_oldest(w);
	return w->memory + need <= w->cap;
}

/* Doubles the ring array, keeping the buckets in order from index 0. */
static void window_ring_grow(struct window *w)
{
	size_t cap = w->ring_cap * 2;
	struct window_bucket *ring = mem_calloc(cap, sizeof(*ring));

	for (size_t i = 0; i < w->n; i++)
		ring[i] = *window_at(w, i);
	free(w->ring);
	w->memory += (cap - w->ring_cap) * sizeof(*ring);
	w->ring = ring;
	w->ring_cap = cap;
	w->head = 0;
}

/*
 * Appends a bucket starting at start_ns, with a table sized for as many
 * nodes as the newest bucket held, so that a steady profile never grows
 * one.  NULL when not even the smallest table fits under the cap.
 */
static struct window_bucket *window_bucket_new(struct window *w, uint64_t start_ns)
{
	uint32_t bits = WINDOW_MIN_BITS;
	size_t want = w->n > 0 ? 2 * (size_t)window_at(w, w->n - 1)->used + 2 : 0;
	size_t ring_need = w->ring_cap * sizeof(*w->ring);
	struct window_bucket *b;

	while (bits < WINDOW_MAX_BITS && ((size_t)1 << bits) < want)
		bits++;
	/* Dropping old buckets may free a place in the ring as well as bytes. */
	window_make_room(w, window_table_bytes(bits) + (w->n == w->ring_cap ? ring_need : 0),
			 NULL);
	if (w->n == w->ring_cap) {
		if (!window_make_room(w, ring_need, NULL))
			return NULL;
		window_ring_grow(w);
	}
	while (bits > WINDOW_MIN_BITS && !window_make_room(w, window_table_bytes(bits), NULL))
		bits--;
	if (!window_make_room(w, window_table_bytes(bits), NULL))
		return NULL;
	b = window_at(w, w->n);
	w->n++;
	b->start_ns = start_ns;
	b->samples = 0;
	b->used = 0;
	b->bits = bits;
	b->slots = window_table_new(bits);
	w->memory += window_table_bytes(bits);
	return b;
}

/* Doubles a bucket's table; -1 when that would break the cap. */
static int window_bucket_grow(struct window *w, struct window_bucket *b)
{
	uint32_t bits = b->bits + 1;
	struct window_slot *old = b->slots;
	size_t old_n = (size_t)1 << b->bits, i, j;

	if (bits > WINDOW_MAX_BITS ||
	    !window_make_room(w, window_table_bytes(bits) - window_table_bytes(b->bits), b))
		return -1;
	b->slots = window_table_new(bits);
	for (i = 0; i < old_n; i++) {
		if (old[i].node == WINDOW_EMPTY)
			continue;
		for (j = window_slot_of(old[i].node, bits); b->slots[j].node != WINDOW_EMPTY;
		     j = (j + 1) & (((size_t)1 << bits) - 1))
			;
		b->slots[j] = old[i];
	}
	free(old);
	w->memory += window_table_bytes(bits) - window_table_bytes(b->bits);
	b->bits = bits;
	return 0;
}

/* Counts samples of node in b: one probe when the node is there already. */
static void window_bucket_put(struct window *w, struct window_bucket *b, uint32_t node,
			      uint32_t count)
{
	size_t mask = ((size_t)1 << b->bits) - 1;
	size_t i = window_slot_of(node, b->bits);

	for (;; i = (i + 1) & mask) {
		if (b->slots[i].node == node) {
			b->slots[i].count += count;
			b->samples += count;
			return;
		}
		if (b->slots[i].node == WINDOW_EMPTY)
			break;
	}
	if ((b->used + 1) * 2 > mask + 1) {
		if (window_bucket_grow(w, b) < 0) {
			w->dropped_samples += count;
			return;
		}
		mask = ((size_t)1 << b->bits) - 1;
		for (i = window_slot_of(node, b->bits); b->slots[i].node != WINDOW_EMPTY;
		     i = (i + 1) & mask)
			;
	}
	b->slots[i].node = node;
	b->slots[i].count = count;
	b->used++;
	b->samples += count;
}

/*
 * The bucket a sample that is not in the newest one goes to (see window.h
 * for late samples), made when it is newer than them all; NULL when it is
 * to be dropped.
 */
static struct window_bucket *window_locate(struct window *w, uint64_t time_ns)
{
	struct window_bucket *b;
	size_t i;

	if (w->n == 0 || time_ns >= window_at(w, w->n - 1)->start_ns + w->bucket_ns)
		return window_bucket_new(w, time_ns - time_ns % w->bucket_ns);
	for (i = w->n; i-- > 0;) {
		b = window_at(w, i);
		if (b->start_ns > time_ns)
			continue;
		if (time_ns - b->start_ns < w->bucket_ns)
			return b;
		return window_at(w, i + 1);
	}
	return w->dropped_buckets > 0 ? NULL : window_at(w, 0);
}

/* Creates an empty ring; the cap is raised to the smallest that works. */
struct window *window_new(uint64_t bucket_ns, size_t memory_cap)
{
	struct window *w = mem_zalloc(sizeof(*w));

	w->bucket_ns = bucket_ns > 0 ? bucket_ns : 1;
	w->cap = memory_cap > WINDOW_MIN_MEMORY ? memory_cap : WINDOW_MIN_MEMORY;
	w->ring_cap = WINDOW_MIN_RING;
	w->ring = mem_calloc(w->ring_cap, sizeof(*w->ring));
	w->memory = w->ring_cap * sizeof(*w->ring);
	return w;
}

/* Frees the ring and every bucket; accepts NULL. */
void window_free(struct window *w)
{
	if (w == NULL)
		return;
	for (size_t i = 0; i < w->n; i++)
		free(window_at(w, i)->slots);
	free(w->ring);
	free(w);
}

/* Forgets every bucket, keeping the ring array for the buckets to come. */
void window_reset(struct window *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(window_at(w, i)->slots);
	memset(w->ring, 0, w->ring_cap * sizeof(*w->ring));
	w->memory = w->ring_cap * sizeof(*w->ring);
	w->head = 0;
	w->n = 0;
	w->dropped_buckets = 0;
	w->dropped_samples = 0;
}

/* The hot path: the newest bucket almost always holds the sample's time. */
void window_add(struct window *w, uint64_t time_ns, uint32_t node, uint32_t count)
{
	struct window_bucket *b = w->n > 0 ? window_at(w, w->n - 1) : NULL;

	/* Unsigned: a time before the bucket's start is a huge difference too. */
	if (b == NULL || time_ns - b->start_ns >= w->bucket_ns) {
		b = window_locate(w, time_ns);
		if (b == NULL) {
			w->dropped_samples += count;
			return;
		}
	}
	window_bucket_put(w, b, node, count);
}

/* Sums the buckets that overlap the range, oldest first. */
void window_sum(const struct window *w, uint64_t from_ns, uint64_t to_ns, uint64_t *counts,
		size_t n, struct window_span *span)
{
	memset(span, 0, sizeof(*span));
	for (size_t i = 0; i < w->n; i++) {
		const struct window_bucket *b = window_at(w, i);
		size_t slots = (size_t)1 << b->bits;

		if (b->start_ns >= to_ns || b->start_ns + w->bucket_ns <= from_ns)
			continue;
		if (span->buckets == 0)
			span->start_ns = b->start_ns;
		span->end_ns = b->start_ns + w->bucket_ns;
		span->buckets++;
		span->samples += b->samples;
		for (size_t j = 0; j < slots; j++) {
			if (b->slots[j].node != WINDOW_EMPTY && b->slots[j].node < n)
				counts[b->slots[j].node] += b->slots[j].count;
		}
	}
}

/* Describes the ring for status. */
void window_stats(const struct window *w, struct window_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->bucket_ns = w->bucket_ns;
	out->memory_bytes = w->memory;
	out->memory_cap = w->cap;
	out->buckets = w->n;
	if (w->n > 0) {
		out->oldest_ns = window_at(w, 0)->start_ns;
		out->newest_end_ns = window_at(w, w->n - 1)->start_ns + w->bucket_ns;
	}
	out->dropped_buckets = w->dropped_buckets;
	out->dropped_samples = w->dropped_samples;
}
