#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "format.h"
#include "mem.h"
#include "wire.h"

enum { CMD_LIST_PID, CMD_LIST_COMM, CMD_LIST_STATE, CMD_LIST_UPTIME, CMD_LIST_SAMPLES,
       CMD_LIST_SOCKET, CMD_LIST_COLUMNS };

static const char *const cmd_list_headers[CMD_LIST_COLUMNS] = {
	"PID", "COMM", "STATE", "UPTIME", "SAMPLES", "SOCKET"
};

struct cmd_list_row {
	char *cells[CMD_LIST_COLUMNS];
};

/* The pid a socket is named after ("123.sock"), as text, or "-". */
static char *cmd_list_pid_of(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t len;

	base = base != NULL ? base + 1 : path;
	len = strlen(base) - 5;	/* ".sock" */
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)base[i]))
			return mem_strdup("-");
	}
	return len > 0 ? mem_strndup(base, len) : mem_strdup("-");
}

/* A row for a socket nobody answers on, or whose daemon would not say. */
static void cmd_list_fill_dead(struct cmd_list_row *row, const char *path, const char *state)
{
	row->cells[CMD_LIST_PID] = cmd_list_pid_of(path);
	row->cells[CMD_LIST_COMM] = mem_strdup("-");
	row->cells[CMD_LIST_STATE] = mem_strdup(state);
	row->cells[CMD_LIST_UPTIME] = mem_strdup("-");
	row->cells[CMD_LIST_SAMPLES] = mem_strdup("-");
}

/*
 * Fills row from the daemon at path.  Returns 0 normally, -1 when the
 * socket vanished meanwhile (the row is dropped); any other failure is a
 * "stale" or "unreachable" row plus a warning, never an error of list.
 */
static int cmd_list_probe(struct cmd_ctx *ctx, const char *path, struct cmd_list_row *row)
{
	Sampled__Request req;
	Sampled__StatusRequest status;
	Sampled__Response *resp;
	struct error err;
	struct client *c;
	char buf[FORMAT_BUF_SIZE];

	error_clear(&err);
	row->cells[CMD_LIST_SOCKET] = mem_strdup(path);
	c = client_connect(path, cmd_ctx_timeout_ms(ctx), &err);
	if (c == NULL && err.errnum == ENOENT)
		return -1;
	if (c == NULL && err.errnum == ECONNREFUSED) {
		cmd_list_fill_dead(row, path, "stale");
		return 0;
	}
	if (c == NULL)
		goto unreachable;
	wire_request_init(&req);
	sampled__status_request__init(&status);
	req.command_case = SAMPLED__REQUEST__COMMAND_STATUS;
	req.status = &status;
	resp = client_call(c, &req, &err);
	client_free(c);
	if (resp == NULL || resp->status == NULL) {
		client_response_free(resp);
		goto unreachable;
	}
	row->cells[CMD_LIST_PID] = mem_printf("%d", resp->status->target_pid);
	row->cells[CMD_LIST_COMM] = format_printable(resp->status->target_comm);
	row->cells[CMD_LIST_STATE] = mem_strdup(format_target_state(buf, sizeof(buf),
								    resp->status));
	row->cells[CMD_LIST_UPTIME] = mem_strdup(format_duration(buf, sizeof(buf),
								 resp->status->uptime_ns));
	row->cells[CMD_LIST_SAMPLES] = mem_printf("%" PRIu64, resp->status->samples);
	client_response_free(resp);
	return 0;
unreachable:
	fprintf(cmd_ctx_errout(ctx), "samplectl: list: %s\n",
		err.msg[0] != '\0' ? err.msg : "the daemon did not answer");
	cmd_list_fill_dead(row, path, "unreachable");
	return 0;
}

/* Prints the rows under a header, each column as wide as its widest cell. */
static void cmd_list_print(FILE *out, const struct cmd_list_row *rows, size_t n)
{
	int width[CMD_LIST_COLUMNS], len;

	for (int k = 0; k < CMD_LIST_COLUMNS; k++) {
		width[k] = (int)strlen(cmd_list_headers[k]);
		for (size_t i = 0; i < n; i++) {
			len = (int)strlen(rows[i].cells[k]);
			width[k] = len > width[k] ? len : width[k];
		}
	}
	for (size_t i = 0; i <= n; i++) {
		for (int k = 0; k < CMD_LIST_COLUMNS; k++) {
			const char *cell = i == 0 ? cmd_list_headers[k] : rows[i - 1].cells[k];
			int right = k == CMD_LIST_PID || k == CMD_LIST_SAMPLES;

			if (k == CMD_LIST_COLUMNS - 1)
				fprintf(out, "%s\n", cell);
			else
				fprintf(out, right ? "%*s  " : "%-*s  ", width[k], cell);
		}
	}
}

/* Lists every daemon of this user; needs no daemon chosen, fails on none. */
static int cmd_list_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct cmd_list_row *rows = NULL;
	size_t n = 0, cap = 0;
	char **list;

	(void)argc;
	(void)argv;
	list = client_socket_list(cmd_ctx_socket_dir(ctx), cmd_ctx_error(ctx));
	if (list == NULL)
		return CMD_EXIT_ERROR;
	for (char **p = list; *p != NULL; p++) {
		rows = mem_grow(rows, &cap, n + 1, sizeof(*rows));
		memset(&rows[n], 0, sizeof(rows[n]));
		if (cmd_list_probe(ctx, *p, &rows[n]) == 0)
			n++;
		else
			free(rows[n].cells[CMD_LIST_SOCKET]);
	}
	if (n == 0)
		fprintf(cmd_ctx_out(ctx), "no sampled daemon is running for this user\n");
	else
		cmd_list_print(cmd_ctx_out(ctx), rows, n);
	for (size_t i = 0; i < n; i++) {
		for (int k = 0; k < CMD_LIST_COLUMNS; k++)
			free(rows[i].cells[k]);
	}
	free(rows);
	client_socket_list_free(list);
	return CMD_EXIT_OK;
}

const struct cmd_entry cmd_list_entry = {
	.name = "list",
	.alias = "ls",
	.args = "",
	.longopts = NULL,
	.min_args = 0,
	.max_args = 0,
	.usage = "",
	.summary = "list the daemons running for this user",
	.help =
	"Looks at every socket in this user's socket directory (/run/sampled for\n"
	"root, else $XDG_RUNTIME_DIR/sampled, else /tmp/sampled-UID), asks each\n"
	"daemon for its status, and prints one line per socket: the target's pid\n"
	"and command name, its state, the daemon's uptime, the samples taken so\n"
	"far, and the socket's path.  A socket no daemon listens on any more (one\n"
	"left behind by a daemon that was killed) is shown as 'stale'; a daemon\n"
	"that accepts the connection but does not answer in time, or speaks\n"
	"another protocol version, as 'unreachable', with the reason on standard\n"
	"error.  list ignores --pid and --socket: it shows every daemon.\n"
	"\n"
	"Examples:\n"
	"  samplectl list\n"
	"  samplectl --timeout 1 ls\n"
	"\n"
	"Exit status: 0, also when no daemon runs or some are stale; 1 when the\n"
	"socket directory cannot be read.\n",
	.exec = cmd_list_exec,
};
