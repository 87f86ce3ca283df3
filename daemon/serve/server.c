#include <sys/epoll.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "mem.h"
#include "server.h"
#include "wire.h"

/* A client that does not read its replies is dropped past this backlog. */
#define CLIENT_OUT_CAP ((size_t)2 * WIRE_MAX_FRAME)
/*
 * Connections one uid other than root may hold at once: enough for any
 * real use, and few enough that one user's idle connections cannot take
 * every descriptor and lock others (root) out.
 */
#define SERVER_MAX_PER_UID 64

struct client {
	struct server *srv;
	int fd;
	uid_t uid;
	pid_t pid;
	struct wire_reader *in;
	uint8_t *out;
	size_t out_len, out_off, out_cap;
	int closing;		/* close once the output is flushed */
	int stop_after;		/* ask the daemon to stop once flushed */
	int refused;		/* another user: the first request gets the refusal */
	int waiting;		/* its reply comes later (server_reply) */
	uint64_t ticket;	/* names the client to server_reply */
	struct client *next;
};

struct server {
	struct loop *loop;
	const struct server_ops *ops;
	void *arg;
	int listen_fd;
	int spare_fd;		/* held back for accepting when out of descriptors */
	int accept_paused;	/* out of fds: accepting resumes when a client leaves */
	uint64_t refused_fds;	/* connections closed for want of a descriptor */
	uint64_t next_ticket;
	struct client *clients;
	size_t nclients;
};

static void client_close(struct client *c);

static void listen_resume(struct server *srv)
{
	struct error err;

	if (srv->spare_fd < 0)
		srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!srv->accept_paused)
		return;
	srv->accept_paused = 0;
	if (loop_mod(srv->loop, srv->listen_fd, EPOLLIN, &err) < 0)
		log_warn("resuming accept: %s", err.msg);
}

static void client_close(struct client *c)
{
	struct server *srv = c->srv;
	struct client **pp;

	for (pp = &srv->clients; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	}
	srv->nclients--;
	loop_del(srv->loop, c->fd);
	close(c->fd);
	wire_reader_free(c->in);
	free(c->out);
	free(c);
	listen_resume(srv);
}

/* Watches for output space only while output is pending; stops reading while closing. */
static void client_update_events(struct client *c)
{
	uint32_t ev = 0;
	struct error err;

	if (!c->closing && c->out_len == c->out_off)
		ev |= EPOLLIN;
	if (c->out_len > c->out_off)
		ev |= EPOLLOUT;
	if (loop_mod(c->srv->loop, c->fd, ev, &err) < 0)
		log_warn("client fd %d: %s", c->fd, err.msg);
}

/* Writes what the socket takes now; returns -1 when the client is gone and freed. */
static int client_flush(struct client *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			log_debug("client fd %d: %s", c->fd, strerror(errno));
			client_close(c);
			return -1;
		}
		c->out_off += (size_t)n;
	}
	if (c->out_off == c->out_len) {
		c->out_off = c->out_len = 0;
		if (c->stop_after) {
			struct server *srv = c->srv;

			c->stop_after = 0;
			srv->ops->stop(srv->arg);
		}
		if (c->closing) {
			client_close(c);
			return -1;
		}
	}
	client_update_events(c);
	return 0;
}

/* Appends a packed frame to the client's output, which then owns it no more (it is freed). */
static void client_queue_frame(struct client *c, uint8_t *frame, size_t len)
{
	if (c->out_len - c->out_off + len > CLIENT_OUT_CAP) {
		log_warn("client pid %d does not read its replies: dropping it", (int)c->pid);
		c->closing = 1;
		c->out_off = c->out_len = 0;
		free(frame);
		return;
	}
	if (c->out_off > 0 && c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	c->out = mem_grow(c->out, &c->out_cap, c->out_len + len, 1);
	memcpy(c->out + c->out_len, frame, len);
	c->out_len += len;
	free(frame);
}

static void client_queue(struct client *c, const Sampled__Response *resp)
{
	size_t len;
	uint8_t *frame = wire_pack(&resp->base, &len);

	client_queue_frame(c, frame, len);
}

static void client_error(struct client *c, Sampled__ErrorCode code, const char *msg)
{
	Sampled__Response resp;
	Sampled__Error error;

	wire_response_init(&resp);
	sampled__error__init(&error);
	error.code = code;
	error.message = (char *)msg;
	resp.result_case = SAMPLED__RESPONSE__RESULT_ERROR;
	resp.error = &error;
	client_queue(c, &resp);
}

/* Handles one frame: a reply is queued, or the client is marked for closing. */
static void client_request(struct client *c, const uint8_t *payload, size_t len)
{
	struct server *srv = c->srv;
	Sampled__Request *req = sampled__request__unpack(NULL, len, payload);
	Sampled__Response resp;
	char msg[160];

	if (req == NULL) {
		client_error(c, SAMPLED__ERROR_CODE__ERROR_BAD_REQUEST,
			     "malformed request: not a sampled.Request message");
		c->closing = 1;
		return;
	}
	if (req->protocol_version != WIRE_PROTOCOL_VERSION) {
		snprintf(msg, sizeof(msg),
			 "protocol version mismatch: the daemon speaks %u, the client %u",
			 WIRE_PROTOCOL_VERSION, req->protocol_version);
		client_error(c, SAMPLED__ERROR_CODE__ERROR_VERSION_MISMATCH, msg);
		c->closing = 1;
	} else if (req->command_case == SAMPLED__REQUEST__COMMAND__NOT_SET) {
		client_error(c, SAMPLED__ERROR_CODE__ERROR_BAD_REQUEST,
			     "the request names no command this daemon knows");
	} else {
		wire_response_init(&resp);
		switch (srv->ops->handle(srv->arg, req, &resp, c->ticket)) {
		case SERVER_LATER:
			/* server_reply brings the answer; nothing else is read meanwhile. */
			c->waiting = 1;
			break;
		case SERVER_STOP:
			c->stop_after = 1;
			/* fall through */
		case SERVER_ANSWERED:
			client_queue(c, &resp);
			srv->ops->release(srv->arg, &resp);
			break;
		}
	}
	sampled__request__free_unpacked(req, NULL);
}

/*
 * Answers buffered requests one at a time: the next is taken only once the
 * previous reply has left, so a client that pipelines requests without
 * reading replies cannot make the daemon buffer without bound.  Returns 1
 * when a whole request may still be waiting in the buffer.
 */
static int client_pump(struct client *c)
{
	const uint8_t *payload;
	struct error err;
	size_t len;
	int rc;

	error_clear(&err);
	if (c->refused && wire_reader_pending(c->in) > 0 && !c->closing) {
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "permission denied: this daemon serves uid %u and root, not uid %u",
			 (unsigned)geteuid(), (unsigned)c->uid);
		log_warn("refused client pid %d: %s", (int)c->pid, msg);
		client_error(c, SAMPLED__ERROR_CODE__ERROR_PERMISSION_DENIED, msg);
		c->closing = 1;
		return 0;
	}
	while (!c->closing && !c->stop_after && !c->waiting && c->out_len == c->out_off) {
		rc = wire_reader_next(c->in, &payload, &len, &err);
		if (rc == 0)
			return 0;
		if (rc < 0) {
			log_warn("client pid %d: %s", (int)c->pid, err.msg);
			client_error(c, SAMPLED__ERROR_CODE__ERROR_TOO_LARGE, err.msg);
			c->closing = 1;
			return 0;
		}
		client_request(c, payload, len);
	}
	return !c->closing && !c->stop_after && !c->waiting;
}

/* Answers what is buffered and sends what the socket takes; c may be freed. */
static void client_serve(struct client *c)
{
	for (;;) {
		int more = client_pump(c);

		if (client_flush(c) < 0)
			return;
		if (!more || c->out_len > c->out_off)
			break;
	}
}

static void on_client(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct client *c = arg;
	struct error err;

	(void)loop;
	(void)fd;
	error_clear(&err);
	if (events & EPOLLIN) {
		ssize_t n = wire_reader_fill(c->in, c->fd, &err);

		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			client_close(c);
			return;
		}
	} else if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLOUT)) {
		client_close(c);
		return;
	}
	client_serve(c);
}

/* Connections uid holds now. */
static size_t server_uid_clients(const struct server *srv, uid_t uid)
{
	size_t n = 0;

	for (const struct client *c = srv->clients; c != NULL; c = c->next)
		n += c->uid == uid;
	return n;
}

/* The connection of a uid other than root that has waited longest with nothing to answer. */
static struct client *server_idle_victim(struct server *srv)
{
	struct client *victim = NULL;

	/* New clients are pushed at the head: the last match is the oldest. */
	for (struct client *c = srv->clients; c != NULL; c = c->next)
		if (c->uid != 0 && c->out_len == c->out_off && wire_reader_pending(c->in) == 0)
			victim = c;
	return victim;
}

/*
 * Out of descriptors, the spare one is given up to take the connection
 * waiting: root is served, at the cost of the oldest idle connection of
 * another uid (whose descriptor becomes the new spare); anyone else is
 * told why and closed.  Without a victim, accepting pauses until a client
 * leaves.  Returns the accepted descriptor to serve, or -1.
 */
static int server_accept_spare(struct server *srv, int fd, struct ucred *cred)
{
	socklen_t clen = sizeof(*cred);
	struct client *victim;
	struct error err;
	int cfd;

	if (srv->spare_fd < 0)
		return -1;
	close(srv->spare_fd);
	srv->spare_fd = -1;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd >= 0 && getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, cred, &clen) < 0)
		cred->uid = (uid_t)-1;
	victim = cfd >= 0 && cred->uid == 0 ? server_idle_victim(srv) : NULL;
	if (victim != NULL) {
		log_warn("out of descriptors: closing an idle connection of uid %u for root's",
			 (unsigned)victim->uid);
		client_close(victim);
	} else if (cfd >= 0) {
		/* One line per hundred: a flood of them must not flood the log. */
		if (srv->refused_fds++ % 100 == 0)
			log_warn("out of descriptors: refusing connections (%llu so far, this one "
				 "of uid %u)", (unsigned long long)srv->refused_fds,
				 (unsigned)cred->uid);
		close(cfd);
		cfd = -1;
	}
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (srv->spare_fd < 0 && !srv->accept_paused) {
		log_warn("accept: %s; pausing new connections", strerror(errno));
		srv->accept_paused = 1;
		if (loop_mod(srv->loop, fd, 0, &err) < 0)
			log_warn("pausing accept: %s", err.msg);
	}
	return cfd;
}

static void on_listen(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct server *srv = arg;
	struct ucred cred = { .uid = (uid_t)-1 };
	socklen_t clen = sizeof(cred);
	struct client *c;
	struct error err;
	int cfd, crowded;

	(void)events;
	cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (cfd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			cfd = server_accept_spare(srv, fd, &cred);
		else if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("accept: %s", strerror(errno));
		if (cfd < 0)
			return;
	} else if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0) {
		cred.uid = (uid_t)-1;
		cred.pid = 0;
	}
	c = mem_zalloc(sizeof(*c));
	c->srv = srv;
	c->fd = cfd;
	c->ticket = ++srv->next_ticket;
	c->in = wire_reader_new(WIRE_MAX_REQUEST);
	c->uid = cred.uid;
	c->pid = cred.pid;
	if (loop_add(loop, cfd, EPOLLIN, on_client, c, &err) < 0) {
		log_warn("client: %s", err.msg);
		close(cfd);
		wire_reader_free(c->in);
		free(c);
		return;
	}
	/*
	 * Another user is answered with the refusal once it speaks, so that
	 * it reads the reason as the reply to its first request.  A uid past
	 * its share of connections is answered at once and closed: it may
	 * never speak, and its descriptors are what must not pile up.
	 */
	c->refused = c->uid != geteuid() && c->uid != 0;
	crowded = !c->refused && c->uid != 0 &&
		  server_uid_clients(srv, c->uid) >= SERVER_MAX_PER_UID;
	c->next = srv->clients;
	srv->clients = c;
	srv->nclients++;
	if (crowded) {
		char msg[160];

		snprintf(msg, sizeof(msg),
			 "too many connections: uid %u holds %d, the most one user may",
			 (unsigned)c->uid, SERVER_MAX_PER_UID);
		log_warn("refused client pid %d: %s", (int)c->pid, msg);
		client_error(c, SAMPLED__ERROR_CODE__ERROR_TOO_LARGE, msg);
		c->closing = 1;
		client_flush(c);
	}
}

/* The socket comes made (rundir.h): the server only serves it. */
struct server *server_new(struct loop *loop, int listen_fd, const struct server_ops *ops,
			  void *arg, struct error *err)
{
	struct server *srv = mem_zalloc(sizeof(*srv));

	srv->loop = loop;
	srv->ops = ops;
	srv->arg = arg;
	srv->listen_fd = listen_fd;
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (loop_add(loop, srv->listen_fd, EPOLLIN, on_listen, srv, err) < 0) {
		close(srv->listen_fd);
		if (srv->spare_fd >= 0)
			close(srv->spare_fd);
		free(srv);
		return NULL;
	}
	return srv;
}

void server_free(struct server *srv)
{
	if (srv == NULL)
		return;
	while (srv->clients != NULL)
		client_close(srv->clients);
	loop_del(srv->loop, srv->listen_fd);
	close(srv->listen_fd);
	if (srv->spare_fd >= 0)
		close(srv->spare_fd);
	free(srv);
}

/*
 * A reply the handler promised (SERVER_LATER): the client may have left
 * meanwhile, which is no error.  Once the reply is queued the client's
 * next requests are read as usual.
 */
void server_reply(struct server *srv, uint64_t ticket, uint8_t *frame, size_t len)
{
	struct client *c;

	for (c = srv->clients; c != NULL && c->ticket != ticket; c = c->next)
		;
	if (c == NULL || !c->waiting) {
		free(frame);
		return;
	}
	c->waiting = 0;
	if (!c->closing)
		client_queue_frame(c, frame, len);
	else
		free(frame);
	client_serve(c);
}

size_t server_clients(const struct server *srv)
{
	return srv->nclients;
}
