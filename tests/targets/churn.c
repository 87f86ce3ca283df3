/*
 * A target whose threads and program keep changing under the profiler.
 * Phase 1 starts THREADS short-lived threads, BATCH at a time, each
 * burning about MS milliseconds of CPU before it exits, and now and then
 * forks and execs /bin/true; then the program execs itself.  Phase 2 (the
 * new program) burns SECONDS of CPU on -p threads (default 1) in a
 * recursion DEPTH deep (default 24) that takes one of four functions at
 * each level: 4^DEPTH distinct stacks, hence a big call tree.
 *
 * usage: churn [-t THREADS] [-b BATCH] [-m MS] [-f FORK_EVERY] [-s SECONDS]
 *              [-p THREADS] [-d DEPTH] [-g]
 *
 * It prints "ready" and waits for SIGUSR1 (-g: starts at once), prints
 * "phase1 threads N forks F" before the exec, "phase2 ready" after it and
 * "phase2 done" once the burning is over, then waits for SIGUSR1 again
 * and exits 0.
 */
#include <sys/wait.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t go;
static volatile unsigned long sink;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

/* Waits for SIGUSR1 without missing one sent before the wait began. */
static void wait_go(void)
{
	sigset_t none;

	sigemptyset(&none);
	while (!go)
		sigsuspend(&none);
	go = 0;
}

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Keeps the compiler from turning the calls below into jumps. */
#define NO_TAIL() __asm__ volatile("" ::: "memory")

static unsigned long walk(int depth, unsigned long seed);

static __attribute__((noinline)) unsigned long leaf(unsigned long seed)
{
	unsigned long x = seed;

	for (int i = 0; i < 20000; i++)
		x = x * 6364136223846793005ul + 1442695040888963407ul;
	sink += x;
	NO_TAIL();
	return x;
}

static __attribute__((noinline)) unsigned long walk_a(int d, unsigned long s)
{
	unsigned long r = walk(d, s) + 1;

	NO_TAIL();
	return r;
}

static __attribute__((noinline)) unsigned long walk_b(int d, unsigned long s)
{
	unsigned long r = walk(d, s) + 2;

	NO_TAIL();
	return r;
}

static __attribute__((noinline)) unsigned long walk_c(int d, unsigned long s)
{
	unsigned long r = walk(d, s) + 3;

	NO_TAIL();
	return r;
}

static __attribute__((noinline)) unsigned long walk_d(int d, unsigned long s)
{
	unsigned long r = walk(d, s) + 4;

	NO_TAIL();
	return r;
}

/* Descends depth levels, two bits of seed choosing the function at each. */
static __attribute__((noinline)) unsigned long walk(int depth, unsigned long seed)
{
	unsigned long r;

	if (depth == 0)
		return leaf(seed);
	switch (seed & 3) {
	case 0:
		r = walk_a(depth - 1, seed >> 2);
		break;
	case 1:
		r = walk_b(depth - 1, seed >> 2);
		break;
	case 2:
		r = walk_c(depth - 1, seed >> 2);
		break;
	default:
		r = walk_d(depth - 1, seed >> 2);
		break;
	}
	NO_TAIL();
	return r;
}

/* Burns ms milliseconds of this thread's CPU time. */
static void *burn(void *arg)
{
	double ms = *(const double *)arg;
	double end = clock_s(CLOCK_THREAD_CPUTIME_ID) + ms / 1e3;
	unsigned long seed = (unsigned long)pthread_self() * 0x9e3779b97f4a7c15ul;

	do
		walk(6, seed++);
	while (clock_s(CLOCK_THREAD_CPUTIME_ID) < end);
	return NULL;
}

static int run_true(void)
{
	pid_t child = fork();
	int status;

	if (child < 0)
		return -1;
	if (child == 0) {
		execl("/bin/true", "true", (char *)NULL);
		_exit(127);
	}
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return 0;
}

static int phase1(int threads, int batch, double ms, int fork_every)
{
	pthread_t *t = calloc((size_t)batch, sizeof(*t));
	int started = 0, forks = 0, batches = 0;

	if (t == NULL)
		return -1;
	while (started < threads) {
		int n = threads - started < batch ? threads - started : batch;

		for (int i = 0; i < n; i++) {
			if (pthread_create(&t[i], NULL, burn, &ms) != 0) {
				fprintf(stderr, "churn: pthread_create failed\n");
				return -1;
			}
		}
		for (int i = 0; i < n; i++)
			pthread_join(t[i], NULL);
		started += n;
		if (fork_every > 0 && ++batches % fork_every == 0) {
			if (run_true() < 0) {
				fprintf(stderr, "churn: fork and exec of /bin/true failed\n");
				return -1;
			}
			forks++;
		}
	}
	free(t);
	printf("phase1 threads %d forks %d\n", started, forks);
	fflush(stdout);
	return 0;
}

/* What phase 2 burns, shared by its threads. */
struct phase2 {
	double end;		/* process CPU seconds at which to stop */
	int depth;
};

/* Walks random paths of the recursion until the process has used its CPU time. */
static void *phase2_burn(void *arg)
{
	const struct phase2 *p = arg;
	unsigned long seed = (unsigned long)pthread_self();

	while (clock_s(CLOCK_PROCESS_CPUTIME_ID) < p->end)
		walk(p->depth, seed++ * 0x9e3779b97f4a7c15ul);
	return NULL;
}

static int phase2(double seconds, int threads, int depth)
{
	struct phase2 p = { .depth = depth };
	pthread_t *t = calloc((size_t)threads, sizeof(*t));

	if (t == NULL)
		return 1;
	printf("phase2 ready\n");
	fflush(stdout);
	p.end = clock_s(CLOCK_PROCESS_CPUTIME_ID) + seconds;
	for (int i = 1; i < threads; i++)
		pthread_create(&t[i], NULL, phase2_burn, &p);
	phase2_burn(&p);
	for (int i = 1; i < threads; i++)
		pthread_join(t[i], NULL);
	free(t);
	printf("phase2 done\n");
	fflush(stdout);
	wait_go();
	return 0;
}

/* Runs phase 2 as a new program: the same executable, by its own path
   (not /proc/self/exe, so that the command name stays "churn"). */
static void exec_phase2(const char *argv0, double seconds, int threads, int depth)
{
	char secs[32], nthreads[16], ndepth[16], self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0) {
		perror("churn: /proc/self/exe");
		return;
	}
	self[n] = '\0';
	snprintf(secs, sizeof(secs), "%g", seconds);
	snprintf(nthreads, sizeof(nthreads), "%d", threads);
	snprintf(ndepth, sizeof(ndepth), "%d", depth);
	execl(self, argv0, "--phase2", secs, nthreads, ndepth, (char *)NULL);
	perror("churn: exec");
}

int main(int argc, char **argv)
{
	int threads = 1000, batch = 20, fork_every = 5, wait_first = 1, c;
	int p2_threads = 1, depth = 24;
	double ms = 1, seconds = 2;
	struct sigaction sa;
	sigset_t usr1;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	/* Blocked except in sigsuspend, so a signal sent early is not lost. */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);

	if (argc == 5 && strcmp(argv[1], "--phase2") == 0)
		return phase2(atof(argv[2]), atoi(argv[3]), atoi(argv[4]));
	while ((c = getopt(argc, argv, "t:b:m:f:s:p:d:g")) != -1) {
		switch (c) {
		case 't':
			threads = atoi(optarg);
			break;
		case 'b':
			batch = atoi(optarg);
			break;
		case 'm':
			ms = atof(optarg);
			break;
		case 'f':
			fork_every = atoi(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'p':
			p2_threads = atoi(optarg);
			break;
		case 'd':
			depth = atoi(optarg);
			break;
		case 'g':
			wait_first = 0;
			break;
		default:
			fprintf(stderr, "usage: churn [-t THREADS] [-b BATCH] [-m MS] [-f FORK_EVERY] "
				"[-s SECONDS] [-p THREADS] [-d DEPTH] [-g]\n");
			return 2;
		}
	}
	if (threads < 0 || batch < 1 || p2_threads < 1 || depth < 0 || depth > 32)
		return 2;
	printf("ready\n");
	fflush(stdout);
	if (wait_first)
		wait_go();
	if (phase1(threads, batch, ms, fork_every) < 0)
		return 1;
	exec_phase2(argv[0], seconds, p2_threads, depth);
	return 1;
}
