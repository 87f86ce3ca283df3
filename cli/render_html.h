#ifndef SAMPLED_RENDER_HTML_H
#define SAMPLED_RENDER_HTML_H

#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "view.h"

/*
 * The call tree as one self-contained HTML page (samplectl tree --html):
 * no external scripts, styles or fonts, so the file can be mailed or
 * opened offline.  The page renders the view exactly as given: the
 * caller has already applied the pipeline (view_apply), so groups
 * (VIEW_KIND_GROUP) and cut samples (view_node.cut) may appear and must
 * be shown for what they are.  Strings in the view are arbitrary bytes:
 * the page must escape them for HTML and JSON and survive invalid UTF-8.
 */

/* Facts about the profile for the page's header; strings may be NULL. */
struct render_html_meta {
	int pid;			/* the target */
	const char *comm;		/* its short name ("python3") */
	const char *cmdline;		/* its command line, arguments space-separated */
	uint64_t samples;		/* samples in the view (view_total) */
	uint32_t rate_hz;		/* samples per second and thread; 0 if unknown */
	const char *mode;		/* "cpu" or "wall" */
	uint64_t duration_ns;		/* how long the target was sampled */
	uint64_t date_unix_ns;		/* when sampling started, Unix time; 0 if unknown */
};

/* Writes the page; -1 with err set if out fails. */
int render_html(FILE *out, const struct view *v, const struct render_html_meta *meta,
		struct error *err);

#endif
