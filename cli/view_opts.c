#include <stdlib.h>

#include "mem.h"
#include "view_opts.h"

/*
 * Every shared option, in the order usage and help list them: its group,
 * its getopt entry, its synopsis item and its help lines (NULL where
 * another option of the group covers it: aliases, --since and --until).
 */
static const struct view_opts_option {
	unsigned flag;
	struct option opt;
	const char *usage;
	const char *help;
} view_opts_table[] = {
	{ VIEW_OPTS_GROUP_THREADS, { "threads", no_argument, NULL, VIEW_OPTS_THREADS }, "[--threads]",
	  "  --threads          each thread apart, under a root frame naming it,\n"
	  "                     instead of all threads merged\n" },
	{ VIEW_OPTS_GROUP_VIEW, { "tid", required_argument, NULL, VIEW_OPTS_TID }, "[--tid TID]",
	  "  --tid TID          only the samples of thread TID\n" },
	{ VIEW_OPTS_GROUP_STATE, { "state", required_argument, NULL, VIEW_OPTS_STATE }, "[--state running|idle]",
	  "  --state STATE      wall mode: only the samples whose thread was running\n"
	  "                     (on a CPU or runnable) or idle (sleeping, waiting\n"
	  "                     on disk, stopped)\n" },
	{ VIEW_OPTS_GROUP_GIL, { "gil", required_argument, NULL, VIEW_OPTS_GIL }, "[--gil held|released]",
	  "  --gil G            Python: only the samples whose thread held the GIL\n"
	  "                     (held) or did not (released: it had let go of it,\n"
	  "                     or waited for it); other threads' samples are in\n"
	  "                     neither\n" },
	{ VIEW_OPTS_GROUP_VIEW, { "hide", required_argument, NULL, VIEW_OPTS_HIDE }, "[--hide RE]",
	  "  --hide RE          hide the frames whose function, module or source\n"
	  "                     file matches the extended regex RE (anywhere in it;\n"
	  "                     anchor with ^ $; one regex, combine with |): their\n"
	  "                     own samples count as their nearest shown caller's\n" },
	{ VIEW_OPTS_GROUP_VIEW, { "show", required_argument, NULL, VIEW_OPTS_SHOW }, "[--show RE]",
	  "  --show RE          never hide or fold the frames matching RE\n" },
	{ VIEW_OPTS_GROUP_MIN_PERCENT, { "min-percent", required_argument, NULL, VIEW_OPTS_MIN_PERCENT },
	  "[--min-percent P]",
	  "  --min-percent P    leave out what holds less than P percent of all\n"
	  "                     samples (what it leaves out, and the default: see\n"
	  "                     above)\n" },
	{ VIEW_OPTS_GROUP_RANGE, { "last", required_argument, NULL, VIEW_OPTS_LAST },
	  "[--last TIME | --since TIME] [--until TIME]",
	  "  --last TIME        only the samples of the last TIME (30s, 5m, 2h, 1d),\n"
	  "                     to the precision of the daemon's time buckets (10 s\n"
	  "                     unless it was started with --window-bucket)\n"
	  "  --since TIME, --until TIME\n"
	  "                     only the samples from TIME on, or up to TIME:\n"
	  "                     HH:MM[:SS] today, a date and time\n"
	  "                     (2026-11-25T10:00:00, local time unless it ends in Z\n"
	  "                     or +HH:MM), or -DURATION (-5m: that long ago); a\n"
	  "                     saved profile (--load) has no time buckets\n" },
	{ VIEW_OPTS_GROUP_RANGE, { "since", required_argument, NULL, VIEW_OPTS_SINCE }, NULL, NULL },
	{ VIEW_OPTS_GROUP_RANGE, { "until", required_argument, NULL, VIEW_OPTS_UNTIL }, NULL, NULL },
	{ VIEW_OPTS_GROUP_COLOR, { "color", no_argument, NULL, VIEW_OPTS_COLOR }, "[--color | --no-color]",
	  "  --color, --no-color  colour the output or not (see above for how); by\n"
	  "                     default only on a terminal and unless NO_COLOR is\n"
	  "                     set\n" },
	{ VIEW_OPTS_GROUP_COLOR, { "colour", no_argument, NULL, VIEW_OPTS_COLOR }, NULL, NULL },
	{ VIEW_OPTS_GROUP_COLOR, { "no-color", no_argument, NULL, VIEW_OPTS_NO_COLOR }, NULL, NULL },
	{ VIEW_OPTS_GROUP_COLOR, { "no-colour", no_argument, NULL, VIEW_OPTS_NO_COLOR }, NULL, NULL },
	{ VIEW_OPTS_GROUP_FLAME, { "width", required_argument, NULL, VIEW_OPTS_WIDTH }, "[--width PX]",
	  "  --width PX         the flame graph's width in pixels (default 1200)\n" },
	{ VIEW_OPTS_GROUP_FLAME, { "icicle", no_argument, NULL, VIEW_OPTS_ICICLE }, "[--icicle]",
	  "  --icicle           callers on top, callees hanging below\n" },
	{ VIEW_OPTS_GROUP_FLAME, { "title", required_argument, NULL, VIEW_OPTS_TITLE }, "[--title TEXT]",
	  "  --title TEXT       the flame graph's title (default: what it shows)\n" },
};

#define VIEW_OPTS_COUNT (sizeof(view_opts_table) / sizeof(view_opts_table[0]))

_Static_assert(VIEW_OPTS_COUNT <= VIEW_OPTS_MAX_OPTIONS, "VIEW_OPTS_MAX_OPTIONS is too small");

/* The table in order, so that getopt sees the options as help lists them. */
size_t view_opts_longopts(unsigned flags, struct option *opts)
{
	size_t n = 0;

	for (size_t i = 0; i < VIEW_OPTS_COUNT; i++) {
		if (flags & view_opts_table[i].flag)
			opts[n++] = view_opts_table[i].opt;
	}
	return n;
}

/* The items of the table's options that have one, space-separated. */
char *view_opts_usage(unsigned flags)
{
	char *usage = mem_strdup(""), *longer;

	for (size_t i = 0; i < VIEW_OPTS_COUNT; i++) {
		if (!(flags & view_opts_table[i].flag) || view_opts_table[i].usage == NULL)
			continue;
		longer = mem_printf("%s%s%s", usage, usage[0] != '\0' ? " " : "",
				    view_opts_table[i].usage);
		free(usage);
		usage = longer;
	}
	return usage;
}

/* The help lines of the table's options that have some. */
void view_opts_help(FILE *out, unsigned flags)
{
	for (size_t i = 0; i < VIEW_OPTS_COUNT; i++) {
		if ((flags & view_opts_table[i].flag) && view_opts_table[i].help != NULL)
			fputs(view_opts_table[i].help, out);
	}
}

