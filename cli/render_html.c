/*
 * The call tree as one self-contained HTML page.  The page itself (markup,
 * style sheet, script) lives in cli/html/ and is compiled in by
 * cli/html/embed.sh; this file fills the template's markers: the title,
 * the style sheet, the script, and the data, which is the view as JSON.
 *
 * The data is one object, written compactly because a page may carry a
 * hundred thousand nodes:
 *
 *   {"format":"sampled-tree","version":1,
 *    "meta":{"pid":..,"comm":"..","cmdline":"..","mode":"..","rate_hz":..,
 *            "samples":..,"duration_ns":..,"started_unix_ms":..,
 *            "per_thread":bool,"collapsed":bool,"cut_nodes":..,
 *            "cut_samples":..,"generator":"samplectl"},
 *    "kinds":["native","python","kernel","unknown","thread","group"],
 *    "strings":["", ...],
 *    "frames":[name,module,file,line,kind,flags, ...],
 *    "nodes":[parent,frame,self,total, ...]}
 *
 * frames holds six numbers per frame id: string indexes for name, module
 * and file, the line (0 unknown), an index into kinds, and flags (bit 0:
 * system-library code that the page may fold, view_is_library; bit 1 is
 * reserved for frames the page must never fold, unused so far).  nodes
 * holds four numbers per node in preorder, children in display order:
 * the parent's index (-1 for node 0, the invisible root), the frame id
 * (-1 for the root), self and total samples.  A node's cut is what is left
 * of its total after its self and its children.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "html/assets.h"
#include "mem.h"
#include "render_html.h"

/* The slots of the string table's hash; a power of two. */
#define RENDER_HTML_MIN_SLOTS 1024

/* Strings deduplicated into the table the page indexes. */
struct render_html_strings {
	const char **list;		/* by index */
	size_t n, cap;
	uint32_t *slots;		/* index + 1, 0 for empty */
	size_t n_slots;
};

/* A node waiting in the preorder walk with its parent's index. */
struct render_html_item {
	const struct view_node *node;
	long parent;
};

/* FNV-1a: short strings, no adversary worth more. */
static uint32_t render_html_hash(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Puts s in the slot its hash probes to first, for a table known not to hold it. */
static void render_html_strings_slot(struct render_html_strings *t, size_t index)
{
	size_t mask = t->n_slots - 1, i = render_html_hash(t->list[index]) & mask;

	while (t->slots[i] != 0)
		i = (i + 1) & mask;
	t->slots[i] = (uint32_t)index + 1;
}

/* The index of s in the table, adding it when new; the table keeps the pointer, not a copy. */
static uint32_t render_html_strings_add(struct render_html_strings *t, const char *s)
{
	size_t mask, i;

	if (s == NULL)
		s = "";
	if (2 * (t->n + 1) > t->n_slots) {
		free(t->slots);
		t->n_slots = t->n_slots ? 2 * t->n_slots : RENDER_HTML_MIN_SLOTS;
		t->slots = mem_calloc(t->n_slots, sizeof(*t->slots));
		for (size_t k = 0; k < t->n; k++)
			render_html_strings_slot(t, k);
	}
	mask = t->n_slots - 1;
	for (i = render_html_hash(s) & mask; t->slots[i] != 0; i = (i + 1) & mask) {
		if (strcmp(t->list[t->slots[i] - 1], s) == 0)
			return t->slots[i] - 1;
	}
	t->list = mem_grow(t->list, &t->cap, t->n + 1, sizeof(*t->list));
	t->list[t->n] = s;
	t->slots[i] = (uint32_t)t->n + 1;
	return (uint32_t)t->n++;
}

/*
 * Writes s as a quoted JSON string that may sit inside a <script> element:
 * besides what JSON needs, '<', '>' and '&' are escaped so that no name
 * ("</script>", "<!--") can end the element or change how it is parsed,
 * and U+2028/U+2029 too for any reader that takes the data for script.
 * Names are arbitrary bytes: what is not valid UTF-8 becomes U+FFFD.
 */
static void render_html_json_string(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str != NULL ? str : "");

	putc('"', out);
	while (*s != '\0') {
		int len = (int)format_utf8_len(s);

		if (len == 0) {
			fputs("\\ufffd", out);
			s++;
			continue;
		}
		if (len == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9))
			fprintf(out, "\\u%04x", s[2] == 0xa8 ? 0x2028 : 0x2029);
		else if (len > 1)
			fwrite(s, 1, (size_t)len, out);
		else if (*s < 0x20 || *s == 0x7f || *s == '"' || *s == '\\' || *s == '<' || *s == '>' ||
			 *s == '&')
			fprintf(out, "\\u%04x", *s);
		else
			putc(*s, out);
		s += len;
	}
	putc('"', out);
}

/* Writes s as HTML text (for the title): markup escaped, control bytes and bad UTF-8 dropped. */
static void render_html_text(FILE *out, const char *str)
{
	const unsigned char *s = (const unsigned char *)(str != NULL ? str : "");

	while (*s != '\0') {
		int len = (int)format_utf8_len(s);

		if (len == 0 || (len == 1 && (*s < 0x20 || *s == 0x7f))) {
			s++;
			continue;
		}
		if (len > 1)
			fwrite(s, 1, (size_t)len, out);
		else if (*s == '<')
			fputs("&lt;", out);
		else if (*s == '>')
			fputs("&gt;", out);
		else if (*s == '&')
			fputs("&amp;", out);
		else if (*s == '"')
			fputs("&quot;", out);
		else
			putc(*s, out);
		s += len;
	}
}

/* The index of a kind in the data's "kinds" list; the page knows kinds by name only. */
static int render_html_kind(enum view_kind k)
{
	switch (k) {
	case VIEW_KIND_NATIVE:
		return 0;
	case VIEW_KIND_PYTHON:
		return 1;
	case VIEW_KIND_KERNEL:
		return 2;
	case VIEW_KIND_THREAD:
		return 4;
	case VIEW_KIND_GROUP:
		return 5;
	case VIEW_KIND_UNKNOWN:
	case VIEW_KIND_ROOT:
		break;
	}
	return 3;
}

/* Whether the caller folded library runs already (the page then cannot unfold them). */
static int render_html_collapsed(const struct view *v)
{
	size_t n = view_frame_count(v);

	for (size_t i = 0; i < n; i++) {
		if (view_frame_at(v, i)->kind == VIEW_KIND_GROUP)
			return 1;
	}
	return 0;
}

/* "meta": what the header shows. */
static void render_html_meta_json(FILE *out, const struct view *v, const struct render_html_meta *m)
{
	fprintf(out, "\"meta\":{\"pid\":%d,\"comm\":", m->pid);
	render_html_json_string(out, m->comm);
	fputs(",\"cmdline\":", out);
	render_html_json_string(out, m->cmdline);
	fputs(",\"mode\":", out);
	render_html_json_string(out, m->mode);
	fprintf(out, ",\"rate_hz\":%" PRIu32 ",\"samples\":%" PRIu64 ",\"duration_ns\":%" PRIu64,
		m->rate_hz, m->samples, m->duration_ns);
	if (m->date_unix_ns != 0)
		fprintf(out, ",\"started_unix_ms\":%" PRIu64, m->date_unix_ns / 1000000u);
	fprintf(out, ",\"per_thread\":%s,\"collapsed\":%s,\"cut_nodes\":%zu,\"cut_samples\":%" PRIu64
		",\"generator\":\"samplectl\"}", view_per_thread(v) ? "true" : "false",
		render_html_collapsed(v) ? "true" : "false", view_cut_nodes(v), view_cut_samples(v));
}

/* "strings" and "frames": every frame id of the view, strings shared. */
static void render_html_frames_json(FILE *out, const struct view *v)
{
	struct render_html_strings t = { 0 };
	size_t n = view_frame_count(v);
	uint32_t *idx = mem_calloc(n ? 3 * n : 1, sizeof(*idx));

	render_html_strings_add(&t, "");
	for (size_t i = 0; i < n; i++) {
		const struct view_frame *f = view_frame_at(v, i);

		idx[3 * i] = render_html_strings_add(&t, f->name);
		idx[3 * i + 1] = render_html_strings_add(&t, f->module);
		idx[3 * i + 2] = render_html_strings_add(&t, f->file);
	}
	fputs(",\"strings\":[", out);
	for (size_t i = 0; i < t.n; i++) {
		if (i > 0)
			putc(',', out);
		render_html_json_string(out, t.list[i]);
	}
	fputs("],\"frames\":[", out);
	for (size_t i = 0; i < n; i++) {
		const struct view_frame *f = view_frame_at(v, i);

		fprintf(out, "%s%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%" PRIu32 ",%d,%d", i ? "," : "",
			idx[3 * i], idx[3 * i + 1], idx[3 * i + 2], f->line, render_html_kind(f->kind),
			view_is_library(f) ? 1 : 0);
	}
	putc(']', out);
	free(idx);
	free(t.list);
	free(t.slots);
}

/*
 * "nodes": preorder with an explicit stack (trees may be thousands of
 * levels deep); children are pushed last first so they come out in the
 * view's order, and each node's index is its position in the output.
 */
static void render_html_nodes_json(FILE *out, const struct view *v)
{
	size_t cap = view_node_count(v) + 1, n = 0;
	struct render_html_item *stack = mem_calloc(cap, sizeof(*stack));
	long next = 0;

	stack[n++] = (struct render_html_item){ view_root(v), -1 };
	fputs(",\"nodes\":[", out);
	while (n > 0) {
		struct render_html_item it = stack[--n];
		const struct view_node *node = it.node;
		long frame = it.parent < 0 ? -1 : (long)node->frame->id;

		fprintf(out, "%s%ld,%ld,%" PRIu64 ",%" PRIu64, next ? "," : "", it.parent, frame,
			node->self, node->total);
		if (n + node->n_children > cap) {
			cap = n + node->n_children;
			stack = mem_realloc(stack, cap * sizeof(*stack));
		}
		for (size_t i = node->n_children; i-- > 0;)
			stack[n++] = (struct render_html_item){ node->children[i], next };
		next++;
	}
	putc(']', out);
	free(stack);
}

/* Writes what a template marker stands for; 0 when the name is not a marker. */
static int render_html_marker(FILE *out, const char *name, size_t len, const struct view *v,
			      const struct render_html_meta *m)
{
	if (len == 5 && memcmp(name, "TITLE", 5) == 0) {
		render_html_text(out, m->comm != NULL && m->comm[0] != '\0' ? m->comm : "call tree");
		if (m->pid > 0)
			fprintf(out, " [%d]", m->pid);
		fputs(" \xe2\x80\x94 sampled", out);
	} else if (len == 5 && memcmp(name, "STYLE", 5) == 0) {
		fputs(render_html_style_css, out);
	} else if (len == 6 && memcmp(name, "SCRIPT", 6) == 0) {
		fputs(render_html_app_js, out);
	} else if (len == 4 && memcmp(name, "DATA", 4) == 0) {
		fputs("{\"format\":\"sampled-tree\",\"version\":1,", out);
		render_html_meta_json(out, v, m);
		fputs(",\"kinds\":[\"native\",\"python\",\"kernel\",\"unknown\",\"thread\",\"group\"]", out);
		render_html_frames_json(out, v);
		render_html_nodes_json(out, v);
		putc('}', out);
	} else {
		return 0;
	}
	return 1;
}

int render_html(FILE *out, const struct view *v, const struct render_html_meta *meta,
		struct error *err)
{
	static const struct render_html_meta none = { 0 };
	const char *p = render_html_template;
	int e = 0;

	if (meta == NULL)
		meta = &none;
	/* Copy the template, replacing @@NAME@@ markers; anything else passes through. */
	while (*p != '\0') {
		const char *at = strstr(p, "@@"), *end;

		if (at == NULL) {
			fputs(p, out);
			break;
		}
		fwrite(p, 1, (size_t)(at - p), out);
		end = at + 2;
		while (*end >= 'A' && *end <= 'Z')
			end++;
		if (end[0] == '@' && end[1] == '@' &&
		    render_html_marker(out, at + 2, (size_t)(end - at - 2), v, meta)) {
			p = end + 2;
		} else {
			fputs("@@", out);
			p = at + 2;
		}
	}
	if (fflush(out) != 0)
		e = errno;
	if (e != 0 || ferror(out)) {
		error_set(err, e ? e : EIO, "writing the HTML page");
		return -1;
	}
	return 0;
}
