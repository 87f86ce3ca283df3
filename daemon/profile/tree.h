#ifndef SAMPLED_TREE_H
#define SAMPLED_TREE_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "sampled.pb-c.h"

/*
 * The call tree: frames interned once, nodes keyed by (parent, frame), self
 * and total counts, one root per thread and sample class.  Memory grows with
 * the number of unique stacks, not with the number of samples; adding a
 * stack whose nodes exist allocates nothing and makes no syscall (one hash
 * probe per frame).
 *
 * Every sample carries the state its thread was in (running or idle), so
 * that a wall-clock profile can be viewed as a whole or by state, and
 * whether its thread held Python's GIL (held, released, or unknown for
 * threads that run no Python), so that it can be viewed by that too.  Each
 * class of a thread (state x GIL) is a separate subtree inside; views merge
 * them.  A stack seen in two classes has its nodes twice; since a thread
 * without Python is always "unknown", only Python threads can pay this, and
 * at most twice over (held and released).
 *
 * A node's total counts the samples whose stack passes through it, its self
 * the samples whose stack ends there.  Recursion needs no special case: the
 * same frame twice on a stack is two nodes at different depths, each counted
 * once per sample.
 *
 * Not thread-safe: one tree belongs to one thread (the daemon's loop).
 */

enum tree_kind {
	TREE_KIND_NATIVE = SAMPLED__FRAME_KIND__FRAME_NATIVE,
	TREE_KIND_PYTHON = SAMPLED__FRAME_KIND__FRAME_PYTHON,
	TREE_KIND_KERNEL = SAMPLED__FRAME_KIND__FRAME_KERNEL,
	TREE_KIND_UNKNOWN = SAMPLED__FRAME_KIND__FRAME_UNKNOWN,
};

/*
 * A frame's identity is all of its fields: the same function at another
 * line or offset is another frame (and another node).  Callers that want one
 * node per function:line pass offset 0 whenever function is known.
 */
struct tree_frame {
	enum tree_kind kind;
	const char *function;	/* NULL or "": unknown, shown as module+0xoffset */
	const char *module;	/* NULL or "" for none */
	const char *file;	/* NULL or "" for none */
	uint32_t line;		/* 0 = unknown */
	uint64_t offset;	/* module offset, used when function is NULL */
};

/*
 * The state of a thread when it was sampled.  The sampler's finer states
 * fold into two: running is on CPU or runnable; idle is everything else
 * (sleeping, waiting on disk, stopped).  A CPU-time sampler only ever sees
 * running threads.
 */
enum tree_state {
	TREE_STATE_RUNNING,
	TREE_STATE_IDLE,
};

/*
 * Which states a view shows.  The values are those of the protocol's
 * StateFilter (TreeRequest.state), so a request's field converts with a plain
 * cast; any other value selects no samples.
 */
enum tree_state_filter {
	TREE_STATE_ANY = SAMPLED__STATE_FILTER__STATE_ANY,
	TREE_STATE_ONLY_RUNNING = SAMPLED__STATE_FILTER__STATE_RUNNING,
	TREE_STATE_ONLY_IDLE = SAMPLED__STATE_FILTER__STATE_IDLE,
};

/*
 * Whether the sampled thread held the GIL of the Python interpreter it
 * runs.  Unknown: not a Python thread, or the holder could not be read.
 */
enum tree_gil {
	TREE_GIL_UNKNOWN,
	TREE_GIL_HELD,
	TREE_GIL_RELEASED,	/* released it, or waiting to take it */
};

/*
 * Which GIL classes a view shows: any (every sample), or only the samples
 * known to hold it or known not to (samples of unknown class are in
 * neither).  The values are those of the protocol's GilFilter
 * (TreeRequest.gil); any other value selects no samples.
 */
enum tree_gil_filter {
	TREE_GIL_ANY = SAMPLED__GIL_FILTER__GIL_ANY,
	TREE_GIL_ONLY_HELD = SAMPLED__GIL_FILTER__GIL_HELD,
	TREE_GIL_ONLY_RELEASED = SAMPLED__GIL_FILTER__GIL_RELEASED,
};

struct tree;

/* No node: what tree_add returns for nothing added. */
#define TREE_NODE_NONE UINT32_MAX

/*
 * The nodes a tree holds by default, and the least it may be given (see
 * tree_set_max_nodes).  A node costs about 56 bytes (with its share of the
 * child table) and 11 in a reply, so the default bounds the tree at about
 * 15 MiB and a reply at about 3 MiB, which samplectl shows in well under a
 * second; real programs rarely have a tenth of it.
 */
#define TREE_DEFAULT_MAX_NODES 250000
#define TREE_MIN_MAX_NODES 1024

struct tree *tree_new(void);
void tree_free(struct tree *t);
/*
 * Bounds the tree at max nodes (0: the default; less than
 * TREE_MIN_MAX_NODES counts as that), and its frames at as many.  Past the
 * bound a new stack ends, at the deepest node it already has, in a child
 * frame "[other]" (or in that node itself once even those cannot be made),
 * and a frame not seen before is the "[other]" frame: the samples are
 * counted all the same (tree_folded), only their deeper frames are lost.
 * Roots, one per thread and class, are not bounded.
 */
void tree_set_max_nodes(struct tree *t, size_t max);
size_t tree_max_nodes(const struct tree *t);
/* Samples since creation or the last reset whose stacks were cut at the bounds. */
uint64_t tree_folded(const struct tree *t);
/*
 * A frozen copy of the tree (newly allocated; free with tree_free) that
 * replies can be built from on another thread while the tree goes on
 * growing: tree_to_message and tree_to_message_counts read it; adding to it
 * is a broken invariant (fatal).  Costs a copy of the nodes (32 bytes each),
 * frames, thread records and strings.
 */
struct tree *tree_snapshot(const struct tree *t);
/*
 * Empties the tree (samples, nodes, frames and their strings); thread names
 * are kept.  Every frame id handed out before is invalid afterwards: callers
 * that cache ids must drop them.
 */
void tree_reset(struct tree *t);
/*
 * Interns a frame; equal frames get the same id.  Strings are copied the
 * first time they are seen, so the caller's buffers may change afterwards.
 * Ids are dense, counting from 0, and stay valid until tree_reset/tree_free.
 */
uint32_t tree_frame_id(struct tree *t, const struct tree_frame *f);
/*
 * The frame behind an id, its strings owned by the tree (valid until
 * tree_reset or tree_free); -1 for an id the tree never gave.
 */
int tree_frame_get(const struct tree *t, uint32_t id, struct tree_frame *out);
/* Names a thread (NULL clears it; the latest wins); shown on its root in per-thread trees. */
void tree_set_thread_name(struct tree *t, pid_t tid, const char *name);
/*
 * Adds count samples of one stack taken while thread tid was in state,
 * ids[0] the outermost frame, ids[n-1] the leaf.  n == 0 counts the samples
 * on the thread's root only (they show as the self of the thread node in
 * per-thread trees).  count == 0 does nothing.  An id not from tree_frame_id
 * or a state outside enum tree_state is a broken invariant (fatal).
 *
 * Returns the id of the node the stack ends at (the thread's root when n
 * is 0), which stands for the thread, class and stack together (see
 * tree_to_message_counts); TREE_NODE_NONE when count is 0.  Node ids are
 * dense, counting from 0, and stay valid until tree_reset/tree_free.
 */
uint32_t tree_add(struct tree *t, pid_t tid, enum tree_state state, const uint32_t *ids,
		  size_t n, uint64_t count);
/*
 * The same, for a sample whose GIL class is known (tree_add counts its
 * samples as TREE_GIL_UNKNOWN).  A gil outside enum tree_gil is a broken
 * invariant (fatal).
 */
uint32_t tree_add_gil(struct tree *t, pid_t tid, enum tree_state state, enum tree_gil gil,
		      const uint32_t *ids, size_t n, uint64_t count);
/* Samples added since creation or the last reset, all threads, both states. */
uint64_t tree_total(const struct tree *t);
/* Samples added in state s since creation or the last reset, all threads (0 for no such state). */
uint64_t tree_state_total(const struct tree *t, enum tree_state s);
/* Samples added in GIL class g since creation or the last reset, all threads (0 for no such class). */
uint64_t tree_gil_total(const struct tree *t, enum tree_gil g);
/*
 * Nodes held, roots included (one per thread and state that has samples):
 * a measure of memory.
 */
size_t tree_node_count(const struct tree *t);

struct tree_query {
	int per_thread;		/* one root node per thread, named "name (tid)" */
	pid_t tid;		/* 0: every thread; else only this one */
	double min_share;	/* leave out nodes below this share of the total */
	enum tree_state_filter state;	/* TREE_STATE_ANY (0): both states */
	enum tree_gil_filter gil;	/* TREE_GIL_ANY (0): every sample */
};

/*
 * Builds the wire message (newly allocated; free with tree_message_free).
 * q == NULL means every thread, merged, nothing left out.
 *
 * - strings[0] is ""; frames and strings hold only what the emitted nodes
 *   use.  An unknown function is sent as "" with the frame's module and
 *   offset, for the client to show as module+0xoffset.
 * - nodes are in preorder: parent is the index of the parent + 1 (0 = top
 *   level), so parents always precede their children.  Siblings are ordered
 *   by total, largest first, then by function, module, file, line, offset
 *   and kind: the output is deterministic.
 * - state: only the samples taken in the selected state(s).  Whatever the
 *   filter, a thread's states are never shown apart: the view merges them
 *   (with ANY, a thread sampled both running and idle shows its stacks
 *   once, counts summed).
 * - gil: likewise, only the samples of the selected GIL class(es); the two
 *   filters combine (a sample must pass both).
 * - per_thread: the top level holds one node per thread with samples in
 *   the selected state(s) (kind FRAME_THREAD, function "name (tid)" or
 *   "thread tid" when unnamed) whose self counts the thread's empty stacks.
 *   Otherwise the threads are merged: nodes with equal frames on equal
 *   paths are combined across threads and their counts summed; empty stacks
 *   then appear in total_samples only.
 * - tid != 0: only that thread's samples (an unknown tid gives an empty tree).
 * - min_share > 0: a node whose total is below min_share * total_samples is
 *   left out with its whole subtree.  Nothing is redistributed: the parent's
 *   self is unchanged, so a parent's total can exceed its self plus its
 *   emitted children's totals, and total_samples still counts every sample
 *   considered.  The difference is what was cut, for a client to show.
 * - total_samples: samples considered, i.e. after the tid, state and gil filters.
 */
Sampled__Tree *tree_to_message(const struct tree *t, const struct tree_query *q);
/*
 * The same message with other counts than the tree's own, such as the
 * samples of a time window: self[id] is the self count of node id (as
 * returned by tree_add; n entries, ids from n on count 0), totals are
 * summed from them, and a node whose total comes to 0 is left out with its
 * subtree (a thread with none too).  self == NULL is tree_to_message.
 */
Sampled__Tree *tree_to_message_counts(const struct tree *t, const struct tree_query *q,
				      const uint64_t *self, size_t n);
/*
 * Frees a message from tree_to_message (NULL is fine).  Only this may free
 * it: not protobuf_c_message_free_unpacked, and a Response embedding it must
 * drop its pointer before being freed any other way.
 */
void tree_message_free(Sampled__Tree *msg);

#endif
