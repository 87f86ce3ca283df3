#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "error.h"

/* Formats the message and appends the errno text so the cause stays visible. */
void error_set(struct error *err, int errnum, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	if (err == NULL)
		return;
	err->errnum = errnum;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	n = strlen(err->msg);
	if (errnum != 0 && n < sizeof(err->msg))
		snprintf(err->msg + n, sizeof(err->msg) - n, ": %s", strerror(errnum));
}

/* Adds context in front of the message while keeping errnum. */
void error_prefix(struct error *err, const char *fmt, ...)
{
	char head[256], old[sizeof(err->msg)];
	va_list ap;

	if (err == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	size_t hn, on;

	memcpy(old, err->msg, sizeof(old));
	hn = strnlen(head, sizeof(head));
	on = strnlen(old, sizeof(old));
	if (hn + on > sizeof(err->msg) - 1)
		on = sizeof(err->msg) - 1 - hn;
	memcpy(err->msg, head, hn);
	memcpy(err->msg + hn, old, on);
	err->msg[hn + on] = '\0';
}

void error_clear(struct error *err)
{
	if (err == NULL)
		return;
	err->errnum = 0;
	err->msg[0] = '\0';
}
