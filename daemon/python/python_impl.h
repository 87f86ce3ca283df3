#ifndef SAMPLED_PYTHON_IMPL_H
#define SAMPLED_PYTHON_IMPL_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "python.h"

/*
 * Private to daemon/python/: nothing outside that folder includes it (the
 * module's interface is python.h).  It holds the reader's bounds, the
 * structures its files share and the functions one file lends another:
 *
 *   python.c   reading a live target: attach, code cache, thread map,
 *              frame walks, GIL
 *   layout.c   per-version structure layouts: the 3.11 and 3.12 tables,
 *              the 3.13 _Py_DebugOffsets block, version names, the check
 *              of a layout against the target
 *   decode.c   str objects as UTF-8, line tables as source lines
 *   merge.c    what a native frame is, and the merge of Python frames
 *              into native stacks (pure functions)
 */

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

/* PyObject: ob_refcnt, ob_type; PyVarObject adds ob_size (non-debug builds). */
#define PYTHON_OB_TYPE 8
#define PYTHON_OB_SIZE 16

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

/* The reader of one target process (python.h). */
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

/* python.c: reading the target */

/* A field of a structure copied from the target (unaligned-safe). */
uint64_t python_ld64(const uint8_t *b, uint32_t off);
/* A 32-bit field of a structure copied from the target. */
uint32_t python_ld32(const uint8_t *b, uint32_t off);
/* A plausible object or struct pointer in x86-64 user space. */
int python_ptr_ok(uint64_t p);
/* Reads len bytes of the target at addr; 0 only when all of them came (failures counted). */
int python_read(struct python *py, uint64_t addr, void *buf, size_t len);
/* Reads one pointer-sized word of the target. */
int python_read_word(struct python *py, uint64_t addr, uint64_t *v);
/* Reads the thread state at ts into buf; 0 when it is tid's and interp's (either 0: any). */
int python_tstate_read(struct python *py, uint64_t ts, pid_t tid, uint64_t interp,
		       uint8_t *buf);
/* The base name of a path. */
const char *python_basename(const char *path);

/* decode.c: the target's own formats */

/* Reads the str object at addr into py->strbuf as UTF-8 (bounded); 0, or -1 when it is none. */
int python_read_str(struct python *py, uint64_t addr);

/* layout.c: where each version keeps things */

/* "3.11" in a file name such as libpython3.11.so.1.0: major and minor, or -1. */
int python_version_from_name(const char *name, unsigned *major, unsigned *minor);
/* Formats PY_VERSION_HEX into buf: 0x030b02f0 -> "3.11.2", 0x030d00c1 -> "3.13.0rc1". */
void python_format_version(uint64_t hex, char *buf, size_t size);
/* Sets py->lay for version 3.minor (hex: Py_Version); -1 with err set when unusable. */
int python_layout_select(struct python *py, unsigned minor, uint64_t hex, struct error *err);
/* Checks py->lay against the live target once its runtime is initialized; -1 with err set. */
int python_layout_check(struct python *py, struct error *err);

#endif
