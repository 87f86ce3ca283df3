#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "duration.h"
#include "fetch.h"
#include "wire.h"

/* The largest count an option takes: more is a typo, not a wish. */
#define FETCH_MAX_COUNT 100000000ul

/* Two requests on one connection: the tree, then the status. */
int fetch_profile_range(struct client *c, int per_thread, pid_t tid, Sampled__StateFilter state,
			Sampled__GilFilter gil, const struct fetch_range *range, struct fetch *f,
			struct error *err)
{
	Sampled__Request req;
	Sampled__TreeRequest treq;
	Sampled__StatusRequest sreq;

	memset(f, 0, sizeof(*f));
	wire_request_init(&req);
	sampled__tree_request__init(&treq);
	treq.per_thread = per_thread != 0;
	treq.tid = tid;
	treq.min_share = 0;
	treq.state = state;
	treq.gil = gil;
	if (range != NULL) {
		treq.last_ns = range->last_ns;
		treq.since_unix_ns = range->since_unix_ns;
		treq.until_unix_ns = range->until_unix_ns;
	}
	req.command_case = SAMPLED__REQUEST__COMMAND_TREE;
	req.tree = &treq;
	f->tree = client_call(c, &req, err);
	if (f->tree == NULL)
		return -1;
	wire_request_init(&req);
	sampled__status_request__init(&sreq);
	req.command_case = SAMPLED__REQUEST__COMMAND_STATUS;
	req.status = &sreq;
	f->status = client_call(c, &req, err);
	if (f->status == NULL) {
		fetch_release(f);
		return -1;
	}
	return 0;
}

void fetch_release(struct fetch *f)
{
	client_response_free(f->tree);
	client_response_free(f->status);
	f->tree = NULL;
	f->status = NULL;
}

uint64_t fetch_duration_ns(const Sampled__Status *st)
{
	if (st->sampled_ns != 0)
		return st->sampled_ns;
	if (st->ended_unix_ns > st->started_unix_ns && st->started_unix_ns != 0)
		return st->ended_unix_ns - st->started_unix_ns;
	return st->uptime_ns;
}

/* strtod with the whole string consumed and the range checked. */
int fetch_parse_percent(const char *s, const char *option, double *out, struct error *err)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (end == s || *end != '\0' || errno != 0 || !(v >= 0 && v <= 100)) {
		error_set(err, 0, "invalid %s '%s': expected a percentage from 0 to 100", option, s);
		return -1;
	}
	*out = v;
	return 0;
}

/* Digits only (strtoul would take a sign), within min and a sane maximum. */
int fetch_parse_count(const char *s, const char *option, unsigned long min, unsigned long *out,
		      struct error *err)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < min ||
	    v > FETCH_MAX_COUNT) {
		error_set(err, 0, "invalid %s '%s': expected a whole number from %lu to %lu", option,
			  s, min, FETCH_MAX_COUNT);
		return -1;
	}
	*out = v;
	return 0;
}

int fetch_parse_state(const char *s, Sampled__StateFilter *state, struct error *err)
{
	if (strcmp(s, "running") == 0)
		*state = SAMPLED__STATE_FILTER__STATE_RUNNING;
	else if (strcmp(s, "idle") == 0)
		*state = SAMPLED__STATE_FILTER__STATE_IDLE;
	else if (strcmp(s, "any") == 0)
		*state = SAMPLED__STATE_FILTER__STATE_ANY;
	else {
		error_set(err, 0, "invalid --state '%s': expected running, idle or any", s);
		return -1;
	}
	return 0;
}

int fetch_parse_gil(const char *s, Sampled__GilFilter *gil, struct error *err)
{
	if (strcmp(s, "held") == 0)
		*gil = SAMPLED__GIL_FILTER__GIL_HELD;
	else if (strcmp(s, "released") == 0)
		*gil = SAMPLED__GIL_FILTER__GIL_RELEASED;
	else if (strcmp(s, "any") == 0)
		*gil = SAMPLED__GIL_FILTER__GIL_ANY;
	else {
		error_set(err, 0, "invalid --gil '%s': expected held, released or any", s);
		return -1;
	}
	return 0;
}

/* Any duration from 1 ms to the longest any option takes. */
int fetch_parse_duration(const char *s, const char *option, uint64_t *ns, struct error *err)
{
	return duration_parse(s, option, DURATION_MIN_NS, DURATION_MAX_NS, ns, err);
}

/* Reads exactly n decimal digits at *p into *out and moves past them. */
static int fetch_digits(const char **p, int n, int *out)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return -1;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 0;
}

/* HH:MM[:SS[.fraction]] into tm and *frac_ns; -1 when it is not that. */
static int fetch_clock(const char **p, struct tm *tm, long *frac_ns)
{
	long scale = 100000000;

	tm->tm_sec = 0;
	*frac_ns = 0;
	if (fetch_digits(p, 2, &tm->tm_hour) < 0 || **p != ':')
		return -1;
	(*p)++;
	if (fetch_digits(p, 2, &tm->tm_min) < 0)
		return -1;
	if (**p == ':') {
		(*p)++;
		if (fetch_digits(p, 2, &tm->tm_sec) < 0)
			return -1;
		if (**p == '.' || **p == ',') {
			(*p)++;
			if (**p < '0' || **p > '9')
				return -1;
			for (; **p >= '0' && **p <= '9'; (*p)++) {
				*frac_ns += (**p - '0') * scale;
				scale /= 10;
			}
		}
	}
	return tm->tm_hour <= 23 && tm->tm_min <= 59 && tm->tm_sec <= 60 ? 0 : -1;
}

/*
 * The zone at the end of an ISO 8601 time: nothing (local time), Z, or an
 * offset east of UTC, +HH[:MM] or -HH[:MM], in seconds.  Returns 0 for
 * local, 1 for a zone, -1 when it is none of those.
 */
static int fetch_zone(const char *p, long *offset_s)
{
	int h, m = 0, sign;

	*offset_s = 0;
	if (*p == '\0')
		return 0;
	if (strcmp(p, "Z") == 0 || strcmp(p, "z") == 0)
		return 1;
	if (*p != '+' && *p != '-')
		return -1;
	sign = *p++ == '-' ? -1 : 1;
	if (fetch_digits(&p, 2, &h) < 0)
		return -1;
	if (*p == ':')
		p++;
	if (*p != '\0' && fetch_digits(&p, 2, &m) < 0)
		return -1;
	if (*p != '\0' || h > 23 || m > 59)
		return -1;
	*offset_s = sign * (h * 3600L + m * 60L);
	return 1;
}

/* Relative, clock time today, or a date with an optional time and zone. */
int fetch_parse_time(const char *s, const char *option, uint64_t now_unix_ns, uint64_t *out,
		     struct error *err)
{
	time_t now = (time_t)(now_unix_ns / 1000000000u), t;
	const char *p = s;
	struct tm tm;
	long frac = 0, offset = 0;
	uint64_t ago;
	int zone;

	if (*s == '-') {
		if (fetch_parse_duration(s + 1, option, &ago, err) < 0)
			return -1;
		*out = ago < now_unix_ns ? now_unix_ns - ago : 0;
		return 0;
	}
	localtime_r(&now, &tm);
	if (strlen(s) >= 10 && s[4] == '-') {
		if (fetch_digits(&p, 4, &tm.tm_year) < 0 || *p++ != '-' ||
		    fetch_digits(&p, 2, &tm.tm_mon) < 0 || *p++ != '-' ||
		    fetch_digits(&p, 2, &tm.tm_mday) < 0 || tm.tm_mon < 1 || tm.tm_mon > 12 ||
		    tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_year < 1970)
			goto bad;
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
		if (*p == 'T' || *p == 't' || *p == ' ') {
			p++;
			if (fetch_clock(&p, &tm, &frac) < 0)
				goto bad;
		}
	} else if (fetch_clock(&p, &tm, &frac) < 0) {
		goto bad;
	}
	zone = fetch_zone(p, &offset);
	if (zone < 0)
		goto bad;
	tm.tm_isdst = -1;
	t = zone ? timegm(&tm) - offset : mktime(&tm);
	if (t == (time_t)-1 || t < 0)
		goto bad;
	*out = (uint64_t)t * 1000000000u + (uint64_t)frac;
	return 0;
bad:
	error_set(err, 0, "invalid %s '%s': expected HH:MM[:SS] (today), a date and time "
		  "(2026-11-25T10:00:00, local unless it ends in Z or +HH:MM), or -DURATION "
		  "(-5m: that long ago)", option, s);
	return -1;
}

/* --last alone, or --since and/or --until, in order. */
int fetch_parse_range(const char *last, const char *since, const char *until,
		      struct fetch_range *r, struct error *err)
{
	struct timespec ts;
	uint64_t now;

	memset(r, 0, sizeof(*r));
	if (last != NULL && (since != NULL || until != NULL)) {
		error_set(err, 0, "--last and --since/--until cannot go together");
		return -1;
	}
	if (last != NULL)
		return fetch_parse_duration(last, "--last", &r->last_ns, err);
	clock_gettime(CLOCK_REALTIME, &ts);
	now = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	if (since != NULL && fetch_parse_time(since, "--since", now, &r->since_unix_ns, err) < 0)
		return -1;
	if (until != NULL && fetch_parse_time(until, "--until", now, &r->until_unix_ns, err) < 0)
		return -1;
	/* A time at the epoch would read as "open": the range starts a nanosecond later. */
	if (since != NULL && r->since_unix_ns == 0)
		r->since_unix_ns = 1;
	if (until != NULL && r->until_unix_ns <= r->since_unix_ns) {
		error_set(err, 0, "--until %s is not after --since %s", until,
			  since != NULL ? since : "(the start)");
		return -1;
	}
	return 0;
}

/* One end of a window: the time of day, with the date unless it is today's. */
static void fetch_time_text(char *buf, size_t size, uint64_t unix_ns, const struct tm *today)
{
	time_t t = (time_t)(unix_ns / 1000000000u);
	struct tm tm;
	size_t n;

	localtime_r(&t, &tm);
	n = strftime(buf, size, tm.tm_year == today->tm_year && tm.tm_yday == today->tm_yday
				? "%H:%M:%S" : "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf + n, size - n, ".%03u", (unsigned)(unix_ns % 1000000000u / 1000000u));
}

/* Both ends in local time; the span the daemon says, not the range asked for. */
char *fetch_window_text(char *buf, size_t size, const Sampled__Tree *t, uint64_t *span_ns)
{
	const Sampled__TreeWindow *w = t != NULL ? t->window : NULL;
	char from[48], to[48];
	time_t now = time(NULL);
	struct tm today;

	*span_ns = 0;
	if (w == NULL) {
		buf[0] = '\0';
		return buf;
	}
	if (w->buckets == 0 || w->end_unix_ns < w->start_unix_ns) {
		snprintf(buf, size, "none: no time bucket of the daemon overlaps the range");
		return buf;
	}
	localtime_r(&now, &today);
	fetch_time_text(from, sizeof(from), w->start_unix_ns, &today);
	fetch_time_text(to, sizeof(to), w->end_unix_ns, &today);
	*span_ns = w->end_unix_ns - w->start_unix_ns;
	snprintf(buf, size, "%s to %s (%.3f s)", from, to, (double)*span_ns / 1e9);
	return buf;
}
