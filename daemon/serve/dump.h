#ifndef SAMPLED_DUMP_H
#define SAMPLED_DUMP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "profile/profile.h"
#include "sampled.pb-c.h"

/*
 * The current stack of every thread, once (samplectl dump, sampled dump):
 * collected with one ptrace stop per thread, or, while a ptrace sampler
 * already holds the threads, from each thread's latest sample.  The result
 * is the wire message; rendering it is the client's (common/dump_text).
 */

/* Stops each thread of the profile's target once (ptrace); NULL with err on failure. */
Sampled__Dump *dump_snapshot(struct profile *p, pid_t pid, uint32_t stack_bytes,
			     struct error *err);
/* Each thread's latest sampled stack (profile_keep_last must be on). */
Sampled__Dump *dump_latest(const struct profile *p);
void dump_free(Sampled__Dump *d);

#endif
