/*
 * A target that spends its CPU time in the kernel: it reads 1 MiB at a
 * time from /dev/zero (the kernel clears the buffer, on CPU, inside the
 * read system call) for a given time, or calls getppid in a loop.  Prints
 * "ready" once the loop runs.
 *
 * usage: sysburn [-s SECONDS] [-m read|getppid]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (1 << 20)

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static volatile unsigned long sink;

/* Kept out of line so that the profile has a frame of ours above the call. */
__attribute__((noinline)) static void burn_read(int fd, char *buf, double end)
{
	while (now() < end)
		for (int i = 0; i < 16; i++)
			if (read(fd, buf, CHUNK) != CHUNK)
				abort();
}

__attribute__((noinline)) static void burn_getppid(double end)
{
	while (now() < end)
		for (int i = 0; i < 10000; i++)
			sink += (unsigned long)getppid();
}

int main(int argc, char **argv)
{
	double seconds = 10;
	const char *mode = "read";
	char *buf;
	int c, fd;

	while ((c = getopt(argc, argv, "s:m:")) != -1) {
		switch (c) {
		case 's':
			seconds = atof(optarg);
			break;
		case 'm':
			mode = optarg;
			break;
		default:
			fprintf(stderr, "usage: sysburn [-s SECONDS] [-m read|getppid]\n");
			return 2;
		}
	}
	if (strcmp(mode, "getppid") == 0) {
		printf("ready\n");
		fflush(stdout);
		burn_getppid(now() + seconds);
		return 0;
	}
	if (strcmp(mode, "read") != 0) {
		fprintf(stderr, "sysburn: unknown mode '%s'\n", mode);
		return 2;
	}
	buf = malloc(CHUNK);
	fd = open("/dev/zero", O_RDONLY);
	if (buf == NULL || fd < 0) {
		perror("sysburn");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	burn_read(fd, buf, now() + seconds);
	close(fd);
	free(buf);
	return 0;
}
