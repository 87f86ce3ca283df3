#ifndef SAMPLED_SERVER_H
#define SAMPLED_SERVER_H

#include <stddef.h>
#include <stdint.h>

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

/* What a handler did with a request. */
enum server_handled {
	SERVER_ANSWERED,	/* resp is the reply */
	SERVER_STOP,		/* resp is the reply; then the daemon stops */
	SERVER_LATER,		/* the reply comes through server_reply(ticket); resp unused */
};

struct server_ops {
	/*
	 * Answers a valid request in resp, or promises a reply for later;
	 * ticket names the client to server_reply.  The client's next
	 * requests wait until the reply is queued.
	 */
	enum server_handled (*handle)(void *arg, const Sampled__Request *req,
				      Sampled__Response *resp, uint64_t ticket);
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
/*
 * Queues a promised reply, a whole packed frame (wire_pack) that the
 * server then owns; dropped when the client has gone.
 */
void server_reply(struct server *srv, uint64_t ticket, uint8_t *frame, size_t len);
/* Clients connected now. */
size_t server_clients(const struct server *srv);

#endif
