#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "fetch.h"
#include "format.h"
#include "render_flat.h"
#include "view.h"

enum {
	OPT_SORT = 256,
	OPT_LIMIT,
	OPT_TID,
	OPT_HIDE,
	OPT_SHOW,
	OPT_MIN_PERCENT,
	OPT_GIL,
	OPT_LAST,
	OPT_SINCE,
	OPT_UNTIL,
};

/* Rows shown unless --limit says otherwise. */
#define CMD_TOP_LIMIT 25

static const struct option top_longopts[] = {
	{ "sort", required_argument, NULL, OPT_SORT },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "tid", required_argument, NULL, OPT_TID },
	{ "hide", required_argument, NULL, OPT_HIDE },
	{ "show", required_argument, NULL, OPT_SHOW },
	{ "min-percent", required_argument, NULL, OPT_MIN_PERCENT },
	{ "gil", required_argument, NULL, OPT_GIL },
	{ "last", required_argument, NULL, OPT_LAST },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ NULL, 0, NULL, 0 },
};

/* Reads the options into the table's settings; -1 with the message set. */
static int cmd_top_parse(struct cmd_ctx *ctx, struct render_flat_options *o,
			 struct view_options *vo, pid_t *tid, Sampled__GilFilter *gil,
			 struct fetch_range *range)
{
	struct error *err = cmd_ctx_error(ctx);
	const char *v;
	unsigned long limit = CMD_TOP_LIMIT;
	double pct = 0;

	o->sort = RENDER_FLAT_SORT_SELF;
	v = cmd_ctx_value(ctx, OPT_SORT);
	if (v != NULL && render_flat_parse_sort(v, &o->sort) < 0) {
		error_set(err, 0, "invalid --sort '%s': expected self, total or name", v);
		return -1;
	}
	v = cmd_ctx_value(ctx, OPT_LIMIT);
	if (v != NULL && fetch_parse_count(v, "--limit", 0, &limit, err) < 0)
		return -1;
	o->limit = limit;
	v = cmd_ctx_value(ctx, OPT_MIN_PERCENT);
	if (v != NULL && fetch_parse_percent(v, "--min-percent", &pct, err) < 0)
		return -1;
	o->min_share = pct / 100.0;
	*tid = 0;
	v = cmd_ctx_value(ctx, OPT_TID);
	if (v != NULL && cmd_parse_pid(v, tid, err) < 0)
		return -1;
	*gil = SAMPLED__GIL_FILTER__GIL_ANY;
	v = cmd_ctx_value(ctx, OPT_GIL);
	if (v != NULL && fetch_parse_gil(v, gil, err) < 0)
		return -1;
	if (fetch_parse_range(cmd_ctx_value(ctx, OPT_LAST), cmd_ctx_value(ctx, OPT_SINCE),
			      cmd_ctx_value(ctx, OPT_UNTIL), range, err) < 0)
		return -1;
	view_options_init(vo);
	vo->hide = cmd_ctx_value(ctx, OPT_HIDE);
	vo->show = cmd_ctx_value(ctx, OPT_SHOW);
	return view_options_check(vo, err);
}

/* A merged tree with --hide applied, as a flat table. */
static int cmd_top_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	struct render_flat_options o;
	struct view_options vo;
	struct fetch f = { 0 };
	struct view *v = NULL;
	const Sampled__Status *st;
	struct fetch_range range;
	char *comm, *mode, window[160];
	uint64_t window_ns;
	struct client *c;
	Sampled__GilFilter gil;
	pid_t tid;
	int rc = CMD_EXIT_ERROR;

	(void)argc;
	(void)argv;
	if (cmd_top_parse(ctx, &o, &vo, &tid, &gil, &range) < 0)
		return CMD_EXIT_USAGE;
	c = cmd_ctx_client(ctx);
	if (c == NULL)
		return CMD_EXIT_ERROR;
	if (fetch_profile_range(c, 0, tid, SAMPLED__STATE_FILTER__STATE_ANY, gil, &range, &f,
				err) < 0)
		goto out;
	v = view_new(f.tree->tree, err);
	if (v == NULL || view_hide(v, vo.hide, vo.show, err) < 0)
		goto out;
	st = f.status->status;
	comm = format_printable(st->target_comm);
	mode = format_printable(st->mode);
	fprintf(cmd_ctx_out(ctx), "pid %d (%s): %llu samples at %u Hz, %s mode\n",
		st->target_pid, comm, (unsigned long long)view_total(v), st->rate_hz, mode);
	if (f.tree->tree->window != NULL)
		fprintf(cmd_ctx_out(ctx), "window: %s\n",
			fetch_window_text(window, sizeof(window), f.tree->tree, &window_ns));
	fputc('\n', cmd_ctx_out(ctx));
	free(comm);
	free(mode);
	if (render_flat(cmd_ctx_out(ctx), v, &o, err) == 0)
		rc = CMD_EXIT_OK;
out:
	view_free(v);
	fetch_release(&f);
	return rc;
}

const struct cmd_entry cmd_top_entry = {
	.name = "top",
	.alias = NULL,
	.args = "",
	.longopts = top_longopts,
	.min_args = 0,
	.max_args = 0,
	.usage = "[--sort self|total|name] [--limit N] [--min-percent P] [--tid TID]\n"
		 "                     [--gil held|released] [--hide RE] [--show RE]\n"
		 "                     [--last TIME | --since TIME] [--until TIME]",
	.summary = "list the functions that took the most samples",
	.help =
	"Prints the flat profile collected so far, like cProfile: one row per\n"
	"function (its name, module and source file; lines and callers merged)\n"
	"with its own samples (SELF: the function itself was running) and its\n"
	"total samples (TOTAL: it was anywhere on the stack; a recursive\n"
	"function counts once per sample), each also as a share of all samples.\n"
	"\n"
	"Options:\n"
	"  --sort KEY         self (the default), total, or name\n"
	"  --limit N          at most N rows (default 25; 0 for all)\n"
	"  --min-percent P    leave out rows whose self and total shares are both\n"
	"                     below P percent (default 0)\n"
	"  --tid TID          only the samples of thread TID\n"
	"  --gil G            Python: only the samples whose thread held the GIL\n"
	"                     (held) or did not (released); see 'samplectl help\n"
	"                     tree'\n"
	"  --last TIME, --since TIME, --until TIME\n"
	"                     only the samples of a time range, to the precision\n"
	"                     of the daemon's time buckets; a line under the\n"
	"                     heading says which span the table covers (see\n"
	"                     'samplectl help tree')\n"
	"  --hide RE          leave out frames whose function, module or file\n"
	"                     matches the extended regex RE; their own samples\n"
	"                     count as their caller's (see 'samplectl help tree')\n"
	"  --show RE          never hide matching frames\n"
	"\n"
	"Examples:\n"
	"  samplectl top\n"
	"  samplectl --pid 4242 top --sort total --limit 10\n"
	"  samplectl top --last 30s\n"
	"\n"
	"Exit status: 0 on success, 1 when there is no daemon or it failed,\n"
	"2 on a usage error.\n",
	.exec = cmd_top_exec,
};
