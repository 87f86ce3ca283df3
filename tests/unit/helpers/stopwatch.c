#include <stdint.h>
#include <time.h>

#include "stopwatch.h"

/* Deadlines and rates want an integer clock that never goes back. */
uint64_t stopwatch_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Timeouts and timings are counted in milliseconds. */
double stopwatch_ms(void)
{
	return (double)stopwatch_ns() / 1e6;
}

/* Timings printed in seconds or milliseconds read best from a double. */
double stopwatch_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Per-call costs are microseconds from a start the caller took. */
double stopwatch_usec_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e6 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e3;
}

/* Polling loops pause between looks. */
void stopwatch_sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}
