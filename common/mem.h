#ifndef SAMPLED_MEM_H
#define SAMPLED_MEM_H

#include <stddef.h>

/*
 * Allocation that cannot fail: out of memory is a broken invariant for a
 * profiler (it ends in mem_fatal), not an error to pass up.  Memory from
 * these functions is released with free().
 */
void *mem_alloc(size_t size);
void *mem_zalloc(size_t size);
void *mem_calloc(size_t n, size_t size);
void *mem_realloc(void *ptr, size_t size);
/* Grows an array to hold at least want elements, doubling; returns it. */
void *mem_grow(void *ptr, size_t *cap, size_t want, size_t elem);
char *mem_strdup(const char *s);
char *mem_strndup(const char *s, size_t n);
char *mem_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Reports a broken invariant and aborts; never returns. */
void mem_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
