#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "target.h"

struct target {
	pid_t pid;
	pid_t proc_pid;		/* whose /proc entries to read: pid, or a live thread of it */
	int pidfd;
	char *comm;
	char *cmdline;
	int exited;
	uint64_t exit_ns;
	int status_known;
	int wait_status;
};

uint64_t target_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t target_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads a small /proc file whole; returns the bytes read or -1 with errno. */
static ssize_t read_proc(const char *path, char *buf, size_t size)
{
	ssize_t n, total = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((size_t)total < size - 1) {
		n = read(fd, buf + total, size - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	return total;
}

void target_thread_name(pid_t pid, pid_t tid, char *buf, size_t size)
{
	char path[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
	n = read_proc(path, buf, size);
	if (n < 0) {
		buf[0] = '\0';
		return;
	}
	if (n > 0 && buf[n - 1] == '\n')
		buf[n - 1] = '\0';
}

/* The command line with its NUL separators shown as spaces. */
static char *read_cmdline(pid_t pid)
{
	char path[64], buf[4096];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	n = read_proc(path, buf, sizeof(buf));
	if (n <= 0)
		return mem_strdup("");
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	return mem_strndup(buf, (size_t)n);
}

/*
 * A live thread of a process whose main thread has exited (pthread_exit)
 * while others run on: the process's /proc/PID entries (maps, root, exe)
 * went with the main thread's, but each thread's /proc/TID still has them.
 * 0 when no thread is left but zombies.
 */
static pid_t target_live_thread(pid_t pid)
{
	char path[64], exe[16];
	struct dirent *de;
	pid_t found = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return 0;
	while (found == 0 && (de = readdir(dir)) != NULL) {
		long tid = strtol(de->d_name, NULL, 10);

		if (tid <= 0 || tid == pid)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%ld/exe", (int)pid, tid);
		if (readlink(path, exe, sizeof(exe)) >= 0)
			found = (pid_t)tid;
	}
	closedir(dir);
	return found;
}

/*
 * Permission to profile is the kernel's ptrace read check, which is also
 * what guards /proc/PID/exe: probing it gives the same answer perf_event_open
 * and process_vm_readv will give later, but with a message we control.
 * *proc_pid is the pid whose /proc entries hold the process's memory and
 * files: pid, or a live thread's when the main thread has exited.
 */
static int check_access(pid_t pid, pid_t *proc_pid, struct error *err)
{
	char path[64], exe[4096];
	struct stat st;

	*proc_pid = pid;
	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	if (stat(path, &st) < 0) {
		if (errno == ENOENT)
			error_set(err, 0, "no process with pid %d", (int)pid);
		else
			error_set(err, errno, "cannot inspect pid %d", (int)pid);
		return -1;
	}
	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	if (readlink(path, exe, sizeof(exe)) < 0) {
		if (errno == EACCES || errno == EPERM) {
			error_set(err, 0,
				  "permission denied: pid %d belongs to uid %u and uid %u may not "
				  "trace it (run as root or as its owner)",
				  (int)pid, (unsigned)st.st_uid, (unsigned)geteuid());
		} else if (errno == ENOENT && (*proc_pid = target_live_thread(pid)) != 0) {
			return 0;
		} else if (errno == ENOENT) {
			error_set(err, 0, "pid %d is a kernel thread or a zombie: nothing to profile",
				  (int)pid);
		} else {
			error_set(err, errno, "cannot inspect pid %d", (int)pid);
		}
		return -1;
	}
	return 0;
}

struct target *target_open(pid_t pid, struct error *err)
{
	struct target *t;
	char path[64], comm[64];
	pid_t proc_pid;
	int pidfd;

	if (pid <= 0) {
		error_set(err, 0, "invalid pid %d", (int)pid);
		return NULL;
	}
	if (pid == getpid()) {
		error_set(err, 0, "pid %d is the profiler itself", (int)pid);
		return NULL;
	}
	if (check_access(pid, &proc_pid, err) < 0)
		return NULL;
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		if (errno == ESRCH)
			error_set(err, 0, "no process with pid %d", (int)pid);
		else if (errno == ENOSYS)
			error_set(err, errno, "pidfd_open(%d): sampled needs Linux 5.3 or later", (int)pid);
		else
			error_set(err, errno, "pidfd_open(%d)", (int)pid);
		return NULL;
	}
	fcntl(pidfd, F_SETFD, FD_CLOEXEC);
	t = mem_zalloc(sizeof(*t));
	t->pid = pid;
	t->proc_pid = proc_pid;
	t->pidfd = pidfd;
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)proc_pid);
	if (read_proc(path, comm, sizeof(comm)) < 0)
		comm[0] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	t->comm = mem_strdup(comm);
	t->cmdline = read_cmdline(proc_pid);
	return t;
}

void target_free(struct target *t)
{
	if (t == NULL)
		return;
	close(t->pidfd);
	free(t->comm);
	free(t->cmdline);
	free(t);
}

pid_t target_pid(const struct target *t)
{
	return t->pid;
}

pid_t target_proc_pid(const struct target *t)
{
	return t->proc_pid;
}

int target_pidfd(const struct target *t)
{
	return t->pidfd;
}

const char *target_comm(const struct target *t)
{
	return t->comm;
}

const char *target_cmdline(const struct target *t)
{
	return t->cmdline;
}

/*
 * Once the pidfd fires the process is a zombie until its parent reaps it;
 * meanwhile /proc/PID/stat's last field is its wait status.  The parent may
 * win the race, so this is a best effort the process connector backs up.
 */
void target_note_exit(struct target *t)
{
	char path[64], buf[4096], *p;
	long code;

	if (t->exited)
		return;
	t->exited = 1;
	t->exit_ns = target_now_ns();
	if (t->status_known)
		return;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)t->pid);
	if (read_proc(path, buf, sizeof(buf)) <= 0)
		return;
	/* The state follows the ')' that ends comm, which may hold spaces. */
	p = strrchr(buf, ')');
	if (p == NULL || p[1] != ' ' || (p[2] != 'Z' && p[2] != 'X'))
		return;
	p = strrchr(buf, ' ');
	if (p == NULL)
		return;
	errno = 0;
	code = strtol(p + 1, NULL, 10);
	if (errno == 0)
		target_set_exit_status(t, (int)code);
}

void target_set_exit_status(struct target *t, int wait_status)
{
	t->status_known = 1;
	t->wait_status = wait_status;
}

int target_exited(const struct target *t)
{
	return t->exited;
}

uint64_t target_exit_time_ns(const struct target *t)
{
	return t->exit_ns;
}

int target_exit_status(const struct target *t, int *wait_status)
{
	if (!t->exited || !t->status_known)
		return 0;
	*wait_status = t->wait_status;
	return 1;
}

int target_threads(pid_t pid, pid_t **tids, size_t *n, struct error *err)
{
	char path[64];
	struct dirent *de;
	size_t cap = 0, count = 0;
	pid_t *out = NULL;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (dir == NULL) {
		error_set(err, errno, "listing threads of pid %d", (int)pid);
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long tid = strtol(de->d_name, &end, 10);

		if (*end != '\0' || tid <= 0)
			continue;
		out = mem_grow(out, &cap, count + 1, sizeof(*out));
		out[count++] = (pid_t)tid;
	}
	closedir(dir);
	*tids = out;
	*n = count;
	return 0;
}
