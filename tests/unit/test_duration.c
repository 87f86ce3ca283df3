/* Durations as sampled and samplectl take them: one parser, one message (common/duration.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "duration.h"

#define MS 1000000ull
#define SEC 1000000000ull

/* The nanoseconds of s within the widest bounds, failing the test on an error. */
static uint64_t parse(const char *s)
{
	struct error err;
	uint64_t ns = 0;

	error_clear(&err);
	if (duration_parse(s, "--last", DURATION_MIN_NS, DURATION_MAX_NS, &ns, &err) != 0)
		fail_msg("'%s' was refused: %s", s, err.msg);
	return ns;
}

/* Every unit, fractions, and a bare number as seconds. */
static void test_units(void **state)
{
	(void)state;
	assert_int_equal(parse("500ms"), 500 * MS);
	assert_int_equal(parse("1ms"), MS);
	assert_int_equal(parse("30s"), 30 * SEC);
	assert_int_equal(parse("30"), 30 * SEC);
	assert_int_equal(parse("1.5s"), 1500 * MS);
	assert_int_equal(parse("0.25m"), 15 * SEC);
	assert_int_equal(parse("5m"), 300 * SEC);
	assert_int_equal(parse("1h"), 3600 * SEC);
	assert_int_equal(parse("1.5h"), 5400 * SEC);
	assert_int_equal(parse("2d"), 2 * 86400 * SEC);
	assert_int_equal(parse(".5s"), 500 * MS);
	assert_int_equal(parse("10000d"), DURATION_MAX_NS);
}

/* Everything else is refused with one message naming the option, the value and the bounds. */
static void test_refused(void **state)
{
	static const char *const bad[] = {
		"", "s", "ms", ".", "0", "0s", "0.5ms", "-1s", "+1s", "1.2.3s", "1..2s", "1e3s",
		"10 s", " 10s", "10s ", "10sec", "10S", "10MS", "5w", "1y", "inf", "nan", "0x10",
		"10001d", "100000d",
	};
	struct error err;
	uint64_t ns;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ns = 12345;
		error_clear(&err);
		if (duration_parse(bad[i], "--last", DURATION_MIN_NS, DURATION_MAX_NS, &ns, &err) != -1)
			fail_msg("'%s' was taken", bad[i]);
		assert_int_equal(ns, 12345);
		assert_non_null(strstr(err.msg, "invalid --last '"));
		assert_non_null(strstr(err.msg, bad[i]));
	}
	duration_parse("5w", "--last", DURATION_MIN_NS, DURATION_MAX_NS, &ns, &err);
	assert_string_equal(err.msg, "invalid --last '5w': expected a duration from 1ms to 10000d, "
			    "a number and a unit, ms, s, m, h or d (500ms, 30s, 1.5h)");
}

/* Each caller's bounds hold, and the message states them in the largest whole unit. */
static void test_bounds(void **state)
{
	struct error err;
	uint64_t ns = 0;

	(void)state;
	assert_int_equal(duration_parse("100ms", "--window-bucket", 100 * MS, 3600 * SEC, &ns,
					&err), 0);
	assert_int_equal(ns, 100 * MS);
	assert_int_equal(duration_parse("1h", "--window-bucket", 100 * MS, 3600 * SEC, &ns, &err),
			 0);
	assert_int_equal(ns, 3600 * SEC);
	assert_int_equal(duration_parse("99ms", "--window-bucket", 100 * MS, 3600 * SEC, &ns, &err),
			 -1);
	assert_non_null(strstr(err.msg, "invalid --window-bucket '99ms': expected a duration from "
				   "100ms to 1h,"));
	assert_int_equal(duration_parse("3601s", "--window-bucket", 100 * MS, 3600 * SEC, &ns,
					&err), -1);
	assert_int_equal(duration_parse("8d", "--duration", MS, 7 * 86400 * SEC, &ns, &err), -1);
	assert_non_null(strstr(err.msg, "from 1ms to 7d,"));
	assert_int_equal(duration_parse("90s", "--x", 1500 * MS, 90 * SEC, &ns, &err), 0);
	assert_int_equal(duration_parse("1s", "--x", 1500 * MS, 90 * SEC, &ns, &err), -1);
	assert_non_null(strstr(err.msg, "from 1500ms to 90s,"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests_name("duration", tests, NULL, NULL);
}
