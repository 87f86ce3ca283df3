#include <sys/mman.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "workload.h"

/* The array element qsort sorts: it carries the shared page to the callback. */
struct qsort_item {
	struct tracee_shared *sh;
	int key;
};

/* Middle of the chain; the xor after the call prevents a tail call. */
__attribute__((noinline, noipa)) static uint64_t workload_level2(void *arg, workload_leaf_fn *leaf,
								 uint64_t x)
{
	return leaf(arg, x + 2) ^ x;
}

/* Outer end of the chain proper. */
__attribute__((noinline, noipa)) static uint64_t workload_level1(void *arg, workload_leaf_fn *leaf,
								 uint64_t x)
{
	return workload_level2(arg, leaf, x * 3) + x;
}

/* Symbolization must tell apart frames of different functions: a chain of them, of known order. */
__attribute__((noinline, noipa)) uint64_t workload_chain(void *arg, workload_leaf_fn *leaf)
{
	return workload_level1(arg, leaf, 7) * 5;
}

/* A sample must land in a known innermost frame: this one never returns. */
__attribute__((noinline, noipa)) uint64_t workload_spin(struct tracee_shared *sh, uint64_t x)
{
	sh->ready = 1;
	while (!sh->stop)
		x = x * 6364136223846793005ULL + 1442695040888963407ULL;
	return x;
}

/* Deep stacks of known depth test the unwinder's every step and its speed. */
__attribute__((noinline, noipa)) uint64_t workload_deep(struct tracee_shared *sh, int depth)
{
	uint64_t r = depth == 0 ? workload_spin(sh, 1) : workload_deep(sh, depth - 1);

	/* Opaque to the optimizer: no loop instead of recursion, no tail call. */
	__asm__ volatile("" : "+r"(r));
	return r + (uint64_t)depth;
}

/* A qsort callback that never returns puts samples under libc's own frames. */
__attribute__((noinline, noipa)) static int workload_cmp_spin(const void *a, const void *b)
{
	const struct qsort_item *x = a, *y = b;
	uint64_t v = (uint64_t)x->key;

	x->sh->ready = 1;
	while (!x->sh->stop)
		v = v * 2862933555777941757ULL + 3037000493ULL;
	return (int)(v & 1) + x->key - y->key;
}

/* Samples under qsort cross libc code built without frame pointers. */
__attribute__((noinline, noipa)) uint64_t workload_qsort(struct tracee_shared *sh)
{
	struct qsort_item items[64];

	for (int i = 0; i < 64; i++)
		items[i] = (struct qsort_item){ sh, (i * 37) % 64 };
	qsort(items, 64, sizeof(items[0]), workload_cmp_spin);
	return (uint64_t)items[0].key + 1;
}

/* A thread's stack ends in libc's thread start code, not in main's. */
__attribute__((noinline, noipa)) uint64_t workload_thread(struct tracee_shared *sh,
							  void *(*entry)(void *))
{
	pthread_t t;

	if (pthread_create(&t, NULL, entry, sh) != 0)
		return (uint64_t)-1;
	pthread_join(t, NULL);
	return 0;
}

/* Handlers that see where they interrupted need SA_SIGINFO. */
int workload_on_signal(int sig, void (*handler)(int, siginfo_t *, void *))
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	return sigaction(sig, &sa, NULL);
}

/* Code without any unwind table can only be crossed through its frame pointer. */
__attribute__((noinline, noipa)) uint64_t workload_jit(struct tracee_shared *sh)
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

/* qsort needs an ordinary comparison for the busy workload. */
static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* Recursion that returns puts samples at every depth of a changing stack. */
__attribute__((noinline, noipa)) static uint64_t workload_recurse(struct tracee_shared *sh,
								  int depth)
{
	uint64_t r;

	if (depth == 0)
		return sh->sink;
	r = workload_recurse(sh, depth - 1);
	__asm__ volatile("" : "+r"(r));
	return r * 3 + (uint64_t)depth;
}

/* Samples of varied libc work (malloc, qsort, stdio, the vdso) must all reach the root. */
__attribute__((noinline, noipa)) uint64_t workload_busy(struct tracee_shared *sh)
{
	unsigned seed = 1;
	char buf[256];
	int arr[512];
	struct timespec ts;

	sh->ready = 1;
	while (!sh->stop) {
		char *p = malloc(64 + (seed & 1023));

		for (int i = 0; i < 512; i++)
			arr[i] = rand_r(&seed);
		qsort(arr, 512, sizeof(arr[0]), cmp_int);
		snprintf(buf, sizeof(buf), "%d %f %s", arr[7], arr[3] / 7.0, "busy");
		sh->sink += strlen(buf) + (uint64_t)strtod(buf + 2, NULL);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		sh->sink += (uint64_t)ts.tv_nsec + workload_recurse(sh, 12);
		free(p);
	}
	return sh->sink;
}

/* Callee-saved registers used across libc calls (via the PLT): real prologues and epilogues. */
__attribute__((noinline, noipa)) static uint64_t workload_step_inner(struct tracee_shared *sh,
								     const char *text)
{
	uint64_t h = 1469598103934665603ULL;
	char buf[64];
	size_t n = strlen(text);

	memcpy(buf, text, n + 1);
	for (size_t i = 0; i < n; i++)
		h = (h ^ (uint8_t)buf[i]) * 1099511628211ULL;
	return h + (uint64_t)sh->stop;
}

/* Two calls, so that returns land in the middle of a function. */
__attribute__((noinline, noipa)) static uint64_t workload_step_outer(struct tracee_shared *sh)
{
	uint64_t r = workload_step_inner(sh, "every instruction") ^
		     workload_step_inner(sh, "unwinds");

	__asm__ volatile("" : "+r"(r));
	return r;
}

/* Single-stepping this loop unwinds at every kind of instruction a program has. */
__attribute__((noinline, noipa)) uint64_t workload_step_loop(struct tracee_shared *sh)
{
	sh->ready = 1;
	while (!sh->stop)
		sh->sink += workload_step_outer(sh);
	return sh->sink;
}
