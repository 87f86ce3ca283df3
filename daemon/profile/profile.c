#include <sys/sysmacros.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "frames.h"
#include "kframes.h"
#include "log.h"
#include "mem.h"
#include "profile.h"
#include "python/python.h"
#include "sample/target.h"
#include "symbols/maps.h"
#include "syscalls.h"
#include "unwind/unwind.h"
#include "window.h"

/* Deeper stacks end in a [truncated] frame. */
#define MAX_DEPTH 1024
#define MAX_NATIVE (MAX_DEPTH * FRAMES_MAX_INLINE)
#define MAX_PYTHON 1024
/* A sample in no known mapping reloads the maps, at most this often. */
#define RELOAD_INTERVAL_NS 1000000000ull
/* How often, at most, images no mapping uses are looked for, and how many of them are kept. */
#define PROFILE_TRIM_INTERVAL_NS 1000000000ull
#define PROFILE_SPARE_IMAGES 64
/* Samples handled within this long of a GIL read share it (one batch). */
#define GIL_BATCH_NS 250000ull

struct profile {
	struct profile_config cfg;
	pid_t pid;
	struct python *py;
	char python_note[sizeof(((struct error *)0)->msg) + 32];
	uint64_t samples;
	uint64_t lost;
	uint64_t truncated;
	uint64_t python_out_of_step;	/* samples whose Python frames had moved on */
	size_t last_npy;		/* Python frames of the latest sample */
	uint64_t gil_read_ns;		/* when the GIL holder was last read */
	pid_t gil_holder;		/* what that read found (0: nobody) */
	int gil_known;			/* whether it could be read */
	int keep_last;			/* remember each thread's latest stack */
	struct elf_cache *elfs;
	struct maps *maps;
	struct unwinder *unwinder;
	struct tree *tree;
	struct frames *frames;
	struct kframes *kframes;	/* kernel call chains; shared by all threads */
	struct window *window;			/* NULL: no time windows */
	uint32_t frame_truncated, frame_unknown, frame_kernel;
	uint32_t frame_syscall[512];	/* id + 1 of "name [kernel]" by number, 0 unmade */
	uint64_t last_reload_ns;
	uint64_t last_trim_ns;		/* the last profile_trim_images look */
	uint64_t pcs[MAX_DEPTH];
	uint32_t native[MAX_NATIVE];	/* innermost first */
	enum python_native_class classes[MAX_NATIVE];
	struct python_frame pyframes[MAX_PYTHON];
	struct python_merged merged[MAX_NATIVE + MAX_PYTHON];
	uint32_t ids[MAX_NATIVE + MAX_PYTHON + 2 + SAMPLE_MAX_KERNEL];	/* root first */
	struct profile_thread *threads;	/* in order of appearance */
	size_t nthreads, cap;
	/* tid -> index + 1 into threads; open addressing, 0 = empty */
	uint32_t *index;
	pid_t *index_tid;
	size_t index_size;
};

static size_t slot_of(pid_t tid, size_t size)
{
	return ((uint32_t)tid * 2654435761u) & (size - 1);
}

static void index_put(struct profile *p, pid_t tid, uint32_t value)
{
	size_t i = slot_of(tid, p->index_size);

	while (p->index[i] != 0)
		i = (i + 1) & (p->index_size - 1);
	p->index[i] = value;
	p->index_tid[i] = tid;
}

static void index_grow(struct profile *p)
{
	size_t size = p->index_size ? p->index_size * 2 : 64;

	free(p->index);
	free(p->index_tid);
	p->index = mem_calloc(size, sizeof(*p->index));
	p->index_tid = mem_calloc(size, sizeof(*p->index_tid));
	p->index_size = size;
	for (size_t i = 0; i < p->nthreads; i++)
		index_put(p, p->threads[i].tid, (uint32_t)i + 1);
}

/* The thread's record, created on first sight; samples can precede FORK. */
static struct profile_thread *thread_get(struct profile *p, pid_t tid)
{
	struct profile_thread *th;
	size_t i = slot_of(tid, p->index_size);

	while (p->index[i] != 0) {
		if (p->index_tid[i] == tid)
			return &p->threads[p->index[i] - 1];
		i = (i + 1) & (p->index_size - 1);
	}
	if ((p->nthreads + 1) * 2 > p->index_size)
		index_grow(p);
	p->threads = mem_grow(p->threads, &p->cap, p->nthreads + 1, sizeof(*p->threads));
	th = &p->threads[p->nthreads++];
	memset(th, 0, sizeof(*th));
	th->tid = tid;
	target_thread_name(p->pid, tid, th->name, sizeof(th->name));
	index_put(p, tid, (uint32_t)p->nthreads);
	if (th->name[0] != '\0')
		tree_set_thread_name(p->tree, tid, th->name);
	return th;
}

/* A frame that stands for what the unwinder could not see. */
static uint32_t marker(struct tree *t, enum tree_kind kind, const char *name)
{
	struct tree_frame f = { .kind = kind, .function = name };

	return tree_frame_id(t, &f);
}

static void add_markers(struct profile *p)
{
	p->frame_truncated = marker(p->tree, TREE_KIND_UNKNOWN, "[truncated]");
	p->frame_unknown = marker(p->tree, TREE_KIND_UNKNOWN, "[unknown]");
	p->frame_kernel = marker(p->tree, TREE_KIND_KERNEL, "[kernel]");
	memset(p->frame_syscall, 0, sizeof(p->frame_syscall));
}

/* The leaf of a thread blocked in a system call: the call, by name. */
static uint32_t syscall_frame(struct profile *p, long nr)
{
	struct tree_frame f = { .kind = TREE_KIND_KERNEL, .module = "kernel" };
	char name[32];

	if (nr < 0 || nr >= (long)(sizeof(p->frame_syscall) / sizeof(p->frame_syscall[0])))
		return p->frame_kernel;
	if (p->frame_syscall[nr] == 0) {
		f.function = syscalls_name(nr);
		if (f.function == NULL) {
			snprintf(name, sizeof(name), "syscall %ld", nr);
			f.function = name;
		}
		p->frame_syscall[nr] = tree_frame_id(p->tree, &f) + 1;
	}
	return p->frame_syscall[nr] - 1;
}

/* Looks for CPython; its absence is a note, or an error when it was required. */
static int attach_python(struct profile *p, struct error *err)
{
	struct error why;

	python_free(p->py);
	p->py = NULL;
	p->gil_read_ns = 0;
	p->gil_known = 0;
	if (p->cfg.python == PROFILE_PYTHON_OFF) {
		p->python_note[0] = '\0';
		return 0;
	}
	error_clear(&why);
	p->py = python_attach(p->pid, p->maps, &why);
	if (p->py != NULL) {
		snprintf(p->python_note, sizeof(p->python_note), "CPython %s (%s)",
			 python_version(p->py), python_module(p->py));
		log_info("Python frames from %s", p->python_note);
		return 0;
	}
	snprintf(p->python_note, sizeof(p->python_note), "no Python frames: %s", why.msg);
	if (p->cfg.python == PROFILE_PYTHON_ON) {
		error_set(err, why.errnum, "--python on: %s", why.msg);
		return -1;
	}
	log_info("%s", p->python_note);
	return 0;
}

struct profile *profile_new(const struct profile_config *cfg, struct error *err)
{
	struct profile *p = mem_zalloc(sizeof(*p));
	pid_t pid = cfg->pid;

	p->cfg = *cfg;
	p->pid = pid;
	index_grow(p);
	p->elfs = elf_cache_new();
	elf_cache_set_demangle(p->elfs, !cfg->no_demangle);
	p->maps = maps_new(pid, p->elfs);
	if (maps_load(p->maps, err) < 0)
		goto fail;
	p->unwinder = unwind_new(p->maps, err);
	if (p->unwinder == NULL)
		goto fail;
	p->tree = tree_new();
	tree_set_max_nodes(p->tree, cfg->max_nodes);
	p->frames = frames_new(p->maps, p->tree);
	p->kframes = kframes_new(p->tree, NULL);
	frames_set_lines(p->frames, !cfg->no_lines);
	if (cfg->window_memory > 0)
		p->window = window_new(cfg->window_bucket_ns, cfg->window_memory);
	add_markers(p);
	if (attach_python(p, err) < 0)
		goto fail;
	return p;
fail:
	profile_free(p);
	return NULL;
}

void profile_free(struct profile *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->nthreads; i++)
		free(p->threads[i].last);
	python_free(p->py);
	frames_free(p->frames);
	kframes_free(p->kframes);
	window_free(p->window);
	tree_free(p->tree);
	unwind_free(p->unwinder);
	maps_free(p->maps);
	elf_cache_free(p->elfs);
	free(p->threads);
	free(p->index);
	free(p->index_tid);
	free(p);
}

void profile_thread_start(struct profile *p, pid_t tid)
{
	struct profile_thread *th = thread_get(p, tid);

	th->exited = 0;
}

void profile_thread_exit(struct profile *p, pid_t tid)
{
	thread_get(p, tid)->exited = 1;
}

void profile_thread_name(struct profile *p, pid_t tid, const char *name)
{
	struct profile_thread *th = thread_get(p, tid);

	strncpy(th->name, name, sizeof(th->name) - 1);
	th->name[sizeof(th->name) - 1] = '\0';
	tree_set_thread_name(p->tree, tid, th->name);
}

/*
 * Frees the images no mapping uses any more, keeping the latest
 * PROFILE_SPARE_IMAGES of them (a library a program loads and unloads in
 * turn is not read again each time); at most once a second, since each
 * look walks every mapping and every image.
 */
static void profile_trim_images(struct profile *p)
{
	uint64_t now = target_mono_ns();

	if (p->last_trim_ns != 0 && now - p->last_trim_ns < PROFILE_TRIM_INTERVAL_NS)
		return;
	p->last_trim_ns = now;
	elf_cache_mark_begin(p->elfs);
	maps_mark_images(p->maps);
	if (elf_cache_sweep(p->elfs, PROFILE_SPARE_IMAGES) > 0)
		unwind_forget_images(p->unwinder);
}

/* Code the maps do not know yet (a thread mapped it before we watched): reread them. */
static void maybe_reload(struct profile *p, uint64_t ip)
{
	struct error err;
	uint64_t now;

	if (maps_find(p->maps, ip) != NULL)
		return;
	now = target_mono_ns();
	if (now - p->last_reload_ns < RELOAD_INTERVAL_NS)
		return;
	p->last_reload_ns = now;
	error_clear(&err);
	if (maps_load(p->maps, &err) < 0) {
		log_debug("rereading maps: %s", err.msg);
		return;
	}
	unwind_flush(p->unwinder, 0, UINT64_MAX);
	profile_trim_images(p);
}

static uint32_t python_frame_id(struct profile *p, const struct python_frame *pf)
{
	struct tree_frame f = {
		.kind = TREE_KIND_PYTHON,
		.function = pf->qualname,
		.file = pf->filename,
		.line = pf->first_line,
	};

	return tree_frame_id(p->tree, &f);
}

/*
 * In cpu mode the kernel copies the native stack at the tick, but the
 * Python frames are read from the live process a little later, when the
 * daemon handles the sample; if the thread entered or left an evaluation
 * loop in between, the two no longer describe the same moment.  They are
 * in step when every evaluation loop of the native stack has its run of
 * Python frames (one run per entry frame).
 */
static int python_in_step(struct profile *p, size_t nn, size_t npy)
{
	size_t evals = 0, runs = 0;

	for (size_t i = 0; i < nn; i++)
		evals += p->classes[i] == PYTHON_NATIVE_EVAL;
	for (size_t i = 0; i < npy; i++)
		runs += p->pyframes[i].is_entry != 0;
	if (npy > 0 && !p->pyframes[npy - 1].is_entry)
		runs++;
	if (evals != runs)
		p->python_out_of_step++;
	return evals == runs;
}

/*
 * Out of step, the Python frames are the later and more telling picture:
 * they stand whole between the native frames outside the outermost
 * evaluation loop (start-up, thread entry) and those inside the innermost
 * one (what the sampled instruction was doing), and the native frames
 * between loops, which belong to the earlier moment, are left out.  A
 * native stack with no loop at all was not running Python: it stays as it
 * is.
 */
static size_t add_out_of_step(struct profile *p, size_t nn, size_t npy, size_t k)
{
	size_t inner = nn, outer = nn, j;

	for (j = 0; j < nn; j++) {
		if (p->classes[j] == PYTHON_NATIVE_EVAL) {
			if (inner == nn)
				inner = j;
			outer = j;
		}
	}
	if (inner == nn) {
		while (nn > 0)
			p->ids[k++] = p->native[--nn];
		return k;
	}
	for (j = nn; j-- > outer + 1;)
		if (p->classes[j] != PYTHON_NATIVE_INTERNAL)
			p->ids[k++] = p->native[j];
	for (j = npy; j-- > 0;)
		p->ids[k++] = python_frame_id(p, &p->pyframes[j]);
	for (j = inner; j-- > 0;)
		if (p->classes[j] != PYTHON_NATIVE_INTERNAL)
			p->ids[k++] = p->native[j];
	return k;
}

/*
 * Appends the sample's frames to ids (from index k), root first: the
 * native frames of the n unwound addresses, each expanded to its inline
 * chain, and, in a Python thread, merged with its Python frames so that
 * each evaluation loop stands where the Python functions it ran belong.
 * Python frames are grouped by function, as native ones are: a frame
 * carries the function's first line.  Returns the new length.
 */
static size_t add_frames(struct profile *p, pid_t tid, size_t n, size_t k)
{
	size_t nn = 0, npy = 0, m;

	for (size_t i = 0; i < n; i++) {
		const uint32_t *chain;
		size_t c = frames_ids(p->frames, p->pcs[i], &chain);

		for (size_t j = 0; j < c && nn < MAX_NATIVE; j++)
			p->native[nn++] = chain[j];
	}
	if (p->py != NULL)
		npy = python_stack(p->py, tid, p->pyframes, MAX_PYTHON);
	p->last_npy = npy;
	if (npy == 0) {
		while (nn > 0)
			p->ids[k++] = p->native[--nn];
		return k;
	}
	for (size_t i = 0; i < nn; i++)
		p->classes[i] = frames_class(p->frames, p->native[i]);
	python_resolve_runtime(p->classes, nn, p->cfg.python_internals);
	if (!python_in_step(p, nn, npy))
		return add_out_of_step(p, nn, npy, k);
	m = python_merge(p->classes, nn, p->pyframes, npy, p->cfg.python_internals, p->merged,
			 MAX_NATIVE + MAX_PYTHON, NULL);
	while (m > 0) {
		const struct python_merged *e = &p->merged[--m];

		p->ids[k++] = e->is_python ? python_frame_id(p, &p->pyframes[e->index])
					   : p->native[e->index];
	}
	return k;
}

/*
 * The stack goes into the tree root first.  A stack the unwinder could not
 * follow to the thread's first frame still counts: it hangs under an
 * explicit [truncated] or [unknown] root, so nothing is dropped silently.
 * A tick that caught the thread in the kernel ends in the kernel's call
 * chain under the user stack that made the system call (outermost first),
 * or, without one (kernel frames off or unnamed, wall mode), in a single
 * [kernel] leaf.
 */
/*
 * Turns a sample into frame ids, root first, in p->ids; returns how many.
 * *rooted is 0 when the stack ends in a [truncated] or [unknown] marker.
 */
static size_t sample_frames(struct profile *p, const struct sample *s, int *rooted)
{
	struct unwind_sample us;
	enum unwind_end end = UNWIND_END_FAILED;
	size_t n = 0, k = 0;

	if (s->has_regs) {
		memcpy(us.regs, s->regs, sizeof(us.regs));
		us.stack = s->stack;
		us.stack_len = s->stack_len;
		maybe_reload(p, us.regs[REGS_IP]);
		n = unwind_stack(p->unwinder, &us, p->pcs, MAX_DEPTH, &end);
	}
	*rooted = end == UNWIND_END_ROOT;
	if (!*rooted)
		p->ids[k++] = end == UNWIND_END_FAILED && n <= 1 ? p->frame_unknown
							       : p->frame_truncated;
	k = add_frames(p, s->tid, n, k);
	if (s->nkernel > 0 && kframes_ids(p->kframes, s->kernel_pcs, s->nkernel,
						  p->ids + k) > 0)
		k += s->nkernel;
	else if (s->in_kernel)
		p->ids[k++] = s->syscall >= 0 ? syscall_frame(p, s->syscall) : p->frame_kernel;
	return k;
}

/* Keeps a thread's latest stack, for dumps while a sampler holds the threads. */
static void remember(struct profile_thread *th, const struct sample *s, const uint32_t *ids,
		     size_t k, int rooted)
{
	th->last = mem_grow(th->last, &th->last_cap, k, sizeof(*th->last));
	memcpy(th->last, ids, k * sizeof(*ids));
	th->last_len = k;
	th->last_state = s->state;
	th->last_syscall = s->in_kernel ? s->syscall : -1;
	th->last_rooted = rooted;
	th->last_time_ns = s->time_ns;
}

/*
 * Whether the thread of the sample just turned into frames held the GIL:
 * unknown unless it had Python frames and the holder could be read.  The
 * holder is one pointer in the target, read when the sample is handled,
 * like the Python frames and with the same caveat in cpu mode (the thread
 * may have taken or dropped the GIL since the tick).  One read serves
 * every sample handled within GIL_BATCH_NS of it: the samples a wall-mode
 * tick hands over together share it.
 */
static enum tree_gil sample_gil(struct profile *p, pid_t tid)
{
	uint64_t now;

	if (p->py == NULL || p->last_npy == 0)
		return TREE_GIL_UNKNOWN;
	now = target_mono_ns();
	if (p->gil_read_ns == 0 || now - p->gil_read_ns >= GIL_BATCH_NS) {
		p->gil_known = python_gil_read(p->py, &p->gil_holder) == 0;
		p->gil_read_ns = now;
	}
	if (!p->gil_known)
		return TREE_GIL_UNKNOWN;
	return p->gil_holder == tid ? TREE_GIL_HELD : TREE_GIL_RELEASED;
}

void profile_sample(struct profile *p, const struct sample *s)
{
	struct profile_thread *th = thread_get(p, s->tid);
	uint32_t leaf;
	int rooted;
	size_t k;

	th->samples++;
	p->samples++;
	k = sample_frames(p, s, &rooted);
	if (!rooted)
		p->truncated++;
	leaf = tree_add_gil(p->tree, s->tid,
			    s->state == SAMPLE_STATE_RUNNING ? TREE_STATE_RUNNING : TREE_STATE_IDLE,
			    sample_gil(p, s->tid), p->ids, k, 1);
	/* Both samplers stamp their samples; a sample without a time is counted now. */
	if (p->window != NULL)
		window_add(p->window, s->time_ns != 0 ? s->time_ns : target_mono_ns(), leaf, 1);
	if (p->keep_last)
		remember(th, s, p->ids, k, rooted);
}

size_t profile_stack(struct profile *p, const struct sample *s, const uint32_t **ids, int *rooted)
{
	size_t k = sample_frames(p, s, rooted);

	*ids = p->ids;
	return k;
}

void profile_keep_last(struct profile *p, int on)
{
	p->keep_last = on;
}

const struct tree *profile_tree_of(const struct profile *p)
{
	return p->tree;
}

void profile_mmap(struct profile *p, const struct perf_mmap_event *m)
{
	uint32_t prot = 0;

	if (m->prot & 1)
		prot |= MAPS_PROT_READ;
	if (m->prot & 2)
		prot |= MAPS_PROT_WRITE;
	if (m->prot & 4)
		prot |= MAPS_PROT_EXEC;
	maps_add(p->maps, m->start, m->len, m->pgoff, makedev(m->maj, m->min), m->ino, prot,
		 m->path);
	unwind_flush(p->unwinder, m->start, m->start + m->len);
	profile_trim_images(p);
}

void profile_exec(struct profile *p)
{
	struct error err;

	error_clear(&err);
	if (maps_load(p->maps, &err) < 0)
		log_warn("rereading maps after exec: %s", err.msg);
	unwind_flush(p->unwinder, 0, UINT64_MAX);
	p->last_trim_ns = 0;
	profile_trim_images(p);
	/* A new program: it may have become Python, or stopped being it. */
	if (attach_python(p, &err) < 0)
		log_warn("%s", err.msg);
}

/* Sums the buckets of the range per node, for a tree built from those counts. */
uint64_t *profile_window_counts(const struct profile *p, uint64_t from_ns, uint64_t to_ns,
				size_t *n, struct window_span *span)
{
	uint64_t *counts;

	if (p->window == NULL)
		return NULL;
	*n = tree_node_count(p->tree);
	counts = mem_calloc(*n ? *n : 1, sizeof(*counts));
	window_sum(p->window, from_ns, to_ns, counts, *n, span);
	return counts;
}

void profile_memory(const struct profile *p, struct profile_memory *out)
{
	out->tree_nodes = tree_node_count(p->tree);
	out->tree_max_nodes = tree_max_nodes(p->tree);
	out->tree_folded = tree_folded(p->tree);
	out->elf_images = elf_cache_count(p->elfs);
	elf_cache_usage(p->elfs, &out->elf);
}

int profile_window_stats(const struct profile *p, struct window_stats *out)
{
	if (p->window == NULL)
		return -1;
	window_stats(p->window, out);
	return 0;
}

/*
 * Frame ids die with the tree's content, so every cache of them goes too:
 * the address cache, the kernel's (made anew; it reads /proc/kallsyms again
 * at the next kernel frame), the marker frames and the threads' latest
 * stacks.  The maps, the unwinder and Python's state stay: the process is
 * the same.
 */
void profile_reset(struct profile *p)
{
	tree_reset(p->tree);
	frames_flush(p->frames);
	kframes_free(p->kframes);
	p->kframes = kframes_new(p->tree, NULL);
	add_markers(p);
	for (size_t i = 0; i < p->nthreads; i++) {
		p->threads[i].samples = 0;
		p->threads[i].last_len = 0;
	}
	p->samples = 0;
	p->lost = 0;
	p->truncated = 0;
	p->python_out_of_step = 0;
	if (p->window != NULL)
		window_reset(p->window);
}

uint64_t profile_truncated_samples(const struct profile *p)
{
	return p->truncated;
}

const char *profile_python_note(const struct profile *p)
{
	return p->python_note;
}

uint64_t profile_python_out_of_step(const struct profile *p)
{
	return p->python_out_of_step;
}

int profile_has_python(const struct profile *p)
{
	return p->py != NULL;
}

void profile_lost(struct profile *p, uint64_t n)
{
	p->lost += n;
}

uint64_t profile_samples(const struct profile *p)
{
	return p->samples;
}

uint64_t profile_lost_samples(const struct profile *p)
{
	return p->lost;
}

size_t profile_thread_count(const struct profile *p)
{
	return p->nthreads;
}

const struct profile_thread *profile_thread_at(const struct profile *p, size_t i)
{
	return i < p->nthreads ? &p->threads[i] : NULL;
}
