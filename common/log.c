#include <stdarg.h>
#include <string.h>
#include <time.h>

#include "log.h"

static struct {
	FILE *sink;
	enum log_level level;
} log_config = { NULL, LOG_INFO };

void log_init(FILE *sink, enum log_level level)
{
	log_config.sink = sink;
	log_config.level = level;
}

int log_level_parse(const char *name, enum log_level *level)
{
	static const char *names[] = { "debug", "info", "warn", "error" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(name, names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *tags[] = { "debug", "info", "warn", "error" };
	FILE *out = log_config.sink ? log_config.sink : stderr;
	struct timespec ts;
	struct tm tm;
	char stamp[32];
	va_list ap;

	if (level < log_config.level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	localtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(out, "%s.%03ld %-5s ", stamp, ts.tv_nsec / 1000000, tags[level]);
	va_start(ap, fmt);
	vfprintf(out, fmt, ap);
	va_end(ap);
	fputc('\n', out);
	fflush(out);
}
