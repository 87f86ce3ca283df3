#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "python.h"
#include "python_impl.h"

/*
 * How each supported CPython version lays out the structures the reader
 * follows: tables measured on the 3.11 and 3.12 headers, the 3.13
 * _Py_DebugOffsets block decoded from the target, the version's name, and
 * the check of a layout against the live process at attach.
 */

#define PYTHON_CHECK_TRIES 50		/* attach: looks at the first thread state, 1 ms apart */

/* The 3.13 _Py_DebugOffsets block: where its fields are, and its size. */
#define DBG_COOKIE 0
#define DBG_VERSION 8
#define DBG_FREE_THREADED 16
#define DBG_RT_INTERP_HEAD 40
#define DBG_IS_SIZE 48
#define DBG_IS_NEXT 64
#define DBG_IS_THREADS_HEAD 72
#define DBG_IS_CEVAL_GIL 112
#define DBG_IS_GIL_STATE 120
#define DBG_IS_GIL_LOCKED 136
#define DBG_IS_GIL_HOLDER 144
#define DBG_TS_SIZE 152
#define DBG_TS_NEXT 168
#define DBG_TS_INTERP 176
#define DBG_TS_CURRENT_FRAME 184
#define DBG_TS_NATIVE_TID 200
#define DBG_FR_SIZE 224
#define DBG_FR_PREVIOUS 232
#define DBG_FR_EXECUTABLE 240
#define DBG_FR_INSTR 248
#define DBG_FR_OWNER 264
#define DBG_CO_SIZE 272
#define DBG_CO_FILENAME 280
#define DBG_CO_QUALNAME 296
#define DBG_CO_LINETABLE 304
#define DBG_CO_FIRSTLINENO 312
#define DBG_CO_ADAPTIVE 344
#define DBG_BYTES_SIZE 512
#define DBG_BYTES_OB_SIZE 520
#define DBG_BYTES_SVAL 528
#define DBG_STR_SIZE 536
#define DBG_STR_STATE 544
#define DBG_STR_LENGTH 552
#define DBG_STR_ASCII_SIZE 560
#define DBG_TOTAL 584

/* CPython 3.11 (x86-64, non-debug), checked against 3.11.2 and 3.11.7. */
static const struct python_layout python_layout_311 = {
	.rt_interp_head = 40, .rt_tstate_current = 576,
	.is_next = 0, .is_threads_head = 16, .is_ceval_gil = PYTHON_NONE,
	.gil_holder = PYTHON_NONE, .gil_locked = PYTHON_NONE,
	.ts_next = 8, .ts_interp = 16, .ts_native_tid = 160,
	.ts_frame = 56, .cf_current_frame = 8, .ts_read = 168,
	.fr_code = 32, .fr_previous = 48, .fr_instr = 56, .fr_owner = 69, .fr_is_entry = 68,
	.fr_read = 72, .owner_max = 2,
	.co_firstlineno = 72, .co_filename = 112, .co_qualname = 128, .co_linetable = 136,
	.co_adaptive = 184, .co_version = PYTHON_NONE, .co_read = 144,
	.str_length = 16, .str_state = 32, .str_ascii_size = 48, .str_compact_size = 72,
	.str_utf8_length = 48, .str_utf8 = 56,
	.bytes_size = 16, .bytes_sval = 32,
};

/* CPython 3.12 (x86-64, non-debug), checked against 3.12.1. */
static const struct python_layout python_layout_312 = {
	.rt_interp_head = 40, .rt_tstate_current = PYTHON_NONE,
	.is_next = 0, .is_threads_head = 72, .is_ceval_gil = 384,
	.gil_holder = 8, .gil_locked = 16,
	.ts_next = 8, .ts_interp = 16, .ts_native_tid = 144,
	.ts_frame = 56, .cf_current_frame = 0, .ts_read = 152,
	.fr_code = 0, .fr_previous = 8, .fr_instr = 56, .fr_owner = 70,
	.fr_is_entry = PYTHON_NONE, .fr_read = 72, .owner_max = 3,
	.co_firstlineno = 68, .co_filename = 112, .co_qualname = 128, .co_linetable = 136,
	.co_adaptive = 192, .co_version = 92, .co_read = 144,
	.str_length = 16, .str_state = 32, .str_ascii_size = 40, .str_compact_size = 56,
	.str_utf8_length = 40, .str_utf8 = 48,
	.bytes_size = 16, .bytes_sval = 32,
};

/* "3.11" in a file name such as libpython3.11.so.1.0: major and minor, or -1. */
int python_version_from_name(const char *name, unsigned *major, unsigned *minor)
{
	const char *p = strstr(name, "python");

	if (p == NULL || sscanf(p + 6, "%u.%u", major, minor) != 2)
		return -1;
	return 0;
}

/*
 * Fills the layout from the 3.13 _Py_DebugOffsets at the start of
 * _PyRuntime, checking the cookie, the version and that every offset lies
 * inside its structure.  The rest (state bits, owner values, the compact
 * unicode layout after PyASCIIObject) is 3.13 knowledge.
 */
static int python_layout_from_debug(struct python *py, uint64_t hex_version, struct error *err)
{
	struct python_layout *l = &py->lay;
	uint8_t d[DBG_TOTAL];
	uint64_t is_size, ts_size, fr_size, co_size, str_size, bytes_size;
	uint64_t gil_state, v;

	if (python_read(py, py->runtime, d, sizeof(d)) != 0) {
		error_set(err, errno, "reading _Py_DebugOffsets of process %d", py->pid);
		return -1;
	}
	if (memcmp(d + DBG_COOKIE, "xdebugpy", 8) != 0) {
		error_set(err, 0, "Python %s: no _Py_DebugOffsets cookie at _PyRuntime", py->version);
		return -1;
	}
	if (python_ld64(d, DBG_VERSION) != hex_version) {
		error_set(err, 0, "Python %s: _Py_DebugOffsets is for version %#llx", py->version,
			  (unsigned long long)python_ld64(d, DBG_VERSION));
		return -1;
	}
	if (python_ld64(d, DBG_FREE_THREADED) != 0) {
		error_set(err, 0, "Python %s: free-threaded builds are not supported", py->version);
		return -1;
	}
	is_size = python_ld64(d, DBG_IS_SIZE);
	ts_size = python_ld64(d, DBG_TS_SIZE);
	fr_size = python_ld64(d, DBG_FR_SIZE);
	co_size = python_ld64(d, DBG_CO_SIZE);
	str_size = python_ld64(d, DBG_STR_SIZE);
	bytes_size = python_ld64(d, DBG_BYTES_SIZE);
	gil_state = python_ld64(d, DBG_IS_GIL_STATE);
	{
		const struct {
			uint32_t at;
			uint64_t limit;	/* the offset plus 8 must not pass it */
			uint32_t *dst;
		} f[] = {
			{ DBG_RT_INTERP_HEAD, python_ld64(d, 24), &l->rt_interp_head },
			{ DBG_IS_NEXT, is_size, &l->is_next },
			{ DBG_IS_THREADS_HEAD, is_size, &l->is_threads_head },
			{ DBG_IS_CEVAL_GIL, is_size, &l->is_ceval_gil },
			{ DBG_TS_NEXT, ts_size, &l->ts_next },
			{ DBG_TS_INTERP, ts_size, &l->ts_interp },
			{ DBG_TS_CURRENT_FRAME, ts_size, &l->ts_frame },
			{ DBG_TS_NATIVE_TID, ts_size, &l->ts_native_tid },
			{ DBG_FR_PREVIOUS, fr_size, &l->fr_previous },
			{ DBG_FR_EXECUTABLE, fr_size, &l->fr_code },
			{ DBG_FR_INSTR, fr_size, &l->fr_instr },
			{ DBG_FR_OWNER, fr_size, &l->fr_owner },
			{ DBG_CO_FILENAME, co_size, &l->co_filename },
			{ DBG_CO_QUALNAME, co_size, &l->co_qualname },
			{ DBG_CO_LINETABLE, co_size, &l->co_linetable },
			{ DBG_CO_FIRSTLINENO, co_size, &l->co_firstlineno },
			{ DBG_CO_ADAPTIVE, co_size + 1, &l->co_adaptive },
			{ DBG_STR_STATE, str_size, &l->str_state },
			{ DBG_STR_LENGTH, str_size, &l->str_length },
			{ DBG_STR_ASCII_SIZE, str_size + 8, &l->str_ascii_size },
			{ DBG_BYTES_OB_SIZE, bytes_size, &l->bytes_size },
			{ DBG_BYTES_SVAL, bytes_size + 8, &l->bytes_sval },
		};

		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
			v = python_ld64(d, f[i].at);
			if (f[i].limit > (1u << 20) || f[i].limit < 8 || v > f[i].limit - 8) {
				error_set(err, 0, "Python %s: implausible _Py_DebugOffsets entry at %u",
					  py->version, f[i].at);
				return -1;
			}
			*f[i].dst = (uint32_t)v;
		}
	}
	l->rt_tstate_current = PYTHON_NONE;
	l->cf_current_frame = PYTHON_NONE;
	l->fr_is_entry = PYTHON_NONE;
	l->owner_max = 3;
	/* Not in _Py_DebugOffsets; 3.13 keeps it where 3.12 does, below co_filename. */
	l->co_version = 92;
	if (l->co_version + 4 > l->co_filename) {
		error_set(err, 0, "Python %s: unexpected code object layout", py->version);
		return -1;
	}
	/* The GIL fields are given inside the interpreter's own _gil: make them relative. */
	v = python_ld64(d, DBG_IS_GIL_LOCKED);
	l->gil_locked = v > gil_state && v - gil_state < 256 ? (uint32_t)(v - gil_state) : 0;
	v = python_ld64(d, DBG_IS_GIL_HOLDER);
	l->gil_holder = v > gil_state && v - gil_state < 256 ? (uint32_t)(v - gil_state) : 0;
	if (l->gil_locked == 0 || l->gil_holder == 0) {
		error_set(err, 0, "Python %s: implausible GIL offsets", py->version);
		return -1;
	}
	/* PyCompactUnicodeObject is PyASCIIObject + utf8_length + utf8 since 3.12. */
	l->str_utf8_length = l->str_ascii_size;
	l->str_utf8 = l->str_ascii_size + 8;
	l->str_compact_size = l->str_ascii_size + 16;
	return 0;
}

/* The largest offset + 8 among a structure's fields: how much of it to read. */
static uint32_t python_span(const uint32_t *offs, size_t n, uint32_t extra)
{
	uint32_t m = 0;

	for (size_t i = 0; i < n; i++)
		if (offs[i] != PYTHON_NONE && offs[i] + extra > m)
			m = offs[i] + extra;
	return m;
}

/* Sets the read sizes of a 3.13 layout and checks they fit the buffers. */
static int python_layout_spans(struct python_layout *l)
{
	uint32_t ts[] = { l->ts_next, l->ts_interp, l->ts_frame, l->ts_native_tid };
	uint32_t fr[] = { l->fr_code, l->fr_previous, l->fr_instr };
	uint32_t co[] = { PYTHON_OB_SIZE, l->co_firstlineno, l->co_filename, l->co_qualname,
			  l->co_linetable };
	uint32_t fo[] = { l->fr_owner };

	l->ts_read = python_span(ts, 4, 8);
	l->fr_read = python_span(fr, 3, 8);
	if (python_span(fo, 1, 1) > l->fr_read)
		l->fr_read = python_span(fo, 1, 1);
	l->co_read = python_span(co, 5, 8);
	return l->ts_read <= PYTHON_READ_MAX && l->fr_read <= PYTHON_READ_MAX &&
	       l->co_read <= PYTHON_READ_MAX && l->str_compact_size <= PYTHON_READ_MAX &&
	       l->bytes_sval <= PYTHON_READ_MAX ? 0 : -1;
}

/* Formats PY_VERSION_HEX: 0x030b02f0 -> "3.11.2", 0x030d00c1 -> "3.13.0rc1". */
void python_format_version(uint64_t hex, char *buf, size_t size)
{
	static const char *levels[] = { [0xa] = "a", [0xb] = "b", [0xc] = "rc" };
	unsigned level = (hex >> 4) & 0xf;

	snprintf(buf, size, "%u.%u.%u%s", (unsigned)(hex >> 24) & 0xff,
		 (unsigned)(hex >> 16) & 0xff, (unsigned)(hex >> 8) & 0xff,
		 level >= 0xa && level <= 0xc ? levels[level] : "");
	if (level >= 0xa && level <= 0xc) {
		size_t n = strlen(buf);

		snprintf(buf + n, size - n, "%u", (unsigned)hex & 0xf);
	}
}

/*
 * Picks the layout: the measured table of 3.11 or 3.12, or for 3.13 the
 * one the target's _Py_DebugOffsets describes (py->runtime and py->version
 * must be set).
 */
int python_layout_select(struct python *py, unsigned minor, uint64_t hex, struct error *err)
{
	if (minor == 11) {
		py->lay = python_layout_311;
	} else if (minor == 12) {
		py->lay = python_layout_312;
	} else {
		if (python_layout_from_debug(py, hex, err) != 0)
			return -1;
		if (python_layout_spans(&py->lay) != 0) {
			error_set(err, 0, "Python %s: structures larger than expected", py->version);
			return -1;
		}
	}
	return 0;
}

/*
 * Checks the layout against the live process where it can: once the
 * runtime is initialized, the first thread state of the first interpreter
 * must point back at that interpreter.  A build whose structures differ
 * from the table (another patch release that moved a field) is refused
 * here instead of yielding empty stacks.
 */
int python_layout_check(struct python *py, struct error *err)
{
	const struct python_layout *l = &py->lay;
	uint8_t buf[PYTHON_READ_MAX];
	uint64_t interp, ts;

	if (python_read_word(py, py->runtime + l->rt_interp_head, &interp) != 0) {
		error_set(err, errno, "reading _PyRuntime of process %d", (int)py->pid);
		return -1;
	}
	if (interp == 0)
		return 0;	/* not initialized yet */
	/*
	 * A thread exiting right now may free the head, and an interpreter
	 * being created has no thread state for a moment: one good look
	 * within PYTHON_CHECK_TRIES milliseconds is enough.
	 */
	for (int i = 0; i < PYTHON_CHECK_TRIES && python_ptr_ok(interp); i++) {
		struct timespec ms = { 0, 1000000 };

		if (python_read_word(py, interp + l->is_threads_head, &ts) == 0 && ts != 0 &&
		    python_tstate_read(py, ts, 0, interp, buf) == 0)
			return 0;
		nanosleep(&ms, NULL);
	}
	error_set(err, 0, "Python %s in process %d: its structures do not match the layout "
		  "known for this version", py->version, (int)py->pid);
	return -1;
}
