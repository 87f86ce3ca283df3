#ifndef SAMPLED_FETCH_H
#define SAMPLED_FETCH_H

#include <sys/types.h>
#include <stdint.h>

#include "client.h"
#include "error.h"
#include "sampled.pb-c.h"

/*
 * What the commands that present a profile (tree, top, flame, export)
 * share: one round trip for the tree and one for the status that goes in
 * headers, and the parsing of their common option values.
 */

struct fetch {
	Sampled__Response *tree;	/* tree->tree */
	Sampled__Response *status;	/* status->status */
};

/*
 * Asks for the whole tree (min_share 0: the client applies thresholds, so
 * that hiding and collapsing see every node), per thread or merged, of one
 * thread when tid != 0, of the samples taken in one thread state when
 * state is not SAMPLED__STATE_FILTER__STATE_ANY, then for the status; the
 * status comes second so that its counters include every sample in the
 * tree.  -1 with err set.
 */
int fetch_profile(struct client *c, int per_thread, pid_t tid, Sampled__StateFilter state,
		  struct fetch *f, struct error *err);
/* Parses --state: "running" or "idle" ("any" too); -1 with err otherwise. */
int fetch_parse_state(const char *s, Sampled__StateFilter *state, struct error *err);
/* Frees both replies; accepts a zeroed or released struct. */
void fetch_release(struct fetch *f);

/* How long the target was sampled: start to exit once it exited, else the uptime. */
uint64_t fetch_duration_ns(const Sampled__Status *st);

/* Parses a share in percent, 0 to 100 ("1", "0.5"); -1 with err naming option. */
int fetch_parse_percent(const char *s, const char *option, double *out, struct error *err);
/* Parses a count of at least min ("25"); -1 with err naming option. */
int fetch_parse_count(const char *s, const char *option, unsigned long min, unsigned long *out,
		      struct error *err);

#endif
