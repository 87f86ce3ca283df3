#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "python/python.h"
#include "stopwatch.h"
#include "symbols/elf_image.h"
#include "symbols/maps.h"
#include "symbols/resolve.h"
#include "symbols/symtab.h"
#include "tracee.h"
#include "unwind/unwind.h"

/*
 * The CPython reader against real interpreters.  Each test writes a Python
 * script into a temporary directory and runs it; the script reports its own
 * frames (co_qualname, co_filename, f_lineno, and the line it is about to
 * spin on) on stdout, then spins in a one-line loop.  What python_stack
 * reads from outside must equal that report exactly, which checks every
 * offset against the interpreter itself.
 *
 * Interpreters: Debian's /usr/bin/python3.11 (static libpython in the
 * executable) and, when present, pyenv's 3.11.7, 3.12.1 and 3.13.0 (shared
 * libpython) under $PYENV_ROOT or ~/.pyenv; a missing one is skipped with
 * its path printed.
 */

#define MAX_PY 64
#define MAX_EXPECT 1536		/* frames in one report */
#define MAX_NATIVE 256
#define REPORT_TIMEOUT_MS 20000
#define STACK_TIMEOUT_MS 10000

struct interp {
	const char *label;
	const char *path;	/* absolute, or relative to the pyenv root */
	int pyenv;
};

static const struct interp interps[] = {
	{ "debian-3.11", "/usr/bin/python3.11", 0 },
	{ "pyenv-3.11.7", "versions/3.11.7/bin/python3.11", 1 },
	{ "pyenv-3.12.1", "versions/3.12.1/bin/python3.12", 1 },
	{ "pyenv-3.13.0", "versions/3.13.0/bin/python3.13", 1 },
};

/* One running Python process and the reader's view of it. */
struct pyproc {
	pid_t pid;
	int fd;			/* the script's stdout */
	char dir[64];
	char script[512];
	char extra[600];	/* another file to remove, or "" */
	char out[1 << 19];	/* output not consumed yet */
	size_t out_len;
	struct tracee_view view;	/* without an unwinder */
	struct python *py;
};

/* What each test gets: its interpreter, and a process the teardown kills if it failed. */
struct fixture {
	const struct interp *in;
	struct pyproc proc;
};

/* A stack as the script reported it (strings point into buf). */
struct expect {
	char tag[32];
	pid_t tid;
	size_t n;
	const char *qual[MAX_EXPECT], *file[MAX_EXPECT];
	uint32_t line[MAX_EXPECT];
	char buf[1 << 17];
};

/* The helpers every script starts with. */
static const char prelude[] =
	"import os, sys, threading\n"
	"def report(tag, spin_line):\n"
	"    f = sys._getframe(1)\n"
	"    parts = []\n"
	"    line = spin_line\n"
	"    while f is not None:\n"
	"        parts.append('%s|%s|%d' % (f.f_code.co_qualname, f.f_code.co_filename, line))\n"
	"        f = f.f_back\n"
	"        if f is not None:\n"
	"            line = f.f_lineno\n"
	"    msg = 'FRAMES %s %d\\t%s\\n' % (tag, threading.get_native_id(), '\\t'.join(parts))\n"
	"    os.write(1, msg.encode('utf-8'))\n";

/* ------------------------------------------------------------ helpers */

/* The interpreter's path in buf, or NULL (and a printed reason) when it is absent. */
static const char *interp_find(const struct interp *in, char *buf, size_t size)
{
	const char *root = getenv("PYENV_ROOT"), *home = getenv("HOME");

	if (!in->pyenv) {
		snprintf(buf, size, "%s", in->path);
	} else if (root != NULL && root[0] != '\0') {
		snprintf(buf, size, "%s/%s", root, in->path);
	} else {
		snprintf(buf, size, "%s/.pyenv/%s", home != NULL ? home : "/root", in->path);
	}
	if (access(buf, X_OK) != 0) {
		print_message("skipping %s: %s is not installed\n", in->label, buf);
		return NULL;
	}
	return buf;
}

/* Makes the temporary directory and writes prelude + body to dir/name. */
static void pyproc_prepare(struct pyproc *p, const char *name, const char *body)
{
	FILE *f;

	memset(p, 0, sizeof(*p));
	p->fd = -1;
	snprintf(p->dir, sizeof(p->dir), "/tmp/test_python.XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->script, sizeof(p->script), "%s/%s", p->dir, name);
	f = fopen(p->script, "w");
	assert_non_null(f);
	fputs(prelude, f);
	fputs(body, f);
	assert_int_equal(fclose(f), 0);
}

/* Starts interp on the script with its stdout piped to us. */
static void pyproc_run(struct pyproc *p, const char *interp)
{
	int fds[2];

	assert_int_equal(pipe(fds), 0);
	p->pid = fork();
	assert_true(p->pid >= 0);
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		close(fds[0]);
		close(fds[1]);
		execl(interp, interp, "-S", "-B", p->script, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	p->fd = fds[0];
}

/* pyproc_prepare, then pyproc_run. */
static void pyproc_start(struct pyproc *p, const char *interp, const char *name,
			 const char *body)
{
	pyproc_prepare(p, name, body);
	pyproc_run(p, interp);
}

/* Reads the target's mappings and attaches the reader (the test fails if it cannot). */
static void pyproc_attach(struct pyproc *p)
{
	struct error err;

	error_clear(&err);
	tracee_view_open(&p->view, p->pid, 0);
	p->py = python_attach(p->pid, p->view.maps, &err);
	if (p->py == NULL)
		fail_msg("python_attach: %s", err.msg);
}

/* Kills the process and removes its files. */
static void pyproc_stop(struct pyproc *p)
{
	python_free(p->py);
	tracee_view_close(&p->view);
	if (p->pid > 0)
		tracee_kill(p->pid, NULL);
	if (p->fd >= 0)
		close(p->fd);
	if (p->script[0] != '\0')
		unlink(p->script);
	if (p->extra[0] != '\0')
		unlink(p->extra);
	if (p->dir[0] != '\0')
		rmdir(p->dir);
	memset(p, 0, sizeof(*p));
	p->fd = -1;
}

/* Gives the test its fixture (the initial state is the interpreter, or NULL). */
static int fixture_setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	fx->in = *state;
	fx->proc.fd = -1;
	*state = fx;
	return 0;
}

/* Stops whatever a failed test left running. */
static int fixture_teardown(void **state)
{
	struct fixture *fx = *state;

	pyproc_stop(&fx->proc);
	free(fx);
	return 0;
}

/* The next output line starting with prefix (others are dropped) into buf; -1 on timeout. */
static int pyproc_line(struct pyproc *p, const char *prefix, char *buf, size_t size)
{
	double deadline = stopwatch_ms() + REPORT_TIMEOUT_MS;

	for (;;) {
		char *nl = memchr(p->out, '\n', p->out_len);
		struct pollfd pfd = { p->fd, POLLIN, 0 };
		ssize_t got;
		double now;

		if (nl != NULL) {
			size_t len = (size_t)(nl - p->out);
			int match = strncmp(p->out, prefix, strlen(prefix)) == 0 && len < size;

			if (match) {
				memcpy(buf, p->out, len);
				buf[len] = '\0';
			}
			memmove(p->out, nl + 1, p->out_len - len - 1);
			p->out_len -= len + 1;
			if (match)
				return 0;
			continue;
		}
		now = stopwatch_ms();
		if (now >= deadline || p->out_len == sizeof(p->out))
			return -1;
		if (poll(&pfd, 1, (int)(deadline - now) + 1) <= 0)
			return -1;
		got = read(p->fd, p->out + p->out_len, sizeof(p->out) - p->out_len);
		if (got <= 0)
			return -1;
		p->out_len += (size_t)got;
	}
}

/* Parses "FRAMES tag tid\tqual|file|line\t..." into e. */
static void expect_parse(struct expect *e, const char *line)
{
	char *save = NULL, *tok;
	int tid;

	memset(e, 0, sizeof(*e));
	snprintf(e->buf, sizeof(e->buf), "%s", line);
	tok = strtok_r(e->buf, "\t", &save);
	assert_non_null(tok);
	assert_int_equal(sscanf(tok, "FRAMES %31s %d", e->tag, &tid), 2);
	e->tid = tid;
	while ((tok = strtok_r(NULL, "\t", &save)) != NULL) {
		char *bar1 = strchr(tok, '|'), *bar2 = bar1 ? strrchr(tok, '|') : NULL;

		assert_true(bar1 != NULL && bar2 != bar1 && e->n < MAX_EXPECT);
		*bar1 = *bar2 = '\0';
		e->qual[e->n] = tok;
		e->file[e->n] = bar1 + 1;
		e->line[e->n] = (uint32_t)strtoul(bar2 + 1, NULL, 10);
		e->n++;
	}
	assert_true(e->n > 0);
}

/* Waits for a report tagged tag (or, unless whole, starting with it) and parses it. */
static void pyproc_expect_tag(struct pyproc *p, const char *tag, int whole, struct expect *e)
{
	static char line[1 << 17];
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "FRAMES %s%s", tag, whole ? " " : "");
	if (pyproc_line(p, prefix, line, sizeof(line)) != 0)
		fail_msg("no report '%s' from the script within %d ms", tag, REPORT_TIMEOUT_MS);
	expect_parse(e, line);
}

/* Waits for the report tagged tag and parses it. */
static void pyproc_expect(struct pyproc *p, const char *tag, struct expect *e)
{
	pyproc_expect_tag(p, tag, 1, e);
}

/* Waits for a report whose tag starts with prefix and parses it. */
static void pyproc_expect_any(struct pyproc *p, const char *prefix, struct expect *e)
{
	pyproc_expect_tag(p, prefix, 0, e);
}

static void frames_print(const char *what, const struct python_frame *f, size_t n)
{
	print_message("%s: %zu frames\n", what, n);
	for (size_t i = 0; i < n; i++)
		print_message("  #%-2zu %s (%s:%u)%s\n", i, f[i].qualname, f[i].filename, f[i].line,
			      f[i].is_entry ? " [entry]" : "");
}

static void expect_print(const struct expect *e)
{
	print_message("expected (%s, tid %d): %zu frames\n", e->tag, (int)e->tid, e->n);
	for (size_t i = 0; i < e->n; i++)
		print_message("  #%-2zu %s (%s:%u)\n", i, e->qual[i], e->file[i], e->line[i]);
}

/* The read stack equals the report (and the entry flags, when given). */
static int stack_matches(const struct expect *e, const struct python_frame *f, size_t n,
			 const int *entries)
{
	if (n != e->n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(f[i].qualname, e->qual[i]) != 0 || strcmp(f[i].filename, e->file[i]) != 0 ||
		    f[i].line != e->line[i])
			return 0;
		if (entries != NULL && f[i].is_entry != entries[i])
			return 0;
	}
	return 1;
}

/*
 * Reads the thread's stack until it equals the report: the script prints
 * its report just before entering the spin loop, so the first reads may
 * still see the report call.  Fails with both stacks after a timeout.
 */
static void wait_stack(struct pyproc *p, const struct expect *e, const int *entries)
{
	static struct python_frame f[MAX_EXPECT];
	double deadline = stopwatch_ms() + STACK_TIMEOUT_MS;
	size_t n;

	for (;;) {
		n = python_stack(p->py, e->tid, f, MAX_EXPECT);
		if (stack_matches(e, f, n, entries))
			return;
		if (stopwatch_ms() > deadline)
			break;
		stopwatch_sleep_ms(5);
	}
	expect_print(e);
	if (entries != NULL)
		for (size_t i = 0; i < e->n; i++)
			print_message("  entry #%zu expected %d\n", i, entries[i]);
	frames_print("read", f, n);
	fail_msg("python_stack never matched the script's own report");
}

/* ------------------------------------------------------------ pure units */

/* Hand-made location tables: every entry form, negative deltas, no-location entries. */
static void test_line_table(void **state)
{
	/* 1ccccLLL entries */
	const uint8_t t[] = {
		0x80 | (10 << 3) | 0, 0x01, 0x02,	/* one-line, delta 0, 1 unit: line 10 */
		0x80 | (11 << 3) | 1, 0x01, 0x02,	/* delta +1, 2 units: 11 */
		0x80 | (0 << 3) | 0, 0x05,		/* short form, same line, 1 unit: 11 */
		0x80 | (13 << 3) | 2, 0x0a,		/* no columns, +5, 3 units: 16 */
		0x80 | (14 << 3) | 0, 0x07, 0x00, 0x01, 0x01, /* long, -3, 1 unit: 13 */
		0x80 | (15 << 3) | 1,			/* no location, 2 units */
		0x80 | (12 << 3) | 0, 0x00, 0x00,	/* +2: 15 */
		0x80 | (14 << 3) | 0, 0x40 | 0x00, 0x02, 0x00, 0x01, 0x01, /* +64 (varint 2 chunks) */
	};
	const uint32_t want[] = { 10, 11, 11, 11, 16, 16, 16, 13, 0, 0, 15, 79 };

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (python_line(t, sizeof(t), 10, (int64_t)i) != want[i])
			fail_msg("index %zu: line %u, want %u", i, python_line(t, sizeof(t), 10,
									       (int64_t)i), want[i]);
	assert_int_equal(python_line(t, sizeof(t), 10, -1), 10);
	assert_int_equal(python_line(t, sizeof(t), 10, 12), 0);	/* past the table */
	assert_int_equal(python_line(NULL, 0, 10, 0), 0);
	/* A table that does not start with an entry byte is refused. */
	assert_int_equal(python_line((const uint8_t[]){ 0x05, 0x80 }, 2, 10, 0), 0);
}

static void test_classify(void **state)
{
	(void)state;
	assert_int_equal(python_classify("_PyEval_EvalFrameDefault", "libpython3.11.so.1.0"),
			 PYTHON_NATIVE_EVAL);
	assert_int_equal(python_classify("_PyEval_EvalFrameDefault.cold", "python3.11"),
			 PYTHON_NATIVE_EVAL);
	assert_int_equal(python_classify("_PyEval_EvalFrameDefault", NULL), PYTHON_NATIVE_EVAL);
	assert_int_equal(python_classify("_PyEval_EvalFrameDefaultX", "python3.11"),
			 PYTHON_NATIVE_INTERNAL);
	static const char *const internal[] = {
		"_PyEval_Vector", "PyEval_EvalCode", "PyObject_Call", "PyObject_CallOneArg",
		"PyObject_Vectorcall", "_PyObject_MakeTpCall", "_PyObject_Call_Prepend",
		"_PyObject_VectorcallTstate", "_PyFunction_Vectorcall", "method_vectorcall_O",
		"method_vectorcall", "slot_tp_call", "cfunction_call",
		"cfunction_vectorcall_FASTCALL_KEYWORDS", "type_call", "_PyEvalFramePushAndInit",
	};
	static const char *const kept[] = {
		"time_sleep", "sys_getframe", "gc_collect_main",
		"os_read", "thread_run", "lock_PyThread_acquire_lock", "PyEval_RestoreThread",
		"PyEval_SaveThread", "take_gil", "PyGILState_Ensure", "PyThread_acquire_lock_timed",
	};
	static const char *const runtime[] = {
		"builtin_sorted", "list_sort_impl", "PyNumber_Add", "main", "Py_RunMain",
		"_PyLong_Multiply", "_PyObject_Free",
	};
	for (size_t i = 0; i < sizeof(internal) / sizeof(internal[0]); i++) {
		if (python_classify(internal[i], "libpython3.12.so.1.0") != PYTHON_NATIVE_INTERNAL)
			fail_msg("%s should be internal", internal[i]);
		/* Outside the interpreter the same name is somebody else's function. */
		assert_int_equal(python_classify(internal[i], "libfoo.so"), PYTHON_NATIVE_OTHER);
		assert_int_equal(python_classify(internal[i], NULL), PYTHON_NATIVE_OTHER);
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		if (python_classify(kept[i], "python3.11") != PYTHON_NATIVE_OTHER)
			fail_msg("%s should be kept", kept[i]);
	for (size_t i = 0; i < sizeof(runtime) / sizeof(runtime[0]); i++) {
		if (python_classify(runtime[i], "python3.11") != PYTHON_NATIVE_RUNTIME)
			fail_msg("%s should be runtime", runtime[i]);
		assert_int_equal(python_classify(runtime[i], "libz.so.1"), PYTHON_NATIVE_OTHER);
	}
	assert_int_equal(python_classify(NULL, "python3.11"), PYTHON_NATIVE_OTHER);
}

/* Runtime frames are shown or hidden by who called them. */
static void test_resolve_runtime(void **state)
{
#define O PYTHON_NATIVE_OTHER
#define E PYTHON_NATIVE_EVAL
#define I PYTHON_NATIVE_INTERNAL
#define R PYTHON_NATIVE_RUNTIME
	/* Innermost first.  Start-up, then bytecode work: all hidden but libc. */
	enum python_native_class a[] = { R, R, E, I, R, R, O, R };
	const enum python_native_class a_want[] = { I, I, E, I, I, I, O, I };
	/* A builtin reached through the call machinery, calling back into Python. */
	enum python_native_class b[] = { R, E, I, R, R, I, E };
	const enum python_native_class b_want[] = { I, E, I, O, O, I, E };
	/* An extension called from bytecode, and the runtime it calls. */
	enum python_native_class c[] = { R, O, E };
	const enum python_native_class c_want[] = { O, O, E };
	enum python_native_class d[] = { R, E, R };
	const enum python_native_class d_want[] = { O, E, O };
	/* Called straight from bytecode, calling Python back: shown. */
	enum python_native_class e[] = { R, E, R, R, E, R };
	const enum python_native_class e_want[] = { I, E, O, O, E, I };

	(void)state;
	python_resolve_runtime(a, 8, 0);
	assert_memory_equal(a, a_want, sizeof(a));
	python_resolve_runtime(b, 7, 0);
	assert_memory_equal(b, b_want, sizeof(b));
	python_resolve_runtime(c, 3, 0);
	assert_memory_equal(c, c_want, sizeof(c));
	python_resolve_runtime(d, 3, 1);
	assert_memory_equal(d, d_want, sizeof(d));
	python_resolve_runtime(e, 6, 0);
	assert_memory_equal(e, e_want, sizeof(e));
#undef O
#undef E
#undef I
#undef R
}

/* Builds "N E P ..." descriptions of a merge for compact comparisons. */
static void merged_text(const struct python_merged *m, size_t n, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && len + 8 < size; i++)
		len += (size_t)snprintf(buf + len, size - len, "%s%c%zu", i ? " " : "",
					m[i].is_python ? 'p' : 'n', m[i].index);
}

static void check_merge(const enum python_native_class *nat, size_t nn,
			const struct python_frame *py, size_t np, int keep, size_t max,
			const char *want, size_t unmatched, size_t appended, int truncated)
{
	struct python_merged out[64];
	struct python_merge_info info;
	char got[512];
	size_t n = python_merge(nat, nn, py, np, keep, out, max, &info);

	merged_text(out, n, got, sizeof(got));
	if (strcmp(got, want) != 0)
		fail_msg("merge gave \"%s\", want \"%s\"", got, want);
	assert_int_equal(info.evals_unmatched, unmatched);
	assert_int_equal(info.python_appended, appended);
	assert_int_equal(info.truncated, truncated);
}

static void test_merge(void **state)
{
#define O PYTHON_NATIVE_OTHER
#define E PYTHON_NATIVE_EVAL
#define I PYTHON_NATIVE_INTERNAL
	/* keyf (entry) <- caller <- <module> (entry) */
	const struct python_frame py[] = {
		{ "keyf", "f.py", 3, 1, 2 }, { "caller", "f.py", 7, 0, 6 }, { "<module>", "f.py", 9, 1, 1 },
	};
	/* leaf helper, eval(keyf), vectorcall, sorted, cfunction, eval(caller+module), main */
	const enum python_native_class nat[] = { O, E, I, O, I, E, O };
	const enum python_native_class two_evals_more[] = { E, E, E, O };
	const enum python_native_class one_eval[] = { O, E, O };

	(void)state;
	check_merge(nat, 7, py, 3, 0, 64, "n0 p0 n3 p1 p2 n6", 0, 0, 0);
	check_merge(nat, 7, py, 3, 1, 64, "n0 p0 n2 n3 n4 p1 p2 n6", 0, 0, 0);
	/* More eval frames than runs: the extra one stays native. */
	check_merge(two_evals_more, 4, py, 3, 0, 64, "p0 p1 p2 n2 n3", 1, 0, 0);
	/* Fewer: the second run goes to the outer end. */
	check_merge(one_eval, 3, py, 3, 0, 64, "n0 p0 n2 p1 p2", 0, 2, 0);
	/* No Python frames at all: natives only, evals unmatched. */
	check_merge(nat, 7, py, 0, 0, 64, "n0 n1 n3 n5 n6", 2, 0, 0);
	/* No native frames (the unwind failed): all Python frames. */
	check_merge(nat, 0, py, 3, 0, 64, "p0 p1 p2", 0, 3, 0);
	/* No entry flags at all: the first eval takes every frame. */
	{
		const struct python_frame flat[] = { { "a", "f", 1, 0, 1 }, { "b", "f", 2, 0, 2 } };

		check_merge(one_eval, 3, flat, 2, 0, 64, "n0 p0 p1 n2", 0, 0, 0);
	}
	/* A small out keeps the innermost frames. */
	check_merge(nat, 7, py, 3, 0, 3, "n0 p0 n3", 0, 0, 1);
	check_merge(nat, 7, py, 3, 0, 0, "", 0, 0, 1);
#undef O
#undef E
#undef I
}

/* ------------------------------------------------------------ not Python */

/* A process that is not Python: NULL and a reason. */
static void test_not_python(void **state)
{
	struct tracee_view view;
	struct python *py;
	struct error err;
	pid_t pid;

	(void)state;
	error_clear(&err);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	/* Until exec is done the child is this test program, which is not Python either. */
	stopwatch_sleep_ms(100);
	tracee_view_open(&view, pid, 0);
	py = python_attach(pid, view.maps, &err);
	assert_null(py);
	print_message("sleep: %s\n", err.msg);
	assert_non_null(strstr(err.msg, "not CPython"));
	tracee_view_close(&view);
	tracee_kill(pid, NULL);
}

/* Copies file from to to (mode 0755); 0 on success. */
static int copy_file(const char *from, const char *to)
{
	FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
	char buf[65536];
	size_t n;
	int rc = -1;

	if (in == NULL || out == NULL)
		goto out;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			goto out;
	rc = ferror(in) ? -1 : 0;
out:
	if (in != NULL)
		fclose(in);
	if (out != NULL && fclose(out) != 0)
		rc = -1;
	return rc == 0 ? chmod(to, 0755) : -1;
}

/* The script of test_renamed_static. */
static const char app_py[] =
	"def spin():\n"
	"    report('app', sys._getframe().f_lineno + 1)\n"
	"    while True: pass\n"
	"spin()\n";

/*
 * An executable that embeds the interpreter under a name that says nothing
 * (Debian's static python3.11 copied to "app"): found by being the
 * process's executable, not by its name.
 */
static void test_renamed_static(void **state)
{
	const struct interp debian = interps[0];
	struct pyproc *p = &((struct fixture *)*state)->proc;
	struct expect *e = calloc(1, sizeof(*e));
	const int entries[] = { 0, 1 };
	char path[512];

	assert_non_null(e);
	if (interp_find(&debian, path, sizeof(path)) == NULL) {
		free(e);
		skip();
	}
	pyproc_prepare(p, "app.py", app_py);
	snprintf(p->extra, sizeof(p->extra), "%s/app", p->dir);
	assert_int_equal(copy_file(path, p->extra), 0);
	pyproc_run(p, p->extra);
	pyproc_expect(p, "app", e);
	pyproc_attach(p);
	assert_string_equal(python_module(p->py), "app");
	assert_int_equal(e->n, 2);
	wait_stack(p, e, entries);
	pyproc_stop(p);
	free(e);
}

/* Older interpreters are refused, with the reason (when pyenv has them). */
static void test_old_versions(void **state)
{
	static const struct interp old[] = {
		{ "pyenv-3.10.13", "versions/3.10.13/bin/python3.10", 1 },
		{ "pyenv-2.7.18", "versions/2.7.18/bin/python2.7", 1 },
	};
	static const char *const want[] = { "Python 3.10, which is not supported",
					    "exports no _PyRuntime" };
	int tried = 0;

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		char path[512], line[64];
		struct pyproc *p = &((struct fixture *)*state)->proc;
		struct error err;

		if (interp_find(&old[i], path, sizeof(path)) == NULL)
			continue;
		tried++;
		pyproc_start(p, path, "old.py",
			     "os.write(1, b'READY\\n')\nimport time\nwhile True: time.sleep(1)\n");
		if (pyproc_line(p, "READY", line, sizeof(line)) != 0)
			fail_msg("%s did not start", path);
		error_clear(&err);
		tracee_view_open(&p->view, p->pid, 0);
		p->py = python_attach(p->pid, p->view.maps, &err);
		print_message("%s: %s\n", old[i].label, err.msg);
		assert_null(p->py);
		assert_non_null(strstr(err.msg, want[i]));
		pyproc_stop(p);
	}
	if (tried == 0)
		skip();
}

/* ------------------------------------------------------------ per interpreter */

/*
 * Starts the test's interpreter on the script prelude + body, written to
 * name, and returns the fixture's process; skips the test when that
 * interpreter is not installed.
 */
static struct pyproc *pyproc_begin(void **state, const char *name, const char *body)
{
	struct fixture *fx = *state;
	char path[512];

	if (interp_find(fx->in, path, sizeof(path)) == NULL)
		skip();
	pyproc_start(&fx->proc, path, name, body);
	return &fx->proc;
}

/* pyproc_begin, then the script's report tagged tag into e, then the reader attached. */
static struct pyproc *pyproc_begin_attached(void **state, const char *name, const char *body,
					    const char *tag, struct expect *e)
{
	struct pyproc *p = pyproc_begin(state, name, body);

	pyproc_expect(p, tag, e);
	pyproc_attach(p);
	return p;
}

/* The script of test_line_tables. */
static const char lines_py[] =
	"extra = '''\n"
	"def f(a,\n"
	"      b):\n"
	"    x = [i\n"
	"         for i in range(3)]\n"
	"    try:\n"
	"        pass\n"
	"    finally:\n"
	"        y = 1\n"
	"    while a:\n"
	"        a -= 1\n"
	"    return (a +\n"
	"            b)\n"
	"''' + '\\n' * 5000 + 'def g():\\n    return 1\\n'\n"
	"def walk(co):\n"
	"    yield co\n"
	"    for c in co.co_consts:\n"
	"        if hasattr(c, 'co_code'):\n"
	"            yield from walk(c)\n"
	"src = open(threading.__file__).read()\n"
	"out = []\n"
	"for code in (compile(src, 'threading.py', 'exec'), compile(extra, 'x', 'exec')):\n"
	"    for co in walk(code):\n"
	"        n = len(co.co_code) // 2\n"
	"        lines = [0] * n\n"
	"        for s, e, l in co.co_lines():\n"
	"            for k in range(s // 2, min(e // 2, n)):\n"
	"                lines[k] = l or 0\n"
	"        out.append('LT %d %s %s\\n' % (co.co_firstlineno, co.co_linetable.hex(),\n"
	"                                      ','.join(map(str, lines))))\n"
	"out.append('END\\n')\n"
	"os.write(1, ''.join(out).encode())\n"
	"import time\n"
	"time.sleep(60)\n";

/*
 * The line table decoder against the interpreter's own co_lines() for every
 * code object of threading.py and a few awkward constructs (multi-line
 * expressions, finally blocks, backward jumps, big line deltas).
 */
static void test_line_tables(void **state)
{
	static char line[1 << 19];
	static uint8_t table[1 << 17];
	struct pyproc *p = pyproc_begin(state, "lines.py", lines_py);
	size_t codes = 0, units = 0;

	while (pyproc_line(p, "", line, sizeof(line)) == 0 && strcmp(line, "END") != 0) {
		unsigned first;
		char *hex, *list, *save = NULL, *tok;
		size_t len = 0;
		int64_t index = 0;

		assert_int_equal(strncmp(line, "LT ", 3), 0);
		first = (unsigned)strtoul(line + 3, &hex, 10);
		hex++;
		list = strchr(hex, ' ');
		assert_non_null(list);
		*list++ = '\0';
		for (; hex[0] && hex[1] && len < sizeof(table); hex += 2) {
			unsigned byte;

			assert_int_equal(sscanf(hex, "%2x", &byte), 1);
			table[len++] = (uint8_t)byte;
		}
		for (tok = strtok_r(list, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
			uint32_t want = (uint32_t)strtoul(tok, NULL, 10);
			uint32_t got = python_line(table, len, first, index);

			if (got != want)
				fail_msg("code object %zu (first line %u), unit %lld: line %u, "
					 "co_lines says %u", codes, first, (long long)index, got, want);
			index++;
			units++;
		}
		codes++;
	}
	assert_string_equal(line, "END");
	print_message("%zu code objects, %zu code units checked\n", codes, units);
	assert_true(codes > 100);
	pyproc_stop(p);
}

/* The script of test_chain. */
static const char chain_py[] =
	"def a(n):\n"
	"    return b(n)\n"
	"def b(n):\n"
	"    return c(n)\n"
	"def c(n):\n"
	"    if n > 0:\n"
	"        return a(n - 1)\n"
	"    report('chain', sys._getframe().f_lineno + 1)\n"
	"    while True: pass\n"
	"class Cls:\n"
	"    def method(self):\n"
	"        return a(2)\n"
	"Cls().method()\n";

/* Recursion a -> b -> c three times under a method, spinning in c. */
static void test_chain(void **state)
{
	static const char *const quals[] = { "c", "b", "a", "c", "b", "a", "c", "b", "a",
					     "Cls.method", "<module>" };
	int entries[MAX_PY] = { 0 };
	struct expect e;
	struct pyproc *p = pyproc_begin_attached(state, "chain.py", chain_py, "chain", &e);
	pid_t holder = 0;

	print_message("attached to Python %s in %s\n", python_version(p->py), python_module(p->py));
	assert_int_equal(e.tid, p->pid);
	assert_int_equal(e.n, 11);
	for (size_t i = 0; i < e.n; i++) {
		assert_string_equal(e.qual[i], quals[i]);
		assert_string_equal(e.file[i], p->script);
	}
	assert_int_equal(e.line[0], 21);	/* the prelude is 12 lines */
	/* Python-to-Python calls run in the same eval call: one entry, the module. */
	entries[e.n - 1] = 1;
	wait_stack(p, &e, entries);
	/* One thread, spinning: it holds the GIL. */
	for (int i = 0; i < 100 && holder != p->pid; i++) {
		holder = python_gil_holder(p->py);
		stopwatch_sleep_ms(2);
	}
	assert_int_equal(holder, p->pid);
	pyproc_stop(p);
}

/* The script of test_names. */
static const char names_py[] =
	"import types\n"
	"def café():\n"
	"    report('names', sys._getframe().f_lineno + 1)\n"
	"    while True: pass\n"
	"def wide():\n"
	"    return café()\n"
	"wide = types.FunctionType(wide.__code__.replace(\n"
	"    co_qualname=''.join(['wide_', chr(0x6f22)])), globals())\n"
	"def 𠀀():\n"
	"    return wide()\n"
	"class Ünï:\n"
	"    def mëthod(self):\n"
	"        return 𠀀()\n"
	"try:\n"
	"    import ctypes\n"
	"    f = ctypes.pythonapi.PyUnicode_AsUTF8\n"
	"    f.restype = ctypes.c_char_p\n"
	"    f.argtypes = [ctypes.py_object]\n"
	"    f(Ünï.mëthod.__code__.co_qualname)\n"
	"except ImportError:\n"
	"    pass\n"
	"Ünï().mëthod()\n";

/* Names in every str representation: latin-1, UCS-2, UCS-4, cached UTF-8; a non-ASCII file name. */
static void test_names(void **state)
{
	static const char *const quals[] = { "café", "wide_漢", "𠀀", "Ünï.mëthod", "<module>" };
	struct expect e;
	struct pyproc *p;

	p = pyproc_begin_attached(state, "scénario_脚本.py", names_py, "names", &e);

	assert_int_equal(e.n, 5);
	for (size_t i = 0; i < e.n; i++) {
		assert_string_equal(e.qual[i], quals[i]);
		assert_string_equal(e.file[i], p->script);
	}
	wait_stack(p, &e, NULL);
	pyproc_stop(p);
}

/* The script of test_threads. */
static const char threads_py[] =
	"def spin_one():\n"
	"    report('t1', sys._getframe().f_lineno + 1)\n"
	"    while True: pass\n"
	"def spin_two():\n"
	"    x = 0\n"
	"    report('t2', sys._getframe().f_lineno + 1)\n"
	"    while True: x += 1\n"
	"def two():\n"
	"    spin_two()\n"
	"def spin_three():\n"
	"    report('t3', sys._getframe().f_lineno + 1)\n"
	"    while True: pass\n"
	"ts = [threading.Thread(target=f) for f in (spin_one, two, spin_three)]\n"
	"for t in ts:\n"
	"    t.start()\n"
	"for t in ts:\n"
	"    t.join()\n";

/* Three threads spinning in three functions: each tid maps to its own stack. */
static void test_threads(void **state)
{
	static const char *const tags[] = { "t1", "t2", "t3" };
	static const char *const inner[] = { "spin_one", "spin_two", "spin_three" };
	struct pyproc *p = pyproc_begin(state, "threads.py", threads_py);
	struct expect *e = calloc(3, sizeof(*e));
	struct python_frame f[MAX_PY];
	size_t n, seen[4] = { 0 };

	assert_non_null(e);
	/* The threads report in whatever order they get the GIL. */
	for (int i = 0; i < 3; i++) {
		struct expect *one = calloc(1, sizeof(*one));
		int k = 0;

		assert_non_null(one);
		pyproc_expect_any(p, "t", one);
		while (k < 3 && strcmp(one->tag, tags[k]) != 0)
			k++;
		assert_true(k < 3 && e[k].n == 0);
		memcpy(&e[k], one, sizeof(*one));
		/* The strings point into buf: rebase them. */
		for (size_t j = 0; j < e[k].n; j++) {
			e[k].qual[j] = e[k].buf + (one->qual[j] - one->buf);
			e[k].file[j] = e[k].buf + (one->file[j] - one->buf);
		}
		free(one);
	}
	pyproc_attach(p);
	for (int i = 0; i < 3; i++) {
		assert_int_not_equal(e[i].tid, p->pid);
		assert_string_equal(e[i].qual[0], inner[i]);
		assert_string_equal(e[i].qual[e[i].n - 1], "Thread._bootstrap");
		wait_stack(p, &e[i], NULL);
	}
	/* The main thread ends up waiting in join, under the module. */
	for (double deadline = stopwatch_ms() + STACK_TIMEOUT_MS;;) {
		n = python_stack(p->py, p->pid, f, MAX_PY);
		if (n >= 2 && strcmp(f[n - 1].qualname, "<module>") == 0 &&
		    strcmp(f[n - 2].qualname, "Thread.join") == 0 && f[n - 1].line == 29)
			break;
		if (stopwatch_ms() > deadline) {
			frames_print("main thread", f, n);
			fail_msg("the main thread does not wait in Thread.join under <module>");
		}
		stopwatch_sleep_ms(5);
	}
	/* The GIL goes around the three spinners; the main thread never has it. */
	for (int i = 0; i < 300; i++) {
		pid_t h = python_gil_holder(p->py);
		int k = 0;

		while (k < 3 && e[k].tid != h)
			k++;
		if (h != 0 && k == 3)
			fail_msg("GIL holder %d is none of the spinning threads", (int)h);
		seen[h == 0 ? 3 : k]++;
		stopwatch_sleep_ms(1);
	}
	print_message("GIL holders over 300 reads: t1 %zu, t2 %zu, t3 %zu, none %zu\n", seen[0],
		      seen[1], seen[2], seen[3]);
	assert_true(seen[0] + seen[1] + seen[2] > 0);
	pyproc_stop(p);
	free(e);
}

/* One merged stack, printable. */
struct merged_stack {
	size_t nn, np, n;
	uint64_t pcs[MAX_NATIVE];
	const char *fn[MAX_NATIVE], *mod[MAX_NATIVE];
	enum python_native_class cls[MAX_NATIVE];
	struct python_frame py[MAX_PY];
	struct python_merged m[MAX_NATIVE + MAX_PY];
	struct python_merge_info info;
	enum unwind_end end;
};

static void merged_print(const struct merged_stack *ms)
{
	static const char *cls[] = { "", " [eval]", " [internal]" };

	print_message("native: %zu frames (end %d)\n", ms->nn, (int)ms->end);
	for (size_t i = 0; i < ms->nn; i++)
		print_message("  #%-2zu %s (%s)%s\n", i, ms->fn[i] ? ms->fn[i] : "?", ms->mod[i],
			      cls[ms->cls[i]]);
	frames_print("python", ms->py, ms->np);
	print_message("merged: %zu frames (unmatched %zu, appended %zu)\n", ms->n,
		      ms->info.evals_unmatched, ms->info.python_appended);
	for (size_t i = 0; i < ms->n; i++) {
		size_t k = ms->m[i].index;

		if (ms->m[i].is_python)
			print_message("  #%-2zu py  %s (%s:%u)\n", i, ms->py[k].qualname,
				      ms->py[k].filename, ms->py[k].line);
		else
			print_message("  #%-2zu nat %s (%s)%s\n", i, ms->fn[k] ? ms->fn[k] : "?",
				      ms->mod[k], cls[ms->cls[k]]);
	}
}

/*
 * Stops the main thread, reads its native stack with the real unwinder and
 * its Python frames while it is stopped, and merges them.
 */
static void sample_merged(struct pyproc *p, struct unwinder *u, int keep, struct merged_stack *ms)
{
	static struct tracee_capture cap;

	memset(ms, 0, sizeof(*ms));
	assert_int_equal(tracee_stop(p->pid), 0);
	assert_true(tracee_read(p->pid, p->pid, p->view.maps, &cap) > 0);
	ms->np = python_stack(p->py, p->pid, ms->py, MAX_PY);
	assert_int_equal(ptrace(PTRACE_DETACH, p->pid, 0, 0), 0);
	ms->nn = unwind_stack(u, &cap.s, ms->pcs, MAX_NATIVE, &ms->end);
	for (size_t i = 0; i < ms->nn; i++) {
		struct resolve_result r;

		resolve_addr(p->view.maps, ms->pcs[i], &r);
		ms->fn[i] = r.function;
		ms->mod[i] = r.module;
		ms->cls[i] = python_classify(r.function, r.module);
	}
	python_resolve_runtime(ms->cls, ms->nn, keep);
	ms->n = python_merge(ms->cls, ms->nn, ms->py, ms->np, keep, ms->m, MAX_NATIVE + MAX_PY,
			     &ms->info);
}

/* Index of the merged Python frame named qual at or after from, or -1. */
static long merged_find(const struct merged_stack *ms, size_t from, const char *qual)
{
	for (size_t i = from; i < ms->n; i++)
		if (ms->m[i].is_python && strcmp(ms->py[ms->m[i].index].qualname, qual) == 0)
			return (long)i;
	return -1;
}

static void merged_expect(const struct merged_stack *ms, int cond, const char *what)
{
	if (!cond) {
		merged_print(ms);
		fail_msg("%s", what);
	}
}

/* The script of test_sorted_merge. */
static const char sorted_py[] =
	"def keyf(v):\n"
	"    report('sorted', sys._getframe().f_lineno + 1)\n"
	"    while True: pass\n"
	"def caller():\n"
	"    return sorted([3, 1, 2], key=keyf)\n"
	"caller()\n";

/*
 * keyf called by sorted called by caller: python -> native -> python.  The
 * merge must give keyf, then sorted's C frames, then caller and <module>,
 * then the interpreter's C start-up frames, with no eval frame left.
 */
static void test_sorted_merge(void **state)
{
	const int entries[] = { 1, 0, 1 };
	struct expect e;
	struct pyproc *p = pyproc_begin_attached(state, "sorted.py", sorted_py, "sorted", &e);
	struct merged_stack *ms = calloc(2, sizeof(*ms));
	struct unwinder *u;

	assert_non_null(ms);
	wait_stack(p, &e, entries);
	u = tracee_unwinder(p->view.maps);
	for (int round = 0; round < 5; round++) {
		long k, c, m;
		int sorted_seen = 0, has_names;

		sample_merged(p, u, 0, &ms[0]);
		if (getenv("PYTHON_TEST_VERBOSE") != NULL)
			merged_print(&ms[0]);
		merged_expect(&ms[0], ms[0].np == 3, "python frames not read while stopped");
		merged_expect(&ms[0], ms[0].end == UNWIND_END_ROOT, "native unwind incomplete");
		merged_expect(&ms[0], ms[0].info.evals_unmatched == 0 &&
				      ms[0].info.python_appended == 0, "stacks did not match up");
		k = merged_find(&ms[0], 0, "keyf");
		c = merged_find(&ms[0], 0, "caller");
		m = merged_find(&ms[0], 0, "<module>");
		merged_expect(&ms[0], k >= 0 && c > k + 1 && m == c + 1,
			      "not keyf, natives, caller, <module>");
		merged_expect(&ms[0], (size_t)m + 1 < ms[0].n, "no C frames under <module>");
		/* Leaf side: at most interpreter helpers the loop called. */
		for (long i = 0; i < k; i++)
			merged_expect(&ms[0], !ms[0].m[i].is_python &&
					      ms[0].cls[ms[0].m[i].index] == PYTHON_NATIVE_OTHER,
				      "odd frame below keyf");
		/* Between keyf and caller: sorted's C code, no interpreter internals. */
		has_names = 0;
		for (long i = k + 1; i < c; i++) {
			size_t ni = ms[0].m[i].index;

			merged_expect(&ms[0], !ms[0].m[i].is_python &&
					      ms[0].cls[ni] == PYTHON_NATIVE_OTHER,
				      "python or internal frame inside sorted");
			merged_expect(&ms[0], strcmp(ms[0].mod[ni], python_module(p->py)) == 0,
				      "sorted's frames are not the interpreter's");
			if (ms[0].fn[ni] != NULL) {
				has_names = 1;
				if (strcmp(ms[0].fn[ni], "builtin_sorted") == 0)
					sorted_seen = 1;
			}
		}
		/* Debian strips the static functions; builds with .symtab name them. */
		if (has_names || strcmp(python_module(p->py), "python3.11") != 0)
			merged_expect(&ms[0], sorted_seen, "builtin_sorted not between keyf and caller");
		for (size_t i = 0; i < ms[0].n; i++)
			merged_expect(&ms[0], ms[0].m[i].is_python ||
					      ms[0].cls[ms[0].m[i].index] != PYTHON_NATIVE_EVAL,
				      "an eval frame survived the merge");
		/* Keeping internals adds exactly the internal frames. */
		sample_merged(p, u, 1, &ms[1]);
		{
			size_t internals = 0, kept = 0;

			for (size_t i = 0; i < ms[1].nn; i++)
				internals += ms[1].cls[i] == PYTHON_NATIVE_INTERNAL;
			for (size_t i = 0; i < ms[1].n; i++)
				kept += !ms[1].m[i].is_python &&
					ms[1].cls[ms[1].m[i].index] == PYTHON_NATIVE_INTERNAL;
			merged_expect(&ms[1], internals == kept && internals > 0,
				      "keep_internals did not keep every internal frame");
		}
	}
	if (!getenv("PYTHON_TEST_VERBOSE"))
		print_message("merged %zu native + %zu python frames into %zu\n", ms[0].nn,
			      ms[0].np, ms[0].n);
	unwind_free(u);
	pyproc_stop(p);
	free(ms);
}

/* The script behind the torn-state tests: calls, returns, generators, exceptions, threads. */
static const char busy_body[] =
	"def rec(n):\n"
	"    if n == 0:\n"
	"        return sum(gen(5))\n"
	"    return rec(n - 1) + 1\n"
	"def gen(k):\n"
	"    for i in range(k):\n"
	"        yield i\n"
	"def exc():\n"
	"    try:\n"
	"        raise ValueError('x')\n"
	"    except ValueError:\n"
	"        return 1\n"
	"def work(seed):\n"
	"    i = seed\n"
	"    while True:\n"
	"        i = (i * 1103515245 + 12345) & 0x7fffffff\n"
	"        rec(i % 40)\n"
	"        exc()\n"
	"        if i % 64 == 0:\n"
	"            ns = {}\n"
	"            exec('def f%d(x):\\n    return [x for x in range(%d)]\\n' % (i % 97, i % 13), ns)\n"
	"            ns['f%d' % (i % 97)](1)\n"
	"def churn():\n"
	"    while True:\n"
	"        t = threading.Thread(target=rec, args=(8,))\n"
	"        t.start()\n"
	"        t.join()\n"
	"threading.Thread(target=work, args=(7,), daemon=True).start()\n"
	"threading.Thread(target=churn, daemon=True).start()\n"
	"os.write(1, b'READY\\n')\n"
	"work(1)\n";

/* Lists the target's threads (at most max). */
static size_t task_list(pid_t pid, pid_t *tids, size_t max)
{
	char path[64];
	struct dirent *d;
	size_t n = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	dir = opendir(path);
	if (dir == NULL)
		return 0;
	while ((d = readdir(dir)) != NULL && n < max)
		if (d->d_name[0] != '.')
			tids[n++] = (pid_t)atoi(d->d_name);
	closedir(dir);
	return n;
}

/*
 * 10,000 reads of a process running at full speed (perf mode reads without
 * stopping anything): whatever is torn, every read returns sane frames.
 * The reader attaches after the script has been running for a while, and
 * some reads of the main thread must see the whole chain down to <module>.
 */
static void test_torn_reads(void **state)
{
	struct python_frame f[MAX_PY];
	struct python_stats st;
	struct pyproc *p = pyproc_begin(state, "busy.py", busy_body);
	char line[64];
	pid_t tids[64];
	size_t ntids = 0, total = 0, whole = 0, nonempty = 0;

	if (pyproc_line(p, "READY", line, sizeof(line)) != 0)
		fail_msg("the busy script did not start");
	stopwatch_sleep_ms(1000);
	pyproc_attach(p);
	for (int i = 0; i < 10000; i++) {
		pid_t tid;
		size_t n;

		if (i % 100 == 0)
			ntids = task_list(p->pid, tids, 64);
		assert_true(ntids > 0);
		tid = i % 2 == 0 ? p->pid : tids[(size_t)i % ntids];
		n = python_stack(p->py, tid, f, MAX_PY);
		assert_true(n <= MAX_PY);
		for (size_t k = 0; k < n; k++) {
			assert_non_null(f[k].qualname);
			assert_non_null(f[k].filename);
			assert_true(f[k].line < 1000000);
		}
		total += n;
		nonempty += n > 0;
		if (tid == p->pid && n >= 2 && strcmp(f[n - 1].qualname, "<module>") == 0 &&
		    strcmp(f[n - 2].qualname, "work") == 0 && strcmp(f[n - 1].filename, p->script) == 0)
			whole++;
		if (i % 16 == 0)
			(void)python_gil_holder(p->py);
	}
	python_stats(p->py, &st);
	print_message("10000 reads: %zu non-empty, %zu frames, %zu whole main stacks; "
		      "read errors %llu, bad frames %llu, truncated %llu, code misses %llu, "
		      "reused %llu, scans %llu\n",
		      nonempty, total, whole, (unsigned long long)st.read_errors,
		      (unsigned long long)st.bad_frames, (unsigned long long)st.truncated,
		      (unsigned long long)st.code_misses, (unsigned long long)st.code_reused,
		      (unsigned long long)st.thread_scans);
	assert_int_equal(st.stacks, 10000);
	assert_true(whole > 0);
	pyproc_stop(p);
}

/* The script of test_deep. */
static const char deep_py[] =
	"import signal\n"
	"sys.setrecursionlimit(10000)\n"
	"go = []\n"
	"signal.signal(signal.SIGUSR1, lambda *a: go.append(1))\n"
	"def r(n, tag):\n"
	"    if n:\n"
	"        return r(n - 1, tag)\n"
	"    go.clear()\n"
	"    report(tag, sys._getframe().f_lineno + 1)\n"
	"    while not go: pass\n"
	"r(300, 'deep1')\n"
	"r(1200, 'deep2')\n";

/*
 * Deep recursion: 300 frames span several data stack windows and chunks
 * and must all be read; a smaller max keeps the innermost frames; 1200
 * frames pass the walk's bound, which ends the walk early, counted.
 */
static void test_deep(void **state)
{
	static struct python_frame f[2048];
	struct pyproc *p = pyproc_begin(state, "deep.py", deep_py);
	struct python_stats before, after;
	struct expect *e = calloc(1, sizeof(*e));
	size_t n;

	assert_non_null(e);
	pyproc_expect(p, "deep1", e);
	pyproc_attach(p);
	assert_int_equal(e->n, 302);
	wait_stack(p, e, NULL);
	n = python_stack(p->py, p->pid, f, 50);
	assert_int_equal(n, 50);
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(f[i].qualname, e->qual[i]);
		assert_int_equal(f[i].line, e->line[i]);
	}
	/* On to the second recursion. */
	assert_int_equal(kill(p->pid, SIGUSR1), 0);
	pyproc_expect(p, "deep2", e);
	assert_true(e->n > 1000);
	python_stats(p->py, &before);
	for (double deadline = stopwatch_ms() + STACK_TIMEOUT_MS;;) {
		n = python_stack(p->py, p->pid, f, 2048);
		if (n > 0 && strcmp(f[0].qualname, "r") == 0 && f[0].line == e->line[0])
			break;
		assert_true(stopwatch_ms() < deadline);
		stopwatch_sleep_ms(5);
	}
	python_stats(p->py, &after);
	print_message("1202 frames deep: read %zu\n", n);
	assert_true(n >= 1000 && n < e->n);
	assert_true(after.truncated > before.truncated);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(f[i].qualname, "r");
	free(e);
}

/* The script of test_code_reuse. */
static const char reuse_py[] =
	"import signal\n"
	"go = []\n"
	"signal.signal(signal.SIGUSR1, lambda *a: go.append(1))\n"
	"def make(name):\n"
	"    ns = {}\n"
	"    src = ('def %s(report, go, sys):\\n'\n"
	"           '    report(%r, sys._getframe().f_lineno + 1)\\n'\n"
	"           '    while not go: pass\\n' % (name, name))\n"
	"    exec(compile(src, 'gen.py', 'exec'), ns)\n"
	"    return ns[name]\n"
	"f = make('first_fn')\n"
	"target = id(f.__code__)\n"
	"f(report, go, sys)\n"
	"del f\n"
	"for i in range(20000):\n"
	"    g = make('other_%03d' % (i % 1000))\n"
	"    if id(g.__code__) == target:\n"
	"        break\n"
	"    del g\n"
	"go.clear()\n"
	"os.write(1, b'REUSED %d\\n' % (id(g.__code__) == target))\n"
	"g(report, go, sys)\n";

/*
 * A code object freed and another compiled into its memory: the cache must
 * notice (3.12+ by co_version, 3.11 by the name read back) and show the
 * new name, at the latest after its recheck interval.
 */
static void test_code_reuse(void **state)
{
	struct pyproc *p = pyproc_begin(state, "reuse.py", reuse_py);
	struct expect *e = calloc(1, sizeof(*e));
	struct python_frame f[MAX_PY];
	struct python_stats st;
	char line[64];
	int reused;

	assert_non_null(e);
	pyproc_expect(p, "first_fn", e);
	pyproc_attach(p);
	wait_stack(p, e, NULL);
	assert_string_equal(e->file[0], "gen.py");
	for (int i = 0; i < 10; i++)
		assert_int_equal(python_stack(p->py, p->pid, f, MAX_PY), 2);
	assert_int_equal(kill(p->pid, SIGUSR1), 0);
	if (pyproc_line(p, "REUSED ", line, sizeof(line)) != 0)
		fail_msg("the script did not get to the second function");
	reused = atoi(line + 7);
	pyproc_expect_any(p, "other_", e);
	wait_stack(p, e, NULL);
	python_stats(p->py, &st);
	print_message("%s at the same address: %s; reuses seen %llu\n", e->qual[0],
		      reused ? "yes" : "no", (unsigned long long)st.code_reused);
	if (reused)
		assert_true(st.code_reused >= 1);
	free(e);
}

/* The script of test_cost. */
static const char cost_py[] =
	"def r(n):\n"
	"    if n:\n"
	"        return r(n - 1)\n"
	"    report('deep', sys._getframe().f_lineno + 1)\n"
	"    while True: pass\n"
	"r(18)\n";

/* Warm cost of python_stack on a 20-frame stack (printed, bounded loosely). */
static void test_cost(void **state)
{
	struct python_frame f[MAX_PY];
	struct expect e;
	struct pyproc *p = pyproc_begin_attached(state, "deep.py", cost_py, "deep", &e);
	struct timespec t0;
	double us;
	const int calls = 5000;

	assert_int_equal(e.n, 20);
	wait_stack(p, &e, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < calls; i++)
		assert_int_equal(python_stack(p->py, p->pid, f, MAX_PY), 20);
	us = stopwatch_usec_since(&t0) / calls;
	print_message("python_stack, 20 frames, warm: %.2f us per call (Python %s)\n", us,
		      python_version(p->py));
	assert_true(us < 1000.0);
	pyproc_stop(p);
}

int main(void)
{
	static const struct {
		const char *name;
		CMUnitTestFunction fn;
	} per_interp[] = {
		{ "line_tables", test_line_tables },
		{ "chain", test_chain },
		{ "names", test_names },
		{ "threads", test_threads },
		{ "sorted_merge", test_sorted_merge },
		{ "deep", test_deep },
		{ "code_reuse", test_code_reuse },
		{ "torn_reads", test_torn_reads },
		{ "cost", test_cost },
	};
	const size_t ninterp = sizeof(interps) / sizeof(interps[0]);
	const size_t nper = sizeof(per_interp) / sizeof(per_interp[0]);
	struct CMUnitTest tests[7 + sizeof(interps) / sizeof(interps[0]) * 9];
	char names[sizeof(interps) / sizeof(interps[0]) * 9][64];
	const char *filter = getenv("PYTHON_TEST_FILTER");
	size_t n = 0;
	int rc;

	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_line_table);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_classify);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_resolve_runtime);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_merge);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test(test_not_python);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(test_old_versions,
									fixture_setup,
									fixture_teardown);
	tests[n++] = (struct CMUnitTest)cmocka_unit_test_setup_teardown(test_renamed_static,
									fixture_setup,
									fixture_teardown);
	for (size_t i = 0; i < ninterp; i++) {
		for (size_t k = 0; k < nper; k++) {
			char *name = names[i * nper + k];

			snprintf(name, sizeof(names[0]), "%s/%s", per_interp[k].name, interps[i].label);
			tests[n++] = (struct CMUnitTest){
				.name = name,
				.test_func = per_interp[k].fn,
				.setup_func = fixture_setup,
				.teardown_func = fixture_teardown,
				.initial_state = (void *)&interps[i],
			};
		}
	}
	/* PYTHON_TEST_FILTER=substring runs only the tests whose name contains it. */
	if (filter != NULL) {
		size_t kept = 0;

		for (size_t i = 0; i < n; i++)
			if (strstr(tests[i].name, filter) != NULL)
				tests[kept++] = tests[i];
		n = kept;
	}
	rc = _cmocka_run_group_tests("python", tests, n, NULL, NULL);
	return rc;
}
