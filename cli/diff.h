#ifndef SAMPLED_DIFF_H
#define SAMPLED_DIFF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "render_flame.h"
#include "render_flat.h"
#include "view.h"

/*
 * Two profiles compared (samplectl diff A B): what changed from A, the
 * baseline, to B.  Profiles of different lengths and rates compare by
 * shares, never by counts: a function's share is its samples over all the
 * samples of its own profile, and a change is B's share minus A's, in
 * percentage points.
 *
 * The table: one row per function of either profile, a function being
 * what view_flat makes one (name, module, file and kind; lines and
 * callers merged), with its self and total shares in A and in B.  Total
 * counts a sample once per function even when the function recurses, so
 * no share exceeds 100%.  A function of B alone is new, one of A alone is
 * gone.
 *
 * The differential flame graph: B's flame graph (render_flame) where each
 * bar's colour is the change of that node's total share: the node being
 * the same path of frames from the root (name, module, file, line, kind),
 * so that a function's time moving from one caller to another shows as
 * one bar shrinking and another growing.  Red grew, blue shrank, grey
 * did not move; the colour is full at the largest change in the graph, or
 * at DIFF_FLAME_FULL_POINTS when no change is that large, so that the
 * noise between two runs of the same work stays pale.  Nodes of A alone
 * have no bar (they are not in B): `diff B A` draws them, in the colours
 * of the change the other way round.
 */

/* The change, in points, that a flame graph's colour reaches full strength at, at least. */
#define DIFF_FLAME_FULL_POINTS 5.0

/* The table's orders: the flat table's (render_flat_sort), on the changes' magnitudes. */
enum diff_sort {
	DIFF_SORT_TOTAL = RENDER_FLAT_SORT_TOTAL,	/* largest change of total share first
							   (either way) */
	DIFF_SORT_SELF = RENDER_FLAT_SORT_SELF,		/* largest change of self share first */
	DIFF_SORT_NAME = RENDER_FLAT_SORT_NAME,		/* name, module, file: alphabetical */
};

enum diff_presence {
	DIFF_BOTH,
	DIFF_NEW,		/* in B only */
	DIFF_GONE,		/* in A only */
};

/* One function; index 0 is A, 1 is B.  A side without the function has zeros. */
struct diff_row {
	const struct view_frame *frame;	/* B's when B has the function, else A's */
	uint64_t self[2], total[2];	/* samples */
	double self_pct[2], total_pct[2];	/* shares of all samples of each side, percent */
	double self_change, total_change;	/* B's share minus A's, points */
	enum diff_presence presence;
};

struct diff;

/*
 * Compares the flat profiles of a and b (newly allocated; the rows point
 * at the views' frames, so both views must outlive the diff).  Rows come
 * sorted by DIFF_SORT_TOTAL.
 */
struct diff *diff_new(const struct view *a, const struct view *b);
/* Accepts NULL. */
void diff_free(struct diff *d);
/* Rows, in the current order. */
size_t diff_count(const struct diff *d);
const struct diff_row *diff_row_at(const struct diff *d, size_t i);
/* Reorders the rows; ties go by name, module and file, so the order is total. */
void diff_sort(struct diff *d, enum diff_sort sort);
/* Parses "total", "self" or "name"; -1 for anything else. */
int diff_parse_sort(const char *s, enum diff_sort *sort);

struct diff_table_options {
	enum diff_sort sort;
	size_t limit;		/* at most this many rows; 0: no limit */
	double min_change;	/* points: rows whose self and total shares both moved less are left out */
	int color;		/* ANSI colours: growth red, shrinking green */
};

/*
 * Writes the table, sorted as o says:
 *
 *      A SELF%  A TOTAL%   B SELF%  B TOTAL%   SELF PTS  TOTAL PTS        FUNCTION  MODULE
 *        60.1%     60.1%         -         -      -60.1      -60.1  gone  a         split.c
 *
 * where a side without the function shows "-", the MODULE column the
 * source file when the frame has one (as in the flat table), and a last
 * line how many rows the limit or the threshold left out.  -1 with err
 * if out fails.
 */
int diff_table(FILE *out, struct diff *d, const struct diff_table_options *o, struct error *err);

/*
 * Writes B's flame graph coloured by change against A, each bar's tooltip
 * ending in "A x% → B y% (+z points)" (and ", new" when A has no such
 * node).  o is render_flame's, its colour and note hooks left NULL.  -1
 * with err if out fails.
 */
int diff_flame(FILE *out, const struct view *a, const struct view *b,
	       const struct render_flame_options *o, struct error *err);

#endif
