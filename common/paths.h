#ifndef SAMPLED_PATHS_H
#define SAMPLED_PATHS_H

#include <sys/types.h>

/*
 * Where daemons put their sockets, shared by sampled and samplectl so that
 * the client finds what the daemon created: /run/sampled as root, else
 * $XDG_RUNTIME_DIR/sampled, else /tmp/sampled-<uid>.  Each daemon serves
 * <dir>/<pid>.sock and holds <dir>/<pid>.lock while it lives.  The
 * directory must be the user's alone (mode 0700): see safepath.h, which
 * both programs check it with.
 */

/* Returns the socket directory for the calling user (newly allocated). */
char *paths_socket_dir(void);
/* Returns <dir>/<pid>.sock (newly allocated). */
char *paths_default_socket(pid_t pid);
/* Returns the lock file path that guards a socket path (newly allocated). */
char *paths_lock_for(const char *socket_path);
/* Returns the log file path kept beside a socket path (newly allocated). */
char *paths_log_for(const char *socket_path);

#endif
