/*
 * The address-space model: parsing crafted /proc/PID/maps text (spaces in
 * paths, deleted files, specials, anonymous code), MMAP2-style insertion
 * with overlap splitting, the real maps of this process and of a child
 * (python3.11, an ET_EXEC binary), deleted binaries reached through
 * map_files, and the ELF cache's sharing and failure memory.
 */
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <link.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "self.h"
#include "symbols/elf_image.h"
#include "symbols/maps.h"
#include "symbols/resolve.h"
#include "symbols/symtab.h"
#include "tmp.h"

/* Crafted maps, deliberately out of order, with every kind of line. */
static const char crafted[] =
	"7f0000100000-7f0000200000 r-xp 00002000 fd:01 999999                     "
	"/tmp/gone lib.so (deleted)\n"
	"00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/my prog with  spaces\n"
	"00651000-00652000 rw-p 00051000 08:02 173521      /usr/bin/my prog with  spaces\n"
	"00652000-00655000 rw-p 00000000 00:00 0                                  [heap]\n"
	"7f0000000000-7f0000001000 r-xp 00000000 00:00 0 \n"
	"7f0000001000-7f0000002000 rw-s 00000000 00:05 4242                       /SYSV00000000 (deleted)\n"
	"7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]\n"
	"00002000-00004000 r-xp 00000000 00:00 0                                  [vdso]\n"
	"7f0000300000-7f0000301000 r-xp 00000000 00:00 0                          [anon:jit code]\n"
	"ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0                  [vsyscall]";

/* Copies src to dst. */
static void copy_file(const char *src, const char *dst)
{
	char buf[65536];
	int in = open(src, O_RDONLY), out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0755);
	ssize_t n;

	assert_true(in >= 0 && out >= 0);
	while ((n = read(in, buf, sizeof(buf))) > 0)
		assert_int_equal(write(out, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	close(in);
	close(out);
}

/* The entry at addr, which must exist. */
static const struct maps_entry *must_find(const struct maps *maps, uint64_t addr)
{
	const struct maps_entry *e = maps_find(maps, addr);

	if (e == NULL)
		fail_msg("no mapping at %#" PRIx64, addr);
	return e;
}

static void test_parse_crafted(void **state)
{
	struct elf_cache *cache = elf_cache_new();
	struct maps *maps = maps_new(getpid(), cache);
	struct error err = { 0 };
	const struct maps_entry *e;

	(void)state;
	assert_int_equal(maps_generation(maps), 0);
	assert_int_equal(maps_parse_text(maps, crafted, &err), 0);
	assert_int_equal(maps_generation(maps), 1);
	assert_int_equal(maps_count(maps), 10);
	for (size_t i = 1; i < maps_count(maps); i++)
		assert_true(maps_at(maps, i - 1)->end <= maps_at(maps, i)->start);
	assert_null(maps_at(maps, 10));

	e = must_find(maps, 0x400000);
	assert_int_equal(e->start, 0x400000);
	assert_int_equal(e->end, 0x452000);
	assert_int_equal(e->pgoff, 0);
	assert_int_equal(e->dev, makedev(8, 2));
	assert_int_equal(e->ino, 173521);
	assert_int_equal(e->prot, MAPS_PROT_READ | MAPS_PROT_EXEC);
	assert_string_equal(e->path, "/usr/bin/my prog with  spaces");
	assert_string_equal(e->name, "my prog with  spaces");
	assert_null(e->image);	/* no such file */
	assert_ptr_equal(must_find(maps, 0x451fff), e);

	e = must_find(maps, 0x651800);
	assert_int_equal(e->pgoff, 0x51000);
	assert_int_equal(e->prot, MAPS_PROT_READ | MAPS_PROT_WRITE);
	assert_ptr_equal(e->name, must_find(maps, 0x400000)->name);	/* interned */

	e = must_find(maps, 0x652000);
	assert_string_equal(e->name, "[heap]");
	assert_null(maps_find(maps, 0x655000));
	assert_null(maps_find(maps, 0x3fffff));
	assert_null(maps_find(maps, 0x4000));
	assert_null(maps_find(maps, 0x1fff));
	assert_null(maps_find(maps, 0));

	e = must_find(maps, 0x7f0000000800);
	assert_string_equal(e->path, "");
	assert_string_equal(e->name, "[anon]");
	assert_null(e->image);

	e = must_find(maps, 0x7f0000001000);
	assert_string_equal(e->path, "/SYSV00000000");
	assert_int_equal(e->prot, MAPS_PROT_READ | MAPS_PROT_WRITE);

	e = must_find(maps, 0x7f0000100000);
	assert_string_equal(e->path, "/tmp/gone lib.so");
	assert_string_equal(e->name, "gone lib.so");
	assert_int_equal(e->pgoff, 0x2000);
	assert_int_equal(e->dev, makedev(0xfd, 1));

	assert_string_equal(must_find(maps, 0x7f0000300000)->name, "[anon:jit code]");
	assert_string_equal(must_find(maps, 0x7ffd00020fff)->name, "[stack]");
	/* Below mmap_min_addr nothing is ever mapped: no vdso image can be read. */
	e = must_find(maps, 0x2000);
	assert_string_equal(e->name, "[vdso]");
	assert_null(e->image);
	e = must_find(maps, 0xffffffffff600000);
	assert_string_equal(e->name, "[vsyscall]");
	assert_int_equal(e->prot, MAPS_PROT_EXEC);
	assert_null(maps_find(maps, UINT64_MAX));

	{
		/* Anonymous code resolves to [anon] without a function. */
		struct resolve_result r;

		assert_int_equal(resolve_addr(maps, 0x7f0000000010, &r), 0);
		assert_string_equal(r.module, "[anon]");
		assert_null(r.function);
		assert_int_equal(r.module_offset, 0x10);
		assert_int_equal(resolve_addr(maps, 0x400010, &r), 0);
		assert_string_equal(r.module, "my prog with  spaces");
		assert_null(r.function);
		assert_int_equal(resolve_addr(maps, 0x651010, &r), 0);
		assert_int_equal(r.module_offset, 0x51010);
	}
	maps_free(maps);
	elf_cache_free(cache);
}

/* Malformed text fails and leaves the previous model alone. */
static void test_parse_malformed(void **state)
{
	static const char *bad[] = {
		"00400000 r-xp 00000000 08:02 1 /x\n",
		"00400000-00300000 r-xp 00000000 08:02 1 /x\n",
		"00400000-00500000 rzxp 00000000 08:02 1 /x\n",
		"00400000-00500000 r-xp 00000000 0802 1 /x\n",
		"00400000-00500000 r-xp 00000000 08:02 x /x\n",
		"00400000-00500000 r-xp 00000000 08:02 12/x\n",
		"00400000-00500000 r-xp\n",
		"00400000-11112222333344445555 r-xp 00000000 08:02 1 /x\n",
		"00400000-00500000 r-xp 00000000 08:02 99999999999999999999999 /x\n",
	};
	struct maps *maps = maps_new(getpid(), NULL);
	struct error err;

	(void)state;
	assert_int_equal(maps_parse_text(maps, "1000-2000 r-xp 00000000 00:00 0\n", &err), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		error_clear(&err);
		assert_int_equal(maps_parse_text(maps, bad[i], &err), -1);
		assert_non_null(strstr(err.msg, "line 1"));
	}
	assert_int_equal(maps_count(maps), 1);
	assert_int_equal(maps_generation(maps), 1);
	assert_non_null(maps_find(maps, 0x1000));
	/* An empty text is an empty (valid) model. */
	assert_int_equal(maps_parse_text(maps, "", &err), 0);
	assert_int_equal(maps_count(maps), 0);
	assert_null(maps_find(maps, 0x1000));
	maps_free(maps);
}

/* MMAP2-style insertion: splits, trims, replaces, bumps the generation. */
static void test_add_overlaps(void **state)
{
	static const char text[] =
		"1000-5000 r-xp 00000000 08:01 11 /lib/a.so\n"
		"6000-8000 rw-p 00000000 00:00 0 \n"
		"8000-a000 r-xp 00001000 08:01 12 /lib/c.so\n";
	struct maps *maps = maps_new(getpid(), NULL);
	struct error err = { 0 };
	const struct maps_entry *e;
	const char *old_name;
	uint64_t gen;

	(void)state;
	assert_int_equal(maps_parse_text(maps, text, &err), 0);
	old_name = must_find(maps, 0x8000)->name;
	gen = maps_generation(maps);

	/* In the middle of a.so: three pieces, the right one further into the file. */
	maps_add(maps, 0x2000, 0x1000, 0x2000 << 12, 0, 0, MAPS_PROT_READ | MAPS_PROT_EXEC,
		 "//anon");
	assert_int_equal(maps_generation(maps), gen + 1);
	assert_int_equal(maps_count(maps), 5);
	e = must_find(maps, 0x1000);
	assert_int_equal(e->end, 0x2000);
	assert_int_equal(e->pgoff, 0);
	assert_string_equal(e->name, "a.so");
	e = must_find(maps, 0x2000);
	assert_int_equal(e->end, 0x3000);
	assert_string_equal(e->name, "[anon]");
	assert_int_equal(e->pgoff, 0);	/* perf's pgoff of anonymous memory is dropped */
	e = must_find(maps, 0x3000);
	assert_int_equal(e->start, 0x3000);
	assert_int_equal(e->end, 0x5000);
	assert_int_equal(e->pgoff, 0x2000);
	assert_string_equal(e->path, "/lib/a.so");

	/* Across two mappings: the anonymous one trimmed, c.so trimmed and shifted. */
	maps_add(maps, 0x7000, 0x2000, 0, makedev(8, 1), 13, MAPS_PROT_READ | MAPS_PROT_EXEC,
		 "/lib/d.so (deleted)");
	assert_int_equal(maps_count(maps), 6);
	e = must_find(maps, 0x6000);
	assert_int_equal(e->end, 0x7000);
	assert_int_equal(e->pgoff, 0);
	e = must_find(maps, 0x8fff);
	assert_int_equal(e->start, 0x7000);
	assert_string_equal(e->path, "/lib/d.so");
	assert_string_equal(e->name, "d.so");
	assert_int_equal(e->ino, 13);
	e = must_find(maps, 0x9000);
	assert_int_equal(e->start, 0x9000);
	assert_int_equal(e->end, 0xa000);
	assert_int_equal(e->pgoff, 0x2000);
	assert_string_equal(e->name, "c.so");
	assert_string_equal(old_name, "c.so");	/* names outlive their entries */

	/* Exactly over an existing mapping: replaced. */
	maps_add(maps, 0x9000, 0x1000, 0, 0, 0, MAPS_PROT_READ | MAPS_PROT_EXEC, "[vdso-like]");
	assert_int_equal(maps_count(maps), 6);
	assert_string_equal(must_find(maps, 0x9000)->name, "[vdso-like]");

	/* Into a hole, below everything, above everything. */
	maps_add(maps, 0x5000, 0x800, 0, 0, 0, MAPS_PROT_READ, "");
	maps_add(maps, 0x0, 0x1000, 0, 0, 0, MAPS_PROT_READ, "[low]");
	maps_add(maps, 0x100000, 0x1000, 0, 0, 0, MAPS_PROT_READ, "[high]");
	assert_int_equal(maps_count(maps), 9);
	for (size_t i = 1; i < maps_count(maps); i++)
		assert_true(maps_at(maps, i - 1)->end <= maps_at(maps, i)->start);
	assert_null(maps_find(maps, 0x5800));
	assert_string_equal(must_find(maps, 0x57ff)->name, "[anon]");
	assert_string_equal(must_find(maps, 0)->name, "[low]");

	/* Nothing for an empty or wrapping range. */
	gen = maps_generation(maps);
	maps_add(maps, 0x20000, 0, 0, 0, 0, MAPS_PROT_READ, "");
	maps_add(maps, UINT64_MAX - 10, 100, 0, 0, 0, MAPS_PROT_READ, "");
	assert_int_equal(maps_generation(maps), gen);

	/* Over everything: one mapping left. */
	maps_add(maps, 0, 0x200000, 0, 0, 0, MAPS_PROT_READ, "[all]");
	assert_int_equal(maps_count(maps), 1);
	assert_string_equal(must_find(maps, 0x100800)->name, "[all]");
	assert_null(maps_find(maps, 0x200000));

	/* Into an empty model. */
	assert_int_equal(maps_parse_text(maps, "", &err), 0);
	maps_add(maps, 0x4000, 0x1000, 0, 0, 0, MAPS_PROT_READ, "[one]");
	assert_int_equal(maps_count(maps), 1);
	assert_string_equal(must_find(maps, 0x4000)->name, "[one]");
	maps_free(maps);
}

/* This process: libc, the executable, the stack, the vdso; images shared on reload. */
static void test_load_self(void **state)
{
	struct elf_cache *cache = elf_cache_new();
	struct maps *maps = maps_new(getpid(), cache);
	struct error err = { 0 };
	const struct maps_entry *e;
	struct elf_image *libc_img;
	uint64_t bias, addr = self_libc_func("qsort", &bias), vaddr;
	size_t images;
	int local = 0;
	char exe[PATH_MAX];

	(void)state;
	assert_true(realpath("/proc/self/exe", exe) != NULL);
	assert_int_equal(maps_load(maps, &err), 0);
	assert_true(maps_count(maps) > 5);

	e = must_find(maps, addr);
	assert_string_equal(e->name, "libc.so.6");
	assert_true(e->path[0] == '/');
	assert_true(e->prot & MAPS_PROT_EXEC);
	assert_non_null(e->image);
	assert_int_equal(maps_to_vaddr(e, addr, &vaddr), 0);
	assert_int_equal(vaddr, addr - bias);
	assert_int_equal(maps_to_vaddr(e, e->end, &vaddr), -1);
	libc_img = e->image;

	e = must_find(maps, (uint64_t)(uintptr_t)&test_load_self);
	assert_string_equal(e->path, exe);
	assert_string_equal(e->name, basename(exe));
	assert_non_null(e->image);

	e = must_find(maps, (uint64_t)(uintptr_t)&local);
	/* ASan may move locals to a fake stack; only the real stack is [stack]. */
	if (e->name[0] == '[' && strcmp(e->name, "[anon]") != 0)
		assert_string_equal(e->name, "[stack]");
	assert_null(e->image);

	if (getauxval(AT_SYSINFO_EHDR) != 0) {
		e = must_find(maps, getauxval(AT_SYSINFO_EHDR));
		assert_string_equal(e->name, "[vdso]");
		assert_non_null(e->image);
	}

	/* Reloading reuses every image. */
	images = elf_cache_count(cache);
	assert_true(images >= 3);
	assert_int_equal(maps_load(maps, &err), 0);
	assert_int_equal(maps_generation(maps), 2);
	assert_int_equal(elf_cache_count(cache), images);
	assert_ptr_equal(must_find(maps, addr)->image, libc_img);

	/* A second model of the same process shares the cache's images. */
	{
		struct maps *again = maps_new(getpid(), cache);

		assert_int_equal(maps_load(again, &err), 0);
		assert_ptr_equal(must_find(again, addr)->image, libc_img);
		assert_int_equal(elf_cache_count(cache), images);
		maps_free(again);
	}
	maps_free(maps);
	elf_cache_free(cache);
}

/*
 * A binary deleted while mapped: /proc/PID/maps says "(deleted)" and the
 * image comes through map_files, which needs root (CAP_SYS_ADMIN or
 * CAP_CHECKPOINT_RESTORE).  A copy that is not deleted opens through
 * /proc/PID/root.
 */
static void test_deleted_file(void **state)
{
	struct elf_cache *cache = elf_cache_new();
	struct maps *maps = maps_new(getpid(), cache);
	char gone[PATH_MAX], kept[PATH_MAX];
	struct error err = { 0 };
	const struct maps_entry *e;
	struct stat st;
	void *p, *q;
	int fd;

	(void)state;
	snprintf(gone, sizeof(gone), "%s/gone binary", tmp_dir());
	snprintf(kept, sizeof(kept), "%s/kept", tmp_dir());
	copy_file("/bin/true", gone);
	copy_file("/bin/true", kept);
	fd = open(gone, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	assert_true(p != MAP_FAILED);
	close(fd);
	assert_int_equal(unlink(gone), 0);
	fd = open(kept, O_RDONLY);
	assert_true(fd >= 0);
	q = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0);
	assert_true(q != MAP_FAILED);
	close(fd);

	assert_int_equal(maps_load(maps, &err), 0);
	e = must_find(maps, (uint64_t)(uintptr_t)p);
	assert_string_equal(e->path, gone);
	assert_string_equal(e->name, "gone binary");
	if (geteuid() == 0) {
		assert_non_null(e->image);
		assert_string_equal(elf_image_path(e->image), gone);
	}
	e = must_find(maps, (uint64_t)(uintptr_t)q);
	assert_string_equal(e->path, kept);
	assert_non_null(e->image);
	assert_string_equal(elf_image_name(e->image), "kept");
	munmap(p, (size_t)st.st_size);
	munmap(q, (size_t)st.st_size);
	maps_free(maps);
	elf_cache_free(cache);
}

/* The cache: one image per inode, failures remembered the documented way. */
static void test_cache(void **state)
{
	struct elf_cache *cache = elf_cache_new();
	char text[PATH_MAX], elf[PATH_MAX];
	struct elf_image *img, *img2;
	struct stat st_text, st_elf;
	struct error err;
	FILE *f;

	(void)state;
	snprintf(text, sizeof(text), "%s/not-elf", tmp_dir());
	snprintf(elf, sizeof(elf), "%s/elf", tmp_dir());
	f = fopen(text, "w");
	assert_non_null(f);
	fputs("plain text, long enough to be mistaken for a header\n", f);
	fclose(f);
	copy_file("/bin/true", elf);
	assert_int_equal(stat(text, &st_text), 0);
	assert_int_equal(stat(elf, &st_elf), 0);

	/* Not ELF: remembered for any path, even one that now names good ELF. */
	error_clear(&err);
	assert_null(elf_cache_get(cache, text, text, st_text.st_dev, st_text.st_ino, &err));
	assert_non_null(strstr(err.msg, "not an ELF"));
	error_clear(&err);
	assert_null(elf_cache_get(cache, text, text, st_text.st_dev, st_text.st_ino, &err));
	assert_non_null(strstr(err.msg, "not an ELF"));
	assert_null(elf_cache_get(cache, elf, text, st_text.st_dev, st_text.st_ino, &err));
	assert_int_equal(elf_cache_count(cache), 0);

	/* Could not open: only that path is remembered. */
	error_clear(&err);
	assert_null(elf_cache_get(cache, "/nonexistent", elf, st_elf.st_dev, st_elf.st_ino, &err));
	assert_int_equal(err.errnum, ENOENT);
	img = elf_cache_get(cache, elf, elf, st_elf.st_dev, st_elf.st_ino, &err);
	assert_non_null(img);
	assert_int_equal(elf_cache_count(cache), 1);
	img2 = elf_cache_get(cache, "/nonexistent", elf, st_elf.st_dev, st_elf.st_ino, &err);
	assert_ptr_equal(img2, img);

	/* A path naming another inode than the mapping's is refused. */
	error_clear(&err);
	assert_null(elf_cache_get(cache, "/bin/true", "/bin/true", st_elf.st_dev, st_elf.st_ino + 1,
				  &err));
	assert_non_null(strstr(err.msg, "replaced"));

	/* Without an inode the display path is the key. */
	img = elf_cache_get(cache, "/bin/true", "/bin/true", 0, 0, &err);
	assert_non_null(img);
	assert_ptr_equal(elf_cache_get(cache, "/bin/true", "/bin/true", 0, 0, &err), img);
	assert_int_equal(elf_cache_count(cache), 2);

	/* Many files: the table grows and still finds every one. */
	for (uint64_t i = 0; i < 300; i++)
		assert_null(elf_cache_get(cache, "/nonexistent", "x", 1, 1000 + i, &err));
	assert_ptr_equal(elf_cache_get(cache, elf, elf, st_elf.st_dev, st_elf.st_ino, &err), img2);

	/* In-memory images with equal bytes are shared. */
	{
		size_t size;
		const uint8_t *bytes = elf_image_data(img, &size);
		struct elf_image *m1 = elf_cache_get_memory(cache, "[vdso]", bytes, size, &err);

		assert_non_null(m1);
		assert_ptr_equal(elf_cache_get_memory(cache, "[vdso]", bytes, size, &err), m1);
		assert_int_equal(elf_cache_count(cache), 3);
		assert_null(elf_cache_get_memory(cache, "[vdso]", "junk", 4, &err));
	}
	elf_cache_free(cache);
	elf_cache_free(NULL);
}

/* Waits until the child's maps name want (exec done), at most 10 s. */
static int wait_for_exec(struct maps *maps, const char *want)
{
	for (int tries = 0; tries < 1000; tries++) {
		struct error err;

		if (maps_load(maps, &err) == 0)
			for (size_t i = 0; i < maps_count(maps); i++)
				if (strcmp(maps_at(maps, i)->name, want) == 0)
					return 0;
		usleep(10000);
	}
	return -1;
}

/*
 * Another process, and an ET_EXEC binary: python3.11 (non-PIE on Debian)
 * sleeping.  Its functions sit at their link addresses, which nm prints.
 */
static void test_other_process_exec(void **state)
{
	const char *python = "/usr/bin/python3.11";
	struct elf_cache *cache;
	struct maps *maps;
	struct resolve_result r;
	uint64_t addr = 0, vaddr;
	char line[256];
	pid_t pid;
	FILE *f;

	(void)state;
	if (access(python, X_OK) != 0)
		skip();
	f = popen("nm -D --defined-only /usr/bin/python3.11 2>/dev/null", "r");
	if (f == NULL)
		skip();
	while (fgets(line, sizeof(line), f) != NULL) {
		uint64_t a;
		char type, name[128];

		if (sscanf(line, "%" SCNx64 " %c %127s", &a, &type, name) == 3 &&
		    strcmp(name, "Py_Initialize") == 0)
			addr = a;
	}
	pclose(f);
	if (addr == 0)
		skip();

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl(python, python, "-c", "import time; time.sleep(30)", (char *)NULL);
		_exit(127);
	}
	cache = elf_cache_new();
	maps = maps_new(pid, cache);
	assert_int_equal(wait_for_exec(maps, "python3.11"), 0);
	assert_int_equal(resolve_addr(maps, addr + 1, &r), 0);
	assert_string_equal(r.module, "python3.11");
	assert_non_null(r.function);
	assert_string_equal(r.function, "Py_Initialize");
	assert_int_equal(r.function_offset, 1);
	assert_true(elf_image_is_exec(maps_find(maps, addr)->image));
	assert_int_equal(maps_to_vaddr(maps_find(maps, addr), addr, &vaddr), 0);
	assert_int_equal(vaddr, addr);
	/* The child's vdso, read from its memory. */
	for (size_t i = 0; i < maps_count(maps); i++)
		if (strcmp(maps_at(maps, i)->name, "[vdso]") == 0)
			assert_non_null(maps_at(maps, i)->image);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	maps_free(maps);
	elf_cache_free(cache);
}

/* A process that is gone cannot be loaded, and says so. */
static void test_load_gone(void **state)
{
	struct maps *maps;
	struct error err = { 0 };
	pid_t pid = fork();

	(void)state;
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	maps = maps_new(pid, NULL);
	assert_int_equal(maps_load(maps, &err), -1);
	assert_int_equal(err.errnum, ENOENT);
	assert_non_null(strstr(err.msg, "maps"));
	maps_free(maps);
	maps_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_crafted),
		cmocka_unit_test(test_parse_malformed),
		cmocka_unit_test(test_add_overlaps),
		cmocka_unit_test(test_load_self),
		cmocka_unit_test(test_deleted_file),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_other_process_exec),
		cmocka_unit_test(test_load_gone),
	};

	return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
