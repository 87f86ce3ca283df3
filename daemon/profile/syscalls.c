#include <stddef.h>

#include "syscalls.h"

static const struct {
	short nr;
	const char *name;
} syscalls_table[] = {
	{ 0, "read" }, { 1, "write" }, { 2, "open" }, { 3, "close" }, { 7, "poll" },
	{ 9, "mmap" }, { 11, "munmap" }, { 16, "ioctl" }, { 17, "pread64" },
	{ 18, "pwrite64" }, { 19, "readv" }, { 20, "writev" }, { 23, "select" },
	{ 24, "sched_yield" }, { 34, "pause" }, { 35, "nanosleep" }, { 40, "sendfile" },
	{ 42, "connect" }, { 43, "accept" }, { 44, "sendto" }, { 45, "recvfrom" },
	{ 46, "sendmsg" }, { 47, "recvmsg" }, { 56, "clone" }, { 57, "fork" },
	{ 59, "execve" }, { 61, "wait4" }, { 62, "kill" }, { 72, "fcntl" }, { 73, "flock" },
	{ 74, "fsync" }, { 75, "fdatasync" }, { 82, "rename" }, { 87, "unlink" },
	{ 128, "rt_sigtimedwait" }, { 130, "rt_sigsuspend" }, { 162, "sync" },
	{ 202, "futex" }, { 206, "io_setup" }, { 208, "io_getevents" },
	{ 230, "clock_nanosleep" }, { 232, "epoll_wait" }, { 247, "waitid" },
	{ 257, "openat" }, { 270, "pselect6" }, { 271, "ppoll" }, { 281, "epoll_pwait" },
	{ 288, "accept4" }, { 299, "recvmmsg" }, { 307, "sendmmsg" }, { 426, "io_uring_enter" },
	{ 435, "clone3" }, { 441, "epoll_pwait2" },
};

const char *syscalls_name(long nr)
{
	for (size_t i = 0; i < sizeof(syscalls_table) / sizeof(syscalls_table[0]); i++)
		if (syscalls_table[i].nr == nr)
			return syscalls_table[i].name;
	return NULL;
}
