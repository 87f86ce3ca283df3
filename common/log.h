#ifndef SAMPLED_LOG_H
#define SAMPLED_LOG_H

#include <stdio.h>

/*
 * One logging helper for the whole program: every line is stamped with the
 * time and the level.  main.c sets the sink and the level once at start-up
 * (log_init); that configuration is the only process-wide state the log
 * keeps.
 */

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(FILE *sink, enum log_level level);
/* Parses "debug", "info", "warn" or "error"; returns -1 for anything else. */
int log_level_parse(const char *name, enum log_level *level);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

#endif
