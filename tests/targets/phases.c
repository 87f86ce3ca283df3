/*
 * A target whose profile changes over time, for time windows: it burns
 * CPU in phase_a() for P seconds, then in phase_b() for P seconds, then in
 * phase_c() until it is killed (or MAX seconds have passed in all).  As
 * each phase starts it prints "phase X UNIX_SECONDS.NANOSECONDS" (the wall
 * clock, CLOCK_REALTIME) on standard output, flushed at once, so that a
 * test can ask for the samples between two of those times.
 *
 * usage: phases [-p PHASE_SECONDS] [-m MAX_SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void announce(char phase)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	printf("phase %c %lld.%09ld\n", phase, (long long)ts.tv_sec, ts.tv_nsec);
	fflush(stdout);
}

/* Three loops that differ, so that the compiler cannot fold them into one function. */
static __attribute__((noinline)) void phase_a(double end)
{
	while (mono_now() < end)
		for (unsigned long i = 0; i < 20000; i++)
			sink += i * 3;
}

static __attribute__((noinline)) void phase_b(double end)
{
	while (mono_now() < end)
		for (unsigned long i = 0; i < 20000; i++)
			sink ^= i * 5 + 1;
}

static __attribute__((noinline)) void phase_c(double end)
{
	while (mono_now() < end)
		for (unsigned long i = 0; i < 20000; i++)
			sink += i * 7 + (sink >> 3);
}

int main(int argc, char **argv)
{
	double phase = 3, max = 120, start;
	int c;

	while ((c = getopt(argc, argv, "p:m:")) != -1) {
		switch (c) {
		case 'p':
			phase = atof(optarg);
			break;
		case 'm':
			max = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: phases [-p PHASE_SECONDS] [-m MAX_SECONDS]\n");
			return 2;
		}
	}
	start = mono_now();
	announce('a');
	phase_a(start + phase);
	announce('b');
	phase_b(start + 2 * phase);
	announce('c');
	phase_c(start + (max > 2 * phase ? max : 2 * phase));
	return 0;
}
