/*
 * A CPU-bound target with a known profile: N threads spin for a given time;
 * optionally one more thread starts after a delay (to test threads that
 * appear after attach).  Prints "ready" once all first threads run.  With
 * -x the main thread leaves (pthread_exit) once the others run, so the
 * process lives on with a zombie for its leader.
 *
 * usage: spin [-t THREADS] [-s SECONDS] [-l LATE_DELAY_SECONDS] [-x]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double seconds = 10;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile unsigned long sink;

static void *spin(void *arg)
{
	double end = now() + *(double *)arg;

	while (now() < end)
		for (int i = 0; i < 10000; i++)
			sink += (unsigned long)i * 7;
	return NULL;
}

int main(int argc, char **argv)
{
	int threads = 1, leave = 0, c;
	double late = -1;
	pthread_t tids[256], late_tid;
	double late_run;

	while ((c = getopt(argc, argv, "t:s:l:x")) != -1) {
		switch (c) {
		case 't':
			threads = atoi(optarg);
			break;
		case 's':
			seconds = atof(optarg);
			break;
		case 'l':
			late = atof(optarg);
			break;
		case 'x':
			leave = 1;
			break;
		default:
			fprintf(stderr, "usage: spin [-t THREADS] [-s SECONDS] [-l LATE_DELAY] [-x]\n");
			return 2;
		}
	}
	if (threads < 1 || threads > 256)
		return 2;
	for (int i = 1; i < threads; i++)
		pthread_create(&tids[i], NULL, spin, &seconds);
	printf("ready\n");
	fflush(stdout);
	if (leave && threads > 1)
		pthread_exit(NULL);
	if (late >= 0) {
		late_run = seconds - late;
		usleep((useconds_t)(late * 1e6));
		pthread_create(&late_tid, NULL, spin, &late_run);
		spin(&late_run);
		pthread_join(late_tid, NULL);
	} else {
		spin(&seconds);
	}
	for (int i = 1; i < threads; i++)
		pthread_join(tids[i], NULL);
	return 0;
}
