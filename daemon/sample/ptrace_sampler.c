#include <sys/epoll.h>
#include <sys/ptrace.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "ptrace_sampler.h"
#include "target.h"

/*
 * The orderings that matter, and why:
 *
 *  - Per tick, every thread's /proc state is read first, then all threads
 *    are interrupted in one pass (looking for stops after each interrupt),
 *    then stops are serviced as they arrive (SIGCHLD on the signalfd).
 *    Waiting for one thread before interrupting the next would wait for
 *    each runnable thread to get a CPU (tens of ms with more threads than
 *    CPUs); a thread not stopped by the next tick is not asked again, its
 *    missed ticks are replayed from its capture.
 *  - While a thread is stopped only GETREGS, one process_vm_readv and
 *    PTRACE_CONT happen.  Captures wait in a ready list and are handed to
 *    ops->sample (unwinding) only when no other stop is waiting, so one
 *    thread's unwinding never lengthens another thread's stop by more than
 *    one sample.
 *  - Events are found with waitid(P_ALL, WNOWAIT) and reaped by tid only
 *    when the tid is ours, so a real child of the daemon is never reaped
 *    here.  A waitable pid we do not know is a fresh clone if the kernel
 *    reports a trap (only tracees trap); otherwise it is someone else's
 *    child, and our threads are then polled one by one.
 *  - A thread whose ptrace call fails is only marked dead: its exit is
 *    still reported to us (and must be reaped, or a multi-threaded execve
 *    in the target waits for it); ECHILD tells when there is nothing left.
 */

#define PT_OPTIONS (PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC)
/* Missed ticks replayed from one late capture; beyond, samples without registers. */
#define REPLAY_MAX 256
/* A thread still not stopped after this many ticks is interrupted again. */
#define REINTERRUPT_TICKS 16
/* Events handled per drain before yielding to the loop. */
#define DRAIN_MAX_EVENTS 4096
/* Rescans of /proc/PID/task while threads keep appearing during attach. */
#define ATTACH_ROUNDS 64
#define DETACH_TIMEOUT_MS 2000
#define SNAPSHOT_WAIT_MS 2000
#define WAIT_SLICE_MS 10
/* /proc files kept open (two per thread) before falling back to open-per-read. */
#define FD_BUDGET 512
#define PROC_BUF 1024

/* Log-linear histogram: 64 sub-buckets per power of two of nanoseconds. */
#define HIST_SUB_BITS 6
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) * HIST_SUB)

#define TH_STARTING 0x01	/* auto-attached by a clone, first stop not seen */
#define TH_PENDING 0x02		/* interrupted, stop not seen yet */
#define TH_GROUP_STOP 0x04	/* in a job-control stop, PTRACE_LISTEN */
#define TH_DEAD 0x08		/* a ptrace call failed: exit report expected */
#define TH_FOREIGN 0x10		/* a cloned process, not a thread: detach it */
#define TH_EMIT_STASH 0x20	/* group-stopped: hand over its stash this tick */
#define TH_EMIT_BARE 0x40	/* could not be stopped for long: registerless sample */

/* One captured stop: a sample and the stack bytes it points to. */
struct capture {
	struct capture *next;
	struct sample s;
	unsigned copies;	/* ticks this capture stands for */
	uint8_t stack[];
};

/*
 * The last system call a thread was seen blocked in, with the user SP and
 * PC of its syscall instruction.  Once a stop interrupts a sleep with a
 * timeout (nanosleep, poll, futex...), the kernel resumes it through
 * restart_syscall, which /proc then reports at the same SP and PC.
 */
struct syscall_memo {
	long nr;
	uint64_t sp, pc;
};

struct pt_thread {
	pid_t tid;
	unsigned flags;
	int stat_fd, syscall_fd;	/* kept open, -1 until first used */
	uint64_t interrupt_ns;
	unsigned missed;		/* ticks while the interrupt was pending */
	enum sample_state state;	/* read just before the interrupt */
	long syscall;
	struct syscall_memo memo;
	uint64_t stack_lo, stack_hi;	/* mapping SP was last found in */
	struct capture *stash;		/* registers and stack at group-stop */
};

/* Mappings of the target as [start, end) pairs, sorted; for clipping stack copies. */
struct ranges {
	uint64_t *r;
	size_t n, cap;
};

struct ptrace_sampler {
	struct ptrace_sampler_config cfg;
	struct loop *loop;
	const struct ptrace_sampler_ops *ops;
	void *arg;
	int timerfd, sigfd;
	int unblock_sigchld;	/* SIGCHLD was not blocked before us */
	struct pt_thread **threads;
	size_t nthreads, cap;
	pid_t *scratch;		/* tids for the one-by-one poll */
	size_t scratch_cap;
	pid_t *want;		/* tids to interrupt this tick */
	size_t want_cap;
	size_t open_fds;
	struct capture *free_caps;
	struct capture *ready, **ready_tail;
	struct ranges ranges;
	int ranges_stale;
	uint64_t ticks;
	int paused;		/* no ticks until resumed */
	uint64_t quiet_ns;	/* last look that found no stop pending */
	int detaching;
	uint64_t hist_count;
	uint64_t hist[HIST_BUCKETS];
};

/* ------------------------------------------------------------ statistics */

/* The histogram bucket of a duration: exact below 64 ns, then 64 per octave. */
static size_t hist_index(uint64_t v)
{
	unsigned e;

	if (v < HIST_SUB)
		return (size_t)v;
	e = 63u - (unsigned)__builtin_clzll(v);
	return (size_t)(e - HIST_SUB_BITS + 1) * HIST_SUB +
	       (size_t)((v >> (e - HIST_SUB_BITS)) - HIST_SUB);
}

/* The middle of bucket i, the value a percentile falling in it reports. */
static uint64_t hist_value(size_t i)
{
	unsigned e;
	uint64_t low, width;

	if (i < HIST_SUB)
		return i;
	e = (unsigned)(i / HIST_SUB) + HIST_SUB_BITS - 1;
	width = 1ull << (e - HIST_SUB_BITS);
	low = (uint64_t)(HIST_SUB + i % HIST_SUB) << (e - HIST_SUB_BITS);
	return low + width / 2;
}

/* The duration below which per_mille thousandths of the stops fall. */
static uint64_t hist_percentile(const struct ptrace_sampler *s, uint64_t per_mille)
{
	uint64_t want = (s->hist_count * per_mille + 999) / 1000, seen = 0;

	if (want == 0)
		want = 1;
	for (size_t i = 0; i < HIST_BUCKETS; i++) {
		seen += s->hist[i];
		if (seen >= want)
			return hist_value(i);
	}
	return 0;
}

/* Reads the histogram for status and benchmarks. */
void ptrace_sampler_stop_stats(const struct ptrace_sampler *s, uint64_t *median_ns,
			       uint64_t *p99_ns, uint64_t *count)
{
	*count = s->hist_count;
	*median_ns = s->hist_count ? hist_percentile(s, 500) : 0;
	*p99_ns = s->hist_count ? hist_percentile(s, 990) : 0;
}

/* ---------------------------------------------------------------- /proc */

/* Maps the state letter of /proc/PID/task/TID/stat to what samples report. */
static enum sample_state state_from_char(char c)
{
	switch (c) {
	case 'R':
		return SAMPLE_STATE_RUNNING;
	case 'S':
		return SAMPLE_STATE_SLEEPING;
	case 'D':
		return SAMPLE_STATE_DISK;
	case 'T':
	case 't':
		return SAMPLE_STATE_STOPPED;
	default:
		return SAMPLE_STATE_OTHER;
	}
}

/*
 * Reads a /proc file of a thread from offset 0, through *fd when kept
 * open (pread regenerates the contents) so a tick costs one system call
 * per file.  Returns the length read, -1 when the thread is gone.
 */
static ssize_t proc_read(pid_t pid, pid_t tid, const char *file, int *fd, size_t *open_fds,
			 char *buf, size_t size)
{
	char path[64];
	int f = fd != NULL ? *fd : -1;
	ssize_t n;

	if (f < 0) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/%s", (int)pid, (int)tid, file);
		f = open(path, O_RDONLY | O_CLOEXEC);
		if (f < 0)
			return -1;
	}
	n = pread(f, buf, size - 1, 0);
	if (n >= 0)
		buf[n] = '\0';
	if (fd != NULL && *fd < 0 && n > 0 && *open_fds < FD_BUDGET) {
		*fd = f;
		(*open_fds)++;
	} else if (fd == NULL || *fd != f) {
		close(f);
	}
	return n > 0 ? n : -1;
}

/*
 * Parses /proc/PID/task/TID/syscall: "running", "-1 sp pc" (blocked
 * outside a system call) or "nr arg1..arg6 sp pc".  A restart_syscall at
 * the SP and PC of the call memo remembers is reported as that call.
 */
static long parse_syscall(const char *buf, struct syscall_memo *memo)
{
	uint64_t sp = 0, pc = 0;
	const char *p = buf;
	char *end;
	long nr;

	if (buf[0] != '-' && (buf[0] < '0' || buf[0] > '9'))
		return -1;
	nr = strtol(p, &end, 10);
	p = end;
	for (int field = 0; field < (nr < 0 ? 2 : 8) && *p == ' '; field++) {
		uint64_t v = strtoull(p + 1, &end, 16);

		p = end;
		if (field == (nr < 0 ? 0 : 6))
			sp = v;
		else if (field == (nr < 0 ? 1 : 7))
			pc = v;
	}
	if (memo == NULL || nr < 0)
		return nr;
	if (nr == SYS_restart_syscall) {
		if (memo->nr >= 0 && memo->sp == sp && memo->pc == pc)
			return memo->nr;
		return nr;
	}
	*memo = (struct syscall_memo){ nr, sp, pc };
	return nr;
}

/*
 * Reads what the sample reports about a thread before it is stopped:
 * its state and, when blocked, its system call.  -1 for a thread
 * that is gone or a zombie (nothing to sample).
 */
static int read_state(pid_t pid, pid_t tid, int *stat_fd, int *syscall_fd, size_t *open_fds,
		      struct syscall_memo *memo, enum sample_state *state, long *syscall)
{
	char buf[PROC_BUF];
	const char *p;

	if (proc_read(pid, tid, "stat", stat_fd, open_fds, buf, sizeof(buf)) < 0)
		return -1;
	/* The command name may contain anything, ")" included: the state follows the last one. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || p[2] == '\0')
		return -1;
	if (p[2] == 'Z' || p[2] == 'X' || p[2] == 'x')
		return -1;
	*state = state_from_char(p[2]);
	*syscall = -1;
	if ((*state == SAMPLE_STATE_SLEEPING || *state == SAMPLE_STATE_DISK) &&
	    proc_read(pid, tid, "syscall", syscall_fd, open_fds, buf, sizeof(buf)) > 0) {
		/* Woken between the two reads: the later one is the truth. */
		if (strncmp(buf, "running", 7) == 0)
			*state = SAMPLE_STATE_RUNNING;
		else
			*syscall = parse_syscall(buf, memo);
	}
	return 0;
}

/* Loads the target's mappings, replacing r's contents; -1 if unreadable. */
static int ranges_load(struct ranges *r, pid_t pid)
{
	char path[64];
	char *line = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return -1;
	r->n = 0;
	while (getline(&line, &len, f) > 0) {
		char *end;
		uint64_t start = strtoull(line, &end, 16), stop;

		if (*end != '-')
			continue;
		stop = strtoull(end + 1, NULL, 16);
		r->r = mem_grow(r->r, &r->cap, (r->n + 1) * 2, sizeof(*r->r));
		r->r[2 * r->n] = start;
		r->r[2 * r->n + 1] = stop;
		r->n++;
	}
	free(line);
	fclose(f);
	return 0;
}

/* Finds the mapping holding addr by binary search; -1 if none. */
static int ranges_find(const struct ranges *r, uint64_t addr, uint64_t *lo, uint64_t *hi)
{
	size_t a = 0, b = r->n;

	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (addr < r->r[2 * m])
			b = m;
		else if (addr >= r->r[2 * m + 1])
			a = m + 1;
		else {
			*lo = r->r[2 * m];
			*hi = r->r[2 * m + 1];
			return 0;
		}
	}
	return -1;
}

/* ------------------------------------------------------------- capturing */

/*
 * The whole of what happens while a thread is held stopped: registers,
 * then one process_vm_readv of the stack from SP to the end of its
 * mapping (found in memory: lo and hi cache the last one, r the rest).  An
 * unknown mapping leaves the copy unclipped (the read stops at the first
 * unmapped page) and *hi at 0; a failed read leaves an empty stack.
 * -1 (errno set) only when the registers could not be read.
 */
static int grab(pid_t tid, uint32_t stack_bytes, const struct ranges *r, uint64_t *lo,
		uint64_t *hi, struct sample *out, uint8_t *buf)
{
	struct user_regs_struct regs;
	struct iovec local, remote;
	uint64_t sp;
	size_t len = stack_bytes;
	ssize_t got;

	if (ptrace(PTRACE_GETREGS, tid, NULL, &regs) < 0)
		return -1;
	regs_from_ptrace(&regs, out->regs);
	out->has_regs = 1;
	out->stack = buf;
	out->stack_len = 0;
	sp = regs.rsp;
	if ((sp < *lo || sp >= *hi) && ranges_find(r, sp, lo, hi) < 0)
		*lo = *hi = 0;
	if (*hi > sp && *hi - sp < len)
		len = (size_t)(*hi - sp);
	if (len == 0)
		return 0;
	local = (struct iovec){ buf, len };
	remote = (struct iovec){ (void *)(uintptr_t)sp, len };
	got = process_vm_readv(tid, &local, 1, &remote, 1, 0);
	if (got > 0)
		out->stack_len = (size_t)got;
	return 0;
}

/* A capture with room for stack_bytes of stack (zeroed: no stale bytes). */
static struct capture *capture_new(uint32_t stack_bytes)
{
	return mem_zalloc(sizeof(struct capture) + stack_bytes);
}

/* A capture from the pool; allocates only while the pool is still growing. */
static struct capture *capture_get(struct ptrace_sampler *s)
{
	struct capture *c = s->free_caps;

	if (c == NULL)
		return capture_new(s->cfg.stack_bytes);
	s->free_caps = c->next;
	return c;
}

/* Returns a capture to the pool for the next stop. */
static void capture_put(struct ptrace_sampler *s, struct capture *c)
{
	c->next = s->free_caps;
	s->free_caps = c;
}

/* Frees a list of captures (pool or ready list) when the sampler goes. */
static void capture_list_free(struct capture *c)
{
	while (c != NULL) {
		struct capture *next = c->next;

		free(c);
		c = next;
	}
}

/* Queues a capture to be handed over once no stop is waiting. */
static void ready_push(struct ptrace_sampler *s, struct capture *c)
{
	c->next = NULL;
	*s->ready_tail = c;
	s->ready_tail = &c->next;
}

/* Hands one sample to the profile. */
static void emit(struct ptrace_sampler *s, const struct sample *smp)
{
	if (s->ops->sample != NULL)
		s->ops->sample(s->arg, smp);
}

/* Hands the oldest capture over (once per tick it stands for); 0 if none. */
static int emit_one(struct ptrace_sampler *s)
{
	struct capture *c = s->ready;

	if (c == NULL)
		return 0;
	s->ready = c->next;
	if (s->ready == NULL)
		s->ready_tail = &s->ready;
	for (unsigned i = 0; i < c->copies && !s->detaching; i++)
		emit(s, &c->s);
	capture_put(s, c);
	return 1;
}

/*
 * Hands over every capture still queued: done before telling the profile
 * that a thread ended or that the program changed, so no sample arrives
 * after its thread's exit or is unwound against the wrong address space.
 */
static void flush_ready(struct ptrace_sampler *s)
{
	while (emit_one(s))
		;
}

/* ---------------------------------------------------------------- threads */

/* The entry of tid, or NULL (a linear scan: ticks visit every thread anyway). */
static struct pt_thread *thread_find(const struct ptrace_sampler *s, pid_t tid)
{
	for (size_t i = 0; i < s->nthreads; i++)
		if (s->threads[i]->tid == tid)
			return s->threads[i];
	return NULL;
}

/* Records a thread we trace and tells the profile, unless it is not one of the target's. */
static struct pt_thread *thread_add(struct ptrace_sampler *s, pid_t tid, unsigned flags)
{
	struct pt_thread *th = mem_zalloc(sizeof(*th));

	th->tid = tid;
	th->flags = flags;
	th->stat_fd = th->syscall_fd = -1;
	th->syscall = -1;
	th->memo.nr = -1;
	s->threads = mem_grow(s->threads, &s->cap, s->nthreads + 1, sizeof(*s->threads));
	s->threads[s->nthreads++] = th;
	if (!(flags & TH_FOREIGN) && !s->detaching && s->ops->thread_start != NULL)
		s->ops->thread_start(s->arg, tid);
	return th;
}

/* Closes the thread's /proc files (they name a task that is gone or changed). */
static void thread_close_files(struct ptrace_sampler *s, struct pt_thread *th)
{
	if (th->stat_fd >= 0) {
		close(th->stat_fd);
		s->open_fds--;
	}
	if (th->syscall_fd >= 0) {
		close(th->syscall_fd);
		s->open_fds--;
	}
	th->stat_fd = th->syscall_fd = -1;
}

/* Drops a thread from the table; report says whether the profile hears of it. */
static void thread_forget(struct ptrace_sampler *s, struct pt_thread *th, int report)
{
	pid_t tid = th->tid;
	int tell = report && !(th->flags & TH_FOREIGN) && !s->detaching;

	for (size_t i = 0; i < s->nthreads; i++) {
		if (s->threads[i] == th) {
			s->threads[i] = s->threads[--s->nthreads];
			break;
		}
	}
	thread_close_files(s, th);
	free(th->stash);
	free(th);
	if (tell) {
		flush_ready(s);
		if (s->ops->thread_exit != NULL)
			s->ops->thread_exit(s->arg, tid);
	}
}

/* A clone's child is ours only if it joined the target's thread group. */
static int in_thread_group(pid_t pid, pid_t tid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/task/%d", (int)pid, (int)tid);
	return access(path, F_OK) == 0;
}

/* Records a tracee the kernel attached for us at a clone. */
static struct pt_thread *thread_add_clone(struct ptrace_sampler *s, pid_t tid)
{
	unsigned flags = TH_STARTING;

	if (!in_thread_group(s->cfg.pid, tid))
		flags |= TH_FOREIGN;
	return thread_add(s, tid, flags);
}

/* Lets a stopped thread run (delivering sig); a failure means it is dying. */
static void resume(struct pt_thread *th, int sig)
{
	if (ptrace(PTRACE_CONT, th->tid, NULL, (void *)(uintptr_t)sig) < 0)
		th->flags |= TH_DEAD;
}

/* -------------------------------------------------------------- the stops */

/* Fills the parts of a sample that come from /proc rather than from the stop. */
static void sample_describe(struct sample *out, pid_t tid, uint64_t time_ns,
			    enum sample_state state, long syscall)
{
	out->tid = tid;
	out->time_ns = time_ns;
	out->state = state;
	out->syscall = syscall;
	out->in_kernel = state != SAMPLE_STATE_RUNNING;
}

/* The interrupt-stop we asked for: copy, let go at once, queue the capture. */
static void take(struct ptrace_sampler *s, struct pt_thread *th)
{
	struct capture *c = capture_get(s);
	uint64_t seen = target_mono_ns(), done, from;
	int rc, cont;

	rc = grab(th->tid, s->cfg.stack_bytes, &s->ranges, &th->stack_lo, &th->stack_hi,
		  &c->s, c->stack);
	cont = ptrace(PTRACE_CONT, th->tid, NULL, NULL);
	done = target_mono_ns();
	from = th->interrupt_ns > s->quiet_ns ? th->interrupt_ns : s->quiet_ns;
	th->flags &= ~TH_PENDING;
	if (rc < 0 || cont < 0) {
		th->flags |= TH_DEAD;
		capture_put(s, c);
		return;
	}
	s->hist[hist_index(done > from ? done - from : 0)]++;
	s->hist_count++;
	if (th->stack_hi == 0)
		s->ranges_stale = 1;
	sample_describe(&c->s, th->tid, seen, th->state, th->syscall);
	c->copies = 1 + th->missed;
	th->missed = 0;
	ready_push(s, c);
}

/* The signals whose default action is a job-control stop. */
static int is_stop_signal(int sig)
{
	return sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/*
 * A job-control stop: the user wants the thread stopped, so it stays so
 * (PTRACE_LISTEN) until SIGCONT.  Its stack is kept to report it as
 * stopped at every tick without stopping it again; a tick that was
 * waiting for this thread gets the same picture.
 */
static void on_group_stop(struct ptrace_sampler *s, struct pt_thread *th)
{
	uint64_t now = target_mono_ns();

	if (!s->cfg.only_running) {
		if (th->stash == NULL)
			th->stash = capture_new(s->cfg.stack_bytes);
		if (grab(th->tid, s->cfg.stack_bytes, &s->ranges, &th->stack_lo, &th->stack_hi,
			 &th->stash->s, th->stash->stack) < 0) {
			th->stash->s.has_regs = 0;
			th->stash->s.stack_len = 0;
		}
		sample_describe(&th->stash->s, th->tid, now, SAMPLE_STATE_STOPPED, -1);
		if (th->flags & TH_PENDING) {
			struct capture *c = capture_get(s);

			c->s = th->stash->s;
			memcpy(c->stack, th->stash->stack, th->stash->s.stack_len);
			c->s.stack = c->stack;
			c->copies = 1 + th->missed;
			ready_push(s, c);
		}
	}
	th->flags &= ~(TH_PENDING | TH_STARTING);
	th->flags |= TH_GROUP_STOP;
	th->missed = 0;
	if (ptrace(PTRACE_LISTEN, th->tid, NULL, NULL) < 0)
		th->flags |= TH_DEAD;
}

/*
 * PTRACE_EVENT_CLONE: the new thread is already traced; record it.  The
 * newest tracee is the first the kernel reports, so the new thread's first
 * stop, and even its exit, may have been handled before this event: a tid
 * with nothing left to wait for (ECHILD) is not brought back.
 */
static void on_clone(struct ptrace_sampler *s, struct pt_thread *th)
{
	unsigned long msg;
	siginfo_t si;

	if (ptrace(PTRACE_GETEVENTMSG, th->tid, NULL, &msg) < 0 ||
	    thread_find(s, (pid_t)msg) != NULL)
		return;
	if (waitid(P_PID, (id_t)msg, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0)
		return;
	thread_add_clone(s, (pid_t)msg);
}

/*
 * PTRACE_EVENT_EXEC, reported under the pid: the thread that called
 * execve now has the leader's tid; the old leader vanished without an exit
 * report, the other threads report theirs.  th (tid pid) takes over what
 * the former tid's entry knew (an interrupt may still be pending on that
 * task); the former tid is gone.
 */
static void on_exec(struct ptrace_sampler *s, struct pt_thread *th)
{
	unsigned long former = (unsigned long)th->tid;
	struct pt_thread *f;

	ptrace(PTRACE_GETEVENTMSG, th->tid, NULL, &former);
	th->flags &= ~(TH_STARTING | TH_GROUP_STOP | TH_PENDING);
	th->missed = 0;
	if ((pid_t)former != th->tid && (f = thread_find(s, (pid_t)former)) != NULL) {
		th->flags |= f->flags & TH_PENDING;
		th->interrupt_ns = f->interrupt_ns;
		th->missed = f->missed;
		th->state = f->state;
		th->syscall = f->syscall;
		thread_forget(s, f, 1);
	}
	thread_close_files(s, th);
	th->memo.nr = -1;
	th->stack_lo = th->stack_hi = 0;
	free(th->stash);
	th->stash = NULL;
	s->ranges.n = 0;
	s->ranges_stale = 1;
	if (!s->detaching) {
		flush_ready(s);
		if (s->ops->exec != NULL)
			s->ops->exec(s->arg);
	}
}

/*
 * Detaches a stopped thread (when freeing, or a foreign clone), delivering
 * a caught signal.  A clone it reported is traced already and must be let
 * go in turn; an execve changes which entry is the leader's.
 */
static void let_go(struct ptrace_sampler *s, struct pt_thread *th, int sig, int event)
{
	if (event == PTRACE_EVENT_CLONE)
		on_clone(s, th);
	else if (event == PTRACE_EVENT_EXEC && !(th->flags & TH_FOREIGN))
		on_exec(s, th);
	ptrace(PTRACE_DETACH, th->tid, NULL, (void *)(uintptr_t)(event == 0 ? sig : 0));
	thread_forget(s, th, 0);
}

/* Acts on one wait status of one of our threads. */
static void handle(struct ptrace_sampler *s, struct pt_thread *th, int status)
{
	int sig, event;

	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		thread_forget(s, th, 1);
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	th->flags &= ~TH_DEAD;	/* it stopped, so it lives: a failure was transient */
	sig = WSTOPSIG(status);
	event = (int)((unsigned)status >> 16);
	if (s->detaching || (th->flags & TH_FOREIGN)) {
		let_go(s, th, sig, event);
		return;
	}
	switch (event) {
	case PTRACE_EVENT_STOP:
		if (is_stop_signal(sig)) {
			on_group_stop(s, th);
			return;
		}
		/* Our interrupt, a new thread's first stop, or the end of a group-stop. */
		th->flags &= ~(TH_STARTING | TH_GROUP_STOP);
		if (th->flags & TH_PENDING)
			take(s, th);
		else
			resume(th, 0);
		return;
	case 0:
		/*
		 * Signal-delivery-stop, entered before our interrupt (the kernel
		 * traps a pending interrupt before it dequeues a signal): deliver
		 * the signal; the interrupt is still pending and stops it next.
		 */
		resume(th, sig);
		return;
	case PTRACE_EVENT_CLONE:
		on_clone(s, th);
		break;
	case PTRACE_EVENT_EXEC:
		on_exec(s, th);
		break;
	default:
		break;
	}
	/*
	 * An event-stop clears a pending interrupt when it is entered after
	 * it (and keeps it when the interrupt came during the stop: that one
	 * then gives an extra stop, resumed above).  The thread is stopped
	 * anyway: take this tick's sample here.
	 */
	if (th->flags & TH_PENDING)
		take(s, th);
	else
		resume(th, 0);
}

/* Reaps and handles th's next event; 1 if there was one. */
static int reap(struct ptrace_sampler *s, struct pt_thread *th)
{
	int status;
	pid_t r = waitpid(th->tid, &status, WNOHANG | __WALL);

	if (r == th->tid) {
		handle(s, th, status);
		return 1;
	}
	if (r < 0 && errno == ECHILD) {
		/* Not our tracee any more and nothing left to reap. */
		thread_forget(s, th, 1);
		return 1;
	}
	return 0;
}

/*
 * The slow path, when a child of the daemon that is not ours is waitable
 * and hides our events from the waitid peek: ask each of our tids.
 */
static int poll_each(struct ptrace_sampler *s)
{
	size_t n = s->nthreads;
	int any = 0;

	s->scratch = mem_grow(s->scratch, &s->scratch_cap, n ? n : 1, sizeof(*s->scratch));
	for (size_t i = 0; i < n; i++)
		s->scratch[i] = s->threads[i]->tid;
	for (size_t i = 0; i < n; i++) {
		struct pt_thread *th = thread_find(s, s->scratch[i]);

		if (th != NULL)
			any |= reap(s, th);
	}
	return any;
}

/* Services one pending event of our tracees; 0 when none is pending. */
static int service_one(struct ptrace_sampler *s)
{
	uint64_t t = target_mono_ns();
	struct pt_thread *th;
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT | __WALL) < 0 || si.si_pid == 0) {
		s->quiet_ns = t;
		return 0;
	}
	th = thread_find(s, si.si_pid);
	if (th == NULL) {
		if (si.si_code != CLD_TRAPPED) {
			if (poll_each(s))
				return 1;
			s->quiet_ns = t;
			return 0;
		}
		/* Only tracees trap: a clone whose parent's event is still queued. */
		th = thread_add_clone(s, si.si_pid);
	}
	if (reap(s, th))
		return 1;
	return poll_each(s);
}

/*
 * Handles every pending event, handing captures over only when no stop
 * waits (so unwinding never holds another thread stopped for long).
 */
static void drain(struct ptrace_sampler *s)
{
	struct signalfd_siginfo si[8];
	unsigned handled = 0;

	/* Consume first: a SIGCHLD arriving after the last look wakes the loop again. */
	while (read(s->sigfd, si, sizeof(si)) > 0)
		;
	do {
		while (handled < DRAIN_MAX_EVENTS && service_one(s))
			handled++;
	} while (emit_one(s));
}

/* A tracee stopped, exited or was born: service it now rather than at the next tick. */
static void on_sigchld(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct ptrace_sampler *s = arg;

	(void)loop;
	(void)fd;
	(void)events;
	/* The stops that woke us happened before now; we cannot know how long before. */
	s->quiet_ns = target_mono_ns();
	drain(s);
}

/*
 * Forgets threads that are gone without our seeing their exit: dead ones,
 * ones whose first stop never came, ones a tick late to stop (someone else
 * in this process may have reaped them, if the target is its child).
 * ECHILD says there is nothing left to wait for.
 */
static void sweep_dead(struct ptrace_sampler *s)
{
	size_t i = 0;

	while (i < s->nthreads) {
		struct pt_thread *th = s->threads[i];
		int suspect = (th->flags & (TH_DEAD | TH_STARTING)) ||
			      ((th->flags & TH_PENDING) && th->missed > 0);

		if (suspect && reap(s, th))
			continue;	/* the table changed: look at slot i again */
		i++;
	}
}

/* Hands over what threads that are not stopped this tick stand for. */
static void emit_unstopped(struct ptrace_sampler *s, uint64_t now)
{
	struct sample bare;

	for (size_t i = 0; i < s->nthreads; i++) {
		struct pt_thread *th = s->threads[i];

		if ((th->flags & TH_EMIT_STASH) && th->stash != NULL) {
			th->stash->s.time_ns = now;
			emit(s, &th->stash->s);
		}
		if (th->flags & TH_EMIT_BARE) {
			memset(&bare, 0, sizeof(bare));
			sample_describe(&bare, th->tid, now, th->state, th->syscall);
			emit(s, &bare);
		}
		th->flags &= ~(TH_EMIT_STASH | TH_EMIT_BARE);
	}
}

/*
 * One tick: fresh bookkeeping, every thread's state read from /proc, then
 * all the interrupts in one pass, then whatever stops already arrived.
 */
static void on_tick(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct ptrace_sampler *s = arg;
	uint64_t expirations = 1;
	size_t nwant = 0;

	(void)loop;
	(void)events;
	if (read(fd, &expirations, sizeof(expirations)) < 0 && errno != EAGAIN)
		log_warn("reading the ptrace sampler's timer: %s", strerror(errno));
	/* A tick that expired just before the pause may still be reported. */
	if (s->paused)
		return;
	s->ticks++;
	/* As in on_sigchld: stops found now happened while we were not looking. */
	s->quiet_ns = target_mono_ns();
	drain(s);
	sweep_dead(s);
	if (s->ranges_stale) {
		s->ranges_stale = 0;
		if (ranges_load(&s->ranges, s->cfg.pid) < 0)
			s->ranges.n = 0;
	}
	/* Everything /proc says is read before any thread stops. */
	for (size_t i = 0; i < s->nthreads; i++) {
		struct pt_thread *th = s->threads[i];

		if (th->flags & (TH_DEAD | TH_FOREIGN | TH_STARTING))
			continue;
		if (th->flags & TH_GROUP_STOP) {
			if (!s->cfg.only_running)
				th->flags |= TH_EMIT_STASH;
			continue;
		}
		if (th->flags & TH_PENDING) {
			if (th->missed < REPLAY_MAX)
				th->missed++;
			else
				th->flags |= TH_EMIT_BARE;
			/* Repeating an interrupt is harmless; it recovers one a trap consumed. */
			if (th->missed % REINTERRUPT_TICKS == 0)
				ptrace(PTRACE_INTERRUPT, th->tid, NULL, NULL);
			continue;
		}
		if (read_state(s->cfg.pid, th->tid, &th->stat_fd, &th->syscall_fd, &s->open_fds,
			       &th->memo, &th->state, &th->syscall) < 0)
			continue;
		if (s->cfg.only_running && th->state != SAMPLE_STATE_RUNNING)
			continue;
		s->want = mem_grow(s->want, &s->want_cap, nwant + 1, sizeof(*s->want));
		s->want[nwant++] = th->tid;
	}
	/*
	 * The loop came late (a busy daemon or machine): the ticks it slept
	 * through sampled no one.  Each would have given a sample to every
	 * thread this one samples; they are lost, and counted as such.
	 */
	if (expirations > 1 && s->ops->lost != NULL) {
		size_t n = nwant;

		for (size_t i = 0; i < s->nthreads; i++)
			n += (s->threads[i]->flags & (TH_EMIT_STASH | TH_PENDING)) != 0;
		if (n > 0)
			s->ops->lost(s->arg, (expirations - 1) * n);
	}
	/*
	 * A thread that was on a CPU stops within microseconds: look for stops
	 * after each interrupt rather than after the whole pass, or it would
	 * wait for the interrupts of all the others.  (Looking may change the
	 * table, hence tids.)
	 */
	for (size_t i = 0; i < nwant; i++) {
		struct pt_thread *th = thread_find(s, s->want[i]);

		if (th == NULL || (th->flags & (TH_PENDING | TH_DEAD | TH_GROUP_STOP)))
			continue;
		th->interrupt_ns = target_mono_ns();
		if (ptrace(PTRACE_INTERRUPT, th->tid, NULL, NULL) < 0)
			th->flags |= TH_DEAD;
		else
			th->flags |= TH_PENDING;
		while (service_one(s))
			;
	}
	drain(s);
	emit_unstopped(s, target_mono_ns());
}

/* -------------------------------------------------------- attach, detach */

/* Explains why tid cannot be traced, naming the tracer if there is one. */
static void explain_seize(struct error *err, pid_t pid, pid_t tid, int e)
{
	char path[64], line[128];
	long tracer = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/status", (int)pid, (int)tid);
	f = fopen(path, "re");
	if (f != NULL) {
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, "TracerPid: %ld", &tracer) == 1)
				break;
		fclose(f);
	}
	if (e == EPERM && tracer != 0)
		error_set(err, e, "pid %d is already traced by pid %ld (a debugger, strace or "
			  "another profiler)", (int)pid, tracer);
	else if (e == EPERM)
		error_set(err, e, "ptrace refused for pid %d (different user, or "
			  "kernel.yama.ptrace_scope: run as root or with CAP_SYS_PTRACE)", (int)pid);
	else
		error_set(err, e, "tracing thread %d of pid %d", (int)tid, (int)pid);
}

/*
 * Seizes every thread, rescanning until a pass finds none new: a thread
 * created before its creator was seized is only found by the rescan; after
 * that PTRACE_O_TRACECLONE brings every new one.
 */
static int attach_all(struct ptrace_sampler *s, struct error *err)
{
	struct error first;

	error_clear(&first);
	for (int round = 0; round < ATTACH_ROUNDS; round++) {
		pid_t *tids = NULL;
		size_t n = 0, added = 0;

		if (target_threads(s->cfg.pid, &tids, &n, err) < 0)
			return s->nthreads > 0 ? 0 : -1;
		for (size_t i = 0; i < n; i++) {
			if (thread_find(s, tids[i]) != NULL)
				continue;
			if (ptrace(PTRACE_SEIZE, tids[i], NULL, (void *)(uintptr_t)PT_OPTIONS) < 0) {
				if (errno != ESRCH && first.msg[0] == '\0')
					explain_seize(&first, s->cfg.pid, tids[i], errno);
				continue;
			}
			thread_add(s, tids[i], 0);
			added++;
		}
		free(tids);
		if (added == 0)
			break;
	}
	if (s->nthreads == 0) {
		if (first.msg[0] != '\0')
			*err = first;
		else
			error_set(err, ESRCH, "pid %d has no thread left to trace", (int)s->cfg.pid);
		return -1;
	}
	if (first.msg[0] != '\0')
		log_warn("some threads are not sampled: %s", first.msg);
	return 0;
}

/*
 * Lets every thread go.  Only a stopped tracee can be detached, so each is
 * interrupted and detached at its stop (with the signal it was about to
 * get, if that stop was a signal); a group-stopped one stays stopped.
 */
static void detach_all(struct ptrace_sampler *s)
{
	uint64_t deadline = target_mono_ns() + (uint64_t)DETACH_TIMEOUT_MS * 1000000u;

	s->detaching = 1;
	/*
	 * All of them, pending ones too (a repeated interrupt is harmless); a
	 * listening thread re-traps with its stop signal and stays stopped;
	 * one that is gone fails here and is found by poll_each.
	 */
	for (size_t i = 0; i < s->nthreads; i++)
		ptrace(PTRACE_INTERRUPT, s->threads[i]->tid, NULL, NULL);
	while (s->nthreads > 0 && target_mono_ns() < deadline) {
		struct pollfd pfd = { .fd = s->sigfd, .events = POLLIN };
		struct signalfd_siginfo si[8];

		while (read(s->sigfd, si, sizeof(si)) > 0)
			;
		while (service_one(s))
			;
		/* Every thread, not only suspects: one may have been reaped elsewhere. */
		poll_each(s);
		if (s->nthreads > 0)
			poll(&pfd, 1, WAIT_SLICE_MS);
	}
	if (s->nthreads > 0)
		log_warn("%zu threads of pid %d did not stop to be detached; they stay traced "
			 "until sampled exits", s->nthreads, (int)s->cfg.pid);
	while (s->nthreads > 0)
		thread_forget(s, s->threads[s->nthreads - 1], 0);
}

/* Blocks SIGCHLD and opens the signalfd that turns tracee stops into loop events. */
static int open_sigchld(struct ptrace_sampler *s, struct error *err)
{
	struct sigaction sa;
	sigset_t set, old;

	if (sigaction(SIGCHLD, NULL, &sa) == 0 &&
	    (sa.sa_handler == SIG_IGN || (sa.sa_flags & SA_NOCLDSTOP))) {
		error_set(err, EINVAL, "SIGCHLD is ignored (or SA_NOCLDSTOP) in this process: "
			  "tracee stops would go unnoticed");
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &old) < 0) {
		error_set(err, errno, "blocking SIGCHLD");
		return -1;
	}
	s->unblock_sigchld = !sigismember(&old, SIGCHLD);
	s->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sigfd < 0) {
		error_set(err, errno, "signalfd");
		return -1;
	}
	return 0;
}

/* Validates the configuration, seizes the threads and starts the timer. */
struct ptrace_sampler *ptrace_sampler_new(const struct ptrace_sampler_config *cfg,
					  struct loop *loop,
					  const struct ptrace_sampler_ops *ops, void *arg,
					  struct error *err)
{
	struct itimerspec its = { 0 };
	struct ptrace_sampler *s;
	uint64_t interval;

	if (cfg->pid <= 0 || cfg->rate_hz == 0 || cfg->rate_hz > 100000) {
		error_set(err, EINVAL, "invalid ptrace sampler configuration (pid %d, %u Hz)",
			  (int)cfg->pid, cfg->rate_hz);
		return NULL;
	}
	s = mem_zalloc(sizeof(*s));
	s->cfg = *cfg;
	s->loop = loop;
	s->ops = ops;
	s->arg = arg;
	s->timerfd = s->sigfd = -1;
	s->ready_tail = &s->ready;
	if (open_sigchld(s, err) < 0)
		goto out;
	if (ranges_load(&s->ranges, cfg->pid) < 0)
		s->ranges.n = 0;
	if (attach_all(s, err) < 0)
		goto out;
	if (loop_add(loop, s->sigfd, EPOLLIN, on_sigchld, s, err) < 0)
		goto out;
	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timerfd < 0) {
		error_set(err, errno, "timerfd_create");
		goto out;
	}
	interval = 1000000000ull / cfg->rate_hz;
	its.it_interval.tv_sec = (time_t)(interval / 1000000000u);
	its.it_interval.tv_nsec = (long)(interval % 1000000000u);
	its.it_value = its.it_interval;
	if (timerfd_settime(s->timerfd, 0, &its, NULL) < 0) {
		error_set(err, errno, "timerfd_settime");
		goto out;
	}
	if (loop_add(loop, s->timerfd, EPOLLIN, on_tick, s, err) < 0)
		goto out;
	error_clear(err);
	return s;
out:
	ptrace_sampler_free(s);
	return NULL;
}

/* Stops ticking, detaches every thread and gives SIGCHLD back as it was. */
void ptrace_sampler_free(struct ptrace_sampler *s)
{
	sigset_t set;

	if (s == NULL)
		return;
	if (s->timerfd >= 0) {
		loop_del(s->loop, s->timerfd);
		close(s->timerfd);
	}
	if (s->sigfd >= 0) {
		loop_del(s->loop, s->sigfd);
		detach_all(s);
		close(s->sigfd);
	}
	if (s->unblock_sigchld) {
		sigemptyset(&set);
		sigaddset(&set, SIGCHLD);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
	}
	capture_list_free(s->ready);
	capture_list_free(s->free_caps);
	free(s->threads);
	free(s->scratch);
	free(s->want);
	free(s->ranges.r);
	free(s);
}

/* Disarms or rearms the tick timer. */
int ptrace_sampler_pause(struct ptrace_sampler *s, int paused, struct error *err)
{
	struct itimerspec its = { 0 };
	uint64_t interval = 1000000000ull / s->cfg.rate_hz;

	if (!paused) {
		its.it_interval.tv_sec = (time_t)(interval / 1000000000u);
		its.it_interval.tv_nsec = (long)(interval % 1000000000u);
		its.it_value = its.it_interval;
	}
	if (timerfd_settime(s->timerfd, 0, &its, NULL) < 0) {
		error_set(err, errno, "%s the ptrace sampler's timer", paused ? "stopping" : "starting");
		return -1;
	}
	s->paused = paused != 0;
	return 0;
}

/* Counts the target's threads we still trace (not the dying or foreign ones). */
size_t ptrace_sampler_threads(const struct ptrace_sampler *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->nthreads; i++)
		if (!(s->threads[i]->flags & (TH_DEAD | TH_FOREIGN)))
			n++;
	return n;
}

/* --------------------------------------------------------------- snapshot */

struct snapshot {
	pid_t pid;
	uint32_t stack_bytes;
	void (*fn)(void *arg, const struct sample *s);
	void *arg;
	struct error err;
	int rc;
};

/*
 * Waits up to the deadline for tid's next event, woken by SIGCHLD on sigfd
 * (and every WAIT_SLICE_MS, should another thread of the process take the
 * signal).  The pid, or 0 on timeout, -1 when tid is gone.
 */
static pid_t wait_until(pid_t tid, int sigfd, uint64_t deadline, int *status)
{
	for (;;) {
		struct pollfd pfd = { .fd = sigfd, .events = POLLIN };
		struct signalfd_siginfo si;
		uint64_t now;
		pid_t r = waitpid(tid, status, WNOHANG | __WALL);
		int ms;

		if (r != 0)
			return r < 0 ? -1 : r;
		now = target_mono_ns();
		if (now >= deadline)
			return 0;
		ms = (int)((deadline - now) / 1000000u) + 1;
		poll(&pfd, 1, ms < WAIT_SLICE_MS ? ms : WAIT_SLICE_MS);
		while (read(sigfd, &si, sizeof(si)) > 0)
			;
	}
}

/*
 * Stops one seized thread, captures it and detaches it.  1 with *out
 * filled, 0 when the thread went away, -1 when it did not stop in time.
 */
static int snapshot_thread(pid_t tid, int sigfd, uint32_t stack_bytes, const struct ranges *r,
			   struct sample *out, uint8_t *buf)
{
	uint64_t deadline = target_mono_ns() + (uint64_t)SNAPSHOT_WAIT_MS * 1000000u;
	uint64_t lo = 0, hi = 0;
	int status;

	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL) < 0)
		return 0;
	for (;;) {
		pid_t w = wait_until(tid, sigfd, deadline, &status);
		int event;

		if (w == 0)
			return -1;
		if (w < 0 || !WIFSTOPPED(status))
			return 0;
		event = (int)((unsigned)status >> 16);
		if (event == PTRACE_EVENT_STOP) {
			int ok = grab(tid, stack_bytes, r, &lo, &hi, out, buf) == 0;

			if (is_stop_signal(WSTOPSIG(status)))
				out->state = SAMPLE_STATE_STOPPED;
			ptrace(PTRACE_DETACH, tid, NULL, NULL);
			return ok;
		}
		/* A signal beat the interrupt: deliver it and wait for the interrupt-stop. */
		if (ptrace(PTRACE_CONT, tid, NULL,
			   (void *)(uintptr_t)(event == 0 ? WSTOPSIG(status) : 0)) < 0)
			return 0;
	}
}

/* The helper thread's body: it is the tracer, so its exit detaches whatever is left. */
static void *snapshot_main(void *p)
{
	struct snapshot *snap = p;
	struct ranges r = { 0 };
	struct sample smp;
	pid_t *tids = NULL;
	size_t n = 0, open_fds = 0;
	uint8_t *buf;
	sigset_t set;
	int sigfd;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sigfd < 0) {
		error_set(&snap->err, errno, "signalfd");
		return NULL;
	}
	buf = mem_alloc(snap->stack_bytes ? snap->stack_bytes : 1);
	if (target_threads(snap->pid, &tids, &n, &snap->err) < 0)
		goto out;
	if (ranges_load(&r, snap->pid) < 0)
		r.n = 0;
	snap->rc = 0;
	for (size_t i = 0; i < n; i++) {
		int got;

		memset(&smp, 0, sizeof(smp));
		if (read_state(snap->pid, tids[i], NULL, NULL, &open_fds, NULL, &smp.state,
			       &smp.syscall) < 0)
			continue;
		sample_describe(&smp, tids[i], target_mono_ns(), smp.state, smp.syscall);
		if (smp.state == SAMPLE_STATE_DISK) {
			/* It might not stop for a long time: report it as it is. */
			snap->fn(snap->arg, &smp);
			continue;
		}
		if (ptrace(PTRACE_SEIZE, tids[i], NULL, NULL) < 0) {
			if (errno == ESRCH)
				continue;
			explain_seize(&snap->err, snap->pid, tids[i], errno);
			snap->rc = -1;
			break;
		}
		got = snapshot_thread(tids[i], sigfd, snap->stack_bytes, &r, &smp, buf);
		if (got < 0) {
			error_set(&snap->err, ETIMEDOUT, "thread %d of pid %d did not stop within "
				  "%d ms", (int)tids[i], (int)snap->pid, SNAPSHOT_WAIT_MS);
			snap->rc = -1;
			break;
		}
		if (got > 0)
			snap->fn(snap->arg, &smp);
	}
out:
	free(tids);
	free(r.r);
	free(buf);
	close(sigfd);
	return NULL;
}

/* Runs the snapshot on a helper thread whose exit guarantees the detach. */
int ptrace_sampler_snapshot(pid_t pid, uint32_t stack_bytes,
			    void (*fn)(void *arg, const struct sample *s), void *arg,
			    struct error *err)
{
	struct snapshot snap = { .pid = pid, .stack_bytes = stack_bytes, .fn = fn, .arg = arg,
				 .rc = -1 };
	sigset_t set, old;
	pthread_t helper;
	int e;

	if (pid <= 0) {
		error_set(err, EINVAL, "invalid pid %d", (int)pid);
		return -1;
	}
	error_clear(&snap.err);
	/* Blocked here too, or this thread would take (and drop) the helper's SIGCHLD. */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	e = pthread_create(&helper, NULL, snapshot_main, &snap);
	if (e != 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		error_set(err, e, "starting the snapshot thread");
		return -1;
	}
	pthread_join(helper, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (snap.rc < 0)
		*err = snap.err;
	return snap.rc;
}
