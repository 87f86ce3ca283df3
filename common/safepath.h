#ifndef SAMPLED_SAFEPATH_H
#define SAMPLED_SAFEPATH_H

#include <sys/types.h>
#include <stdio.h>

#include "error.h"

/*
 * Files on paths that someone else may influence, opened so that they
 * cannot redirect them.  The daemon often runs as root and writes beside
 * paths its user names (--socket, --log, -o): in a shared directory such
 * as /tmp another user can plant a symbolic link, a FIFO or a hard link
 * under the name it is about to use, or swap the directory between a check
 * and a use.  So a directory is opened once and checked on its descriptor
 * (its owner and mode, never changed behind the user's back), every file is
 * then reached relative to that descriptor without following a final
 * symbolic link, and permissions are set on descriptors, never on paths.
 */

enum safepath_dir_policy {
	/*
	 * Ours alone: owned by the effective uid, no permission for group or
	 * others.  The socket directories (/run/sampled, /tmp/sampled-<uid>).
	 */
	SAFEPATH_DIR_PRIVATE,
	/*
	 * Owned by the effective uid or root; writable by group or others
	 * only with the sticky bit (as /tmp), where nobody can remove or
	 * rename what another user created.
	 */
	SAFEPATH_DIR_SHARED,
};

/*
 * Opens directory path (O_DIRECTORY, never a final symbolic link) and
 * checks it against policy; with create, a missing one is made with mode
 * 0700 first.  A directory that fails the policy is refused with a message
 * naming its owner or mode: it is never chmod'ed.  Returns the descriptor,
 * or -1 with err set.
 */
int safepath_open_dir(const char *path, enum safepath_dir_policy policy, int create,
		      struct error *err);

/*
 * Splits path into its directory (newly allocated: "." for a bare name,
 * "/" for a file at the root) and its last component (pointing into path).
 * -1 with err set when there is no last component ("", "dir/").
 */
int safepath_split(const char *path, char **dir, const char **name, struct error *err);

/*
 * Opens or creates the regular file name in the directory dirfd, with
 * oflags (O_RDWR, O_WRONLY, O_APPEND; O_CREAT, O_NOFOLLOW, O_NONBLOCK and
 * O_CLOEXEC are added), and makes it ours: a symbolic link, a FIFO or
 * device, a file another user owns, or one with a second hard link is
 * refused; the mode is set to mode on the descriptor; with trunc the file
 * is emptied, after the checks.  what names the file in messages ("log
 * file").  Returns the descriptor, or -1 with err set.
 */
int safepath_open_own(int dirfd, const char *name, int oflags, mode_t mode, int trunc,
		      const char *what, struct error *err);

/*
 * An output file (samplectl -o, sampled -o) written whole or not at all:
 * the bytes go to a new temporary file beside path, created exclusively,
 * which replaces path by rename once complete.  A rename replaces a
 * directory entry and never follows it, so a symbolic link planted at path
 * is not written through; path naming a symbolic link, a directory or
 * anything but a regular file is refused up front all the same.
 */
struct safepath_output;

/* Starts the output; NULL with err set when path cannot be written. */
struct safepath_output *safepath_output_begin(const char *path, struct error *err);
/* The stream to write to; owned by out. */
FILE *safepath_output_stream(struct safepath_output *out);
/*
 * Flushes and closes the stream and renames the file into place; frees
 * out either way.  -1 with err set (the temporary file removed) when any
 * write failed.
 */
int safepath_output_commit(struct safepath_output *out, struct error *err);
/* Drops the output: the temporary file is removed, path left as it was; accepts NULL. */
void safepath_output_abort(struct safepath_output *out);

#endif
