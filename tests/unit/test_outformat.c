/* The one table of output file endings that sampled's -o and samplectl export share. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "outformat.h"

/* Every ending README lists, the format it names, and the samplectl command that writes it. */
static void test_readme_endings(void **state)
{
	static const struct {
		const char *name;
		enum outformat format;
		const char *command;	/* the samplectl args, space-separated */
	} cases[] = {
		{ "p.html", OUTFORMAT_HTML, "tree --html" },
		{ "p.svg", OUTFORMAT_FLAME, "flame" },
		{ "p.txt", OUTFORMAT_TEXT, "tree --no-color" },
		{ "p.json", OUTFORMAT_SPEEDSCOPE, "export --format speedscope" },
		{ "p.speedscope.json", OUTFORMAT_SPEEDSCOPE, "export --format speedscope" },
		{ "p.pb.gz", OUTFORMAT_PPROF, "export --format pprof" },
		{ "p.pprof", OUTFORMAT_PPROF, "export --format pprof" },
		{ "p.folded", OUTFORMAT_COLLAPSED, "export --format collapsed" },
		{ "p.collapsed", OUTFORMAT_COLLAPSED, "export --format collapsed" },
		{ "dir.d/p.sprof", OUTFORMAT_SAVED, "save" },
		/* Endings compare case aside, in both programs. */
		{ "P.HTML", OUTFORMAT_HTML, "tree --html" },
		{ "p.Svg", OUTFORMAT_FLAME, "flame" },
		{ "P.TXT", OUTFORMAT_TEXT, "tree --no-color" },
		{ "p.JSON", OUTFORMAT_SPEEDSCOPE, "export --format speedscope" },
		{ "p.PB.GZ", OUTFORMAT_PPROF, "export --format pprof" },
		{ "p.Folded", OUTFORMAT_COLLAPSED, "export --format collapsed" },
		{ "p.SPROF", OUTFORMAT_SAVED, "save" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *const *args;
		char joined[128] = "";
		enum outformat f;
		struct error err;

		assert_int_equal(outformat_of(cases[i].name), cases[i].format);
		assert_int_equal(outformat_from_name(cases[i].name, &f, &err), 0);
		assert_int_equal(f, cases[i].format);
		args = outformat_samplectl_args(f);
		assert_non_null(args);
		for (size_t j = 0; args[j] != NULL; j++) {
			if (j > 0)
				strcat(joined, " ");
			strcat(joined, args[j]);
		}
		assert_string_equal(joined, cases[i].command);
		assert_true(strlen(outformat_describe(f)) > 0);
	}
}

/* No ending, an unknown one, an ending with nothing before it, or an unknown name: no format. */
static void test_unknown(void **state)
{
	static const char *const names[] = {
		"p", "p.png", "p.gz", "p.html.bak", ".html", ".pb.gz", "html", "p.htm", "",
	};
	enum outformat f = OUTFORMAT_HTML;
	struct error err;

	(void)state;
	/* export -f takes format names exactly as spelt. */
	assert_int_equal(outformat_named("collapsed"), OUTFORMAT_COLLAPSED);
	assert_int_equal(outformat_named("speedscope"), OUTFORMAT_SPEEDSCOPE);
	assert_int_equal(outformat_named("pprof"), OUTFORMAT_PPROF);
	assert_int_equal(outformat_named("html"), OUTFORMAT_HTML);
	assert_int_equal(outformat_named("Pprof"), OUTFORMAT_UNKNOWN);
	assert_int_equal(outformat_named("nope"), OUTFORMAT_UNKNOWN);
	assert_int_equal(outformat_named(NULL), OUTFORMAT_UNKNOWN);
	assert_int_equal(outformat_of(NULL), OUTFORMAT_UNKNOWN);
	assert_null(outformat_samplectl_args(OUTFORMAT_UNKNOWN));
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		assert_int_equal(outformat_of(names[i]), OUTFORMAT_UNKNOWN);
		assert_int_equal(outformat_from_name(names[i], &f, &err), -1);
		assert_int_equal(f, OUTFORMAT_UNKNOWN);
	}
	outformat_from_name("x.png", &f, &err);
	assert_string_equal(err.msg, "cannot tell the format of 'x.png' from its name: use .html, "
			    ".svg, .txt, .json, .pb.gz, .pprof, .folded, .collapsed or .sprof");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_readme_endings),
		cmocka_unit_test(test_unknown),
	};

	return cmocka_run_group_tests_name("outformat", tests, NULL, NULL);
}
