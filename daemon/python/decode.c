#include <stdint.h>
#include <string.h>

#include "python.h"
#include "python_impl.h"

/*
 * The target's own formats, decoded: str objects (code object names and
 * file names) as UTF-8, and the 3.11+ location table (co_linetable) as
 * source lines.
 */

/* PyASCIIObject.state bits: interned:2, kind:3, compact:1, ascii:1 (3.11-3.13). */
#define PYTHON_STATE_KIND(s) (((s) >> 2) & 7u)
#define PYTHON_STATE_COMPACT(s) (((s) >> 5) & 1u)
#define PYTHON_STATE_ASCII(s) (((s) >> 6) & 1u)

/* ------------------------------------------------------------ strings */

/* Appends code point c as UTF-8 (surrogates and invalid values become '?'). */
static size_t python_put_utf8(char *out, uint32_t c)
{
	if (c < 0x80) {
		out[0] = (char)c;
		return 1;
	}
	if (c < 0x800) {
		out[0] = (char)(0xc0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3f));
		return 2;
	}
	if ((c >= 0xd800 && c < 0xe000) || c > 0x10ffff) {
		out[0] = '?';
		return 1;
	}
	if (c < 0x10000) {
		out[0] = (char)(0xe0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3f));
		out[2] = (char)(0x80 | (c & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (c >> 18));
	out[1] = (char)(0x80 | ((c >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((c >> 6) & 0x3f));
	out[3] = (char)(0x80 | (c & 0x3f));
	return 4;
}

/*
 * Length of the longest prefix of s[0..n) made of whole, well-formed UTF-8
 * sequences without NUL; a cached UTF-8 copy that fails this is not used.
 */
static size_t python_utf8_valid(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3
			   : (c & 0xf8) == 0xf0 ? 4 : 0;

		if (c == 0 || len == 0 || i + len > n)
			break;
		for (size_t k = 1; k < len; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
		i += len;
	}
	return i;
}

/*
 * Reads a str object into py->strbuf as UTF-8, at most PYTHON_STR_MAX code
 * points.  Only compact strings occur as code object names: compact ASCII
 * (the bytes follow PyASCIIObject), or compact non-ASCII, whose UTF-8 form
 * is used when the object caches one and is otherwise encoded here from
 * its 1, 2 or 4 byte code points (which follow PyCompactUnicodeObject).
 * Returns 0, or -1 when addr is not a readable compact str.
 */
int python_read_str(struct python *py, uint64_t addr)
{
	const struct python_layout *l = &py->lay;
	uint8_t head[PYTHON_READ_MAX];
	uint64_t length, utf8, utf8_len;
	uint32_t state, kind;
	size_t n, out = 0;

	if (!python_ptr_ok(addr) || python_read(py, addr, head, l->str_ascii_size) != 0)
		return -1;
	if (py->unicode_type != 0 && python_ld64(head, PYTHON_OB_TYPE) != py->unicode_type)
		return -1;
	state = python_ld32(head, l->str_state);
	kind = PYTHON_STATE_KIND(state);
	length = python_ld64(head, l->str_length);
	if (!PYTHON_STATE_COMPACT(state) || length > (uint64_t)INT64_MAX ||
	    (kind != 1 && kind != 2 && kind != 4))
		return -1;
	n = length < PYTHON_STR_MAX ? (size_t)length : PYTHON_STR_MAX;
	if (PYTHON_STATE_ASCII(state)) {
		if (kind != 1 || python_read(py, addr + l->str_ascii_size, py->rawbuf, n) != 0)
			return -1;
		for (size_t i = 0; i < n; i++)
			py->strbuf[i] = py->rawbuf[i] < 0x80 && py->rawbuf[i] != 0
					? (char)py->rawbuf[i] : '?';
		py->strbuf[n] = '\0';
		return 0;
	}
	if (python_read(py, addr, head, l->str_compact_size) != 0)
		return -1;
	utf8_len = python_ld64(head, l->str_utf8_length);
	utf8 = python_ld64(head, l->str_utf8);
	if (utf8 != 0 && utf8_len > 0 && utf8_len <= sizeof(py->rawbuf) &&
	    python_read(py, utf8, py->rawbuf, utf8_len) == 0) {
		size_t ok = python_utf8_valid(py->rawbuf, utf8_len);

		if (ok == utf8_len) {
			memcpy(py->strbuf, py->rawbuf, ok);
			py->strbuf[ok] = '\0';
			return 0;
		}
	}
	if (python_read(py, addr + l->str_compact_size, py->rawbuf, n * kind) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		uint32_t c;

		if (kind == 1) {
			c = py->rawbuf[i];
		} else if (kind == 2) {
			uint16_t c2;

			memcpy(&c2, py->rawbuf + i * 2, 2);
			c = c2;
		} else {
			memcpy(&c, py->rawbuf + i * 4, 4);
		}
		out += python_put_utf8(py->strbuf + out, c == 0 ? '?' : c);
	}
	py->strbuf[out] = '\0';
	return 0;
}

/* ------------------------------------------------------------ line table */

/* Reads a varint of 6-bit chunks, low first, bit 6 meaning "more follows". */
static uint64_t python_varint(const uint8_t *t, size_t len, size_t *pos)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (*pos < len && shift < 36) {
		uint8_t b = t[(*pos)++];

		v |= (uint64_t)(b & 0x3f) << shift;
		shift += 6;
		if (!(b & 0x40))
			break;
	}
	return v;
}

/* A signed varint keeps the sign in bit 0 of the unsigned value. */
static int64_t python_svarint(const uint8_t *t, size_t len, size_t *pos)
{
	uint64_t u = python_varint(t, len, pos);

	return (u & 1) ? -(int64_t)(u >> 1) : (int64_t)(u >> 1);
}

/*
 * The 3.11+ location table (Objects/locations.md): entries start with a
 * byte 1ccccLLL, where LLL + 1 code units are covered and cccc says how
 * the line moves: 0-9 short forms and 10-12 one-line forms change it by
 * 0 or code - 10, 13 (no columns) and 14 (long form) carry a signed varint
 * delta, 15 means "no location".  Later bytes of an entry never have bit 7
 * set, so the next entry is found by skipping to such a byte.
 */
uint32_t python_line(const uint8_t *table, size_t len, uint32_t first_line, int64_t index)
{
	int64_t line = first_line, unit = 0;
	size_t pos = 0;

	if (index < 0)
		return first_line;
	while (pos < len) {
		uint8_t head = table[pos++];
		unsigned code = (head >> 3) & 15, units = (head & 7) + 1;
		int no_location = 0;

		if (!(head & 0x80))
			return 0;	/* not an entry start: a corrupt table */
		if (code == 15)
			no_location = 1;
		else if (code == 13 || code == 14)
			line += python_svarint(table, len, &pos);
		else if (code >= 10)
			line += code - 10;
		if (line < INT32_MIN || line > INT32_MAX)
			return 0;	/* only a corrupt table gets here */
		if (index < unit + units)
			return no_location || line <= 0 || line > UINT32_MAX ? 0 : (uint32_t)line;
		unit += units;
		while (pos < len && !(table[pos] & 0x80))
			pos++;
	}
	return 0;
}
