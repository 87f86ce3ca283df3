/*
 * Ring reading against a ring in ordinary memory, written the way the
 * kernel writes it: records that wrap around the end, LOST records, and a
 * corrupt header.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "sample/perf_ring.h"
#include "sample/perf_sampler.h"

#define PAGE 4096
#define DATA 1024	/* small, so records wrap often */

struct seen {
	int samples, lost;
	uint64_t last_time, lost_total;
	int order_ok;
};

/* A ring in ordinary memory and what its reader has seen: each ring test's state. */
struct fake {
	uint8_t *mem;
	struct perf_ring ring;
	struct perf_event_mmap_page *meta;
	struct seen seen;
	uint64_t corrupt;	/* perf_ring_drain's count of corrupt records */
};

/* The setup of the ring tests: an empty ring, nothing seen. */
static int fake_new(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->mem = calloc(1, PAGE + DATA);
	assert_non_null(f->mem);
	f->meta = (void *)f->mem;
	perf_ring_init(&f->ring, f->mem, PAGE, DATA);
	f->seen.order_ok = 1;
	*state = f;
	return 0;
}

/* The teardown of the ring tests. */
static int fake_free(void **state)
{
	struct fake *f = *state;

	perf_ring_release(&f->ring);
	free(f->mem);
	free(f);
	return 0;
}

/* Writes one record at data_head as the kernel would, wrapping bytes around. */
static void kernel_write(struct fake *f, const void *rec, size_t size)
{
	uint64_t head = f->meta->data_head;

	assert_true(head + size - f->meta->data_tail <= DATA);
	for (size_t i = 0; i < size; i++)
		f->mem[PAGE + ((head + i) & (DATA - 1))] = ((const uint8_t *)rec)[i];
	f->meta->data_head = head + size;
}

struct sample_rec {
	struct perf_event_header hdr;
	uint64_t ip;
	uint32_t pid, tid;
	uint64_t time;
	uint8_t pad[40];	/* makes 72 bytes: wraps at varying offsets */
};

static void collect(const struct perf_event_header *hdr, const void *rec, void *arg)
{
	struct seen *s = arg;

	if (hdr->type == PERF_RECORD_SAMPLE) {
		struct perf_sample ps;

		assert_int_equal(perf_sample_parse(rec, hdr->size,
						   PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME,
						   0, &ps), 0);
		assert_int_equal(ps.ip, 0x400000 + ps.time);
		assert_int_equal(ps.tid, 77);
		if (ps.time != s->last_time + 1)
			s->order_ok = 0;
		s->last_time = ps.time;
		s->samples++;
	} else if (hdr->type == PERF_RECORD_LOST) {
		const uint64_t *body = (const uint64_t *)(const void *)(hdr + 1);

		s->lost++;
		s->lost_total += body[1];
	}
}

static void write_sample(struct fake *f, uint64_t t)
{
	struct sample_rec r = { .hdr = { PERF_RECORD_SAMPLE, 0, sizeof(r) },
				.ip = 0x400000 + t, .pid = 77, .tid = 77, .time = t };

	kernel_write(f, &r, sizeof(r));
}

/*
 * Drains the ring into f->seen: afterwards samples have been seen in all,
 * corrupt records counted in all, and the reader has caught up with head.
 */
static void drain_expect(struct fake *f, int samples, uint64_t corrupt)
{
	perf_ring_drain(&f->ring, collect, &f->seen, &f->corrupt);
	assert_int_equal(f->seen.samples, samples);
	assert_int_equal(f->corrupt, corrupt);
	assert_int_equal(f->meta->data_tail, f->meta->data_head);
}

/* Thousands of records through a 1 KiB ring: each comes out once, in order, intact. */
static void test_wraparound(void **state)
{
	struct fake *f = *state;
	uint64_t t = 1;

	for (int round = 0; round < 500; round++) {
		int n = 1 + round % 13;	/* up to 13 * 72 bytes: most of the ring */

		for (int i = 0; i < n; i++)
			write_sample(f, t++);
		drain_expect(f, (int)(t - 1), 0);
	}
	assert_true(f->seen.order_ok);
}

/* LOST records are delivered with their counts. */
static void test_lost(void **state)
{
	struct { struct perf_event_header hdr; uint64_t id, lost; } lost = {
		{ PERF_RECORD_LOST, 0, sizeof(lost) }, 1, 42 };
	struct fake *f = *state;

	write_sample(f, 1);
	kernel_write(f, &lost, sizeof(lost));
	write_sample(f, 2);
	assert_int_equal(perf_ring_drain(&f->ring, collect, &f->seen, NULL), 3);
	assert_int_equal(f->seen.lost, 1);
	assert_int_equal(f->seen.lost_total, 42);
	assert_int_equal(f->seen.samples, 2);
}

/* A header claiming 0 bytes would loop forever; it ends the batch instead. */
static void test_corrupt_header(void **state)
{
	struct perf_event_header bad = { PERF_RECORD_SAMPLE, 0, 0 };
	uint8_t junk[24] = { 0 };
	struct fake *f = *state;

	write_sample(f, 1);
	memcpy(junk, &bad, sizeof(bad));
	kernel_write(f, junk, sizeof(junk));
	drain_expect(f, 1, 1);
	/* The ring goes on working afterwards. */
	write_sample(f, 2);
	drain_expect(f, 2, 1);
}

/*
 * The kernel publishes data_head only at record boundaries, so a record
 * reaching past it is corruption: counted, and nothing past head is read.
 */
static void test_record_beyond_head(void **state)
{
	struct fake *f = *state;

	write_sample(f, 1);
	f->meta->data_head -= 8;
	drain_expect(f, 0, 1);
}

/* Sample parsing with registers and a stack, and truncated records. */
static void test_parse_full_sample(void **state)
{
	uint64_t buf[64] = { 0 };
	struct perf_event_header *hdr = (void *)buf;
	uint64_t type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME |
			PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
	uint64_t mask = 0x7;	/* three registers */
	struct perf_sample s;
	size_t i = 1;

	(void)state;
	buf[i++] = 0x1234;			/* ip */
	buf[i++] = (uint64_t)9 << 32 | 8;	/* pid 8, tid 9 */
	buf[i++] = 555;				/* time */
	buf[i++] = 2;				/* callchain nr */
	buf[i++] = (uint64_t)-512;
	buf[i++] = 0x1234;
	buf[i++] = 2;				/* regs abi 64 */
	buf[i++] = 10;
	buf[i++] = 11;
	buf[i++] = 12;
	buf[i++] = 16;				/* stack size */
	buf[i++] = 0xaaaa;
	buf[i++] = 0xbbbb;
	buf[i++] = 8;				/* dyn size */
	hdr->type = PERF_RECORD_SAMPLE;
	hdr->misc = PERF_RECORD_MISC_USER;
	hdr->size = (uint16_t)(i * 8);
	assert_int_equal(perf_sample_parse(buf, hdr->size, type, mask, &s), 0);
	assert_int_equal(s.ip, 0x1234);
	assert_int_equal(s.pid, 8);
	assert_int_equal(s.tid, 9);
	assert_int_equal(s.time, 555);
	assert_int_equal(s.callchain_nr, 2);
	assert_int_equal(s.regs[2], 12);
	assert_int_equal(s.stack_size, 8);
	assert_int_equal(((const uint64_t *)(const void *)s.stack)[0], 0xaaaa);
	assert_true(s.user);
	/* Every shorter length is malformed, and detected. */
	for (size_t len = 8; len < hdr->size; len += 8)
		assert_int_equal(perf_sample_parse(buf, len, type, mask, &s), -1);
	/* A callchain count larger than the record. */
	buf[4] = 1000;
	assert_int_equal(perf_sample_parse(buf, hdr->size, type, mask, &s), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_wraparound, fake_new, fake_free),
		cmocka_unit_test_setup_teardown(test_lost, fake_new, fake_free),
		cmocka_unit_test_setup_teardown(test_corrupt_header, fake_new, fake_free),
		cmocka_unit_test_setup_teardown(test_record_beyond_head, fake_new, fake_free),
		cmocka_unit_test(test_parse_full_sample),
	};

	return cmocka_run_group_tests_name("perf_ring", tests, NULL, NULL);
}
