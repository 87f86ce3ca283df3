#ifndef SAMPLED_VIEW_OPTS_H
#define SAMPLED_VIEW_OPTS_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

/*
 * The options the view commands (tree, top, flame, export, diff) share,
 * declared once in one table (view_opts.c): their getopt entries, their
 * synopsis and their help, by group.  A command takes groups with flags of
 * its cmd_entry (CMD_ENTRY_THREADS... in cmd.h are these groups), and
 * cmd.c builds its parsing, usage and help from the table; view_args.h
 * reads the values given.  This module knows nothing of commands, so that
 * cmd.c can use it without a cycle.
 */

/* Groups of shared options. */
enum {
	VIEW_OPTS_GROUP_THREADS = 0x002,	/* --threads */
	VIEW_OPTS_GROUP_VIEW = 0x004,		/* --tid, --hide, --show: which thread, which frames */
	VIEW_OPTS_GROUP_STATE = 0x008,		/* --state */
	VIEW_OPTS_GROUP_GIL = 0x010,		/* --gil */
	VIEW_OPTS_GROUP_MIN_PERCENT = 0x020,	/* --min-percent */
	VIEW_OPTS_GROUP_RANGE = 0x040,		/* --last, --since, --until */
	VIEW_OPTS_GROUP_COLOR = 0x080,		/* --color, --no-color */
	VIEW_OPTS_GROUP_FLAME = 0x100,		/* --width, --icicle, --title */
};

/*
 * The vals of the shared long options, what cmd_ctx_has and cmd_ctx_value
 * take: above every command's own (short letters, and long-only values
 * from 256 up) and cmd.c's --load.
 */
enum {
	VIEW_OPTS_THREADS = 0x10100,
	VIEW_OPTS_TID,
	VIEW_OPTS_STATE,
	VIEW_OPTS_GIL,
	VIEW_OPTS_HIDE,
	VIEW_OPTS_SHOW,
	VIEW_OPTS_MIN_PERCENT,
	VIEW_OPTS_LAST,
	VIEW_OPTS_SINCE,
	VIEW_OPTS_UNTIL,
	VIEW_OPTS_COLOR,
	VIEW_OPTS_NO_COLOR,
	VIEW_OPTS_WIDTH,
	VIEW_OPTS_ICICLE,
	VIEW_OPTS_TITLE,
};

/* The most long options all groups together add, aliases included. */
#define VIEW_OPTS_MAX_OPTIONS 24

/*
 * Writes the long options of the groups in flags to opts, which has room
 * for VIEW_OPTS_MAX_OPTIONS; returns how many.
 */
size_t view_opts_longopts(unsigned flags, struct option *opts);
/*
 * The synopsis of the groups in flags, one bracketed item after another
 * ("[--threads] [--tid TID] ..."), newly allocated; "" for none.
 */
char *view_opts_usage(unsigned flags);
/* Writes the help lines of the options of the groups in flags, in the table's order. */
void view_opts_help(FILE *out, unsigned flags);

#endif
