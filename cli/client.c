#include <sys/file.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "format.h"
#include "mem.h"
#include "paths.h"
#include "safepath.h"
#include "wire.h"

/* How often client_wait_gone looks at the socket file while it waits. */
#define CLIENT_POLL_SLICE_MS 50

struct client {
	int fd;
	int timeout_ms;		/* < 0: wait forever */
	int broken;		/* an exchange failed half-way: the stream is out of step */
	char *path;
	Sampled__Response *hello;
};

/* Monotonic milliseconds, for deadlines that span several system calls. */
static int64_t client_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Turns a connect() failure into the sentence a user can act on. */
static void client_connect_error(const char *path, int errnum, struct error *err)
{
	switch (errnum) {
	case ENOENT:
		error_set(err, 0, "no daemon at %s", path);
		break;
	case ECONNREFUSED:
		error_set(err, 0, "stale socket %s: the daemon is gone", path);
		break;
	case EACCES:
	case EPERM:
		error_set(err, 0, "permission denied on %s (the daemon runs as another user?)",
			  path);
		break;
	case EAGAIN:
	case EINPROGRESS:
		error_set(err, 0, "the daemon at %s accepts no connections (it is overloaded)",
			  path);
		break;
	default:
		error_set(err, errnum, "cannot connect to %s", path);
		break;
	}
	/* Keep the cause for callers that sort failures (list: stale or not). */
	if (err != NULL)
		err->errnum = errnum;
}

/* Opens a Unix stream socket connected to path; the fd, or -1 with err set. */
static int client_dial(const char *path, int timeout_ms, struct error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv;
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		error_set(err, 0, "socket path too long (at most %zu bytes): %s",
			  sizeof(addr.sun_path) - 1, path);
		if (err != NULL)
			err->errnum = ENAMETOOLONG;
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		error_set(err, errno, "socket");
		return -1;
	}
	/*
	 * A blocking connect to a Unix socket waits while the listener's
	 * backlog is full, for at most the send timeout: that bounds it.
	 */
	if (timeout_ms >= 0) {
		tv.tv_sec = timeout_ms / 1000;
		tv.tv_usec = (timeout_ms % 1000) * 1000;
		if (tv.tv_sec == 0 && tv.tv_usec == 0)
			tv.tv_usec = 1000;
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	}
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		client_connect_error(path, errno, err);
		close(fd);
		return -1;
	}
	return fd;
}

/* Maps a request to the reply kind that answers it (NOT_SET: anything goes). */
static Sampled__Response__ResultCase client_expected(Sampled__Request__CommandCase cmd)
{
	switch (cmd) {
	case SAMPLED__REQUEST__COMMAND_HELLO:
		return SAMPLED__RESPONSE__RESULT_HELLO;
	case SAMPLED__REQUEST__COMMAND_STATUS:
		return SAMPLED__RESPONSE__RESULT_STATUS;
	case SAMPLED__REQUEST__COMMAND_STOP:
		return SAMPLED__RESPONSE__RESULT_STOP;
	case SAMPLED__REQUEST__COMMAND_TREE:
		return SAMPLED__RESPONSE__RESULT_TREE;
	case SAMPLED__REQUEST__COMMAND_DUMP:
		return SAMPLED__RESPONSE__RESULT_DUMP;
	case SAMPLED__REQUEST__COMMAND_RESET:
		return SAMPLED__RESPONSE__RESULT_RESET;
	case SAMPLED__REQUEST__COMMAND_PAUSE:
	case SAMPLED__REQUEST__COMMAND_RESUME:
		return SAMPLED__RESPONSE__RESULT_SAMPLING;
	default:
		return SAMPLED__RESPONSE__RESULT__NOT_SET;
	}
}

/*
 * One request/reply round trip under a single deadline; returns the reply
 * as received, Error replies included.  Any failure leaves the stream in an
 * unknown place, so the client is marked broken.
 */
static Sampled__Response *client_exchange(struct client *c, Sampled__Request *req,
					  struct error *err)
{
	int64_t deadline = c->timeout_ms < 0 ? -1 : client_now_ms() + c->timeout_ms;
	Sampled__Response *resp = NULL;
	uint8_t *frame = NULL, *payload = NULL;
	size_t frame_len, len;
	char when[FORMAT_BUF_SIZE];
	int left;

	if (c->broken) {
		error_set(err, 0, "the connection to the daemon is unusable after an earlier error");
		return NULL;
	}
	req->protocol_version = WIRE_PROTOCOL_VERSION;
	frame = wire_pack(&req->base, &frame_len);
	if (wire_write_all(c->fd, frame, frame_len, c->timeout_ms, err) < 0)
		goto out;
	left = deadline < 0 ? -1 : (int)(deadline - client_now_ms());
	if (deadline >= 0 && left < 1)
		left = 1;
	if (wire_read_frame(c->fd, WIRE_MAX_FRAME, left, &payload, &len, err) < 0)
		goto out;
	resp = sampled__response__unpack(NULL, len, payload);
	if (resp == NULL)
		error_set(err, 0, "malformed reply from the daemon (%zu bytes that are not a "
			  "sampled.Response)", len);
out:
	if (resp == NULL) {
		c->broken = 1;
		/* A peer that closed early shows as EOF, EPIPE or ECONNRESET: one fact. */
		if (err != NULL && (err->errnum == EPIPE || err->errnum == ECONNRESET))
			error_set(err, 0, "the daemon closed the connection");
		if (err != NULL && err->errnum == ETIMEDOUT) {
			format_duration(when, sizeof(when), (uint64_t)c->timeout_ms * 1000000u);
			error_set(err, 0, "no answer from the daemon at %s within %s", c->path,
				  when);
			err->errnum = ETIMEDOUT;	/* err != NULL: tested above */
		}
	}
	free(frame);
	free(payload);
	return resp;
}

/* Says hello and keeps the reply; refuses a daemon of another protocol version. */
static int client_say_hello(struct client *c, struct error *err)
{
	Sampled__Request req;
	Sampled__Hello hello;
	Sampled__Response *resp;
	uint32_t theirs;

	wire_request_init(&req);
	sampled__hello__init(&hello);
	hello.protocol_version = WIRE_PROTOCOL_VERSION;
	hello.client_name = (char *)"samplectl";
	req.command_case = SAMPLED__REQUEST__COMMAND_HELLO;
	req.hello = &hello;
	resp = client_exchange(c, &req, err);
	if (resp == NULL)
		return -1;
	/*
	 * A daemon of another version may answer with its own HelloReply or
	 * refuse our request outright with ERROR_VERSION_MISMATCH; both are
	 * the same fact for the user.
	 */
	if (resp->result_case == SAMPLED__RESPONSE__RESULT_ERROR && resp->error != NULL &&
	    resp->error->code == SAMPLED__ERROR_CODE__ERROR_VERSION_MISMATCH) {
		theirs = resp->protocol_version;
	} else if (resp->result_case == SAMPLED__RESPONSE__RESULT_ERROR && resp->error != NULL) {
		error_set(err, 0, "daemon: %s", resp->error->message);
		goto bad;
	} else if (resp->result_case != SAMPLED__RESPONSE__RESULT_HELLO || resp->hello == NULL) {
		error_set(err, 0, "unexpected reply to hello from the daemon at %s (kind %d)",
			  c->path, (int)resp->result_case);
		goto bad;
	} else {
		theirs = resp->hello->protocol_version;
	}
	if (theirs != WIRE_PROTOCOL_VERSION) {
		error_set(err, 0, "protocol version mismatch: daemon speaks %u, samplectl speaks %u",
			  theirs, WIRE_PROTOCOL_VERSION);
		goto bad;
	}
	c->hello = resp;
	return 0;
bad:
	c->broken = 1;
	sampled__response__free_unpacked(resp, NULL);
	return -1;
}

/*
 * Whoever listens on a path may answer in a daemon's place: another user
 * who made the directory first, or bound the name, could show us a
 * profile of their making.  So a user talks only to daemons of its own uid
 * or root's; root, who may look at any daemon, talks to all.
 */
static int client_check_peer(int fd, const char *path, struct error *err)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uid_t me = geteuid();

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
		error_set(err, errno, "cannot tell who serves %s", path);
		return -1;
	}
	if (me != 0 && cred.uid != me && cred.uid != 0) {
		error_set(err, 0,
			  "%s is served by uid %u, not by uid %u or root: not a daemon to trust",
			  path, (unsigned)cred.uid, (unsigned)me);
		return -1;
	}
	return 0;
}

struct client *client_connect(const char *path, int timeout_ms, struct error *err)
{
	struct client *c;
	int fd = client_dial(path, timeout_ms, err);

	if (fd < 0)
		return NULL;
	if (client_check_peer(fd, path, err) < 0) {
		close(fd);
		return NULL;
	}
	c = mem_zalloc(sizeof(*c));
	c->fd = fd;
	c->timeout_ms = timeout_ms;
	c->path = mem_strdup(path);
	if (client_say_hello(c, err) < 0) {
		client_free(c);
		return NULL;
	}
	return c;
}

void client_free(struct client *c)
{
	if (c == NULL)
		return;
	close(c->fd);
	if (c->hello != NULL)
		sampled__response__free_unpacked(c->hello, NULL);
	free(c->path);
	free(c);
}

const Sampled__HelloReply *client_hello(const struct client *c)
{
	return c->hello->hello;
}

const char *client_path(const struct client *c)
{
	return c->path;
}

int client_timeout_ms(const struct client *c)
{
	return c->timeout_ms;
}

Sampled__Response *client_call(struct client *c, Sampled__Request *req, struct error *err)
{
	Sampled__Response__ResultCase want = client_expected(req->command_case);
	Sampled__Response *resp = client_exchange(c, req, err);

	if (resp == NULL)
		return NULL;
	if (resp->result_case == SAMPLED__RESPONSE__RESULT_ERROR) {
		if (resp->error != NULL && resp->error->message != NULL &&
		    resp->error->message[0] != '\0')
			error_set(err, 0, "daemon: %s", resp->error->message);
		else
			error_set(err, 0, "daemon: error code %d",
				  resp->error != NULL ? (int)resp->error->code : -1);
		goto bad;
	}
	if (want != SAMPLED__RESPONSE__RESULT__NOT_SET && resp->result_case != want) {
		error_set(err, 0, "unexpected reply from the daemon (kind %d to request kind %d)",
			  (int)resp->result_case, (int)req->command_case);
		c->broken = 1;
		goto bad;
	}
	return resp;
bad:
	sampled__response__free_unpacked(resp, NULL);
	return NULL;
}

void client_response_free(Sampled__Response *resp)
{
	if (resp != NULL)
		sampled__response__free_unpacked(resp, NULL);
}

/*
 * Whether a daemon still owns path: something listens there, or the lock
 * file beside it is held (the daemon keeps it locked while it lives and
 * unlinks it last, so a daemon starting afterwards makes a fresh one).
 * Checking the lock means taking it shared for an instant, without
 * creating the file.
 */
static int client_daemon_present(const char *path)
{
	char *lock = paths_lock_for(path);
	int fd, held = 0;

	if (client_probe(path)) {
		free(lock);
		return 1;
	}
	fd = open(lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	free(lock);
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_SH | LOCK_NB) < 0 && errno == EWOULDBLOCK)
		held = 1;
	close(fd);
	return held;
}

/*
 * The daemon answers stop before it exits, and closes its clients before
 * it closes its listening socket and releases its lock, so neither the
 * reply nor end of stream means a new daemon could take the path yet.
 * Waiting until no one listens and the lock is free does; it also ends at
 * once for a daemon that died without cleaning up.  The connection is
 * watched only to wake up early when it closes.
 */
int client_wait_gone(struct client *c, int timeout_ms, struct error *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : client_now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	char buf[256], when[FORMAT_BUF_SIZE];
	int64_t left;
	ssize_t n;
	int rc, eof = 0;

	c->broken = 1;
	for (;;) {
		if (!client_daemon_present(c->path))
			return 0;
		left = CLIENT_POLL_SLICE_MS;
		if (deadline >= 0) {
			if (deadline - client_now_ms() <= 0)
				break;
			if (deadline - client_now_ms() < left)
				left = deadline - client_now_ms();
		}
		rc = poll(&pfd, eof ? 0 : 1, (int)left);
		if (rc < 0 && errno != EINTR) {
			error_set(err, errno, "waiting for the daemon to exit");
			return -1;
		}
		if (rc <= 0)
			continue;
		/* Stray bytes after the stop reply mean nothing; end of stream stops the watch. */
		n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
			eof = 1;
	}
	format_duration(when, sizeof(when), (uint64_t)timeout_ms * 1000000u);
	error_set(err, 0, "the daemon at %s is still running %s after it accepted stop",
		  c->path, when);
	if (err != NULL)
		err->errnum = ETIMEDOUT;
	return -1;
}

int client_probe(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(addr.sun_path))
		return 0;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return 0;
	/* A full backlog (EAGAIN) still proves a live listener. */
	rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	if (rc < 0 && errno == EAGAIN)
		rc = 0;
	close(fd);
	return rc == 0;
}

static int client_compare_paths(const void *a, const void *b)
{
	return strverscmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The socket directory is trusted only as the daemon makes it: ours alone
 * (safepath.h).  One another user made first, before any daemon of ours
 * ran, is refused with its owner named.  A missing one holds no daemon.
 */
static int client_trust_dir(const char *dir, struct error *err)
{
	struct error why;
	int fd;

	error_clear(&why);
	fd = safepath_open_dir(dir, SAFEPATH_DIR_PRIVATE, 0, &why);
	if (fd >= 0) {
		close(fd);
		return 0;
	}
	if (why.errnum == ENOENT)
		return 0;
	error_set(err, 0, "socket directory not trusted: %s", why.msg);
	return -1;
}

char **client_socket_list(const char *dir, struct error *err)
{
	char **list = NULL;
	size_t n = 0, cap = 0, len;
	struct dirent *d;
	DIR *dp;

	if (client_trust_dir(dir, err) < 0)
		return NULL;
	dp = opendir(dir);

	if (dp == NULL && errno != ENOENT) {
		error_set(err, errno, "cannot read socket directory %s", dir);
		return NULL;
	}
	while (dp != NULL && (d = readdir(dp)) != NULL) {
		len = strlen(d->d_name);
		if (len <= 5 || strcmp(d->d_name + len - 5, ".sock") != 0)
			continue;
		list = mem_grow(list, &cap, n + 2, sizeof(*list));
		list[n++] = mem_printf("%s/%s", dir, d->d_name);
	}
	if (dp != NULL)
		closedir(dp);
	list = mem_grow(list, &cap, n + 1, sizeof(*list));
	list[n] = NULL;
	qsort(list, n, sizeof(*list), client_compare_paths);
	return list;
}

void client_socket_list_free(char **list)
{
	if (list == NULL)
		return;
	for (char **p = list; *p != NULL; p++)
		free(*p);
	free(list);
}

/*
 * Names a daemon for a choice list: "123 (python3)" when the socket is
 * named after its target pid, which is what --pid takes; the path otherwise.
 */
static char *client_describe(const char *path)
{
	const char *base = strrchr(path, '/');
	char comm[64] = "", *file, *printable, *label;
	size_t len;
	FILE *f;

	base = base != NULL ? base + 1 : path;
	len = strlen(base) - 5;	/* ".sock" */
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)base[i]))
			return mem_strdup(path);
	}
	if (len == 0 || len > 10)
		return mem_strdup(path);
	file = mem_printf("/proc/%.*s/comm", (int)len, base);
	f = fopen(file, "re");
	free(file);
	if (f != NULL) {
		if (fgets(comm, sizeof(comm), f) == NULL)
			comm[0] = '\0';
		comm[strcspn(comm, "\n")] = '\0';
		fclose(f);
	}
	if (comm[0] == '\0')
		return mem_printf("%.*s", (int)len, base);
	printable = format_printable(comm);
	label = mem_printf("%.*s (%s)", (int)len, base, printable);
	free(printable);
	return label;
}

char *client_find_socket_in(const char *dir, pid_t pid, const char *path, struct error *err)
{
	char **list, *found = NULL, *names = NULL, *label, *tmp;
	size_t alive = 0;

	if (path != NULL)
		return mem_strdup(path);
	if (client_trust_dir(dir, err) < 0)
		return NULL;
	if (pid > 0)
		return mem_printf("%s/%d.sock", dir, (int)pid);
	list = client_socket_list(dir, err);
	if (list == NULL)
		return NULL;
	for (char **p = list; *p != NULL; p++) {
		if (!client_probe(*p))
			continue;
		alive++;
		if (found == NULL)
			found = mem_strdup(*p);
		label = client_describe(*p);
		tmp = names == NULL ? mem_strdup(label) : mem_printf("%s, %s", names, label);
		free(names);
		free(label);
		names = tmp;
	}
	if (alive == 0) {
		error_set(err, 0, "no sampled daemon is running for this user "
			  "(start one with: sampled attach PID)");
	} else if (alive > 1) {
		error_set(err, 0, "several daemons are running; choose one with --pid: %s", names);
		free(found);
		found = NULL;
	}
	free(names);
	client_socket_list_free(list);
	return found;
}

char *client_find_socket(pid_t pid, const char *path, struct error *err)
{
	char *dir, *found;

	if (path != NULL)
		return mem_strdup(path);
	dir = paths_socket_dir();
	found = client_find_socket_in(dir, pid, NULL, err);
	free(dir);
	return found;
}
