#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "render_flat.h"

int render_flat_parse_sort(const char *s, enum render_flat_sort *sort)
{
	if (strcmp(s, "self") == 0)
		*sort = RENDER_FLAT_SORT_SELF;
	else if (strcmp(s, "total") == 0)
		*sort = RENDER_FLAT_SORT_TOTAL;
	else if (strcmp(s, "name") == 0)
		*sort = RENDER_FLAT_SORT_NAME;
	else
		return -1;
	return 0;
}

/* What render_flat_sort's comparison needs besides the two rows. */
struct render_flat_order {
	enum render_flat_sort sort;
	render_flat_key_fn *key;
};

/* Larger first by the first key, then by the second; 0 when both tie. */
static int render_flat_by_keys(double a1, double b1, double a2, double b2)
{
	if (a1 != b1)
		return a1 > b1 ? -1 : 1;
	if (a2 != b2)
		return a2 > b2 ? -1 : 1;
	return 0;
}

/* qsort_r order: the keys the sort names, then the function, then the frame id. */
static int render_flat_compare(const void *x, const void *y, void *arg)
{
	const struct render_flat_order *o = arg;
	const struct view_frame *fa, *fb;
	double sa, ta, sb, tb;
	int c = 0;

	o->key(x, &sa, &ta, &fa);
	o->key(y, &sb, &tb, &fb);
	if (o->sort == RENDER_FLAT_SORT_SELF)
		c = render_flat_by_keys(sa, sb, ta, tb);
	else if (o->sort == RENDER_FLAT_SORT_TOTAL)
		c = render_flat_by_keys(ta, tb, sa, sb);
	if (c == 0)
		c = view_flat_cmp(fa, fb);
	return c != 0 ? c : (fa->id > fb->id) - (fa->id < fb->id);
}

/* qsort_r carries the order and the key reader, so that no comparison needs a global. */
void render_flat_sort(void *rows, size_t n, size_t size, enum render_flat_sort sort,
		      render_flat_key_fn *key)
{
	struct render_flat_order o = { sort, key };

	qsort_r(rows, n, size, render_flat_compare, &o);
}

/* A view_flat row's keys are its counts. */
static void render_flat_row_key(const void *row, double *self, double *total,
				const struct view_frame **frame)
{
	const struct view_flat_row *r = row;

	*self = (double)r->self;
	*total = (double)r->total;
	*frame = r->frame;
}

/* Counted in bytes, as the columns were before names could be UTF-8. */
int render_flat_name_width(int wname, const struct view_frame *f)
{
	int w = (int)strlen(f->name);

	if (w > wname)
		wname = w > RENDER_FLAT_NAME_WIDTH ? RENDER_FLAT_NAME_WIDTH : w;
	return wname;
}

/* The module column is left out, padding and all, when there is nothing to put in it. */
void render_flat_function(FILE *out, const struct view_frame *f, int wname)
{
	const char *loc = f->file[0] != '\0' ? f->file : f->module;
	int w = format_put_printable(out, f->name);

	if (loc[0] != '\0') {
		fprintf(out, "%*s  ", w < wname ? wname - w : 0, "");
		format_put_printable(out, loc);
	}
	fputc('\n', out);
}

/* part as a percentage of whole, 0 when there is nothing. */
static double render_flat_pct(uint64_t part, uint64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

/* Sorts, filters and limits the rows, then sizes the columns to fit them. */
int render_flat(FILE *out, const struct view *v, const struct render_flat_options *o,
		struct error *err)
{
	size_t n = 0, shown = 0, left;
	struct view_flat_row *rows = view_flat(v, &n);
	uint64_t whole = view_total(v), biggest = 0;
	double threshold = o->min_share * (double)whole;
	int wnum, wname = 8;
	char num[32];

	render_flat_sort(rows, n, sizeof(*rows), o->sort, render_flat_row_key);
	/* Keep the rows worth showing at the front, in order. */
	for (size_t i = 0; i < n; i++) {
		if ((double)rows[i].self < threshold && (double)rows[i].total < threshold)
			continue;
		if (o->limit > 0 && shown == o->limit)
			break;
		rows[shown++] = rows[i];
	}
	left = n - shown;
	for (size_t i = 0; i < shown; i++) {
		biggest = rows[i].total > biggest ? rows[i].total : biggest;
		wname = render_flat_name_width(wname, rows[i].frame);
	}
	wnum = snprintf(num, sizeof(num), "%" PRIu64, biggest);
	wnum = wnum < 5 ? 5 : wnum;
	fprintf(out, "%*s  %6s  %*s  %6s  %-*s  %s\n", wnum, "SELF", "SELF%", wnum, "TOTAL",
		"TOTAL%", wname, "FUNCTION", "MODULE");
	for (size_t i = 0; i < shown; i++) {
		fprintf(out, "%*" PRIu64 "  %5.1f%%  %*" PRIu64 "  %5.1f%%  ", wnum, rows[i].self,
			render_flat_pct(rows[i].self, whole), wnum, rows[i].total,
			render_flat_pct(rows[i].total, whole));
		render_flat_function(out, rows[i].frame, wname);
	}
	free(rows);
	return render_flat_finish(out, left, "the threshold", err);
}

/* A table goes out in one piece, so one check at its end covers every row. */
int render_flat_finish(FILE *out, size_t left, const char *why, struct error *err)
{
	if (left > 0)
		fprintf(out, "(%zu more function%s not shown: below %s or the limit)\n", left,
			left == 1 ? "" : "s", why);
	if (fflush(out) != 0 || ferror(out)) {
		error_set(err, errno, "writing the table");
		return -1;
	}
	return 0;
}
