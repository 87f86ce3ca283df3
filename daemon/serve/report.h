#ifndef SAMPLED_REPORT_H
#define SAMPLED_REPORT_H

#include "error.h"
#include "loop.h"

/*
 * The end of a one-shot run (`sampled record`, `sampled attach
 * --duration`): the profile is written and printed by samplectl, run as a
 * child process against this daemon's own socket while the loop goes on
 * serving it.  So the daemon holds no renderer, and what a one-shot run
 * writes is exactly what samplectl gives from a live daemon.  samplectl is
 * looked for beside the sampled executable, then in PATH.  The output's
 * ending says its format and the samplectl command that writes it, from
 * the table both programs share (common/outformat.h).
 */

struct report_config {
	const char *socket_path;	/* the daemon's own socket */
	const char *output;		/* a file to write, its format from its ending
					   (outformat_of); NULL for none */
	int print_tree;			/* then the text tree on standard output */
};

/* Called from the loop once every step ran; ok is 0 when one of them failed. */
typedef void report_done_fn(void *arg, int ok);

struct report;

/*
 * Starts the first samplectl; the others follow as each ends, and done is
 * called after the last (never from within this call).  NULL with err when
 * nothing could be started.
 */
struct report *report_start(struct loop *loop, const struct report_config *cfg,
			    report_done_fn *done, void *arg, struct error *err);
/* Ends a samplectl still running (SIGTERM) and frees the rest; accepts NULL. */
void report_free(struct report *r);

#endif
