/*
 * Runs one command for the slowdown benchmark and measures it: the child
 * stops itself before exec, so a profiler can attach to its pid first
 * (both sampled and perf follow the exec); the harness sends SIGUSR1 once
 * the profiler is ready, then the child runs and is timed from SIGCONT to
 * its exit.  Writes "wall=SECONDS user=SECONDS sys=SECONDS status=N" to
 * RESULTFILE (the command keeps standard output and error to itself).
 *
 * usage: benchrun PIDFILE RESULTFILE COMMAND [ARGS...]
 *        (writes the child's pid to PIDFILE once it is stopped)
 * cc -O2 -o benchrun benchrun.c
 */
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double tv_seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	struct rusage ru;
	sigset_t set;
	double t0, t1;
	int status, sig;
	FILE *f;
	pid_t pid;

	if (argc < 4) {
		fprintf(stderr, "usage: benchrun PIDFILE RESULTFILE COMMAND [ARGS...]\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid = fork();
	if (pid < 0) {
		perror("benchrun: fork");
		return 1;
	}
	if (pid == 0) {
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		raise(SIGSTOP);
		execvp(argv[3], argv + 3);
		perror("benchrun: exec");
		_exit(127);
	}
	if (waitpid(pid, &status, WUNTRACED) != pid || !WIFSTOPPED(status)) {
		fprintf(stderr, "benchrun: the child did not stop\n");
		return 1;
	}
	f = fopen(argv[1], "w");
	if (f == NULL || fprintf(f, "%d\n", (int)pid) < 0 || fclose(f) != 0) {
		perror("benchrun: pid file");
		kill(pid, SIGKILL);
		return 1;
	}
	if (sigwait(&set, &sig) != 0) {
		kill(pid, SIGKILL);
		return 1;
	}
	t0 = now();
	kill(pid, SIGCONT);
	if (wait4(pid, &status, 0, &ru) != pid) {
		perror("benchrun: wait4");
		return 1;
	}
	t1 = now();
	f = fopen(argv[2], "w");
	if (f == NULL) {
		perror("benchrun: result file");
		return 1;
	}
	fprintf(f, "wall=%.4f user=%.4f sys=%.4f status=%d\n", t1 - t0, tv_seconds(ru.ru_utime),
		tv_seconds(ru.ru_stime), WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return fclose(f) == 0 ? 0 : 1;
}
