#ifndef SAMPLED_ERROR_H
#define SAMPLED_ERROR_H

/*
 * Errors are values: a function that can fail because of something outside
 * the program (a target gone, EPERM, a bad ELF, a bad client) returns -1 or
 * NULL and fills a struct error the caller can show, log or pass up.  The
 * errno that caused it travels with the message and is never lost.
 */

struct error {
	int errnum;		/* errno behind the failure, 0 if none */
	char msg[512];
};

/* Sets the message; when errnum is non-zero ": strerror(errnum)" is appended. */
void error_set(struct error *err, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prepends context ("attaching to 42: ") to an existing message. */
void error_prefix(struct error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void error_clear(struct error *err);

#endif
