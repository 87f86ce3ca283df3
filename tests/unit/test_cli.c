/*
 * samplectl without a daemon: the command table (lookup, usage errors,
 * help), option values, the formatting helpers, and the client against a
 * fake daemon served by a thread of this test on a private Unix socket,
 * which misbehaves on purpose (wrong protocol version, Error replies,
 * garbage, oversized frames, early close, silence).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "cmd.h"
#include "format.h"
#include "mem.h"
#include "view_args.h"
#include "wire.h"

#define ARGV(...) (int)(sizeof((const char *[]){ __VA_ARGS__ }) / sizeof(char *)), \
	(char **)(const char *[]){ __VA_ARGS__ }

/* ---------------------------------------------------------------- fake daemon */

enum fake_mode {
	FAKE_OK,
	FAKE_WRONG_VERSION,	/* HelloReply with protocol_version 99 */
	FAKE_VERSION_ERROR,	/* Error ERROR_VERSION_MISMATCH to hello, as daemon/serve/server.c does */
	FAKE_STATUS_ERROR,	/* Error reply to status */
	FAKE_GARBAGE,		/* a frame that is no protobuf */
	FAKE_OVERSIZED,		/* a header announcing 4 GiB */
	FAKE_CLOSE_EARLY,	/* closes every connection before reading */
	FAKE_SILENT,		/* reads status, never answers */
	FAKE_PARTIAL,		/* half a frame, then silence */
	FAKE_WRONG_KIND,	/* answers status with a StopReply */
	FAKE_STOP_SLOW,		/* after stop: closes the client, 300 ms later the socket */
	FAKE_STOP_CRASH,	/* after stop: dies, leaving its socket and lock files */
	FAKE_STOP_STUCK,	/* acknowledges stop and goes on */
};

struct fake {
	char dir[64];
	char path[128];
	char lock_path[128];
	int listen_fd;
	int lock_fd;		/* held (flock) while the fake lives, like sampled's */
	int quit[2];		/* a byte here ends the thread */
	enum fake_mode mode;
	pthread_t thread;
	int running;
};

/* Binds and listens on path; the fd. */
static int fake_listen(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(fd, 8), 0);
	return fd;
}

/* Waits until fd is readable (1) or the test asks the thread to quit (0). */
static int fake_wait(struct fake *f, int fd)
{
	struct pollfd p[2] = { { .fd = fd, .events = POLLIN }, { .fd = f->quit[0], .events = POLLIN } };

	while (poll(p, 2, -1) < 0) {
	}
	return (p[1].revents & POLLIN) ? 0 : 1;
}

/* Frames and sends a reply, ignoring a client that has gone. */
static void fake_send(int fd, Sampled__Response *resp)
{
	size_t len;
	uint8_t *frame = wire_pack(&resp->base, &len);

	wire_write_all(fd, frame, len, 1000, NULL);
	free(frame);
}

/* Sends an Error reply stamped with the given protocol version. */
static void fake_send_error(int fd, Sampled__ErrorCode code, const char *msg, uint32_t version)
{
	Sampled__Response resp;
	Sampled__Error e;

	wire_response_init(&resp);
	resp.protocol_version = version;
	sampled__error__init(&e);
	e.code = code;
	e.message = (char *)msg;
	resp.result_case = SAMPLED__RESPONSE__RESULT_ERROR;
	resp.error = &e;
	fake_send(fd, &resp);
}

/* Sends a HelloReply claiming protocol version. */
static void fake_send_hello(int fd, uint32_t version)
{
	Sampled__Response resp;
	Sampled__HelloReply h;

	wire_response_init(&resp);
	sampled__hello_reply__init(&h);
	h.protocol_version = version;
	h.daemon_version = (char *)"fake";
	h.daemon_pid = 77;
	h.target_pid = 4242;
	resp.result_case = SAMPLED__RESPONSE__RESULT_HELLO;
	resp.hello = &h;
	fake_send(fd, &resp);
}

/* Sends the StopReply (also the wrong kind of answer to status). */
static void fake_send_stop(int fd)
{
	Sampled__Response resp;
	Sampled__StopReply s;

	wire_response_init(&resp);
	sampled__stop_reply__init(&s);
	resp.result_case = SAMPLED__RESPONSE__RESULT_STOP;
	resp.stop = &s;
	fake_send(fd, &resp);
}

/* A status with a name that needs escaping, a thread tie and an exited thread. */
static void fake_send_status(int fd)
{
	Sampled__ThreadStatus t[4], *tp[4] = { &t[0], &t[1], &t[2], &t[3] };
	static const struct { int tid; const char *name; uint64_t samples; int exited; } d[4] = {
		{ 4245, "b", 100, 0 },
		{ 4243, "work\ner", 300, 1 },
		{ 4242, "main", 600, 0 },
		{ 4244, "idle", 100, 0 },
	};
	Sampled__Response resp;
	Sampled__Status st;

	for (int i = 0; i < 4; i++) {
		sampled__thread_status__init(&t[i]);
		t[i].tid = d[i].tid;
		t[i].name = (char *)d[i].name;
		t[i].samples = d[i].samples;
		t[i].exited = d[i].exited;
	}
	wire_response_init(&resp);
	sampled__status__init(&st);
	st.target_pid = 4242;
	st.target_comm = (char *)"py\"thon";
	st.target_cmdline = (char *)"python3 -c 'x'";
	st.state = SAMPLED__TARGET_STATE__TARGET_RUNNING;
	st.started_unix_ns = 1700000000000000000ull;
	st.uptime_ns = 65000000000ull;
	st.rate_hz = 99;
	st.mode = (char *)"cpu";
	st.sampler = (char *)"perf";
	st.samples = 1100;
	st.lost_samples = 3;
	st.truncated_samples = 25;
	st.n_threads = 4;
	st.threads = tp;
	st.daemon_cpu_ns = 1200000000ull;
	st.daemon_rss_bytes = 3565158;
	st.daemon_pid = 77;
	st.socket_path = (char *)"/run/sampled/4242.sock";
	resp.result_case = SAMPLED__RESPONSE__RESULT_STATUS;
	resp.status = &st;
	fake_send(fd, &resp);
}

/* Answers one request; returns 1 when the daemon is to exit (stop). */
static int fake_answer(struct fake *f, int fd, const Sampled__Request *req)
{
	static const uint8_t garbage[] = { 0, 0, 0, 6, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f };
	static const uint8_t huge[] = { 0xff, 0xff, 0xff, 0xff, 1, 2, 3 };
	static const uint8_t partial[] = { 0, 0, 0, 100, 0x08, 0x01, 0x1a, 0x00 };

	switch (req->command_case) {
	case SAMPLED__REQUEST__COMMAND_HELLO:
		if (f->mode == FAKE_WRONG_VERSION)
			fake_send_hello(fd, 99);
		else if (f->mode == FAKE_VERSION_ERROR)
			fake_send_error(fd, SAMPLED__ERROR_CODE__ERROR_VERSION_MISMATCH,
					"protocol version mismatch", 7);
		else
			fake_send_hello(fd, WIRE_PROTOCOL_VERSION);
		return 0;
	case SAMPLED__REQUEST__COMMAND_STOP:
		fake_send_stop(fd);
		return f->mode != FAKE_STOP_STUCK;
	default:
		break;
	}
	switch (f->mode) {
	case FAKE_STATUS_ERROR:
		fake_send_error(fd, SAMPLED__ERROR_CODE__ERROR_NOT_FOUND, "no such \"thing\"",
				WIRE_PROTOCOL_VERSION);
		break;
	case FAKE_GARBAGE:
		wire_write_all(fd, garbage, sizeof(garbage), 1000, NULL);
		break;
	case FAKE_OVERSIZED:
		wire_write_all(fd, huge, sizeof(huge), 1000, NULL);
		break;
	case FAKE_PARTIAL:
		wire_write_all(fd, partial, sizeof(partial), 1000, NULL);
		break;
	case FAKE_WRONG_KIND:
		fake_send_stop(fd);
		break;
	case FAKE_SILENT:
		break;
	default:
		fake_send_status(fd);
		break;
	}
	return 0;
}

/* Serves one connection until the peer leaves; 1 when the daemon is to exit. */
static int fake_serve(struct fake *f, int fd)
{
	Sampled__Request *req;
	uint8_t *payload;
	size_t len;
	int stop;

	if (f->mode == FAKE_CLOSE_EARLY)
		return 0;
	while (fake_wait(f, fd)) {
		if (wire_read_frame(fd, WIRE_MAX_REQUEST, 1000, &payload, &len, NULL) < 0)
			return 0;
		req = sampled__request__unpack(NULL, len, payload);
		free(payload);
		if (req == NULL)
			return 0;
		stop = fake_answer(f, fd, req);
		sampled__request__free_unpacked(req, NULL);
		if (stop)
			return 1;
	}
	return 0;
}

/*
 * Like a daemon: accepts one client at a time; on stop it tears down in
 * sampled's order (clients, listening socket, socket file, lock file,
 * lock) and exits.
 */
static void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fd, stop;

	while (fake_wait(f, f->listen_fd)) {
		fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		stop = fake_serve(f, fd);
		close(fd);
		if (!stop)
			continue;
		if (f->mode == FAKE_STOP_SLOW)
			poll(&(struct pollfd){ .fd = f->quit[0], .events = POLLIN }, 1, 300);
		close(f->listen_fd);
		f->listen_fd = -1;
		if (f->mode != FAKE_STOP_CRASH) {
			unlink(f->path);
			unlink(f->lock_path);
		}
		close(f->lock_fd);
		f->lock_fd = -1;
		break;
	}
	return NULL;
}

/* Takes the lock, listens and starts serving in a thread, like a daemon starting. */
static void fake_start(struct fake *f, enum fake_mode mode)
{
	f->mode = mode;
	f->lock_fd = open(f->lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(f->lock_fd >= 0);
	assert_int_equal(flock(f->lock_fd, LOCK_EX | LOCK_NB), 0);
	f->listen_fd = fake_listen(f->path);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	f->running = 1;
}

/* A private socket directory per test, so nothing touches the user's daemons. */
static int fake_setup(void **state)
{
	struct fake *f = mem_zalloc(sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_cli.XXXXXX");
	if (mkdtemp(f->dir) == NULL || pipe2(f->quit, O_CLOEXEC) < 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/4242.sock", f->dir);
	snprintf(f->lock_path, sizeof(f->lock_path), "%s/4242.lock", f->dir);
	f->listen_fd = -1;
	f->lock_fd = -1;
	*state = f;
	return 0;
}

/* Stops the thread and removes every file the test made. */
static int fake_teardown(void **state)
{
	struct fake *f = *state;
	char **list;

	if (f->running) {
		(void)!write(f->quit[1], "q", 1);
		pthread_join(f->thread, NULL);
	}
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	if (f->lock_fd >= 0)
		close(f->lock_fd);
	unlink(f->lock_path);
	close(f->quit[0]);
	close(f->quit[1]);
	chmod(f->dir, 0700);
	list = client_socket_list(f->dir, NULL);
	for (char **p = list; p != NULL && *p != NULL; p++)
		unlink(*p);
	client_socket_list_free(list);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* Monotonic milliseconds, to check that timeouts hold. */
static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* client_call with a StatusRequest. */
static Sampled__Response *call_status(struct client *c, struct error *err)
{
	Sampled__Request req;
	Sampled__StatusRequest s;

	wire_request_init(&req);
	sampled__status_request__init(&s);
	req.command_case = SAMPLED__REQUEST__COMMAND_STATUS;
	req.status = &s;
	return client_call(c, &req, err);
}

/* Runs a samplectl command line, capturing both streams (free them). */
static int run_cmd(struct cmd_ctx *ctx, char **out, char **errout, int argc, char **argv)
{
	size_t n1, n2;
	FILE *o = open_memstream(out, &n1), *e = open_memstream(errout, &n2);
	int rc;

	cmd_ctx_set_streams(ctx, o, e);
	rc = cmd_run(ctx, argc, argv);
	fclose(o);
	fclose(e);
	cmd_ctx_set_streams(ctx, stdout, stderr);
	return rc;
}

/* ---------------------------------------------------------------- the command table */

static int dummy_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	(void)ctx;
	(void)argc;
	(void)argv;
	return 0;
}

#define DUMMY(n, a) { .name = n, .alias = a, .args = "", .usage = "", .summary = "", \
		      .help = "", .exec = dummy_exec }

/* Exact names and aliases beat prefixes; a prefix must name one command. */
static void test_lookup(void **state)
{
	static const struct cmd_entry status = DUMMY("status", "stat");
	static const struct cmd_entry stop = DUMMY("stop", NULL);
	static const struct cmd_entry stopall = DUMMY("stopall", NULL);
	static const struct cmd_entry list = DUMMY("list", "ls");
	static const struct cmd_entry *const table[] = { &status, &stop, &stopall, &list, NULL };
	struct error err;

	(void)state;
	assert_ptr_equal(cmd_find_in(table, "status", &err), &status);
	assert_ptr_equal(cmd_find_in(table, "list", &err), &list);
	assert_ptr_equal(cmd_find_in(table, "ls", &err), &list);
	assert_ptr_equal(cmd_find_in(table, "stat", &err), &status);	/* alias beats prefix */
	assert_ptr_equal(cmd_find_in(table, "stop", &err), &stop);	/* exact beats prefix */
	assert_ptr_equal(cmd_find_in(table, "stopa", &err), &stopall);
	assert_ptr_equal(cmd_find_in(table, "sta", &err), &status);
	assert_ptr_equal(cmd_find_in(table, "l", &err), &list);
	assert_null(cmd_find_in(table, "st", &err));
	assert_string_equal(err.msg, "ambiguous command 'st': status, stop, stopall");
	assert_null(cmd_find_in(table, "sto", &err));
	assert_string_equal(err.msg, "ambiguous command 'sto': stop, stopall");
	assert_null(cmd_find_in(table, "frob", &err));
	assert_string_equal(err.msg, "unknown command 'frob'");
	assert_null(cmd_find_in(table, "", &err));
	assert_string_equal(err.msg, "unknown command ''");
	assert_null(cmd_find_in(table, "statusx", &err));
	assert_null(cmd_find_in(table, "l2", &err));
}

/* Every real entry is complete, and finds itself by name and alias. */
static void test_real_table(void **state)
{
	struct error err;
	int n = 0;

	(void)state;
	for (const struct cmd_entry *const *e = cmd_table; *e != NULL; e++, n++) {
		assert_non_null((*e)->exec);
		assert_non_null((*e)->usage);
		assert_non_null((*e)->args);
		assert_true(strlen((*e)->summary) > 10);
		assert_true(strlen((*e)->help) > 200);
		assert_true((*e)->help[strlen((*e)->help) - 1] == '\n');
		assert_non_null(strstr((*e)->help, "Exit status"));
		assert_non_null(strstr((*e)->help, "Example"));
		assert_true((*e)->max_args < 0 || (*e)->min_args <= (*e)->max_args);
		assert_ptr_equal(cmd_find((*e)->name, &err), *e);
		if ((*e)->alias != NULL)
			assert_ptr_equal(cmd_find((*e)->alias, &err), *e);
		for (const char *p = (*e)->help; *p != '\0'; p += strcspn(p, "\n") + 1)
			assert_true(strcspn(p, "\n") <= 78);
	}
	assert_true(n >= 4);
	assert_null(cmd_find("st", &err));
	assert_string_equal(err.msg, "ambiguous command 'st': status, stop");
}

/* --pid takes plain positive decimal numbers that fit a pid_t, nothing else. */
static void test_parse_pid(void **state)
{
	static const char *bad[] = { "", "0", "-5", "12abc", " 12", "+12", "1.5", "0x10",
				     "2147483648", "99999999999999999999999", "abc" };
	struct error err;
	pid_t pid = 0;

	(void)state;
	assert_int_equal(cmd_parse_pid("1", &pid, &err), 0);
	assert_int_equal(pid, 1);
	assert_int_equal(cmd_parse_pid("4242", &pid, &err), 0);
	assert_int_equal(pid, 4242);
	assert_int_equal(cmd_parse_pid("2147483647", &pid, &err), 0);
	assert_int_equal(pid, 2147483647);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		pid = 7;
		assert_int_equal(cmd_parse_pid(bad[i], &pid, &err), -1);
		assert_int_equal(pid, 7);
		assert_non_null(strstr(err.msg, bad[i]));
	}
	cmd_parse_pid("12abc", &pid, &err);
	assert_string_equal(err.msg, "invalid process id '12abc': expected a positive integer");
}

/* --timeout takes positive seconds with an optional fraction, up to a day. */
static void test_parse_timeout(void **state)
{
	static const char *bad[] = { "", "0", "0.0", "-1", "abc", "1e3", "inf", "nan", "1.2.3",
				     ".", "86401", "0x10", " 1" };
	struct error err;
	int ms = 0;

	(void)state;
	assert_int_equal(cmd_parse_timeout("10", &ms, &err), 0);
	assert_int_equal(ms, 10000);
	assert_int_equal(cmd_parse_timeout("0.5", &ms, &err), 0);
	assert_int_equal(ms, 500);
	assert_int_equal(cmd_parse_timeout("0.0001", &ms, &err), 0);
	assert_int_equal(ms, 1);
	assert_int_equal(cmd_parse_timeout("86400", &ms, &err), 0);
	assert_int_equal(ms, 86400000);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cmd_parse_timeout(bad[i], &ms, &err), -1);
}

/* Usage errors: message, usage line and hint on the error stream, exit 2. */
static void test_usage_errors(void **state)
{
	struct cmd_ctx *ctx = cmd_ctx_new(0, "/nonexistent/x.sock", 1000);
	char *out, *err;

	(void)state;
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("status", "extra")), 2);
	assert_string_equal(out, "");
	assert_string_equal(err, "samplectl: status: unexpected argument 'extra'\n"
			    "usage: samplectl status [-j | --json]\n"
			    "try 'samplectl help status'\n");
	free(out);
	free(err);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("stat", "--bogus")), 2);
	assert_non_null(strstr(err, "samplectl: status: unknown option '--bogus'\n"));
	free(out);
	free(err);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("status", "-jx")), 2);
	assert_non_null(strstr(err, "samplectl: status: unknown option '-x'\n"));
	free(out);
	free(err);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("status", "--json=yes")), 2);
	assert_non_null(strstr(err, "samplectl: status: option '--json' takes no value\n"));
	free(out);
	free(err);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("st")), 2);
	assert_string_equal(err, "samplectl: ambiguous command 'st': status, stop\n"
			    "usage: " CMD_GLOBAL_USAGE "\ntry 'samplectl --help'\n");
	free(out);
	free(err);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("help", "a", "b")), 2);
	assert_non_null(strstr(err, "samplectl: help: too many arguments (at most 1)\n"));
	free(out);
	free(err);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("help", "nosuch")), 2);
	assert_non_null(strstr(err, "unknown command 'nosuch'"));
	free(out);
	free(err);
	/* A daemon-less failure is an error (1), not a usage error. */
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("status")), 1);
	assert_string_equal(err, "samplectl: no daemon at /nonexistent/x.sock\n");
	free(out);
	free(err);
	cmd_ctx_free(ctx);
}

/* The overview lists every command; both ways of asking for a manual agree. */
static void test_help(void **state)
{
	struct cmd_ctx *ctx = cmd_ctx_new(0, NULL, 1000);
	char *out, *err, *out2, *err2;

	(void)state;
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("help")), 0);
	assert_string_equal(err, "");
	assert_true(strncmp(out, "usage: " CMD_GLOBAL_USAGE "\n", strlen(CMD_GLOBAL_USAGE) + 8) == 0);
	for (const struct cmd_entry *const *e = cmd_table; *e != NULL; e++)
		assert_non_null(strstr(out, (*e)->summary));
	assert_non_null(strstr(out, "  status, stat  "));
	free(out);
	free(err);
	/* "help status" and "status --help" print the same manual. */
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("help", "sta")), 0);
	assert_int_equal(run_cmd(ctx, &out2, &err2, ARGV("status", "--help")), 0);
	assert_string_equal(out, out2);
	assert_true(strncmp(out, "samplectl status - ", 19) == 0);
	assert_non_null(strstr(out, "\nusage: samplectl status [-j | --json]\nalias: stat\n"));
	assert_non_null(strstr(out, "--json"));
	free(out);
	free(err);
	free(out2);
	free(err2);
	cmd_ctx_free(ctx);
}

/*
 * Every option a command takes, its own or shared through its flags, is in
 * its manual (aliases aside), and every shared one in its usage line too.
 */
static void test_help_lists_every_option(void **state)
{
	struct cmd_ctx *ctx = cmd_ctx_new(0, NULL, 1000);
	struct option opts[VIEW_OPTS_MAX_OPTIONS + 32];
	char *out, *err, *usage, *manual, *name;
	size_t n, shared;

	(void)state;
	for (const struct cmd_entry *const *e = cmd_table; *e != NULL; e++) {
		assert_int_equal(run_cmd(ctx, &out, &err, ARGV("help", (*e)->name)), 0);
		/* The usage lines run up to the first blank line after them. */
		usage = strstr(out, "\nusage: samplectl ");
		assert_non_null(usage);
		manual = strstr(usage, "\n\n");
		assert_non_null(manual);
		usage = mem_strndup(usage, (size_t)(manual - usage));
		shared = view_opts_longopts((*e)->flags, opts);
		n = shared;
		for (size_t i = 0; (*e)->longopts != NULL && (*e)->longopts[i].name != NULL; i++)
			opts[n++] = (*e)->longopts[i];
		for (size_t i = 0; i < n; i++) {
			if (strstr(opts[i].name, "colour") != NULL)
				continue;
			name = mem_printf("--%s", opts[i].name);
			if (strstr(manual, name) == NULL)
				fail_msg("samplectl help %s: no %s in the manual", (*e)->name, name);
			if (i < shared && strstr(usage, name) == NULL)
				fail_msg("samplectl help %s: no %s in the usage", (*e)->name, name);
			free(name);
		}
		free(usage);
		if ((*e)->flags & CMD_ENTRY_LOAD)
			assert_non_null(strstr(manual, "--load FILE"));
		free(out);
		free(err);
	}
	cmd_ctx_free(ctx);
}

/*
 * The shared options go only to the commands whose flags ask for them, and
 * their values are checked with one message everywhere, before any daemon
 * is asked; export follows the endings sampled's -o does, and refuses one
 * of another command's format.  Exit 1 means the line got as far as
 * looking for the daemon.
 */
static void test_view_options(void **state)
{
	static const struct {
		const char *argv[8];
		int rc;
		const char *message;	/* in the error output */
	} cases[] = {
		{ { "top", "--state", "idle" }, 2, "samplectl: top: unknown option '--state'\n" },
		{ { "export", "--tid", "5" }, 2, "samplectl: export: unknown option '--tid'\n" },
		{ { "diff", "--last", "1m", "a", "b" }, 2, "diff: unknown option '--last'\n" },
		{ { "flame", "--gil", "maybe" }, 2, "samplectl: flame: invalid --gil 'maybe'" },
		{ { "diff", "--gil", "maybe", "a", "b" }, 2, "samplectl: diff: invalid --gil 'maybe'" },
		{ { "top", "--last", "5w" }, 2,
		  "invalid --last '5w': expected a duration from 1ms to 10000d" },
		{ { "diff", "--colour", "--no-color", "a", "b" }, 2,
		  "--color and --no-color cannot go together" },
		{ { "top", "--gil", "held", "--tid", "7" }, 1, "no daemon at /nonexistent/x.sock" },
		{ { "export", "-o", "p.txt" }, 2,
		  "samplectl: export: 'p.txt' names a text tree, which export does not write: use "
		  "'samplectl tree --no-color -o FILE'" },
		{ { "export", "-o", "P.SVG" }, 2, "'samplectl flame -o FILE'" },
		{ { "export", "-o", "p.PB.GZ" }, 1, "no daemon" },
		{ { "export", "-o", "p.out" }, 1, "no daemon" },
		{ { "export", "-f", "collapsed", "-o", "p.txt" }, 1, "no daemon" },
	};
	struct cmd_ctx *ctx = cmd_ctx_new(0, "/nonexistent/x.sock", 1000);
	char *out, *err;
	int argc;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (argc = 0; cases[i].argv[argc] != NULL; argc++)
			;
		assert_int_equal(run_cmd(ctx, &out, &err, argc, (char **)cases[i].argv), cases[i].rc);
		if (strstr(err, cases[i].message) == NULL)
			fail_msg("samplectl %s ...: '%s' is not in '%s'", cases[i].argv[0],
				 cases[i].message, err);
		free(out);
		free(err);
	}
	cmd_ctx_free(ctx);
}

/* ---------------------------------------------------------------- formatting */

static void test_format_duration(void **state)
{
	static const struct { uint64_t ns; const char *text; } cases[] = {
		{ 0, "0 ns" },
		{ 999, "999 ns" },
		{ 1000, "1.0 us" },
		{ 12345, "12.3 us" },
		{ 999949, "999.9 us" },
		{ 999960, "1.0 ms" },
		{ 4500000, "4.5 ms" },
		{ 999960000, "1.0 s" },
		{ 1200000000, "1.2 s" },
		{ 59940000000ull, "59.9 s" },
		{ 59960000000ull, "1 min 00 s" },
		{ 65000000000ull, "1 min 05 s" },
		{ 3599400000000ull, "59 min 59 s" },
		{ 3599600000000ull, "1 h 00 min" },
		{ 7620000000000ull, "2 h 07 min" },
		{ 90000000000000ull, "1 d 01 h" },
		{ UINT64_MAX, "213504 d 00 h" },
	};
	char buf[FORMAT_BUF_SIZE], small[5];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(format_duration(buf, sizeof(buf), cases[i].ns), cases[i].text);
	assert_string_equal(format_duration(small, sizeof(small), 1200000000), "1.2 ");
}

/* Binary units, with the same rounding rule as durations. */
static void test_format_size(void **state)
{
	static const struct { uint64_t bytes; const char *text; } cases[] = {
		{ 0, "0 B" },
		{ 1023, "1023 B" },
		{ 1024, "1.0 KiB" },
		{ 1536, "1.5 KiB" },
		{ 1048575, "1.0 MiB" },
		{ 3565158, "3.4 MiB" },
		{ 1073741824ull * 5 / 4, "1.2 GiB" },
		{ UINT64_MAX, "16.0 EiB" },
	};
	char buf[FORMAT_BUF_SIZE];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(format_size(buf, sizeof(buf), cases[i].bytes), cases[i].text);
}

/* Shares, including an empty whole and a tiny but non-zero part. */
static void test_format_percent(void **state)
{
	char buf[FORMAT_BUF_SIZE];

	(void)state;
	assert_string_equal(format_percent(buf, sizeof(buf), 0, 0), "0.0%");
	assert_string_equal(format_percent(buf, sizeof(buf), 5, 0), "0.0%");
	assert_string_equal(format_percent(buf, sizeof(buf), 0, 10), "0.0%");
	assert_string_equal(format_percent(buf, sizeof(buf), 1, 10000), "<0.1%");
	assert_string_equal(format_percent(buf, sizeof(buf), 600, 1100), "54.5%");
	assert_string_equal(format_percent(buf, sizeof(buf), 10, 10), "100.0%");
	assert_string_equal(format_percent(buf, sizeof(buf), 30, 10), "300.0%");
}

/* Every fate of a target reads as one phrase. */
static void test_format_state(void **state)
{
	Sampled__Status st;
	char buf[FORMAT_BUF_SIZE];

	(void)state;
	sampled__status__init(&st);
	assert_string_equal(format_target_state(buf, sizeof(buf), &st), "unknown");
	st.state = SAMPLED__TARGET_STATE__TARGET_RUNNING;
	assert_string_equal(format_target_state(buf, sizeof(buf), &st), "running");
	st.state = SAMPLED__TARGET_STATE__TARGET_EXITED;
	assert_string_equal(format_target_state(buf, sizeof(buf), &st), "exited, status unknown");
	st.exit_status_known = 1;
	st.exit_code = 3;
	assert_string_equal(format_target_state(buf, sizeof(buf), &st), "exited with code 3");
	st.exit_signal = 9;
	assert_string_equal(format_target_state(buf, sizeof(buf), &st),
			    "killed by signal 9 (SIGKILL)");
	st.exit_signal = 200;
	assert_string_equal(format_target_state(buf, sizeof(buf), &st), "killed by signal 200");
}

/* The escaped form of s, newly allocated. */
static char *json_of(const char *s)
{
	char *buf;
	size_t n;
	FILE *f = open_memstream(&buf, &n);

	format_json_string(f, s);
	fclose(f);
	return buf;
}

/* JSON stays valid whatever bytes a name holds; terminals get no control bytes. */
static void test_json_escape(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "", "\"\"" },
		{ "python3", "\"python3\"" },
		{ "a\"b\\c", "\"a\\\"b\\\\c\"" },
		{ "l1\nl2\tx\r\b\f", "\"l1\\nl2\\tx\\r\\b\\f\"" },
		{ "\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x90\x8d\"" },
		{ "a\xff" "b", "\"a\\ufffdb\"" },			/* not UTF-8 */
		{ "\xc3", "\"\\ufffd\"" },				/* cut short */
		{ "\xe2\x82", "\"\\ufffd\\ufffd\"" },
		{ "\xc0\x80", "\"\\ufffd\\ufffd\"" },			/* overlong NUL */
		{ "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"" },	/* overlong '/' */
		{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"" },	/* surrogate */
		{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"" }, /* above U+10FFFF */
		{ "\xf4\x8f\xbf\xbf", "\"\xf4\x8f\xbf\xbf\"" },	/* U+10FFFF itself */
	};
	char *s;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		s = json_of(cases[i].in);
		assert_string_equal(s, cases[i].out);
		free(s);
	}
	s = json_of(NULL);
	assert_string_equal(s, "\"\"");
	free(s);
	s = format_printable("a\nb\x7f\x1b[31m");
	assert_string_equal(s, "a?b??[31m");
	free(s);
}

/* ---------------------------------------------------------------- client vs the fake daemon */

static void test_client_ok(void **state)
{
	struct fake *f = *state;
	struct error err;
	struct client *c;
	Sampled__Response *resp;

	fake_start(f, FAKE_OK);
	c = client_connect(f->path, 2000, &err);
	assert_non_null(c);
	assert_int_equal(client_hello(c)->target_pid, 4242);
	assert_int_equal(client_hello(c)->daemon_pid, 77);
	assert_string_equal(client_path(c), f->path);
	resp = call_status(c, &err);
	assert_non_null(resp);
	assert_int_equal(resp->result_case, SAMPLED__RESPONSE__RESULT_STATUS);
	assert_int_equal(resp->status->samples, 1100);
	assert_int_equal(resp->status->n_threads, 4);
	client_response_free(resp);
	/* The connection stays usable for more requests. */
	resp = call_status(c, &err);
	assert_non_null(resp);
	client_response_free(resp);
	client_free(c);
	client_free(NULL);
	client_response_free(NULL);
}

/* A daemon answering hello with another protocol version is refused by name. */
static void test_client_wrong_version(void **state)
{
	struct fake *f = *state;
	struct error err;

	fake_start(f, FAKE_WRONG_VERSION);
	assert_null(client_connect(f->path, 2000, &err));
	assert_string_equal(err.msg, "protocol version mismatch: daemon speaks 99, samplectl speaks 1");
}

/* A daemon refusing our version (as daemon/serve/server.c does) reads the same. */
static void test_client_version_error(void **state)
{
	struct fake *f = *state;
	struct error err;

	fake_start(f, FAKE_VERSION_ERROR);
	assert_null(client_connect(f->path, 2000, &err));
	assert_string_equal(err.msg, "protocol version mismatch: daemon speaks 7, samplectl speaks 1");
}

/* An Error reply becomes "daemon: <message>". */
static void test_client_daemon_error(void **state)
{
	struct fake *f = *state;
	struct error err;
	struct client *c;
	Sampled__Response *resp;

	fake_start(f, FAKE_STATUS_ERROR);
	c = client_connect(f->path, 2000, &err);
	assert_non_null(c);
	assert_null(call_status(c, &err));
	assert_string_equal(err.msg, "daemon: no such \"thing\"");
	/* An Error reply leaves the stream in step: the next call works too. */
	resp = call_status(c, &err);
	assert_null(resp);
	assert_string_equal(err.msg, "daemon: no such \"thing\"");
	client_free(c);
}

/* After each of these the call fails cleanly and the client refuses more. */
static void client_bad_reply(struct fake *f, enum fake_mode mode, const char *expect)
{
	struct error err;
	struct client *c;
	int64_t t0;

	fake_start(f, mode);
	c = client_connect(f->path, 300, &err);
	assert_non_null(c);
	t0 = now_ms();
	assert_null(call_status(c, &err));
	assert_true(now_ms() - t0 < 5000);
	if (strstr(err.msg, expect) == NULL)
		fail_msg("got '%s', expected '%s'", err.msg, expect);
	assert_null(call_status(c, &err));
	assert_string_equal(err.msg,
			    "the connection to the daemon is unusable after an earlier error");
	client_free(c);
}

/* A frame that is not a Response. */
static void test_client_garbage(void **state)
{
	client_bad_reply(*state, FAKE_GARBAGE, "malformed reply from the daemon (6 bytes");
}

/* A length above WIRE_MAX_FRAME is refused before any body is read. */
static void test_client_oversized(void **state)
{
	client_bad_reply(*state, FAKE_OVERSIZED, "message of 4294967295 bytes exceeds the limit");
}

/* A reply of another kind than the request asked for. */
static void test_client_wrong_kind(void **state)
{
	client_bad_reply(*state, FAKE_WRONG_KIND, "unexpected reply from the daemon");
}

/* Silence and half frames end at the timeout, not later and not much sooner. */
static void test_client_timeouts(void **state)
{
	static const enum fake_mode modes[] = { FAKE_SILENT, FAKE_PARTIAL };
	struct fake *f = *state;
	struct error err;
	struct client *c;
	int64_t t0, took;

	for (size_t i = 0; i < 2; i++) {
		if (f->running) {
			(void)!write(f->quit[1], "q", 1);
			pthread_join(f->thread, NULL);
			close(f->listen_fd);
			close(f->lock_fd);
			unlink(f->path);
			f->running = 0;
			(void)!read(f->quit[0], &(char){ 0 }, 1);
		}
		fake_start(f, modes[i]);
		c = client_connect(f->path, 250, &err);
		assert_non_null(c);
		t0 = now_ms();
		assert_null(call_status(c, &err));
		took = now_ms() - t0;
		assert_true(took >= 200);
		assert_true(took < 5000);
		assert_int_equal(err.errnum, ETIMEDOUT);
		if (strstr(err.msg, "no answer from the daemon at ") == NULL ||
		    strstr(err.msg, "within 250.0 ms") == NULL)
			fail_msg("unexpected message '%s'", err.msg);
		client_free(c);
	}
}

/* A daemon that hangs up before answering hello. */
static void test_client_close_early(void **state)
{
	struct fake *f = *state;
	struct error err;

	fake_start(f, FAKE_CLOSE_EARLY);
	assert_null(client_connect(f->path, 2000, &err));
	assert_non_null(strstr(err.msg, "closed the connection"));
}

/* No socket, a stale socket, and a path too long for sockaddr_un. */
static void test_connect_errors(void **state)
{
	struct fake *f = *state;
	struct error err;
	char *longpath, *expect;
	int fd;

	/* Nothing there. */
	assert_null(client_connect(f->path, 1000, &err));
	assert_int_equal(err.errnum, ENOENT);
	expect = mem_printf("no daemon at %s", f->path);
	assert_string_equal(err.msg, expect);
	free(expect);
	assert_int_equal(client_probe(f->path), 0);
	/* A socket file whose listener is gone. */
	fd = fake_listen(f->path);
	assert_int_equal(client_probe(f->path), 1);
	close(fd);
	assert_int_equal(client_probe(f->path), 0);
	assert_null(client_connect(f->path, 1000, &err));
	assert_int_equal(err.errnum, ECONNREFUSED);
	expect = mem_printf("stale socket %s: the daemon is gone", f->path);
	assert_string_equal(err.msg, expect);
	free(expect);
	/* A path sockaddr_un cannot hold. */
	longpath = mem_printf("%s/%0200d.sock", f->dir, 1);
	assert_null(client_connect(longpath, 1000, &err));
	assert_non_null(strstr(err.msg, "socket path too long"));
	free(longpath);
}

/*
 * EACCES needs a caller without the right to reach the socket: as root
 * (which bypasses permission checks) a child drops to uid nobody, else the
 * directory is made unsearchable.
 */
static void test_connect_eacces(void **state)
{
	struct fake *f = *state;
	struct error err;
	int fd = fake_listen(f->path), status = -1;
	char *expect = mem_printf("permission denied on %s (the daemon runs as another user?)",
				  f->path);
	pid_t child;

	if (geteuid() != 0) {
		chmod(f->dir, 0);
		assert_null(client_connect(f->path, 1000, &err));
		chmod(f->dir, 0700);
		assert_int_equal(err.errnum, EACCES);
		assert_string_equal(err.msg, expect);
	} else {
		child = fork();
		assert_true(child >= 0);
		if (child == 0) {
			if (setresgid(65534, 65534, 65534) < 0 || setresuid(65534, 65534, 65534) < 0)
				_exit(3);
			if (client_connect(f->path, 1000, &err) != NULL)
				_exit(4);
			_exit(err.errnum == EACCES && strcmp(err.msg, expect) == 0 ? 0 : 5);
		}
		assert_int_equal(waitpid(child, &status, 0), child);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
	}
	free(expect);
	close(fd);
}

/* --socket, --pid, and the search for the only live daemon. */
static void test_find_socket(void **state)
{
	struct fake *f = *state;
	struct error err;
	char *p, *live, *other, *stale, *expect, comm[64] = "";
	int fd1, fd2, fd3;
	FILE *cf;

	/* Explicit choices are taken as given. */
	p = client_find_socket_in(f->dir, 0, "/some/where.sock", &err);
	assert_string_equal(p, "/some/where.sock");
	free(p);
	p = client_find_socket_in(f->dir, 123, NULL, &err);
	expect = mem_printf("%s/123.sock", f->dir);
	assert_string_equal(p, expect);
	free(expect);
	free(p);
	/* None, in an empty or a missing directory. */
	assert_null(client_find_socket_in(f->dir, 0, NULL, &err));
	assert_string_equal(err.msg, "no sampled daemon is running for this user "
			    "(start one with: sampled attach PID)");
	assert_null(client_find_socket_in("/nonexistent/sampled", 0, NULL, &err));
	assert_string_equal(err.msg, "no sampled daemon is running for this user "
			    "(start one with: sampled attach PID)");
	/* One live daemon among stale sockets and other files. */
	stale = mem_printf("%s/17.sock", f->dir);
	fd1 = fake_listen(stale);
	close(fd1);
	live = mem_printf("%s/%d.sock", f->dir, (int)getpid());
	fd2 = fake_listen(live);
	close(open(f->path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));	/* a plain file */
	p = client_find_socket_in(f->dir, 0, NULL, &err);
	assert_non_null(p);
	assert_string_equal(p, live);
	free(p);
	unlink(f->path);
	/* Several: named by pid and comm, sorted by pid. */
	other = mem_printf("%s/2147483646.sock", f->dir);
	fd3 = fake_listen(other);
	assert_null(client_find_socket_in(f->dir, 0, NULL, &err));
	cf = fopen("/proc/self/comm", "r");
	assert_non_null(cf);
	assert_non_null(fgets(comm, sizeof(comm), cf));
	fclose(cf);
	comm[strcspn(comm, "\n")] = '\0';
	expect = mem_printf("several daemons are running; choose one with --pid: %d (%s), "
			    "2147483646", (int)getpid(), comm);
	assert_string_equal(err.msg, expect);
	free(expect);
	close(fd2);
	close(fd3);
	free(stale);
	free(live);
	free(other);
}

/* Only *.sock files, numbers in numeric order. */
static void test_socket_list_order(void **state)
{
	struct fake *f = *state;
	static const char *names[] = { "100.sock", "9.sock", "x.sock", "20.sock", "9.lock",
				       "9.log", ".sock" };
	char **list, *p;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		p = mem_printf("%s/%s", f->dir, names[i]);
		close(open(p, O_CREAT | O_WRONLY | O_CLOEXEC, 0600));
		free(p);
	}
	list = client_socket_list(f->dir, NULL);
	assert_non_null(list);
	assert_non_null(list[0]);
	assert_non_null(strstr(list[0], "/9.sock"));
	assert_non_null(strstr(list[1], "/20.sock"));
	assert_non_null(strstr(list[2], "/100.sock"));
	assert_non_null(strstr(list[3], "/x.sock"));
	assert_null(list[4]);
	client_socket_list_free(list);
	p = mem_printf("%s/.sock", f->dir);
	unlink(p);
	free(p);
	p = mem_printf("%s/9.lock", f->dir);
	unlink(p);
	free(p);
	p = mem_printf("%s/9.log", f->dir);
	unlink(p);
	free(p);
}

/* ---------------------------------------------------------------- commands vs the fake daemon */

static void test_cmd_status_text(void **state)
{
	struct fake *f = *state;
	struct cmd_ctx *ctx;
	char *out, *err;

	fake_start(f, FAKE_OK);
	ctx = cmd_ctx_new(0, f->path, 2000);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("status")), 0);
	assert_string_equal(err, "");
	assert_string_equal(out,
			    "target:     4242 (py\"thon)\n"
			    "command:    python3 -c 'x'\n"
			    "state:      running\n"
			    "mode:       cpu\n"
			    "sampler:    perf\n"
			    "kernel:     frames off\n"
			    "sampling:   on\n"
			    "rate:       99 Hz\n"
			    "uptime:     1 min 05 s\n"
			    "samples:    1100\n"
			    "lost:       3\n"
			    "truncated:  25 (2.3% of samples)\n"
			    "window:     off\n"
			    "daemon pid: 77\n"
			    "daemon cpu: 1.2 s (1.8% of uptime)\n"
			    "daemon rss: 3.4 MiB\n"
			    "socket:     /run/sampled/4242.sock\n"
			    "\n"
			    "threads:    4\n"
			    "   TID  NAME     SAMPLES   SHARE\n"
			    "  4242  main         600   54.5%\n"
			    "  4243  work?er      300   27.3%  exited\n"
			    "  4244  idle         100    9.1%\n"
			    "  4245  b            100    9.1%\n");
	free(out);
	free(err);
	cmd_ctx_free(ctx);
}

/* The whole JSON report, byte for byte (checked valid with python3 -m json.tool). */
static void test_cmd_status_json(void **state)
{
	struct fake *f = *state;
	struct cmd_ctx *ctx;
	char *out, *err;

	fake_start(f, FAKE_OK);
	ctx = cmd_ctx_new(0, f->path, 2000);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("stat", "--json")), 0);
	assert_string_equal(err, "");
	assert_string_equal(out,
			    "{\n"
			    "  \"target_pid\": 4242,\n"
			    "  \"target_comm\": \"py\\\"thon\",\n"
			    "  \"target_cmdline\": \"python3 -c 'x'\",\n"
			    "  \"state\": \"running\",\n"
			    "  \"state_text\": \"running\",\n"
			    "  \"exit_status_known\": false,\n"
			    "  \"exit_code\": null,\n"
			    "  \"exit_signal\": null,\n"
			    "  \"mode\": \"cpu\",\n"
			    "  \"sampler\": \"perf\",\n"
			    "  \"sampler_note\": \"\",\n"
			    "  \"kernel_frames\": false,\n"
			    "  \"python\": \"\",\n"
			    "  \"python_out_of_step\": 0,\n"
			    "  \"stop_median_ns\": 0,\n"
			    "  \"stop_p99_ns\": 0,\n"
			    "  \"rate_hz\": 99,\n"
			    "  \"started_unix_ns\": 1700000000000000000,\n"
			    "  \"ended_unix_ns\": 0,\n"
			    "  \"uptime_ns\": 65000000000,\n"
			    "  \"paused\": false,\n"
			    "  \"sampled_ns\": 0,\n"
			    "  \"window\": null,\n"
			    "  \"memory\": null,\n"
			    "  \"samples\": 1100,\n"
			    "  \"lost_samples\": 3,\n"
			    "  \"truncated_samples\": 25,\n"
			    "  \"daemon_pid\": 77,\n"
			    "  \"daemon_cpu_ns\": 1200000000,\n"
			    "  \"daemon_rss_bytes\": 3565158,\n"
			    "  \"socket_path\": \"/run/sampled/4242.sock\",\n"
			    "  \"threads\": [\n"
			    "    {\"tid\": 4242, \"name\": \"main\", \"samples\": 600, \"share\": 0.5455, \"exited\": false},\n"
			    "    {\"tid\": 4243, \"name\": \"work\\ner\", \"samples\": 300, \"share\": 0.2727, \"exited\": true},\n"
			    "    {\"tid\": 4244, \"name\": \"idle\", \"samples\": 100, \"share\": 0.0909, \"exited\": false},\n"
			    "    {\"tid\": 4245, \"name\": \"b\", \"samples\": 100, \"share\": 0.0909, \"exited\": false}\n"
			    "  ]\n"
			    "}\n");
	free(out);
	free(err);
	cmd_ctx_free(ctx);
}

/* A daemon error is exit status 1 with the daemon's message. */
static void test_cmd_status_daemon_error(void **state)
{
	struct fake *f = *state;
	struct cmd_ctx *ctx;
	char *out, *err;

	fake_start(f, FAKE_STATUS_ERROR);
	ctx = cmd_ctx_new(0, f->path, 2000);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("status")), 1);
	assert_string_equal(out, "");
	assert_string_equal(err, "samplectl: daemon: no such \"thing\"\n");
	free(out);
	free(err);
	cmd_ctx_free(ctx);
}

/* Runs stop against the fake in mode; returns the exit status and how long it took. */
static int run_stop(struct fake *f, enum fake_mode mode, int timeout_ms, char **out, char **err,
		    int64_t *took)
{
	struct cmd_ctx *ctx;
	int64_t t0;
	int rc;

	fake_start(f, mode);
	ctx = cmd_ctx_new(0, NULL, timeout_ms);
	cmd_ctx_set_socket_dir(ctx, f->dir);
	t0 = now_ms();
	rc = run_cmd(ctx, out, err, ARGV("stop"));
	*took = now_ms() - t0;
	cmd_ctx_free(ctx);
	return rc;
}

/* stop returns only once the daemon has let go of its socket and lock. */
static void test_cmd_stop(void **state)
{
	struct fake *f = *state;
	char *out, *err;
	int64_t took;

	assert_int_equal(run_stop(f, FAKE_OK, 2000, &out, &err, &took), 0);
	assert_string_equal(err, "");
	assert_string_equal(out, "stopped daemon for pid 4242\n");
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(access(f->lock_path, F_OK), -1);
	free(out);
	free(err);
}

/* The client's connection closes 300 ms before the socket does: stop waits for the socket. */
static void test_cmd_stop_slow(void **state)
{
	struct fake *f = *state;
	char *out, *err;
	int64_t took;

	assert_int_equal(run_stop(f, FAKE_STOP_SLOW, 5000, &out, &err, &took), 0);
	assert_string_equal(out, "stopped daemon for pid 4242\n");
	assert_true(took >= 250);
	assert_int_equal(access(f->path, F_OK), -1);
	assert_int_equal(access(f->lock_path, F_OK), -1);
	free(out);
	free(err);
}

/* A daemon that dies without cleaning up has gone all the same: no wait for the timeout. */
static void test_cmd_stop_crash(void **state)
{
	struct fake *f = *state;
	char *out, *err;
	int64_t took;

	assert_int_equal(run_stop(f, FAKE_STOP_CRASH, 5000, &out, &err, &took), 0);
	assert_string_equal(out, "stopped daemon for pid 4242\n");
	assert_true(took < 4000);
	assert_int_equal(access(f->path, F_OK), 0);
	free(out);
	free(err);
}

/* A daemon that acknowledges stop but stays is an error once the timeout expires. */
static void test_cmd_stop_stuck(void **state)
{
	struct fake *f = *state;
	char *out, *err, *expect;
	int64_t took;

	assert_int_equal(run_stop(f, FAKE_STOP_STUCK, 300, &out, &err, &took), 1);
	assert_string_equal(out, "");
	expect = mem_printf("samplectl: the daemon at %s is still running 300.0 ms after it "
			    "accepted stop\n", f->path);
	assert_string_equal(err, expect);
	assert_true(took >= 250 && took < 5000);
	free(expect);
	free(out);
	free(err);
}

/* No daemons, then a live one beside a stale socket. */
static void test_cmd_list(void **state)
{
	struct fake *f = *state;
	struct cmd_ctx *ctx;
	char *out, *err, *stale, *expect;

	ctx = cmd_ctx_new(0, NULL, 2000);
	cmd_ctx_set_socket_dir(ctx, f->dir);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("list")), 0);
	assert_string_equal(out, "no sampled daemon is running for this user\n");
	free(out);
	free(err);
	stale = mem_printf("%s/17.sock", f->dir);
	close(fake_listen(stale));
	fake_start(f, FAKE_OK);
	/* Several daemons are no obstacle to list, which needs none chosen. */
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("ls")), 0);
	assert_string_equal(err, "");
	expect = mem_printf(" PID  COMM     STATE    UPTIME      SAMPLES  SOCKET\n"
			    "  17  -        stale    -                 -  %s\n"
			    "4242  py\"thon  running  1 min 05 s     1100  %s\n", stale, f->path);
	assert_string_equal(out, expect);
	free(expect);
	free(out);
	free(err);
	free(stale);
	cmd_ctx_free(ctx);
}

/* A daemon of another version is listed as unreachable, with the reason on stderr. */
static void test_cmd_list_unreachable(void **state)
{
	struct fake *f = *state;
	struct cmd_ctx *ctx;
	char *out, *err, *expect;

	fake_start(f, FAKE_WRONG_VERSION);
	ctx = cmd_ctx_new(0, NULL, 2000);
	cmd_ctx_set_socket_dir(ctx, f->dir);
	assert_int_equal(run_cmd(ctx, &out, &err, ARGV("list")), 0);
	expect = mem_printf(" PID  COMM  STATE        UPTIME  SAMPLES  SOCKET\n"
			    "4242  -     unreachable  -             -  %s\n", f->path);
	assert_string_equal(out, expect);
	assert_string_equal(err, "samplectl: list: protocol version mismatch: daemon speaks 99, "
			    "samplectl speaks 1\n");
	free(expect);
	free(out);
	free(err);
	cmd_ctx_free(ctx);
}

#define FAKE_TEST(fn) cmocka_unit_test_setup_teardown(fn, fake_setup, fake_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup),
		cmocka_unit_test(test_real_table),
		cmocka_unit_test(test_parse_pid),
		cmocka_unit_test(test_parse_timeout),
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_help),
		cmocka_unit_test(test_help_lists_every_option),
		cmocka_unit_test(test_view_options),
		cmocka_unit_test(test_format_duration),
		cmocka_unit_test(test_format_size),
		cmocka_unit_test(test_format_percent),
		cmocka_unit_test(test_format_state),
		cmocka_unit_test(test_json_escape),
		FAKE_TEST(test_client_ok),
		FAKE_TEST(test_client_wrong_version),
		FAKE_TEST(test_client_version_error),
		FAKE_TEST(test_client_daemon_error),
		FAKE_TEST(test_client_garbage),
		FAKE_TEST(test_client_oversized),
		FAKE_TEST(test_client_wrong_kind),
		FAKE_TEST(test_client_timeouts),
		FAKE_TEST(test_client_close_early),
		FAKE_TEST(test_connect_errors),
		FAKE_TEST(test_connect_eacces),
		FAKE_TEST(test_find_socket),
		FAKE_TEST(test_socket_list_order),
		FAKE_TEST(test_cmd_status_text),
		FAKE_TEST(test_cmd_status_json),
		FAKE_TEST(test_cmd_status_daemon_error),
		FAKE_TEST(test_cmd_stop),
		FAKE_TEST(test_cmd_stop_slow),
		FAKE_TEST(test_cmd_stop_crash),
		FAKE_TEST(test_cmd_stop_stuck),
		FAKE_TEST(test_cmd_list),
		FAKE_TEST(test_cmd_list_unreachable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
