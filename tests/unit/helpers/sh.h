#ifndef SAMPLED_TEST_SH_H
#define SAMPLED_TEST_SH_H

/* Runs a shell command (sh -c); its exit status, -1 when it did not exit. */
int sh_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
