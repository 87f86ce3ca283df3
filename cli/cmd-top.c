#include <stdio.h>
#include <stdlib.h>

#include "cmd.h"
#include "fetch.h"
#include "format.h"
#include "render_flat.h"
#include "view.h"
#include "view_args.h"

enum {
	OPT_SORT = 256,
	OPT_LIMIT,
};

/* Rows shown unless --limit says otherwise. */
#define CMD_TOP_LIMIT 25

/* Its own options; the view options come with the entry's flags (view_args.h). */
static const struct option top_longopts[] = {
	{ "sort", required_argument, NULL, OPT_SORT },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ NULL, 0, NULL, 0 },
};

/* Reads the options into the table's settings; -1 with the message set. */
static int cmd_top_parse(struct cmd_ctx *ctx, struct render_flat_options *o, struct view_args *a)
{
	struct error *err = cmd_ctx_error(ctx);
	const char *v;
	unsigned long limit = CMD_TOP_LIMIT;

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
	if (view_args_parse(ctx, a, err) < 0)
		return -1;
	/* Rows, unlike nodes, are all shown unless --min-percent says otherwise. */
	o->min_share = a->min_share_given ? a->view.min_share : 0;
	return 0;
}

/* A merged tree with --hide applied, as a flat table. */
static int cmd_top_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	struct render_flat_options o;
	struct view_args a;
	struct fetch f = { 0 };
	struct view *v = NULL;
	const Sampled__Status *st;
	char *comm, *mode, window[160];
	uint64_t window_ns;
	int rc = CMD_EXIT_ERROR;

	(void)argc;
	(void)argv;
	if (cmd_top_parse(ctx, &o, &a) < 0)
		return CMD_EXIT_USAGE;
	v = view_args_view(ctx, &a, &f);
	if (v == NULL)
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
	.flags = CMD_ENTRY_LOAD | CMD_ENTRY_VIEW | CMD_ENTRY_GIL | CMD_ENTRY_MIN_PERCENT |
		 CMD_ENTRY_RANGE,
	.min_args = 0,
	.max_args = 0,
	.usage = "[--sort self|total|name] [--limit N]",
	.summary = "list the functions that took the most samples",
	.help =
	"Prints the flat profile collected so far, like cProfile: one row per\n"
	"function (its name, module and source file; lines and callers merged)\n"
	"with its own samples (SELF: the function itself was running) and its\n"
	"total samples (TOTAL: it was anywhere on the stack; a recursive\n"
	"function counts once per sample), each also as a share of all samples.\n"
	"Frames --hide leaves out are not rows: their own samples count as\n"
	"their caller's (see 'samplectl help tree').  --min-percent leaves out\n"
	"the rows whose self and total shares are both below it (default 0).\n"
	"With a time range (--last, --since, --until) a line under the heading\n"
	"says which span the table covers.\n"
	"\n"
	"Options:\n"
	"  --sort KEY         self (the default), total, or name\n"
	"  --limit N          at most N rows (default 25; 0 for all)\n"
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
