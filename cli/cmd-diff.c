#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "diff.h"
#include "fetch.h"
#include "format.h"
#include "mem.h"
#include "render_flame.h"
#include "render_text.h"
#include "saved_server.h"
#include "view.h"
#include "view_args.h"

enum {
	OPT_OUTPUT = 'o',
	OPT_FLAME = 256,
	OPT_SORT,
	OPT_LIMIT,
	OPT_MIN_CHANGE,
};

/* Rows shown unless --limit says otherwise. */
#define CMD_DIFF_LIMIT 30

/* Its own options; the view options come with the entry's flags (view_args.h). */
static const struct option diff_longopts[] = {
	{ "flame", no_argument, NULL, OPT_FLAME },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "sort", required_argument, NULL, OPT_SORT },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "min-change", required_argument, NULL, OPT_MIN_CHANGE },
	{ NULL, 0, NULL, 0 },
};

/* The command's settings, from its options. */
struct cmd_diff_args {
	struct diff_table_options table;
	struct view_args shared;	/* --state, --gil, --color, the flame graph's */
};

/* One of the two profiles: a saved file served to a client of our own, or the daemon. */
struct cmd_diff_side {
	const char *name;		/* the operand */
	struct saved_server *saved;	/* a file; NULL for the daemon */
	struct client *client;		/* the connection to saved (the daemon's is ctx's) */
	struct fetch f;
	struct view *v;
};

/* Whether an operand names the running daemon rather than a file. */
static int cmd_diff_is_live(const char *name)
{
	return strcmp(name, "-") == 0 || strcmp(name, "live") == 0;
}

/* Reads the options; -1 with the message set on a usage error. */
static int cmd_diff_parse(struct cmd_ctx *ctx, struct cmd_diff_args *a)
{
	struct error *err = cmd_ctx_error(ctx);
	unsigned long limit = CMD_DIFF_LIMIT;
	double points = 0;
	const char *v;

	memset(a, 0, sizeof(*a));
	a->table.sort = DIFF_SORT_TOTAL;
	v = cmd_ctx_value(ctx, OPT_SORT);
	if (v != NULL && diff_parse_sort(v, &a->table.sort) < 0) {
		error_set(err, 0, "invalid --sort '%s': expected total, self or name", v);
		return -1;
	}
	v = cmd_ctx_value(ctx, OPT_LIMIT);
	if (v != NULL && fetch_parse_count(v, "--limit", 0, &limit, err) < 0)
		return -1;
	a->table.limit = limit;
	v = cmd_ctx_value(ctx, OPT_MIN_CHANGE);
	if (v != NULL && fetch_parse_percent(v, "--min-change", &points, err) < 0)
		return -1;
	a->table.min_change = points;
	return view_args_parse(ctx, &a->shared, err);
}

/* Fetches one side's merged tree and status; -1 with the message set. */
static int cmd_diff_fetch(struct cmd_ctx *ctx, struct cmd_diff_side *s,
			  const struct cmd_diff_args *a)
{
	struct error *err = cmd_ctx_error(ctx);
	struct saved_profile *sp;
	struct client *c;

	if (cmd_diff_is_live(s->name)) {
		c = cmd_ctx_client(ctx);
		if (c == NULL)
			return -1;
	} else {
		sp = saved_profile_read(s->name, err);
		if (sp == NULL)
			return -1;
		s->saved = saved_server_start(sp, err);
		if (s->saved == NULL)
			return -1;
		s->client = client_connect(saved_server_path(s->saved), cmd_ctx_timeout_ms(ctx), err);
		if (s->client == NULL)
			return -1;
		c = s->client;
	}
	if (view_args_fetch(ctx, c, &a->shared, &s->f) < 0 ||
	    (s->v = view_new(s->f.tree->tree, err)) == NULL) {
		error_prefix(err, "%s: ", s->name);
		return -1;
	}
	return 0;
}

/* Closes the side's connection and server; the daemon's connection stays ctx's. */
static void cmd_diff_release(struct cmd_diff_side *s)
{
	view_free(s->v);
	fetch_release(&s->f);
	client_free(s->client);
	saved_server_free(s->saved);
}

/* "A  run.sprof: pid 123 (split), 2001 samples in 2.00 s at 999 Hz, cpu mode". */
static void cmd_diff_header(FILE *out, const char *label, const struct cmd_diff_side *s)
{
	const Sampled__Status *st = s->f.status->status;
	char *name = format_printable(s->name), *comm = format_printable(st->target_comm);
	char *mode = format_printable(st->mode), dur[FORMAT_BUF_SIZE];
	unsigned long long n = (unsigned long long)view_total(s->v);

	fprintf(out, "%s  %s: pid %d (%s), %llu sample%s in %s at %u Hz, %s mode\n", label,
		cmd_diff_is_live(s->name) ? "live" : name, st->target_pid, comm, n,
		n == 1 ? "" : "s", format_duration(dur, sizeof(dur), fetch_duration_ns(st)),
		st->rate_hz, mode);
	free(name);
	free(comm);
	free(mode);
}

/* A side's name in a title: "live", or the file's name without its directory. */
static const char *cmd_diff_short_name(const struct cmd_diff_side *s)
{
	const char *slash = strrchr(s->name, '/');

	if (cmd_diff_is_live(s->name))
		return "live";
	return slash != NULL && slash[1] != '\0' ? slash + 1 : s->name;
}

/* Draws B's flame graph coloured by change against A. */
static int cmd_diff_flame(FILE *out, struct cmd_diff_args *a, const struct cmd_diff_side *sa,
			  const struct cmd_diff_side *sb, struct error *err)
{
	char *title = NULL;
	int rc;

	struct render_flame_options *o = &a->shared.flame;

	if (o->title == NULL) {
		title = mem_printf("%s (%s) \u2192 %s (%s): red grew, blue shrank",
				   cmd_diff_short_name(sa), sa->f.status->status->target_comm,
				   cmd_diff_short_name(sb), sb->f.status->status->target_comm);
		o->title = title;
	}
	o->rate_hz = sb->f.status->status->rate_hz;
	rc = diff_flame(out, sa->v, sb->v, o, err);
	free(title);
	return rc;
}

/* Fetches both sides, then writes the table or the flame graph. */
static int cmd_diff_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	const char *path = cmd_ctx_value(ctx, OPT_OUTPUT);
	struct cmd_diff_side sa = { .name = argv[0] }, sb = { .name = argv[1] };
	struct cmd_diff_args a;
	struct diff *d = NULL;
	struct cmd_output o;
	FILE *out;
	int rc = CMD_EXIT_ERROR;

	(void)argc;
	if (cmd_diff_parse(ctx, &a) < 0)
		return CMD_EXIT_USAGE;
	if (cmd_diff_fetch(ctx, &sa, &a) < 0 || cmd_diff_fetch(ctx, &sb, &a) < 0)
		goto out;
	if (cmd_output_open(ctx, path, &o) < 0)
		goto out;
	out = o.stream;
	if (cmd_ctx_has(ctx, OPT_FLAME)) {
		rc = cmd_diff_flame(out, &a, &sa, &sb, err) == 0 ? CMD_EXIT_OK : CMD_EXIT_ERROR;
	} else {
		a.table.color = render_text_want_color(out, a.shared.color);
		cmd_diff_header(out, "A", &sa);
		cmd_diff_header(out, "B", &sb);
		fputc('\n', out);
		d = diff_new(sa.v, sb.v);
		rc = diff_table(out, d, &a.table, err) == 0 ? CMD_EXIT_OK : CMD_EXIT_ERROR;
	}
	rc = cmd_output_close(ctx, &o, rc);
out:
	diff_free(d);
	cmd_diff_release(&sa);
	cmd_diff_release(&sb);
	return rc;
}

const struct cmd_entry cmd_diff_entry = {
	.name = "diff",
	.alias = NULL,
	.args = "o:",
	.longopts = diff_longopts,
	.flags = CMD_ENTRY_STATE | CMD_ENTRY_GIL | CMD_ENTRY_COLOR | CMD_ENTRY_FLAME,
	.min_args = 2,
	.max_args = 2,
	.usage = "[--flame] [-o FILE] [--sort total|self|name] [--limit N] [--min-change POINTS] A B",
	.summary = "compare two profiles: what grew and what shrank",
	.help =
	"Compares profile B with profile A, the baseline.  Each is a file written\n"
	"by 'samplectl save' (or 'sampled record -o FILE.sprof'), or '-' or\n"
	"'live' for the daemon chosen by --pid or --socket as it is now (write\n"
	"./live for a file of that name); so 'samplectl diff before.sprof live'\n"
	"shows what changed since a baseline was saved.  Profiles compare by\n"
	"shares, not counts, so their lengths and rates may differ: a change is\n"
	"B's share minus A's, in percentage points.  --state and --gil compare\n"
	"only the samples of one thread state, or of threads holding the GIL or\n"
	"not, as 'tree' does.\n"
	"\n"
	"The table has one row per function of either profile, as in 'top'\n"
	"(name, module and file; lines and callers merged): its share of all\n"
	"samples in A and in B, running itself (SELF) and anywhere on the stack\n"
	"(TOTAL, counted once per sample in a recursive function), and the\n"
	"changes.  A function of B alone is marked new, one of A alone gone.  On\n"
	"a terminal (or with --color), growth is red and shrinking green.\n"
	"\n"
	"With --flame it writes a differential flame graph instead: B's flame\n"
	"graph (see 'samplectl help flame') with each bar coloured by how its\n"
	"share of the samples changed at that place in the call tree: red grew,\n"
	"blue shrank, grey stayed, stronger for larger changes (full colour at\n"
	"the largest change, or at 5 points).  Hovering a bar shows\n"
	"'A x% -> B y% (+z points)'.  What A alone had has no bar in B's graph:\n"
	"'samplectl diff --flame B A' draws A's graph instead.  --width,\n"
	"--icicle and --title go with --flame; the default title names both\n"
	"profiles.\n"
	"\n"
	"Options:\n"
	"  --sort KEY            total (the default: largest change of total\n"
	"                        share first, either way), self, or name\n"
	"  --limit N             at most N rows (default 30; 0 for all)\n"
	"  --min-change POINTS   leave out rows whose self and total shares both\n"
	"                        moved less than POINTS (default 0)\n"
	"  --flame               write the differential flame graph (SVG)\n"
	"  -o, --output FILE     write to FILE instead of standard output\n"
	"\n"
	"Examples:\n"
	"  samplectl save -o before.sprof\n"
	"  samplectl diff before.sprof live --limit 10\n"
	"  samplectl diff --flame -o diff.svg before.sprof after.sprof\n"
	"\n"
	"Exit status: 0 on success, 1 when a file cannot be read or written or\n"
	"there is no daemon for 'live', 2 on a usage error.\n",
	.exec = cmd_diff_exec,
};
