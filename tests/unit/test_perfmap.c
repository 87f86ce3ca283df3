/*
 * The perf map reader (/tmp/perf-PID.map): parsing, overlaps, growth,
 * replacement and the check interval on files the test writes, and JIT
 * names through resolve_addr for anonymous executable memory of this
 * very process.
 */
#include <sys/mman.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "symbols/elf_image.h"
#include "symbols/maps.h"
#include "symbols/perfmap.h"
#include "symbols/resolve.h"
#include "symbols/symtab.h"
#include "tmp.h"

/* Writes (or appends) text to path. */
static void put(const char *path, const char *text, int append)
{
	int fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC), 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

/* The name at addr, or NULL; start through *start when found. */
static const char *at(struct perfmap *pm, uint64_t addr, uint64_t *start)
{
	uint64_t s = 0;
	const char *name = perfmap_lookup(pm, addr, &s);

	if (start != NULL)
		*start = s;
	return name;
}

/* The line format: hex with or without 0x, names with spaces, CRLF, junk skipped. */
static void test_parse(void **state)
{
	char path[PATH_MAX];
	struct perfmap *pm;
	uint64_t start;

	(void)state;
	snprintf(path, sizeof(path), "%s/parse.map", tmp_dir());
	put(path,
	    "1000 100 plain\n"
	    "0x2000 0x80 LazyCompile:*fib /app/fib.js:3\n"
	    "3000 10 crlf\r\n"
	    "\n"
	    "not a line\n"
	    "4000\n"
	    "5000 0 empty range\n"
	    "6000 10\n"
	    "6000 10 \n"
	    "fffffffffffffff0 100 wraps\n"
	    "7000 zz bad size\n"
	    "8000 20 last", 0);
	pm = perfmap_new_path(path);
	assert_string_equal(at(pm, 0x1000, &start), "plain");
	assert_int_equal(start, 0x1000);
	assert_string_equal(at(pm, 0x10ff, NULL), "plain");
	assert_null(at(pm, 0x1100, NULL));
	assert_null(at(pm, 0xfff, NULL));
	assert_string_equal(at(pm, 0x2040, &start), "LazyCompile:*fib /app/fib.js:3");
	assert_int_equal(start, 0x2000);
	assert_string_equal(at(pm, 0x3005, NULL), "crlf");
	assert_null(at(pm, 0x4000, NULL));
	assert_null(at(pm, 0x5000, NULL));
	assert_null(at(pm, 0x6000, NULL));
	assert_null(at(pm, 0x7000, NULL));
	assert_null(at(pm, UINT64_MAX - 4, NULL));
	/* The last line has no newline yet: the runtime may still be writing it. */
	assert_null(at(pm, 0x8000, NULL));
	assert_int_equal(perfmap_count(pm), 3);
	perfmap_free(pm);

	/* A missing file is no error: nothing is found. */
	snprintf(path, sizeof(path), "%s/missing.map", tmp_dir());
	pm = perfmap_new_path(path);
	assert_null(at(pm, 0x1000, NULL));
	perfmap_free(pm);
}

/* Overlapping entries: the one written last wins, where it covers. */
static void test_overlap(void **state)
{
	char path[PATH_MAX];
	struct perfmap *pm;
	uint64_t start;

	(void)state;
	snprintf(path, sizeof(path), "%s/overlap.map", tmp_dir());
	put(path,
	    "1000 1000 old_big\n"
	    "1400 100 newer_small\n"
	    "1400 100 newest_same\n"
	    "3000 100 other\n", 0);
	pm = perfmap_new_path(path);
	assert_string_equal(at(pm, 0x1000, NULL), "old_big");
	assert_string_equal(at(pm, 0x1450, &start), "newest_same");
	assert_int_equal(start, 0x1400);
	assert_string_equal(at(pm, 0x1500, &start), "old_big");
	assert_int_equal(start, 0x1000);
	assert_string_equal(at(pm, 0x3000, NULL), "other");
	perfmap_free(pm);
}

/*
 * Growth is read incrementally once the interval allows a check; a
 * rewritten (shrunk) file is read anew.
 */
static void test_growth_and_rewrite(void **state)
{
	char path[PATH_MAX];
	struct perfmap *pm;
	const char *first;

	(void)state;
	snprintf(path, sizeof(path), "%s/grow.map", tmp_dir());
	put(path, "1000 100 first\n2000 10 partial", 0);
	pm = perfmap_new_path(path);
	first = at(pm, 0x1000, NULL);
	assert_string_equal(first, "first");
	assert_null(at(pm, 0x2000, NULL));

	/* A check interval of an hour: appended lines are not seen yet. */
	perfmap_set_interval(pm, 3600ull * 1000000000ull);
	put(path, "_done\n3000 10 third\n", 1);
	assert_null(at(pm, 0x3000, NULL));

	/* Checking always: the finished line and the new one appear. */
	perfmap_set_interval(pm, 0);
	assert_string_equal(at(pm, 0x2000, NULL), "partial_done");
	assert_string_equal(at(pm, 0x3000, NULL), "third");
	assert_int_equal(perfmap_count(pm), 3);

	/* Rewritten shorter: the old entries go, and their names with them. */
	put(path, "9000 10 replaced\n", 0);
	assert_string_equal(at(pm, 0x9000, NULL), "replaced");
	assert_null(at(pm, 0x1000, NULL));
	assert_int_equal(perfmap_count(pm), 1);

	/* Replaced by another file of the same name (a new inode), longer. */
	{
		char tmp[PATH_MAX];

		snprintf(tmp, sizeof(tmp), "%s/grow.new", tmp_dir());
		put(tmp, "a000 10 new_inode_1\nb000 10 new_inode_2\nc000 10 new_inode_3\n", 0);
		assert_int_equal(rename(tmp, path), 0);
	}
	assert_null(at(pm, 0x9000, NULL));
	assert_string_equal(at(pm, 0xb004, NULL), "new_inode_2");
	assert_int_equal(perfmap_count(pm), 3);
	perfmap_free(pm);
}

/* Long lines are skipped whole, and many entries stay searchable. */
static void test_long_lines_and_many(void **state)
{
	char path[PATH_MAX];
	struct perfmap *pm;
	char *text, *p;
	size_t cap = 64 << 20;

	(void)state;
	snprintf(path, sizeof(path), "%s/many.map", tmp_dir());
	text = malloc(cap);
	assert_non_null(text);
	p = text;
	p += sprintf(p, "100 10 before\n200 10 ");
	memset(p, 'x', 20000);
	p += 20000;
	p += sprintf(p, "\n300 10 after\n");
	for (int i = 0; i < 200000; i++)
		p += sprintf(p, "%x 40 jit_%d\n", 0x100000 + i * 0x40, i);
	*p = '\0';
	put(path, text, 0);
	free(text);
	pm = perfmap_new_path(path);
	assert_string_equal(at(pm, 0x100, NULL), "before");
	assert_null(at(pm, 0x200, NULL));
	assert_string_equal(at(pm, 0x300, NULL), "after");
	assert_string_equal(at(pm, 0x100000 + 123456 * 0x40 + 7, NULL), "jit_123456");
	assert_int_equal(perfmap_count(pm), 200002);
	perfmap_free(pm);
}

/* A symlink, or a file owned by another user, is not read. */
static void test_untrusted_files(void **state)
{
	char path[PATH_MAX], target[PATH_MAX];
	struct perfmap *pm;

	(void)state;
	snprintf(target, sizeof(target), "%s/real.map", tmp_dir());
	snprintf(path, sizeof(path), "%s/link.map", tmp_dir());
	put(target, "1000 100 secret\n", 0);
	assert_int_equal(symlink(target, path), 0);
	pm = perfmap_new_path(path);
	assert_null(at(pm, 0x1000, NULL));
	perfmap_free(pm);

	pm = perfmap_new_path(target);
	assert_string_equal(at(pm, 0x1000, NULL), "secret");
	perfmap_free(pm);

	/* Only root can give a file away; elsewhere this part cannot be set up. */
	if (geteuid() != 0)
		return;
	assert_int_equal(chown(target, 65534, 65534), 0);
	pm = perfmap_new_path(target);
	assert_null(at(pm, 0x1000, NULL));
	perfmap_free(pm);
}

/*
 * JIT code of this process: an anonymous executable mapping named in
 * /tmp/perf-PID.map resolves to "[jit]" and the name, each of its
 * functions to one start; code the map does not name stays "[anon]".
 */
static void test_resolve_jit(void **state)
{
	struct elf_cache *cache = elf_cache_new();
	struct maps *maps = maps_new(getpid(), cache);
	struct error err = { 0 };
	struct resolve_result r;
	char path[PATH_MAX], text[256];
	uint8_t *code;

	(void)state;
	code = mmap(NULL, 3 * 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(code != MAP_FAILED);
	snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
	snprintf(text, sizeof(text), "%" PRIxPTR " 100 js:hot_loop\n%" PRIxPTR " 40 [stub] Call\n",
		 (uintptr_t)code + 0x100, (uintptr_t)code + 0x1000);
	put(path, text, 0);
	assert_int_equal(maps_load(maps, &err), 0);

	assert_int_equal(resolve_addr(maps, (uint64_t)(uintptr_t)code + 0x150, &r), 0);
	assert_non_null(r.function);
	assert_string_equal(r.function, "js:hot_loop");
	assert_string_equal(r.module, "[jit]");
	assert_int_equal(r.function_offset, 0x50);
	assert_int_equal(r.module_offset, 0x150);
	assert_int_equal(r.function_start_known, 1);
	assert_int_equal(r.function_start_offset, 0x100);
	assert_int_equal(resolve_addr(maps, (uint64_t)(uintptr_t)code + 0x1010, &r), 0);
	assert_string_equal(r.function, "[stub] Call");

	/* Unnamed anonymous code. */
	assert_int_equal(resolve_addr(maps, (uint64_t)(uintptr_t)code + 0x2000, &r), 0);
	assert_null(r.function);
	assert_string_equal(r.module, "[anon]");
	assert_int_equal(r.function_start_known, 0);
	assert_int_equal(resolve_inline(maps, (uint64_t)(uintptr_t)code + 0x150,
					       (struct symtab_line[1]){ { 0 } }, 1), 0);

	unlink(path);
	munmap(code, 3 * 4096);
	maps_free(maps);
	elf_cache_free(cache);
}

/* Runs the group; the setup builds what the tests need. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_overlap),
		cmocka_unit_test(test_growth_and_rewrite),
		cmocka_unit_test(test_long_lines_and_many),
		cmocka_unit_test(test_untrusted_files),
		cmocka_unit_test(test_resolve_jit),
	};

	return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
