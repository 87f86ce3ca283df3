#ifndef SAMPLED_PROFILE_H
#define SAMPLED_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "sample/perf_sampler.h"
#include "sample/sample.h"
#include "symbols/elf_image.h"
#include "tree.h"
#include "window.h"

/*
 * What the daemon has learnt about the target so far: samples per thread
 * (with the threads' names), lost samples, and every sample turned into a
 * stack in the call tree.  Samplers feed it; the service reads it.
 */

struct profile;

struct profile_thread {
	pid_t tid;
	char name[16];
	uint64_t samples;
	int exited;
	/* The latest stack (frame ids, root first), when profile_keep_last is on. */
	uint32_t *last;
	size_t last_len, last_cap;
	enum sample_state last_state;
	long last_syscall;		/* -1: not in a system call */
	int last_rooted;
	uint64_t last_time_ns;
};

enum profile_python {
	PROFILE_PYTHON_AUTO,	/* Python frames when the target is a supported CPython */
	PROFILE_PYTHON_ON,	/* the same, but a target that is not is an error */
	PROFILE_PYTHON_OFF,	/* native frames only */
};

struct profile_config {
	pid_t pid;
	enum profile_python python;
	int python_internals;	/* keep the interpreter's own native frames */
	int no_demangle;	/* show C++ names as the linker sees them */
	int no_lines;		/* no DWARF lookups: function-level frames only */
	uint64_t window_bucket_ns;	/* time windows: samples counted per interval this long */
	size_t window_memory;		/* at most this much memory for them; 0: no windows */
	size_t max_nodes;		/* the call tree's bound (tree_set_max_nodes); 0: default */
};

/*
 * Reads the target's mappings and looks for a Python interpreter in it;
 * NULL with err set when the maps cannot be read, or when Python is
 * required and not found.
 */
struct profile *profile_new(const struct profile_config *cfg, struct error *err);
void profile_free(struct profile *p);

void profile_thread_start(struct profile *p, pid_t tid);
void profile_thread_exit(struct profile *p, pid_t tid);
void profile_thread_name(struct profile *p, pid_t tid, const char *name);
/* Unwinds, symbolizes and counts one sample. */
void profile_sample(struct profile *p, const struct sample *s);
/*
 * The frames of a sample without counting it (dumps): frame ids of the
 * profile's tree, root first, valid until the next call; *rooted is 0 when
 * the stack could not be followed to its first frame.
 */
size_t profile_stack(struct profile *p, const struct sample *s, const uint32_t **ids,
		     int *rooted);
/* Remember each thread's latest sampled stack (profile_thread.last). */
void profile_keep_last(struct profile *p, int on);
/* The tree the frame ids belong to. */
const struct tree *profile_tree_of(const struct profile *p);
void profile_lost(struct profile *p, uint64_t n);
/* A new executable mapping in the target. */
void profile_mmap(struct profile *p, const struct perf_mmap_event *m);
/* The target replaced its program (execve): every mapping is new. */
void profile_exec(struct profile *p);
/*
 * The per-node counts of the samples taken in [from_ns, to_ns) (the
 * samples' clock), from the time buckets that overlap it (*span says
 * which): *n entries, node ids of the tree, for tree_to_message_counts;
 * newly allocated.  NULL when the profile keeps no windows (window_memory 0).
 */
uint64_t *profile_window_counts(const struct profile *p, uint64_t from_ns, uint64_t to_ns,
				size_t *n, struct window_span *span);
/* What the profile holds against its caps: the tree's nodes, the ELF files' debug data. */
struct profile_memory {
	size_t tree_nodes, tree_max_nodes;
	uint64_t tree_folded;
	size_t elf_images;
	struct elf_cache_usage elf;
};

void profile_memory(const struct profile *p, struct profile_memory *out);
/* The time windows' ring; -1 when the profile keeps none. */
int profile_window_stats(const struct profile *p, struct window_stats *out);
/*
 * Starts the profile afresh while sampling goes on: the tree, the windows
 * and every counter are emptied (threads and their names stay).
 */
void profile_reset(struct profile *p);

uint64_t profile_samples(const struct profile *p);
uint64_t profile_lost_samples(const struct profile *p);
/* Samples whose stack could not be followed to the thread's first frame. */
uint64_t profile_truncated_samples(const struct profile *p);
/* "CPython 3.11.2 (python3.11)", why there are no Python frames, or "" when not asked for. */
const char *profile_python_note(const struct profile *p);
/* Samples whose Python frames were read after the thread had moved on. */
uint64_t profile_python_out_of_step(const struct profile *p);
/* Whether Python frames are read (samples should then be handled at once). */
int profile_has_python(const struct profile *p);
size_t profile_thread_count(const struct profile *p);
/* Threads in the order they were first seen. */
const struct profile_thread *profile_thread_at(const struct profile *p, size_t i);

#endif
