#include <sys/stat.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "paths.h"

char *paths_socket_dir(void)
{
	const char *xdg = getenv("XDG_RUNTIME_DIR");
	struct stat st;

	if (geteuid() == 0)
		return mem_strdup("/run/sampled");
	if (xdg != NULL && xdg[0] == '/' && stat(xdg, &st) == 0 && S_ISDIR(st.st_mode) &&
	    st.st_uid == geteuid())
		return mem_printf("%s/sampled", xdg);
	return mem_printf("/tmp/sampled-%u", (unsigned)geteuid());
}

char *paths_default_socket(pid_t pid)
{
	char *dir = paths_socket_dir();
	char *path = mem_printf("%s/%d.sock", dir, (int)pid);

	free(dir);
	return path;
}

/* Replaces a trailing ".sock" with suffix, or appends suffix. */
static char *sibling(const char *socket_path, const char *suffix)
{
	size_t n = strlen(socket_path);

	if (n > 5 && strcmp(socket_path + n - 5, ".sock") == 0)
		n -= 5;
	return mem_printf("%.*s%s", (int)n, socket_path, suffix);
}

char *paths_lock_for(const char *socket_path)
{
	return sibling(socket_path, ".lock");
}

char *paths_log_for(const char *socket_path)
{
	return sibling(socket_path, ".log");
}

int paths_ensure_dir(const char *dir, struct error *err)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		error_set(err, errno, "cannot create socket directory %s", dir);
		return -1;
	}
	if (lstat(dir, &st) < 0) {
		error_set(err, errno, "cannot inspect socket directory %s", dir);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		error_set(err, 0, "socket directory %s is not a directory", dir);
		return -1;
	}
	if (st.st_uid != geteuid()) {
		error_set(err, 0, "socket directory %s belongs to uid %u, not to uid %u", dir,
			  (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) < 0) {
		error_set(err, errno, "socket directory %s is open to other users", dir);
		return -1;
	}
	return 0;
}
