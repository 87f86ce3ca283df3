/*
 * A deep stack for the stack-copy benchmark: rec(1) -> rec(2) -> ... ->
 * rec(DEPTH), each level with a frame of about 100 bytes (a local buffer
 * the compiler must keep), burning CPU at every level on the way down, so
 * the samples spread evenly over the depths 1..DEPTH.  One pass down takes
 * about 50 ms and each level a pseudo-random share of it: a pass as long
 * as the sampling period would let the samples lock onto a few depths (at
 * 999 Hz and 1 ms passes the share of deep samples swung from 30% to 90%
 * between runs).  A sample
 * whose stack is deeper than the copy the profiler asked for ends in
 * [truncated]: the share of those, per copy size, is what the benchmark
 * reads.
 *
 * It prints the measured bytes per level and the stack in use at the
 * deepest level ("frame=112 deepest=33712"), then runs until SECONDS of its
 * CPU time are used.
 *
 * usage: deep [-d DEPTH] [-c CPU_SECONDS]
 * cc -O2 -g -fomit-frame-pointer -o deep deep.c
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define FRAME_PAD 80		/* with saved registers and locals: ~100-byte frames */

struct deep {
	int depth;
	unsigned long iters;		/* burned at each level, on average */
	unsigned long jitter;		/* pseudo-random state */
	uintptr_t top;			/* stack address in main */
	uintptr_t deepest;		/* stack address at the deepest level */
	uintptr_t first;		/* stack address at level 1 */
	uintptr_t second;		/* stack address at level 2 */
};

static volatile unsigned long sink;

static double cpu_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long burn(unsigned long n, unsigned long x)
{
	for (unsigned long i = 0; i < n; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	return x;
}

/* One level: a buffer that lives across the call keeps the frame large. */
static __attribute__((noinline)) unsigned long rec(struct deep *d, int level, unsigned long x)
{
	volatile unsigned char pad[FRAME_PAD];

	pad[0] = (unsigned char)x;
	pad[FRAME_PAD - 1] = (unsigned char)level;
	if (level == 1)
		d->first = (uintptr_t)&pad[0];
	else if (level == 2)
		d->second = (uintptr_t)&pad[0];
	d->jitter = d->jitter * 6364136223846793005ul + 1442695040888963407ul;
	/* Between 1/2 and 3/2 of the average, from the state's high bits. */
	x = burn(d->iters / 2 + (d->iters * (d->jitter >> 54)) / 1024, x);
	if (level < d->depth)
		x = rec(d, level + 1, x);
	else
		d->deepest = (uintptr_t)&pad[0];
	return x + pad[0] + pad[FRAME_PAD - 1];
}

int main(int argc, char **argv)
{
	struct deep d = { .depth = 300, .iters = 2000, .jitter = 1 };
	double seconds = 5, end, t0;
	unsigned long x = 1;
	int opt;

	while ((opt = getopt(argc, argv, "d:c:")) != -1) {
		switch (opt) {
		case 'd':
			d.depth = atoi(optarg);
			break;
		case 'c':
			seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: deep [-d DEPTH] [-c CPU_SECONDS]\n");
			return 2;
		}
	}
	if (d.depth < 2 || d.depth > 100000)
		return 2;
	d.top = (uintptr_t)&x;
	/* Size the burn so one pass down takes about 50 ms. */
	t0 = cpu_seconds();
	x = rec(&d, 1, x);
	t0 = cpu_seconds() - t0;
	if (t0 > 0)
		d.iters = (unsigned long)((double)d.iters * 0.05 / t0);
	if (d.iters < 10)
		d.iters = 10;
	printf("frame=%lu deepest=%lu\n", (unsigned long)(d.first - d.second),
	       (unsigned long)(d.top - d.deepest));
	fflush(stdout);
	end = cpu_seconds() + seconds;
	while (cpu_seconds() < end)
		x = rec(&d, 1, x);
	sink = x;
	return 0;
}
