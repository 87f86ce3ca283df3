#ifndef SAMPLED_OPTIONS_H
#define SAMPLED_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "log.h"
#include "profile/profile.h"

/* The daemon's command line, parsed into plain data for main.c. */

enum options_command {
	OPTIONS_HELP,		/* print usage (of topic, if set) and exit 0 */
	OPTIONS_VERSION,
	OPTIONS_ATTACH,
	OPTIONS_DUMP,		/* print every thread's stack once, no daemon */
	OPTIONS_RECORD,		/* run a command under the profiler, report at its end */
};

struct options {
	enum options_command command;
	const char *help_topic;	/* "attach", "record", "dump", or NULL for the overview */
	pid_t pid;
	unsigned rate_hz;
	const char *socket_path;	/* NULL: the default for pid */
	int foreground;
	int wall;			/* --mode wall: ptrace, every thread */
	const char *log_path;		/* NULL: beside the socket (background) or stderr */
	enum log_level log_level;
	size_t buffer_bytes;		/* perf ring per thread, 0: the daemon chooses */
	uint32_t stack_bytes;		/* user stack copied per sample */
	enum profile_python python;
	int python_internals;		/* keep the interpreter's native frames */
	int no_demangle;		/* C++ names as the linker sees them */
	int no_lines;			/* no DWARF lookups: function-level frames only */
	int no_kernel;			/* kernel-mode ticks end in [kernel], no kernel frames */
	uint64_t duration_ns;		/* attach --duration: sample this long, report, exit */
	const char *output;		/* -o: the file a one-shot run writes, format by ending */
	char **run_argv;		/* record: the command and its arguments (in argv) */
	uint64_t window_bucket_ns;	/* time windows: samples counted per interval this long */
	size_t window_memory;		/* at most this much memory for them; 0: none kept */
	size_t max_nodes;		/* the call tree's bound; 0: the default */
};

#define OPTIONS_DEFAULT_RATE 99u
#define OPTIONS_MAX_RATE 10000u
#define OPTIONS_MIN_AUTO_BUFFER ((size_t)1 << 20)
#define OPTIONS_MAX_AUTO_BUFFER ((size_t)8 << 20)
/* See BENCHMARKS.md for how stack depth and copy size were measured. */
#define OPTIONS_DEFAULT_STACK 32768u
/* The kernel's limit: a sample record must fit in 64 KiB. */
#define OPTIONS_MAX_STACK 65528u

/* Time windows: 10 s buckets, and at most 64 MiB of them (--window-bucket, --window-memory). */
#define OPTIONS_DEFAULT_WINDOW_BUCKET_NS 10000000000ull
#define OPTIONS_MIN_WINDOW_BUCKET_NS 100000000ull
#define OPTIONS_MAX_WINDOW_BUCKET_NS 3600000000000ull
#define OPTIONS_DEFAULT_WINDOW_MEMORY ((size_t)64 << 20)
#define OPTIONS_MIN_WINDOW_MEMORY ((size_t)16 << 10)
/* --max-nodes: the call tree's bound (tree_set_max_nodes). */
#define OPTIONS_MIN_MAX_NODES 1024u
#define OPTIONS_MAX_MAX_NODES 4000000u

/* The longest --duration: a week. */
#define OPTIONS_MAX_DURATION_NS (7ull * 24 * 3600 * 1000000000ull)

/* Parses argv; 0 on success, -1 with a one-line reason on a usage error. */
int options_parse(int argc, char **argv, struct options *o, struct error *err);
/*
 * Parses a size in bytes: a whole number with an optional binary unit, K,
 * M or G ("64K", "64M", "1G"; KiB and kB spellings too); -1 with err for
 * anything else or more than 1 TiB.
 */
int options_parse_size(const char *s, size_t *bytes, struct error *err);
/* Whether the run ends by itself with a report: record, or attach --duration. */
int options_oneshot(const struct options *o);
/* The usage text for a topic (NULL: the overview). */
const char *options_usage(const char *topic);

#endif
