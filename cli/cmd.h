#ifndef SAMPLED_CMD_H
#define SAMPLED_CMD_H

#include <sys/types.h>
#include <getopt.h>
#include <stdio.h>

#include "client.h"
#include "error.h"
#include "safepath.h"
#include "view_opts.h"

/*
 * samplectl's commands, in the shape of tmux's cmd-*.c: each command file
 * exports one `const struct cmd_entry cmd_<name>_entry`, and cmd_table
 * collects them.  The table drives everything generic: command lookup
 * (name, alias, unique prefix), option parsing and operand counts, usage
 * errors, `samplectl help [COMMAND]` and `samplectl COMMAND --help`.
 */

/* Exit statuses of samplectl, and what exec returns. */
enum {
	CMD_EXIT_OK = 0,
	CMD_EXIT_ERROR = 1,	/* the message is in cmd_ctx_error() */
	CMD_EXIT_USAGE = 2,	/* likewise; the command's usage is shown with it */
};

#define CMD_DEFAULT_TIMEOUT_MS 10000
#define CMD_GLOBAL_USAGE \
	"samplectl [--pid PID | --socket PATH] [--timeout SECONDS] COMMAND [ARGS]"

/*
 * Groups of options a command takes besides its own, in cmd_entry.flags:
 * cmd.c adds each group's options to the command's parsing, usage and
 * help (the view options from the table in view_opts.c, which
 * view_args_parse reads), so that each is declared once.
 */
enum {
	CMD_ENTRY_LOAD = 0x001,		/* --load FILE: a saved profile instead of a daemon */
	CMD_ENTRY_THREADS = VIEW_OPTS_GROUP_THREADS,
	CMD_ENTRY_VIEW = VIEW_OPTS_GROUP_VIEW,
	CMD_ENTRY_STATE = VIEW_OPTS_GROUP_STATE,
	CMD_ENTRY_GIL = VIEW_OPTS_GROUP_GIL,
	CMD_ENTRY_MIN_PERCENT = VIEW_OPTS_GROUP_MIN_PERCENT,
	CMD_ENTRY_RANGE = VIEW_OPTS_GROUP_RANGE,
	CMD_ENTRY_COLOR = VIEW_OPTS_GROUP_COLOR,
	CMD_ENTRY_FLAME = VIEW_OPTS_GROUP_FLAME,
};

struct cmd_ctx;

struct cmd_entry {
	const char *name;
	const char *alias;		/* NULL if none; matched exactly */
	const char *args;		/* getopt short options ("o:j"), "" if none; -h is implicit */
	/*
	 * NULL or zero-terminated; flag NULL, val the short letter or, for a
	 * long-only option, a value >= 256.  --help is implicit.
	 */
	const struct option *longopts;
	unsigned flags;			/* CMD_ENTRY_* groups of shared options */
	int min_args, max_args;		/* operands after the options; max -1: no limit */
	/*
	 * Its own options and operands, as they follow "samplectl NAME" in a
	 * usage line (the shared ones of flags go before them); lines are
	 * wrapped where it is printed.
	 */
	const char *usage;
	const char *summary;		/* one line, no final period */
	/*
	 * The manual text, lines of at most 78 columns; the shared options of
	 * flags are listed before its "Examples:" line.
	 */
	const char *help;
	/*
	 * Runs the command with its operands (argv[0..argc-1], options
	 * removed; see cmd_ctx_has/cmd_ctx_value for the options).  Returns a
	 * CMD_EXIT_* status and leaves a message in cmd_ctx_error() on failure.
	 */
	int (*exec)(struct cmd_ctx *ctx, int argc, char **argv);
};

/* Every command, NULL-terminated, in the order help lists them. */
extern const struct cmd_entry *const cmd_table[];

/*
 * Finds a command in table by exact name, exact alias, or a prefix of
 * exactly one name; NULL with err ("unknown command 'x'", "ambiguous
 * command 'st': status, stop") otherwise.
 */
const struct cmd_entry *cmd_find_in(const struct cmd_entry *const *table, const char *name,
				    struct error *err);
/* cmd_find_in(cmd_table, ...). */
const struct cmd_entry *cmd_find(const char *name, struct error *err);

/* Parses a --pid value: decimal digits only, 1..INT_MAX. */
int cmd_parse_pid(const char *s, pid_t *pid, struct error *err);
/* Parses a --timeout value in seconds ("10", "0.5"): > 0, at most a day. */
int cmd_parse_timeout(const char *s, int *timeout_ms, struct error *err);

/*
 * After getopt_long (opterr 0) returned c ('?' or ':' with a leading ':'
 * in the optstring), describes the refused option in err: "unknown option
 * '--x'", "option '-p' needs a value", "option '--json' takes no value".
 */
void cmd_option_error(int c, int argc, char **argv, const struct option *longopts,
		      struct error *err);

/* Global usage, options and the command list: `samplectl --help`. */
void cmd_print_overview(FILE *out);
/* A command's usage, alias, summary and manual text: `samplectl help NAME`. */
void cmd_print_help(FILE *out, const struct cmd_entry *e);
/* "usage: samplectl NAME USAGE" on one line. */
void cmd_print_usage(FILE *out, const struct cmd_entry *e);

/*
 * The context every command runs in: the global options, the streams to
 * write to (stdout/stderr unless set), the options of the command being
 * run, and a connection opened on first use.  socket_path may be NULL; it
 * is copied.
 */
struct cmd_ctx *cmd_ctx_new(pid_t pid, const char *socket_path, int timeout_ms);
/* Closes the connection if one was opened; accepts NULL. */
void cmd_ctx_free(struct cmd_ctx *ctx);
void cmd_ctx_set_streams(struct cmd_ctx *ctx, FILE *out, FILE *errout);
/* Looks for daemons in dir instead of paths_socket_dir() (tests, mostly). */
void cmd_ctx_set_socket_dir(struct cmd_ctx *ctx, const char *dir);

FILE *cmd_ctx_out(const struct cmd_ctx *ctx);
FILE *cmd_ctx_errout(const struct cmd_ctx *ctx);
int cmd_ctx_timeout_ms(const struct cmd_ctx *ctx);
/* The directory daemons put their sockets in (owned by ctx). */
const char *cmd_ctx_socket_dir(struct cmd_ctx *ctx);
/* Where exec leaves the message of a failure. */
struct error *cmd_ctx_error(struct cmd_ctx *ctx);
/*
 * The connection to the daemon chosen by --socket, --pid or else the only
 * one running, opened on the first call (owned by ctx); NULL with the
 * message in cmd_ctx_error() when there is none to talk to.
 */
struct client *cmd_ctx_client(struct cmd_ctx *ctx);

/*
 * Sends the daemon of ctx one of the requests that carry nothing (stop,
 * dump, reset, pause, resume) and checks its reply as client_call does.
 * *reply, when reply is not NULL, gets it (free it with
 * client_response_free); *target_pid, when not NULL, the target's pid from
 * the daemon's hello.  -1 with the message in cmd_ctx_error().
 */
int cmd_ctx_call(struct cmd_ctx *ctx, Sampled__Request__CommandCase command, pid_t *target_pid,
		 Sampled__Response **reply);

/*
 * Where a command writes what it produces: the context's output stream
 * for no path or "-", else the file path, written whole or not at all and
 * never through a link planted under its name (safepath_output).
 */
struct cmd_output {
	FILE *stream;
	struct safepath_output *file;	/* NULL for the output stream */
	const char *path;
};

/* Opens o for path; -1 with the message in cmd_ctx_error() when it cannot be written. */
int cmd_output_open(struct cmd_ctx *ctx, const char *path, struct cmd_output *o);
/*
 * Ends the output of a command that returns rc: a file is put in place when
 * rc is CMD_EXIT_OK and dropped otherwise.  Returns rc, or CMD_EXIT_ERROR
 * with the message set when what was written could not be saved.
 */
int cmd_output_close(struct cmd_ctx *ctx, struct cmd_output *o, int rc);

/* Whether the running command was given option opt (its short letter or long val). */
int cmd_ctx_has(const struct cmd_ctx *ctx, int opt);
/* The value of option opt (the last one given), or NULL. */
const char *cmd_ctx_value(const struct cmd_ctx *ctx, int opt);

/*
 * Runs argv[0] (a command name, alias or prefix) with its arguments:
 * parses its options, checks its operand count, handles --help, calls
 * exec, and writes any error to the error stream as "samplectl: ..." (with
 * the usage for usage errors).  Returns the exit status.
 */
int cmd_run(struct cmd_ctx *ctx, int argc, char **argv);

#endif
