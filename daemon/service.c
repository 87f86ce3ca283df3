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
#include "service.h"
#include "target.h"
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

static Sampled__Status *build_status(const struct service_parts *p)
{
	Sampled__Status *st = mem_alloc(sizeof(*st));
	size_t n = profile_thread_count(p->profile);
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

int service_handle(const struct service_parts *p, const Sampled__Request *req,
		   Sampled__Response *resp)
{
	switch (req->command_case) {
	case SAMPLED__REQUEST__COMMAND_HELLO:
		resp->result_case = SAMPLED__RESPONSE__RESULT_HELLO;
		resp->hello = build_hello(p);
		return 0;
	case SAMPLED__REQUEST__COMMAND_STATUS:
		resp->result_case = SAMPLED__RESPONSE__RESULT_STATUS;
		resp->status = build_status(p);
		return 0;
	case SAMPLED__REQUEST__COMMAND_TREE: {
		const Sampled__TreeRequest *tr = req->tree;
		struct tree_query q = {
			.per_thread = tr->per_thread,
			.tid = tr->tid,
			.min_share = tr->min_share,
			.state = (enum tree_state_filter)tr->state,
		};

		if (!(q.min_share >= 0 && q.min_share <= 1)) {
			resp->result_case = SAMPLED__RESPONSE__RESULT_ERROR;
			resp->error = build_error(SAMPLED__ERROR_CODE__ERROR_BAD_REQUEST,
						  "min_share must lie between 0 and 1");
			return 0;
		}
		resp->result_case = SAMPLED__RESPONSE__RESULT_TREE;
		resp->tree = profile_tree(p->profile, &q);
		return 0;
	}
	case SAMPLED__REQUEST__COMMAND_DUMP: {
		struct error err;

		error_clear(&err);
		if (target_exited(p->target)) {
			resp->result_case = SAMPLED__RESPONSE__RESULT_ERROR;
			resp->error = build_error(SAMPLED__ERROR_CODE__ERROR_NOT_FOUND,
						  "the target has exited: it has no stacks to dump");
			return 0;
		}
		/* A ptrace sampler holds the threads: their latest samples are the dump. */
		resp->dump = *p->tracer != NULL ? dump_latest(p->profile)
			     : dump_snapshot(p->profile, target_pid(p->target), p->stack_bytes,
					     &err);
		if (resp->dump == NULL) {
			resp->result_case = SAMPLED__RESPONSE__RESULT_ERROR;
			resp->error = build_error(SAMPLED__ERROR_CODE__ERROR_INTERNAL, err.msg);
			return 0;
		}
		resp->result_case = SAMPLED__RESPONSE__RESULT_DUMP;
		return 0;
	}
	case SAMPLED__REQUEST__COMMAND_STOP:
		resp->result_case = SAMPLED__RESPONSE__RESULT_STOP;
		resp->stop = mem_alloc(sizeof(*resp->stop));
		sampled__stop_reply__init(resp->stop);
		return 1;
	default:
		resp->result_case = SAMPLED__RESPONSE__RESULT_ERROR;
		resp->error = build_error(SAMPLED__ERROR_CODE__ERROR_UNSUPPORTED,
					  "this daemon does not serve that command");
		return 0;
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
		free(resp->status);
		break;
	case SAMPLED__RESPONSE__RESULT_TREE:
		tree_message_free(resp->tree);
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
