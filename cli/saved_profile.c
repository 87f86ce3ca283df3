#include <sys/stat.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "mem.h"
#include "saved_profile.h"
#include "wire.h"

struct saved_profile {
	Sampled__SavedProfile *msg;
};

/* Big-endian, as the header is. */
static void saved_profile_put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (24 - 8 * i));
}

/* Big-endian, as the header is. */
static void saved_profile_put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (56 - 8 * i));
}

/* Reads a big-endian header field. */
static uint32_t saved_profile_get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Reads a big-endian header field. */
static uint64_t saved_profile_get64(const uint8_t *p)
{
	return (uint64_t)saved_profile_get32(p) << 32 | saved_profile_get32(p + 4);
}

uint8_t *saved_profile_encode(const Sampled__SavedProfile *msg, size_t *len)
{
	size_t n = protobuf_c_message_get_packed_size(&msg->base);
	uint8_t *buf = mem_alloc(SAVED_PROFILE_HEADER_SIZE + n);

	memcpy(buf, SAVED_PROFILE_MAGIC, SAVED_PROFILE_MAGIC_SIZE);
	saved_profile_put32(buf + 8, SAVED_PROFILE_VERSION);
	protobuf_c_message_pack(&msg->base, buf + SAVED_PROFILE_HEADER_SIZE);
	saved_profile_put32(buf + 12, (uint32_t)crc32_z(0, buf + SAVED_PROFILE_HEADER_SIZE, n));
	saved_profile_put64(buf + 16, n);
	*len = SAVED_PROFILE_HEADER_SIZE + n;
	return buf;
}

/*
 * The answers cut trees by index, so every index in every tree is checked
 * once here: parents come before their children, frames and strings exist.
 */
static int saved_profile_check_tree(const Sampled__Tree *t, size_t which, struct error *err)
{
	for (size_t i = 0; i < t->n_frames; i++) {
		const Sampled__Frame *f = t->frames[i];

		if (f->function >= t->n_strings || f->module >= t->n_strings ||
		    f->file >= t->n_strings) {
			error_set(err, 0, "corrupt: tree %zu, frame %zu names a string it does not hold",
				  which, i);
			return -1;
		}
	}
	for (size_t i = 0; i < t->n_nodes; i++) {
		const Sampled__Node *n = t->nodes[i];

		if (n->parent > i || n->frame >= t->n_frames) {
			error_set(err, 0, "corrupt: tree %zu, node %zu names a parent or frame it does "
				  "not hold", which, i);
			return -1;
		}
	}
	if (t->n_strings == 0 && (t->n_frames > 0 || t->n_nodes > 0)) {
		error_set(err, 0, "corrupt: tree %zu has frames but no strings", which);
		return -1;
	}
	return 0;
}

struct saved_profile *saved_profile_decode(const uint8_t *buf, size_t len, struct error *err)
{
	const uint8_t *payload = buf + SAVED_PROFILE_HEADER_SIZE;
	Sampled__SavedProfile *msg;
	struct saved_profile *sp;
	uint32_t version, crc;
	uint64_t n;

	if (len < SAVED_PROFILE_MAGIC_SIZE ||
	    memcmp(buf, SAVED_PROFILE_MAGIC, SAVED_PROFILE_MAGIC_SIZE) != 0) {
		error_set(err, 0, "not a saved profile (no .sprof signature at its start)");
		return NULL;
	}
	if (len < SAVED_PROFILE_HEADER_SIZE) {
		error_set(err, 0, "truncated: %zu bytes, less than the %u-byte header", len,
			  SAVED_PROFILE_HEADER_SIZE);
		return NULL;
	}
	version = saved_profile_get32(buf + 8);
	crc = saved_profile_get32(buf + 12);
	n = saved_profile_get64(buf + 16);
	if (version == 0) {
		error_set(err, 0, "corrupt: format version 0");
		return NULL;
	}
	if (version > SAVED_PROFILE_VERSION) {
		error_set(err, 0, "saved in format version %u, and this samplectl reads up to "
			  "version %u: read it with a newer samplectl", version,
			  SAVED_PROFILE_VERSION);
		return NULL;
	}
	if (n > SAVED_PROFILE_MAX_PAYLOAD) {
		error_set(err, 0, "corrupt: the header announces %llu bytes (at most %llu)",
			  (unsigned long long)n, (unsigned long long)SAVED_PROFILE_MAX_PAYLOAD);
		return NULL;
	}
	if (len - SAVED_PROFILE_HEADER_SIZE < n) {
		error_set(err, 0, "truncated: the header announces %llu bytes of profile, the file "
			  "holds %zu", (unsigned long long)n, len - SAVED_PROFILE_HEADER_SIZE);
		return NULL;
	}
	if (len - SAVED_PROFILE_HEADER_SIZE > n) {
		error_set(err, 0, "corrupt: %llu stray bytes after the profile",
			  (unsigned long long)(len - SAVED_PROFILE_HEADER_SIZE - n));
		return NULL;
	}
	if ((uint32_t)crc32_z(0, payload, (size_t)n) != crc) {
		error_set(err, 0, "corrupt: the checksum does not match (the file was damaged)");
		return NULL;
	}
	msg = sampled__saved_profile__unpack(NULL, (size_t)n, payload);
	if (msg == NULL) {
		error_set(err, 0, "corrupt: the profile does not decode");
		return NULL;
	}
	if (msg->status == NULL) {
		error_set(err, 0, "corrupt: the profile has no status");
		goto fail;
	}
	for (size_t i = 0; i < msg->n_trees; i++) {
		if (msg->trees[i]->query == NULL || msg->trees[i]->tree == NULL) {
			error_set(err, 0, "corrupt: tree %zu is incomplete", i);
			goto fail;
		}
		if (saved_profile_check_tree(msg->trees[i]->tree, i, err) < 0)
			goto fail;
	}
	sp = mem_zalloc(sizeof(*sp));
	sp->msg = msg;
	return sp;
fail:
	sampled__saved_profile__free_unpacked(msg, NULL);
	return NULL;
}

struct saved_profile *saved_profile_read(const char *path, struct error *err)
{
	struct saved_profile *sp = NULL;
	uint8_t *buf = NULL;
	size_t len = 0, cap = 0;
	struct stat st;
	FILE *f;

	f = fopen(path, "rbe");
	if (f == NULL) {
		error_set(err, errno, "cannot read %s", path);
		return NULL;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		error_set(err, EISDIR, "cannot read %s", path);
		goto out;
	}
	/* Read by chunks: a pipe has no size, and a file may change meanwhile. */
	for (;;) {
		size_t got;

		if (len > SAVED_PROFILE_HEADER_SIZE + SAVED_PROFILE_MAX_PAYLOAD) {
			error_set(err, 0, "%s: too large for a saved profile", path);
			goto out;
		}
		buf = mem_grow(buf, &cap, len + 65536, 1);
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		error_set(err, errno, "reading %s", path);
		goto out;
	}
	sp = saved_profile_decode(buf, len, err);
	if (sp == NULL)
		error_prefix(err, "%s: ", path);
out:
	fclose(f);
	free(buf);
	return sp;
}

void saved_profile_free(struct saved_profile *sp)
{
	if (sp == NULL)
		return;
	sampled__saved_profile__free_unpacked(sp->msg, NULL);
	free(sp);
}

const Sampled__SavedProfile *saved_profile_message(const struct saved_profile *sp)
{
	return sp->msg;
}

/* ------------------------------------------------------------- answers */

/* Frames resp, which only borrows what it points at. */
static uint8_t *saved_profile_pack(Sampled__Response *resp, size_t *frame_len)
{
	resp->protocol_version = WIRE_PROTOCOL_VERSION;
	return wire_pack(&resp->base, frame_len);
}

/* An Error reply, as a daemon sends for what it cannot answer. */
static uint8_t *saved_profile_error(Sampled__ErrorCode code, const char *text, size_t *frame_len)
{
	Sampled__Response resp;
	Sampled__Error e;

	wire_response_init(&resp);
	sampled__error__init(&e);
	e.code = code;
	e.message = (char *)text;
	resp.result_case = SAMPLED__RESPONSE__RESULT_ERROR;
	resp.error = &e;
	return saved_profile_pack(&resp, frame_len);
}

/*
 * Whether a stored query asks what q asks.  The packed forms are compared,
 * so that a filter added to TreeRequest later takes part without a change
 * here (and one from a newer file, kept as an unknown field, too).
 */
static int saved_profile_same_query(const Sampled__TreeRequest *a, const Sampled__TreeRequest *b)
{
	size_t na = protobuf_c_message_get_packed_size(&a->base);
	size_t nb = protobuf_c_message_get_packed_size(&b->base);
	uint8_t *pa, *pb;
	int same;

	if (na != nb)
		return 0;
	pa = mem_alloc(na + 1);
	pb = mem_alloc(nb + 1);
	protobuf_c_message_pack(&a->base, pa);
	protobuf_c_message_pack(&b->base, pb);
	same = memcmp(pa, pb, na) == 0;
	free(pa);
	free(pb);
	return same;
}

/* The stored tree whose query is q, or NULL. */
static const Sampled__Tree *saved_profile_find_exact(const struct saved_profile *sp,
						     const Sampled__TreeRequest *q)
{
	for (size_t i = 0; i < sp->msg->n_trees; i++) {
		if (saved_profile_same_query(sp->msg->trees[i]->query, q))
			return sp->msg->trees[i]->tree;
	}
	return NULL;
}

/*
 * The stored tree for req's filters, merged or per thread as asked, tid
 * and thresholds aside.  When no sample was idle, a running-only view is
 * the whole tree and an idle-only view is empty (*empty set, NULL).
 */
static const Sampled__Tree *saved_profile_find(const struct saved_profile *sp,
					       const Sampled__TreeRequest *req, int per_thread,
					       int *empty)
{
	Sampled__TreeRequest q = *req;
	const Sampled__Tree *t;

	*empty = 0;
	q.tid = 0;
	q.min_share = 0;
	q.per_thread = per_thread != 0;
	t = saved_profile_find_exact(sp, &q);
	if (t != NULL || !sp->msg->all_running)
		return t;
	if (q.state == SAMPLED__STATE_FILTER__STATE_RUNNING) {
		q.state = SAMPLED__STATE_FILTER__STATE_ANY;
		return saved_profile_find_exact(sp, &q);
	}
	*empty = q.state == SAMPLED__STATE_FILTER__STATE_IDLE;
	return NULL;
}

/* The top-level node of a per-thread tree that is thread tid ("name (tid)" or "thread tid"), or -1. */
static long saved_profile_thread_root(const Sampled__Tree *t, int32_t tid)
{
	char plain[32], suffix[32];
	size_t ns, nl;

	snprintf(plain, sizeof(plain), "thread %d", (int)tid);
	snprintf(suffix, sizeof(suffix), " (%d)", (int)tid);
	ns = strlen(suffix);
	for (size_t i = 0; i < t->n_nodes; i++) {
		const Sampled__Frame *f = t->frames[t->nodes[i]->frame];
		const char *label = t->strings[f->function];

		if (t->nodes[i]->parent != 0 || f->kind != SAMPLED__FRAME_KIND__FRAME_THREAD)
			continue;
		nl = strlen(label);
		if (strcmp(label, plain) == 0 || (nl > ns && strcmp(label + nl - ns, suffix) == 0))
			return (long)i;
	}
	return -1;
}

/* A tree made of some of another's nodes; it borrows the other's strings. */
struct saved_profile_cut {
	Sampled__Tree tree;
	Sampled__Node *nodes;
	Sampled__Node **node_ptrs;
	Sampled__Frame *frames;
	Sampled__Frame **frame_ptrs;
	char **strings;
	uint32_t *frame_map, *string_map;
};

/* The new index of string s of the source, adding it on first use. */
static uint32_t saved_profile_cut_string(struct saved_profile_cut *c, const Sampled__Tree *src,
					 uint32_t s)
{
	if (c->string_map[s] == UINT32_MAX) {
		c->string_map[s] = (uint32_t)c->tree.n_strings;
		c->strings[c->tree.n_strings++] = src->strings[s];
	}
	return c->string_map[s];
}

/* The new index of frame f of the source, adding it (and its strings) on first use. */
static uint32_t saved_profile_cut_frame(struct saved_profile_cut *c, const Sampled__Tree *src,
					uint32_t f)
{
	if (c->frame_map[f] == UINT32_MAX) {
		Sampled__Frame *nf = &c->frames[c->tree.n_frames];

		*nf = *src->frames[f];
		nf->function = saved_profile_cut_string(c, src, nf->function);
		nf->module = saved_profile_cut_string(c, src, nf->module);
		nf->file = saved_profile_cut_string(c, src, nf->file);
		c->frame_ptrs[c->tree.n_frames] = nf;
		c->frame_map[f] = (uint32_t)c->tree.n_frames++;
	}
	return c->frame_map[f];
}

/*
 * Cuts what a daemon would send out of a stored tree: with root >= 0 only
 * that thread's subtree (its root node kept when per_thread, else its
 * children become the top level), then without the nodes below min_share
 * of the total and everything under them.  Preorder is kept.
 */
static void saved_profile_cut(struct saved_profile_cut *c, const Sampled__Tree *src, long root,
			      int per_thread, double min_share)
{
	size_t n = src->n_nodes;
	uint32_t *map = mem_calloc(n ? n : 1, sizeof(*map));
	uint8_t *inside = mem_calloc(n ? n : 1, 1), *cut = mem_calloc(n ? n : 1, 1);
	uint64_t total = root >= 0 ? src->nodes[root]->total : src->total_samples;
	double threshold = min_share * (double)total;

	memset(c, 0, sizeof(*c));
	c->tree = *src;
	c->tree.per_thread = per_thread != 0;
	c->tree.total_samples = total;
	c->tree.n_nodes = c->tree.n_frames = c->tree.n_strings = 0;
	c->nodes = mem_calloc(n ? n : 1, sizeof(*c->nodes));
	c->node_ptrs = mem_calloc(n ? n : 1, sizeof(*c->node_ptrs));
	c->frames = mem_calloc(src->n_frames ? src->n_frames : 1, sizeof(*c->frames));
	c->frame_ptrs = mem_calloc(src->n_frames ? src->n_frames : 1, sizeof(*c->frame_ptrs));
	c->strings = mem_calloc(src->n_strings + 1, sizeof(*c->strings));
	c->frame_map = mem_calloc(src->n_frames ? src->n_frames : 1, sizeof(*c->frame_map));
	c->string_map = mem_calloc(src->n_strings + 1, sizeof(*c->string_map));
	memset(c->frame_map, 0xff, (src->n_frames ? src->n_frames : 1) * sizeof(*c->frame_map));
	memset(c->string_map, 0xff, (src->n_strings + 1) * sizeof(*c->string_map));
	/* strings[0] is "" in every tree. */
	if (src->n_strings > 0)
		saved_profile_cut_string(c, src, 0);
	else
		c->strings[c->tree.n_strings++] = (char *)"";
	for (size_t i = 0; i < n; i++) {
		const Sampled__Node *sn = src->nodes[i];
		uint32_t parent = sn->parent;
		Sampled__Node *nn;

		inside[i] = root < 0 || (long)i == root || (parent != 0 && inside[parent - 1]);
		cut[i] = (parent != 0 && cut[parent - 1]) || (double)sn->total < threshold;
		map[i] = UINT32_MAX;
		if (!inside[i] || cut[i] || ((long)i == root && !per_thread))
			continue;
		nn = &c->nodes[c->tree.n_nodes];
		*nn = *sn;
		nn->parent = parent != 0 && map[parent - 1] != UINT32_MAX ? map[parent - 1] + 1 : 0;
		nn->frame = saved_profile_cut_frame(c, src, sn->frame);
		c->node_ptrs[c->tree.n_nodes] = nn;
		map[i] = (uint32_t)c->tree.n_nodes++;
	}
	c->tree.nodes = c->node_ptrs;
	c->tree.frames = c->frame_ptrs;
	c->tree.strings = c->strings;
	free(map);
	free(inside);
	free(cut);
}

/* Frees what saved_profile_cut allocated (the strings stay the source's). */
static void saved_profile_cut_release(struct saved_profile_cut *c)
{
	free(c->nodes);
	free(c->node_ptrs);
	free(c->frames);
	free(c->frame_ptrs);
	free(c->strings);
	free(c->frame_map);
	free(c->string_map);
}

/* A tree request: find the stored tree, cut the view asked for out of it. */
static uint8_t *saved_profile_answer_tree(const struct saved_profile *sp,
					  const Sampled__TreeRequest *req, size_t *frame_len)
{
	static const Sampled__Tree none = SAMPLED__TREE__INIT;
	struct saved_profile_cut cut;
	const Sampled__Tree *t;
	Sampled__Response resp;
	uint8_t *frame;
	long root = -1;
	int empty;

	if (!(req->min_share >= 0 && req->min_share <= 1))
		return saved_profile_error(SAMPLED__ERROR_CODE__ERROR_BAD_REQUEST,
					   "min_share must be between 0 and 1", frame_len);
	if (req->last_ns != 0 || req->since_unix_ns != 0 || req->until_unix_ns != 0)
		return saved_profile_error(SAMPLED__ERROR_CODE__ERROR_UNSUPPORTED,
					   "a saved profile keeps no time buckets: --last, --since "
					   "and --until need a live daemon", frame_len);
	t = saved_profile_find(sp, req, req->per_thread || req->tid != 0, &empty);
	if (t == NULL && !empty)
		return saved_profile_error(SAMPLED__ERROR_CODE__ERROR_UNSUPPORTED,
					   "this saved profile holds no tree for that view", frame_len);
	if (t == NULL)
		t = &none;
	if (req->tid != 0) {
		root = saved_profile_thread_root(t, req->tid);
		/* An unknown thread gives an empty tree, as a daemon's does. */
		if (root < 0)
			t = &none;
	}
	saved_profile_cut(&cut, t, root, req->per_thread, req->min_share);
	wire_response_init(&resp);
	resp.result_case = SAMPLED__RESPONSE__RESULT_TREE;
	resp.tree = &cut.tree;
	frame = saved_profile_pack(&resp, frame_len);
	saved_profile_cut_release(&cut);
	return frame;
}

uint8_t *saved_profile_answer(const struct saved_profile *sp, const Sampled__Request *req,
			      size_t *frame_len)
{
	const Sampled__Status *st = sp->msg->status;
	Sampled__Response resp;
	Sampled__HelloReply hello;

	if (req->protocol_version != WIRE_PROTOCOL_VERSION)
		return saved_profile_error(SAMPLED__ERROR_CODE__ERROR_VERSION_MISMATCH,
					   "protocol version mismatch", frame_len);
	wire_response_init(&resp);
	switch (req->command_case) {
	case SAMPLED__REQUEST__COMMAND_HELLO:
		sampled__hello_reply__init(&hello);
		hello.protocol_version = WIRE_PROTOCOL_VERSION;
		hello.daemon_version = sp->msg->daemon_version;
		hello.daemon_pid = st->daemon_pid;
		hello.target_pid = st->target_pid;
		resp.result_case = SAMPLED__RESPONSE__RESULT_HELLO;
		resp.hello = &hello;
		return saved_profile_pack(&resp, frame_len);
	case SAMPLED__REQUEST__COMMAND_STATUS:
		resp.result_case = SAMPLED__RESPONSE__RESULT_STATUS;
		resp.status = (Sampled__Status *)st;
		return saved_profile_pack(&resp, frame_len);
	case SAMPLED__REQUEST__COMMAND_TREE:
		if (req->tree == NULL)
			break;
		return saved_profile_answer_tree(sp, req->tree, frame_len);
	case SAMPLED__REQUEST__COMMAND_DUMP:
	case SAMPLED__REQUEST__COMMAND_STOP:
	case SAMPLED__REQUEST__COMMAND_RESET:
	case SAMPLED__REQUEST__COMMAND_PAUSE:
	case SAMPLED__REQUEST__COMMAND_RESUME:
		return saved_profile_error(SAMPLED__ERROR_CODE__ERROR_UNSUPPORTED,
					   "a saved profile has no live process: this needs a daemon",
					   frame_len);
	default:
		break;
	}
	return saved_profile_error(SAMPLED__ERROR_CODE__ERROR_BAD_REQUEST, "unknown request",
				   frame_len);
}
