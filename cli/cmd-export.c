#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "export_collapsed.h"
#include "export_pprof.h"
#include "export_speedscope.h"
#include "fetch.h"
#include "outformat.h"
#include "view.h"
#include "view_args.h"

enum { OPT_FORMAT = 'f', OPT_OUTPUT = 'o' };

/* Its own options; the view options come with the entry's flags (view_args.h). */
static const struct option export_longopts[] = {
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ NULL, 0, NULL, 0 },
};

/* Whether export writes format f itself. */
static int cmd_export_writes(enum outformat f)
{
	return f == OUTFORMAT_COLLAPSED || f == OUTFORMAT_SPEEDSCOPE || f == OUTFORMAT_PPROF;
}

/*
 * The format -f names, else the one -o's ending names (the table sampled's
 * -o FILE follows too), else collapsed.  An ending that names a format of
 * another command (.txt, .html, .svg, .sprof) is refused with that
 * command, rather than answered with stacks the name says are not there.
 */
static int cmd_export_choose(const char *name, const char *path, enum outformat *fmt,
			     struct error *err)
{
	enum outformat f = name != NULL ? outformat_named(name) : outformat_of(path);
	const char *const *args;
	char cmd[128] = "samplectl";
	size_t len = strlen(cmd);

	if (name == NULL && f == OUTFORMAT_UNKNOWN)
		f = OUTFORMAT_COLLAPSED;
	*fmt = f;
	if (cmd_export_writes(f))
		return 0;
	if (name != NULL) {
		error_set(err, 0, "unknown format '%s': expected collapsed, speedscope or pprof",
			  name);
		return -1;
	}
	args = outformat_samplectl_args(f);
	for (size_t i = 0; args[i] != NULL && len < sizeof(cmd); i++)
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " %s", args[i]);
	error_set(err, 0, "'%s' names %s, which export does not write: use '%s -o FILE', or -f "
		  "collapsed, speedscope or pprof", path, outformat_describe(f), cmd);
	return -1;
}

/* Writes the profile in the chosen format; 0 or -1 with err set. */
static int cmd_export_write(FILE *out, enum outformat fmt, const struct fetch *f,
			    struct error *err)
{
	const Sampled__Status *st = f->status->status;
	struct view *v;
	int rc;

	/* Collapsed stacks predate the view and are written straight from the message. */
	if (fmt == OUTFORMAT_COLLAPSED)
		return export_collapsed(out, f->tree->tree, err);
	v = view_new(f->tree->tree, err);
	if (v == NULL)
		return -1;
	if (fmt == OUTFORMAT_SPEEDSCOPE) {
		struct export_speedscope_meta m = {
			.name = st->target_cmdline != NULL && st->target_cmdline[0] != '\0'
				? st->target_cmdline : st->target_comm,
			.rate_hz = st->rate_hz,
		};

		rc = export_speedscope(out, v, &m, err);
	} else {
		const Sampled__TreeWindow *w = f->tree->tree->window;
		struct export_pprof_meta m = {
			.rate_hz = st->rate_hz, .mode = st->mode,
			.start_unix_ns = st->started_unix_ns, .duration_ns = fetch_duration_ns(st),
			.comment = st->target_cmdline,
		};

		/* A time range's profile covers the span of its buckets. */
		if (w != NULL) {
			m.start_unix_ns = w->start_unix_ns;
			m.duration_ns = w->end_unix_ns > w->start_unix_ns
					? w->end_unix_ns - w->start_unix_ns : 0;
		}

		rc = export_pprof(out, v, &m, err);
	}
	view_free(v);
	return rc;
}

/* Chooses the format before connecting, so usage errors need no daemon. */
static int cmd_export_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	const char *path = cmd_ctx_value(ctx, OPT_OUTPUT);
	enum outformat fmt;
	struct view_args a;
	struct fetch f = { 0 };
	struct cmd_output o;
	int rc = CMD_EXIT_ERROR, to_stdout = path == NULL || strcmp(path, "-") == 0;

	(void)argc;
	(void)argv;
	if (cmd_export_choose(cmd_ctx_value(ctx, OPT_FORMAT), path, &fmt, err) < 0 ||
	    view_args_parse(ctx, &a, err) < 0)
		return CMD_EXIT_USAGE;
	if (fmt == OUTFORMAT_PPROF && to_stdout && isatty(fileno(cmd_ctx_out(ctx)))) {
		error_set(err, 0, "a pprof profile is binary: write it to a file with -o FILE");
		return CMD_EXIT_USAGE;
	}
	if (view_args_fetch(ctx, NULL, &a, &f) < 0)
		return CMD_EXIT_ERROR;
	if (cmd_output_open(ctx, to_stdout ? NULL : path, &o) < 0)
		goto out;
	if (cmd_export_write(o.stream, fmt, &f, err) == 0)
		rc = CMD_EXIT_OK;
	rc = cmd_output_close(ctx, &o, rc);
out:
	fetch_release(&f);
	return rc;
}

const struct cmd_entry cmd_export_entry = {
	.name = "export",
	.alias = NULL,
	.args = "f:o:",
	.longopts = export_longopts,
	.flags = CMD_ENTRY_LOAD | CMD_ENTRY_THREADS | CMD_ENTRY_GIL | CMD_ENTRY_RANGE,
	.min_args = 0,
	.max_args = 0,
	.usage = "[-f collapsed|speedscope|pprof] [-o FILE]",
	.summary = "write the profile in another tool's format",
	.help =
	"Writes the whole call tree collected so far, nothing left out, in a\n"
	"format other tools read.  With --threads each thread's stacks hang\n"
	"under a root frame naming the thread (pprof: a 'thread' label too).\n"
	"With a time range (--last, --since, --until), pprof's time and\n"
	"duration are the span the daemon's time buckets cover.\n"
	"\n"
	"Formats:\n"
	"  collapsed    FlameGraph's folded stacks, one line 'root;...;leaf COUNT'\n"
	"               per stack (flamegraph.pl, inferno, speedscope read it)\n"
	"  speedscope   speedscope's JSON: one 'sampled' profile (one per thread\n"
	"               with --threads), weights in seconds\n"
	"  pprof        pprof's profile.proto, gzip-compressed (go tool pprof,\n"
	"               pprof -http); values samples/count and cpu/nanoseconds\n"
	"\n"
	"Options:\n"
	"  -f, --format FORMAT  one of the formats above; without it the name\n"
	"                       given to -o decides, as for 'sampled record -o':\n"
	"                       .folded or .collapsed collapsed, .json\n"
	"                       speedscope, .pb.gz or .pprof pprof (in any case);\n"
	"                       an ending another command writes (.txt a text\n"
	"                       tree, .html, .svg, .sprof) is refused; anything\n"
	"                       else collapsed\n"
	"  -o, --output FILE    write to FILE instead of standard output (pprof\n"
	"                       is never written to a terminal)\n"
	"\n"
	"Examples:\n"
	"  samplectl export > stacks.folded\n"
	"  samplectl --pid 4242 export -o profile.speedscope.json\n"
	"  samplectl export -o cpu.pb.gz && go tool pprof -top cpu.pb.gz\n"
	"\n"
	"Exit status: 0 on success, 1 when there is no daemon or the file cannot\n"
	"be written, 2 on a usage error.\n",
	.exec = cmd_export_exec,
};
