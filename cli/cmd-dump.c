#include <stdio.h>

#include "cmd.h"
#include "dump_text.h"

/* Asks the daemon for every thread's current stack and prints them. */
static int cmd_dump_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	Sampled__Response *resp;

	(void)argc;
	(void)argv;
	if (cmd_ctx_call(ctx, SAMPLED__REQUEST__COMMAND_DUMP, NULL, &resp) < 0)
		return CMD_EXIT_ERROR;
	dump_text_print(cmd_ctx_out(ctx), resp->dump);
	client_response_free(resp);
	return CMD_EXIT_OK;
}

const struct cmd_entry cmd_dump_entry = {
	.name = "dump",
	.args = "",
	.usage = "",
	.summary = "print every thread's stack as it is now",
	.help =
	"Prints the current stack of every thread of the target, once, like\n"
	"py-spy dump or eu-stack: a heading per thread (tid, name, state, and\n"
	"the system call a blocked thread waits in), then its frames innermost\n"
	"first, each 'function (file:line) [module]', Python functions among\n"
	"native ones.  In cpu mode each thread is stopped once, for tens of\n"
	"microseconds; in wall mode, where the daemon already samples every\n"
	"thread, the latest sample of each is shown.  Without a daemon, use\n"
	"'sampled dump PID'.\n"
	"\n"
	"Examples:\n"
	"  samplectl dump\n"
	"  samplectl --pid 4242 dump | less\n"
	"\n"
	"Exit status: 0 on success, 1 when there is no daemon, the target has\n"
	"exited or its threads could not be stopped.\n",
	.exec = cmd_dump_exec,
};
