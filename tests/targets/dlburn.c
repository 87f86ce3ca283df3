/*
 * A target whose time goes into shared libraries it dlopens at run time:
 * each LIB on the command line (built from tests/targets/lib/burnlib.c) is
 * loaded, its entry burnlib_NAME_burn is found by the file's name
 * (path/burnlib_NAME.so), and the libraries are called in turn, about
 * 1 ms each, until the time is up: SECONDS of wall time (-s) or of its
 * own CPU time (-c, so that a loaded machine changes how long the run
 * takes, not how much it samples).  Tests change the files on disk while
 * the code runs (rename another file over one, cut a tail off another) to
 * see that the profiler copes; this program must not notice.
 *
 * On SIGUSR1 it switches to each library's second entry, burnlib_NAME_late,
 * code it has not run before, and prints "late".
 *
 * It prints "ready" once every library is loaded and, at exit, the share
 * of its CPU time each library really took, from the thread CPU clock
 * ("truth burnlib_a=0.334 burnlib_b=0.333 ..."), then "done".
 *
 * usage: dlburn [-s SECONDS | -c CPU_SECONDS] LIB...
 */
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIBS 16

typedef unsigned long (*burn_fn)(unsigned long n, unsigned long seed);

struct lib {
	char name[128];		/* burnlib_NAME, from the file name */
	burn_fn burn;
	burn_fn late;
	double cpu;
};

static volatile sig_atomic_t switch_late;

static void on_usr1(int sig)
{
	(void)sig;
	switch_late = 1;
}

static double clock_seconds(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Loads path and finds its entry; 0 on success. */
static int load(const char *path, struct lib *l)
{
	const char *base = strrchr(path, '/');
	char sym[sizeof(l->name) + 8];
	size_t len;
	void *h;

	base = base != NULL ? base + 1 : path;
	len = strcspn(base, ".");
	if (len == 0 || len >= sizeof(l->name)) {
		fprintf(stderr, "dlburn: bad library name %s\n", path);
		return -1;
	}
	memcpy(l->name, base, len);
	l->name[len] = '\0';
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL) {
		fprintf(stderr, "dlburn: %s\n", dlerror());
		return -1;
	}
	snprintf(sym, sizeof(sym), "%.127s_burn", l->name);
	l->burn = (burn_fn)dlsym(h, sym);
	snprintf(sym, sizeof(sym), "%.127s_late", l->name);
	l->late = (burn_fn)dlsym(h, sym);
	if (l->burn == NULL || l->late == NULL) {
		fprintf(stderr, "dlburn: %s: no %s_burn or _late\n", path, l->name);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct lib libs[MAX_LIBS];
	double seconds = 10, end, t0, t1, sum = 0;
	clockid_t clock = CLOCK_MONOTONIC;
	unsigned long iters = 100000, x = 1;
	int nlibs = 0, opt, late = 0;

	while ((opt = getopt(argc, argv, "s:c:")) != -1) {
		if (opt != 's' && opt != 'c') {
			fprintf(stderr, "usage: dlburn [-s SECONDS | -c CPU_SECONDS] LIB...\n");
			return 2;
		}
		seconds = atof(optarg);
		clock = opt == 'c' ? CLOCK_PROCESS_CPUTIME_ID : CLOCK_MONOTONIC;
	}
	if (optind >= argc || argc - optind > MAX_LIBS) {
		fprintf(stderr, "usage: dlburn [-s SECONDS | -c CPU_SECONDS] LIB...\n");
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		memset(&libs[nlibs], 0, sizeof(libs[nlibs]));
		if (load(argv[i], &libs[nlibs]) != 0)
			return 1;
		nlibs++;
	}
	/* Size one call to about 1 ms of CPU. */
	t0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
	x = libs[0].burn(iters, x);
	t1 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
	if (t1 > t0)
		iters = (unsigned long)((double)iters * 0.001 / (t1 - t0));
	if (iters < 1000)
		iters = 1000;
	signal(SIGUSR1, on_usr1);
	printf("ready\n");
	fflush(stdout);
	end = clock_seconds(clock) + seconds;
	while (clock_seconds(clock) < end) {
		if (switch_late && !late) {
			late = 1;
			printf("late\n");
			fflush(stdout);
		}
		for (int i = 0; i < nlibs; i++) {
			t0 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
			x = late ? libs[i].late(iters, x) : libs[i].burn(iters, x);
			t1 = clock_seconds(CLOCK_THREAD_CPUTIME_ID);
			libs[i].cpu += t1 - t0;
		}
	}
	for (int i = 0; i < nlibs; i++)
		sum += libs[i].cpu;
	printf("truth");
	for (int i = 0; i < nlibs; i++)
		printf(" %s=%.3f", libs[i].name, sum > 0 ? libs[i].cpu / sum : 0.0);
	printf("\ndone %lx\n", x & 0xff);
	return 0;
}
