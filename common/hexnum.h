#ifndef SAMPLED_HEXNUM_H
#define SAMPLED_HEXNUM_H

#include <stdint.h>

/*
 * Hexadecimal numbers as /proc and perf maps write them: digits in either
 * case, no prefix, no sign.  Pure and async-signal-safe (the SIGBUS
 * handler reads /proc/self/maps with it).
 */

/*
 * Parses the hex digits at *p, up to end (NULL: up to the NUL), into *val
 * and moves *p past them.  -1, with *p left alone, when there is no digit
 * or the number does not fit in 64 bits.
 */
int hexnum_parse(const char **p, const char *end, uint64_t *val);

#endif
