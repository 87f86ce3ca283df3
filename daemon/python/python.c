#include <sys/stat.h>
#include <sys/uio.h>

#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mem.h"
#include "python.h"
#include "symbols/elf_image.h"
#include "symbols/maps.h"

/*
 * Bounds.  A walk visits at most PYTHON_MAX_WALK frames (shim frames
 * included), which also bounds a cycle in a torn chain.  The code cache
 * is flushed at the start of a call once half full, so the at most
 * PYTHON_MAX_WALK insertions of one call never fill it (and strings handed
 * out stay valid for the whole call).
 */
#define PYTHON_MAX_WALK 1024
#define PYTHON_MAX_THREADS 4096
#define PYTHON_MAX_INTERPS 64
#define PYTHON_CODE_SLOTS 4096
#define PYTHON_CACHE_BYTES (16u << 20)
#define PYTHON_STR_MAX 512		/* code points kept of a name */
#define PYTHON_LINETABLE_MAX (64u << 10)
#define PYTHON_MAX_CODE_UNITS (1u << 24)
#define PYTHON_NEG_TTL_NS 250000000ull	/* "no thread state" holds this long after a scan */
#define PYTHON_RESCAN_NS 20000000ull	/* scans of the thread lists are at least this far apart */
#define PYTHON_USER_TOP (1ull << 47)	/* x86-64 user space ends here */
#define PYTHON_READ_MAX 512		/* largest struct head read in one go */
#define PYTHON_NONE UINT32_MAX		/* a field this version does not have */
#define PYTHON_PAGE 4096
#define PYTHON_WINDOW 8192		/* data stack bytes read below a frame */
#define PYTHON_BATCH 64			/* code object heads per system call */
#define PYTHON_RECHECK_NS 250000000ull	/* a cached code object is trusted this long */
#define PYTHON_CHECK_TRIES 50		/* attach: looks at the first thread state, 1 ms apart */

/* PyObject: ob_refcnt, ob_type; PyVarObject adds ob_size (non-debug builds). */
#define PYTHON_OB_TYPE 8
#define PYTHON_OB_SIZE 16

/* _PyInterpreterFrame.owner of the shim frame each eval call pushes (3.12+). */
#define PYTHON_OWNED_BY_CSTACK 3

/* PyASCIIObject.state bits: interned:2, kind:3, compact:1, ascii:1 (3.11-3.13). */
#define PYTHON_STATE_KIND(s) (((s) >> 2) & 7u)
#define PYTHON_STATE_COMPACT(s) (((s) >> 5) & 1u)
#define PYTHON_STATE_ASCII(s) (((s) >> 6) & 1u)

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

/*
 * Where one interpreter version keeps what the reader needs (byte offsets
 * inside each structure).  3.11 and 3.12 come from tables measured on their
 * headers; 3.13 is filled from the target's own _Py_DebugOffsets.
 */
struct python_layout {
	uint32_t rt_interp_head;	/* _PyRuntime.interpreters.head */
	uint32_t rt_tstate_current;	/* 3.11 gilstate.tstate_current, else NONE */
	uint32_t is_next, is_threads_head;
	uint32_t is_ceval_gil;		/* interp->ceval.gil (3.12+) */
	uint32_t gil_holder, gil_locked;	/* inside struct _gil_runtime_state */
	uint32_t ts_next, ts_interp, ts_native_tid;
	uint32_t ts_frame;		/* tstate->cframe, or tstate->current_frame (3.13) */
	uint32_t cf_current_frame;	/* _PyCFrame.current_frame; NONE when ts_frame is the frame */
	uint32_t ts_read;
	uint32_t fr_code, fr_previous, fr_instr, fr_owner;
	uint32_t fr_is_entry;		/* 3.11 only */
	uint32_t fr_read;
	unsigned owner_max;		/* largest valid owner value */
	uint32_t co_firstlineno, co_filename, co_qualname, co_linetable, co_adaptive;
	uint32_t co_version;		/* 3.12+: a number no other code object has */
	uint32_t co_read;
	uint32_t str_length, str_state, str_ascii_size, str_compact_size;
	uint32_t str_utf8_length, str_utf8;
	uint32_t bytes_size, bytes_sval;
};

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

/* Symbols the reader needs from the interpreter's ELF file (ELF addresses). */
struct python_syms {
	uint64_t runtime, version, code_type, unicode_type, bytes_type;
};

/* tid -> thread state address; tstate 0 marks a tid the last scan did not find. */
struct python_tslot {
	pid_t tid;		/* 0 = empty */
	uint64_t tstate;
};

/* What one code object resolves to; addr 0 = empty slot. */
struct python_code {
	uint64_t addr;
	/* identity: a new code object at a reused address differs in these */
	uint64_t filename_ptr, qualname_ptr, linetable_ptr, ncode;
	uint32_t first_line, version;
	char *qualname, *filename;
	uint8_t *linetable;
	size_t linetable_len;
	size_t bytes;		/* what the entry owns, for the cache's memory bound */
	int64_t memo_index;	/* last index looked up, and its line */
	uint32_t memo_line;
	uint64_t checked_ns;	/* when the identity was last read back */
	int incomplete;		/* a name or the line table could not be read: retry */
};

/* A frame as the walk found it, before its code object is looked at. */
struct python_raw {
	uint64_t code, instr;
	int is_entry;
	struct python_code *entry;	/* its code object, once resolved */
};

struct python {
	pid_t pid;
	char version[32];
	char *module;
	struct python_layout lay;
	uint64_t runtime;	/* target addresses */
	uint64_t code_type, unicode_type, bytes_type;	/* 0: not checked */
	struct python_tslot *threads;
	size_t threads_size, threads_used;	/* size: a power of two */
	uint64_t scan_ns;	/* when the thread lists were last walked */
	uint64_t gil;		/* the main interpreter's GIL (3.12+), once found */
	struct python_code *codes;	/* PYTHON_CODE_SLOTS */
	size_t codes_used, codes_bytes;
	struct python_stats stats;
	char strbuf[PYTHON_STR_MAX * 4 + 8];
	uint8_t rawbuf[PYTHON_STR_MAX * 4];
	/* scratch of one python_stack call */
	uint8_t window[PYTHON_WINDOW];
	uint64_t window_start;
	size_t window_len;
	struct python_raw raw[PYTHON_MAX_WALK];
	uint32_t batch[PYTHON_MAX_WALK];	/* raw frames whose code object head is read */
	uint8_t head_ok[PYTHON_MAX_WALK];
	uint8_t *heads;		/* PYTHON_MAX_WALK code object heads */
};

/* ------------------------------------------------------------ reading */

/* A field of a structure copied from the target (unaligned-safe). */
static uint64_t python_ld64(const uint8_t *b, uint32_t off)
{
	uint64_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* A 32-bit field of a structure copied from the target. */
static uint32_t python_ld32(const uint8_t *b, uint32_t off)
{
	uint32_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* A plausible object or struct pointer in x86-64 user space. */
static int python_ptr_ok(uint64_t p)
{
	return p >= 4096 && p < PYTHON_USER_TOP && (p & 7) == 0;
}

/* Reads len bytes of the target at addr; 0 only when all of them came. */
static int python_read(struct python *py, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len };
	struct iovec remote = { (void *)(uintptr_t)addr, len };

	if (addr < 4096 || addr >= PYTHON_USER_TOP || len > PYTHON_USER_TOP - addr)
		return -1;
	if (process_vm_readv(py->pid, &local, 1, &remote, 1, 0) == (ssize_t)len)
		return 0;
	py->stats.read_errors++;
	return -1;
}

/* Reads one pointer-sized word of the target. */
static int python_read_word(struct python *py, uint64_t addr, uint64_t *v)
{
	return python_read(py, addr, v, sizeof(*v));
}

/* CLOCK_MONOTONIC_COARSE in ns: the vdso answers it without a system call. */
static uint64_t python_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

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
static int python_read_str(struct python *py, uint64_t addr)
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

/* ------------------------------------------------------------ code cache */

/* Where the probe for a code object address starts (objects are 16-byte aligned). */
static size_t python_code_slot(uint64_t addr)
{
	return (size_t)((addr >> 4) * 0x9e3779b97f4a7c15ull >> 32) & (PYTHON_CODE_SLOTS - 1);
}

/* Releases what a cache entry owns and empties it. */
static void python_code_clear(struct python *py, struct python_code *c)
{
	free(c->qualname);
	free(c->filename);
	free(c->linetable);
	py->codes_bytes -= c->bytes;
	memset(c, 0, sizeof(*c));
}

/* Empties the whole cache (memory bound, or the end). */
static void python_code_flush(struct python *py)
{
	for (size_t i = 0; i < PYTHON_CODE_SLOTS; i++)
		if (py->codes[i].addr != 0)
			python_code_clear(py, &py->codes[i]);
	py->codes_used = 0;
	py->codes_bytes = 0;
}

/* Copies the bytes of a bytes object (the line table), bounded. */
static uint8_t *python_read_bytes(struct python *py, uint64_t addr, size_t *len)
{
	const struct python_layout *l = &py->lay;
	uint8_t head[PYTHON_READ_MAX];
	uint64_t size;
	uint8_t *data;

	*len = 0;
	if (!python_ptr_ok(addr) || python_read(py, addr, head, l->bytes_sval) != 0)
		return NULL;
	if (py->bytes_type != 0 && python_ld64(head, PYTHON_OB_TYPE) != py->bytes_type)
		return NULL;
	size = python_ld64(head, l->bytes_size);
	if (size == 0 || size > PYTHON_LINETABLE_MAX)
		return NULL;
	data = mem_alloc((size_t)size);
	if (python_read(py, addr + l->bytes_sval, data, (size_t)size) != 0) {
		free(data);
		return NULL;
	}
	*len = (size_t)size;
	return data;
}

/* The cache entry for a code object address, or NULL. */
static struct python_code *python_code_find(struct python *py, uint64_t addr)
{
	size_t i = python_code_slot(addr);

	while (py->codes[i].addr != 0) {
		if (py->codes[i].addr == addr)
			return &py->codes[i];
		i = (i + 1) & (PYTHON_CODE_SLOTS - 1);
	}
	return NULL;
}

/*
 * 3.11 code objects carry no unique number, and a code object freed with
 * its name and line table may be replaced by one whose objects all land at
 * the same addresses (code generated in a loop): there the name itself is
 * read back and compared.  A name that cannot be read counts as the same.
 */
static int python_code_same_name(struct python *py, const struct python_code *c)
{
	if (py->lay.co_version != PYTHON_NONE || python_read_str(py, c->qualname_ptr) != 0)
		return 1;
	return strcmp(py->strbuf, c->qualname) == 0;
}

/*
 * Returns the cache entry of the code object whose head (co_read bytes) is
 * in head, decoding names and line table on a miss or when the address now
 * holds another code object.  NULL when head is not a plausible code object.
 */
static struct python_code *python_code_get(struct python *py, uint64_t addr, const uint8_t *head,
					   uint64_t now)
{
	const struct python_layout *l = &py->lay;
	uint64_t filename = python_ld64(head, l->co_filename);
	uint64_t qualname = python_ld64(head, l->co_qualname);
	uint64_t linetable = python_ld64(head, l->co_linetable);
	uint64_t ncode = python_ld64(head, PYTHON_OB_SIZE);
	uint32_t first_line = python_ld32(head, l->co_firstlineno);
	uint32_t version = l->co_version != PYTHON_NONE ? python_ld32(head, l->co_version) : 0;
	size_t i = python_code_slot(addr);
	struct python_code *c;

	if (py->code_type != 0 && python_ld64(head, PYTHON_OB_TYPE) != py->code_type)
		return NULL;
	if (ncode == 0 || ncode > PYTHON_MAX_CODE_UNITS || first_line > INT32_MAX)
		return NULL;
	while (py->codes[i].addr != 0 && py->codes[i].addr != addr)
		i = (i + 1) & (PYTHON_CODE_SLOTS - 1);
	c = &py->codes[i];
	if (c->addr == addr) {
		if (c->filename_ptr == filename && c->qualname_ptr == qualname &&
		    c->linetable_ptr == linetable && c->ncode == ncode &&
		    c->first_line == first_line && c->version == version && !c->incomplete &&
		    python_code_same_name(py, c)) {
			c->checked_ns = now;
			return c;
		}
		if (!c->incomplete)
			py->stats.code_reused++;
		python_code_clear(py, c);
		py->codes_used--;
	}
	py->stats.code_misses++;
	c->addr = addr;
	py->codes_used++;
	c->filename_ptr = filename;
	c->qualname_ptr = qualname;
	c->linetable_ptr = linetable;
	c->ncode = ncode;
	c->first_line = first_line;
	c->version = version;
	c->incomplete = 0;
	if (python_read_str(py, qualname) != 0) {
		c->incomplete = 1;
		c->qualname = mem_strdup("?");
	} else {
		c->qualname = mem_strdup(py->strbuf);
	}
	if (python_read_str(py, filename) != 0) {
		c->incomplete = 1;
		c->filename = mem_strdup("?");
	} else {
		c->filename = mem_strdup(py->strbuf);
	}
	c->linetable = python_read_bytes(py, linetable, &c->linetable_len);
	if (c->linetable == NULL)
		c->incomplete = 1;
	c->bytes = c->linetable_len + strlen(c->qualname) + strlen(c->filename) + 2;
	py->codes_bytes += c->bytes;
	c->memo_index = INT64_MIN;
	c->checked_ns = now;
	return c;
}

/* The line of a frame whose instruction pointer is instr. */
static uint32_t python_code_line(struct python *py, struct python_code *c, uint64_t code,
				 uint64_t instr)
{
	uint64_t base = code + py->lay.co_adaptive;
	int64_t diff = (int64_t)(instr - base), index;

	/* 3.11 and 3.12 point one unit before the code before the first instruction. */
	if (diff < -2 || diff >= (int64_t)(c->ncode * 2) || (diff & 1))
		return 0;
	index = diff / 2;
	if (index != c->memo_index) {
		c->memo_index = index;
		c->memo_line = python_line(c->linetable, c->linetable_len, c->first_line, index);
	}
	return c->memo_line;
}

/* ------------------------------------------------------------ threads */

/* Where the probe for tid starts in a map of size slots. */
static size_t python_tslot_of(pid_t tid, size_t size)
{
	return ((uint32_t)tid * 2654435761u) & (size - 1);
}

/* Inserts or updates tid; the table has room (callers grow it first). */
static void python_tslot_put(struct python *py, pid_t tid, uint64_t tstate)
{
	size_t i = python_tslot_of(tid, py->threads_size);

	while (py->threads[i].tid != 0 && py->threads[i].tid != tid)
		i = (i + 1) & (py->threads_size - 1);
	if (py->threads[i].tid == 0)
		py->threads_used++;
	py->threads[i] = (struct python_tslot){ tid, tstate };
}

/* Makes room for one more entry, doubling and rehashing when half full. */
static void python_tslot_reserve(struct python *py)
{
	struct python_tslot *old = py->threads;
	size_t old_size = py->threads_size;

	if ((py->threads_used + 1) * 2 <= py->threads_size)
		return;
	py->threads_size = old_size ? old_size * 2 : 64;
	py->threads = mem_calloc(py->threads_size, sizeof(*py->threads));
	py->threads_used = 0;
	for (size_t i = 0; i < old_size; i++)
		if (old[i].tid != 0)
			python_tslot_put(py, old[i].tid, old[i].tstate);
	free(old);
}

/* The map entry of tid, or NULL. */
static struct python_tslot *python_tslot_find(struct python *py, pid_t tid)
{
	size_t i;

	if (py->threads_size == 0)
		return NULL;
	i = python_tslot_of(tid, py->threads_size);
	while (py->threads[i].tid != 0) {
		if (py->threads[i].tid == tid)
			return &py->threads[i];
		i = (i + 1) & (py->threads_size - 1);
	}
	return NULL;
}

/*
 * Reads the thread state at ts into buf and checks it belongs to tid (and,
 * when interp is not 0, to that interpreter).
 */
static int python_tstate_read(struct python *py, uint64_t ts, pid_t tid, uint64_t interp,
			      uint8_t *buf)
{
	const struct python_layout *l = &py->lay;
	uint64_t owner;

	if (!python_ptr_ok(ts) || python_read(py, ts, buf, l->ts_read) != 0)
		return -1;
	owner = python_ld64(buf, l->ts_interp);
	if (!python_ptr_ok(owner) || (interp != 0 && owner != interp))
		return -1;
	if (tid != 0 && python_ld64(buf, l->ts_native_tid) != (uint64_t)tid)
		return -1;
	return 0;
}

/*
 * Walks every interpreter's thread list and rebuilds the tid map from it.
 * New thread states go to the head of a list and dead ones are unlinked
 * anywhere, so only a full walk tells; the walk is bounded in interpreters
 * and threads, and stops a list at the first inconsistent entry.
 */
static void python_scan_threads(struct python *py, uint64_t now)
{
	const struct python_layout *l = &py->lay;
	uint8_t buf[PYTHON_READ_MAX];
	uint64_t interp, next, ts;
	size_t seen = 0;

	py->stats.thread_scans++;
	py->scan_ns = now;
	if (py->threads_size != 0)
		memset(py->threads, 0, py->threads_size * sizeof(*py->threads));
	py->threads_used = 0;
	if (python_read_word(py, py->runtime + l->rt_interp_head, &interp) != 0)
		return;
	for (int i = 0; i < PYTHON_MAX_INTERPS && python_ptr_ok(interp); i++) {
		if (python_read_word(py, interp + l->is_next, &next) != 0 ||
		    python_read_word(py, interp + l->is_threads_head, &ts) != 0)
			return;
		for (; ts != 0 && seen < PYTHON_MAX_THREADS; seen++) {
			uint64_t tid;

			if (python_tstate_read(py, ts, 0, interp, buf) != 0)
				break;
			tid = python_ld64(buf, l->ts_native_tid);
			if (tid > 0 && tid <= INT_MAX) {
				python_tslot_reserve(py);
				python_tslot_put(py, (pid_t)tid, ts);
			}
			ts = python_ld64(buf, l->ts_next);
		}
		interp = next;
	}
}

/*
 * Finds the thread state of tid and reads it into buf; returns its address
 * or 0.  The map is trusted only after the state read back names tid.
 * Anything else may need a scan of the thread lists, which costs a read per
 * thread, so scans are rationed: a tid the last scan did not find (a native
 * thread) is taken to have no thread state for PYTHON_NEG_TTL_NS after it,
 * and a tid never seen (or no longer matching) triggers a scan only when
 * the last one is PYTHON_RESCAN_NS old.  A Python thread born just after a
 * scan may so go unseen for up to PYTHON_NEG_TTL_NS.
 */
static uint64_t python_thread_state(struct python *py, pid_t tid, uint8_t *buf)
{
	struct python_tslot *s = python_tslot_find(py, tid);
	uint64_t now;

	if (s != NULL && s->tstate != 0 && python_tstate_read(py, s->tstate, tid, 0, buf) == 0)
		return s->tstate;
	now = python_now_ns();
	if (now - py->scan_ns < (s != NULL && s->tstate == 0 ? PYTHON_NEG_TTL_NS
							    : PYTHON_RESCAN_NS)) {
		if (s == NULL) {
			python_tslot_reserve(py);
			python_tslot_put(py, tid, 0);
		}
		return 0;
	}
	python_scan_threads(py, now);
	s = python_tslot_find(py, tid);
	if (s != NULL && python_tstate_read(py, s->tstate, tid, 0, buf) == 0)
		return s->tstate;
	python_tslot_reserve(py);
	python_tslot_put(py, tid, 0);
	return 0;
}

/* ------------------------------------------------------------ stacks */

/* The innermost frame of the thread whose state is in ts, or 0. */
static uint64_t python_first_frame(struct python *py, const uint8_t *ts)
{
	const struct python_layout *l = &py->lay;
	uint64_t p = python_ld64(ts, l->ts_frame), frame;

	if (l->cf_current_frame == PYTHON_NONE)
		return p;
	if (!python_ptr_ok(p) || python_read_word(py, p + l->cf_current_frame, &frame) != 0)
		return 0;
	return frame;
}

/*
 * The frame at addr, from the window of target memory last read, or from a
 * new window ending just past the frame.  Frames of one thread sit next to
 * each other in its data stack, callers below callees, so one read of the
 * memory below a frame usually brings its callers too (and a consistent
 * snapshot of them).  The window is asked for page by page going down from
 * the frame's own page, so the read stops at the first unmapped page below
 * it instead of failing: one system call whatever the layout.
 */
static const uint8_t *python_frame_at(struct python *py, uint64_t addr)
{
	struct iovec local[PYTHON_WINDOW / PYTHON_PAGE], remote[PYTHON_WINDOW / PYTHON_PAGE];
	uint64_t end = addr + py->lay.fr_read;
	uint64_t page = addr & ~(uint64_t)(PYTHON_PAGE - 1), start;
	size_t k = 0, first;
	ssize_t got;

	/* Checked first: a torn pointer near 2^64 would wrap end into the window. */
	if (!python_ptr_ok(addr) || end >= PYTHON_USER_TOP || end < addr)
		return NULL;
	if (addr >= py->window_start && end <= py->window_start + py->window_len)
		return py->window + (addr - py->window_start);
	/* The window holds [start, end); start is page - (pages below) * PAGE. */
	while (k + 1 < PYTHON_WINDOW / PYTHON_PAGE && page - (k + 1) * PYTHON_PAGE >= 4096 &&
	       end - (page - (k + 1) * PYTHON_PAGE) <= PYTHON_WINDOW)
		k++;
	start = page - k * PYTHON_PAGE;
	first = (size_t)(end - page);
	local[0] = (struct iovec){ py->window + (page - start), first };
	remote[0] = (struct iovec){ (void *)(uintptr_t)page, first };
	for (size_t i = 1; i <= k; i++) {
		uint64_t p = page - i * PYTHON_PAGE;

		local[i] = (struct iovec){ py->window + (p - start), PYTHON_PAGE };
		remote[i] = (struct iovec){ (void *)(uintptr_t)p, PYTHON_PAGE };
	}
	got = process_vm_readv(py->pid, local, k + 1, remote, k + 1, 0);
	if (got < (ssize_t)first) {
		py->stats.read_errors++;
		py->window_len = 0;
		return NULL;
	}
	/* Only whole pages below the frame's page count. */
	py->window_start = page - ((size_t)got - first) / PYTHON_PAGE * PYTHON_PAGE;
	py->window_len = (size_t)(end - py->window_start);
	if (py->window_start != start)
		memmove(py->window, py->window + (py->window_start - start), py->window_len);
	return py->window + (addr - py->window_start);
}

/*
 * Reads the heads of the code objects of the frames listed in batch[0..n)
 * into py->heads, as many per system call as PYTHON_BATCH allows; head_ok
 * says which arrived.  The kernel stops a vector at the first range it
 * cannot read, so after a failure the batch goes on from the next one.
 */
static void python_read_heads(struct python *py, size_t n)
{
	uint32_t len = py->lay.co_read;
	struct iovec local[PYTHON_BATCH], remote[PYTHON_BATCH];

	for (size_t i = 0; i < n;) {
		size_t k = n - i < PYTHON_BATCH ? n - i : PYTHON_BATCH, full;
		ssize_t got;

		for (size_t j = 0; j < k; j++) {
			local[j] = (struct iovec){ py->heads + (i + j) * len, len };
			remote[j] = (struct iovec){
				(void *)(uintptr_t)py->raw[py->batch[i + j]].code, len };
		}
		got = process_vm_readv(py->pid, local, k, remote, k, 0);
		full = got > 0 ? (size_t)got / len : 0;
		for (size_t j = 0; j < full; j++)
			py->head_ok[i + j] = 1;
		if (full < k) {
			py->stats.read_errors++;
			py->head_ok[i + full] = 0;
			i += full + 1;
		} else {
			i += k;
		}
	}
}

/*
 * The walk, innermost first, in two passes.  The first follows the frame
 * chain through the data stack windows and notes each frame's code object
 * and instruction pointer; a frame owned by the C stack (the 3.12+ shim
 * every eval call pushes) is not kept but marks the frame before it as its
 * eval call's entry.  The second resolves the code objects through the
 * cache.  Reading a code object's head back to check its identity costs
 * about as much as all the rest of the walk (process_vm_readv pins a page
 * per range), so a cached code object is trusted for PYTHON_RECHECK_NS
 * after its last check: a code object freed and another allocated at its
 * address within that time is shown under the old name.  The heads to
 * check (and those never seen) are read in one batch.  Anything
 * implausible ends the stack with the frames before it.
 */
size_t python_stack(struct python *py, pid_t tid, struct python_frame *out, size_t max)
{
	const struct python_layout *l = &py->lay;
	uint8_t ts[PYTHON_READ_MAX];
	uint64_t addr, now;
	size_t nraw = 0, nbatch = 0, n = 0;

	py->stats.stacks++;
	py->window_len = 0;
	if (py->codes_used >= PYTHON_CODE_SLOTS / 2 || py->codes_bytes >= PYTHON_CACHE_BYTES)
		python_code_flush(py);
	if (python_thread_state(py, tid, ts) == 0) {
		py->stats.no_thread++;
		return 0;
	}
	addr = python_first_frame(py, ts);
	for (size_t visited = 0; addr != 0; visited++) {
		const uint8_t *frame = python_frame_at(py, addr);
		uint64_t code, prev;
		unsigned owner;

		if (frame == NULL) {
			py->stats.bad_frames++;
			break;
		}
		if (visited == PYTHON_MAX_WALK) {
			py->stats.truncated++;
			break;
		}
		code = python_ld64(frame, l->fr_code);
		prev = python_ld64(frame, l->fr_previous);
		owner = frame[l->fr_owner];
		if (owner > l->owner_max || (prev != 0 && !python_ptr_ok(prev))) {
			py->stats.bad_frames++;
			break;
		}
		if (l->fr_is_entry == PYTHON_NONE && owner == PYTHON_OWNED_BY_CSTACK) {
			if (nraw > 0)
				py->raw[nraw - 1].is_entry = 1;
			addr = prev;
			continue;
		}
		if (nraw == max) {
			py->stats.truncated++;
			break;
		}
		if (!python_ptr_ok(code)) {
			py->stats.bad_frames++;
			break;
		}
		py->raw[nraw++] = (struct python_raw){
			.code = code,
			.instr = python_ld64(frame, l->fr_instr),
			.is_entry = l->fr_is_entry != PYTHON_NONE && frame[l->fr_is_entry] != 0,
		};
		addr = prev;
	}
	now = python_now_ns();
	for (size_t i = 0; i < nraw; i++) {
		struct python_code *c = python_code_find(py, py->raw[i].code);

		py->raw[i].entry = c != NULL && now - c->checked_ns < PYTHON_RECHECK_NS ? c : NULL;
		if (py->raw[i].entry == NULL)
			py->batch[nbatch++] = (uint32_t)i;
	}
	python_read_heads(py, nbatch);
	for (size_t b = 0; b < nbatch; b++) {
		struct python_raw *r = &py->raw[py->batch[b]];

		r->entry = py->head_ok[b] ? python_code_get(py, r->code, py->heads + b * l->co_read, now)
					  : NULL;
	}
	for (; n < nraw; n++) {
		const struct python_raw *r = &py->raw[n];
		struct python_code *c = r->entry;

		if (c == NULL) {
			py->stats.bad_frames++;
			break;
		}
		out[n].qualname = c->qualname;
		out[n].filename = c->filename;
		out[n].line = python_code_line(py, c, r->code, r->instr);
		out[n].first_line = c->first_line;
		out[n].is_entry = r->is_entry;
	}
	py->stats.frames += n;
	return n;
}

/* The main interpreter: the last of the list (new ones are pushed at the head). */
static uint64_t python_main_interp(struct python *py)
{
	uint64_t interp, next, last = 0;

	if (python_read_word(py, py->runtime + py->lay.rt_interp_head, &interp) != 0)
		return 0;
	for (int i = 0; i < PYTHON_MAX_INTERPS && python_ptr_ok(interp); i++) {
		last = interp;
		if (python_read_word(py, interp + py->lay.is_next, &next) != 0)
			return 0;
		interp = next;
	}
	return last;
}

/*
 * 3.11 keeps the current thread state in the runtime, NULL while nobody
 * holds the GIL (it is cleared before the GIL is dropped and set after it
 * is taken); 3.12+ have one GIL per interpreter (the main one's is used)
 * whose last_holder is the holder while locked is set.  The GIL lives as
 * long as the main interpreter, so its address is looked up once.  The
 * holder's tid comes from the thread map when it knows the thread state,
 * else from reading it.
 */
int python_gil_read(struct python *py, pid_t *holder)
{
	const struct python_layout *l = &py->lay;
	uint8_t buf[PYTHON_READ_MAX];
	uint64_t ts, tid, interp;

	*holder = 0;
	if (l->rt_tstate_current != PYTHON_NONE) {
		if (python_read_word(py, py->runtime + l->rt_tstate_current, &ts) != 0)
			return -1;
	} else {
		uint32_t lo = l->gil_holder < l->gil_locked ? l->gil_holder : l->gil_locked;
		uint32_t hi = l->gil_holder < l->gil_locked ? l->gil_locked : l->gil_holder;
		uint8_t gil[PYTHON_READ_MAX];

		if (py->gil == 0) {
			interp = python_main_interp(py);
			if (interp == 0 ||
			    python_read_word(py, interp + l->is_ceval_gil, &py->gil) != 0 ||
			    !python_ptr_ok(py->gil)) {
				py->gil = 0;
				return -1;
			}
		}
		if (hi + 8 - lo > sizeof(gil) || python_read(py, py->gil + lo, gil, hi + 8 - lo) != 0)
			return -1;
		ts = python_ld32(gil, l->gil_locked - lo) != 0 ? python_ld64(gil, l->gil_holder - lo)
							       : 0;
	}
	if (ts == 0)
		return 0;
	for (size_t i = 0; i < py->threads_size; i++) {
		if (py->threads[i].tid != 0 && py->threads[i].tstate == ts) {
			*holder = py->threads[i].tid;
			return 0;
		}
	}
	if (python_tstate_read(py, ts, 0, 0, buf) != 0)
		return -1;
	tid = python_ld64(buf, l->ts_native_tid);
	if (tid == 0 || tid > INT_MAX)
		return -1;
	*holder = (pid_t)tid;
	return 0;
}

/* The holder, with "cannot tell" folded into "nobody". */
pid_t python_gil_holder(struct python *py)
{
	pid_t holder;

	return python_gil_read(py, &holder) == 0 ? holder : 0;
}

/* Copies the counters out. */
void python_stats(const struct python *py, struct python_stats *out)
{
	*out = py->stats;
}

/* The version found at attach. */
const char *python_version(const struct python *py)
{
	return py->version;
}

/* The name of the file the interpreter lives in. */
const char *python_module(const struct python *py)
{
	return py->module;
}

/* ------------------------------------------------------------ attach */

/* Looks the needed symbols up in .dynsym, then .symtab (defined ones only). */
static void python_find_syms(struct elf_image *img, struct python_syms *syms)
{
	static const uint32_t types[] = { SHT_DYNSYM, SHT_SYMTAB };
	size_t nsec = elf_image_section_count(img);

	memset(syms, 0, sizeof(*syms));
	if (!elf_image_is_64(img))
		return;
	for (size_t t = 0; t < 2; t++) {
		for (size_t i = 0; i < nsec; i++) {
			const struct elf_image_shdr *sec = elf_image_section_at(img, i);
			const struct elf_image_shdr *strs;

			if (sec == NULL || sec->type != types[t] || sec->data == NULL)
				continue;
			strs = elf_image_section_at(img, sec->link);
			if (strs == NULL || strs->data == NULL || strs->size == 0)
				continue;
			for (size_t k = 1; k < sec->size / sizeof(Elf64_Sym); k++) {
				Elf64_Sym s;
				const char *name;
				uint64_t *slot = NULL;

				memcpy(&s, sec->data + k * sizeof(s), sizeof(s));
				if (s.st_shndx == SHN_UNDEF || s.st_value == 0 || s.st_name == 0 ||
				    s.st_name >= strs->size ||
				    memchr(strs->data + s.st_name, '\0', strs->size - s.st_name) == NULL)
					continue;
				name = (const char *)strs->data + s.st_name;
				if (strcmp(name, "_PyRuntime") == 0)
					slot = &syms->runtime;
				else if (strcmp(name, "Py_Version") == 0)
					slot = &syms->version;
				else if (strcmp(name, "PyCode_Type") == 0)
					slot = &syms->code_type;
				else if (strcmp(name, "PyUnicode_Type") == 0)
					slot = &syms->unicode_type;
				else if (strcmp(name, "PyBytes_Type") == 0)
					slot = &syms->bytes_type;
				if (slot != NULL && *slot == 0)
					*slot = s.st_value;
			}
		}
	}
}

/* The base name of a path. */
static const char *python_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash != NULL ? slash + 1 : path;
}

/* The executable and files named python* or libpython* may hold the interpreter. */
static int python_candidate(const struct maps_entry *e, const struct stat *exe, int have_exe)
{
	const char *base = python_basename(e->path);

	if (have_exe && e->ino == exe->st_ino && e->dev == exe->st_dev)
		return 1;
	return strncmp(base, "python", 6) == 0 || strncmp(base, "libpython", 9) == 0;
}

/* "3.11" in a file name such as libpython3.11.so.1.0: major and minor, or -1. */
static int python_version_from_name(const char *name, unsigned *major, unsigned *minor)
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
static void python_format_version(uint64_t hex, char *buf, size_t size)
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
 * Finds the interpreter's file among the executable mappings and its
 * symbols; returns the mapping, or NULL with err set.
 */
static const struct maps_entry *python_find(pid_t pid, const struct maps *maps,
					    struct python_syms *syms, struct error *err)
{
	const struct maps_entry *named = NULL;
	const struct elf_image *last = NULL;
	struct stat exe;
	char path[64];
	int have_exe;

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)pid);
	have_exe = stat(path, &exe) == 0;
	for (size_t i = 0;; i++) {
		const struct maps_entry *e = maps_at(maps, i);

		if (e == NULL)
			break;
		if (e->image == NULL || !(e->prot & MAPS_PROT_EXEC) || e->image == last ||
		    !python_candidate(e, &exe, have_exe))
			continue;
		last = e->image;
		python_find_syms(e->image, syms);
		if (syms->runtime != 0)
			return e;
		if (named == NULL && strstr(python_basename(e->path), "python") != NULL)
			named = e;
	}
	if (named != NULL)
		error_set(err, 0, "process %d: %s exports no _PyRuntime (CPython before 3.7?)",
			  (int)pid, named->name);
	else
		error_set(err, 0, "process %d is not CPython: neither its executable nor a "
			  "libpython exports _PyRuntime", (int)pid);
	return NULL;
}

/*
 * Checks the layout against the live process where it can: once the
 * runtime is initialized, the first thread state of the first interpreter
 * must point back at that interpreter.  A build whose structures differ
 * from the table (another patch release that moved a field) is refused
 * here instead of yielding empty stacks.
 */
static int python_layout_check(struct python *py, struct error *err)
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

/*
 * Finds the interpreter, places its symbols with the load bias of the
 * mapping, reads the version and picks (or, for 3.13, reads) the layout.
 */
struct python *python_attach(pid_t pid, const struct maps *maps, struct error *err)
{
	struct python *py = mem_zalloc(sizeof(*py));
	const struct maps_entry *e;
	struct python_syms syms;
	uint64_t vaddr, bias, hex = 0;
	unsigned major = 0, minor = 0;

	py->pid = pid;
	e = python_find(pid, maps, &syms, err);
	if (e == NULL)
		goto fail;
	py->module = mem_strdup(e->name);
	if (maps_to_vaddr(e, e->start, &vaddr) != 0) {
		error_set(err, 0, "process %d: cannot place %s in memory", (int)pid, e->name);
		goto fail;
	}
	bias = e->start - vaddr;
	py->runtime = syms.runtime + bias;
	py->code_type = syms.code_type ? syms.code_type + bias : 0;
	py->unicode_type = syms.unicode_type ? syms.unicode_type + bias : 0;
	py->bytes_type = syms.bytes_type ? syms.bytes_type + bias : 0;
	if (syms.version != 0) {
		if (python_read_word(py, syms.version + bias, &hex) != 0) {
			error_set(err, errno ? errno : EFAULT, "reading Py_Version of process %d",
				  (int)pid);
			goto fail;
		}
		major = (unsigned)(hex >> 24) & 0xff;
		minor = (unsigned)(hex >> 16) & 0xff;
		python_format_version(hex, py->version, sizeof(py->version));
	} else if (python_version_from_name(e->name, &major, &minor) == 0) {
		snprintf(py->version, sizeof(py->version), "%u.%u", major, minor);
	} else {
		error_set(err, 0, "process %d: %s has no Py_Version and its name gives no version",
			  (int)pid, e->name);
		goto fail;
	}
	if (major != 3 || minor < 11 || minor > 13) {
		error_set(err, 0, "process %d runs Python %s, which is not supported (3.11 to 3.13 are)",
			  (int)pid, py->version);
		goto fail;
	}
	if (minor == 11) {
		py->lay = python_layout_311;
	} else if (minor == 12) {
		py->lay = python_layout_312;
	} else {
		if (python_layout_from_debug(py, hex, err) != 0)
			goto fail;
		if (python_layout_spans(&py->lay) != 0) {
			error_set(err, 0, "Python %s: structures larger than expected", py->version);
			goto fail;
		}
	}
	if (python_layout_check(py, err) != 0)
		goto fail;
	py->codes = mem_calloc(PYTHON_CODE_SLOTS, sizeof(*py->codes));
	py->heads = mem_calloc(PYTHON_MAX_WALK, py->lay.co_read);
	return py;
fail:
	python_free(py);
	return NULL;
}

/* Frees the caches and the reader. */
void python_free(struct python *py)
{
	if (py == NULL)
		return;
	if (py->codes != NULL)
		python_code_flush(py);
	free(py->codes);
	free(py->heads);
	free(py->threads);
	free(py->module);
	free(py);
}

/* ------------------------------------------------------------ merge */

/* s starts with prefix. */
static int python_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Interpreter machinery between two Python frames, or between a Python
 * frame and the C function it calls: prefixes, plus _PyObject_*Call*.
 */
static const char *const python_internal_prefixes[] = {
	"_PyEval",		/* _PyEval_Vector, _PyEvalFramePushAndInit, ... */
	"PyEval_",		/* PyEval_EvalCode, ... (thread functions are kept) */
	"PyObject_Call",	/* PyObject_Call, PyObject_CallOneArg, ... */
	"PyObject_Vectorcall",
	"_PyObject_MakeTpCall",
	"_PyFunction_",		/* _PyFunction_Vectorcall */
	"PyVectorcall_",
	"_PyVectorcall_",
	"_PyCFunction_",
	"PyCFunction_Call",
	"method_vectorcall",	/* bound methods, method descriptors */
	"cfunction_call",
	"cfunction_vectorcall",
	"slot_tp_",		/* slot_tp_call, slot_tp_init, ... */
	"vectorcall_method",
	"vectorcall_unbound",
	"call_unbound",
	"type_call",
	"wrapperdescr_call",
	"wrapper_call",
	"methoddescr_call",
	"classmethoddescr_call",
	"do_call_core",
};

/* Helpers worth seeing even inside the interpreter (GIL waits, sleeps, GC...). */
static const char *const python_keep_prefixes[] = {
	"time_", "sys_", "gc_", "os_", "thread_", "lock_", "_thread", "PyThread",
	"take_gil", "drop_gil", "PyGILState_", "_PyGILState_",
};

/* Name-based, so it works on whatever symbols the module has; see python.h. */
enum python_native_class python_classify(const char *function, const char *module)
{
	const char *base;

	if (function == NULL)
		return PYTHON_NATIVE_OTHER;
	if (python_prefix(function, "_PyEval_EvalFrameDefault") &&
	    (function[24] == '\0' || function[24] == '.'))
		return PYTHON_NATIVE_EVAL;
	if (module == NULL)
		return PYTHON_NATIVE_OTHER;
	base = python_basename(module);
	if (!python_prefix(base, "python") && !python_prefix(base, "libpython"))
		return PYTHON_NATIVE_OTHER;
	for (size_t i = 0; i < sizeof(python_keep_prefixes) / sizeof(python_keep_prefixes[0]); i++)
		if (python_prefix(function, python_keep_prefixes[i]))
			return PYTHON_NATIVE_OTHER;
	if (strstr(function, "Thread") != NULL || strstr(function, "GIL") != NULL)
		return PYTHON_NATIVE_OTHER;
	for (size_t i = 0; i < sizeof(python_internal_prefixes) / sizeof(python_internal_prefixes[0]);
	     i++)
		if (python_prefix(function, python_internal_prefixes[i]))
			return PYTHON_NATIVE_INTERNAL;
	if (python_prefix(function, "_PyObject_") && strcasestr(function + 10, "call") != NULL)
		return PYTHON_NATIVE_INTERNAL;
	return PYTHON_NATIVE_RUNTIME;
}

/* Who runs the frames below, walking a stack from its outer end; see python.h. */
enum python_owner {
	PYTHON_OWNER_START,	/* the interpreter starting up: no evaluation loop yet */
	PYTHON_OWNER_EVAL,	/* an evaluation loop running bytecode */
	PYTHON_OWNER_CALL,	/* the call machinery, on its way to a callee */
	PYTHON_OWNER_WORK,	/* a builtin or an extension doing its work */
};

void python_resolve_runtime(enum python_native_class *classes, size_t n, int keep)
{
	enum python_owner owner = PYTHON_OWNER_START;
	size_t inner = n;	/* the innermost evaluation loop */

	for (size_t i = 0; i < n && inner == n; i++)
		if (classes[i] == PYTHON_NATIVE_EVAL)
			inner = i;
	for (size_t i = n; i-- > 0;) {
		switch (classes[i]) {
		case PYTHON_NATIVE_EVAL:
			owner = PYTHON_OWNER_EVAL;
			break;
		case PYTHON_NATIVE_INTERNAL:
			if (owner == PYTHON_OWNER_EVAL || owner == PYTHON_OWNER_WORK)
				owner = PYTHON_OWNER_CALL;
			break;
		case PYTHON_NATIVE_RUNTIME:
			/*
			 * Between two loops it is C code that Python called and
			 * that calls Python back (sorted, map, list.sort), even
			 * when the call reached it without a separate frame of
			 * call machinery.
			 */
			if (keep || owner == PYTHON_OWNER_CALL || owner == PYTHON_OWNER_WORK ||
			    (owner == PYTHON_OWNER_EVAL && inner < i)) {
				classes[i] = PYTHON_NATIVE_OTHER;
				if (owner == PYTHON_OWNER_CALL)
					owner = PYTHON_OWNER_WORK;
			} else {
				classes[i] = PYTHON_NATIVE_INTERNAL;
			}
			break;
		default:
			/* Code outside the interpreter, called from Python, works for it. */
			if (owner != PYTHON_OWNER_START)
				owner = PYTHON_OWNER_WORK;
			break;
		}
	}
}

/* Appends one merged frame when there is room; records the loss otherwise. */
static void python_emit(struct python_merged *out, size_t max, size_t *n, int is_python,
			size_t index, struct python_merge_info *info)
{
	if (*n < max)
		out[(*n)++] = (struct python_merged){ is_python, index };
	else
		info->truncated = 1;
}

/* One pass over the native frames with a cursor in the Python frames; see python.h. */
size_t python_merge(const enum python_native_class *native, size_t nnative,
		    const struct python_frame *py, size_t npy, int keep_internals,
		    struct python_merged *out, size_t max, struct python_merge_info *info)
{
	struct python_merge_info mi = { 0 };
	size_t n = 0, p = 0;

	for (size_t i = 0; i < nnative && !mi.truncated; i++) {
		switch (native[i]) {
		case PYTHON_NATIVE_EVAL:
			if (p == npy) {
				mi.evals_unmatched++;
				python_emit(out, max, &n, 0, i, &mi);
				break;
			}
			/* One eval call runs the frames up to its entry frame. */
			for (;;) {
				int entry = py[p].is_entry;

				python_emit(out, max, &n, 1, p++, &mi);
				if (entry || p == npy)
					break;
			}
			break;
		case PYTHON_NATIVE_INTERNAL:
			if (keep_internals)
				python_emit(out, max, &n, 0, i, &mi);
			break;
		default:
			python_emit(out, max, &n, 0, i, &mi);
			break;
		}
	}
	for (; p < npy && !mi.truncated; p++) {
		python_emit(out, max, &n, 1, p, &mi);
		if (!mi.truncated)
			mi.python_appended++;
	}
	if (info != NULL)
		*info = mi;
	return n;
}
