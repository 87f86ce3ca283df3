#ifndef SAMPLED_UNWIND_H
#define SAMPLED_UNWIND_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sample/regs.h"
#include "symbols/maps.h"

/*
 * DWARF CFI unwinding of a captured user stack.  Both samplers feed it the
 * same thing: the registers at the sample and a copy of the stack from SP
 * upwards.  The unwinder never reads the live target: unwind tables and
 * code come from the ELF images behind the maps.  Frames are stepped with
 * CFI rows of our own (cfi.h) while rows can express them; libunwind (remote
 * address space, our own accessors) takes over the rest of the stack at the
 * first frame they cannot (signal trampolines, PLT stubs, code without
 * CFI), and the result is libunwind's either way.  Code without tables (JIT)
 * is crossed through its frame pointer when RBP leads to a return address
 * into executable code.
 *
 * One unwinder per target process; not thread-safe.  It keeps pointers to
 * maps (and, through it, to the elf_cache images): both must outlive it.
 * Unwinding allocates nothing once the images it meets have been seen, and
 * the fast path makes no system call (libunwind's steps make two each).
 */

struct unwind_sample {
	uint64_t regs[REGS_COUNT];	/* perf numbering (sample/regs.h) */
	const uint8_t *stack;	/* bytes copied from regs[REGS_SP] upwards */
	size_t stack_len;	/* bytes really copied (perf's dyn_size) */
};

enum unwind_end {
	UNWIND_END_ROOT,	/* reached the thread's outermost frame: the CFI
				   marks the return address undefined (_start,
				   clone3 / start_thread) */
	UNWIND_END_TRUNCATED,	/* the next step needed stack bytes past the copy
				   (inside the mapping SP lies in) */
	UNWIND_END_FAILED,	/* no unwind info and no usable frame pointer,
				   or a frame that went nowhere sensible (return
				   address outside executable code, SP not
				   growing, a loop) */
	UNWIND_END_DEPTH,	/* the caller's array is full (even when the next
				   frame would have been the root) */
};

struct unwinder;

/* Creates the unwinder of the target whose address space maps describes. */
struct unwinder *unwind_new(struct maps *maps, struct error *err);
/* Frees the unwinder; accepts NULL. */
void unwind_free(struct unwinder *u);
/*
 * Unwinds one sample.  pcs[0] is the sampled IP; every later entry is its
 * return address minus one (the call site), except the frame interrupted by
 * a signal, whose IP is exact.  Returns the number of frames written (at
 * least 1 when max > 0, 0 when max is 0) and why it stopped.
 */
size_t unwind_stack(struct unwinder *u, const struct unwind_sample *s, uint64_t *pcs,
		    size_t max, enum unwind_end *end);
/*
 * Forgets cached unwind state for addresses in [start, end) (unmap, exec).
 * libunwind drops its whole rule cache whatever the range; per-image tables
 * and CFI rows (keyed by image and file offset) depend only on file
 * contents, live as long as the images and are kept.  Changes to maps are
 * noticed by themselves (maps_generation) for everything but libunwind's
 * rules.
 */
void unwind_flush(struct unwinder *u, uint64_t start, uint64_t end);
/*
 * Forgets everything kept per image (unwind tables, CFI rows) as well:
 * for when images were freed (elf_cache_sweep), whose addresses a new
 * image may take.
 */
void unwind_forget_images(struct unwinder *u);
/*
 * Lets the CFI rows step at most frames frames of each stack before
 * libunwind takes over (default SIZE_MAX; 0: libunwind alone, the reference
 * the tests compare the fast path with; any other limit makes the tests
 * check the takeover at every depth).  The result must not change.
 */
void unwind_set_fast_limit(struct unwinder *u, size_t frames);

/* What the unwinder has done since it was created (tests, diagnostics). */
struct unwind_stats {
	uint64_t stacks;	/* unwind_stack calls */
	uint64_t fast_frames;	/* steps done with CFI rows */
	uint64_t handoffs;	/* walks libunwind finished (or did whole) */
	uint64_t libunwind_steps; /* unw_step calls */
	uint64_t row_hits, row_misses; /* the CFI row cache */
};

void unwind_stats(const struct unwinder *u, struct unwind_stats *stats);

#endif
