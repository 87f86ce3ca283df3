#ifndef SAMPLED_WIRE_H
#define SAMPLED_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "sampled.pb-c.h"

/*
 * Framing of the control protocol: each message is a 4-byte big-endian
 * payload length followed by the protobuf-c encoding of a Sampled__Request
 * or Sampled__Response.  No frame may exceed WIRE_MAX_FRAME payload bytes;
 * a peer that announces more is refused before a byte of the body is read.
 */

#define WIRE_PROTOCOL_VERSION 1u
#define WIRE_HEADER_SIZE 4u
#define WIRE_MAX_FRAME (64u << 20)
/* Requests are small: the daemon refuses anything above this. */
#define WIRE_MAX_REQUEST (64u << 10)

/* Incremental reader for a non-blocking stream: bytes in, whole frames out. */
struct wire_reader;

struct wire_reader *wire_reader_new(size_t max_frame);
void wire_reader_free(struct wire_reader *r);
/* Appends bytes received from the peer. */
void wire_reader_feed(struct wire_reader *r, const void *buf, size_t len);
/*
 * Reads what the socket has (non-blocking); returns bytes read, 0 at end of
 * stream, -1 with errno EAGAIN when nothing is there, -1 with err set on a
 * read error.
 */
ssize_t wire_reader_fill(struct wire_reader *r, int fd, struct error *err);
/*
 * Extracts the next whole frame.  Returns 1 and points *payload (valid until
 * the next call) at *len bytes; 0 when more bytes are needed; -1 with err set
 * when the stream is unusable (announced length above the limit).
 */
int wire_reader_next(struct wire_reader *r, const uint8_t **payload, size_t *len,
		     struct error *err);
/* Bytes buffered but not yet returned as frames. */
size_t wire_reader_pending(const struct wire_reader *r);

/* Packs a message into a newly allocated frame (header included); free() it. */
uint8_t *wire_pack(const ProtobufCMessage *msg, size_t *frame_len);

/* Blocking I/O for clients; timeout_ms < 0 waits forever. */
int wire_write_all(int fd, const void *buf, size_t len, int timeout_ms, struct error *err);
/*
 * Reads one whole frame; the payload is newly allocated (free() it).
 * Fails on EOF, timeout, or a length above max_frame.
 */
int wire_read_frame(int fd, size_t max_frame, int timeout_ms, uint8_t **payload,
		    size_t *len, struct error *err);

/* Request/response helpers that fill in the protocol version. */
void wire_request_init(Sampled__Request *req);
void wire_response_init(Sampled__Response *resp);

#endif
