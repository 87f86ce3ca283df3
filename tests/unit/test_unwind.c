#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <elf.h>
#include <pthread.h>
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

#include "symbols/elf_image.h"
#include "symbols/maps.h"
#include "symbols/resolve.h"
#include "symbols/symtab.h"
#include "unwind/unwind.h"

/*
 * The unwinder against real processes: a child forked from this test runs a
 * known call chain (built -O2, with frame pointers as the Makefile compiles
 * tests, plus libc code built without them), the parent stops it with
 * ptrace, copies its registers and stack exactly as the ptrace sampler does,
 * unwinds the copy and symbolizes every pc.
 */

#define MAX_FRAMES 128
#define STACK_COPY 65536
#define READY_TIMEOUT_MS 10000

/* Memory shared with the child (MAP_SHARED before fork: same address in both). */
struct shared {
	volatile int ready;	/* the child reached the code under test */
	volatile int stop;	/* never set: keeps spinning loops returning functions */
	volatile pid_t tid;	/* thread to sample when not the main thread */
	volatile uint64_t sig_ip; /* interrupted RIP, seen by the signal handler */
	volatile uint64_t sink;	/* keeps the busy work alive */
};

enum child_mode {
	CHILD_CHAIN,
	CHILD_QSORT,
	CHILD_THREAD,
	CHILD_SIGNAL,
	CHILD_JIT,
	CHILD_VDSO,
	CHILD_DEEP,
	CHILD_BUSY,
	CHILD_STEP,
};

struct child {
	pid_t pid;
	struct shared *sh;
	struct elf_cache *cache;
	struct maps *maps;
	struct unwinder *unw;
};

/* One stop of one thread, as a sampler would have captured it. */
struct capture {
	struct unwind_sample s;
	uint8_t stack[STACK_COPY];
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
__attribute__((noinline, noipa)) static uint64_t level3(struct shared *sh, uint64_t x)
{
	sh->ready = 1;
	while (!sh->stop)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

/* Middle of the chain; the xor after the call prevents a tail call. */
__attribute__((noinline, noipa)) static uint64_t level2(struct shared *sh, uint64_t x)
{
	return level3(sh, x + 2) ^ x;
}

/* Outer end of the chain. */
__attribute__((noinline, noipa)) static uint64_t level1(struct shared *sh, uint64_t x)
{
	return level2(sh, x * 3) + x;
}

/* Where the chain starts, standing in for a program's main. */
__attribute__((noinline, noipa)) static uint64_t main_like(struct shared *sh)
{
	return level1(sh, 7) * 5;
}

/* The array element qsort sorts: it carries the shared page to the callback. */
struct qsort_item {
	struct shared *sh;
	int key;
};

/* qsort comparison callback that never returns: sampled under libc's qsort. */
__attribute__((noinline, noipa)) static int cmp_spin(const void *a, const void *b)
{
	const struct qsort_item *x = a, *y = b;
	uint64_t v = (uint64_t)x->key;

	x->sh->ready = 1;
	while (!x->sh->stop)
		v = v * 2862933555777941757ULL + 3037000493ULL;
	return (int)(v & 1) + x->key - y->key;
}

/* Calls libc's qsort (built without frame pointers) with the spinning callback. */
__attribute__((noinline, noipa)) static int qsort_caller(struct shared *sh)
{
	struct qsort_item items[64];

	for (int i = 0; i < 64; i++)
		items[i] = (struct qsort_item){ sh, (i * 37) % 64 };
	qsort(items, 64, sizeof(items[0]), cmp_spin);
	return items[0].key + 1;
}

/* Innermost frame of the sampled thread. */
__attribute__((noinline, noipa)) static uint64_t thread_level2(struct shared *sh, uint64_t x)
{
	sh->tid = (pid_t)syscall(SYS_gettid);
	sh->ready = 1;
	while (!sh->stop)
		x = x * 6364136223846793005ULL + 1;
	return x;
}

/* Calls thread_level2; the addition keeps the frame. */
__attribute__((noinline, noipa)) static uint64_t thread_level1(struct shared *sh, uint64_t x)
{
	return thread_level2(sh, x + 1) + 3;
}

/* pthread start routine. */
__attribute__((noinline, noipa)) static void *thread_entry(void *arg)
{
	return (void *)(uintptr_t)(thread_level1(arg, 11) + 1);
}

/* Creates the sampled thread and waits for it forever. */
__attribute__((noinline, noipa)) static int thread_parent(struct shared *sh)
{
	pthread_t t;

	if (pthread_create(&t, NULL, thread_entry, sh) != 0)
		return -1;
	pthread_join(t, NULL);
	return 0;
}

/* SIGUSR1 handler that records where it interrupted and then spins. */
__attribute__((noinline, noipa)) static void sig_handler(int sig, siginfo_t *info, void *ucv)
{
	struct shared *sh = info->si_value.sival_ptr;
	ucontext_t *uc = ucv;
	uint64_t v = (uint64_t)sig;

	sh->sig_ip = (uint64_t)uc->uc_mcontext.gregs[REG_RIP];
	sh->ready = 2;
	while (!sh->stop)
		v = v * 6364136223846793005ULL + 1;
	sh->sink = v;
}

/* The code the signal interrupts. */
__attribute__((noinline, noipa)) static uint64_t sig_victim(struct shared *sh, uint64_t x)
{
	sh->ready = 1;
	while (!sh->stop)
		x = x * 2862933555777941757ULL + 3037000493ULL;
	return x;
}

/* Installs the handler and runs the victim. */
__attribute__((noinline, noipa)) static uint64_t sig_parent(struct shared *sh)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = sig_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL) != 0)
		return 0;
	return sig_victim(sh, 5) + 1;
}

/*
 * Machine code with a frame pointer and no unwind information at all, like
 * JIT output:  push %rbp; mov %rsp,%rbp; movabs $&sh->ready,%rax;
 * movl $1,(%rax); jmp .   The unwinder must fall back to RBP here.
 */
__attribute__((noinline, noipa)) static uint64_t jit_caller(struct shared *sh)
{
	static const uint8_t head[] = { 0x55, 0x48, 0x89, 0xe5, 0x48, 0xb8 };
	static const uint8_t tail[] = { 0xc7, 0x00, 0x01, 0x00, 0x00, 0x00, 0xeb, 0xfe };
	uint64_t flag = (uint64_t)(uintptr_t)&sh->ready;
	uint64_t (*fn)(void);
	uint8_t *code;

	code = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (code == MAP_FAILED)
		return 0;
	memcpy(code, head, sizeof(head));
	memcpy(code + sizeof(head), &flag, 8);
	memcpy(code + sizeof(head) + 8, tail, sizeof(tail));
	__builtin___clear_cache((char *)code, (char *)code + 64);
	fn = (uint64_t (*)(void))(uintptr_t)code;
	return fn() + 1;
}

/* Spins calling clock_gettime, which runs in the vdso. */
__attribute__((noinline, noipa)) static uint64_t vdso_spinner(struct shared *sh)
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

/* Recursion to a known depth, then the spinning leaf. */
__attribute__((noinline, noipa)) static uint64_t deep(struct shared *sh, int depth)
{
	uint64_t r = depth == 0 ? level3(sh, 1) : deep(sh, depth - 1);

	/* Opaque to the optimizer: no loop instead of recursion, no tail call. */
	__asm__ volatile("" : "+r"(r));
	return r + (uint64_t)depth;
}

/* Ordinary comparison for the busy workload. */
static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Uses callee-saved registers across libc calls (via the PLT): real prologues and epilogues. */
__attribute__((noinline, noipa)) static uint64_t step_inner(struct shared *sh, const char *text)
{
	uint64_t h = 1469598103934665603ULL;
	char buf[64];
	size_t n = strlen(text);

	memcpy(buf, text, n + 1);
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)buf[i]) * 1099511628211ULL;
	return h + (uint64_t)sh->stop;
}

/* Two calls, so returns land in the middle of a function. */
__attribute__((noinline, noipa)) static uint64_t step_outer(struct shared *sh)
{
	uint64_t r = step_inner(sh, "every instruction") ^ step_inner(sh, "unwinds");

	__asm__ volatile("" : "+r"(r));
	return r;
}

/* The loop the single-stepping test walks through. */
__attribute__((noinline, noipa)) static void step_loop(struct shared *sh)
{
	sh->ready = 1;
	while (!sh->stop)
		sh->sink += step_outer(sh);
}

/* Recursion that returns, for the busy workload. */
__attribute__((noinline, noipa)) static uint64_t recurse(struct shared *sh, int depth)
{
	uint64_t r;

	if (depth == 0)
		return sh->sink;
	r = recurse(sh, depth - 1);
	__asm__ volatile("" : "+r"(r));
	return r * 3 + (uint64_t)depth;
}

/* Varied real work (libc sorting, formatting, string and time calls). */
__attribute__((noinline, noipa)) static void busy(struct shared *sh)
{
	unsigned seed = 1;
	char buf[256];
	int arr[512];
	struct timespec ts;

	sh->ready = 1;
	while (!sh->stop) {
		for (int i = 0; i < 512; i++)
			arr[i] = rand_r(&seed);
		qsort(arr, 512, sizeof(arr[0]), cmp_int);
		snprintf(buf, sizeof(buf), "%d %f %s", arr[7], arr[3] / 7.0, "busy");
		sh->sink += strlen(buf);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sh->sink += (uint64_t)ts.tv_nsec + recurse(sh, 12);
	}
}

/* The child's whole life: run the code under test, never come back. */
__attribute__((noinline, noipa)) static void child_run(struct shared *sh, enum child_mode mode)
{
	switch (mode) {
	case CHILD_CHAIN:
		sh->sink = main_like(sh);
		break;
	case CHILD_QSORT:
		sh->sink = (uint64_t)qsort_caller(sh);
		break;
	case CHILD_THREAD:
		sh->sink = (uint64_t)thread_parent(sh);
		break;
	case CHILD_SIGNAL:
		sh->sink = sig_parent(sh);
		break;
	case CHILD_JIT:
		sh->sink = jit_caller(sh);
		break;
	case CHILD_VDSO:
		sh->sink = vdso_spinner(sh);
		break;
	case CHILD_DEEP:
		sh->sink = deep(sh, 10);
		break;
	case CHILD_BUSY:
		busy(sh);
		break;
	case CHILD_STEP:
		step_loop(sh);
		break;
	}
	sh->ready = -1;
}

/* --------------------------------------------------------------- parent */

/* Waits until the child reports stage want (or gives up after a timeout). */
static int wait_ready(const struct shared *sh, int want)
{
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < READY_TIMEOUT_MS; i++) {
		if (sh->ready == want)
			return 0;
		if (sh->ready < 0)
			return -1;
		nanosleep(&ms, NULL);
	}
	return -1;
}

/* Forks a child running mode and builds the unwinder's view of it. */
static void child_start(struct child *c, enum child_mode mode)
{
	struct error err;

	memset(c, 0, sizeof(*c));
	c->sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(c->sh != MAP_FAILED);
	memset(c->sh, 0, sizeof(*c->sh));
	c->pid = fork();
	assert_true(c->pid >= 0);
	if (c->pid == 0) {
		/* Dies with the test even if an assertion ends it early. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		child_run(c->sh, mode);
		_exit(0);
	}
	assert_int_equal(wait_ready(c->sh, 1), 0);
	if (mode == CHILD_SIGNAL) {
		union sigval v = { .sival_ptr = c->sh };

		assert_int_equal(sigqueue(c->pid, SIGUSR1, v), 0);
		assert_int_equal(wait_ready(c->sh, 2), 0);
	}
	c->cache = elf_cache_new();
	c->maps = maps_new(c->pid, c->cache);
	if (maps_load(c->maps, &err) != 0)
		fail_msg("maps_load: %s", err.msg);
	c->unw = unwind_new(c->maps, &err);
	if (c->unw == NULL)
		fail_msg("unwind_new: %s", err.msg);
}

/* Kills the child and frees the unwinder's view of it. */
static void child_stop(struct child *c)
{
	int status;

	unwind_free(c->unw);
	maps_free(c->maps);
	elf_cache_free(c->cache);
	kill(c->pid, SIGKILL);
	waitpid(c->pid, &status, 0);
	munmap(c->sh, 4096);
}

/* Seizes thread tid and stops it (PTRACE_INTERRUPT), as the ptrace sampler does. */
static void thread_attach(pid_t tid)
{
	int status;

	assert_int_equal(ptrace(PTRACE_SEIZE, tid, 0, 0), 0);
	assert_int_equal(ptrace(PTRACE_INTERRUPT, tid, 0, 0), 0);
	for (;;) {
		assert_int_equal(waitpid(tid, &status, __WALL), tid);
		assert_true(WIFSTOPPED(status));
		if ((status >> 16) == PTRACE_EVENT_STOP)
			break;
		/* A signal won the race: deliver it, the interrupt stays pending. */
		assert_int_equal(ptrace(PTRACE_CONT, tid, 0, WSTOPSIG(status)), 0);
	}
}

/*
 * Reads a stopped thread like the ptrace sampler: registers in perf's
 * numbering, then one process_vm_readv of the stack from SP up to 64 KiB or
 * the end of its mapping.
 */
static void thread_read(struct child *c, pid_t tid, struct capture *cap)
{
	struct user_regs_struct r;
	struct iovec local, remote;
	const struct maps_entry *e;
	uint64_t *g;
	size_t len = STACK_COPY;
	ssize_t got;

	assert_int_equal(ptrace(PTRACE_GETREGS, tid, 0, &r), 0);
	memset(&cap->s, 0, sizeof(cap->s));
	g = cap->s.regs;
	g[0] = r.rax, g[1] = r.rbx, g[2] = r.rcx, g[3] = r.rdx, g[4] = r.rsi, g[5] = r.rdi;
	g[6] = r.rbp, g[7] = r.rsp, g[8] = r.rip, g[9] = r.eflags, g[10] = r.cs, g[11] = r.ss;
	g[16] = r.r8, g[17] = r.r9, g[18] = r.r10, g[19] = r.r11;
	g[20] = r.r12, g[21] = r.r13, g[22] = r.r14, g[23] = r.r15;

	e = maps_find(c->maps, r.rsp);
	if (e != NULL && e->end - r.rsp < len)
		len = e->end - r.rsp;
	local = (struct iovec){ cap->stack, len };
	remote = (struct iovec){ (void *)(uintptr_t)r.rsp, len };
	got = process_vm_readv(c->pid, &local, 1, &remote, 1, 0);
	assert_true(got > 0);
	cap->s.stack = cap->stack;
	cap->s.stack_len = (size_t)got;
}

/* Stops thread tid, captures it and lets it go again: one ptrace-mode sample. */
static void capture_thread(struct child *c, pid_t tid, struct capture *cap)
{
	thread_attach(tid);
	thread_read(c, tid, cap);
	assert_int_equal(ptrace(PTRACE_DETACH, tid, 0, 0), 0);
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

/* Unwinds a capture with at most max frames and symbolizes every pc. */
static void stack_unwind_max(struct child *c, const struct capture *cap, struct stack *st,
			     size_t max)
{
	struct resolve_result res;

	memset(st, 0, sizeof(*st));
	st->n = unwind_stack(c->unw, &cap->s, st->pcs, max, &st->end);
	for (size_t i = 0; i < st->n; i++) {
		memset(&res, 0, sizeof(res));
		if (resolve_addr(c->maps, st->pcs[i], &res) != 0)
			res.module = "[unknown]";
		st->fn[i] = res.function ? res.function : "";
		st->mod[i] = res.module ? res.module : "";
	}
	if (getenv("UNWIND_TEST_VERBOSE") != NULL)
		stack_print(st, "stack");
}

/* Unwinds a capture with room for every frame. */
static void stack_unwind(struct child *c, const struct capture *cap, struct stack *st)
{
	stack_unwind_max(c, cap, st, MAX_FRAMES);
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

/* True when value is stored as an aligned word in the stack copy. */
static int stack_holds(const struct capture *cap, uint64_t value)
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
 * The common tail of every main-thread stack below child_run: this test's
 * cmocka frames, main, libc's start code and _start, ending at the root.
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

/* level3 <- level2 <- level1 <- main_like <- ... <- main <- libc <- _start. */
static void test_chain(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct stack st, again;
	struct child c;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_CHAIN);
	capture_thread(&c, c.pid, cap);
	stack_unwind(&c, cap, &st);

	stack_expect(&st, st.n >= 10, "too few frames");
	stack_expect(&st, st.pcs[0] == cap->s.regs[REGS_IP], "pcs[0] is not the IP");
	stack_expect(&st, strcmp(st.fn[0], "level3") == 0, "#0 is not level3");
	stack_expect(&st, strcmp(st.fn[1], "level2") == 0, "#1 is not level2");
	stack_expect(&st, strcmp(st.fn[2], "level1") == 0, "#2 is not level1");
	stack_expect(&st, strcmp(st.fn[3], "main_like") == 0, "#3 is not main_like");
	stack_expect(&st, strcmp(st.fn[4], "child_run") == 0, "#4 is not child_run");
	stack_expect_main_tail(&st, 5);
	/* Later pcs are return addresses minus one: each return address is on the stack. */
	for (size_t i = 1; i < st.n; i++)
		stack_expect(&st, stack_holds(cap, st.pcs[i] + 1), "pc + 1 is not a saved return address");

	/* Warm (cached) and flushed unwinds give the very same answer. */
	stack_unwind(&c, cap, &again);
	assert_int_equal(again.n, st.n);
	assert_memory_equal(again.pcs, st.pcs, st.n * sizeof(st.pcs[0]));
	unwind_flush(c.unw, 0, UINT64_MAX);
	stack_unwind(&c, cap, &again);
	assert_int_equal(again.n, st.n);
	assert_int_equal(again.end, UNWIND_END_ROOT);
	assert_memory_equal(again.pcs, st.pcs, st.n * sizeof(st.pcs[0]));

	/* A short array stops at its size. */
	stack_unwind_max(&c, cap, &again, 3);
	assert_int_equal(again.n, 3);
	assert_int_equal(again.end, UNWIND_END_DEPTH);
	assert_memory_equal(again.pcs, st.pcs, 3 * sizeof(st.pcs[0]));

	child_stop(&c);
	free(cap);
}

/* A stack copy shorter than the stack ends the unwind early, as truncated. */
static void test_truncated(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct stack full, st;
	struct child c;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_CHAIN);
	capture_thread(&c, c.pid, cap);
	stack_unwind(&c, cap, &full);
	stack_expect(&full, full.end == UNWIND_END_ROOT, "full stack did not end at the root");

	cap->s.stack_len = 256;
	stack_unwind(&c, cap, &st);
	stack_expect(&st, st.n >= 2 && st.n < full.n, "256 bytes should give some frames, not all");
	stack_expect(&st, st.end == UNWIND_END_TRUNCATED, "end is not truncated");
	assert_memory_equal(st.pcs, full.pcs, st.n * sizeof(st.pcs[0]));

	/* No stack at all: only the IP is known, and more was needed. */
	cap->s.stack_len = 0;
	stack_unwind(&c, cap, &st);
	assert_int_equal(st.n, 1);
	assert_int_equal(st.end, UNWIND_END_TRUNCATED);

	child_stop(&c);
	free(cap);
}

/* cmp_spin under libc's qsort (no frame pointers, msort internals) under qsort_caller. */
static void test_qsort(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct stack st;
	struct child c;
	long q;
	int saw_qsort = 0;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_QSORT);
	capture_thread(&c, c.pid, cap);
	stack_unwind(&c, cap, &st);

	stack_expect(&st, strcmp(st.fn[0], "cmp_spin") == 0, "#0 is not cmp_spin");
	q = stack_find(&st, 1, "qsort_caller");
	stack_expect(&st, q >= 2, "qsort_caller missing");
	for (long i = 1; i < q; i++) {
		stack_expect(&st, strcmp(st.mod[i], "libc.so.6") == 0 || is_sanitizer(st.mod[i]),
			     "non-libc frame inside qsort");
		/* qsort_r in libc; __interceptor_qsort_r under ASan. */
		if (strstr(st.fn[i], "qsort") != NULL)
			saw_qsort = 1;
	}
	stack_expect(&st, saw_qsort, "no qsort frame between the callback and its caller");
	stack_expect(&st, strcmp(st.fn[q + 1], "child_run") == 0, "qsort_caller not under child_run");
	stack_expect_main_tail(&st, (size_t)q + 1);
	child_stop(&c);
	free(cap);
}

/* A pthread's stack ends in libc's start_thread / clone3, at the root. */
static void test_thread(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct stack st;
	struct child c;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_THREAD);
	assert_true(c.sh->tid > 0 && c.sh->tid != c.pid);
	capture_thread(&c, c.sh->tid, cap);
	stack_unwind(&c, cap, &st);

	stack_expect(&st, strcmp(st.fn[0], "thread_level2") == 0, "#0 is not thread_level2");
	stack_expect(&st, strcmp(st.fn[1], "thread_level1") == 0, "#1 is not thread_level1");
	stack_expect(&st, strcmp(st.fn[2], "thread_entry") == 0, "#2 is not thread_entry");
	stack_expect(&st, st.n >= 4 && st.n <= 7, "start_thread/clone3 frames missing or extra");
	for (size_t i = 3; i < st.n; i++)
		stack_expect(&st, strcmp(st.mod[i], "libc.so.6") == 0, "non-libc frame under the thread");
	stack_expect(&st, st.end == UNWIND_END_ROOT, "did not end at the root");
	child_stop(&c);
	free(cap);
}

/* Through a signal frame: the interrupted frame's pc is exact (not minus one). */
static void test_signal(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct stack st;
	struct child c;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_SIGNAL);
	capture_thread(&c, c.pid, cap);
	stack_unwind(&c, cap, &st);

	stack_expect(&st, st.n >= 5, "too few frames");
	stack_expect(&st, strcmp(st.fn[0], "sig_handler") == 0, "#0 is not sig_handler");
	stack_expect(&st, strcmp(st.mod[1], "libc.so.6") == 0, "#1 is not libc's __restore_rt");
	stack_expect(&st, strcmp(st.fn[2], "sig_victim") == 0, "#2 is not sig_victim");
	stack_expect(&st, st.pcs[2] == c.sh->sig_ip, "the interrupted pc is not exact");
	stack_expect(&st, strcmp(st.fn[3], "sig_parent") == 0, "#3 is not sig_parent");
	stack_expect(&st, strcmp(st.fn[4], "child_run") == 0, "#4 is not child_run");
	stack_expect_main_tail(&st, 4);
	child_stop(&c);
	free(cap);
}

/* Code without any unwind table is crossed through its frame pointer. */
static void test_jit(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	const struct maps_entry *e;
	struct stack st;
	struct child c;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_JIT);
	capture_thread(&c, c.pid, cap);
	e = maps_find(c.maps, cap->s.regs[REGS_IP]);
	assert_non_null(e);
	assert_null(e->image);
	assert_true(e->prot & MAPS_PROT_EXEC);
	stack_unwind(&c, cap, &st);

	stack_expect(&st, st.n >= 4, "too few frames");
	stack_expect(&st, strcmp(st.fn[1], "jit_caller") == 0, "#1 is not jit_caller");
	stack_expect(&st, strcmp(st.fn[2], "child_run") == 0, "#2 is not child_run");
	stack_expect_main_tail(&st, 2);
	child_stop(&c);
	free(cap);
}

/* Samples landing in the vdso (clock_gettime) unwind through it. */
static void test_vdso(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	const struct maps_entry *e = NULL;
	struct timespec pause = { 0, 200000 };
	struct stack st;
	struct child c;
	long v;
	int tries;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_VDSO);
	for (tries = 0; tries < 2000; tries++) {
		capture_thread(&c, c.pid, cap);
		e = maps_find(c.maps, cap->s.regs[REGS_IP]);
		if (e != NULL && strcmp(e->path, "[vdso]") == 0)
			break;
		nanosleep(&pause, NULL);
	}
	if (tries == 2000) {
		child_stop(&c);
		free(cap);
		skip();
	}
	stack_unwind(&c, cap, &st);
	v = stack_find(&st, 1, "vdso_spinner");
	stack_expect(&st, v >= 1 && v <= 4, "vdso_spinner missing right above the vdso");
	for (long i = 1; i < v; i++)
		stack_expect(&st, strcmp(st.mod[i], "libc.so.6") == 0 || is_sanitizer(st.mod[i]),
			     "unexpected frame between the vdso and vdso_spinner");
	stack_expect(&st, strcmp(st.fn[v + 1], "child_run") == 0, "#v+1 is not child_run");
	stack_expect_main_tail(&st, (size_t)v + 1);
	child_stop(&c);
	free(cap);
}

/* Fills a buffer with deterministic noise (xorshift64). */
static void noise_fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		memcpy(p + i, &seed, 8);
	}
}

/* Nonsense registers and stacks give one frame and a failure, never a crash. */
static void test_garbage(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct unwind_sample s;
	uint64_t pcs[MAX_FRAMES];
	enum unwind_end end;
	struct child c;
	size_t n;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_CHAIN);
	capture_thread(&c, c.pid, cap);

	/* IP and SP in no mapping, no stack. */
	memset(&s, 0, sizeof(s));
	s.regs[REGS_IP] = 0x10;
	s.regs[REGS_SP] = 0x20;
	s.regs[REGS_BP] = 0x30;
	n = unwind_stack(c.unw, &s, pcs, MAX_FRAMES, &end);
	assert_int_equal(n, 1);
	assert_int_equal(pcs[0], 0x10);
	assert_int_equal(end, UNWIND_END_FAILED);

	/* IP and SP just above user space (never mapped), a stack copy full of noise. */
	noise_fill(cap->stack, 4096, 0x9e3779b97f4a7c15ULL);
	s.regs[REGS_IP] = 0x800000001000ULL;
	s.regs[REGS_SP] = 0x800000100000ULL;
	s.regs[REGS_BP] = 0x800000100010ULL;
	assert_null(maps_find(c.maps, s.regs[REGS_IP]));
	assert_null(maps_find(c.maps, s.regs[REGS_SP]));
	s.stack = cap->stack;
	s.stack_len = 4096;
	n = unwind_stack(c.unw, &s, pcs, MAX_FRAMES, &end);
	assert_int_equal(n, 1);
	assert_int_equal(end, UNWIND_END_FAILED);

	/* A real IP and SP (level3) over a stack of noise: the CFI reads junk. */
	noise_fill(cap->stack, sizeof(cap->stack), 0x2545f4914f6cdd1dULL);
	n = unwind_stack(c.unw, &cap->s, pcs, MAX_FRAMES, &end);
	assert_int_equal(n, 1);
	assert_int_equal(end, UNWIND_END_FAILED);

	/* Degenerate arrays. */
	n = unwind_stack(c.unw, &cap->s, pcs, 1, &end);
	assert_int_equal(n, 1);
	assert_int_equal(end, UNWIND_END_DEPTH);
	n = unwind_stack(c.unw, &cap->s, pcs, 0, &end);
	assert_int_equal(n, 0);

	child_stop(&c);
	free(cap);
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

/* Microseconds elapsed since *t0. */
static double usec_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e6 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e3;
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
	struct capture *cap = calloc(1, sizeof(*cap));
	struct timespec t0;
	uint64_t pcs[MAX_FRAMES];
	enum unwind_end end;
	struct stack st;
	struct child c;
	double cold, batch[10], flushed;
	size_t roots = 0, n = 0;
	const int per_batch = 1000;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_DEEP);
	capture_thread(&c, c.pid, cap);
	kill(c.pid, SIGSTOP);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	n = unwind_stack(c.unw, &cap->s, pcs, MAX_FRAMES, &end);
	cold = usec_since(&t0);

	stack_unwind(&c, cap, &st);
	stack_expect(&st, st.n >= 20, "expected a stack of 20 frames or more");
	stack_expect(&st, strcmp(st.fn[0], "level3") == 0, "#0 is not level3");
	for (size_t i = 1; i <= 11; i++)
		stack_expect(&st, strcmp(st.fn[i], "deep") == 0, "deep frames missing");
	stack_expect_main_tail(&st, 12);

	for (int b = 0; b < 10; b++) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < per_batch; i++) {
			n = unwind_stack(c.unw, &cap->s, pcs, MAX_FRAMES, &end);
			roots += end == UNWIND_END_ROOT;
		}
		batch[b] = usec_since(&t0) / per_batch;
	}
	qsort(batch, 10, sizeof(batch[0]), cmp_double);
	assert_int_equal(n, st.n);
	assert_int_equal(roots, (size_t)10 * per_batch);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < per_batch; i++) {
		unwind_flush(c.unw, 0, UINT64_MAX);
		n = unwind_stack(c.unw, &cap->s, pcs, MAX_FRAMES, &end);
	}
	flushed = usec_since(&t0) / per_batch;
	assert_int_equal(n, st.n);

	print_message("unwind of %zu frames: first %.1f us; warm median %.2f us, best %.2f us"
		      " (%d unwinds, %zu at root); after unwind_flush %.2f us\n", st.n, cold,
		      (batch[4] + batch[5]) / 2, batch[0], 10 * per_batch, roots, flushed);
	child_stop(&c);
	free(cap);
}

/* Many samples of a program doing varied libc work: nearly all reach the root. */
static void test_busy(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	struct timespec pause = { 0, 1000000 };
	size_t ends[4] = { 0 }, printed = 0;
	const size_t samples = 300;
	struct stack st;
	struct child c;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_BUSY);
	for (size_t i = 0; i < samples; i++) {
		capture_thread(&c, c.pid, cap);
		stack_unwind(&c, cap, &st);
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
	free(cap);
}

/*
 * Single-steps a child through several iterations of a loop of calls (PLT
 * stubs, libc string functions, prologues, epilogues) and unwinds at every
 * instruction: each one must reach the root through step_loop.
 */
static void test_every_instruction(void **state)
{
	struct capture *cap = calloc(1, sizeof(*cap));
	size_t bad = 0, in_inner = 0;
	const size_t steps = 1500;
	struct stack st;
	struct child c;
	int status;

	(void)state;
	assert_non_null(cap);
	child_start(&c, CHILD_STEP);
	thread_attach(c.pid);
	for (size_t i = 0; i < steps; i++) {
		thread_read(&c, c.pid, cap);
		stack_unwind(&c, cap, &st);
		in_inner += strcmp(st.fn[0], "step_inner") == 0;
		if (st.end != UNWIND_END_ROOT || stack_find(&st, 0, "step_loop") < 0 ||
		    strcmp(st.fn[st.n - 1], "_start") != 0) {
			if (bad++ < 3)
				stack_print(&st, "instruction not unwound to the root");
		}
		assert_int_equal(ptrace(PTRACE_SINGLESTEP, c.pid, 0, 0), 0);
		assert_int_equal(waitpid(c.pid, &status, __WALL), c.pid);
		assert_true(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP);
	}
	assert_int_equal(ptrace(PTRACE_DETACH, c.pid, 0, 0), 0);
	print_message("single-stepped %zu instructions (%zu in step_inner): %zu not unwound\n",
		      steps, in_inner, bad);
	assert_true(in_inner > 0);
	assert_int_equal(bad, 0);
	child_stop(&c);
	free(cap);
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
