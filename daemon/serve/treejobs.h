#ifndef SAMPLED_TREEJOBS_H
#define SAMPLED_TREEJOBS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "loop.h"
#include "profile/tree.h"
#include "sampled.pb-c.h"

/*
 * Tree replies built off the loop.  Building and packing the reply of a
 * large tree takes tenths of a second (a million nodes: about 0.5 s), time
 * the loop must not spend: samples would wait in the rings and every other
 * client with them.  So the loop takes a snapshot of the tree (a copy, a
 * few milliseconds) and hands it here; one worker thread builds the
 * message, packs the whole response frame, and hands the bytes back to the
 * loop through an eventfd, where done() passes them on (to the server, for
 * the client that asked).  Jobs run one at a time, in order.
 *
 * The worker touches only what a job gives it, never the live tree or any
 * other part of the daemon; it blocks every signal (the loop's signalfd
 * takes them) and does no ptrace (a tracee answers only the thread that
 * seized it).
 */

struct treejobs;

/*
 * Called on the loop for each finished job: frame (malloc'd, len bytes,
 * a whole framed Response) is the callee's to free.
 */
typedef void treejobs_done_fn(void *arg, uint64_t ticket, uint8_t *frame, size_t len);

/* Starts the worker; NULL with err set when the thread or eventfd cannot be made. */
struct treejobs *treejobs_new(struct loop *loop, treejobs_done_fn *done, void *arg,
			      struct error *err);
/* Stops the worker, dropping the jobs not done; accepts NULL. */
void treejobs_free(struct treejobs *j);

/* One reply to build: the tree of q over snap, with other counts when self is set. */
struct treejobs_request {
	uint64_t ticket;		/* handed back to done() */
	struct tree *snap;		/* a tree_snapshot, which the job then owns */
	struct tree_query query;
	uint64_t *self;			/* malloc'd per-node counts (a time window's), or NULL */
	size_t n_self;
	int has_window;			/* the reply carries the window's span */
	Sampled__TreeWindow window;	/* copied; its fields only */
};

/* Queues a job; what it points to is the job's from here on. */
void treejobs_submit(struct treejobs *j, const struct treejobs_request *req);
/* Jobs queued or running now. */
size_t treejobs_pending(const struct treejobs *j);

#endif
