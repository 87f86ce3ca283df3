#include <stdio.h>

#include "cmd.h"

/* Shows the overview, or one command's manual text. */
static int cmd_help_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	const struct cmd_entry *e;

	if (argc == 0) {
		cmd_print_overview(cmd_ctx_out(ctx));
		return CMD_EXIT_OK;
	}
	e = cmd_find(argv[0], cmd_ctx_error(ctx));
	if (e == NULL)
		return CMD_EXIT_USAGE;
	cmd_print_help(cmd_ctx_out(ctx), e);
	return CMD_EXIT_OK;
}

const struct cmd_entry cmd_help_entry = {
	.name = "help",
	.alias = NULL,
	.args = "",
	.longopts = NULL,
	.min_args = 0,
	.max_args = 1,
	.usage = "[COMMAND]",
	.summary = "show the usage of samplectl or the manual of a command",
	.help =
	"Without an argument, prints samplectl's usage: the global options and the\n"
	"list of commands.  With COMMAND (a name, an alias or a unique prefix),\n"
	"prints that command's usage and manual: what it does, its options,\n"
	"examples and exit status.  'samplectl COMMAND --help' prints the same.\n"
	"help needs no daemon.\n"
	"\n"
	"Examples:\n"
	"  samplectl help            the overview\n"
	"  samplectl help status     the manual of status\n"
	"\n"
	"Exit status: 0, or 2 when COMMAND is not a command.\n",
	.exec = cmd_help_exec,
};
