#ifndef SAMPLED_RENDER_FLAT_H
#define SAMPLED_RENDER_FLAT_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "view.h"

/* Function names wider than this push their row's last column out instead of all rows'. */
#define RENDER_FLAT_NAME_WIDTH 48

/*
 * The flat profile as a table, cProfile style (samplectl top, tree
 * --flat): one row per function (view_flat), columns
 *
 *     SELF  SELF%  TOTAL  TOTAL%  FUNCTION  MODULE
 *
 * in samples and shares of all samples in the view.  TOTAL counts a
 * sample once per function even when the function recurses, so TOTAL%
 * never exceeds 100.  The MODULE column shows the source file instead
 * when the frame has one.  A last line says how many rows the limit or the
 * threshold left out.
 */

enum render_flat_sort {
	RENDER_FLAT_SORT_SELF,		/* self, then total, largest first */
	RENDER_FLAT_SORT_TOTAL,		/* total, then self, largest first */
	RENDER_FLAT_SORT_NAME,		/* name, then module, alphabetical */
};

struct render_flat_options {
	enum render_flat_sort sort;
	size_t limit;			/* at most this many rows; 0: no limit */
	double min_share;		/* rows whose self and total are both below it are left out */
};

/* Parses "self", "total" or "name"; -1 for anything else. */
int render_flat_parse_sort(const char *s, enum render_flat_sort *sort);
/* Writes the table; -1 with err if out fails. */
int render_flat(FILE *out, const struct view *v, const struct render_flat_options *o,
		struct error *err);

/*
 * What the tables of functions share, this one and diff's (diff.h): the
 * order of their rows and the cells that name a row's function.
 */

/*
 * How render_flat_sort reads a row of some table: its self and total key
 * (for a table of changes, their magnitudes) and its function's frame.
 */
typedef void render_flat_key_fn(const void *row, double *self, double *total,
				const struct view_frame **frame);
/*
 * Sorts n rows of size bytes as sort says: the larger key first, self then
 * total or total then self, or by function alone; ties go by function
 * (view_flat_cmp), then frame id, so the order is total.
 */
void render_flat_sort(void *rows, size_t n, size_t size, enum render_flat_sort sort,
		      render_flat_key_fn *key);
/*
 * The FUNCTION column's width once f's row is in it: wname, widened to
 * f's name up to RENDER_FLAT_NAME_WIDTH (a wider name pushes its own row's
 * last column out instead of all rows').  Start from 8.
 */
int render_flat_name_width(int wname, const struct view_frame *f);
/*
 * Ends a row with its FUNCTION and MODULE cells: f's name padded to wname
 * columns, then its source file or else its module, control bytes as '?'.
 */
void render_flat_function(FILE *out, const struct view_frame *f, int wname);
/*
 * Ends a table: a last line when left rows were not shown ("(3 more
 * functions not shown: below WHY or the limit)"), then the check that
 * everything reached out; -1 with err if it did not.
 */
int render_flat_finish(FILE *out, size_t left, const char *why, struct error *err);

#endif
