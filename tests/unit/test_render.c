/*
 * The renderers on fixed trees: the text tree against golden output
 * (colours off, both connector sets, header, footer), the colour and
 * charset choices, the flat table, the SVG flame graph; and the time to
 * render a 100,000-node tree, printed rather than asserted.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "render_flame.h"
#include "render_flat.h"
#include "render_text.h"
#include "tree_fixture.h"
#include "view.h"

/* 100 samples at 100 Hz: one sample is 10 ms and 1%. */
static const char *const demo_folded =
	"main@app;a@app@a.c:10 60\n"
	"main@app;b@app 25\n"
	"main@app;b@app;f@libc.so.6;g@libc.so.6;cb@app 10\n"
	"main@app;tiny@app 1\n"
	"other@app 4\n";

static struct view *view_of(const char *folded, uint64_t extra, int per_thread)
{
	Sampled__Tree *t = fx_tree(folded, extra, per_thread);
	struct error err = { 0 };
	struct view *v = view_new(t, &err);

	if (v == NULL)
		fail_msg("view_new: %s", err.msg);
	fx_tree_free(t);
	return v;
}

/* The demo tree through the default pipeline at min_share. */
static struct view *demo_view(double min_share, uint64_t extra)
{
	struct view *v = view_of(demo_folded, extra, 0);
	struct view_options o;
	struct error err = { 0 };

	view_options_init(&o);
	o.min_share = min_share;
	assert_int_equal(view_apply(v, &o, &err), 0);
	return v;
}

/* Runs a renderer into a string (newly allocated). */
#define CAPTURE(buf, call)                                                    \
	do {                                                                  \
		size_t capture_len;                                           \
		FILE *out = open_memstream(&(buf), &capture_len);             \
		assert_non_null(out);                                         \
		assert_int_equal((call), 0);                                  \
		fclose(out);                                                  \
	} while (0)

static void assert_golden(const char *got, const char *want)
{
	if (strcmp(got, want) != 0)
		fail_msg("output differs\n--- got:\n%s--- want:\n%s", got, want);
}

/* ---------------------------------------------------------------- text */

static void test_text_unicode_header(void **state)
{
	struct view *v = demo_view(0.01, 0);
	struct render_text_meta m = {
		.pid = 42, .comm = "demo", .cmdline = "./demo --fast", .state = "running",
		.mode = "cpu", .rate_hz = 100, .duration_ns = 2000000000ull, .samples = 110,
		.lost = 3, .truncated = 5,
	};
	struct render_text_options o = { .color = 0, .unicode = 1, .rate_hz = 100,
					 .min_share = 0.01 };
	struct error err = { 0 };
	char *buf;

	(void)state;
	CAPTURE(buf, render_text(out, v, &m, &o, &err));
	assert_golden(buf,
		"Target:    pid 42 (demo) ./demo --fast\n"
		"Duration:  2.0 s, running\n"
		"Samples:   100 at 100 Hz, cpu mode; CPU 1.000 s, 50% of the duration\n"
		"Lost:      3; truncated 5 (4.5%)\n"
		"\n"
		"0.960  96.0%  main  [app]\n"
		"\u251c\u2500 0.600  60.0%  a  a.c:10\n"
		"\u251c\u2500 0.350  35.0%  b  [app]\n"
		"\u2502  \u2514\u2500 0.100  10.0%  [2 frames hidden]  libc.so.6\n"
		"\u2502     \u2514\u2500 0.100  10.0%  cb  [app]\n"
		"\u2514\u2500 0.010   1.0%  tiny  [app]\n"
		"0.040   4.0%  other  [app]\n");
	free(buf);
	view_free(v);
}

/* ASCII connectors, no header, counts when the rate is unknown, and the footer. */
static void test_text_ascii_footer(void **state)
{
	struct view *v = demo_view(0.05, 10);
	struct render_text_options o = { .color = 0, .unicode = 0, .rate_hz = 0,
					 .min_share = 0.05 };
	struct error err = { 0 };
	char *buf;

	(void)state;
	CAPTURE(buf, render_text(out, v, NULL, &o, &err));
	assert_golden(buf,
		"96  87.3%  main  [app]\n"
		"|- 60  54.5%  a  a.c:10\n"
		"`- 35  31.8%  b  [app]\n"
		"   `- 10   9.1%  [2 frames hidden]  libc.so.6\n"
		"      `- 10   9.1%  cb  [app]\n"
		"\n"
		"2 nodes below 5% not shown (4.5% of samples); "
		"--min-percent 0 or --show-all shows them\n"
		"10 samples (9.1%) not under any frame shown\n");
	free(buf);
	view_free(v);
}

/* Threads, kernel and unknown frames, names that try to drive the terminal. */
static void test_text_odd_frames(void **state)
{
	struct view *v = view_of("t:w\033[2J (7);+0x1f@libc.so.6;k:[kernel] 2\n"
				 "t:w\033[2J (7);u:[truncated];py:run@@x.py:3 1\n", 0, 1);
	struct render_text_options o = { .unicode = 0, .rate_hz = 1000 };
	struct error err = { 0 };
	char *buf;

	(void)state;
	CAPTURE(buf, render_text(out, v, NULL, &o, &err));
	assert_golden(buf,
		"0.003 100.0%  w?[2J (7)\n"
		"|- 0.002  66.7%  libc.so.6+0x1f\n"
		"|  `- 0.002  66.7%  [kernel]\n"
		"`- 0.001  33.3%  [truncated]\n"
		"   `- 0.001  33.3%  run  x.py:3\n");
	free(buf);
	view_free(v);
	v = view_of("", 0, 0);
	CAPTURE(buf, render_text(out, v, NULL, &o, &err));
	assert_golden(buf, "no samples yet\n");
	free(buf);
	view_free(v);
}

/* pyinstrument's colour steps: red from 60%, yellow from 20%, green from 5%, dim below. */
static void test_text_colors(void **state)
{
	struct view *v = demo_view(0.01, 0);
	struct render_text_options o = { .color = 1, .unicode = 0, .rate_hz = 100 };
	struct error err = { 0 };
	char *buf;

	(void)state;
	CAPTURE(buf, render_text(out, v, NULL, &o, &err));
	assert_non_null(strstr(buf, "\033[31m0.960  96.0%\033[0m  main\033[2m  [app]\033[0m\n"));
	assert_non_null(strstr(buf, "|- \033[31m0.600  60.0%\033[0m  a"));
	assert_non_null(strstr(buf, "|- \033[33m0.350  35.0%\033[0m  b"));
	assert_non_null(strstr(buf, "\033[32m0.100  10.0%\033[0m\033[2m  [2 frames hidden]"));
	assert_non_null(strstr(buf, "`- \033[2;32m0.010   1.0%\033[0m  tiny"));
	free(buf);
	view_free(v);
}

/* Saves an environment variable's value to restore it later (newly allocated or NULL). */
static char *env_save(const char *name)
{
	const char *v = getenv(name);

	return v != NULL ? mem_strdup(v) : NULL;
}

static void env_restore(const char *name, char *saved)
{
	if (saved != NULL)
		setenv(name, saved, 1);
	else
		unsetenv(name);
	free(saved);
}

/* Colour only on a terminal, never with NO_COLOR or TERM=dumb, unless forced. */
static void test_want_color(void **state)
{
	char *no_color = env_save("NO_COLOR"), *term = env_save("TERM");
	FILE *file = tmpfile(), *tty;
	int master = posix_openpt(O_RDWR | O_NOCTTY), slave;

	(void)state;
	assert_non_null(file);
	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	tty = fdopen(slave, "w");
	assert_non_null(tty);
	unsetenv("NO_COLOR");
	setenv("TERM", "xterm", 1);
	assert_false(render_text_want_color(file, 0));
	assert_true(render_text_want_color(file, 1));
	assert_true(render_text_want_color(tty, 0));
	assert_false(render_text_want_color(tty, -1));
	setenv("NO_COLOR", "", 1);	/* empty: as if unset */
	assert_true(render_text_want_color(tty, 0));
	setenv("NO_COLOR", "1", 1);
	assert_false(render_text_want_color(tty, 0));
	assert_true(render_text_want_color(tty, 1));
	unsetenv("NO_COLOR");
	setenv("TERM", "dumb", 1);
	assert_false(render_text_want_color(tty, 0));
	fclose(tty);
	close(master);
	fclose(file);
	env_restore("NO_COLOR", no_color);
	env_restore("TERM", term);
}

/* The first of LC_ALL, LC_CTYPE, LANG that is set decides. */
static void test_want_unicode(void **state)
{
	char *all = env_save("LC_ALL"), *ctype = env_save("LC_CTYPE"), *lang = env_save("LANG");

	(void)state;
	unsetenv("LC_ALL");
	unsetenv("LC_CTYPE");
	unsetenv("LANG");
	assert_false(render_text_want_unicode());
	setenv("LANG", "en_US.UTF-8", 1);
	assert_true(render_text_want_unicode());
	setenv("LC_CTYPE", "C", 1);
	assert_false(render_text_want_unicode());
	setenv("LC_ALL", "C.utf8", 1);
	assert_true(render_text_want_unicode());
	setenv("LC_ALL", "", 1);	/* empty: skipped */
	assert_false(render_text_want_unicode());
	env_restore("LC_ALL", all);
	env_restore("LC_CTYPE", ctype);
	env_restore("LANG", lang);
}

/* ---------------------------------------------------------------- flat */

static const char *const flat_folded =
	"main@app;work@app;hash@libcrypto.so.3 30\n"
	"main@app;work@app 20\n"
	"main@app;work@app;work@app 10\n"
	"main@app;parse@app@parse.c:7 25\n"
	"main@app;parse@app@parse.c:9 5\n"
	"main@app 10\n";

static void test_flat_table(void **state)
{
	struct view *v = view_of(flat_folded, 0, 0);
	struct render_flat_options o = { .sort = RENDER_FLAT_SORT_SELF };
	struct error err = { 0 };
	char *buf;

	(void)state;
	CAPTURE(buf, render_flat(out, v, &o, &err));
	assert_golden(buf,
		" SELF   SELF%  TOTAL  TOTAL%  FUNCTION  MODULE\n"
		"   30   30.0%     60   60.0%  work      app\n"
		"   30   30.0%     30   30.0%  hash      libcrypto.so.3\n"
		"   30   30.0%     30   30.0%  parse     parse.c\n"
		"   10   10.0%    100  100.0%  main      app\n");
	free(buf);
	o.sort = RENDER_FLAT_SORT_TOTAL;
	o.limit = 2;
	CAPTURE(buf, render_flat(out, v, &o, &err));
	assert_golden(buf,
		" SELF   SELF%  TOTAL  TOTAL%  FUNCTION  MODULE\n"
		"   10   10.0%    100  100.0%  main      app\n"
		"   30   30.0%     60   60.0%  work      app\n"
		"(2 more functions not shown: below the threshold or the limit)\n");
	free(buf);
	o.sort = RENDER_FLAT_SORT_NAME;
	o.limit = 0;
	o.min_share = 0.5;
	CAPTURE(buf, render_flat(out, v, &o, &err));
	assert_golden(buf,
		" SELF   SELF%  TOTAL  TOTAL%  FUNCTION  MODULE\n"
		"   10   10.0%    100  100.0%  main      app\n"
		"   30   30.0%     60   60.0%  work      app\n"
		"(2 more functions not shown: below the threshold or the limit)\n");
	free(buf);
	view_free(v);
}

static void test_flat_parse_sort(void **state)
{
	enum render_flat_sort s = RENDER_FLAT_SORT_NAME;

	(void)state;
	assert_int_equal(render_flat_parse_sort("self", &s), 0);
	assert_int_equal(s, RENDER_FLAT_SORT_SELF);
	assert_int_equal(render_flat_parse_sort("total", &s), 0);
	assert_int_equal(s, RENDER_FLAT_SORT_TOTAL);
	assert_int_equal(render_flat_parse_sort("name", &s), 0);
	assert_int_equal(s, RENDER_FLAT_SORT_NAME);
	assert_int_equal(render_flat_parse_sort("Self", &s), -1);
	assert_int_equal(render_flat_parse_sort("", &s), -1);
}

/* ---------------------------------------------------------------- flame */

static size_t count(const char *s, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(s, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

static void test_flame(void **state)
{
	struct view *v = view_of("main@app;a@app@a.c:10 60\n"
				 "main@app;b<&>\"@app 30\n"
				 "main@app;bad\xff\x01name@app 5\n"
				 "main@app;a_function_with_a_name_far_too_long_for_its_bar@app 4\n"
				 "main@app;narrow@app 1\n", 0, 0);
	struct render_flame_options o = { .width = 1020, .rate_hz = 100, .title = "t<1>",
					  .min_width = 20 };
	struct error err = { 0 };
	char *buf;

	(void)state;
	CAPTURE(buf, render_flame(out, v, &o, &err));
	assert_true(strncmp(buf, "<?xml version=\"1.0\"", 19) == 0);
	assert_non_null(strstr(buf, "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
				    "width=\"1020\" height=\"92\""));
	assert_non_null(strstr(buf, ">t&lt;1&gt;</text>"));
	/* Root, main, a, b, bad, long: narrow (10 px) is under min_width. */
	assert_int_equal(count(buf, "<g>"), 6);
	assert_int_equal(count(buf, "</g>"), 6);
	assert_null(strstr(buf, "narrow"));
	assert_non_null(strstr(buf, "<title>all: 100 samples, 100.00%, 1.000 s</title>"));
	assert_non_null(strstr(buf, "<title>main (app): 100 samples, 100.00%, 1.000 s</title>"));
	assert_non_null(strstr(buf, "<title>a (a.c:10): 60 samples, 60.00%, 0.600 s</title>"));
	assert_non_null(strstr(buf, "<title>b&lt;&amp;&gt;&quot; (app)"));
	assert_non_null(strstr(buf, "bad\xef\xbf\xbd\xef\xbf\xbdname"));
	/* 40 px hold (40 - 6) / 7.2 = 4 characters: two and "..". */
	assert_non_null(strstr(buf, ">a_..</text>"));
	/* Flame: the root at the bottom (92 - 10 - 16). */
	assert_non_null(strstr(buf, "<rect x=\"10.00\" y=\"66.0\" width=\"1000.00\""));
	free(buf);
	o.icicle = 1;
	CAPTURE(buf, render_flame(out, v, &o, &err));
	assert_non_null(strstr(buf, "<rect x=\"10.00\" y=\"34.0\" width=\"1000.00\""));
	free(buf);
	view_free(v);
	v = view_of("", 0, 0);
	CAPTURE(buf, render_flame(out, v, &o, &err));
	assert_non_null(strstr(buf, "(no samples)"));
	assert_int_equal(count(buf, "<g>"), 0);
	free(buf);
	view_free(v);
}

/* ---------------------------------------------------------------- speed */

/*
 * A deterministic wire tree of n nodes: each node is a child of a node on
 * the current path (so the order is preorder), frames from a pool where
 * every fourth is in libc, self counts 0..3.
 */
static Sampled__Tree *big_tree(size_t n)
{
	Sampled__Tree *t = mem_zalloc(sizeof(*t));
	size_t n_frames = 5000, depth = 0, *path = mem_calloc(64, sizeof(*path));
	uint64_t rnd = 42;
	char name[32];

	sampled__tree__init(t);
	t->n_strings = n_frames + 3;
	t->strings = mem_calloc(t->n_strings, sizeof(*t->strings));
	t->strings[0] = mem_strdup("");
	t->strings[1] = mem_strdup("app");
	t->strings[2] = mem_strdup("libc.so.6");
	t->n_frames = n_frames;
	t->frames = mem_calloc(n_frames, sizeof(*t->frames));
	for (size_t i = 0; i < n_frames; i++) {
		snprintf(name, sizeof(name), "function_%zu", i);
		t->strings[i + 3] = mem_strdup(name);
		t->frames[i] = mem_zalloc(sizeof(Sampled__Frame));
		sampled__frame__init(t->frames[i]);
		t->frames[i]->function = (uint32_t)i + 3;
		t->frames[i]->module = i % 4 == 0 ? 2 : 1;
	}
	t->n_nodes = n;
	t->nodes = mem_calloc(n, sizeof(*t->nodes));
	for (size_t i = 0; i < n; i++) {
		Sampled__Node *node = mem_zalloc(sizeof(*node));

		rnd = rnd * 6364136223846793005ull + 1442695040888963407ull;
		/* Mostly deeper, sometimes back up a few levels, rarely a new root. */
		if (depth > 1 && ((rnd >> 33) % 10 < 3 || depth == 60))
			depth -= 1 + (rnd >> 40) % (depth - 1 < 3 ? depth - 1 : 3);
		if ((rnd >> 44) % 1000 == 0)
			depth = 0;
		sampled__node__init(node);
		node->parent = depth > 0 ? (uint32_t)path[depth - 1] + 1 : 0;
		node->frame = (uint32_t)((rnd >> 20) % n_frames);
		node->self = (rnd >> 50) % 4;
		t->nodes[i] = node;
		path[depth++] = i;
	}
	for (size_t i = n; i-- > 0;) {
		t->nodes[i]->total += t->nodes[i]->self;
		if (t->nodes[i]->parent > 0)
			t->nodes[t->nodes[i]->parent - 1]->total += t->nodes[i]->total;
		else
			t->total_samples += t->nodes[i]->total;
	}
	free(path);
	return t;
}

static double seconds_since(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Not a benchmark: prints how long a 100,000-node tree takes, asserts only correctness. */
static void test_speed_100k(void **state)
{
	Sampled__Tree *t = big_tree(100000);
	struct render_text_options to = { .unicode = 1, .rate_hz = 100 };
	struct render_flat_options fo = { .sort = RENDER_FLAT_SORT_SELF, .limit = 25 };
	struct render_flame_options flo = { .rate_hz = 100 };
	struct view_options vo;
	struct error err = { 0 };
	struct timespec start;
	struct view *v;
	FILE *null = fopen("/dev/null", "w");
	double decode, apply, text, flat, flame;

	(void)state;
	assert_non_null(null);
	clock_gettime(CLOCK_MONOTONIC, &start);
	v = view_new(t, &err);
	decode = seconds_since(&start);
	assert_non_null(v);
	assert_int_equal(view_node_count(v), 100000);
	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(render_text(null, v, NULL, &to, &err), 0);
	text = seconds_since(&start);
	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(render_flat(null, v, &fo, &err), 0);
	flat = seconds_since(&start);
	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(render_flame(null, v, &flo, &err), 0);
	flame = seconds_since(&start);
	view_options_init(&vo);
	vo.hide = "function_1[0-9]$";
	clock_gettime(CLOCK_MONOTONIC, &start);
	assert_int_equal(view_apply(v, &vo, &err), 0);
	apply = seconds_since(&start);
	assert_int_equal(view_total(v), t->total_samples);
	print_message("100k nodes: decode %.3f s, text (all nodes) %.3f s, flat %.3f s, "
		      "flame %.3f s, hide+collapse+prune %.3f s (%zu nodes left)\n", decode, text,
		      flat, flame, apply, view_node_count(v));
	view_free(v);
	fclose(null);
	fx_tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_unicode_header),
		cmocka_unit_test(test_text_ascii_footer),
		cmocka_unit_test(test_text_odd_frames),
		cmocka_unit_test(test_text_colors),
		cmocka_unit_test(test_want_color),
		cmocka_unit_test(test_want_unicode),
		cmocka_unit_test(test_flat_table),
		cmocka_unit_test(test_flat_parse_sort),
		cmocka_unit_test(test_flame),
		cmocka_unit_test(test_speed_100k),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
