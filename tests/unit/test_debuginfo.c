/*
 * Debug information beyond a file's own tables: separate debug files found
 * by build-id and by .gnu_debuglink (also under a target's root),
 * MiniDebugInfo, .eh_frame function starts, file:line with inline chains,
 * C++ demangling, and files corrupted on purpose.  The test builds its own
 * programs (cc and g++ -O2 -g, then objcopy, strip and xz the way
 * distributions do) in a temporary directory; what it expects comes from
 * the source it wrote, from nm and from binutils' addr2line on the
 * unstripped program, never from the code under test.  libc's statics are
 * checked against Debian's libc6-dbg when it is installed.
 */
#include <sys/stat.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "files.h"
#include "self.h"
#include "sh.h"
#include "stopwatch.h"
#include "symbols/elf_image.h"
#include "symbols/maps.h"
#include "symbols/resolve.h"
#include "symbols/symtab.h"
#include "tmp.h"

/*
 * The C program: a static function (only debug info names it once
 * stripped) with a hot function inlined into its loop.  The line numbers
 * below are those of this text.
 */
static const char prog_c[] =
	"#include <stdlib.h>\n"						/* 1 */
	"\n"								/* 2 */
	"/* The hot function: always inlined into its caller. */\n"	/* 3 */
	"static inline __attribute__((always_inline)) unsigned hot_mix(unsigned x)\n" /* 4 */
	"{\n"								/* 5 */
	"\tx ^= x >> 13;\n"						/* 6 */
	"\tx *= 0x5bd1e995u;\n"						/* 7 */
	"\tx ^= x >> 15;\n"						/* 8 */
	"\treturn x;\n"							/* 9 */
	"}\n"								/* 10 */
	"\n"								/* 11 */
	"static __attribute__((noinline)) unsigned static_worker(unsigned n)\n" /* 12 */
	"{\n"								/* 13 */
	"\tunsigned acc = 1;\n"						/* 14 */
	"\n"								/* 15 */
	"\tfor (unsigned i = 0; i < n; i++)\n"				/* 16 */
	"\t\tacc += hot_mix(acc + i);\n"				/* 17 */
	"\treturn acc;\n"						/* 18 */
	"}\n"								/* 19 */
	"\n"								/* 20 */
	"int main(int argc, char **argv)\n"				/* 21 */
	"{\n"								/* 22 */
	"\t(void)argv;\n"						/* 23 */
	"\treturn (int)(static_worker((unsigned)argc * 1000u) & 1u);\n" /* 24 */
	"}\n";								/* 25 */
#define HOT_FIRST_LINE 6
#define HOT_LAST_LINE 9
#define HOT_CALL_LINE 17

/* The C++ program: templates, a namespace and an inlined member. */
static const char prog_cc[] =
	"namespace demo {\n"
	"template <typename T> struct Accumulator {\n"
	"\tT total;\n"
	"\t__attribute__((always_inline)) inline T mix(T x)\n"
	"\t{\n"
	"\t\tx ^= x >> 7;\n"
	"\t\tx *= 31;\n"
	"\t\treturn x ^ (x >> 3);\n"
	"\t}\n"
	"\t__attribute__((noinline)) T run(T n)\n"
	"\t{\n"
	"\t\tfor (T i = 0; i < n; i++)\n"
	"\t\t\ttotal += mix(total + i);\n"
	"\t\treturn total;\n"
	"\t}\n"
	"};\n"
	"}\n"
	"\n"
	"int main(int argc, char **)\n"
	"{\n"
	"\tdemo::Accumulator<unsigned> a{1};\n"
	"\tdemo::Accumulator<unsigned long> b{2};\n"
	"\treturn (int)((a.run(argc * 1000u) + b.run(argc * 10ul)) & 1);\n"
	"}\n";

/* What the group setup managed to build; tests that need a missing tool skip. */
static int have_c, have_cc, have_mini;

/*
 * Address and size of a symbol as nm prints them; 0 when absent.  With
 * clones set, "name.part.0" and other GCC clones of name count too, and
 * the name found is copied to clones (512 bytes).
 */
static uint64_t nm_symbol_ex(const char *path, const char *name, uint64_t *size, char *clones)
{
	char cmd[2 * PATH_MAX], line[1024], sym[512];
	size_t len = strlen(name);
	uint64_t addr = 0, a, s;
	char type;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nm -S --defined-only '%s' 2>/dev/null", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%" SCNx64 " %" SCNx64 " %c %511s", &a, &s, &type, sym) != 4)
			continue;
		if (strcmp(sym, name) == 0 ||
		    (clones != NULL && strncmp(sym, name, len) == 0 && sym[len] == '.')) {
			addr = a;
			if (size != NULL)
				*size = s;
			if (clones != NULL)
				snprintf(clones, 512, "%s", sym);
		}
	}
	pclose(f);
	return addr;
}

/* Address and size of a symbol by its exact name; 0 when absent. */
static uint64_t nm_symbol(const char *path, const char *name, uint64_t *size)
{
	return nm_symbol_ex(path, name, size, NULL);
}

/* The build-id of a file as readelf shows it (lower-case hex), or "" when none. */
static void readelf_build_id(const char *path, char *hex, size_t len)
{
	char cmd[2 * PATH_MAX], line[512];
	FILE *f;

	hex[0] = '\0';
	snprintf(cmd, sizeof(cmd), "readelf -n '%s' 2>/dev/null", path);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p = strstr(line, "Build ID: ");

		if (p != NULL)
			snprintf(hex, len, "%.*s", (int)strcspn(p + 10, "\n"), p + 10);
	}
	pclose(f);
}

/* One level of an inline chain as addr2line prints it. */
struct oracle_line {
	char function[1024];
	char file[1024];	/* base name */
	uint32_t line;
};

/* addr2line's chains for a list of addresses. */
struct oracle {
	uint64_t addr[256];
	struct oracle_line lines[256][8];
	size_t n[256];
	size_t count;
};

/*
 * Runs binutils' addr2line -a -f -i (with -C for C++) on the unstripped
 * program: an independent DWARF reader (BFD) whose answers we must match.
 */
static void oracle_run(const char *path, int demangle, const uint64_t *addrs, size_t count,
		       struct oracle *o)
{
	char cmd[16384], line[1024];
	size_t len, cur = SIZE_MAX;
	FILE *f;

	assert_true(count <= 256);
	memset(o, 0, sizeof(*o));
	len = (size_t)snprintf(cmd, sizeof(cmd), "addr2line -a -f -i %s -e '%s'", demangle ? "-C" : "",
			       path);
	for (size_t i = 0; i < count; i++)
		len += (size_t)snprintf(cmd + len, sizeof(cmd) - len, " %" PRIx64, addrs[i]);
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		struct oracle_line *ol;
		char *colon, *slash;

		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "0x", 2) == 0) {
			cur = o->count++;
			o->addr[cur] = strtoull(line, NULL, 16);
			continue;
		}
		assert_true(cur < count && o->n[cur] < 8);
		ol = &o->lines[cur][o->n[cur]];
		snprintf(ol->function, sizeof(ol->function), "%s", line);
		assert_non_null(fgets(line, sizeof(line), f));
		line[strcspn(line, " \n")] = '\0';	/* drops " (discriminator N)" */
		colon = strrchr(line, ':');
		assert_non_null(colon);
		*colon = '\0';
		ol->line = (uint32_t)strtoul(colon + 1, NULL, 10);
		slash = strrchr(line, '/');
		snprintf(ol->file, sizeof(ol->file), "%s", slash != NULL ? slash + 1 : line);
		o->n[cur]++;
	}
	pclose(f);
	assert_int_equal(o->count, count);
}

/* The base name of a path (NULL stays NULL). */
static const char *base_of(const char *path)
{
	const char *slash;

	if (path == NULL)
		return NULL;
	slash = strrchr(path, '/');
	return slash != NULL ? slash + 1 : path;
}

/*
 * Compares our inline chains with addr2line's for every third byte of a
 * function; returns how many addresses had a chain of two or more levels.
 */
static size_t check_chains(struct elf_image *img, const char *full, int demangle, uint64_t start,
			   uint64_t size)
{
	static struct oracle o;
	uint64_t addrs[256];
	size_t count = 0, inlined = 0;

	for (uint64_t a = start; a < start + size && count < 256; a += 3)
		addrs[count++] = a;
	oracle_run(full, demangle, addrs, count, &o);
	for (size_t i = 0; i < count; i++) {
		struct symtab_line got[8];
		size_t n = symtab_lookup_inline(img, addrs[i], got, 8);

		if (o.n[i] == 0 || strcmp(o.lines[i][0].function, "??") == 0)
			continue;
		if (n != o.n[i])
			fail_msg("%#" PRIx64 ": %zu levels, addr2line has %zu", addrs[i], n, o.n[i]);
		for (size_t k = 0; k < n; k++) {
			const struct oracle_line *want = &o.lines[i][k];

			if (got[k].function == NULL || strcmp(got[k].function, want->function) != 0 ||
			    got[k].line != want->line || got[k].file == NULL ||
			    strcmp(base_of(got[k].file), want->file) != 0)
				fail_msg("%#" PRIx64 " level %zu: got %s %s:%u, addr2line %s %s:%u",
					 addrs[i], k, got[k].function ? got[k].function : "(null)",
					 got[k].file ? got[k].file : "(null)", got[k].line,
					 want->function, want->file, want->line);
		}
		inlined += n >= 2;
	}
	return inlined;
}

/*
 * Builds the programs and their debug files:
 *   prog.full   cc -O2 -g, unstripped (the oracle's input)
 *   prog.debug  objcopy --only-keep-debug
 *   prog.bare   strip --strip-all, no link (eh_frame tests, build-id tests)
 *   prog        prog.bare + --add-gnu-debuglink=prog.debug
 *   prog.mini   prog.bare + .gnu_debugdata (xz of a keep-debug copy reduced
 *               to the function symbols .dynsym lacks), as Fedora makes it
 *   cxx.full, cxx.debug, cxx   the same for the C++ program
 */
static int group_setup(void **state)
{
	const char *tmpdir = tmp_dir();

	if (tmp_setup(state) != 0)
		return -1;
	if (mkdir(tmp_path("empty-debug"), 0755) != 0)
		return -1;
	tmp_write("prog.c", prog_c, sizeof(prog_c) - 1);
	tmp_write("cxx.cc", prog_cc, sizeof(prog_cc) - 1);
	have_c = sh_run("cd '%s' && cc -O2 -g -o prog.full prog.c && "
			"objcopy --only-keep-debug prog.full prog.debug && "
			"strip --strip-all -o prog.bare prog.full && "
			"cp prog.bare prog && objcopy --add-gnu-debuglink=prog.debug prog",
			tmpdir) == 0;
	have_mini = have_c &&
		    sh_run("cd '%s' && "
			   "nm -D --format=posix --defined-only prog.full | awk '{print $1}' | sort > dyn && "
			   "nm --format=posix --defined-only prog.debug | "
			   "awk '$2 ~ /[TtWw]/ {print $1}' | sort > funcs && comm -13 dyn funcs > keep && "
			   "objcopy -S --remove-section .gdb_index --remove-section .comment "
			   "--keep-symbols=keep prog.debug mini && xz -f -k mini && "
			   "cp prog.bare prog.mini && "
			   "objcopy --add-section .gnu_debugdata=mini.xz prog.mini", tmpdir) == 0;
	have_cc = sh_run("cd '%s' && g++ -O2 -g -o cxx.full cxx.cc 2>/dev/null && "
			 "objcopy --only-keep-debug cxx.full cxx.debug && "
			 "strip --strip-all -o cxx cxx.full && "
			 "objcopy --add-gnu-debuglink=cxx.debug cxx", tmpdir) == 0;
	return 0;
}

/* A cache whose debug root is dir (an empty one unless given). */
static struct elf_cache *cache_with_root(const char *dir)
{
	struct elf_cache *cache = elf_cache_new();

	elf_cache_set_debug_root(cache, dir != NULL ? dir : tmp_path("empty-debug"));
	return cache;
}

/* Opens path through cache (display path = path, no inode). */
static struct elf_image *open_in(struct elf_cache *cache, const char *path)
{
	struct error err = { 0 };
	struct elf_image *img = elf_cache_get(cache, path, path, 0, 0, &err);

	if (img == NULL)
		fail_msg("%s: %s", path, err.msg);
	return img;
}

/* The names and lines of prog come back from a debug file found however. */
static void check_prog_debug(struct elf_image *img)
{
	uint64_t size = 0, got = 0;
	uint64_t start = nm_symbol(tmp_path("prog.full"), "static_worker", &size);
	struct symtab_line chain[4];
	const char *name;

	assert_true(start != 0 && size > 8);
	assert_non_null(elf_image_debug_file(img));
	name = symtab_lookup(symtab_get(img), start + 5, &got);
	assert_non_null(name);
	assert_string_equal(name, "static_worker");
	assert_int_equal(got, start);
	assert_non_null(elf_image_dwarf(img));
	assert_true(symtab_lookup_inline(img, start + 2, chain, 4) >= 1);
	assert_true(check_chains(img, tmp_path("prog.full"), 0, start, size) > 0);
}

/* Without debug files the stripped program has no name for its static function. */
static void test_stripped_baseline(void **state)
{
	struct elf_cache *cache;
	struct elf_image *img;
	struct symtab_line chain[4];
	uint64_t start;

	(void)state;
	if (!have_c)
		skip();
	start = nm_symbol(tmp_path("prog.full"), "static_worker", NULL);
	cache = cache_with_root(NULL);
	img = open_in(cache, tmp_path("prog.bare"));
	assert_null(elf_image_debug_file(img));
	assert_null(elf_image_mini_debug(img));
	assert_null(elf_image_dwarf(img));
	assert_null(symtab_lookup(symtab_get(img), start + 5, NULL));
	assert_int_equal(symtab_lookup_inline(img, start + 5, chain, 4), 0);
	elf_cache_free(cache);
}

/* .gnu_debuglink in <dir>/, <dir>/.debug/ and <debug root>/<dir>/, CRC checked. */
static void test_debuglink(void **state)
{
	const char *tmpdir = tmp_dir();
	struct elf_cache *cache;
	struct elf_image *img;
	uint8_t *buf;
	size_t size;

	(void)state;
	if (!have_c)
		skip();
	/* <dir>/prog.debug, next to the program. */
	cache = cache_with_root(NULL);
	img = open_in(cache, tmp_path("prog"));
	check_prog_debug(img);
	elf_cache_free(cache);

	/* <dir>/.debug/prog.debug */
	assert_int_equal(sh_run("mkdir -p '%s/dot/.debug' && cp '%s/prog' '%s/dot/' && "
				"cp '%s/prog.debug' '%s/dot/.debug/'",
				tmpdir, tmpdir, tmpdir, tmpdir, tmpdir), 0);
	cache = cache_with_root(NULL);
	check_prog_debug(open_in(cache, tmp_path("dot/prog")));
	elf_cache_free(cache);

	/* <debug root>/<dir>/prog.debug */
	assert_int_equal(sh_run("mkdir -p '%s/global/bin' '%s/global/dbg%s/global/bin' && "
				"cp '%s/prog' '%s/global/bin/' && "
				"cp '%s/prog.debug' '%s/global/dbg%s/global/bin/'",
				tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir, tmpdir), 0);
	cache = cache_with_root(tmp_path("global/dbg"));
	check_prog_debug(open_in(cache, tmp_path("global/bin/prog")));
	elf_cache_free(cache);

	/* One byte changed in the debug file: the CRC no longer matches, nothing is used. */
	assert_int_equal(sh_run("mkdir -p '%s/badcrc' && cp '%s/prog' '%s/badcrc/'", tmpdir, tmpdir,
				tmpdir), 0);
	buf = files_read(tmp_path("prog.debug"), &size);
	buf[size - 1] ^= 0x55;
	tmp_write("badcrc/prog.debug", buf, size);
	free(buf);
	cache = cache_with_root(NULL);
	img = open_in(cache, tmp_path("badcrc/prog"));
	assert_null(elf_image_debug_file(img));
	assert_null(elf_image_dwarf(img));
	assert_null(symtab_lookup(symtab_get(img),
				  nm_symbol(tmp_path("prog.full"), "static_worker", NULL), NULL));
	elf_cache_free(cache);
}

/* Our CRC32 matches the one objcopy wrote into .gnu_debuglink. */
static void test_crc32(void **state)
{
	struct elf_image *img;
	struct error err = { 0 };
	const uint8_t *link;
	uint8_t *dbg;
	uint64_t vaddr;
	uint32_t want;
	size_t size, dsize, at;

	(void)state;
	assert_int_equal(elf_image_crc32(0, "123456789", 9), 0xcbf43926u);
	assert_int_equal(elf_image_crc32(elf_image_crc32(0, "1234", 4), "56789", 5), 0xcbf43926u);
	if (!have_c)
		skip();
	img = elf_image_open(tmp_path("prog"), &err);
	assert_non_null(img);
	assert_int_equal(elf_image_section(img, ".gnu_debuglink", &vaddr, &link, &size), 0);
	assert_string_equal((const char *)link, "prog.debug");
	at = (strlen((const char *)link) + 4) & ~(size_t)3;
	memcpy(&want, link + at, 4);
	dbg = files_read(tmp_path("prog.debug"), &dsize);
	assert_int_equal(elf_image_crc32(0, dbg, dsize), want);
	free(dbg);
	elf_image_free(img);
}

/* Lays a debug file out as <root>/.build-id/xx/rest.debug for the build-id of prog. */
static void place_by_build_id(const char *prog, const char *debug, const char *root)
{
	char hex[128];

	readelf_build_id(prog, hex, sizeof(hex));
	assert_true(strlen(hex) > 2);
	assert_int_equal(sh_run("mkdir -p '%s/.build-id/%.2s' && "
				"cp '%s' '%s/.build-id/%.2s/%s.debug'",
				root, hex, debug, root, hex, hex + 2), 0);
}

/* The build-id path, and a debug file of another build refused at that path. */
static void test_build_id_path(void **state)
{
	const char *tmpdir = tmp_dir();
	struct elf_cache *cache;
	struct elf_image *img;

	(void)state;
	if (!have_c)
		skip();
	place_by_build_id(tmp_path("prog.bare"), tmp_path("prog.debug"), tmp_path("bid"));
	cache = cache_with_root(tmp_path("bid"));
	img = open_in(cache, tmp_path("prog.bare"));
	check_prog_debug(img);
	elf_cache_free(cache);

	/* Another build (different code, so a different build-id) under prog's build-id. */
	assert_int_equal(sh_run("cd '%s' && cc -O1 -g -DOTHER -o other.full prog.c && "
				"objcopy --only-keep-debug other.full other.debug", tmpdir), 0);
	place_by_build_id(tmp_path("prog.bare"), tmp_path("other.debug"), tmp_path("wrongbid"));
	cache = cache_with_root(tmp_path("wrongbid"));
	img = open_in(cache, tmp_path("prog.bare"));
	assert_null(elf_image_debug_file(img));
	assert_null(elf_image_dwarf(img));
	elf_cache_free(cache);
}

/*
 * A target in another root (a container): the program at ROOT/bin/prog is
 * opened as ROOT/bin/prog but shown as /bin/prog, and its debug files are
 * looked up under ROOT: the build-id path under ROOT/usr/lib/debug (the
 * cache's default root, inside ROOT), and the debuglink in ROOT/bin/.
 */
static void test_container_root(void **state)
{
	const char *tmpdir = tmp_dir();
	struct elf_cache *cache;
	struct elf_image *img;
	struct error err = { 0 };
	const char *root = tmp_path("ctr");

	(void)state;
	if (!have_c)
		skip();
	assert_int_equal(sh_run("mkdir -p '%s/bin' '%s/usr/lib/debug' && "
				"cp '%s/prog.bare' '%s/bin/prog' && mkdir -p '%s/lbin' && "
				"cp '%s/prog' '%s/prog.debug' '%s/lbin/'",
				root, root, tmpdir, root, root, tmpdir, tmpdir, root), 0);
	place_by_build_id(tmp_path("prog.bare"), tmp_path("prog.debug"),
			  tmp_path("ctr/usr/lib/debug"));

	cache = elf_cache_new();
	img = elf_cache_get(cache, tmp_path("ctr/bin/prog"), "/bin/prog", 0, 0, &err);
	assert_non_null(img);
	assert_string_equal(elf_image_root(img), root);
	assert_string_equal(elf_image_path(img), "/bin/prog");
	check_prog_debug(img);

	/* The debuglink: ROOT/lbin/prog.debug next to ROOT/lbin/prog. */
	img = elf_cache_get(cache, tmp_path("ctr/lbin/prog"), "/lbin/prog", 0, 0, &err);
	assert_non_null(img);
	check_prog_debug(img);
	elf_cache_free(cache);

	/* The same file reached as our own: no root, and no debug file under /usr/lib/debug. */
	cache = cache_with_root(NULL);
	img = open_in(cache, tmp_path("ctr/bin/prog"));
	assert_string_equal(elf_image_root(img), "");
	assert_null(elf_image_debug_file(img));
	elf_cache_free(cache);
}

/* MiniDebugInfo names the static function; it has no DWARF; bad xz is harmless. */
static void test_minidebuginfo(void **state)
{
	const char *tmpdir = tmp_dir();
	uint64_t size = 0, start;
	struct elf_cache *cache;
	struct elf_image *img, *mini;
	struct symtab_line chain[4];
	const char *name;
	uint64_t got = 0;

	(void)state;
	if (!have_mini)
		skip();
	start = nm_symbol(tmp_path("prog.full"), "static_worker", &size);
	cache = cache_with_root(NULL);
	img = open_in(cache, tmp_path("prog.mini"));
	assert_null(elf_image_debug_file(img));
	mini = elf_image_mini_debug(img);
	assert_non_null(mini);
	assert_true(elf_image_has_symtab(mini));
	name = symtab_lookup(symtab_get(img), start + size - 1, &got);
	assert_non_null(name);
	assert_string_equal(name, "static_worker");
	assert_int_equal(got, start);
	assert_int_equal(symtab_lookup_inline(img, start, chain, 4), 0);
	elf_cache_free(cache);

	/* Cut the xz stream short, or flip bytes in it: no names, no crash. */
	for (int variant = 0; variant < 6; variant++) {
		uint8_t *xz;
		size_t xz_size;

		xz = files_read(tmp_path("mini.xz"), &xz_size);
		if (variant == 0)
			xz_size /= 2;
		else if (variant == 1)
			xz_size = 12;
		else
			for (int k = 0; k < 4; k++)
				xz[(xz_size * (size_t)(k + 1) * (size_t)variant / 23) % xz_size] ^= 0xa5;
		tmp_write("bad.xz", xz, xz_size);
		free(xz);
		assert_int_equal(sh_run("cd '%s' && cp prog.bare prog.badmini && "
					"objcopy --add-section .gnu_debugdata=bad.xz prog.badmini",
					tmpdir), 0);
		cache = cache_with_root(NULL);
		img = open_in(cache, tmp_path("prog.badmini"));
		name = symtab_lookup(symtab_get(img), start, NULL);
		/* A flip xz's CRC misses is not possible to see; one it catches gives nothing. */
		if (variant < 2)
			assert_null(name);
		elf_cache_free(cache);
	}
}

/*
 * .eh_frame function starts in a stripped program without debug files:
 * every address of the static function has the start nm gives it, through
 * .eh_frame_hdr and, with that removed, by walking .eh_frame.
 */
static void test_eh_frame_starts(void **state)
{
	uint64_t size = 0, start, got1 = 0, got2 = 0, main_start;
	struct elf_cache *cache;
	struct elf_image *img;
	const struct symtab *tab;
	size_t nfdes;

	(void)state;
	if (!have_c)
		skip();
	start = nm_symbol(tmp_path("prog.full"), "static_worker", &size);
	main_start = nm_symbol(tmp_path("prog.full"), "main", NULL);
	cache = cache_with_root(NULL);
	img = open_in(cache, tmp_path("prog.bare"));
	tab = symtab_get(img);
	assert_null(symtab_lookup(tab, start + 1, NULL));
	nfdes = symtab_fde_count(tab);
	assert_true(nfdes >= 3);
	assert_int_equal(symtab_function_start(tab, start + 1, &got1), 0);
	assert_int_equal(symtab_function_start(tab, start + size - 1, &got2), 0);
	assert_int_equal(got1, start);
	assert_int_equal(got2, start);
	assert_int_equal(symtab_function_start(tab, main_start + 3, &got1), 0);
	assert_int_equal(got1, main_start);
	/* Past the end of .text nothing starts. */
	assert_int_equal(symtab_function_start(tab, UINT64_MAX - 1, &got1), -1);
	elf_cache_free(cache);

	/* The same table without .eh_frame_hdr, by walking .eh_frame. */
	if (sh_run("objcopy --remove-section .eh_frame_hdr '%s' '%s' 2>/dev/null",
		   tmp_path("prog.bare"), tmp_path("prog.nohdr")) != 0)
		return;
	cache = cache_with_root(NULL);
	img = open_in(cache, tmp_path("prog.nohdr"));
	tab = symtab_get(img);
	{
		const uint8_t *d;
		uint64_t v;
		size_t s;

		assert_int_equal(elf_image_section(img, ".eh_frame_hdr", &v, &d, &s), -1);
	}
	assert_int_equal(symtab_fde_count(tab), nfdes);
	assert_int_equal(symtab_function_start(tab, start + size / 2, &got1), 0);
	assert_int_equal(got1, start);
	elf_cache_free(cache);
}

/* Debian's libc6-dbg file for our libc, or NULL when it is not installed. */
static const char *libc_debug_file(const char *libc)
{
	static char path[PATH_MAX];
	char hex[128];

	readelf_build_id(libc, hex, sizeof(hex));
	if (strlen(hex) < 3)
		return NULL;
	snprintf(path, sizeof(path), "/usr/lib/debug/.build-id/%.2s/%s.debug", hex, hex + 2);
	return access(path, R_OK) == 0 ? path : NULL;
}

/*
 * libc's statics in our own process, through resolve_addr: with
 * libc6-dbg they have names and lines; with an empty debug root they have
 * none, but addresses of one function give one start, the file offset of
 * the function.  For the C functions that holds up to their last byte;
 * clone3 is assembly whose child part (after the syscall) is a CFI
 * procedure of its own, so only its first bytes are compared.
 */
static void test_libc_statics(void **state)
{
	static const char *statics[] = { "msort_with_tmp", "__libc_start_call_main",
					 "start_thread", "clone3" };
	uint64_t bias, size, start, last, off = 0;
	const char *libc = self_libc_path(&bias), *dbg = libc_debug_file(libc);
	char name[512];
	struct error err = { 0 };
	struct elf_image *img;

	(void)state;
	if (dbg == NULL) {
		print_message("libc6-dbg not installed: libc statics not checked\n");
		skip();
	}
	img = elf_image_open(libc, &err);
	assert_non_null(img);
	for (int pass = 0; pass < 2; pass++) {
		struct elf_cache *cache = pass == 0 ? elf_cache_new() : cache_with_root(NULL);
		struct maps *maps = maps_new(getpid(), cache);

		assert_int_equal(maps_load(maps, &err), 0);
		for (size_t i = 0; i < sizeof(statics) / sizeof(statics[0]); i++) {
			struct resolve_result r1, r2;
			struct symtab_line chain[8];
			size_t n;

			/* GCC may have split the function into a clone (msort_with_tmp.part.0). */
			start = nm_symbol_ex(dbg, statics[i], &size, name);
			assert_true(start != 0 && size > 4);
			assert_int_equal(elf_image_vaddr_to_offset(img, start, &off), 0);
			assert_int_equal(resolve_addr(maps, bias + start + 1, &r1), 0);
			last = strcmp(statics[i], "clone3") == 0 ? 8 : size - 1;
			assert_int_equal(resolve_addr(maps, bias + start + last, &r2), 0);
			assert_string_equal(r1.module, "libc.so.6");
			assert_int_equal(r1.function_start_known, 1);
			assert_int_equal(r2.function_start_known, 1);
			assert_int_equal(r1.function_start_offset, off);
			assert_int_equal(r2.function_start_offset, off);
			n = resolve_inline(maps, bias + start + 1, chain, 8);
			if (pass == 0) {
				assert_non_null(r1.function);
				assert_string_equal(r1.function, name);
				assert_int_equal(r1.function_offset, 1);
				assert_true(n >= 1);
				assert_non_null(chain[n - 1].file);
				assert_true(chain[n - 1].line > 0);
				print_message("libc+%#" PRIx64 ": %s at %s:%u\n", off + 1, r1.function,
					      chain[0].file, chain[0].line);
			} else {
				assert_null(r1.function);
				assert_null(r2.function);
				assert_int_equal(n, 0);
			}
		}
		maps_free(maps);
		elf_cache_free(cache);
	}
	elf_image_free(img);
}

/* C++: demangled symbols (as c++filt prints them), inline chains, and the switch. */
static void test_cxx(void **state)
{
	const char *mangled = "_ZN4demo11AccumulatorIjE3runEj";
	uint64_t size = 0, start, got = 0;
	struct elf_cache *cache;
	struct elf_image *img;
	struct symtab_line chain[8];
	char want[512] = "";
	const char *name;
	FILE *f;

	(void)state;
	if (!have_cc)
		skip();
	start = nm_symbol(tmp_path("cxx.full"), mangled, &size);
	assert_true(start != 0);
	f = popen("c++filt _ZN4demo11AccumulatorIjE3runEj", "r");
	assert_non_null(f);
	assert_non_null(fgets(want, sizeof(want), f));
	pclose(f);
	want[strcspn(want, "\n")] = '\0';
	assert_string_equal(want, "demo::Accumulator<unsigned int>::run(unsigned int)");

	cache = cache_with_root(NULL);
	img = open_in(cache, tmp_path("cxx"));
	name = symtab_lookup(symtab_get(img), start + 3, &got);
	assert_non_null(name);
	assert_string_equal(name, want);
	assert_int_equal(got, start);
	/* Demangled once: the same string comes back. */
	assert_ptr_equal(symtab_lookup(symtab_get(img), start + 4, NULL), name);
	assert_true(check_chains(img, tmp_path("cxx.full"), 1, start, size) > 0);
	assert_true(symtab_lookup_inline(img, start, chain, 8) >= 1);
	elf_cache_free(cache);

	/* Switched off: the names as the files have them. */
	cache = cache_with_root(NULL);
	elf_cache_set_demangle(cache, 0);
	img = open_in(cache, tmp_path("cxx"));
	name = symtab_lookup(symtab_get(img), start + 3, NULL);
	assert_non_null(name);
	assert_string_equal(name, mangled);
	assert_true(symtab_lookup_inline(img, start + 3, chain, 8) >= 1);
	assert_non_null(chain[0].function);
	assert_true(strncmp(chain[0].function, "_ZN4demo", 8) == 0);
	elf_cache_free(cache);
}

/* A chain longer than the caller's array keeps its innermost levels and the real function. */
static void test_inline_truncation(void **state)
{
	uint64_t size = 0, start;
	struct elf_cache *cache;
	struct elf_image *img;
	struct symtab_line full[8], one[1];
	int found = 0;

	(void)state;
	if (!have_c)
		skip();
	start = nm_symbol(tmp_path("prog.full"), "static_worker", &size);
	cache = cache_with_root(NULL);
	img = open_in(cache, tmp_path("prog"));
	for (uint64_t a = start; a < start + size && !found; a++) {
		size_t n = symtab_lookup_inline(img, a, full, 8);

		if (n < 2)
			continue;
		found = 1;
		assert_string_equal(full[0].function, "hot_mix");
		assert_true(full[0].line >= HOT_FIRST_LINE && full[0].line <= HOT_LAST_LINE);
		assert_string_equal(full[n - 1].function, "static_worker");
		assert_int_equal(full[n - 1].line, HOT_CALL_LINE);
		assert_string_equal(base_of(full[n - 1].file), "prog.c");
		assert_int_equal(symtab_lookup_inline(img, a, one, 1), 1);
		assert_string_equal(one[0].function, "static_worker");
		assert_int_equal(symtab_lookup_inline(img, a, one, 0), 0);
	}
	assert_true(found);
	elf_cache_free(cache);
}

/* Opens prog.bare with the given debug file under its build-id and queries everything. */
static void probe_debug(const char *root, uint64_t start, uint64_t size)
{
	struct elf_cache *cache = cache_with_root(root);
	struct elf_image *img = open_in(cache, tmp_path("prog.bare"));
	struct symtab_line chain[8];

	for (uint64_t a = start > 64 ? start - 64 : 0; a < start + size + 64; a++) {
		uint64_t s;

		(void)symtab_lookup(symtab_get(img), a, NULL);
		(void)symtab_function_start(symtab_get(img), a, &s);
		(void)symtab_lookup_inline(img, a, chain, 8);
	}
	elf_cache_free(cache);
}

/*
 * Corrupt debug files must not crash: cut at many lengths, and with bytes
 * flipped inside the DWARF sections (the build-id note is left alone so the
 * file is still taken as prog's).  Meant to run under ASan too.
 */
static void test_corrupt_debug(void **state)
{
	const char *tmpdir = tmp_dir();
	uint64_t size = 0, start, seed = 42;
	uint8_t *orig, *buf;
	size_t dsize;
	char hex[128], copy[PATH_MAX];
	struct {
		size_t off, size;
	} dwarf[16];
	size_t ndwarf = 0;
	FILE *f;
	char cmd[PATH_MAX + 64], line[512];

	(void)state;
	if (!have_c)
		skip();
	start = nm_symbol(tmp_path("prog.full"), "static_worker", &size);
	orig = files_read(tmp_path("prog.debug"), &dsize);
	buf = malloc(dsize);
	assert_non_null(buf);
	readelf_build_id(tmp_path("prog.bare"), hex, sizeof(hex));
	assert_int_equal(sh_run("mkdir -p '%s/corrupt/.build-id/%.2s'", tmpdir, hex), 0);
	snprintf(copy, sizeof(copy), "corrupt/.build-id/%.2s/%s.debug", hex, hex + 2);

	/* Where the DWARF sections lie, from readelf. */
	snprintf(cmd, sizeof(cmd), "readelf -S -W '%s' 2>/dev/null", tmp_path("prog.debug"));
	f = popen(cmd, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL && ndwarf < 16) {
		char name[64], type[32];
		uint64_t addr, off, sz;
		char *p = strchr(line, ']');

		if (p == NULL || sscanf(p + 1, "%63s %31s %" SCNx64 " %" SCNx64 " %" SCNx64, name, type,
					&addr, &off, &sz) != 5)
			continue;
		if (strncmp(name, ".debug_", 7) == 0 && sz > 0 && off + sz <= dsize) {
			dwarf[ndwarf].off = (size_t)off;
			dwarf[ndwarf].size = (size_t)sz;
			ndwarf++;
		}
	}
	pclose(f);
	assert_true(ndwarf >= 3);

	for (int cut = 1; cut <= 16; cut++) {
		tmp_write(copy, orig, dsize * (size_t)cut / 17);
		probe_debug(tmp_path("corrupt"), start, size);
	}
	for (int round = 0; round < 200; round++) {
		memcpy(buf, orig, dsize);
		for (int k = 0; k < 1 + round % 8; k++) {
			size_t s, at;

			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			s = (size_t)(seed >> 40) % ndwarf;
			at = dwarf[s].off + (size_t)(seed >> 20) % dwarf[s].size;
			buf[at] ^= (uint8_t)((seed >> 8) | 1);
		}
		tmp_write(copy, buf, dsize);
		probe_debug(tmp_path("corrupt"), start, size);
	}
	free(buf);
	free(orig);
}

/* A .gnu_debuglink that is not a plain name (no NUL, a slash, too short) is ignored. */
static void test_bad_debuglink(void **state)
{
	static const char *contents[] = { "prog.debug", "../prog.debug\0\0\0\0\0\0\0\0",
					  "x", "" };
	static const size_t lens[] = { 10, 21, 1, 0 };
	const char *tmpdir = tmp_dir();

	(void)state;
	if (!have_c)
		skip();
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct elf_cache *cache;
		struct elf_image *img;

		tmp_write("link.bin", contents[i], lens[i]);
		assert_int_equal(sh_run("cd '%s' && mkdir -p lk lk/.debug && "
					"cp prog.bare lk/prog && cp prog.debug lk/.debug/ && "
					"objcopy --add-section .gnu_debuglink=link.bin lk/prog 2>/dev/null",
					tmpdir), 0);
		cache = cache_with_root(NULL);
		img = open_in(cache, tmp_path("lk/prog"));
		assert_null(elf_image_debug_file(img));
		(void)symtab_lookup(symtab_get(img), 0x1000, NULL);
		elf_cache_free(cache);
	}
}

/*
 * Costs asked for in review: the first touch of big files (open, symbols,
 * first inline lookup) and the warm cost of an inline lookup per frame.
 * Printed, with loose bounds so only a pathology fails.
 */
static void test_timing(void **state)
{
	static const char *bigs[] = { "/usr/lib/x86_64-linux-gnu/libpython3.11.so.1.0",
				      "/usr/bin/python3.11", NULL };
	uint64_t bias;
	const char *libc = self_libc_path(&bias);
	struct symtab_line chain[8];

	(void)state;
	bigs[2] = libc;
	for (size_t i = 0; i < 3; i++) {
		struct elf_cache *cache;
		struct elf_image *img;
		struct error err = { 0 };
		const uint8_t *text;
		uint64_t tv, seed = 7, hits = 0;
		size_t ts, n;
		double t0, t1, t2, t3, t4;

		if (access(bigs[i], R_OK) != 0)
			continue;
		cache = elf_cache_new();
		t0 = stopwatch_ms();
		img = elf_cache_get(cache, bigs[i], bigs[i], 0, 0, &err);
		assert_non_null(img);
		t1 = stopwatch_ms();
		(void)symtab_get(img);
		t2 = stopwatch_ms();
		assert_int_equal(elf_image_section(img, ".text", &tv, &text, &ts), 0);
		n = symtab_lookup_inline(img, tv + ts / 3, chain, 8);
		t3 = stopwatch_ms();
		/* Warm: 2,000 distinct addresses resolved once, then asked 500 times each. */
		for (int k = 0; k < 2000; k++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			hits += symtab_lookup_inline(img, tv + (seed >> 20) % ts, chain, 8) > 0;
		}
		t4 = stopwatch_ms();
		seed = 7;
		for (int rep = 0; rep < 500; rep++) {
			seed = 7;
			for (int k = 0; k < 2000; k++) {
				seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
				(void)symtab_lookup_inline(img, tv + (seed >> 20) % ts, chain, 8);
			}
		}
		print_message("%s: open %.2f ms, %zu symbols %.2f ms, first inline lookup %.2f ms "
			      "(%zu levels, DWARF %s); 2000 cold lookups %.1f ms (%" PRIu64
			      " with lines); warm %.0f ns per lookup\n",
			      bigs[i], t1 - t0, symtab_count(symtab_get(img)), t2 - t1, t3 - t2,
			      n, elf_image_dwarf(img) != NULL ? "yes" : "no", t4 - t3, hits,
			      (stopwatch_ms() - t4) * 1e6 / (500.0 * 2000));
		assert_true(t2 - t0 < 5000);
		elf_cache_free(cache);
	}
}

/* Runs the group; the setup builds what the tests need. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stripped_baseline),
		cmocka_unit_test(test_debuglink),
		cmocka_unit_test(test_crc32),
		cmocka_unit_test(test_build_id_path),
		cmocka_unit_test(test_container_root),
		cmocka_unit_test(test_minidebuginfo),
		cmocka_unit_test(test_eh_frame_starts),
		cmocka_unit_test(test_libc_statics),
		cmocka_unit_test(test_cxx),
		cmocka_unit_test(test_inline_truncation),
		cmocka_unit_test(test_corrupt_debug),
		cmocka_unit_test(test_bad_debuglink),
		cmocka_unit_test(test_timing),
	};

	return cmocka_run_group_tests(tests, group_setup, tmp_teardown);
}
