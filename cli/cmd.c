#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "mem.h"
#include "paths.h"
#include "saved_server.h"
#include "view_opts.h"
#include "wire.h"

extern const struct cmd_entry cmd_diff_entry;
extern const struct cmd_entry cmd_export_entry;
extern const struct cmd_entry cmd_flame_entry;
extern const struct cmd_entry cmd_help_entry;
extern const struct cmd_entry cmd_list_entry;
extern const struct cmd_entry cmd_pause_entry;
extern const struct cmd_entry cmd_reset_entry;
extern const struct cmd_entry cmd_resume_entry;
extern const struct cmd_entry cmd_save_entry;
extern const struct cmd_entry cmd_status_entry;
extern const struct cmd_entry cmd_stop_entry;
extern const struct cmd_entry cmd_top_entry;
extern const struct cmd_entry cmd_tree_entry;
extern const struct cmd_entry cmd_dump_entry;

const struct cmd_entry *const cmd_table[] = {
	&cmd_status_entry,
	&cmd_tree_entry,
	&cmd_dump_entry,
	&cmd_top_entry,
	&cmd_flame_entry,
	&cmd_diff_entry,
	&cmd_export_entry,
	&cmd_save_entry,
	&cmd_reset_entry,
	&cmd_pause_entry,
	&cmd_resume_entry,
	&cmd_stop_entry,
	&cmd_list_entry,
	&cmd_help_entry,
	NULL
};

/* The longest timeout --timeout takes: anything longer is a typo. */
#define CMD_MAX_TIMEOUT_S 86400

/*
 * --load FILE, which the commands that read a profile take besides their
 * own options (CMD_ENTRY_LOAD): its value is out of the way of every
 * command's (letters, and long-only values from 256 up) and of the view
 * options' (view_opts.c).
 */
#define CMD_OPT_LOAD 0x10000

/* Usage lines are wrapped before this column. */
#define CMD_USAGE_WIDTH 80

struct cmd_option {
	int opt;
	const char *value;	/* points into argv */
};

struct cmd_ctx {
	pid_t pid;
	char *socket_path;
	char *socket_dir;
	int timeout_ms;
	FILE *out;
	FILE *errout;
	struct client *client;
	struct saved_server *saved;	/* --load: the file, served to client */
	struct error err;
	struct cmd_option *opts;	/* of the command being run */
	size_t nopts;
	size_t opts_cap;
};

const struct cmd_entry *cmd_find_in(const struct cmd_entry *const *table, const char *name,
				    struct error *err)
{
	const struct cmd_entry *found = NULL;
	size_t len = strlen(name), matches = 0;
	char list[256] = "";

	for (const struct cmd_entry *const *e = table; *e != NULL; e++) {
		if (strcmp((*e)->name, name) == 0 ||
		    ((*e)->alias != NULL && strcmp((*e)->alias, name) == 0))
			return *e;
	}
	for (const struct cmd_entry *const *e = table; len > 0 && *e != NULL; e++) {
		if (strncmp((*e)->name, name, len) != 0)
			continue;
		found = *e;
		matches++;
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 matches > 1 ? ", " : "", (*e)->name);
	}
	if (matches == 1)
		return found;
	if (matches == 0)
		error_set(err, 0, "unknown command '%s'", name);
	else
		error_set(err, 0, "ambiguous command '%s': %s", name, list);
	return NULL;
}

const struct cmd_entry *cmd_find(const char *name, struct error *err)
{
	return cmd_find_in(cmd_table, name, err);
}

/*
 * strtol would take " 12", "+12" and "12abc"; a pid is plain digits, and
 * 0 or a value beyond pid_t are refused rather than wrapped.
 */
int cmd_parse_pid(const char *s, pid_t *pid, struct error *err)
{
	unsigned long long v;

	for (const char *p = s; *p != '\0'; p++) {
		if (!isdigit((unsigned char)*p))
			goto bad;
	}
	if (s[0] == '\0')
		goto bad;
	errno = 0;
	v = strtoull(s, NULL, 10);
	if (errno == ERANGE || v > INT_MAX) {
		error_set(err, 0, "process id '%s' is out of range (at most %d)", s, INT_MAX);
		return -1;
	}
	if (v == 0)
		goto bad;
	*pid = (pid_t)v;
	return 0;
bad:
	error_set(err, 0, "invalid process id '%s': expected a positive integer", s);
	return -1;
}

/* Digits with at most one decimal point: no signs, exponents, hex or "inf". */
int cmd_parse_timeout(const char *s, int *timeout_ms, struct error *err)
{
	int digits = 0, dots = 0;
	double v;

	for (const char *p = s; *p != '\0'; p++) {
		if (isdigit((unsigned char)*p))
			digits++;
		else if (*p == '.')
			dots++;
		else
			goto bad;
	}
	if (digits == 0 || dots > 1)
		goto bad;
	v = strtod(s, NULL);
	if (v <= 0 || v > CMD_MAX_TIMEOUT_S)
		goto bad;
	*timeout_ms = (int)(v * 1000.0);
	if (*timeout_ms < 1)
		*timeout_ms = 1;
	return 0;
bad:
	error_set(err, 0, "invalid timeout '%s': expected seconds, more than 0 and at most %d",
		  s, CMD_MAX_TIMEOUT_S);
	return -1;
}

/* The length of the synopsis item at p: up to white space outside brackets. */
static size_t cmd_usage_item(const char *p)
{
	size_t n = 0;
	int depth = 0;

	for (; p[n] != '\0' && (depth > 0 || (p[n] != ' ' && p[n] != '\n')); n++)
		depth += p[n] == '[' ? 1 : p[n] == ']' ? -1 : 0;
	return n;
}

/*
 * The shared options of the entry's flags, then its own, wrapped between
 * bracketed items with the continuation lines under the first item.
 */
void cmd_print_usage(FILE *out, const struct cmd_entry *e)
{
	char *shared = view_opts_usage(e->flags);
	char *all = mem_printf("%s %s", shared, e->usage);
	int indent = fprintf(out, "usage: samplectl %s", e->name), col = indent;
	size_t n;

	for (const char *p = all; *p != '\0'; p += n) {
		p += strspn(p, " \n");
		n = cmd_usage_item(p);
		if (n == 0)
			continue;
		if (col > indent && col + 1 + (int)n > CMD_USAGE_WIDTH)
			col = fprintf(out, "\n%*s", indent, "") - 1;
		col += fprintf(out, " %.*s", (int)n, p);
	}
	fputc('\n', out);
	free(all);
	free(shared);
}

void cmd_print_overview(FILE *out)
{
	int width = 0, n;

	fputs("usage: " CMD_GLOBAL_USAGE "\n"
	      "\n"
	      "samplectl controls sampled, the sampling profiler daemon: it asks a\n"
	      "running daemon for its status, its profile, or to stop.\n"
	      "\n"
	      "Global options (they come before the command):\n"
	      "  -p, --pid PID          talk to the daemon profiling process PID\n"
	      "  -s, --socket PATH      talk to the daemon listening on socket PATH\n"
	      "  -t, --timeout SECONDS  give up on an unresponsive daemon after SECONDS\n"
	      "                         (default 10; fractions such as 0.5 are allowed)\n"
	      "  -h, --help             show this help and exit\n"
	      "  -V, --version          show the version and exit\n"
	      "\n"
	      "Without --pid or --socket, samplectl talks to the only daemon running for\n"
	      "this user, and says so when there are none or several.\n"
	      "\n"
	      "Commands (any unique prefix will do):\n", out);
	for (const struct cmd_entry *const *e = cmd_table; *e != NULL; e++) {
		n = (int)strlen((*e)->name) + ((*e)->alias != NULL ? (int)strlen((*e)->alias) + 2 : 0);
		if (n > width)
			width = n;
	}
	for (const struct cmd_entry *const *e = cmd_table; *e != NULL; e++) {
		n = fprintf(out, "  %s%s%s", (*e)->name, (*e)->alias != NULL ? ", " : "",
			    (*e)->alias != NULL ? (*e)->alias : "");
		fprintf(out, "%*s  %s\n", width + 2 - n, "", (*e)->summary);
	}
	fputs("\n"
	      "Exit status: 0 on success, 1 on an error, 2 on a usage error.\n"
	      "Run 'samplectl help COMMAND' for the options and examples of a command.\n", out);
}

/*
 * The entry's own text with the shared options of its flags before its
 * examples, where a reader looks for options (at the end without any).
 */
void cmd_print_help(FILE *out, const struct cmd_entry *e)
{
	const char *examples = strstr(e->help, "\nExamples:\n");
	int head = examples != NULL ? (int)(examples - e->help) + 1 : (int)strlen(e->help);
	const char *gap = examples != NULL ? "" : "\n", *end = examples != NULL ? "\n" : "";

	fprintf(out, "samplectl %s - %s\n\n", e->name, e->summary);
	cmd_print_usage(out, e);
	if (e->alias != NULL)
		fprintf(out, "alias: %s\n", e->alias);
	fprintf(out, "\n%.*s", head, e->help);
	if (e->flags & ~(unsigned)CMD_ENTRY_LOAD) {
		fprintf(out, "%sView options (shared with the other view commands):\n", gap);
		view_opts_help(out, e->flags);
		fputs(end, out);
	}
	if (e->flags & CMD_ENTRY_LOAD)
		fprintf(out, "%s"
			"Saved profiles:\n"
			"  --load FILE  read the profile from FILE, written by 'samplectl save'\n"
			"               (or 'sampled record -o FILE.sprof'), instead of asking a\n"
			"               daemon; --pid and --socket do not go with it\n%s", gap, end);
	fputs(e->help + head, out);
}

struct cmd_ctx *cmd_ctx_new(pid_t pid, const char *socket_path, int timeout_ms)
{
	struct cmd_ctx *ctx = mem_zalloc(sizeof(*ctx));

	ctx->pid = pid;
	ctx->socket_path = socket_path != NULL ? mem_strdup(socket_path) : NULL;
	ctx->timeout_ms = timeout_ms;
	ctx->out = stdout;
	ctx->errout = stderr;
	return ctx;
}

void cmd_ctx_free(struct cmd_ctx *ctx)
{
	if (ctx == NULL)
		return;
	client_free(ctx->client);
	saved_server_free(ctx->saved);
	free(ctx->socket_path);
	free(ctx->socket_dir);
	free(ctx->opts);
	free(ctx);
}

void cmd_ctx_set_streams(struct cmd_ctx *ctx, FILE *out, FILE *errout)
{
	ctx->out = out;
	ctx->errout = errout;
}

void cmd_ctx_set_socket_dir(struct cmd_ctx *ctx, const char *dir)
{
	free(ctx->socket_dir);
	ctx->socket_dir = mem_strdup(dir);
}

FILE *cmd_ctx_out(const struct cmd_ctx *ctx)
{
	return ctx->out;
}

FILE *cmd_ctx_errout(const struct cmd_ctx *ctx)
{
	return ctx->errout;
}

int cmd_ctx_timeout_ms(const struct cmd_ctx *ctx)
{
	return ctx->timeout_ms;
}

const char *cmd_ctx_socket_dir(struct cmd_ctx *ctx)
{
	if (ctx->socket_dir == NULL)
		ctx->socket_dir = paths_socket_dir();
	return ctx->socket_dir;
}

struct error *cmd_ctx_error(struct cmd_ctx *ctx)
{
	return &ctx->err;
}

/*
 * --load: the file is read and served by a thread of our own on a private
 * socket (saved_server.h), and the command talks to that as to a daemon.
 */
static struct client *cmd_ctx_load(struct cmd_ctx *ctx, const char *file)
{
	struct saved_profile *sp;

	if (ctx->pid > 0 || ctx->socket_path != NULL) {
		error_set(&ctx->err, 0, "--load reads a file: --pid and --socket do not go with it");
		return NULL;
	}
	sp = saved_profile_read(file, &ctx->err);
	if (sp == NULL)
		return NULL;
	ctx->saved = saved_server_start(sp, &ctx->err);
	if (ctx->saved == NULL)
		return NULL;
	ctx->client = client_connect(saved_server_path(ctx->saved), ctx->timeout_ms, &ctx->err);
	return ctx->client;
}

struct client *cmd_ctx_client(struct cmd_ctx *ctx)
{
	const char *load = cmd_ctx_value(ctx, CMD_OPT_LOAD);
	char *path;

	if (ctx->client != NULL)
		return ctx->client;
	if (load != NULL)
		return cmd_ctx_load(ctx, load);
	path = client_find_socket_in(cmd_ctx_socket_dir(ctx), ctx->pid, ctx->socket_path,
				     &ctx->err);
	if (path == NULL)
		return NULL;
	ctx->client = client_connect(path, ctx->timeout_ms, &ctx->err);
	free(path);
	return ctx->client;
}

int cmd_output_open(struct cmd_ctx *ctx, const char *path, struct cmd_output *o)
{
	*o = (struct cmd_output){ .stream = ctx->out, .path = path };
	if (path == NULL || strcmp(path, "-") == 0)
		return 0;
	o->file = safepath_output_begin(path, &ctx->err);
	if (o->file == NULL)
		return -1;
	o->stream = safepath_output_stream(o->file);
	return 0;
}

/* A failed command leaves no half-written file behind, and the old one stays. */
int cmd_output_close(struct cmd_ctx *ctx, struct cmd_output *o, int rc)
{
	if (o->file == NULL) {
		if (o->stream != NULL && fflush(o->stream) != 0 && rc == CMD_EXIT_OK) {
			error_set(&ctx->err, errno, "writing the output");
			rc = CMD_EXIT_ERROR;
		}
	} else if (rc != CMD_EXIT_OK) {
		safepath_output_abort(o->file);
	} else if (safepath_output_commit(o->file, &ctx->err) < 0) {
		rc = CMD_EXIT_ERROR;
	}
	o->file = NULL;
	o->stream = NULL;
	return rc;
}

/*
 * The requests that carry nothing are empty messages, a bare header of
 * their kind, and differ only in which member of the request's oneof
 * points at one: the members share one pointer, so any of them will do.
 */
int cmd_ctx_call(struct cmd_ctx *ctx, Sampled__Request__CommandCase command, pid_t *target_pid,
		 Sampled__Response **reply)
{
	static const ProtobufCMessageDescriptor *const empty[] = {
		[SAMPLED__REQUEST__COMMAND_STOP] = &sampled__stop_request__descriptor,
		[SAMPLED__REQUEST__COMMAND_DUMP] = &sampled__dump_request__descriptor,
		[SAMPLED__REQUEST__COMMAND_RESET] = &sampled__reset_request__descriptor,
		[SAMPLED__REQUEST__COMMAND_PAUSE] = &sampled__pause_request__descriptor,
		[SAMPLED__REQUEST__COMMAND_RESUME] = &sampled__resume_request__descriptor,
	};
	struct client *c = cmd_ctx_client(ctx);
	Sampled__Response *resp;
	Sampled__Request req;
	ProtobufCMessage m;

	if ((size_t)command >= sizeof(empty) / sizeof(empty[0]) || empty[command] == NULL ||
	    empty[command]->sizeof_message != sizeof(m))
		mem_fatal("cmd_ctx_call: request kind %d carries fields", (int)command);
	if (c == NULL)
		return -1;
	protobuf_c_message_init(empty[command], &m);
	wire_request_init(&req);
	req.command_case = command;
	req.stop = (Sampled__StopRequest *)(void *)&m;
	if (target_pid != NULL)
		*target_pid = client_hello(c)->target_pid;
	resp = client_call(c, &req, &ctx->err);
	if (resp == NULL)
		return -1;
	if (reply != NULL)
		*reply = resp;
	else
		client_response_free(resp);
	return 0;
}

int cmd_ctx_has(const struct cmd_ctx *ctx, int opt)
{
	for (size_t i = 0; i < ctx->nopts; i++) {
		if (ctx->opts[i].opt == opt)
			return 1;
	}
	return 0;
}

const char *cmd_ctx_value(const struct cmd_ctx *ctx, int opt)
{
	for (size_t i = ctx->nopts; i > 0; i--) {
		if (ctx->opts[i - 1].opt == opt)
			return ctx->opts[i - 1].value;
	}
	return NULL;
}

/*
 * The command's long options plus the --help every command takes, the
 * shared options of its flags, and --load for those that read a profile
 * (newly allocated).
 */
static struct option *cmd_longopts(const struct cmd_entry *e)
{
	static const struct option help = { "help", no_argument, NULL, 'h' };
	static const struct option load = { "load", required_argument, NULL, CMD_OPT_LOAD };
	size_t n = 0;
	struct option *all;

	while (e->longopts != NULL && e->longopts[n].name != NULL)
		n++;
	all = mem_calloc(n + VIEW_OPTS_MAX_OPTIONS + 3, sizeof(*all));
	if (n > 0)
		memcpy(all, e->longopts, n * sizeof(*all));
	all[n++] = help;
	n += view_opts_longopts(e->flags, all + n);
	if (e->flags & CMD_ENTRY_LOAD)
		all[n] = load;
	return all;
}

/*
 * Describes the option getopt_long just refused.  A long option's text is
 * argv[optind - 1]; a short one is optopt, since inside a cluster ("-jx")
 * optind has not moved yet.  optopt is 0 for an unknown long option and the
 * option's val for a known one used wrongly ("--json=1"), which is why
 * long-only options take vals >= 256, out of the way of short letters.
 */
void cmd_option_error(int c, int argc, char **argv, const struct option *longopts,
		      struct error *err)
{
	const char *text = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "";
	int len = (int)strcspn(text, "="), is_long = 0;

	if (strncmp(text, "--", 2) == 0) {
		is_long = optopt == 0;
		for (const struct option *o = longopts; !is_long && o->name != NULL; o++)
			is_long = o->val == optopt && strncmp(o->name, text + 2, len - 2) == 0;
	}
	if (is_long && c == ':')
		error_set(err, 0, "option '%.*s' needs a value", len, text);
	else if (is_long && text[len] == '=' && optopt != 0)
		error_set(err, 0, "option '%.*s' takes no value", len, text);
	else if (is_long)
		error_set(err, 0, "unknown option '%.*s'", len, text);
	else if (c == ':')
		error_set(err, 0, "option '-%c' needs a value", optopt);
	else
		error_set(err, 0, "unknown option '-%c'", optopt);
}

/* Checks the operand count against the entry; -1 with ctx->err set when off. */
static int cmd_check_count(struct cmd_ctx *ctx, const struct cmd_entry *e, int n, char **args)
{
	if (e->max_args >= 0 && n > e->max_args) {
		if (e->max_args == 0)
			error_set(&ctx->err, 0, "unexpected argument '%s'", args[0]);
		else
			error_set(&ctx->err, 0, "too many arguments (at most %d)", e->max_args);
		return -1;
	}
	if (n < e->min_args) {
		error_set(&ctx->err, 0, "missing argument (at least %d)", e->min_args);
		return -1;
	}
	return 0;
}

int cmd_run(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd_entry *e;
	struct option *longopts = NULL;
	char *shortopts = NULL;
	int c, rc = CMD_EXIT_USAGE, help = 0;

	ctx->nopts = 0;
	error_clear(&ctx->err);
	if (argc < 1 || (e = cmd_find(argv[0], &ctx->err)) == NULL) {
		fprintf(ctx->errout, "samplectl: %s\nusage: %s\ntry 'samplectl --help'\n",
			argc < 1 ? "no command given" : ctx->err.msg, CMD_GLOBAL_USAGE);
		return CMD_EXIT_USAGE;
	}
	shortopts = mem_printf(":h%s", e->args != NULL ? e->args : "");
	longopts = cmd_longopts(e);
	/* optind 0 makes glibc start afresh; argv[0], the command, is skipped. */
	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		if (c == '?' || c == ':') {
			cmd_option_error(c, argc, argv, longopts, &ctx->err);
			goto usage;
		}
		if (c == 'h') {
			help = 1;
			continue;
		}
		ctx->opts = mem_grow(ctx->opts, &ctx->opts_cap, ctx->nopts + 1, sizeof(*ctx->opts));
		ctx->opts[ctx->nopts].opt = c;
		ctx->opts[ctx->nopts].value = optarg;
		ctx->nopts++;
	}
	if (help) {
		cmd_print_help(ctx->out, e);
		rc = CMD_EXIT_OK;
		goto out;
	}
	if (cmd_check_count(ctx, e, argc - optind, argv + optind) < 0)
		goto usage;
	rc = e->exec(ctx, argc - optind, argv + optind);
	if (rc == CMD_EXIT_USAGE)
		goto usage;
	if (rc != CMD_EXIT_OK)
		fprintf(ctx->errout, "samplectl: %s\n",
			ctx->err.msg[0] != '\0' ? ctx->err.msg : "command failed");
	goto out;
usage:
	fprintf(ctx->errout, "samplectl: %s: %s\n", e->name, ctx->err.msg);
	cmd_print_usage(ctx->errout, e);
	fprintf(ctx->errout, "try 'samplectl help %s'\n", e->name);
	rc = CMD_EXIT_USAGE;
out:
	free(shortopts);
	free(longopts);
	return rc;
}
