#ifndef SAMPLED_TEST_NOISE_H
#define SAMPLED_TEST_NOISE_H

#include <stddef.h>
#include <stdint.h>

/* Fills p with n bytes (whole words of 8) of deterministic noise from seed (xorshift64). */
void noise_fill(uint8_t *p, size_t n, uint64_t seed);

#endif
