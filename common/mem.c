#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"

void mem_fatal(const char *fmt, ...)
{
	va_list ap;

	fputs("fatal: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	abort();
}

void *mem_alloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (p == NULL)
		mem_fatal("out of memory allocating %zu bytes", size);
	return p;
}

void *mem_zalloc(size_t size)
{
	return mem_calloc(1, size);
}

void *mem_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		mem_fatal("out of memory allocating %zu x %zu bytes", n, size);
	return p;
}

void *mem_realloc(void *ptr, size_t size)
{
	void *p = realloc(ptr, size ? size : 1);

	if (p == NULL)
		mem_fatal("out of memory reallocating to %zu bytes", size);
	return p;
}

void *mem_grow(void *ptr, size_t *cap, size_t want, size_t elem)
{
	size_t n = *cap ? *cap : 8;

	if (want <= *cap)
		return ptr;
	while (n < want) {
		if (n > SIZE_MAX / 2 / elem)
			mem_fatal("array of %zu elements too large", want);
		n *= 2;
	}
	*cap = n;
	return mem_realloc(ptr, n * elem);
}

char *mem_strdup(const char *s)
{
	return mem_strndup(s, strlen(s));
}

char *mem_strndup(const char *s, size_t n)
{
	char *p = mem_alloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *mem_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		mem_fatal("out of memory formatting a string");
	return s;
}
