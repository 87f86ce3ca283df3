#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "fetch.h"
#include "mem.h"
#include "render_flame.h"
#include "view.h"

enum {
	OPT_OUTPUT = 'o',
	OPT_WIDTH = 256,
	OPT_ICICLE,
	OPT_TITLE,
	OPT_THREADS,
	OPT_TID,
	OPT_HIDE,
	OPT_SHOW,
	OPT_COLLAPSE,
	OPT_GIL,
	OPT_LAST,
	OPT_SINCE,
	OPT_UNTIL,
};

/* The narrowest and widest image that makes sense, in pixels. */
#define CMD_FLAME_MIN_WIDTH 200ul
#define CMD_FLAME_MAX_WIDTH 100000ul

static const struct option flame_longopts[] = {
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "width", required_argument, NULL, OPT_WIDTH },
	{ "icicle", no_argument, NULL, OPT_ICICLE },
	{ "title", required_argument, NULL, OPT_TITLE },
	{ "threads", no_argument, NULL, OPT_THREADS },
	{ "tid", required_argument, NULL, OPT_TID },
	{ "hide", required_argument, NULL, OPT_HIDE },
	{ "show", required_argument, NULL, OPT_SHOW },
	{ "collapse", no_argument, NULL, OPT_COLLAPSE },
	{ "gil", required_argument, NULL, OPT_GIL },
	{ "last", required_argument, NULL, OPT_LAST },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ NULL, 0, NULL, 0 },
};

/* Reads the options; -1 with the message set on a usage error. */
static int cmd_flame_parse(struct cmd_ctx *ctx, struct render_flame_options *o,
			   struct view_options *vo, pid_t *tid, Sampled__GilFilter *gil,
			   struct fetch_range *range)
{
	struct error *err = cmd_ctx_error(ctx);
	unsigned long width = 0;
	const char *v;

	memset(o, 0, sizeof(*o));
	v = cmd_ctx_value(ctx, OPT_WIDTH);
	if (v != NULL) {
		if (fetch_parse_count(v, "--width", CMD_FLAME_MIN_WIDTH, &width, err) < 0)
			return -1;
		if (width > CMD_FLAME_MAX_WIDTH) {
			error_set(err, 0, "invalid --width '%s': at most %lu pixels", v,
				  CMD_FLAME_MAX_WIDTH);
			return -1;
		}
	}
	o->width = (unsigned)width;
	o->icicle = cmd_ctx_has(ctx, OPT_ICICLE);
	o->title = cmd_ctx_value(ctx, OPT_TITLE);
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
	vo->collapse = cmd_ctx_has(ctx, OPT_COLLAPSE);
	return view_options_check(vo, err);
}

/* Fetches, transforms and draws, to a file or standard output. */
static int cmd_flame_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	const char *path = cmd_ctx_value(ctx, OPT_OUTPUT);
	struct render_flame_options o;
	struct view_options vo;
	struct fetch f = { 0 };
	struct view *v = NULL;
	const Sampled__Status *st;
	char *title = NULL;
	struct client *c;
	FILE *out = NULL;
	Sampled__GilFilter gil;
	struct fetch_range range;
	char window[160];
	uint64_t window_ns;
	pid_t tid;
	int rc = CMD_EXIT_ERROR;

	(void)argc;
	(void)argv;
	if (cmd_flame_parse(ctx, &o, &vo, &tid, &gil, &range) < 0)
		return CMD_EXIT_USAGE;
	c = cmd_ctx_client(ctx);
	if (c == NULL)
		return CMD_EXIT_ERROR;
	if (fetch_profile_range(c, cmd_ctx_has(ctx, OPT_THREADS) || tid != 0, tid,
				SAMPLED__STATE_FILTER__STATE_ANY, gil, &range, &f, err) < 0)
		goto out;
	/*
	 * Not view_apply: a flame graph prunes by pixels, not by share, but a
	 * library frame still needs 1% of its own to escape folding.
	 */
	v = view_new(f.tree->tree, err);
	if (v == NULL || view_hide(v, vo.hide, vo.show, err) < 0 ||
	    (vo.collapse && view_collapse(v, vo.show, 0.01, err) < 0))
		goto out;
	st = f.status->status;
	if (o.title == NULL) {
		fetch_window_text(window, sizeof(window), f.tree->tree, &window_ns);
		title = mem_printf("%s (pid %d): %llu samples at %u Hz%s%s", st->target_comm,
				   st->target_pid, (unsigned long long)view_total(v), st->rate_hz,
				   window[0] != '\0' ? ", " : "", window);
		o.title = title;
	}
	o.rate_hz = st->rate_hz;
	out = path == NULL || strcmp(path, "-") == 0 ? cmd_ctx_out(ctx) : fopen(path, "we");
	if (out == NULL) {
		error_set(err, errno, "cannot write %s", path);
		goto out;
	}
	if (render_flame(out, v, &o, err) == 0)
		rc = CMD_EXIT_OK;
	if (out != cmd_ctx_out(ctx) && fclose(out) != 0 && rc == CMD_EXIT_OK) {
		error_set(err, errno, "writing %s", path);
		rc = CMD_EXIT_ERROR;
	}
out:
	free(title);
	view_free(v);
	fetch_release(&f);
	return rc;
}

const struct cmd_entry cmd_flame_entry = {
	.name = "flame",
	.alias = NULL,
	.args = "o:",
	.longopts = flame_longopts,
	.min_args = 0,
	.max_args = 0,
	.usage = "[-o FILE] [--width PX] [--icicle] [--title TEXT] [--threads | --tid TID]\n"
		 "                       [--gil held|released] [--hide RE] [--show RE] [--collapse]\n"
		 "                       [--last TIME | --since TIME] [--until TIME]",
	.summary = "draw the profile as an SVG flame graph",
	.help =
	"Writes the call tree collected so far as a flame graph: one standalone\n"
	"SVG file, no scripts, that any browser or image viewer opens.  The\n"
	"bottom bar is all samples; each function sits on its caller, as wide as\n"
	"its share of the samples.  Hovering a bar shows its name, module or\n"
	"file:line, samples, share and time.  Bars under 0.1 pixel are left out.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE  write to FILE instead of standard output\n"
	"  --width PX         image width in pixels (default 1200)\n"
	"  --icicle           callers on top, callees hanging below\n"
	"  --title TEXT       the title (default: the target and its samples)\n"
	"  --threads          one tower per thread instead of all threads merged\n"
	"  --tid TID          only the samples of thread TID\n"
	"  --gil G            Python: only the samples whose thread held the GIL\n"
	"                     (held) or did not (released); see 'samplectl help\n"
	"                     tree'\n"
	"  --last TIME, --since TIME, --until TIME\n"
	"                     only the samples of a time range, to the precision\n"
	"                     of the daemon's time buckets; the default title\n"
	"                     says which span the graph covers (see 'samplectl\n"
	"                     help tree')\n"
	"  --hide RE          hide frames whose function, module or file matches\n"
	"                     the extended regex RE (see 'samplectl help tree')\n"
	"  --show RE          never hide or fold matching frames\n"
	"  --collapse         fold runs of system-library frames as 'tree' does\n"
	"\n"
	"Examples:\n"
	"  samplectl flame -o flame.svg\n"
	"  samplectl --pid 4242 flame --threads --hide '^__GI_' -o threads.svg\n"
	"\n"
	"Exit status: 0 on success, 1 when there is no daemon or the file cannot\n"
	"be written, 2 on a usage error.\n",
	.exec = cmd_flame_exec,
};
