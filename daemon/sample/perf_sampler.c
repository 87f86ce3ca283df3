#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <linux/perf_event.h>

#include "log.h"
#include "mem.h"
#include "perf_ring.h"
#include "perf_sampler.h"
#include "target.h"

/* How often rings are drained even when no wakeup came, and threads rescanned. */
#define DRAIN_INTERVAL_MS 100
#define SCAN_EVERY_DRAINS 10

struct perf_thread {
	pid_t tid;
	int fd;
	uint64_t sample_type;	/* of this thread's event: the layout of its samples */
	void *map;
	size_t map_len;
	struct perf_ring ring;
	struct perf_sampler *owner;
};

struct perf_sampler {
	struct perf_sampler_config cfg;
	struct loop *loop;
	const struct perf_sampler_ops *ops;
	void *arg;
	struct perf_event_attr attr;
	size_t page_size;
	int timerfd;
	unsigned drains;
	uint64_t corrupt;
	int kernel_frames;	/* the events carry kernel call chains */
	int started;		/* perf_sampler_new has returned */
	int revoked;		/* the kernel no longer lets us trace the target */
	struct perf_thread **threads;
	size_t nthreads, cap;
	char note[256];
};

static int sys_perf_event_open(struct perf_event_attr *attr, pid_t tid)
{
	return (int)syscall(SYS_perf_event_open, attr, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

static int read_paranoid(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	int level = 2;

	if (f != NULL) {
		if (fscanf(f, "%d", &level) != 1)
			level = 2;
		fclose(f);
	}
	return level;
}

/* How deep a kernel call chain is asked for: ours, or the system's limit if lower. */
static uint16_t kernel_stack_depth(void)
{
	FILE *f = fopen("/proc/sys/kernel/perf_event_max_stack", "re");
	int limit = SAMPLE_MAX_KERNEL;

	if (f != NULL) {
		if (fscanf(f, "%d", &limit) != 1)
			limit = SAMPLE_MAX_KERNEL;
		fclose(f);
	}
	if (limit < 0)
		limit = 0;
	return (uint16_t)(limit < SAMPLE_MAX_KERNEL ? limit : SAMPLE_MAX_KERNEL);
}

/* Fields are read in the order the kernel writes them for sample_type. */
int perf_sample_parse(const void *rec, size_t size, uint64_t sample_type, uint64_t regs_mask,
		      struct perf_sample *out)
{
	const struct perf_event_header *hdr = rec;
	const uint8_t *p = (const uint8_t *)rec + sizeof(*hdr);
	const uint8_t *end = (const uint8_t *)rec + size;

#define NEED(n) do { if ((size_t)(end - p) < (size_t)(n)) return -1; } while (0)
#define TAKE_U64(dst) do { NEED(8); memcpy(&(dst), p, 8); p += 8; } while (0)
	memset(out, 0, sizeof(*out));
	if (size < sizeof(*hdr))
		return -1;
	out->user = (hdr->misc & PERF_RECORD_MISC_CPUMODE_MASK) == PERF_RECORD_MISC_USER;
	if (sample_type & PERF_SAMPLE_IP)
		TAKE_U64(out->ip);
	if (sample_type & PERF_SAMPLE_TID) {
		uint32_t ids[2];

		NEED(8);
		memcpy(ids, p, 8);
		p += 8;
		out->pid = (pid_t)ids[0];
		out->tid = (pid_t)ids[1];
	}
	if (sample_type & PERF_SAMPLE_TIME)
		TAKE_U64(out->time);
	if (sample_type & (PERF_SAMPLE_ADDR | PERF_SAMPLE_ID | PERF_SAMPLE_STREAM_ID |
			   PERF_SAMPLE_CPU | PERF_SAMPLE_PERIOD | PERF_SAMPLE_READ |
			   PERF_SAMPLE_RAW | PERF_SAMPLE_BRANCH_STACK))
		return -1;	/* never requested: the layout below would be wrong */
	if (sample_type & PERF_SAMPLE_CALLCHAIN) {
		TAKE_U64(out->callchain_nr);
		if (out->callchain_nr > (size_t)(end - p) / 8)
			return -1;
		out->callchain = (const uint64_t *)(const void *)p;
		p += out->callchain_nr * 8;
	}
	if (sample_type & PERF_SAMPLE_REGS_USER) {
		TAKE_U64(out->regs_abi);
		if (out->regs_abi != 0) {
			size_t n = (size_t)__builtin_popcountll(regs_mask);

			NEED(n * 8);
			out->regs = (const uint64_t *)(const void *)p;
			out->regs_mask = regs_mask;
			p += n * 8;
		}
	}
	if (sample_type & PERF_SAMPLE_STACK_USER) {
		uint64_t sz, dyn;

		TAKE_U64(sz);
		if (sz != 0) {
			NEED(sz);
			out->stack = p;
			p += sz;
			TAKE_U64(dyn);
			out->stack_size = dyn < sz ? dyn : sz;
		}
	}
#undef TAKE_U64
#undef NEED
	return 0;
}

void perf_sample_to_sample(const struct perf_sample *ps, struct sample *out)
{
	uint64_t mask = ps->regs_mask;
	size_t j = 0;
	int kernel = 0;

	out->tid = ps->tid;
	out->time_ns = ps->time;
	out->in_kernel = !ps->user;
	out->state = SAMPLE_STATE_RUNNING;
	out->syscall = -1;
	out->has_regs = ps->regs != NULL;
	out->stack = ps->stack;
	out->stack_len = ps->stack_size;
	out->nkernel = 0;
	/*
	 * The chain is ours without its user part (exclude_callchain_user):
	 * a PERF_CONTEXT_KERNEL marker, then the interrupted instruction and
	 * the return addresses.  Other contexts (guest, user) are skipped.
	 */
	for (uint64_t i = 0; i < ps->callchain_nr && !ps->user; i++) {
		uint64_t ip = ps->callchain[i];

		if (ip >= PERF_CONTEXT_MAX)
			kernel = ip == PERF_CONTEXT_KERNEL;
		else if (kernel && out->nkernel < SAMPLE_MAX_KERNEL)
			out->kernel_pcs[out->nkernel++] = ip;
	}
	memset(out->regs, 0, sizeof(out->regs));
	if (!out->has_regs)
		return;
	/* perf packs the requested registers in ascending bit order. */
	for (int bit = 0; bit < REGS_COUNT && mask != 0; bit++) {
		if (mask & (1ull << bit)) {
			out->regs[bit] = ps->regs[j++];
			mask &= ~(1ull << bit);
		}
	}
}

static struct perf_thread *find_thread(struct perf_sampler *s, pid_t tid, size_t *index)
{
	for (size_t i = 0; i < s->nthreads; i++) {
		if (s->threads[i]->tid == tid) {
			if (index != NULL)
				*index = i;
			return s->threads[i];
		}
	}
	return NULL;
}

/* Side-band records lay out their fixed fields first; the tail is sample_id. */
struct rec_task {
	struct perf_event_header hdr;
	uint32_t pid, ppid, tid, ptid;
	uint64_t time;
};

struct rec_comm {
	struct perf_event_header hdr;
	uint32_t pid, tid;
	char comm[];
};

struct rec_mmap2 {
	struct perf_event_header hdr;
	uint32_t pid, tid;
	uint64_t addr, len, pgoff;
	uint32_t maj, min;
	uint64_t ino, ino_generation;
	uint32_t prot, flags;
	char filename[];
};

struct rec_lost {
	struct perf_event_header hdr;
	uint64_t id, lost;
};

/* A string field of a record must end inside it. */
static const char *record_string(const struct perf_event_header *hdr, const char *str)
{
	const char *end = (const char *)hdr + hdr->size;

	if (str >= end || memchr(str, '\0', (size_t)(end - str)) == NULL)
		return NULL;
	return str;
}

static void add_thread(struct perf_sampler *s, pid_t tid, struct error *err);

static void on_record(const struct perf_event_header *hdr, const void *rec, void *arg)
{
	struct perf_thread *th = arg;
	struct perf_sampler *s = th->owner;
	struct perf_sample sample;

	switch (hdr->type) {
	case PERF_RECORD_SAMPLE:
		if (perf_sample_parse(rec, hdr->size, th->sample_type, s->attr.sample_regs_user,
				      &sample) < 0) {
			s->corrupt++;
			return;
		}
		s->ops->sample(s->arg, &sample);
		break;
	case PERF_RECORD_FORK: {
		const struct rec_task *r = rec;
		struct error err;

		if (hdr->size < sizeof(*r) || (pid_t)r->pid != s->cfg.pid || r->tid == r->pid)
			return;
		error_clear(&err);
		add_thread(s, (pid_t)r->tid, &err);
		break;
	}
	case PERF_RECORD_EXIT: {
		const struct rec_task *r = rec;

		if (hdr->size >= sizeof(*r) && (pid_t)r->pid == s->cfg.pid)
			s->ops->thread_exit(s->arg, (pid_t)r->tid);
		break;
	}
	case PERF_RECORD_COMM: {
		const struct rec_comm *r = rec;
		const char *comm;

		if (hdr->size < sizeof(*r) || (pid_t)r->pid != s->cfg.pid)
			return;
		comm = record_string(hdr, r->comm);
		if (comm != NULL)
			s->ops->comm(s->arg, (pid_t)r->tid, comm,
				     (hdr->misc & PERF_RECORD_MISC_COMM_EXEC) != 0);
		break;
	}
	case PERF_RECORD_MMAP2: {
		const struct rec_mmap2 *r = rec;
		struct perf_mmap_event m;

		if (hdr->size < sizeof(*r) || (pid_t)r->pid != s->cfg.pid)
			return;
		m = (struct perf_mmap_event){
			.pid = (pid_t)r->pid, .tid = (pid_t)r->tid, .start = r->addr,
			.len = r->len, .pgoff = r->pgoff, .maj = r->maj, .min = r->min,
			.ino = r->ino, .prot = r->prot, .flags = r->flags,
			.path = record_string(hdr, r->filename),
		};
		if (m.path != NULL)
			s->ops->mmap(s->arg, &m);
		break;
	}
	case PERF_RECORD_LOST: {
		const struct rec_lost *r = rec;

		if (hdr->size >= sizeof(*r))
			s->ops->lost(s->arg, r->lost);
		break;
	}
	case PERF_RECORD_LOST_SAMPLES: {
		uint64_t lost;

		if (hdr->size >= sizeof(*hdr) + 8) {
			memcpy(&lost, (const uint8_t *)rec + sizeof(*hdr), 8);
			s->ops->lost(s->arg, lost);
		}
		break;
	}
	default:
		break;
	}
}

static void drain_thread(struct perf_thread *th)
{
	perf_ring_drain(&th->ring, on_record, th, &th->owner->corrupt);
}

static void close_thread(struct perf_sampler *s, struct perf_thread *th)
{
	size_t i;

	loop_del(s->loop, th->fd);
	munmap(th->map, th->map_len);
	close(th->fd);
	perf_ring_release(&th->ring);
	if (find_thread(s, th->tid, &i) == th)
		s->threads[i] = s->threads[--s->nthreads];
	free(th);
}

/*
 * A ring becomes readable at the wakeup watermark and hangs up once its
 * thread is gone; in that case whatever the thread left is read first.
 */
static void on_ring(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct perf_thread *th = arg;

	(void)loop;
	(void)fd;
	drain_thread(th);
	if (events & (EPOLLHUP | EPOLLERR)) {
		struct perf_sampler *s = th->owner;
		pid_t tid = th->tid;

		close_thread(s, th);
		/*
		 * An event opened while its thread was exiting never sees the
		 * EXIT record: the hang-up is then the only word of the end.
		 */
		s->ops->thread_exit(s->arg, tid);
	}
}

/*
 * Opens the event for one thread, degrading if refused: first without
 * kernel call chains, then to user-only ticks.  Later threads open with
 * what the first one got.
 */
static int open_event(struct perf_sampler *s, pid_t tid, struct error *err)
{
	int fd = sys_perf_event_open(&s->attr, tid);

	if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EOVERFLOW) &&
	    s->kernel_frames) {
		int why = errno;

		s->attr.sample_type &= ~(uint64_t)PERF_SAMPLE_CALLCHAIN;
		s->attr.exclude_callchain_user = 0;
		s->attr.sample_max_stack = 0;
		s->kernel_frames = 0;
		fd = sys_perf_event_open(&s->attr, tid);
		if (fd >= 0) {
			snprintf(s->note, sizeof(s->note),
				 "no kernel frames: their call chains were refused (%s; "
				 "perf_event_paranoid=%d); run as root to see them",
				 strerror(why), read_paranoid());
			log_info("%s", s->note);
		}
	}
	if (fd < 0 && (errno == EACCES || errno == EPERM) && !s->attr.exclude_kernel) {
		s->attr.exclude_kernel = 1;
		fd = sys_perf_event_open(&s->attr, tid);
		if (fd >= 0) {
			snprintf(s->note, sizeof(s->note),
				 "ticks in kernel mode are not sampled (perf_event_paranoid=%d); "
				 "run as root to include them", read_paranoid());
			log_warn("%s", s->note);
		}
	}
	if (fd < 0) {
		int e = errno;

		if (e == EACCES || e == EPERM)
			error_set(err, e,
				  "perf_event_open refused for thread %d (perf_event_paranoid=%d, "
				  "or a seccomp filter)", (int)tid, read_paranoid());
		else if (e == EMFILE || e == ENFILE)
			error_set(err, e, "perf_event_open for thread %d: raise the open-file limit",
				  (int)tid);
		else
			error_set(err, e, "perf_event_open for thread %d", (int)tid);
		errno = e;
	}
	return fd;
}

/*
 * After an execve of a set-user-ID program (or one with file capabilities)
 * the kernel stops our events and refuses new ones: the target is no longer
 * ours to trace.  Retrying would only fill the log once a second, so this
 * is said once, sampling stops, and what was sampled before is kept.
 */
static void access_revoked(struct perf_sampler *s, pid_t tid)
{
	char path[64], exe[256];

	snprintf(path, sizeof(path), "/proc/%d/exe", (int)s->cfg.pid);
	if (readlink(path, exe, sizeof(exe)) >= 0 || (errno != EACCES && errno != EPERM))
		return;
	s->revoked = 1;
	snprintf(s->note, sizeof(s->note),
		 "sampling stopped: pid %d now runs a program uid %u may not trace "
		 "(set-user-ID or with file capabilities); the samples before are kept",
		 (int)s->cfg.pid, (unsigned)geteuid());
	log_warn("%s (thread %d)", s->note, (int)tid);
	if (s->ops->revoked != NULL)
		s->ops->revoked(s->arg, s->note);
}

/* Starts sampling one thread; a thread that vanished meanwhile is no error. */
static void add_thread(struct perf_sampler *s, pid_t tid, struct error *err)
{
	struct perf_thread *th;
	size_t len = s->page_size + s->cfg.ring_bytes;
	uint64_t sample_type;
	void *map;
	int fd;

	if (s->revoked || find_thread(s, tid, NULL) != NULL)
		return;
	fd = open_event(s, tid, err);
	if (fd < 0) {
		if (s->started && (errno == EACCES || errno == EPERM))
			access_revoked(s, tid);
		if (errno != ESRCH && !s->revoked)
			log_warn("%s", err->msg);
		return;
	}
	sample_type = s->attr.sample_type;
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		error_set(err, errno,
			  "mapping a %zu KiB perf ring for thread %d (see perf_event_mlock_kb, "
			  "or lower --buffer-size)", s->cfg.ring_bytes / 1024, (int)tid);
		log_warn("%s", err->msg);
		close(fd);
		return;
	}
	th = mem_zalloc(sizeof(*th));
	th->tid = tid;
	th->fd = fd;
	th->sample_type = sample_type;
	th->map = map;
	th->map_len = len;
	th->owner = s;
	perf_ring_init(&th->ring, map, s->page_size, s->cfg.ring_bytes);
	if (loop_add(s->loop, fd, EPOLLIN, on_ring, th, err) < 0) {
		log_warn("%s", err->msg);
		munmap(map, len);
		close(fd);
		perf_ring_release(&th->ring);
		free(th);
		return;
	}
	s->threads = mem_grow(s->threads, &s->cap, s->nthreads + 1, sizeof(*s->threads));
	s->threads[s->nthreads++] = th;
	s->ops->thread_start(s->arg, tid);
}

void perf_sampler_scan(struct perf_sampler *s)
{
	struct error err;
	pid_t *tids;
	size_t n;

	error_clear(&err);
	if (target_threads(s->cfg.pid, &tids, &n, &err) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		add_thread(s, tids[i], &err);
	free(tids);
}

void perf_sampler_drain(struct perf_sampler *s)
{
	/* Draining can add threads (FORK), so index rather than iterate pointers. */
	for (size_t i = 0; i < s->nthreads; i++)
		drain_thread(s->threads[i]);
}

static void on_timer(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct perf_sampler *s = arg;
	uint64_t ticks;

	(void)loop;
	(void)events;
	if (read(fd, &ticks, sizeof(ticks)) < 0 && errno != EAGAIN)
		log_warn("reading the drain timer: %s", strerror(errno));
	perf_sampler_drain(s);
	if (++s->drains % SCAN_EVERY_DRAINS == 0)
		perf_sampler_scan(s);
}

/* Raises the soft open-file limit: one fd per sampled thread adds up. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct perf_sampler *perf_sampler_new(const struct perf_sampler_config *cfg, struct loop *loop,
				      const struct perf_sampler_ops *ops, void *arg,
				      struct error *err)
{
	struct itimerspec its = { 0 };
	struct perf_sampler *s;
	pid_t *tids = NULL;
	uint16_t depth = 0;
	size_t n = 0;

	if (cfg->rate_hz == 0 || cfg->ring_bytes == 0 ||
	    (cfg->ring_bytes & (cfg->ring_bytes - 1)) != 0) {
		error_set(err, EINVAL, "invalid sampler configuration");
		return NULL;
	}
	raise_nofile();
	s = mem_zalloc(sizeof(*s));
	s->cfg = *cfg;
	s->loop = loop;
	s->ops = ops;
	s->arg = arg;
	s->page_size = (size_t)sysconf(_SC_PAGESIZE);
	s->timerfd = -1;

	s->attr.size = sizeof(s->attr);
	s->attr.type = PERF_TYPE_SOFTWARE;
	s->attr.config = PERF_COUNT_SW_CPU_CLOCK;
	s->attr.sample_period = 1000000000ull / cfg->rate_hz;
	s->attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
	if (cfg->regs_mask != 0) {
		s->attr.sample_type |= PERF_SAMPLE_REGS_USER;
		s->attr.sample_regs_user = cfg->regs_mask;
	}
	if (cfg->stack_bytes != 0) {
		s->attr.sample_type |= PERF_SAMPLE_STACK_USER;
		s->attr.sample_stack_user = cfg->stack_bytes;
	}
	/*
	 * Kernel ticks are always counted (exclude_kernel stays 0 unless
	 * refused), and with kernel frames on they carry the kernel's own call
	 * chain; the user part of the stack comes from our unwinding of the
	 * copied stack, so the kernel does not walk it.
	 */
	if (cfg->kernel_frames)
		depth = kernel_stack_depth();
	if (depth > 0) {
		s->attr.sample_type |= PERF_SAMPLE_CALLCHAIN;
		s->attr.exclude_callchain_user = 1;
		s->attr.sample_max_stack = depth;
		s->kernel_frames = 1;
	}
	s->attr.exclude_hv = 1;
	s->attr.mmap = 1;
	s->attr.mmap2 = 1;
	s->attr.comm = 1;
	s->attr.comm_exec = 1;
	s->attr.task = 1;
	s->attr.sample_id_all = 1;
	s->attr.use_clockid = 1;
	s->attr.clockid = CLOCK_MONOTONIC;
	if (cfg->wake_every_sample) {
		s->attr.wakeup_events = 1;
	} else {
		s->attr.watermark = 1;
		/* A quarter full: room for three times as much while we come. */
		s->attr.wakeup_watermark = (uint32_t)(cfg->ring_bytes / 4);
	}

	if (target_threads(cfg->pid, &tids, &n, err) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++)
		add_thread(s, tids[i], err);
	free(tids);
	if (s->nthreads == 0) {
		if (err->msg[0] == '\0')
			error_set(err, 0, "pid %d has no thread left to sample", (int)cfg->pid);
		goto fail;
	}
	error_clear(err);
	s->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (s->timerfd < 0) {
		error_set(err, errno, "timerfd_create");
		goto fail;
	}
	its.it_interval.tv_nsec = DRAIN_INTERVAL_MS * 1000000L;
	its.it_value = its.it_interval;
	if (timerfd_settime(s->timerfd, 0, &its, NULL) < 0) {
		error_set(err, errno, "timerfd_settime");
		goto fail;
	}
	if (loop_add(loop, s->timerfd, EPOLLIN, on_timer, s, err) < 0)
		goto fail;
	s->started = 1;
	return s;
fail:
	perf_sampler_free(s);
	return NULL;
}

void perf_sampler_free(struct perf_sampler *s)
{
	if (s == NULL)
		return;
	perf_sampler_drain(s);
	while (s->nthreads > 0)
		close_thread(s, s->threads[s->nthreads - 1]);
	if (s->timerfd >= 0) {
		loop_del(s->loop, s->timerfd);
		close(s->timerfd);
	}
	free(s->threads);
	free(s);
}

size_t perf_sampler_threads(const struct perf_sampler *s)
{
	return s->nthreads;
}

const char *perf_sampler_note(const struct perf_sampler *s)
{
	return s->note;
}

int perf_sampler_kernel_frames(const struct perf_sampler *s)
{
	return s->kernel_frames;
}

uint64_t perf_sampler_corrupt(const struct perf_sampler *s)
{
	return s->corrupt;
}

/* Disables or enables every event; later events open as attr.disabled says. */
void perf_sampler_pause(struct perf_sampler *s, int paused)
{
	unsigned long req = paused ? PERF_EVENT_IOC_DISABLE : PERF_EVENT_IOC_ENABLE;

	s->attr.disabled = paused != 0;
	for (size_t i = 0; i < s->nthreads; i++) {
		if (ioctl(s->threads[i]->fd, req, 0) < 0)
			log_warn("%s the perf event of thread %d: %s",
				 paused ? "disabling" : "enabling", (int)s->threads[i]->tid,
				 strerror(errno));
	}
	if (paused)
		perf_sampler_drain(s);
	else
		perf_sampler_scan(s);
}
