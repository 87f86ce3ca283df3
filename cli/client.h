#ifndef SAMPLED_CLIENT_H
#define SAMPLED_CLIENT_H

#include <sys/types.h>

#include "error.h"
#include "sampled.pb-c.h"

/*
 * samplectl's side of the control socket: one blocking connection to one
 * daemon.  Connecting includes the hello exchange, so a client that exists
 * speaks the daemon's protocol version.  Every exchange is bounded by the
 * timeout given at connect time; after a failed exchange (timeout, garbage,
 * closed connection) the stream is out of step and later calls fail at once.
 */

struct client;

/*
 * Connects to the daemon serving the Unix socket at path and says hello.
 * timeout_ms bounds the connect and each request/reply exchange (< 0: wait
 * forever).  Errors name the cause: "no daemon at PATH" (errnum ENOENT),
 * "stale socket PATH: the daemon is gone" (ECONNREFUSED), "permission
 * denied on PATH (...)" (EACCES), "protocol version mismatch: daemon
 * speaks N, samplectl speaks M".
 */
struct client *client_connect(const char *path, int timeout_ms, struct error *err);
/* Closes the connection; accepts NULL. */
void client_free(struct client *c);
/* The daemon's answer to hello (owned by the client). */
const Sampled__HelloReply *client_hello(const struct client *c);
/* The socket path this client is connected to (owned by the client). */
const char *client_path(const struct client *c);
int client_timeout_ms(const struct client *c);

/*
 * Sends req (its protocol_version is filled in here) and returns the reply,
 * newly allocated: release it with client_response_free.  An Error reply
 * becomes NULL with err "daemon: <message>"; a reply of another kind than
 * the request asked for is an error too.
 */
Sampled__Response *client_call(struct client *c, Sampled__Request *req, struct error *err);
/* Frees a reply from client_call; accepts NULL. */
void client_response_free(Sampled__Response *resp);

/*
 * After a stop request: waits up to timeout_ms until no daemon owns the
 * socket any more (nothing listens on it and the lock file beside it,
 * paths_lock_for(), is gone or free), so that a caller can start another
 * daemon on the same path at once.  -1 with err on timeout.
 */
int client_wait_gone(struct client *c, int timeout_ms, struct error *err);

/*
 * Whether a daemon answers at path: a connect succeeds (or would, but the
 * daemon's backlog is full).  Never blocks, says no hello.
 */
int client_probe(const char *path);

/*
 * The *.sock files in dir as a newly allocated NULL-terminated array of
 * paths, sorted by name with numbers in numeric order; a missing dir is an
 * empty list.  Free with client_socket_list_free.
 */
char **client_socket_list(const char *dir, struct error *err);
void client_socket_list_free(char **list);

/*
 * Chooses the socket to talk to (newly allocated): path when given; else
 * paths_default_socket(pid) when pid > 0; else the only *.sock in
 * paths_socket_dir() whose daemon answers, and an error naming the
 * candidates when there are none ("no sampled daemon is running for this
 * user ...") or several ("several daemons are running; choose one with
 * --pid: 123 (python3), 456 (xz)").
 */
char *client_find_socket(pid_t pid, const char *path, struct error *err);
/* client_find_socket looking in dir instead of paths_socket_dir(). */
char *client_find_socket_in(const char *dir, pid_t pid, const char *path, struct error *err);

#endif
