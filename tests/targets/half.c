/*
 * A wall-clock target: the main thread alternates spinning with
 * nanosleep, each for 20 to 60 ms at random (so the cycle cannot fall in
 * step with a periodic sampler), half its wall time on CPU and half
 * asleep.  At exit it prints the shares it measured ("truth spin=0.50
 * nap=0.50").
 *
 * usage: half [SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void __attribute__((noinline)) spin(double s)
{
	double e = now() + s;

	while (now() < e)
		for (int i = 0; i < 1000; i++)
			sink += (unsigned long)i;
}

static void __attribute__((noinline)) nap(double s)
{
	struct timespec t = { 0, (long)(s * 1e9) };

	nanosleep(&t, NULL);
}

int main(int argc, char **argv)
{
	double end = now() + (argc > 1 ? atof(argv[1]) : 10);
	double t[2] = { 0, 0 }, t0;
	unsigned seed = 42;

	printf("ready\n");
	fflush(stdout);
	while (now() < end) {
		t0 = now();
		spin(0.02 + 0.04 * rand_r(&seed) / RAND_MAX);
		t[0] += now() - t0;
		t0 = now();
		nap(0.02 + 0.04 * rand_r(&seed) / RAND_MAX);
		t[1] += now() - t0;
	}
	printf("truth spin=%.3f nap=%.3f\n", t[0] / (t[0] + t[1]), t[1] / (t[0] + t[1]));
	return 0;
}
