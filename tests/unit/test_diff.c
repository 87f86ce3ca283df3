/*
 * Two profiles compared (diff.c) on fixed trees: shares of profiles of
 * different sizes, new and gone functions, a recursive function counted
 * once per stack, the three orders, the limit and the threshold, the
 * table's text and colours, and the differential flame graph's pairing
 * by path, colours and tooltips.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "tree_fixture.h"
#include "view.h"

/* A view of folded stacks (see tree_fixture.h). */
static struct view *view_of(const char *folded)
{
	Sampled__Tree *t = fx_tree(folded, 0, 0);
	struct error err = { 0 };
	struct view *v = view_new(t, &err);

	if (v == NULL)
		fail_msg("view_new: %s", err.msg);
	fx_tree_free(t);
	return v;
}

/* The row of the function called name; fails when there is none. */
static const struct diff_row *row_of(const struct diff *d, const char *name)
{
	for (size_t i = 0; i < diff_count(d); i++) {
		if (strcmp(diff_row_at(d, i)->frame->name, name) == 0)
			return diff_row_at(d, i);
	}
	fail_msg("no row for %s", name);
	return NULL;
}

/* Runs a writer into a string (newly allocated). */
#define CAPTURE(buf, call)                                                    \
	do {                                                                  \
		size_t capture_len;                                           \
		FILE *out = open_memstream(&(buf), &capture_len);             \
		assert_non_null(out);                                         \
		assert_int_equal((call), 0);                                  \
		fclose(out);                                                  \
	} while (0)

static void assert_near(double got, double want)
{
	if (got < want - 1e-9 || got > want + 1e-9)
		fail_msg("got %.12g, want %.12g", got, want);
}

/* Asserts that names[] appear in buf in that order, and absent[] not at all. */
static void assert_rows(const char *buf, const char *const *names, size_t n,
			const char *const *absent, size_t n_absent)
{
	const char *prev = buf;

	for (size_t i = 0; i < n; i++) {
		const char *p = strstr(buf, names[i]);

		if (p == NULL)
			fail_msg("%s is missing from\n%s", names[i], buf);
		if (p < prev)
			fail_msg("%s is out of order in\n%s", names[i], buf);
		prev = p;
	}
	for (size_t i = 0; i < n_absent; i++) {
		if (strstr(buf, absent[i]) != NULL)
			fail_msg("%s should not be in\n%s", absent[i], buf);
	}
}

/* Rows (not header, not footer) in a table. */
static size_t table_rows(const char *buf)
{
	size_t n = 0;

	for (const char *p = strchr(buf, '\n'); p != NULL && p[1] != '\0'; p = strchr(p + 1, '\n'))
		n += p[1] != '(';
	return n;
}

/* ------------------------------------------------------------ the rows */

/* Shares are of each profile's own samples: B has four times A's. */
static void test_shares(void **state)
{
	struct view *a = view_of("main@app;a@app 60\nmain@app;b@app 30\nmain@app;c@app 10\n");
	struct view *b = view_of("main@app;a@app 120\nmain@app;b@app 120\nmain@app;d@lib.so 160\n");
	struct diff *d = diff_new(a, b);
	const struct diff_row *r;

	(void)state;
	assert_int_equal(diff_count(d), 5);
	r = row_of(d, "a");
	assert_int_equal(r->presence, DIFF_BOTH);
	assert_int_equal(r->self[0], 60);
	assert_int_equal(r->self[1], 120);
	assert_near(r->self_pct[0], 60.0);
	assert_near(r->total_pct[1], 30.0);
	assert_near(r->self_change, -30.0);
	assert_near(r->total_change, -30.0);
	r = row_of(d, "b");
	assert_near(r->total_pct[0], 30.0);
	assert_near(r->total_pct[1], 30.0);
	assert_near(r->total_change, 0.0);
	r = row_of(d, "main");
	assert_near(r->total_pct[0], 100.0);
	assert_near(r->self_pct[1], 0.0);
	assert_near(r->total_change, 0.0);
	/* c is gone: A's frame, zeros for B. */
	r = row_of(d, "c");
	assert_int_equal(r->presence, DIFF_GONE);
	assert_string_equal(r->frame->module, "app");
	assert_int_equal(r->total[1], 0);
	assert_near(r->total_change, -10.0);
	/* d is new. */
	r = row_of(d, "d");
	assert_int_equal(r->presence, DIFF_NEW);
	assert_string_equal(r->frame->module, "lib.so");
	assert_int_equal(r->total[0], 0);
	assert_near(r->total_pct[1], 40.0);
	assert_near(r->self_change, 40.0);
	/* By total change, ties by self change, then by name. */
	assert_string_equal(diff_row_at(d, 0)->frame->name, "d");
	assert_string_equal(diff_row_at(d, 1)->frame->name, "a");
	assert_string_equal(diff_row_at(d, 2)->frame->name, "c");
	assert_string_equal(diff_row_at(d, 3)->frame->name, "b");
	assert_string_equal(diff_row_at(d, 4)->frame->name, "main");
	diff_free(d);
	view_free(a);
	view_free(b);
}

/* A function is its name, module and file: the same name elsewhere is another one. */
static void test_identity(void **state)
{
	struct view *a = view_of("main@app@app.c:1;f@app@one.c:5 10\n");
	struct view *b = view_of("main@app@app.c:1;f@app@one.c:9 5\n"
				 "main@app@app.c:1;f@app@two.c:5 5\n");
	struct diff *d = diff_new(a, b);
	int one = 0, two = 0;

	(void)state;
	/* main, f in one.c (lines merged), f in two.c (new). */
	assert_int_equal(diff_count(d), 3);
	for (size_t i = 0; i < diff_count(d); i++) {
		const struct diff_row *r = diff_row_at(d, i);

		if (strcmp(r->frame->file, "one.c") == 0) {
			one++;
			assert_int_equal(r->presence, DIFF_BOTH);
			assert_near(r->total_change, -50.0);
		} else if (strcmp(r->frame->file, "two.c") == 0) {
			two++;
			assert_int_equal(r->presence, DIFF_NEW);
			assert_near(r->total_change, 50.0);
		}
	}
	assert_int_equal(one, 1);
	assert_int_equal(two, 1);
	diff_free(d);
	view_free(a);
	view_free(b);
}

/* A recursive function's total counts each stack once: f is on 75% of A's stacks, not 125%. */
static void test_recursion(void **state)
{
	struct view *a = view_of("main@app;f@app;f@app;f@app 10\n"
				 "main@app;g@app 10\n"
				 "main@app;f@app;g@app 20\n");
	struct view *b = view_of("main@app;f@app 40\n");
	struct diff *d = diff_new(a, b);
	const struct diff_row *r;

	(void)state;
	r = row_of(d, "f");
	assert_int_equal(r->total[0], 30);
	assert_near(r->total_pct[0], 75.0);
	assert_near(r->self_pct[0], 25.0);
	assert_near(r->total_pct[1], 100.0);
	assert_near(r->total_change, 25.0);
	assert_near(r->self_change, 75.0);
	r = row_of(d, "g");
	assert_int_equal(r->presence, DIFF_GONE);
	assert_near(r->total_pct[0], 75.0);
	assert_near(r->total_change, -75.0);
	for (size_t i = 0; i < diff_count(d); i++) {
		assert_true(diff_row_at(d, i)->total_pct[0] <= 100.0);
		assert_true(diff_row_at(d, i)->total_pct[1] <= 100.0);
	}
	diff_free(d);
	view_free(a);
	view_free(b);
}

/* Profiles without samples: no rows, shares of nothing are 0, no division by zero. */
static void test_empty(void **state)
{
	struct view *empty = view_of("");
	struct view *b = view_of("main@app 3\n");
	struct diff *d = diff_new(empty, empty);
	struct diff_table_options o = { .sort = DIFF_SORT_TOTAL };
	struct error err = { 0 };
	char *buf;

	(void)state;
	assert_int_equal(diff_count(d), 0);
	CAPTURE(buf, diff_table(out, d, &o, &err));
	assert_int_equal(table_rows(buf), 0);
	free(buf);
	diff_free(d);
	d = diff_new(empty, b);
	assert_int_equal(diff_count(d), 1);
	assert_int_equal(diff_row_at(d, 0)->presence, DIFF_NEW);
	assert_near(diff_row_at(d, 0)->total_change, 100.0);
	assert_near(diff_row_at(d, 0)->self_pct[0], 0.0);
	diff_free(d);
	view_free(empty);
	view_free(b);
}

/* ------------------------------------------------------------ the table */

/*
 * Changes (points, self / total): xfunc -30/-30, pfunc +30/0, sfunc new
 * +15/+15, rfunc gone -10/-10, qfunc -5/-5, main 0/0.
 */
static const char *const sort_a =
	"main@app;pfunc@app;xfunc@app 40\nmain@app;qfunc@app 50\nmain@app;rfunc@app 10\n";
static const char *const sort_b =
	"main@app;pfunc@app;xfunc@app 10\nmain@app;pfunc@app 30\nmain@app;qfunc@app 45\n"
	"main@app;sfunc@app 15\n";

static void test_sort_limit_threshold(void **state)
{
	static const char *const by_total[] = { "xfunc", "sfunc", "rfunc", "qfunc", "pfunc", "main" };
	static const char *const by_self[] = { "xfunc", "pfunc", "sfunc", "rfunc", "qfunc", "main" };
	static const char *const by_name[] = { "main", "pfunc", "qfunc", "rfunc", "sfunc", "xfunc" };
	static const char *const first_two[] = { "xfunc", "sfunc" };
	static const char *const rest[] = { "rfunc", "qfunc", "pfunc", "main" };
	static const char *const big[] = { "xfunc", "sfunc", "pfunc" };
	static const char *const small[] = { "rfunc", "qfunc", "main" };
	struct view *a = view_of(sort_a), *b = view_of(sort_b);
	struct diff *d = diff_new(a, b);
	struct diff_table_options o = { .sort = DIFF_SORT_TOTAL };
	struct error err = { 0 };
	char *buf;

	(void)state;
	CAPTURE(buf, diff_table(out, d, &o, &err));
	assert_rows(buf, by_total, 6, NULL, 0);
	assert_int_equal(table_rows(buf), 6);
	assert_null(strstr(buf, "more function"));
	free(buf);
	o.sort = DIFF_SORT_SELF;
	CAPTURE(buf, diff_table(out, d, &o, &err));
	assert_rows(buf, by_self, 6, NULL, 0);
	free(buf);
	o.sort = DIFF_SORT_NAME;
	CAPTURE(buf, diff_table(out, d, &o, &err));
	assert_rows(buf, by_name, 6, NULL, 0);
	free(buf);
	/* The limit keeps the first rows of the order. */
	o.sort = DIFF_SORT_TOTAL;
	o.limit = 2;
	CAPTURE(buf, diff_table(out, d, &o, &err));
	assert_rows(buf, first_two, 2, rest, 4);
	assert_int_equal(table_rows(buf), 2);
	assert_non_null(strstr(buf, "(4 more functions not shown: below --min-change or the limit)\n"));
	free(buf);
	/* The threshold: a row stays when either its self or its total moved enough. */
	o.limit = 0;
	o.min_change = 12;
	CAPTURE(buf, diff_table(out, d, &o, &err));
	assert_rows(buf, big, 3, small, 3);
	assert_non_null(strstr(buf, "(3 more functions not shown"));
	free(buf);
	/* The threshold before the limit: what the limit counts are rows that pass. */
	o.limit = 1;
	CAPTURE(buf, diff_table(out, d, &o, &err));
	assert_int_equal(table_rows(buf), 1);
	assert_non_null(strstr(buf, "(5 more functions not shown"));
	free(buf);
	diff_free(d);
	view_free(a);
	view_free(b);
}

static void test_parse_sort(void **state)
{
	enum diff_sort s = DIFF_SORT_NAME;

	(void)state;
	assert_int_equal(diff_parse_sort("total", &s), 0);
	assert_int_equal(s, DIFF_SORT_TOTAL);
	assert_int_equal(diff_parse_sort("self", &s), 0);
	assert_int_equal(s, DIFF_SORT_SELF);
	assert_int_equal(diff_parse_sort("name", &s), 0);
	assert_int_equal(s, DIFF_SORT_NAME);
	assert_int_equal(diff_parse_sort("Total", &s), -1);
	assert_int_equal(diff_parse_sort("", &s), -1);
	assert_int_equal(s, DIFF_SORT_NAME);
}

/* The whole text: "-" for a missing side, tags, file over module, 0.0 never "-0.0". */
static void test_table_golden(void **state)
{
	struct view *a = view_of("main@app;a@app@a.c:10 3\nmain@app;b@app 1\n");
	struct view *b = view_of("main@app;a@app@a.c:10 1\nmain@app;c\x01x@lib.so 1\n");
	struct diff *d = diff_new(a, b);
	struct diff_table_options o = { .sort = DIFF_SORT_TOTAL };
	struct error err = { 0 };
	char *buf;

	(void)state;
	CAPTURE(buf, diff_table(out, d, &o, &err));
	if (strcmp(buf,
		   " A SELF%  A TOTAL%   B SELF%  B TOTAL%   SELF PTS  TOTAL PTS        FUNCTION  MODULE\n"
		   "       -         -     50.0%     50.0%      +50.0      +50.0  new   c?x       lib.so\n"
		   "   75.0%     75.0%     50.0%     50.0%      -25.0      -25.0        a         a.c\n"
		   "   25.0%     25.0%         -         -      -25.0      -25.0  gone  b         app\n"
		   "    0.0%    100.0%      0.0%    100.0%        0.0        0.0        main      app\n") != 0)
		fail_msg("table differs:\n%s", buf);
	free(buf);
	diff_free(d);
	view_free(a);
	view_free(b);
}

/* Colours: growth red, shrinking green, nothing for no change; none when off. */
static void test_table_color(void **state)
{
	struct view *a = view_of("main@app;up@app 1\nmain@app;down@app 3\nmain@app;gone@app 1\n"
				 "main@app;same@app 5\n");
	struct view *b = view_of("main@app;up@app 3\nmain@app;down@app 1\nmain@app;new@app 1\n"
				 "main@app;same@app 5\n");
	struct diff *d = diff_new(a, b);
	struct diff_table_options o = { .sort = DIFF_SORT_NAME, .color = 1 };
	struct error err = { 0 };
	char *buf, *line;

	(void)state;
	CAPTURE(buf, diff_table(out, d, &o, &err));
	line = strstr(buf, "\033[31m    +20.0\033[0m");
	assert_non_null(line);
	assert_true(line < strstr(buf, "up"));
	assert_true(line > strstr(buf, "same"));
	line = strstr(buf, "\033[32m    -20.0\033[0m");
	assert_non_null(line);
	assert_true(line > strstr(buf, "FUNCTION") && line < strstr(buf, "down"));
	assert_non_null(strstr(buf, "\033[31mnew \033[0m  new"));
	assert_non_null(strstr(buf, "\033[32mgone\033[0m  gone"));
	/* main and same did not move: their lines hold no escape. */
	line = strstr(buf, "same");
	while (line > buf && line[-1] != '\n')
		line--;
	assert_true(strchr(line, '\033') == NULL || strchr(line, '\033') > strchr(line, '\n'));
	free(buf);
	o.color = 0;
	CAPTURE(buf, diff_table(out, d, &o, &err));
	assert_null(strchr(buf, '\033'));
	free(buf);
	diff_free(d);
	view_free(a);
	view_free(b);
}

/* ------------------------------------------------------------ the flame graph */

/* The <g> element whose title starts with name (to its end), or NULL. */
static char *bar_of(const char *svg, const char *name)
{
	char *key = NULL, *p, *end;
	size_t len;

	if (asprintf(&key, "<g><title>%s", name) < 0)
		return NULL;
	p = strstr(svg, key);
	free(key);
	if (p == NULL)
		return NULL;
	end = strstr(p, "</g>");
	len = end != NULL ? (size_t)(end - p) : strlen(p);
	return strndup(p, len);
}

/* Asserts that the bar of name has text want in it. */
static void assert_bar(const char *svg, const char *name, const char *want)
{
	char *bar = bar_of(svg, name);

	if (bar == NULL)
		fail_msg("no bar for %s in\n%s", name, svg);
	if (strstr(bar, want) == NULL)
		fail_msg("bar %s lacks '%s':\n%s", name, want, bar);
	free(bar);
}

/* Colours full at the largest change (40 points), red for growth, blue for shrinking. */
static void test_flame_colors(void **state)
{
	struct view *a = view_of("main@app;a@app 60\nmain@app;b@app 40\n");
	struct view *b = view_of("main@app;a@app 20\nmain@app;b@app 40\nmain@app;d@app 40\n");
	struct render_flame_options o = { .width = 1020, .title = "A \u2192 B" };
	struct error err = { 0 };
	char *buf;

	(void)state;
	CAPTURE(buf, diff_flame(out, a, b, &o, &err));
	assert_true(strncmp(buf, "<?xml version=\"1.0\"", 19) == 0);
	assert_bar(buf, "a (app)", "A 60.00% \u2192 B 20.00% (-40.00 points)</title>");
	assert_bar(buf, "a (app)", "fill=\"rgb(40,104,255)\"");
	assert_bar(buf, "d (app)", "A 0.00% \u2192 B 40.00% (+40.00 points, new)</title>");
	assert_bar(buf, "d (app)", "fill=\"rgb(255,40,40)\"");
	assert_bar(buf, "b (app)", "A 40.00% \u2192 B 40.00% (+0.00 points)</title>");
	assert_bar(buf, "b (app)", "fill=\"rgb(224,224,224)\"");
	assert_bar(buf, "main (app)", "fill=\"rgb(224,224,224)\"");
	assert_bar(buf, "all", "100 samples, 100.00%; A 100.00% \u2192 B 100.00% (+0.00 points)");
	/* B's graph: A's bars are not drawn as such, only B's nodes are. */
	assert_null(strstr(buf, "60 samples"));
	free(buf);
	view_free(a);
	view_free(b);
}

/* Small changes stay pale: the scale is full at 5 points at least. */
static void test_flame_scale(void **state)
{
	struct view *a = view_of("main@app;a@app 50\nmain@app;b@app 50\n");
	struct view *b = view_of("main@app;a@app 51\nmain@app;b@app 49\n");
	struct render_flame_options o = { 0 };
	struct error err = { 0 };
	char *buf;

	(void)state;
	CAPTURE(buf, diff_flame(out, a, b, &o, &err));
	/* +1 point of 5: a fifth of the way to red, and to blue for b. */
	assert_bar(buf, "a (app)", "fill=\"rgb(230,187,187)\"");
	assert_bar(buf, "b (app)", "fill=\"rgb(187,200,230)\"");
	free(buf);
	/* The same profile on both sides: every bar grey, every change +0.00. */
	CAPTURE(buf, diff_flame(out, a, a, &o, &err));
	assert_null(strstr(buf, "points, new"));
	for (const char *p = strstr(buf, "fill=\"rgb("); p != NULL; p = strstr(p + 1, "fill=\"rgb("))
		assert_true(strncmp(p, "fill=\"rgb(224,224,224)\"", 23) == 0);
	for (const char *p = strstr(buf, " points"); p != NULL; p = strstr(p + 1, " points"))
		assert_true(strncmp(p - 5, "+0.00 points", 12) == 0);
	free(buf);
	view_free(a);
	view_free(b);
}

/*
 * Bars pair by path: f moving from under x to under y is no change in the
 * table but a new bar in the graph; in a recursion each level is its own.
 */
static void test_flame_paths(void **state)
{
	struct view *a = view_of("main@app;x@app;f@app 50\nmain@app;y@app 50\n");
	struct view *b = view_of("main@app;x@app 50\nmain@app;y@app;f@app 50\n");
	struct view *ra = view_of("main@app;f@app;f@app 10\nmain@app;f@app 10\n");
	struct view *rb = view_of("main@app;f@app;f@app;f@app 20\n");
	struct render_flame_options o = { 0 };
	struct diff *d = diff_new(a, b);
	struct error err = { 0 };
	char *buf;

	(void)state;
	assert_near(row_of(d, "f")->total_change, 0.0);
	diff_free(d);
	CAPTURE(buf, diff_flame(out, a, b, &o, &err));
	assert_bar(buf, "f (app)", "A 0.00% \u2192 B 50.00% (+50.00 points, new)");
	assert_bar(buf, "x (app)", "A 50.00% \u2192 B 50.00% (+0.00 points)");
	free(buf);
	CAPTURE(buf, diff_flame(out, ra, rb, &o, &err));
	/* Outer f 100 -> 100, middle f 50 -> 100, innermost f new. */
	assert_non_null(strstr(buf, "f (app): 20 samples, 100.00%; A 100.00% \u2192 B 100.00% "
				    "(+0.00 points)"));
	assert_non_null(strstr(buf, "f (app): 20 samples, 100.00%; A 50.00% \u2192 B 100.00% "
				    "(+50.00 points)"));
	assert_non_null(strstr(buf, "f (app): 20 samples, 100.00%; A 0.00% \u2192 B 100.00% "
				    "(+100.00 points, new)"));
	free(buf);
	view_free(a);
	view_free(b);
	view_free(ra);
	view_free(rb);
}

/* A wide node: pairing goes by binary search, and every one of 2000 children finds its partner. */
static void test_flame_wide(void **state)
{
	size_t cap = 2000 * 32, len = 0;
	char *folded = malloc(cap);
	struct view *a, *b;
	struct render_flame_options o = { .width = 100000, .min_width = 0.01 };
	struct error err = { 0 };
	char *buf;

	(void)state;
	for (int i = 0; i < 2000; i++)
		len += (size_t)snprintf(folded + len, cap - len, "main@app;fn%04d@app 1\n", i);
	a = view_of(folded);
	b = view_of(folded);
	free(folded);
	CAPTURE(buf, diff_flame(out, a, b, &o, &err));
	assert_null(strstr(buf, "new)"));
	assert_non_null(strstr(buf, "fn1999 (app): 1 sample, 0.05%; A 0.05% \u2192 B 0.05% "
				    "(+0.00 points)"));
	free(buf);
	view_free(a);
	view_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares),
		cmocka_unit_test(test_identity),
		cmocka_unit_test(test_recursion),
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_sort_limit_threshold),
		cmocka_unit_test(test_parse_sort),
		cmocka_unit_test(test_table_golden),
		cmocka_unit_test(test_table_color),
		cmocka_unit_test(test_flame_colors),
		cmocka_unit_test(test_flame_scale),
		cmocka_unit_test(test_flame_paths),
		cmocka_unit_test(test_flame_wide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
