#ifndef SAMPLED_RENDER_TEXT_H
#define SAMPLED_RENDER_TEXT_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "view.h"

/*
 * The call tree as text, pyinstrument style: a header about the target and
 * the sampling, then one line per node,
 *
 *     1.234  37.0%  function  file:line or [module]
 *     ├─ 0.800  24.0%  callee  [libfoo.so]
 *     │  └─ 0.800  24.0%  leaf  leaf.c:12
 *     └─ 0.434  13.0%  [3 frames hidden]  libc.so.6
 *
 * where the time is the node's total samples divided by the rate (or the
 * sample count when the rate is unknown) and the percentage is its share
 * of all samples in the view.  A function known only by its address
 * ("libc.so.6+0x1f") names its module already and shows no location.  Top-level nodes carry no connector.  With
 * colours, time and share are red from 60% of all samples, yellow from 20%,
 * green from 5%, dim green below (pyinstrument's steps); locations and
 * groups are dim.  A footer says what the threshold left out and how many
 * samples no shown frame holds, so that no omission goes unmentioned.
 * Control bytes in names print as '?'.
 */

/* What the header says; any string may be NULL (left out). */
struct render_text_meta {
	int pid;
	const char *comm;
	const char *cmdline;
	const char *state;		/* "running", "exited with code 0" ... */
	const char *mode;		/* "cpu" adds the CPU share */
	uint32_t rate_hz;
	uint64_t duration_ns;		/* uptime, or start to exit */
	uint64_t samples;		/* all samples the daemon took */
	uint64_t lost;
	uint64_t truncated;
	int tid;			/* the thread shown, 0 for all */
	const char *window;		/* a time range's span (fetch_window_text), NULL: all */
	uint64_t window_ns;		/* its length, for the CPU share */
};

struct render_text_options {
	int color;			/* ANSI colours */
	int unicode;			/* box-drawing connectors, else ASCII ones */
	uint32_t rate_hz;		/* 0: the time column shows samples */
	double min_share;		/* what the view was pruned at, for the footer */
};

/* Writes the header (when meta is not NULL) and the tree; -1 with err if out fails. */
int render_text(FILE *out, const struct view *v, const struct render_text_meta *meta,
		const struct render_text_options *o, struct error *err);

/*
 * Whether to use colours: force > 0 yes, force < 0 no; otherwise when out
 * is a terminal, NO_COLOR is unset or empty (no-color.org) and TERM is not
 * "dumb".
 */
int render_text_want_color(FILE *out, int force);
/* Whether the locale's charset is UTF-8 (LC_ALL, else LC_CTYPE, else LANG). */
int render_text_want_unicode(void);

#endif
