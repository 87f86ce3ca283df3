#ifndef SAMPLED_FETCH_H
#define SAMPLED_FETCH_H

#include <sys/types.h>
#include <stdint.h>

#include "client.h"
#include "error.h"
#include "sampled.pb-c.h"

/*
 * What the commands that present a profile (tree, top, flame, export, diff)
 * share: one round trip for the tree and one for the status that goes in
 * headers, and the parsing of their common option values.
 */

struct fetch {
	Sampled__Response *tree;	/* tree->tree */
	Sampled__Response *status;	/* status->status */
};

/*
 * A part of the profile in time (--last, --since, --until): either the
 * last last_ns up to now, or since and/or until in ns since the epoch (0
 * leaves that end open).  All 0: the whole profile.  The daemon serves it
 * with its time buckets, so the span shown (Tree.window) is the buckets'.
 */
struct fetch_range {
	uint64_t last_ns;
	uint64_t since_unix_ns;
	uint64_t until_unix_ns;
};

/*
 * Asks for the whole tree (min_share 0: the client applies thresholds, so
 * that hiding and collapsing see every node), per thread or merged, of one
 * thread when tid != 0, of the samples taken in one thread state when
 * state is not SAMPLED__STATE_FILTER__STATE_ANY, of those whose thread
 * held (or did not hold) the GIL when gil is not SAMPLED__GIL_FILTER__GIL_ANY,
 * and of those of range only (NULL or all 0: the whole profile); then for
 * the status, second so that its counters include every sample in the
 * tree.  -1 with err set.  (view_args_fetch asks with what the view
 * options say.)
 */
int fetch_profile_range(struct client *c, int per_thread, pid_t tid, Sampled__StateFilter state,
			Sampled__GilFilter gil, const struct fetch_range *range, struct fetch *f,
			struct error *err);
/* Parses --state: "running" or "idle" ("any" too); -1 with err otherwise. */
int fetch_parse_state(const char *s, Sampled__StateFilter *state, struct error *err);
/* Parses --gil: "held" or "released" ("any" too); -1 with err otherwise. */
int fetch_parse_gil(const char *s, Sampled__GilFilter *gil, struct error *err);
/* Frees both replies; accepts a zeroed or released struct. */
void fetch_release(struct fetch *f);

/*
 * Parses the values of --last, --since and --until (NULL when not given)
 * into r: --last takes a duration (fetch_parse_duration), --since and
 * --until a time (fetch_parse_time); --last goes with neither of the
 * others, and --since must come before --until.  -1 with err otherwise.
 */
int fetch_parse_range(const char *last, const char *since, const char *until,
		      struct fetch_range *r, struct error *err);
/*
 * Parses a duration as duration_parse does (duration.h: "500ms", "30s",
 * "1.5m", "2h"), from 1 ms to DURATION_MAX_NS; -1 with err naming option
 * otherwise.
 */
int fetch_parse_duration(const char *s, const char *option, uint64_t *ns, struct error *err);
/*
 * Parses a time as --since and --until take it, in ns since the epoch:
 * HH:MM[:SS] today (local time); an ISO 8601 date and time,
 * 2026-11-25T10:00[:SS[.fff]] (or with a space for the T; a date alone is
 * its midnight), in local time unless it ends in Z or an offset (+01:00);
 * or -DURATION, that long before now_unix_ns ("-5m").  -1 with err naming
 * option otherwise.
 */
int fetch_parse_time(const char *s, const char *option, uint64_t now_unix_ns, uint64_t *out,
		     struct error *err);
/*
 * How long the profile was sampled: the daemon's count (pauses left out,
 * from the last reset) when it sends one; else start to exit once the
 * target exited, else the uptime.
 */
uint64_t fetch_duration_ns(const Sampled__Status *st);
/*
 * The span of a tree asked for with a range, for headers: "" when t has
 * no window (the whole profile), else "10:00:01.250 to 10:00:03.250
 * (2.000 s)" in local time (the date too when not today), or "none: no
 * time bucket of the daemon overlaps the range".  *span_ns gets the
 * span's length (0 without one).  Returns buf.
 */
char *fetch_window_text(char *buf, size_t size, const Sampled__Tree *t, uint64_t *span_ns);

/* Parses a share in percent, 0 to 100 ("1", "0.5"); -1 with err naming option. */
int fetch_parse_percent(const char *s, const char *option, double *out, struct error *err);
/* Parses a count of at least min ("25"); -1 with err naming option. */
int fetch_parse_count(const char *s, const char *option, unsigned long min, unsigned long *out,
		      struct error *err);

#endif
