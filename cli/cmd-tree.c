#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "fetch.h"
#include "format.h"
#include "render_flat.h"
#include "render_html.h"
#include "render_text.h"
#include "view.h"
#include "view_args.h"

enum {
	OPT_OUTPUT = 'o',
	OPT_SHOW_ALL = 256,
	OPT_UNICODE,
	OPT_ASCII,
	OPT_FLAT,
	OPT_HTML,
};

/* Its own options; the view options come with the entry's flags (view_args.h). */
static const struct option tree_longopts[] = {
	{ "show-all", no_argument, NULL, OPT_SHOW_ALL },
	{ "unicode", no_argument, NULL, OPT_UNICODE },
	{ "ascii", no_argument, NULL, OPT_ASCII },
	{ "flat", no_argument, NULL, OPT_FLAT },
	{ "html", no_argument, NULL, OPT_HTML },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ NULL, 0, NULL, 0 },
};

/* The tree command's settings, from its options. */
struct cmd_tree_args {
	struct view_args shared;
	int flat, html, unicode;
	const char *output;
};

/* Refuses two options that contradict each other. */
static int cmd_tree_conflict(struct cmd_ctx *ctx, int a, const char *na, int b, const char *nb)
{
	if (cmd_ctx_has(ctx, a) && cmd_ctx_has(ctx, b)) {
		error_set(cmd_ctx_error(ctx), 0, "%s and %s cannot go together", na, nb);
		return -1;
	}
	return 0;
}

/* Reads the options; -1 with the message set on a usage error. */
static int cmd_tree_parse(struct cmd_ctx *ctx, struct cmd_tree_args *a)
{
	struct view_options *view = &a->shared.view;

	memset(a, 0, sizeof(*a));
	if (cmd_tree_conflict(ctx, OPT_UNICODE, "--unicode", OPT_ASCII, "--ascii") < 0 ||
	    cmd_tree_conflict(ctx, OPT_FLAT, "--flat", OPT_HTML, "--html") < 0 ||
	    view_args_parse(ctx, &a->shared, cmd_ctx_error(ctx)) < 0)
		return -1;
	a->flat = cmd_ctx_has(ctx, OPT_FLAT);
	a->html = cmd_ctx_has(ctx, OPT_HTML);
	if (a->flat && a->shared.threads) {
		error_set(cmd_ctx_error(ctx), 0, "--flat and --threads cannot go together");
		return -1;
	}
	/* A page can be explored: it gets every node unless asked otherwise. */
	if (a->html && !a->shared.min_share_given)
		view->min_share = 0;
	/*
	 * The page folds library frames itself, behind a switch; it cannot
	 * unfold what arrives folded.  It does not know --show's regex, so
	 * with --show the folding is done here, where --show is honoured.
	 */
	if (a->html && view->show == NULL)
		view->collapse = 0;
	if (cmd_ctx_has(ctx, OPT_SHOW_ALL)) {
		view->collapse = 0;
		view->min_share = 0;
	}
	a->output = cmd_ctx_value(ctx, OPT_OUTPUT);
	a->unicode = cmd_ctx_has(ctx, OPT_UNICODE) ? 1
		     : cmd_ctx_has(ctx, OPT_ASCII) ? 0 : render_text_want_unicode();
	return 0;
}

/* Renders the view the way the options ask, to out. */
static int cmd_tree_render(FILE *out, const struct cmd_tree_args *a, const struct view *v,
			   const struct fetch *f, struct error *err)
{
	const Sampled__Status *st = f->status->status;
	const Sampled__TreeWindow *w = f->tree->tree->window;
	char state[FORMAT_BUF_SIZE], window[160];
	const char *span = NULL;
	uint64_t window_ns = 0;

	/* A time range's tree covers its window, not the whole run. */
	if (w != NULL)
		span = fetch_window_text(window, sizeof(window), f->tree->tree, &window_ns);
	if (a->html) {
		struct render_html_meta m = {
			.pid = st->target_pid, .comm = st->target_comm,
			.cmdline = st->target_cmdline, .samples = view_total(v),
			.rate_hz = st->rate_hz, .mode = st->mode,
			.duration_ns = span != NULL ? window_ns : fetch_duration_ns(st),
			.date_unix_ns = w != NULL && window_ns > 0 ? w->start_unix_ns
								   : st->started_unix_ns,
		};

		return render_html(out, v, &m, err);
	}
	if (a->flat) {
		struct render_flat_options o = {
			.sort = RENDER_FLAT_SORT_SELF, .limit = 0, .min_share = a->shared.view.min_share,
		};

		return render_flat(out, v, &o, err);
	}
	struct render_text_meta m = {
		.pid = st->target_pid, .comm = st->target_comm, .cmdline = st->target_cmdline,
		.state = format_target_state(state, sizeof(state), st), .mode = st->mode,
		.rate_hz = st->rate_hz, .duration_ns = fetch_duration_ns(st),
		.samples = st->samples, .lost = st->lost_samples,
		.truncated = st->truncated_samples, .tid = a->shared.tid,
		.window = span, .window_ns = window_ns,
	};
	struct render_text_options o = {
		.color = render_text_want_color(out, a->shared.color), .unicode = a->unicode,
		.rate_hz = st->rate_hz, .min_share = a->shared.view.min_share,
	};

	return render_text(out, v, &m, &o, err);
}

/* Options, the daemon's tree and status, the pipeline, the output. */
static int cmd_tree_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	struct cmd_tree_args a;
	const struct view_options *view = &a.shared.view;
	struct fetch f = { 0 };
	struct view *v = NULL;
	struct cmd_output o;
	char page[96], stamp[32];
	int rc = CMD_EXIT_ERROR;

	(void)argc;
	(void)argv;
	if (cmd_tree_parse(ctx, &a) < 0)
		return CMD_EXIT_USAGE;
	v = view_args_view(ctx, &a.shared, &f);
	if (v == NULL)
		goto out;
	/* The rest of the pipeline; a flat profile folds nothing and thresholds rows, not nodes. */
	if (!a.flat && view->collapse && view_collapse(v, view->show, view->min_share, err) < 0)
		goto out;
	if (!a.flat)
		view_prune(v, view->min_share);
	/* A page goes to a file of its own unless asked otherwise, as pyinstrument does. */
	if (a.html && a.output == NULL) {
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		snprintf(page, sizeof(page), "profile-%d-%s.html", f.status->status->target_pid, stamp);
		a.output = page;
	}
	if (cmd_output_open(ctx, a.output, &o) < 0)
		goto out;
	if (cmd_tree_render(o.stream, &a, v, &f, err) == 0)
		rc = CMD_EXIT_OK;
	rc = cmd_output_close(ctx, &o, rc);
	if (rc == CMD_EXIT_OK && a.output == page)
		fprintf(cmd_ctx_out(ctx), "wrote %s\n", page);
out:
	view_free(v);
	fetch_release(&f);
	return rc;
}

const struct cmd_entry cmd_tree_entry = {
	.name = "tree",
	.alias = NULL,
	.args = "o:",
	.longopts = tree_longopts,
	.flags = CMD_ENTRY_LOAD | CMD_ENTRY_THREADS | CMD_ENTRY_VIEW | CMD_ENTRY_STATE |
		 CMD_ENTRY_GIL | CMD_ENTRY_MIN_PERCENT | CMD_ENTRY_RANGE | CMD_ENTRY_COLOR,
	.min_args = 0,
	.max_args = 0,
	.usage = "[--show-all] [--flat | --html] [-o FILE] [--unicode | --ascii]",
	.summary = "print the call tree collected so far",
	.help =
	"Prints the call tree the daemon has collected so far, callers above\n"
	"callees, after a header about the target (command line, how long it was\n"
	"sampled, samples, rate, mode, the CPU it used, lost and truncated\n"
	"samples).  Each line shows the node's time (its samples, itself and\n"
	"below, divided by the rate), its share of all samples, the function,\n"
	"and its file:line or module.  Code whose function is unknown shows as\n"
	"module+0xoffset.  Stacks that could not be followed to the thread's\n"
	"first frame hang under [truncated] or [unknown]; ticks that caught a\n"
	"thread in the kernel end in the kernel's own frames (module kernel),\n"
	"or in one [kernel] frame where kernel frames are off or not permitted.\n"
	"With a time range (--last, --since, --until) the header's Window line\n"
	"says which span the tree covers.  With colour (--color), lines are\n"
	"coloured by share: red from 60%, yellow from 20%, green from 5%.\n"
	"\n"
	"Before printing, the tree goes through these steps in order:\n"
	"  1. --hide RE removes the frames whose function, module or source file\n"
	"     matches the extended regex RE (anywhere in it; anchor with ^ $).\n"
	"     Their callees move up to the nearest shown caller, equal callees\n"
	"     merge, and their own time counts as the caller's.  A frame that\n"
	"     also matches --show RE stays.\n"
	"  2. Runs of two or more system-library frames (libc, ld-linux,\n"
	"     libpthread, libstdc++, libgcc_s, libm, [vdso], the Python\n"
	"     interpreter's native frames) fold into one line '[N frames hidden]'\n"
	"     naming the libraries.  A library frame with at least the\n"
	"     --min-percent share of samples as its own time, or matching --show,\n"
	"     stays visible.\n"
	"  3. Nodes below --min-percent of all samples (default 1; 0 with\n"
	"     --html) are left out with their callees.  Their time still counts\n"
	"     in their callers' time, and a last line says how many nodes and\n"
	"     samples were left out.\n"
	"\n"
	"Options:\n"
	"  --show-all         fold no libraries and leave nothing out\n"
	"  --flat             a flat profile instead: one row per function with\n"
	"                     its own and its total samples (see 'samplectl top')\n"
	"  --html             a self-contained HTML page instead of text, written\n"
	"                     to profile-PID-DATE.html unless -o says where\n"
	"                     (-o - for standard output)\n"
	"  -o, --output FILE  write to FILE instead of standard output\n"
	"  --unicode, --ascii  draw the tree with box-drawing characters or\n"
	"                     ASCII; by default as the locale's charset allows\n"
	"\n"
	"Examples:\n"
	"  samplectl tree\n"
	"  samplectl --pid 4242 tree --threads --min-percent 2\n"
	"  samplectl tree --hide '^_?PyEval' --show 'qsort'\n"
	"  samplectl tree --gil held --min-percent 5\n"
	"  samplectl tree --last 1m\n"
	"  samplectl tree --since 10:00 --until 10:05\n"
	"  samplectl tree --html -o profile.html\n"
	"\n"
	"Exit status: 0 on success, 1 when there is no daemon or it failed,\n"
	"2 on a usage error.\n",
	.exec = cmd_tree_exec,
};
