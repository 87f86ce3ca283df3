#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>

#include "allocs.h"

#ifndef __SANITIZE_ADDRESS__
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);

/* The counter: the only state of this file. */
static size_t alloc_calls;

/* Counts, then allocates with glibc. */
void *malloc(size_t size)
{
	alloc_calls++;
	return __libc_malloc(size);
}

/* Counts, then allocates with glibc. */
void *calloc(size_t n, size_t size)
{
	alloc_calls++;
	return __libc_calloc(n, size);
}

/* Counts, then reallocates with glibc. */
void *realloc(void *ptr, size_t size)
{
	alloc_calls++;
	return __libc_realloc(ptr, size);
}

/* A test compares two readings: any call in between shows. */
size_t allocs_activity(void)
{
	return alloc_calls;
}
#else
/* Under ASan only a change of the heap in use can show. */
size_t allocs_activity(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}
#endif
