#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kallsyms.h"
#include "mem.h"

/* An entry with this name only ends the function before it. */
#define NO_NAME UINT32_MAX

struct kallsyms_entry {
	uint64_t addr;
	uint32_t name;		/* offset into names, or NO_NAME */
	uint16_t module;	/* index into modules */
	uint8_t rank;		/* of the symbols at one address, the highest is kept */
};

struct kallsyms {
	struct kallsyms_entry *entries;	/* sorted by address, one per address */
	size_t n, cap;
	size_t functions;		/* entries with a name */
	char *names;
	size_t names_len, names_cap;
	char **modules;			/* [0] is "kernel" */
	size_t nmodules, modules_cap;
};

/* Interns a module name; the few modules come in runs, so the last one is tried first. */
static uint16_t module_index(struct kallsyms *k, const char *name, size_t len)
{
	for (size_t i = k->nmodules; i-- > 0;)
		if (strncmp(k->modules[i], name, len) == 0 && k->modules[i][len] == '\0')
			return (uint16_t)i;
	if (k->nmodules > UINT16_MAX)
		return 0;	/* beyond any real kernel: charge it to the image */
	k->modules = mem_grow(k->modules, &k->modules_cap, k->nmodules + 1, sizeof(*k->modules));
	k->modules[k->nmodules] = mem_strndup(name, len);
	return (uint16_t)k->nmodules++;
}

/* Symbol types that are code: local and global text, and weak symbols. */
static int is_text(char type)
{
	return type == 't' || type == 'T' || type == 'w' || type == 'W';
}

/*
 * Parses one "ADDRESS TYPE NAME[\t[MODULE]]" line into an entry, skipping
 * lines that are not such, and counts text symbols whose address is hidden.
 */
static void parse_line(struct kallsyms *k, char *line, size_t *hidden)
{
	struct kallsyms_entry e = { 0 };
	char *p = line, *end, *name;
	size_t len;
	char type;

	errno = 0;
	e.addr = strtoull(p, &end, 16);
	if (end == p || errno != 0 || *end != ' ')
		return;
	p = end + 1;
	type = *p;
	if (type == '\0' || p[1] != ' ')
		return;
	p += 2;
	name = p;
	len = strcspn(p, " \t\r\n");
	if (len == 0)
		return;
	if (e.addr == 0) {
		*hidden += is_text(type);
		return;
	}
	if (type == 'a' || type == 'A' || type == 'U' || type == 'u')
		return;	/* not a place in the kernel's code or data */
	p += len;
	if (*p == '\t' || *p == ' ') {
		char *mod = p + 1 + strspn(p + 1, " \t");
		size_t mlen;

		if (*mod == '[') {
			mlen = strcspn(mod + 1, "]\r\n");
			if (mod[1 + mlen] == ']' && mlen > 0)
				e.module = module_index(k, mod + 1, mlen);
		}
	}
	if (is_text(type)) {
		/* Global before local before weak, for aliases at one address. */
		e.rank = type == 'T' ? 4 : type == 't' ? 3 : type == 'W' ? 2 : 1;
		k->names = mem_grow(k->names, &k->names_cap, k->names_len + len + 1, 1);
		memcpy(k->names + k->names_len, name, len);
		k->names[k->names_len + len] = '\0';
		e.name = (uint32_t)k->names_len;
		k->names_len += len + 1;
	} else {
		e.name = NO_NAME;
		e.rank = 0;
	}
	k->entries = mem_grow(k->entries, &k->cap, k->n + 1, sizeof(*k->entries));
	k->entries[k->n++] = e;
}

/* The sort order: by address, then the entry to keep first, then by name for stability. */
static int compare_entries(const void *a, const void *b, void *arg)
{
	const struct kallsyms_entry *x = a, *y = b;
	const char *names = arg;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	if (x->rank != y->rank)
		return x->rank > y->rank ? -1 : 1;
	if (x->name == NO_NAME || y->name == NO_NAME)
		return (x->name == NO_NAME) - (y->name == NO_NAME);
	return strcmp(names + x->name, names + y->name);
}

struct kallsyms *kallsyms_parse(FILE *f, struct error *err)
{
	struct kallsyms *k = mem_zalloc(sizeof(*k));
	size_t hidden = 0, cap = 0, kept = 0;
	char *line = NULL;

	k->modules = mem_grow(NULL, &k->modules_cap, 1, sizeof(*k->modules));
	k->modules[0] = mem_strdup("kernel");
	k->nmodules = 1;
	while (getline(&line, &cap, f) >= 0) {
		if (k->names_len > UINT32_MAX / 2) {
			error_set(err, EFBIG, "kernel symbols: too many names");
			goto fail;
		}
		parse_line(k, line, &hidden);
	}
	if (ferror(f)) {
		error_set(err, EIO, "reading kernel symbols");
		goto fail;
	}
	if (k->n > 0)
		qsort_r(k->entries, k->n, sizeof(*k->entries), compare_entries, k->names);
	/* One entry per address: the first of each run is the one to keep. */
	for (size_t i = 0; i < k->n; i++) {
		if (kept > 0 && k->entries[kept - 1].addr == k->entries[i].addr)
			continue;
		k->entries[kept++] = k->entries[i];
		k->functions += k->entries[i].name != NO_NAME;
	}
	k->n = kept;
	if (k->functions == 0) {
		if (hidden > 0)
			error_set(err, EPERM,
				  "the addresses of all %zu kernel functions are hidden (shown as 0)",
				  hidden);
		else
			error_set(err, ENOENT, "no kernel function symbols found");
		goto fail;
	}
	free(line);
	return k;
fail:
	free(line);
	kallsyms_free(k);
	return NULL;
}

/* kernel.kptr_restrict, or -1: what decides whether we see kernel addresses. */
static int read_kptr_restrict(void)
{
	FILE *f = fopen("/proc/sys/kernel/kptr_restrict", "re");
	int level = -1;

	if (f != NULL) {
		if (fscanf(f, "%d", &level) != 1)
			level = -1;
		fclose(f);
	}
	return level;
}

struct kallsyms *kallsyms_load(struct error *err)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	struct kallsyms *k;

	if (f == NULL) {
		error_set(err, errno, "opening /proc/kallsyms");
		return NULL;
	}
	k = kallsyms_parse(f, err);
	fclose(f);
	if (k == NULL) {
		if (err->errnum == EPERM)
			error_prefix(err, "/proc/kallsyms (kernel.kptr_restrict=%d): ",
				     read_kptr_restrict());
		else
			error_prefix(err, "/proc/kallsyms: ");
	}
	return k;
}

int kallsyms_readable(struct error *err)
{
	FILE *f = fopen("/proc/kallsyms", "re");
	unsigned long long addr;
	char line[512], type;
	int rc = 0;

	if (f == NULL) {
		error_set(err, errno, "opening /proc/kallsyms");
		return 0;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%llx %c", &addr, &type) != 2 || !is_text(type))
			continue;
		rc = addr != 0;
		break;
	}
	fclose(f);
	if (!rc)
		error_set(err, 0, "/proc/kallsyms hides kernel addresses from this user "
			  "(kernel.kptr_restrict=%d)", read_kptr_restrict());
	return rc;
}

void kallsyms_free(struct kallsyms *k)
{
	if (k == NULL)
		return;
	for (size_t i = 0; i < k->nmodules; i++)
		free(k->modules[i]);
	free(k->modules);
	free(k->entries);
	free(k->names);
	free(k);
}

size_t kallsyms_count(const struct kallsyms *k)
{
	return k->functions;
}

int kallsyms_lookup(const struct kallsyms *k, uint64_t addr, struct kallsyms_symbol *out)
{
	size_t lo = 0, hi = k->n;
	const struct kallsyms_entry *e;

	/* The last entry at or below addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->entries[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return -1;
	e = &k->entries[lo - 1];
	if (e->name == NO_NAME)
		return -1;
	out->name = k->names + e->name;
	out->module = k->modules[e->module];
	out->start = e->addr;
	return 0;
}
