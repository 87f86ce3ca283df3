#include <sys/epoll.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "outformat.h"
#include "report.h"

/* samplectl's own patience with the daemon: a big tree takes a while to build. */
#define REPORT_TIMEOUT "120"
/* At most: the output file, then the tree. */
#define REPORT_MAX_STEPS 2

struct report {
	struct loop *loop;
	char **steps[REPORT_MAX_STEPS];	/* argv of each samplectl run */
	size_t nsteps, next;
	pid_t child;			/* 0 when none runs */
	int pidfd;
	int ok;
	report_done_fn *done;
	void *arg;
};

/* The samplectl beside our own executable (an installed pair, a build tree), else PATH's. */
static char *report_samplectl(void)
{
	char exe[4096], *slash, *path;
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (n > 0) {
		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash != NULL) {
			*slash = '\0';
			path = mem_printf("%s/samplectl", exe);
			if (access(path, X_OK) == 0)
				return path;
			free(path);
		}
	}
	return mem_strdup("samplectl");
}

/* A samplectl command line: the global options, then args, then -o output if given. */
static char **report_argv(const char *samplectl, const char *socket, const char *const *args,
			  const char *output)
{
	char **argv = mem_calloc(16, sizeof(*argv));
	size_t n = 0;

	argv[n++] = mem_strdup(samplectl);
	argv[n++] = mem_strdup("--socket");
	argv[n++] = mem_strdup(socket);
	argv[n++] = mem_strdup("--timeout");
	argv[n++] = mem_strdup(REPORT_TIMEOUT);
	for (size_t i = 0; args[i] != NULL; i++)
		argv[n++] = mem_strdup(args[i]);
	if (output != NULL) {
		argv[n++] = mem_strdup("-o");
		argv[n++] = mem_strdup(output);
	}
	return argv;
}

static void report_on_exit(struct loop *loop, int fd, uint32_t events, void *arg);

/*
 * Runs the next step: samplectl with the daemon's blocked signals unblocked
 * and SIGPIPE back to its default, writing to the daemon's own standard
 * streams.  -1 with err when it cannot be started.
 */
static int report_spawn(struct report *r, struct error *err)
{
	char **argv = r->steps[r->next++];
	sigset_t none;
	pid_t pid;
	int pidfd;

	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		error_set(err, errno, "fork");
		return -1;
	}
	if (pid == 0) {
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		signal(SIGPIPE, SIG_DFL);
		execvp(argv[0], argv);
		fprintf(stderr, "sampled: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 || loop_add(r->loop, pidfd, EPOLLIN, report_on_exit, r, err) < 0) {
		if (pidfd < 0)
			error_set(err, errno, "pidfd_open");
		else
			close(pidfd);
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
		return -1;
	}
	r->child = pid;
	r->pidfd = pidfd;
	return 0;
}

/* A samplectl ended: note how, then start the next step or report the end. */
static void report_on_exit(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct report *r = arg;
	struct error err;
	int status = 0;

	(void)events;
	loop_del(loop, fd);
	close(fd);
	r->pidfd = -1;
	while (waitpid(r->child, &status, 0) < 0 && errno == EINTR)
		;
	r->child = 0;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
		r->ok = 0;
	while (r->next < r->nsteps) {
		error_clear(&err);
		if (report_spawn(r, &err) == 0)
			return;
		log_error("%s", err.msg);
		r->ok = 0;
	}
	r->done(r->arg, r->ok);
}

struct report *report_start(struct loop *loop, const struct report_config *cfg,
			    report_done_fn *done, void *arg, struct error *err)
{
	static const char *const tree[] = { "tree", NULL };
	enum outformat fmt = OUTFORMAT_UNKNOWN;
	struct report *r;
	char *samplectl;

	if (cfg->output != NULL && outformat_from_name(cfg->output, &fmt, err) < 0)
		return NULL;
	r = mem_zalloc(sizeof(*r));
	r->loop = loop;
	r->pidfd = -1;
	r->ok = 1;
	r->done = done;
	r->arg = arg;
	samplectl = report_samplectl();
	if (fmt != OUTFORMAT_UNKNOWN)
		r->steps[r->nsteps++] = report_argv(samplectl, cfg->socket_path,
						    outformat_samplectl_args(fmt), cfg->output);
	if (cfg->print_tree)
		r->steps[r->nsteps++] = report_argv(samplectl, cfg->socket_path, tree, NULL);
	free(samplectl);
	while (r->next < r->nsteps) {
		if (report_spawn(r, err) == 0)
			return r;
		log_error("%s", err->msg);
		r->ok = 0;
	}
	if (r->nsteps == 0)
		error_set(err, 0, "nothing to write");
	report_free(r);
	return NULL;
}

void report_free(struct report *r)
{
	if (r == NULL)
		return;
	if (r->pidfd >= 0) {
		loop_del(r->loop, r->pidfd);
		close(r->pidfd);
	}
	if (r->child > 0) {
		kill(r->child, SIGTERM);
		while (waitpid(r->child, NULL, 0) < 0 && errno == EINTR)
			;
	}
	for (size_t i = 0; i < r->nsteps; i++) {
		for (size_t j = 0; r->steps[i][j] != NULL; j++)
			free(r->steps[i][j]);
		free(r->steps[i]);
	}
	free(r);
}
