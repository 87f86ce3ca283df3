#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diff.h"
#include "mem.h"

/* Changes smaller than this print as 0.0 and get no colour: they round away. */
#define DIFF_TABLE_ZERO 0.05
#define DIFF_FLAME_ZERO 0.005

#define DIFF_RED "\033[31m"
#define DIFF_GREEN "\033[32m"
#define DIFF_RESET "\033[0m"

struct diff {
	struct diff_row *rows;
	size_t n;
};

/* |x| without libm. */
static double diff_abs(double x)
{
	return x < 0 ? -x : x;
}

/* part as a percentage of whole, 0 when there is nothing. */
static double diff_pct(uint64_t part, uint64_t whole)
{
	return whole > 0 ? 100.0 * (double)part / (double)whole : 0.0;
}

/* qsort order of view_flat rows by function, to merge two profiles' as sorted lists. */
static int diff_flat_order(const void *x, const void *y)
{
	const struct view_flat_row *a = x, *b = y;

	return view_flat_cmp(a->frame, b->frame);
}

/* A row's keys for render_flat_sort: the magnitudes of its changes. */
static void diff_row_key(const void *row, double *self, double *total,
			 const struct view_frame **frame)
{
	const struct diff_row *r = row;

	*self = diff_abs(r->self_change);
	*total = diff_abs(r->total_change);
	*frame = r->frame;
}

/* Fills side i (0 for A) of a row from a flat row of a profile of whole samples. */
static void diff_row_side(struct diff_row *r, int i, const struct view_flat_row *f, uint64_t whole)
{
	r->self[i] = f->self;
	r->total[i] = f->total;
	r->self_pct[i] = diff_pct(f->self, whole);
	r->total_pct[i] = diff_pct(f->total, whole);
}

/* Both flat profiles sorted by function, then merged like two sorted lists. */
struct diff *diff_new(const struct view *a, const struct view *b)
{
	struct diff *d = mem_zalloc(sizeof(*d));
	size_t na = 0, nb = 0, i = 0, j = 0;
	struct view_flat_row *ra = view_flat(a, &na), *rb = view_flat(b, &nb);
	uint64_t wa = view_total(a), wb = view_total(b);

	qsort(ra, na, sizeof(*ra), diff_flat_order);
	qsort(rb, nb, sizeof(*rb), diff_flat_order);
	d->rows = mem_calloc(na + nb + 1, sizeof(*d->rows));
	while (i < na || j < nb) {
		struct diff_row *r = &d->rows[d->n++];
		int c = i == na ? 1 : j == nb ? -1 : view_flat_cmp(ra[i].frame, rb[j].frame);

		if (c <= 0)
			diff_row_side(r, 0, &ra[i], wa);
		if (c >= 0)
			diff_row_side(r, 1, &rb[j], wb);
		r->frame = c >= 0 ? rb[j].frame : ra[i].frame;
		r->presence = c < 0 ? DIFF_GONE : c > 0 ? DIFF_NEW : DIFF_BOTH;
		r->self_change = r->self_pct[1] - r->self_pct[0];
		r->total_change = r->total_pct[1] - r->total_pct[0];
		i += c <= 0;
		j += c >= 0;
	}
	free(ra);
	free(rb);
	diff_sort(d, DIFF_SORT_TOTAL);
	return d;
}

void diff_free(struct diff *d)
{
	if (d == NULL)
		return;
	free(d->rows);
	free(d);
}

size_t diff_count(const struct diff *d)
{
	return d->n;
}

const struct diff_row *diff_row_at(const struct diff *d, size_t i)
{
	return &d->rows[i];
}

/* The flat table's order, applied to the changes. */
void diff_sort(struct diff *d, enum diff_sort sort)
{
	render_flat_sort(d->rows, d->n, sizeof(*d->rows), (enum render_flat_sort)sort,
			 diff_row_key);
}

/* The flat table's words: the orders are the same. */
int diff_parse_sort(const char *s, enum diff_sort *sort)
{
	enum render_flat_sort r;

	if (render_flat_parse_sort(s, &r) < 0)
		return -1;
	*sort = (enum diff_sort)r;
	return 0;
}

/* A share cell: "-" for a side without the function. */
static void diff_share_cell(FILE *out, int present, double pct)
{
	if (present)
		fprintf(out, "%7.1f%%  ", pct);
	else
		fprintf(out, "%8s  ", "-");
}

/* A change cell, red when it grew and green when it shrank (with colours). */
static void diff_change_cell(FILE *out, double change, int color)
{
	int grew = change >= DIFF_TABLE_ZERO, shrank = change <= -DIFF_TABLE_ZERO;

	if (color && (grew || shrank))
		fputs(grew ? DIFF_RED : DIFF_GREEN, out);
	if (grew || shrank)
		fprintf(out, "%+9.1f", change);
	else
		fprintf(out, "%9s", "0.0");
	if (color && (grew || shrank))
		fputs(DIFF_RESET, out);
	fputs("  ", out);
}

/* One row of the table, its function's name padded to wname. */
static void diff_table_row(FILE *out, const struct diff_row *r, int wname, int color)
{
	int in_a = r->presence != DIFF_NEW, in_b = r->presence != DIFF_GONE;

	diff_share_cell(out, in_a, r->self_pct[0]);
	diff_share_cell(out, in_a, r->total_pct[0]);
	diff_share_cell(out, in_b, r->self_pct[1]);
	diff_share_cell(out, in_b, r->total_pct[1]);
	diff_change_cell(out, r->self_change, color);
	diff_change_cell(out, r->total_change, color);
	if (r->presence == DIFF_BOTH)
		fputs("      ", out);
	else
		fprintf(out, "%s%-4s%s  ", color ? (in_b ? DIFF_RED : DIFF_GREEN) : "",
			in_b ? "new" : "gone", color ? DIFF_RESET : "");
	render_flat_function(out, r->frame, wname);
}

/* Sorts, filters and limits the rows (in place), then sizes the name column to fit them. */
int diff_table(FILE *out, struct diff *d, const struct diff_table_options *o, struct error *err)
{
	const struct diff_row **keep = mem_calloc(d->n + 1, sizeof(*keep));
	size_t shown = 0, left = 0;
	int wname = 8;

	diff_sort(d, o->sort);
	for (size_t i = 0; i < d->n; i++) {
		const struct diff_row *r = &d->rows[i];

		if ((diff_abs(r->self_change) < o->min_change &&
		     diff_abs(r->total_change) < o->min_change) ||
		    (o->limit > 0 && shown == o->limit)) {
			left++;
			continue;
		}
		keep[shown++] = r;
	}
	for (size_t i = 0; i < shown; i++)
		wname = render_flat_name_width(wname, keep[i]->frame);
	fprintf(out, "%8s  %8s  %8s  %8s  %9s  %9s  %4s  %-*s  %s\n", "A SELF%", "A TOTAL%",
		"B SELF%", "B TOTAL%", "SELF PTS", "TOTAL PTS", "", wname, "FUNCTION", "MODULE");
	for (size_t i = 0; i < shown; i++)
		diff_table_row(out, keep[i], wname, o->color);
	free(keep);
	return render_flat_finish(out, left, "--min-change", err);
}

/* ------------------------------------------------------------------ flame */

/* A node of B and the node of A at the same path, if any. */
struct diff_pair {
	const struct view_node *b;
	const struct view_node *a;	/* NULL: A has no such node */
};

/* What the flame graph's hooks look up. */
struct diff_flame {
	struct diff_pair *pairs;	/* sorted by b's address */
	size_t n;
	uint64_t whole_a, whole_b;
	double full;			/* points at which the colour is full */
};

/* One level of the walk that pairs the nodes. */
struct diff_flame_at {
	struct diff_pair pair;
	const struct view_node **a_sorted;	/* a's children by frame (NULL when a is) */
	size_t next;
};

/* A tree node's identity among its siblings: the whole frame but its id. */
static int diff_node_cmp(const struct view_frame *a, const struct view_frame *b)
{
	int c;

	if ((c = strcmp(a->name, b->name)) != 0 || (c = strcmp(a->module, b->module)) != 0 ||
	    (c = strcmp(a->file, b->file)) != 0)
		return c;
	if (a->line != b->line)
		return a->line < b->line ? -1 : 1;
	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	return (a->offset > b->offset) - (a->offset < b->offset);
}

/* qsort order of nodes by frame. */
static int diff_node_order(const void *x, const void *y)
{
	const struct view_node *a = *(const struct view_node *const *)x;
	const struct view_node *b = *(const struct view_node *const *)y;

	return diff_node_cmp(a->frame, b->frame);
}

/* bsearch of a node (the key) among nodes sorted by frame. */
static int diff_node_find(const void *key, const void *elem)
{
	const struct view_node *k = key;
	const struct view_node *e = *(const struct view_node *const *)elem;

	return diff_node_cmp(k->frame, e->frame);
}

/* Orders pairs by the address of B's node, for the hooks' lookups. */
static int diff_pair_order(const void *x, const void *y)
{
	uintptr_t a = (uintptr_t)((const struct diff_pair *)x)->b;
	uintptr_t b = (uintptr_t)((const struct diff_pair *)y)->b;

	return (a > b) - (a < b);
}

/* a's children sorted by frame (newly allocated), or NULL when a is NULL or childless. */
static const struct view_node **diff_sorted_children(const struct view_node *a)
{
	const struct view_node **s;

	if (a == NULL || a->n_children == 0)
		return NULL;
	s = mem_calloc(a->n_children, sizeof(*s));
	memcpy(s, a->children, a->n_children * sizeof(*s));
	qsort(s, a->n_children, sizeof(*s), diff_node_order);
	return s;
}

/*
 * Walks B depth first with A alongside: a node of B has a partner when its
 * parent has one with a child of the same frame.  Each level keeps its A
 * node's children sorted, so that finding a partner is a binary search
 * rather than a scan of a wide node's children.
 */
static void diff_flame_pair(struct diff_flame *df, const struct view *a, const struct view *b)
{
	struct diff_flame_at *stack = NULL;
	size_t depth = 0, cap = 0, pcap = 0;
	const struct view_node *root_b = view_root(b), *root_a = view_root(a);

	stack = mem_grow(stack, &cap, 1, sizeof(*stack));
	stack[depth++] = (struct diff_flame_at){ { root_b, root_a }, diff_sorted_children(root_a),
						0 };
	df->pairs = mem_grow(df->pairs, &pcap, 1, sizeof(*df->pairs));
	df->pairs[df->n++] = stack[0].pair;
	while (depth > 0) {
		struct diff_flame_at *at = &stack[depth - 1];
		const struct view_node *c, **found = NULL;
		struct diff_pair p;

		if (at->next == at->pair.b->n_children) {
			free(at->a_sorted);
			depth--;
			continue;
		}
		c = at->pair.b->children[at->next++];
		if (at->a_sorted != NULL)
			found = bsearch(c, at->a_sorted, at->pair.a->n_children,
					sizeof(*at->a_sorted), diff_node_find);
		p = (struct diff_pair){ c, found != NULL ? *found : NULL };
		df->pairs = mem_grow(df->pairs, &pcap, df->n + 1, sizeof(*df->pairs));
		df->pairs[df->n++] = p;
		stack = mem_grow(stack, &cap, depth + 1, sizeof(*stack));
		stack[depth++] = (struct diff_flame_at){ p, diff_sorted_children(p.a), 0 };
	}
	free(stack);
	qsort(df->pairs, df->n, sizeof(*df->pairs), diff_pair_order);
}

/* The pair of B's node n (every node of B has one). */
static const struct diff_pair *diff_flame_lookup(const struct diff_flame *df,
						 const struct view_node *n)
{
	struct diff_pair key = { n, NULL };

	return bsearch(&key, df->pairs, df->n, sizeof(*df->pairs), diff_pair_order);
}

/* The node's total share in A and in B, percent. */
static void diff_flame_shares(const struct diff_flame *df, const struct diff_pair *p,
			      double *in_a, double *in_b)
{
	*in_a = p->a != NULL ? diff_pct(p->a->total, df->whole_a) : 0.0;
	*in_b = diff_pct(p->b->total, df->whole_b);
}

/*
 * The fill hook: grey for no change, towards red (growth) or blue
 * (shrinking) with the size of the change, full at df->full.
 */
static uint32_t diff_flame_fill(const struct view_node *n, void *arg)
{
	const struct diff_flame *df = arg;
	const struct diff_pair *p = diff_flame_lookup(df, n);
	double in_a = 0, in_b = 0, t;
	unsigned r, g, b;

	if (p != NULL)
		diff_flame_shares(df, p, &in_a, &in_b);
	t = diff_abs(in_b - in_a) / df->full;
	t = t > 1.0 ? 1.0 : t;
	if (in_b - in_a >= 0) {
		r = (unsigned)(224.0 + 31.0 * t + 0.5);
		g = b = (unsigned)(224.0 - 184.0 * t + 0.5);
	} else {
		r = (unsigned)(224.0 - 184.0 * t + 0.5);
		g = (unsigned)(224.0 - 120.0 * t + 0.5);
		b = (unsigned)(224.0 + 31.0 * t + 0.5);
	}
	return (uint32_t)(r << 16 | g << 8 | b);
}

/* The note hook: "A x% → B y% (+z points)". */
static void diff_flame_note(const struct view_node *n, void *arg, char *buf, size_t size)
{
	const struct diff_flame *df = arg;
	const struct diff_pair *p = diff_flame_lookup(df, n);
	double in_a = 0, in_b = 0, change;

	if (p == NULL)
		return;
	diff_flame_shares(df, p, &in_a, &in_b);
	change = in_b - in_a;
	if (diff_abs(change) < DIFF_FLAME_ZERO)
		change = 0.0;
	snprintf(buf, size, "A %.2f%% \u2192 B %.2f%% (%+.2f points%s)", in_a, in_b, change,
		 p->a == NULL ? ", new" : "");
}

/* Pairs the nodes, finds the largest change for the colour scale, then draws B. */
int diff_flame(FILE *out, const struct view *a, const struct view *b,
	       const struct render_flame_options *o, struct error *err)
{
	struct diff_flame df = { .whole_a = view_total(a), .whole_b = view_total(b),
				 .full = DIFF_FLAME_FULL_POINTS };
	struct render_flame_options fo = *o;
	int rc;

	diff_flame_pair(&df, a, b);
	for (size_t i = 0; i < df.n; i++) {
		double in_a, in_b;

		diff_flame_shares(&df, &df.pairs[i], &in_a, &in_b);
		if (diff_abs(in_b - in_a) > df.full)
			df.full = diff_abs(in_b - in_a);
	}
	fo.fill = diff_flame_fill;
	fo.note = diff_flame_note;
	fo.arg = &df;
	rc = render_flame(out, b, &fo, err);
	free(df.pairs);
	return rc;
}
