#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "format.h"
#include "mem.h"
#include "render_text.h"

#define RENDER_TEXT_RESET "\033[0m"
#define RENDER_TEXT_DIM "\033[2m"

/* The four pieces a tree is drawn with. */
struct render_text_art {
	const char *tee, *corner, *bar, *space;
};

static const struct render_text_art render_text_unicode = {
	"\u251c\u2500 ", "\u2514\u2500 ", "\u2502  ", "   ",
};
static const struct render_text_art render_text_ascii = { "|- ", "`- ", "|  ", "   " };

/* One level of the walk: a node, the next child to draw, its children's prefix length. */
struct render_text_at {
	const struct view_node *node;
	size_t next;
	size_t prefix_len;
};

int render_text_want_color(FILE *out, int force)
{
	const char *no_color = getenv("NO_COLOR"), *term = getenv("TERM");

	if (force != 0)
		return force > 0;
	if (no_color != NULL && no_color[0] != '\0')
		return 0;
	if (term != NULL && strcmp(term, "dumb") == 0)
		return 0;
	return isatty(fileno(out));
}

int render_text_want_unicode(void)
{
	static const char *const vars[] = { "LC_ALL", "LC_CTYPE", "LANG" };

	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *s = getenv(vars[i]);

		if (s != NULL && s[0] != '\0')
			return strcasestr(s, "utf-8") != NULL || strcasestr(s, "utf8") != NULL;
	}
	return 0;
}

/* pyinstrument's colour steps, by share of all samples. */
static const char *render_text_color(uint64_t part, uint64_t whole)
{
	double share = whole > 0 ? (double)part / (double)whole : 0.0;

	if (share >= 0.6)
		return "\033[31m";
	if (share >= 0.2)
		return "\033[33m";
	if (share >= 0.05)
		return "\033[32m";
	return "\033[2;32m";
}

/* "3.333 s" or "330 samples" worth of n, as the time column shows it. */
static void render_text_amount(FILE *out, uint64_t n, uint32_t rate_hz)
{
	if (rate_hz > 0)
		fprintf(out, "%.3f", (double)n / rate_hz);
	else
		fprintf(out, "%" PRIu64, n);
}

/*
 * The four header lines (five with a time window); the CPU share only
 * makes sense in cpu mode.
 */
static void render_text_header(FILE *out, const struct render_text_meta *m, uint64_t shown)
{
	char dur[FORMAT_BUF_SIZE], pct[FORMAT_BUF_SIZE];
	double secs = (double)(m->window != NULL ? m->window_ns : m->duration_ns) / 1e9;

	fprintf(out, "Target:    pid %d", m->pid);
	if (m->comm != NULL) {
		fputs(" (", out);
		format_put_printable(out, m->comm);
		fputc(')', out);
	}
	if (m->cmdline != NULL && m->cmdline[0] != '\0') {
		fputc(' ', out);
		format_put_printable(out, m->cmdline);
	}
	fprintf(out, "\nDuration:  %s", format_duration(dur, sizeof(dur), m->duration_ns));
	if (m->state != NULL)
		fprintf(out, ", %s", m->state);
	if (m->window != NULL)
		fprintf(out, "\nWindow:    %s", m->window);
	fprintf(out, "\nSamples:   %" PRIu64, shown);
	if (m->tid != 0)
		fprintf(out, " of thread %d (%" PRIu64 " in all)", m->tid, m->samples);
	fprintf(out, " at %u Hz", m->rate_hz);
	if (m->mode != NULL)
		fprintf(out, ", %s mode", m->mode);
	if (m->mode != NULL && strcmp(m->mode, "cpu") == 0 && m->rate_hz > 0 && secs > 0) {
		double cpu = (double)shown / m->rate_hz;

		fprintf(out, "; CPU %.3f s, %.0f%% of the %s", cpu, 100.0 * cpu / secs,
			m->window != NULL ? "window" : "duration");
	}
	fprintf(out, "\nLost:      %" PRIu64 "; truncated %" PRIu64 " (%s)\n\n", m->lost,
		m->truncated, format_percent(pct, sizeof(pct), m->truncated, m->samples));
}

/* One node's line, after its prefix and connector. */
static void render_text_line(FILE *out, const struct view_node *n, uint64_t whole,
			     const struct render_text_options *o)
{
	const struct view_frame *f = n->frame;
	int group = f->kind == VIEW_KIND_GROUP;

	if (o->color)
		fputs(render_text_color(n->total, whole), out);
	render_text_amount(out, n->total, o->rate_hz);
	fprintf(out, " %5.1f%%", whole > 0 ? 100.0 * (double)n->total / (double)whole : 0.0);
	if (o->color)
		fputs(group ? RENDER_TEXT_RESET RENDER_TEXT_DIM : RENDER_TEXT_RESET, out);
	fputs("  ", out);
	format_put_printable(out, f->name);
	if (o->color && !group)
		fputs(RENDER_TEXT_DIM, out);
	if (f->file[0] != '\0') {
		fputs("  ", out);
		format_put_printable(out, f->file);
		if (f->line != 0)
			fprintf(out, ":%u", f->line);
	} else if (f->module[0] != '\0' && f->function[0] != '\0' && !group) {
		fputs("  [", out);
		format_put_printable(out, f->module);
		fputc(']', out);
	} else if (group) {
		fputs("  ", out);
		format_put_printable(out, f->module);
	}
	if (o->color)
		fputs(RENDER_TEXT_RESET, out);
	fputc('\n', out);
}

/* What the tree does not show, said once at the end. */
static void render_text_footer(FILE *out, const struct view *v, const struct render_text_options *o)
{
	const struct view_node *root = view_root(v);
	char pct[FORMAT_BUF_SIZE];

	if (view_cut_nodes(v) > 0) {
		fprintf(out, "\n%zu node%s below %.4g%% not shown (%s of samples); "
			"--min-percent 0 or --show-all shows them\n", view_cut_nodes(v),
			view_cut_nodes(v) == 1 ? "" : "s", o->min_share * 100.0,
			format_percent(pct, sizeof(pct), view_cut_samples(v), view_total(v)));
	}
	if (root->self > 0) {
		fprintf(out, "%s%" PRIu64 " sample%s (%s) not under any frame shown\n",
			view_cut_nodes(v) > 0 ? "" : "\n", root->self, root->self == 1 ? "" : "s",
			format_percent(pct, sizeof(pct), root->self, view_total(v)));
	}
}

/*
 * Depth first with an explicit stack, so depth costs no C stack.  One
 * prefix buffer serves every line: a node's children's prefix is its own
 * plus a bar or blank, written past its parent's part, which stays intact
 * for the later siblings.
 */
int render_text(FILE *out, const struct view *v, const struct render_text_meta *meta,
		const struct render_text_options *o, struct error *err)
{
	const struct render_text_art *art = o->unicode ? &render_text_unicode : &render_text_ascii;
	const struct view_node *root = view_root(v);
	struct render_text_at *stack = NULL;
	size_t depth = 0, cap = 0, pcap = 0;
	char *prefix = NULL;

	if (meta != NULL)
		render_text_header(out, meta, view_total(v));
	if (view_total(v) == 0)
		fputs("no samples yet\n", out);
	stack = mem_grow(stack, &cap, 1, sizeof(*stack));
	stack[depth++] = (struct render_text_at){ root, 0, 0 };
	while (depth > 0) {
		struct render_text_at *at = &stack[depth - 1];
		const struct view_node *c;
		size_t plen = at->prefix_len, clen = 0;
		int last;

		if (at->next == at->node->n_children) {
			depth--;
			continue;
		}
		c = at->node->children[at->next++];
		last = at->next == at->node->n_children;
		if (at->node != root) {
			const char *conn = last ? art->corner : art->tee;
			const char *cont = last ? art->space : art->bar;

			if (plen > 0)
				fwrite(prefix, 1, plen, out);
			fputs(conn, out);
			clen = plen + strlen(cont);
			prefix = mem_grow(prefix, &pcap, clen + 1, 1);
			memcpy(prefix + plen, cont, strlen(cont));
		}
		render_text_line(out, c, view_total(v), o);
		stack = mem_grow(stack, &cap, depth + 1, sizeof(*stack));
		stack[depth++] = (struct render_text_at){ c, 0, clen };
	}
	render_text_footer(out, v, o);
	free(stack);
	free(prefix);
	if (fflush(out) != 0 || ferror(out)) {
		error_set(err, errno, "writing the tree");
		return -1;
	}
	return 0;
}
