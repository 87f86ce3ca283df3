#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "render_flat.h"

/* Function names wider than this push their row's last column out instead of all rows'. */
#define RENDER_FLAT_NAME_WIDTH 48

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

/* Alphabetical by name, module and file; ids make it total. */
static int render_flat_by_name(const struct view_flat_row *a, const struct view_flat_row *b)
{
	int c = strcmp(a->frame->name, b->frame->name);

	if (c == 0)
		c = strcmp(a->frame->module, b->frame->module);
	if (c == 0)
		c = strcmp(a->frame->file, b->frame->file);
	return c != 0 ? c : (a->frame->id > b->frame->id) - (a->frame->id < b->frame->id);
}

/* Larger first by the first key, then by the second. */
static int render_flat_by_counts(uint64_t a1, uint64_t b1, uint64_t a2, uint64_t b2)
{
	if (a1 != b1)
		return a1 > b1 ? -1 : 1;
	if (a2 != b2)
		return a2 > b2 ? -1 : 1;
	return 0;
}

/* qsort order for --sort self. */
static int render_flat_self_order(const void *x, const void *y)
{
	const struct view_flat_row *a = x, *b = y;
	int c = render_flat_by_counts(a->self, b->self, a->total, b->total);

	return c != 0 ? c : render_flat_by_name(a, b);
}

/* qsort order for --sort total. */
static int render_flat_total_order(const void *x, const void *y)
{
	const struct view_flat_row *a = x, *b = y;
	int c = render_flat_by_counts(a->total, b->total, a->self, b->self);

	return c != 0 ? c : render_flat_by_name(a, b);
}

/* qsort order for --sort name. */
static int render_flat_name_order(const void *x, const void *y)
{
	return render_flat_by_name(x, y);
}

/* Writes s with control bytes as '?'; returns the columns it took (bytes, roughly). */
static int render_flat_put(FILE *out, const char *s)
{
	int n = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		putc(c < 0x20 || c == 0x7f ? '?' : c, out);
		n += (c & 0xc0) != 0x80;	/* UTF-8 continuation bytes take no column */
	}
	return n;
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
	static int (*const orders[])(const void *, const void *) = {
		[RENDER_FLAT_SORT_SELF] = render_flat_self_order,
		[RENDER_FLAT_SORT_TOTAL] = render_flat_total_order,
		[RENDER_FLAT_SORT_NAME] = render_flat_name_order,
	};
	size_t n = 0, shown = 0, left;
	struct view_flat_row *rows = view_flat(v, &n);
	uint64_t whole = view_total(v), biggest = 0;
	double threshold = o->min_share * (double)whole;
	int wnum, wname = 8;
	char num[32];

	qsort(rows, n, sizeof(*rows), orders[o->sort]);
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
		int w = (int)strlen(rows[i].frame->name);

		biggest = rows[i].total > biggest ? rows[i].total : biggest;
		if (w > wname)
			wname = w > RENDER_FLAT_NAME_WIDTH ? RENDER_FLAT_NAME_WIDTH : w;
	}
	wnum = snprintf(num, sizeof(num), "%" PRIu64, biggest);
	wnum = wnum < 5 ? 5 : wnum;
	fprintf(out, "%*s  %6s  %*s  %6s  %-*s  %s\n", wnum, "SELF", "SELF%", wnum, "TOTAL",
		"TOTAL%", wname, "FUNCTION", "MODULE");
	for (size_t i = 0; i < shown; i++) {
		const struct view_frame *f = rows[i].frame;
		const char *loc;
		int w;

		fprintf(out, "%*" PRIu64 "  %5.1f%%  %*" PRIu64 "  %5.1f%%  ", wnum, rows[i].self,
			render_flat_pct(rows[i].self, whole), wnum, rows[i].total,
			render_flat_pct(rows[i].total, whole));
		loc = f->file[0] != '\0' ? f->file : f->module;
		w = render_flat_put(out, f->name);
		if (loc[0] != '\0') {
			fprintf(out, "%*s  ", w < wname ? wname - w : 0, "");
			render_flat_put(out, loc);
		}
		fputc('\n', out);
	}
	if (left > 0)
		fprintf(out, "(%zu more function%s not shown: below the threshold or the limit)\n",
			left, left == 1 ? "" : "s");
	free(rows);
	if (fflush(out) != 0 || ferror(out)) {
		error_set(err, errno, "writing the table");
		return -1;
	}
	return 0;
}
