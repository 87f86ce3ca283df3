#ifndef SAMPLED_TEST_WORKLOAD_H
#define SAMPLED_TEST_WORKLOAD_H

#include <signal.h>
#include <stdint.h>

#include "tracee.h"

/*
 * Known code for a forked child (tracee.h) to run while a test samples it:
 * the call chains the unwinder tests expect by name.  The functions without
 * other arguments than sh are tracee_run_fn, to be given to tracee_fork.  Built like the tests
 * (-O2, frame pointers); every function is noinline and noipa so that each
 * keeps its own frame.  A spinning function sets sh->ready to 1 and never
 * returns (sh->stop is never set); the others return.
 */

/* The innermost frame of workload_chain, the caller's own: it gets arg and a value to work on. */
typedef uint64_t workload_leaf_fn(void *arg, uint64_t x);

/*
 * A chain of distinct functions, each keeping its frame: workload_chain
 * calls workload_level1, which calls workload_level2, which calls leaf(arg).
 */
uint64_t workload_chain(void *arg, workload_leaf_fn *leaf);
/* The spinning leaf under most chains. */
uint64_t workload_spin(struct tracee_shared *sh, uint64_t x);
/* Recursion to depth levels, then workload_spin; each level keeps its frame. */
uint64_t workload_deep(struct tracee_shared *sh, int depth);
/* libc's qsort (built without frame pointers) with a callback, workload_cmp_spin, that spins. */
uint64_t workload_qsort(struct tracee_shared *sh);
/* Runs entry(sh) on a new pthread and joins it (forever when entry spins); -1 if it cannot. */
uint64_t workload_thread(struct tracee_shared *sh, void *(*entry)(void *));
/* Installs handler for sig with SA_SIGINFO; sigaction's result. */
int workload_on_signal(int sig, void (*handler)(int, siginfo_t *, void *));
/*
 * Spins in machine code with a frame pointer and no unwind information at
 * all, like JIT output:  push %rbp; mov %rsp,%rbp; movabs $&sh->ready,%rax;
 * movl $1,(%rax); jmp .   The unwinder must fall back to RBP there.
 */
uint64_t workload_jit(struct tracee_shared *sh);
/* Varied real work in a loop: libc sorting, formatting, strings, time, memory. */
uint64_t workload_busy(struct tracee_shared *sh);
/* A loop of calls (PLT stubs, libc string functions, prologues, epilogues) to single-step. */
uint64_t workload_step_loop(struct tracee_shared *sh);

#endif
