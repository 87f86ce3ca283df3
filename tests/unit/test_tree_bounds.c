/*
 * The call tree's bounds, its snapshots, and tree replies built off the
 * loop (serve/treejobs.c): a tree past --max-nodes keeps every sample and
 * says where it cut, a snapshot answers as the tree did when it was taken
 * whatever happens to the tree afterwards, and a reply built by the worker
 * is the reply the loop would have built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "loop.h"
#include "profile/tree.h"
#include "serve/treejobs.h"
#include "wire.h"

#define FRAMES 64

/* Interns FRAMES named frames; ids[i] is frame "f<i>" (again after a reset). */
static void intern_frames(struct tree *t, uint32_t *ids)
{
	char name[16];

	for (int i = 0; i < FRAMES; i++) {
		struct tree_frame f = { .kind = TREE_KIND_NATIVE, .function = name, .module = "m" };

		snprintf(name, sizeof(name), "f%d", i);
		ids[i] = tree_frame_id(t, &f);
	}
}

/* A tree with FRAMES named frames. */
static struct tree *tree_with_frames(uint32_t *ids)
{
	struct tree *t = tree_new();

	intern_frames(t, ids);
	return t;
}

/* Adds n random stacks 8 to 23 deep over the frames; xorshift keeps it repeatable. */
static void add_random(struct tree *t, const uint32_t *ids, size_t n, uint64_t seed)
{
	uint32_t stack[32];

	for (size_t s = 0; s < n; s++) {
		size_t depth;

		seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
		depth = 8 + seed % 16;
		for (size_t i = 0; i < depth; i++) {
			seed ^= seed << 13, seed ^= seed >> 7, seed ^= seed << 17;
			stack[i] = ids[seed % FRAMES];
		}
		tree_add(t, (pid_t)(1 + s % 3), TREE_STATE_RUNNING, stack, depth, 1);
	}
}

/* The samples under the top-level nodes of a message. */
static uint64_t top_total(const Sampled__Tree *m)
{
	uint64_t sum = 0;

	for (size_t i = 0; i < m->n_nodes; i++)
		if (m->nodes[i]->parent == 0)
			sum += m->nodes[i]->total;
	return sum;
}

/* Whether a message names a frame "[other]" and some node uses it. */
static int has_other(const Sampled__Tree *m)
{
	for (size_t i = 0; i < m->n_nodes; i++) {
		const Sampled__Frame *f = m->frames[m->nodes[i]->frame];

		if (strcmp(m->strings[f->function], "[other]") == 0)
			return 1;
	}
	return 0;
}

/* Past the bound new stacks end in [other]: nodes stay under it, samples are all there. */
static void test_node_bound(void **state)
{
	uint32_t ids[FRAMES];
	struct tree *t = tree_with_frames(ids);
	Sampled__Tree *m;

	(void)state;
	tree_set_max_nodes(t, 5000);
	assert_int_equal(tree_max_nodes(t), 5000);
	add_random(t, ids, 100000, 1);
	assert_true(tree_node_count(t) <= 5000);
	assert_int_equal(tree_total(t), 100000);
	assert_true(tree_folded(t) > 90000);
	m = tree_to_message(t, NULL);
	assert_int_equal(m->total_samples, 100000);
	assert_int_equal(top_total(m), 100000);
	assert_true(has_other(m));
	tree_message_free(m);

	/* A reset starts a new profile, bound and all, with nothing folded. */
	tree_reset(t);
	assert_int_equal(tree_folded(t), 0);
	assert_int_equal(tree_max_nodes(t), 5000);
	tree_free(t);

	/* Below the floor, the floor; 0, the default. */
	t = tree_new();
	tree_set_max_nodes(t, 1);
	assert_int_equal(tree_max_nodes(t), TREE_MIN_MAX_NODES);
	tree_set_max_nodes(t, 0);
	assert_int_equal(tree_max_nodes(t), TREE_DEFAULT_MAX_NODES);
	tree_free(t);
}

/* Past the bound a frame never seen is [other], and its strings are not kept. */
static void test_frame_bound(void **state)
{
	uint32_t ids[FRAMES], id, again;
	struct tree *t = tree_with_frames(ids);
	struct tree_frame f = { .kind = TREE_KIND_NATIVE, .module = "m" }, got;
	char name[32];

	(void)state;
	tree_set_max_nodes(t, TREE_MIN_MAX_NODES);
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "jit_%d", i);
		f.function = name;
		id = tree_frame_id(t, &f);
	}
	assert_int_equal(tree_frame_get(t, id, &got), 0);
	assert_string_equal(got.function, "[other]");
	/* Frames known before the bound keep their ids. */
	f.function = "f7";
	again = tree_frame_id(t, &f);
	assert_int_equal(again, ids[7]);
	assert_int_equal(tree_frame_get(t, again, &got), 0);
	assert_string_equal(got.function, "f7");
	tree_free(t);
}

/* Packs a message to compare two of them byte for byte. */
static uint8_t *pack(const Sampled__Tree *m, size_t *len)
{
	uint8_t *buf;

	*len = sampled__tree__get_packed_size(m);
	buf = malloc(*len ? *len : 1);
	assert_non_null(buf);
	sampled__tree__pack(m, buf);
	return buf;
}

/* A snapshot answers as its tree did, whatever the tree does afterwards. */
static void test_snapshot(void **state)
{
	uint32_t ids[FRAMES];
	struct tree *t = tree_with_frames(ids), *snap;
	struct tree_query per_thread = { .per_thread = 1 };
	Sampled__Tree *a, *b;
	uint8_t *pa, *pb;
	size_t la, lb;

	(void)state;
	tree_set_thread_name(t, 2, "worker");
	add_random(t, ids, 20000, 7);
	a = tree_to_message(t, &per_thread);
	snap = tree_snapshot(t);
	add_random(t, ids, 5000, 8);
	tree_reset(t);
	intern_frames(t, ids);
	add_random(t, ids, 100, 9);
	b = tree_to_message(snap, &per_thread);
	pa = pack(a, &la);
	pb = pack(b, &lb);
	assert_int_equal(la, lb);
	assert_memory_equal(pa, pb, la);
	assert_int_equal(tree_total(snap), 20000);
	free(pa);
	free(pb);
	tree_message_free(a);
	tree_message_free(b);
	tree_free(snap);
	tree_free(t);
}

/* What the worker hands back: the tickets in order and the frames. */
struct jobs_seen {
	struct loop *loop;
	size_t n;
	uint64_t tickets[4];
	uint8_t *frames[4];
	size_t lens[4];
};

static void on_done(void *arg, uint64_t ticket, uint8_t *frame, size_t len)
{
	struct jobs_seen *seen = arg;

	seen->tickets[seen->n] = ticket;
	seen->frames[seen->n] = frame;
	seen->lens[seen->n] = len;
	if (++seen->n == 2)
		loop_stop(seen->loop);
}

/* Decodes a framed response (4-byte length, then the message). */
static Sampled__Response *unframe(const uint8_t *frame, size_t len)
{
	assert_true(len >= 4);
	return sampled__response__unpack(NULL, len - 4, frame + 4);
}

/* Replies built on the worker are those the loop builds, in the order asked. */
static void test_jobs(void **state)
{
	uint32_t ids[FRAMES];
	struct tree *t = tree_with_frames(ids);
	struct jobs_seen seen = { 0 };
	struct treejobs *jobs;
	struct treejobs_request req = { 0 };
	struct error err;
	Sampled__Tree *want;
	Sampled__Response *got;
	uint8_t *pw, *pg;
	size_t lw, lg;

	(void)state;
	add_random(t, ids, 10000, 3);
	seen.loop = loop_new(&err);
	assert_non_null(seen.loop);
	jobs = treejobs_new(seen.loop, on_done, &seen, &err);
	assert_non_null(jobs);

	req.ticket = 11;
	req.snap = tree_snapshot(t);
	treejobs_submit(jobs, &req);
	/* The second with other counts and a window span, as a time range gives. */
	req.ticket = 12;
	req.snap = tree_snapshot(t);
	req.n_self = tree_node_count(t);
	req.self = calloc(req.n_self, sizeof(*req.self));
	req.self[req.n_self - 1] = 5;
	req.has_window = 1;
	sampled__tree_window__init(&req.window);
	req.window.buckets = 3;
	treejobs_submit(jobs, &req);
	assert_int_equal(treejobs_pending(jobs), 2);
	assert_int_equal(loop_run(seen.loop, &err), 0);
	assert_int_equal(treejobs_pending(jobs), 0);
	assert_int_equal(seen.tickets[0], 11);
	assert_int_equal(seen.tickets[1], 12);

	want = tree_to_message(t, NULL);
	got = unframe(seen.frames[0], seen.lens[0]);
	assert_non_null(got);
	assert_int_equal(got->result_case, SAMPLED__RESPONSE__RESULT_TREE);
	assert_int_equal(got->protocol_version, WIRE_PROTOCOL_VERSION);
	pw = pack(want, &lw);
	pg = pack(got->tree, &lg);
	assert_int_equal(lw, lg);
	assert_memory_equal(pw, pg, lw);
	free(pw);
	free(pg);
	sampled__response__free_unpacked(got, NULL);
	tree_message_free(want);

	got = unframe(seen.frames[1], seen.lens[1]);
	assert_non_null(got);
	assert_int_equal(got->tree->total_samples, 5);
	assert_non_null(got->tree->window);
	assert_int_equal(got->tree->window->buckets, 3);
	sampled__response__free_unpacked(got, NULL);

	/* Jobs still queued when the worker stops are dropped, not leaked. */
	req.ticket = 13;
	req.snap = tree_snapshot(t);
	req.self = NULL;
	req.has_window = 0;
	treejobs_submit(jobs, &req);
	treejobs_free(jobs);
	treejobs_free(NULL);
	for (size_t i = 0; i < seen.n; i++)
		free(seen.frames[i]);
	loop_free(seen.loop);
	tree_free(t);
}

static void on_one_done(void *arg, uint64_t ticket, uint8_t *frame, size_t len)
{
	struct jobs_seen *seen = arg;

	(void)ticket;
	seen->frames[0] = frame;
	seen->lens[0] = len;
	seen->n = 1;
	loop_stop(seen->loop);
}

/* A reply past the frame limit would never be read: an error that says so comes instead. */
static void test_too_large(void **state)
{
	struct tree *t = tree_new();
	struct jobs_seen seen = { 0 };
	struct treejobs_request req = { 0 };
	struct treejobs *jobs;
	struct error err;
	Sampled__Response *got;
	size_t len = 64 << 10;
	char *name = malloc(len + 16);

	(void)state;
	assert_non_null(name);
	memset(name, 'x', len);
	/* 1,100 frames of 64 KiB names, one stack each: 70 MB of strings. */
	for (int i = 0; i < 1100; i++) {
		struct tree_frame f = { .kind = TREE_KIND_NATIVE, .function = name, .module = "m" };
		uint32_t id;

		snprintf(name + len, 16, "%d", i);
		id = tree_frame_id(t, &f);
		tree_add(t, 1, TREE_STATE_RUNNING, &id, 1, 1);
	}
	free(name);
	seen.loop = loop_new(&err);
	jobs = treejobs_new(seen.loop, on_one_done, &seen, &err);
	assert_non_null(jobs);
	req.snap = tree_snapshot(t);
	treejobs_submit(jobs, &req);
	assert_int_equal(loop_run(seen.loop, &err), 0);
	assert_true(seen.lens[0] < 4096);
	got = unframe(seen.frames[0], seen.lens[0]);
	assert_non_null(got);
	assert_int_equal(got->result_case, SAMPLED__RESPONSE__RESULT_ERROR);
	assert_int_equal(got->error->code, SAMPLED__ERROR_CODE__ERROR_TOO_LARGE);
	assert_non_null(strstr(got->error->message, "over the protocol's 64 MiB"));
	sampled__response__free_unpacked(got, NULL);
	free(seen.frames[0]);
	treejobs_free(jobs);
	loop_free(seen.loop);
	tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_bound),
		cmocka_unit_test(test_frame_bound),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_jobs),
		cmocka_unit_test(test_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
