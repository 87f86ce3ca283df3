#ifndef SAMPLED_FORMAT_H
#define SAMPLED_FORMAT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sampled.pb-c.h"

/*
 * Presentation helpers shared by samplectl's commands: human-readable
 * durations, sizes and shares, JSON string escaping, and the one-phrase
 * description of a target's state.  Functions that take buf write a
 * NUL-terminated string of at most size bytes (truncating if needed) and
 * return buf; FORMAT_BUF_SIZE is always enough.
 */

#define FORMAT_BUF_SIZE 64

/* "850 ns", "12.3 us", "4.5 ms", "1.2 s", "5 min 03 s", "2 h 07 min", "3 d 04 h". */
char *format_duration(char *buf, size_t size, uint64_t ns);
/* "512 B", "1.0 KiB", "3.4 MiB" ... "16.0 EiB" (binary units). */
char *format_size(char *buf, size_t size, uint64_t bytes);
/* part as a percentage of whole: "72.9%", "<0.1%" for a tiny non-zero part, "0.0%" when whole is 0. */
char *format_percent(char *buf, size_t size, uint64_t part, uint64_t whole);
/*
 * "running", "exited with code N", "killed by signal N (SIGNAME)",
 * "exited, status unknown" or "unknown".
 */
char *format_target_state(char *buf, size_t size, const Sampled__Status *st);

/*
 * Writes s as a quoted JSON string: quotes, backslashes and control bytes
 * are escaped, and bytes that are not valid UTF-8 (thread names are
 * arbitrary bytes) become U+FFFD so the output stays valid JSON.  NULL is
 * written as "".
 */
void format_json_string(FILE *out, const char *s);
/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if s does not start
 * one; never reads past a NUL.
 */
size_t format_utf8_len(const unsigned char *s);
/*
 * Whether the byte at s starts a control character a terminal would act on:
 * C0 (below 0x20), DEL, or C1 (U+0080 to U+009F, two bytes in UTF-8, of
 * which U+009B is a CSI on many terminals).  Returns its length in bytes,
 * 0 when it is none.
 */
size_t format_control_len(const unsigned char *s);
/* Returns a newly allocated copy of s (NULL -> "") with control characters replaced by '?'. */
char *format_printable(const char *s);
/*
 * Writes s with control characters as '?', so that a name read from a
 * target cannot drive the terminal; returns the columns it took (UTF-8
 * continuation bytes take none).
 */
int format_put_printable(FILE *out, const char *s);

#endif
