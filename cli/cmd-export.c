#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "export_collapsed.h"
#include "wire.h"

enum { OPT_FORMAT = 'f', OPT_OUTPUT = 'o', OPT_THREADS = 256 };

static const struct option export_longopts[] = {
	{ "format", required_argument, NULL, OPT_FORMAT },
	{ "output", required_argument, NULL, OPT_OUTPUT },
	{ "threads", no_argument, NULL, OPT_THREADS },
	{ NULL, 0, NULL, 0 },
};

static int cmd_export_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	const char *format = cmd_ctx_value(ctx, OPT_FORMAT);
	const char *path = cmd_ctx_value(ctx, OPT_OUTPUT);
	Sampled__TreeRequest treq;
	Sampled__Response *resp;
	Sampled__Request req;
	struct client *c;
	FILE *out;
	int rc;

	(void)argc;
	(void)argv;
	if (format == NULL)
		format = "collapsed";
	if (strcmp(format, "collapsed") != 0) {
		error_set(err, 0, "unknown format '%s': this samplectl exports 'collapsed'", format);
		return CMD_EXIT_USAGE;
	}
	c = cmd_ctx_client(ctx);
	if (c == NULL)
		return CMD_EXIT_ERROR;
	wire_request_init(&req);
	sampled__tree_request__init(&treq);
	treq.per_thread = cmd_ctx_has(ctx, OPT_THREADS);
	req.command_case = SAMPLED__REQUEST__COMMAND_TREE;
	req.tree = &treq;
	resp = client_call(c, &req, err);
	if (resp == NULL)
		return CMD_EXIT_ERROR;
	out = path == NULL || strcmp(path, "-") == 0 ? cmd_ctx_out(ctx) : fopen(path, "we");
	if (out == NULL) {
		error_set(err, errno, "cannot write %s", path);
		client_response_free(resp);
		return CMD_EXIT_ERROR;
	}
	rc = export_collapsed(out, resp->tree, err) == 0 ? CMD_EXIT_OK : CMD_EXIT_ERROR;
	if (out != cmd_ctx_out(ctx) && fclose(out) != 0 && rc == CMD_EXIT_OK) {
		error_set(err, errno, "writing %s", path);
		rc = CMD_EXIT_ERROR;
	}
	client_response_free(resp);
	return rc;
}

const struct cmd_entry cmd_export_entry = {
	.name = "export",
	.alias = NULL,
	.args = "f:o:",
	.longopts = export_longopts,
	.min_args = 0,
	.max_args = 0,
	.usage = "[-f FORMAT] [-o FILE] [--threads]",
	.summary = "write the profile in another tool's format",
	.help =
	"Writes the whole call tree collected so far, nothing left out, in a\n"
	"format other tools read.\n"
	"\n"
	"Options:\n"
	"  -f, --format FORMAT  collapsed (the default): FlameGraph's folded\n"
	"                       stacks, one line 'root;...;leaf COUNT' per stack\n"
	"  -o, --output FILE    write to FILE instead of standard output\n"
	"      --threads        put each thread's stacks under a root frame\n"
	"                       naming the thread\n"
	"\n"
	"Examples:\n"
	"  samplectl export > stacks.folded\n"
	"  samplectl --pid 4242 export -f collapsed -o out.folded\n"
	"\n"
	"Exit status: 0 on success, 1 when there is no daemon or the file cannot\n"
	"be written, 2 on a usage error.\n",
	.exec = cmd_export_exec,
};
