/* The daemon's command line: defaults, every option, and every usage error. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "options.h"

static int parse(struct options *o, struct error *err, int argc, const char **argv)
{
	return options_parse(argc, (char **)argv, o, err);
}

#define PARSE(o, err, ...) \
	parse(o, err, (int)(sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(char *)), \
	      (const char *[]){ __VA_ARGS__ })

static void test_defaults(void **state)
{
	struct options o;
	struct error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "sampled", "attach", "42"), 0);
	assert_int_equal(o.command, OPTIONS_ATTACH);
	assert_int_equal(o.pid, 42);
	assert_int_equal(o.rate_hz, 99);
	assert_null(o.socket_path);
	assert_false(o.foreground);
	assert_int_equal(o.buffer_bytes, 0);
	assert_int_equal(o.stack_bytes, 32768);
}

static void test_all_options(void **state)
{
	struct options o;
	struct error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "sampled", "attach", "--rate", "999", "--socket", "/tmp/x.sock",
			       "-f", "--log", "/tmp/l", "--log-level", "debug", "--buffer-size",
			       "64", "--stack-size", "65528", "7"), 0);
	assert_int_equal(o.stack_bytes, 65528);
	assert_int_equal(o.rate_hz, 999);
	assert_string_equal(o.socket_path, "/tmp/x.sock");
	assert_true(o.foreground);
	assert_string_equal(o.log_path, "/tmp/l");
	assert_int_equal(o.log_level, LOG_DEBUG);
	assert_int_equal(o.buffer_bytes, 64 << 10);
	assert_int_equal(o.pid, 7);
	assert_int_equal(PARSE(&o, &err, "sampled", "attach", "-r", "5", "-s", "/x", "8"), 0);
	assert_int_equal(o.rate_hz, 5);
}

static void expect_usage_error(struct options *o, int rc, struct error *err, const char *needle)
{
	(void)o;
	assert_int_equal(rc, -1);
	assert_non_null(strstr(err->msg, needle));
}

static void test_errors(void **state)
{
	struct options o;
	struct error err;

	(void)state;
	expect_usage_error(&o, PARSE(&o, &err, "sampled"), &err, "no command");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "frobnicate"), &err, "unknown command");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach"), &err, "needs the PID");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "12abc"), &err, "invalid pid");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "0"), &err, "invalid pid");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "-5"), &err, "unknown option");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "99999999999"), &err,
			   "invalid pid");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "1", "2"), &err, "unexpected");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--rate", "0", "1"), &err,
			   "invalid rate");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--rate", "10001", "1"), &err,
			   "invalid rate");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--rate", "9x", "1"), &err,
			   "invalid rate");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--rate"), &err, "needs a value");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--buffer-size", "100", "1"),
			   &err, "power of two");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--stack-size", "65536", "1"),
			   &err, "invalid stack size");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--stack-size", "100", "1"),
			   &err, "multiple of 8");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--log-level", "loud", "1"),
			   &err, "invalid log level");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--bogus", "1"), &err,
			   "unknown option");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--socket", "", "1"), &err,
			   "empty socket");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "help", "nothing"), &err, "no help");
}

static void test_help_and_version(void **state)
{
	struct options o;
	struct error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "sampled", "--help"), 0);
	assert_int_equal(o.command, OPTIONS_HELP);
	assert_null(o.help_topic);
	assert_int_equal(PARSE(&o, &err, "sampled", "attach", "--help"), 0);
	assert_int_equal(o.command, OPTIONS_HELP);
	assert_string_equal(o.help_topic, "attach");
	assert_int_equal(PARSE(&o, &err, "sampled", "help", "attach"), 0);
	assert_string_equal(o.help_topic, "attach");
	assert_non_null(strstr(options_usage("attach"), "--rate HZ"));
	assert_non_null(strstr(options_usage(NULL), "attach PID"));
	assert_int_equal(PARSE(&o, &err, "sampled", "-V"), 0);
	assert_int_equal(o.command, OPTIONS_VERSION);
}

/* The nanoseconds of --duration s, failing the test on an error. */
static uint64_t duration(const char *s)
{
	struct options o;
	struct error err;

	error_clear(&err);
	assert_int_equal(PARSE(&o, &err, "sampled", "attach", "--duration", s, "42"), 0);
	return o.duration_ns;
}

/* A --duration that must be refused, with a message naming the option. */
static void bad_duration(const char *s)
{
	struct options o;
	struct error err;

	error_clear(&err);
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--duration", s, "42"), &err,
			   "invalid --duration");
}

/*
 * --duration and --window-bucket take durations as duration_parse reads
 * them (test_duration.c has the syntax), within their own bounds.
 */
static void test_durations(void **state)
{
	static const struct {
		const char *value, *message;
	} bad_buckets[] = {
		{ "50ms", "invalid --window-bucket '50ms': expected a duration from 100ms to 1h," },
		{ "2h", "from 100ms to 1h," },
		{ "5x", "invalid --window-bucket '5x'" },
	};
	struct options o;
	struct error err;

	(void)state;
	assert_int_equal(duration("500ms"), 500000000ull);
	assert_int_equal(duration("30"), 30000000000ull);
	assert_int_equal(duration("1.5s"), 1500000000ull);
	assert_int_equal(duration("1ms"), 1000000ull);
	assert_int_equal(duration("2d"), 2 * 86400 * 1000000000ull);
	assert_int_equal(duration("168h"), OPTIONS_MAX_DURATION_NS);
	assert_int_equal(duration("7d"), OPTIONS_MAX_DURATION_NS);
	bad_duration("");
	bad_duration("0s");
	bad_duration("0.5ms");
	bad_duration("10S");
	bad_duration("169h");
	bad_duration("8d");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--duration", "8d", "42"), &err,
			   "from 1ms to 7d");

	assert_int_equal(PARSE(&o, &err, "sampled", "attach", "--window-bucket", "250ms", "42"), 0);
	assert_int_equal(o.window_bucket_ns, 250000000ull);
	assert_int_equal(PARSE(&o, &err, "sampled", "attach", "--window-bucket", "1h", "42"), 0);
	assert_int_equal(o.window_bucket_ns, OPTIONS_MAX_WINDOW_BUCKET_NS);
	for (size_t i = 0; i < sizeof(bad_buckets) / sizeof(bad_buckets[0]); i++) {
		assert_int_equal(PARSE(&o, &err, "sampled", "attach", "--window-bucket",
				       bad_buckets[i].value, "42"), -1);
		assert_non_null(strstr(err.msg, bad_buckets[i].message));
	}
}

static void test_oneshot(void **state)
{
	struct options o;
	struct error err;

	(void)state;
	assert_int_equal(PARSE(&o, &err, "sampled", "attach", "--duration", "2s", "-o", "x.folded",
			       "42"), 0);
	assert_int_equal(o.command, OPTIONS_ATTACH);
	assert_int_equal(o.duration_ns, 2000000000ull);
	assert_string_equal(o.output, "x.folded");
	assert_true(options_oneshot(&o));
	assert_true(o.foreground);
	assert_int_equal(o.log_level, LOG_WARN);
	assert_int_equal(PARSE(&o, &err, "sampled", "attach", "-d", "500ms", "--log-level", "debug",
			       "42"), 0);
	assert_int_equal(o.log_level, LOG_DEBUG);
	assert_null(o.output);
	assert_int_equal(PARSE(&o, &err, "sampled", "attach", "42"), 0);
	assert_false(options_oneshot(&o));
	assert_int_equal(o.log_level, LOG_INFO);

	assert_int_equal(PARSE(&o, &err, "sampled", "record", "--rate", "199", "-o", "P.HTML", "--",
			       "python3", "-c", "pass"), 0);
	assert_int_equal(o.command, OPTIONS_RECORD);
	assert_true(options_oneshot(&o));
	assert_true(o.foreground);
	assert_int_equal(o.rate_hz, 199);
	assert_string_equal(o.run_argv[0], "python3");
	assert_string_equal(o.run_argv[1], "-c");
	assert_string_equal(o.run_argv[2], "pass");
	{
		/* The command is main's argv from the operand on, NULL-terminated with it. */
		const char *argv[] = { "sampled", "record", "true", NULL };

		assert_int_equal(options_parse(3, (char **)argv, &o, &err), 0);
		assert_ptr_equal(o.run_argv, &argv[2]);
		assert_null(o.run_argv[1]);
	}
	/* Without "--" the command starts at the first operand; its own options stay its own. */
	assert_int_equal(PARSE(&o, &err, "sampled", "record", "ls", "-l", "--rate", "5"), 0);
	assert_int_equal(o.rate_hz, 99);
	assert_string_equal(o.run_argv[0], "ls");
	assert_string_equal(o.run_argv[2], "--rate");
	for (size_t i = 0; i < 9; i++) {
		static const char *const names[] = { "a.html", "a.svg", "a.txt", "a.json", "a.pb.gz",
						     "a.pprof", "a.folded", "a.collapsed",
						     "a.sprof" };

		assert_int_equal(PARSE(&o, &err, "sampled", "record", "-o", names[i], "true"), 0);
	}
	assert_int_equal(PARSE(&o, &err, "sampled", "record", "--help"), 0);
	assert_int_equal(o.command, OPTIONS_HELP);
	assert_string_equal(o.help_topic, "record");
	assert_int_equal(PARSE(&o, &err, "sampled", "help", "record"), 0);
	assert_non_null(strstr(options_usage("record"), "COMMAND"));
	assert_non_null(strstr(options_usage("attach"), "--duration"));

	expect_usage_error(&o, PARSE(&o, &err, "sampled", "record"), &err, "needs a command");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "record", "--"), &err, "needs a command");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "record", "-d", "1s", "true"), &err,
			   "--duration is for attach");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "record", "-o", "a.png", "true"), &err,
			   "cannot tell the format");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "record", "-o", ".html", "true"), &err,
			   "cannot tell the format");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "record", "-o", "", "true"), &err,
			   "empty output");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "-o", "a.html", "42"), &err,
			   "-o needs --duration");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--duration", "soon", "42"),
			   &err, "invalid --duration");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "--duration"), &err,
			   "needs a value");
	expect_usage_error(&o, PARSE(&o, &err, "sampled", "attach", "-d", "1s"), &err,
			   "needs the PID");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_oneshot),
	};

	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
