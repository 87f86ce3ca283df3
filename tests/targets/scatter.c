/*
 * A target with many distinct stacks, for the memory bounds of time
 * windows: each pass picks a random BITS-bit path and descends BITS levels
 * through branch0() or branch1() as the path's bits say, then burns a
 * little CPU in leaf(): 2^BITS different stacks, each as likely as the
 * others, so that any interval of samples touches about as many distinct
 * stacks as it has samples.  Runs until killed, or for MAX seconds.
 *
 * usage: scatter [-b BITS] [-m MAX_SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static __attribute__((noinline)) unsigned long leaf(unsigned long x)
{
	for (int i = 0; i < 2000; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	sink += x;
	return x;
}

typedef unsigned long step_fn(int left, unsigned long path, unsigned long x);

/*
 * The next level is called through a volatile table: a direct call to
 * itself the compiler would turn into a loop, and the stacks into fewer.
 */
static step_fn *volatile steps[2];

/* Work after each call keeps it a call (no tail call), and the two bodies apart. */
static __attribute__((noinline)) unsigned long branch0(int left, unsigned long path,
							unsigned long x)
{
	if (left == 0)
		return leaf(x) + 1;
	x = steps[path & 1](left - 1, path >> 1, x);
	return x * 3 + 1;
}

static __attribute__((noinline)) unsigned long branch1(int left, unsigned long path,
							unsigned long x)
{
	if (left == 0)
		return leaf(x ^ 0x5555) + 2;
	x = steps[path & 1](left - 1, path >> 1, x);
	return x * 5 + 2;
}

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	unsigned long state = 88172645463325252ul, x = 1;
	int bits = 12, c;
	double max = 600, end;

	while ((c = getopt(argc, argv, "b:m:")) != -1) {
		switch (c) {
		case 'b':
			bits = atoi(optarg);
			break;
		case 'm':
			max = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: scatter [-b BITS] [-m MAX_SECONDS]\n");
			return 2;
		}
	}
	if (bits < 1 || bits > 30)
		bits = 12;
	steps[0] = branch0;
	steps[1] = branch1;
	end = mono_now() + max;
	while (mono_now() < end) {
		for (int i = 0; i < 64; i++) {
			state ^= state << 13;
			state ^= state >> 7;
			state ^= state << 17;
			x = branch0(bits, state, x);
		}
	}
	return (int)(x & 0);
}
