#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "outformat.h"

/* The endings, in the order messages list them. */
static const struct {
	const char *suffix;
	enum outformat format;
} outformat_suffixes[] = {
	{ ".html", OUTFORMAT_HTML },
	{ ".svg", OUTFORMAT_FLAME },
	{ ".txt", OUTFORMAT_TEXT },
	{ ".json", OUTFORMAT_SPEEDSCOPE },
	{ ".pb.gz", OUTFORMAT_PPROF },
	{ ".pprof", OUTFORMAT_PPROF },
	{ ".folded", OUTFORMAT_COLLAPSED },
	{ ".collapsed", OUTFORMAT_COLLAPSED },
	{ ".sprof", OUTFORMAT_SAVED },
};

#define OUTFORMAT_NSUFFIXES (sizeof(outformat_suffixes) / sizeof(outformat_suffixes[0]))

/* Each format: its name, what it is, and the samplectl command that writes it. */
static const struct {
	const char *name;
	const char *what;
	const char *args[4];
} outformat_formats[] = {
	[OUTFORMAT_HTML] = { "html", "an HTML page", { "tree", "--html", NULL } },
	[OUTFORMAT_FLAME] = { "flame", "a flame graph", { "flame", NULL } },
	[OUTFORMAT_TEXT] = { "text", "a text tree", { "tree", "--no-color", NULL } },
	[OUTFORMAT_SPEEDSCOPE] = { "speedscope", "a speedscope profile",
				   { "export", "--format", "speedscope", NULL } },
	[OUTFORMAT_PPROF] = { "pprof", "a pprof profile", { "export", "--format", "pprof", NULL } },
	[OUTFORMAT_COLLAPSED] = { "collapsed", "collapsed stacks",
				  { "export", "--format", "collapsed", NULL } },
	[OUTFORMAT_SAVED] = { "sprof", "a saved profile", { "save", NULL } },
};

#define OUTFORMAT_NFORMATS (sizeof(outformat_formats) / sizeof(outformat_formats[0]))

/* Longest endings need no precedence: none of them ends another. */
enum outformat outformat_of(const char *path)
{
	size_t n = path != NULL ? strlen(path) : 0, k;

	for (size_t i = 0; i < OUTFORMAT_NSUFFIXES; i++) {
		k = strlen(outformat_suffixes[i].suffix);
		if (n > k && strcasecmp(path + n - k, outformat_suffixes[i].suffix) == 0)
			return outformat_suffixes[i].format;
	}
	return OUTFORMAT_UNKNOWN;
}

/* The message lists the endings from the table, so that it cannot fall behind. */
int outformat_from_name(const char *path, enum outformat *format, struct error *err)
{
	char list[256] = "";
	size_t len = 0;

	*format = outformat_of(path);
	if (*format != OUTFORMAT_UNKNOWN)
		return 0;
	for (size_t i = 0; i < OUTFORMAT_NSUFFIXES && len < sizeof(list); i++) {
		len += (size_t)snprintf(list + len, sizeof(list) - len, "%s%s",
					i == 0 ? "" : i + 1 < OUTFORMAT_NSUFFIXES ? ", " : " or ",
					outformat_suffixes[i].suffix);
	}
	error_set(err, 0, "cannot tell the format of '%s' from its name: use %s",
		  path != NULL ? path : "", list);
	return -1;
}

/* A name, exactly as the table spells it: export -f is case-sensitive, as it always was. */
enum outformat outformat_named(const char *name)
{
	for (size_t i = OUTFORMAT_UNKNOWN + 1; name != NULL && i < OUTFORMAT_NFORMATS; i++) {
		if (strcmp(name, outformat_formats[i].name) == 0)
			return (enum outformat)i;
	}
	return OUTFORMAT_UNKNOWN;
}

/* Never NULL, so that a message can always say something. */
const char *outformat_describe(enum outformat format)
{
	return format > OUTFORMAT_UNKNOWN && format < OUTFORMAT_NFORMATS
	       ? outformat_formats[format].what : "an unknown format";
}

/* The table's own array: the daemon copies it into each argv it builds. */
const char *const *outformat_samplectl_args(enum outformat format)
{
	return format > OUTFORMAT_UNKNOWN && format < OUTFORMAT_NFORMATS
	       ? outformat_formats[format].args : NULL;
}
