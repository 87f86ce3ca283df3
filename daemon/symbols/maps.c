#include <sys/sysmacros.h>
#include <sys/uio.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hexnum.h"
#include "log.h"
#include "maps.h"
#include "mem.h"
#include "perfmap.h"

/* A vdso bigger than this is not a vdso: do not copy it. */
#define MAPS_VDSO_MAX (1u << 20)

/*
 * Interned strings: every path and name an entry shows lives here until
 * maps_free, so pointers handed out (resolve_result.module) survive the
 * entry being replaced.  Open addressing, linear probing.
 */
struct maps_pool {
	char **slots;
	size_t cap;		/* a power of two, or 0 */
	size_t used;
};

struct maps {
	pid_t pid;
	struct elf_cache *cache;
	struct maps_entry *entries;
	size_t count, cap;
	uint64_t generation;
	struct maps_pool pool;
	struct perfmap *perfmap;
};

/* One line of /proc/PID/maps, before it becomes an entry. */
struct maps_line {
	uint64_t start, end, pgoff, major, minor, ino;
	uint32_t prot;
	const char *path;	/* inside the text, not terminated */
	size_t path_len;
};

/* FNV-1a of len bytes. */
static uint64_t maps_hash(const char *s, size_t len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)s[i]) * 0x100000001b3ULL;
	return h;
}

/* Returns the pooled copy of s[0..len), adding it on first sight. */
static const char *maps_intern(struct maps_pool *pool, const char *s, size_t len)
{
	size_t i;

	if ((pool->used + 1) * 2 > pool->cap) {
		size_t ncap = pool->cap ? pool->cap * 2 : 64;
		char **slots = mem_calloc(ncap, sizeof(*slots));

		for (size_t j = 0; j < pool->cap; j++) {
			char *old = pool->slots[j];

			if (old == NULL)
				continue;
			i = maps_hash(old, strlen(old)) & (ncap - 1);
			while (slots[i] != NULL)
				i = (i + 1) & (ncap - 1);
			slots[i] = old;
		}
		free(pool->slots);
		pool->slots = slots;
		pool->cap = ncap;
	}
	i = maps_hash(s, len) & (pool->cap - 1);
	for (; pool->slots[i] != NULL; i = (i + 1) & (pool->cap - 1))
		if (strncmp(pool->slots[i], s, len) == 0 && pool->slots[i][len] == '\0')
			return pool->slots[i];
	pool->slots[i] = mem_strndup(s, len);
	pool->used++;
	return pool->slots[i];
}

/* Creates an empty model; maps_load fills it. */
struct maps *maps_new(pid_t pid, struct elf_cache *cache)
{
	struct maps *maps = mem_zalloc(sizeof(*maps));

	maps->pid = pid;
	maps->cache = cache;
	maps->perfmap = perfmap_new(pid);
	return maps;
}

/* Frees entries and interned strings; images stay in the cache. */
void maps_free(struct maps *maps)
{
	if (maps == NULL)
		return;
	for (size_t i = 0; i < maps->pool.cap; i++)
		free(maps->pool.slots[i]);
	free(maps->pool.slots);
	free(maps->entries);
	perfmap_free(maps->perfmap);
	free(maps);
}

/*
 * Copies the target's [vdso] out of its memory into a cached image.  The
 * target's own copy is read (not ours) because a 32-bit or x32 target has a
 * different vdso than the daemon.  process_vm_readv first; /proc/PID/mem
 * when that is refused.
 */
static struct elf_image *maps_read_vdso(struct maps *maps, uint64_t start, uint64_t end)
{
	struct elf_image *img = NULL;
	size_t len = (size_t)(end - start);
	struct error err;
	uint8_t *buf = NULL;
	char *mem_path = NULL;
	ssize_t got;
	int fd = -1;

	if (maps->cache == NULL || end <= start || end - start > MAPS_VDSO_MAX)
		goto out;
	buf = mem_alloc(len);
	got = process_vm_readv(maps->pid, &(struct iovec){ buf, len }, 1,
			       &(struct iovec){ (void *)(uintptr_t)start, len }, 1, 0);
	if (got != (ssize_t)len) {
		mem_path = mem_printf("/proc/%d/mem", (int)maps->pid);
		fd = open(mem_path, O_RDONLY | O_CLOEXEC);
		got = fd < 0 ? -1 : pread(fd, buf, len, (off_t)start);
		if (got != (ssize_t)len) {
			log_debug("pid %d: cannot read [vdso] at %#" PRIx64 ": %s", (int)maps->pid,
				  start, got < 0 ? strerror(errno) : "short read");
			goto out;
		}
	}
	img = elf_cache_get_memory(maps->cache, "[vdso]", buf, len, &err);
	if (img == NULL)
		log_debug("pid %d: [vdso]: %s", (int)maps->pid, err.msg);
out:
	if (fd >= 0)
		close(fd);
	free(mem_path);
	free(buf);
	return img;
}

/*
 * Finds the ELF image of a file mapping: through /proc/PID/root first, so a
 * target in another mount namespace gets its own files, then through
 * /proc/PID/map_files, which reaches deleted and replaced files (and needs
 * CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE).
 */
static struct elf_image *maps_open_file(struct maps *maps, const struct maps_entry *e,
					int deleted)
{
	struct elf_image *img = NULL;
	struct error err;
	char *open_path;

	if (maps->cache == NULL)
		return NULL;
	if (!deleted) {
		open_path = mem_printf("/proc/%d/root%s", (int)maps->pid, e->path);
		img = elf_cache_get(maps->cache, open_path, e->path, e->dev, e->ino, &err);
		free(open_path);
	}
	if (img == NULL) {
		open_path = mem_printf("/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)maps->pid,
				       e->start, e->end);
		img = elf_cache_get(maps->cache, open_path, e->path, e->dev, e->ino, &err);
		free(open_path);
	}
	return img;
}

/*
 * Turns the kernel's name for a mapping into path, name and image.  Paths
 * starting with '/' are files (memfd and SysV shared memory ones too, which
 * show as deleted); "[...]" are the kernel's specials; "" and perf's
 * "//anon" are anonymous memory, named "[anon]" so JIT code has a module;
 * anything else (anon_inode:...) is shown as the kernel names it.  Only
 * executable file mappings and the vdso get an image: data mappings are
 * never symbolized.  A file whose name really ends in " (deleted)" is
 * indistinguishable from a deleted one; map_files still opens it.
 */
static void maps_fill_entry(struct maps *maps, struct maps_entry *e, const char *path,
			    size_t len)
{
	static const char deleted_tag[] = " (deleted)";
	size_t tag_len = sizeof(deleted_tag) - 1;
	const char *base;
	int deleted = 0;

	e->image = NULL;
	if (len == 0 || (len == 6 && memcmp(path, "//anon", 6) == 0)) {
		e->path = maps_intern(&maps->pool, "", 0);
		e->name = "[anon]";
		e->pgoff = 0;
		return;
	}
	if (path[0] != '/') {
		e->path = maps_intern(&maps->pool, path, len);
		e->name = e->path;
		if (path[0] == '[')
			e->pgoff = 0;
		if (strcmp(e->path, "[vdso]") == 0)
			e->image = maps_read_vdso(maps, e->start, e->end);
		return;
	}
	if (len > tag_len && memcmp(path + len - tag_len, deleted_tag, tag_len) == 0) {
		deleted = 1;
		len -= tag_len;
	}
	e->path = maps_intern(&maps->pool, path, len);
	base = strrchr(e->path, '/') + 1;
	e->name = base[0] != '\0' ? maps_intern(&maps->pool, base, strlen(base)) : e->path;
	if (e->prot & MAPS_PROT_EXEC)
		e->image = maps_open_file(maps, e, deleted);
}

/* Parses decimal digits (at least one, no overflow) at *p. */
static int maps_parse_dec(const char **p, uint64_t *val)
{
	const char *s = *p;
	uint64_t v = 0;

	for (; *s >= '0' && *s <= '9'; s++) {
		unsigned d = (unsigned)(*s - '0');

		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	if (s == *p)
		return -1;
	*p = s;
	*val = v;
	return 0;
}

/* Consumes the character c at *p. */
static int maps_expect(const char **p, char c)
{
	if (**p != c)
		return -1;
	(*p)++;
	return 0;
}

/*
 * Parses "start-end perms offset major:minor inode   path" where the line
 * is s[0..len).  The kernel pads before the path, which runs to the end of
 * the line and may itself contain spaces; anonymous lines end after the
 * inode (and padding).
 */
static int maps_parse_line(const char *s, size_t len, struct maps_line *out)
{
	const char *p = s, *end = s + len;

	if (hexnum_parse(&p, NULL, &out->start) || maps_expect(&p, '-') ||
	    hexnum_parse(&p, NULL, &out->end) || maps_expect(&p, ' '))
		return -1;
	if (end - p < 5 || (p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 'p' && p[3] != 's') || p[4] != ' ')
		return -1;
	out->prot = (p[0] == 'r' ? MAPS_PROT_READ : 0) | (p[1] == 'w' ? MAPS_PROT_WRITE : 0) |
		    (p[2] == 'x' ? MAPS_PROT_EXEC : 0);
	p += 5;
	if (hexnum_parse(&p, NULL, &out->pgoff) || maps_expect(&p, ' ') ||
	    hexnum_parse(&p, NULL, &out->major) || maps_expect(&p, ':') ||
	    hexnum_parse(&p, NULL, &out->minor) || maps_expect(&p, ' ') ||
	    maps_parse_dec(&p, &out->ino))
		return -1;
	if (p < end && *p != ' ')
		return -1;
	if (out->start >= out->end || p > end)
		return -1;
	while (p < end && *p == ' ')
		p++;
	out->path = p;
	out->path_len = (size_t)(end - p);
	return 0;
}

/* Orders entries by start address. */
static int maps_entry_cmp(const void *pa, const void *pb)
{
	const struct maps_entry *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return 0;
}

/*
 * Parses every line first and only then opens images and swaps the model
 * in, so a malformed text leaves the old model untouched.  The kernel
 * writes a newline in a path as "\012"; that escape is undone.
 */
int maps_parse_text(struct maps *maps, const char *text, struct error *err)
{
	struct maps_line *lines = NULL;
	struct maps_entry *entries = NULL;
	size_t n = 0, cap = 0, lineno = 0;
	const char *p = text;
	int ret = -1;

	while (*p != '\0') {
		const char *nl = strchr(p, '\n');
		size_t len = nl != NULL ? (size_t)(nl - p) : strlen(p);

		lineno++;
		if (len > 0) {
			lines = mem_grow(lines, &cap, n + 1, sizeof(*lines));
			if (maps_parse_line(p, len, &lines[n]) != 0) {
				error_set(err, 0, "maps of pid %d, line %zu: cannot parse \"%.*s\"",
					  (int)maps->pid, lineno, (int)(len > 200 ? 200 : len), p);
				goto out;
			}
			n++;
		}
		p += len + (nl != NULL);
	}

	entries = mem_calloc(n ? n : 1, sizeof(*entries));
	for (size_t i = 0; i < n; i++) {
		struct maps_line *l = &lines[i];
		struct maps_entry *e = &entries[i];
		char *path = mem_strndup(l->path, l->path_len), *q;

		while ((q = strstr(path, "\\012")) != NULL) {
			*q = '\n';
			memmove(q + 1, q + 4, strlen(q + 4) + 1);
		}
		e->start = l->start;
		e->end = l->end;
		e->pgoff = l->pgoff;
		e->dev = makedev(l->major, l->minor);
		e->ino = l->ino;
		e->prot = l->prot;
		maps_fill_entry(maps, e, path, strlen(path));
		free(path);
	}
	qsort(entries, n, sizeof(*entries), maps_entry_cmp);
	free(maps->entries);
	maps->entries = entries;
	maps->count = n;
	maps->cap = n ? n : 1;
	maps->generation++;
	entries = NULL;
	ret = 0;
out:
	free(entries);
	free(lines);
	return ret;
}

/* Reads /proc/PID/maps whole (it changes under us otherwise) and parses it. */
int maps_load(struct maps *maps, struct error *err)
{
	char *path = mem_printf("/proc/%d/maps", (int)maps->pid);
	size_t len = 0, cap = 0;
	char *text = NULL;
	int fd, ret = -1;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		error_set(err, errno, "opening %s", path);
		goto out;
	}
	for (;;) {
		ssize_t got;

		text = mem_grow(text, &cap, len + 65536, 1);
		got = read(fd, text + len, cap - len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			error_set(err, errno, "reading %s", path);
			goto out;
		}
		if (got == 0)
			break;
		len += (size_t)got;
	}
	text[len] = '\0';
	ret = maps_parse_text(maps, text, err);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	free(path);
	return ret;
}

/* Index of the first entry ending after addr (count when none does). */
static size_t maps_first_ending_after(const struct maps *maps, uint64_t addr)
{
	size_t lo = 0, hi = maps->count;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (maps->entries[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The overlapped run [lo, hi) is replaced by at most three entries: what
 * sticks out on the left of the new mapping, the new mapping, and what
 * sticks out on the right (a mapping split in the middle yields both).
 * The right remainder of a file mapping starts further into the file.
 */
void maps_add(struct maps *maps, uint64_t start, uint64_t len, uint64_t pgoff, uint64_t dev,
	      uint64_t ino, uint32_t prot, const char *path)
{
	uint64_t end = start + len;
	struct maps_entry add = { 0 }, left, right;
	size_t lo, hi, n_new;
	int has_left = 0, has_right = 0;

	if (len == 0 || end < start)
		return;
	add.start = start;
	add.end = end;
	add.pgoff = pgoff;
	add.dev = dev;
	add.ino = ino;
	add.prot = prot;
	maps_fill_entry(maps, &add, path != NULL ? path : "", path != NULL ? strlen(path) : 0);

	lo = maps_first_ending_after(maps, start);
	for (hi = lo; hi < maps->count && maps->entries[hi].start < end; hi++)
		;
	if (lo < hi && maps->entries[lo].start < start) {
		left = maps->entries[lo];
		left.end = start;
		has_left = 1;
	}
	if (lo < hi && maps->entries[hi - 1].end > end) {
		right = maps->entries[hi - 1];
		if (right.path[0] == '/')
			right.pgoff += end - right.start;
		right.start = end;
		has_right = 1;
	}
	n_new = 1 + (size_t)has_left + (size_t)has_right;
	maps->entries = mem_grow(maps->entries, &maps->cap, maps->count - (hi - lo) + n_new,
				 sizeof(*maps->entries));
	memmove(&maps->entries[lo + n_new], &maps->entries[hi],
		(maps->count - hi) * sizeof(*maps->entries));
	maps->count = maps->count - (hi - lo) + n_new;
	if (has_left)
		maps->entries[lo++] = left;
	maps->entries[lo++] = add;
	if (has_right)
		maps->entries[lo] = right;
	maps->generation++;
}

/* Binary search: called for every frame of every sample. */
const struct maps_entry *maps_find(const struct maps *maps, uint64_t addr)
{
	size_t i = maps_first_ending_after(maps, addr);

	if (i < maps->count && maps->entries[i].start <= addr)
		return &maps->entries[i];
	return NULL;
}

/* Lets address-keyed caches notice any change. */
uint64_t maps_generation(const struct maps *maps)
{
	return maps->generation;
}

void maps_mark_images(const struct maps *maps)
{
	for (size_t i = 0; i < maps->count; i++)
		if (maps->entries[i].image != NULL)
			elf_image_mark(maps->entries[i].image);
}

/* The JIT symbols of the target, read lazily by resolve_addr. */
struct perfmap *maps_perfmap(const struct maps *maps)
{
	return maps->perfmap;
}

/* The number of mappings in the model. */
size_t maps_count(const struct maps *maps)
{
	return maps->count;
}

/* Mapping i in address order, for walking the model. */
const struct maps_entry *maps_at(const struct maps *maps, size_t i)
{
	return i < maps->count ? &maps->entries[i] : NULL;
}

/* Works in file-offset space, so PIE, shared libraries and ET_EXEC need no cases. */
int maps_to_vaddr(const struct maps_entry *e, uint64_t addr, uint64_t *vaddr)
{
	if (e->image == NULL || addr < e->start || addr >= e->end)
		return -1;
	return elf_image_offset_to_vaddr(e->image, addr - e->start + e->pgoff, vaddr);
}
