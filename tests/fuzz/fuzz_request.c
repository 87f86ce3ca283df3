/*
 * libFuzzer harness for the control protocol as the daemon serves it: the
 * input is the byte stream one client sends.  A real server (server.c:
 * framing through wire_reader, decoding, the version and command checks)
 * listens on a socket in a temporary directory, and the daemon's answers
 * (service.c) come from a real target: a child of this process that waits
 * in pause(), with a profile holding a few samples of it (snapshots by
 * ptrace, plus some without registers in both thread states), so that
 * status, tree queries with any filters and dumps all have something to
 * work on.  Per input, one connection: send the bytes, close the sending
 * half, read every reply until the server hangs up.  Each reply must be a
 * well-formed frame of a Response carrying our protocol version, and no
 * more replies may come than requests were sent (plus one refusal).
 */
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "profile/profile.h"
#include "sample/ptrace_sampler.h"
#include "sample/target.h"
#include "serve/rundir.h"
#include "serve/server.h"
#include "serve/service.h"
#include "wire.h"

/* Stack bytes copied per thread by the snapshots (the daemon's default is larger). */
#define FUZZ_STACK_BYTES 8192
/* Snapshots of the child taken at start-up. */
#define FUZZ_SNAPSHOTS 3

/* Everything that lives across inputs: one daemon, one target. */
struct fuzz_daemon {
	pid_t child;
	struct loop *loop;
	struct server *srv;
	struct rundir *rundir;
	struct target *target;
	struct profile *profile;
	struct ptrace_sampler *tracer;	/* always NULL: dumps take their own snapshot */
	struct service_parts parts;
	char dir[64];
	char sock[96];
	unsigned stops;
};

/* One connection of one input. */
struct fuzz_peer {
	struct fuzz_daemon *d;
	int fd;
	const uint8_t *data;
	size_t size, sent;
	int writing;
	struct wire_reader *in;
};

/*
 * libFuzzer gives the input function no argument of ours, so the daemon
 * built once by LLVMFuzzerInitialize is reached through this pointer.
 */
static struct fuzz_daemon *fuzz_daemon;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Gives up on something the harness itself needs. */
static void fuzz_die(const char *what, const char *why)
{
	fprintf(stderr, "fuzz_request: %s: %s\n", what, why);
	abort();
}

/* Stops the run on a broken promise, so libFuzzer keeps the input. */
static void fuzz_check(int ok, const char *what, size_t n)
{
	if (ok)
		return;
	fprintf(stderr, "fuzz_request: %s (%zu)\n", what, n);
	abort();
}

/* server_ops.handle: the daemon's own dispatcher, building trees in place (no jobs). */
static enum server_handled fuzz_handle(void *arg, const Sampled__Request *req,
				       Sampled__Response *resp, uint64_t ticket)
{
	struct fuzz_daemon *d = arg;

	return service_handle(&d->parts, req, resp, ticket);
}

/* server_ops.release. */
static void fuzz_release(void *arg, Sampled__Response *resp)
{
	struct fuzz_daemon *d = arg;

	service_release(&d->parts, resp);
}

/* server_ops.stop: the daemon would quit here; we count and go on serving. */
static void fuzz_stop(void *arg)
{
	struct fuzz_daemon *d = arg;

	d->stops++;
}

static const struct server_ops fuzz_server_ops = {
	.handle = fuzz_handle,
	.release = fuzz_release,
	.stop = fuzz_stop,
};

/* ptrace_sampler_snapshot's callback: every thread's sample goes into the profile. */
static void fuzz_add_sample(void *arg, const struct sample *s)
{
	profile_sample(arg, s);
}

/*
 * Fills the profile: real samples of the child, then samples without
 * registers (in the kernel, some in a system call) of made-up threads, in
 * both states, one of them exited.
 */
static void fuzz_fill_profile(struct fuzz_daemon *d)
{
	struct error err;

	for (int i = 0; i < FUZZ_SNAPSHOTS; i++)
		if (ptrace_sampler_snapshot(d->child, FUZZ_STACK_BYTES, fuzz_add_sample, d->profile,
					    &err) < 0)
			fuzz_die("snapshot of the child", err.msg);
	for (int i = 0; i < 6; i++) {
		struct sample s = {
			.tid = d->child + 1 + i % 3,
			.time_ns = target_mono_ns(),
			.in_kernel = 1,
			.state = i % 2 ? SAMPLE_STATE_RUNNING : SAMPLE_STATE_SLEEPING,
			.syscall = i % 3 == 0 ? -1 : 7 * i,
		};

		profile_thread_name(d->profile, s.tid, i % 3 == 1 ? "worker" : "io");
		profile_sample(d->profile, &s);
	}
	profile_thread_exit(d->profile, d->child + 3);
}

/* Removes the socket, its directory and the child when the run ends. */
static void fuzz_cleanup(void)
{
	struct fuzz_daemon *d = fuzz_daemon;
	int status;

	if (d == NULL)
		return;
	server_free(d->srv);
	rundir_free(d->rundir, 1);
	rmdir(d->dir);
	profile_free(d->profile);
	target_free(d->target);
	loop_free(d->loop);
	kill(d->child, SIGKILL);
	waitpid(d->child, &status, 0);
	free(d);
	fuzz_daemon = NULL;
}

/* Starts the target, the profile, the loop and the server. */
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct profile_config cfg = { .python = PROFILE_PYTHON_OFF };
	struct fuzz_daemon *d = calloc(1, sizeof(*d));
	FILE *sink = fopen("/dev/null", "we");
	pid_t parent = getpid();
	const char *tmp = getenv("TMPDIR");
	struct error err;
	sigset_t set;
	int listen_fd;

	(void)argc;
	(void)argv;
	if (d == NULL)
		fuzz_die("calloc", strerror(errno));
	/*
	 * SIGCHLD blocked in every thread, as the daemon has it: dumps read it
	 * from a signalfd, and a thread libFuzzer starts later (it inherits this
	 * mask) would otherwise take it, leaving each ptrace wait to a 10 ms poll.
	 */
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_BLOCK, &set, NULL);
	log_init(sink != NULL ? sink : stderr, sink != NULL ? LOG_DEBUG : LOG_ERROR);
	d->child = fork();
	if (d->child < 0)
		fuzz_die("fork", strerror(errno));
	if (d->child == 0) {
		/* Dies with the fuzzer, however it ends. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(0);
		for (;;)
			pause();
	}
	snprintf(d->dir, sizeof(d->dir), "%s/fuzz_request.XXXXXX",
		 tmp != NULL && strlen(tmp) < 32 ? tmp : "/tmp");
	if (mkdtemp(d->dir) == NULL)
		fuzz_die("mkdtemp", strerror(errno));
	snprintf(d->sock, sizeof(d->sock), "%s/sock", d->dir);
	fuzz_daemon = d;
	atexit(fuzz_cleanup);

	d->target = target_open(d->child, &err);
	if (d->target == NULL)
		fuzz_die("target_open", err.msg);
	cfg.pid = d->child;
	d->profile = profile_new(&cfg, &err);
	if (d->profile == NULL)
		fuzz_die("profile_new", err.msg);
	fuzz_fill_profile(d);
	d->loop = loop_new(&err);
	if (d->loop == NULL)
		fuzz_die("loop_new", err.msg);
	d->rundir = rundir_claim(d->sock, SAFEPATH_DIR_PRIVATE, &err);
	if (d->rundir == NULL)
		fuzz_die("rundir_claim", err.msg);
	listen_fd = rundir_listen(d->rundir, &err);
	if (listen_fd < 0)
		fuzz_die("rundir_listen", err.msg);
	d->srv = server_new(d->loop, listen_fd, &fuzz_server_ops, d, &err);
	if (d->srv == NULL)
		fuzz_die("server_new", err.msg);
	d->parts = (struct service_parts){
		.target = d->target,
		.profile = d->profile,
		.tracer = &d->tracer,
		.sampler_note = "",
		.socket_path = d->sock,
		.mode = "cpu",
		.sampler_name = "ptrace",
		.rate_hz = 99,
		.stack_bytes = FUZZ_STACK_BYTES,
		.started_ns = target_now_ns(),
		.started_mono_ns = target_mono_ns(),
	};
	return 0;
}

/* Sends what the socket takes; once all is sent, closes our sending half. */
static void fuzz_peer_send(struct fuzz_peer *p)
{
	struct error err;

	while (p->sent < p->size) {
		ssize_t n = send(p->fd, p->data + p->sent, p->size - p->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0)
			break;	/* the server hung up first (EPIPE, ECONNRESET) */
		p->sent += (size_t)n;
	}
	p->writing = 0;
	shutdown(p->fd, SHUT_WR);
	if (loop_mod(p->d->loop, p->fd, EPOLLIN, &err) < 0)
		fuzz_die("loop_mod", err.msg);
}

/* Our end of the connection: write the input, read replies until the server hangs up. */
static void fuzz_on_peer(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct fuzz_peer *p = arg;
	struct error err;
	ssize_t n;

	(void)fd;
	if (p->writing && (events & EPOLLOUT))
		fuzz_peer_send(p);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	n = wire_reader_fill(p->in, p->fd, &err);
	if (n == 0 || (n < 0 && errno != EAGAIN))
		loop_stop(loop);
}

/* Counts the whole frames of the input, as the server's reader will cut them. */
static size_t fuzz_count_frames(const uint8_t *data, size_t size)
{
	struct wire_reader *r = wire_reader_new(WIRE_MAX_REQUEST);
	const uint8_t *payload;
	struct error err;
	size_t len, n = 0;

	wire_reader_feed(r, data, size);
	while (wire_reader_next(r, &payload, &len, &err) == 1)
		n++;
	wire_reader_free(r);
	return n;
}

/* Checks every reply the server sent. */
static void fuzz_check_replies(struct fuzz_peer *p, size_t requests)
{
	const uint8_t *payload;
	struct error err;
	size_t len, replies = 0;
	int rc;

	while ((rc = wire_reader_next(p->in, &payload, &len, &err)) == 1) {
		Sampled__Response *resp = sampled__response__unpack(NULL, len, payload);

		fuzz_check(resp != NULL, "reply that does not decode", len);
		fuzz_check(resp->protocol_version == WIRE_PROTOCOL_VERSION, "reply version",
			   resp->protocol_version);
		fuzz_check(resp->result_case != SAMPLED__RESPONSE__RESULT__NOT_SET, "empty reply",
			   replies);
		sampled__response__free_unpacked(resp, NULL);
		replies++;
	}
	fuzz_check(rc == 0 && wire_reader_pending(p->in) == 0, "reply frames cut short", len);
	fuzz_check(replies <= requests + 1, "more replies than requests", replies);
}

/* One input: one client connection carrying the input bytes. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_daemon *d = fuzz_daemon;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct fuzz_peer p = { .d = d, .data = data, .size = size, .writing = 1 };
	struct error err;

	p.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p.fd < 0)
		fuzz_die("socket", strerror(errno));
	strcpy(addr.sun_path, d->sock);
	if (connect(p.fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		fuzz_die("connect", strerror(errno));
	p.in = wire_reader_new(WIRE_MAX_FRAME);
	if (loop_add(d->loop, p.fd, EPOLLIN | EPOLLOUT, fuzz_on_peer, &p, &err) < 0 ||
	    loop_run(d->loop, &err) < 0)
		fuzz_die("loop", err.msg);
	loop_del(d->loop, p.fd);
	close(p.fd);
	fuzz_check(server_clients(d->srv) == 0, "the server kept the client", 1);
	fuzz_check_replies(&p, fuzz_count_frames(data, size));
	wire_reader_free(p.in);
	return 0;
}
