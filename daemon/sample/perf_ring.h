#ifndef SAMPLED_PERF_RING_H
#define SAMPLED_PERF_RING_H

#include <stddef.h>
#include <stdint.h>

#include <linux/perf_event.h>

/*
 * Reading a perf_event ring buffer: the kernel writes records and advances
 * data_head; we consume them and advance data_tail, which tells the kernel
 * the space is free again (it then never overwrites unread records and
 * emits PERF_RECORD_LOST instead).  The module knows nothing of the event
 * itself, so tests can drive it with a ring in ordinary memory.
 */

struct perf_ring {
	struct perf_event_mmap_page *meta;	/* first page of the mapping */
	uint8_t *data;				/* 2^n bytes after it */
	uint64_t size;
	uint8_t *scratch;			/* one record that wraps, copied out */
};

/* Called for each record; rec is 8-byte aligned and hdr->size bytes long. */
typedef void perf_ring_fn(const struct perf_event_header *hdr, const void *rec, void *arg);

/* Sets up a ring over base (meta page of page_size, then data_size bytes). */
void perf_ring_init(struct perf_ring *ring, void *base, size_t page_size, size_t data_size);
void perf_ring_release(struct perf_ring *ring);
/*
 * Hands every complete record to fn, then frees their space.  Returns the
 * number of records read; a corrupt header (size 0 or beyond what was
 * written) discards the rest of the written data and counts in *corrupt.
 */
size_t perf_ring_drain(struct perf_ring *ring, perf_ring_fn *fn, void *arg, uint64_t *corrupt);

#endif
