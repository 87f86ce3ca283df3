#ifndef SAMPLED_VIEW_H
#define SAMPLED_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sampled.pb-c.h"

/*
 * The call tree as samplectl presents it: the daemon's Sampled__Tree
 * decoded into an owned, navigable structure (nodes with parent and
 * children pointers, frame names resolved), plus the transforms every
 * renderer shares.  The renderers (render_text, render_flat, render_html,
 * render_flame) and the exporters (export_speedscope, export_pprof) read a
 * view; none of them look at the wire message.
 *
 * Shape.  A view has one invisible root (kind VIEW_KIND_ROOT) whose
 * children are the top-level nodes: the outermost frames of the merged
 * tree, or one VIEW_KIND_THREAD node per thread when the request asked for
 * per-thread trees (TreeRequest.per_thread).  root->total is
 * Tree.total_samples; root->self counts the samples no top-level node holds
 * (empty stacks in a merged tree).  Children are sorted by total, largest
 * first, ties broken by name, module, file, line, kind and offset, so every
 * output is deterministic.
 *
 * Counts.  For every node, at every step of the pipeline:
 *
 *     total == self + cut + sum of the children's totals
 *
 * self is the samples whose innermost shown frame is this node; cut is the
 * samples of child subtrees that view_prune left out for being below the
 * threshold (they are not moved into self, which would show time spent in
 * the callees as the node's own).  Renderers show a node's total as its
 * time, so nothing the threshold hides makes any shown number wrong; they
 * may mention view_cut_nodes()/view_cut_samples().  A tree the daemon
 * itself pruned (TreeRequest.min_share > 0) decodes the same way: what it
 * left out becomes cut.
 *
 * The pipeline, in this fixed order (view_apply), like pyinstrument's
 * processors:
 *   1. view_hide: --hide/--show.  A frame is hidden when its function
 *      (display name), module or source file matches the --hide regex and
 *      none of them matches the --show regex: --show wins over --hide, as in
 *      pyinstrument, and also keeps frames out of step 2.  A hidden frame is
 *      removed: its self goes to its nearest shown ancestor (the root when
 *      there is none), its children are re-parented there, and siblings
 *      that become equal (same frame) are merged, their counts summed and
 *      their children merged recursively.  Thread roots are never hidden.
 *   2. view_collapse: runs of system-library frames (view_is_library:
 *      libc, ld-linux, libpthread, libdl, librt, libstdc++, libgcc_s, libm,
 *      [vdso], and the native frames of libpython or the python3.x
 *      executable) collapse into one VIEW_KIND_GROUP node named "[N frames
 *      hidden]" whose module lists the libraries ("libc.so.6,
 *      ld-linux-x86-64.so.2").  A run is a connected set of library frames
 *      hanging from one head; it collapses only when it holds at least two
 *      frames (one library frame between two application frames stays, as
 *      in pyinstrument).  A library frame whose own self time is
 *      significant (self > 0 and self >= min_share of all samples) or that
 *      matches --show is not part of any run: it stays visible.  The group
 *      takes the head's total, the run's summed self and cut, and as
 *      children the frames where the run exits back into other code,
 *      equal ones merged.
 *   3. view_prune: nodes whose total is below min_share of all samples are
 *      left out with their subtree; their total is added to the parent's
 *      cut.
 * --show-all means: no collapse, min_share 0.  The per-thread/merged choice
 * and the tid filter happen in the daemon, before all this.
 *
 * Limits: trees deeper than VIEW_MAX_DEPTH are refused as malformed (the
 * daemon sends at most about 1030 levels); the transforms recurse by depth.
 */

#define VIEW_MAX_DEPTH 8192

enum view_kind {
	VIEW_KIND_NATIVE,
	VIEW_KIND_PYTHON,
	VIEW_KIND_KERNEL,
	VIEW_KIND_UNKNOWN,	/* [unknown], [truncated] and frames without a module */
	VIEW_KIND_THREAD,	/* a thread's root in a per-thread tree */
	VIEW_KIND_GROUP,	/* synthetic: a collapsed run of library frames */
	VIEW_KIND_ROOT,		/* synthetic: the invisible root */
};

/* A frame, owned by the view.  Strings are never NULL (empty when unknown). */
struct view_frame {
	const char *name;	/* function, else "module+0xoffset"; groups: "[N frames hidden]" */
	const char *function;	/* "" when the function is unknown */
	const char *module;	/* "libc.so.6"; groups: the libraries of the run */
	const char *file;	/* source file, "" when unknown */
	uint32_t line;		/* 0 when unknown */
	uint64_t offset;	/* module-relative address when the function is unknown */
	enum view_kind kind;
	uint32_t id;		/* index of this frame in view_frame_at() */
};

/* A node of the tree, owned by the view; see "Counts" above. */
struct view_node {
	const struct view_frame *frame;
	struct view_node *parent;	/* NULL for the root */
	struct view_node **children;	/* n_children of them, largest total first */
	size_t n_children;
	uint64_t self;
	uint64_t total;
	uint64_t cut;
	uint32_t hidden;	/* VIEW_KIND_GROUP: frames the group stands for, else 0 */
};

struct view;

/* The pipeline's settings; view_options_init gives the text tree's defaults. */
struct view_options {
	const char *hide;	/* POSIX extended regex, searched (not anchored); NULL: none */
	const char *show;	/* likewise; wins over hide and over collapsing */
	int collapse;		/* collapse runs of system-library frames */
	double min_share;	/* 0..1: prune nodes below this share of all samples */
};

/* Nothing hidden, libraries collapsed, min_share 0.01 (1%). */
void view_options_init(struct view_options *o);
/* Checks the options before any view exists: the regexes compile, 0 <= min_share <= 1. */
int view_options_check(const struct view_options *o, struct error *err);

/*
 * Decodes a tree message into a new view (the message may be freed after).
 * NULL with err set when the message is malformed: a parent after its
 * child, a frame or string index out of range, counts that do not add up
 * (self > total, children above their parent), deeper than VIEW_MAX_DEPTH.
 */
struct view *view_new(const Sampled__Tree *tree, struct error *err);
/* Releases the view with its nodes and frames; accepts NULL. */
void view_free(struct view *v);

/* The invisible root; its children are the top level. */
const struct view_node *view_root(const struct view *v);
/* All samples the tree accounts for (Tree.total_samples == root->total). */
uint64_t view_total(const struct view *v);
/* Whether the top level holds one VIEW_KIND_THREAD node per thread. */
int view_per_thread(const struct view *v);
/* Nodes below the root, as the tree stands now. */
size_t view_node_count(const struct view *v);
/* Frames by id: the wire's (same index), the root's, then groups as made. */
size_t view_frame_count(const struct view *v);
const struct view_frame *view_frame_at(const struct view *v, size_t id);
/* Nodes view_prune left out (subtrees counted whole) and the samples in them. */
size_t view_cut_nodes(const struct view *v);
uint64_t view_cut_samples(const struct view *v);

/*
 * Runs the pipeline: view_hide, then view_collapse when o->collapse, then
 * view_prune.  -1 with err set when a regex does not compile (the view is
 * then unchanged).
 */
int view_apply(struct view *v, const struct view_options *o, struct error *err);
/* Step 1 (see above); either regex may be NULL.  -1 with err on a bad regex. */
int view_hide(struct view *v, const char *hide, const char *show, struct error *err);
/* Step 2; show may be NULL.  -1 with err on a bad regex. */
int view_collapse(struct view *v, const char *show, double min_share, struct error *err);
/* Step 3. */
void view_prune(struct view *v, double min_share);

/* Whether a frame is system-library code that view_collapse folds away. */
int view_is_library(const struct view_frame *f);

/*
 * The flat profile (cProfile style): one row per function, where a
 * function is a frame's (name, module, file), lines and call sites merged.
 * self sums the nodes' self; total counts every sample whose stack holds
 * the function, once even when the function recurses.  Thread nodes and
 * the root are not functions and have no rows; a group (when the view was
 * collapsed, which flat tables normally are not) is a row of its own.
 * The rows' self plus the root's and the thread nodes' self is
 * view_total() minus the samples view_prune cut.
 */
struct view_flat_row {
	const struct view_frame *frame;	/* one of the function's frames (the first met) */
	uint64_t self;
	uint64_t total;
};

/* The rows in no particular order (newly allocated, free() it); *n their count. */
struct view_flat_row *view_flat(const struct view *v, size_t *n);
/*
 * Orders frames by function, as the flat profile tells functions apart:
 * name, module, file, then kind; 0 when they are one function (two groups
 * never are).  Also across views, as diff matches functions.
 */
int view_flat_cmp(const struct view_frame *a, const struct view_frame *b);

#endif
