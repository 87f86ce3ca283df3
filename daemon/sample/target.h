#ifndef SAMPLED_TARGET_H
#define SAMPLED_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"

/*
 * The process being profiled: validated at attach (it exists, it is not the
 * daemon, we may read it), watched through a pidfd, and described for
 * status (comm, command line, exit).  A target that exits is an event, not
 * an error: the daemon goes on serving what it collected.
 */

struct target;

/* Validates pid and opens its pidfd; NULL with an actionable message otherwise. */
struct target *target_open(pid_t pid, struct error *err);
void target_free(struct target *t);

pid_t target_pid(const struct target *t);
/* Becomes readable when the process has exited. */
/*
 * The pid whose /proc entries (maps, root, map_files) and memory stand for
 * the process: its pid, or, when its main thread has exited while others
 * run, one of those (chosen at open).
 */
pid_t target_proc_pid(const struct target *t);
int target_pidfd(const struct target *t);
const char *target_comm(const struct target *t);
const char *target_cmdline(const struct target *t);

/* Records that the process ended, learning its exit status where the system tells it. */
void target_note_exit(struct target *t);
/* Gives the exit status learnt elsewhere (the process connector). */
void target_set_exit_status(struct target *t, int wait_status);
int target_exited(const struct target *t);
uint64_t target_exit_time_ns(const struct target *t);
/*
 * 1 and the wait(2)-style status when the exit status is known, 0 when the
 * process is running or its status could not be learnt.
 */
int target_exit_status(const struct target *t, int *wait_status);

/* Lists the target's current threads (newly allocated array). */
int target_threads(pid_t pid, pid_t **tids, size_t *n, struct error *err);
/* Reads a thread's name (comm) into buf; "" when the thread is gone. */
void target_thread_name(pid_t pid, pid_t tid, char *buf, size_t size);

/* Wall-clock nanoseconds since the epoch, for time stamps shown to users. */
uint64_t target_now_ns(void);
/* CLOCK_MONOTONIC nanoseconds, the clock of samples and intervals. */
uint64_t target_mono_ns(void);

#endif
