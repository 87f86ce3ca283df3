#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
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

#include "noise.h"
#include "stopwatch.h"
#include "symbols/elf_image.h"
#include "symbols/maps.h"
#include "symbols/resolve.h"
#include "symbols/symtab.h"
#include "tracee.h"
#include "unwind/cfi.h"
#include "unwind/unwind.h"
#include "workload.h"

/*
 * The CFI rows and the unwinder's fast path that steps frames with them.
 *
 * Rows are checked against an independent reader of the same tables,
 * elfutils' libdw (dwarf_cfi_addrframe), for every address of the first
 * bytes of every function of real binaries.
 *
 * The fast path must give exactly what libunwind alone gives, so real
 * stacks are captured (a child of this test stopped with ptrace, its
 * registers and stack copied as the ptrace sampler does, tracee.h, running
 * the helpers' workloads; python3.11 and xz doing real work) and each is
 * unwound by two unwinders over the same maps:
 * one with the fast path, one with libunwind alone.  Every stack is also
 * unwound with shortened stack copies (truncation must end at the same
 * frame) and with libunwind taking over after 1, 2, 3... fast frames (the
 * takeover must be seamless at every depth).
 */

#define MAX_FRAMES 256
#define PY "/usr/bin/python3.11"
#define XZ "/usr/bin/xz"

/* The target of the comparisons and the two unwinders that look at it. */
struct target {
	pid_t pid;
	struct tracee_shared *sh;	/* NULL for an exec'd program */
	struct tracee_view view;
	struct unwinder *fast;	/* the view's: with the fast path */
	struct unwinder *slow;	/* libunwind alone */
};

/* What the comparisons saw, for the closing checks. */
struct tally {
	size_t stacks, frames, handoffs, roots, truncated;
	size_t cuts, cuts_truncated;	/* shortened stack copies; ending in truncation */
};

/* ---------------------------------------------------------------- child */

/* The handler spins, so samples land under libc's signal trampoline. */
__attribute__((noinline, noipa)) static void sig_handler(int sig, siginfo_t *info, void *uc)
{
	struct tracee_shared *sh = info->si_value.sival_ptr;

	(void)uc;
	sh->sink = workload_deep(sh, 3 + sig % 2);
}

/* Installs the handler and spins until the signal comes. */
__attribute__((noinline, noipa)) static uint64_t sig_parent(struct tracee_shared *sh)
{
	uint64_t x = 3;

	if (workload_on_signal(SIGUSR1, sig_handler) != 0)
		return 0;
	sh->ready = 3;
	while (!sh->stop)
		x = x * 2862933555777941757ULL + 3037000493ULL;
	return x;
}

/* pthread start routine: a short chain, then the leaf. */
__attribute__((noinline, noipa)) static void *thread_entry(void *arg)
{
	struct tracee_shared *sh = arg;

	sh->tid = (pid_t)syscall(SYS_gettid);
	return (void *)(uintptr_t)(workload_deep(sh, 4) + 1);
}

/* Creates the sampled thread and waits for it forever. */
__attribute__((noinline, noipa)) static uint64_t thread_parent(struct tracee_shared *sh)
{
	return workload_thread(sh, thread_entry);
}

/* A 150-level recursion over the spinning leaf. */
__attribute__((noinline, noipa)) static uint64_t deep_chain(struct tracee_shared *sh)
{
	return workload_deep(sh, 150);
}

/* --------------------------------------------------------------- parent */

/* Builds the maps and the two unwinders of a started target. */
static void target_open(struct target *t)
{
	tracee_view_open(&t->view, t->pid, 1);
	t->fast = t->view.unw;
	t->slow = tracee_unwinder(t->view.maps);
	unwind_set_fast_limit(t->slow, 0);
}

/* Rereads the maps (a program that mapped more since): both unwinders notice. */
static void target_reload(struct target *t)
{
	struct error err;

	if (maps_load(t->view.maps, &err) != 0)
		fail_msg("maps_load: %s", err.msg);
}

/* Forks a child running run. */
static void child_start(struct target *t, tracee_run_fn *run)
{
	memset(t, 0, sizeof(*t));
	t->pid = tracee_fork(&t->sh, run);
	assert_int_equal(tracee_wait(t->sh, run == sig_parent ? 3 : 1), 0);
	target_open(t);
}

/*
 * Starts argv and, with wait_line, waits for the first line it prints on
 * stdout ("ready"); without, gives it 100 ms (its stdout is /dev/null).
 * Returns -1 when the program is missing (a skipped test, not a failure).
 */
static int program_start(struct target *t, char *const argv[], int wait_line)
{
	int fds[2];
	char c;

	memset(t, 0, sizeof(*t));
	if (access(argv[0], X_OK) != 0)
		return -1;
	assert_int_equal(pipe(fds), 0);
	t->pid = fork();
	assert_true(t->pid >= 0);
	if (t->pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(wait_line ? fds[1] : null, 1);
		close(fds[0]);
		close(fds[1]);
		execv(argv[0], argv);
		_exit(127);
	}
	close(fds[1]);
	if (wait_line) {
		while (read(fds[0], &c, 1) == 1 && c != '\n')
			;
	} else {
		struct timespec pause = { 0, 100000000 };

		nanosleep(&pause, NULL);
	}
	close(fds[0]);
	target_open(t);
	return 0;
}

/* Kills the target and frees everything. */
static void target_stop(struct target *t)
{
	unwind_free(t->slow);
	tracee_view_close(&t->view);
	tracee_kill(t->pid, t->sh);
}

/* One ptrace-mode sample of thread tid; -1 when the thread is gone. */
static int capture_thread(struct target *t, pid_t tid, struct tracee_capture *cap)
{
	return tracee_sample(t->pid, tid, t->view.maps, cap);
}

/* Prints a stack with symbols. */
static void stack_print(struct target *t, const char *what, const uint64_t *pcs, size_t n,
			enum unwind_end end)
{
	static const char *ends[] = { "root", "truncated", "failed", "depth" };
	struct resolve_result res;

	print_message("%s: %zu frames, end %s\n", what, n, ends[end]);
	for (size_t i = 0; i < n; i++) {
		memset(&res, 0, sizeof(res));
		if (resolve_addr(t->view.maps, pcs[i], &res) != 0)
			res.module = "?";
		print_message("  #%-3zu %#014llx %s (%s)\n", i, (unsigned long long)pcs[i],
			      res.function ? res.function : "?", res.module ? res.module : "?");
	}
}

/*
 * Unwinds s with both unwinders (the fast one limited to limit frames) and
 * fails on any difference; returns how the stack ended.
 */
static enum unwind_end compare_one(struct target *t, const struct unwind_sample *s, size_t limit,
				   const char *what, struct tally *tl)
{
	uint64_t fast[MAX_FRAMES], slow[MAX_FRAMES];
	enum unwind_end fast_end, slow_end;
	struct unwind_stats before, after;
	size_t nf, ns;

	unwind_set_fast_limit(t->fast, limit);
	unwind_stats(t->fast, &before);
	nf = unwind_stack(t->fast, s, fast, MAX_FRAMES, &fast_end);
	unwind_stats(t->fast, &after);
	ns = unwind_stack(t->slow, s, slow, MAX_FRAMES, &slow_end);
	if (nf != ns || fast_end != slow_end || memcmp(fast, slow, nf * sizeof(fast[0])) != 0) {
		print_message("%s (stack copy %zu bytes, fast limit %zu):\n", what, s->stack_len,
			      limit);
		stack_print(t, "fast path", fast, nf, fast_end);
		stack_print(t, "libunwind", slow, ns, slow_end);
		fail_msg("the fast path and libunwind disagree");
	}
	if (tl != NULL) {
		tl->stacks++;
		tl->frames += nf;
		tl->handoffs += after.handoffs - before.handoffs;
		tl->roots += fast_end == UNWIND_END_ROOT;
		tl->truncated += fast_end == UNWIND_END_TRUNCATED;
	}
	unwind_set_fast_limit(t->fast, SIZE_MAX);
	return fast_end;
}

/*
 * The whole comparison for one capture: as captured, with libunwind taking
 * over after every number of fast frames, and with stack copies cut at
 * several lengths (every 8 bytes near the start, where prologue reads sit).
 */
static void compare_capture(struct target *t, struct tracee_capture *cap, const char *what,
			    struct tally *tl, int takeovers)
{
	size_t full = cap->s.stack_len;
	uint64_t pcs[MAX_FRAMES];
	enum unwind_end end;
	size_t n;

	compare_one(t, &cap->s, SIZE_MAX, what, tl);
	n = unwind_stack(t->slow, &cap->s, pcs, MAX_FRAMES, &end);
	for (size_t k = 1; takeovers && k < n; k++)
		compare_one(t, &cap->s, k, what, NULL);
	for (size_t len = 0; len < full; len = len < 256 ? len + 8 : len * 3 / 2 + 5) {
		cap->s.stack_len = len;
		end = compare_one(t, &cap->s, SIZE_MAX, what, NULL);
		if (tl != NULL) {
			tl->cuts++;
			tl->cuts_truncated += end == UNWIND_END_TRUNCATED;
		}
	}
	cap->s.stack_len = full;
}

/* Captures thread tid of t samples times, comparing each. */
static void compare_samples(struct target *t, pid_t tid, size_t samples, long gap_us,
			    const char *what, struct tally *tl, int takeovers)
{
	struct tracee_capture *cap = calloc(1, sizeof(*cap));
	struct timespec pause = { 0, gap_us * 1000 };

	assert_non_null(cap);
	for (size_t i = 0; i < samples; i++) {
		if (capture_thread(t, tid, cap) < 0)
			break;
		compare_capture(t, cap, what, tl, takeovers);
		nanosleep(&pause, NULL);
	}
	free(cap);
}

/* Prints what a comparison run covered. */
static void tally_print(const char *what, const struct tally *tl, const struct target *t)
{
	struct unwind_stats st;

	unwind_stats(t->fast, &st);
	print_message("%s: %zu stacks, %.1f frames each, %zu at the root, %zu truncated, %zu "
		      "taken over by libunwind; %zu shortened copies, %zu truncated; fast path: "
		      "%llu steps, %llu libunwind steps, rows %llu found, %llu computed\n",
		      what, tl->stacks, tl->stacks ? (double)tl->frames / (double)tl->stacks : 0.0,
		      tl->roots, tl->truncated, tl->handoffs, tl->cuts, tl->cuts_truncated,
		      (unsigned long long)st.fast_frames, (unsigned long long)st.libunwind_steps,
		      (unsigned long long)st.row_hits, (unsigned long long)st.row_misses);
}

/* Starts a child running run and compares samples of its main thread, as compare_samples. */
static void compare_child(struct target *t, tracee_run_fn *run, size_t samples, long gap_us,
			  const char *what, struct tally *tl, int takeovers)
{
	child_start(t, run);
	compare_samples(t, t->pid, samples, gap_us, what, tl, takeovers);
	tally_print(what, tl, t);
}

/* ---------------------------------------------------------------- rows */

/* A binary's path and whether it must have CFI (python3.11 may be absent). */
struct binary {
	const char *path;
	int optional;
};

/* Finds libc's path from our own link map. */
static int libc_path_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	if (strstr(info->dlpi_name, "/libc.so.6") != NULL) {
		snprintf(data, PATH_MAX, "%s", info->dlpi_name);
		return 1;
	}
	return 0;
}

/* True when libdw's location ops say "CFA + off". */
static int dw_is_cfa_offset(const Dwarf_Op *ops, size_t n, int64_t off)
{
	if (n == 1 && ops[0].atom == DW_OP_call_frame_cfa)
		return off == 0;
	return n == 2 && ops[0].atom == DW_OP_call_frame_cfa &&
	       (ops[1].atom == DW_OP_plus_uconst || ops[1].atom == DW_OP_consts) &&
	       (int64_t)ops[1].number == off;
}

/* Counts of one binary's comparison. */
struct row_counts {
	size_t pcs, ok, noinfo, unsupported, unexplained, mismatches;
	size_t entries, entries_plain;	/* FDE starts; with CFA = rsp + 8 */
};

/* True when libdw locates register reg by something other than CFA + offset, a register or nothing. */
static int dw_is_expression(Dwarf_Frame *fr, int reg)
{
	Dwarf_Op *ops, mem[3];
	size_t n;

	if (dwarf_frame_register(fr, reg, mem, &ops, &n) < 0)
		return 1;
	if (n == 0)
		return 0;
	if (n == 1 && (ops[0].atom == DW_OP_regx || (ops[0].atom >= DW_OP_reg0 && ops[0].atom <= DW_OP_reg31)))
		return 0;
	if (n == 1 && ops[0].atom == DW_OP_call_frame_cfa)
		return 0;
	return !(n == 2 && ops[0].atom == DW_OP_call_frame_cfa &&
		 (ops[1].atom == DW_OP_plus_uconst || ops[1].atom == DW_OP_consts));
}

/*
 * Compares our row with libdw's for one address.  CFA: the same register
 * and offset.  A register with an offset rule: the same offset; undefined:
 * libdw undefined too (or "same value" for the return address column,
 * which libdw reports so); a register without a rule: libdw must not
 * locate it in memory (it says undefined or same value by the ABI's
 * defaults).  A row we do not support must be one libdw cannot give as a
 * register plus an offset, or one with a rule for rsp (libdw's own rule
 * for it is the CFA as a value: anything else was in the CFI), or one
 * where a register is located by an expression; *unexplained is set
 * otherwise.
 */
static int row_matches(const struct cfi_row *row, Dwarf_Frame *fr, int *unexplained)
{
	Dwarf_Op *ops, mem[3];
	size_t n;

	*unexplained = 0;
	if (dwarf_frame_cfa(fr, &ops, &n) != 0)
		return row->status != CFI_OK;
	if (row->status != CFI_OK) {
		int plain = n == 1 && (ops[0].atom == DW_OP_bregx ||
				       (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31));
		int rsp_rule, expr = 0;

		if (!plain)
			return 1;
		rsp_rule = dwarf_frame_register(fr, REGS_DWARF_SP, mem, &ops, &n) < 0 ||
			   !(n == 2 && ops[0].atom == DW_OP_call_frame_cfa &&
			     ops[1].atom == DW_OP_stack_value);
		for (int reg = 0; reg < REGS_DWARF_COUNT; reg++)
			expr |= reg != REGS_DWARF_SP && dw_is_expression(fr, reg);
		*unexplained = !rsp_rule && !expr;
		return 1;
	}
	if (n != 1)
		return 0;
	if (!((ops[0].atom == DW_OP_breg0 + row->cfa_reg && (int64_t)ops[0].number == row->cfa_off) ||
	      (ops[0].atom == DW_OP_bregx && ops[0].number == row->cfa_reg &&
	       (int64_t)ops[0].number2 == row->cfa_off)))
		return 0;
	for (int reg = 0; reg < REGS_DWARF_COUNT; reg++) {
		const struct cfi_rule *rule = NULL;

		if (reg == REGS_DWARF_SP)
			continue;	/* libdw: the CFA as a value */
		for (unsigned i = 0; i < row->nrules; i++)
			if (row->rules[i].reg == reg)
				rule = &row->rules[i];
		if (dwarf_frame_register(fr, reg, mem, &ops, &n) < 0)
			return 0;
		if (rule == NULL) {
			if (n != 0)
				return 0;
		} else if (rule->how == CFI_UNDEFINED) {
			if (n != 0 || (ops != NULL && reg != REGS_DWARF_IP))
				return 0;
		} else if (rule->how == CFI_OFFSET) {
			if (!dw_is_cfa_offset(ops, n, rule->arg))
				return 0;
		} else if (rule->how == CFI_REGISTER) {
			if (!(n == 1 && (ops[0].atom == DW_OP_regx ? ops[0].number == (Dwarf_Word)rule->arg
								  : ops[0].atom == DW_OP_reg0 + rule->arg)))
				return 0;
		}
	}
	return 1;
}

/* True when vaddr lies in one of img's PLT sections (stubs, not functions). */
static int in_plt(const struct elf_image *img, uint64_t vaddr)
{
	static const char *names[] = { ".plt", ".plt.sec", ".plt.got" };
	const uint8_t *data;
	uint64_t start;
	size_t size;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (elf_image_section(img, names[i], &start, &data, &size) == 0 &&
		    vaddr - start < size)
			return 1;
	}
	return 0;
}

/*
 * Checks the rows of one binary against libdw: for each FDE of the search
 * table, every address of its first 192 bytes and a few spread over the
 * rest.  Also: at an FDE's first byte the return address is at CFA - 8
 * (or undefined, for the outermost functions), and the CFA is rsp + 8 but
 * for the cold parts GCC splits off functions, which start mid-frame.
 */
static void rows_check(const char *path, struct row_counts *c)
{
	struct cfi_table t;
	struct cfi_row row;
	struct elf_image *img;
	struct error err;
	Dwarf_CFI *cfi;
	Elf *elf;
	int fd;

	memset(c, 0, sizeof(*c));
	img = elf_image_open(path, &err);
	if (img == NULL)
		fail_msg("%s: %s", path, err.msg);
	cfi_table_load(&t, img);
	assert_true(t.fde_count > 0);
	assert_true(t.frame_size > 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ, NULL);
	assert_non_null(elf);
	cfi = dwarf_getcfi_elf(elf);
	assert_non_null(cfi);
	for (uint64_t i = 0; i < t.fde_count; i++) {
		const uint8_t *e = t.hdr_data + (t.table_vaddr - t.hdr_vaddr) + i * 8;
		uint64_t lo, hi, pc;
		int32_t start, next;

		memcpy(&start, e, 4);
		lo = t.hdr_vaddr + (uint64_t)(int64_t)start;
		hi = lo + 4096;
		if (i + 1 < t.fde_count) {
			memcpy(&next, e + 8, 4);
			hi = t.hdr_vaddr + (uint64_t)(int64_t)next;
		}
		cfi_row_find(&t, img, lo, &row);
		if (row.status == CFI_OK && !in_plt(img, lo)) {
			int ra_ok = 0;

			for (unsigned k = 0; k < row.nrules; k++) {
				const struct cfi_rule *r = &row.rules[k];

				if (r->reg == REGS_DWARF_IP)
					ra_ok = (r->how == CFI_OFFSET && r->arg == -8) ||
						r->how == CFI_UNDEFINED;
			}
			if (!ra_ok)
				fail_msg("%s: unexpected row at function entry %#llx", path,
					 (unsigned long long)lo);
			c->entries++;
			c->entries_plain += row.cfa_reg == REGS_DWARF_SP && row.cfa_off == 8;
		}
		for (pc = lo; pc < hi; pc += pc - lo < 192 ? 1 : 61) {
			Dwarf_Frame *fr = NULL;
			int unexplained, dr;

			c->pcs++;
			cfi_row_find(&t, img, pc, &row);
			dr = dwarf_cfi_addrframe(cfi, pc, &fr);
			if (row.status == CFI_NOINFO) {
				c->noinfo++;
				/* libdw finds nothing either, or a row of another FDE's range end. */
				if (dr == 0) {
					Dwarf_Addr s, e2;
					bool sig;

					dwarf_frame_info(fr, &s, &e2, &sig);
					if (pc >= s && pc < e2) {
						c->mismatches++;
						if (c->mismatches < 5)
							print_message("%s: %#llx: no FDE, libdw has one\n",
								      path, (unsigned long long)pc);
					}
				}
				free(fr);
				continue;
			}
			if (dr != 0) {
				c->mismatches++;
				if (c->mismatches < 5)
					print_message("%s: %#llx: libdw: %s\n", path,
						      (unsigned long long)pc, dwarf_errmsg(-1));
				continue;
			}
			if (!row_matches(&row, fr, &unexplained)) {
				c->mismatches++;
				if (c->mismatches < 5)
					print_message("%s: %#llx: rows differ\n", path,
						      (unsigned long long)pc);
			} else if (row.status == CFI_OK) {
				c->ok++;
			} else {
				c->unsupported++;
				c->unexplained += unexplained;
				if (unexplained && c->unexplained < 5)
					print_message("%s: %#llx: unsupported, but libdw has a plain row\n",
						      path, (unsigned long long)pc);
			}
			free(fr);
		}
	}
	dwarf_cfi_end(cfi);
	elf_end(elf);
	close(fd);
	elf_image_free(img);
}

/* Rows of libc, ld.so, xz, python3.11 and this test agree with libdw's. */
static void test_rows_vs_libdw(void **state)
{
	char libc[PATH_MAX] = "";
	struct binary bins[] = {
		{ libc, 0 },
		{ "/proc/self/exe", 0 },
		{ "/lib64/ld-linux-x86-64.so.2", 0 },
		{ XZ, 1 },
		{ PY, 1 },
	};
	struct row_counts c;

	(void)state;
	dl_iterate_phdr(libc_path_cb, libc);
	assert_true(libc[0] != '\0');
	for (size_t i = 0; i < sizeof(bins) / sizeof(bins[0]); i++) {
		if (bins[i].optional && access(bins[i].path, R_OK) != 0) {
			print_message("%s: absent, skipped\n", bins[i].path);
			continue;
		}
		rows_check(bins[i].path, &c);
		print_message("%s: %zu addresses: %zu rows, %zu without FDE, %zu unsupported "
			      "(%zu unexplained), %zu mismatches; %zu of %zu FDEs start at rsp+8\n",
			      bins[i].path, c.pcs, c.ok, c.noinfo, c.unsupported, c.unexplained,
			      c.mismatches, c.entries_plain, c.entries);
		assert_int_equal(c.mismatches, 0);
		assert_true(c.entries_plain > c.entries / 2);
		/* Rows are the rule, not the exception. */
		assert_true(c.ok > c.pcs * 9 / 10);
		assert_int_equal(c.unexplained, 0);
	}
}

/* The cache gives cfi_row_find's rows, stays within its size, and forgets on clear. */
static void test_row_cache(void **state)
{
	char libc[PATH_MAX] = "";
	struct cfi_cache_stats cs;
	struct cfi_row row;
	struct cfi_table t;
	struct elf_image *img;
	struct cfi_cache *c;
	struct error err;
	uint64_t lo, hi, off;
	int32_t v;

	(void)state;
	dl_iterate_phdr(libc_path_cb, libc);
	img = elf_image_open(libc, &err);
	assert_non_null(img);
	cfi_table_load(&t, img);
	memcpy(&v, t.hdr_data + (t.table_vaddr - t.hdr_vaddr), 4);
	lo = t.hdr_vaddr + (uint64_t)(int64_t)v;
	memcpy(&v, t.hdr_data + (t.table_vaddr - t.hdr_vaddr) + (t.fde_count - 1) * 8, 4);
	hi = t.hdr_vaddr + (uint64_t)(int64_t)v;
	assert_true(hi - lo > 100000);

	/* libc's text: file offsets are image addresses there (checked). */
	assert_int_equal(elf_image_offset_to_vaddr(img, lo, &off), 0);
	assert_int_equal(off, lo);
	c = cfi_cache_new(256);
	for (int round = 0; round < 2; round++) {
		for (uint64_t pc = lo; pc < hi; pc += 97) {
			const struct cfi_row *r = cfi_cache_row(c, &t, img, pc);

			cfi_row_find(&t, img, pc, &row);
			assert_memory_equal(r, &row, sizeof(row));
		}
	}
	cfi_cache_stats(c, &cs);
	assert_true(cs.evictions > 0);
	assert_true(cs.misses > (hi - lo) / 97);
	cfi_cache_free(c);
	cfi_cache_free(NULL);

	/* One set of four: four rows stay, a fifth evicts one, clear forgets all. */
	c = cfi_cache_new(4);
	for (int round = 0; round < 3; round++) {
		for (uint64_t pc = lo; pc < lo + 4; pc++)
			cfi_cache_row(c, &t, img, pc);
	}
	cfi_cache_stats(c, &cs);
	assert_int_equal(cs.misses, 4);
	assert_int_equal(cs.hits, 8);
	assert_int_equal(cs.evictions, 0);
	cfi_cache_row(c, &t, img, lo + 4);
	cfi_cache_stats(c, &cs);
	assert_int_equal(cs.evictions, 1);
	cfi_cache_clear(c);
	for (uint64_t pc = lo; pc < lo + 4; pc++)
		cfi_cache_row(c, &t, img, pc);
	cfi_cache_stats(c, &cs);
	assert_int_equal(cs.misses, 9);
	assert_int_equal(cs.evictions, 1);
	cfi_cache_free(c);

	/* Outside any FDE: no information; outside the file's segments too. */
	cfi_row_find(&t, img, 0, &row);
	assert_int_equal(row.status, CFI_NOINFO);
	c = cfi_cache_new(16);
	assert_int_equal(cfi_cache_row(c, &t, img, UINT64_MAX / 2)->status, CFI_NOINFO);
	cfi_cache_free(c);
	elf_image_free(img);
}

/* ----------------------------------------------------- fast vs libunwind */

/* A 150-level recursion: all fast, no libunwind step, the same frames. */
static void test_same_deep(void **state)
{
	struct tally tl = { 0 };
	struct unwind_stats st;
	struct target t;

	(void)state;
	compare_child(&t, deep_chain, 5, 1000, "deep recursion", &tl, 1);
	assert_int_equal(tl.roots, tl.stacks);
	assert_true(tl.frames >= 150 * tl.stacks);
	/* Shortened copies end in truncation (bar the shortest: no CFA at all). */
	assert_true(tl.cuts_truncated > tl.cuts * 9 / 10);

	/* Unlimited, the fast path needs libunwind for nothing here. */
	unwind_stats(t.fast, &st);
	{
		struct tracee_capture *cap = calloc(1, sizeof(*cap));
		struct unwind_stats st2;
		uint64_t pcs[MAX_FRAMES];
		enum unwind_end end;

		assert_non_null(cap);
		assert_int_equal(capture_thread(&t, t.pid, cap), 0);
		unwind_stack(t.fast, &cap->s, pcs, MAX_FRAMES, &end);
		unwind_stats(t.fast, &st2);
		assert_int_equal(end, UNWIND_END_ROOT);
		assert_int_equal(st2.libunwind_steps, st.libunwind_steps);
		assert_int_equal(st2.handoffs, st.handoffs);
		free(cap);
	}
	target_stop(&t);
}

/* A callback under libc's qsort, a pthread, a signal handler, JIT code. */
static void test_same_children(void **state)
{
	static const struct {
		tracee_run_fn *run;
		const char *name;
	} kinds[] = {
		{ workload_qsort, "qsort callback" },
		{ thread_parent, "thread" },
		{ sig_parent, "signal handler" },
		{ workload_jit, "code without CFI" },
	};

	(void)state;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct tally tl = { 0 };
		struct target t;
		pid_t tid;

		child_start(&t, kinds[k].run);
		tid = t.pid;
		if (kinds[k].run == thread_parent) {
			assert_int_equal(tracee_wait(t.sh, 1), 0);
			tid = t.sh->tid;
		}
		if (kinds[k].run == sig_parent) {
			union sigval v = { .sival_ptr = t.sh };

			t.sh->ready = 0;
			assert_int_equal(sigqueue(t.pid, SIGUSR1, v), 0);
			assert_int_equal(tracee_wait(t.sh, 1), 0);
		}
		compare_samples(&t, tid, 4, 2000, kinds[k].name, &tl, 1);
		tally_print(kinds[k].name, &tl, &t);
		assert_true(tl.stacks == 4);
		/* The trampoline and JIT code are libunwind's, the rest is ours. */
		if (kinds[k].run == sig_parent || kinds[k].run == workload_jit)
			assert_true(tl.handoffs > 0);
		else
			assert_int_equal(tl.handoffs, 0);
		target_stop(&t);
	}
}

/* Many samples of varied libc work, including the vdso and malloc. */
static void test_same_busy(void **state)
{
	struct tally tl = { 0 };
	struct target t;

	(void)state;
	compare_child(&t, workload_busy, 300, 700, "busy", &tl, 0);
	assert_int_equal(tl.roots, tl.stacks);
	target_stop(&t);
}

/* Every instruction of a loop of calls, PLT stubs and epilogues: the same stack at each. */
static void test_same_every_instruction(void **state)
{
	struct tracee_capture *cap = calloc(1, sizeof(*cap));
	struct tally tl = { 0 };
	const size_t steps = 1200;
	struct target t;
	int status;

	(void)state;
	assert_non_null(cap);
	child_start(&t, workload_step_loop);
	assert_int_equal(tracee_stop(t.pid), 0);
	for (size_t i = 0; i < steps; i++) {
		tracee_read(t.pid, t.pid, t.view.maps, cap);
		compare_capture(&t, cap, "single-stepped", &tl, 1);
		assert_int_equal(ptrace(PTRACE_SINGLESTEP, t.pid, 0, 0), 0);
		assert_int_equal(waitpid(t.pid, &status, __WALL), t.pid);
		assert_true(WIFSTOPPED(status) && WSTOPSIG(status) == SIGTRAP);
	}
	assert_int_equal(ptrace(PTRACE_DETACH, t.pid, 0, 0), 0);
	tally_print("every instruction", &tl, &t);
	assert_int_equal(tl.roots, tl.stacks);
	/* PLT stubs go to libunwind; most instructions do not. */
	assert_true(tl.handoffs > 0 && tl.handoffs < tl.stacks / 2);
	target_stop(&t);
	free(cap);
}

/* Writes a Python script that recurses, calls back from C, and does json/re/sort work. */
static void python_script(char *path, size_t size)
{
	static const char script[] =
		"import json, re, sys, functools\n"
		"sys.setrecursionlimit(10000)\n"
		"def rec(n):\n"
		"    if n == 0:\n"
		"        work()\n"
		"        return 0\n"
		"    return rec(n - 1) + 1\n"
		"def rec_c(n):\n"
		"    if n == 0:\n"
		"        return work()\n"
		"    return sum(map(rec_c, [n - 1]))\n"
		"def work():\n"
		"    d = [{'k': i, 's': 'x%d' % i} for i in range(300)]\n"
		"    s = json.dumps(d)\n"
		"    re.findall(r'x(\\d+)7', s)\n"
		"    d.sort(key=lambda e: -e['k'])\n"
		"    return len(json.loads(s)) + functools.reduce(lambda a, b: a + b, range(200))\n"
		"print('ready', flush=True)\n"
		"while True:\n"
		"    rec(40)\n"
		"    rec_c(25)\n";
	int fd;

	snprintf(path, size, "/tmp/test_cfi.%d.py", (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, sizeof(script) - 1), (ssize_t)(sizeof(script) - 1));
	close(fd);
}

/* python3.11 running Python code: the interpreter, libc, libm, extension modules. */
static void test_same_python(void **state)
{
	char path[64];
	char *argv[] = { PY, path, NULL };
	struct tally tl = { 0 };
	struct target t;

	(void)state;
	python_script(path, sizeof(path));
	if (program_start(&t, argv, 1) < 0) {
		unlink(path);
		skip();
	}
	/* Modules imported after the start: the maps as they are now. */
	target_reload(&t);
	compare_samples(&t, t.pid, 150, 3000, "python3.11", &tl, 0);
	tally_print("python3.11", &tl, &t);
	assert_true(tl.stacks == 150);
	assert_true(tl.frames > 20 * tl.stacks);
	assert_true(tl.roots > tl.stacks * 9 / 10);
	/* A handful of samples in PLT stubs or signal frames at most. */
	assert_true(tl.handoffs < tl.stacks / 10);
	/* And a few with libunwind taking over at every depth. */
	compare_samples(&t, t.pid, 6, 5000, "python3.11", NULL, 1);
	target_stop(&t);
	unlink(path);
}

/* xz compressing: liblzma's hand-tuned code under xz's threads. */
static void test_same_xz(void **state)
{
	char path[64], *argv[] = { XZ, "-9", "-T1", "-c", path, NULL };
	struct tally tl = { 0 };
	struct target t;
	FILE *f;

	(void)state;
	if (access(XZ, X_OK) != 0)
		skip();
	snprintf(path, sizeof(path), "/tmp/test_cfi.%d.txt", (int)getpid());
	f = fopen(path, "w");
	assert_non_null(f);
	for (unsigned i = 0, x = 1; i < 200000; i++) {
		x = x * 1103515245 + 12345;
		fprintf(f, "%u word%u %s\n", x % 1000, (x >> 8) % 5000, (x & 64) ? "alpha" : "beta");
	}
	fclose(f);
	assert_int_equal(program_start(&t, argv, 0), 0);
	target_reload(&t);
	compare_samples(&t, t.pid, 60, 5000, "xz", &tl, 0);
	tally_print("xz", &tl, &t);
	assert_true(tl.stacks > 10);
	target_stop(&t);
	unlink(path);
}

/*
 * Nonsense: real IPs over stacks of noise, of a real stack with words
 * flipped, registers of noise.  Whatever the two unwinders make of it, they
 * make the same.
 */
static void test_same_garbage(void **state)
{
	struct tracee_capture *cap = calloc(1, sizeof(*cap)), *orig = calloc(1, sizeof(*orig));
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	struct target t;

	(void)state;
	assert_non_null(cap);
	assert_non_null(orig);
	child_start(&t, deep_chain);
	assert_int_equal(capture_thread(&t, t.pid, orig), 0);
	for (int i = 0; i < 300; i++) {
		uint64_t w;

		*cap = *orig;
		cap->s.stack = cap->stack;
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		if (i % 3 == 0) {
			noise_fill(cap->stack, cap->s.stack_len, seed);
		} else if (i % 3 == 1) {
			/* A few words of the real stack replaced. */
			for (int k = 0; k < 4; k++) {
				size_t at = (size_t)((seed >> (k * 12)) % (cap->s.stack_len / 8)) * 8;

				noise_fill((uint8_t *)&w, 8, seed + (uint64_t)k);
				memcpy(cap->stack + at, &w, 8);
			}
		} else {
			noise_fill((uint8_t *)cap->s.regs, sizeof(cap->s.regs), seed);
			cap->s.regs[REGS_IP] = orig->s.regs[REGS_IP];
			cap->s.regs[REGS_SP] = orig->s.regs[REGS_SP];
		}
		compare_one(&t, &cap->s, SIZE_MAX, "garbage", NULL);
		compare_one(&t, &cap->s, 2, "garbage", NULL);
	}
	target_stop(&t);
	free(cap);
	free(orig);
}

/* Best of several timed batches of n unwinds of one capture, in microseconds per unwind. */
static double bench_unwinder(struct unwinder *u, const struct tracee_capture *cap, int n)
{
	uint64_t pcs[MAX_FRAMES];
	enum unwind_end end;
	double best = 1e9;

	for (int b = 0; b < 5; b++) {
		struct timespec t0;
		double us;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (int i = 0; i < n; i++)
			unwind_stack(u, &cap->s, pcs, MAX_FRAMES, &end);
		us = stopwatch_usec_since(&t0) / n;
		if (us < best)
			best = us;
	}
	return best;
}

/* The point of it all: a warm deep unwind costs a fraction of libunwind's. */
static void test_bench(void **state)
{
	struct tracee_capture *cap = calloc(1, sizeof(*cap));
	uint64_t pcs[MAX_FRAMES];
	enum unwind_end end;
	double fast, slow;
	struct target t;
	size_t n;

	(void)state;
	assert_non_null(cap);
	child_start(&t, deep_chain);
	assert_int_equal(capture_thread(&t, t.pid, cap), 0);
	kill(t.pid, SIGSTOP);
	n = unwind_stack(t.fast, &cap->s, pcs, MAX_FRAMES, &end);
	assert_int_equal(end, UNWIND_END_ROOT);
	fast = bench_unwinder(t.fast, cap, 2000);
	slow = bench_unwinder(t.slow, cap, 100);
	print_message("warm unwind of %zu frames: fast path %.2f us (%.1f ns a frame), "
		      "libunwind %.2f us\n", n, fast, fast * 1000 / (double)n, slow);
	assert_true(fast * 5 < slow);
	target_stop(&t);
	free(cap);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_vs_libdw),
		cmocka_unit_test(test_row_cache),
		cmocka_unit_test(test_same_deep),
		cmocka_unit_test(test_same_children),
		cmocka_unit_test(test_same_busy),
		cmocka_unit_test(test_same_every_instruction),
		cmocka_unit_test(test_same_python),
		cmocka_unit_test(test_same_xz),
		cmocka_unit_test(test_same_garbage),
		cmocka_unit_test(test_bench),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
