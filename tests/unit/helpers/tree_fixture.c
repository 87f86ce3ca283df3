#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tree_fixture.h"

/* A node of the tree being built, before it is emitted in preorder. */
struct fx_node {
	uint32_t frame;
	uint64_t self, total;
	size_t first, last, next;	/* children list, as node index + 1; 0 = none */
};

/* The message being built and its nodes. */
struct fx {
	Sampled__Tree *t;
	struct fx_node *nodes;		/* nodes[0] is the invisible root */
	size_t n_nodes, cap_nodes;
};

/* The index of string s (len bytes) in the message, added when new. */
static uint32_t fx_string(Sampled__Tree *t, const char *s, size_t len)
{
	for (size_t i = 0; i < t->n_strings; i++) {
		if (strlen(t->strings[i]) == len && strncmp(t->strings[i], s, len) == 0)
			return (uint32_t)i;
	}
	t->strings = realloc(t->strings, (t->n_strings + 1) * sizeof(*t->strings));
	t->strings[t->n_strings] = strndup(s, len);
	return (uint32_t)t->n_strings++;
}

/* The frame id of one spec ("py:f@mod@file.py:3"), added when new. */
static uint32_t fx_frame(Sampled__Tree *t, const char *spec, size_t len)
{
	Sampled__Frame f;
	const char *at, *end = spec + len, *mod = NULL, *file = NULL;
	size_t name_len;

	sampled__frame__init(&f);
	if (len > 3 && strncmp(spec, "py:", 3) == 0)
		f.kind = SAMPLED__FRAME_KIND__FRAME_PYTHON, spec += 3;
	else if (len > 2 && strncmp(spec, "k:", 2) == 0)
		f.kind = SAMPLED__FRAME_KIND__FRAME_KERNEL, spec += 2;
	else if (len > 2 && strncmp(spec, "t:", 2) == 0)
		f.kind = SAMPLED__FRAME_KIND__FRAME_THREAD, spec += 2;
	else if (len > 2 && strncmp(spec, "u:", 2) == 0)
		f.kind = SAMPLED__FRAME_KIND__FRAME_UNKNOWN, spec += 2;
	at = memchr(spec, '@', (size_t)(end - spec));
	name_len = at != NULL ? (size_t)(at - spec) : (size_t)(end - spec);
	if (at != NULL) {
		mod = at + 1;
		file = memchr(mod, '@', (size_t)(end - mod));
	}
	if (name_len > 3 && strncmp(spec, "+0x", 3) == 0) {
		f.offset = strtoull(spec + 3, NULL, 16);
		f.function = fx_string(t, "", 0);
	} else {
		f.function = fx_string(t, spec, name_len);
	}
	f.module = mod != NULL ? fx_string(t, mod, (size_t)((file != NULL ? file : end) - mod))
			       : fx_string(t, "", 0);
	f.file = fx_string(t, "", 0);
	if (file != NULL) {
		const char *colon = memchr(file + 1, ':', (size_t)(end - file - 1));

		f.file = fx_string(t, file + 1, (size_t)((colon != NULL ? colon : end) - file - 1));
		f.line = colon != NULL ? (uint32_t)strtoul(colon + 1, NULL, 10) : 0;
	}
	for (size_t i = 0; i < t->n_frames; i++) {
		const Sampled__Frame *g = t->frames[i];

		if (g->function == f.function && g->module == f.module && g->file == f.file &&
		    g->line == f.line && g->kind == f.kind && g->offset == f.offset)
			return (uint32_t)i;
	}
	t->frames = realloc(t->frames, (t->n_frames + 1) * sizeof(*t->frames));
	t->frames[t->n_frames] = malloc(sizeof(f));
	*t->frames[t->n_frames] = f;
	return (uint32_t)t->n_frames++;
}

/* The child of node p with frame id, made when missing; returns its index. */
static size_t fx_child(struct fx *x, size_t p, uint32_t frame)
{
	size_t c;

	for (c = x->nodes[p].first; c != 0; c = x->nodes[c - 1].next) {
		if (x->nodes[c - 1].frame == frame)
			return c - 1;
	}
	if (x->n_nodes == x->cap_nodes) {
		x->cap_nodes = x->cap_nodes ? 2 * x->cap_nodes : 64;
		x->nodes = realloc(x->nodes, x->cap_nodes * sizeof(*x->nodes));
	}
	c = x->n_nodes++;
	memset(&x->nodes[c], 0, sizeof(x->nodes[c]));
	x->nodes[c].frame = frame;
	if (x->nodes[p].last != 0)
		x->nodes[x->nodes[p].last - 1].next = c + 1;
	else
		x->nodes[p].first = c + 1;
	x->nodes[p].last = c + 1;
	return c;
}

/* Appends node i's subtree to the message in preorder. */
static void fx_emit(struct fx *x, size_t i, uint32_t parent)
{
	Sampled__Tree *t = x->t;
	uint32_t me = parent;

	if (i != 0) {
		Sampled__Node *n = malloc(sizeof(*n));

		sampled__node__init(n);
		n->parent = parent;
		n->frame = x->nodes[i].frame;
		n->self = x->nodes[i].self;
		n->total = x->nodes[i].total;
		t->nodes = realloc(t->nodes, (t->n_nodes + 1) * sizeof(*t->nodes));
		t->nodes[t->n_nodes++] = n;
		me = (uint32_t)t->n_nodes;
	}
	for (size_t c = x->nodes[i].first; c != 0; c = x->nodes[c - 1].next)
		fx_emit(x, c - 1, me);
}

/* View, render and export tests read trees the daemon never made: written by hand, as text. */
Sampled__Tree *fx_tree(const char *folded, uint64_t extra, int per_thread)
{
	struct fx x = { 0 };
	const char *line = folded;

	x.t = calloc(1, sizeof(*x.t));
	sampled__tree__init(x.t);
	fx_string(x.t, "", 0);
	x.cap_nodes = 64;
	x.nodes = calloc(x.cap_nodes, sizeof(*x.nodes));
	x.n_nodes = 1;		/* the root */
	while (*line != '\0') {
		const char *eol = strchr(line, '\n'), *sp, *p;
		uint64_t count;
		size_t at = 0;

		eol = eol != NULL ? eol : line + strlen(line);
		sp = line;
		for (p = line; p < eol; p++) {
			if (*p == ' ')
				sp = p;
		}
		count = strtoull(sp + 1, NULL, 10);
		x.nodes[0].total += count;
		for (p = line; p < sp;) {
			const char *semi = memchr(p, ';', (size_t)(sp - p));
			const char *stop = semi != NULL ? semi : sp;

			at = fx_child(&x, at, fx_frame(x.t, p, (size_t)(stop - p)));
			x.nodes[at].total += count;
			p = stop + 1;
		}
		x.nodes[at].self += count;
		line = *eol != '\0' ? eol + 1 : eol;
	}
	x.t->total_samples = x.nodes[0].total + extra;
	x.t->per_thread = per_thread != 0;
	fx_emit(&x, 0, 0);
	free(x.nodes);
	return x.t;
}

/* The message is plain calloc, not protobuf-c's unpacked form: it is freed by hand. */
void fx_tree_free(Sampled__Tree *t)
{
	for (size_t i = 0; i < t->n_strings; i++)
		free(t->strings[i]);
	for (size_t i = 0; i < t->n_frames; i++)
		free(t->frames[i]);
	for (size_t i = 0; i < t->n_nodes; i++)
		free(t->nodes[i]);
	free(t->strings);
	free(t->frames);
	free(t->nodes);
	free(t);
}
