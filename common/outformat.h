#ifndef SAMPLED_OUTFORMAT_H
#define SAMPLED_OUTFORMAT_H

#include <stddef.h>

#include "error.h"

/*
 * The formats a profile is written to a file in, and the one table of the
 * file name endings that choose them, shared by sampled's -o FILE
 * (daemon/serve/report.c, which runs the samplectl command named here for
 * it) and samplectl's export.  Endings compare case aside, and a name must
 * have something before its ending (".html" alone names no format).
 */

enum outformat {
	OUTFORMAT_UNKNOWN,
	OUTFORMAT_HTML,		/* .html: the interactive page */
	OUTFORMAT_FLAME,	/* .svg: the flame graph */
	OUTFORMAT_TEXT,		/* .txt: the text tree */
	OUTFORMAT_SPEEDSCOPE,	/* .json: speedscope's JSON */
	OUTFORMAT_PPROF,	/* .pb.gz, .pprof: gzip'd profile.proto */
	OUTFORMAT_COLLAPSED,	/* .folded, .collapsed: FlameGraph's folded stacks */
	OUTFORMAT_SAVED,	/* .sprof: a saved profile (samplectl --load) */
};

/* The format path's ending names, or OUTFORMAT_UNKNOWN (also for NULL). */
enum outformat outformat_of(const char *path);
/*
 * outformat_of, refusing a name whose ending names no format: -1 with err
 * "cannot tell the format of 'x.png' from its name: use .html, .svg, .txt,
 * .json, .pb.gz, .pprof, .folded, .collapsed or .sprof".
 */
int outformat_from_name(const char *path, enum outformat *format, struct error *err);
/*
 * The format called name: "html", "flame", "text", "speedscope", "pprof",
 * "collapsed" or "sprof" (export -f takes the three it writes); else
 * OUTFORMAT_UNKNOWN.
 */
enum outformat outformat_named(const char *name);
/* What the format is, for messages: "an HTML page", "a text tree". */
const char *outformat_describe(enum outformat format);
/*
 * The samplectl command and options that write the format to the file its
 * -o option names, NULL-terminated and static ({ "tree", "--html", NULL });
 * NULL for OUTFORMAT_UNKNOWN.
 */
const char *const *outformat_samplectl_args(enum outformat format);

#endif
