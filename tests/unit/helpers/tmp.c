#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "sh.h"
#include "tmp.h"

/* The directory, once made: one per test program. */
static char dir[256];

/* Files a test writes must not land where another program's run could meet them. */
int tmp_setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/%s.XXXXXX", program_invocation_short_name);
	return mkdtemp(dir) != NULL ? 0 : -1;
}

/* A run leaves nothing behind. */
int tmp_teardown(void **state)
{
	(void)state;
	return sh_run("rm -rf '%s'", dir) == 0 ? 0 : -1;
}

/* Tests name their own paths in the directory. */
const char *tmp_dir(void)
{
	return dir;
}

/* Tests pass several paths to one call: each gets a buffer of its own. */
const char *tmp_path(const char *fmt, ...)
{
	static char bufs[8][PATH_MAX];
	static int next;
	char rel[PATH_MAX / 2];
	char *out = bufs[next++ % 8];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(rel, sizeof(rel), fmt, ap);
	va_end(ap);
	snprintf(out, PATH_MAX, "%s/%s", dir, rel);
	return out;
}

/* Tests make the files the code under test reads: sources, corrupt copies, maps. */
const char *tmp_write(const char *name, const void *buf, size_t size)
{
	const char *path = tmp_path("%s", name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, size), (ssize_t)size);
	close(fd);
	return path;
}
