#ifndef SAMPLED_RUNDIR_H
#define SAMPLED_RUNDIR_H

#include "error.h"
#include "safepath.h"

/*
 * Where one daemon lives on the file system: its socket NAME.sock, the lock
 * NAME.lock that makes the socket its own, and its log NAME.log, all in one
 * directory.  The directory is opened and checked once (safepath.h) and
 * every file in it is then reached through that descriptor, never through
 * a path: a root daemon whose socket lies in a shared directory (/tmp) can
 * then not be made to create, truncate or chmod a file elsewhere by a link
 * planted under one of its names, or by the directory being swapped.
 *
 * The order matters: the lock first (a daemon that cannot take it touches
 * nothing, so a second `sampled attach` leaves a live daemon's log and
 * socket alone), then the log, then the socket.  The lock is an flock on an
 * open file: it survives the fork into the background and lasts while any
 * copy of the descriptor stays open.
 */

struct rundir;

/*
 * Opens the directory of socket_path under policy (SAFEPATH_DIR_PRIVATE
 * for the default directories, which it creates if missing, else
 * SAFEPATH_DIR_SHARED) and takes the lock.  NULL with err set when the
 * directory is refused, the lock file is not ours (another user's, a
 * link), or another daemon holds it.
 */
struct rundir *rundir_claim(const char *socket_path, enum safepath_dir_policy policy,
			    struct error *err);
/*
 * Releases the claim: with remove, the socket and lock file go (in that
 * order, so nobody takes a dead lock file while a socket still answers);
 * without, they stay for the process that keeps the lock (the fork's
 * other side).  Accepts NULL.
 */
void rundir_free(struct rundir *rd, int remove);
/* The socket's path, as given. */
const char *rundir_socket_path(const struct rundir *rd);
/* The path the log goes to beside the socket (NAME.log), as shown to users. */
const char *rundir_log_path(const struct rundir *rd);
/* Descriptors to keep open across a fork: the directory and the lock. */
int rundir_dir_fd(const struct rundir *rd);
int rundir_lock_fd(const struct rundir *rd);
/* Opens NAME.log beside the socket, emptied, mode 0600; a descriptor, or -1 with err set. */
int rundir_open_log(struct rundir *rd, struct error *err);
/*
 * Creates the listening socket (mode 0600 from the umask, never a chmod):
 * a socket a dead daemon of ours left is replaced; anything else under
 * the name (another user's socket, a file, a link) is refused.  Returns the
 * non-blocking descriptor, or -1 with err set.
 */
int rundir_listen(struct rundir *rd, struct error *err);

/*
 * Opens a log file the user named (--log FILE) for writing, emptied, mode
 * 0600, with the same rules: its directory checked (SAFEPATH_DIR_SHARED),
 * no link followed, the file ours.  A descriptor, or -1 with err set.
 */
int rundir_open_named_log(const char *path, struct error *err);

#endif
