#ifndef SAMPLED_TEST_TRACEE_H
#define SAMPLED_TEST_TRACEE_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "symbols/elf_image.h"
#include "symbols/maps.h"
#include "unwind/unwind.h"

/*
 * Real stacks for the unit tests: a child forked from the test runs known
 * code, the test stops one of its threads with ptrace (PTRACE_SEIZE, then
 * PTRACE_INTERRUPT) and copies its registers and stack exactly as the ptrace
 * sampler does, so that the copy can be unwound like a perf sample.  The
 * registers are converted here, not with the daemon's regs_from_ptrace, so
 * that the tests do not take the numbering from the code under test.
 *
 * Everything fails the running cmocka test when the system refuses what a
 * test cannot do without (mmap, fork, ptrace of a stopped thread); what a
 * test may meet on purpose (a thread gone) is returned as -1.
 */

/* Bytes of stack one capture copies at most, from SP up (the sampler's default). */
#define TRACEE_STACK_COPY 65536

/* Memory shared with a forked child (MAP_SHARED before fork: the same address in both). */
struct tracee_shared {
	volatile int ready;	/* the stage the child reached; -1 when its code returned */
	volatile int stop;	/* never set: keeps spinning loops returning functions */
	volatile pid_t tid;	/* a thread to sample other than the main thread */
	volatile uint64_t sig_ip;	/* where a signal interrupted the child */
	volatile uint64_t sink;	/* keeps the child's results alive */
};

/* One stop of one thread, as a sampler would have captured it. */
struct tracee_capture {
	struct unwind_sample s;
	uint8_t stack[TRACEE_STACK_COPY];
};

/* What a forked child runs; its result is kept in sh->sink. */
typedef uint64_t tracee_run_fn(struct tracee_shared *sh);

/*
 * Forks a child that runs run(sh) on a fresh shared page, called from
 * tracee_child (the frame under run in the child's stacks), sets ready to
 * -1 when run returns and dies with the test; returns its pid and the page
 * in *sh.  The test then waits for the stage it needs (tracee_wait).
 */
pid_t tracee_fork(struct tracee_shared **sh, tracee_run_fn *run);
/* Waits up to 10 s for the child to report stage; -1 when it gave up or never did. */
int tracee_wait(const struct tracee_shared *sh, int stage);
/* Kills and reaps pid and unmaps its shared page (sh may be NULL: an exec'd program). */
void tracee_kill(pid_t pid, struct tracee_shared *sh);

/*
 * Seizes thread tid and stops it (PTRACE_INTERRUPT), as the ptrace sampler
 * does; a signal that arrives first is delivered and the stop still
 * happens.  Returns -1 when the thread cannot be seized or is gone.
 */
int tracee_stop(pid_t tid);
/*
 * Reads stopped thread tid of pid like the ptrace sampler: its registers in
 * perf's numbering, then one process_vm_readv of its stack from SP up to
 * TRACEE_STACK_COPY bytes or the end of the mapping SP lies in (per maps).
 * Returns the bytes copied (also in cap->s.stack_len), 0 when none could be.
 */
size_t tracee_read(pid_t pid, pid_t tid, const struct maps *maps, struct tracee_capture *cap);
/* tracee_stop, tracee_read and a detach: one ptrace-mode sample; -1 when the thread is gone. */
int tracee_sample(pid_t pid, pid_t tid, const struct maps *maps, struct tracee_capture *cap);

/* The daemon's view of a process, as the profile builds it. */
struct tracee_view {
	struct elf_cache *cache;
	struct maps *maps;
	struct unwinder *unw;	/* NULL unless asked for */
};

/*
 * Loads pid's maps into a new cache and, with unwinder set, makes an
 * unwinder over them (the test fails if either cannot be had).
 */
void tracee_view_open(struct tracee_view *v, pid_t pid, int unwinder);
/* Frees the unwinder, the maps and the cache; accepts a view never opened (all NULL). */
void tracee_view_close(struct tracee_view *v);
/* A new unwinder over maps (the test fails if there is none). */
struct unwinder *tracee_unwinder(struct maps *maps);

#endif
