#ifndef SAMPLED_TEST_ALLOCS_H
#define SAMPLED_TEST_ALLOCS_H

#include <stddef.h>

/*
 * Counting allocator calls proves a steady state allocates nothing, not
 * even a buffer freed again at once.  allocs.c interposes the libc
 * allocator (malloc, calloc, realloc) for the whole binary, forwarding to
 * glibc's own entry points, so it is linked into the tests that count
 * (the Makefile's ALLOC_COUNTED), not into the helper library.  Under
 * AddressSanitizer, which owns the allocator, nothing is interposed and
 * the heap in use as glibc reports it stands in.
 */

/* Allocator calls so far; under AddressSanitizer, the heap bytes in use. */
size_t allocs_activity(void);

#endif
