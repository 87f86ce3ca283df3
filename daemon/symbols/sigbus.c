#include <sys/mman.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "hexnum.h"
#include "sigbus.h"

/*
 * A signal handler can reach nothing but globals: this counter is the
 * module's only state, written only by the handler.
 */
static volatile sig_atomic_t sigbus_absorbed;

/*
 * Finds the mapping holding addr in /proc/self/maps, using only
 * async-signal-safe calls and the stack.  Succeeds only for a readable,
 * non-executable, file-backed mapping: those are the ones the ELF cache
 * makes, and the only ones a zero page can stand in for.
 */
static int find_file_mapping(uintptr_t addr, uintptr_t *end)
{
	char buf[8192], line[512];
	size_t len = 0;
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			const char *p = line;
			uint64_t start, stop;

			if (buf[i] != '\n') {
				if (len < sizeof(line) - 1)
					line[len++] = buf[i];
				continue;
			}
			line[len] = '\0';
			len = 0;
			if (hexnum_parse(&p, NULL, &start) < 0 || *p++ != '-' ||
			    hexnum_parse(&p, NULL, &stop) < 0 || addr < start || addr >= stop)
				continue;
			close(fd);
			/* " r--p 00000000 08:01 1234   /path" */
			if (p[0] != ' ' || p[1] != 'r' || p[3] == 'x' || strchr(p, '/') == NULL)
				return -1;
			*end = stop;
			return 0;
		}
	}
	close(fd);
	return -1;
}

static void on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	uintptr_t addr = (uintptr_t)si->si_addr, page, end;
	long psize = sysconf(_SC_PAGESIZE);
	int saved = errno;

	(void)ctx;
	page = addr & ~((uintptr_t)psize - 1);
	if (si->si_code == BUS_ADRERR && find_file_mapping(addr, &end) == 0 &&
	    mmap((void *)page, end - page, PROT_READ, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0) != MAP_FAILED) {
		sigbus_absorbed++;
		errno = saved;
		return;
	}
	/* Not ours to absorb: die of it as if no handler were there. */
	signal(sig, SIG_DFL);
	raise(sig);
}

int sigbus_guard_install(struct error *err)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, NULL) < 0) {
		error_set(err, errno, "installing the SIGBUS guard");
		return -1;
	}
	return 0;
}

unsigned long sigbus_guard_count(void)
{
	return (unsigned long)sigbus_absorbed;
}
