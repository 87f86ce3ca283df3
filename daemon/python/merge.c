#include <string.h>

#include "python.h"
#include "python_impl.h"

/*
 * The merge rules: what a symbolized native frame is to the merge, what
 * the interpreter's runtime functions are by what called them, and the
 * merge itself.  Pure functions on the symbolized stack: nothing here
 * reads the target.
 */

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

/* One walk from the outermost frame in, knowing who runs the frames below; see python.h. */
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
