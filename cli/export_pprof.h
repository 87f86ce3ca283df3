#ifndef SAMPLED_EXPORT_PPROF_H
#define SAMPLED_EXPORT_PPROF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "view.h"

/*
 * pprof's profile.proto (proto/profile.proto), gzip-compressed as pprof
 * and `go tool pprof` expect on disk.
 *
 * - sample_type: samples/count, then cpu/nanoseconds (wall/nanoseconds
 *   unless the mode is "cpu"); period_type the latter, period
 *   1e9/rate ns, and each sample's second value count * period.
 * - One Location per frame (id = frame id + 1) with one Line naming its
 *   Function (and line when known); one Function per (name, module,
 *   file); one Mapping per module (filename = the module).  A frame whose
 *   function is unknown keeps its module-relative offset as the address
 *   and a Function named "module+0xoffset".
 * - One Sample per node with self samples: its stack leaf first, value
 *   [self, self * period].  In a per-thread view the thread roots are no
 *   locations but a label thread=NAME on their samples.  Samples with no
 *   frame are a Sample with no location, so the values add up to all
 *   samples (cut samples of a pruned view are left out).
 * - string_table[0] is "", ids are non-zero, time_nanos/duration_nanos
 *   from meta, the comment is the command line.
 *
 * The gzip container holds "stored" (uncompressed) deflate blocks: valid
 * for every reader, but as big as the encoding.  Linking zlib would
 * shrink it several times; see export_pprof_gzip.
 */

struct export_pprof_meta {
	uint32_t rate_hz;		/* 0: period and nanosecond values are 0 */
	const char *mode;		/* "cpu" or another mode ("wall"); NULL: "cpu" */
	uint64_t start_unix_ns;		/* 0 if unknown */
	uint64_t duration_ns;
	const char *comment;		/* NULL: none */
};

/* Writes the view as a gzip-compressed profile; -1 with err if out fails. */
int export_pprof(FILE *out, const struct view *v, const struct export_pprof_meta *m,
		 struct error *err);
/* The profile's protobuf encoding, uncompressed (newly allocated); *len its size. */
uint8_t *export_pprof_encode(const struct view *v, const struct export_pprof_meta *m,
			     size_t *len);
/* Writes data as a gzip member made of stored deflate blocks; -1 with err if out fails. */
int export_pprof_gzip(FILE *out, const uint8_t *data, size_t len, struct error *err);
/* CRC-32 (ISO 3309, as gzip uses it) of p, continuing from crc (0 to start). */
uint32_t export_pprof_crc32(uint32_t crc, const uint8_t *p, size_t len);

#endif
