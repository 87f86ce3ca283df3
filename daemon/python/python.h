#ifndef SAMPLED_PYTHON_H
#define SAMPLED_PYTHON_H

#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "symbols/maps.h"

/*
 * CPython frames read from outside the process, and the rule that merges
 * them into native stacks.
 *
 * Supported: CPython 3.11 and 3.12 (offset tables measured on their
 * headers), 3.13 (offsets taken from the _Py_DebugOffsets block the
 * interpreter keeps at the start of _PyRuntime), on x86-64, default
 * (GIL) builds, static or shared libpython.  Everything else is refused at
 * attach with a reason, and the profile stays native-only.
 *
 * Reading is done with process_vm_readv while the target may be running
 * (perf mode), so every pointer is checked (alignment, type object of code
 * objects and strings, bounded sizes, bounded walks) and an inconsistent
 * chain ends the walk early: a torn read costs frames, never a crash or a
 * loop.  Such events are counted (python_stats).
 *
 * One struct python per target process; not thread-safe.  After an execve
 * of the target, free it and attach again.
 */

struct python;

/* One Python frame, as python_stack returns it. */
struct python_frame {
	const char *qualname;	/* co_qualname as UTF-8 ("Cls.method"); never NULL */
	const char *filename;	/* co_filename as UTF-8; never NULL */
	uint32_t line;		/* 0 when unknown */
	/*
	 * 1 on the outermost frame of one _PyEval_EvalFrameDefault call, i.e.
	 * the last frame of a run that one native eval frame executes (3.11:
	 * _PyInterpreterFrame.is_entry; 3.12+: the frame just inside a shim
	 * frame owned by the C stack; shim frames themselves are not returned).
	 */
	int is_entry;
	uint32_t first_line;	/* co_firstlineno: where the function starts */
};

/* Counters of what the reader met; all only grow. */
struct python_stats {
	uint64_t stacks;	/* python_stack calls */
	uint64_t frames;	/* frames returned */
	uint64_t no_thread;	/* tid has no Python thread state */
	uint64_t read_errors;	/* process_vm_readv failures (unmapped, gone) */
	uint64_t bad_frames;	/* a chain that failed a consistency check */
	uint64_t truncated;	/* walks stopped by the caller's max or the walk bound */
	uint64_t code_misses;	/* code objects decoded (names, line table) */
	uint64_t code_reused;	/* cached code address that now holds another code object */
	uint64_t thread_scans;	/* walks of the interpreters' thread lists */
};

/*
 * Detects CPython in the target: the executable, or a mapped libpython*,
 * whose symbol table exports _PyRuntime.  The version comes from Py_Version
 * in target memory (from the file name when the symbol is missing, which
 * only happens before 3.11).  NULL with a reason in err when the target is
 * not Python, runs an unsupported version or build, or cannot be read.
 * Once the target's runtime is initialized, the layout is checked against
 * it (its first thread state must point back at its interpreter; this may
 * take up to 50 ms of retries while threads come and go): a build whose
 * structures differ from what this version should have is refused rather
 * than read wrongly.  maps must hold the target's mappings (with images);
 * it is only used during the call.
 */
struct python *python_attach(pid_t pid, const struct maps *maps, struct error *err);
/* Frees everything; accepts NULL. */
void python_free(struct python *py);
/* "3.11.2" (with a suffix such as "rc1" for pre-releases); lives as long as py. */
const char *python_version(const struct python *py);
/* The file holding the interpreter, as trees name it ("libpython3.11.so.1.0", "python3.11"). */
const char *python_module(const struct python *py);

/*
 * Reads the Python frames of thread tid, innermost first, into out (at most
 * max).  Returns the number written: 0 when the thread runs no Python code
 * (or has no thread state), or when nothing consistent could be read; a
 * walk that meets an implausible frame returns the frames before it.  The
 * strings in out stay valid until the next python_stack call on py (or
 * python_free).
 *
 * Cost: names and line tables are cached per code object address.  A warm
 * call makes about three process_vm_readv calls (the thread state, 3.11 and
 * 3.12's _PyCFrame, and an 8 KiB window of the data stack holding the
 * frames; deeper stacks, generators and 3.12+ shim frames need more
 * windows).  A cached code object is trusted for 250 ms after its identity
 * (type, name and line table pointers, first line, size, and 3.12+'s
 * co_version; on 3.11 the name is read back) was last checked; then its
 * head is read again, all such heads in one batch.  So a code object freed
 * and replaced by another at the same address shows under the old name for
 * at most that long.  Threads are found through a
 * tid -> thread state map, checked on every use and rebuilt by walking the
 * interpreters' thread lists when it misses (at most every 20 ms; a tid
 * without thread state is not looked for again for 250 ms).
 */
size_t python_stack(struct python *py, pid_t tid, struct python_frame *out, size_t max);

/*
 * Who holds the GIL of the main interpreter: 0 with *holder its OS thread
 * id, or 0 when nobody holds it (between a release and the next take);
 * -1 with *holder 0 when it cannot be read (the runtime is not
 * initialized, the target is gone, the holder's thread state does not
 * read back).  3.11: the runtime's current thread state; 3.12+: the GIL's
 * last holder while the GIL is locked.  Cost: one process_vm_readv (one
 * pointer on 3.11, the GIL's two fields on 3.12+), and one more for the
 * holder's thread state when the thread map (python_stack's) does not
 * know it.  The target runs meanwhile: the answer is that of the moment
 * of the read.
 */
int python_gil_read(struct python *py, pid_t *holder);
/* The same, 0 when nobody holds the GIL or it cannot be read. */
pid_t python_gil_holder(struct python *py);

void python_stats(const struct python *py, struct python_stats *out);

/* What a native frame is to the merge. */
enum python_native_class {
	PYTHON_NATIVE_OTHER,	/* an ordinary native frame: kept */
	PYTHON_NATIVE_EVAL,	/* _PyEval_EvalFrameDefault: replaced by Python frames */
	PYTHON_NATIVE_INTERNAL,	/* the interpreter's call machinery: hidden by default */
	/*
	 * Any other function of the interpreter: whether it is shown depends
	 * on who called it (python_resolve_runtime).
	 */
	PYTHON_NATIVE_RUNTIME,
};

/*
 * Classifies a symbolized native frame.  EVAL: _PyEval_EvalFrameDefault and
 * its split-off parts (".cold"), whatever the module.  INTERNAL: only in a
 * module named python* or libpython*, the functions that merely carry a
 * call from one Python frame to the next (vectorcall and tp_call
 * dispatch, PyObject_Call*, _PyFunction_*, method and cfunction
 * trampolines, slot wrappers, _PyEval_* and PyEval_* helpers); the
 * functions a profile always shows (time_sleep, sys_*, gc_*, os_*, thread
 * and lock functions, ...) are OTHER; every other function of the
 * interpreter is RUNTIME.  NULL or unknown names, and every function
 * outside the interpreter's module, are OTHER.  The class depends only on the two strings: callers may cache
 * it per symbolized frame.
 */
enum python_native_class python_classify(const char *function, const char *module);

/*
 * Decides, in place, what each PYTHON_NATIVE_RUNTIME frame of a native
 * stack (innermost first) is, by what called it.  Walking from the
 * outermost frame in: before the first evaluation loop, the interpreter's
 * own start-up (main, Py_RunMain, ...) is INTERNAL; a runtime function
 * called by an evaluation loop does the work of the bytecode being run
 * (arithmetic, allocation, attribute lookup: the Python function's own
 * time, as pyinstrument shows it) and is INTERNAL; one reached through the
 * call machinery, or lying between two evaluation loops, is a builtin that
 * Python called and that may call Python back (sorted, list.sort) and is
 * OTHER, and so is everything such a builtin, or code outside the
 * interpreter (an extension), calls in turn.  Other classes are left as
 * they are.  With keep, every RUNTIME frame becomes OTHER.
 */
void python_resolve_runtime(enum python_native_class *classes, size_t n, int keep);

/* One merged frame: native[index] or python[index] of python_merge's inputs. */
struct python_merged {
	int is_python;
	size_t index;
};

/* How well the two stacks matched. */
struct python_merge_info {
	size_t evals_unmatched;	/* EVAL frames left as native: no Python run was left */
	size_t python_appended;	/* Python frames no EVAL frame claimed, appended outermost */
	int truncated;		/* out was too small: the outermost frames are missing */
};

/*
 * Merges a native stack (classes from python_classify, innermost first)
 * with the thread's Python frames (python_stack, innermost first) into out,
 * innermost first.
 *
 * Walking the native frames from the innermost: an EVAL frame is replaced
 * by the next run of Python frames, i.e. the frames up to and including the
 * next one marked is_entry (or all that are left when none is marked); an
 * INTERNAL frame is dropped unless keep_internals; any other frame is kept.
 * Mismatches lose nothing: an EVAL frame finding no Python frame left stays
 * as a native frame (counted in evals_unmatched), and Python frames left
 * over when the native frames end (the native unwind stopped early, or it
 * missed eval frames) are appended at the outer end in order.  The result
 * never holds more than nnative + npy entries; a smaller max keeps the
 * innermost ones.  info may be NULL.
 */
size_t python_merge(const enum python_native_class *native, size_t nnative,
		    const struct python_frame *py, size_t npy, int keep_internals,
		    struct python_merged *out, size_t max, struct python_merge_info *info);

/*
 * The source line of code unit index in a 3.11+ location table
 * (co_linetable), starting from first_line (co_firstlineno).  A negative
 * index (a frame that has not started) gives first_line; an index past the
 * table or an entry without location gives 0.  Exported for tests.
 */
uint32_t python_line(const uint8_t *table, size_t len, uint32_t first_line, int64_t index);

#endif
