/*
 * A target with a known CPU profile: main -> a, b, c burning 60%, 30% and
 * 10% of the CPU time; c's share is spent in a comparison callback called
 * by libc's qsort, so an unwinder must cross libc's frames (built without
 * frame pointers, like this program) to place it under c.  With -t N the
 * same loop runs in N threads (worker -> a, b, c) while main waits.
 *
 * At exit it prints the CPU time each function really took ("truth a=0.601
 * b=0.299 c=0.100") from the thread CPU clock, so a test can compare a
 * profile with what happened, not with what was intended.
 *
 * usage: split [-t THREADS] [-s SECONDS]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define UNITS_A 6
#define UNITS_B 3
#define UNITS_C 1

static volatile unsigned long sink;
static unsigned long iters_per_unit;	/* calibrated: about 1 ms of CPU */
static double seconds = 10;
static pthread_mutex_t truth_lock = PTHREAD_MUTEX_INITIALIZER;
static double truth[3];
static int qsort_rounds;		/* qsort calls that make one unit */

/*
 * A macro, not an inline function: the time must be the caller's own, and
 * an inlined function would be a frame of its own in a profile that reads
 * DWARF.
 */
#define burn(n) do { \
	unsigned long x_ = sink, n_ = (n); \
	for (unsigned long i_ = 0; i_ < n_; i_++) \
		x_ = x_ * 6364136223846793005ul + 1442695040888963407ul; \
	sink = x_; \
} while (0)

static double thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned long cmp_iters;

static int __attribute__((noinline)) compare(const void *x, const void *y)
{
	int a = *(const int *)x, b = *(const int *)y;

	burn(cmp_iters);
	return (a > b) - (a < b);
}

static void __attribute__((noinline)) a(void)
{
	burn(UNITS_A * iters_per_unit);
}

static void __attribute__((noinline)) b(void)
{
	burn(UNITS_B * iters_per_unit);
}

static void sort_once(void)
{
	int v[64];

	for (int i = 0; i < 64; i++)
		v[i] = (i * 37) % 64;
	qsort(v, 64, sizeof(v[0]), compare);
}

static void __attribute__((noinline)) c(void)
{
	for (int i = 0; i < qsort_rounds; i++)
		sort_once();
}

/* Runs a, b and c until the deadline, timing each with the thread CPU clock. */
static void __attribute__((noinline)) work(double end)
{
	double t[3] = { 0, 0, 0 }, t0, t1;

	while (wall() < end) {
		t0 = thread_cpu();
		a();
		t1 = thread_cpu();
		t[0] += t1 - t0;
		b();
		t0 = thread_cpu();
		t[1] += t0 - t1;
		c();
		t1 = thread_cpu();
		t[2] += t1 - t0;
	}
	pthread_mutex_lock(&truth_lock);
	for (int i = 0; i < 3; i++)
		truth[i] += t[i];
	pthread_mutex_unlock(&truth_lock);
}

static void *worker(void *arg)
{
	work(*(double *)arg);
	return NULL;
}

/* Sizes the units so one is about 1 ms of CPU here, and c's qsorts match it. */
static void calibrate(void)
{
	double t0 = thread_cpu(), dt;
	int n;

	burn(5000000);
	dt = thread_cpu() - t0;
	iters_per_unit = (unsigned long)(5000000 * (0.001 / (dt > 0 ? dt : 1e-3)));
	if (iters_per_unit < 1000)
		iters_per_unit = 1000;
	cmp_iters = iters_per_unit / 8000;
	t0 = thread_cpu();
	for (n = 0; n < 50; n++)
		sort_once();
	dt = (thread_cpu() - t0) / 50;
	qsort_rounds = (int)(0.001 * UNITS_C / (dt > 0 ? dt : 1e-4) + 0.5);
	if (qsort_rounds < 1)
		qsort_rounds = 1;
	/* Then match c to a as they really run, caches warm. */
	for (int pass = 0; pass < 2; pass++) {
		double ta, tc;

		t0 = thread_cpu();
		for (n = 0; n < 20; n++)
			a();
		ta = (thread_cpu() - t0) / 20 / UNITS_A * UNITS_C;
		t0 = thread_cpu();
		for (n = 0; n < 20; n++)
			c();
		tc = (thread_cpu() - t0) / 20;
		if (tc > 0)
			qsort_rounds = (int)(qsort_rounds * ta / tc + 0.5);
		if (qsort_rounds < 1)
			qsort_rounds = 1;
	}
}

int main(int argc, char **argv)
{
	int threads = 0, opt;
	pthread_t tids[64];
	double end, sum;

	while ((opt = getopt(argc, argv, "t:s:")) != -1) {
		switch (opt) {
		case 't':
			threads = atoi(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: split [-t THREADS] [-s SECONDS]\n");
			return 2;
		}
	}
	if (threads < 0 || threads > 64)
		return 2;
	calibrate();
	printf("ready\n");
	fflush(stdout);
	end = wall() + seconds;
	if (threads == 0) {
		work(end);
	} else {
		for (int i = 0; i < threads; i++)
			pthread_create(&tids[i], NULL, worker, &end);
		for (int i = 0; i < threads; i++)
			pthread_join(tids[i], NULL);
	}
	sum = truth[0] + truth[1] + truth[2];
	printf("truth a=%.3f b=%.3f c=%.3f\n", truth[0] / sum, truth[1] / sum, truth[2] / sum);
	return 0;
}
