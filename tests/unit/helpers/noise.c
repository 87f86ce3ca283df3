#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "noise.h"

/* Garbage inputs must be the same every run, so that a failure can be replayed. */
void noise_fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i + 8 <= n; i += 8) {
		seed ^= seed << 13;
		seed ^= seed >> 7;
		seed ^= seed << 17;
		memcpy(p + i, &seed, 8);
	}
}
