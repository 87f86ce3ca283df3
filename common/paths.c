#include <sys/stat.h>
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
