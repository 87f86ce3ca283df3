#ifndef SAMPLED_TEST_STOPWATCH_H
#define SAMPLED_TEST_STOPWATCH_H

#include <stdint.h>
#include <time.h>

/* Time for the unit tests' timings, deadlines and pauses: CLOCK_MONOTONIC throughout. */

/* Monotonic nanoseconds. */
uint64_t stopwatch_ns(void);
/* Monotonic milliseconds, with their fraction. */
double stopwatch_ms(void);
/* Monotonic seconds, with their fraction. */
double stopwatch_sec(void);
/* Microseconds elapsed since *t0 (read with clock_gettime(CLOCK_MONOTONIC)). */
double stopwatch_usec_since(const struct timespec *t0);
/* Sleeps ms milliseconds. */
void stopwatch_sleep_ms(long ms);

#endif
