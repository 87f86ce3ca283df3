#include <stdio.h>

#include "cmd.h"

/*
 * Asks the daemon to stop, then waits for it to let go of its socket, so
 * that a script can start a new daemon (or check the target) right after.
 */
static int cmd_stop_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	pid_t target;

	(void)argc;
	(void)argv;
	if (cmd_ctx_call(ctx, SAMPLED__REQUEST__COMMAND_STOP, &target, NULL) < 0 ||
	    client_wait_gone(cmd_ctx_client(ctx), cmd_ctx_timeout_ms(ctx), cmd_ctx_error(ctx)) < 0)
		return CMD_EXIT_ERROR;
	fprintf(cmd_ctx_out(ctx), "stopped daemon for pid %d\n", target);
	return CMD_EXIT_OK;
}

const struct cmd_entry cmd_stop_entry = {
	.name = "stop",
	.args = "",
	.usage = "",
	.summary = "stop a daemon and wait until it has gone",
	.help =
	"Asks the daemon to stop profiling and exit, which leaves the target\n"
	"running as it was.  samplectl then waits, up to the timeout (--timeout,\n"
	"10 seconds by default), until the daemon has let go of its socket:\n"
	"nothing listens on it any more and the lock file beside it is gone or\n"
	"free.  Then it prints 'stopped daemon for pid N' with the target's pid.\n"
	"When stop returns 0, a script may start another daemon for the same\n"
	"target at once.\n"
	"\n"
	"Examples:\n"
	"  samplectl stop\n"
	"  samplectl --pid 4242 stop && sampled attach 4242\n"
	"\n"
	"Exit status: 0 once the daemon has gone, 1 when there is no daemon to\n"
	"stop, it refused, or it was still there when the timeout expired.\n",
	.exec = cmd_stop_exec,
};
