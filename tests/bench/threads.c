/*
 * A fixed amount of CPU work split evenly over N threads, for measuring
 * how much a profiler slows a multi-threaded program: the work, not the
 * time, is fixed, so a slower run takes longer.
 *
 * usage: threads -t THREADS -w MILLIONS_OF_ITERATIONS
 * cc -O2 -pthread -o threads threads.c
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static volatile unsigned long sink;

/* A loop the compiler cannot fold: each step depends on the last. */
static void *work(void *arg)
{
	unsigned long n = *(unsigned long *)arg, x = 88172645463325252UL;

	for (unsigned long i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
	}
	sink += x;
	return NULL;
}

int main(int argc, char **argv)
{
	unsigned long threads = 1, millions = 1000, each;
	pthread_t *tids;
	int c;

	while ((c = getopt(argc, argv, "t:w:")) != -1) {
		switch (c) {
		case 't':
			threads = strtoul(optarg, NULL, 10);
			break;
		case 'w':
			millions = strtoul(optarg, NULL, 10);
			break;
		default:
			fprintf(stderr, "usage: threads -t THREADS -w MILLIONS\n");
			return 2;
		}
	}
	if (threads < 1 || threads > 1024) {
		fprintf(stderr, "threads: -t must be 1 to 1024\n");
		return 2;
	}
	each = millions * 1000000UL / threads;
	tids = calloc(threads, sizeof(*tids));
	if (tids == NULL)
		return 1;
	for (unsigned long i = 0; i < threads; i++)
		if (pthread_create(&tids[i], NULL, work, &each) != 0) {
			perror("threads: pthread_create");
			return 1;
		}
	for (unsigned long i = 0; i < threads; i++)
		pthread_join(tids[i], NULL);
	free(tids);
	return 0;
}
