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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_options),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_help_and_version),
	};

	return cmocka_run_group_tests_name("options", tests, NULL, NULL);
}
