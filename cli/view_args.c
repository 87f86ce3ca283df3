#include <string.h>

#include "view_args.h"
#include "view_opts.h"

/* The narrowest and widest flame graph that makes sense, in pixels. */
#define VIEW_ARGS_MIN_WIDTH 200ul
#define VIEW_ARGS_MAX_WIDTH 100000ul

/* --width: at least a usable image, at most what a browser still draws. */
static int view_args_width(const char *v, unsigned *width, struct error *err)
{
	unsigned long w;

	*width = 0;
	if (v == NULL)
		return 0;
	if (fetch_parse_count(v, "--width", VIEW_ARGS_MIN_WIDTH, &w, err) < 0)
		return -1;
	if (w > VIEW_ARGS_MAX_WIDTH) {
		error_set(err, 0, "invalid --width '%s': at most %lu pixels", v, VIEW_ARGS_MAX_WIDTH);
		return -1;
	}
	*width = (unsigned)w;
	return 0;
}

/* Each value is checked here, before any daemon is asked, so a usage error needs none. */
int view_args_parse(const struct cmd_ctx *ctx, struct view_args *a, struct error *err)
{
	const char *v;
	double pct;

	memset(a, 0, sizeof(*a));
	view_options_init(&a->view);
	a->state = SAMPLED__STATE_FILTER__STATE_ANY;
	a->gil = SAMPLED__GIL_FILTER__GIL_ANY;
	if (cmd_ctx_has(ctx, VIEW_OPTS_COLOR) && cmd_ctx_has(ctx, VIEW_OPTS_NO_COLOR)) {
		error_set(err, 0, "--color and --no-color cannot go together");
		return -1;
	}
	a->color = cmd_ctx_has(ctx, VIEW_OPTS_COLOR) ? 1 : cmd_ctx_has(ctx, VIEW_OPTS_NO_COLOR) ? -1 : 0;
	v = cmd_ctx_value(ctx, VIEW_OPTS_MIN_PERCENT);
	if (v != NULL) {
		if (fetch_parse_percent(v, "--min-percent", &pct, err) < 0)
			return -1;
		a->view.min_share = pct / 100.0;
		a->min_share_given = 1;
	}
	v = cmd_ctx_value(ctx, VIEW_OPTS_TID);
	if (v != NULL && cmd_parse_pid(v, &a->tid, err) < 0)
		return -1;
	v = cmd_ctx_value(ctx, VIEW_OPTS_STATE);
	if (v != NULL && fetch_parse_state(v, &a->state, err) < 0)
		return -1;
	v = cmd_ctx_value(ctx, VIEW_OPTS_GIL);
	if (v != NULL && fetch_parse_gil(v, &a->gil, err) < 0)
		return -1;
	if (fetch_parse_range(cmd_ctx_value(ctx, VIEW_OPTS_LAST), cmd_ctx_value(ctx, VIEW_OPTS_SINCE),
			      cmd_ctx_value(ctx, VIEW_OPTS_UNTIL), &a->range, err) < 0)
		return -1;
	a->view.hide = cmd_ctx_value(ctx, VIEW_OPTS_HIDE);
	a->view.show = cmd_ctx_value(ctx, VIEW_OPTS_SHOW);
	if (view_options_check(&a->view, err) < 0)
		return -1;
	a->threads = cmd_ctx_has(ctx, VIEW_OPTS_THREADS);
	a->per_thread = a->threads || a->tid != 0;
	if (view_args_width(cmd_ctx_value(ctx, VIEW_OPTS_WIDTH), &a->flame.width, err) < 0)
		return -1;
	a->flame.icicle = cmd_ctx_has(ctx, VIEW_OPTS_ICICLE);
	a->flame.title = cmd_ctx_value(ctx, VIEW_OPTS_TITLE);
	return 0;
}

/* One tree request with every selection the options made, then the status. */
int view_args_fetch(struct cmd_ctx *ctx, struct client *c, const struct view_args *a,
		    struct fetch *f)
{
	if (c == NULL && (c = cmd_ctx_client(ctx)) == NULL)
		return -1;
	return fetch_profile_range(c, a->per_thread, a->tid, a->state, a->gil, &a->range, f,
				   cmd_ctx_error(ctx));
}

/* Hiding comes first in every pipeline (view.h), so every view command starts here. */
struct view *view_args_view(struct cmd_ctx *ctx, const struct view_args *a, struct fetch *f)
{
	struct error *err = cmd_ctx_error(ctx);
	struct view *v;

	if (view_args_fetch(ctx, NULL, a, f) < 0 || (v = view_new(f->tree->tree, err)) == NULL)
		return NULL;
	if (view_hide(v, a->view.hide, a->view.show, err) < 0) {
		view_free(v);
		return NULL;
	}
	return v;
}
