#ifndef SAMPLED_UNWIND_H
#define SAMPLED_UNWIND_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "maps.h"

/*
 * DWARF CFI unwinding of a captured user stack (libunwind, remote address
 * space with our own accessors).  Both samplers feed it the same thing: the
 * registers at the sample and a copy of the stack from SP upwards.
 */

/* x86-64 perf register numbering (PERF_REG_X86_*); regs[] is indexed by it. */
#define UNWIND_NREGS 24
#define UNWIND_REG_BP 6
#define UNWIND_REG_SP 7
#define UNWIND_REG_IP 8
/* The sample_regs_user mask perf must be given: AX..SS, R8..R15. */
#define UNWIND_REGS_MASK 0xff0fffULL

struct unwind_sample {
	uint64_t regs[UNWIND_NREGS];
	const uint8_t *stack;	/* bytes copied from regs[UNWIND_REG_SP] upwards */
	size_t stack_len;
};

enum unwind_end {
	UNWIND_END_ROOT,	/* reached the thread's outermost frame */
	UNWIND_END_TRUNCATED,	/* the stack copy ended before the root */
	UNWIND_END_FAILED,	/* no unwind info, or it led nowhere sensible */
	UNWIND_END_DEPTH,	/* more frames than the caller's array holds */
};

struct unwinder;

struct unwinder *unwind_new(struct maps *maps, struct error *err);
void unwind_free(struct unwinder *u);
/*
 * Unwinds one sample.  pcs[0] is the sampled IP; every later entry is its
 * return address minus one (the call site), except after a signal frame.
 * Returns the number of frames written (at least 1) and why it stopped.
 */
size_t unwind_stack(struct unwinder *u, const struct unwind_sample *s, uint64_t *pcs,
		    size_t max, enum unwind_end *end);
/* Forgets cached unwind state for addresses in [start, end) (unmap, exec). */
void unwind_flush(struct unwinder *u, uint64_t start, uint64_t end);

#endif
