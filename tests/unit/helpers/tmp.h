#ifndef SAMPLED_TEST_TMP_H
#define SAMPLED_TEST_TMP_H

#include <stddef.h>

/*
 * A test program's own temporary directory, /tmp/PROGRAM.XXXXXX, made
 * before its tests and removed after them (tmp_setup and tmp_teardown are
 * a cmocka group setup and teardown), and the files the tests put in it.
 */

/* Makes the directory; 0, or -1 when it cannot (a cmocka group setup). */
int tmp_setup(void **state);
/* Removes the directory and all in it; 0, or -1 (a cmocka group teardown). */
int tmp_teardown(void **state);
/* The directory's path. */
const char *tmp_dir(void);
/* The path of fmt in the directory, in one of 8 static buffers used in turn. */
const char *tmp_path(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes size bytes of buf to the file name in the directory; returns its path (as tmp_path). */
const char *tmp_write(const char *name, const void *buf, size_t size);

#endif
