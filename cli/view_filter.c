#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "view.h"
#include "view_impl.h"

/* Modules collapse names by prefix; see view.h for the list and why. */
static const char *const view_library_prefixes[] = {
	"libc.so", "libc-2.", "ld-linux", "ld-2.", "libpthread", "libdl.so", "libdl-2.",
	"librt.so", "librt-2.", "libstdc++", "libgcc_s", "libm.so", "libm-2.", "libpython",
	NULL,
};

/* The modules a group names before giving up with ", ...". */
#define VIEW_GROUP_MODULES 3

/* The compiled --hide and --show, with a verdict per frame id. */
struct view_match {
	regex_t hide, show;
	int has_hide, has_show;
};

/* A growable array of node pointers. */
struct view_vec {
	struct view_node **v;
	size_t n, cap;
};

/* Appends a node, growing the array. */
static void view_vec_push(struct view_vec *vec, struct view_node *node)
{
	vec->v = mem_grow(vec->v, &vec->cap, vec->n + 1, sizeof(*vec->v));
	vec->v[vec->n++] = node;
}

/* Decides by the module's base name, as the daemon sends it. */
int view_is_library(const struct view_frame *f)
{
	const char *base;
	size_t digits;

	if (f->kind != VIEW_KIND_NATIVE)
		return 0;
	base = strrchr(f->module, '/');
	base = base != NULL ? base + 1 : f->module;
	if (strcmp(base, "[vdso]") == 0)
		return 1;
	for (const char *const *p = view_library_prefixes; *p != NULL; p++) {
		if (strncmp(base, *p, strlen(*p)) == 0)
			return 1;
	}
	/* The interpreter executable: python, python3, python3.11. */
	if (strncmp(base, "python", 6) != 0)
		return 0;
	digits = strspn(base + 6, "0123456789.");
	return base[6 + digits] == '\0';
}

/* Compiles one option's regex, naming the option in the error. */
static int view_regcomp(regex_t *re, const char *pattern, const char *what, struct error *err)
{
	char msg[256];
	int rc = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);

	if (rc == 0)
		return 0;
	regerror(rc, re, msg, sizeof(msg));
	error_set(err, 0, "bad %s regex '%s': %s", what, pattern, msg);
	return -1;
}

/* Compiles the regexes given; on failure nothing is left to release. */
static int view_match_init(struct view_match *m, const char *hide, const char *show,
			   struct error *err)
{
	memset(m, 0, sizeof(*m));
	if (hide != NULL) {
		if (view_regcomp(&m->hide, hide, "--hide", err) < 0)
			return -1;
		m->has_hide = 1;
	}
	if (show != NULL) {
		if (view_regcomp(&m->show, show, "--show", err) < 0) {
			if (m->has_hide)
				regfree(&m->hide);
			m->has_hide = 0;
			return -1;
		}
		m->has_show = 1;
	}
	return 0;
}

/* Frees the compiled regexes. */
static void view_match_release(struct view_match *m)
{
	if (m->has_hide)
		regfree(&m->hide);
	if (m->has_show)
		regfree(&m->show);
}

/* Whether re finds a match in the frame's name, module or file. */
static int view_match_frame(const regex_t *re, const struct view_frame *f)
{
	if (regexec(re, f->name, 0, NULL, 0) == 0)
		return 1;
	if (f->module[0] != '\0' && regexec(re, f->module, 0, NULL, 0) == 0)
		return 1;
	return f->file[0] != '\0' && regexec(re, f->file, 0, NULL, 0) == 0;
}

/*
 * One verdict per frame rather than per node: a frame shows up in many
 * nodes and regexec is the slow part.  Returns a newly allocated array by
 * frame id: bit 0 "matches --hide", bit 1 "matches --show".
 */
static unsigned char *view_match_frames(struct view *v, const struct view_match *m)
{
	unsigned char *flags = mem_calloc(v->n_frames + 1, 1);

	for (size_t i = 0; i < v->n_frames; i++) {
		const struct view_frame *f = v->frames[i];

		if (f->kind == VIEW_KIND_ROOT || f->kind == VIEW_KIND_GROUP ||
		    f->kind == VIEW_KIND_THREAD)
			continue;
		if (m->has_hide && view_match_frame(&m->hide, f))
			flags[i] |= 1;
		if (m->has_show && view_match_frame(&m->show, f))
			flags[i] |= 2;
	}
	return flags;
}

/*
 * Bottom-up: a child's subtree is cleaned first, so when the child itself
 * goes, what it hands up holds no hidden frame any more.
 */
static void view_hide_below(struct view *v, struct view_node *n, const unsigned char *flags)
{
	struct view_vec kids = { 0 };
	int changed = 0;

	for (size_t i = 0; i < n->n_children; i++) {
		struct view_node *c = n->children[i];

		view_hide_below(v, c, flags);
		if (c->frame->id < v->n_frames && flags[c->frame->id] == 1) {
			n->self += c->self;
			n->cut += c->cut;
			for (size_t j = 0; j < c->n_children; j++)
				view_vec_push(&kids, c->children[j]);
			changed = 1;
		} else {
			view_vec_push(&kids, c);
		}
	}
	if (changed) {
		view_set_children(v, n, kids.v, kids.n);
		view_merge_siblings(v, n);
	}
	free(kids.v);
}

/* Step 1 with compiled regexes; nothing to do without --hide. */
static void view_hide_with(struct view *v, const struct view_match *m)
{
	unsigned char *flags;

	if (!m->has_hide)
		return;
	flags = view_match_frames(v, m);
	view_hide_below(v, v->root, flags);
	view_sort(v->root);
	free(flags);
}

int view_hide(struct view *v, const char *hide, const char *show, struct error *err)
{
	struct view_match m;

	if (view_match_init(&m, hide, show, err) < 0)
		return -1;
	view_hide_with(v, &m);
	view_match_release(&m);
	return 0;
}

struct view_collapse {
	struct view *v;
	const unsigned char *flags;	/* from view_match_frames */
	size_t n_flags;
	double significant;		/* self at or above this stays visible */
};

/* Whether n may be part of a run: library code, not shown, not significant. */
static int view_collapsible(const struct view_collapse *c, const struct view_node *n)
{
	const struct view_frame *f = n->frame;

	if (!view_is_library(f))
		return 0;
	if (f->id < c->n_flags && (c->flags[f->id] & 2))
		return 0;
	return !(n->self > 0 && (double)n->self >= c->significant);
}

/* "libc.so.6, ld-linux-x86-64.so.2" from the run's modules in order met (newly allocated). */
static char *view_group_modules(struct view_node **members, size_t n)
{
	const char *seen[VIEW_GROUP_MODULES];
	size_t n_seen = 0, more = 0, len = 0;
	char *s;

	for (size_t i = 0; i < n; i++) {
		const char *mod = members[i]->frame->module;
		size_t j;

		for (j = 0; j < n_seen && strcmp(seen[j], mod) != 0; j++)
			;
		if (j < n_seen)
			continue;
		if (n_seen == VIEW_GROUP_MODULES) {
			more = 1;
			continue;
		}
		seen[n_seen++] = mod;
		len += strlen(mod) + 2;
	}
	s = mem_alloc(len + 6);
	s[0] = '\0';
	for (size_t j = 0; j < n_seen; j++) {
		if (j > 0)
			strcat(s, ", ");
		strcat(s, seen[j]);
	}
	if (more)
		strcat(s, ", ...");
	return s;
}

/*
 * Replaces the run that starts at head (collapsible, with a collapsible
 * child) by a group node: breadth first through collapsible children,
 * everything else met on the way is an exit and becomes the group's child.
 */
static struct view_node *view_make_group(struct view_collapse *c, struct view_node *head)
{
	struct view_vec members = { 0 }, exits = { 0 };
	struct view_frame *f = view_add_frame(c->v);
	struct view_node *g = view_add_node(c->v, f);
	char *text;

	view_vec_push(&members, head);
	for (size_t i = 0; i < members.n; i++) {
		struct view_node *m = members.v[i];

		g->self += m->self;
		g->cut += m->cut;
		for (size_t j = 0; j < m->n_children; j++) {
			if (view_collapsible(c, m->children[j]))
				view_vec_push(&members, m->children[j]);
			else
				view_vec_push(&exits, m->children[j]);
		}
	}
	g->total = head->total;
	g->hidden = (uint32_t)members.n;
	f->kind = VIEW_KIND_GROUP;
	text = mem_printf("[%zu frames hidden]", members.n);
	f->name = view_strdup(c->v, text);
	free(text);
	text = view_group_modules(members.v, members.n);
	f->module = view_strdup(c->v, text);
	free(text);
	view_set_children(c->v, g, exits.v, exits.n);
	view_merge_siblings(c->v, g);
	free(members.v);
	free(exits.v);
	return g;
}

/* Top-down, so a run is always met at its head. */
static void view_collapse_below(struct view_collapse *c, struct view_node *n)
{
	for (size_t i = 0; i < n->n_children; i++) {
		struct view_node *child = n->children[i];

		if (view_collapsible(c, child)) {
			int run = 0;

			for (size_t j = 0; j < child->n_children && !run; j++)
				run = view_collapsible(c, child->children[j]);
			if (run) {
				child = view_make_group(c, child);
				child->parent = n;
				n->children[i] = child;
			}
		}
		view_collapse_below(c, child);
	}
}

/* Step 2 with a compiled --show. */
static void view_collapse_with(struct view *v, const struct view_match *m, double min_share)
{
	struct view_collapse c = {
		.v = v,
		.flags = view_match_frames(v, m),
		.n_flags = v->n_frames,
		.significant = min_share * (double)v->root->total,
	};

	view_collapse_below(&c, v->root);
	view_sort(v->root);
	free((void *)c.flags);
}

int view_collapse(struct view *v, const char *show, double min_share, struct error *err)
{
	struct view_match m;

	if (view_match_init(&m, NULL, show, err) < 0)
		return -1;
	view_collapse_with(v, &m, min_share);
	view_match_release(&m);
	return 0;
}

/* Nodes in n's subtree, n included. */
static size_t view_subtree_size(struct view_node *n)
{
	struct view_vec stack = { 0 };
	size_t count = 0;

	view_vec_push(&stack, n);
	while (stack.n > 0) {
		struct view_node *at = stack.v[--stack.n];

		count++;
		for (size_t i = 0; i < at->n_children; i++)
			view_vec_push(&stack, at->children[i]);
	}
	free(stack.v);
	return count;
}

/* Drops n's children below threshold into n's cut, then recurses. */
static void view_prune_below(struct view *v, struct view_node *n, double threshold)
{
	size_t out = 0;

	for (size_t i = 0; i < n->n_children; i++) {
		struct view_node *c = n->children[i];

		if ((double)c->total < threshold) {
			n->cut += c->total;
			v->cut_nodes += view_subtree_size(c);
			v->cut_samples += c->total;
			continue;
		}
		n->children[out++] = c;
		view_prune_below(v, c, threshold);
	}
	n->n_children = out;
}

void view_prune(struct view *v, double min_share)
{
	if (min_share > 0)
		view_prune_below(v, v->root, min_share * (double)v->root->total);
}

int view_options_check(const struct view_options *o, struct error *err)
{
	struct view_match m;

	if (!(o->min_share >= 0 && o->min_share <= 1)) {
		error_set(err, 0, "the share to prune at must lie between 0 and 1");
		return -1;
	}
	if (view_match_init(&m, o->hide, o->show, err) < 0)
		return -1;
	view_match_release(&m);
	return 0;
}

int view_apply(struct view *v, const struct view_options *o, struct error *err)
{
	struct view_match m;

	if (view_match_init(&m, o->hide, o->show, err) < 0)
		return -1;
	view_hide_with(v, &m);
	if (o->collapse)
		view_collapse_with(v, &m, o->min_share);
	view_prune(v, o->min_share);
	view_match_release(&m);
	return 0;
}
