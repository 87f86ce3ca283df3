#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "export_collapsed.h"
#include "export_pprof.h"
#include "export_speedscope.h"
#include "fetch.h"
#include "view.h"

enum { OPT_FORMAT = 'f', OPT_OUTPUT = 'o', OPT_THREADS = 256, OPT_GIL, OPT_LAST, OPT_SINCE,
       OPT_UNTIL };

enum cmd_export_format { CMD_EXPORT_COLLAPSED, CMD_EXPORT_SPEEDSCOPE, CMD_EXPORT_PPROF };

static const struct option export_longopts[] = {
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "threads", no_argument, NULL, OPT_THREADS },
	{ "gil", required_argument, NULL, OPT_GIL },
	{ "last", required_argument, NULL, OPT_LAST },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ NULL, 0, NULL, 0 },
};

static const struct {
	const char *name;
	enum cmd_export_format format;
} cmd_export_names[] = {
	{ "collapsed", CMD_EXPORT_COLLAPSED },
	{ "speedscope", CMD_EXPORT_SPEEDSCOPE },
	{ "pprof", CMD_EXPORT_PPROF },
};

/* File name endings that say the format, longest first where they overlap. */
static const struct {
	const char *suffix;
	enum cmd_export_format format;
} cmd_export_suffixes[] = {
	{ ".speedscope.json", CMD_EXPORT_SPEEDSCOPE },
	{ ".json", CMD_EXPORT_SPEEDSCOPE },
	{ ".pb.gz", CMD_EXPORT_PPROF },
	{ ".pprof", CMD_EXPORT_PPROF },
	{ ".folded", CMD_EXPORT_COLLAPSED },
	{ ".collapsed", CMD_EXPORT_COLLAPSED },
	{ ".txt", CMD_EXPORT_COLLAPSED },
};

/* Whether s ends in suffix, with something before it. */
static int cmd_export_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && strcmp(s + n - k, suffix) == 0;
}

/* The format -f names, else the one -o's file name implies, else collapsed. */
static int cmd_export_choose(const char *name, const char *path, enum cmd_export_format *fmt,
			     struct error *err)
{
	size_t i;

	*fmt = CMD_EXPORT_COLLAPSED;
	if (name != NULL) {
		for (i = 0; i < sizeof(cmd_export_names) / sizeof(cmd_export_names[0]); i++) {
			if (strcmp(name, cmd_export_names[i].name) == 0) {
				*fmt = cmd_export_names[i].format;
				return 0;
			}
		}
		error_set(err, 0, "unknown format '%s': expected collapsed, speedscope or pprof",
			  name);
		return -1;
	}
	for (i = 0; path != NULL && i < sizeof(cmd_export_suffixes) / sizeof(cmd_export_suffixes[0]);
	     i++) {
		if (cmd_export_has_suffix(path, cmd_export_suffixes[i].suffix)) {
			*fmt = cmd_export_suffixes[i].format;
			break;
		}
	}
	return 0;
}

/* Writes the profile in the chosen format; 0 or -1 with err set. */
static int cmd_export_write(FILE *out, enum cmd_export_format fmt, const struct fetch *f,
			    struct error *err)
{
	const Sampled__Status *st = f->status->status;
	struct view *v;
	int rc;

	/* Collapsed stacks predate the view and are written straight from the message. */
	if (fmt == CMD_EXPORT_COLLAPSED)
		return export_collapsed(out, f->tree->tree, err);
	v = view_new(f->tree->tree, err);
	if (v == NULL)
		return -1;
	if (fmt == CMD_EXPORT_SPEEDSCOPE) {
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
	enum cmd_export_format fmt;
	Sampled__GilFilter gil = SAMPLED__GIL_FILTER__GIL_ANY;
	const char *g = cmd_ctx_value(ctx, OPT_GIL);
	struct fetch_range range;
	struct fetch f = { 0 };
	struct client *c;
	FILE *out;
	int rc = CMD_EXIT_ERROR, to_stdout = path == NULL || strcmp(path, "-") == 0;

	(void)argc;
	(void)argv;
	if (cmd_export_choose(cmd_ctx_value(ctx, OPT_FORMAT), path, &fmt, err) < 0 ||
	    (g != NULL && fetch_parse_gil(g, &gil, err) < 0) ||
	    fetch_parse_range(cmd_ctx_value(ctx, OPT_LAST), cmd_ctx_value(ctx, OPT_SINCE),
			      cmd_ctx_value(ctx, OPT_UNTIL), &range, err) < 0)
		return CMD_EXIT_USAGE;
	if (fmt == CMD_EXPORT_PPROF && to_stdout && isatty(fileno(cmd_ctx_out(ctx)))) {
		error_set(err, 0, "a pprof profile is binary: write it to a file with -o FILE");
		return CMD_EXIT_USAGE;
	}
	c = cmd_ctx_client(ctx);
	if (c == NULL)
		return CMD_EXIT_ERROR;
	if (fetch_profile_range(c, cmd_ctx_has(ctx, OPT_THREADS), 0,
				SAMPLED__STATE_FILTER__STATE_ANY, gil, &range, &f, err) < 0)
		return CMD_EXIT_ERROR;
	out = to_stdout ? cmd_ctx_out(ctx) : fopen(path, "we");
	if (out == NULL) {
		error_set(err, errno, "cannot write %s", path);
		goto out;
	}
	if (cmd_export_write(out, fmt, &f, err) == 0)
		rc = CMD_EXIT_OK;
	if (out != cmd_ctx_out(ctx) && fclose(out) != 0 && rc == CMD_EXIT_OK) {
		error_set(err, errno, "writing %s", path);
		rc = CMD_EXIT_ERROR;
	}
out:
	fetch_release(&f);
	return rc;
}

const struct cmd_entry cmd_export_entry = {
	.name = "export",
	.alias = NULL,
	.args = "f:o:",
	.longopts = export_longopts,
	.min_args = 0,
	.max_args = 0,
	.usage = "[-f collapsed|speedscope|pprof] [-o FILE] [--threads] [--gil held|released]\n"
		 "                        [--last TIME | --since TIME] [--until TIME]",
	.summary = "write the profile in another tool's format",
	.help =
	"Writes the whole call tree collected so far, nothing left out, in a\n"
	"format other tools read.\n"
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
	"                       given to -o decides: .folded, .collapsed or .txt\n"
	"                       collapsed, .json speedscope, .pb.gz or .pprof\n"
	"                       pprof; anything else collapsed\n"
	"  -o, --output FILE    write to FILE instead of standard output (pprof\n"
	"                       is never written to a terminal)\n"
	"      --threads        put each thread's stacks under a root frame\n"
	"                       naming the thread (pprof: a 'thread' label)\n"
	"      --gil G          Python: only the samples whose thread held the\n"
	"                       GIL (held) or did not (released); see 'samplectl\n"
	"                       help tree'\n"
	"      --last TIME, --since TIME, --until TIME\n"
	"                       only the samples of a time range, to the\n"
	"                       precision of the daemon's time buckets (see\n"
	"                       'samplectl help tree'); pprof's time and duration\n"
	"                       are the span the buckets cover\n"
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
