#include <stdio.h>

#include "cmd.h"

/*
 * pause and resume: one request each, the same reply, which says whether
 * sampling is paused now and whether the request changed that.
 */
static int cmd_pause_send(struct cmd_ctx *ctx, int pause)
{
	struct error *err = cmd_ctx_error(ctx);
	Sampled__Response *resp;
	pid_t target;
	int changed;

	if (cmd_ctx_call(ctx, pause ? SAMPLED__REQUEST__COMMAND_PAUSE
				    : SAMPLED__REQUEST__COMMAND_RESUME, &target, &resp) < 0)
		return CMD_EXIT_ERROR;
	/* client_call checked the reply's kind; its content must say it was done. */
	if (resp->sampling == NULL || resp->sampling->paused != (pause != 0)) {
		error_set(err, 0, "the daemon did not %s sampling", pause ? "pause" : "resume");
		client_response_free(resp);
		return CMD_EXIT_ERROR;
	}
	changed = resp->sampling->changed;
	client_response_free(resp);
	if (changed)
		fprintf(cmd_ctx_out(ctx), "%s sampling pid %d\n", pause ? "paused" : "resumed",
			target);
	else
		fprintf(cmd_ctx_out(ctx), "sampling pid %d was %s already\n", target,
			pause ? "paused" : "running");
	return CMD_EXIT_OK;
}

/* samplectl pause. */
static int cmd_pause_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_pause_send(ctx, 1);
}

/* samplectl resume. */
static int cmd_resume_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return cmd_pause_send(ctx, 0);
}

const struct cmd_entry cmd_pause_entry = {
	.name = "pause",
	.args = "",
	.usage = "",
	.summary = "stop sampling for now, keeping the profile",
	.help =
	"Asks the daemon to stop sampling until 'samplectl resume': the target\n"
	"runs on unobserved and costs nothing more (in cpu mode the perf events\n"
	"are disabled; in wall mode the threads stay traced but are no longer\n"
	"stopped).  The profile collected so far is kept and served, status\n"
	"says 'paused', and the duration the views show leaves the pause out.\n"
	"Then it prints 'paused sampling pid N' (or 'sampling pid N was paused\n"
	"already').\n"
	"\n"
	"Examples:\n"
	"  samplectl pause; run-the-noisy-part; samplectl resume\n"
	"\n"
	"Exit status: 0 once sampling is paused, 1 when there is no daemon, or\n"
	"its sampling has ended (the target exited).\n",
	.exec = cmd_pause_exec,
};

const struct cmd_entry cmd_resume_entry = {
	.name = "resume",
	.args = "",
	.usage = "",
	.summary = "start sampling again after a pause",
	.help =
	"Asks a daemon paused by 'samplectl pause' to sample again; new samples\n"
	"add to the profile it kept.  In cpu mode the target's mappings are read\n"
	"again, since the kernel does not report those made during the pause.\n"
	"Then it prints 'resumed sampling pid N' (or 'sampling pid N was running\n"
	"already').\n"
	"\n"
	"Examples:\n"
	"  samplectl resume\n"
	"\n"
	"Exit status: 0 once sampling runs, 1 when there is no daemon, or its\n"
	"sampling has ended (the target exited).\n",
	.exec = cmd_resume_exec,
};
