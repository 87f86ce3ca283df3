#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "perf_ring.h"

void perf_ring_init(struct perf_ring *ring, void *base, size_t page_size, size_t data_size)
{
	ring->meta = base;
	ring->data = (uint8_t *)base + page_size;
	ring->size = data_size;
	/* A record's size is a u16, so one record never needs more than this. */
	ring->scratch = mem_alloc(UINT16_MAX + 1);
}

void perf_ring_release(struct perf_ring *ring)
{
	free(ring->scratch);
	ring->scratch = NULL;
}

/*
 * data_head is loaded with acquire ordering so that the record bytes the
 * kernel wrote before advancing it are visible; data_tail is stored with
 * release ordering after we are done reading, so the kernel cannot reuse the
 * space while we still read it.  Positions only grow; the offset in the ring
 * is the position masked by size - 1.  Headers never wrap (records are
 * 8-byte aligned and the ring is a power of two), bodies can: those are
 * copied into scratch so callbacks see one contiguous record.
 */
size_t perf_ring_drain(struct perf_ring *ring, perf_ring_fn *fn, void *arg, uint64_t *corrupt)
{
	uint64_t head = __atomic_load_n(&ring->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = ring->meta->data_tail;
	uint64_t mask = ring->size - 1;
	size_t count = 0;

	while (tail < head) {
		uint64_t off = tail & mask;
		const struct perf_event_header *hdr = (const void *)(ring->data + off);
		const void *rec = hdr;
		uint16_t size = hdr->size;

		if (size < sizeof(*hdr) || size > head - tail || (size & 7) != 0) {
			if (corrupt != NULL)
				(*corrupt)++;
			tail = head;
			break;
		}
		if (off + size > ring->size) {
			uint64_t first = ring->size - off;

			memcpy(ring->scratch, ring->data + off, first);
			memcpy(ring->scratch + first, ring->data, size - first);
			rec = ring->scratch;
		}
		fn(rec, rec, arg);
		tail += size;
		count++;
	}
	__atomic_store_n(&ring->meta->data_tail, tail, __ATOMIC_RELEASE);
	return count;
}
