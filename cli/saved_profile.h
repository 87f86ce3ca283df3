#ifndef SAMPLED_SAVED_PROFILE_H
#define SAMPLED_SAVED_PROFILE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "sampled.pb-c.h"

/*
 * Saved profiles (.sprof files): what `samplectl save` writes and the view
 * commands' --load read.  A file is a 24-byte header, then one
 * SavedProfile message (proto/sampled.proto):
 *
 *   0   8  magic "\x89SPROF\r\n" (a high bit and a CR LF, as PNG has, so
 *          that 7-bit or newline-mangling transfers show)
 *   8   4  format version, big-endian (SAVED_PROFILE_VERSION)
 *   12  4  CRC-32 (zlib's) of the payload, big-endian
 *   16  8  payload length in bytes, big-endian
 *   24  -  the payload: a SavedProfile
 *
 * A loaded profile answers the requests a daemon answers (hello, status,
 * tree), so every view runs on it unchanged; see saved_server.h.
 */

#define SAVED_PROFILE_MAGIC "\211SPROF\r\n"
#define SAVED_PROFILE_MAGIC_SIZE 8u
#define SAVED_PROFILE_VERSION 1u
#define SAVED_PROFILE_HEADER_SIZE 24u
/* Files larger than this are refused before they are read. */
#define SAVED_PROFILE_MAX_PAYLOAD ((uint64_t)1 << 30)

struct saved_profile;

/* The header and payload of msg in one newly allocated buffer (free() it). */
uint8_t *saved_profile_encode(const Sampled__SavedProfile *msg, size_t *len);
/*
 * Checks and decodes a whole file's bytes.  NULL with err saying what is
 * wrong: not a saved profile (magic), saved in a newer format (version),
 * truncated or with bytes after its end (length), corrupt (checksum, or
 * a payload that does not decode, or has no status).
 */
struct saved_profile *saved_profile_decode(const uint8_t *buf, size_t len, struct error *err);
/* Reads path and decodes it; errors begin with the path. */
struct saved_profile *saved_profile_read(const char *path, struct error *err);
void saved_profile_free(struct saved_profile *sp);
/* The decoded message (owned by sp). */
const Sampled__SavedProfile *saved_profile_message(const struct saved_profile *sp);

/*
 * Answers req as a daemon would, from the file: hello (the saved daemon's
 * version and pids), status, and trees: merged or per thread, of one
 * thread (cut out of the per-thread tree), by thread state, with any
 * min_share.  Anything else (dump, stop, a view the file does not hold)
 * gets an Error.  Returns the response as a framed message (wire_pack;
 * free() it).
 */
uint8_t *saved_profile_answer(const struct saved_profile *sp, const Sampled__Request *req,
			      size_t *frame_len);

#endif
