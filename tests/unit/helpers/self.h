#ifndef SAMPLED_TEST_SELF_H
#define SAMPLED_TEST_SELF_H

#include <link.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The test process itself as the dynamic linker sees it: what tests of
 * symbols and maps compare the code under test with.
 */

/* The real path of the loaded libc (a static buffer) and, unless bias is NULL, its load bias. */
const char *self_libc_path(uint64_t *bias);
/*
 * The address of a libc function and libc's load bias.  Through a libc
 * handle, not RTLD_DEFAULT: under ASan, malloc and qsort resolve to
 * interceptors.
 */
uint64_t self_libc_func(const char *name, uint64_t *bias);
/*
 * The program headers of the loaded libc as the dynamic linker keeps them
 * (*n of them) and libc's load bias (*bias); the test fails when no libc
 * is loaded.
 */
const ElfW(Phdr) *self_libc_phdrs(size_t *n, uint64_t *bias);

#endif
