#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "format.h"
#include "mem.h"
#include "wire.h"

enum { OPT_MIN_PERCENT = 256, OPT_TID, OPT_THREADS };

static const struct option tree_longopts[] = {
	{ "min-percent", required_argument, NULL, OPT_MIN_PERCENT },
	{ "tid", required_argument, NULL, OPT_TID },
	{ "threads", no_argument, NULL, OPT_THREADS },
	{ NULL, 0, NULL, 0 },
};

/* Parses a share in percent, 0 to 100. */
static int parse_percent(const char *s, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v >= 0 && v <= 100))
		return -1;
	*out = v;
	return 0;
}

static const char *str_at(const Sampled__Tree *t, uint32_t i)
{
	return i < t->n_strings && t->strings[i] != NULL ? t->strings[i] : "";
}

/* "function  module", or "module+0xoffset" when the function is unknown. */
static void print_frame(FILE *out, const Sampled__Tree *t, const Sampled__Frame *f)
{
	const char *fn = str_at(t, f->function), *mod = str_at(t, f->module);
	char *pfn = format_printable(fn), *pmod = format_printable(mod);

	if (fn[0] != '\0')
		fprintf(out, "%s", pfn);
	else
		fprintf(out, "%s+0x%llx", pmod[0] ? pmod : "[unknown]", (unsigned long long)f->offset);
	if (fn[0] != '\0' && mod[0] != '\0')
		fprintf(out, "  [%s]", pmod);
	if (f->file != 0 && f->line != 0)
		fprintf(out, "  %s:%u", str_at(t, f->file), f->line);
	fputc('\n', out);
	free(pfn);
	free(pmod);
}

/* Prints the nodes in preorder, indented by depth, with time and share. */
static int print_tree(FILE *out, const Sampled__Tree *t, unsigned rate_hz, struct error *err)
{
	uint32_t *depth = mem_calloc(t->n_nodes ? t->n_nodes : 1, sizeof(*depth));

	for (size_t i = 0; i < t->n_nodes; i++) {
		const Sampled__Node *n = t->nodes[i];
		char pct[FORMAT_BUF_SIZE];

		if (n->parent > i || n->frame >= t->n_frames) {
			error_set(err, 0, "the daemon sent a malformed tree (node %zu)", i);
			free(depth);
			return -1;
		}
		depth[i] = n->parent ? depth[n->parent - 1] + 1 : 0;
		format_percent(pct, sizeof(pct), n->total, t->total_samples);
		fprintf(out, "%8.3f s %6s  %*s", rate_hz ? (double)n->total / rate_hz : 0.0, pct,
			(int)(2 * depth[i]), "");
		print_frame(out, t, t->frames[n->frame]);
	}
	free(depth);
	return 0;
}

static int cmd_tree_exec(struct cmd_ctx *ctx, int argc, char **argv)
{
	struct error *err = cmd_ctx_error(ctx);
	struct client *c;
	Sampled__Request req;
	Sampled__StatusRequest sreq;
	Sampled__TreeRequest treq;
	Sampled__Response *status = NULL, *tree = NULL;
	const char *v;
	double min_percent = 0.5;
	pid_t tid = 0;
	int rc = CMD_EXIT_ERROR;

	(void)argc;
	(void)argv;
	v = cmd_ctx_value(ctx, OPT_MIN_PERCENT);
	if (v != NULL && parse_percent(v, &min_percent) < 0) {
		error_set(err, 0, "invalid --min-percent '%s': expected 0 to 100", v);
		return CMD_EXIT_USAGE;
	}
	v = cmd_ctx_value(ctx, OPT_TID);
	if (v != NULL && cmd_parse_pid(v, &tid, err) < 0)
		return CMD_EXIT_USAGE;
	c = cmd_ctx_client(ctx);
	if (c == NULL)
		return CMD_EXIT_ERROR;
	wire_request_init(&req);
	sampled__status_request__init(&sreq);
	req.command_case = SAMPLED__REQUEST__COMMAND_STATUS;
	req.status = &sreq;
	status = client_call(c, &req, err);
	if (status == NULL)
		goto out;
	wire_request_init(&req);
	sampled__tree_request__init(&treq);
	treq.per_thread = cmd_ctx_has(ctx, OPT_THREADS) || tid != 0;
	treq.tid = tid;
	treq.min_share = min_percent / 100.0;
	req.command_case = SAMPLED__REQUEST__COMMAND_TREE;
	req.tree = &treq;
	tree = client_call(c, &req, err);
	if (tree == NULL)
		goto out;
	fprintf(cmd_ctx_out(ctx), "pid %d (%s): %llu samples at %u Hz (%s mode)\n",
		status->status->target_pid, status->status->target_comm,
		(unsigned long long)tree->tree->total_samples, status->status->rate_hz,
		status->status->mode);
	if (tree->tree->total_samples == 0) {
		fprintf(cmd_ctx_out(ctx), "no samples yet\n");
		rc = CMD_EXIT_OK;
		goto out;
	}
	if (print_tree(cmd_ctx_out(ctx), tree->tree, status->status->rate_hz, err) == 0)
		rc = CMD_EXIT_OK;
out:
	client_response_free(status);
	client_response_free(tree);
	return rc;
}

const struct cmd_entry cmd_tree_entry = {
	.name = "tree",
	.alias = NULL,
	.args = "",
	.longopts = tree_longopts,
	.min_args = 0,
	.max_args = 0,
	.usage = "[--threads] [--tid TID] [--min-percent P]",
	.summary = "print the call tree collected so far",
	.help =
	"Prints the call tree the daemon has collected so far, one line per\n"
	"node, callers above callees: the time spent in the node and below it\n"
	"(samples divided by the rate), its share of all samples, then the\n"
	"function and its module.  Code whose function is unknown shows as\n"
	"module+0xoffset.  Samples whose stack could not be followed to the\n"
	"thread's first frame hang under [truncated] or [unknown]; ticks that\n"
	"caught a thread in the kernel end in [kernel].\n"
	"\n"
	"Options:\n"
	"  --threads          one tree per thread instead of all threads merged\n"
	"  --tid TID          only the samples of thread TID\n"
	"  --min-percent P    leave out nodes below P percent of all samples\n"
	"                     (default 0.5)\n"
	"\n"
	"Examples:\n"
	"  samplectl tree\n"
	"  samplectl --pid 4242 tree --threads --min-percent 2\n"
	"\n"
	"Exit status: 0 on success, 1 when there is no daemon or it failed,\n"
	"2 on a usage error.\n",
	.exec = cmd_tree_exec,
};
