#include <sys/socket.h>
#include <sys/un.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mem.h"
#include "saved_server.h"
#include "wire.h"

/* A client that sends half a request, or stops reading, is dropped after this. */
#define SAVED_SERVER_IO_TIMEOUT_MS 10000
/* $TMPDIR longer than this would not leave room in sun_path for the socket. */
#define SAVED_SERVER_MAX_TMPDIR 64

struct saved_server {
	struct saved_profile *sp;
	char *dir;
	char *path;
	int listen_fd;
	int stop_fds[2];	/* a byte (or EOF) on [0] tells the thread to end */
	pthread_t thread;
	int running;
};

/* Waits for fd to become readable; 0 when the server is told to stop first. */
static int saved_server_wait(struct saved_server *s, int fd)
{
	struct pollfd p[2] = { { fd, POLLIN, 0 }, { s->stop_fds[0], POLLIN, 0 } };

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (p[1].revents != 0)
			return 0;
		if (p[0].revents != 0)
			return 1;
	}
}

/* Answers one connection's requests, in order, until it closes or misbehaves. */
static void saved_server_conn(struct saved_server *s, int fd)
{
	Sampled__Request *req;
	uint8_t *payload, *frame;
	size_t len, frame_len;
	struct error err;
	int rc;

	while (saved_server_wait(s, fd)) {
		error_clear(&err);
		if (wire_read_frame(fd, WIRE_MAX_REQUEST, SAVED_SERVER_IO_TIMEOUT_MS, &payload, &len,
				    &err) < 0)
			return;
		req = sampled__request__unpack(NULL, len, payload);
		free(payload);
		if (req == NULL)
			return;
		frame = saved_profile_answer(s->sp, req, &frame_len);
		sampled__request__free_unpacked(req, NULL);
		rc = wire_write_all(fd, frame, frame_len, SAVED_SERVER_IO_TIMEOUT_MS, &err);
		free(frame);
		if (rc < 0)
			return;
	}
}

/* The thread: one connection at a time, which is all samplectl opens. */
static void *saved_server_main(void *arg)
{
	struct saved_server *s = arg;
	int fd;

	while (saved_server_wait(s, s->listen_fd)) {
		fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		saved_server_conn(s, fd);
		close(fd);
	}
	return NULL;
}

struct saved_server *saved_server_start(struct saved_profile *sp, struct error *err)
{
	struct saved_server *s = mem_zalloc(sizeof(*s));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	const char *tmp = getenv("TMPDIR");
	int e;

	s->sp = sp;
	s->listen_fd = s->stop_fds[0] = s->stop_fds[1] = -1;
	if (tmp == NULL || tmp[0] != '/' || strlen(tmp) > SAVED_SERVER_MAX_TMPDIR)
		tmp = "/tmp";
	s->dir = mem_printf("%s/samplectl-load-XXXXXX", tmp);
	if (mkdtemp(s->dir) == NULL) {
		error_set(err, errno, "creating a directory in %s", tmp);
		free(s->dir);
		s->dir = NULL;
		goto fail;
	}
	s->path = mem_printf("%s/sock", s->dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", s->path);
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->listen_fd < 0 || bind(s->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    listen(s->listen_fd, 4) < 0) {
		error_set(err, errno, "serving the saved profile on %s", s->path);
		goto fail;
	}
	if (pipe2(s->stop_fds, O_CLOEXEC) < 0) {
		error_set(err, errno, "pipe");
		goto fail;
	}
	e = pthread_create(&s->thread, NULL, saved_server_main, s);
	if (e != 0) {
		error_set(err, e, "starting the thread that serves the saved profile");
		goto fail;
	}
	s->running = 1;
	return s;
fail:
	saved_server_free(s);
	return NULL;
}

void saved_server_free(struct saved_server *s)
{
	if (s == NULL)
		return;
	if (s->running) {
		close(s->stop_fds[1]);
		s->stop_fds[1] = -1;
		pthread_join(s->thread, NULL);
	}
	for (int i = 0; i < 2; i++) {
		if (s->stop_fds[i] >= 0)
			close(s->stop_fds[i]);
	}
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	if (s->path != NULL)
		unlink(s->path);
	if (s->dir != NULL)
		rmdir(s->dir);
	free(s->path);
	free(s->dir);
	saved_profile_free(s->sp);
	free(s);
}

const char *saved_server_path(const struct saved_server *s)
{
	return s->path;
}
