#ifndef SAMPLED_OPTIONS_H
#define SAMPLED_OPTIONS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "error.h"
#include "log.h"
#include "profile.h"

/* The daemon's command line, parsed into plain data for main.c. */

enum options_command {
	OPTIONS_HELP,		/* print usage (of topic, if set) and exit 0 */
	OPTIONS_VERSION,
	OPTIONS_ATTACH,
	OPTIONS_DUMP,		/* print every thread's stack once, no daemon */
};

struct options {
	enum options_command command;
	const char *help_topic;	/* "attach", or NULL for the overview */
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
};

#define OPTIONS_DEFAULT_RATE 99u
#define OPTIONS_MAX_RATE 10000u
#define OPTIONS_MIN_AUTO_BUFFER ((size_t)1 << 20)
#define OPTIONS_MAX_AUTO_BUFFER ((size_t)8 << 20)
/* See BENCHMARKS.md for how stack depth and copy size were measured. */
#define OPTIONS_DEFAULT_STACK 32768u
/* The kernel's limit: a sample record must fit in 64 KiB. */
#define OPTIONS_MAX_STACK 65528u

/* Parses argv; 0 on success, -1 with a one-line reason on a usage error. */
int options_parse(int argc, char **argv, struct options *o, struct error *err);
/* The usage text for a topic (NULL: the overview). */
const char *options_usage(const char *topic);

#endif
