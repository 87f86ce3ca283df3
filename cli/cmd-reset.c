#include <stdio.h>

#include "cmd.h"
#include "wire.h"

/* Asks the daemon to empty its profile; sampling goes on into the new one. */
static int cmd_reset_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	struct client *c = cmd_ctx_client(ctx);
	Sampled__ResetRequest reset;
	Sampled__Response *resp;
	Sampled__Request req;
	int target;

	(void)argc;
	(void)argv;
	if (c == NULL)
		return CMD_EXIT_ERROR;
	target = client_hello(c)->target_pid;
	wire_request_init(&req);
	sampled__reset_request__init(&reset);
	req.command_case = SAMPLED__REQUEST__COMMAND_RESET;
	req.reset = &reset;
	resp = client_call(c, &req, err);
	if (resp == NULL)
		return CMD_EXIT_ERROR;
	client_response_free(resp);
	fprintf(cmd_ctx_out(ctx), "reset the profile of pid %d\n", target);
	return CMD_EXIT_OK;
}

const struct cmd_entry cmd_reset_entry = {
	.name = "reset",
	.alias = NULL,
	.args = "",
	.longopts = NULL,
	.min_args = 0,
	.max_args = 0,
	.usage = "",
	.summary = "empty the profile and start collecting afresh",
	.help =
	"Asks the daemon to throw away what it has collected: the call tree, the\n"
	"time buckets behind --last, --since and --until, and the sample counts\n"
	"of status (the threads and their names stay).  Sampling goes on, so the\n"
	"profile that follows covers the time since the reset, and the duration\n"
	"the views show starts again from it.  A paused daemon stays paused.\n"
	"Then it prints 'reset the profile of pid N' with the target's pid.\n"
	"\n"
	"Examples:\n"
	"  samplectl reset; sleep 60; samplectl tree\n"
	"  samplectl --pid 4242 reset\n"
	"\n"
	"Exit status: 0 once the profile is empty, 1 when there is no daemon or\n"
	"it refused.\n",
	.exec = cmd_reset_exec,
};
