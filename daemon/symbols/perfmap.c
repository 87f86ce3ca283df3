#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hexnum.h"
#include "log.h"
#include "mem.h"
#include "perfmap.h"

/* Lines longer than this are not perf map lines: they are skipped whole. */
#define PERFMAP_MAX_LINE 8192
/* How far a lookup walks back past entries that do not cover the address. */
#define PERFMAP_SCAN 16
/* Names are packed into chunks of at least this size. */
#define PERFMAP_CHUNK (64u << 10)

/* One JIT function: [start, end), and its line number in the file's history. */
struct perfmap_entry {
	uint64_t start, end;
	uint64_t seq;
	const char *name;
};

/* Storage for names; chunks go when the file is read anew, or with the map. */
struct perfmap_chunk {
	struct perfmap_chunk *next;
	size_t used, cap;
	char data[];
};

struct perfmap {
	pid_t pid;			/* 0 when made from a path */
	char *path;			/* resolved on first check for a pid */
	uid_t owner;			/* who, besides root, may own the file */
	struct perfmap_entry *entries;
	size_t count, cap;
	uint64_t next_seq;
	struct perfmap_chunk *chunks;
	uint64_t interval_ns;
	uint64_t last_check_ns;
	int checked;			/* a check has happened (last_check_ns is valid) */
	/* The file as the last read saw it. */
	int seen;
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime;
	off_t consumed;			/* bytes parsed: up to the end of the last whole line */
	int warned;
};

/* Monotonic nanoseconds; a vdso call, not a syscall. */
static uint64_t perfmap_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Creates an empty map; path is NULL for a pid map until its first check. */
static struct perfmap *perfmap_alloc(pid_t pid, const char *path)
{
	struct perfmap *pm = mem_zalloc(sizeof(*pm));

	pm->pid = pid;
	pm->path = path != NULL ? mem_strdup(path) : NULL;
	pm->owner = geteuid();
	pm->interval_ns = 1000000000u;
	return pm;
}

/* Nothing is read here: most targets never run JIT code. */
struct perfmap *perfmap_new(pid_t pid)
{
	return perfmap_alloc(pid, NULL);
}

/* For tests and tools that name the file themselves. */
struct perfmap *perfmap_new_path(const char *path)
{
	return perfmap_alloc(0, path);
}

/* Frees every name read so far: the entries pointing at them must go too. */
static void perfmap_drop_names(struct perfmap *pm)
{
	while (pm->chunks != NULL) {
		struct perfmap_chunk *next = pm->chunks->next;

		free(pm->chunks);
		pm->chunks = next;
	}
	pm->count = 0;
}

/* Frees the entries and their names. */
void perfmap_free(struct perfmap *pm)
{
	if (pm == NULL)
		return;
	perfmap_drop_names(pm);
	free(pm->entries);
	free(pm->path);
	free(pm);
}

/* Lets tests force or forbid re-reading without waiting a second. */
void perfmap_set_interval(struct perfmap *pm, uint64_t ns)
{
	pm->interval_ns = ns;
}

/* The number of entries held now. */
size_t perfmap_count(const struct perfmap *pm)
{
	return pm->count;
}

/*
 * The pid the target sees itself as (the last NSpid field), which is the
 * one its runtime writes into the file name; our pid when the kernel does
 * not say.
 */
static pid_t perfmap_ns_pid(pid_t pid)
{
	char path[64], line[256];
	pid_t ns = pid;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return pid;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *p, *end;

		if (strncmp(line, "NSpid:", 6) != 0)
			continue;
		for (p = line + 6;; p = end) {
			long v = strtol(p, &end, 10);

			if (end == p)
				break;
			if (v > 0)
				ns = (pid_t)v;
		}
		break;
	}
	fclose(f);
	return ns;
}

/* Copies a name into the chunk storage. */
static const char *perfmap_store(struct perfmap *pm, const char *s, size_t len)
{
	struct perfmap_chunk *c = pm->chunks;
	char *dst;

	if (c == NULL || c->cap - c->used < len + 1) {
		size_t cap = len + 1 > PERFMAP_CHUNK ? len + 1 : PERFMAP_CHUNK;

		c = mem_alloc(sizeof(*c) + cap);
		c->next = pm->chunks;
		c->used = 0;
		c->cap = cap;
		pm->chunks = c;
	}
	dst = c->data + c->used;
	memcpy(dst, s, len);
	dst[len] = '\0';
	c->used += len + 1;
	return dst;
}

/* Parses hex digits, with an optional 0x, at *p; at least one digit, no overflow. */
static int perfmap_hex(const char **p, const char *end, uint64_t *val)
{
	const char *s = *p;

	if (end - s >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
		s += 2;
	if (hexnum_parse(&s, end, val) < 0)
		return -1;
	*p = s;
	return 0;
}

/*
 * Adds one line (without its newline): "START SIZE name", the name running
 * to the end of the line and possibly holding spaces.  Anything else, and
 * empty or wrapping ranges, is skipped.
 */
static void perfmap_add_line(struct perfmap *pm, const char *s, size_t len)
{
	const char *p = s, *end = s + len;
	uint64_t start, size;

	if (len > 0 && end[-1] == '\r')
		end--;
	if (perfmap_hex(&p, end, &start) != 0 || p == end || *p != ' ')
		return;
	p++;
	if (perfmap_hex(&p, end, &size) != 0 || p == end || *p != ' ')
		return;
	p++;
	if (p == end || size == 0 || start + size < start)
		return;
	pm->entries = mem_grow(pm->entries, &pm->cap, pm->count + 1, sizeof(*pm->entries));
	pm->entries[pm->count++] = (struct perfmap_entry){
		.start = start,
		.end = start + size,
		.seq = pm->next_seq++,
		.name = perfmap_store(pm, p, (size_t)(end - p)),
	};
}

/* Orders by start, then by age, so the newest of equal starts comes last. */
static int perfmap_entry_cmp(const void *pa, const void *pb)
{
	const struct perfmap_entry *a = pa, *b = pb;

	if (a->start != b->start)
		return a->start < b->start ? -1 : 1;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/*
 * Reads the file from pm->consumed to its end (or the size limit), adding
 * whole lines; an unfinished last line is left for the next read, since
 * the runtime may be writing it.  Returns the number of lines added.
 */
static size_t perfmap_read_from(struct perfmap *pm, int fd)
{
	char *buf = mem_alloc(PERFMAP_MAX_LINE + 65536);
	size_t have = 0, before = pm->count;
	off_t pos = pm->consumed;
	int skipping = 0;

	for (;;) {
		ssize_t got;
		size_t line_start = 0;

		if (pos >= (off_t)PERFMAP_MAX_BYTES || pm->count >= PERFMAP_MAX_ENTRIES) {
			if (!pm->warned)
				log_warn("%s: more than %u MiB or %u entries, the rest is ignored",
					 pm->path, PERFMAP_MAX_BYTES >> 20, PERFMAP_MAX_ENTRIES);
			pm->warned = 1;
			break;
		}
		got = pread(fd, buf + have, PERFMAP_MAX_LINE + 65536 - have, pos);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		pos += got;
		have += (size_t)got;
		for (size_t i = 0; i < have; i++) {
			if (buf[i] != '\n')
				continue;
			if (!skipping && i - line_start <= PERFMAP_MAX_LINE)
				perfmap_add_line(pm, buf + line_start, i - line_start);
			skipping = 0;
			line_start = i + 1;
			pm->consumed = pos - (off_t)(have - line_start);
		}
		memmove(buf, buf + line_start, have - line_start);
		have -= line_start;
		if (have >= PERFMAP_MAX_LINE) {
			/* No newline in a whole line's worth: drop it up to the next one. */
			skipping = 1;
			have = 0;
		}
	}
	free(buf);
	if (pm->count > before)
		qsort(pm->entries, pm->count, sizeof(*pm->entries), perfmap_entry_cmp);
	return pm->count - before;
}

/*
 * Reads what changed since the last look.  Appending is the convention, so
 * growth is read from where the last read stopped, provided the byte before
 * that point is still the newline it was; a file that shrank, was replaced,
 * or changed in place is read again from the start.  The entries of the old
 * contents and their names are dropped then: a runtime rewriting a large
 * map every second must not grow us by its size every second.
 */
static void perfmap_check(struct perfmap *pm)
{
	struct stat st;
	int fd = -1;
	char last;

	if (pm->path == NULL) {
		char proc[32];

		snprintf(proc, sizeof(proc), "/proc/%d", (int)pm->pid);
		if (stat(proc, &st) != 0)
			return;
		pm->owner = st.st_uid;
		pm->path = mem_printf("/proc/%d/root/tmp/perf-%d.map", (int)pm->pid,
				      (int)perfmap_ns_pid(pm->pid));
	}
	fd = open(pm->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
		goto out;
	if (st.st_uid != pm->owner && st.st_uid != 0) {
		if (!pm->warned)
			log_warn("%s: owned by uid %u, not by the target's user: ignored", pm->path,
				 (unsigned)st.st_uid);
		pm->warned = 1;
		goto out;
	}
	if (pm->seen && st.st_dev == pm->dev && st.st_ino == pm->ino && st.st_size == pm->size &&
	    st.st_mtim.tv_sec == pm->mtime.tv_sec && st.st_mtim.tv_nsec == pm->mtime.tv_nsec)
		goto out;
	if (pm->seen && (st.st_dev != pm->dev || st.st_ino != pm->ino || st.st_size <= pm->size ||
			 st.st_size < pm->consumed ||
			 (pm->consumed > 0 &&
			  (pread(fd, &last, 1, pm->consumed - 1) != 1 || last != '\n')))) {
		perfmap_drop_names(pm);
		pm->consumed = 0;
	}
	pm->seen = 1;
	pm->dev = st.st_dev;
	pm->ino = st.st_ino;
	pm->size = st.st_size;
	pm->mtime = st.st_mtim;
	if (perfmap_read_from(pm, fd) > 0)
		log_debug("%s: %zu JIT symbols", pm->path, pm->count);
out:
	if (fd >= 0)
		close(fd);
}

/*
 * Binary search for the last entry starting at or below addr, then a short
 * walk back for the newest entry that covers it.
 */
const char *perfmap_lookup(struct perfmap *pm, uint64_t addr, uint64_t *start)
{
	const struct perfmap_entry *best = NULL;
	uint64_t now = perfmap_now_ns();
	size_t lo = 0, hi;

	if (!pm->checked || now - pm->last_check_ns >= pm->interval_ns) {
		pm->checked = 1;
		pm->last_check_ns = now;
		perfmap_check(pm);
	}
	hi = pm->count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pm->entries[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo, tries = 0; i > 0 && tries < PERFMAP_SCAN; i--, tries++) {
		const struct perfmap_entry *e = &pm->entries[i - 1];

		if (addr < e->end && (best == NULL || e->seq > best->seq))
			best = e;
	}
	if (best == NULL)
		return NULL;
	if (start != NULL)
		*start = best->start;
	return best->name;
}
