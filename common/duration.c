#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"

/* The units, largest first, so that a bound is written in the largest that counts it whole. */
static const struct {
	const char *unit;
	uint64_t ns;
} duration_units[] = {
	{ "d", 86400 * DURATION_NS_PER_S }, { "h", 3600 * DURATION_NS_PER_S },
	{ "m", 60 * DURATION_NS_PER_S }, { "s", DURATION_NS_PER_S }, { "", DURATION_NS_PER_S },
	{ "ms", DURATION_NS_PER_MS },
};

#define DURATION_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

/* A bound for the message: "1ms", "100ms", "1h", "7d". */
static void duration_bound(char *buf, size_t size, uint64_t ns)
{
	for (size_t i = 0; i < DURATION_UNITS; i++) {
		if (duration_units[i].unit[0] != '\0' && ns % duration_units[i].ns == 0) {
			snprintf(buf, size, "%llu%s", (unsigned long long)(ns / duration_units[i].ns),
				 duration_units[i].unit);
			return;
		}
	}
	snprintf(buf, size, "%lluns", (unsigned long long)ns);
}

/* Digits with at most one point, then exactly one of the units (or none). */
int duration_parse(const char *s, const char *what, uint64_t min_ns, uint64_t max_ns,
		   uint64_t *ns, struct error *err)
{
	char lo[32], hi[32];
	const char *p = s;
	int digits = 0, dots = 0;
	double v;

	for (; (*p >= '0' && *p <= '9') || *p == '.'; p++) {
		if (*p == '.')
			dots++;
		else
			digits++;
	}
	if (digits == 0 || dots > 1)
		goto bad;
	v = strtod(s, NULL);
	for (size_t i = 0; i < DURATION_UNITS; i++) {
		if (strcmp(p, duration_units[i].unit) != 0)
			continue;
		v *= (double)duration_units[i].ns;
		if (v < (double)min_ns || v > (double)max_ns)
			goto bad;
		*ns = (uint64_t)v;
		return 0;
	}
bad:
	duration_bound(lo, sizeof(lo), min_ns);
	duration_bound(hi, sizeof(hi), max_ns);
	error_set(err, 0, "invalid %s '%s': expected a duration from %s to %s, a number and a "
		  "unit, ms, s, m, h or d (500ms, 30s, 1.5h)", what, s, lo, hi);
	return -1;
}
