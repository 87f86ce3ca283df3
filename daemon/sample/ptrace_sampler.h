#ifndef SAMPLED_PTRACE_SAMPLER_H
#define SAMPLED_PTRACE_SAMPLER_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "loop.h"
#include "sample.h"

/*
 * Wall-clock sampling with ptrace, for when perf_event_open is refused or
 * off-CPU time matters.  Every thread of the target is PTRACE_SEIZEd (never
 * with PTRACE_O_EXITKILL: if the daemon dies, the kernel detaches the
 * threads and they run on).  At each tick of a timerfd the sampler reads
 * every thread's state (/proc/PID/task/TID/stat, and .../syscall for a
 * blocked thread) and only then sends PTRACE_INTERRUPT to all of them.  Each
 * stop is serviced as it arrives: PTRACE_GETREGS once, one process_vm_readv
 * of the stack from SP, PTRACE_CONT; the sample is handed to ops->sample
 * (which unwinds) only after the thread runs again.
 *
 * A thread that does not stop at once (waiting for a CPU, or in an
 * uninterruptible sleep) is not asked again: the ticks it misses are
 * counted and, when it stops, the one capture is handed over once per
 * missed tick (its user stack did not change while it waited).
 *
 * Side effects on the target, all inherent to ptrace: the threads are
 * traced (gdb or strace cannot attach meanwhile); a blocked system call is
 * interrupted and restarted by the kernel, transparently for restartable
 * ones (read, nanosleep, poll, select, futex...), but epoll_wait,
 * sigtimedwait and a few others return EINTR to the target, as they do
 * when it is stopped and continued by SIGSTOP/SIGCONT.  Signals to the
 * target are delivered (re-injected) and job-control stops are kept: a
 * thread stopped by SIGSTOP stays stopped and is reported as
 * SAMPLE_STATE_STOPPED with the stack it stopped at, without new stops.
 *
 * Process-wide effects on the daemon: ptrace_sampler_new blocks SIGCHLD
 * with sigprocmask (a signalfd in the loop receives the SIGCHLD of every
 * tracee stop) and ptrace_sampler_free unblocks it again if it was not
 * blocked before.  SIGCHLD must not be ignored (SIG_IGN or SA_NOCLDSTOP
 * suppress the notifications).  The sampler reaps only its own tracees:
 * a real child of the daemon is never waited for here.  One ptrace sampler
 * per process: two would steal each other's SIGCHLD (events would then be
 * serviced at the next tick only).  A traced thread that is also a child
 * of the daemon has its exit status consumed by the sampler.
 */

struct ptrace_sampler_ops {
	/*
	 * One per thread per tick; s and the stack it points to are valid
	 * during the call only.  Threads in no state to be stopped (zombies,
	 * threads not yet started) produce none; a thread that could not be
	 * stopped for more than 256 ticks produces samples without registers
	 * (has_regs 0) until it can.
	 */
	void (*sample)(void *arg, const struct sample *s);
	void (*thread_start)(void *arg, pid_t tid);	/* traced from now on */
	void (*thread_exit)(void *arg, pid_t tid);	/* gone; no more samples */
	/* The target called execve: its other threads are gone (each gets
	   thread_exit) and the address space is new. */
	void (*exec)(void *arg);
	/* Samples not taken because the loop ran a tick late: ticks missed
	   times the threads each would have sampled. */
	void (*lost)(void *arg, uint64_t samples);
};

struct ptrace_sampler_config {
	pid_t pid;
	unsigned rate_hz;	/* ticks per second, 1..100000 */
	uint32_t stack_bytes;	/* copied from SP per sample, clipped to the end
				   of the stack mapping; 0 for registers only */
	/*
	 * cpu-mode fallback: sample only threads whose /proc state is R,
	 * leaving the others alone (no stop, no sample).
	 */
	int only_running;
};

struct ptrace_sampler;

/*
 * Seizes every thread of cfg->pid (and threads born meanwhile) and starts
 * ticking in loop.  Callbacks (members may be NULL) run from the loop and
 * must not free the sampler.  NULL with an actionable message when no
 * thread could be traced (permissions, another tracer, pid gone).
 */
struct ptrace_sampler *ptrace_sampler_new(const struct ptrace_sampler_config *cfg,
					  struct loop *loop,
					  const struct ptrace_sampler_ops *ops, void *arg,
					  struct error *err);
/*
 * Detaches every thread (threads in a job-control stop stay stopped, the
 * others run on; signals caught in flight are delivered) and frees the
 * sampler; accepts NULL.  Calls no callback.  Waits up to two seconds for
 * threads that cannot stop at once (uninterruptible sleep).
 */
void ptrace_sampler_free(struct ptrace_sampler *s);
/* Threads currently traced and sampled. */
size_t ptrace_sampler_threads(const struct ptrace_sampler *s);
/*
 * Stops (paused 1) or restarts the ticks.  The threads stay traced (their
 * signals, clones and exits are still handled); stops already asked for
 * are serviced and handed over, no new one is asked for.  -1 with err
 * when the timer cannot be set.
 */
int ptrace_sampler_pause(struct ptrace_sampler *s, int paused, struct error *err);
/*
 * How long threads stayed stopped per sample, in ns: median, 99th
 * percentile (within 1.6%) and the number of stops measured.  A stop is
 * timed from the later of PTRACE_INTERRUPT and the moment the sampler
 * last looked and found no stop pending (or woke up to look) until
 * PTRACE_CONT returned; the scheduler's latency in waking the daemon is
 * not included.  Fixed memory: a log-linear histogram.
 */
void ptrace_sampler_stop_stats(const struct ptrace_sampler *s, uint64_t *median_ns,
			       uint64_t *p99_ns, uint64_t *count);

/*
 * One-shot sample of every thread of pid (for `dump`), without a running
 * sampler: each thread in turn is seized, stopped, copied and detached
 * (a thread in a job-control stop stays stopped), then fn gets its sample.
 * Threads in uninterruptible sleep (D) are not stopped: they get a sample
 * without registers.  The work runs on a short-lived helper thread, which
 * also calls fn, while the caller waits: if a thread fails to stop in time
 * the helper's exit makes the kernel detach it, so nothing is left
 * stopped.  Fails when pid cannot be traced (already traced, including by
 * a ptrace sampler of this process; permissions) or a thread did not stop
 * in time; samples already passed to fn stay valid.
 */
int ptrace_sampler_snapshot(pid_t pid, uint32_t stack_bytes,
			    void (*fn)(void *arg, const struct sample *s), void *arg,
			    struct error *err);

#endif
