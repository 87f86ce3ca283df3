#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "mem.h"
#include "render_flame.h"

#define RENDER_FLAME_WIDTH 1200u
#define RENDER_FLAME_MIN_WIDTH 0.1
#define RENDER_FLAME_PAD 10.0		/* left and right margins */
#define RENDER_FLAME_TOP 34.0		/* room for the title */
#define RENDER_FLAME_BOTTOM 10.0
#define RENDER_FLAME_BAR 16.0		/* bar height, gap included */
#define RENDER_FLAME_FONT 12.0
/* Monospace glyphs are about this wide relative to the font size. */
#define RENDER_FLAME_GLYPH 0.6

struct render_flame_at {
	const struct view_node *node;
	size_t next;
	double x;		/* where the next child starts */
	unsigned level;
};

/* The layout shared by the two passes. */
struct render_flame {
	FILE *out;
	double scale;		/* pixels per sample */
	double min_width;
	double height;
	int icicle;
	uint64_t whole;
	uint32_t rate_hz;
	const struct render_flame_options *o;	/* for the fill and note hooks */
};

/* A tooltip's closing note from the hook is this long at most. */
#define RENDER_FLAME_NOTE 256

/*
 * Writes at most max characters of s (max < 0: all) escaped for XML text
 * and attributes.  Invalid UTF-8 and the control bytes XML 1.0 forbids
 * become U+FFFD, or the file would not parse.
 */
static void render_flame_put(FILE *out, const char *str, long max)
{
	const unsigned char *s = (const unsigned char *)str;

	for (; *s != '\0' && max != 0; max--) {
		int len = (int)format_utf8_len(s);

		if (len == 0 || (len == 1 && (*s < 0x20 || *s == 0x7f))) {
			fputs("\xef\xbf\xbd", out);
			s++;
			continue;
		}
		if (*s == '<')
			fputs("&lt;", out);
		else if (*s == '>')
			fputs("&gt;", out);
		else if (*s == '&')
			fputs("&amp;", out);
		else if (*s == '"')
			fputs("&quot;", out);
		else
			fwrite(s, 1, (size_t)len, out);
		s += len;
	}
}

/* Characters (not bytes) in s; invalid bytes count one each, as they print. */
static long render_flame_chars(const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	long n = 0;

	while (*s != '\0') {
		int len = (int)format_utf8_len(s);

		s += len > 0 ? len : 1;
		n++;
	}
	return n;
}

/* FNV-1a: stable across runs, so a function keeps its colour. */
static uint32_t render_flame_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* A fill colour by kind, varied by a hash of the name. */
static void render_flame_color(FILE *out, const struct view_frame *f)
{
	uint32_t h = render_flame_hash(f->name);
	unsigned a = h % 64, b = (h >> 8) % 64;

	switch (f->kind) {
	case VIEW_KIND_PYTHON:
		fprintf(out, "rgb(%u,%u,%u)", 80 + a, 180 + b / 2, 70 + b);
		break;
	case VIEW_KIND_KERNEL:
		fprintf(out, "rgb(%u,%u,%u)", 220 + a / 2, 120 + b, 40);
		break;
	case VIEW_KIND_THREAD:
	case VIEW_KIND_ROOT:
		fprintf(out, "rgb(%u,%u,%u)", 110 + a / 2, 150 + b / 2, 220);
		break;
	case VIEW_KIND_GROUP:
	case VIEW_KIND_UNKNOWN:
		fprintf(out, "rgb(%u,%u,%u)", 170 + a / 2, 170 + a / 2, 170 + a / 2);
		break;
	default:
		fprintf(out, "rgb(%u,%u,%u)", 200 + a * 55 / 64, 60 + (h >> 16) % 160, 40 + b / 2);
		break;
	}
}

/* One bar: its tooltip, its rectangle and the label that fits. */
static void render_flame_bar(const struct render_flame *fl, const struct view_node *n, double x,
			     double w, unsigned level)
{
	const struct view_frame *f = n->frame;
	double y = fl->icicle ? RENDER_FLAME_TOP + level * RENDER_FLAME_BAR
			      : fl->height - RENDER_FLAME_BOTTOM - (level + 1) * RENDER_FLAME_BAR;
	long fit = (long)((w - 6.0) / (RENDER_FLAME_FONT * RENDER_FLAME_GLYPH));
	const char *name = f->kind == VIEW_KIND_ROOT ? "all" : f->name;
	FILE *out = fl->out;

	fputs("<g><title>", out);
	render_flame_put(out, name, -1);
	if (f->file[0] != '\0') {
		fputs(" (", out);
		render_flame_put(out, f->file, -1);
		if (f->line != 0)
			fprintf(out, ":%u", f->line);
		fputc(')', out);
	} else if (f->module[0] != '\0' && (f->function[0] != '\0' || f->kind == VIEW_KIND_GROUP)) {
		fputs(" (", out);
		render_flame_put(out, f->module, -1);
		fputc(')', out);
	}
	fprintf(out, ": %" PRIu64 " sample%s, %.2f%%", n->total, n->total == 1 ? "" : "s",
		fl->whole > 0 ? 100.0 * (double)n->total / (double)fl->whole : 0.0);
	if (fl->rate_hz > 0)
		fprintf(out, ", %.3f s", (double)n->total / fl->rate_hz);
	if (fl->o->note != NULL) {
		char note[RENDER_FLAME_NOTE] = "";

		fl->o->note(n, fl->o->arg, note, sizeof(note));
		fputs("; ", out);
		render_flame_put(out, note, -1);
	}
	fprintf(out, "</title><rect x=\"%.2f\" y=\"%.1f\" width=\"%.2f\" height=\"%.1f\" fill=\"",
		x, y, w, RENDER_FLAME_BAR - 1.0);
	if (fl->o->fill != NULL) {
		uint32_t rgb = fl->o->fill(n, fl->o->arg);

		fprintf(out, "rgb(%u,%u,%u)", rgb >> 16 & 0xff, rgb >> 8 & 0xff, rgb & 0xff);
	} else {
		render_flame_color(out, f);
	}
	fputs("\"/>", out);
	if (fit >= 3) {
		long len = render_flame_chars(name);

		fprintf(out, "<text x=\"%.2f\" y=\"%.1f\">", x + 3.0, y + RENDER_FLAME_BAR - 4.5);
		if (len <= fit) {
			render_flame_put(out, name, -1);
		} else {
			render_flame_put(out, name, fit - 2);
			fputs("..", out);
		}
		fputs("</text>", out);
	}
	fputs("</g>\n", out);
}

/*
 * Depth first from the root; a bar's children start at its left edge and
 * follow each other.  With draw unset it only measures: the deepest level
 * drawn, which the SVG's height depends on.
 */
static unsigned render_flame_walk(const struct render_flame *fl, const struct view_node *root,
				  int draw)
{
	struct render_flame_at *stack = NULL;
	size_t depth = 0, cap = 0;
	unsigned deepest = 0;

	stack = mem_grow(stack, &cap, 1, sizeof(*stack));
	stack[depth++] = (struct render_flame_at){ root, 0, RENDER_FLAME_PAD, 0 };
	if (draw)
		render_flame_bar(fl, root, RENDER_FLAME_PAD, (double)root->total * fl->scale, 0);
	while (depth > 0) {
		struct render_flame_at *at = &stack[depth - 1];
		const struct view_node *c;
		double x, w;
		unsigned level;

		if (at->next == at->node->n_children) {
			depth--;
			continue;
		}
		c = at->node->children[at->next++];
		x = at->x;
		w = (double)c->total * fl->scale;
		at->x += w;
		if (w < fl->min_width)
			continue;
		level = at->level + 1;
		deepest = level > deepest ? level : deepest;
		if (draw)
			render_flame_bar(fl, c, x, w, level);
		stack = mem_grow(stack, &cap, depth + 1, sizeof(*stack));
		stack[depth++] = (struct render_flame_at){ c, 0, x, level };
	}
	free(stack);
	return deepest;
}

/* Measures the depth first, since the height comes before any bar. */
int render_flame(FILE *out, const struct view *v, const struct render_flame_options *o,
		 struct error *err)
{
	const struct view_node *root = view_root(v);
	unsigned width = o->width > 0 ? o->width : RENDER_FLAME_WIDTH;
	struct render_flame fl = {
		.out = out,
		.min_width = o->min_width > 0 ? o->min_width : RENDER_FLAME_MIN_WIDTH,
		.icicle = o->icicle,
		.whole = view_total(v),
		.rate_hz = o->rate_hz,
		.o = o,
	};
	unsigned levels;

	fl.scale = root->total > 0 ? (width - 2 * RENDER_FLAME_PAD) / (double)root->total : 0.0;
	levels = root->total > 0 ? render_flame_walk(&fl, root, 0) + 1 : 0;
	fl.height = RENDER_FLAME_TOP + levels * RENDER_FLAME_BAR + RENDER_FLAME_BOTTOM;
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		"<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" width=\"%u\" "
		"height=\"%.0f\" viewBox=\"0 0 %u %.0f\">\n", width, fl.height, width, fl.height);
	fputs("<style>text { font-family: monospace; font-size: 12px; fill: #000; "
	      "pointer-events: none; } g:hover rect { stroke: #000; stroke-width: 0.5; } "
	      ".title { font-size: 16px; text-anchor: middle; }</style>\n", out);
	fprintf(out, "<rect x=\"0\" y=\"0\" width=\"%u\" height=\"%.0f\" fill=\"#f8f8f4\"/>\n",
		width, fl.height);
	fprintf(out, "<text class=\"title\" x=\"%.1f\" y=\"22\">", width / 2.0);
	render_flame_put(out, o->title != NULL ? o->title : "Flame graph", -1);
	fputs(root->total == 0 ? " (no samples)</text>\n" : "</text>\n", out);
	if (root->total > 0)
		render_flame_walk(&fl, root, 1);
	fputs("</svg>\n", out);
	if (fflush(out) != 0 || ferror(out)) {
		error_set(err, errno, "writing the flame graph");
		return -1;
	}
	return 0;
}
