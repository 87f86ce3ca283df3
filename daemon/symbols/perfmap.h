#ifndef SAMPLED_PERFMAP_H
#define SAMPLED_PERFMAP_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Names of JIT-compiled code from the perf map convention: a runtime (Node
 * with --perf-basic-prof, JVM agents, Python 3.12 with -X perf) appends
 * "START SIZE name" lines (START and SIZE in hex, with or without 0x) to
 * /tmp/perf-PID.map.  The file is read on first use and read again when it
 * changed (size, mtime or inode), which is checked at most once per
 * interval (a second by default): growth is read incrementally from where
 * the last read stopped, a shrunk or replaced file is read whole.
 *
 * Where entries overlap (a runtime reused freed code memory), the one
 * written last wins.  A name handed out is valid until the next lookup
 * (which may read the file anew and free the old names): callers copy what
 * they keep, as the call tree does.  Malformed lines are skipped; the file
 * is read up to PERFMAP_MAX_BYTES and PERFMAP_MAX_ENTRIES.
 *
 * The daemon may run as root and the file's directory belongs to the
 * target, so the file is only read when it is a regular file (a symlink
 * as the last component is not followed) owned by the target's user or by
 * root: a target cannot make us show the lines of someone else's file.
 */

#define PERFMAP_MAX_BYTES (256u << 20)
#define PERFMAP_MAX_ENTRIES (8u << 20)

struct perfmap;

/*
 * The map of process pid, read through its root and under the pid it has
 * in its own namespace: /proc/PID/root/tmp/perf-NSPID.map.  Does no I/O
 * until the first lookup.
 */
struct perfmap *perfmap_new(pid_t pid);
/* A map read from path, which must be owned by us or root (tests, tools). */
struct perfmap *perfmap_new_path(const char *path);
void perfmap_free(struct perfmap *pm);
/*
 * Sets how often lookups may check the file for changes, in nanoseconds
 * (default 1e9; 0 checks on every lookup that needs it).
 */
void perfmap_set_interval(struct perfmap *pm, uint64_t ns);
/*
 * The name of the JIT function covering addr and its start, or NULL.  May
 * stat (and read) the file, at most once per interval; otherwise it is a
 * binary search that allocates nothing.
 */
const char *perfmap_lookup(struct perfmap *pm, uint64_t addr, uint64_t *start);
/* The number of entries read so far (tests, diagnostics). */
size_t perfmap_count(const struct perfmap *pm);

#endif
