#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "launch.h"
#include "mem.h"

/* The held command's word to the daemon once it waits with its new title. */
#define LAUNCH_HELD 'H'
/* The daemon's word that lets the command call execve. */
#define LAUNCH_GO 'G'

struct launch {
	char **argv;		/* copies of the command and its arguments */
	pid_t reaper;
	pid_t pid;		/* the command */
	int go_fd;		/* write end; closing it unheard ends the held command */
	int exec_fd;		/* read end: 'H', then EOF on execve or the errno of its failure */
	int status_fd;		/* read end: the command's pid, then its wait status */
};

/* Reads exactly size bytes, retrying interrupted reads; the count read otherwise. */
static size_t launch_read_full(int fd, void *buf, size_t size)
{
	size_t got = 0;
	ssize_t n;

	while (got < size) {
		n = read(fd, (char *)buf + got, size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

/* Writes a small message whole (pipe writes of this size are atomic). */
static void launch_write(int fd, const void *buf, size_t size)
{
	ssize_t n;

	do
		n = write(fd, buf, size);
	while (n < 0 && errno == EINTR);
}

/*
 * In the held command: puts the command's arguments over this process's
 * argument area, NUL-padded, and its name in comm, the way the execve will.
 * The copies in argv live on the heap, not in the area.
 */
static void launch_retitle(const struct launch_config *cfg, char *const *argv)
{
	const char *base = strrchr(argv[0], '/');
	size_t off = 0, n;

	if (cfg->title != NULL) {
		for (char *const *a = argv; *a != NULL; a++) {
			n = strlen(*a) + 1;
			if (off + n > cfg->title_len)
				break;
			memcpy(cfg->title + off, *a, n);
			off += n;
		}
		memset(cfg->title + off, 0, cfg->title_len - off);
	}
	prctl(PR_SET_NAME, base != NULL ? base + 1 : argv[0], 0, 0, 0);
}

/*
 * The held command: says it waits, waits for the daemon's word, then
 * becomes the command.  Without the word (the daemon failed and closed the
 * pipe) it ends without running anything.  Never returns.
 */
static void launch_command(const struct launch_config *cfg, char **argv, int go_fd, int exec_fd)
{
	char c = LAUNCH_HELD;
	int e;

	launch_retitle(cfg, argv);
	launch_write(exec_fd, &c, 1);
	if (launch_read_full(go_fd, &c, 1) != 1 || c != LAUNCH_GO)
		_exit(127);
	close(go_fd);
	execvp(argv[0], argv);
	e = errno;
	launch_write(exec_fd, &e, sizeof(e));
	_exit(e == ENOENT ? 127 : 126);
}

/*
 * The reaper: forks the command (with the signal dispositions and mask the
 * daemon was started with, which it has not changed yet), reports its pid,
 * waits for it and reports how it ended.  It ignores the terminal's
 * signals: they reach the command, in the same process group, by
 * themselves.  Never returns.
 */
static void launch_reaper(const struct launch_config *cfg, char **argv, int fds[3][2])
{
	int status, msg;
	pid_t pid, r;

	pid = fork();
	if (pid == 0) {
		close(fds[0][1]);
		close(fds[1][0]);
		close(fds[2][0]);
		close(fds[2][1]);
		launch_command(cfg, argv, fds[0][0], fds[1][1]);
	}
	msg = pid > 0 ? (int)pid : -errno;
	for (int i = 0; i < 2; i++) {
		close(fds[i][0]);
		close(fds[i][1]);
	}
	close(fds[2][0]);
	signal(SIGINT, SIG_IGN);
	signal(SIGQUIT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	launch_write(fds[2][1], &msg, sizeof(msg));
	if (pid < 0)
		_exit(1);
	do
		r = waitpid(pid, &status, 0);
	while (r < 0 && errno == EINTR);
	if (r == pid)
		launch_write(fds[2][1], &status, sizeof(status));
	_exit(0);
}

struct launch *launch_new(const struct launch_config *cfg, struct error *err)
{
	struct launch *l = mem_zalloc(sizeof(*l));
	int fds[3][2] = { { -1, -1 }, { -1, -1 }, { -1, -1 } }, msg;
	size_t n = 0;
	char held;

	l->go_fd = l->exec_fd = l->status_fd = -1;
	while (cfg->argv[n] != NULL)
		n++;
	l->argv = mem_calloc(n + 1, sizeof(*l->argv));
	for (size_t i = 0; i < n; i++)
		l->argv[i] = mem_strdup(cfg->argv[i]);
	for (int i = 0; i < 3; i++) {
		if (pipe2(fds[i], O_CLOEXEC) < 0) {
			error_set(err, errno, "pipe");
			goto fail;
		}
	}
	fflush(NULL);
	l->reaper = fork();
	if (l->reaper < 0) {
		error_set(err, errno, "fork");
		goto fail;
	}
	if (l->reaper == 0)
		launch_reaper(cfg, l->argv, fds);
	l->go_fd = fds[0][1];
	l->exec_fd = fds[1][0];
	l->status_fd = fds[2][0];
	close(fds[0][0]);
	close(fds[1][1]);
	close(fds[2][1]);
	if (launch_read_full(l->status_fd, &msg, sizeof(msg)) != sizeof(msg) || msg == 0) {
		error_set(err, 0, "the process that runs '%s' ended at start", l->argv[0]);
		goto fail;
	}
	if (msg < 0) {
		error_set(err, -msg, "cannot start '%s': fork", l->argv[0]);
		goto fail;
	}
	l->pid = (pid_t)msg;
	if (launch_read_full(l->exec_fd, &held, 1) != 1 || held != LAUNCH_HELD) {
		error_set(err, 0, "'%s' ended before it could be profiled", l->argv[0]);
		goto fail;
	}
	fcntl(l->status_fd, F_SETFL, O_NONBLOCK);
	return l;
fail:
	if (l->reaper <= 0) {
		for (int i = 0; i < 3; i++) {
			if (fds[i][0] >= 0)
				close(fds[i][0]);
			if (fds[i][1] >= 0)
				close(fds[i][1]);
		}
	}
	launch_free(l);
	return NULL;
}

void launch_free(struct launch *l)
{
	int status;

	if (l == NULL)
		return;
	if (l->go_fd >= 0)
		close(l->go_fd);
	if (l->exec_fd >= 0)
		close(l->exec_fd);
	if (l->status_fd >= 0)
		close(l->status_fd);
	/* An unreleased command ends at once now; a released one may run on. */
	if (l->reaper > 0)
		while (waitpid(l->reaper, &status, l->go_fd >= 0 ? 0 : WNOHANG) < 0 &&
		       errno == EINTR)
			;
	for (size_t i = 0; l->argv != NULL && l->argv[i] != NULL; i++)
		free(l->argv[i]);
	free(l->argv);
	free(l);
}

pid_t launch_pid(const struct launch *l)
{
	return l->pid;
}

int launch_release(struct launch *l, int *exit_code, struct error *err)
{
	char c = LAUNCH_GO;
	int e;
	size_t n;

	launch_write(l->go_fd, &c, 1);
	close(l->go_fd);
	l->go_fd = -1;
	/* The pipe is close-on-exec: EOF means execve got past the point of no return. */
	n = launch_read_full(l->exec_fd, &e, sizeof(e));
	close(l->exec_fd);
	l->exec_fd = -1;
	if (n == 0)
		return 0;
	if (n == sizeof(e))
		error_set(err, e, "cannot run '%s'", l->argv[0]);
	else
		error_set(err, 0, "cannot run '%s'", l->argv[0]);
	*exit_code = n == sizeof(e) && e == ENOENT ? 127 : 126;
	return -1;
}

int launch_status_fd(const struct launch *l)
{
	return l->status_fd;
}

int launch_read_status(struct launch *l, int *wait_status)
{
	int status;
	ssize_t n;

	do
		n = read(l->status_fd, &status, sizeof(status));
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n != (ssize_t)sizeof(status))
		return -1;
	*wait_status = status;
	return 1;
}

size_t launch_title_area(int argc, char **argv)
{
	if (argc < 1)
		return 0;
	for (int i = 1; i < argc; i++) {
		if (argv[i] != argv[i - 1] + strlen(argv[i - 1]) + 1)
			return 0;
	}
	return (size_t)(argv[argc - 1] + strlen(argv[argc - 1]) + 1 - argv[0]);
}

int launch_exit_code(int wait_status)
{
	if (WIFEXITED(wait_status))
		return WEXITSTATUS(wait_status);
	if (WIFSIGNALED(wait_status))
		return 128 + WTERMSIG(wait_status);
	return 1;
}
