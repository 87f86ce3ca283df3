/*
 * A target that runs generated code, as a JIT does: it copies a small
 * x86-64 function (a counted loop that returns) into anonymous memory,
 * makes it executable, and names it in /tmp/perf-PID.map ("START SIZE
 * jitted_burn"), the convention profilers read JIT symbols from.  Then
 * it calls the code from run_jit until the time is up and removes the
 * map file.  The code keeps a frame pointer (push rbp; mov rbp, rsp), as
 * JIT compilers do, so a profiler without unwind tables for it can still
 * find its caller.
 *
 * Prints "ready" once the code and the map are in place.  With -c it also
 * maps and unmaps an executable page ten times a second, as a runtime
 * does while it compiles: a profiler sees its mappings change all the time.
 *
 * usage: jit [-c] [-s SECONDS]
 */
#include <sys/mman.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef uint64_t (*jit_fn)(uint64_t n);

/*
 * jitted_burn(n): counts n down to zero and returns 0.
 *   push %rbp; mov %rsp,%rbp; mov %rdi,%rax;
 *   1: dec %rax; jnz 1b; pop %rbp; ret
 */
static const uint8_t code[] = {
	0x55,			/* push %rbp */
	0x48, 0x89, 0xe5,	/* mov %rsp,%rbp */
	0x48, 0x89, 0xf8,	/* mov %rdi,%rax */
	0x48, 0xff, 0xc8,	/* 1: dec %rax */
	0x75, 0xfb,		/* jnz 1b */
	0x5d,			/* pop %rbp */
	0xc3,			/* ret */
};

static volatile uint64_t sink;

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The native caller of the generated code, a frame of its own. */
static __attribute__((noinline)) void run_jit(jit_fn fn, double end, int churn)
{
	double next = 0;

	while (wall() < end) {
		sink += fn(1000000);
		if (churn && wall() >= next) {
			void *p = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
				       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

			if (p != MAP_FAILED)
				munmap(p, 4096);
			next = wall() + 0.1;
		}
	}
}

int main(int argc, char **argv)
{
	double seconds = 10;
	char path[64];
	void *mem;
	FILE *map;
	int opt, churn = 0;

	while ((opt = getopt(argc, argv, "cs:")) != -1) {
		switch (opt) {
		case 'c':
			churn = 1;
			break;
		case 's':
			seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: jit [-c] [-s SECONDS]\n");
			return 2;
		}
	}
#if !defined(__x86_64__)
	fprintf(stderr, "jit: the generated code is x86-64\n");
	return 1;
#endif
	mem = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("jit: mmap");
		return 1;
	}
	memcpy(mem, code, sizeof(code));
	if (mprotect(mem, 4096, PROT_READ | PROT_EXEC) != 0) {
		perror("jit: mprotect");
		return 1;
	}
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	map = fopen(path, "w");
	if (map == NULL) {
		perror("jit: perf map");
		return 1;
	}
	fprintf(map, "%lx %zx jitted_burn\n", (unsigned long)(uintptr_t)mem, sizeof(code));
	if (fclose(map) != 0) {
		perror("jit: perf map");
		unlink(path);
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	run_jit((jit_fn)mem, wall() + seconds, churn);
	unlink(path);
	return 0;
}
