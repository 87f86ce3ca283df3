/*
 * Saved profiles (.sprof): encoding and decoding, every way a file can be
 * broken (each must give its own clear error, never a crash), the answers
 * a loaded file gives in place of a daemon (trees cut per thread, by
 * share, by state), and the private server --load talks to through the
 * real client.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "client.h"
#include "mem.h"
#include "saved_profile.h"
#include "saved_server.h"
#include "wire.h"

/* ------------------------------------------------------------- fixture */

/*
 * Two threads running main -> work: t1 (tid 11) with 6 samples (1 in main
 * itself), t2 (tid 12) with 4.  Stored merged and per thread, state ANY,
 * all samples running.
 */
static char *strings[] = { "", "main", "work", "prog", "t1 (11)", "thread 12" };

static Sampled__Frame frames[4];
static Sampled__Frame *frame_ptrs[4];
static Sampled__Node merged_nodes[2], thread_nodes[6];
static Sampled__Node *merged_ptrs[2], *thread_ptrs[6];
static Sampled__Tree merged, per_thread;
static Sampled__TreeRequest q_merged, q_threads;
static Sampled__SavedTree saved[2];
static Sampled__SavedTree *saved_ptrs[2];
static Sampled__Status status;
static Sampled__SavedProfile profile;

/* Fills one node of the fixture. */
static void node(Sampled__Node *n, uint32_t parent, uint32_t frame, uint64_t self, uint64_t total)
{
	sampled__node__init(n);
	n->parent = parent;
	n->frame = frame;
	n->self = self;
	n->total = total;
}

/* Fills one frame of the fixture: native frames are in module "prog". */
static void frame(Sampled__Frame *f, uint32_t function, Sampled__FrameKind kind)
{
	sampled__frame__init(f);
	f->function = function;
	f->module = kind == SAMPLED__FRAME_KIND__FRAME_NATIVE ? 3 : 0;
	f->kind = kind;
}

/* Builds the fixture afresh (tests may change it). */
static int setup(void **state)
{
	(void)state;
	frame(&frames[0], 1, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	frame(&frames[1], 2, SAMPLED__FRAME_KIND__FRAME_NATIVE);
	frame(&frames[2], 4, SAMPLED__FRAME_KIND__FRAME_THREAD);
	frame(&frames[3], 5, SAMPLED__FRAME_KIND__FRAME_THREAD);
	for (int i = 0; i < 4; i++)
		frame_ptrs[i] = &frames[i];
	node(&merged_nodes[0], 0, 0, 1, 10);
	node(&merged_nodes[1], 1, 1, 9, 9);
	node(&thread_nodes[0], 0, 2, 0, 6);
	node(&thread_nodes[1], 1, 0, 1, 6);
	node(&thread_nodes[2], 2, 1, 5, 5);
	node(&thread_nodes[3], 0, 3, 0, 4);
	node(&thread_nodes[4], 4, 0, 0, 4);
	node(&thread_nodes[5], 5, 1, 4, 4);
	for (int i = 0; i < 2; i++)
		merged_ptrs[i] = &merged_nodes[i];
	for (int i = 0; i < 6; i++)
		thread_ptrs[i] = &thread_nodes[i];
	sampled__tree__init(&merged);
	merged.n_strings = 6;
	merged.strings = strings;
	merged.n_frames = 2;
	merged.frames = frame_ptrs;
	merged.n_nodes = 2;
	merged.nodes = merged_ptrs;
	merged.total_samples = 10;
	per_thread = merged;
	per_thread.n_frames = 4;
	per_thread.n_nodes = 6;
	per_thread.nodes = thread_ptrs;
	per_thread.per_thread = 1;
	sampled__tree_request__init(&q_merged);
	sampled__tree_request__init(&q_threads);
	q_threads.per_thread = 1;
	for (int i = 0; i < 2; i++) {
		sampled__saved_tree__init(&saved[i]);
		saved_ptrs[i] = &saved[i];
	}
	saved[0].query = &q_merged;
	saved[0].tree = &merged;
	saved[1].query = &q_threads;
	saved[1].tree = &per_thread;
	sampled__status__init(&status);
	status.target_pid = 11;
	status.target_comm = "prog";
	status.samples = 10;
	status.rate_hz = 99;
	status.daemon_pid = 4242;
	sampled__saved_profile__init(&profile);
	profile.status = &status;
	profile.n_trees = 2;
	profile.trees = saved_ptrs;
	profile.all_running = 1;
	profile.daemon_version = "9.9";
	return 0;
}

/* The fixture encoded; free() it. */
static uint8_t *encoded(size_t *len)
{
	return saved_profile_encode(&profile, len);
}

/* Decodes buf, expecting a failure whose message holds needle. */
static void expect_refused(const uint8_t *buf, size_t len, const char *needle)
{
	struct error err;

	error_clear(&err);
	assert_null(saved_profile_decode(buf, len, &err));
	if (strstr(err.msg, needle) == NULL)
		fail_msg("error '%s' does not say '%s'", err.msg, needle);
}

/* Rewrites the checksum after a test changed the payload, so that only the change is judged. */
static void fix_checksum(uint8_t *buf, size_t len)
{
	uint32_t crc = (uint32_t)crc32_z(0, buf + SAVED_PROFILE_HEADER_SIZE,
					 len - SAVED_PROFILE_HEADER_SIZE);

	buf[12] = (uint8_t)(crc >> 24);
	buf[13] = (uint8_t)(crc >> 16);
	buf[14] = (uint8_t)(crc >> 8);
	buf[15] = (uint8_t)crc;
}

/* Encodes a message with a right header (for payloads that must fail past the checksum). */
static uint8_t *wrapped(const Sampled__SavedProfile *m, size_t *len)
{
	return saved_profile_encode(m, len);
}

/* Encodes the fixture as a test broke it and expects the decoder to refuse it, saying needle. */
static void expect_profile_refused(const char *needle)
{
	uint8_t *buf;
	size_t len;

	buf = wrapped(&profile, &len);
	expect_refused(buf, len, needle);
	free(buf);
}

/* ------------------------------------------------------- encode/decode */

static void test_round_trip(void **state)
{
	struct saved_profile *sp;
	const Sampled__SavedProfile *m;
	struct error err;
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = encoded(&len);
	assert_memory_equal(buf, SAVED_PROFILE_MAGIC, SAVED_PROFILE_MAGIC_SIZE);
	assert_int_equal(buf[11], SAVED_PROFILE_VERSION);
	error_clear(&err);
	sp = saved_profile_decode(buf, len, &err);
	assert_non_null(sp);
	m = saved_profile_message(sp);
	assert_int_equal(m->status->target_pid, 11);
	assert_string_equal(m->status->target_comm, "prog");
	assert_int_equal(m->n_trees, 2);
	assert_int_equal(m->trees[1]->tree->n_nodes, 6);
	assert_true(m->all_running);
	assert_string_equal(m->daemon_version, "9.9");
	saved_profile_free(sp);
	saved_profile_free(NULL);
	free(buf);
}

static void test_broken_headers(void **state)
{
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = encoded(&len);
	expect_refused(buf, 0, "not a saved profile");
	expect_refused((const uint8_t *)"hello, world, not a profile", 27, "not a saved profile");
	expect_refused(buf, 5, "not a saved profile");
	expect_refused(buf, 20, "truncated: 20 bytes");
	expect_refused(buf, len - 1, "truncated: the header announces");
	expect_refused(buf, SAVED_PROFILE_HEADER_SIZE, "truncated: the header announces");
	/* A newline conversion (CR LF to LF) breaks the magic. */
	buf[6] = '\n';
	expect_refused(buf, len, "not a saved profile");
	buf[6] = '\r';
	buf[11] = 2;
	expect_refused(buf, len, "format version 2");
	buf[11] = 0;
	expect_refused(buf, len, "format version 0");
	buf[11] = 1;
	buf[16] = 0x7f;
	expect_refused(buf, len, "announces");
	buf[16] = 0;
	free(buf);

	buf = encoded(&len);
	buf = mem_realloc(buf, len + 3);
	memset(buf + len, 0, 3);
	expect_refused(buf, len + 3, "3 stray bytes");
	/* One bit flipped anywhere in the payload. */
	buf[len - 2] ^= 0x10;
	expect_refused(buf, len, "checksum");
	free(buf);
}

static void test_broken_payloads(void **state)
{
	uint8_t *buf;
	size_t len;

	(void)state;
	profile.status = NULL;
	expect_profile_refused("no status");
	profile.status = &status;
	saved[1].tree = NULL;
	expect_profile_refused("tree 1 is incomplete");
	saved[1].tree = &per_thread;

	/* Indexes that would send a reader outside the arrays. */
	thread_nodes[2].parent = 3;
	expect_profile_refused("tree 1, node 2");
	thread_nodes[2].parent = 2;
	merged_nodes[1].frame = 7;
	expect_profile_refused("tree 0, node 1");
	merged_nodes[1].frame = 1;
	frames[1].file = 40;
	expect_profile_refused("frame 1 names a string");
	frames[1].file = 0;

	/* Garbage with a right checksum: the payload does not decode. */
	buf = encoded(&len);
	memset(buf + SAVED_PROFILE_HEADER_SIZE, 0xff, len - SAVED_PROFILE_HEADER_SIZE);
	fix_checksum(buf, len);
	expect_refused(buf, len, "does not decode");
	free(buf);
}

static void test_read_files(void **state)
{
	char path[] = "/tmp/test_saved_profile.XXXXXX";
	struct saved_profile *sp;
	struct error err;
	uint8_t *buf;
	size_t len;
	int fd;

	(void)state;
	buf = encoded(&len);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	error_clear(&err);
	sp = saved_profile_read(path, &err);
	assert_non_null(sp);
	saved_profile_free(sp);
	/* Cut short by a full disk, say: the error names the file and what is wrong. */
	assert_int_equal(ftruncate(fd, (off_t)len / 2), 0);
	close(fd);
	error_clear(&err);
	assert_null(saved_profile_read(path, &err));
	assert_non_null(strstr(err.msg, path));
	assert_non_null(strstr(err.msg, "truncated"));
	unlink(path);
	error_clear(&err);
	assert_null(saved_profile_read(path, &err));
	assert_non_null(strstr(err.msg, "No such file"));
	error_clear(&err);
	assert_null(saved_profile_read("/tmp", &err));
	assert_non_null(strstr(err.msg, "directory"));
	error_clear(&err);
	assert_null(saved_profile_read("/etc/hostname", &err));
	assert_non_null(strstr(err.msg, "not a saved profile"));
	free(buf);
}

/* ------------------------------------------------------------- answers */

/* The loaded fixture answering req; the reply unpacked (free with sampled__response__free_unpacked). */
static Sampled__Response *ask(Sampled__Request *req)
{
	struct saved_profile *sp;
	Sampled__Response *resp;
	struct error err;
	uint8_t *buf, *frame;
	size_t len, frame_len;

	buf = encoded(&len);
	error_clear(&err);
	sp = saved_profile_decode(buf, len, &err);
	assert_non_null(sp);
	req->protocol_version = WIRE_PROTOCOL_VERSION;
	frame = saved_profile_answer(sp, req, &frame_len);
	assert_true(frame_len >= WIRE_HEADER_SIZE);
	resp = sampled__response__unpack(NULL, frame_len - WIRE_HEADER_SIZE, frame + WIRE_HEADER_SIZE);
	assert_non_null(resp);
	assert_int_equal(resp->protocol_version, WIRE_PROTOCOL_VERSION);
	free(frame);
	free(buf);
	saved_profile_free(sp);
	return resp;
}

/* Asks for a tree. */
static Sampled__Response *ask_tree(int per_thread_view, int32_t tid, double min_share,
				   Sampled__StateFilter st)
{
	Sampled__Request req;
	Sampled__TreeRequest tr;

	wire_request_init(&req);
	sampled__tree_request__init(&tr);
	tr.per_thread = per_thread_view != 0;
	tr.tid = tid;
	tr.min_share = min_share;
	tr.state = st;
	req.command_case = SAMPLED__REQUEST__COMMAND_TREE;
	req.tree = &tr;
	return ask(&req);
}

/*
 * The loaded fixture answering a request of one kind that carries nothing
 * (status, hello, dump), checked to give an answer of kind result.
 */
static Sampled__Response *ask_case(Sampled__Request__CommandCase command,
				   Sampled__Response__ResultCase result)
{
	Sampled__StatusRequest status_req = SAMPLED__STATUS_REQUEST__INIT;
	Sampled__Hello hello = SAMPLED__HELLO__INIT;
	Sampled__DumpRequest dump = SAMPLED__DUMP_REQUEST__INIT;
	Sampled__Request req;
	Sampled__Response *resp;

	wire_request_init(&req);
	req.command_case = command;
	if (command == SAMPLED__REQUEST__COMMAND_STATUS)
		req.status = &status_req;
	else if (command == SAMPLED__REQUEST__COMMAND_HELLO)
		req.hello = &hello;
	else if (command == SAMPLED__REQUEST__COMMAND_DUMP)
		req.dump = &dump;
	else
		fail_msg("ask_case: request %d carries something", (int)command);
	resp = ask(&req);
	assert_int_equal(resp->result_case, result);
	return resp;
}

/* Asks for a tree and checks its node count and total. */
static void expect_tree_size(int per_thread_view, int32_t tid, double min_share,
			     Sampled__StateFilter st, size_t n_nodes, uint64_t total)
{
	Sampled__Response *r = ask_tree(per_thread_view, tid, min_share, st);

	assert_int_equal(r->tree->n_nodes, n_nodes);
	assert_int_equal(r->tree->total_samples, total);
	sampled__response__free_unpacked(r, NULL);
}

/* A node's function name. */
static const char *fn(const Sampled__Tree *t, size_t i)
{
	assert_true(i < t->n_nodes);
	assert_true(t->nodes[i]->frame < t->n_frames);
	assert_true(t->frames[t->nodes[i]->frame]->function < t->n_strings);
	return t->strings[t->frames[t->nodes[i]->frame]->function];
}

static void test_answers_hello_status(void **state)
{
	Sampled__Response *resp;

	(void)state;
	resp = ask_case(SAMPLED__REQUEST__COMMAND_STATUS, SAMPLED__RESPONSE__RESULT_STATUS);
	assert_int_equal(resp->status->daemon_pid, 4242);
	assert_int_equal(resp->status->samples, 10);
	sampled__response__free_unpacked(resp, NULL);

	resp = ask_case(SAMPLED__REQUEST__COMMAND_HELLO, SAMPLED__RESPONSE__RESULT_HELLO);
	assert_int_equal(resp->hello->protocol_version, WIRE_PROTOCOL_VERSION);
	assert_int_equal(resp->hello->target_pid, 11);
	assert_string_equal(resp->hello->daemon_version, "9.9");
	sampled__response__free_unpacked(resp, NULL);

	/* What needs a live process is refused, and says why. */
	resp = ask_case(SAMPLED__REQUEST__COMMAND_DUMP, SAMPLED__RESPONSE__RESULT_ERROR);
	assert_int_equal(resp->error->code, SAMPLED__ERROR_CODE__ERROR_UNSUPPORTED);
	assert_non_null(strstr(resp->error->message, "live process"));
	sampled__response__free_unpacked(resp, NULL);
}

static void test_answers_trees(void **state)
{
	Sampled__Response *r;
	const Sampled__Tree *t;

	(void)state;
	/* Stored views come back as they were. */
	r = ask_tree(0, 0, 0, SAMPLED__STATE_FILTER__STATE_ANY);
	t = r->tree;
	assert_non_null(t);
	assert_int_equal(t->n_nodes, 2);
	assert_int_equal(t->total_samples, 10);
	assert_string_equal(fn(t, 0), "main");
	assert_string_equal(fn(t, 1), "work");
	assert_int_equal(t->nodes[1]->parent, 1);
	assert_string_equal(t->strings[0], "");
	sampled__response__free_unpacked(r, NULL);

	r = ask_tree(1, 0, 0, SAMPLED__STATE_FILTER__STATE_ANY);
	assert_int_equal(r->tree->n_nodes, 6);
	assert_true(r->tree->per_thread);
	sampled__response__free_unpacked(r, NULL);

	/* One thread, per thread: its root and its subtree, nothing else, total its own. */
	r = ask_tree(1, 12, 0, SAMPLED__STATE_FILTER__STATE_ANY);
	t = r->tree;
	assert_int_equal(t->n_nodes, 3);
	assert_int_equal(t->total_samples, 4);
	assert_string_equal(fn(t, 0), "thread 12");
	assert_int_equal(t->nodes[0]->parent, 0);
	assert_string_equal(fn(t, 1), "main");
	assert_int_equal(t->nodes[1]->parent, 1);
	assert_string_equal(fn(t, 2), "work");
	assert_int_equal(t->nodes[2]->parent, 2);
	assert_int_equal(t->n_frames, 3);
	assert_int_equal(t->n_strings, 5);	/* "", thread 12, main, prog, work */
	sampled__response__free_unpacked(r, NULL);

	/* One thread, merged: its root's children become the top level. */
	r = ask_tree(0, 11, 0, SAMPLED__STATE_FILTER__STATE_ANY);
	t = r->tree;
	assert_false(t->per_thread);
	assert_int_equal(t->n_nodes, 2);
	assert_int_equal(t->total_samples, 6);
	assert_string_equal(fn(t, 0), "main");
	assert_int_equal(t->nodes[0]->parent, 0);
	assert_int_equal(t->nodes[0]->self, 1);
	assert_int_equal(t->nodes[1]->parent, 1);
	assert_int_equal(t->nodes[1]->total, 5);
	sampled__response__free_unpacked(r, NULL);

	/* A thread the profile never saw: an empty tree, as a daemon gives. */
	r = ask_tree(1, 99, 0, SAMPLED__STATE_FILTER__STATE_ANY);
	assert_int_equal(r->tree->n_nodes, 0);
	assert_int_equal(r->tree->total_samples, 0);
	assert_int_equal(r->tree->n_strings, 1);
	sampled__response__free_unpacked(r, NULL);

	/* min_share cuts whole subtrees. */
	expect_tree_size(0, 0, 0.95, SAMPLED__STATE_FILTER__STATE_ANY, 1, 10);
	r = ask_tree(1, 0, 0.5, SAMPLED__STATE_FILTER__STATE_ANY);
	t = r->tree;
	assert_int_equal(t->n_nodes, 3);
	assert_string_equal(fn(t, 0), "t1 (11)");
	assert_string_equal(fn(t, 2), "work");
	assert_int_equal(t->n_frames, 3);
	sampled__response__free_unpacked(r, NULL);
}

static void test_answers_states(void **state)
{
	Sampled__Response *r;

	(void)state;
	/* All samples running: running is everything, idle is nothing. */
	expect_tree_size(0, 0, 0, SAMPLED__STATE_FILTER__STATE_RUNNING, 2, 10);
	expect_tree_size(1, 11, 0, SAMPLED__STATE_FILTER__STATE_IDLE, 0, 0);

	/* Otherwise a view that was not saved is an error, not a wrong answer. */
	profile.all_running = 0;
	r = ask_tree(0, 0, 0, SAMPLED__STATE_FILTER__STATE_RUNNING);
	assert_int_equal(r->result_case, SAMPLED__RESPONSE__RESULT_ERROR);
	assert_non_null(strstr(r->error->message, "no tree for that view"));
	sampled__response__free_unpacked(r, NULL);
	r = ask_tree(0, 0, 1.5, SAMPLED__STATE_FILTER__STATE_ANY);
	assert_int_equal(r->result_case, SAMPLED__RESPONSE__RESULT_ERROR);
	sampled__response__free_unpacked(r, NULL);
}

/* ------------------------------------------------------------- server */

static void test_server(void **state)
{
	struct saved_profile *sp;
	struct saved_server *srv;
	struct client *c;
	Sampled__Request req;
	Sampled__TreeRequest tr;
	Sampled__Response *resp;
	struct error err;
	struct stat st;
	char *dir;
	uint8_t *buf;
	size_t len;

	(void)state;
	buf = encoded(&len);
	error_clear(&err);
	sp = saved_profile_decode(buf, len, &err);
	free(buf);
	assert_non_null(sp);
	srv = saved_server_start(sp, &err);
	assert_non_null(srv);
	dir = mem_strdup(saved_server_path(srv));
	*strrchr(dir, '/') = '\0';
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	/* Twice: a command may connect again after the first connection ends. */
	for (int round = 0; round < 2; round++) {
		c = client_connect(saved_server_path(srv), 2000, &err);
		assert_non_null(c);
		assert_int_equal(client_hello(c)->target_pid, 11);
		wire_request_init(&req);
		sampled__tree_request__init(&tr);
		tr.per_thread = 1;
		tr.tid = 12;
		req.command_case = SAMPLED__REQUEST__COMMAND_TREE;
		req.tree = &tr;
		resp = client_call(c, &req, &err);
		assert_non_null(resp);
		assert_int_equal(resp->tree->total_samples, 4);
		client_response_free(resp);
		client_free(c);
	}
	saved_server_free(srv);
	assert_int_equal(stat(dir, &st), -1);
	free(dir);
	saved_server_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_round_trip, setup),
		cmocka_unit_test_setup(test_broken_headers, setup),
		cmocka_unit_test_setup(test_broken_payloads, setup),
		cmocka_unit_test_setup(test_read_files, setup),
		cmocka_unit_test_setup(test_answers_hello_status, setup),
		cmocka_unit_test_setup(test_answers_trees, setup),
		cmocka_unit_test_setup(test_answers_states, setup),
		cmocka_unit_test_setup(test_server, setup),
	};

	return cmocka_run_group_tests_name("saved_profile", tests, NULL, NULL);
}
