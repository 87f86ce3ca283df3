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

enum {
	OPT_OUTPUT = 'o',
	OPT_MIN_PERCENT = 256,
	OPT_TID,
	OPT_STATE,
	OPT_GIL,
	OPT_THREADS,
	OPT_HIDE,
	OPT_SHOW,
	OPT_SHOW_ALL,
	OPT_COLOR,
	OPT_NO_COLOR,
	OPT_UNICODE,
	OPT_ASCII,
	OPT_FLAT,
	OPT_HTML,
	OPT_LAST,
	OPT_SINCE,
	OPT_UNTIL,
};

static const struct option tree_longopts[] = {
	{ "min-percent", required_argument, NULL, OPT_MIN_PERCENT },
	{ "tid", required_argument, NULL, OPT_TID },
	{ "state", required_argument, NULL, OPT_STATE },
	{ "gil", required_argument, NULL, OPT_GIL },
	{ "threads", no_argument, NULL, OPT_THREADS },
	{ "hide", required_argument, NULL, OPT_HIDE },
	{ "show", required_argument, NULL, OPT_SHOW },
	{ "show-all", no_argument, NULL, OPT_SHOW_ALL },
	{ "color", no_argument, NULL, OPT_COLOR },
	{ "colour", no_argument, NULL, OPT_COLOR },
	{ "no-color", no_argument, NULL, OPT_NO_COLOR },
	{ "no-colour", no_argument, NULL, OPT_NO_COLOR },
	{ "unicode", no_argument, NULL, OPT_UNICODE },
	{ "ascii", no_argument, NULL, OPT_ASCII },
	{ "flat", no_argument, NULL, OPT_FLAT },
	{ "html", no_argument, NULL, OPT_HTML },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "last", required_argument, NULL, OPT_LAST },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ NULL, 0, NULL, 0 },
};

/* The tree command's settings, from its options. */
struct cmd_tree_args {
	struct view_options view;
	pid_t tid;
	Sampled__StateFilter state;
	Sampled__GilFilter gil;
	struct fetch_range range;
	int per_thread, flat, html, color, unicode;
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
	struct error *err = cmd_ctx_error(ctx);
	const char *v;
	double pct;

	memset(a, 0, sizeof(*a));
	view_options_init(&a->view);
	if (cmd_tree_conflict(ctx, OPT_COLOR, "--color", OPT_NO_COLOR, "--no-color") < 0 ||
	    cmd_tree_conflict(ctx, OPT_UNICODE, "--unicode", OPT_ASCII, "--ascii") < 0 ||
	    cmd_tree_conflict(ctx, OPT_FLAT, "--flat", OPT_HTML, "--html") < 0 ||
	    cmd_tree_conflict(ctx, OPT_FLAT, "--flat", OPT_THREADS, "--threads") < 0)
		return -1;
	a->flat = cmd_ctx_has(ctx, OPT_FLAT);
	a->html = cmd_ctx_has(ctx, OPT_HTML);
	/* A page can be explored: it gets every node unless asked otherwise. */
	if (a->html)
		a->view.min_share = 0;
	v = cmd_ctx_value(ctx, OPT_MIN_PERCENT);
	if (v != NULL) {
		if (fetch_parse_percent(v, "--min-percent", &pct, err) < 0)
			return -1;
		a->view.min_share = pct / 100.0;
	}
	v = cmd_ctx_value(ctx, OPT_TID);
	if (v != NULL && cmd_parse_pid(v, &a->tid, err) < 0)
		return -1;
	v = cmd_ctx_value(ctx, OPT_STATE);
	if (v != NULL && fetch_parse_state(v, &a->state, err) < 0)
		return -1;
	v = cmd_ctx_value(ctx, OPT_GIL);
	if (v != NULL && fetch_parse_gil(v, &a->gil, err) < 0)
		return -1;
	if (fetch_parse_range(cmd_ctx_value(ctx, OPT_LAST), cmd_ctx_value(ctx, OPT_SINCE),
			      cmd_ctx_value(ctx, OPT_UNTIL), &a->range, err) < 0)
		return -1;
	a->view.hide = cmd_ctx_value(ctx, OPT_HIDE);
	a->view.show = cmd_ctx_value(ctx, OPT_SHOW);
	/*
	 * The page folds library frames itself, behind a switch; it cannot
	 * unfold what arrives folded.  It does not know --show's regex, so
	 * with --show the folding is done here, where --show is honoured.
	 */
	if (a->html && a->view.show == NULL)
		a->view.collapse = 0;
	if (cmd_ctx_has(ctx, OPT_SHOW_ALL)) {
		a->view.collapse = 0;
		a->view.min_share = 0;
	}
	if (view_options_check(&a->view, err) < 0)
		return -1;
	a->per_thread = cmd_ctx_has(ctx, OPT_THREADS) || a->tid != 0;
	a->output = cmd_ctx_value(ctx, OPT_OUTPUT);
	a->color = cmd_ctx_has(ctx, OPT_COLOR) ? 1 : cmd_ctx_has(ctx, OPT_NO_COLOR) ? -1 : 0;
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
			.sort = RENDER_FLAT_SORT_SELF, .limit = 0, .min_share = a->view.min_share,
		};

		return render_flat(out, v, &o, err);
	}
	struct render_text_meta m = {
		.pid = st->target_pid, .comm = st->target_comm, .cmdline = st->target_cmdline,
		.state = format_target_state(state, sizeof(state), st), .mode = st->mode,
		.rate_hz = st->rate_hz, .duration_ns = fetch_duration_ns(st),
		.samples = st->samples, .lost = st->lost_samples,
		.truncated = st->truncated_samples, .tid = a->tid,
		.window = span, .window_ns = window_ns,
	};
	struct render_text_options o = {
		.color = render_text_want_color(out, a->color), .unicode = a->unicode,
		.rate_hz = st->rate_hz, .min_share = a->view.min_share,
	};

	return render_text(out, v, &m, &o, err);
}

/* Options, the daemon's tree and status, the pipeline, the output. */
static int cmd_tree_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	struct cmd_tree_args a;
	struct fetch f = { 0 };
	struct view *v = NULL;
	struct client *c;
	FILE *out = NULL;
	char page[96], stamp[32];
	int rc = CMD_EXIT_ERROR;

	(void)argc;
	(void)argv;
	if (cmd_tree_parse(ctx, &a) < 0)
		return CMD_EXIT_USAGE;
	c = cmd_ctx_client(ctx);
	if (c == NULL)
		return CMD_EXIT_ERROR;
	if (fetch_profile_range(c, a.per_thread, a.tid, a.state, a.gil, &a.range, &f, err) < 0)
		goto out;
	v = view_new(f.tree->tree, err);
	if (v == NULL)
		goto out;
	/* A flat profile folds nothing and thresholds rows, not nodes. */
	if (a.flat)
		a.view.collapse = 0;
	if (a.flat ? view_hide(v, a.view.hide, a.view.show, err) < 0
		   : view_apply(v, &a.view, err) < 0) {
		rc = CMD_EXIT_USAGE;
		goto out;
	}
	/* A page goes to a file of its own unless asked otherwise, as pyinstrument does. */
	if (a.html && a.output == NULL) {
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%d-%H%M%S", &tm);
		snprintf(page, sizeof(page), "profile-%d-%s.html", f.status->status->target_pid, stamp);
		a.output = page;
	}
	out = a.output == NULL || strcmp(a.output, "-") == 0 ? cmd_ctx_out(ctx)
							    : fopen(a.output, "we");
	if (out == NULL) {
		error_set(err, errno, "cannot write %s", a.output);
		goto out;
	}
	if (cmd_tree_render(out, &a, v, &f, err) == 0)
		rc = CMD_EXIT_OK;
	if (out != cmd_ctx_out(ctx) && fclose(out) != 0 && rc == CMD_EXIT_OK) {
		error_set(err, errno, "writing %s", a.output);
		rc = CMD_EXIT_ERROR;
	}
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
	.min_args = 0,
	.max_args = 0,
	.usage = "[--threads | --tid TID] [--state S] [--gil G] [--min-percent P]\n"
		 "                      [--last TIME | --since TIME] [--until TIME]\n"
		 "                      [--show-all] [--hide RE] [--show RE] [--flat | --html] [-o FILE]\n"
		 "                      [--color | --no-color] [--unicode | --ascii]",
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
	"  3. Nodes below --min-percent of all samples are left out with their\n"
	"     callees.  Their time still counts in their callers' time, and a\n"
	"     last line says how many nodes and samples were left out.\n"
	"\n"
	"Options:\n"
	"  --threads          one tree per thread instead of all threads merged\n"
	"  --tid TID          only the samples of thread TID\n"
	"  --state STATE      wall mode: only the samples whose thread was running\n"
	"                     (on a CPU or runnable) or idle (sleeping, waiting\n"
	"                     on disk, stopped)\n"
	"  --gil G            Python: only the samples whose thread held the GIL\n"
	"                     (held) or did not (released: it had let go of it,\n"
	"                     or waited for it); other threads' samples are in\n"
	"                     neither\n"
	"  --last TIME        only the samples of the last TIME (30s, 5m, 2h), to\n"
	"                     the precision of the daemon's time buckets (10 s\n"
	"                     unless it was started with --window-bucket): the\n"
	"                     header's Window line says which span the tree covers\n"
	"  --since TIME, --until TIME\n"
	"                     only the samples from TIME on, or up to TIME:\n"
	"                     HH:MM[:SS] today, a date and time\n"
	"                     (2026-11-25T10:00:00, local time unless it ends in Z\n"
	"                     or +HH:MM), or -DURATION (-5m: that long ago); a\n"
	"                     saved profile (--load) has no time buckets\n"
	"  --hide RE          hide matching frames (one regex; combine with |)\n"
	"  --show RE          never hide or fold matching frames\n"
	"  --show-all         fold no libraries and leave nothing out\n"
	"  --min-percent P    leave out nodes below P percent of all samples\n"
	"                     (default 1; 0 with --html)\n"
	"  --flat             a flat profile instead: one row per function with\n"
	"                     its own and its total samples (see 'samplectl top')\n"
	"  --html             a self-contained HTML page instead of text, written\n"
	"                     to profile-PID-DATE.html unless -o says where\n"
	"                     (-o - for standard output)\n"
	"  -o, --output FILE  write to FILE instead of standard output\n"
	"  --color, --no-color  colour by share (red from 60%, yellow from 20%,\n"
	"                     green from 5%); by default only on a terminal and\n"
	"                     unless NO_COLOR is set\n"
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
