#include <sys/user.h>
#include <string.h>

#include "regs.h"

/* rax rdx rcx rbx rsi rdi rbp rsp, r8-r15, rip: the psABI's column order. */
const uint8_t regs_perf_of_dwarf[REGS_DWARF_COUNT] = {
	REGS_AX, REGS_DX, REGS_CX, REGS_BX, REGS_SI, REGS_DI, REGS_BP, REGS_SP,
	REGS_R8, REGS_R8 + 1, REGS_R8 + 2, REGS_R8 + 3, REGS_R8 + 4, REGS_R8 + 5, REGS_R8 + 6,
	REGS_R15, REGS_IP,
};

/* Segment registers perf leaves out stay zero, as in a perf sample. */
void regs_from_ptrace(const struct user_regs_struct *r, uint64_t *out)
{
	memset(out, 0, REGS_COUNT * sizeof(*out));
	out[REGS_AX] = r->rax, out[REGS_BX] = r->rbx, out[REGS_CX] = r->rcx;
	out[REGS_DX] = r->rdx, out[REGS_SI] = r->rsi, out[REGS_DI] = r->rdi;
	out[REGS_BP] = r->rbp, out[REGS_SP] = r->rsp, out[REGS_IP] = r->rip;
	out[REGS_FLAGS] = r->eflags, out[REGS_CS] = r->cs, out[REGS_SS] = r->ss;
	out[REGS_R8] = r->r8, out[REGS_R8 + 1] = r->r9, out[REGS_R8 + 2] = r->r10;
	out[REGS_R8 + 3] = r->r11, out[REGS_R8 + 4] = r->r12, out[REGS_R8 + 5] = r->r13;
	out[REGS_R8 + 6] = r->r14, out[REGS_R15] = r->r15;
}
