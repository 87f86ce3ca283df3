#include <sys/types.h>
#include <getopt.h>
#include <stdio.h>

#include "cmd.h"
#include "error.h"
#include "log.h"
#include "version.h"
#include "wire.h"


/* Reports a mistake in the global options the way every usage error looks. */
static int main_usage_error(const char *msg)
{
	fprintf(stderr, "samplectl: %s\nusage: %s\ntry 'samplectl --help'\n", msg,
		CMD_GLOBAL_USAGE);
	return CMD_EXIT_USAGE;
}

/*
 * Parses the global options, which must come before the command ("+"
 * stops at the first operand, so the command's own options are left to
 * it), then hands the rest to the command table.
 */
int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	const char *socket_path = NULL;
	int timeout_ms = CMD_DEFAULT_TIMEOUT_MS, c, rc;
	struct cmd_ctx *ctx;
	struct error err;
	pid_t pid = 0;

	log_init(stderr, LOG_WARN);
	error_clear(&err);
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:p:s:t:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			if (cmd_parse_pid(optarg, &pid, &err) < 0)
				return main_usage_error(err.msg);
			break;
		case 's':
			if (optarg[0] == '\0')
				return main_usage_error("--socket needs a path");
			socket_path = optarg;
			break;
		case 't':
			if (cmd_parse_timeout(optarg, &timeout_ms, &err) < 0)
				return main_usage_error(err.msg);
			break;
		case 'h':
			cmd_print_overview(stdout);
			return CMD_EXIT_OK;
		case 'V':
			printf("samplectl %s (protocol %u)\n", SAMPLED_VERSION,
			       WIRE_PROTOCOL_VERSION);
			return CMD_EXIT_OK;
		default:
			cmd_option_error(c, argc, argv, longopts, &err);
			return main_usage_error(err.msg);
		}
	}
	if (pid > 0 && socket_path != NULL)
		return main_usage_error("--pid and --socket cannot be used together");
	if (optind >= argc)
		return main_usage_error("no command given");
	ctx = cmd_ctx_new(pid, socket_path, timeout_ms);
	rc = cmd_run(ctx, argc - optind, argv + optind);
	cmd_ctx_free(ctx);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("samplectl: writing the output");
		return CMD_EXIT_ERROR;
	}
	return rc;
}
