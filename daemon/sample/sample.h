#ifndef SAMPLED_SAMPLE_H
#define SAMPLED_SAMPLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "regs.h"

/*
 * What every sampler hands the profile: one thread at one moment, with
 * the registers and a copy of the user stack needed to unwind it.  The
 * perf sampler fills it from a PERF_RECORD_SAMPLE, the ptrace sampler from
 * a brief stop; from here on the two paths are one.
 */

/* The deepest kernel call chain kept (kernel.perf_event_max_stack may lower it). */
#define SAMPLE_MAX_KERNEL 64

enum sample_state {
	SAMPLE_STATE_RUNNING,	/* on CPU or runnable (R) */
	SAMPLE_STATE_SLEEPING,	/* interruptible sleep (S) */
	SAMPLE_STATE_DISK,	/* uninterruptible wait (D) */
	SAMPLE_STATE_STOPPED,	/* job-control or trace stop (T, t) */
	SAMPLE_STATE_OTHER,
};

struct sample {
	pid_t tid;
	uint64_t time_ns;		/* CLOCK_MONOTONIC */
	int in_kernel;			/* the thread was executing in the kernel */
	int has_regs;			/* regs and stack are valid */
	uint64_t regs[REGS_COUNT];	/* perf numbering (regs.h) */
	const uint8_t *stack;		/* user stack from regs[REGS_SP] up */
	size_t stack_len;
	enum sample_state state;
	long syscall;			/* blocked in this system call, -1 if none */
	/*
	 * A kernel-mode tick's kernel call chain (perf sampler with kernel
	 * frames on), innermost first: the interrupted instruction, then
	 * return addresses.  nkernel == 0: none (the tick ends in [kernel]).
	 */
	size_t nkernel;
	uint64_t kernel_pcs[SAMPLE_MAX_KERNEL];
};

#endif
