#ifndef SAMPLED_SYSCALLS_H
#define SAMPLED_SYSCALLS_H

/*
 * Names of x86-64 system calls, for the frame a blocked thread sits in:
 * the calls threads wait in (I/O, sleeping, locks, waiting for children
 * and signals) and the common rest.  Others show as "syscall N".
 */

/* The name of system call nr, or NULL when the table has none. */
const char *syscalls_name(long nr);

#endif
