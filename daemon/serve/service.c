#include <sys/resource.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "dump.h"
#include "mem.h"
#include "sample/target.h"
#include "service.h"
#include "version.h"
#include "wire.h"


static uint64_t self_cpu_ns(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
	       ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static uint64_t self_rss_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "re");
	int n;

	if (f == NULL)
		return 0;
	n = fscanf(f, "%lu %lu", &size, &resident);
	fclose(f);
	return n == 2 ? (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE) : 0;
}

/*
 * Samples carry CLOCK_MONOTONIC times, users speak of the wall clock:
 * one reading of both per request maps one onto the other (a clock set
 * or a suspend since a sample shifts it by as much).
 */
static uint64_t real_to_mono(uint64_t real, uint64_t now_real, uint64_t now_mono)
{
	if (real >= now_real)
		return real - now_real > UINT64_MAX - now_mono ? UINT64_MAX
							       : now_mono + (real - now_real);
	return now_real - real > now_mono ? 0 : now_mono - (now_real - real);
}

/* The inverse of real_to_mono. */
static uint64_t mono_to_real(uint64_t mono, uint64_t now_real, uint64_t now_mono)
{
	if (mono >= now_mono)
		return now_real + (mono - now_mono);
	return now_mono - mono > now_real ? 0 : now_real - (now_mono - mono);
}

/*
 * The wall clock now, from the monotonic clock and the offset between the
 * two taken at attach: answers that convert between them (status, time
 * windows) then stay the same from one request to the next.
 */
static uint64_t wall_now(const struct service_parts *p, uint64_t now_mono)
{
	return mono_to_real(now_mono, p->started_ns, p->started_mono_ns);
}

/* The monotonic time the profile stopped growing: now, or the target's exit. */
static uint64_t profile_end_mono(const struct service_parts *p, uint64_t now_real,
				 uint64_t now_mono)
{
	uint64_t exit_real = target_exit_time_ns(p->target), exit_mono;

	if (exit_real == 0)
		return now_mono;
	exit_mono = real_to_mono(exit_real, now_real, now_mono);
	return exit_mono < now_mono ? exit_mono : now_mono;
}

/* The profile's start: attach, or the last reset. */
static uint64_t profile_start_mono(const struct service_parts *p)
{
	return p->control != NULL ? p->control->profile_mono_ns : p->started_mono_ns;
}

/* How long the profile served was sampled, pauses left out. */
static uint64_t sampled_ns(const struct service_parts *p, uint64_t now_real, uint64_t now_mono)
{
	uint64_t start = profile_start_mono(p), end = profile_end_mono(p, now_real, now_mono);
	uint64_t paused = 0;

	if (p->control != NULL) {
		paused = p->control->paused_ns;
		if (p->control->paused && end > p->control->paused_mono_ns)
			paused += end - p->control->paused_mono_ns;
	}
	return end > start + paused ? end - start - paused : 0;
}

/* The time buckets for status; NULL when the profile keeps none. */
static Sampled__WindowStatus *build_window_status(const struct service_parts *p,
						  uint64_t now_real, uint64_t now_mono)
{
	Sampled__WindowStatus *ws;
	struct window_stats w;
	uint64_t start = profile_start_mono(p), end = profile_end_mono(p, now_real, now_mono);

	if (profile_window_stats(p->profile, &w) < 0)
		return NULL;
	ws = mem_alloc(sizeof(*ws));
	sampled__window_status__init(ws);
	ws->bucket_ns = w.bucket_ns;
	ws->memory_bytes = w.memory_bytes;
	ws->memory_cap_bytes = w.memory_cap;
	ws->buckets = (uint32_t)w.buckets;
	if (w.buckets > 0) {
		ws->start_unix_ns = mono_to_real(w.oldest_ns > start ? w.oldest_ns : start, now_real,
						 now_mono);
		ws->end_unix_ns = mono_to_real(w.newest_end_ns < end ? w.newest_end_ns : end,
					       now_real, now_mono);
	}
	ws->dropped_buckets = w.dropped_buckets;
	ws->dropped_samples = w.dropped_samples;
	return ws;
}

static Sampled__HelloReply *build_hello(const struct service_parts *p)
{
	Sampled__HelloReply *h = mem_alloc(sizeof(*h));

	sampled__hello_reply__init(h);
	h->protocol_version = WIRE_PROTOCOL_VERSION;
	h->daemon_version = SAMPLED_VERSION;
	h->daemon_pid = getpid();
	h->target_pid = target_pid(p->target);
	return h;
}

/* The caps and what they refused, so that nothing a cap cost goes unsaid. */
static Sampled__MemoryStatus *build_memory_status(const struct service_parts *p)
{
	Sampled__MemoryStatus *m = mem_alloc(sizeof(*m));
	struct profile_memory pm;

	profile_memory(p->profile, &pm);
	sampled__memory_status__init(m);
	m->tree_nodes = pm.tree_nodes;
	m->tree_max_nodes = pm.tree_max_nodes;
	m->tree_folded_samples = pm.tree_folded;
	m->debug_info_bytes = pm.elf.mini_bytes;
	m->debug_info_cap_bytes = pm.elf.mini_cap;
	m->debug_info_refused = pm.elf.mini_refused;
	m->debug_files_skipped = pm.elf.debug_skipped;
	m->debug_file_cap_bytes = pm.elf.debug_cap;
	m->elf_images = pm.elf_images;
	m->elf_images_evicted = pm.elf.images_evicted;
	return m;
}

static Sampled__Status *build_status(const struct service_parts *p)
{
	Sampled__Status *st = mem_alloc(sizeof(*st));
	size_t n = profile_thread_count(p->profile);
	uint64_t now_mono = target_mono_ns(), now_real = wall_now(p, now_mono);
	int wait_status;

	sampled__status__init(st);
	st->target_pid = target_pid(p->target);
	st->target_comm = (char *)target_comm(p->target);
	st->target_cmdline = (char *)target_cmdline(p->target);
	st->state = target_exited(p->target) ? SAMPLED__TARGET_STATE__TARGET_EXITED
					     : SAMPLED__TARGET_STATE__TARGET_RUNNING;
	if (target_exit_status(p->target, &wait_status)) {
		st->exit_status_known = 1;
		if (WIFSIGNALED(wait_status))
			st->exit_signal = WTERMSIG(wait_status);
		else
			st->exit_code = WEXITSTATUS(wait_status);
	}
	st->ended_unix_ns = target_exit_time_ns(p->target);
	st->started_unix_ns = p->started_ns;
	st->uptime_ns = target_mono_ns() - p->started_mono_ns;
	st->rate_hz = p->rate_hz;
	st->mode = (char *)p->mode;
	st->sampler = (char *)p->sampler_name;
	st->sampler_note = (char *)p->sampler_note;
	st->kernel_frames = p->kernel_frames;
	st->stop_median_ns = p->stop_median_ns;
	st->stop_p99_ns = p->stop_p99_ns;
	if (*p->tracer != NULL) {
		uint64_t stops;

		ptrace_sampler_stop_stats(*p->tracer, &st->stop_median_ns, &st->stop_p99_ns, &stops);
	}
	st->samples = profile_samples(p->profile);
	st->lost_samples = profile_lost_samples(p->profile);
	st->truncated_samples = profile_truncated_samples(p->profile);
	st->python = (char *)profile_python_note(p->profile);
	st->python_out_of_step = profile_python_out_of_step(p->profile);
	if (profile_has_python(p->profile)) {
		const struct tree *t = profile_tree_of(p->profile);

		st->python_gil = mem_alloc(sizeof(*st->python_gil));
		sampled__python_gil__init(st->python_gil);
		st->python_gil->held = tree_gil_total(t, TREE_GIL_HELD);
		st->python_gil->released = tree_gil_total(t, TREE_GIL_RELEASED);
	}
	st->paused = p->control != NULL && p->control->paused;
	st->window = build_window_status(p, now_real, now_mono);
	st->memory = build_memory_status(p);
	st->sampled_ns = sampled_ns(p, now_real, now_mono);
	st->daemon_cpu_ns = self_cpu_ns();
	st->daemon_rss_bytes = self_rss_bytes();
	st->daemon_pid = getpid();
	st->socket_path = (char *)p->socket_path;
	st->threads = mem_calloc(n, sizeof(*st->threads));
	for (size_t i = 0; i < n; i++) {
		const struct profile_thread *th = profile_thread_at(p->profile, i);
		Sampled__ThreadStatus *ts = mem_alloc(sizeof(*ts));

		sampled__thread_status__init(ts);
		ts->tid = th->tid;
		ts->name = (char *)th->name;
		ts->samples = th->samples;
		ts->exited = th->exited || target_exited(p->target);
		st->threads[st->n_threads++] = ts;
	}
	return st;
}

static Sampled__Error *build_error(Sampled__ErrorCode code, const char *msg)
{
	Sampled__Error *e = mem_alloc(sizeof(*e));

	sampled__error__init(e);
	e->code = code;
	e->message = mem_strdup(msg);
	return e;
}

/* Answers with an error. */
static void reply_error(Sampled__Response *resp, Sampled__ErrorCode code, const char *msg)
{
	resp->result_case = SAMPLED__RESPONSE__RESULT_ERROR;
	resp->error = build_error(code, msg);
}

/*
 * A tree request's time range: the range in the samples' clock, the
 * per-node counts of the buckets that overlap it, and the span they cover,
 * clipped to the profile's start and end (the newest bucket reaches into
 * the future, the oldest may begin before the attach).  0 with *self NULL
 * for a request without a range; -1 with the error in resp.
 */
static int tree_range(const struct service_parts *p, const Sampled__TreeRequest *tr,
		      uint64_t **self, size_t *n, Sampled__TreeWindow *w, Sampled__Response *resp)
{
	uint64_t now_mono = target_mono_ns(), now_real = wall_now(p, now_mono);
	uint64_t from = 0, to = UINT64_MAX, start, end;
	struct window_span span;

	*self = NULL;
	*n = 0;
	if (tr->last_ns == 0 && tr->since_unix_ns == 0 && tr->until_unix_ns == 0)
		return 0;
	if (tr->last_ns != 0 && (tr->since_unix_ns != 0 || tr->until_unix_ns != 0)) {
		reply_error(resp, SAMPLED__ERROR_CODE__ERROR_BAD_REQUEST,
			    "a range is either the last so long or since/until, not both");
		return -1;
	}
	if (tr->until_unix_ns != 0 && tr->since_unix_ns >= tr->until_unix_ns) {
		reply_error(resp, SAMPLED__ERROR_CODE__ERROR_BAD_REQUEST,
			    "the range ends before it starts (until <= since)");
		return -1;
	}
	if (tr->last_ns != 0) {
		to = now_mono + 1;
		from = tr->last_ns < now_mono ? now_mono - tr->last_ns : 0;
	}
	if (tr->since_unix_ns != 0)
		from = real_to_mono(tr->since_unix_ns, now_real, now_mono);
	if (tr->until_unix_ns != 0)
		to = real_to_mono(tr->until_unix_ns, now_real, now_mono);
	*self = profile_window_counts(p->profile, from, to, n, &span);
	if (*self == NULL) {
		reply_error(resp, SAMPLED__ERROR_CODE__ERROR_UNSUPPORTED,
			    "this daemon keeps no time windows (it was started with "
			    "--window-memory 0)");
		return -1;
	}
	sampled__tree_window__init(w);
	start = profile_start_mono(p);
	end = profile_end_mono(p, now_real, now_mono);
	if (span.buckets > 0) {
		start = span.start_ns > start ? span.start_ns : start;
		end = span.end_ns < end ? span.end_ns : end;
		w->start_unix_ns = mono_to_real(start, now_real, now_mono);
		w->end_unix_ns = mono_to_real(end > start ? end : start, now_real, now_mono);
		w->buckets = (uint32_t)span.buckets;
	}
	return 0;
}

/*
 * A tree: built by the reply thread from a snapshot when the daemon has
 * one (the loop only copies the tree), else here.
 */
static enum server_handled serve_tree(const struct service_parts *p,
				      const Sampled__TreeRequest *tr, Sampled__Response *resp,
				      uint64_t ticket)
{
	struct treejobs_request job = {
		.ticket = ticket,
		.query = {
			.per_thread = tr->per_thread,
			.tid = tr->tid,
			.min_share = tr->min_share,
			.state = (enum tree_state_filter)tr->state,
			.gil = (enum tree_gil_filter)tr->gil,
		},
	};
	Sampled__TreeWindow *w;

	if (!(job.query.min_share >= 0 && job.query.min_share <= 1)) {
		reply_error(resp, SAMPLED__ERROR_CODE__ERROR_BAD_REQUEST,
			    "min_share must lie between 0 and 1");
		return SERVER_ANSWERED;
	}
	if (tree_range(p, tr, &job.self, &job.n_self, &job.window, resp) < 0)
		return SERVER_ANSWERED;
	job.has_window = job.self != NULL;
	if (p->jobs != NULL) {
		job.snap = tree_snapshot(profile_tree_of(p->profile));
		treejobs_submit(p->jobs, &job);
		return SERVER_LATER;
	}
	resp->result_case = SAMPLED__RESPONSE__RESULT_TREE;
	resp->tree = tree_to_message_counts(profile_tree_of(p->profile), &job.query, job.self,
					    job.n_self);
	free(job.self);
	if (job.has_window) {
		w = mem_alloc(sizeof(*w));
		*w = job.window;
		resp->tree->window = w;
	}
	return SERVER_ANSWERED;
}

/*
 * samplectl reset: what the samplers hold goes in first, so that the
 * emptied profile holds only samples taken after the request; the
 * profile's start moves to now and its pauses are forgotten.
 */
static void reset_profile(const struct service_parts *p, Sampled__Response *resp)
{
	struct service_control *c = p->control;
	uint64_t now = target_mono_ns();

	if (c == NULL) {
		reply_error(resp, SAMPLED__ERROR_CODE__ERROR_UNSUPPORTED,
			    "this daemon cannot reset its profile");
		return;
	}
	if (c->drain != NULL)
		c->drain(c->arg);
	profile_reset(p->profile);
	c->profile_mono_ns = now;
	c->paused_ns = 0;
	if (c->paused)
		c->paused_mono_ns = now;
	resp->result_case = SAMPLED__RESPONSE__RESULT_RESET;
	resp->reset = mem_alloc(sizeof(*resp->reset));
	sampled__reset_reply__init(resp->reset);
}

/* samplectl pause and resume; asking for the state sampling is in already changes nothing. */
static void set_paused(const struct service_parts *p, int paused, Sampled__Response *resp)
{
	struct service_control *c = p->control;
	uint64_t now = target_mono_ns();
	struct error err;
	int changed;

	if (c == NULL || c->set_paused == NULL) {
		reply_error(resp, SAMPLED__ERROR_CODE__ERROR_UNSUPPORTED,
			    "this daemon cannot pause its sampling");
		return;
	}
	changed = c->paused != paused;
	if (changed) {
		error_clear(&err);
		if (c->set_paused(c->arg, paused, &err) < 0) {
			reply_error(resp, SAMPLED__ERROR_CODE__ERROR_UNSUPPORTED, err.msg);
			return;
		}
		if (paused)
			c->paused_mono_ns = now;
		else if (now > c->paused_mono_ns)
			c->paused_ns += now - c->paused_mono_ns;
		c->paused = paused;
	}
	resp->result_case = SAMPLED__RESPONSE__RESULT_SAMPLING;
	resp->sampling = mem_alloc(sizeof(*resp->sampling));
	sampled__sampling_reply__init(resp->sampling);
	resp->sampling->paused = c->paused;
	resp->sampling->changed = changed;
}

enum server_handled service_handle(const struct service_parts *p, const Sampled__Request *req,
				   Sampled__Response *resp, uint64_t ticket)
{
	switch (req->command_case) {
	case SAMPLED__REQUEST__COMMAND_HELLO:
		resp->result_case = SAMPLED__RESPONSE__RESULT_HELLO;
		resp->hello = build_hello(p);
		return SERVER_ANSWERED;
	case SAMPLED__REQUEST__COMMAND_STATUS:
		resp->result_case = SAMPLED__RESPONSE__RESULT_STATUS;
		resp->status = build_status(p);
		return SERVER_ANSWERED;
	case SAMPLED__REQUEST__COMMAND_TREE:
		return serve_tree(p, req->tree, resp, ticket);
	case SAMPLED__REQUEST__COMMAND_RESET:
		reset_profile(p, resp);
		return SERVER_ANSWERED;
	case SAMPLED__REQUEST__COMMAND_PAUSE:
		set_paused(p, 1, resp);
		return SERVER_ANSWERED;
	case SAMPLED__REQUEST__COMMAND_RESUME:
		set_paused(p, 0, resp);
		return SERVER_ANSWERED;
	case SAMPLED__REQUEST__COMMAND_DUMP: {
		struct error err;

		error_clear(&err);
		if (target_exited(p->target)) {
			resp->result_case = SAMPLED__RESPONSE__RESULT_ERROR;
			resp->error = build_error(SAMPLED__ERROR_CODE__ERROR_NOT_FOUND,
						  "the target has exited: it has no stacks to dump");
			return SERVER_ANSWERED;
		}
		/* A ptrace sampler holds the threads: their latest samples are the dump. */
		resp->dump = *p->tracer != NULL ? dump_latest(p->profile)
			     : dump_snapshot(p->profile, target_pid(p->target), p->stack_bytes,
					     &err);
		if (resp->dump == NULL) {
			resp->result_case = SAMPLED__RESPONSE__RESULT_ERROR;
			resp->error = build_error(SAMPLED__ERROR_CODE__ERROR_INTERNAL, err.msg);
			return SERVER_ANSWERED;
		}
		resp->result_case = SAMPLED__RESPONSE__RESULT_DUMP;
		return SERVER_ANSWERED;
	}
	case SAMPLED__REQUEST__COMMAND_STOP:
		resp->result_case = SAMPLED__RESPONSE__RESULT_STOP;
		resp->stop = mem_alloc(sizeof(*resp->stop));
		sampled__stop_reply__init(resp->stop);
		return SERVER_STOP;
	default:
		resp->result_case = SAMPLED__RESPONSE__RESULT_ERROR;
		resp->error = build_error(SAMPLED__ERROR_CODE__ERROR_UNSUPPORTED,
					  "this daemon does not serve that command");
		return SERVER_ANSWERED;
	}
}

void service_release(const struct service_parts *p, Sampled__Response *resp)
{
	(void)p;
	switch (resp->result_case) {
	case SAMPLED__RESPONSE__RESULT_HELLO:
		free(resp->hello);
		break;
	case SAMPLED__RESPONSE__RESULT_STATUS:
		for (size_t i = 0; i < resp->status->n_threads; i++)
			free(resp->status->threads[i]);
		free(resp->status->threads);
		free(resp->status->python_gil);
		free(resp->status->window);
		free(resp->status->memory);
		free(resp->status);
		break;
	case SAMPLED__RESPONSE__RESULT_TREE:
		/* Added to the message after tree_to_message; only ours to free. */
		free(resp->tree->window);
		resp->tree->window = NULL;
		tree_message_free(resp->tree);
		break;
	case SAMPLED__RESPONSE__RESULT_RESET:
		free(resp->reset);
		break;
	case SAMPLED__RESPONSE__RESULT_SAMPLING:
		free(resp->sampling);
		break;
	case SAMPLED__RESPONSE__RESULT_DUMP:
		dump_free(resp->dump);
		break;
	case SAMPLED__RESPONSE__RESULT_STOP:
		free(resp->stop);
		break;
	case SAMPLED__RESPONSE__RESULT_ERROR:
		free(resp->error->message);
		free(resp->error);
		break;
	default:
		break;
	}
}
