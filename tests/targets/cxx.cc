/*
 * A C++ target with a known CPU profile for symbolization: a class
 * template in a namespace instantiated for two types, ns::Burner<double>
 * and ns::Burner<int>, burning 40% and 20% of the CPU time in their run
 * member, and ns::churn, which spends the other 40% in ns::mix, a function
 * forced inline into it: a profiler that reads DWARF shows mix as a frame
 * of its own under churn, with the file and line where mix is declared,
 * although no symbol names it.  The declaration lines a profile shows
 * are marked "decl: NAME" for tests to find.
 *
 * At exit it prints the CPU time each part really took ("truth
 * double=0.401 int=0.199 churn=0.400") from the thread CPU clock.
 *
 * It runs for SECONDS of wall time (-s) or until it has used CPU_SECONDS
 * of CPU time (-c, so that a loaded machine changes how long the run
 * takes, not how much it samples).
 *
 * usage: cxx [-s SECONDS | -c CPU_SECONDS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define UNITS_DOUBLE 4
#define UNITS_INT 2
#define UNITS_CHURN 4

static volatile unsigned long sink;

namespace ns {

/* Burns n rounds of arithmetic in T; the value is kept so nothing folds away. */
template <typename T> class Burner {
public:
	explicit Burner(T seed) : acc_(seed) {}

	__attribute__((noinline)) T run(long n) /* decl: run */
	{
		T x = acc_;

		for (long i = 0; i < n; i++)
			x = x * T(3) / T(4) + T(i & 7);
		acc_ = x;
		return x;
	}

private:
	T acc_;
};

/* The hot function: a mixing step, always inlined into its caller. */
__attribute__((always_inline)) inline unsigned long mix(unsigned long x) /* decl: mix */
{
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ul;
	x ^= x >> 32;
	x *= 0x94d049bb133111ebul;
	return x ^ (x >> 31);
}

/* The out-of-line caller that mix is inlined into. */
__attribute__((noinline)) unsigned long churn(long n) /* decl: churn */
{
	unsigned long x = sink;

	for (long i = 0; i < n; i++)
		x = mix(x + (unsigned long)i);
	return x;
}

} // namespace ns

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

/* Rounds of each kind that take about 1 ms of CPU here. */
static long per_ms_double, per_ms_int, per_ms_churn;

static ns::Burner<double> burn_double(1.0);
static ns::Burner<int> burn_int(1);

/* How many rounds of f take 1 ms, from a 20 ms trial. */
template <typename F> static long calibrate(F f)
{
	long n = 100000;
	double t0, dt;

	for (;;) {
		t0 = thread_cpu();
		f(n);
		dt = thread_cpu() - t0;
		if (dt >= 0.02 || n > (1L << 40))
			break;
		n *= 4;
	}
	n = (long)((double)n * 0.001 / (dt > 0 ? dt : 1e-3));
	return n > 100 ? n : 100;
}

int main(int argc, char **argv)
{
	double seconds = 10, cpu_seconds = 0, end, t[3] = { 0, 0, 0 }, t0, t1, sum;
	int opt;

	while ((opt = getopt(argc, argv, "s:c:")) != -1) {
		switch (opt) {
		case 's':
			seconds = atof(optarg);
			break;
		case 'c':
			cpu_seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: cxx [-s SECONDS | -c CPU_SECONDS]\n");
			return 2;
		}
	}
	per_ms_double = calibrate([](long n) { sink += (unsigned long)burn_double.run(n); });
	per_ms_int = calibrate([](long n) { sink += (unsigned long)burn_int.run(n); });
	per_ms_churn = calibrate([](long n) { sink += ns::churn(n); });
	printf("ready\n");
	fflush(stdout);
	end = wall() + seconds;
	while (cpu_seconds > 0 ? thread_cpu() < cpu_seconds : wall() < end) {
		t0 = thread_cpu();
		sink += (unsigned long)burn_double.run(UNITS_DOUBLE * per_ms_double);
		t1 = thread_cpu();
		t[0] += t1 - t0;
		sink += (unsigned long)burn_int.run(UNITS_INT * per_ms_int);
		t0 = thread_cpu();
		t[1] += t0 - t1;
		sink += ns::churn(UNITS_CHURN * per_ms_churn);
		t1 = thread_cpu();
		t[2] += t1 - t0;
	}
	sum = t[0] + t[1] + t[2];
	if (sum <= 0)
		sum = 1;
	printf("truth double=%.3f int=%.3f churn=%.3f\n", t[0] / sum, t[1] / sum, t[2] / sum);
	return 0;
}
