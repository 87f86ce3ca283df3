#ifndef SAMPLED_SERVER_H
#define SAMPLED_SERVER_H

#include "error.h"
#include "loop.h"
#include "sampled.pb-c.h"

/*
 * The daemon's Unix socket: accepts clients, checks who they are
 * (SO_PEERCRED), reads framed requests without ever blocking the loop,
 * refuses malformed, oversized or wrong-version ones with an Error reply,
 * and queues responses per client (capped, written as the socket drains).
 * A bad client is dropped; the daemon never is.
 */

struct server_ops {
	/* Fills resp for a valid request; returns 1 when the daemon should stop. */
	int (*handle)(void *arg, const Sampled__Request *req, Sampled__Response *resp);
	/* Frees what handle put into resp. */
	void (*release)(void *arg, Sampled__Response *resp);
	/* Called once a stop request has been answered. */
	void (*stop)(void *arg);
};

struct server;

/*
 * Serves listen_fd, a listening socket (rundir_listen), which the server
 * then owns: closed on failure too.
 */
struct server *server_new(struct loop *loop, int listen_fd, const struct server_ops *ops,
			  void *arg, struct error *err);
/* Closes every client and the socket (its file is rundir's to remove); accepts NULL. */
void server_free(struct server *srv);
/* Clients connected now. */
size_t server_clients(const struct server *srv);

#endif
