#include <sys/stat.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "safepath.h"

struct safepath_output {
	int dirfd;
	char *path;		/* for messages */
	char *name;		/* the final name, in dirfd */
	char *tmp_name;		/* the temporary file's name, in dirfd */
	FILE *stream;
};

/* Describes why a directory's owner or mode is not to be trusted; 0 when it is. */
static int safepath_dir_trusted(const char *path, const struct stat *st,
				enum safepath_dir_policy policy, struct error *err)
{
	uid_t me = geteuid();

	if (policy == SAFEPATH_DIR_PRIVATE) {
		if (st->st_uid != me) {
			error_set(err, 0, "directory %s belongs to uid %u, not to uid %u: refused", path,
				  (unsigned)st->st_uid, (unsigned)me);
			return -1;
		}
		if ((st->st_mode & 077) != 0) {
			error_set(err, 0,
				  "directory %s is open to other users (mode %04o): refused; "
				  "make it mode 0700 or remove it",
				  path, (unsigned)(st->st_mode & 07777));
			return -1;
		}
		return 0;
	}
	if (st->st_uid != me && st->st_uid != 0) {
		error_set(err, 0,
			  "directory %s belongs to uid %u: uid %u keeps its files only in "
			  "directories of its own or of root",
			  path, (unsigned)st->st_uid, (unsigned)me);
		return -1;
	}
	if ((st->st_mode & (S_IWGRP | S_IWOTH)) != 0 && (st->st_mode & S_ISVTX) == 0) {
		error_set(err, 0,
			  "directory %s is writable by other users without the sticky bit "
			  "(mode %04o): refused",
			  path, (unsigned)(st->st_mode & 07777));
		return -1;
	}
	return 0;
}

/* One descriptor, checked once: later opens go through it, so the path cannot be swapped. */
int safepath_open_dir(const char *path, enum safepath_dir_policy policy, int create,
		      struct error *err)
{
	struct stat st;
	int fd;

	if (create && mkdir(path, 0700) < 0 && errno != EEXIST) {
		error_set(err, errno, "cannot create directory %s", path);
		return -1;
	}
	/*
	 * O_PATH: the checks below need the directory's inode, not permission
	 * to list it, so the refusal names the real reason (its owner) rather
	 * than EACCES.
	 */
	fd = open(path, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;

		if ((e == ELOOP || e == ENOTDIR) && lstat(path, &st) == 0)
			error_set(err, 0, "%s is %s, not a directory: refused", path,
				  S_ISLNK(st.st_mode) ? "a symbolic link" : "something else");
		else
			error_set(err, e, "cannot open directory %s", path);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		error_set(err, errno, "cannot inspect directory %s", path);
		close(fd);
		return -1;
	}
	if (safepath_dir_trusted(path, &st, policy, err) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Trailing slashes would leave no name to open relative to the directory. */
int safepath_split(const char *path, char **dir, const char **name, struct error *err)
{
	const char *slash = strrchr(path, '/');

	if (path[0] == '\0' || (slash != NULL && slash[1] == '\0')) {
		error_set(err, 0, "'%s' names a directory, not a file", path);
		return -1;
	}
	if (slash == NULL) {
		*dir = mem_strdup(".");
		*name = path;
	} else {
		*dir = slash == path ? mem_strdup("/") : mem_strndup(path, (size_t)(slash - path));
		*name = slash + 1;
	}
	if (strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
		error_set(err, 0, "'%s' names a directory, not a file", path);
		free(*dir);
		*dir = NULL;
		return -1;
	}
	return 0;
}

/*
 * The checks come after the open, on what was opened: a check on the path
 * before it would leave a window for the name to be replaced.  O_NONBLOCK
 * keeps a FIFO planted under the name from blocking the open.
 */
int safepath_open_own(int dirfd, const char *name, int oflags, mode_t mode, int trunc,
		      const char *what, struct error *err)
{
	struct stat st;
	int fd;

	fd = openat(dirfd, name, oflags | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
	if (fd < 0) {
		int e = errno;

		/* What the open refused (ELOOP, EACCES, ENXIO...) reads better by its kind. */
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
			error_set(err, 0, "%s is a symbolic link: refused", what);
		else if (e != ENOENT && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			 !S_ISREG(st.st_mode))
			error_set(err, 0, "%s is not a regular file: refused", what);
		else
			error_set(err, e, "cannot open %s", what);
		return -1;
	}
	if (fstat(fd, &st) < 0) {
		error_set(err, errno, "cannot inspect %s", what);
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		error_set(err, 0, "%s is not a regular file: refused", what);
		goto fail;
	}
	if (st.st_uid != geteuid()) {
		error_set(err, 0, "%s belongs to uid %u, not to uid %u: refused", what,
			  (unsigned)st.st_uid, (unsigned)geteuid());
		goto fail;
	}
	if (st.st_nlink != 1) {
		error_set(err, 0, "%s has %lu hard links: refused", what, (unsigned long)st.st_nlink);
		goto fail;
	}
	if ((st.st_mode & 07777) != mode && fchmod(fd, mode) < 0) {
		error_set(err, errno, "cannot set the mode of %s", what);
		goto fail;
	}
	if (trunc && ftruncate(fd, 0) < 0) {
		error_set(err, errno, "cannot empty %s", what);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* Frees the bookkeeping; the stream and files are the callers' business. */
static void safepath_output_free(struct safepath_output *out)
{
	if (out->dirfd >= 0)
		close(out->dirfd);
	free(out->path);
	free(out->name);
	free(out->tmp_name);
	free(out);
}

/*
 * The temporary file is created with O_EXCL under a name of our own beside
 * the final one, in the directory's descriptor, so nothing planted there
 * beforehand can receive the bytes; it takes the mode a new file would
 * (0666 less the umask).
 */
struct safepath_output *safepath_output_begin(const char *path, struct error *err)
{
	struct safepath_output *out = mem_zalloc(sizeof(*out));
	const char *name;
	char *dir = NULL;
	struct stat st;
	int fd = -1;

	out->dirfd = -1;
	out->path = mem_strdup(path);
	if (safepath_split(path, &dir, &name, err) < 0)
		goto fail;
	out->name = mem_strdup(name);
	out->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (out->dirfd < 0) {
		error_set(err, errno, "cannot write %s: directory %s", path, dir);
		goto fail;
	}
	if (fstatat(out->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode)) {
		error_set(err, 0, "cannot write %s: it is %s", path,
			  S_ISLNK(st.st_mode) ? "a symbolic link, which is not replaced" :
			  S_ISDIR(st.st_mode) ? "a directory" : "not a regular file");
		goto fail;
	}
	for (unsigned i = 0; fd < 0 && i < 100; i++) {
		free(out->tmp_name);
		out->tmp_name = mem_printf(".%s.%ld.%u.tmp", name, (long)getpid(), i);
		fd = openat(out->dirfd, out->tmp_name,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST) {
			error_set(err, errno, "cannot write %s", path);
			goto fail;
		}
	}
	if (fd < 0) {
		error_set(err, EEXIST, "cannot write %s: no free temporary name beside it", path);
		goto fail;
	}
	out->stream = fdopen(fd, "w");
	if (out->stream == NULL) {
		error_set(err, errno, "cannot write %s", path);
		close(fd);
		unlinkat(out->dirfd, out->tmp_name, 0);
		goto fail;
	}
	free(dir);
	return out;
fail:
	free(dir);
	safepath_output_free(out);
	return NULL;
}

FILE *safepath_output_stream(struct safepath_output *out)
{
	return out->stream;
}

/* A failed write anywhere (a full disk) leaves the old file, not half of a new one. */
int safepath_output_commit(struct safepath_output *out, struct error *err)
{
	int failed = ferror(out->stream);
	int e = errno;

	if (fflush(out->stream) != 0) {
		failed = 1;
		e = errno;
	}
	if (fclose(out->stream) != 0 && !failed) {
		failed = 1;
		e = errno;
	}
	out->stream = NULL;
	if (failed) {
		error_set(err, e, "cannot write %s", out->path);
		goto fail;
	}
	if (renameat(out->dirfd, out->tmp_name, out->dirfd, out->name) < 0) {
		error_set(err, errno, "cannot write %s", out->path);
		goto fail;
	}
	safepath_output_free(out);
	return 0;
fail:
	unlinkat(out->dirfd, out->tmp_name, 0);
	safepath_output_free(out);
	return -1;
}

void safepath_output_abort(struct safepath_output *out)
{
	if (out == NULL)
		return;
	if (out->stream != NULL)
		fclose(out->stream);
	unlinkat(out->dirfd, out->tmp_name, 0);
	safepath_output_free(out);
}
