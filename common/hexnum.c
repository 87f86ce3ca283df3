#include <stddef.h>

#include "hexnum.h"

/* The value of a hex digit, or 16 for anything else. */
static unsigned hexnum_digit(char c)
{
	if (c >= '0' && c <= '9')
		return (unsigned)(c - '0');
	if (c >= 'a' && c <= 'f')
		return (unsigned)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F')
		return (unsigned)(c - 'A' + 10);
	return 16;
}

int hexnum_parse(const char **p, const char *end, uint64_t *val)
{
	const char *s = *p;
	uint64_t v = 0;
	unsigned d;

	for (; (end == NULL || s < end) && (d = hexnum_digit(*s)) < 16; s++) {
		if (v >> 60 != 0)
			return -1;
		v = v << 4 | d;
	}
	if (s == *p)
		return -1;
	*p = s;
	*val = v;
	return 0;
}
