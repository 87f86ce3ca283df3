#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <elf.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <cmocka.h>

#include "noise.h"
#include "stopwatch.h"
#include "symbols/elf_image.h"
#include "symbols/maps.h"
#include "symbols/resolve.h"
#include "symbols/symtab.h"
#include "tracee.h"
#include "unwind/unwind.h"
#include "workload.h"

/*
 * The unwinder against real processes: a child forked from this test runs a
 * known call chain (built -O2, with frame pointers as the Makefile compiles
 * tests, plus libc code built without them), the parent stops it with
 * ptrace, copies its registers and stack exactly as the ptrace sampler does
 * (tracee.h), unwinds the copy and symbolizes every pc.  The chains are this
 * file's and the helpers' (workload.h), which name their functions
 * workload_*.
 */

#define MAX_FRAMES 128

struct child {
	pid_t pid;
	struct tracee_shared *sh;
	struct tracee_view view;	/* with its unwinder */
	struct tracee_capture *cap;	/* the latest sample */
};

/* One unwound and symbolized stack. */
struct stack {
	uint64_t pcs[MAX_FRAMES];
	const char *fn[MAX_FRAMES];	/* "" when unknown */
	const char *mod[MAX_FRAMES];
	size_t n;
	enum unwind_end end;
};

/* ---------------------------------------------------------------- child */

/* Spins until the (never set) stop flag; the innermost frame of the chain. */
__attribute__((noinline, noipa)) static uint64_t level3(void *arg, uint64_t x)
{
	struct tracee_shared *sh = arg;

	sh->ready = 1;
	while (!sh->stop)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

/* Where the chain (workload_chain, then level3) starts, standing in for a program's main. */
__attribute__((noinline, noipa)) static uint64_t main_like(struct tracee_shared *sh)
{
	return workload_chain(sh, level3) * 5;
}

/* Innermost frame of the sampled thread. */
__attribute__((noinline, noipa)) static uint64_t thread_level2(struct tracee_shared *sh,
							       uint64_t x)
{
	sh->tid = (pid_t)syscall(SYS_gettid);
	sh->ready = 1;
	while (!sh->stop)
		x = x * 6364136223846793005ULL + 1;
	return x;
}

/* Calls thread_level2; the addition keeps the frame. */
__attribute__((noinline, noipa)) static uint64_t thread_level1(struct tracee_shared *sh,
							       uint64_t x)
{
	return thread_level2(sh, x + 1) + 3;
}

/* pthread start routine. */
__attribute__((noinline, noipa)) static void *thread_entry(void *arg)
{
	return (void *)(uintptr_t)(thread_level1(arg, 11) + 1);
}

/* Creates the sampled thread and waits for it forever. */
__attribute__((noinline, noipa)) static uint64_t thread_parent(struct tracee_shared *sh)
{
	return workload_thread(sh, thread_entry);
}

/* SIGUSR1 handler that records where it interrupted and then spins. */
__attribute__((noinline, noipa)) static void sig_handler(int sig, siginfo_t *info, void *ucv)
{
	struct tracee_shared *sh = info->si_value.sival_ptr;
	ucontext_t *uc = ucv;
	uint64_t v = (uint64_t)sig;

	sh->sig_ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	sh->ready = 2;
	while (!sh->stop)
		v = v * 6364136223846793005ULL + 1;
	sh->sink = v;
}

/* The code the signal interrupts. */
__attribute__((noinline, noipa)) static uint64_t sig_victim(struct tracee_shared *sh, uint64_t x)
{
	sh->ready = 1;
	while (!sh->stop)
		x = x * 2862933555777941757ULL + 3037000493ULL;
	return x;
}

/* Installs the handler and runs the victim. */
__attribute__((noinline, noipa)) static uint64_t sig_parent(struct tracee_shared *sh)
{
	if (workload_on_signal(SIGUSR1, sig_handler) != 0)
		return 0;
	return sig_victim(sh, 5) + 1;
}

/* Spins calling clock_gettime, which runs in the vdso. */
__attribute__((noinline, noipa)) static uint64_t vdso_spinner(struct tracee_shared *sh)
{
	struct timespec ts;
	uint64_t sum = 0;

	sh->ready = 1;
	while (!sh->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sum += (uint64_t)ts.tv_nsec;
	}
	return sum;
}

/* Ten levels of recursion over the spinning leaf. */
__attribute__((noinline, noipa)) static uint64_t deep_chain(struct tracee_shared *sh)
{
	return workload_deep(sh, 10);
}

/* --------------------------------------------------------------- parent */

/* Forks a child running run and builds the unwinder's view of it. */
static void child_start(struct child *c, tracee_run_fn *run)
{
	memset(c, 0, sizeof(*c));
	c->cap = calloc(1, sizeof(*c->cap));
	assert_non_null(c->cap);
	c->pid = tracee_fork(&c->sh, run);
	assert_int_equal(tracee_wait(c->sh, 1), 0);
	if (run == sig_parent) {
		union sigval v = { .sival_ptr = c->sh };

		assert_int_equal(sigqueue(c->pid, SIGUSR1, v), 0);
		assert_int_equal(tracee_wait(c->sh, 2), 0);
	}
	tracee_view_open(&c->view, c->pid, 1);
}

/* Kills the child and frees the unwinder's view of it. */
static void child_stop(struct child *c)
{
	tracee_view_close(&c->view);
	tracee_kill(c->pid, c->sh);
	free(c->cap);
}

/* Stops thread tid, captures it into c->cap and lets it go again: one ptrace-mode sample. */
static void capture_thread(struct child *c, pid_t tid)
{
	assert_int_equal(tracee_sample(c->pid, tid, c->view.maps, c->cap), 0);
	assert_true(c->cap->s.stack_len > 0);
}

/* Prints a stack the way a failing test wants to see it. */
static void stack_print(const struct stack *st, const char *what)
{
	static const char *ends[] = { "root", "truncated", "failed", "depth" };

	print_message("%s: %zu frames, end %s\n", what, st->n, ends[st->end]);
	for (size_t i = 0; i < st->n; i++)
		print_message("  #%-2zu %#014llx %s (%s)\n", i, (unsigned long long)st->pcs[i],
			      st->fn[i][0] ? st->fn[i] : "?", st->mod[i]);
}

/* Unwinds the child's capture with at most max frames and symbolizes every pc. */
static void stack_unwind_max(struct child *c, struct stack *st, size_t max)
{
	struct resolve_result res;

	memset(st, 0, sizeof(*st));
	st->n = unwind_stack(c->view.unw, &c->cap->s, st->pcs, max, &st->end);
	for (size_t i = 0; i < st->n; i++) {
		memset(&res, 0, sizeof(res));
		if (resolve_addr(c->view.maps, st->pcs[i], &res) != 0)
			res.module = "[unknown]";
		st->fn[i] = res.function ? res.function : "";
		st->mod[i] = res.module ? res.module : "";
	}
	if (getenv("UNWIND_TEST_VERBOSE") != NULL)
		stack_print(st, "stack");
}

/* Unwinds the child's capture with room for every frame. */
static void stack_unwind(struct child *c, struct stack *st)
{
	stack_unwind_max(c, st, MAX_FRAMES);
}

/* Starts a child running run, samples its main thread and unwinds the sample into st. */
static void child_sample(struct child *c, tracee_run_fn *run, struct stack *st)
{
	child_start(c, run);
	capture_thread(c, c->pid);
	stack_unwind(c, st);
}

/* True for the runtime of -fsanitize builds, whose interceptors add frames. */
static int is_sanitizer(const char *mod)
{
	return strncmp(mod, "libasan.so", 10) == 0 || strncmp(mod, "libubsan.so", 11) == 0;
}

/* Index of the first frame at or after from named fn, or -1. */
static long stack_find(const struct stack *st, size_t from, const char *fn)
{
	for (size_t i = from; i < st->n; i++)
		if (strcmp(st->fn[i], fn) == 0)
			return (long)i;
	return -1;
}

/* Fails the test (after printing the stack) unless cond holds. */
static void stack_expect(const struct stack *st, int cond, const char *what)
{
	if (!cond) {
		stack_print(st, "unexpected stack");
		fail_msg("%s", what);
	}
}

/* Fails the test unless frames from, from + 1, ... are the functions named (NULL ends the list). */
static void stack_expect_names(const struct stack *st, size_t from, ...)
{
	char what[160];
	const char *fn;
	va_list ap;

	va_start(ap, from);
	for (size_t i = from; (fn = va_arg(ap, const char *)) != NULL; i++) {
		snprintf(what, sizeof(what), "#%zu is not %s", i, fn);
		stack_expect(st, i < st->n && strcmp(st->fn[i], fn) == 0, what);
	}
	va_end(ap);
}

/* True when value is stored as an aligned word in the stack copy. */
static int stack_holds(const struct tracee_capture *cap, uint64_t value)
{
	uint64_t w;

	for (size_t off = 0; off + 8 <= cap->s.stack_len; off += 8) {
		memcpy(&w, cap->stack + off, 8);
		if (w == value)
			return 1;
	}
	return 0;
}

/*
 * The common tail of every main-thread stack below tracee_child: the
 * helpers' tracee_fork, this test's cmocka frames, main, libc's start code
 * and _start, ending at the root.
 */
static void stack_expect_main_tail(const struct stack *st, size_t from)
{
	long m = stack_find(st, from, "main");

	stack_expect(st, m > 0, "main missing");
	stack_expect(st, (size_t)m + 2 < st->n, "nothing under main");
	stack_expect(st, strcmp(st->mod[m + 1], "libc.so.6") == 0,
		     "main not called from libc (__libc_start_call_main)");
	stack_expect(st, strcmp(st->fn[st->n - 1], "_start") == 0, "last frame is not _start");
	stack_expect(st, st->end == UNWIND_END_ROOT, "did not end at the root");
}

/* ---------------------------------------------------------------- tests */

/* level3 <- workload_level2 <- workload_level1 <- workload_chain <- main_like <- ... <- _start. */
static void test_chain(void **state)
{
	struct stack st, again;
	struct child c;

	(void)state;
	child_sample(&c, main_like, &st);
	stack_expect(&st, st.n >= 10, "too few frames");
	stack_expect(&st, st.pcs[0] == c.cap->s.regs[REGS_IP], "pcs[0] is not the IP");
	stack_expect_names(&st, 0, "level3", "workload_level2", "workload_level1", "workload_chain",
			   "main_like", "tracee_child", NULL);
	stack_expect_main_tail(&st, 6);
	/* Later pcs are return addresses minus one: each return address is on the stack. */
	for (size_t i = 1; i < st.n; i++)
		stack_expect(&st, stack_holds(c.cap, st.pcs[i] + 1),
			     "pc + 1 is not a saved return address");

	/* Warm (cached) and flushed unwinds give the very same answer. */
	stack_unwind(&c, &again);
	assert_int_equal(again.n, st.n);
	assert_memory_equal(again.pcs, st.pcs, st.n * sizeof(st.pcs[0]));
	unwind_flush(c.view.unw, 0, UINT64_MAX);
	stack_unwind(&c, &again);
	assert_int_equal(again.n, st.n);
	assert_int_equal(again.end, UNWIND_END_ROOT);
	assert_memory_equal(again.pcs, st.pcs, st.n * sizeof(st.pcs[0]));

	/* A short array stops at its size. */
	stack_unwind_max(&c, &again, 3);
	assert_int_equal(again.n, 3);
	assert_int_equal(again.end, UNWIND_END_DEPTH);
	assert_memory_equal(again.pcs, st.pcs, 3 * sizeof(st.pcs[0]));
	child_stop(&c);
}

/* A stack copy shorter than the stack ends the unwind early, as truncated. */
static void test_truncated(void **state)
{
	struct stack full, st;
	struct child c;

	(void)state;
	child_sample(&c, main_like, &full);
	stack_expect(&full, full.end == UNWIND_END_ROOT, "full stack did not end at the root");

	c.cap->s.stack_len = 256;
	stack_unwind(&c, &st);
	stack_expect(&st, st.n >= 2 && st.n < full.n, "256 bytes should give some frames, not all");
	stack_expect(&st, st.end == UNWIND_END_TRUNCATED, "end is not truncated");
	assert_memory_equal(st.pcs, full.pcs, st.n * sizeof(st.pcs[0]));

	/* No stack at all: only the IP is known, and more was needed. */
	c.cap->s.stack_len = 0;
	stack_unwind(&c, &st);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.end, UNWIND_END_TRUNCATED);
	child_stop(&c);
}

/* The callback under libc's qsort (no frame pointers, msort internals) under workload_qsort. */
static void test_qsort(void **state)
{
	struct stack st;
	struct child c;
	long q;
	int saw_qsort = 0;

	(void)state;
	child_sample(&c, workload_qsort, &st);
	stack_expect_names(&st, 0, "workload_cmp_spin", NULL);
	q = stack_find(&st, 1, "workload_qsort");
	stack_expect(&st, q >= 2, "workload_qsort missing");
	for (long i = 1; i < q; i++) {
		stack_expect(&st, strcmp(st.mod[i], "libc.so.6") == 0 || is_sanitizer(st.mod[i]),
			     "non-libc frame inside qsort");
		/* qsort_r in libc; __interceptor_qsort_r under ASan. */
		if (strstr(st.fn[i], "qsort") != NULL)
			saw_qsort = 1;
	}
	stack_expect(&st, saw_qsort, "no qsort frame between the callback and its caller");
	stack_expect_names(&st, (size_t)q + 1, "tracee_child", NULL);
	stack_expect_main_tail(&st, (size_t)q + 1);
	child_stop(&c);
}

/* A pthread's stack ends in libc's start_thread / clone3, at the root. */
static void test_thread(void **state)
{
	struct stack st;
	struct child c;

	(void)state;
	child_start(&c, thread_parent);
	assert_true(c.sh->tid > 0 && c.sh->tid != c.pid);
	capture_thread(&c, c.sh->tid);
	stack_unwind(&c, &st);

	stack_expect_names(&st, 0, "thread_level2", "thread_level1", "thread_entry", NULL);
	stack_expect(&st, st.n >= 4 && st.n <= 7, "start_thread/clone3 frames missing or extra");
	for (size_t i = 3; i < st.n; i++)
		stack_expect(&st, strcmp(st.mod[i], "libc.so.6") == 0, "non-libc frame under the thread");
	stack_expect(&st, st.end == UNWIND_END_ROOT, "did not end at the root");
	child_stop(&c);
}

/* Through a signal frame: the interrupted frame's pc is exact (not minus one). */
static void test_signal(void **state)
{
	struct stack st;
	struct child c;

	(void)state;
	child_sample(&c, sig_parent, &st);
	stack_expect(&st, st.n >= 5, "too few frames");
	stack_expect_names(&st, 0, "sig_handler", NULL);
	stack_expect(&st, strcmp(st.mod[1], "libc.so.6") == 0, "#1 is not libc's __restore_rt");
	stack_expect_names(&st, 2, "sig_victim", NULL);
	stack_expect(&st, st.pcs[2] == c.sh->sig_ip, "the interrupted pc is not exact");
	stack_expect_names(&st, 3, "sig_parent", "tracee_child", NULL);
	stack_expect_main_tail(&st, 4);
	child_stop(&c);
}

/* Code without any unwind table is crossed through its frame pointer. */
static void test_jit(void **state)
{
	const struct maps_entry *e;
	struct stack st;
	struct child c;

	(void)state;
	child_sample(&c, workload_jit, &st);
	e = maps_find(c.view.maps, c.cap->s.regs[REGS_IP]);
	assert_non_null(e);
	assert_null(e->image);
	assert_true(e->prot & MAPS_PROT_EXEC);
	stack_expect(&st, st.n >= 4, "too few frames");
	stack_expect_names(&st, 1, "workload_jit", "tracee_child", NULL);
	stack_expect_main_tail(&st, 2);
	child_stop(&c);
}

/*
 * Samples landing in the vdso (clock_gettime) unwind through it.  Between
 * the innermost frame and vdso_spinner stand more frames of the vdso (a
 * sample may land in the internal helper __vdso_clock_gettime calls, one
 * frame deeper), then libc's clock_gettime (and a sanitizer's interceptor),
 * nothing else; the stack must go on through vdso_spinner to the root.
 */
static void test_vdso(void **state)
{
	const struct maps_entry *e = NULL;
	struct timespec pause = { 0, 200000 };
	struct stack st;
	struct child c;
	long v, i = 1;
	int tries;

	(void)state;
	child_start(&c, vdso_spinner);
	for (tries = 0; tries < 2000; tries++) {
		capture_thread(&c, c.pid);
		e = maps_find(c.view.maps, c.cap->s.regs[REGS_IP]);
		if (e != NULL && strcmp(e->path, "[vdso]") == 0)
			break;
		nanosleep(&pause, NULL);
	}
	if (tries == 2000) {
		child_stop(&c);
		skip();
	}
	stack_unwind(&c, &st);
	stack_expect(&st, st.n > 0 && strcmp(st.mod[0], "[vdso]") == 0, "#0 is not in the vdso");
	v = stack_find(&st, 1, "vdso_spinner");
	stack_expect(&st, v >= 1 && v <= 4, "vdso_spinner missing right above the vdso");
	while (i < v && strcmp(st.mod[i], "[vdso]") == 0)
		i++;
	for (; i < v; i++)
		stack_expect(&st, strcmp(st.mod[i], "libc.so.6") == 0 || is_sanitizer(st.mod[i]),
			     "unexpected frame between the vdso and vdso_spinner");
	stack_expect_names(&st, (size_t)v + 1, "tracee_child", NULL);
	stack_expect_main_tail(&st, (size_t)v + 1);
	child_stop(&c);
}

/* Nonsense registers and stacks give one frame and a failure, never a crash. */
static void test_garbage(void **state)
{
	struct tracee_capture *cap;
	struct unwind_sample s;
	uint64_t pcs[MAX_FRAMES];
	enum unwind_end end;
	struct child c;
	size_t n;

	(void)state;
	child_start(&c, main_like);
	capture_thread(&c, c.pid);
	cap = c.cap;

	/* IP and SP in no mapping, no stack. */
	memset(&s, 0, sizeof(s));
	s.regs[REGS_IP] = 0x10;
	s.regs[REGS_SP] = 0x20;
	s.regs[REGS_BP] = 0x30;
	n = unwind_stack(c.view.unw, &s, pcs, MAX_FRAMES, &end);
	assert_int_equal(n, 1);
	assert_int_equal(pcs[0], 0x10);
	assert_int_equal(end, UNWIND_END_FAILED);

	/* IP and SP just above user space (never mapped), a stack copy full of noise. */
	noise_fill(cap->stack, 4096, 0x9e3779b97f4a7c15ULL);
	s.regs[REGS_IP] = 0x800000001000ULL;
	s.regs[REGS_SP] = 0x800000100000ULL;
	s.regs[REGS_BP] = 0x800000100010ULL;
	assert_null(maps_find(c.view.maps, s.regs[REGS_IP]));
	assert_null(maps_find(c.view.maps, s.regs[REGS_SP]));
	s.stack = cap->stack;
	s.stack_len = 4096;
	n = unwind_stack(c.view.unw, &s, pcs, MAX_FRAMES, &end);
	assert_int_equal(n, 1);
	assert_int_equal(end, UNWIND_END_FAILED);

	/* A real IP and SP (level3) over a stack of noise: the CFI reads junk. */
	noise_fill(cap->stack, sizeof(cap->stack), 0x2545f4914f6cdd1dULL);
	n = unwind_stack(c.view.unw, &cap->s, pcs, MAX_FRAMES, &end);
	assert_int_equal(n, 1);
	assert_int_equal(end, UNWIND_END_FAILED);

	/* Degenerate arrays. */
	n = unwind_stack(c.view.unw, &cap->s, pcs, 1, &end);
	assert_int_equal(n, 1);
	assert_int_equal(end, UNWIND_END_DEPTH);
	n = unwind_stack(c.view.unw, &cap->s, pcs, 0, &end);
	assert_int_equal(n, 0);
	child_stop(&c);
}

/* Appends a ULEB128 number to buf at *n. */
static void put_uleb(uint8_t *buf, size_t *n, uint64_t v)
{
	do {
		buf[(*n)++] = (uint8_t)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
}

/*
 * Writes an ELF file of one function, 64 bytes of code at 0x1000 whose FDE
 * says, one byte in, "DW_CFA_register r9 in r<reg2>" (the CIE: CFA = rsp +
 * 8, return address at CFA - 8), with its .eh_frame_hdr at 0x1080 and
 * .eh_frame at 0x1100; file offsets equal addresses.  Returns its path
 * (static buffer).
 */
static const char *write_cfi_file(uint64_t reg2)
{
	static const char names[] = "\0.text\0.eh_frame_hdr\0.eh_frame\0.shstrtab";
	static char path[] = "/tmp/test_unwind_cfi.XXXXXX";
	uint8_t *f = calloc(1, 0x1300), *fr = f + 0x1100, *hdr = f + 0x1080;
	Elf64_Ehdr *eh = (Elf64_Ehdr *)f;
	Elf64_Phdr *ph = (Elf64_Phdr *)(f + sizeof(*eh));
	Elf64_Shdr *sh = (Elf64_Shdr *)(f + 0x1180);
	size_t n = 0, fde;
	int32_t v;
	int fd;

	assert_non_null(f);
	memcpy(eh->e_ident, ELFMAG, SELFMAG);
	eh->e_ident[EI_CLASS] = ELFCLASS64;
	eh->e_ident[EI_DATA] = ELFDATA2LSB;
	eh->e_ident[EI_VERSION] = EV_CURRENT;
	eh->e_type = ET_DYN;
	eh->e_machine = EM_X86_64;
	eh->e_version = EV_CURRENT;
	eh->e_phoff = sizeof(*eh);
	eh->e_shoff = 0x1180;
	eh->e_ehsize = sizeof(*eh);
	eh->e_phentsize = sizeof(*ph);
	eh->e_phnum = 1;
	eh->e_shentsize = sizeof(*sh);
	eh->e_shnum = 5;
	eh->e_shstrndx = 4;
	*ph = (Elf64_Phdr){ PT_LOAD, PF_R | PF_X, 0, 0, 0, 0x1300, 0x1300, 0x1000 };
	memset(f + 0x1000, 0x90, 64);

	/* CIE: version 1, "zR", code 1, data -8, RA column 16, FDE pointers pcrel|sdata4. */
	memcpy(fr, "\x14\0\0\0\0\0\0\0\x01zR\0\x01\x78\x10\x01\x1b\x0c\x07\x08\x90\x01\0\0", 24);
	/* FDE for [0x1000, 0x1040): one byte in, r9 is held in reg2. */
	fde = 24;
	n = fde + 4;
	v = (int32_t)(n);				/* back to the CIE */
	memcpy(fr + n, &v, 4), n += 4;
	v = (int32_t)(0x1000 - (0x1100 + (int64_t)n));	/* pc_begin, pcrel */
	memcpy(fr + n, &v, 4), n += 4;
	v = 64;
	memcpy(fr + n, &v, 4), n += 4;
	fr[n++] = 0;					/* no augmentation data */
	fr[n++] = 0x41;					/* DW_CFA_advance_loc 1 */
	fr[n++] = 0x09;					/* DW_CFA_register r9, reg2 */
	fr[n++] = 9;
	put_uleb(fr, &n, reg2);
	n = (n + 3) & ~(size_t)3;			/* DW_CFA_nop padding */
	v = (int32_t)(n - fde - 4);
	memcpy(fr + fde, &v, 4);

	/* .eh_frame_hdr: version 1, eh_frame_ptr pcrel|sdata4, count udata4, one datarel pair. */
	memcpy(hdr, "\x01\x1b\x03\x3b", 4);
	v = 0x1100 - (0x1080 + 4);
	memcpy(hdr + 4, &v, 4);
	v = 1;
	memcpy(hdr + 8, &v, 4);
	v = 0x1000 - 0x1080;
	memcpy(hdr + 12, &v, 4);
	v = (int32_t)(0x1100 + fde - 0x1080);
	memcpy(hdr + 16, &v, 4);

	memcpy(f + 0x1150, names, sizeof(names));
	sh[1] = (Elf64_Shdr){ 1, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, 0x1000, 0x1000, 64, 0, 0,
			      16, 0 };
	sh[2] = (Elf64_Shdr){ 7, SHT_PROGBITS, SHF_ALLOC, 0x1080, 0x1080, 20, 0, 0, 4, 0 };
	sh[3] = (Elf64_Shdr){ 21, SHT_PROGBITS, SHF_ALLOC, 0x1100, 0x1100, n + 4, 0, 0, 8, 0 };
	sh[4] = (Elf64_Shdr){ 31, SHT_STRTAB, 0, 0, 0x1150, sizeof(names), 0, 0, 1, 0 };

	strcpy(path, "/tmp/test_unwind_cfi.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, f, 0x1300), 0x1300);
	close(fd);
	free(f);
	return path;
}

/*
 * Unwinds one sample in write_cfi_file(reg2)'s code, one byte into its
 * function, whose return address is on the stack: the frames found.
 */
static size_t unwind_cfi_file(uint64_t reg2, uint64_t *pcs, enum unwind_end *end)
{
	const uint64_t code = 0x10000000000ULL, stack = 0x7ff000000000ULL;
	const char *path = write_cfi_file(reg2);
	struct elf_cache *cache = elf_cache_new();
	struct maps *maps = maps_new(getpid(), cache);
	uint64_t words[8] = { code + 0x1030 };
	const struct maps_entry *e;
	struct unwind_sample s;
	struct unwinder *u;
	struct error err;
	struct stat st;
	size_t n;

	assert_int_equal(stat(path, &st), 0);
	maps_add(maps, code, 0x2000, 0, st.st_dev, st.st_ino, MAPS_PROT_READ | MAPS_PROT_EXEC, path);
	maps_add(maps, stack, 0x10000, 0, 0, 0, MAPS_PROT_READ | MAPS_PROT_WRITE, "[stack]");
	e = maps_find(maps, code + 0x1010);
	assert_true(e != NULL && e->image != NULL);
	unlink(path);	/* the image keeps it mapped */
	u = unwind_new(maps, &err);
	assert_non_null(u);
	memset(&s, 0, sizeof(s));
	s.regs[REGS_IP] = code + 0x1010;
	s.regs[REGS_SP] = stack + 0x8000;
	s.stack = (const uint8_t *)words;
	s.stack_len = sizeof(words);
	n = unwind_stack(u, &s, pcs, MAX_FRAMES, end);
	assert_int_equal(pcs[0], code + 0x1010);
	unwind_free(u);
	maps_free(maps);
	elf_cache_free(cache);
	return n;
}

/*
 * CFI naming a register past libunwind's 17 ("r9 is held in r100000"):
 * libunwind 1.6.2 indexed its register array with it and read far past the
 * stack (SIGSEGV, found by fuzzing).  Such a frame now unwinds as one
 * without CFI; the same file naming r8 unwinds through the return address.
 */
static void test_cfi_register_out_of_range(void **state)
{
	uint64_t pcs[MAX_FRAMES];
	enum unwind_end end;
	size_t n;

	(void)state;
	n = unwind_cfi_file(8, pcs, &end);
	assert_true(n >= 2);
	assert_int_equal(pcs[1], 0x10000000000ULL + 0x1030 - 1);
	n = unwind_cfi_file(100000, pcs, &end);
	assert_int_equal(n, 1);
	assert_int_equal(end, UNWIND_END_FAILED);
}

/* Sorts doubles ascending (for the median). */
static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/*
 * Cost of one unwind of a ~20-frame stack: the first (cold: tables parsed,
 * CFI decoded), warm (the same sample 10,000 times, in 10 batches whose
 * median and best are reported: the machine is shared), and right after
 * unwind_flush (libunwind's rule cache empty, our per-image tables kept).
 * The child is stopped meanwhile so it does not compete for a CPU.
 */
static void test_bench(void **state)
{
	struct timespec t0;
	uint64_t pcs[MAX_FRAMES];
	enum unwind_end end;
	struct stack st;
	struct child c;
	double cold, batch[10], flushed;
	size_t roots = 0, n = 0;
	const int per_batch = 1000;

	(void)state;
	child_start(&c, deep_chain);
	capture_thread(&c, c.pid);
	kill(c.pid, SIGSTOP);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = unwind_stack(c.view.unw, &c.cap->s, pcs, MAX_FRAMES, &end);
	cold = stopwatch_usec_since(&t0);

	stack_unwind(&c, &st);
	stack_expect(&st, st.n >= 20, "expected a stack of 20 frames or more");
	stack_expect_names(&st, 0, "workload_spin", NULL);
	for (size_t i = 1; i <= 11; i++)
		stack_expect(&st, strcmp(st.fn[i], "workload_deep") == 0, "deep frames missing");
	stack_expect_main_tail(&st, 12);

	for (int b = 0; b < 10; b++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < per_batch; i++) {
			n = unwind_stack(c.view.unw, &c.cap->s, pcs, MAX_FRAMES, &end);
			roots += end == UNWIND_END_ROOT;
		}
		batch[b] = stopwatch_usec_since(&t0) / per_batch;
	}
	qsort(batch, 10, sizeof(batch[0]), cmp_double);
	assert_int_equal(n, st.n);
	assert_int_equal(roots, (size_t)10 * per_batch);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < per_batch; i++) {
		unwind_flush(c.view.unw, 0, UINT64_MAX);
		n = unwind_stack(c.view.unw, &c.cap->s, pcs, MAX_FRAMES, &end);
	}
	flushed = stopwatch_usec_since(&t0) / per_batch;
	assert_int_equal(n, st.n);

	print_message("unwind of %zu frames: first %.1f us; warm median %.2f us, best %.2f us"
		      " (%d unwinds, %zu at root); after unwind_flush %.2f us\n", st.n, cold,
		      (batch[4] + batch[5]) / 2, batch[0], 10 * per_batch, roots, flushed);
	child_stop(&c);
}

/* Many samples of a program doing varied libc work: nearly all reach the root. */
static void test_busy(void **state)
{
	struct timespec pause = { 0, 1000000 };
	size_t ends[4] = { 0 }, printed = 0;
	const size_t samples = 300;
	struct stack st;
	struct child c;

	(void)state;
	child_start(&c, workload_busy);
	for (size_t i = 0; i < samples; i++) {
		capture_thread(&c, c.pid);
		stack_unwind(&c, &st);
		ends[st.end]++;
		if (st.end != UNWIND_END_ROOT && printed++ < 3)
			stack_print(&st, "busy sample not at the root");
		nanosleep(&pause, NULL);
	}
	print_message("busy: %zu samples: root %zu, truncated %zu, failed %zu, depth %zu\n",
		      samples, ends[UNWIND_END_ROOT], ends[UNWIND_END_TRUNCATED],
		      ends[UNWIND_END_FAILED], ends[UNWIND_END_DEPTH]);
	/* Every instruction of this workload has CFI: anything else is a bug. */
	assert_int_equal(ends[UNWIND_END_ROOT], samples);
	child_stop(&c);
}

/*
 * Single-steps a child through several iterations of a loop of calls (PLT
 * stubs, libc string functions, prologues, epilogues) and unwinds at every
 * instruction: each one must reach the root through workload_step_loop.
 */
static void test_every_instruction(void **state)
{
	size_t bad = 0, in_inner = 0;
	const size_t steps = 1500;
	struct stack st;
	struct child c;
	int status;

	(void)state;
	child_start(&c, workload_step_loop);
	assert_int_equal(tracee_stop(c.pid), 0);
	for (size_t i = 0; i < steps; i++) {
		assert_true(tracee_read(c.pid, c.pid, c.view.maps, c.cap) > 0);
		stack_unwind(&c, &st);
		in_inner += strcmp(st.fn[0], "workload_step_inner") == 0;
		if (st.end != UNWIND_END_ROOT || stack_find(&st, 0, "workload_step_loop") < 0 ||
		    strcmp(st.fn[st.n - 1], "_start") != 0) {
			if (bad++ < 3)
				stack_print(&st, "instruction not unwound to the root");
		}
		assert_int_equal(ptrace(PTRACE_SINGLESTEP, c.pid, 0, 0), 0);
		assert_int_equal(waitpid(c.pid, &status, __WALL), c.pid);
		assert_true(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP);
	}
	assert_int_equal(ptrace(PTRACE_DETACH, c.pid, 0, 0), 0);
	print_message("single-stepped %zu instructions (%zu in workload_step_inner): %zu not unwound\n",
		      steps, in_inner, bad);
	assert_true(in_inner > 0);
	assert_int_equal(bad, 0);
	child_stop(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_qsort),
		cmocka_unit_test(test_thread),
		cmocka_unit_test(test_signal),
		cmocka_unit_test(test_jit),
		cmocka_unit_test(test_vdso),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_cfi_register_out_of_range),
		cmocka_unit_test(test_every_instruction),
		cmocka_unit_test(test_bench),
		cmocka_unit_test(test_busy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
