/*
 * For running the daemon under a valgrind that does not know pidfd_open
 * (Debian's 3.19 fails system call 434 with ENOSYS, so the daemon cannot
 * watch its target): an LD_PRELOAD library whose syscall() answers
 * pidfd_open with the read end of a pipe that becomes readable once the
 * process is gone or a zombie, as a pidfd does.  A thread with every
 * signal blocked watches /proc; every other system call goes to libc.
 * Only test_valgrind.sh uses it.
 */
#include <sys/syscall.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct shim_watch {
	pid_t pid;
	int fd;
};

/* Whether pid is gone or a zombie, from its /proc stat line. */
static int shim_exited(pid_t pid)
{
	char path[64], buf[1024], *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p == NULL || p[1] != ' ' || p[2] == 'Z' || p[2] == 'X';
}

/* Polls every 20 ms; the pipe's write end goes with the news. */
static void *shim_watch_main(void *arg)
{
	struct shim_watch w = *(struct shim_watch *)arg;
	struct timespec slice = { 0, 20 * 1000 * 1000 };

	free(arg);
	while (!shim_exited(w.pid))
		nanosleep(&slice, NULL);
	if (write(w.fd, "x", 1) < 0)
		perror("pidfd shim");
	close(w.fd);
	return NULL;
}

static long shim_pidfd_open(pid_t pid)
{
	struct shim_watch *w;
	sigset_t all, old;
	pthread_t t;
	char path[64];
	int fds[2], e;

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (access(path, F_OK) < 0) {
		errno = ESRCH;
		return -1;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	w = malloc(sizeof(*w));
	if (w == NULL) {
		close(fds[0]);
		close(fds[1]);
		errno = ENOMEM;
		return -1;
	}
	w->pid = pid;
	w->fd = fds[1];
	/* The watcher must take none of the signals the daemon waits for. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(&t, NULL, shim_watch_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (e != 0) {
		free(w);
		close(fds[0]);
		close(fds[1]);
		errno = e;
		return -1;
	}
	pthread_detach(t);
	return fds[0];
}

long syscall(long nr, ...);

long syscall(long nr, ...)
{
	long (*real)(long, ...) = (long (*)(long, ...))dlsym(RTLD_NEXT, "syscall");
	long a[6];
	va_list ap;

	/* Like libc's, this takes six arguments whatever the call uses. */
	va_start(ap, nr);
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_pidfd_open)
		return shim_pidfd_open((pid_t)a[0]);
	return real(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
