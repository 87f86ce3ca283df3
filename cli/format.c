#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "format.h"
#include "mem.h"

#define NS_PER_US 1000ull
#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull

/* Rounds value / unit to the nearest tenth without overflowing near UINT64_MAX. */
static uint64_t format_tenths(uint64_t value, uint64_t unit)
{
	uint64_t tenth = unit / 10;

	return value / tenth + (value % tenth >= tenth / 2 ? 1 : 0);
}

/*
 * Each unit is used while its rounded value stays below the next unit, so
 * 999.96 ms reads "1.0 s" rather than "1000.0 ms"; from a minute on, whole
 * seconds (minutes, hours) are precise enough.
 */
char *format_duration(char *buf, size_t size, uint64_t ns)
{
	static const struct {
		uint64_t unit;
		uint64_t limit;		/* in tenths of unit */
		const char *name;
	} units[] = {
		{ NS_PER_US, 10000, "us" },
		{ NS_PER_MS, 10000, "ms" },
		{ NS_PER_S, 600, "s" },
	};
	uint64_t secs, mins, hours;

	if (ns < NS_PER_US) {
		snprintf(buf, size, "%" PRIu64 " ns", ns);
		return buf;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		uint64_t t = format_tenths(ns, units[i].unit);

		if (t < units[i].limit) {
			snprintf(buf, size, "%" PRIu64 ".%" PRIu64 " %s", t / 10, t % 10,
				 units[i].name);
			return buf;
		}
	}
	secs = ns / NS_PER_S + (ns % NS_PER_S >= NS_PER_S / 2 ? 1 : 0);
	if (secs < 3600) {
		snprintf(buf, size, "%" PRIu64 " min %02" PRIu64 " s", secs / 60, secs % 60);
		return buf;
	}
	mins = (secs + 30) / 60;
	if (mins < 24 * 60) {
		snprintf(buf, size, "%" PRIu64 " h %02" PRIu64 " min", mins / 60, mins % 60);
		return buf;
	}
	hours = (mins + 30) / 60;
	snprintf(buf, size, "%" PRIu64 " d %02" PRIu64 " h", hours / 24, hours % 24);
	return buf;
}

/* Same rounding rule as durations: a unit is kept while it shows less than 1024. */
char *format_size(char *buf, size_t size, uint64_t bytes)
{
	static const char *names[] = { "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	size_t n = sizeof(names) / sizeof(names[0]);

	if (bytes < 1024) {
		snprintf(buf, size, "%" PRIu64 " B", bytes);
		return buf;
	}
	for (size_t i = 0; i < n; i++) {
		double v = (double)bytes / (double)(1ull << (10 * (i + 1)));

		if (v * 10 + 0.5 < 10240 || i == n - 1) {
			snprintf(buf, size, "%.1f %s", v, names[i]);
			return buf;
		}
	}
	return buf;		/* not reached: the last unit always fits */
}

/* A share that rounds to 0.0% but is not zero says so, so rare events stay visible. */
char *format_percent(char *buf, size_t size, uint64_t part, uint64_t whole)
{
	double p = whole == 0 ? 0.0 : (double)part * 100.0 / (double)whole;

	if (part > 0 && whole > 0 && p < 0.05)
		snprintf(buf, size, "<0.1%%");
	else
		snprintf(buf, size, "%.1f%%", p);
	return buf;
}

/* One phrase for the target's fate, shared by status and list. */
char *format_target_state(char *buf, size_t size, const Sampled__Status *st)
{
	const char *abbrev;

	switch (st->state) {
	case SAMPLED__TARGET_STATE__TARGET_RUNNING:
		snprintf(buf, size, "running");
		break;
	case SAMPLED__TARGET_STATE__TARGET_EXITED:
		if (!st->exit_status_known) {
			snprintf(buf, size, "exited, status unknown");
		} else if (st->exit_signal != 0) {
			abbrev = sigabbrev_np(st->exit_signal);
			if (abbrev != NULL)
				snprintf(buf, size, "killed by signal %d (SIG%s)", st->exit_signal,
					 abbrev);
			else
				snprintf(buf, size, "killed by signal %d", st->exit_signal);
		} else {
			snprintf(buf, size, "exited with code %d", st->exit_code);
		}
		break;
	default:
		snprintf(buf, size, "unknown");
		break;
	}
	return buf;
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if s does not start
 * one.  The second byte's range depends on the lead byte; a NUL fails every
 * check, so the scan never runs past the end of the string.
 */
size_t format_utf8_len(const unsigned char *s)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	}
	return n;
}

void format_json_string(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	size_t n;

	fputc('"', out);
	while (*p != '\0') {
		switch (*p) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\b':
			fputs("\\b", out);
			break;
		case '\f':
			fputs("\\f", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (*p < 0x20 || *p == 0x7f) {
				fprintf(out, "\\u%04x", *p);
				break;
			}
			n = format_utf8_len(p);
			if (n == 0) {
				fputs("\\ufffd", out);
				break;
			}
			fwrite(p, 1, n, out);
			p += n;
			continue;
		}
		p++;
	}
	fputc('"', out);
}

size_t format_control_len(const unsigned char *s)
{
	if (*s < 0x20 || *s == 0x7f)
		return *s != '\0';
	return s[0] == 0xc2 && s[1] >= 0x80 && s[1] <= 0x9f ? 2 : 0;
}

/* A C1 character becomes one '?' as a C0 one does: the string only shrinks. */
char *format_printable(const char *s)
{
	char *copy = mem_strdup(s != NULL ? s : "");
	unsigned char *r = (unsigned char *)copy, *w = r;

	while (*r != '\0') {
		size_t n = format_control_len(r);

		if (n > 0) {
			*w++ = '?';
			r += n;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return copy;
}

int format_put_printable(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int cols = 0;

	while (*p != '\0') {
		size_t n = format_control_len(p);

		if (n > 0) {
			putc('?', out);
			p += n;
			cols++;
			continue;
		}
		putc(*p, out);
		cols += (*p & 0xc0) != 0x80;
		p++;
	}
	return cols;
}
