#include <stdio.h>

#include "cmd.h"

/* Asks the daemon to empty its profile; sampling goes on into the new one. */
static int cmd_reset_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	pid_t target;

	(void)argc;
	(void)argv;
	if (cmd_ctx_call(ctx, SAMPLED__REQUEST__COMMAND_RESET, &target, NULL) < 0)
		return CMD_EXIT_ERROR;
	fprintf(cmd_ctx_out(ctx), "reset the profile of pid %d\n", target);
	return CMD_EXIT_OK;
}

const struct cmd_entry cmd_reset_entry = {
	.name = "reset",
	.args = "",
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
