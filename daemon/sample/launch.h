#ifndef SAMPLED_LAUNCH_H
#define SAMPLED_LAUNCH_H

#include <stddef.h>
#include <sys/types.h>

#include "error.h"

/*
 * The command `sampled record` profiles.  It is started held before its
 * execve, so that the sampler can be put in place on it first and sees its
 * very first instruction; launch_release lets it go.  Its parent is a small
 * reaper process, not the daemon: the daemon's ptrace sampler reaps the
 * threads it traces, and would take the command's exit status with them.
 * The reaper waits for the command and passes its wait status back through
 * a pipe.
 *
 *   sampled record (daemon, sampler, socket)
 *     └─ reaper: waitpid(command), status → pipe
 *          └─ command: held on a pipe, then execvp
 */

struct launch;

struct launch_config {
	/* The command and its arguments, NULL-terminated; copied. */
	char *const *argv;
	/*
	 * This process's own argument area (main's argv[0] up to the end of
	 * its last argument), or NULL.  The held command rewrites its copy so
	 * that its command line and name are the command's even before the
	 * execve: whoever looks at the target meanwhile (the daemon, ps) sees
	 * what it is about to become.
	 */
	char *title;
	size_t title_len;
};

/*
 * Forks the reaper and the held command; returns once the command waits
 * with its new title.  NULL with err when a pipe or a fork fails.
 */
struct launch *launch_new(const struct launch_config *cfg, struct error *err);
/*
 * Releases what the launch holds.  A command never released ends without
 * running (it sees the pipe close) and its reaper is waited for; otherwise
 * the reaper is reaped only if it has ended.  Accepts NULL.
 */
void launch_free(struct launch *l);

/* The command's pid (before and after its execve). */
pid_t launch_pid(const struct launch *l);

/*
 * Lets the command call execve and waits for the outcome: 0 once the new
 * program is being loaded; -1 with err ("cannot run 'x': No such file or
 * directory") and *exit_code the shell's (127 not found, 126 otherwise)
 * when execve failed.
 */
int launch_release(struct launch *l, int *exit_code, struct error *err);

/* Becomes readable once the command has ended (launch_read_status). */
int launch_status_fd(const struct launch *l);
/*
 * 1 with the command's wait status once it ended; 0 while it runs; -1 when
 * the reaper ended without telling (its status is then unknown).
 */
int launch_read_status(struct launch *l, int *wait_status);

/*
 * The length of main's argument area, argv[0] to the end of the last
 * argument, when the strings lie end to end as the kernel lays them out;
 * 0 otherwise (then launch_config.title stays NULL).
 */
size_t launch_title_area(int argc, char **argv);

/* The exit code a shell gives for a wait status: the code, or 128 + signal. */
int launch_exit_code(int wait_status);

#endif
