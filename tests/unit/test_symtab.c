/*
 * ELF images and symbol tables against real binaries of this system: libc
 * (.dynsym only on Debian), python3.11 (ET_EXEC), this test binary (PIE with
 * .symtab), our own vdso, and corrupt or truncated copies written to a
 * temporary directory.  Expected addresses come from nm, from the dynamic
 * linker (dlsym, link_map) or from parsing in-memory headers directly, never
 * from the code under test.
 */
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
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

/* A function only .symtab knows about: the test looks it up by name. */
static __attribute__((noinline, used)) int symtab_test_marker(int x)
{
	__asm__ volatile("" : "+r"(x));
	return x * 3 + 1;
}

/* One symbol as nm prints it. */
struct nm_sym {
	uint64_t addr;
	char type;
	char name[160];
};

static int nm_sym_cmp(const void *pa, const void *pb)
{
	const struct nm_sym *a = pa, *b = pb;

	return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* Runs nm (-D for the dynamic table) on path; returns the count, 0 when nm is missing. */
static size_t nm_read(const char *path, int dynamic, struct nm_sym **out)
{
	char cmd[PATH_MAX + 64], line[512];
	struct nm_sym *syms = NULL;
	size_t n = 0, cap = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd), "nm %s --defined-only '%s' 2>/dev/null", dynamic ? "-D" : "",
		 path);
	f = popen(cmd, "r");
	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		struct nm_sym s;
		char *at;

		if (sscanf(line, "%" SCNx64 " %c %159s", &s.addr, &s.type, s.name) != 3)
			continue;
		at = strchr(s.name, '@');
		if (at != NULL)
			*at = '\0';
		if (n == cap) {
			cap = cap ? cap * 2 : 1024;
			syms = realloc(syms, cap * sizeof(*syms));
			assert_non_null(syms);
		}
		syms[n++] = s;
	}
	pclose(f);
	qsort(syms, n, sizeof(*syms), nm_sym_cmp);
	*out = syms;
	return n;
}

/* True when nm lists name at addr (any type): the aliases the lookup may pick. */
static int nm_has_alias(const struct nm_sym *syms, size_t n, uint64_t addr, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (syms[i].addr == addr && strcmp(syms[i].name, name) == 0)
			return 1;
	return 0;
}

/*
 * Every function nm shows (T, t: text; i: ifunc; W: weak, which may also be
 * a data label, so only inside .text) must be found at its exact address
 * under one of the names nm lists there.
 */
static size_t check_nm_functions(struct elf_image *img, const struct nm_sym *syms, size_t n)
{
	const struct symtab *tab = symtab_get(img);
	uint64_t text = 0;
	const uint8_t *data;
	size_t checked = 0, text_size = 0;

	(void)elf_image_section(img, ".text", &text, &data, &text_size);
	for (size_t i = 0; i < n; i++) {
		const char *name;
		uint64_t start = 0;

		if (syms[i].type == 'W' && syms[i].addr - text >= text_size)
			continue;
		if (syms[i].type != 'T' && syms[i].type != 'W' && syms[i].type != 'i' &&
		    syms[i].type != 't')
			continue;
		name = symtab_lookup(tab, syms[i].addr, &start);
		if (name == NULL || start != syms[i].addr ||
		    !nm_has_alias(syms, n, syms[i].addr, name))
			fail_msg("%s at %#" PRIx64 ": got %s at %#" PRIx64, syms[i].name,
				 syms[i].addr, name ? name : "(null)", start);
		checked++;
	}
	return checked;
}

/* The load bias of the main program. */
static int main_bias_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	*(uint64_t *)arg = info->dlpi_addr;
	return 1;	/* the main program comes first */
}

static uint64_t main_bias(void)
{
	uint64_t bias = 0;

	dl_iterate_phdr(main_bias_cb, &bias);
	return bias;
}

/* The address of symtab_test_marker in this binary's file, where its symbol says it is. */
static uint64_t marker_vaddr(void)
{
	return (uint64_t)(uintptr_t)&symtab_test_marker - main_bias();
}

/* Functions found through the dynamic linker resolve to their own names in libc. */
static void test_libc_dlsym(void **state)
{
	/* No ifuncs here: dlsym returns what their resolver picked. */
	static const char *names[] = { "malloc", "free", "qsort", "printf", "fopen",
				       "pthread_create", "clock_gettime" };
	struct error err = { 0 };
	struct elf_image *img;
	const struct symtab *tab;

	(void)state;
	img = elf_image_open(self_libc_path(NULL), &err);
	assert_non_null(img);
	assert_string_equal(elf_image_name(img), "libc.so.6");
	assert_int_equal(elf_image_is_exec(img), 0);
	tab = symtab_get(img);
	assert_true(symtab_count(tab) > 1000);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		uint64_t bias, addr = self_libc_func(names[i], &bias), start = 0;
		const char *got = symtab_lookup(tab, addr - bias, &start);

		assert_non_null(got);
		/* malloc shares its address with __libc_malloc: the alias rule picks malloc. */
		assert_string_equal(got, names[i]);
		assert_int_equal(start, addr - bias);
		got = symtab_lookup(tab, addr - bias + 1, &start);
		assert_non_null(got);
		assert_string_equal(got, names[i]);
		assert_int_equal(start, addr - bias);
	}
	/* Below every function: nothing. */
	assert_null(symtab_lookup(tab, 0, NULL));
	assert_null(symtab_lookup(tab, 16, NULL));
	elf_image_free(img);
}

/* Every exported function of libc, memcpy's two versions included, per nm -D. */
static void test_libc_nm(void **state)
{
	struct error err = { 0 };
	struct elf_image *img;
	struct nm_sym *syms = NULL;
	size_t n, checked, found_memcpy = 0;
	const struct symtab *tab;

	(void)state;
	n = nm_read(self_libc_path(NULL), 1, &syms);
	if (n == 0)
		skip();
	img = elf_image_open(self_libc_path(NULL), &err);
	assert_non_null(img);
	tab = symtab_get(img);
	checked = check_nm_functions(img, syms, n);
	print_message("libc.so.6: %zu nm functions checked, %zu in our table\n", checked,
		      symtab_count(tab));
	assert_true(checked > 1000);
	for (size_t i = 0; i < n; i++) {
		const char *name;

		if (strcmp(syms[i].name, "memcpy") != 0 && strcmp(syms[i].name, "memmove") != 0 &&
		    strcmp(syms[i].name, "mempcpy") != 0)
			continue;
		name = symtab_lookup(tab, syms[i].addr, NULL);
		assert_non_null(name);
		assert_true(nm_has_alias(syms, n, syms[i].addr, name));
		found_memcpy++;
	}
	assert_true(found_memcpy >= 3);
	free(syms);
	elf_image_free(img);
}

/* python3.11 is ET_EXEC on Debian: absolute addresses, identity translation. */
static void test_python_exec(void **state)
{
	const char *path = "/usr/bin/python3.11";
	struct error err = { 0 };
	struct elf_image *img;
	struct nm_sym *syms = NULL;
	uint64_t vaddr, off;
	size_t n, checked;

	(void)state;
	if (access(path, R_OK) != 0)
		skip();
	img = elf_image_open(path, &err);
	assert_non_null(img);
	if (!elf_image_is_exec(img)) {
		elf_image_free(img);
		skip();
	}
	n = nm_read(path, 1, &syms);
	if (n == 0) {
		elf_image_free(img);
		skip();
	}
	checked = check_nm_functions(img, syms, n);
	assert_true(checked > 500);
	/* The text segment's file offsets and addresses differ by the link address. */
	for (size_t i = 0; i < n; i++) {
		if (syms[i].type != 'T')
			continue;
		assert_int_equal(elf_image_vaddr_to_offset(img, syms[i].addr, &off), 0);
		assert_true(off < syms[i].addr);
		assert_int_equal(elf_image_offset_to_vaddr(img, off, &vaddr), 0);
		assert_int_equal(vaddr, syms[i].addr);
		break;
	}
	free(syms);
	elf_image_free(img);
}

/* This binary's .symtab holds its static functions. */
static void test_self_symtab(void **state)
{
	uint64_t vaddr = marker_vaddr(), start = 0;
	struct error err = { 0 };
	struct elf_image *img;
	const char *name;
	uint64_t sv;
	const uint8_t *sd;
	size_t ss;

	(void)state;
	img = elf_image_open("/proc/self/exe", &err);
	assert_non_null(img);
	assert_int_equal(elf_image_section(img, ".symtab", &sv, &sd, &ss), 0);
	name = symtab_lookup(symtab_get(img), vaddr, &start);
	assert_non_null(name);
	assert_string_equal(name, "symtab_test_marker");
	assert_int_equal(start, vaddr);
	name = symtab_lookup(symtab_get(img), vaddr + 4, &start);
	assert_non_null(name);
	assert_string_equal(name, "symtab_test_marker");
	assert_int_equal(symtab_test_marker(1), 4);
	elf_image_free(img);
}

/* The build-id in libc's loaded PT_NOTE segments (*len bytes), NULL when none. */
static const uint8_t *libc_loaded_build_id(size_t *len)
{
	uint64_t bias;
	size_t n;
	const ElfW(Phdr) *phdrs = self_libc_phdrs(&n, &bias);

	for (size_t i = 0; i < n; i++) {
		const ElfW(Phdr) *ph = &phdrs[i];
		const uint8_t *p = (const uint8_t *)(uintptr_t)(bias + ph->p_vaddr);
		size_t pos = 0;

		if (ph->p_type != PT_NOTE)
			continue;
		while (pos + 12 <= ph->p_filesz) {
			const uint32_t *h = (const uint32_t *)(p + pos);
			size_t a = ph->p_align == 8 ? 8 : 4;
			size_t name_end = pos + 12 + ((h[0] + a - 1) & ~(a - 1));

			if (h[2] == NT_GNU_BUILD_ID && h[0] == 4) {
				*len = h[1];
				return p + name_end;
			}
			pos = name_end + ((h[1] + a - 1) & ~(a - 1));
		}
	}
	return NULL;
}

static void test_build_id(void **state)
{
	const uint8_t *got, *want;
	struct error err = { 0 };
	struct elf_image *img;
	size_t len, want_len = 0;

	(void)state;
	want = libc_loaded_build_id(&want_len);
	if (want == NULL)
		skip();
	img = elf_image_open(self_libc_path(NULL), &err);
	assert_non_null(img);
	got = elf_image_build_id(img, &len);
	assert_non_null(got);
	assert_int_equal(len, want_len);
	assert_memory_equal(got, want, len);
	elf_image_free(img);
}

/* The offset<->vaddr translation of img (libc's file) against libc's loaded headers. */
static void check_libc_loads(const struct elf_image *img)
{
	uint64_t bias;
	size_t n;
	const ElfW(Phdr) *phdrs = self_libc_phdrs(&n, &bias);

	for (size_t i = 0; i < n; i++) {
		const ElfW(Phdr) *ph = &phdrs[i];
		uint64_t v, o;

		if (ph->p_type != PT_LOAD)
			continue;
		assert_int_equal(elf_image_offset_to_vaddr(img, ph->p_offset + 7, &v), 0);
		assert_int_equal(v, ph->p_vaddr + 7);
		assert_int_equal(elf_image_vaddr_to_offset(img, ph->p_vaddr + ph->p_filesz - 1, &o), 0);
		assert_int_equal(o, ph->p_offset + ph->p_filesz - 1);
	}
}

/* Sections by name, and the offset<->vaddr translation against libc's loaded headers. */
static void test_sections_and_loads(void **state)
{
	struct error err = { 0 };
	struct elf_image *img;
	const uint8_t *data;
	uint64_t vaddr, off;
	size_t size;

	(void)state;
	img = elf_image_open(self_libc_path(NULL), &err);
	assert_non_null(img);
	assert_int_equal(elf_image_section(img, ".text", &vaddr, &data, &size), 0);
	assert_true(size > 100000);
	assert_int_equal(elf_image_vaddr_to_offset(img, vaddr, &off), 0);
	assert_ptr_equal(data, elf_image_data(img, &size) + off);
	assert_int_equal(elf_image_section(img, ".no.such.section", &vaddr, &data, &size), -1);
	assert_int_equal(elf_image_section(img, ".bss", &vaddr, &data, &size), -1);
	assert_int_equal(elf_image_vaddr_to_offset(img, UINT64_MAX - 5, &off), -1);
	check_libc_loads(img);
	elf_image_free(img);
}

/*
 * A PT_LOAD whose file range wraps around 2^64 translates nothing.  Such a
 * segment once sent its addresses to offsets near the start of the file
 * (p_offset + delta wrapped), bytes that belong to something else.
 */
static void test_wrapping_segment(void **state)
{
	struct error err = { 0 };
	struct elf_image *img;
	Elf64_Phdr *ph, *first = NULL, *last = NULL;
	uint64_t off, vaddr, back;
	uint8_t *buf;
	size_t size;

	(void)state;
	buf = files_read("/proc/self/exe", &size);
	ph = (Elf64_Phdr *)(buf + ((Elf64_Ehdr *)buf)->e_phoff);
	for (size_t i = 0; i < ((Elf64_Ehdr *)buf)->e_phnum; i++) {
		if (ph[i].p_type != PT_LOAD)
			continue;
		if (first == NULL)
			first = &ph[i];
		last = &ph[i];
	}
	assert_true(first != NULL && last != first && last->p_filesz > 8);
	vaddr = last->p_vaddr;
	last->p_offset = UINT64_MAX - 1;
	img = elf_image_open_memory("wrapping", buf, size, &err);
	assert_non_null(img);
	assert_int_equal(elf_image_vaddr_to_offset(img, vaddr + 5, &off), -1);
	/* The other segments still translate, both ways. */
	assert_int_equal(elf_image_vaddr_to_offset(img, first->p_vaddr + 5, &off), 0);
	assert_int_equal(off, first->p_offset + 5);
	assert_int_equal(elf_image_offset_to_vaddr(img, off, &back), 0);
	assert_int_equal(back, first->p_vaddr + 5);
	elf_image_free(img);
	free(buf);
}

/* Our own process: a libc function, a function of ours, the vdso, anonymous code. */
static void test_resolve_self(void **state)
{
	struct elf_cache *cache = elf_cache_new();
	struct maps *maps = maps_new(getpid(), cache);
	struct resolve_result r;
	struct error err = { 0 };
	uint64_t bias, addr, exe_addr;
	char exe[PATH_MAX];
	void *anon;

	(void)state;
	assert_true(realpath("/proc/self/exe", exe) != NULL);
	anon = mmap(NULL, 8192, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED);
	assert_int_equal(maps_load(maps, &err), 0);

	addr = self_libc_func("qsort", &bias);
	assert_int_equal(resolve_addr(maps, addr + 3, &r), 0);
	assert_non_null(r.function);
	assert_string_equal(r.function, "qsort");
	assert_int_equal(r.function_offset, 3);
	assert_string_equal(r.module, "libc.so.6");
	{
		/* module_offset is a file offset: check it against the image's segments. */
		struct elf_image *img = maps_find(maps, addr)->image;
		uint64_t off;

		assert_non_null(img);
		assert_int_equal(elf_image_vaddr_to_offset(img, addr + 3 - bias, &off), 0);
		assert_int_equal(r.module_offset, off);
		/* The start of a named function is where its symbol starts. */
		assert_int_equal(r.function_start_known, 1);
		assert_int_equal(r.function_start_offset, off - 3);
	}

	exe_addr = (uint64_t)(uintptr_t)&symtab_test_marker;
	assert_int_equal(resolve_addr(maps, exe_addr, &r), 0);
	assert_non_null(r.function);
	assert_string_equal(r.function, "symtab_test_marker");
	assert_int_equal(r.function_offset, 0);
	assert_string_equal(r.module, basename(exe));

	/* Anonymous executable memory (no perf map names it): a module, no function. */
	assert_int_equal(resolve_addr(maps, (uint64_t)(uintptr_t)anon + 100, &r), 0);
	assert_string_equal(r.module, "[anon]");
	assert_null(r.function);
	assert_int_equal(r.function_start_known, 0);

	/* An address nothing maps. */
	assert_int_equal(resolve_addr(maps, 8, &r), -1);
	assert_string_equal(r.module, "[unknown]");
	assert_null(r.function);
	assert_int_equal(r.function_start_known, 0);

	munmap(anon, 8192);
	maps_free(maps);
	elf_cache_free(cache);
}

/*
 * Finds a function in the vdso by walking its in-memory headers directly:
 * the vdso carries its section headers, and its .dynsym names the
 * functions (address = vdso base + st_value - first PT_LOAD's vaddr).
 */
static uint64_t vdso_func(const char *name)
{
	const uint8_t *base = (const uint8_t *)(uintptr_t)getauxval(AT_SYSINFO_EHDR);
	const Elf64_Ehdr *eh = (const Elf64_Ehdr *)base;
	const Elf64_Shdr *sh;
	const Elf64_Phdr *ph;
	uint64_t load_vaddr = 0;

	if (base == NULL)
		return 0;
	ph = (const Elf64_Phdr *)(base + eh->e_phoff);
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD) {
			load_vaddr = ph[i].p_vaddr - ph[i].p_offset;
			break;
		}
	sh = (const Elf64_Shdr *)(base + eh->e_shoff);
	for (int i = 0; i < eh->e_shnum; i++) {
		const Elf64_Sym *sym = (const Elf64_Sym *)(base + sh[i].sh_offset);
		const char *str = (const char *)(base + sh[sh[i].sh_link].sh_offset);

		if (sh[i].sh_type != SHT_DYNSYM)
			continue;
		for (size_t j = 0; j < sh[i].sh_size / sizeof(*sym); j++)
			if (strcmp(str + sym[j].st_name, name) == 0 && sym[j].st_value != 0)
				return (uint64_t)(uintptr_t)base + sym[j].st_value - load_vaddr;
	}
	return 0;
}

static void test_resolve_vdso(void **state)
{
	struct elf_cache *cache = elf_cache_new();
	struct maps *maps = maps_new(getpid(), cache);
	uint64_t addr = vdso_func("__vdso_clock_gettime");
	uint64_t base = getauxval(AT_SYSINFO_EHDR);
	struct error err = { 0 };
	struct resolve_result r;

	(void)state;
	if (addr == 0)
		addr = vdso_func("clock_gettime");
	if (addr == 0)
		skip();
	assert_int_equal(maps_load(maps, &err), 0);
	assert_non_null(maps_find(maps, addr)->image);
	assert_int_equal(resolve_addr(maps, addr + 2, &r), 0);
	assert_string_equal(r.module, "[vdso]");
	assert_non_null(r.function);
	/* clock_gettime is a weak alias of the global __vdso_clock_gettime. */
	assert_true(strcmp(r.function, "__vdso_clock_gettime") == 0 ||
		    strcmp(r.function, "clock_gettime") == 0);
	assert_int_equal(r.function_offset, 2);
	assert_int_equal(r.module_offset, addr + 2 - base);
	print_message("vdso: %#" PRIx64 " is %s+%" PRIu64 "\n", addr + 2, r.function,
		      r.function_offset);
	maps_free(maps);
	elf_cache_free(cache);
}

/* Empty, non-ELF and truncated files fail cleanly or give an image without symbols. */
static void test_bad_files(void **state)
{
	static const char text[] = "#!/bin/sh\necho this is not an ELF file\n";
	struct error err;
	struct elf_image *img;
	const char *path;
	uint8_t *buf;
	size_t size;

	(void)state;
	path = tmp_write("empty", "", 0);
	error_clear(&err);
	assert_null(elf_image_open(path, &err));
	assert_true(err.msg[0] != '\0');

	path = tmp_write("script", text, sizeof(text) - 1);
	error_clear(&err);
	assert_null(elf_image_open(path, &err));
	assert_non_null(strstr(err.msg, "not an ELF"));

	error_clear(&err);
	assert_null(elf_image_open(tmp_dir(), &err));
	assert_null(elf_image_open("/nonexistent/file", &err));
	assert_int_equal(err.errnum, ENOENT);

	buf = files_read("/bin/true", &size);
	for (size_t cut = 0; cut < 5; cut++) {
		size_t len = cut == 0 ? 100 : cut == 1 ? size / 2 : cut == 2 ? 16 : cut == 3 ? 64 :
			     size - 1;

		path = tmp_write("truncated", buf, len);
		img = elf_image_open(path, &err);
		if (img == NULL) {
			assert_true(err.msg[0] != '\0');
			continue;
		}
		/* Only the last cut keeps the section header table (minus one byte). */
		if (cut != 4)
			assert_int_equal(symtab_count(symtab_get(img)), 0);
		for (uint64_t a = 0; a < 0x10000; a += 0x100)
			(void)symtab_lookup(symtab_get(img), a, NULL);
		elf_image_free(img);
	}
	free(buf);
}

/* Offsets of the section headers of an ELF64 file held in buf. */
static Elf64_Shdr *shdrs_of(uint8_t *buf, size_t *n)
{
	Elf64_Ehdr *eh = (Elf64_Ehdr *)buf;

	*n = eh->e_shnum;
	return (Elf64_Shdr *)(buf + eh->e_shoff);
}

/* Copies the size bytes of orig over buf, to mangle afresh; returns the copy's ELF header. */
static Elf64_Ehdr *fresh_copy(uint8_t *buf, const uint8_t *orig, size_t size)
{
	memcpy(buf, orig, size);
	return (Elf64_Ehdr *)buf;
}

/* fresh_copy, then the copy's section headers (*n of them). */
static Elf64_Shdr *fresh_shdrs(uint8_t *buf, const uint8_t *orig, size_t size, size_t *n)
{
	fresh_copy(buf, orig, size);
	return shdrs_of(buf, n);
}

/* Opens a mangled copy from a file and probes it; no crash, no symbols where asked. */
static void probe_mangled(const char *name, const uint8_t *buf, size_t size, uint64_t marker,
			  int expect_no_marker)
{
	struct error err = { 0 };
	struct elf_image *img = elf_image_open(tmp_write(name, buf, size), &err);
	const struct symtab *tab;
	const uint8_t *d;
	uint64_t v;
	size_t s;

	if (img == NULL) {
		assert_true(err.msg[0] != '\0');
		return;
	}
	tab = symtab_get(img);
	if (expect_no_marker)
		assert_null(symtab_lookup(tab, marker, NULL));
	for (uint64_t a = 0; a < 0x40000; a += 0x40)
		(void)symtab_lookup(tab, a, NULL);
	(void)elf_image_section(img, ".text", &v, &d, &s);
	(void)elf_image_build_id(img, &s);
	elf_image_free(img);
}

/* Corrupt section headers of a copy of this binary (which has .symtab). */
static void test_corrupt_sections(void **state)
{
	uint64_t marker = marker_vaddr();
	uint8_t *orig, *buf;
	Elf64_Ehdr *copy;
	Elf64_Shdr *sh;
	size_t size, n;

	(void)state;
	orig = files_read("/proc/self/exe", &size);
	buf = malloc(size);
	assert_non_null(buf);

	/* Every section's bytes beyond the end of the file. */
	sh = fresh_shdrs(buf, orig, size, &n);
	for (size_t i = 1; i < n; i++)
		sh[i].sh_offset = 0xffffffff00000000ULL + i;
	probe_mangled("offsets", buf, size, marker, 1);

	/* Sizes running past the end. */
	sh = fresh_shdrs(buf, orig, size, &n);
	for (size_t i = 1; i < n; i++)
		sh[i].sh_size = UINT64_MAX - i;
	probe_mangled("sizes", buf, size, marker, 1);

	/* Links and names pointing nowhere. */
	sh = fresh_shdrs(buf, orig, size, &n);
	for (size_t i = 1; i < n; i++) {
		sh[i].sh_link = 0xfffff000u + (uint32_t)i;
		sh[i].sh_name = 0xfffff000u;
	}
	probe_mangled("links", buf, size, marker, 1);

	/* A bad section-name index, a header table past the end, too many sections. */
	fresh_copy(buf, orig, size)->e_shstrndx = 0xfff0;
	probe_mangled("shstrndx", buf, size, marker, 0);
	fresh_copy(buf, orig, size)->e_shoff = size - 10;
	probe_mangled("shoff", buf, size, marker, 1);
	fresh_copy(buf, orig, size)->e_shnum = 0xfeff;
	probe_mangled("shnum", buf, size, marker, 1);
	copy = fresh_copy(buf, orig, size);
	copy->e_phoff = size - 8;
	copy->e_phnum = 0xffff;
	probe_mangled("phdrs", buf, size, marker, 0);

	/* Random byte flips in the header table and the ELF/program headers. */
	{
		Elf64_Ehdr *eh = (Elf64_Ehdr *)orig;
		size_t tab = eh->e_shoff, tab_len = (size_t)eh->e_shnum * eh->e_shentsize;
		uint64_t seed = 12345;

		assert_true(tab + tab_len <= size);
		for (int round = 0; round < 300; round++) {
			struct error err = { 0 };
			struct elf_image *img;

			fresh_copy(buf, orig, size);
			for (int k = 0; k < 8; k++) {
				size_t at;

				seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
				at = (round & 1) ? tab + (size_t)(seed >> 33) % tab_len
						 : (size_t)(seed >> 33) % 512;
				buf[at] ^= (uint8_t)(seed >> 20) | 1;
			}
			img = elf_image_open_memory("fuzz", buf, size, &err);
			if (img == NULL)
				continue;
			for (uint64_t a = 0; a < 0x20000; a += 0x80)
				(void)symtab_lookup(symtab_get(img), a, NULL);
			elf_image_free(img);
		}
	}
	free(buf);
	free(orig);
}

/* .symtab whose string table, or whose name offsets, lie outside the file. */
static void test_symtab_strings_outside(void **state)
{
	uint64_t marker = marker_vaddr();
	uint8_t *orig, *buf;
	Elf64_Shdr *sh, *symtab = NULL;
	size_t size, n;

	(void)state;
	orig = files_read("/proc/self/exe", &size);
	buf = malloc(size);
	assert_non_null(buf);
	sh = shdrs_of(orig, &n);
	for (size_t i = 0; i < n; i++)
		if (sh[i].sh_type == SHT_SYMTAB)
			symtab = &sh[i];
	assert_non_null(symtab);

	/* The string table starts 16 bytes before the end and claims 64 KiB. */
	sh = fresh_shdrs(buf, orig, size, &n);
	sh[symtab->sh_link].sh_offset = size - 16;
	sh[symtab->sh_link].sh_size = 65536;
	probe_mangled("strtab_outside", buf, size, marker, 1);

	/* Every name offset far beyond the string table (and the file). */
	fresh_copy(buf, orig, size);
	for (size_t i = 0; i < symtab->sh_size / sizeof(Elf64_Sym); i++) {
		Elf64_Sym *s = (Elf64_Sym *)(buf + symtab->sh_offset) + i;

		s->st_name = 0x7ffffff0u - (uint32_t)i;
	}
	probe_mangled("names_outside", buf, size, marker, 1);

	/* A string table cut to 3 bytes: no name is terminated inside it except maybe "". */
	sh = fresh_shdrs(buf, orig, size, &n);
	sh[symtab->sh_link].sh_size = 3;
	memset(buf + sh[symtab->sh_link].sh_offset, 'A', 3);
	probe_mangled("strtab_short", buf, size, marker, 1);

	/* The unmangled copy does find the marker: the probes above can fail. */
	{
		struct error err = { 0 };
		struct elf_image *img = elf_image_open(tmp_write("intact", orig, size), &err);
		const char *name;

		assert_non_null(img);
		name = symtab_lookup(symtab_get(img), marker, NULL);
		assert_non_null(name);
		assert_string_equal(name, "symtab_test_marker");
		elf_image_free(img);
	}
	free(buf);
	free(orig);
}

/*
 * Without st_size a symbol reaches to the next one: with every size in a
 * copy of this binary's .symtab zeroed, the marker still covers its body,
 * and no function reaches past the end of its section.
 */
static void test_zero_sizes(void **state)
{
	uint64_t marker = marker_vaddr(), start = 0;
	struct error err = { 0 };
	struct elf_image *img;
	const struct symtab *tab;
	const uint8_t *d;
	const char *name;
	uint64_t text, last_start = 0;
	uint8_t *buf;
	Elf64_Shdr *sh;
	size_t size, n, text_size;

	(void)state;
	buf = files_read("/proc/self/exe", &size);
	sh = shdrs_of(buf, &n);
	for (size_t i = 0; i < n; i++) {
		if (sh[i].sh_type != SHT_SYMTAB)
			continue;
		for (size_t j = 0; j < sh[i].sh_size / sizeof(Elf64_Sym); j++)
			((Elf64_Sym *)(buf + sh[i].sh_offset))[j].st_size = 0;
	}
	img = elf_image_open(tmp_write("zero-sizes", buf, size), &err);
	assert_non_null(img);
	tab = symtab_get(img);
	name = symtab_lookup(tab, marker + 4, &start);
	assert_non_null(name);
	assert_string_equal(name, "symtab_test_marker");
	assert_int_equal(start, marker);

	assert_int_equal(elf_image_section(img, ".text", &text, &d, &text_size), 0);
	assert_non_null(symtab_lookup(tab, text + text_size - 1, &last_start));
	name = symtab_lookup(tab, text + text_size, &start);
	if (name != NULL)
		assert_true(start >= text + text_size);
	/* The highest function (_fini) ends with its section, before .rodata. */
	assert_int_equal(elf_image_section(img, ".rodata", &text, &d, &text_size), 0);
	assert_null(symtab_lookup(tab, text, NULL));
	assert_null(symtab_lookup(tab, UINT64_MAX - 1, NULL));
	elf_image_free(img);
	free(buf);
}

/* Stripped copies keep .dynsym only: libc still has its exports, we lose our statics. */
static void test_stripped(void **state)
{
	uint64_t marker = marker_vaddr();
	char self[PATH_MAX], lib[PATH_MAX];
	struct error err = { 0 };
	struct elf_image *img;
	uint64_t bias, addr, v;
	const uint8_t *d;
	const char *name;
	size_t s;

	(void)state;
	snprintf(self, sizeof(self), "%s/self-stripped", tmp_dir());
	snprintf(lib, sizeof(lib), "%s/libc-stripped.so", tmp_dir());
	if (sh_run("objcopy --strip-all /proc/self/exe '%s' 2>/dev/null", self) != 0 ||
	    sh_run("objcopy --strip-all '%s' '%s' 2>/dev/null", self_libc_path(NULL), lib) != 0)
		skip();

	img = elf_image_open(self, &err);
	assert_non_null(img);
	assert_int_equal(elf_image_section(img, ".symtab", &v, &d, &s), -1);
	assert_int_equal(elf_image_section(img, ".dynsym", &v, &d, &s), 0);
	assert_null(symtab_lookup(symtab_get(img), marker, NULL));
	elf_image_free(img);

	img = elf_image_open(lib, &err);
	assert_non_null(img);
	assert_int_equal(elf_image_section(img, ".symtab", &v, &d, &s), -1);
	addr = self_libc_func("malloc", &bias);
	name = symtab_lookup(symtab_get(img), addr - bias, NULL);
	assert_non_null(name);
	assert_string_equal(name, "malloc");
	elf_image_free(img);

	/* /bin/true is shipped stripped: it opens, whatever few symbols it has. */
	img = elf_image_open("/bin/true", &err);
	assert_non_null(img);
	assert_int_equal(elf_image_section(img, ".symtab", &v, &d, &s), -1);
	(void)symtab_lookup(symtab_get(img), 0x1000, NULL);
	elf_image_free(img);
}

/* Timings asked for in review: loading libc's table and a million lookups. */
static void test_timing(void **state)
{
	struct error err = { 0 };
	struct elf_image *img;
	const struct symtab *tab;
	const uint8_t *data;
	uint64_t text, seed = 1, hits = 0;
	size_t text_size;
	double t0, t1, t2;

	(void)state;
	t0 = stopwatch_ms();
	img = elf_image_open(self_libc_path(NULL), &err);
	assert_non_null(img);
	tab = symtab_get(img);
	t1 = stopwatch_ms();
	assert_int_equal(elf_image_section(img, ".text", &text, &data, &text_size), 0);
	for (int i = 0; i < 1000000; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		hits += symtab_lookup(tab, text + (seed >> 20) % text_size, NULL) != NULL;
	}
	t2 = stopwatch_ms();
	print_message("libc.so.6: open + %zu symbols in %.2f ms; 1M lookups in %.1f ms "
		      "(%" PRIu64 " hits)\n", symtab_count(tab), t1 - t0, t2 - t1, hits);
	/* .dynsym covers only exported functions: most of .text is unnamed. */
	assert_true(hits > 100000);
	elf_image_free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_libc_dlsym),
		cmocka_unit_test(test_libc_nm),
		cmocka_unit_test(test_python_exec),
		cmocka_unit_test(test_self_symtab),
		cmocka_unit_test(test_build_id),
		cmocka_unit_test(test_sections_and_loads),
		cmocka_unit_test(test_wrapping_segment),
		cmocka_unit_test(test_resolve_self),
		cmocka_unit_test(test_resolve_vdso),
		cmocka_unit_test(test_bad_files),
		cmocka_unit_test(test_corrupt_sections),
		cmocka_unit_test(test_symtab_strings_outside),
		cmocka_unit_test(test_zero_sizes),
		cmocka_unit_test(test_stripped),
		cmocka_unit_test(test_timing),
	};

	return cmocka_run_group_tests(tests, tmp_setup, tmp_teardown);
}
