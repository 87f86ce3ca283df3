#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fetch.h"
#include "wire.h"

/* The largest count an option takes: more is a typo, not a wish. */
#define FETCH_MAX_COUNT 100000000ul

/* Two requests on one connection: the tree, then the status. */
int fetch_profile(struct client *c, int per_thread, pid_t tid, Sampled__StateFilter state,
		  struct fetch *f, struct error *err)
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
