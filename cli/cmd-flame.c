#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "fetch.h"
#include "mem.h"
#include "render_flame.h"
#include "view.h"
#include "view_args.h"

enum {
	OPT_OUTPUT = 'o',
	OPT_COLLAPSE = 256,
};

/* Its own options; the view options come with the entry's flags (view_args.h). */
static const struct option flame_longopts[] = {
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "collapse", no_argument, NULL, OPT_COLLAPSE },
	{ NULL, 0, NULL, 0 },
};

/* Fetches, transforms and draws, to a file or standard output. */
static int cmd_flame_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	const char *path = cmd_ctx_value(ctx, OPT_OUTPUT);
	struct view_args a;
	struct fetch f = { 0 };
	struct view *v = NULL;
	const Sampled__Status *st;
	char *title = NULL;
	struct cmd_output o;
	char window[160];
	uint64_t window_ns;
	int rc = CMD_EXIT_ERROR;

	(void)argc;
	(void)argv;
	if (view_args_parse(ctx, &a, err) < 0)
		return CMD_EXIT_USAGE;
	/*
	 * Not view_apply: a flame graph prunes by pixels, not by share, but a
	 * library frame still needs 1% of its own to escape folding.
	 */
	v = view_args_view(ctx, &a, &f);
	if (v == NULL ||
	    (cmd_ctx_has(ctx, OPT_COLLAPSE) && view_collapse(v, a.view.show, 0.01, err) < 0))
		goto out;
	st = f.status->status;
	if (a.flame.title == NULL) {
		fetch_window_text(window, sizeof(window), f.tree->tree, &window_ns);
		title = mem_printf("%s (pid %d): %llu samples at %u Hz%s%s", st->target_comm,
				   st->target_pid, (unsigned long long)view_total(v), st->rate_hz,
				   window[0] != '\0' ? ", " : "", window);
		a.flame.title = title;
	}
	a.flame.rate_hz = st->rate_hz;
	if (cmd_output_open(ctx, path, &o) < 0)
		goto out;
	if (render_flame(o.stream, v, &a.flame, err) == 0)
		rc = CMD_EXIT_OK;
	rc = cmd_output_close(ctx, &o, rc);
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
	.flags = CMD_ENTRY_LOAD | CMD_ENTRY_THREADS | CMD_ENTRY_VIEW | CMD_ENTRY_GIL |
		 CMD_ENTRY_RANGE | CMD_ENTRY_FLAME,
	.min_args = 0,
	.max_args = 0,
	.usage = "[-o FILE] [--collapse]",
	.summary = "draw the profile as an SVG flame graph",
	.help =
	"Writes the call tree collected so far as a flame graph: one standalone\n"
	"SVG file, no scripts, that any browser or image viewer opens.  The\n"
	"bottom bar is all samples; each function sits on its caller, as wide as\n"
	"its share of the samples.  Hovering a bar shows its name, module or\n"
	"file:line, samples, share and time.  Bars under 0.1 pixel are left out.\n"
	"With --threads each thread is a tower of its own.  The default title\n"
	"names the target and its samples and, with a time range (--last,\n"
	"--since, --until), the span the graph covers.  --hide works as in\n"
	"'samplectl help tree'.\n"
	"\n"
	"Options:\n"
	"  -o, --output FILE  write to FILE instead of standard output\n"
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
