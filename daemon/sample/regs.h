#ifndef SAMPLED_REGS_H
#define SAMPLED_REGS_H

#include <stdint.h>

/*
 * The machine's registers as samples carry them: everything the daemon
 * knows about x86-64 register numbering lives here, so that another
 * architecture would start from this header.
 *
 * Two numberings meet in the daemon.  Samples use perf's (PERF_REG_X86_*,
 * asm/perf_regs.h), the order of the registers perf copies with
 * PERF_SAMPLE_REGS_USER; the ptrace sampler converts PTRACE_GETREGS into
 * it.  Unwind tables use the DWARF register columns of the x86-64 psABI
 * (rax rdx rcx rbx rsi rdi rbp rsp r8-r15, then the return address as
 * rip), which libunwind's UNW_X86_64_* numbers follow too.
 */

struct user_regs_struct;

/* Perf's numbering: the index of each register in a sample's regs[]. */
enum {
	REGS_AX = 0,
	REGS_BX = 1,
	REGS_CX = 2,
	REGS_DX = 3,
	REGS_SI = 4,
	REGS_DI = 5,
	REGS_BP = 6,
	REGS_SP = 7,
	REGS_IP = 8,
	REGS_FLAGS = 9,
	REGS_CS = 10,
	REGS_SS = 11,
	/* 12-15 are ds, es, fs, gs: perf does not copy them for a user stack. */
	REGS_R8 = 16,
	REGS_R15 = 23,
	REGS_COUNT = 24,
};

/* The sample_regs_user mask perf must be given: AX..SS, R8..R15. */
#define REGS_PERF_MASK 0xff0fffULL

/* DWARF register columns: 0-15 general registers, 16 the return address. */
#define REGS_DWARF_COUNT 17
#define REGS_DWARF_BP 6
#define REGS_DWARF_SP 7
#define REGS_DWARF_IP 16

/* The perf index of each DWARF column (and libunwind register number). */
extern const uint8_t regs_perf_of_dwarf[REGS_DWARF_COUNT];

/* Fills out (REGS_COUNT entries, perf's numbering) from PTRACE_GETREGS's registers. */
void regs_from_ptrace(const struct user_regs_struct *r, uint64_t *out);

#endif
