#ifndef SAMPLED_VIEW_ARGS_H
#define SAMPLED_VIEW_ARGS_H

#include <sys/types.h>
#include <stdio.h>

#include "client.h"
#include "cmd.h"
#include "error.h"
#include "fetch.h"
#include "render_flame.h"
#include "sampled.pb-c.h"
#include "view.h"

/*
 * The values of the shared view options (view_opts.h declares them) a
 * command was given: view_args_parse reads whichever were given into one
 * struct, with the same messages for every command.  A command describes
 * in its own help what an option means for it where that differs (what
 * --min-percent leaves out, where a time range's span is shown).
 */

/* The shared options given to a command, read; fields of groups it does not take keep their defaults. */
struct view_args {
	/* view_options_init's, with --hide and --show (checked to compile) and --min-percent. */
	struct view_options view;
	int min_share_given;		/* whether --min-percent set view.min_share */
	int threads;			/* --threads */
	int per_thread;			/* --threads, or --tid: a root per thread */
	pid_t tid;			/* --tid; 0: every thread */
	Sampled__StateFilter state;	/* --state; STATE_ANY without it */
	Sampled__GilFilter gil;		/* --gil; GIL_ANY without it */
	struct fetch_range range;	/* --last, --since, --until; all 0: the whole profile */
	int color;			/* --color 1, --no-color -1, else 0 */
	struct render_flame_options flame;	/* --width, --icicle, --title; the rest 0 */
};

/*
 * Reads the shared options the running command was given (cmd_ctx_value)
 * into a: --color with --no-color, a bad --min-percent, --tid, --state,
 * --gil, time range, --hide or --show regex, or --width is -1 with err
 * set, the command's usage error.
 */
int view_args_parse(const struct cmd_ctx *ctx, struct view_args *a, struct error *err);
/*
 * Asks c, or when c is NULL the daemon of ctx (or the file --load names),
 * for the tree the options select (thread, state, GIL, range) and the
 * status; -1 with the message in cmd_ctx_error().
 */
int view_args_fetch(struct cmd_ctx *ctx, struct client *c, const struct view_args *a,
		    struct fetch *f);
/*
 * view_args_fetch from the daemon of ctx, then the tree decoded with
 * --hide and --show applied (view_hide): newly allocated, the replies
 * stay in f.  NULL with the message in cmd_ctx_error().
 */
struct view *view_args_view(struct cmd_ctx *ctx, const struct view_args *a, struct fetch *f);

#endif
