/*
 * What symbolization costs the daemon, measured on this machine's own big
 * files with the daemon's own code (linked from libdaemon.a):
 *  - first touch of an ELF file: opening it (map, headers), its symbol
 *    table (read, sort, separate debug file looked for), the first resolve
 *    of an address (name, demangled on first use) and, with lines, the
 *    first inline-chain lookup, which opens its DWARF (from the file or
 *    its debug file).  Each run happens in a fresh child process, so no
 *    cache, heap or libdw state of an earlier run helps; the file is read
 *    once beforehand so that the page cache, not the disk, serves it;
 *  - per frame once the file is open, over N random addresses inside
 *    functions: the first lookup of each address (what the daemon pays for
 *    a code address it has not seen before; with lines that includes
 *    reading the DWARF of the address's compilation unit the first time
 *    one of its addresses is asked for), the first lookup of the address
 *    one byte on (new to the caches, its compilation unit already read),
 *    and repeated lookups (the per-image caches answer);
 *  - the daemon's address cache (frames.c), on libc in this process: a new
 *    address (symbolized, its frames interned in a tree) and a known one.
 * Each measurement is done without lines (symbol tables only, as with
 * sampled attach --no-lines) and with them.  One JSON object per
 * measurement goes to standard output.
 *
 * usage: symcost [-n ADDRESSES] [-r RUNS] [FILE...]
 *   Without FILEs: libLLVM-14 when installed, else the largest of
 *   libpython3.11, python3.11 and libc; then libc (with its separate DWARF
 *   when libc6-dbg is installed).  tests/bench/symcost.sh builds it.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "error.h"
#include "profile/frames.h"
#include "profile/tree.h"
#include "symbols/elf_image.h"
#include "symbols/maps.h"
#include "symbols/resolve.h"
#include "symbols/symtab.h"

#define SYMCOST_MAX_FILES 8
#define SYMCOST_MAX_RUNS 31
/* Repeated lookups per warm measurement, over all addresses together. */
#define SYMCOST_WARM_LOOKUPS 2000000u

/* One first-touch run, as the child reports it to the parent. */
struct symcost_touch {
	double open_ms, symtab_ms, resolve_ms, lines_ms;
	long rss_kib;		/* resident memory the run added */
	size_t symbols;
	int found;		/* the first address had a name */
	int dwarf, debug_file;	/* looked at after the timing */
	int ok;
};

/* The settings every measurement shares. */
struct symcost_opts {
	size_t addresses;
	int runs;
};

/* Monotonic milliseconds, for the timings. */
static double symcost_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Resident memory of this process in KiB, from /proc/self/statm. */
static long symcost_rss_kib(void)
{
	long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f == NULL)
		return 0;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = 0;
	fclose(f);
	return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

/* A step of a fixed pseudo-random sequence, so runs pick the same addresses. */
static uint64_t symcost_rand(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return *seed >> 17;
}

/* Reads the whole file once, so that the timed runs find it in the page cache. */
static int symcost_preread(const char *path, off_t *size)
{
	static char buf[1 << 16];
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	if (fstat(fd, &st) != 0) {
		close(fd);
		return -1;
	}
	*size = st.st_size;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	close(fd);
	return n < 0 ? -1 : 0;
}

/* Prints s as a JSON string (the paths and names printed here need little). */
static void symcost_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			printf("\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			printf("\\u%04x", (unsigned char)*s);
		else
			putchar(*s);
	}
	putchar('"');
}

/*
 * The first touch of path, timed step by step, resolving probe (an ELF
 * virtual address inside a named function); runs in a child.
 */
static void symcost_touch_once(const char *path, int lines, uint64_t probe,
			       struct symcost_touch *out)
{
	struct elf_cache *cache = elf_cache_new();
	struct symtab_line chain[FRAMES_MAX_INLINE];
	struct error err = { 0 };
	struct elf_image *img;
	const struct symtab *tab;
	uint64_t start;
	long rss0 = symcost_rss_kib();
	double t0, t1, t2, t3, t4;

	memset(out, 0, sizeof(*out));
	t0 = symcost_now_ms();
	img = elf_cache_get(cache, path, path, 0, 0, &err);
	if (img == NULL) {
		fprintf(stderr, "symcost: %s: %s\n", path, err.msg);
		goto out;
	}
	t1 = symcost_now_ms();
	tab = symtab_get(img);
	t2 = symcost_now_ms();
	out->found = symtab_lookup(tab, probe, &start) != NULL;
	t3 = symcost_now_ms();
	if (lines)
		(void)symtab_lookup_inline(img, probe, chain, FRAMES_MAX_INLINE);
	t4 = symcost_now_ms();
	out->rss_kib = symcost_rss_kib() - rss0;
	out->open_ms = t1 - t0;
	out->symtab_ms = t2 - t1;
	out->resolve_ms = t3 - t2;
	out->lines_ms = t4 - t3;
	out->symbols = symtab_count(tab);
	out->dwarf = elf_image_dwarf(img) != NULL;
	out->debug_file = elf_image_debug_file(img) != NULL;
	out->ok = 1;
out:
	elf_cache_free(cache);
}

/* Runs symcost_touch_once in a fresh child process; 0 when it reported. */
static int symcost_touch_child(const char *path, int lines, uint64_t probe,
			       struct symcost_touch *out)
{
	int fds[2], status, rc = -1;
	ssize_t n;
	pid_t pid;

	if (pipe(fds) != 0)
		return -1;
	fflush(stdout);
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		close(fds[0]);
		symcost_touch_once(path, lines, probe, out);
		n = write(fds[1], out, sizeof(*out));
		_exit(n == (ssize_t)sizeof(*out) ? 0 : 1);
	}
	close(fds[1]);
	n = read(fds[0], out, sizeof(*out));
	close(fds[0]);
	if (waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    n == (ssize_t)sizeof(*out) && out->ok)
		rc = 0;
	return rc;
}

/* qsort order for doubles. */
static int symcost_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* The median of n values (sorts them). */
static double symcost_median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), symcost_cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/*
 * First touch of path, runs times with and without lines; medians printed.
 * probe is an address inside a named function (symcost_probe).
 */
static void symcost_first_touch(const char *path, off_t size, uint64_t probe,
				const struct symcost_opts *o)
{
	for (int lines = 0; lines <= 1; lines++) {
		double open[SYMCOST_MAX_RUNS], sym[SYMCOST_MAX_RUNS], res[SYMCOST_MAX_RUNS];
		double dw[SYMCOST_MAX_RUNS], total[SYMCOST_MAX_RUNS], rss[SYMCOST_MAX_RUNS];
		struct symcost_touch t = { 0 }, run;
		double total_min;
		int n = 0;

		for (int r = 0; r < o->runs; r++) {
			if (symcost_touch_child(path, lines, probe, &run) != 0)
				continue;
			t = run;
			open[n] = t.open_ms;
			sym[n] = t.symtab_ms;
			res[n] = t.resolve_ms;
			dw[n] = t.lines_ms;
			total[n] = t.open_ms + t.symtab_ms + t.resolve_ms + t.lines_ms;
			rss[n] = (double)t.rss_kib;
			n++;
		}
		if (n == 0) {
			fprintf(stderr, "symcost: %s: every first-touch run failed\n", path);
			return;
		}
		qsort(total, (size_t)n, sizeof(*total), symcost_cmp_double);
		total_min = total[0];
		printf("{\"bench\":\"symcost\",\"measure\":\"first_touch\",\"file\":");
		symcost_json_string(path);
		printf(",\"size_mib\":%.1f,\"lines\":%s,\"symbols\":%zu,\"debug_file\":%s,"
		       "\"dwarf\":%s,\"named\":%s,\"runs\":%d,\"open_ms\":%.3f,\"symtab_ms\":%.3f,"
		       "\"resolve_ms\":%.3f,\"lines_ms\":%.3f,\"total_ms\":%.3f,"
		       "\"total_min_ms\":%.3f,\"rss_mib\":%.1f}\n",
		       (double)size / (1 << 20), lines ? "true" : "false", t.symbols,
		       t.debug_file ? "true" : "false", t.dwarf ? "true" : "false",
		       t.found ? "true" : "false", n,
		       symcost_median(open, n), symcost_median(sym, n), symcost_median(res, n),
		       symcost_median(dw, n), symcost_median(total, n), total_min,
		       symcost_median(rss, n) / 1024);
	}
}

/*
 * Up to max addresses drawn at random from [lo, lo + len), keeping those
 * named(ctx, addr) finds inside a named function.
 */
static size_t symcost_pick(uint64_t lo, uint64_t len, uint64_t *out, size_t max,
			   int (*named)(void *ctx, uint64_t addr), void *ctx)
{
	uint64_t seed = 12345;
	size_t n = 0;

	for (size_t tries = 0; n < max && tries < max * 100 && len > 0; tries++) {
		uint64_t a = lo + symcost_rand(&seed) % len;

		if (named(ctx, a))
			out[n++] = a;
	}
	return n;
}

/* Whether vaddr lies in a function the symbol table ctx names. */
static int symcost_named_vaddr(void *ctx, uint64_t vaddr)
{
	uint64_t start;

	return symtab_lookup(ctx, vaddr, &start) != NULL;
}

/*
 * Prints one per-frame measurement; with_lines (addresses DWARF placed) is
 * left out when negative, depth is frames per address.
 */
static void symcost_print_frame(const char *measure, const char *path, int lines, size_t n,
				long with_lines, double depth, const char *unit, double value)
{
	printf("{\"bench\":\"symcost\",\"measure\":\"%s\",\"file\":", measure);
	symcost_json_string(path);
	printf(",\"lines\":%s,\"addresses\":%zu", lines ? "true" : "false", n);
	if (with_lines >= 0)
		printf(",\"with_lines\":%ld", with_lines);
	printf(",\"mean_depth\":%.2f,\"%s\":%.*f}\n", depth, unit,
	       strcmp(unit, "ns_per_frame") == 0 ? 1 : 2, value);
}

/*
 * symtab per frame on an open image: each address's first lookup (cold),
 * then every address again and again (warm), without and with lines.
 */
static void symcost_per_frame(const char *path, const struct symcost_opts *o)
{
	uint64_t *addrs = calloc(o->addresses, sizeof(*addrs));

	if (addrs == NULL)
		return;
	for (int lines = 0; lines <= 1; lines++) {
		struct elf_cache *cache = elf_cache_new();
		struct symtab_line chain[FRAMES_MAX_INLINE];
		struct error err = { 0 };
		volatile uint64_t sink = 0;
		struct elf_image *img;
		const struct symtab *tab;
		const uint8_t *text;
		uint64_t tv, start;
		size_t ts, n, with = 0, depth = 0, reps;
		double t0, t1, t2, t3;

		img = elf_cache_get(cache, path, path, 0, 0, &err);
		if (img == NULL || elf_image_section(img, ".text", &tv, &text, &ts) != 0) {
			elf_cache_free(cache);
			continue;
		}
		tab = symtab_get(img);
		n = symcost_pick(tv, ts, addrs, o->addresses, symcost_named_vaddr, (void *)tab);
		if (n == 0) {
			elf_cache_free(cache);
			continue;
		}
		/* The image's first inline lookup opens DWARF: first touch, not per frame. */
		if (lines)
			(void)symtab_lookup_inline(img, tv, chain, FRAMES_MAX_INLINE);
		t0 = symcost_now_ms();
		for (size_t i = 0; i < n; i++) {
			size_t k = 0;

			sink += (uintptr_t)symtab_lookup(tab, addrs[i], &start);
			if (lines)
				k = symtab_lookup_inline(img, addrs[i], chain, FRAMES_MAX_INLINE);
			with += k > 0;
			depth += k > 0 ? k : 1;	/* the frames the daemon would make */
		}
		t1 = symcost_now_ms();
		/* New addresses again, one byte on: their CUs and line tables are read. */
		for (size_t i = 0; i < n; i++) {
			sink += (uintptr_t)symtab_lookup(tab, addrs[i] + 1, &start);
			if (lines)
				sink += symtab_lookup_inline(img, addrs[i] + 1, chain,
							     FRAMES_MAX_INLINE);
		}
		t2 = symcost_now_ms();
		reps = SYMCOST_WARM_LOOKUPS / n + 1;
		for (size_t r = 0; r < reps; r++) {
			for (size_t i = 0; i < n; i++) {
				sink += (uintptr_t)symtab_lookup(tab, addrs[i], &start);
				if (lines)
					sink += symtab_lookup_inline(img, addrs[i], chain,
								     FRAMES_MAX_INLINE);
			}
		}
		t3 = symcost_now_ms();
		symcost_print_frame("frame_cold", path, lines, n, (long)with,
				    (double)depth / (double)n, "us_per_frame",
				    (t1 - t0) * 1e3 / (double)n);
		symcost_print_frame("frame_near", path, lines, n, (long)with,
				    (double)depth / (double)n, "us_per_frame",
				    (t2 - t1) * 1e3 / (double)n);
		symcost_print_frame("frame_warm", path, lines, n, (long)with,
				    (double)depth / (double)n, "ns_per_frame",
				    (t3 - t2) * 1e6 / ((double)n * (double)reps));
		elf_cache_free(cache);
	}
	free(addrs);
}

/* Whether addr, in the process ctx models, lies in a named function. */
static int symcost_named_target(void *ctx, uint64_t addr)
{
	struct resolve_result r;

	return resolve_addr(ctx, addr, &r) == 0 && r.function != NULL;
}

/*
 * The daemon's address cache on libc as mapped in this process: frames_ids
 * for addresses it has not seen (symbolize, intern the frames) and for
 * addresses it has (a hash probe), without and with lines.
 */
static void symcost_frames(const struct symcost_opts *o)
{
	uint64_t *addrs = calloc(o->addresses, sizeof(*addrs));

	if (addrs == NULL)
		return;
	for (int lines = 0; lines <= 1; lines++) {
		struct elf_cache *cache = elf_cache_new();
		struct maps *maps = maps_new(getpid(), cache);
		struct tree *tree = tree_new();
		struct frames *f = frames_new(maps, tree);
		const struct maps_entry *libc = NULL;
		struct error err = { 0 };
		volatile uint64_t sink = 0;
		const uint32_t *ids;
		size_t n = 0, frames = 0, reps;
		double t0, t1, t2;

		frames_set_lines(f, lines);
		if (maps_load(maps, &err) < 0) {
			fprintf(stderr, "symcost: our maps: %s\n", err.msg);
			goto next;
		}
		for (size_t i = 0; libc == NULL && maps_at(maps, i) != NULL; i++) {
			const struct maps_entry *e = maps_at(maps, i);

			if ((e->prot & MAPS_PROT_EXEC) && e->image != NULL &&
			    strcmp(e->name, "libc.so.6") == 0)
				libc = e;
		}
		if (libc == NULL) {
			fprintf(stderr, "symcost: libc not found in our maps\n");
			goto next;
		}
		n = symcost_pick(libc->start, libc->end - libc->start, addrs, o->addresses,
				 symcost_named_target, maps);
		if (n == 0)
			goto next;
		/* Opens libc's DWARF (with lines) outside the timing: first touch. */
		(void)frames_ids(f, libc->start, &ids);
		t0 = symcost_now_ms();
		for (size_t i = 0; i < n; i++)
			frames += frames_ids(f, addrs[i], &ids);
		t1 = symcost_now_ms();
		reps = SYMCOST_WARM_LOOKUPS / n + 1;
		for (size_t r = 0; r < reps; r++)
			for (size_t i = 0; i < n; i++)
				sink += frames_ids(f, addrs[i], &ids);
		t2 = symcost_now_ms();
		symcost_print_frame("frames_new_address", elf_image_path(libc->image), lines, n,
				    -1, (double)frames / (double)n, "us_per_frame",
				    (t1 - t0) * 1e3 / (double)n);
		symcost_print_frame("frames_known_address", elf_image_path(libc->image), lines, n,
				    -1, (double)frames / (double)n, "ns_per_frame",
				    (t2 - t1) * 1e6 / ((double)n * (double)reps));
next:
		frames_free(f);
		tree_free(tree);
		maps_free(maps);
		elf_cache_free(cache);
	}
	free(addrs);
}

/*
 * An address inside a named function near the middle of path's .text, found
 * with a cache of its own so that the timed first touch starts cold (0 when
 * there is none).
 */
static uint64_t symcost_probe(const char *path)
{
	struct elf_cache *cache = elf_cache_new();
	struct error err = { 0 };
	struct elf_image *img = elf_cache_get(cache, path, path, 0, 0, &err);
	const uint8_t *text;
	uint64_t tv, probe = 0;
	size_t ts;

	if (img != NULL && elf_image_section(img, ".text", &tv, &text, &ts) == 0)
		(void)symcost_pick(tv + ts / 2, ts / 2, &probe, 1, symcost_named_vaddr,
				   (void *)symtab_get(img));
	elf_cache_free(cache);
	return probe;
}

/* The loaded libc's file, as the dynamic linker found it. */
static int symcost_libc_path(char *path)
{
	struct link_map *lm = NULL;
	void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	int rc = -1;

	if (h == NULL)
		return -1;
	if (dlinfo(h, RTLD_DI_LINKMAP, &lm) == 0 && lm != NULL && realpath(lm->l_name, path))
		rc = 0;
	dlclose(h);
	return rc;
}

/*
 * The default files: libLLVM-14 when installed, else the largest of
 * libpython3.11, python3.11 and libc; then libc.  Returns how many.
 */
static int symcost_default_files(char files[][PATH_MAX])
{
	static const char llvm[] = "/usr/lib/x86_64-linux-gnu/libLLVM-14.so.1";
	const char *cands[] = { "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
				"/usr/bin/python3.11", NULL };
	char libc[PATH_MAX];
	off_t best = -1;
	struct stat st;
	int n = 0, have_libc = symcost_libc_path(libc) == 0;

	if (access(llvm, R_OK) == 0) {
		snprintf(files[n++], PATH_MAX, "%s", llvm);
	} else {
		cands[2] = have_libc ? libc : NULL;
		for (int i = 0; i < 3; i++) {
			if (cands[i] == NULL || stat(cands[i], &st) != 0 || st.st_size <= best)
				continue;
			best = st.st_size;
			snprintf(files[n], PATH_MAX, "%s", cands[i]);
		}
		if (best >= 0)
			n++;
	}
	if (have_libc && (n == 0 || strcmp(files[0], libc) != 0))
		snprintf(files[n++], PATH_MAX, "%s", libc);
	return n;
}

int main(int argc, char **argv)
{
	static char files[SYMCOST_MAX_FILES][PATH_MAX];
	struct symcost_opts o = { .addresses = 2000, .runs = 5 };
	int nfiles = 0, c;
	off_t size;

	while ((c = getopt(argc, argv, "n:r:")) != -1) {
		switch (c) {
		case 'n':
			o.addresses = strtoul(optarg, NULL, 10);
			break;
		case 'r':
			o.runs = atoi(optarg);
			break;
		default:
			fprintf(stderr, "usage: symcost [-n ADDRESSES] [-r RUNS] [FILE...]\n");
			return 2;
		}
	}
	if (o.addresses < 1 || o.addresses > 1000000 || o.runs < 1 || o.runs > SYMCOST_MAX_RUNS) {
		fprintf(stderr, "symcost: -n is 1 to 1000000, -r 1 to %d\n", SYMCOST_MAX_RUNS);
		return 2;
	}
	for (int i = optind; i < argc && nfiles < SYMCOST_MAX_FILES; i++)
		snprintf(files[nfiles++], PATH_MAX, "%s", argv[i]);
	if (nfiles == 0)
		nfiles = symcost_default_files(files);
	for (int i = 0; i < nfiles; i++) {
		if (symcost_preread(files[i], &size) != 0) {
			fprintf(stderr, "symcost: %s: %s\n", files[i], strerror(errno));
			continue;
		}
		fprintf(stderr, "symcost: %s (%.1f MiB)\n", files[i], (double)size / (1 << 20));
		symcost_first_touch(files[i], size, symcost_probe(files[i]), &o);
		symcost_per_frame(files[i], &o);
	}
	symcost_frames(&o);
	return 0;
}
