#ifndef SAMPLED_TEST_FILES_H
#define SAMPLED_TEST_FILES_H

#include <stddef.h>
#include <stdint.h>

/* Reads the file at path into malloc'd memory (a spare byte at the end); its size in *size. */
uint8_t *files_read(const char *path, size_t *size);

#endif
