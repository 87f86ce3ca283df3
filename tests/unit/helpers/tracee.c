#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "tracee.h"

#define READY_TIMEOUT_MS 10000

/* The child's side of tracee_fork, a frame of its own that tests may expect under run. */
__attribute__((noinline, noipa, noreturn)) static void tracee_child(struct tracee_shared *sh,
								   tracee_run_fn *run)
{
	/* Dies with the test even if an assertion ends it early. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sh->sink = run(sh);
	sh->ready = -1;
	_exit(0);
}

/* Tests need a child whose memory they can watch without stopping it. */
pid_t tracee_fork(struct tracee_shared **sh, tracee_run_fn *run)
{
	pid_t pid;

	*sh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(*sh != MAP_FAILED);
	memset(*sh, 0, sizeof(**sh));
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		tracee_child(*sh, run);
	return pid;
}

/* A child gets into position at its own pace: tests wait for it, bounded. */
int tracee_wait(const struct tracee_shared *sh, int stage)
{
	struct timespec ms = { 0, 1000000 };

	for (int i = 0; i < READY_TIMEOUT_MS; i++) {
		if (sh->ready == stage)
			return 0;
		if (sh->ready < 0)
			return -1;
		nanosleep(&ms, NULL);
	}
	return -1;
}

/* Every test ends its child the same way, whether it forked or exec'd it. */
void tracee_kill(pid_t pid, struct tracee_shared *sh)
{
	int status;

	kill(pid, SIGKILL);
	waitpid(pid, &status, __WALL);
	if (sh != NULL)
		munmap(sh, 4096);
}

/* Samples are taken from a thread the ptrace sampler's way, or they prove nothing about it. */
int tracee_stop(pid_t tid)
{
	int status;

	if (ptrace(PTRACE_SEIZE, tid, 0, 0) != 0)
		return -1;
	assert_int_equal(ptrace(PTRACE_INTERRUPT, tid, 0, 0), 0);
	for (;;) {
		assert_int_equal(waitpid(tid, &status, __WALL), tid);
		if (!WIFSTOPPED(status))
			return -1;
		if ((status >> 16) == PTRACE_EVENT_STOP)
			return 0;
		/* A signal won the race: deliver it, the interrupt stays pending. */
		assert_int_equal(ptrace(PTRACE_CONT, tid, 0, WSTOPSIG(status)), 0);
	}
}

/* The unwinder must see the bytes and registers the ptrace sampler would give it. */
size_t tracee_read(pid_t pid, pid_t tid, const struct maps *maps, struct tracee_capture *cap)
{
	struct user_regs_struct r;
	struct iovec local, remote;
	const struct maps_entry *e;
	uint64_t *g;
	size_t len = TRACEE_STACK_COPY;
	ssize_t got;

	assert_int_equal(ptrace(PTRACE_GETREGS, tid, 0, &r), 0);
	memset(&cap->s, 0, sizeof(cap->s));
	g = cap->s.regs;
	g[0] = r.rax, g[1] = r.rbx, g[2] = r.rcx, g[3] = r.rdx, g[4] = r.rsi, g[5] = r.rdi;
	g[6] = r.rbp, g[7] = r.rsp, g[8] = r.rip, g[9] = r.eflags, g[10] = r.cs, g[11] = r.ss;
	g[16] = r.r8, g[17] = r.r9, g[18] = r.r10, g[19] = r.r11;
	g[20] = r.r12, g[21] = r.r13, g[22] = r.r14, g[23] = r.r15;
	e = maps_find(maps, r.rsp);
	if (e != NULL && e->end - r.rsp < len)
		len = e->end - r.rsp;
	local = (struct iovec){ cap->stack, len };
	remote = (struct iovec){ (void *)(uintptr_t)r.rsp, len };
	got = process_vm_readv(pid, &local, 1, &remote, 1, 0);
	cap->s.stack = cap->stack;
	cap->s.stack_len = got > 0 ? (size_t)got : 0;
	return cap->s.stack_len;
}

/* Most tests want one sample and the thread running again at once, as the sampler leaves it. */
int tracee_sample(pid_t pid, pid_t tid, const struct maps *maps, struct tracee_capture *cap)
{
	if (tracee_stop(tid) < 0)
		return -1;
	tracee_read(pid, tid, maps, cap);
	assert_int_equal(ptrace(PTRACE_DETACH, tid, 0, 0), 0);
	return 0;
}

/* Every test of a live process starts from its maps, as the profile does. */
void tracee_view_open(struct tracee_view *v, pid_t pid, int unwinder)
{
	struct error err;

	v->cache = elf_cache_new();
	v->maps = maps_new(pid, v->cache);
	if (maps_load(v->maps, &err) != 0)
		fail_msg("maps_load: %s", err.msg);
	v->unw = unwinder ? tracee_unwinder(v->maps) : NULL;
}

/* The unwinder points into the maps and the maps into the cache: they go in that order. */
void tracee_view_close(struct tracee_view *v)
{
	unwind_free(v->unw);
	maps_free(v->maps);
	elf_cache_free(v->cache);
	v->unw = NULL;
	v->maps = NULL;
	v->cache = NULL;
}

/* A test cannot go on without its unwinder: the reason is shown, not a NULL crash. */
struct unwinder *tracee_unwinder(struct maps *maps)
{
	struct unwinder *u;
	struct error err;

	u = unwind_new(maps, &err);
	if (u == NULL)
		fail_msg("unwind_new: %s", err.msg);
	return u;
}
