/*
 * The view: decoding wire trees (and refusing malformed ones), and every
 * transform of the pipeline on small trees written as folded stacks
 * (tree_fixture.h), checked against the expected shape and against the
 * invariant total == self + cut + children after each step.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "tree_fixture.h"
#include "view.h"

/* ---------------------------------------------------------------- helpers */

/* Checks counts, order and parent links everywhere below n; returns the node count. */
static size_t check_node(const struct view_node *n)
{
	uint64_t sum = 0;
	size_t count = 0;

	for (size_t i = 0; i < n->n_children; i++) {
		const struct view_node *c = n->children[i];

		assert_ptr_equal(c->parent, n);
		if (i > 0)
			assert_true(n->children[i - 1]->total >= c->total);
		sum += c->total;
		count += 1 + check_node(c);
	}
	assert_int_equal(n->total, n->self + n->cut + sum);
	return count;
}

static void check_view(const struct view *v)
{
	assert_int_equal(check_node(view_root(v)), view_node_count(v));
	assert_null(view_root(v)->parent);
	assert_int_equal(view_root(v)->frame->kind, VIEW_KIND_ROOT);
}

struct dump {
	char buf[4096];
	size_t len;
};

static void dump_add(struct dump *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void dump_add(struct dump *d, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	d->len += (size_t)vsnprintf(d->buf + d->len, sizeof(d->buf) - d->len, fmt, ap);
	va_end(ap);
	assert_true(d->len < sizeof(d->buf));
}

/* "name total/self[+cut] (children...)" for each child of n, comma-separated. */
static void dump_children(struct dump *d, const struct view_node *n)
{
	for (size_t i = 0; i < n->n_children; i++) {
		const struct view_node *c = n->children[i];

		dump_add(d, "%s%s %llu/%llu", i > 0 ? ", " : "", c->frame->name,
			 (unsigned long long)c->total, (unsigned long long)c->self);
		if (c->cut > 0)
			dump_add(d, "+%llu", (unsigned long long)c->cut);
		if (c->n_children > 0) {
			dump_add(d, " (");
			dump_children(d, c);
			dump_add(d, ")");
		}
	}
}

/* The view's shape as one line, checked for consistency on the way. */
static const char *shape(const struct view *v, struct dump *d)
{
	check_view(v);
	d->len = 0;
	d->buf[0] = '\0';
	dump_children(d, view_root(v));
	return d->buf;
}

/* A view of folded stacks; fails the test if it does not decode. */
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

static const struct view_node *child(const struct view_node *n, const char *name)
{
	for (size_t i = 0; i < n->n_children; i++) {
		if (strcmp(n->children[i]->frame->name, name) == 0)
			return n->children[i];
	}
	fail_msg("no child %s", name);
	return NULL;
}

/* ---------------------------------------------------------------- decoding */

/* Counts, names, kinds and order come through; siblings are sorted by total. */
static void test_decode(void **state)
{
	struct view *v = view_of("main@app;small@app 1\n"
				 "main@app;big@app@big.c:12 5\n"
				 "main@app;+0x1f@libc.so.6 2\n"
				 "main@app 1\n"
				 "py:run@@x.py:3 2\n"
				 "main@app;big@app@big.c:12;k:[kernel] 1\n", 3, 0);
	const struct view_node *root = view_root(v), *main, *big, *anon;
	struct dump d;

	(void)state;
	assert_string_equal(shape(v, &d), "main 10/1 (big 6/5 ([kernel] 1/1), "
				      "libc.so.6+0x1f 2/2, small 1/1), run 2/2");
	assert_int_equal(view_total(v), 15);
	assert_int_equal(root->total, 15);
	assert_int_equal(root->self, 3);	/* the samples with no frame */
	assert_int_equal(view_node_count(v), 6);
	assert_false(view_per_thread(v));
	main = child(root, "main");
	big = child(main, "big");
	anon = child(main, "libc.so.6+0x1f");
	assert_string_equal(big->frame->file, "big.c");
	assert_int_equal(big->frame->line, 12);
	assert_string_equal(big->frame->module, "app");
	assert_int_equal(big->frame->kind, VIEW_KIND_NATIVE);
	assert_string_equal(anon->frame->function, "");
	assert_string_equal(anon->frame->module, "libc.so.6");
	assert_int_equal(anon->frame->offset, 0x1f);
	assert_int_equal(child(big, "[kernel]")->frame->kind, VIEW_KIND_KERNEL);
	assert_int_equal(child(root, "run")->frame->kind, VIEW_KIND_PYTHON);
	for (size_t i = 0; i < view_frame_count(v); i++)
		assert_int_equal(view_frame_at(v, i)->id, i);
	assert_null(view_frame_at(v, view_frame_count(v)));
	view_free(v);
	view_free(NULL);
}

/* An empty tree is a root with nothing below; a per-thread tree keeps its thread roots. */
static void test_decode_empty_and_threads(void **state)
{
	struct view *v = view_of("", 0, 0);
	struct dump d;

	(void)state;
	assert_string_equal(shape(v, &d), "");
	assert_int_equal(view_total(v), 0);
	view_free(v);
	v = view_of("t:w (2);main 3\nt:w (2) 1\nt:m (1);main 2\n", 0, 1);
	assert_true(view_per_thread(v));
	assert_string_equal(shape(v, &d), "w (2) 4/1 (main 3/3), m (1) 2/0 (main 2/2)");
	assert_int_equal(view_root(v)->children[0]->frame->kind, VIEW_KIND_THREAD);
	view_free(v);
}

/* What the daemon left out with min_share shows up as cut, not self. */
static void test_decode_daemon_pruned(void **state)
{
	Sampled__Tree *t = fx_tree("main;a 6\nmain;b 4\n", 0, 0);
	struct error err = { 0 };
	struct view *v;
	struct dump d;

	(void)state;
	/* Drop node "b" (the last one) as the daemon would. */
	free(t->nodes[--t->n_nodes]);
	v = view_new(t, &err);
	assert_non_null(v);
	assert_string_equal(shape(v, &d), "main 10/0+4 (a 6/6)");
	view_free(v);
	fx_tree_free(t);
}

/* Each kind of damage is refused with a message, never a crash. */
static void test_decode_malformed(void **state)
{
	struct error err = { 0 };
	Sampled__Tree *t;
	uint32_t saved;

	(void)state;
	t = fx_tree("main;a 6\nmain;b 4\n", 0, 0);
	saved = t->nodes[1]->parent;
	t->nodes[1]->parent = 3;	/* a parent that comes later */
	assert_null(view_new(t, &err));
	assert_non_null(strstr(err.msg, "malformed tree"));
	t->nodes[1]->parent = saved;
	t->nodes[1]->frame = 99;
	assert_null(view_new(t, &err));
	t->nodes[1]->frame = t->nodes[2]->frame;
	t->nodes[1]->self = 7;		/* more self than total */
	assert_null(view_new(t, &err));
	t->nodes[1]->self = 6;
	t->nodes[0]->total = 5;		/* children outweigh their parent */
	assert_null(view_new(t, &err));
	assert_non_null(strstr(err.msg, "outweigh"));
	t->nodes[0]->total = 10;
	t->total_samples = 9;		/* the top level outweighs all samples */
	assert_null(view_new(t, &err));
	t->total_samples = 10;
	t->frames[0]->module = 1000;	/* a string out of range */
	assert_null(view_new(t, &err));
	assert_non_null(strstr(err.msg, "string"));
	fx_tree_free(t);
}

/* Deeper than VIEW_MAX_DEPTH is refused; exactly that deep is fine. */
static void test_decode_depth(void **state)
{
	size_t len = (size_t)(VIEW_MAX_DEPTH + 1) * 2 + 8;
	char *folded = mem_alloc(len);
	struct error err = { 0 };
	Sampled__Tree *t;
	struct view *v;
	size_t at = 0;

	(void)state;
	for (int i = 0; i < VIEW_MAX_DEPTH; i++)
		at += (size_t)snprintf(folded + at, len - at, "%sf", i ? ";" : "");
	snprintf(folded + at, len - at, " 1");
	t = fx_tree(folded, 0, 0);
	v = view_new(t, &err);
	assert_non_null(v);
	assert_int_equal(view_node_count(v), VIEW_MAX_DEPTH);
	view_free(v);
	fx_tree_free(t);
	snprintf(folded + at, len - at, ";f 1");
	t = fx_tree(folded, 0, 0);
	assert_null(view_new(t, &err));
	assert_non_null(strstr(err.msg, "deeper"));
	fx_tree_free(t);
	free(folded);
}

/* ---------------------------------------------------------------- hide / show */

/* A hidden frame's callees move up and merge with equal siblings, recursively. */
static void test_hide_merges(void **state)
{
	struct view *v = view_of("main;wrap;b;c 5\n"
				 "main;b;c 2\n"
				 "main;b;d 1\n"
				 "main;wrap 4\n"
				 "main;wrap;e 1\n", 0, 0);
	struct error err = { 0 };
	struct dump d;

	(void)state;
	assert_int_equal(view_hide(v, "^wrap$", NULL, &err), 0);
	/* wrap's own 4 samples are main's now; b's two copies merged, and c's. */
	assert_string_equal(shape(v, &d), "main 13/4 (b 8/0 (c 7/7, d 1/1), e 1/1)");
	view_free(v);
}

/* Hiding a top-level frame lifts its callees to the top; its own time goes to the root. */
static void test_hide_top_level(void **state)
{
	struct view *v = view_of("start@libc.so.6;main 3\nstart@libc.so.6 2\nmain 1\n", 0, 0);
	struct error err = { 0 };
	struct dump d;

	(void)state;
	/* The regex also matches modules: libc.so.6. */
	assert_int_equal(view_hide(v, "libc", NULL, &err), 0);
	assert_string_equal(shape(v, &d), "main 4/4");
	assert_int_equal(view_root(v)->self, 2);
	assert_int_equal(view_total(v), 6);
	view_free(v);
}

/* --show wins over --hide; thread roots and files; a bad regex changes nothing. */
static void test_hide_show(void **state)
{
	struct view *v = view_of("t:worker (7);x_one;x_two@m@x_file.c:3;y 2\n", 0, 1);
	struct error err = { 0 };
	struct dump d;

	(void)state;
	assert_int_equal(view_hide(v, "^x_|worker", "two", &err), 0);
	assert_string_equal(shape(v, &d), "worker (7) 2/0 (x_two 2/0 (y 2/2))");
	assert_int_equal(view_hide(v, "x_file", NULL, &err), 0);	/* matched by file */
	assert_string_equal(shape(v, &d), "worker (7) 2/0 (y 2/2)");
	assert_int_equal(view_hide(v, "(", NULL, &err), -1);
	assert_non_null(strstr(err.msg, "--hide"));
	assert_int_equal(view_hide(v, NULL, "[", &err), -1);
	assert_non_null(strstr(err.msg, "--show"));
	assert_string_equal(shape(v, &d), "worker (7) 2/0 (y 2/2)");
	view_free(v);
}

/* ---------------------------------------------------------------- collapse */

/* Two or more library frames in a row fold into one group; a single one stays. */
static void test_collapse_runs(void **state)
{
	struct view *v = view_of("main@app;f@libc.so.6;g@libc.so.6;cb@app 5\n"
				 "main@app;f@libc.so.6;h@libc.so.6;cb@app 2\n"
				 "main@app;f@libc.so.6;g@libc.so.6 1\n"
				 "main@app;qsort@libc.so.6;cmp@app 3\n", 0, 0);
	struct error err = { 0 };
	const struct view_node *g;
	struct dump d;

	(void)state;
	assert_int_equal(view_collapse(v, NULL, 0.5, &err), 0);
	/* The two paths to cb merged below the group; qsort alone is kept. */
	assert_string_equal(shape(v, &d), "main 11/0 ([3 frames hidden] 8/1 (cb 7/7), "
				      "qsort 3/0 (cmp 3/3))");
	g = view_root(v)->children[0]->children[0];
	assert_int_equal(g->frame->kind, VIEW_KIND_GROUP);
	assert_int_equal(g->hidden, 3);
	assert_string_equal(g->frame->module, "libc.so.6");
	assert_ptr_equal(view_frame_at(v, g->frame->id), g->frame);
	view_free(v);
}

/* A library frame with significant self time stays visible and splits the run. */
static void test_collapse_significant(void **state)
{
	const char *folded = "main@app;f@libc.so.6;g@libc.so.6;h@libc.so.6;k@libm.so.6;"
			     "m@ld-linux-x86-64.so.2;cb@app 10\n"
			     "main@app;f@libc.so.6;g@libc.so.6;h@libc.so.6 40\n";
	struct view *v = view_of(folded, 0, 0);
	struct error err = { 0 };
	const struct view_node *g;
	struct dump d;

	(void)state;
	/* h holds 80% by itself: above 10%, it stays. */
	assert_int_equal(view_collapse(v, NULL, 0.1, &err), 0);
	assert_string_equal(shape(v, &d), "main 50/0 ([2 frames hidden] 50/0 (h 50/40 "
				      "([2 frames hidden] 10/0 (cb 10/10))))");
	g = view_root(v)->children[0]->children[0]->children[0]->children[0];
	assert_string_equal(g->frame->module, "libm.so.6, ld-linux-x86-64.so.2");
	view_free(v);
	/* Below 90% it is folded with the rest, its self time the group's. */
	v = view_of(folded, 0, 0);
	assert_int_equal(view_collapse(v, NULL, 0.9, &err), 0);
	assert_string_equal(shape(v, &d), "main 50/0 ([5 frames hidden] 50/40 (cb 10/10))");
	g = view_root(v)->children[0]->children[0];
	assert_string_equal(g->frame->module, "libc.so.6, libm.so.6, ld-linux-x86-64.so.2");
	view_free(v);
	/* --show keeps g out of the run. */
	v = view_of(folded, 0, 0);
	assert_int_equal(view_collapse(v, "^g$", 0.9, &err), 0);
	assert_string_equal(shape(v, &d), "main 50/0 (f 50/0 (g 50/0 ([3 frames hidden] 50/40 "
				      "(cb 10/10))))");
	view_free(v);
}

/* Which modules are libraries; more than three modules end in ", ...". */
static void test_collapse_libraries(void **state)
{
	static const char *const yes[] = {
		"libc.so.6", "libc-2.31.so", "ld-linux-x86-64.so.2", "libpthread.so.0",
		"libstdc++.so.6", "libgcc_s.so.1", "libm.so.6", "[vdso]", "libdl.so.2",
		"librt.so.1", "libpython3.11.so.1.0", "python3.11", "python3", "python",
		"/usr/lib/x86_64-linux-gnu/libc.so.6",
	};
	static const char *const no[] = {
		"app", "libcrypto.so.3", "libmagic.so.1", "mypython", "python3.11-config",
		"libcurl.so.4", "",
	};
	struct view_frame f = { .name = "f", .function = "f", .file = "", .kind = VIEW_KIND_NATIVE };
	struct view *v;
	struct error err = { 0 };
	struct dump d;

	(void)state;
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		f.module = yes[i];
		if (!view_is_library(&f))
			fail_msg("%s should be a library", yes[i]);
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		f.module = no[i];
		if (view_is_library(&f))
			fail_msg("%s should not be a library", no[i]);
	}
	f.module = "libc.so.6";
	f.kind = VIEW_KIND_PYTHON;	/* Python code is never interpreter internals */
	assert_false(view_is_library(&f));
	v = view_of("main;a@libc.so.6;b@libm.so.6;c@[vdso];d@libpthread.so.0;e 1\n", 0, 0);
	assert_int_equal(view_collapse(v, NULL, 1, &err), 0);
	assert_string_equal(shape(v, &d), "main 1/0 ([4 frames hidden] 1/0 (e 1/1))");
	assert_string_equal(view_root(v)->children[0]->children[0]->frame->module,
			    "libc.so.6, libm.so.6, [vdso], ...");
	view_free(v);
	/* Kernel frames and thread roots are never folded. */
	v = view_of("t:w;a@libc.so.6;k:[kernel]@libc.so.6 1\n", 0, 1);
	assert_int_equal(view_collapse(v, NULL, 1, &err), 0);
	assert_string_equal(shape(v, &d), "w 1/0 (a 1/0 ([kernel] 1/1))");
	view_free(v);
}

/* ---------------------------------------------------------------- prune */

/* Nodes below the share go with their subtree; their time stays in the parent's total. */
static void test_prune(void **state)
{
	struct view *v = view_of("main;a 96\nmain;b 2\nmain;c;d 1\nmain;c;e 1\nx 0\n", 0, 0);
	struct dump d;

	(void)state;
	view_prune(v, 0.0);
	assert_int_equal(view_cut_nodes(v), 0);
	view_prune(v, 0.02);
	/* b (2%) is at the threshold and stays; c (2%) too, its children go. */
	assert_string_equal(shape(v, &d), "main 100/0 (a 96/96, b 2/2, c 2/0+2)");
	assert_int_equal(view_cut_nodes(v), 3);	/* d, e and x */
	assert_int_equal(view_cut_samples(v), 2);
	view_prune(v, 0.03);
	assert_string_equal(shape(v, &d), "main 100/0+4 (a 96/96)");
	assert_int_equal(view_cut_nodes(v), 5);
	assert_int_equal(view_cut_samples(v), 6);
	view_free(v);
}

/* The pipeline: hide, then collapse (with its significance), then prune. */
static void test_apply(void **state)
{
	struct view *v = view_of("main@app;wrap@app;f@libc.so.6;g@libc.so.6;cb@app 97\n"
				 "main@app;tiny@app 3\n", 0, 0);
	struct view_options o;
	struct error err = { 0 };
	struct dump d;

	(void)state;
	view_options_init(&o);
	assert_null(o.hide);
	assert_true(o.collapse);
	assert_true(o.min_share == 0.01);
	o.hide = "wrap";
	o.min_share = 0.05;
	assert_int_equal(view_options_check(&o, &err), 0);
	assert_int_equal(view_apply(v, &o, &err), 0);
	assert_string_equal(shape(v, &d), "main 100/0+3 ([2 frames hidden] 97/0 (cb 97/97))");
	view_free(v);
	o.show = "(";
	assert_int_equal(view_options_check(&o, &err), -1);
	o.show = NULL;
	o.min_share = 1.5;
	assert_int_equal(view_options_check(&o, &err), -1);
}

/* ---------------------------------------------------------------- flat */

static const struct view_flat_row *row(const struct view_flat_row *rows, size_t n,
				       const char *name, const char *module)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rows[i].frame->name, name) == 0 &&
		    strcmp(rows[i].frame->module, module) == 0)
			return &rows[i];
	}
	fail_msg("no row %s %s", name, module);
	return NULL;
}

/* Recursion counts once in total; equal names in other modules are other functions. */
static void test_flat(void **state)
{
	struct view *v = view_of("main@app;f@app;f@app;f@app 3\n"
				 "main@app;f@app;g@app;f@app 2\n"
				 "main@app;f@lib 4\n"
				 "py:run@@a.py:1 1\n"
				 "py:run@@a.py:7 2\n"
				 "main@app 1\n", 5, 0);
	struct view_flat_row *rows;
	size_t n;

	(void)state;
	rows = view_flat(v, &n);
	assert_int_equal(n, 5);
	assert_int_equal(row(rows, n, "main", "app")->total, 10);
	assert_int_equal(row(rows, n, "main", "app")->self, 1);
	assert_int_equal(row(rows, n, "f", "app")->self, 5);
	assert_int_equal(row(rows, n, "f", "app")->total, 5);
	assert_int_equal(row(rows, n, "f", "lib")->total, 4);
	assert_int_equal(row(rows, n, "g", "app")->total, 2);
	assert_int_equal(row(rows, n, "g", "app")->self, 0);
	/* Lines merge: one function run in a.py. */
	assert_int_equal(row(rows, n, "run", "")->total, 3);
	assert_int_equal(row(rows, n, "run", "")->self, 3);
	free(rows);
	view_free(v);
	/* Thread roots are no functions. */
	v = view_of("t:w;main 2\n", 0, 1);
	rows = view_flat(v, &n);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].frame->name, "main");
	free(rows);
	view_free(v);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_decode_empty_and_threads),
		cmocka_unit_test(test_decode_daemon_pruned),
		cmocka_unit_test(test_decode_malformed),
		cmocka_unit_test(test_decode_depth),
		cmocka_unit_test(test_hide_merges),
		cmocka_unit_test(test_hide_top_level),
		cmocka_unit_test(test_hide_show),
		cmocka_unit_test(test_collapse_runs),
		cmocka_unit_test(test_collapse_significant),
		cmocka_unit_test(test_collapse_libraries),
		cmocka_unit_test(test_prune),
		cmocka_unit_test(test_apply),
		cmocka_unit_test(test_flat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
