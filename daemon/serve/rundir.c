#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "paths.h"
#include "rundir.h"

/* Attempts at a lock file that a daemon on its way out keeps removing. */
#define RUNDIR_LOCK_TRIES 5

struct rundir {
	int dirfd;
	int lockfd;
	int listening;		/* we created the socket: it is ours to remove */
	char *socket_path;
	char *log_path;
	char *dir;
	char *sock_name, *lock_name, *log_name;	/* in dirfd */
};

/* Opens the lock file and takes the lock; the file must still be the one named when we hold it. */
static int rundir_lock(struct rundir *rd, struct error *err)
{
	char *what = mem_printf("lock file %s/%s", rd->dir, rd->lock_name);
	struct stat held, now;
	int rc = -1;

	for (int tries = 0; tries < RUNDIR_LOCK_TRIES; tries++) {
		rd->lockfd = safepath_open_own(rd->dirfd, rd->lock_name, O_RDWR, 0600, 0, what, err);
		if (rd->lockfd < 0)
			goto out;
		if (flock(rd->lockfd, LOCK_EX | LOCK_NB) < 0) {
			if (errno == EWOULDBLOCK)
				error_set(err, 0, "another sampled daemon is already serving %s",
					  rd->socket_path);
			else
				error_set(err, errno, "cannot lock %s", what);
			goto out;
		}
		/*
		 * A daemon that was exiting may have unlinked the file we opened
		 * just before we locked it: then the lock guards nothing.
		 */
		if (fstat(rd->lockfd, &held) == 0 &&
		    fstatat(rd->dirfd, rd->lock_name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
		    held.st_ino == now.st_ino && held.st_dev == now.st_dev) {
			rc = 0;
			goto out;
		}
		close(rd->lockfd);
		rd->lockfd = -1;
	}
	error_set(err, 0, "%s keeps changing", what);
out:
	if (rc < 0 && rd->lockfd >= 0) {
		close(rd->lockfd);
		rd->lockfd = -1;
	}
	free(what);
	return rc;
}

/* The directory is checked and the lock taken before anything is created or truncated. */
struct rundir *rundir_claim(const char *socket_path, enum safepath_dir_policy policy,
			    struct error *err)
{
	struct rundir *rd = mem_zalloc(sizeof(*rd));
	const char *name;

	rd->dirfd = rd->lockfd = -1;
	rd->socket_path = mem_strdup(socket_path);
	rd->log_path = paths_log_for(socket_path);
	if (safepath_split(socket_path, &rd->dir, &name, err) < 0)
		goto fail;
	rd->sock_name = mem_strdup(name);
	rd->lock_name = paths_lock_for(name);
	rd->log_name = paths_log_for(name);
	rd->dirfd = safepath_open_dir(rd->dir, policy, policy == SAFEPATH_DIR_PRIVATE, err);
	if (rd->dirfd < 0 || rundir_lock(rd, err) < 0)
		goto fail;
	return rd;
fail:
	rundir_free(rd, 0);
	return NULL;
}

void rundir_free(struct rundir *rd, int remove)
{
	if (rd == NULL)
		return;
	if (remove && rd->dirfd >= 0) {
		if (rd->listening && unlinkat(rd->dirfd, rd->sock_name, 0) < 0 && errno != ENOENT)
			log_warn("removing %s: %s", rd->socket_path, strerror(errno));
		/* The lock file goes before the lock is released, so no one takes a dead file. */
		if (rd->lockfd >= 0)
			unlinkat(rd->dirfd, rd->lock_name, 0);
	}
	if (rd->lockfd >= 0)
		close(rd->lockfd);
	if (rd->dirfd >= 0)
		close(rd->dirfd);
	free(rd->socket_path);
	free(rd->log_path);
	free(rd->dir);
	free(rd->sock_name);
	free(rd->lock_name);
	free(rd->log_name);
	free(rd);
}

const char *rundir_socket_path(const struct rundir *rd)
{
	return rd->socket_path;
}

const char *rundir_log_path(const struct rundir *rd)
{
	return rd->log_path;
}

int rundir_dir_fd(const struct rundir *rd)
{
	return rd->dirfd;
}

int rundir_lock_fd(const struct rundir *rd)
{
	return rd->lockfd;
}

/* Called with the lock held, so the log being emptied is ours and no live daemon's. */
int rundir_open_log(struct rundir *rd, struct error *err)
{
	char *what = mem_printf("log file %s", rd->log_path);
	int fd = safepath_open_own(rd->dirfd, rd->log_name, O_WRONLY | O_APPEND, 0600, 1, what,
				   err);

	free(what);
	return fd;
}

/*
 * bind() takes a path, not a directory descriptor: the path through
 * /proc/self/fd names the directory we checked whatever happened to its
 * name since, and bind never follows a link at the last component (it
 * fails on anything already there).  The umask gives the socket its mode
 * at creation, so no chmod on a path is needed afterwards.
 */
int rundir_listen(struct rundir *rd, struct error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old;
	int fd, n;

	n = snprintf(addr.sun_path, sizeof(addr.sun_path), "/proc/self/fd/%d/%s", rd->dirfd,
		     rd->sock_name);
	if (n < 0 || (size_t)n >= sizeof(addr.sun_path) ||
	    strlen(rd->socket_path) >= sizeof(addr.sun_path)) {
		error_set(err, 0, "socket path %s is too long", rd->socket_path);
		return -1;
	}
	/* We hold the lock, so a socket of ours there was left by a dead daemon. */
	if (fstatat(rd->dirfd, rd->sock_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			error_set(err, 0, "%s exists and is not a socket: refused", rd->socket_path);
			return -1;
		}
		if (st.st_uid != geteuid()) {
			error_set(err, 0, "%s is a socket of uid %u: refused", rd->socket_path,
				  (unsigned)st.st_uid);
			return -1;
		}
		log_info("replacing stale socket %s", rd->socket_path);
		if (unlinkat(rd->dirfd, rd->sock_name, 0) < 0) {
			error_set(err, errno, "cannot remove stale socket %s", rd->socket_path);
			return -1;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error_set(err, errno, "socket");
		return -1;
	}
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		error_set(err, errno, "cannot bind %s", rd->socket_path);
		umask(old);
		close(fd);
		return -1;
	}
	umask(old);
	rd->listening = 1;
	if (listen(fd, 64) < 0) {
		error_set(err, errno, "cannot listen on %s", rd->socket_path);
		close(fd);
		return -1;
	}
	return fd;
}

int rundir_open_named_log(const char *path, struct error *err)
{
	char *dir = NULL, *what = NULL;
	const char *name;
	int dirfd = -1, fd = -1;

	if (safepath_split(path, &dir, &name, err) < 0)
		goto out;
	dirfd = safepath_open_dir(dir, SAFEPATH_DIR_SHARED, 0, err);
	if (dirfd < 0)
		goto out;
	what = mem_printf("log file %s", path);
	fd = safepath_open_own(dirfd, name, O_WRONLY | O_APPEND, 0600, 1, what, err);
out:
	if (dirfd >= 0)
		close(dirfd);
	free(dir);
	free(what);
	return fd;
}
