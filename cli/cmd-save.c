#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "mem.h"
#include "saved_profile.h"
#include "version.h"
#include "wire.h"

enum { OPT_OUTPUT = 'o' };

/*
 * The views a file holds, each merged and per thread: every sample; by
 * thread state when some samples were idle; by GIL when the target runs
 * Python.
 */
#define CMD_SAVE_MAX_TREES 10

static const struct option cmd_save_longopts[] = {
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ NULL, 0, NULL, 0 },
};

/* What save gathers before writing; the replies own everything the message points at. */
struct cmd_save {
	Sampled__Response *replies[CMD_SAVE_MAX_TREES + 4];	/* trees, probes, status */
	size_t nreplies;
	Sampled__TreeRequest queries[CMD_SAVE_MAX_TREES];
	Sampled__SavedTree saved[CMD_SAVE_MAX_TREES];
	Sampled__SavedTree *saved_ptrs[CMD_SAVE_MAX_TREES];
	Sampled__SavedProfile msg;
};

/* Asks for one tree; keeps it in the file unless keep is 0.  -1 with err set. */
static int cmd_save_tree(struct client *c, struct cmd_save *s, int per_thread,
			 Sampled__StateFilter state, Sampled__GilFilter gil, int keep,
			 uint64_t *total, struct error *err)
{
	Sampled__TreeRequest *q = &s->queries[s->msg.n_trees];
	Sampled__SavedTree *st = &s->saved[s->msg.n_trees];
	Sampled__Response *resp;
	Sampled__Request req;

	sampled__tree_request__init(q);
	q->per_thread = per_thread != 0;
	q->state = state;
	q->gil = gil;
	wire_request_init(&req);
	req.command_case = SAMPLED__REQUEST__COMMAND_TREE;
	req.tree = q;
	resp = client_call(c, &req, err);
	if (resp == NULL)
		return -1;
	s->replies[s->nreplies++] = resp;
	if (resp->tree == NULL) {
		error_set(err, 0, "the daemon sent an empty tree");
		return -1;
	}
	if (total != NULL)
		*total = resp->tree->total_samples;
	if (!keep)
		return 0;
	sampled__saved_tree__init(st);
	st->query = q;
	st->tree = resp->tree;
	s->saved_ptrs[s->msg.n_trees++] = st;
	return 0;
}

/*
 * Asks for every view the file answers, then for the status (last, so its
 * counters include every sample in the trees).  A profile whose samples
 * were all taken running (cpu mode) needs no per-state trees, one without
 * Python samples no per-GIL trees; probes tell.  Filters are not combined
 * (a state and a GIL at once is a view the file does not hold).
 */
static int cmd_save_gather(struct client *c, struct cmd_save *s, struct error *err)
{
	static const Sampled__StateFilter states[] = {
		SAMPLED__STATE_FILTER__STATE_RUNNING, SAMPLED__STATE_FILTER__STATE_IDLE,
	};
	static const Sampled__GilFilter gils[] = {
		SAMPLED__GIL_FILTER__GIL_HELD, SAMPLED__GIL_FILTER__GIL_RELEASED,
	};
	const Sampled__StateFilter any = SAMPLED__STATE_FILTER__STATE_ANY;
	const Sampled__GilFilter all = SAMPLED__GIL_FILTER__GIL_ANY;
	Sampled__StatusRequest sreq;
	Sampled__Request req;
	uint64_t idle, held, released;

	sampled__saved_profile__init(&s->msg);
	s->msg.trees = s->saved_ptrs;
	if (cmd_save_tree(c, s, 0, any, all, 1, NULL, err) < 0 ||
	    cmd_save_tree(c, s, 1, any, all, 1, NULL, err) < 0 ||
	    cmd_save_tree(c, s, 0, SAMPLED__STATE_FILTER__STATE_IDLE, all, 0, &idle, err) < 0 ||
	    cmd_save_tree(c, s, 0, any, gils[0], 0, &held, err) < 0 ||
	    cmd_save_tree(c, s, 0, any, gils[1], 0, &released, err) < 0)
		return -1;
	s->msg.all_running = idle == 0;
	for (size_t i = 0; !s->msg.all_running && i < 2; i++) {
		if (cmd_save_tree(c, s, 0, states[i], all, 1, NULL, err) < 0 ||
		    cmd_save_tree(c, s, 1, states[i], all, 1, NULL, err) < 0)
			return -1;
	}
	for (size_t i = 0; held + released > 0 && i < 2; i++) {
		if (cmd_save_tree(c, s, 0, any, gils[i], 1, NULL, err) < 0 ||
		    cmd_save_tree(c, s, 1, any, gils[i], 1, NULL, err) < 0)
			return -1;
	}
	wire_request_init(&req);
	sampled__status_request__init(&sreq);
	req.command_case = SAMPLED__REQUEST__COMMAND_STATUS;
	req.status = &sreq;
	s->replies[s->nreplies] = client_call(c, &req, err);
	if (s->replies[s->nreplies] == NULL)
		return -1;
	s->msg.status = s->replies[s->nreplies++]->status;
	if (s->msg.status == NULL) {
		error_set(err, 0, "the daemon sent an empty status");
		return -1;
	}
	s->msg.saved_unix_ns = (uint64_t)time(NULL) * 1000000000u;
	s->msg.daemon_version = (char *)client_hello(c)->daemon_version;
	s->msg.saved_by = (char *)"samplectl " SAMPLED_VERSION;
	return 0;
}

/* Writes the encoded profile to path, or standard output for "-". */
static int cmd_save_write(struct cmd_ctx *ctx, const char *path, const uint8_t *buf, size_t len,
			  struct error *err)
{
	struct cmd_output o;
	int rc = CMD_EXIT_OK;

	if (cmd_output_open(ctx, path, &o) < 0)
		return -1;
	if (fwrite(buf, 1, len, o.stream) != len || fflush(o.stream) != 0) {
		error_set(err, errno, "writing %s", path);
		rc = CMD_EXIT_ERROR;
	}
	return cmd_output_close(ctx, &o, rc) == CMD_EXIT_OK ? 0 : -1;
}

/* Gathers, encodes, writes; the default name is dated like tree --html's pages. */
static int cmd_save_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	const char *path = cmd_ctx_value(ctx, OPT_OUTPUT);
	struct cmd_save *s = mem_zalloc(sizeof(*s));
	char name[96], stamp[32];
	uint8_t *buf = NULL;
	struct client *c;
	size_t len;
	int rc = CMD_EXIT_ERROR;

	(void)argc;
	(void)argv;
	if (path != NULL && strcmp(path, "-") == 0 && isatty(fileno(cmd_ctx_out(ctx)))) {
		error_set(err, 0, "a saved profile is binary: write it to a file with -o FILE");
		rc = CMD_EXIT_USAGE;
		goto out;
	}
	c = cmd_ctx_client(ctx);
	if (c == NULL || cmd_save_gather(c, s, err) < 0)
		goto out;
	if (path == NULL) {
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		snprintf(name, sizeof(name), "profile-%d-%s.sprof", s->msg.status->target_pid, stamp);
	}
	buf = saved_profile_encode(&s->msg, &len);
	if (cmd_save_write(ctx, path != NULL ? path : name, buf, len, err) < 0)
		goto out;
	if (path == NULL)
		fprintf(cmd_ctx_out(ctx), "wrote %s\n", name);
	rc = CMD_EXIT_OK;
out:
	free(buf);
	for (size_t i = 0; i < s->nreplies; i++)
		client_response_free(s->replies[i]);
	free(s);
	return rc;
}

const struct cmd_entry cmd_save_entry = {
	.name = "save",
	.alias = NULL,
	.args = "o:",
	.longopts = cmd_save_longopts,
	.flags = CMD_ENTRY_LOAD,
	.min_args = 0,
	.max_args = 0,
	.usage = "[-o FILE]",
	.summary = "save the profile to a file the view commands can --load",
	.help =
	"Writes what the daemon has collected so far to a file: its status and\n"
	"its call tree, merged and per thread; by thread state too when some\n"
	"samples were taken while their thread was idle, and by GIL for a Python\n"
	"target (one filter at a time: --state with --gil is not kept).  Every\n"
	"view command (status, tree, top, flame, export) reads such a file with\n"
	"--load FILE instead of asking a daemon, and shows what it showed when\n"
	"the profile was saved; the daemon may be gone by then.\n"
	"docs/PROTOCOL.md describes the format.  For a profile that no longer\n"
	"changes while it is saved, save once the target has exited.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE  write to FILE (- for standard output, never a\n"
	"                     terminal); by default profile-PID-DATE.sprof,\n"
	"                     whose name is printed\n"
	"\n"
	"Examples:\n"
	"  samplectl save -o run.sprof\n"
	"  samplectl tree --load run.sprof --min-percent 0.5\n"
	"\n"
	"Exit status: 0 on success, 1 when there is no daemon or the file cannot\n"
	"be written, 2 on a usage error.\n",
	.exec = cmd_save_exec,
};
