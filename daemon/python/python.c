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
#include "python_impl.h"
#include "symbols/elf_image.h"
#include "symbols/maps.h"

/*
 * Reading a live target: attach (finding the interpreter, its symbols and
 * its layout), the code object cache, the tid -> thread state map, frame
 * walks and the GIL.  Layouts are in layout.c, strings and line tables in
 * decode.c, the merge rules in merge.c; python_impl.h holds what they share.
 */

/* _PyInterpreterFrame.owner of the shim frame each eval call pushes (3.12+). */
#define PYTHON_OWNED_BY_CSTACK 3

/* Symbols the reader needs from the interpreter's ELF file (ELF addresses). */
struct python_syms {
	uint64_t runtime, version, code_type, unicode_type, bytes_type;
};

/* ------------------------------------------------------------ reading */

/* A field of a structure copied from the target (unaligned-safe). */
uint64_t python_ld64(const uint8_t *b, uint32_t off)
{
	uint64_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* A 32-bit field of a structure copied from the target. */
uint32_t python_ld32(const uint8_t *b, uint32_t off)
{
	uint32_t v;

	memcpy(&v, b + off, sizeof(v));
	return v;
}

/* A plausible object or struct pointer in x86-64 user space. */
int python_ptr_ok(uint64_t p)
{
	return p >= 4096 && p < PYTHON_USER_TOP && (p & 7) == 0;
}

/* Reads len bytes of the target at addr; 0 only when all of them came. */
int python_read(struct python *py, uint64_t addr, void *buf, size_t len)
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
int python_read_word(struct python *py, uint64_t addr, uint64_t *v)
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
int python_tstate_read(struct python *py, uint64_t ts, pid_t tid, uint64_t interp,
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
const char *python_basename(const char *path)
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
	if (python_layout_select(py, minor, hex, err) != 0)
		goto fail;
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
