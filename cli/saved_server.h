#ifndef SAMPLED_SAVED_SERVER_H
#define SAMPLED_SAVED_SERVER_H

#include "error.h"
#include "saved_profile.h"

/*
 * A saved profile served on a private Unix socket by a thread of samplectl
 * itself.  The view commands (status, tree, top, flame, export, save)
 * talk to a daemon through struct client; with --load they talk to this
 * server instead, so they read a file with no code of their own and show
 * exactly what they show live.  The socket lives in a new directory of
 * mode 0700 under $TMPDIR (or /tmp), removed with the server.
 */

struct saved_server;

/* Serves sp (the server owns it from now on, also on failure); NULL with err. */
struct saved_server *saved_server_start(struct saved_profile *sp, struct error *err);
/* Stops the thread, removes the socket and its directory, frees the profile; accepts NULL. */
void saved_server_free(struct saved_server *s);
/* The socket to connect to (owned by s). */
const char *saved_server_path(const struct saved_server *s);

#endif
