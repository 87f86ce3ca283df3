#ifndef SAMPLED_RENDER_FLAT_H
#define SAMPLED_RENDER_FLAT_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "view.h"

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

#endif
