#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "format.h"
#include "mem.h"
#include "wire.h"

#define CMD_STATUS_LABEL "%-12s"

static const struct option cmd_status_longopts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ NULL, 0, NULL, 0 }
};

/* Most sampled threads first; equal counts in tid order, so output is stable. */
static int cmd_status_compare(const void *a, const void *b)
{
	const Sampled__ThreadStatus *x = *(Sampled__ThreadStatus *const *)a;
	const Sampled__ThreadStatus *y = *(Sampled__ThreadStatus *const *)b;

	if (x->samples != y->samples)
		return x->samples > y->samples ? -1 : 1;
	return (x->tid > y->tid) - (x->tid < y->tid);
}

/* The threads in display order, as a newly allocated copy of the pointer array. */
static Sampled__ThreadStatus **cmd_status_sorted(const Sampled__Status *st)
{
	Sampled__ThreadStatus **threads = mem_calloc(st->n_threads + 1, sizeof(*threads));

	if (st->n_threads > 0)
		memcpy(threads, st->threads, st->n_threads * sizeof(*threads));
	qsort(threads, st->n_threads, sizeof(*threads), cmd_status_compare);
	return threads;
}

/* Prints the thread table with columns as wide as their widest cell. */
static void cmd_status_threads(FILE *out, const Sampled__Status *st,
			       Sampled__ThreadStatus **threads)
{
	int wtid = 3, wname = 4, wsamples = 7, n;
	char share[FORMAT_BUF_SIZE], num[32], *name;

	fprintf(out, CMD_STATUS_LABEL "%zu\n", "threads:", st->n_threads);
	if (st->n_threads == 0)
		return;
	for (size_t i = 0; i < st->n_threads; i++) {
		n = snprintf(num, sizeof(num), "%d", threads[i]->tid);
		wtid = n > wtid ? n : wtid;
		n = snprintf(num, sizeof(num), "%" PRIu64, threads[i]->samples);
		wsamples = n > wsamples ? n : wsamples;
		n = (int)strlen(threads[i]->name != NULL ? threads[i]->name : "");
		wname = n > wname ? n : wname;
	}
	fprintf(out, "  %*s  %-*s  %*s  %6s\n", wtid, "TID", wname, "NAME", wsamples, "SAMPLES",
		"SHARE");
	for (size_t i = 0; i < st->n_threads; i++) {
		name = format_printable(threads[i]->name);
		fprintf(out, "  %*d  %-*s  %*" PRIu64 "  %6s%s\n", wtid, threads[i]->tid, wname,
			name, wsamples, threads[i]->samples,
			format_percent(share, sizeof(share), threads[i]->samples, st->samples),
			threads[i]->exited ? "  exited" : "");
		free(name);
	}
}

/* The time buckets in one line: their size, the span kept, the memory, what was dropped. */
static void cmd_status_window(FILE *out, const Sampled__WindowStatus *w)
{
	char a[FORMAT_BUF_SIZE], b[FORMAT_BUF_SIZE], c[FORMAT_BUF_SIZE], d[FORMAT_BUF_SIZE];

	if (w == NULL) {
		fprintf(out, CMD_STATUS_LABEL "off\n", "window:");
		return;
	}
	fprintf(out, CMD_STATUS_LABEL "%s buckets, %s kept (%u), %s of %s; %" PRIu64
		" dropped\n", "window:", format_duration(a, sizeof(a), w->bucket_ns),
		format_duration(b, sizeof(b), w->end_unix_ns > w->start_unix_ns
					      ? w->end_unix_ns - w->start_unix_ns : 0),
		w->buckets, format_size(c, sizeof(c), w->memory_bytes),
		format_size(d, sizeof(d), w->memory_cap_bytes), w->dropped_buckets);
}

/* The daemon's caps in one line: the tree's nodes, debug data; what they cut, counted. */
static void cmd_status_memory(FILE *out, const Sampled__MemoryStatus *m)
{
	char a[FORMAT_BUF_SIZE], b[FORMAT_BUF_SIZE];

	if (m == NULL)
		return;
	fprintf(out, CMD_STATUS_LABEL "tree %" PRIu64 " of %" PRIu64 " nodes (%" PRIu64
		" samples folded into [other]); %" PRIu64 " ELF files (%" PRIu64 " let go),"
		" debug data %s of %s (%" PRIu64 " refused, %" PRIu64 " debug files over the"
		" size cap)\n",
		"memory:", m->tree_nodes, m->tree_max_nodes, m->tree_folded_samples, m->elf_images,
		m->elf_images_evicted, format_size(a, sizeof(a), m->debug_info_bytes),
		format_size(b, sizeof(b), m->debug_info_cap_bytes), m->debug_info_refused,
		m->debug_files_skipped);
}

/* The human-readable report; its exact layout is documented in the help text. */
static void cmd_status_text(FILE *out, const Sampled__Status *st, Sampled__ThreadStatus **threads,
			    const char *socket)
{
	char a[FORMAT_BUF_SIZE], b[FORMAT_BUF_SIZE];
	char *comm = format_printable(st->target_comm);
	char *cmdline = format_printable(st->target_cmdline);
	char *mode = format_printable(st->mode);
	char *sampler = format_printable(st->sampler);
	char *note = format_printable(st->sampler_note);
	char *python = format_printable(st->python);

	fprintf(out, CMD_STATUS_LABEL "%d (%s)\n", "target:", st->target_pid,
		comm[0] != '\0' ? comm : "?");
	fprintf(out, CMD_STATUS_LABEL "%s\n", "command:",
		cmdline[0] != '\0' ? cmdline : "(unknown)");
	fprintf(out, CMD_STATUS_LABEL "%s\n", "state:", format_target_state(a, sizeof(a), st));
	fprintf(out, CMD_STATUS_LABEL "%s\n", "mode:", mode[0] != '\0' ? mode : "-");
	fprintf(out, CMD_STATUS_LABEL "%s%s%s%s\n", "sampler:", sampler[0] != '\0' ? sampler : "-",
		note[0] != '\0' ? " (" : "", note, note[0] != '\0' ? ")" : "");
	fprintf(out, CMD_STATUS_LABEL "%s\n", "kernel:",
		st->kernel_frames ? "frames on" : "frames off");
	fprintf(out, CMD_STATUS_LABEL "%s\n", "sampling:", st->paused ? "paused" : "on");
	if (python[0] != '\0' && st->python_out_of_step > 0)
		fprintf(out, CMD_STATUS_LABEL "%s; %" PRIu64 " samples (%s) read out of step\n",
			"python:", python, st->python_out_of_step,
			format_percent(a, sizeof(a), st->python_out_of_step, st->samples));
	else if (python[0] != '\0')
		fprintf(out, CMD_STATUS_LABEL "%s\n", "python:", python);
	if (st->python_gil != NULL)
		fprintf(out, CMD_STATUS_LABEL "held in %s of %" PRIu64 " Python samples\n", "gil:",
			format_percent(a, sizeof(a), st->python_gil->held,
				       st->python_gil->held + st->python_gil->released),
			st->python_gil->held + st->python_gil->released);
	fprintf(out, CMD_STATUS_LABEL "%u Hz\n", "rate:", st->rate_hz);
	if (st->stop_median_ns > 0)
		fprintf(out, CMD_STATUS_LABEL "median %s, 99th percentile %s per sample\n",
			"stops:", format_duration(a, sizeof(a), st->stop_median_ns),
			format_duration(b, sizeof(b), st->stop_p99_ns));
	fprintf(out, CMD_STATUS_LABEL "%s\n", "uptime:", format_duration(a, sizeof(a), st->uptime_ns));
	fprintf(out, CMD_STATUS_LABEL "%" PRIu64 "\n", "samples:", st->samples);
	fprintf(out, CMD_STATUS_LABEL "%" PRIu64 "\n", "lost:", st->lost_samples);
	fprintf(out, CMD_STATUS_LABEL "%" PRIu64 " (%s of samples)\n", "truncated:",
		st->truncated_samples,
		format_percent(a, sizeof(a), st->truncated_samples, st->samples));
	cmd_status_window(out, st->window);
	cmd_status_memory(out, st->memory);
	fprintf(out, CMD_STATUS_LABEL "%d\n", "daemon pid:", st->daemon_pid);
	fprintf(out, CMD_STATUS_LABEL "%s (%s of uptime)\n", "daemon cpu:",
		format_duration(a, sizeof(a), st->daemon_cpu_ns),
		format_percent(b, sizeof(b), st->daemon_cpu_ns, st->uptime_ns));
	fprintf(out, CMD_STATUS_LABEL "%s\n", "daemon rss:",
		format_size(a, sizeof(a), st->daemon_rss_bytes));
	fprintf(out, CMD_STATUS_LABEL "%s\n", "socket:", socket);
	fputc('\n', out);
	cmd_status_threads(out, st, threads);
	free(comm);
	free(cmdline);
	free(mode);
	free(sampler);
	free(note);
	free(python);
}

/* Writes one "key": "string" member of the JSON object. */
static void cmd_status_json_str(FILE *out, const char *key, const char *value)
{
	fprintf(out, "  \"%s\": ", key);
	format_json_string(out, value);
	fputs(",\n", out);
}

/* Writes one "key": number member of the JSON object. */
static void cmd_status_json_u64(FILE *out, const char *key, uint64_t value)
{
	fprintf(out, "  \"%s\": %" PRIu64 ",\n", key, value);
}

/* The same facts as one JSON object, raw units (ns, bytes) for programs. */
static void cmd_status_json(FILE *out, const Sampled__Status *st, Sampled__ThreadStatus **threads,
			    const char *socket)
{
	int exited = st->state == SAMPLED__TARGET_STATE__TARGET_EXITED;
	int known = exited && st->exit_status_known;
	const char *state = st->state == SAMPLED__TARGET_STATE__TARGET_RUNNING ? "running" :
		exited ? "exited" : "unknown";
	char a[FORMAT_BUF_SIZE];

	fputs("{\n", out);
	fprintf(out, "  \"target_pid\": %d,\n", st->target_pid);
	cmd_status_json_str(out, "target_comm", st->target_comm);
	cmd_status_json_str(out, "target_cmdline", st->target_cmdline);
	cmd_status_json_str(out, "state", state);
	cmd_status_json_str(out, "state_text", format_target_state(a, sizeof(a), st));
	fprintf(out, "  \"exit_status_known\": %s,\n", known ? "true" : "false");
	if (known && st->exit_signal == 0)
		fprintf(out, "  \"exit_code\": %d,\n", st->exit_code);
	else
		fputs("  \"exit_code\": null,\n", out);
	if (known && st->exit_signal != 0)
		fprintf(out, "  \"exit_signal\": %d,\n", st->exit_signal);
	else
		fputs("  \"exit_signal\": null,\n", out);
	cmd_status_json_str(out, "mode", st->mode);
	cmd_status_json_str(out, "sampler", st->sampler);
	cmd_status_json_str(out, "sampler_note", st->sampler_note);
	fprintf(out, "  \"kernel_frames\": %s,\n", st->kernel_frames ? "true" : "false");
	cmd_status_json_str(out, "python", st->python);
	cmd_status_json_u64(out, "python_out_of_step", st->python_out_of_step);
	/* Only for a Python target, as in the text. */
	if (st->python_gil != NULL)
		fprintf(out, "  \"python_gil\": {\"held\": %" PRIu64 ", \"released\": %" PRIu64 "},\n",
			st->python_gil->held, st->python_gil->released);
	cmd_status_json_u64(out, "stop_median_ns", st->stop_median_ns);
	cmd_status_json_u64(out, "stop_p99_ns", st->stop_p99_ns);
	cmd_status_json_u64(out, "rate_hz", st->rate_hz);
	cmd_status_json_u64(out, "started_unix_ns", st->started_unix_ns);
	cmd_status_json_u64(out, "ended_unix_ns", st->ended_unix_ns);
	cmd_status_json_u64(out, "uptime_ns", st->uptime_ns);
	fprintf(out, "  \"paused\": %s,\n", st->paused ? "true" : "false");
	cmd_status_json_u64(out, "sampled_ns", st->sampled_ns);
	if (st->window != NULL)
		fprintf(out, "  \"window\": {\"bucket_ns\": %" PRIu64 ", \"memory_bytes\": %" PRIu64
			", \"memory_cap_bytes\": %" PRIu64 ", \"buckets\": %u, \"start_unix_ns\": %"
			PRIu64 ", \"end_unix_ns\": %" PRIu64 ", \"dropped_buckets\": %" PRIu64
			", \"dropped_samples\": %" PRIu64 "},\n", st->window->bucket_ns,
			st->window->memory_bytes, st->window->memory_cap_bytes, st->window->buckets,
			st->window->start_unix_ns, st->window->end_unix_ns,
			st->window->dropped_buckets, st->window->dropped_samples);
	else
		fputs("  \"window\": null,\n", out);
	if (st->memory != NULL)
		fprintf(out, "  \"memory\": {\"tree_nodes\": %" PRIu64 ", \"tree_max_nodes\": %" PRIu64
			", \"tree_folded_samples\": %" PRIu64 ", \"elf_images\": %" PRIu64
			", \"elf_images_evicted\": %" PRIu64
			", \"debug_info_bytes\": %" PRIu64 ", \"debug_info_cap_bytes\": %" PRIu64
			", \"debug_info_refused\": %" PRIu64 ", \"debug_files_skipped\": %" PRIu64
			", \"debug_file_cap_bytes\": %" PRIu64 "},\n", st->memory->tree_nodes,
			st->memory->tree_max_nodes, st->memory->tree_folded_samples,
			st->memory->elf_images, st->memory->elf_images_evicted,
			st->memory->debug_info_bytes,
			st->memory->debug_info_cap_bytes, st->memory->debug_info_refused,
			st->memory->debug_files_skipped, st->memory->debug_file_cap_bytes);
	else
		fputs("  \"memory\": null,\n", out);
	cmd_status_json_u64(out, "samples", st->samples);
	cmd_status_json_u64(out, "lost_samples", st->lost_samples);
	cmd_status_json_u64(out, "truncated_samples", st->truncated_samples);
	fprintf(out, "  \"daemon_pid\": %d,\n", st->daemon_pid);
	cmd_status_json_u64(out, "daemon_cpu_ns", st->daemon_cpu_ns);
	cmd_status_json_u64(out, "daemon_rss_bytes", st->daemon_rss_bytes);
	cmd_status_json_str(out, "socket_path", socket);
	fputs("  \"threads\": [", out);
	for (size_t i = 0; i < st->n_threads; i++) {
		fprintf(out, "%s\n    {\"tid\": %d, \"name\": ", i > 0 ? "," : "", threads[i]->tid);
		format_json_string(out, threads[i]->name);
		fprintf(out, ", \"samples\": %" PRIu64 ", \"share\": %.4f, \"exited\": %s}",
			threads[i]->samples,
			st->samples > 0 ? (double)threads[i]->samples / (double)st->samples : 0.0,
			threads[i]->exited ? "true" : "false");
	}
	fputs(st->n_threads > 0 ? "\n  ]\n}\n" : "]\n}\n", out);
}

/* Asks the daemon for its status and prints it as text or JSON. */
static int cmd_status_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	struct client *c = cmd_ctx_client(ctx);
	Sampled__Request req;
	Sampled__StatusRequest status;
	Sampled__Response *resp;
	Sampled__ThreadStatus **threads;
	const Sampled__Status *st;
	const char *socket;

	(void)argc;
	(void)argv;
	if (c == NULL)
		return CMD_EXIT_ERROR;
	wire_request_init(&req);
	sampled__status_request__init(&status);
	req.command_case = SAMPLED__REQUEST__COMMAND_STATUS;
	req.status = &status;
	resp = client_call(c, &req, err);
	if (resp == NULL)
		return CMD_EXIT_ERROR;
	if (resp->status == NULL) {
		error_set(err, 0, "the daemon sent an empty status");
		client_response_free(resp);
		return CMD_EXIT_ERROR;
	}
	st = resp->status;
	socket = st->socket_path != NULL && st->socket_path[0] != '\0' ? st->socket_path :
		client_path(c);
	threads = cmd_status_sorted(st);
	if (cmd_ctx_has(ctx, 'j'))
		cmd_status_json(cmd_ctx_out(ctx), st, threads, socket);
	else
		cmd_status_text(cmd_ctx_out(ctx), st, threads, socket);
	free(threads);
	client_response_free(resp);
	return CMD_EXIT_OK;
}

const struct cmd_entry cmd_status_entry = {
	.name = "status",
	.alias = "stat",
	.args = "j",
	.longopts = cmd_status_longopts,
	.flags = CMD_ENTRY_LOAD,
	.min_args = 0,
	.max_args = 0,
	.usage = "[-j | --json]",
	.summary = "show a daemon's target, sampling counters and threads",
	.help =
	"Asks the daemon what it is profiling and how it is going, and prints:\n"
	"the target (pid, command name, command line); its state (running, exited\n"
	"with code N, killed by signal N, or exited with an unknown status); the\n"
	"sampling mode and the sampler in use, with the daemon's note about it when\n"
	"there is one (why it fell back from perf to ptrace, say); whether ticks\n"
	"that find a thread in the kernel show its kernel functions (kernel frames\n"
	"on) or end in one [kernel] frame; for a Python\n"
	"target, the interpreter and the share of its threads' samples that held\n"
	"the GIL (see --gil in 'samplectl help tree'); the sampling\n"
	"rate; how long the daemon has been running; how many samples it took,\n"
	"lost (the kernel's ring was full, or in wall mode a tick came too late to\n"
	"be taken) and truncated (the stack could not be\n"
	"followed to the thread's first frame, with their share of all samples;\n"
	"counted from the last 'samplectl reset'); whether sampling is on or\n"
	"paused ('samplectl pause'); the time buckets behind --last, --since and\n"
	"--until (their length, the span they cover, how many, the memory they\n"
	"use of what they may use, and how many were dropped, oldest first, to\n"
	"stay within it), or 'off'; what the daemon holds against its caps (the\n"
	"call tree's nodes of at most --max-nodes, and the samples whose stacks\n"
	"were cut into an [other] frame at that bound; the ELF files open, and\n"
	"those let go once no mapping used them; the\n"
	"MiniDebugInfo inflated of what may be, the sections and the separate\n"
	"debug files refused for their size);\n"
	"the daemon's own pid, CPU time (and its share of the uptime) and resident\n"
	"memory; the socket it listens on.  A table of the target's threads\n"
	"follows, most sampled first: tid, name, samples, share of all samples,\n"
	"and 'exited' for threads that are gone.\n"
	"\n"
	"Options:\n"
	"  -j, --json   print the same facts as one JSON object instead, with\n"
	"               times in nanoseconds and sizes in bytes: target_pid,\n"
	"               target_comm, target_cmdline, state (\"running\", \"exited\"\n"
	"               or \"unknown\"), state_text, exit_status_known, exit_code\n"
	"               and exit_signal (null unless known), mode, sampler,\n"
	"               sampler_note, kernel_frames (true or false), python,\n"
	"               python_out_of_step, python_gil\n"
	"               ({held, released} samples of Python threads; only for\n"
	"               a Python target), rate_hz, started_unix_ns,\n"
	"               ended_unix_ns,\n"
	"               uptime_ns, paused (true or false), sampled_ns (the\n"
	"               time sampled since attach or the last reset, pauses\n"
	"               left out), window ({bucket_ns, memory_bytes,\n"
	"               memory_cap_bytes, buckets, start_unix_ns, end_unix_ns,\n"
	"               dropped_buckets, dropped_samples}, or null when off),\n"
	"               memory ({tree_nodes, tree_max_nodes,\n"
	"               tree_folded_samples, elf_images, elf_images_evicted,\n"
	"               debug_info_bytes,\n"
	"               debug_info_cap_bytes, debug_info_refused,\n"
	"               debug_files_skipped, debug_file_cap_bytes}, or null from\n"
	"               an older daemon),\n"
	"               samples, lost_samples, truncated_samples,\n"
	"               daemon_pid, daemon_cpu_ns, daemon_rss_bytes, socket_path,\n"
	"               threads [{tid, name, samples, share (0..1), exited}]\n"
	"\n"
	"Examples:\n"
	"  samplectl status\n"
	"  samplectl --pid 4242 status --json | jq .samples\n"
	"\n"
	"Exit status: 0 when the daemon answered, 1 when there is no daemon to ask\n"
	"or it did not answer (see --timeout), 2 on a usage error.\n",
	.exec = cmd_status_exec,
};
