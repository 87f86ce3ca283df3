/*
 * A target that loads and unloads one shared library after another, each
 * a different file (copies of tests/targets/lib/burnlib.c built plain),
 * calling into each for about 2 ms, round and round until the time is up:
 * as a plugin host or a test runner does.  A profiler that keeps every
 * file it ever saw grows with the number of files.
 *
 * Prints "ready" once the first library has been called.
 *
 * usage: dlchurn [-s SECONDS] LIB...
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef unsigned long burn_fn(unsigned long n, unsigned long seed);

static volatile unsigned long sink;

static double wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One library: loaded, called for about 2 ms, unloaded; -1 when it cannot be. */
static int visit(const char *path)
{
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	burn_fn *burn;
	double end;

	if (h == NULL) {
		fprintf(stderr, "dlchurn: %s\n", dlerror());
		return -1;
	}
	burn = (burn_fn *)dlsym(h, "burnlib_plain_burn");
	if (burn == NULL) {
		fprintf(stderr, "dlchurn: %s: no burnlib_plain_burn\n", path);
		dlclose(h);
		return -1;
	}
	end = wall() + 0.002;
	while (wall() < end)
		sink += burn(1000, sink);
	dlclose(h);
	return 0;
}

int main(int argc, char **argv)
{
	double seconds = 10, end;
	int opt, ready = 0;

	while ((opt = getopt(argc, argv, "s:")) != -1) {
		switch (opt) {
		case 's':
			seconds = atof(optarg);
			break;
		default:
			fprintf(stderr, "usage: dlchurn [-s SECONDS] LIB...\n");
			return 2;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "usage: dlchurn [-s SECONDS] LIB...\n");
		return 2;
	}
	end = wall() + seconds;
	while (wall() < end) {
		for (int i = optind; i < argc && wall() < end; i++) {
			if (visit(argv[i]) < 0)
				return 1;
			if (!ready) {
				printf("ready\n");
				fflush(stdout);
				ready = 1;
			}
		}
	}
	return 0;
}
