#include <sys/socket.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "wire.h"

struct wire_reader {
	uint8_t *buf;
	size_t len;		/* bytes held */
	size_t off;		/* start of unread bytes */
	size_t cap;
	size_t max_frame;
	int consumed;		/* the last frame returned, still to drop */
	size_t consumed_len;
};

struct wire_reader *wire_reader_new(size_t max_frame)
{
	struct wire_reader *r = mem_zalloc(sizeof(*r));

	r->max_frame = max_frame;
	return r;
}

void wire_reader_free(struct wire_reader *r)
{
	if (r == NULL)
		return;
	free(r->buf);
	free(r);
}

/* Drops the frame handed out last time, then compacts once the front is idle. */
static void reader_release(struct wire_reader *r)
{
	if (r->consumed) {
		r->off += r->consumed_len;
		r->consumed = 0;
	}
	if (r->off == r->len) {
		r->off = r->len = 0;
	} else if (r->off > r->cap / 2) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
}

void wire_reader_feed(struct wire_reader *r, const void *buf, size_t len)
{
	reader_release(r);
	/* Nothing to add, and a new reader has no buffer to add it to (NULL + 0 is undefined). */
	if (len == 0)
		return;
	r->buf = mem_grow(r->buf, &r->cap, r->len + len, 1);
	memcpy(r->buf + r->len, buf, len);
	r->len += len;
}

ssize_t wire_reader_fill(struct wire_reader *r, int fd, struct error *err)
{
	ssize_t n;

	reader_release(r);
	r->buf = mem_grow(r->buf, &r->cap, r->len + 4096, 1);
	do
		n = read(fd, r->buf + r->len, r->cap - r->len);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		if (errno != EAGAIN)
			error_set(err, errno, "reading from peer");
		return -1;
	}
	r->len += (size_t)n;
	return n;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int wire_reader_next(struct wire_reader *r, const uint8_t **payload, size_t *len,
		     struct error *err)
{
	size_t avail;
	uint32_t n;

	reader_release(r);
	avail = r->len - r->off;
	if (avail < WIRE_HEADER_SIZE)
		return 0;
	n = get_be32(r->buf + r->off);
	if (n > r->max_frame) {
		error_set(err, 0, "message of %u bytes exceeds the limit of %zu bytes", n,
			  r->max_frame);
		return -1;
	}
	if (avail - WIRE_HEADER_SIZE < n)
		return 0;
	*payload = r->buf + r->off + WIRE_HEADER_SIZE;
	*len = n;
	r->consumed = 1;
	r->consumed_len = WIRE_HEADER_SIZE + n;
	return 1;
}

size_t wire_reader_pending(const struct wire_reader *r)
{
	size_t held = r->len - r->off;

	return r->consumed ? held - r->consumed_len : held;
}

uint8_t *wire_pack(const ProtobufCMessage *msg, size_t *frame_len)
{
	size_t n = protobuf_c_message_get_packed_size(msg);
	uint8_t *buf;

	if (n > UINT32_MAX)
		mem_fatal("message of %zu bytes cannot be framed", n);
	buf = mem_alloc(WIRE_HEADER_SIZE + n);
	buf[0] = (uint8_t)(n >> 24);
	buf[1] = (uint8_t)(n >> 16);
	buf[2] = (uint8_t)(n >> 8);
	buf[3] = (uint8_t)n;
	protobuf_c_message_pack(msg, buf + WIRE_HEADER_SIZE);
	*frame_len = WIRE_HEADER_SIZE + n;
	return buf;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd to be ready for events, within the time left before deadline. */
static int wait_fd(int fd, short events, int64_t deadline, struct error *err)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	int left, rc;

	for (;;) {
		left = deadline < 0 ? -1 : (int)(deadline - now_ms());
		if (deadline >= 0 && left <= 0) {
			error_set(err, ETIMEDOUT, "no answer from the daemon");
			return -1;
		}
		rc = poll(&pfd, 1, left);
		if (rc > 0)
			return 0;
		if (rc < 0 && errno != EINTR) {
			error_set(err, errno, "poll");
			return -1;
		}
	}
}

int wire_write_all(int fd, const void *buf, size_t len, int timeout_ms, struct error *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	const uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				if (wait_fd(fd, POLLOUT, deadline, err) < 0)
					return -1;
				continue;
			}
			error_set(err, errno, "sending to the daemon");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Reads exactly len bytes or fails. */
static int read_exact(int fd, void *buf, size_t len, int64_t deadline, struct error *err)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len > 0) {
		if (wait_fd(fd, POLLIN, deadline, err) < 0)
			return -1;
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			error_set(err, errno, "reading from the daemon");
			return -1;
		}
		if (n == 0) {
			error_set(err, 0, "the daemon closed the connection");
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int wire_read_frame(int fd, size_t max_frame, int timeout_ms, uint8_t **payload,
		    size_t *len, struct error *err)
{
	int64_t deadline = timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
	uint8_t head[WIRE_HEADER_SIZE];
	uint32_t n;
	uint8_t *buf;

	if (read_exact(fd, head, sizeof(head), deadline, err) < 0)
		return -1;
	n = get_be32(head);
	if (n > max_frame) {
		error_set(err, 0, "message of %u bytes exceeds the limit of %zu bytes", n,
			  max_frame);
		return -1;
	}
	buf = mem_alloc(n);
	if (read_exact(fd, buf, n, deadline, err) < 0) {
		free(buf);
		return -1;
	}
	*payload = buf;
	*len = n;
	return 0;
}

void wire_request_init(Sampled__Request *req)
{
	sampled__request__init(req);
	req->protocol_version = WIRE_PROTOCOL_VERSION;
}

void wire_response_init(Sampled__Response *resp)
{
	sampled__response__init(resp);
	resp->protocol_version = WIRE_PROTOCOL_VERSION;
}
