/*
 * A target whose every sample has a stack never seen before, as code
 * generated at run time or deep data-driven recursion gives: 64 functions
 * call each other in a random order, 24 to 40 deep, then spin briefly at
 * the bottom.  There are 64^24 orders, so a profiler's call tree grows
 * with every sample unless it is bounded.
 *
 * Prints "ready" once running.
 *
 * usage: manystacks [-s SECONDS]
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef void step_fn(unsigned depth, uint64_t *seed);

static volatile uint64_t sink;
static step_fn *const steps[64];

/* xorshift64: the next function to call, without libc's locks. */
static unsigned next_step(uint64_t *seed)
{
	*seed ^= *seed << 13;
	*seed ^= *seed >> 7;
	*seed ^= *seed << 17;
	return (unsigned)(*seed % 64);
}

/* Each level calls a random one below it and does work after, so no call is a tail call. */
#define STEP(n)                                                              \
	static __attribute__((noinline)) void step_##n(unsigned depth, uint64_t *seed) \
	{                                                                    \
		if (depth == 0) {                                            \
			for (int i = 0; i < 2000; i++)                       \
				sink += (uint64_t)i * (n + 1);              \
			return;                                              \
		}                                                            \
		steps[next_step(seed)](depth - 1, seed);                     \
		sink += depth;                                               \
	}
#define STEP8(a) STEP(a##0) STEP(a##1) STEP(a##2) STEP(a##3) STEP(a##4) STEP(a##5) STEP(a##6) STEP(a##7)
STEP8(0) STEP8(1) STEP8(2) STEP8(3) STEP8(4) STEP8(5) STEP8(6) STEP8(7)

#define REF8(a) step_##a##0, step_##a##1, step_##a##2, step_##a##3, \
		step_##a##4, step_##a##5, step_##a##6, step_##a##7,
static step_fn *const steps[64] = { REF8(0) REF8(1) REF8(2) REF8(3) REF8(4) REF8(5) REF8(6) REF8(7) };

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	double seconds = 10, end;
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	int opt;

	while ((opt = getopt(argc, argv, "s:")) != -1) {
		switch (opt) {
		case 's':
			seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: manystacks [-s SECONDS]\n");
			return 2;
		}
	}
	printf("ready\n");
	fflush(stdout);
	end = wall() + seconds;
	while (wall() < end)
		steps[next_step(&seed)](24 + next_step(&seed) % 17, &seed);
	return 0;
}
