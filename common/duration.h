#ifndef SAMPLED_DURATION_H
#define SAMPLED_DURATION_H

#include <stdint.h>

#include "error.h"

/*
 * Durations as both programs take them on their command lines (sampled's
 * --duration and --window-bucket, samplectl's --last and the -DURATION of
 * --since and --until): a number, a fraction allowed, then a unit, ms, s,
 * m, h or d ("500ms", "30s", "1.5m", "2h", "1d"); a bare number is
 * seconds.  No signs, exponents, spaces or other spellings of the units.
 */

#define DURATION_NS_PER_MS 1000000ull
#define DURATION_NS_PER_S 1000000000ull
/* The shortest any option takes: 1 ms. */
#define DURATION_MIN_NS DURATION_NS_PER_MS
/* The longest any option takes: 10000 days; more is a typo, not a wish. */
#define DURATION_MAX_NS (10000ull * 86400 * DURATION_NS_PER_S)

/*
 * Parses s into *ns, which must lie from min_ns to max_ns.  -1 with err
 * otherwise (*ns untouched), one message for every way of being wrong,
 * naming what (an option) and the bounds: "invalid --last '5w': expected
 * a duration from 1ms to 10000d, a number and a unit, ms, s, m, h or d
 * (500ms, 30s, 1.5h)".
 */
int duration_parse(const char *s, const char *what, uint64_t min_ns, uint64_t max_ns,
		   uint64_t *ns, struct error *err);

#endif
