#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "allocs.h"
#include "cli/fetch.h"
#include "mem.h"
#include "options.h"
#include "profile/window.h"
#include "stopwatch.h"

#define SEC 1000000000ull
/* The samples' clock in these tests starts well after 0, as CLOCK_MONOTONIC does. */
#define T0 (5000 * SEC)

/* Sums a range into a fresh array of n counts (freed by the caller). */
static uint64_t *sum(const struct window *w, uint64_t from, uint64_t to, size_t n,
		     struct window_span *span)
{
	uint64_t *counts = mem_calloc(n, sizeof(*counts));

	window_sum(w, from, to, counts, n, span);
	return counts;
}

/* Counts land per node, per bucket; a range takes the buckets it overlaps, whole. */
static void test_buckets_and_ranges(void **state)
{
	struct window *w = window_new(SEC, 1 << 20);
	struct window_span span;
	struct window_stats st;
	uint64_t *c;

	(void)state;
	window_add(w, T0 + SEC / 2, 3, 1);
	window_add(w, T0 + SEC / 2 + 1, 3, 2);
	window_add(w, T0 + SEC / 2 + 2, 7, 1);
	window_add(w, T0 + SEC + 10, 7, 5);		/* bucket 1 */
	window_add(w, T0 + 2 * SEC + SEC - 1, 9, 4);	/* bucket 2, its last ns */
	window_stats(w, &st);
	assert_int_equal(st.buckets, 3);
	assert_int_equal(st.bucket_ns, SEC);
	assert_int_equal(st.oldest_ns, T0);
	assert_int_equal(st.newest_end_ns, T0 + 3 * SEC);
	assert_int_equal(st.dropped_buckets, 0);
	assert_int_equal(st.dropped_samples, 0);
	assert_true(st.memory_bytes > 0 && st.memory_bytes <= st.memory_cap);

	/* Everything. */
	c = sum(w, 0, UINT64_MAX, 10, &span);
	assert_int_equal(c[3], 3);
	assert_int_equal(c[7], 6);
	assert_int_equal(c[9], 4);
	assert_int_equal(span.buckets, 3);
	assert_int_equal(span.samples, 13);
	assert_int_equal(span.start_ns, T0);
	assert_int_equal(span.end_ns, T0 + 3 * SEC);
	free(c);
	/* Exactly bucket 1. */
	c = sum(w, T0 + SEC, T0 + 2 * SEC, 10, &span);
	assert_int_equal(c[3], 0);
	assert_int_equal(c[7], 5);
	assert_int_equal(c[9], 0);
	assert_int_equal(span.buckets, 1);
	assert_int_equal(span.start_ns, T0 + SEC);
	assert_int_equal(span.end_ns, T0 + 2 * SEC);
	free(c);
	/* Half of bucket 0 and a nanosecond of bucket 1: both, whole. */
	c = sum(w, T0 + SEC / 2, T0 + SEC + 1, 10, &span);
	assert_int_equal(c[3], 3);
	assert_int_equal(c[7], 6);
	assert_int_equal(c[9], 0);
	assert_int_equal(span.buckets, 2);
	assert_int_equal(span.start_ns, T0);
	assert_int_equal(span.end_ns, T0 + 2 * SEC);
	free(c);
	/* Before, after, and between the ends of buckets: nothing. */
	c = sum(w, 0, T0, 10, &span);
	assert_int_equal(span.buckets, 0);
	assert_int_equal(span.start_ns, 0);
	assert_int_equal(c[3] + c[7] + c[9], 0);
	free(c);
	c = sum(w, T0 + 3 * SEC, UINT64_MAX, 10, &span);
	assert_int_equal(span.buckets, 0);
	free(c);
	/* Nodes past the array are skipped, not written. */
	c = sum(w, 0, UINT64_MAX, 8, &span);
	assert_int_equal(c[7], 6);
	assert_int_equal(span.samples, 13);
	free(c);
	window_free(w);
	window_free(NULL);
}

/* Idle stretches make no buckets; late samples go where window.h says. */
static void test_gaps_and_late_samples(void **state)
{
	struct window *w = window_new(SEC, 1 << 20);
	struct window_span span;
	struct window_stats st;
	uint64_t *c;

	(void)state;
	window_add(w, T0 + 10 * SEC + 5, 1, 1);		/* bucket 10 */
	window_add(w, T0 + 20 * SEC + 5, 2, 1);		/* bucket 20: nothing between */
	window_stats(w, &st);
	assert_int_equal(st.buckets, 2);
	/* A late sample of bucket 10, which exists. */
	window_add(w, T0 + 10 * SEC + 900, 3, 1);
	/* A late sample of bucket 15, which does not: it counts in the next one, 20. */
	window_add(w, T0 + 15 * SEC, 4, 1);
	/* Older than every bucket, with nothing ever dropped: the oldest takes it. */
	window_add(w, T0 + 2 * SEC, 5, 1);
	window_stats(w, &st);
	assert_int_equal(st.buckets, 2);
	assert_int_equal(st.dropped_samples, 0);
	c = sum(w, T0 + 10 * SEC, T0 + 11 * SEC, 6, &span);
	assert_int_equal(c[1], 1);
	assert_int_equal(c[3], 1);
	assert_int_equal(c[5], 1);
	assert_int_equal(c[4], 0);
	free(c);
	c = sum(w, T0 + 12 * SEC, T0 + 30 * SEC, 6, &span);
	assert_int_equal(span.buckets, 1);
	assert_int_equal(span.start_ns, T0 + 20 * SEC);
	assert_int_equal(c[2], 1);
	assert_int_equal(c[4], 1);
	free(c);
	window_reset(w);
	window_stats(w, &st);
	assert_int_equal(st.buckets, 0);
	assert_int_equal(st.oldest_ns, 0);
	assert_int_equal(st.newest_end_ns, 0);
	c = sum(w, 0, UINT64_MAX, 6, &span);
	assert_int_equal(span.buckets, 0);
	assert_int_equal(span.samples, 0);
	free(c);
	/* Usable again after the reset, from any time. */
	window_add(w, T0, 1, 2);
	c = sum(w, 0, UINT64_MAX, 6, &span);
	assert_int_equal(c[1], 2);
	free(c);
	window_free(w);
}

/* A bucket's table grows as nodes come, and keeps every count. */
static void test_growth_keeps_counts(void **state)
{
	struct window *w = window_new(SEC, 64 << 20);
	struct window_span span;
	uint64_t *c, total = 0;
	uint32_t i;

	(void)state;
	/* Ids spaced by a stack's depth, as leaves often are. */
	for (i = 0; i < 20000; i++)
		window_add(w, T0 + i, i * 37, 1 + i % 5);
	for (i = 0; i < 20000; i += 3)
		window_add(w, T0 + SEC / 2, i * 37, 10);
	c = sum(w, 0, UINT64_MAX, 20000 * 37, &span);
	for (i = 0; i < 20000; i++) {
		uint64_t want = 1 + i % 5 + (i % 3 == 0 ? 10 : 0);

		if (c[i * 37] != want)
			fail_msg("node %u: %llu, expected %llu", i * 37,
				 (unsigned long long)c[i * 37], (unsigned long long)want);
		total += want;
	}
	assert_int_equal(span.samples, total);
	assert_int_equal(span.buckets, 1);
	free(c);
	window_free(w);
}

/*
 * The cap holds at every moment: with far more distinct nodes than fit,
 * the oldest buckets go, and every sample is either still summed or
 * counted as dropped.  A bucket that alone outgrows the cap stops taking
 * new nodes but goes on counting the ones it has.
 */
static void test_memory_cap(void **state)
{
	const size_t cap = 64 << 10;
	struct window *w = window_new(SEC / 10, cap);
	struct window_span span;
	struct window_stats st;
	uint64_t added = 0, *c;
	uint32_t i, node;

	(void)state;
	for (i = 0; i < 200000; i++) {
		node = (i * 2654435761u) % 1000;
		window_add(w, T0 + (uint64_t)i * 10000, node, 1);	/* 10 us apart: 2 s */
		added++;
		window_stats(w, &st);
		if (st.memory_bytes > cap)
			fail_msg("%zu bytes used, over the cap of %zu", st.memory_bytes, cap);
	}
	window_stats(w, &st);
	assert_int_equal(st.memory_cap, cap);
	assert_true(st.dropped_buckets > 0);
	assert_true(st.buckets > 1);
	c = sum(w, 0, UINT64_MAX, 2000, &span);
	assert_int_equal(span.samples + st.dropped_samples, added);
	assert_int_equal(span.buckets, st.buckets);
	/* The buckets kept are the newest. */
	assert_int_equal(st.newest_end_ns, T0 + 2 * SEC);
	assert_int_equal(span.start_ns, st.oldest_ns);
	free(c);
	/* A sample older than every bucket kept, now that some were dropped: dropped too. */
	window_add(w, T0, 1, 1);
	window_stats(w, &st);
	c = sum(w, 0, UINT64_MAX, 2000, &span);
	assert_int_equal(span.samples + st.dropped_samples, added + 1);
	free(c);
	window_free(w);

	/* One long bucket with more nodes than the cap holds. */
	w = window_new(3600 * SEC, WINDOW_MIN_MEMORY);
	for (i = 0; i < 10000; i++)
		window_add(w, T0 + i, i, 1);
	window_stats(w, &st);
	assert_true(st.memory_bytes <= WINDOW_MIN_MEMORY);
	assert_int_equal(st.buckets, 1);
	assert_int_equal(st.dropped_buckets, 0);
	assert_true(st.dropped_samples > 0);
	window_add(w, T0 + 20000, 0, 7);	/* node 0 is in: still counted */
	c = sum(w, 0, UINT64_MAX, 10000, &span);
	assert_int_equal(c[0], 8);
	assert_int_equal(span.samples + st.dropped_samples, 10000 + 7);
	free(c);
	window_free(w);

	/* Caps below the least that works are raised to it. */
	w = window_new(SEC, 1);
	window_stats(w, &st);
	assert_int_equal(st.memory_cap, WINDOW_MIN_MEMORY);
	window_free(w);
}

/*
 * The hot path allocates nothing in steady state: a profile that touches
 * the same nodes every bucket gets each new bucket sized for them at
 * once, so after the first bucket only the one allocation per bucket is
 * made, and none per sample.
 */
static void test_steady_state(void **state)
{
	struct window *w = window_new(SEC, 64 << 20);
	struct window_stats st;
	size_t heap, before, after;
	uint32_t i, b;

	(void)state;
	for (i = 0; i < 5000; i++)
		window_add(w, T0 + i, i % 700, 1);
	window_stats(w, &st);
	before = st.memory_bytes;
	/* The next bucket's first sample makes it, with the room it will need. */
	window_add(w, T0 + SEC, 0, 1);
	window_stats(w, &st);
	after = st.memory_bytes;
	assert_true(after > before);
	heap = allocs_activity();
	for (i = 0; i < 5000; i++)
		window_add(w, T0 + SEC + 1 + i, i % 700, 1);
	assert_int_equal(allocs_activity(), heap);
	window_stats(w, &st);
	assert_int_equal(st.memory_bytes, after);
	/* Bucket after bucket: one table each, the size of the one before, never grown. */
	for (b = 2; b < 6; b++) {
		for (i = 0; i < 5000; i++)
			window_add(w, T0 + b * SEC + i, i % 700, 1);
	}
	window_stats(w, &st);
	assert_int_equal(st.buckets, 6);
	assert_int_equal(st.memory_bytes, after + 4 * (after - before));
	window_free(w);
}

/*
 * What the hot path costs: samples 100 us apart (10 kHz) in 10 s buckets,
 * each ending at one of 4096 leaves spread over a 200000-node tree, the
 * way a busy target's are; then what summing an hour of such buckets
 * costs a query.  Printed, for BENCHMARKS.md; the bound is loose.
 */
static void test_timing(void **state)
{
	struct window *w = window_new(10 * SEC, 256 << 20);
	uint32_t *leaves = mem_calloc(4096, sizeof(*leaves));
	uint64_t x = 0x9e3779b97f4a7c15ull, *c;
	struct window_span span;
	struct window_stats st;
	size_t i, rounds = 4000000;
	double t0, add_ns, sum_ms;

	(void)state;
	for (i = 0; i < 4096; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		leaves[i] = (uint32_t)(x % 200000);
	}
	t0 = stopwatch_sec();
	for (i = 0; i < rounds; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		window_add(w, T0 + i * 100000, leaves[x & 4095], 1);
	}
	add_ns = (stopwatch_sec() - t0) * 1e9 / (double)rounds;
	window_stats(w, &st);
	assert_int_equal(st.buckets, 40);
	t0 = stopwatch_sec();
	c = sum(w, 0, UINT64_MAX, 200000, &span);
	sum_ms = (stopwatch_sec() - t0) * 1e3;
	assert_int_equal(span.samples, rounds);
	print_message("window_add, 4096 leaves, 10 s buckets: %.1f ns a sample; %zu bytes a "
		      "bucket\n", add_ns, st.memory_bytes / st.buckets);
	print_message("window_sum, %zu buckets: %.2f ms (%.3f ms a bucket)\n", st.buckets, sum_ms,
		      sum_ms / (double)st.buckets);
	assert_true(add_ns < 2000);
	free(c);
	free(leaves);
	window_free(w);
}

/* Parses an attach command line given as words. */
static int parse_attach(struct options *o, struct error *err, const char *a, const char *b)
{
	char *argv[] = { (char *)"sampled", (char *)"attach", (char *)a, (char *)b,
			 (char *)"42", NULL };

	return options_parse(5, argv, o, err);
}

/* The daemon's options: defaults, sizes with units, and the bounds. */
static void test_options(void **state)
{
	char *plain[] = { (char *)"sampled", (char *)"attach", (char *)"42", NULL };
	struct options o;
	struct error err;
	size_t bytes;

	(void)state;
	assert_int_equal(options_parse(3, plain, &o, &err), 0);
	assert_int_equal(o.window_bucket_ns, 10 * SEC);
	assert_int_equal(o.window_memory, (size_t)64 << 20);
	assert_int_equal(parse_attach(&o, &err, "--window-bucket", "1s"), 0);
	assert_int_equal(o.window_bucket_ns, SEC);
	assert_int_equal(parse_attach(&o, &err, "--window-bucket", "100ms"), 0);
	assert_int_equal(o.window_bucket_ns, SEC / 10);
	assert_int_equal(parse_attach(&o, &err, "--window-bucket", "1h"), 0);
	assert_int_equal(parse_attach(&o, &err, "--window-bucket", "50ms"), -1);
	assert_non_null(strstr(err.msg, "--window-bucket"));
	assert_int_equal(parse_attach(&o, &err, "--window-bucket", "2h"), -1);
	assert_int_equal(parse_attach(&o, &err, "--window-bucket", "soon"), -1);
	assert_int_equal(parse_attach(&o, &err, "--window-memory", "64K"), 0);
	assert_int_equal(o.window_memory, (size_t)64 << 10);
	assert_int_equal(parse_attach(&o, &err, "--window-memory", "0"), 0);
	assert_int_equal(o.window_memory, 0);
	assert_int_equal(parse_attach(&o, &err, "--window-memory", "1G"), 0);
	assert_int_equal(o.window_memory, (size_t)1 << 30);
	assert_int_equal(parse_attach(&o, &err, "--window-memory", "8K"), -1);
	assert_non_null(strstr(err.msg, "--window-memory"));
	assert_int_equal(parse_attach(&o, &err, "--window-memory", "lots"), -1);

	assert_int_equal(options_parse_size("4096", &bytes, &err), 0);
	assert_int_equal(bytes, 4096);
	assert_int_equal(options_parse_size("3MiB", &bytes, &err), 0);
	assert_int_equal(bytes, (size_t)3 << 20);
	assert_int_equal(options_parse_size("2kB", &bytes, &err), 0);
	assert_int_equal(bytes, 2048);
	assert_int_equal(options_parse_size("1024G", &bytes, &err), 0);
	assert_int_equal(options_parse_size("1025G", &bytes, &err), -1);
	assert_int_equal(options_parse_size("-1K", &bytes, &err), -1);
	assert_int_equal(options_parse_size("1.5M", &bytes, &err), -1);
	assert_int_equal(options_parse_size("1T", &bytes, &err), -1);
	assert_int_equal(options_parse_size("", &bytes, &err), -1);
	assert_int_equal(options_parse_size("99999999999999999999999", &bytes, &err), -1);
}

/* Durations, as --last and relative times take them. */
static void test_parse_duration(void **state)
{
	struct error err;
	uint64_t ns;

	(void)state;
	assert_int_equal(fetch_parse_duration("30s", "--last", &ns, &err), 0);
	assert_int_equal(ns, 30 * SEC);
	assert_int_equal(fetch_parse_duration("5m", "--last", &ns, &err), 0);
	assert_int_equal(ns, 300 * SEC);
	assert_int_equal(fetch_parse_duration("1.5h", "--last", &ns, &err), 0);
	assert_int_equal(ns, 5400 * SEC);
	assert_int_equal(fetch_parse_duration("2d", "--last", &ns, &err), 0);
	assert_int_equal(ns, 2 * 86400 * SEC);
	assert_int_equal(fetch_parse_duration("250ms", "--last", &ns, &err), 0);
	assert_int_equal(ns, SEC / 4);
	assert_int_equal(fetch_parse_duration("10", "--last", &ns, &err), 0);
	assert_int_equal(ns, 10 * SEC);
	assert_int_equal(fetch_parse_duration("", "--last", &ns, &err), -1);
	assert_non_null(strstr(err.msg, "--last"));
	assert_int_equal(fetch_parse_duration("-5s", "--last", &ns, &err), -1);
	assert_int_equal(fetch_parse_duration("5 s", "--last", &ns, &err), -1);
	assert_int_equal(fetch_parse_duration("5w", "--last", &ns, &err), -1);
	assert_int_equal(fetch_parse_duration("1..2s", "--last", &ns, &err), -1);
	assert_int_equal(fetch_parse_duration("0s", "--last", &ns, &err), -1);
	assert_int_equal(fetch_parse_duration("100000d", "--last", &ns, &err), -1);
}

/*
 * Times as --since and --until take them, in a fixed zone: clock times
 * are today's, dates in local time unless they carry a zone, and -DURATION
 * counts back from now.
 */
static void test_parse_time(void **state)
{
	/* 2026-11-25 12:34:56.5 UTC */
	const uint64_t now = 1795610096ull * SEC + SEC / 2;
	const uint64_t midnight = 1795564800ull * SEC;	/* 2026-11-25 00:00 UTC */
	struct error err;
	uint64_t t;

	(void)state;
	setenv("TZ", "UTC0", 1);
	tzset();
	assert_int_equal(fetch_parse_time("10:00", "--since", now, &t, &err), 0);
	assert_int_equal(t, midnight + 10 * 3600 * SEC);
	assert_int_equal(fetch_parse_time("10:00:30", "--since", now, &t, &err), 0);
	assert_int_equal(t, midnight + (10 * 3600 + 30) * SEC);
	assert_int_equal(fetch_parse_time("10:00:30.25", "--since", now, &t, &err), 0);
	assert_int_equal(t, midnight + (10 * 3600 + 30) * SEC + SEC / 4);
	assert_int_equal(fetch_parse_time("2026-11-25T10:00:00", "--since", now, &t, &err), 0);
	assert_int_equal(t, midnight + 10 * 3600 * SEC);
	assert_int_equal(fetch_parse_time("2026-11-25 10:00", "--since", now, &t, &err), 0);
	assert_int_equal(t, midnight + 10 * 3600 * SEC);
	assert_int_equal(fetch_parse_time("2026-11-25", "--since", now, &t, &err), 0);
	assert_int_equal(t, midnight);
	assert_int_equal(fetch_parse_time("2026-11-24T23:00:00Z", "--since", now, &t, &err), 0);
	assert_int_equal(t, midnight - 3600 * SEC);
	assert_int_equal(fetch_parse_time("2026-11-25T10:00:00+02:00", "--since", now, &t, &err),
			 0);
	assert_int_equal(t, midnight + 8 * 3600 * SEC);
	assert_int_equal(fetch_parse_time("2026-11-25T10:00:00-0130", "--since", now, &t, &err), 0);
	assert_int_equal(t, midnight + (11 * 3600 + 1800) * SEC);
	assert_int_equal(fetch_parse_time("-5m", "--since", now, &t, &err), 0);
	assert_int_equal(t, now - 300 * SEC);
	assert_int_equal(fetch_parse_time("-30s", "--until", now, &t, &err), 0);
	assert_int_equal(t, now - 30 * SEC);

	/* In another zone, local times move and zoned ones do not. */
	setenv("TZ", "CET-1", 1);
	tzset();
	assert_int_equal(fetch_parse_time("2026-11-25T10:00:00", "--since", now, &t, &err), 0);
	assert_int_equal(t, midnight + 9 * 3600 * SEC);
	assert_int_equal(fetch_parse_time("2026-11-25T10:00:00Z", "--since", now, &t, &err), 0);
	assert_int_equal(t, midnight + 10 * 3600 * SEC);
	setenv("TZ", "UTC0", 1);
	tzset();

	static const char *const bad[] = {
		"", "10", "10:0", "25:00", "10:60", "10:00:61", "10:00:00.", "2026-13-01",
		"2026-11-32", "2026-11-25T", "2026-11-25T10", "2026-11-25X10:00",
		"2026-11-25T10:00+25:00", "2026-11-25T10:00Zulu", "now", "-", "-5x", "1969-12-31",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fetch_parse_time(bad[i], "--since", now, &t, &err) != -1)
			fail_msg("'%s' was taken", bad[i]);
		assert_non_null(strstr(err.msg, "--since"));
	}
	unsetenv("TZ");
	tzset();
}

/* The three options together: what goes with what. */
static void test_parse_range(void **state)
{
	struct fetch_range r;
	struct error err;

	(void)state;
	assert_int_equal(fetch_parse_range(NULL, NULL, NULL, &r, &err), 0);
	assert_int_equal(r.last_ns + r.since_unix_ns + r.until_unix_ns, 0);
	assert_int_equal(fetch_parse_range("30s", NULL, NULL, &r, &err), 0);
	assert_int_equal(r.last_ns, 30 * SEC);
	assert_int_equal(r.since_unix_ns + r.until_unix_ns, 0);
	assert_int_equal(fetch_parse_range(NULL, "-10m", "-5m", &r, &err), 0);
	assert_int_equal(r.until_unix_ns - r.since_unix_ns, 300 * SEC);
	assert_int_equal(r.last_ns, 0);
	assert_int_equal(fetch_parse_range(NULL, "-10m", NULL, &r, &err), 0);
	assert_true(r.since_unix_ns > 0);
	assert_int_equal(r.until_unix_ns, 0);
	assert_int_equal(fetch_parse_range(NULL, NULL, "-1m", &r, &err), 0);
	assert_int_equal(r.since_unix_ns, 0);
	assert_true(r.until_unix_ns > 0);
	assert_int_equal(fetch_parse_range("30s", "-10m", NULL, &r, &err), -1);
	assert_non_null(strstr(err.msg, "cannot go together"));
	assert_int_equal(fetch_parse_range("30s", NULL, "-1m", &r, &err), -1);
	assert_int_equal(fetch_parse_range(NULL, "-5m", "-10m", &r, &err), -1);
	assert_non_null(strstr(err.msg, "not after"));
	assert_int_equal(fetch_parse_range(NULL, "-5m", "-5m", &r, &err), -1);
	assert_int_equal(fetch_parse_range("soon", NULL, NULL, &r, &err), -1);
	assert_non_null(strstr(err.msg, "--last"));
	assert_int_equal(fetch_parse_range(NULL, "noon", NULL, &r, &err), -1);
	assert_non_null(strstr(err.msg, "--since"));
	assert_int_equal(fetch_parse_range(NULL, NULL, "later", &r, &err), -1);
	assert_non_null(strstr(err.msg, "--until"));
}

/* A window's span as the headers show it. */
static void test_window_text(void **state)
{
	Sampled__Tree t = SAMPLED__TREE__INIT;
	Sampled__TreeWindow w = SAMPLED__TREE_WINDOW__INIT;
	char buf[160];
	uint64_t ns;

	(void)state;
	setenv("TZ", "UTC0", 1);
	tzset();
	assert_string_equal(fetch_window_text(buf, sizeof(buf), &t, &ns), "");
	assert_int_equal(ns, 0);
	t.window = &w;
	assert_non_null(strstr(fetch_window_text(buf, sizeof(buf), &t, &ns), "none"));
	assert_int_equal(ns, 0);
	w.buckets = 2;
	w.start_unix_ns = 1795600000ull * SEC + 250000000;	/* 2026-11-25 09:46:40.25 UTC */
	w.end_unix_ns = w.start_unix_ns + 2 * SEC;
	fetch_window_text(buf, sizeof(buf), &t, &ns);
	assert_int_equal(ns, 2 * SEC);
	/* The date is shown unless the span is today's. */
	if (time(NULL) > 1795651200)
		assert_string_equal(buf, "2026-11-25 09:46:40.250 to 2026-11-25 09:46:42.250 "
					 "(2.000 s)");
	else
		assert_string_equal(buf, "09:46:40.250 to 09:46:42.250 (2.000 s)");
	unsetenv("TZ");
	tzset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_and_ranges),
		cmocka_unit_test(test_gaps_and_late_samples),
		cmocka_unit_test(test_growth_keeps_counts),
		cmocka_unit_test(test_memory_cap),
		cmocka_unit_test(test_steady_state),
		cmocka_unit_test(test_timing),
		cmocka_unit_test(test_options),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test(test_parse_range),
		cmocka_unit_test(test_window_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
