/*
 * Counts SIGUSR1 deliveries while copying standard input to a checksum:
 * a target for checking that a profiler loses no signal and no data.  A
 * sender spaces its signals so that none can merge with the previous one
 * without a profiler.  At end of input it prints "usr1 N bytes M sum S".
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

int main(void)
{
	struct sigaction sa;
	unsigned long bytes = 0, sum = 0;
	unsigned char buf[4096];
	ssize_t n;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART: read sees EINTR */
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		n = read(STDIN_FILENO, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (ssize_t i = 0; i < n; i++)
			sum = sum * 31 + buf[i];
		bytes += (unsigned long)n;
	}
	printf("usr1 %d bytes %lu sum %lu\n", (int)usr1, bytes, sum);
	return 0;
}
