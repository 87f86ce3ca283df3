#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "self.h"

/* Expected answers come from the dynamic linker, never from the code under test. */
const char *self_libc_path(uint64_t *bias)
{
	static char path[PATH_MAX];
	void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	struct link_map *lm = NULL;

	assert_non_null(h);
	assert_int_equal(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
	assert_true(realpath(lm->l_name, path) != NULL);
	if (bias != NULL)
		*bias = lm->l_addr;
	dlclose(h);
	return path;
}

/* What self_libc_phdrs finds. */
struct phdrs {
	const ElfW(Phdr) *phdr;
	size_t n;
	uint64_t bias;
};

/* dl_iterate_phdr's callback: stops at libc. */
static int libc_phdrs_cb(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct phdrs *p = arg;

	(void)size;
	if (strstr(info->dlpi_name, "libc.so.6") == NULL)
		return 0;
	p->phdr = info->dlpi_phdr;
	p->n = info->dlpi_phnum;
	p->bias = info->dlpi_addr;
	return 1;
}

/* What ELF reading finds in libc's file is checked against what the dynamic linker loaded. */
const ElfW(Phdr) *self_libc_phdrs(size_t *n, uint64_t *bias)
{
	struct phdrs p = { NULL, 0, 0 };

	assert_int_equal(dl_iterate_phdr(libc_phdrs_cb, &p), 1);
	*n = p.n;
	*bias = p.bias;
	return p.phdr;
}

/* Symbol lookups are checked against where the dynamic linker put a function. */
uint64_t self_libc_func(const char *name, uint64_t *bias)
{
	void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
	struct link_map *lm = NULL;
	void *p;

	assert_non_null(h);
	p = dlsym(h, name);
	assert_non_null(p);
	assert_int_equal(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
	*bias = lm->l_addr;
	dlclose(h);
	return (uint64_t)(uintptr_t)p;
}
