#include <stdlib.h>
#include <string.h>

#include "dump.h"
#include "mem.h"
#include "profile/syscalls.h"
#include "profile/tree.h"
#include "sample/ptrace_sampler.h"
#include "sample/target.h"

/* Builds the message: strings and frames shared, frame ids mapped once. */
struct dump_builder {
	const struct tree *tree;
	Sampled__Dump *msg;
	size_t cap_strings, cap_frames, cap_threads;
	uint32_t *frame_out;	/* tree frame id -> frames index + 1 */
	size_t frame_out_cap;
};

static uint32_t builder_string(struct dump_builder *b, const char *s)
{
	Sampled__Dump *m = b->msg;

	if (s == NULL || s[0] == '\0')
		return 0;
	/* Dumps are small: a linear search keeps this simple. */
	for (size_t i = 1; i < m->n_strings; i++)
		if (strcmp(m->strings[i], s) == 0)
			return (uint32_t)i;
	m->strings = mem_grow(m->strings, &b->cap_strings, m->n_strings + 1, sizeof(*m->strings));
	m->strings[m->n_strings] = mem_strdup(s);
	return (uint32_t)m->n_strings++;
}

static uint32_t builder_frame(struct dump_builder *b, uint32_t id)
{
	Sampled__Dump *m = b->msg;
	struct tree_frame tf;
	Sampled__Frame *f;
	size_t old = b->frame_out_cap;

	if (id >= b->frame_out_cap) {
		b->frame_out = mem_grow(b->frame_out, &b->frame_out_cap, (size_t)id + 1,
					sizeof(*b->frame_out));
		memset(b->frame_out + old, 0, (b->frame_out_cap - old) * sizeof(*b->frame_out));
	}
	if (b->frame_out[id] != 0)
		return b->frame_out[id] - 1;
	if (tree_frame_get(b->tree, id, &tf) < 0)
		mem_fatal("dump: frame id %u unknown to the tree", id);
	f = mem_alloc(sizeof(*f));
	sampled__frame__init(f);
	f->function = builder_string(b, tf.function);
	f->module = builder_string(b, tf.module);
	f->file = builder_string(b, tf.file);
	f->line = tf.line;
	f->kind = (Sampled__FrameKind)tf.kind;
	f->offset = tf.offset;
	m->frames = mem_grow(m->frames, &b->cap_frames, m->n_frames + 1, sizeof(*m->frames));
	m->frames[m->n_frames] = f;
	b->frame_out[id] = (uint32_t)++m->n_frames;
	return b->frame_out[id] - 1;
}

static const char *state_name(enum sample_state s)
{
	switch (s) {
	case SAMPLE_STATE_RUNNING: return "running";
	case SAMPLE_STATE_SLEEPING: return "sleeping";
	case SAMPLE_STATE_DISK: return "disk wait";
	case SAMPLE_STATE_STOPPED: return "stopped";
	default: return "other";
	}
}

/* Adds one thread; ids are root first, the message wants them innermost first. */
static void builder_thread(struct dump_builder *b, pid_t tid, const char *name,
			   enum sample_state state, long syscall, const uint32_t *ids, size_t n,
			   int rooted)
{
	Sampled__Dump *m = b->msg;
	Sampled__ThreadStack *t = mem_alloc(sizeof(*t));
	const char *sc = syscall >= 0 ? syscalls_name(syscall) : NULL;

	sampled__thread_stack__init(t);
	t->tid = tid;
	t->name = mem_strdup(name);
	t->state = mem_strdup(state_name(state));
	t->syscall = sc != NULL ? mem_strdup(sc) : syscall >= 0 ? mem_printf("syscall %ld", syscall)
								 : mem_strdup("");
	t->truncated = !rooted;
	t->frames = mem_calloc(n, sizeof(*t->frames));
	for (size_t i = 0; i < n; i++)
		t->frames[t->n_frames++] = builder_frame(b, ids[n - 1 - i]);
	m->threads = mem_grow(m->threads, &b->cap_threads, m->n_threads + 1, sizeof(*m->threads));
	m->threads[m->n_threads++] = t;
}

static void builder_init(struct dump_builder *b, const struct tree *tree)
{
	memset(b, 0, sizeof(*b));
	b->tree = tree;
	b->msg = mem_alloc(sizeof(*b->msg));
	sampled__dump__init(b->msg);
	b->msg->strings = mem_grow(NULL, &b->cap_strings, 1, sizeof(*b->msg->strings));
	b->msg->strings[b->msg->n_strings++] = mem_strdup("");
	b->msg->time_unix_ns = target_now_ns();
}

static Sampled__Dump *builder_finish(struct dump_builder *b)
{
	free(b->frame_out);
	return b->msg;
}

struct snapshot_ctx {
	struct dump_builder *b;
	struct profile *p;
	pid_t pid;
};

static void on_snapshot(void *arg, const struct sample *s)
{
	struct snapshot_ctx *c = arg;
	const uint32_t *ids;
	char name[16];
	int rooted;
	size_t n = profile_stack(c->p, s, &ids, &rooted);

	target_thread_name(c->pid, s->tid, name, sizeof(name));
	builder_thread(c->b, s->tid, name, s->state, s->in_kernel ? s->syscall : -1, ids, n,
		       rooted);
}

Sampled__Dump *dump_snapshot(struct profile *p, pid_t pid, uint32_t stack_bytes,
			     struct error *err)
{
	struct dump_builder b;
	struct snapshot_ctx c = { &b, p, pid };

	builder_init(&b, profile_tree_of(p));
	if (ptrace_sampler_snapshot(pid, stack_bytes, on_snapshot, &c, err) < 0) {
		dump_free(builder_finish(&b));
		return NULL;
	}
	return builder_finish(&b);
}

Sampled__Dump *dump_latest(const struct profile *p)
{
	struct dump_builder b;

	builder_init(&b, profile_tree_of(p));
	for (size_t i = 0; i < profile_thread_count(p); i++) {
		const struct profile_thread *th = profile_thread_at(p, i);

		if (th->exited || th->last_len == 0)
			continue;
		builder_thread(&b, th->tid, th->name, th->last_state, th->last_syscall, th->last,
			       th->last_len, th->last_rooted);
	}
	return builder_finish(&b);
}

void dump_free(Sampled__Dump *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < d->n_strings; i++)
		free(d->strings[i]);
	free(d->strings);
	for (size_t i = 0; i < d->n_frames; i++)
		free(d->frames[i]);
	free(d->frames);
	for (size_t i = 0; i < d->n_threads; i++) {
		Sampled__ThreadStack *t = d->threads[i];

		free(t->name);
		free(t->state);
		free(t->syscall);
		free(t->frames);
		free(t);
	}
	free(d->threads);
	free(d);
}
