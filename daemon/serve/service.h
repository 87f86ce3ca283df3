#ifndef SAMPLED_SERVICE_H
#define SAMPLED_SERVICE_H

#include <stdint.h>

#include "profile/profile.h"
#include "sample/ptrace_sampler.h"
#include "sample/target.h"
#include "sampled.pb-c.h"
#include "server.h"
#include "treejobs.h"

/*
 * The daemon's answers: turns requests into responses from the target, the
 * sampler and the profile.  It owns none of them; main.c wires them in.
 */

/*
 * What pause, resume and reset change, kept by main.c and updated here:
 * whether sampling is paused, and the times that make the time sampled
 * (from the profile's start, attach or the last reset, pauses left out).
 */
struct service_control {
	/* Stops (paused 1) or restarts the samplers; -1 with err when it cannot. */
	int (*set_paused)(void *arg, int paused, struct error *err);
	/* Hands the profile the samples the samplers still hold (before a reset). */
	void (*drain)(void *arg);
	void *arg;
	int paused;
	uint64_t paused_mono_ns;	/* when the current pause began */
	uint64_t paused_ns;		/* pauses ended since the profile's start */
	uint64_t profile_mono_ns;	/* the profile's start */
};

struct service_parts {
	struct target *target;
	struct profile *profile;
	struct ptrace_sampler **tracer;	/* for stop times; *tracer NULL without one */
	uint64_t stop_median_ns;	/* the stop times the tracer had when it ended */
	uint64_t stop_p99_ns;
	const char *sampler_note;	/* "" or how sampling is degraded */
	const char *socket_path;
	const char *mode;		/* "cpu" */
	const char *sampler_name;	/* "perf cpu-clock" */
	int kernel_frames;		/* kernel-mode ticks carry the kernel's call chain */
	unsigned rate_hz;
	uint32_t stack_bytes;		/* stack copied per thread for dumps */
	uint64_t started_ns;		/* wall clock, at attach */
	uint64_t started_mono_ns;
	struct service_control *control;	/* NULL: no pause, resume or reset */
	struct treejobs *jobs;		/* builds tree replies off the loop; NULL: here */
};

/*
 * Answers a request in resp, or (a tree, when parts has jobs) promises the
 * reply for ticket through the jobs' done callback; see server.h.
 */
enum server_handled service_handle(const struct service_parts *parts, const Sampled__Request *req,
				   Sampled__Response *resp, uint64_t ticket);
/* Frees what service_handle allocated in resp. */
void service_release(const struct service_parts *parts, Sampled__Response *resp);

#endif
