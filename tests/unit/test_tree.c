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
#include "mem.h"
#include "profile/tree.h"
#include "stopwatch.h"

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

/* Follows a path of names joined by ';' ("main (1);a;b") from the top; -1 when a step is missing. */
static long find_path(const Sampled__Tree *m, const char *path)
{
	uint32_t parent = 0;
	long idx = -1;
	char name[64];

	for (const char *p = path; p != NULL;) {
		const char *semi = strchr(p, ';');
		size_t len = semi != NULL ? (size_t)(semi - p) : strlen(p);

		assert_true(len < sizeof(name));
		memcpy(name, p, len);
		name[len] = '\0';
		idx = find_child(m, parent, name);
		if (idx < 0)
			return -1;
		parent = (uint32_t)idx + 1;
		p = semi != NULL ? semi + 1 : NULL;
	}
	return idx;
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

/*
 * Compares every scalar field of a and b, messages of one type, as the
 * type's descriptor lists them (a field added to the protocol is compared
 * too; a kind of field this test cannot compare fails it).
 */
static void expect_same_fields(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	const ProtobufCMessageDescriptor *d = a->descriptor;

	assert_ptr_equal(d, b->descriptor);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const char *pa = (const char *)a + f->offset, *pb = (const char *)b + f->offset;
		uint64_t va = 0, vb = 0;
		size_t size = 0;

		if (f->type == PROTOBUF_C_TYPE_UINT32 || f->type == PROTOBUF_C_TYPE_ENUM)
			size = sizeof(uint32_t);
		else if (f->type == PROTOBUF_C_TYPE_UINT64)
			size = sizeof(uint64_t);
		else
			fail_msg("%s.%s: a field this test does not compare", d->name, f->name);
		assert_int_equal(f->label, PROTOBUF_C_LABEL_NONE);
		memcpy(&va, pa, size);
		memcpy(&vb, pb, size);
		if (va != vb)
			fail_msg("%s.%s: %llu, not %llu", d->name, f->name, (unsigned long long)va,
				 (unsigned long long)vb);
	}
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
	for (i = 0; i < m->n_frames; i++)
		expect_same_fields(&u->frames[i]->base, &m->frames[i]->base);
	assert_int_equal(u->n_nodes, m->n_nodes);
	for (i = 0; i < m->n_nodes; i++)
		expect_same_fields(&u->nodes[i]->base, &m->nodes[i]->base);
	sampled__tree__free_unpacked(u, NULL);
	free(buf);
}

/* The number that ends a clause ("... 42"); the test fails unless it is one. */
static uint64_t clause_number(const char *s)
{
	char *end;
	uint64_t v;

	assert_true(*s >= '0' && *s <= '9');
	v = strtoull(s, &end, 10);
	if (*end != '\0')
		fail_msg("not a number: \"%s\"", s);
	return v;
}

/* Checks that the first nodes of m are named as list says ("a;b;c"), or have its parents. */
static void expect_preorder(const Sampled__Tree *m, const char *list, int parents)
{
	size_t i = 0;

	for (const char *p = list; p != NULL; i++) {
		const char *semi = strchr(p, ';');
		size_t len = semi != NULL ? (size_t)(semi - p) : strlen(p);
		char item[64];

		assert_true(i < m->n_nodes && len < sizeof(item));
		memcpy(item, p, len);
		item[len] = '\0';
		if (parents)
			assert_int_equal(m->nodes[i]->parent, clause_number(item));
		else
			assert_string_equal(node_name(m, i), item);
		p = semi != NULL ? semi + 1 : NULL;
	}
}

/*
 * Calls check(arg, clause) for each line of spec: tests state what they
 * expect as text, one clause a line (see expect_message, expect_tree).
 */
static void expect_clauses(const char *spec, void (*check)(const void *arg, char *clause),
			   const void *arg)
{
	char clause[256];

	for (const char *line = spec; *line != '\0';) {
		const char *eol = strchr(line, '\n');
		size_t len = eol != NULL ? (size_t)(eol - line) : strlen(line);

		assert_true(len < sizeof(clause));
		memcpy(clause, line, len);
		clause[len] = '\0';
		check(arg, clause);
		line += len + (eol != NULL);
	}
}

/*
 * Checks one clause of a message's expectations (see expect_message): a
 * clause it cannot read fails the test, so that no check is lost to a typo.
 */
static void expect_clause(const void *arg, char *clause)
{
	const Sampled__Tree *m = arg;
	char *eq = strstr(clause, " = ");
	long idx;

	if (strncmp(clause, "total ", 6) == 0) {
		assert_int_equal(m->total_samples, clause_number(clause + 6));
	} else if (strncmp(clause, "nodes ", 6) == 0) {
		assert_int_equal(m->n_nodes, clause_number(clause + 6));
	} else if (strncmp(clause, "frames ", 7) == 0) {
		assert_int_equal(m->n_frames, clause_number(clause + 7));
	} else if (strncmp(clause, "strings ", 8) == 0) {
		assert_int_equal(m->n_strings, clause_number(clause + 8));
	} else if (strncmp(clause, "first ", 6) == 0) {
		expect_preorder(m, clause + 6, 0);
	} else if (strncmp(clause, "parents ", 8) == 0) {
		expect_preorder(m, clause + 8, 1);
	} else if (strncmp(clause, "no ", 3) == 0) {
		assert_int_equal(find_path(m, clause + 3), -1);
	} else if (strncmp(clause, "has ", 4) == 0) {
		assert_true(find_path(m, clause + 4) >= 0);
	} else if (strncmp(clause, "top ", 4) == 0 && eq != NULL) {
		*eq = '\0';
		assert_int_equal(count_top(m, clause + 4), clause_number(eq + 3));
	} else if (strcmp(clause, "roundtrip") == 0) {
		check_roundtrip(m);
	} else if (eq != NULL && strchr(eq + 3, ' ') != NULL) {
		char *counts = eq + 3, *sp = strchr(counts, ' ');

		*eq = '\0';
		*sp = '\0';
		idx = find_path(m, clause);
		if (idx < 0)
			fail_msg("no node %s", clause);
		assert_int_equal(m->nodes[idx]->self, clause_number(counts));
		assert_int_equal(m->nodes[idx]->total, clause_number(sp + 1));
	} else {
		fail_msg("cannot read the clause \"%s\"", clause);
	}
}

/*
 * Checks message m against spec, one clause a line:
 *   "total N", "nodes N", "frames N", "strings N": total_samples and the
 *     message's counts;
 *   "PATH = SELF TOTAL": the node at PATH (names from the top level, joined
 *     by ';') has these counts;  "has PATH", "no PATH": there is a node
 *     there, there is none;
 *   "first NAME;NAME...", "parents P;P...": the first nodes in preorder
 *     have these names, these parents (index + 1, 0 for the top level);
 *   "top NAME = N": N top-level nodes are named NAME;
 *   "roundtrip": protobuf-c packs and unpacks it unchanged.
 */
static void expect_message(const Sampled__Tree *m, const char *spec)
{
	expect_clauses(spec, expect_clause, m);
}

/* Checks one clause of a tree's expectations (see expect_tree); an unknown one fails the test. */
static void expect_tree_clause(const void *arg, char *clause)
{
	static const struct {
		const char *name;
		int state, gil;		/* which total: -1 for neither */
	} totals[] = {
		{ "running ", TREE_STATE_RUNNING, -1 }, { "idle ", TREE_STATE_IDLE, -1 },
		{ "held ", -1, TREE_GIL_HELD }, { "released ", -1, TREE_GIL_RELEASED },
		{ "unknown ", -1, TREE_GIL_UNKNOWN },
	};
	const struct tree *t = arg;

	if (strncmp(clause, "total ", 6) == 0) {
		assert_int_equal(tree_total(t), clause_number(clause + 6));
		return;
	}
	if (strncmp(clause, "nodes ", 6) == 0) {
		assert_int_equal(tree_node_count(t), clause_number(clause + 6));
		return;
	}
	for (size_t i = 0; i < sizeof(totals) / sizeof(totals[0]); i++) {
		size_t len = strlen(totals[i].name);

		if (strncmp(clause, totals[i].name, len) != 0)
			continue;
		if (totals[i].state >= 0)
			assert_int_equal(tree_state_total(t, (enum tree_state)totals[i].state),
					 clause_number(clause + len));
		else
			assert_int_equal(tree_gil_total(t, (enum tree_gil)totals[i].gil),
					 clause_number(clause + len));
		return;
	}
	fail_msg("cannot read the clause \"%s\"", clause);
}

/*
 * Checks the tree's own counts against spec, one clause a line: "total N",
 * "nodes N" (tree_node_count), "running N", "idle N" (tree_state_total),
 * "held N", "released N", "unknown N" (tree_gil_total).
 */
static void expect_tree(const struct tree *t, const char *spec)
{
	expect_clauses(spec, expect_tree_clause, t);
}

/*
 * Asks t for the message of q (NULL for none), checks what every message
 * must satisfy (exact: without pruning, see check_message) and spec
 * (expect_message); the caller frees it.
 */
static Sampled__Tree *query(struct tree *t, const struct tree_query *q, int exact, const char *spec)
{
	Sampled__Tree *m = tree_to_message(t, q);

	check_message(m, exact);
	expect_message(m, spec);
	return m;
}

/* query, for a message nothing else is asked of. */
static void check_query(struct tree *t, const struct tree_query *q, int exact, const char *spec)
{
	tree_message_free(query(t, q, exact, spec));
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

/* Values of ours and the protocol's that must be equal, so that the service may cast. */
struct same_values {
	size_t n;
	int pairs[4][2];	/* ours, the protocol's */
};

/* The state filter's values. */
static struct same_values state_values = { 4, {
	{ TREE_STATE_ANY, SAMPLED__STATE_FILTER__STATE_ANY },
	{ TREE_STATE_ONLY_RUNNING, SAMPLED__STATE_FILTER__STATE_RUNNING },
	{ TREE_STATE_ONLY_IDLE, SAMPLED__STATE_FILTER__STATE_IDLE },
	{ TREE_STATE_ANY, 0 },
} };

/* The GIL filter's values. */
static struct same_values gil_values = { 4, {
	{ TREE_GIL_ANY, SAMPLED__GIL_FILTER__GIL_ANY },
	{ TREE_GIL_ONLY_HELD, SAMPLED__GIL_FILTER__GIL_HELD },
	{ TREE_GIL_ONLY_RELEASED, SAMPLED__GIL_FILTER__GIL_RELEASED },
	{ TREE_GIL_ANY, 0 },
} };

/* An enum's values are the protocol's (the table is the test's state: state_values, gil_values). */
static void test_enum_matches_proto(void **state)
{
	const struct same_values *v = *state;

	for (size_t i = 0; i < v->n; i++)
		assert_int_equal(v->pairs[i][0], v->pairs[i][1]);
}

/*
 * The hand-built profile, a test's setup (the tree is its state):
 *   tid 1 ("main"):  a;b;c x3, a;b x2, a;d x1
 *   tid 2 (unnamed): a;b;c x1, e x4
 */
static int hand_tree(void **state)
{
	struct tree *t = tree_new();
	uint32_t a = fid(t, "a"), b = fid(t, "b"), c = fid(t, "c"), d = fid(t, "d"), e = fid(t, "e");

	tree_set_thread_name(t, 1, "main");
	tree_add(t, 1, TREE_STATE_RUNNING, (uint32_t[]){ a, b, c }, 3, 3);
	tree_add(t, 1, TREE_STATE_RUNNING, (uint32_t[]){ a, b }, 2, 2);
	tree_add(t, 2, TREE_STATE_RUNNING, (uint32_t[]){ a, b, c }, 3, 1);
	tree_add(t, 1, TREE_STATE_RUNNING, (uint32_t[]){ a, d }, 2, 1);
	tree_add(t, 2, TREE_STATE_RUNNING, (uint32_t[]){ e }, 1, 4);
	*state = t;
	return 0;
}

/* The teardown of the tests of a hand-built profile. */
static int tree_teardown(void **state)
{
	tree_free(*state);
	return 0;
}

/* Self and total of every node of the hand-built profile, threads merged. */
static void test_counts_merged(void **state)
{
	Sampled__Tree *m;

	/* Roots 1 and 2; a b c d under 1; a b c e under 2: 2 + 4 + 4 nodes. */
	expect_tree(*state, "total 11\nnodes 10\n");

	/* Preorder with the largest child first; counts summed across threads. */
	m = query(*state, NULL, 1,
		  "total 11\n"
		  "nodes 5\n"
		  "first a;b;c;d;e\n"
		  "parents 0;1;2;1;0\n"
		  "a = 0 7\n"
		  "a;b = 2 6\n"
		  "a;b;c = 4 4\n"
		  "a;d = 1 1\n"
		  "e = 4 4\n"
		  "frames 5\n"
		  "strings 8\n"		/* "", a..e, module, file */
		  "roundtrip\n");
	assert_false(m->per_thread);
	tree_message_free(m);
}

/* One synthetic node per thread, named after it, above that thread's stacks. */
static void test_per_thread(void **state)
{
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;
	long t1, t2;

	m = query(*state, &q, 1,
		  "total 11\n"
		  "nodes 10\n"
		  "main (1) = 0 6\n"
		  "thread 2 = 0 5\n"
		  "main (1);a = 0 6\n"
		  "main (1);a;b = 2 5\n"
		  "main (1);a;b;c = 3 3\n"
		  "main (1);a;d = 1 1\n"
		  "thread 2;e = 4 4\n"
		  "thread 2;a;b;c = 1 1\n"
		  "no thread 2;a;d\n"
		  "roundtrip\n");
	assert_true(m->per_thread);
	t1 = find_child(m, 0, "main (1)");
	t2 = find_child(m, 0, "thread 2");
	assert_int_equal(t1, 0);	/* 6 samples before 5 */
	assert_true(t2 > t1);
	assert_int_equal(m->frames[m->nodes[t1]->frame]->kind, SAMPLED__FRAME_KIND__FRAME_THREAD);
	assert_int_equal(m->frames[m->nodes[t2]->frame]->kind, SAMPLED__FRAME_KIND__FRAME_THREAD);
	tree_message_free(m);

	/* The latest name wins; NULL removes it. */
	tree_set_thread_name(*state, 2, "worker");
	tree_set_thread_name(*state, 2, "worker-2");
	tree_set_thread_name(*state, 1, NULL);
	check_query(*state, &q, 1, "has worker-2 (2)\nhas thread 1\nno worker (2)\n");
}

/* Only the selected thread's samples, merged or per thread. */
static void test_tid_filter(void **state)
{
	struct tree_query q = { 0, 2, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };

	/* Only the frames this thread uses. */
	check_query(*state, &q, 1,
		    "total 5\n"
		    "nodes 4\n"
		    "first e\n"
		    "e = 4 4\n"
		    "a = 0 1\n"
		    "a;b;c = 1 1\n"
		    "no d\n"
		    "frames 4\n"
		    "roundtrip\n");
	q.per_thread = 1;
	q.tid = 1;
	check_query(*state, &q, 1, "total 6\nnodes 5\nfirst main (1)\nno thread 2\n");
	/* A tid never seen: nothing, but still a valid message. */
	q.tid = 99;
	check_query(*state, &q, 1, "total 0\nnodes 0\nstrings 1\nroundtrip\n");
}

/*
 * The hand-built wall-clock profile, a test's setup:
 *   tid 1 ("main"): running a;b;c x3, a;b x2
 *                   idle    a;b;c x1, a;w x4, (no frames) x1
 *   tid 2:          idle    e x2, a;b x1
 *   tid 3:          running a;d x2
 * Running 7, idle 9.  Thread 1's states alternate, so the last-thread fast
 * path sees the same tid with both states.
 */
static int state_tree(void **state)
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
	*state = t;
	return 0;
}

/* Totals by state, and the merged view under each filter. */
static void test_state_merged(void **state)
{
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };

	/* Roots 1/run, 1/idle, 2/idle, 3/run; a b c | a b c w | e a b | a d: 4+3+4+3+2 nodes. */
	expect_tree(*state, "total 16\nrunning 7\nidle 9\nnodes 16\n");

	/* Both states: everything merged, the empty stack in the total only. */
	check_query(*state, &q, 1,
		    "total 16\n"
		    "nodes 6\n"
		    "a = 0 13\n"
		    "a;b = 3 7\n"
		    "a;b;c = 4 4\n"
		    "a;w = 4 4\n"
		    "a;d = 2 2\n"
		    "e = 2 2\n"
		    "roundtrip\n");
	/* Only the frames the running samples use. */
	q.state = TREE_STATE_ONLY_RUNNING;
	check_query(*state, &q, 1,
		    "total 7\n"
		    "nodes 4\n"
		    "a = 0 7\n"
		    "a;b = 2 5\n"
		    "a;b;c = 3 3\n"
		    "a;d = 2 2\n"
		    "no a;w\n"
		    "no e\n"
		    "frames 4\n");
	/* Preorder, largest first: a (6) before e (2), w (4) before b (2). */
	q.state = TREE_STATE_ONLY_IDLE;
	check_query(*state, &q, 1,
		    "total 9\n"
		    "nodes 5\n"
		    "a = 0 6\n"
		    "a;w = 4 4\n"
		    "a;b = 1 2\n"
		    "a;b;c = 1 1\n"
		    "e = 2 2\n"
		    "no a;d\n"
		    "first a;w;b;c;e\n"
		    "roundtrip\n");
}

/* The state filter with the tid filter, pruning, an unknown value and a reset. */
static void test_state_with_other_filters(void **state)
{
	struct tree_query q = { 0, 1, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	uint32_t z;

	/* One thread, both states: its two roots merged. */
	check_query(*state, &q, 1,
		    "total 11\nnodes 4\na = 0 10\na;b = 2 6\na;b;c = 4 4\na;w = 4 4\n");
	q.state = TREE_STATE_ONLY_IDLE;
	check_query(*state, &q, 1, "total 6\nnodes 4\na = 0 5\na;b;c = 1 1\n");
	/* A thread never in the selected state: an empty, valid tree. */
	q.tid = 2;
	q.state = TREE_STATE_ONLY_RUNNING;
	check_query(*state, &q, 1, "total 0\nnodes 0\nroundtrip\n");

	/*
	 * The share is of the samples the filters let through (idle: 9, bar
	 * 4.5): main (6) and a (5) stay, a;w (4) and thread 2 (3) go.
	 */
	q.tid = 0;
	q.per_thread = 1;
	q.state = TREE_STATE_ONLY_IDLE;
	q.min_share = 0.5;
	check_query(*state, &q, 0, "total 9\nnodes 2\nmain (1) = 1 6\nmain (1);a = 0 5\n");
	/* A value outside the enum (a newer client's) selects nothing. */
	q.min_share = 0.0;
	q.state = (enum tree_state_filter)7;
	check_query(*state, &q, 1, "total 0\nnodes 0\n");

	/* Reset clears both roots of every thread and both totals. */
	tree_reset(*state);
	expect_tree(*state, "running 0\nidle 0\nnodes 0\n");
	z = fid(*state, "z");
	tree_add(*state, 1, TREE_STATE_IDLE, &z, 1, 2);
	q.state = TREE_STATE_ANY;
	check_query(*state, &q, 1, "total 2\nnodes 2\nmain (1);z = 2 2\n");
	q.state = TREE_STATE_ONLY_RUNNING;
	check_query(*state, &q, 1, "nodes 0\n");
}

/* Per thread: one node per thread whatever its states, holding the selected ones. */
static void test_state_per_thread(void **state)
{
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;

	/* Both states: thread 1 once, its running and idle stacks summed; 11, then 3, then 2. */
	m = query(*state, &q, 1,
		  "total 16\n"
		  "nodes 12\n"
		  "top main (1) = 1\n"
		  "top thread 2 = 1\n"
		  "top thread 3 = 1\n"
		  "first main (1)\n"
		  "main (1) = 1 11\n"
		  "main (1);a = 0 10\n"
		  "main (1);a;b = 2 6\n"
		  "main (1);a;b;c = 4 4\n"
		  "main (1);a;w = 4 4\n"
		  "thread 2 = 0 3\n"
		  "thread 2;e = 2 2\n"
		  "thread 2;a;b = 1 1\n"
		  "thread 3 = 0 2\n"
		  "thread 3;a;d = 2 2\n"
		  "roundtrip\n");
	assert_true(find_child(m, 0, "thread 2") < find_child(m, 0, "thread 3"));
	tree_message_free(m);

	/* Running only: thread 2 was never running and is not shown. */
	q.state = TREE_STATE_ONLY_RUNNING;
	check_query(*state, &q, 1,
		    "total 7\n"
		    "nodes 7\n"
		    "top main (1) = 1\n"
		    "top thread 2 = 0\n"
		    "main (1) = 0 5\n"
		    "main (1);a = 0 5\n"
		    "main (1);a;b = 2 5\n"
		    "main (1);a;b;c = 3 3\n"
		    "no main (1);a;w\n"
		    "thread 3;a;d = 2 2\n");
	/* Idle only: thread 3 was never idle (its count-0 add made no root). */
	q.state = TREE_STATE_ONLY_IDLE;
	check_query(*state, &q, 1,
		    "total 9\n"
		    "nodes 9\n"
		    "top main (1) = 1\n"
		    "top thread 3 = 0\n"
		    "main (1) = 1 6\n"
		    "main (1);a = 0 5\n"
		    "main (1);a;w = 4 4\n"
		    "main (1);a;b = 0 1\n"
		    "main (1);a;b;c = 1 1\n"
		    "thread 2 = 0 3\n"
		    "thread 2;e = 2 2\n");
}

/*
 * A hand-built profile of a Python process in wall-clock mode, a test's setup:
 *   tid 1 ("main", busy): running held     a;b;c x5
 *                         running released a;b;g x2 (waiting to take the GIL)
 *   tid 2 (sleeper):      idle    released a;n;s x6, (no frames) x1
 *                         running held     a;n x1
 *   tid 3 (native):       running unknown  x x3 (tree_add: no GIL class)
 * Held 6, released 9, unknown 3; running 11, idle 7.
 */
static int gil_tree(void **state)
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
	*state = t;
	return 0;
}

/* Totals by GIL class, the memory each class costs, and the merged view under each filter. */
static void test_gil_merged(void **state)
{
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };

	/*
	 * A root per thread and class with samples: 1/run/held a b c, 1/run/
	 * released a b g (a and b again), 2/idle/released a n s, 2/run/held
	 * a n (again), 3/run/unknown x: 4 + 4 + 4 + 3 + 2 nodes.
	 */
	expect_tree(*state,
		    "total 18\nheld 6\nreleased 9\nunknown 3\nrunning 11\nidle 7\nnodes 17\n");
	assert_int_equal(tree_gil_total(*state, (enum tree_gil)3), 0);

	/* Every class: one tree, the classes merged, the empty stack in the total. */
	check_query(*state, &q, 1,
		    "total 18\n"
		    "nodes 7\n"
		    "a = 0 14\n"
		    "a;b = 0 7\n"
		    "a;b;c = 5 5\n"
		    "a;b;g = 2 2\n"
		    "a;n = 1 7\n"
		    "a;n;s = 6 6\n"
		    "x = 3 3\n"
		    "roundtrip\n");
	/* Held: the busy thread's work, the sleeper's moment awake; no native thread. */
	q.gil = TREE_GIL_ONLY_HELD;
	check_query(*state, &q, 1,
		    "total 6\n"
		    "nodes 4\n"
		    "a = 0 6\n"
		    "a;b;c = 5 5\n"
		    "a;n = 1 1\n"
		    "no a;b;g\n"
		    "no a;n;s\n"
		    "no x\n"
		    "frames 4\n"
		    "roundtrip\n");
	/* Released: the sleep and the wait for the GIL, largest first. */
	q.gil = TREE_GIL_ONLY_RELEASED;
	check_query(*state, &q, 1,
		    "total 9\n"
		    "nodes 5\n"
		    "a = 0 8\n"
		    "a;n = 0 6\n"
		    "a;n;s = 6 6\n"
		    "a;b = 0 2\n"
		    "a;b;g = 2 2\n"
		    "no a;b;c\n"
		    "no x\n"
		    "first a;n\n");
	/* The two filters combine: running and released is the wait for the GIL. */
	q.state = TREE_STATE_ONLY_RUNNING;
	check_query(*state, &q, 1, "total 2\nnodes 3\na;b;g = 2 2\n");
	/* Idle and held: nothing in this profile; a valid, empty tree. */
	q.state = TREE_STATE_ONLY_IDLE;
	q.gil = TREE_GIL_ONLY_HELD;
	check_query(*state, &q, 1, "total 0\nnodes 0\nroundtrip\n");
	/* A value outside the enum (a newer client's) selects nothing. */
	q.state = TREE_STATE_ANY;
	q.gil = (enum tree_gil_filter)9;
	check_query(*state, &q, 1, "total 0\nnodes 0\n");
}

/* Per thread and per tid: a thread shows once, with the selected classes merged. */
static void test_gil_per_thread(void **state)
{
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	uint32_t z;

	check_query(*state, &q, 1,
		    "total 18\n"
		    "top main (1) = 1\n"
		    "top thread 2 = 1\n"
		    "top thread 3 = 1\n"
		    "main (1) = 0 7\n"
		    "main (1);a;b = 0 7\n"
		    "main (1);a;b;c = 5 5\n"
		    "main (1);a;b;g = 2 2\n"
		    "thread 2 = 1 8\n"
		    "thread 2;a;n = 1 7\n"
		    "thread 3;x = 3 3\n"
		    "roundtrip\n");
	/* Held: the native thread has no such samples and is not shown. */
	q.gil = TREE_GIL_ONLY_HELD;
	check_query(*state, &q, 1,
		    "total 6\n"
		    "top thread 3 = 0\n"
		    "main (1) = 0 5\n"
		    "main (1);a;b;c = 5 5\n"
		    "no main (1);a;b;g\n"
		    "thread 2 = 0 1\n"
		    "thread 2;a;n = 1 1\n");
	/* Released, one thread: its two released roots (idle, empty stack too) merged. */
	q.per_thread = 0;
	q.tid = 2;
	q.gil = TREE_GIL_ONLY_RELEASED;
	check_query(*state, &q, 1, "total 7\nnodes 3\na;n;s = 6 6\n");
	/* The native thread under any GIL filter but "any": nothing. */
	q.tid = 3;
	check_query(*state, &q, 1, "total 0\n");

	/* Reset clears every class of every thread and the totals. */
	tree_reset(*state);
	expect_tree(*state, "held 0\nreleased 0\nunknown 0\nnodes 0\n");
	z = fid(*state, "z");
	tree_add_gil(*state, 1, TREE_STATE_IDLE, TREE_GIL_RELEASED, &z, 1, 2);
	q.tid = 0;
	q.per_thread = 1;
	q.gil = TREE_GIL_ONLY_HELD;
	check_query(*state, &q, 1, "nodes 0\n");
	q.gil = TREE_GIL_ONLY_RELEASED;
	check_query(*state, &q, 1, "main (1);z = 2 2\n");
}

/* Pruning cuts whole subtrees and keeps the counts that reveal the cut. */
static void test_min_share(void **state)
{
	struct tree_query q = { 0, 0, 0.2, TREE_STATE_ANY, TREE_GIL_ANY };	/* cut below 2.2 of 11 */

	/* a keeps self 0: its total 7 shows 1 sample cut below it; the cut frame is not sent. */
	check_query(*state, &q, 0,
		    "total 11\n"
		    "nodes 4\n"
		    "no a;d\n"
		    "a = 0 7\n"
		    "a;b = 2 6\n"
		    "a;b;c = 4 4\n"
		    "e = 4 4\n"
		    "frames 4\n");
	/*
	 * The share is of the samples considered (tid 1: 6), thread nodes
	 * included; a node exactly at the bar (c: 3 of 6 at 0.5) stays.
	 */
	q.per_thread = 1;
	q.tid = 1;
	q.min_share = 0.5;
	check_query(*state, &q, 0, "total 6\nnodes 4\nmain (1);a;b;c = 3 3\nno main (1);a;d\n");
	q.min_share = 0.6;
	check_query(*state, &q, 0, "total 6\nnodes 3\nmain (1);a;b = 2 5\nno main (1);a;b;c\n");
	/* Everything below the bar: an empty forest, the total still told. */
	q.per_thread = 0;
	q.tid = 0;
	q.min_share = 1.5;
	check_query(*state, &q, 0, "nodes 0\ntotal 11\n");
}

/* A frame repeated on a stack is a node per depth, each counted once. */
static void test_recursion(void **state)
{
	struct tree *t = tree_new();
	uint32_t a = fid(t, "a"), b = fid(t, "b");

	(void)state;
	tree_add(t, 7, TREE_STATE_RUNNING, (uint32_t[]){ a, b, a, b }, 4, 2);
	tree_add(t, 7, TREE_STATE_RUNNING, (uint32_t[]){ a, b, a }, 3, 1);
	tree_add(t, 7, TREE_STATE_RUNNING, (uint32_t[]){ a, a, a }, 3, 1);
	check_query(t, NULL, 1,
		    "a = 0 4\n"
		    "a;b = 0 3\n"
		    "a;b;a = 1 3\n"
		    "a;b;a;b = 2 2\n"
		    "a;a = 0 1\n"
		    "a;a;a = 1 1\n");
	tree_free(t);
}

/* Sibling order, empty stacks and zero counts. */
static void test_order_and_empty_stacks(void **state)
{
	struct tree *t = tree_new();
	uint32_t y = fid(t, "y"), x = fid(t, "x"), z = fid(t, "z");
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };

	(void)state;
	/* Inserted y, x, z; x and y tie and are ordered by name. */
	tree_add(t, 3, TREE_STATE_RUNNING, &y, 1, 2);
	tree_add(t, 3, TREE_STATE_RUNNING, &x, 1, 2);
	tree_add(t, 3, TREE_STATE_RUNNING, &z, 1, 5);
	tree_add(t, 3, TREE_STATE_RUNNING, NULL, 0, 3);	/* a sample with no frames */
	tree_add(t, 3, TREE_STATE_RUNNING, &x, 1, 0);	/* nothing */
	expect_tree(t, "total 12\n");
	check_query(t, NULL, 1, "total 12\nnodes 3\nfirst z;x;y\n");
	/* Per thread, the empty stacks are the thread node's self. */
	check_query(t, &q, 1, "thread 3 = 3 12\n");
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
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	uint32_t z;

	tree_reset(*state);
	expect_tree(*state, "total 0\nnodes 0\n");
	check_query(*state, &q, 1, "nodes 0\ntotal 0\n");

	/* Frame ids start over; the name of tid 1 is remembered. */
	z = fid(*state, "z");
	assert_int_equal(z, 0);
	tree_add(*state, 1, TREE_STATE_RUNNING, &z, 1, 1);
	tree_add(*state, 2, TREE_STATE_RUNNING, &z, 1, 1);
	check_query(*state, &q, 1, "total 2\nmain (1);z = 1 1\nthread 2;z = 1 1\nno main (1);a\n");
	tree_reset(*state);
	tree_reset(*state);
	tree_free(NULL);
	tree_message_free(NULL);
}

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
	heap = allocs_activity();
	random_stacks(t, &again, 2000, 50, 30, 3, ids);
	if (allocs_activity() != heap)
		bad = 1;
	assert_false(bad);
#ifndef __SANITIZE_ADDRESS__
	/* The probe is live: an allocation does show. */
	heap = allocs_activity();
	tree_set_thread_name(t, 100, "probe");
	assert_int_not_equal(allocs_activity(), heap);
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

/* A view a brute-force test asks for: merged or per thread, all threads or one. */
struct view {
	int per_thread;
	pid_t tid;
};

/* The queries a brute-force test asks: every combination of these filters and views. */
struct query_set {
	const enum tree_state_filter *states;
	size_t n_states;
	const enum tree_gil_filter *gils;
	size_t n_gils;
	const struct view *views;
	size_t n_views;
};

/* Every state filter there is. */
static const enum tree_state_filter all_states[] = { TREE_STATE_ANY, TREE_STATE_ONLY_RUNNING,
						     TREE_STATE_ONLY_IDLE };

/*
 * Asks t every query of set (with counts, when given, instead of the
 * tree's own: tree_to_message_counts) and checks each message against a
 * recount of the samples the counts come from; merged ones also round-trip.
 */
static void check_query_set(struct tree *t, const uint64_t *counts, size_t n_counts,
			    const struct sample *s, size_t n, const struct query_set *set)
{
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;

	for (size_t i = 0; i < set->n_states; i++) {
		for (size_t k = 0; k < set->n_gils; k++) {
			for (size_t v = 0; v < set->n_views; v++) {
				q.state = set->states[i];
				q.gil = set->gils[k];
				q.per_thread = set->views[v].per_thread;
				q.tid = set->views[v].tid;
				m = counts != NULL ? tree_to_message_counts(t, &q, counts, n_counts)
						   : tree_to_message(t, &q);
				check_message(m, 1);
				check_against_samples(m, s, n, &q);
				if (q.tid == 0)
					check_roundtrip(m);
				tree_message_free(m);
			}
		}
	}
}

/* Gives sample s a random stack of 0 to 5 of the first four frames of ids and a count of 1 to 4. */
static void random_sample_stack(struct sample *s, struct rng *r, const uint32_t *ids)
{
	s->depth = rng_below(r, 10) == 0 ? 0 : 1 + rng_below(r, 5);
	for (uint32_t j = 0; j < s->depth; j++)
		s->frames[j] = ids[rng_below(r, 4)];	/* few frames: lots of sharing */
	s->count = 1 + rng_below(r, 4);
}

/*
 * Every node of random profiles checked against a recount of the samples,
 * under every state filter.  Threads 100 and 101 are sampled in both states,
 * 102 only running, 103 only idle; some stacks are empty.
 */
static void test_merge_brute_force(void **state)
{
	static const enum tree_gil_filter gils[] = { TREE_GIL_ANY };
	static const struct view views[] = { { 0, 0 }, { 0, 101 }, { 0, 102 }, { 0, 103 },
					     { 1, 0 }, { 1, 101 }, { 1, 102 }, { 1, 103 } };
	static const struct query_set set = { all_states, 3, gils, 1, views, 8 };
	struct tree *t = tree_new();
	uint32_t *ids = make_frames(t, 6);
	struct sample *s = mem_calloc(1500, sizeof(*s));
	struct rng r = { 7 };
	uint64_t by_state[2] = { 0, 0 };
	size_t i;

	(void)state;
	for (i = 0; i < 1500; i++) {
		s[i].tid = 100 + (pid_t)rng_below(&r, 4);
		if (s[i].tid == 102)
			s[i].state = TREE_STATE_RUNNING;
		else if (s[i].tid == 103)
			s[i].state = TREE_STATE_IDLE;
		else
			s[i].state = rng_below(&r, 2) ? TREE_STATE_IDLE : TREE_STATE_RUNNING;
		random_sample_stack(&s[i], &r, ids);
		by_state[s[i].state] += s[i].count;
		tree_add(t, s[i].tid, s[i].state, s[i].frames, s[i].depth, s[i].count);
	}
	assert_int_equal(tree_state_total(t, TREE_STATE_RUNNING), by_state[TREE_STATE_RUNNING]);
	assert_int_equal(tree_state_total(t, TREE_STATE_IDLE), by_state[TREE_STATE_IDLE]);
	assert_int_equal(tree_total(t), by_state[0] + by_state[1]);
	check_query_set(t, NULL, 0, s, 1500, &set);
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
	static const enum tree_gil_filter gils[] = { TREE_GIL_ANY, TREE_GIL_ONLY_HELD,
						     TREE_GIL_ONLY_RELEASED };
	static const struct view views[] = { { 0, 0 }, { 0, 100 }, { 0, 102 }, { 1, 0 },
					     { 1, 101 } };
	static const struct query_set set = { all_states, 3, gils, 3, views, 5 };
	struct tree *t = tree_new();
	uint32_t *ids = make_frames(t, 6);
	struct sample *s = mem_calloc(1200, sizeof(*s));
	struct rng r = { 11 };
	uint64_t by_gil[3] = { 0, 0, 0 };
	size_t i, nodes, heap;

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
		random_sample_stack(&s[i], &r, ids);
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
	check_query_set(t, NULL, 0, s, 1200, &set);

	nodes = tree_node_count(t);
	heap = allocs_activity();
	for (i = 0; i < 1200; i++)
		tree_add_gil(t, s[i].tid, s[i].state, s[i].gil, s[i].frames, s[i].depth, 1);
	assert_int_equal(allocs_activity(), heap);
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
	static const enum tree_gil_filter gils[] = { TREE_GIL_ANY, TREE_GIL_ONLY_HELD };
	static const struct view views[] = { { 0, 0 }, { 0, 101 }, { 0, 103 }, { 1, 0 },
					     { 1, 102 } };
	static const struct query_set set = { all_states, 3, gils, 2, views, 5 };
	struct tree *t = tree_new();
	uint32_t *ids = make_frames(t, 6), *leaves = mem_calloc(1000, sizeof(*leaves));
	struct sample *s = mem_calloc(1000, sizeof(*s)), *picked = mem_calloc(1000, sizeof(*s));
	struct tree_query q = { 1, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	struct rng r = { 23 };
	size_t i, n_picked = 0, n;
	uint64_t *counts;
	Sampled__Tree *m, *all;
	uint8_t *pa, *pb;
	size_t la, lb;

	(void)state;
	for (i = 0; i < 1000; i++) {
		s[i].tid = 100 + (pid_t)rng_below(&r, 4);
		s[i].state = rng_below(&r, 2) ? TREE_STATE_IDLE : TREE_STATE_RUNNING;
		s[i].gil = s[i].tid == 100 ? (enum tree_gil)rng_below(&r, 3) : TREE_GIL_UNKNOWN;
		random_sample_stack(&s[i], &r, ids);
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
	check_query_set(t, counts, n, picked, n_picked, &set);

	/* The tree's own counts, given as such, are tree_to_message exactly. */
	memset(counts, 0, n * sizeof(*counts));
	for (i = 0; i < 1000; i++)
		counts[leaves[i]] += s[i].count;
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

/* The state of the large tests: a tree and the ids of its frames f0..f999. */
struct framed_tree {
	struct tree *t;
	uint32_t *ids;
};

/* The setup of the large tests: a new tree with a thousand frames interned. */
static int framed_tree_new(void **state)
{
	struct framed_tree *f = mem_calloc(1, sizeof(*f));

	f->t = tree_new();
	f->ids = make_frames(f->t, 1000);
	*state = f;
	return 0;
}

/* The teardown of the large tests. */
static int framed_tree_free(void **state)
{
	struct framed_tree *f = *state;

	free(f->ids);
	tree_free(f->t);
	free(f);
	return 0;
}

/* Invariants and protobuf validity on a tree of about three million nodes. */
static void test_random_large(void **state)
{
	struct framed_tree *f = *state;
	struct tree *t = f->t;
	struct rng r = { 0x5eed };
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;
	uint64_t self_sum = 0;
	size_t i, n_one;

	/* Above the default bound, so that the tree really grows this large. */
	tree_set_max_nodes(t, 4000000);
	random_stacks(t, &r, 100000, 1000, 64, 4, f->ids);
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
}

/* Reports the two costs that matter; the numbers are printed, not asserted. */
static void test_timing(void **state)
{
	struct framed_tree *f = *state;
	struct tree *t = f->t;
	uint32_t stack[30];
	struct rng r = { 99 };
	struct tree_query q = { 0, 0, 0.0, TREE_STATE_ANY, TREE_GIL_ANY };
	Sampled__Tree *m;
	double t0, add_ns, merged_ms, per_thread_ms;
	size_t i, rounds = 1000000;

	/* Warm: a few hundred distinct stacks exist; re-add them round-robin. */
	for (i = 0; i < 30; i++)
		stack[i] = f->ids[rng_below(&r, 1000)];
	for (i = 0; i < 256; i++) {
		stack[29] = f->ids[i];
		tree_add(t, 1, TREE_STATE_RUNNING, stack, 30, 1);
	}
	t0 = stopwatch_sec();
	for (i = 0; i < rounds; i++) {
		stack[29] = f->ids[i & 255];
		tree_add(t, 1, TREE_STATE_RUNNING, stack, 30, 1);
	}
	add_ns = (stopwatch_sec() - t0) * 1e9 / (double)rounds;
	assert_int_equal(tree_total(t), 256 + rounds);

	tree_reset(t);
	free(f->ids);
	f->ids = make_frames(t, 1000);
	while (tree_node_count(t) < 100000)
		random_stacks(t, &r, 1000, 1000, 16, 2, f->ids);
	t0 = stopwatch_sec();
	m = tree_to_message(t, &q);
	merged_ms = (stopwatch_sec() - t0) * 1e3;
	check_message(m, 1);
	tree_message_free(m);
	q.per_thread = 1;
	t0 = stopwatch_sec();
	m = tree_to_message(t, &q);
	per_thread_ms = (stopwatch_sec() - t0) * 1e3;
	tree_message_free(m);
	print_message("tree_add, 30-frame stack, warm: %.1f ns\n", add_ns);
	print_message("tree_to_message, %zu-node tree: merged %.1f ms, per-thread %.1f ms\n",
		      tree_node_count(t), merged_ms, per_thread_ms);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_interning),
		cmocka_unit_test_setup_teardown(test_counts_merged, hand_tree, tree_teardown),
		cmocka_unit_test_setup_teardown(test_per_thread, hand_tree, tree_teardown),
		cmocka_unit_test_setup_teardown(test_tid_filter, hand_tree, tree_teardown),
		{ "test_state_enum_matches_proto", test_enum_matches_proto, NULL, NULL,
		  &state_values },
		cmocka_unit_test_setup_teardown(test_state_merged, state_tree, tree_teardown),
		cmocka_unit_test_setup_teardown(test_state_per_thread, state_tree, tree_teardown),
		cmocka_unit_test_setup_teardown(test_state_with_other_filters, state_tree,
						tree_teardown),
		{ "test_gil_enum_matches_proto", test_enum_matches_proto, NULL, NULL, &gil_values },
		cmocka_unit_test_setup_teardown(test_gil_merged, gil_tree, tree_teardown),
		cmocka_unit_test_setup_teardown(test_gil_per_thread, gil_tree, tree_teardown),
		cmocka_unit_test_setup_teardown(test_min_share, hand_tree, tree_teardown),
		cmocka_unit_test(test_recursion),
		cmocka_unit_test(test_order_and_empty_stacks),
		cmocka_unit_test(test_tie_order),
		cmocka_unit_test_setup_teardown(test_reset, hand_tree, tree_teardown),
		cmocka_unit_test(test_steady_state),
		cmocka_unit_test(test_merge_brute_force),
		cmocka_unit_test(test_gil_brute_force),
		cmocka_unit_test(test_add_returns_leaf),
		cmocka_unit_test(test_counts_brute_force),
		cmocka_unit_test_setup_teardown(test_random_large, framed_tree_new,
						framed_tree_free),
		cmocka_unit_test_setup_teardown(test_timing, framed_tree_new, framed_tree_free),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
