#ifndef SAMPLED_PERF_SAMPLER_H
#define SAMPLED_PERF_SAMPLER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "loop.h"
#include "sample.h"

/*
 * On-CPU sampling with perf_event_open: one software cpu-clock event and one
 * ring per thread of the target (inherit cannot be combined with a mmapped
 * per-task ring), threads found at start in /proc/PID/task, later ones from
 * FORK records and a periodic rescan.  The target is never stopped.
 */

/* One decoded PERF_RECORD_SAMPLE; pointers are valid during the callback only. */
struct perf_sample {
	pid_t pid, tid;
	uint64_t time;		/* CLOCK_MONOTONIC ns */
	uint64_t ip;
	int user;		/* the tick hit user mode (else kernel) */
	uint64_t callchain_nr;
	const uint64_t *callchain;
	uint64_t regs_abi;	/* 0: no user registers (e.g. a kernel thread) */
	const uint64_t *regs;	/* packed in ascending bit order of regs_mask */
	uint64_t regs_mask;
	uint64_t stack_size;	/* bytes in stack[]; dyn_size of them are valid */
	const uint8_t *stack;
};

struct perf_mmap_event {
	pid_t pid, tid;
	uint64_t start, len, pgoff;
	uint32_t maj, min;
	uint64_t ino;
	uint32_t prot, flags;
	const char *path;
};

struct perf_sampler_ops {
	void (*sample)(void *arg, const struct perf_sample *s);
	void (*thread_start)(void *arg, pid_t tid);
	void (*thread_exit)(void *arg, pid_t tid);
	void (*comm)(void *arg, pid_t tid, const char *comm, int exec);
	void (*mmap)(void *arg, const struct perf_mmap_event *m);
	void (*lost)(void *arg, uint64_t samples);
	/*
	 * The kernel stopped letting us trace the target (it exec'd a
	 * set-user-ID program): sampling has ended for good; note says so
	 * and is perf_sampler_note from now on.  May be NULL.
	 */
	void (*revoked)(void *arg, const char *note);
};

struct perf_sampler_config {
	pid_t pid;
	unsigned rate_hz;
	size_t ring_bytes;	/* per thread, power of two, >= 2 pages */
	uint32_t stack_bytes;	/* user stack copied per sample, 0 for none */
	uint64_t regs_mask;	/* user registers copied per sample, 0 for none */
	/*
	 * Wake the loop for every sample instead of at a watermark: for
	 * samples that must be handled while the thread's state still
	 * matches them (Python frames are read from the live process).
	 */
	int wake_every_sample;
	/*
	 * Ask for the kernel call chain of each kernel-mode tick (up to
	 * SAMPLE_MAX_KERNEL frames).  Where the kernel refuses it (it takes
	 * root, CAP_PERFMON or perf_event_paranoid <= 1), sampling goes on
	 * without, and the note says so.  Whether the kernel's functions can
	 * be named is the caller's business (kallsyms_readable).
	 */
	int kernel_frames;
};

struct perf_sampler;

/*
 * Opens events on every current thread and starts sampling.  Fails (with
 * the reason: paranoid level, seccomp, limits) only if no thread could be
 * sampled at all.
 */
struct perf_sampler *perf_sampler_new(const struct perf_sampler_config *cfg, struct loop *loop,
				      const struct perf_sampler_ops *ops, void *arg,
				      struct error *err);
/* Drains every ring, then closes all events; accepts NULL. */
void perf_sampler_free(struct perf_sampler *s);
/* Opens events for threads not yet sampled (called periodically and on FORK). */
void perf_sampler_scan(struct perf_sampler *s);
/* Reads every ring now. */
void perf_sampler_drain(struct perf_sampler *s);
/* Threads currently sampled. */
size_t perf_sampler_threads(const struct perf_sampler *s);
/* A sentence on any degradation ("kernel-mode ticks are not sampled ..."), or "". */
const char *perf_sampler_note(const struct perf_sampler *s);
/* Whether samples carry kernel call chains (asked for and permitted). */
int perf_sampler_kernel_frames(const struct perf_sampler *s);
/* Records the kernel reported as unreadable or malformed. */
uint64_t perf_sampler_corrupt(const struct perf_sampler *s);
/*
 * Stops (paused 1) or restarts sampling: every event is disabled or
 * enabled, and threads found meanwhile get disabled events.  Pausing reads
 * what the rings hold first.  A disabled event writes no side-band records
 * either: threads started while paused are found by the rescan, and the
 * caller should read the target's mappings again at resume.  A thread that
 * refuses is logged and skipped.
 */
void perf_sampler_pause(struct perf_sampler *s, int paused);

/*
 * Gives a decoded record the sampler-neutral shape the profile takes,
 * with the kernel part of its call chain, if any.
 */
void perf_sample_to_sample(const struct perf_sample *ps, struct sample *out);

/* Decodes a sample record; 0 on success, -1 when the record is malformed. */
int perf_sample_parse(const void *rec, size_t size, uint64_t sample_type, uint64_t regs_mask,
		      struct perf_sample *out);

#endif
