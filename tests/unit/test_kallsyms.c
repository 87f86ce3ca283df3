/*
 * Kernel symbols: the /proc/kallsyms parser on fixed text (types, aliases,
 * modules, where a function ends, hidden addresses, malformed lines), the
 * cache that turns a kernel call chain into tree frames, and the real
 * /proc/kallsyms of this machine, read as root, against the address of a
 * system call entry the file itself gives.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "profile/kframes.h"
#include "profile/tree.h"
#include "symbols/kallsyms.h"

/*
 * Out of order as the kernel's own file can be (modules after the image),
 * with aliases, a data symbol ending the text before it, a module, a
 * hidden and a few malformed lines.
 */
static const char fixture[] =
	"ffffffff81000000 T _stext\n"
	"ffffffff81000000 T _text\n"
	"ffffffff81001000 t local_helper\n"
	"ffffffff81001000 T global_name\n"
	"ffffffff81002000 W weak_only\n"
	"ffffffff81003000 T do_work\n"
	"ffffffff81003100 T next_after_call\n"
	"ffffffff81004000 R __start_rodata\n"
	"ffffffff81004000 r some_table\n"
	"ffffffff81005000 T after_data\n"
	"ffffffffc0100000 t ext4_read\t[ext4]\n"
	"ffffffffc0100200 T ext4_write\t[ext4]\n"
	"ffffffffc0200000 t xfs_read\t[xfs]\n"
	"0000000000000000 T hidden_one\n"
	"ffffffff81006000 A absolute_thing\n"
	"not an address T bogus\n"
	"ffffffff81007000 T\n"
	"ffffffff81008000 Tnospace\n"
	"ffffffff80fff000 d before_text\n";

/* Parses text with the FILE* entry point, as from /proc/kallsyms. */
static struct kallsyms *parse_text(const char *text, struct error *err)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	struct kallsyms *k;

	assert_non_null(f);
	error_clear(err);
	k = kallsyms_parse(f, err);
	fclose(f);
	return k;
}

/* The name at addr, or NULL. */
static const char *name_at(const struct kallsyms *k, uint64_t addr)
{
	struct kallsyms_symbol s;

	return kallsyms_lookup(k, addr, &s) == 0 ? s.name : NULL;
}

static void test_parse_and_lookup(void **state)
{
	struct kallsyms_symbol s;
	struct error err;
	struct kallsyms *k = parse_text(fixture, &err);

	(void)state;
	assert_non_null(k);
	/* _stext/_text, global_name, weak_only, do_work, next_after_call,
	 * after_data, ext4_read, ext4_write, xfs_read. */
	assert_int_equal(kallsyms_count(k), 9);
	assert_null(name_at(k, 0xffffffff80fff800ull));		/* data below the text */
	assert_null(name_at(k, 0x1000));
	assert_string_equal(name_at(k, 0xffffffff81000000ull), "_stext");	/* same rank: by name */
	assert_string_equal(name_at(k, 0xffffffff81000fffull), "_stext");
	/* A global alias is preferred over a local one at the same address. */
	assert_int_equal(kallsyms_lookup(k, 0xffffffff81001234ull, &s), 0);
	assert_string_equal(s.name, "global_name");
	assert_string_equal(s.module, "kernel");
	assert_int_equal(s.start, 0xffffffff81001000ull);
	assert_string_equal(name_at(k, 0xffffffff81002010ull), "weak_only");
	assert_string_equal(name_at(k, 0xffffffff810030ffull), "do_work");
	assert_string_equal(name_at(k, 0xffffffff81003100ull), "next_after_call");
	/* Data symbols end the function before them; text starts again after. */
	assert_string_equal(name_at(k, 0xffffffff81003fffull), "next_after_call");
	assert_null(name_at(k, 0xffffffff81004000ull));
	assert_null(name_at(k, 0xffffffff81004fffull));
	assert_string_equal(name_at(k, 0xffffffff81005000ull), "after_data");
	/* Absolute symbols and malformed lines are no boundary and no name. */
	assert_string_equal(name_at(k, 0xffffffff81006100ull), "after_data");
	assert_string_equal(name_at(k, 0xffffffff81008100ull), "after_data");
	/* Modules, named without their brackets. */
	assert_int_equal(kallsyms_lookup(k, 0xffffffffc0100010ull, &s), 0);
	assert_string_equal(s.name, "ext4_read");
	assert_string_equal(s.module, "ext4");
	assert_int_equal(kallsyms_lookup(k, 0xffffffffc0100300ull, &s), 0);
	assert_string_equal(s.name, "ext4_write");
	assert_string_equal(s.module, "ext4");
	assert_int_equal(kallsyms_lookup(k, 0xffffffffc0200001ull, &s), 0);
	assert_string_equal(s.name, "xfs_read");
	assert_string_equal(s.module, "xfs");
	/* The hidden symbol (address 0) was left out. */
	assert_null(name_at(k, 0));
	kallsyms_free(k);
	kallsyms_free(NULL);
}

static void test_hidden_and_empty(void **state)
{
	struct error err;
	struct kallsyms *k;

	(void)state;
	k = parse_text("0000000000000000 T _stext\n"
		       "0000000000000000 t helper\n"
		       "0000000000000000 T other\t[ext4]\n"
		       "0000000000000000 D some_data\n", &err);
	assert_null(k);
	assert_int_equal(err.errnum, EPERM);
	assert_non_null(strstr(err.msg, "hidden"));
	assert_non_null(strstr(err.msg, "3 kernel functions"));

	k = parse_text("", &err);
	assert_null(k);
	assert_int_equal(err.errnum, ENOENT);

	/* Data only: nothing to name code with. */
	k = parse_text("ffffffff81004000 D some_data\n", &err);
	assert_null(k);
	assert_int_equal(err.errnum, ENOENT);
}

/* The frame behind id. */
static struct tree_frame frame(const struct tree *t, uint32_t id)
{
	struct tree_frame f;

	assert_int_equal(tree_frame_get(t, id, &f), 0);
	return f;
}

static void test_frames(void **state)
{
	struct error err;
	struct tree *t = tree_new();
	struct kframes *kf = kframes_new(t, parse_text(fixture, &err));
	/*
	 * Innermost first: interrupted in do_work; its caller returns to
	 * the first byte of next_after_call (do_work's call was its last
	 * instruction), which belongs to do_work's caller: global_name.
	 * Then a module function and an address no function covers.
	 */
	uint64_t pcs[] = { 0xffffffff81003010ull, 0xffffffff81003100ull,
			   0xffffffffc0100020ull, 0xffffffff81004010ull };
	uint32_t ids[4], again[4];
	struct tree_frame f;

	(void)state;
	assert_int_equal(kframes_ids(kf, pcs, 4, ids), 4);
	/* Outermost first. */
	f = frame(t, ids[0]);
	assert_int_equal(f.kind, TREE_KIND_KERNEL);
	assert_true(f.function == NULL || f.function[0] == '\0');
	assert_string_equal(f.module, "kernel");
	assert_int_equal(f.offset, 0xffffffff81004010ull - 1);
	f = frame(t, ids[1]);
	assert_int_equal(f.kind, TREE_KIND_KERNEL);
	assert_string_equal(f.function, "ext4_read");
	assert_string_equal(f.module, "ext4");
	f = frame(t, ids[2]);
	assert_string_equal(f.function, "do_work");	/* pc - 1 for a return address */
	assert_string_equal(f.module, "kernel");
	assert_int_equal(f.offset, 0);
	f = frame(t, ids[3]);
	assert_int_equal(f.kind, TREE_KIND_KERNEL);
	assert_string_equal(f.function, "do_work");
	/* The same function from two addresses is one frame. */
	assert_int_equal(ids[2], ids[3]);

	/* Cached: the same ids again. */
	assert_int_equal(kframes_ids(kf, pcs, 4, again), 4);
	assert_memory_equal(ids, again, sizeof(ids));
	/* More distinct addresses than the cache may hold: it grows, then starts over. */
	for (uint64_t a = 0; a < 70000; a++) {
		uint64_t pc = 0xffffffff81005000ull + a * 3;

		assert_int_equal(kframes_ids(kf, &pc, 1, again), 1);
		f = frame(t, again[0]);
		assert_string_equal(f.function, "after_data");
	}
	assert_int_equal(kframes_ids(kf, pcs, 4, again), 4);
	assert_memory_equal(ids, again, sizeof(ids));
	kframes_free(kf);
	kframes_free(NULL);
	tree_free(t);
}

/*
 * The real file, as root: the address the file gives for a system call's
 * entry point must be named by it (and a few bytes in as well).
 */
/* The address of a text symbol called name in /proc/kallsyms, 0 if none; *aliases counts its address. */
static uint64_t real_address(const char *want, size_t *aliases)
{
	char line[512], name[256], type;
	unsigned long long addr, found = 0;
	FILE *f = fopen("/proc/kallsyms", "re");

	assert_non_null(f);
	while (found == 0 && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) == 3 && addr != 0 &&
		    (type == 'T' || type == 't') && strcmp(name, want) == 0)
			found = addr;
	*aliases = 0;
	rewind(f);
	while (found != 0 && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) == 3 && addr == found)
			(*aliases)++;
	fclose(f);
	return found;
}

static void test_real_kallsyms(void **state)
{
	static const char *const wanted[] = { "do_syscall_64", "__x64_sys_getpid",
					      "__do_sys_getpid", "ksys_read", "vfs_read" };
	const char *which = NULL;
	uint64_t found = 0;
	struct kallsyms_symbol s;
	struct error err;
	struct kallsyms *k;

	(void)state;
	if (geteuid() != 0) {
		print_message("not root: /proc/kallsyms shows no addresses\n");
		skip();
	}
	/* A well-known function that no other symbol shares its address with. */
	for (size_t i = 0; i < sizeof(wanted) / sizeof(wanted[0]) && which == NULL; i++) {
		size_t aliases;

		found = real_address(wanted[i], &aliases);
		if (found != 0 && aliases == 1)
			which = wanted[i];
	}
	if (which == NULL) {
		print_message("kernel.kptr_restrict hides the addresses from root here\n");
		skip();
	}
	error_clear(&err);
	k = kallsyms_load(&err);
	if (k == NULL)
		fail_msg("%s", err.msg);
	assert_true(kallsyms_count(k) > 1000);
	assert_int_equal(kallsyms_lookup(k, found, &s), 0);
	assert_string_equal(s.name, which);
	assert_string_equal(s.module, "kernel");
	assert_int_equal(s.start, found);
	assert_int_equal(kallsyms_lookup(k, found + 4, &s), 0);
	assert_string_equal(s.name, which);
	/* The byte before belongs to something else (its padding or another function). */
	assert_int_equal(kallsyms_lookup(k, found - 1, &s), 0);
	assert_string_not_equal(s.name, which);
	kallsyms_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_lookup),
		cmocka_unit_test(test_hidden_and_empty),
		cmocka_unit_test(test_frames),
		cmocka_unit_test(test_real_kallsyms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
