#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "mem.h"
#include "profile/tree.h"

/* A deterministic generator so that the random trees are the same every run. */
struct rng {
	uint64_t s;
};

/* xorshift64*: the next pseudo-random value. */
static uint64_t rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 0x2545f4914f6cdd1dULL;
}

/* A pseudo-random value in [0, n). */
static uint32_t rng_below(struct rng *r, uint32_t n)
{
	return (uint32_t)(rng_next(r) % n);
}

/* Monotonic seconds, for the timings. */
static double now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Interns a native frame named fn in a fixed module and file. */
static uint32_t fid(struct tree *t, const char *fn)
{
	struct tree_frame f = { TREE_KIND_NATIVE, fn, "libtest.so", "test.c", 1, 0 };

	return tree_frame_id(t, &f);
}

/* The function name of output node i. */
static const char *node_name(const Sampled__Tree *m, size_t i)
{
	return m->strings[m->frames[m->nodes[i]->frame]->function];
}

/* Finds the child named name of the node referenced by parent (index + 1, 0 = top). */
static long find_child(const Sampled__Tree *m, uint32_t parent, const char *name)
{
	size_t i;

	for (i = 0; i < m->n_nodes; i++)
		if (m->nodes[i]->parent == parent && strcmp(node_name(m, i), name) == 0)
			return (long)i;
	return -1;
}

/* Follows a path of names from the top level; -1 when any step is missing. */
static long find_path(const Sampled__Tree *m, const char *const *names, size_t n)
{
	uint32_t parent = 0;
	long idx = -1;
	size_t i;

	for (i = 0; i < n; i++) {
		idx = find_child(m, parent, names[i]);
		if (idx < 0)
			return -1;
		parent = (uint32_t)idx + 1;
	}
	return idx;
}

/* Asserts the counts of the node at the end of a path of names. */
static void expect_node(const Sampled__Tree *m, const char *const *names, size_t n, uint64_t self,
			uint64_t total)
{
	long idx = find_path(m, names, n);

	assert_true(idx >= 0);
	assert_int_equal(m->nodes[idx]->self, self);
	assert_int_equal(m->nodes[idx]->total, total);
}

#define PATH(...) ((const char *const[]){ __VA_ARGS__ }), \
	(sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *))

/* qsort order for uint64_t. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Checks what every message must satisfy: strings[0] == "", indexes in
 * range, a true preorder (each node's parent is on the path to the node
 * before it), siblings sorted by total and never sharing a frame, every
 * frame and string used.  Without pruning (exact), each node's total is its
 * self plus its children's totals; with pruning it is at least that.
 */
static void check_message(const Sampled__Tree *m, int exact)
{
	uint64_t *child_sum = calloc(m->n_nodes + 1, sizeof(*child_sum));
	uint64_t *last_total = calloc(m->n_nodes + 1, sizeof(*last_total));
	uint64_t *pairs = calloc(m->n_nodes + 1, sizeof(*pairs));
	uint32_t *path = calloc(m->n_nodes + 1, sizeof(*path));
	char *frame_used = calloc(m->n_frames + 1, 1);
	char *string_used = calloc(m->n_strings + 1, 1);
	size_t depth = 0, i;

	assert_non_null(child_sum);
	assert_non_null(last_total);
	assert_non_null(pairs);
	assert_non_null(path);
	assert_non_null(frame_used);
	assert_non_null(string_used);
	assert_true(m->n_strings >= 1);
	assert_string_equal(m->strings[0], "");
	string_used[0] = 1;
	for (i = 0; i < m->n_frames; i++) {
		const Sampled__Frame *f = m->frames[i];

		assert_true(f->function < m->n_strings);
		assert_true(f->module < m->n_strings);
		assert_true(f->file < m->n_strings);
		string_used[f->function] = string_used[f->module] = string_used[f->file] = 1;
	}
	for (i = 0; i < m->n_strings; i++)
		assert_true(string_used[i]);
	for (i = 0; i < m->n_nodes; i++) {
		const Sampled__Node *n = m->nodes[i];

		assert_true(n->parent <= i);
		assert_true(n->frame < m->n_frames);
		frame_used[n->frame] = 1;
		assert_true(n->total > 0);
		assert_true(n->self <= n->total);
		/* Preorder: unwind the current path until the parent is on top. */
		while (depth > 0 && path[depth - 1] != n->parent)
			depth--;
		if (n->parent != 0)
			assert_true(depth > 0);
		path[depth++] = (uint32_t)i + 1;
		/* Sibling order: totals never increase along a parent's children. */
		if (last_total[n->parent] != 0)
			assert_true(n->total <= last_total[n->parent]);
		last_total[n->parent] = n->total;
		child_sum[n->parent] += n->total;
		pairs[i] = (uint64_t)n->parent << 32 | n->frame;
	}
	for (i = 0; i < m->n_frames; i++)
		assert_true(frame_used[i]);
	for (i = 0; i < m->n_nodes; i++) {
		const Sampled__Node *n = m->nodes[i];

		if (exact)
			assert_int_equal(n->total, n->self + child_sum[i + 1]);
		else
			assert_true(n->total >= n->self + child_sum[i + 1]);
	}
	assert_true(child_sum[0] <= m->total_samples);
	/* Siblings with the same frame would mean a failed merge. */
	qsort(pairs, m->n_nodes, sizeof(*pairs), cmp_u64);
	for (i = 1; i < m->n_nodes; i++)
		assert_true(pairs[i] != pairs[i - 1]);
	free(child_sum);
	free(last_total);
	free(pairs);
	free(path);
	free(frame_used);
	free(string_used);
}

/* Packs the message, unpacks it with protobuf-c and compares every field. */
static void check_roundtrip(const Sampled__Tree *m)
{
	size_t len = sampled__tree__get_packed_size(m), i;
	uint8_t *buf = malloc(len ? len : 1);
	Sampled__Tree *u;

	assert_non_null(buf);
	assert_int_equal(sampled__tree__pack(m, buf), len);
	u = sampled__tree__unpack(NULL, len, buf);
	assert_non_null(u);
	assert_int_equal(u->total_samples, m->total_samples);
	assert_int_equal(u->per_thread, m->per_thread);
	assert_int_equal(u->n_strings, m->n_strings);
	for (i = 0; i < m->n_strings; i++)
		assert_string_equal(u->strings[i], m->strings[i]);
	assert_int_equal(u->n_frames, m->n_frames);
	for (i = 0; i < m->n_frames; i++) {
		assert_int_equal(u->frames[i]->function, m->frames[i]->function);
		assert_int_equal(u->frames[i]->module, m->frames[i]->module);
		assert_int_equal(u->frames[i]->file, m->frames[i]->file);
		assert_int_equal(u->frames[i]->line, m->frames[i]->line);
		assert_int_equal(u->frames[i]->kind, m->frames[i]->kind);
		assert_int_equal(u->frames[i]->offset, m->frames[i]->offset);
	}
	assert_int_equal(u->n_nodes, m->n_nodes);
	for (i = 0; i < m->n_nodes; i++) {
		assert_int_equal(u->nodes[i]->parent, m->nodes[i]->parent);
		assert_int_equal(u->nodes[i]->frame, m->nodes[i]->frame);
		assert_int_equal(u->nodes[i]->self, m->nodes[i]->self);
		assert_int_equal(u->nodes[i]->total, m->nodes[i]->total);
	}
	sampled__tree__free_unpacked(u, NULL);
	free(buf);
}

/* Same content, same id; any field changed, another id; strings copied. */
static void test_interning(void **state)
{
	struct tree *t = tree_new();
	struct tree_frame f = { TREE_KIND_NATIVE, NULL, NULL, NULL, 0, 0 };
	char fn[] = "alpha", mod[] = "libalpha.so", file[] = "alpha.c";
	uint32_t a, b, c, d, e, g;
	Sampled__Tree *m;

	(void)state;
	f.function = fn;
	f.module = mod;
	f.file = file;
	f.line = 10;
	a = tree_frame_id(t, &f);
	assert_int_equal(a, 0);
	assert_int_equal(tree_frame_id(t, &f), a);

	/* The pool holds copies: the caller's buffers may change. */
	fn[0] = 'X';
	mod[0] = 'X';
	file[0] = 'X';
	b = tree_frame_id(t, &f);
	assert_int_equal(b, 1);
	f.function = "alpha";
	f.module = "libalpha.so";
	f.file = "alpha.c";
	assert_int_equal(tree_frame_id(t, &f), a);

	/* Every field is part of the identity. */
	f.line = 11;
	c = tree_frame_id(t, &f);
	assert_int_equal(c, 2);
	f.line = 10;
	f.kind = TREE_KIND_PYTHON;
	d = tree_frame_id(t, &f);
	assert_int_equal(d, 3);
	f.kind = TREE_KIND_NATIVE;
	f.offset = 0x40;
	e = tree_frame_id(t, &f);
	assert_int_equal(e, 4);
	f.offset = 0;
	assert_int_equal(tree_frame_id(t, &f), a);

	/* NULL and "" are the same "none" / "unknown". */
	f.function = NULL;
	f.module = "libx.so";
	f.file = NULL;
	f.line = 0;
	f.offset = 0x1234;
	g = tree_frame_id(t, &f);
	assert_int_equal(g, 5);
	f.function = "";
	f.file = "";
	assert_int_equal(tree_frame_id(t, &f), g);

	/* The message shows the strings as first interned. */
	tree_add(t, 1, TREE_STATE_RUNNING, &a, 1, 2);
	tree_add(t, 1, TREE_STATE_RUNNING, &b, 1, 1);
	tree_add(t, 1, TREE_STATE_RUNNING, &g, 1, 1);
	m = tree_to_message(t, NULL);
	check_message(m, 1);
	assert_int_equal(m->n_nodes, 3);
	assert_string_equal(node_name(m, 0), "alpha");
	assert_string_equal(m->strings[m->frames[m->nodes[0]->frame]->module], "libalpha.so");
	assert_string_equal(m->strings[m->frames[m->nodes[0]->frame]->file], "alpha.c");
	assert_int_equal(m->frames[m->nodes[0]->frame]->line, 10);
	/* Tied at 1: "" (unknown function) sorts before "Xlpha". */
	assert_string_equal(node_name(m, 1), "");
	assert_string_equal(m->strings[m->frames[m->nodes[1]->frame]->module], "libx.so");
	assert_int_equal(m->frames[m->nodes[1]->frame]->offset, 0x1234);
	assert_string_equal(node_name(m, 2), "Xlpha");
	assert_string_equal(m->strings[m->frames[m->nodes[2]->frame]->module], "Xibalpha.so");
	check_roundtrip(m);
	tree_message_free(m);
	tree_free(t);
}

/*
 * The hand-built profile:
 *   tid 1 ("main"):  a;b;c x3, a;b x2, a;d x1
 *   tid 2 (unnamed): a;b;c x1, e x4
 */
static struct tree *hand_tree(void)
{
	struct tree *t = tree_new();
	uint32_t a = fid(t, "a"), b = fid(t, "b"), c = fid(t, "c"), d = fid(t, "d"), e = fid(t, "e");

	tree_set_thread_name(t, 1, "main");
	tree_add(t, 1, TREE_STATE_RUNNING, (uint32_t[]){ a, b, c }, 3, 3);
	tree_add(t, 1, TREE_STATE_RUNNING, (uint32_t[]){ a, b }, 2, 2);
	tree_add(t, 2, TREE_STATE_RUNNING, (uint32_t[]){ a, b, c }, 3, 1);
	tree_add(t, 1, TREE_STATE_RUNNING, (uint32_t[]){ a, d }, 2, 1);
	tree_add(t, 2, TREE_STATE_RUNNING, (uint32_t[]){ e }, 1, 4);
	return t;
}

/* Self and total of every node of the hand-built profile, threads merged. */
static void test_counts_merged(void **state)
{
	struct tree *t = hand_tree();
	Sampled__Tree *m;

	(void)state;
	assert_int_equal(tree_total(t), 11);
	/* Roots 1 and 2; a b c d under 1; a b c e under 2. */
	assert_int_equal(tree_node_count(t), 2 + 4 + 4);

	m = tree_to_message(t, NULL);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 11);
	assert_false(m->per_thread);
	assert_int_equal(m->n_nodes, 5);
	/* Preorder with the largest child first. */
	assert_string_equal(node_name(m, 0), "a");
	assert_string_equal(node_name(m, 1), "b");
	assert_string_equal(node_name(m, 2), "c");
	assert_string_equal(node_name(m, 3), "d");
	assert_string_equal(node_name(m, 4), "e");
	assert_int_equal(m->nodes[0]->parent, 0);
	assert_int_equal(m->nodes[1]->parent, 1);
	assert_int_equal(m->nodes[2]->parent, 2);
	assert_int_equal(m->nodes[3]->parent, 1);
	assert_int_equal(m->nodes[4]->parent, 0);
	/* Counts summed across threads. */
	expect_node(m, PATH("a"), 0, 7);
	expect_node(m, PATH("a", "b"), 2, 6);
	expect_node(m, PATH("a", "b", "c"), 4, 4);
	expect_node(m, PATH("a", "d"), 1, 1);
	expect_node(m, PATH("e"), 4, 4);
	assert_int_equal(m->n_frames, 5);
	assert_int_equal(m->n_strings, 1 + 5 + 2);	/* "", a..e, module, file */
	check_roundtrip(m);
	tree_message_free(m);
	tree_free(t);
}

/* One synthetic node per thread, named after it, above that thread's stacks. */
static void test_per_thread(void **state)
{
	struct tree *t = hand_tree();
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;
	long t1, t2;

	(void)state;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_true(m->per_thread);
	assert_int_equal(m->total_samples, 11);
	assert_int_equal(m->n_nodes, 2 + 4 + 4);
	t1 = find_child(m, 0, "main (1)");
	t2 = find_child(m, 0, "thread 2");
	assert_int_equal(t1, 0);	/* 6 samples before 5 */
	assert_true(t2 > t1);
	assert_int_equal(m->frames[m->nodes[t1]->frame]->kind, SAMPLED__FRAME_KIND__FRAME_THREAD);
	assert_int_equal(m->frames[m->nodes[t2]->frame]->kind, SAMPLED__FRAME_KIND__FRAME_THREAD);
	assert_int_equal(m->nodes[t1]->total, 6);
	assert_int_equal(m->nodes[t1]->self, 0);
	assert_int_equal(m->nodes[t2]->total, 5);
	expect_node(m, PATH("main (1)", "a"), 0, 6);
	expect_node(m, PATH("main (1)", "a", "b"), 2, 5);
	expect_node(m, PATH("main (1)", "a", "b", "c"), 3, 3);
	expect_node(m, PATH("main (1)", "a", "d"), 1, 1);
	expect_node(m, PATH("thread 2", "e"), 4, 4);
	expect_node(m, PATH("thread 2", "a", "b", "c"), 1, 1);
	assert_int_equal(find_path(m, PATH("thread 2", "a", "d")), -1);
	check_roundtrip(m);
	tree_message_free(m);

	/* The latest name wins; NULL removes it. */
	tree_set_thread_name(t, 2, "worker");
	tree_set_thread_name(t, 2, "worker-2");
	tree_set_thread_name(t, 1, NULL);
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_true(find_child(m, 0, "worker-2 (2)") >= 0);
	assert_true(find_child(m, 0, "thread 1") >= 0);
	assert_int_equal(find_child(m, 0, "worker (2)"), -1);
	tree_message_free(m);
	tree_free(t);
}

/* Only the selected thread's samples, merged or per thread. */
static void test_tid_filter(void **state)
{
	struct tree *t = hand_tree();
	struct tree_query q = { 0, 2, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;

	(void)state;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 5);
	assert_int_equal(m->n_nodes, 4);
	assert_string_equal(node_name(m, 0), "e");
	expect_node(m, PATH("e"), 4, 4);
	expect_node(m, PATH("a"), 0, 1);
	expect_node(m, PATH("a", "b", "c"), 1, 1);
	assert_int_equal(find_child(m, 0, "d"), -1);
	/* Only the frames this thread uses. */
	assert_int_equal(m->n_frames, 4);
	check_roundtrip(m);
	tree_message_free(m);

	q.per_thread = 1;
	q.tid = 1;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 6);
	assert_int_equal(m->n_nodes, 5);
	assert_string_equal(node_name(m, 0), "main (1)");
	assert_int_equal(find_child(m, 0, "thread 2"), -1);
	tree_message_free(m);

	/* A tid never seen: nothing, but still a valid message. */
	q.tid = 99;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 0);
	assert_int_equal(m->n_nodes, 0);
	assert_int_equal(m->n_strings, 1);
	check_roundtrip(m);
	tree_message_free(m);
	tree_free(t);
}

/*
 * The hand-built wall-clock profile:
 *   tid 1 ("main"): running a;b;c x3, a;b x2
 *                   idle    a;b;c x1, a;w x4, (no frames) x1
 *   tid 2:          idle    e x2, a;b x1
 *   tid 3:          running a;d x2
 * Running 7, idle 9.  Thread 1's states alternate, so the last-thread fast
 * path sees the same tid with both states.
 */
static struct tree *state_tree(void)
{
	struct tree *t = tree_new();
	uint32_t a = fid(t, "a"), b = fid(t, "b"), c = fid(t, "c"), d = fid(t, "d"), e = fid(t, "e");
	uint32_t w = fid(t, "w");

	tree_set_thread_name(t, 1, "main");
	tree_add(t, 1, TREE_STATE_RUNNING, (uint32_t[]){ a, b, c }, 3, 3);
	tree_add(t, 1, TREE_STATE_IDLE, (uint32_t[]){ a, b, c }, 3, 1);
	tree_add(t, 1, TREE_STATE_RUNNING, (uint32_t[]){ a, b }, 2, 2);
	tree_add(t, 1, TREE_STATE_IDLE, (uint32_t[]){ a, w }, 2, 4);
	tree_add(t, 1, TREE_STATE_IDLE, NULL, 0, 1);
	tree_add(t, 2, TREE_STATE_IDLE, (uint32_t[]){ e }, 1, 2);
	tree_add(t, 2, TREE_STATE_IDLE, (uint32_t[]){ a, b }, 2, 1);
	tree_add(t, 3, TREE_STATE_RUNNING, (uint32_t[]){ a, d }, 2, 2);
	tree_add(t, 3, TREE_STATE_IDLE, (uint32_t[]){ a, d }, 2, 0);	/* nothing, no root */
	return t;
}

/* Counts the top-level nodes named name: a thread must never show twice. */
static size_t count_top(const Sampled__Tree *m, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < m->n_nodes; i++)
		if (m->nodes[i]->parent == 0 && strcmp(node_name(m, i), name) == 0)
			n++;
	return n;
}

/* The filter's values are the protocol's, so the service may cast. */
static void test_state_enum_matches_proto(void **state)
{
	(void)state;
	assert_int_equal(TREE_STATE_ANY, SAMPLED__STATE_FILTER__STATE_ANY);
	assert_int_equal(TREE_STATE_ONLY_RUNNING, SAMPLED__STATE_FILTER__STATE_RUNNING);
	assert_int_equal(TREE_STATE_ONLY_IDLE, SAMPLED__STATE_FILTER__STATE_IDLE);
	assert_int_equal(TREE_STATE_ANY, 0);
}

/* Totals by state, and the merged view under each filter. */
static void test_state_merged(void **state)
{
	struct tree *t = state_tree();
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;

	(void)state;
	assert_int_equal(tree_total(t), 16);
	assert_int_equal(tree_state_total(t, TREE_STATE_RUNNING), 7);
	assert_int_equal(tree_state_total(t, TREE_STATE_IDLE), 9);
	/* Roots 1/run, 1/idle, 2/idle, 3/run; a b c | a b c w | e a b | a d. */
	assert_int_equal(tree_node_count(t), 4 + 3 + 4 + 3 + 2);

	/* Both states: everything merged, the empty stack in the total only. */
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 16);
	assert_int_equal(m->n_nodes, 6);
	expect_node(m, PATH("a"), 0, 13);
	expect_node(m, PATH("a", "b"), 3, 7);
	expect_node(m, PATH("a", "b", "c"), 4, 4);
	expect_node(m, PATH("a", "w"), 4, 4);
	expect_node(m, PATH("a", "d"), 2, 2);
	expect_node(m, PATH("e"), 2, 2);
	check_roundtrip(m);
	tree_message_free(m);

	q.state = TREE_STATE_ONLY_RUNNING;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 7);
	assert_int_equal(m->n_nodes, 4);
	expect_node(m, PATH("a"), 0, 7);
	expect_node(m, PATH("a", "b"), 2, 5);
	expect_node(m, PATH("a", "b", "c"), 3, 3);
	expect_node(m, PATH("a", "d"), 2, 2);
	assert_int_equal(find_path(m, PATH("a", "w")), -1);
	assert_int_equal(find_child(m, 0, "e"), -1);
	/* Only the frames the running samples use. */
	assert_int_equal(m->n_frames, 4);
	tree_message_free(m);

	q.state = TREE_STATE_ONLY_IDLE;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 9);
	assert_int_equal(m->n_nodes, 5);
	expect_node(m, PATH("a"), 0, 6);
	expect_node(m, PATH("a", "w"), 4, 4);
	expect_node(m, PATH("a", "b"), 1, 2);
	expect_node(m, PATH("a", "b", "c"), 1, 1);
	expect_node(m, PATH("e"), 2, 2);
	assert_int_equal(find_path(m, PATH("a", "d")), -1);
	/* Preorder, largest first: a (6) before e (2), w (4) before b (2). */
	assert_string_equal(node_name(m, 0), "a");
	assert_string_equal(node_name(m, 1), "w");
	assert_string_equal(node_name(m, 2), "b");
	assert_string_equal(node_name(m, 3), "c");
	assert_string_equal(node_name(m, 4), "e");
	check_roundtrip(m);
	tree_message_free(m);
	tree_free(t);
}

/* Per thread: one node per thread whatever its states, holding the selected ones. */
static void test_state_per_thread(void **state)
{
	struct tree *t = state_tree();
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;

	(void)state;
	/* Both states: thread 1 once, its running and idle stacks summed. */
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 16);
	assert_int_equal(m->n_nodes, 3 + 4 + 3 + 2);
	assert_int_equal(count_top(m, "main (1)"), 1);
	assert_int_equal(count_top(m, "thread 2"), 1);
	assert_int_equal(count_top(m, "thread 3"), 1);
	assert_int_equal(find_child(m, 0, "main (1)"), 0);	/* 11, then 3, then 2 */
	expect_node(m, PATH("main (1)"), 1, 11);
	expect_node(m, PATH("main (1)", "a"), 0, 10);
	expect_node(m, PATH("main (1)", "a", "b"), 2, 6);
	expect_node(m, PATH("main (1)", "a", "b", "c"), 4, 4);
	expect_node(m, PATH("main (1)", "a", "w"), 4, 4);
	expect_node(m, PATH("thread 2"), 0, 3);
	expect_node(m, PATH("thread 2", "e"), 2, 2);
	expect_node(m, PATH("thread 2", "a", "b"), 1, 1);
	expect_node(m, PATH("thread 3"), 0, 2);
	expect_node(m, PATH("thread 3", "a", "d"), 2, 2);
	assert_true(find_child(m, 0, "thread 2") < find_child(m, 0, "thread 3"));
	check_roundtrip(m);
	tree_message_free(m);

	/* Running only: thread 2 was never running and is not shown. */
	q.state = TREE_STATE_ONLY_RUNNING;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 7);
	assert_int_equal(m->n_nodes, 2 + 3 + 2);
	assert_int_equal(count_top(m, "main (1)"), 1);
	assert_int_equal(count_top(m, "thread 2"), 0);
	expect_node(m, PATH("main (1)"), 0, 5);
	expect_node(m, PATH("main (1)", "a"), 0, 5);
	expect_node(m, PATH("main (1)", "a", "b"), 2, 5);
	expect_node(m, PATH("main (1)", "a", "b", "c"), 3, 3);
	assert_int_equal(find_path(m, PATH("main (1)", "a", "w")), -1);
	expect_node(m, PATH("thread 3", "a", "d"), 2, 2);
	tree_message_free(m);

	/* Idle only: thread 3 was never idle (its count-0 add made no root). */
	q.state = TREE_STATE_ONLY_IDLE;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 9);
	assert_int_equal(m->n_nodes, 2 + 4 + 3);
	assert_int_equal(count_top(m, "main (1)"), 1);
	assert_int_equal(count_top(m, "thread 3"), 0);
	expect_node(m, PATH("main (1)"), 1, 6);
	expect_node(m, PATH("main (1)", "a"), 0, 5);
	expect_node(m, PATH("main (1)", "a", "w"), 4, 4);
	expect_node(m, PATH("main (1)", "a", "b"), 0, 1);
	expect_node(m, PATH("main (1)", "a", "b", "c"), 1, 1);
	expect_node(m, PATH("thread 2"), 0, 3);
	expect_node(m, PATH("thread 2", "e"), 2, 2);
	tree_message_free(m);
	tree_free(t);
}

/* The state filter with the tid filter, pruning, an unknown value and a reset. */
static void test_state_with_other_filters(void **state)
{
	struct tree *t = state_tree();
	struct tree_query q = { 0, 1, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;
	uint32_t z;

	(void)state;
	/* One thread, both states: its two roots merged. */
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 11);
	assert_int_equal(m->n_nodes, 4);
	expect_node(m, PATH("a"), 0, 10);
	expect_node(m, PATH("a", "b"), 2, 6);
	expect_node(m, PATH("a", "b", "c"), 4, 4);
	expect_node(m, PATH("a", "w"), 4, 4);
	tree_message_free(m);

	q.state = TREE_STATE_ONLY_IDLE;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 6);
	assert_int_equal(m->n_nodes, 4);
	expect_node(m, PATH("a"), 0, 5);
	expect_node(m, PATH("a", "b", "c"), 1, 1);
	tree_message_free(m);

	/* A thread never in the selected state: an empty, valid tree. */
	q.tid = 2;
	q.state = TREE_STATE_ONLY_RUNNING;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 0);
	assert_int_equal(m->n_nodes, 0);
	check_roundtrip(m);
	tree_message_free(m);

	/*
	 * The share is of the samples the filters let through (idle: 9, bar
	 * 4.5): main (6) and a (5) stay, a;w (4) and thread 2 (3) go.
	 */
	q.tid = 0;
	q.per_thread = 1;
	q.state = TREE_STATE_ONLY_IDLE;
	q.min_share = 0.5;
	m = tree_to_message(t, &q);
	check_message(m, 0);
	assert_int_equal(m->total_samples, 9);
	assert_int_equal(m->n_nodes, 2);
	expect_node(m, PATH("main (1)"), 1, 6);
	expect_node(m, PATH("main (1)", "a"), 0, 5);
	tree_message_free(m);

	/* A value outside the enum (a newer client's) selects nothing. */
	q.min_share = 0.0;
	q.state = (enum tree_state_filter)7;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 0);
	assert_int_equal(m->n_nodes, 0);
	tree_message_free(m);

	/* Reset clears both roots of every thread and both totals. */
	tree_reset(t);
	assert_int_equal(tree_state_total(t, TREE_STATE_RUNNING), 0);
	assert_int_equal(tree_state_total(t, TREE_STATE_IDLE), 0);
	assert_int_equal(tree_node_count(t), 0);
	z = fid(t, "z");
	tree_add(t, 1, TREE_STATE_IDLE, &z, 1, 2);
	q.state = TREE_STATE_ANY;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 2);
	assert_int_equal(m->n_nodes, 2);
	expect_node(m, PATH("main (1)", "z"), 2, 2);
	tree_message_free(m);
	q.state = TREE_STATE_ONLY_RUNNING;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->n_nodes, 0);
	tree_message_free(m);
	tree_free(t);
}

/*
 * A hand-built profile of a Python process in wall-clock mode:
 *   tid 1 ("main", busy): running held     a;b;c x5
 *                         running released a;b;g x2 (waiting to take the GIL)
 *   tid 2 (sleeper):      idle    released a;n;s x6, (no frames) x1
 *                         running held     a;n x1
 *   tid 3 (native):       running unknown  x x3 (tree_add: no GIL class)
 * Held 6, released 9, unknown 3; running 11, idle 7.
 */
static struct tree *gil_tree(void)
{
	struct tree *t = tree_new();
	uint32_t a = fid(t, "a"), b = fid(t, "b"), c = fid(t, "c"), g = fid(t, "g");
	uint32_t n = fid(t, "n"), s = fid(t, "s"), x = fid(t, "x");

	tree_set_thread_name(t, 1, "main");
	tree_add_gil(t, 1, TREE_STATE_RUNNING, TREE_GIL_HELD, (uint32_t[]){ a, b, c }, 3, 5);
	tree_add_gil(t, 1, TREE_STATE_RUNNING, TREE_GIL_RELEASED, (uint32_t[]){ a, b, g }, 3, 2);
	tree_add_gil(t, 2, TREE_STATE_IDLE, TREE_GIL_RELEASED, (uint32_t[]){ a, n, s }, 3, 6);
	tree_add_gil(t, 2, TREE_STATE_IDLE, TREE_GIL_RELEASED, NULL, 0, 1);
	tree_add_gil(t, 2, TREE_STATE_RUNNING, TREE_GIL_HELD, (uint32_t[]){ a, n }, 2, 1);
	tree_add_gil(t, 2, TREE_STATE_RUNNING, TREE_GIL_HELD, (uint32_t[]){ a, n }, 2, 0);
	tree_add(t, 3, TREE_STATE_RUNNING, &x, 1, 3);
	return t;
}

/* The GIL filter's values are the protocol's, so the service may cast. */
static void test_gil_enum_matches_proto(void **state)
{
	(void)state;
	assert_int_equal(TREE_GIL_ANY, SAMPLED__GIL_FILTER__GIL_ANY);
	assert_int_equal(TREE_GIL_ONLY_HELD, SAMPLED__GIL_FILTER__GIL_HELD);
	assert_int_equal(TREE_GIL_ONLY_RELEASED, SAMPLED__GIL_FILTER__GIL_RELEASED);
	assert_int_equal(TREE_GIL_ANY, 0);
}

/* Totals by GIL class, the memory each class costs, and the merged view under each filter. */
static void test_gil_merged(void **state)
{
	struct tree *t = gil_tree();
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;

	(void)state;
	assert_int_equal(tree_total(t), 18);
	assert_int_equal(tree_gil_total(t, TREE_GIL_HELD), 6);
	assert_int_equal(tree_gil_total(t, TREE_GIL_RELEASED), 9);
	assert_int_equal(tree_gil_total(t, TREE_GIL_UNKNOWN), 3);
	assert_int_equal(tree_gil_total(t, (enum tree_gil)3), 0);
	assert_int_equal(tree_state_total(t, TREE_STATE_RUNNING), 11);
	assert_int_equal(tree_state_total(t, TREE_STATE_IDLE), 7);
	/*
	 * A root per thread and class with samples: 1/run/held a b c, 1/run/
	 * released a b g (a and b again), 2/idle/released a n s, 2/run/held
	 * a n (again), 3/run/unknown x.
	 */
	assert_int_equal(tree_node_count(t), 4 + 4 + 4 + 3 + 2);

	/* Every class: one tree, the classes merged, the empty stack in the total. */
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 18);
	assert_int_equal(m->n_nodes, 7);
	expect_node(m, PATH("a"), 0, 14);
	expect_node(m, PATH("a", "b"), 0, 7);
	expect_node(m, PATH("a", "b", "c"), 5, 5);
	expect_node(m, PATH("a", "b", "g"), 2, 2);
	expect_node(m, PATH("a", "n"), 1, 7);
	expect_node(m, PATH("a", "n", "s"), 6, 6);
	expect_node(m, PATH("x"), 3, 3);
	check_roundtrip(m);
	tree_message_free(m);

	/* Held: the busy thread's work, the sleeper's moment awake; no native thread. */
	q.gil = TREE_GIL_ONLY_HELD;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 6);
	assert_int_equal(m->n_nodes, 4);
	expect_node(m, PATH("a"), 0, 6);
	expect_node(m, PATH("a", "b", "c"), 5, 5);
	expect_node(m, PATH("a", "n"), 1, 1);
	assert_int_equal(find_path(m, PATH("a", "b", "g")), -1);
	assert_int_equal(find_path(m, PATH("a", "n", "s")), -1);
	assert_int_equal(find_child(m, 0, "x"), -1);
	assert_int_equal(m->n_frames, 4);
	check_roundtrip(m);
	tree_message_free(m);

	/* Released: the sleep and the wait for the GIL, largest first. */
	q.gil = TREE_GIL_ONLY_RELEASED;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 9);
	assert_int_equal(m->n_nodes, 5);
	expect_node(m, PATH("a"), 0, 8);
	expect_node(m, PATH("a", "n"), 0, 6);
	expect_node(m, PATH("a", "n", "s"), 6, 6);
	expect_node(m, PATH("a", "b"), 0, 2);
	expect_node(m, PATH("a", "b", "g"), 2, 2);
	assert_int_equal(find_path(m, PATH("a", "b", "c")), -1);
	assert_int_equal(find_child(m, 0, "x"), -1);
	assert_string_equal(node_name(m, 1), "n");
	tree_message_free(m);

	/* The two filters combine: running and released is the wait for the GIL. */
	q.state = TREE_STATE_ONLY_RUNNING;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 2);
	assert_int_equal(m->n_nodes, 3);
	expect_node(m, PATH("a", "b", "g"), 2, 2);
	tree_message_free(m);

	/* Idle and held: nothing in this profile; a valid, empty tree. */
	q.state = TREE_STATE_ONLY_IDLE;
	q.gil = TREE_GIL_ONLY_HELD;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 0);
	assert_int_equal(m->n_nodes, 0);
	check_roundtrip(m);
	tree_message_free(m);

	/* A value outside the enum (a newer client's) selects nothing. */
	q.state = TREE_STATE_ANY;
	q.gil = (enum tree_gil_filter)9;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 0);
	assert_int_equal(m->n_nodes, 0);
	tree_message_free(m);
	tree_free(t);
}

/* Per thread and per tid: a thread shows once, with the selected classes merged. */
static void test_gil_per_thread(void **state)
{
	struct tree *t = gil_tree();
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;
	uint32_t z;

	(void)state;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 18);
	assert_int_equal(count_top(m, "main (1)"), 1);
	assert_int_equal(count_top(m, "thread 2"), 1);
	assert_int_equal(count_top(m, "thread 3"), 1);
	expect_node(m, PATH("main (1)"), 0, 7);
	expect_node(m, PATH("main (1)", "a", "b"), 0, 7);
	expect_node(m, PATH("main (1)", "a", "b", "c"), 5, 5);
	expect_node(m, PATH("main (1)", "a", "b", "g"), 2, 2);
	expect_node(m, PATH("thread 2"), 1, 8);
	expect_node(m, PATH("thread 2", "a", "n"), 1, 7);
	expect_node(m, PATH("thread 3", "x"), 3, 3);
	check_roundtrip(m);
	tree_message_free(m);

	/* Held: the native thread has no such samples and is not shown. */
	q.gil = TREE_GIL_ONLY_HELD;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 6);
	assert_int_equal(count_top(m, "thread 3"), 0);
	expect_node(m, PATH("main (1)"), 0, 5);
	expect_node(m, PATH("main (1)", "a", "b", "c"), 5, 5);
	assert_int_equal(find_path(m, PATH("main (1)", "a", "b", "g")), -1);
	expect_node(m, PATH("thread 2"), 0, 1);
	expect_node(m, PATH("thread 2", "a", "n"), 1, 1);
	tree_message_free(m);

	/* Released, one thread: its two released roots (idle, empty stack too) merged. */
	q.per_thread = 0;
	q.tid = 2;
	q.gil = TREE_GIL_ONLY_RELEASED;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 7);
	assert_int_equal(m->n_nodes, 3);
	expect_node(m, PATH("a", "n", "s"), 6, 6);
	tree_message_free(m);

	/* The native thread under any GIL filter but "any": nothing. */
	q.tid = 3;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 0);
	tree_message_free(m);

	/* Reset clears every class of every thread and the totals. */
	tree_reset(t);
	assert_int_equal(tree_gil_total(t, TREE_GIL_HELD), 0);
	assert_int_equal(tree_gil_total(t, TREE_GIL_RELEASED), 0);
	assert_int_equal(tree_gil_total(t, TREE_GIL_UNKNOWN), 0);
	assert_int_equal(tree_node_count(t), 0);
	z = fid(t, "z");
	tree_add_gil(t, 1, TREE_STATE_IDLE, TREE_GIL_RELEASED, &z, 1, 2);
	q.tid = 0;
	q.per_thread = 1;
	q.gil = TREE_GIL_ONLY_HELD;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->n_nodes, 0);
	tree_message_free(m);
	q.gil = TREE_GIL_ONLY_RELEASED;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	expect_node(m, PATH("main (1)", "z"), 2, 2);
	tree_message_free(m);
	tree_free(t);
}

/* Pruning cuts whole subtrees and keeps the counts that reveal the cut. */
static void test_min_share(void **state)
{
	struct tree *t = hand_tree();
	struct tree_query q = { 0, 0, 0.2, TREE_STATE_ANY, TREE_GIL_ANY };	/* cut below 2.2 of 11 */
	Sampled__Tree *m;

	(void)state;
	m = tree_to_message(t, &q);
	check_message(m, 0);
	assert_int_equal(m->total_samples, 11);
	assert_int_equal(m->n_nodes, 4);
	assert_int_equal(find_path(m, PATH("a", "d")), -1);
	/* a keeps self 0: its total 7 shows that 1 sample was cut below it. */
	expect_node(m, PATH("a"), 0, 7);
	expect_node(m, PATH("a", "b"), 2, 6);
	expect_node(m, PATH("a", "b", "c"), 4, 4);
	expect_node(m, PATH("e"), 4, 4);
	/* The frame of the cut node is not sent. */
	assert_int_equal(m->n_frames, 4);
	tree_message_free(m);

	/*
	 * The share is of the samples considered (tid 1: 6), thread nodes
	 * included; a node exactly at the bar (c: 3 of 6 at 0.5) stays.
	 */
	q.per_thread = 1;
	q.tid = 1;
	q.min_share = 0.5;
	m = tree_to_message(t, &q);
	check_message(m, 0);
	assert_int_equal(m->total_samples, 6);
	assert_int_equal(m->n_nodes, 4);
	expect_node(m, PATH("main (1)", "a", "b", "c"), 3, 3);
	assert_int_equal(find_path(m, PATH("main (1)", "a", "d")), -1);
	tree_message_free(m);
	q.min_share = 0.6;
	m = tree_to_message(t, &q);
	check_message(m, 0);
	assert_int_equal(m->total_samples, 6);
	assert_int_equal(m->n_nodes, 3);
	expect_node(m, PATH("main (1)", "a", "b"), 2, 5);
	assert_int_equal(find_path(m, PATH("main (1)", "a", "b", "c")), -1);
	tree_message_free(m);

	/* Everything below the bar: an empty forest, the total still told. */
	q.per_thread = 0;
	q.tid = 0;
	q.min_share = 1.5;
	m = tree_to_message(t, &q);
	check_message(m, 0);
	assert_int_equal(m->n_nodes, 0);
	assert_int_equal(m->total_samples, 11);
	tree_message_free(m);
	tree_free(t);
}

/* A frame repeated on a stack is a node per depth, each counted once. */
static void test_recursion(void **state)
{
	struct tree *t = tree_new();
	uint32_t a = fid(t, "a"), b = fid(t, "b");
	Sampled__Tree *m;

	(void)state;
	tree_add(t, 7, TREE_STATE_RUNNING, (uint32_t[]){ a, b, a, b }, 4, 2);
	tree_add(t, 7, TREE_STATE_RUNNING, (uint32_t[]){ a, b, a }, 3, 1);
	tree_add(t, 7, TREE_STATE_RUNNING, (uint32_t[]){ a, a, a }, 3, 1);
	m = tree_to_message(t, NULL);
	check_message(m, 1);
	expect_node(m, PATH("a"), 0, 4);
	expect_node(m, PATH("a", "b"), 0, 3);
	expect_node(m, PATH("a", "b", "a"), 1, 3);
	expect_node(m, PATH("a", "b", "a", "b"), 2, 2);
	expect_node(m, PATH("a", "a"), 0, 1);
	expect_node(m, PATH("a", "a", "a"), 1, 1);
	tree_message_free(m);
	tree_free(t);
}

/* Sibling order, empty stacks and zero counts. */
static void test_order_and_empty_stacks(void **state)
{
	struct tree *t = tree_new();
	uint32_t y = fid(t, "y"), x = fid(t, "x"), z = fid(t, "z");
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;

	(void)state;
	/* Inserted y, x, z; x and y tie and are ordered by name. */
	tree_add(t, 3, TREE_STATE_RUNNING, &y, 1, 2);
	tree_add(t, 3, TREE_STATE_RUNNING, &x, 1, 2);
	tree_add(t, 3, TREE_STATE_RUNNING, &z, 1, 5);
	tree_add(t, 3, TREE_STATE_RUNNING, NULL, 0, 3);	/* a sample with no frames */
	tree_add(t, 3, TREE_STATE_RUNNING, &x, 1, 0);	/* nothing */
	assert_int_equal(tree_total(t), 12);
	m = tree_to_message(t, NULL);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 12);
	assert_int_equal(m->n_nodes, 3);
	assert_string_equal(node_name(m, 0), "z");
	assert_string_equal(node_name(m, 1), "x");
	assert_string_equal(node_name(m, 2), "y");
	tree_message_free(m);

	/* Per thread, the empty stacks are the thread node's self. */
	m = tree_to_message(t, &q);
	check_message(m, 1);
	expect_node(m, PATH("thread 3"), 3, 12);
	tree_message_free(m);
	tree_free(t);
}

/* Ties in total are broken by name, whatever order the stacks came in. */
static void test_tie_order(void **state)
{
	static const char *const names[] = { "m", "c", "q", "a", "x", "e", "k", "b", "z", "h",
					      "t", "d", "o", "g", "w", "j", "r", "f", "u", "i" };
	size_t n = sizeof(names) / sizeof(names[0]), i, pass;

	(void)state;
	for (pass = 0; pass < 2; pass++) {
		struct tree *t = tree_new();
		uint32_t root = fid(t, "root");
		Sampled__Tree *m;

		for (i = 0; i < n; i++) {
			uint32_t leaf = fid(t, names[pass ? n - 1 - i : i]);

			tree_add(t, 1, TREE_STATE_RUNNING, (uint32_t[]){ root, leaf }, 2, 1);
		}
		m = tree_to_message(t, NULL);
		check_message(m, 1);
		assert_int_equal(m->n_nodes, n + 1);
		for (i = 2; i < m->n_nodes; i++)
			assert_true(strcmp(node_name(m, i - 1), node_name(m, i)) < 0);
		tree_message_free(m);
		tree_free(t);
	}
}

/* Reset forgets samples and frames and remembers thread names. */
static void test_reset(void **state)
{
	struct tree *t = hand_tree();
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;
	uint32_t z;

	(void)state;
	tree_reset(t);
	assert_int_equal(tree_total(t), 0);
	assert_int_equal(tree_node_count(t), 0);
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->n_nodes, 0);
	assert_int_equal(m->total_samples, 0);
	tree_message_free(m);

	/* Frame ids start over; the name of tid 1 is remembered. */
	z = fid(t, "z");
	assert_int_equal(z, 0);
	tree_add(t, 1, TREE_STATE_RUNNING, &z, 1, 1);
	tree_add(t, 2, TREE_STATE_RUNNING, &z, 1, 1);
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, 2);
	expect_node(m, PATH("main (1)", "z"), 1, 1);
	expect_node(m, PATH("thread 2", "z"), 1, 1);
	assert_int_equal(find_path(m, PATH("main (1)", "a")), -1);
	tree_message_free(m);
	tree_reset(t);
	tree_reset(t);
	tree_free(t);
	tree_free(NULL);
	tree_message_free(NULL);
}

/*
 * Counting allocator calls proves the steady state allocates nothing, not
 * even a buffer freed again at once.  The test binary interposes the libc
 * allocator for that, forwarding to glibc's own entry points; the counter is
 * this file's only global.  Under AddressSanitizer, which owns the allocator,
 * the check falls back to the heap in use as glibc reports it.
 */
#ifndef __SANITIZE_ADDRESS__
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);

static size_t alloc_calls;

/* Counts, then allocates with glibc. */
void *malloc(size_t size)
{
	alloc_calls++;
	return __libc_malloc(size);
}

/* Counts, then allocates with glibc. */
void *calloc(size_t n, size_t size)
{
	alloc_calls++;
	return __libc_calloc(n, size);
}

/* Counts, then reallocates with glibc. */
void *realloc(void *ptr, size_t size)
{
	alloc_calls++;
	return __libc_realloc(ptr, size);
}

/* Allocator calls so far. */
static size_t heap_activity(void)
{
	return alloc_calls;
}
#else
/* Heap bytes in use as glibc reports them. */
static size_t heap_activity(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}
#endif

/* Fills a tree with random stacks of random depth over n_frames frames, in random states. */
static void random_stacks(struct tree *t, struct rng *r, size_t n_stacks, uint32_t n_frames,
			  uint32_t max_depth, pid_t n_threads, uint32_t *ids)
{
	uint32_t stack[64];
	size_t i, j, depth;
	enum tree_state st;
	pid_t tid;

	for (i = 0; i < n_stacks; i++) {
		depth = 1 + rng_below(r, max_depth);
		for (j = 0; j < depth; j++)
			stack[j] = ids[rng_below(r, n_frames)];
		tid = 100 + (pid_t)rng_below(r, (uint32_t)n_threads);
		st = rng_below(r, 2) ? TREE_STATE_IDLE : TREE_STATE_RUNNING;
		tree_add(t, tid, st, stack, depth, 1 + rng_below(r, 3));
	}
}

/* Interns n frames named f0..f(n-1); ids equal the names' numbers. */
static uint32_t *make_frames(struct tree *t, uint32_t n)
{
	uint32_t *ids = mem_calloc(n, sizeof(*ids));
	char name[32];
	uint32_t i;

	for (i = 0; i < n; i++) {
		struct tree_frame f = { TREE_KIND_NATIVE, name, "libr.so", "r.c", i % 7, 0 };

		snprintf(name, sizeof(name), "f%u", i);
		ids[i] = tree_frame_id(t, &f);
		assert_int_equal(ids[i], i);
	}
	return ids;
}

/* Re-adding stacks whose nodes exist allocates nothing and adds no node. */
static void test_steady_state(void **state)
{
	struct tree *t = tree_new();
	uint32_t *ids = make_frames(t, 50);
	struct rng r = { 42 }, again;
	size_t nodes, heap;
	uint64_t total, idle;
	int bad = 0;

	(void)state;
	random_stacks(t, &r, 2000, 50, 30, 3, ids);
	nodes = tree_node_count(t);
	total = tree_total(t);
	idle = tree_state_total(t, TREE_STATE_IDLE);
	/* Both states are in play, so both roots of every thread are walked. */
	assert_true(idle > 0 && idle < total);
	/* Same seed, same stacks: every node exists, nothing may be allocated. */
	r.s = 42;
	again = r;
	heap = heap_activity();
	random_stacks(t, &again, 2000, 50, 30, 3, ids);
	if (heap_activity() != heap)
		bad = 1;
	assert_false(bad);
#ifndef __SANITIZE_ADDRESS__
	/* The probe is live: an allocation does show. */
	heap = heap_activity();
	tree_set_thread_name(t, 100, "probe");
	assert_int_not_equal(heap_activity(), heap);
#endif
	assert_int_equal(tree_node_count(t), nodes);
	assert_int_equal(tree_total(t), 2 * total);
	assert_int_equal(tree_state_total(t, TREE_STATE_IDLE), 2 * idle);
	assert_int_equal(tree_state_total(t, TREE_STATE_RUNNING), 2 * (total - idle));
	free(ids);
	tree_free(t);
}

/* One sample as the brute-force check remembers it. */
struct sample {
	pid_t tid;
	enum tree_state state;
	enum tree_gil gil;
	uint32_t depth;
	uint32_t frames[6];
	uint64_t count;
};

/* Whether a query's tid, state and gil filters let a sample through, decided independently. */
static int sample_selected(const struct sample *s, const struct tree_query *q)
{
	if (q->tid != 0 && s->tid != q->tid)
		return 0;
	if (q->gil == TREE_GIL_ONLY_HELD && s->gil != TREE_GIL_HELD)
		return 0;
	if (q->gil == TREE_GIL_ONLY_RELEASED && s->gil != TREE_GIL_RELEASED)
		return 0;
	if (q->gil != TREE_GIL_ANY && q->gil != TREE_GIL_ONLY_HELD &&
	    q->gil != TREE_GIL_ONLY_RELEASED)
		return 0;
	if (q->state == TREE_STATE_ONLY_RUNNING)
		return s->state == TREE_STATE_RUNNING;
	if (q->state == TREE_STATE_ONLY_IDLE)
		return s->state == TREE_STATE_IDLE;
	return q->state == TREE_STATE_ANY;
}

/*
 * Compares each node against a recount from the raw samples the query
 * selects: the node's path of frames (names are unique, so they identify
 * frames) is a prefix of a sample's stack for total, equal to it for self.
 * Per thread, each thread with selected samples must head exactly one
 * top-level node, and no other thread may.
 */
static void check_against_samples(const Sampled__Tree *m, const struct sample *s, size_t n,
				  const struct tree_query *q)
{
	uint32_t path[8], parents[8];
	pid_t expected[16], shown[16];
	size_t i, j, k, depth, n_expected = 0, n_shown = 0;
	uint64_t self, total, considered = 0, empty = 0, top = 0;

	for (k = 0; k < n; k++) {
		if (!sample_selected(&s[k], q))
			continue;
		considered += s[k].count;
		if (s[k].depth == 0)
			empty += s[k].count;
		for (j = 0; j < n_expected && expected[j] != s[k].tid; j++)
			;
		if (j == n_expected) {
			assert_true(n_expected < 16);
			expected[n_expected++] = s[k].tid;
		}
	}
	assert_int_equal(m->total_samples, considered);
	for (i = 0; i < m->n_nodes; i++) {
		pid_t node_tid = 0;
		size_t skip = q->per_thread ? 1 : 0;

		/* Collect the path, root first. */
		depth = 0;
		for (j = i + 1; j != 0; j = m->nodes[j - 1]->parent) {
			assert_true(depth < 8);
			parents[depth++] = (uint32_t)j - 1;
		}
		if (m->nodes[i]->parent == 0)
			top += m->nodes[i]->total;
		if (q->per_thread) {
			const char *label = node_name(m, parents[depth - 1]);

			assert_int_equal(sscanf(label, "thread %d", &node_tid), 1);
			if (m->nodes[i]->parent == 0) {
				for (j = 0; j < n_shown; j++)
					assert_int_not_equal(shown[j], node_tid);
				assert_true(n_shown < 16);
				shown[n_shown++] = node_tid;
			}
		}
		for (j = 0; j + skip < depth; j++)
			assert_int_equal(sscanf(node_name(m, parents[depth - 1 - skip - j]), "f%u",
						&path[j]), 1);
		depth -= skip;
		self = total = 0;
		for (k = 0; k < n; k++) {
			if (!sample_selected(&s[k], q) || (node_tid != 0 && s[k].tid != node_tid))
				continue;
			if (s[k].depth < depth || memcmp(s[k].frames, path, depth * sizeof(*path)) != 0)
				continue;
			total += s[k].count;
			if (s[k].depth == depth)
				self += s[k].count;
		}
		assert_int_equal(m->nodes[i]->total, total);
		assert_int_equal(m->nodes[i]->self, self);
	}
	/*
	 * No sample lost: the top level accounts for all of them, except that
	 * merged, empty stacks have no node.  Per thread, every thread with
	 * selected samples is shown (each at most once, checked above).
	 */
	if (q->per_thread) {
		assert_int_equal(top, considered);
		assert_int_equal(n_shown, n_expected);
	} else {
		assert_int_equal(top + empty, considered);
	}
}

/*
 * Every node of random profiles checked against a recount of the samples,
 * under every state filter.  Threads 100 and 101 are sampled in both states,
 * 102 only running, 103 only idle; some stacks are empty.
 */
static void test_merge_brute_force(void **state)
{
	static const enum tree_state_filter filters[] = { TREE_STATE_ANY, TREE_STATE_ONLY_RUNNING,
							  TREE_STATE_ONLY_IDLE };
	static const struct {
		int per_thread;
		pid_t tid;
	} views[] = { { 0, 0 }, { 0, 101 }, { 0, 102 }, { 0, 103 },
		      { 1, 0 }, { 1, 101 }, { 1, 102 }, { 1, 103 } };
	struct tree *t = tree_new();
	uint32_t *ids = make_frames(t, 6);
	struct sample *s = mem_calloc(1500, sizeof(*s));
	struct rng r = { 7 };
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	uint64_t by_state[2] = { 0, 0 };
	Sampled__Tree *m;
	size_t i, j, f, v;

	(void)state;
	for (i = 0; i < 1500; i++) {
		s[i].tid = 100 + (pid_t)rng_below(&r, 4);
		if (s[i].tid == 102)
			s[i].state = TREE_STATE_RUNNING;
		else if (s[i].tid == 103)
			s[i].state = TREE_STATE_IDLE;
		else
			s[i].state = rng_below(&r, 2) ? TREE_STATE_IDLE : TREE_STATE_RUNNING;
		s[i].depth = rng_below(&r, 10) == 0 ? 0 : 1 + rng_below(&r, 5);
		for (j = 0; j < s[i].depth; j++)
			s[i].frames[j] = ids[rng_below(&r, 4)];	/* few frames: lots of sharing */
		s[i].count = 1 + rng_below(&r, 4);
		by_state[s[i].state] += s[i].count;
		tree_add(t, s[i].tid, s[i].state, s[i].frames, s[i].depth, s[i].count);
	}
	assert_int_equal(tree_state_total(t, TREE_STATE_RUNNING), by_state[TREE_STATE_RUNNING]);
	assert_int_equal(tree_state_total(t, TREE_STATE_IDLE), by_state[TREE_STATE_IDLE]);
	assert_int_equal(tree_total(t), by_state[0] + by_state[1]);

	for (f = 0; f < sizeof(filters) / sizeof(filters[0]); f++) {
		for (v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
			q.state = filters[f];
			q.per_thread = views[v].per_thread;
			q.tid = views[v].tid;
			m = tree_to_message(t, &q);
			check_message(m, 1);
			check_against_samples(m, s, 1500, &q);
			if (q.tid == 0)
				check_roundtrip(m);
			tree_message_free(m);
		}
	}
	free(s);
	free(ids);
	tree_free(t);
}

/*
 * Every node of a random Python-like profile checked against a recount of
 * the samples, under every state and GIL filter: thread 100 is sampled in
 * every class, 101 holds the GIL whenever it runs and has let go of it
 * whenever it is idle, 102 runs no Python (unknown class, tree_add).
 * Re-adding the same samples then allocates nothing: the classes' roots
 * exist.
 */
static void test_gil_brute_force(void **state)
{
	static const enum tree_state_filter states[] = { TREE_STATE_ANY, TREE_STATE_ONLY_RUNNING,
							 TREE_STATE_ONLY_IDLE };
	static const enum tree_gil_filter gils[] = { TREE_GIL_ANY, TREE_GIL_ONLY_HELD,
						     TREE_GIL_ONLY_RELEASED };
	static const struct {
		int per_thread;
		pid_t tid;
	} views[] = { { 0, 0 }, { 0, 100 }, { 0, 102 }, { 1, 0 }, { 1, 101 } };
	struct tree *t = tree_new();
	uint32_t *ids = make_frames(t, 6);
	struct sample *s = mem_calloc(1200, sizeof(*s));
	struct rng r = { 11 };
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	uint64_t by_gil[3] = { 0, 0, 0 };
	size_t i, j, k, v, nodes, heap;
	Sampled__Tree *m;

	(void)state;
	for (i = 0; i < 1200; i++) {
		s[i].tid = 100 + (pid_t)rng_below(&r, 3);
		s[i].state = rng_below(&r, 2) ? TREE_STATE_IDLE : TREE_STATE_RUNNING;
		if (s[i].tid == 100)
			s[i].gil = (enum tree_gil)rng_below(&r, 3);
		else if (s[i].tid == 101)
			s[i].gil = s[i].state == TREE_STATE_RUNNING ? TREE_GIL_HELD : TREE_GIL_RELEASED;
		else
			s[i].gil = TREE_GIL_UNKNOWN;
		s[i].depth = rng_below(&r, 10) == 0 ? 0 : 1 + rng_below(&r, 5);
		for (j = 0; j < s[i].depth; j++)
			s[i].frames[j] = ids[rng_below(&r, 4)];
		s[i].count = 1 + rng_below(&r, 4);
		by_gil[s[i].gil] += s[i].count;
		if (s[i].gil == TREE_GIL_UNKNOWN && rng_below(&r, 2))
			tree_add(t, s[i].tid, s[i].state, s[i].frames, s[i].depth, s[i].count);
		else
			tree_add_gil(t, s[i].tid, s[i].state, s[i].gil, s[i].frames, s[i].depth,
				     s[i].count);
	}
	assert_int_equal(tree_gil_total(t, TREE_GIL_UNKNOWN), by_gil[TREE_GIL_UNKNOWN]);
	assert_int_equal(tree_gil_total(t, TREE_GIL_HELD), by_gil[TREE_GIL_HELD]);
	assert_int_equal(tree_gil_total(t, TREE_GIL_RELEASED), by_gil[TREE_GIL_RELEASED]);
	assert_int_equal(tree_total(t), by_gil[0] + by_gil[1] + by_gil[2]);

	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		for (k = 0; k < sizeof(gils) / sizeof(gils[0]); k++) {
			for (v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
				q.state = states[i];
				q.gil = gils[k];
				q.per_thread = views[v].per_thread;
				q.tid = views[v].tid;
				m = tree_to_message(t, &q);
				check_message(m, 1);
				check_against_samples(m, s, 1200, &q);
				if (q.tid == 0)
					check_roundtrip(m);
				tree_message_free(m);
			}
		}
	}

	nodes = tree_node_count(t);
	heap = heap_activity();
	for (i = 0; i < 1200; i++)
		tree_add_gil(t, s[i].tid, s[i].state, s[i].gil, s[i].frames, s[i].depth, 1);
	assert_int_equal(heap_activity(), heap);
	assert_int_equal(tree_node_count(t), nodes);
	free(s);
	free(ids);
	tree_free(t);
}

/*
 * tree_add names the node a stack ends at: the same for the same thread,
 * class and stack, another for any of those changed, the thread's root
 * for an empty stack, none for nothing added.
 */
static void test_add_returns_leaf(void **state)
{
	struct tree *t = tree_new();
	uint32_t ab[2] = { fid(t, "a"), fid(t, "b") }, ac[2] = { ab[0], fid(t, "c") };
	uint32_t leaf, root;

	(void)state;
	leaf = tree_add(t, 1, TREE_STATE_RUNNING, ab, 2, 1);
	assert_true(leaf < tree_node_count(t));
	assert_int_equal(tree_add(t, 1, TREE_STATE_RUNNING, ab, 2, 5), leaf);
	assert_int_equal(tree_add_gil(t, 1, TREE_STATE_RUNNING, TREE_GIL_UNKNOWN, ab, 2, 1), leaf);
	assert_int_not_equal(tree_add(t, 1, TREE_STATE_RUNNING, ac, 2, 1), leaf);
	assert_int_not_equal(tree_add(t, 1, TREE_STATE_IDLE, ab, 2, 1), leaf);
	assert_int_not_equal(tree_add_gil(t, 1, TREE_STATE_RUNNING, TREE_GIL_HELD, ab, 2, 1), leaf);
	assert_int_not_equal(tree_add(t, 2, TREE_STATE_RUNNING, ab, 2, 1), leaf);
	assert_int_not_equal(tree_add(t, 1, TREE_STATE_RUNNING, ab, 1, 1), leaf);
	root = tree_add(t, 1, TREE_STATE_RUNNING, NULL, 0, 1);
	assert_int_not_equal(root, leaf);
	assert_int_equal(tree_add(t, 1, TREE_STATE_RUNNING, NULL, 0, 2), root);
	assert_int_equal(tree_add(t, 1, TREE_STATE_RUNNING, ab, 2, 0), TREE_NODE_NONE);
	tree_free(t);
}

/*
 * Other counts than the tree's (a time window's): every node of random
 * profiles checked against a recount of the samples picked, under every
 * filter; nodes and threads with none left are not sent (check_message
 * insists on totals above 0), and no counts at all give an empty tree.
 * Counts for ids past n, or n short of the node count, count 0.
 */
static void test_counts_brute_force(void **state)
{
	static const enum tree_state_filter states[] = { TREE_STATE_ANY, TREE_STATE_ONLY_RUNNING,
							 TREE_STATE_ONLY_IDLE };
	static const enum tree_gil_filter gils[] = { TREE_GIL_ANY, TREE_GIL_ONLY_HELD };
	static const struct {
		int per_thread;
		pid_t tid;
	} views[] = { { 0, 0 }, { 0, 101 }, { 0, 103 }, { 1, 0 }, { 1, 102 } };
	struct tree *t = tree_new();
	uint32_t *ids = make_frames(t, 6), *leaves = mem_calloc(1000, sizeof(*leaves));
	struct sample *s = mem_calloc(1000, sizeof(*s)), *picked = mem_calloc(1000, sizeof(*s));
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	struct rng r = { 23 };
	size_t i, j, k, v, n_picked = 0, n;
	uint64_t *counts;
	Sampled__Tree *m, *all;
	uint8_t *pa, *pb;
	size_t la, lb;

	(void)state;
	for (i = 0; i < 1000; i++) {
		s[i].tid = 100 + (pid_t)rng_below(&r, 4);
		s[i].state = rng_below(&r, 2) ? TREE_STATE_IDLE : TREE_STATE_RUNNING;
		s[i].gil = s[i].tid == 100 ? (enum tree_gil)rng_below(&r, 3) : TREE_GIL_UNKNOWN;
		s[i].depth = rng_below(&r, 10) == 0 ? 0 : 1 + rng_below(&r, 5);
		for (j = 0; j < s[i].depth; j++)
			s[i].frames[j] = ids[rng_below(&r, 4)];
		s[i].count = 1 + rng_below(&r, 4);
		leaves[i] = tree_add_gil(t, s[i].tid, s[i].state, s[i].gil, s[i].frames, s[i].depth,
					 s[i].count);
	}
	n = tree_node_count(t);
	counts = mem_calloc(n, sizeof(*counts));
	for (i = 0; i < 1000; i++) {
		assert_true(leaves[i] < n);
		/* Thread 103 gets nothing picked: it must vanish from every view. */
		if (s[i].tid == 103 || rng_below(&r, 3) != 0)
			continue;
		picked[n_picked++] = s[i];
		counts[leaves[i]] += s[i].count;
	}
	assert_true(n_picked > 100);
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		for (k = 0; k < sizeof(gils) / sizeof(gils[0]); k++) {
			for (v = 0; v < sizeof(views) / sizeof(views[0]); v++) {
				q.state = states[i];
				q.gil = gils[k];
				q.per_thread = views[v].per_thread;
				q.tid = views[v].tid;
				m = tree_to_message_counts(t, &q, counts, n);
				check_message(m, 1);
				check_against_samples(m, picked, n_picked, &q);
				if (q.tid == 0)
					check_roundtrip(m);
				tree_message_free(m);
			}
		}
	}

	/* The tree's own counts, given as such, are tree_to_message exactly. */
	memset(counts, 0, n * sizeof(*counts));
	for (i = 0; i < 1000; i++)
		counts[leaves[i]] += s[i].count;
	q = (struct tree_query){ 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	m = tree_to_message_counts(t, &q, counts, n);
	all = tree_to_message(t, &q);
	la = sampled__tree__get_packed_size(m);
	lb = sampled__tree__get_packed_size(all);
	assert_int_equal(la, lb);
	pa = mem_alloc(la + 1);
	pb = mem_alloc(lb + 1);
	sampled__tree__pack(m, pa);
	sampled__tree__pack(all, pb);
	assert_memory_equal(pa, pb, la);
	free(pa);
	free(pb);
	tree_message_free(m);
	tree_message_free(all);

	/* Nothing counted, or counts for no node the tree has: an empty tree. */
	memset(counts, 0, n * sizeof(*counts));
	m = tree_to_message_counts(t, &q, counts, n);
	assert_int_equal(m->n_nodes, 0);
	assert_int_equal(m->total_samples, 0);
	tree_message_free(m);
	for (i = 0; i < 1000; i++)
		counts[leaves[i]] = 1;
	m = tree_to_message_counts(t, NULL, counts, 0);
	assert_int_equal(m->n_nodes, 0);
	tree_message_free(m);
	free(counts);
	free(picked);
	free(leaves);
	free(s);
	free(ids);
	tree_free(t);
}

/* Invariants and protobuf validity on a tree of about three million nodes. */
static void test_random_large(void **state)
{
	struct tree *t = tree_new();
	uint32_t *ids = make_frames(t, 1000);
	struct rng r = { 0x5eed };
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;
	uint64_t self_sum = 0;
	size_t i, n_one;

	(void)state;
	random_stacks(t, &r, 100000, 1000, 64, 4, ids);
	/* 4 threads, each sampled in both states: 8 roots. */
	assert_true(tree_state_total(t, TREE_STATE_RUNNING) > 0);
	assert_true(tree_state_total(t, TREE_STATE_IDLE) > 0);
	print_message("random tree: %zu nodes, %llu samples\n", tree_node_count(t),
		      (unsigned long long)tree_total(t));

	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, tree_total(t));
	for (i = 0; i < m->n_nodes; i++)
		self_sum += m->nodes[i]->self;
	assert_int_equal(self_sum, tree_total(t));
	/* Merging can only combine nodes: at most the tree's nodes without its 8 roots. */
	assert_true(m->n_nodes <= tree_node_count(t) - 8);
	check_roundtrip(m);
	tree_message_free(m);

	/*
	 * Per thread and one state, each root is emitted as its thread node
	 * with its subtree as is: over the two states, exactly the tree's nodes.
	 * Both states merge each thread's two subtrees: no more than that.
	 */
	q.per_thread = 1;
	q.state = TREE_STATE_ONLY_RUNNING;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, tree_state_total(t, TREE_STATE_RUNNING));
	n_one = m->n_nodes;
	tree_message_free(m);
	q.state = TREE_STATE_ONLY_IDLE;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, tree_state_total(t, TREE_STATE_IDLE));
	n_one += m->n_nodes;
	tree_message_free(m);
	assert_int_equal(n_one, tree_node_count(t));
	q.state = TREE_STATE_ANY;
	m = tree_to_message(t, &q);
	check_message(m, 1);
	assert_int_equal(m->total_samples, tree_total(t));
	assert_true(m->n_nodes <= n_one - 4);
	tree_message_free(m);

	q.min_share = 0.001;
	m = tree_to_message(t, &q);
	check_message(m, 0);
	for (i = 0; i < m->n_nodes; i++)
		assert_true((double)m->nodes[i]->total >= 0.001 * (double)m->total_samples);
	tree_message_free(m);
	free(ids);
	tree_free(t);
}

/* Reports the two costs that matter; the numbers are printed, not asserted. */
static void test_timing(void **state)
{
	struct tree *t = tree_new();
	uint32_t *ids = make_frames(t, 1000);
	uint32_t stack[30];
	struct rng r = { 99 };
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;
	double t0, add_ns, merged_ms, per_thread_ms;
	size_t i, rounds = 1000000;

	(void)state;
	/* Warm: a few hundred distinct stacks exist; re-add them round-robin. */
	for (i = 0; i < 30; i++)
		stack[i] = ids[rng_below(&r, 1000)];
	for (i = 0; i < 256; i++) {
		stack[29] = ids[i];
		tree_add(t, 1, TREE_STATE_RUNNING, stack, 30, 1);
	}
	t0 = now_sec();
	for (i = 0; i < rounds; i++) {
		stack[29] = ids[i & 255];
		tree_add(t, 1, TREE_STATE_RUNNING, stack, 30, 1);
	}
	add_ns = (now_sec() - t0) * 1e9 / (double)rounds;
	assert_int_equal(tree_total(t), 256 + rounds);

	tree_reset(t);
	free(ids);
	ids = make_frames(t, 1000);
	while (tree_node_count(t) < 100000)
		random_stacks(t, &r, 1000, 1000, 16, 2, ids);
	t0 = now_sec();
	m = tree_to_message(t, &q);
	merged_ms = (now_sec() - t0) * 1e3;
	check_message(m, 1);
	tree_message_free(m);
	q.per_thread = 1;
	t0 = now_sec();
	m = tree_to_message(t, &q);
	per_thread_ms = (now_sec() - t0) * 1e3;
	tree_message_free(m);
	print_message("tree_add, 30-frame stack, warm: %.1f ns\n", add_ns);
	print_message("tree_to_message, %zu-node tree: merged %.1f ms, per-thread %.1f ms\n",
		      tree_node_count(t), merged_ms, per_thread_ms);
	free(ids);
	tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interning),
		cmocka_unit_test(test_counts_merged),
		cmocka_unit_test(test_per_thread),
		cmocka_unit_test(test_tid_filter),
		cmocka_unit_test(test_state_enum_matches_proto),
		cmocka_unit_test(test_state_merged),
		cmocka_unit_test(test_state_per_thread),
		cmocka_unit_test(test_state_with_other_filters),
		cmocka_unit_test(test_gil_enum_matches_proto),
		cmocka_unit_test(test_gil_merged),
		cmocka_unit_test(test_gil_per_thread),
		cmocka_unit_test(test_min_share),
		cmocka_unit_test(test_recursion),
		cmocka_unit_test(test_order_and_empty_stacks),
		cmocka_unit_test(test_tie_order),
		cmocka_unit_test(test_reset),
		cmocka_unit_test(test_steady_state),
		cmocka_unit_test(test_merge_brute_force),
		cmocka_unit_test(test_gil_brute_force),
		cmocka_unit_test(test_add_returns_leaf),
		cmocka_unit_test(test_counts_brute_force),
		cmocka_unit_test(test_random_large),
		cmocka_unit_test(test_timing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
