/*
 * sampled: the profiler daemon.  This file parses the command line and
 * wires the modules together: the target, the event loop, the sampler, the
 * profile it feeds, and the server that answers samplectl.  The wiring
 * (struct daemon) is the only process-wide state.
 */
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <sys/utsname.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <elfutils/version.h>
#include <libunwind.h>

#include "dump_text.h"
#include "log.h"
#include "loop.h"
#include "mem.h"
#include "options.h"
#include "paths.h"
#include "profile/profile.h"
#include "sample/launch.h"
#include "sample/perf_sampler.h"
#include "sample/procconn.h"
#include "sample/ptrace_sampler.h"
#include "sample/target.h"
#include "serve/dump.h"
#include "serve/report.h"
#include "serve/rundir.h"
#include "serve/server.h"
#include "serve/service.h"
#include "serve/treejobs.h"
#include "symbols/kallsyms.h"
#include "symbols/sigbus.h"
#include "unwind/unwind.h"
#include "version.h"


/* How long a dynamic loader takes to map a program's libraries after execve, at most. */
#define EXEC_SETTLE_NS (20 * 1000000ull)

struct daemon {
	struct options opt;
	struct rundir *rundir;	/* the socket's directory and lock (serve/rundir.h) */
	const char *socket_path;
	const char *log_path;
	FILE *log_file;
	int launcher;		/* this process only started the daemon: its files stay */
	struct loop *loop;
	struct target *target;
	struct profile *profile;
	struct perf_sampler *sampler;		/* cpu mode */
	struct ptrace_sampler *tracer;		/* wall mode, or cpu mode without perf */
	char sampler_note[600];
	char kernel_note[256];	/* why kernel frames are off, or "" */
	struct procconn *procconn;	/* NULL without CAP_NET_ADMIN */
	struct server *server;
	struct treejobs *jobs;	/* tree replies built off the loop */
	struct service_parts parts;
	struct service_control control;	/* pause, resume and reset, for the service */
	int sigfd;
	int ready_fd;		/* write end of the start-up pipe, -1 once ready */
	uint64_t reread_maps_ns;	/* ptrace: read the maps again at a sample from then, 0 never */
	/* One-shot runs (record, attach --duration); see finish_oneshot. */
	struct launch *launch;	/* record: the command */
	char *title;		/* record: main's argument area, for the held command */
	size_t title_len;
	int duration_fd;	/* attach --duration: its timerfd, -1 without */
	int sampling_done;	/* the samplers are closed: the target ended, or time is up */
	int status_pending;	/* record: the command's exit status is still to come */
	struct report *report;	/* samplectl writing the outputs */
	int finishing;		/* the outputs are being written */
	int exit_code;
};

static void on_sample(void *arg, const struct perf_sample *ps)
{
	struct daemon *d = arg;
	struct sample s;

	perf_sample_to_sample(ps, &s);
	profile_sample(d->profile, &s);
}

static void on_thread_start(void *arg, pid_t tid)
{
	struct daemon *d = arg;

	profile_thread_start(d->profile, tid);
}

static void on_thread_exit(void *arg, pid_t tid)
{
	struct daemon *d = arg;

	profile_thread_exit(d->profile, tid);
}

static void on_comm(void *arg, pid_t tid, const char *comm, int exec)
{
	struct daemon *d = arg;

	/* A target already gone has no maps left to read again: its last records come after its exit. */
	if (exec && !target_exited(d->target))
		profile_exec(d->profile);
	profile_thread_name(d->profile, tid, comm);
}

static void on_mmap(void *arg, const struct perf_mmap_event *m)
{
	struct daemon *d = arg;

	profile_mmap(d->profile, m);
}

static void on_lost(void *arg, uint64_t n)
{
	struct daemon *d = arg;

	profile_lost(d->profile, n);
}

/* Status shows the sampler's note: from now on it is the one that says sampling ended. */
static void on_revoked(void *arg, const char *note)
{
	struct daemon *d = arg;

	snprintf(d->sampler_note, sizeof(d->sampler_note), "%s", note);
}

static void on_traced_sample(void *arg, const struct sample *s)
{
	struct daemon *d = arg;

	if (d->reread_maps_ns != 0 && s->time_ns >= d->reread_maps_ns) {
		d->reread_maps_ns = 0;
		profile_exec(d->profile);
	}
	profile_sample(d->profile, s);
}

/*
 * ptrace reports an execve before the new program's loader has mapped its
 * libraries (libc, libpython), and, unlike perf events, never reports
 * those mappings: the maps are read again (and Python looked for again)
 * with the first sample taken once the loader is done.
 */
static void on_exec(void *arg)
{
	struct daemon *d = arg;

	profile_exec(d->profile);
	d->reread_maps_ns = target_mono_ns() + EXEC_SETTLE_NS;
}

static const struct ptrace_sampler_ops tracer_ops = {
	.sample = on_traced_sample,
	.thread_start = on_thread_start,
	.thread_exit = on_thread_exit,
	.exec = on_exec,
	.lost = on_lost,
};

static const struct perf_sampler_ops sampler_ops = {
	.sample = on_sample,
	.thread_start = on_thread_start,
	.thread_exit = on_thread_exit,
	.comm = on_comm,
	.mmap = on_mmap,
	.lost = on_lost,
	.revoked = on_revoked,
};

static void stop_sampling(struct daemon *d);
static void finish_oneshot(struct daemon *d);

/* A one-shot run stops sampling and still ends with its output (record: at its command's end). */
static void on_stop_request(void *arg)
{
	struct daemon *d = arg;

	log_info("stop requested by a client");
	if (options_oneshot(&d->opt)) {
		stop_sampling(d);
		finish_oneshot(d);
		return;
	}
	loop_stop(d->loop);
}

static enum server_handled on_request(void *arg, const Sampled__Request *req,
				      Sampled__Response *resp, uint64_t ticket)
{
	struct daemon *d = arg;

	return service_handle(&d->parts, req, resp, ticket);
}

/* A tree reply built off the loop goes to the client that asked. */
static void on_tree_built(void *arg, uint64_t ticket, uint8_t *frame, size_t len)
{
	struct daemon *d = arg;

	server_reply(d->server, ticket, frame, len);
}

static void on_response_sent(void *arg, Sampled__Response *resp)
{
	struct daemon *d = arg;

	service_release(&d->parts, resp);
}

/*
 * samplectl pause and resume.  Disabled perf events report no mappings, so
 * at resume the maps are read again (as after an execve, which may have
 * happened too).
 */
static int on_set_paused(void *arg, int paused, struct error *err)
{
	struct daemon *d = arg;

	if (d->sampling_done || (d->sampler == NULL && d->tracer == NULL)) {
		error_set(err, 0, "sampling has ended%s: there is nothing to %s",
			  target_exited(d->target) ? " (the target exited)" : "",
			  paused ? "pause" : "resume");
		return -1;
	}
	if (d->tracer != NULL)
		return ptrace_sampler_pause(d->tracer, paused, err);
	perf_sampler_pause(d->sampler, paused);
	if (!paused && !target_exited(d->target))
		profile_exec(d->profile);
	return 0;
}

/* samplectl reset: the samples waiting in the rings belong to the profile being emptied. */
static void on_drain(void *arg)
{
	struct daemon *d = arg;

	if (d->sampler != NULL)
		perf_sampler_drain(d->sampler);
}

static const struct server_ops server_ops = {
	.handle = on_request,
	.release = on_response_sent,
	.stop = on_stop_request,
};

/* Closes the samplers, reading what their rings still hold first; the profile stays served. */
static void stop_sampling(struct daemon *d)
{
	if (d->sampler != NULL) {
		perf_sampler_drain(d->sampler);
		perf_sampler_free(d->sampler);
		d->sampler = NULL;
	}
	if (d->tracer != NULL) {
		uint64_t stops;

		ptrace_sampler_stop_stats(d->tracer, &d->parts.stop_median_ns, &d->parts.stop_p99_ns,
					  &stops);
		ptrace_sampler_free(d->tracer);
		d->tracer = NULL;
	}
	d->sampling_done = 1;
}

/* record's exit code is its command's; attach --duration's says whether the output was written. */
static void on_report_done(void *arg, int ok)
{
	struct daemon *d = arg;

	if (d->launch == NULL)
		d->exit_code = ok ? 0 : 1;
	loop_stop(d->loop);
}

/*
 * A one-shot run ends once sampling is over (the target exited, or the
 * duration passed, or a signal cut it short) and, for record, the
 * command's exit status is known.  Then samplectl, run against our own
 * socket while the loop serves it, writes -o FILE and prints the tree
 * (report.h); the loop stops when it is done.
 */
static void finish_oneshot(struct daemon *d)
{
	struct report_config rc = {
		.socket_path = d->socket_path,
		.output = d->opt.output,
		/* record prints its tree, as pyinstrument does; --duration unless it writes a file */
		.print_tree = d->launch != NULL || d->opt.output == NULL,
	};
	struct error err;

	if (!options_oneshot(&d->opt) || !d->sampling_done || d->status_pending || d->finishing)
		return;
	d->finishing = 1;
	if (d->launch != NULL && d->opt.python == PROFILE_PYTHON_ON && !profile_has_python(d->profile))
		log_warn("--python on: %s", profile_python_note(d->profile));
	error_clear(&err);
	d->report = report_start(d->loop, &rc, on_report_done, d, &err);
	if (d->report == NULL) {
		log_error("%s", err.msg);
		if (d->launch == NULL)
			d->exit_code = 1;
		loop_stop(d->loop);
	}
}

/*
 * record passes signals on to its command, the way a shell does, and the
 * command decides how to end: one sent to sampled alone is forwarded
 * (through the pidfd, so never to a recycled pid); one from the terminal
 * (SI_KERNEL) went to the whole foreground process group and reached the
 * command already.  attach --duration takes a signal as the end of the
 * sampling and still writes its output.  Returns 1 when the signal was
 * dealt with so.
 */
static int oneshot_signal(struct daemon *d, const struct signalfd_siginfo *si)
{
	if (d->launch != NULL && !target_exited(d->target)) {
		if (si->ssi_code != SI_KERNEL &&
		    syscall(SYS_pidfd_send_signal, target_pidfd(d->target), (int)si->ssi_signo, NULL,
			    0) < 0)
			log_warn("passing signal %u on to the command: %s", si->ssi_signo,
				 strerror(errno));
		return 1;
	}
	if (d->opt.duration_ns != 0 && !d->sampling_done) {
		log_info("received signal %u (%s): ending the sampling early", si->ssi_signo,
			 strsignal((int)si->ssi_signo));
		stop_sampling(d);
		finish_oneshot(d);
		return 1;
	}
	return 0;
}

/* record: the reaper tells how the command ended. */
static void on_command_status(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct daemon *d = arg;
	int status, r = launch_read_status(d->launch, &status);

	(void)events;
	if (r == 0)
		return;
	loop_del(loop, fd);
	d->status_pending = 0;
	if (r > 0) {
		target_set_exit_status(d->target, status);
		d->exit_code = launch_exit_code(status);
	} else {
		log_warn("the exit status of the command is unknown");
		d->exit_code = 1;
	}
	finish_oneshot(d);
}

/* attach --duration: the time is up. */
static void on_duration(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct daemon *d = arg;

	(void)events;
	loop_del(loop, fd);
	if (d->sampling_done)
		return;
	log_info("sampled pid %d for the duration asked: detaching", (int)d->opt.pid);
	stop_sampling(d);
	finish_oneshot(d);
}

/* record lets its command run now that it is sampled; attach --duration starts its clock. */
static int start_oneshot(struct daemon *d, struct error *err)
{
	struct itimerspec its = { 0 };

	if (d->launch != NULL) {
		if (launch_release(d->launch, &d->exit_code, err) < 0)
			return -1;
		d->status_pending = 1;
		return loop_add(d->loop, launch_status_fd(d->launch), EPOLLIN, on_command_status, d,
				err);
	}
	if (d->opt.duration_ns == 0)
		return 0;
	d->duration_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	its.it_value.tv_sec = (time_t)(d->opt.duration_ns / 1000000000u);
	its.it_value.tv_nsec = (long)(d->opt.duration_ns % 1000000000u);
	if (d->duration_fd < 0 || timerfd_settime(d->duration_fd, 0, &its, NULL) < 0) {
		error_set(err, errno, "setting the --duration timer");
		return -1;
	}
	return loop_add(d->loop, d->duration_fd, EPOLLIN, on_duration, d, err);
}

/* A launched command: its pid becomes the target's, held until start_oneshot. */
static int start_command(struct daemon *d, struct error *err)
{
	struct launch_config cfg = {
		.argv = d->opt.run_argv,
		.title = d->title,
		.title_len = d->title_len,
	};

	d->launch = launch_new(&cfg, err);
	if (d->launch == NULL)
		return -1;
	d->opt.pid = launch_pid(d->launch);
	return 0;
}

static void on_signal(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct daemon *d = arg;
	struct signalfd_siginfo si;

	(void)events;
	if (read(fd, &si, sizeof(si)) != sizeof(si))
		return;
	if (oneshot_signal(d, &si))
		return;
	log_info("received signal %u (%s): shutting down", si.ssi_signo, strsignal((int)si.ssi_signo));
	loop_stop(loop);
}

/* The target ended: read what its threads left in the rings, then keep serving. */
static void on_target_exit(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct daemon *d = arg;
	int status;

	(void)events;
	loop_del(loop, fd);
	if (d->procconn != NULL && procconn_read(d->procconn, &status))
		target_set_exit_status(d->target, status);
	target_note_exit(d->target);
	stop_sampling(d);
	if (target_exit_status(d->target, &status))
		log_info("target %d exited (wait status 0x%x); still serving its profile",
			 (int)target_pid(d->target), status);
	else
		log_info("target %d exited; still serving its profile", (int)target_pid(d->target));
	finish_oneshot(d);
}

static void on_procconn(struct loop *loop, int fd, uint32_t events, void *arg)
{
	struct daemon *d = arg;
	int status;

	(void)loop;
	(void)fd;
	(void)events;
	if (procconn_read(d->procconn, &status))
		target_set_exit_status(d->target, status);
}

/* Exit statuses come from the process connector where we may use it. */
static void watch_exit_status(struct daemon *d)
{
	struct error err;

	error_clear(&err);
	d->procconn = procconn_open(d->opt.pid, &err);
	if (d->procconn == NULL) {
		log_info("%s: the target's exit status may stay unknown", err.msg);
		return;
	}
	if (loop_add(d->loop, procconn_fd(d->procconn), EPOLLIN, on_procconn, d, &err) < 0) {
		log_warn("%s", err.msg);
		procconn_free(d->procconn);
		d->procconn = NULL;
	}
}

static void log_environment(void)
{
	struct utsname un;
	char buf[32];
	FILE *f;

	if (uname(&un) == 0)
		log_info("kernel %s %s", un.release, un.machine);
	log_info("sampled %s, libunwind %d.%d, elfutils 0.%d, protobuf-c %s", SAMPLED_VERSION,
		 UNW_VERSION_MAJOR, UNW_VERSION_MINOR, _ELFUTILS_VERSION,
		 protobuf_c_version());
	f = fopen("/proc/sys/kernel/perf_event_paranoid", "re");
	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL)
			log_info("perf_event_paranoid %s", strtok(buf, "\n"));
		fclose(f);
	}
	f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	if (f != NULL) {
		if (fgets(buf, sizeof(buf), f) != NULL)
			log_info("ptrace_scope %s", strtok(buf, "\n"));
		fclose(f);
	} else {
		log_info("ptrace_scope: no Yama on this kernel");
	}
}

/* Signals become loop events; SIGPIPE is ignored (writes use MSG_NOSIGNAL anyway). */
static int setup_signals(struct daemon *d, struct error *err)
{
	sigset_t set;

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &set, NULL) < 0) {
		error_set(err, errno, "sigprocmask");
		return -1;
	}
	d->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0) {
		error_set(err, errno, "signalfd");
		return -1;
	}
	return loop_add(d->loop, d->sigfd, EPOLLIN, on_signal, d, err);
}

/*
 * wall mode samples every thread with ptrace.  cpu mode uses perf events;
 * where the kernel refuses them (perf_event_paranoid, a seccomp filter, a
 * container), it falls back to ptrace, sampling only the threads found
 * running, and says so in status.
 */
static int start_sampler(struct daemon *d, const struct perf_sampler_config *cfg,
			 struct error *err)
{
	struct ptrace_sampler_config tcfg = {
		.pid = d->opt.pid,
		.rate_hz = d->opt.rate_hz,
		.stack_bytes = d->opt.stack_bytes,
		.only_running = !d->opt.wall,
	};
	struct error why;

	if (!d->opt.wall) {
		error_clear(&why);
		d->sampler = perf_sampler_new(cfg, d->loop, &sampler_ops, d, &why);
		if (d->sampler != NULL) {
			const char *note = perf_sampler_note(d->sampler);

			snprintf(d->sampler_note, sizeof(d->sampler_note), "%s%s%s", d->kernel_note,
				 d->kernel_note[0] != '\0' && note[0] != '\0' ? "; " : "", note);
			return 0;
		}
		if (why.errnum != EACCES && why.errnum != EPERM && why.errnum != ENOSYS) {
			*err = why;
			return -1;
		}
		snprintf(d->sampler_note, sizeof(d->sampler_note),
			 "fell back to ptrace, sampling running threads: %s", why.msg);
		log_warn("%s", d->sampler_note);
	}
	d->tracer = ptrace_sampler_new(&tcfg, d->loop, &tracer_ops, d, err);
	if (d->tracer == NULL)
		return -1;
	/* The threads are traced: dumps are served from their latest samples. */
	profile_keep_last(d->profile, 1);
	/*
	 * A stopped thread waits for the daemon to run: on a busy machine the
	 * daemon's own scheduling latency becomes the target's stop time.
	 */
	if (setpriority(PRIO_PROCESS, 0, -10) < 0)
		log_info("cannot raise the daemon's priority (%s): stops may last longer "
			 "on a busy machine", strerror(errno));
	return 0;
}

/*
 * A ring must hold what arrives while the daemon is busy or not scheduled:
 * every sample carries the whole stack copy, so an eighth of a second at
 * the rate, within bounds (the rings are locked memory, one per thread).
 */
static size_t ring_size(const struct options *o)
{
	size_t want = (size_t)o->rate_hz * (o->stack_bytes + 512) / 8, size;

	if (o->buffer_bytes != 0)
		return o->buffer_bytes;
	for (size = OPTIONS_MIN_AUTO_BUFFER; size < want && size < OPTIONS_MAX_AUTO_BUFFER;
	     size *= 2)
		;
	return size;
}

/*
 * Kernel frames that could not be named would be no better than one
 * [kernel] frame, so they are asked for only when /proc/kallsyms shows
 * addresses; otherwise the note says why they are off.
 */
static int kernel_frames_nameable(struct daemon *d)
{
	struct error why;

	error_clear(&why);
	if (kallsyms_readable(&why))
		return 1;
	snprintf(d->kernel_note, sizeof(d->kernel_note), "no kernel frames: %.200s", why.msg);
	log_info("%s", d->kernel_note);
	return 0;
}

/* Everything after the fork: socket, sampler, and the loop until stopped. */
static int serve(struct daemon *d, struct error *err)
{
	struct perf_sampler_config cfg = {
		.pid = d->opt.pid,
		.rate_hz = d->opt.rate_hz,
		.ring_bytes = ring_size(&d->opt),
		.stack_bytes = d->opt.stack_bytes,
		.regs_mask = REGS_PERF_MASK,
		.kernel_frames = !d->opt.no_kernel,
	};
	struct profile_config pcfg = {
		/* Its memory and files, even when its main thread has exited. */
		.pid = target_proc_pid(d->target),
		.python = d->opt.python,
		.python_internals = d->opt.python_internals,
		.no_demangle = d->opt.no_demangle,
		.no_lines = d->opt.no_lines,
		.window_bucket_ns = d->opt.window_bucket_ns,
		.window_memory = d->opt.window_memory,
		.max_nodes = d->opt.max_nodes,
	};
	int listen_fd;

	d->loop = loop_new(err);
	if (d->loop == NULL)
		return -1;
	cfg.kernel_frames = cfg.kernel_frames && kernel_frames_nameable(d);
	if (setup_signals(d, err) < 0 || sigbus_guard_install(err) < 0)
		return -1;
	/* A held command is not yet what it will run: Python is looked for at its execve. */
	if (d->launch != NULL && pcfg.python == PROFILE_PYTHON_ON)
		pcfg.python = PROFILE_PYTHON_AUTO;
	d->profile = profile_new(&pcfg, err);
	if (d->profile == NULL)
		return -1;
	cfg.wake_every_sample = profile_has_python(d->profile) ||
				(d->launch != NULL && d->opt.python != PROFILE_PYTHON_OFF);
	listen_fd = rundir_listen(d->rundir, err);
	if (listen_fd < 0)
		return -1;
	d->server = server_new(d->loop, listen_fd, &server_ops, d, err);
	if (d->server == NULL)
		return -1;
	d->jobs = treejobs_new(d->loop, on_tree_built, d, err);
	if (d->jobs == NULL)
		return -1;
	if (start_sampler(d, &cfg, err) < 0) {
		error_prefix(err, "cannot sample pid %d: ", (int)d->opt.pid);
		return -1;
	}
	watch_exit_status(d);
	if (loop_add(d->loop, target_pidfd(d->target), EPOLLIN, on_target_exit, d, err) < 0)
		return -1;
	d->parts = (struct service_parts){
		.target = d->target,
		.profile = d->profile,
		.tracer = &d->tracer,
		.sampler_note = d->sampler_note,
		.socket_path = d->socket_path,
		.mode = d->opt.wall ? "wall" : "cpu",
		.sampler_name = d->sampler != NULL ? "perf cpu-clock" : "ptrace",
		.kernel_frames = d->sampler != NULL && perf_sampler_kernel_frames(d->sampler),
		.rate_hz = d->opt.rate_hz,
		.stack_bytes = d->opt.stack_bytes,
		.started_ns = target_now_ns(),
		.started_mono_ns = target_mono_ns(),
		.control = &d->control,
		.jobs = d->jobs,
	};
	d->control = (struct service_control){
		.set_paused = on_set_paused,
		.drain = on_drain,
		.arg = d,
		.profile_mono_ns = d->parts.started_mono_ns,
	};
	if (start_oneshot(d, err) < 0)
		return -1;
	log_info("attached to pid %d (%s) at %u Hz in %s mode with %s; serving %s",
		 (int)d->opt.pid, target_comm(d->target), d->opt.rate_hz, d->parts.mode,
		 d->parts.sampler_name, d->socket_path);
	if (d->ready_fd >= 0) {
		if (write(d->ready_fd, "R", 1) != 1)
			log_warn("telling the launcher we are ready: %s", strerror(errno));
		close(d->ready_fd);
		d->ready_fd = -1;
	} else if (!options_oneshot(&d->opt)) {
		printf("%s\n", d->socket_path);
		fflush(stdout);
	}
	return loop_run(d->loop, err);
}

static void teardown(struct daemon *d)
{
	report_free(d->report);
	launch_free(d->launch);
	if (d->duration_fd >= 0) {
		loop_del(d->loop, d->duration_fd);
		close(d->duration_fd);
	}
	perf_sampler_free(d->sampler);
	ptrace_sampler_free(d->tracer);
	/* The jobs first: a finished one would call into the server. */
	treejobs_free(d->jobs);
	server_free(d->server);
	if (d->procconn != NULL)
		loop_del(d->loop, procconn_fd(d->procconn));
	procconn_free(d->procconn);
	if (d->sigfd >= 0)
		close(d->sigfd);
	loop_free(d->loop);
	profile_free(d->profile);
	target_free(d->target);
	rundir_free(d->rundir, !d->launcher);
	if (d->log_file != NULL)
		fclose(d->log_file);
}

/*
 * A daemon must not hold what its launcher's caller left open: the write
 * end of a pipe a script waits to see closed, a FIFO, a socket.  Every
 * descriptor above stderr goes, but for the ones the daemon keeps.
 */
static void close_inherited(const int *keep, size_t nkeep)
{
	struct dirent *de;
	DIR *dir = opendir("/proc/self/fd");
	int self;

	if (dir == NULL)
		return;
	self = dirfd(dir);
	while ((de = readdir(dir)) != NULL) {
		char *end;
		long fd = strtol(de->d_name, &end, 10);
		int kept = 0;

		if (*end != '\0' || fd <= STDERR_FILENO || fd == self)
			continue;
		for (size_t i = 0; i < nkeep; i++)
			kept |= keep[i] == fd;
		if (!kept)
			close((int)fd);
	}
	closedir(dir);
}

/*
 * In the background, the launcher waits on a pipe until the daemon serves
 * (one byte 'R') or failed (the error text), so `sampled attach` returns
 * only once samplectl can talk to it, and reports failures itself.
 */
static int launch_background(struct daemon *d, int *exit_code)
{
	char buf[600];
	int fds[2];
	ssize_t n;
	pid_t child;

	if (pipe2(fds, O_CLOEXEC) < 0) {
		fprintf(stderr, "sampled: pipe: %s\n", strerror(errno));
		*exit_code = 1;
		return 1;
	}
	fflush(NULL);
	child = fork();
	if (child < 0) {
		fprintf(stderr, "sampled: fork: %s\n", strerror(errno));
		*exit_code = 1;
		return 1;
	}
	if (child == 0) {
		int keep[] = { fds[1], target_pidfd(d->target),
			       d->log_file != NULL ? fileno(d->log_file) : -1,
			       rundir_dir_fd(d->rundir), rundir_lock_fd(d->rundir) };

		close(fds[0]);
		d->ready_fd = fds[1];
		setsid();
		close_inherited(keep, sizeof(keep) / sizeof(keep[0]));
		return 0;
	}
	close(fds[1]);
	d->launcher = 1;
	do
		n = read(fds[0], buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fds[0]);
	if (n == 1 && buf[0] == 'R') {
		printf("%s\n", d->socket_path);
		*exit_code = 0;
	} else if (n > 1) {
		buf[n] = '\0';
		fprintf(stderr, "sampled: %s\n", buf + 1);
		*exit_code = 1;
	} else {
		fprintf(stderr, "sampled: the daemon exited during start-up (see %s)\n", d->log_path);
		*exit_code = 1;
	}
	return 1;
}

/* Sends the daemon's standard streams to /dev/null and its log to the log file. */
static int detach_stdio(struct daemon *d, struct error *err)
{
	int fd = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		error_set(err, errno, "/dev/null");
		return -1;
	}
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	if (d->log_file != NULL)
		dup2(fileno(d->log_file), STDERR_FILENO);
	else
		dup2(fd, STDERR_FILENO);
	close(fd);
	return 0;
}

/*
 * The socket's directory is checked and its lock taken before any file is
 * created or emptied, so a second daemon on the same path touches nothing
 * of the first's; then the log (rundir.h says why through descriptors).
 */
static int claim_paths(struct daemon *d, struct error *err)
{
	char *path = d->opt.socket_path != NULL ? mem_strdup(d->opt.socket_path) :
						  paths_default_socket(d->opt.pid);
	int fd;

	d->rundir = rundir_claim(path, d->opt.socket_path != NULL ? SAFEPATH_DIR_SHARED :
								    SAFEPATH_DIR_PRIVATE, err);
	free(path);
	if (d->rundir == NULL)
		return -1;
	d->socket_path = rundir_socket_path(d->rundir);
	if (d->opt.log_path != NULL) {
		d->log_path = d->opt.log_path;
		fd = rundir_open_named_log(d->log_path, err);
	} else if (!d->opt.foreground) {
		d->log_path = rundir_log_path(d->rundir);
		fd = rundir_open_log(d->rundir, err);
	} else {
		return 0;
	}
	if (fd < 0)
		return -1;
	d->log_file = fdopen(fd, "a");
	if (d->log_file == NULL) {
		error_set(err, errno, "log file %s", d->log_path);
		close(fd);
		return -1;
	}
	return 0;
}

static int attach(struct daemon *d)
{
	struct error err;
	int code;

	error_clear(&err);
	if (d->opt.command == OPTIONS_RECORD && start_command(d, &err) < 0)
		goto fail_early;
	d->target = target_open(d->opt.pid, &err);
	if (d->target == NULL)
		goto fail_early;
	if (claim_paths(d, &err) < 0)
		goto fail_early;
	log_init(d->log_file, d->opt.log_level);
	if (!d->opt.foreground && launch_background(d, &code))
		return code;
	log_environment();
	if (!d->opt.foreground && detach_stdio(d, &err) < 0)
		goto fail;
	if (serve(d, &err) < 0)
		goto fail;
	log_info("daemon for pid %d stopping", (int)d->opt.pid);
	return d->exit_code;
fail:
	/* In the foreground without a log file, the message below is the log. */
	if (d->ready_fd >= 0 || d->log_file != NULL)
		log_error("%s", err.msg);
	if (d->ready_fd >= 0) {
		char msg[sizeof(err.msg) + 1];

		msg[0] = 'E';
		memcpy(msg + 1, err.msg, sizeof(err.msg));
		if (write(d->ready_fd, msg, 1 + strlen(err.msg)) < 0)
			log_warn("reporting the failure: %s", strerror(errno));
	} else {
		fprintf(stderr, "sampled: %s\n", err.msg);
	}
	return d->exit_code != 0 ? d->exit_code : 1;
fail_early:
	fprintf(stderr, "sampled: %s\n", err.msg);
	return 1;
}

/* sampled dump PID: one snapshot of every thread, printed, no daemon. */
static int dump_once(const struct options *o)
{
	struct profile_config pcfg = { .pid = o->pid, .python = o->python,
				       .python_internals = o->python_internals,
				       .no_demangle = o->no_demangle, .no_lines = o->no_lines };
	struct target *t;
	struct profile *p = NULL;
	Sampled__Dump *dump = NULL;
	struct error err;
	int rc = 1;

	error_clear(&err);
	log_init(stderr, LOG_WARN);
	t = target_open(o->pid, &err);
	if (t == NULL)
		goto out;
	pcfg.pid = target_proc_pid(t);
	p = profile_new(&pcfg, &err);
	if (p == NULL)
		goto out;
	dump = dump_snapshot(p, o->pid, o->stack_bytes, &err);
	if (dump == NULL)
		goto out;
	dump_text_print(stdout, dump);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	if (rc != 0 && err.msg[0] != '\0')
		fprintf(stderr, "sampled: %s\n", err.msg);
	dump_free(dump);
	profile_free(p);
	target_free(t);
	return rc;
}

int main(int argc, char **argv)
{
	struct daemon d = { .sigfd = -1, .ready_fd = -1, .duration_fd = -1 };
	struct error err;
	int code;

	error_clear(&err);
	if (options_parse(argc, argv, &d.opt, &err) < 0) {
		fprintf(stderr, "sampled: %s\nTry 'sampled --help'.\n", err.msg);
		return 2;
	}
	switch (d.opt.command) {
	case OPTIONS_HELP:
		fputs(options_usage(d.opt.help_topic), stdout);
		return 0;
	case OPTIONS_VERSION:
		printf("sampled %s\n", SAMPLED_VERSION);
		return 0;
	case OPTIONS_DUMP:
		return dump_once(&d.opt);
	case OPTIONS_RECORD:
		d.title_len = launch_title_area(argc, argv);
		d.title = d.title_len > 0 ? argv[0] : NULL;
		break;
	case OPTIONS_ATTACH:
		break;
	}
	code = attach(&d);
	teardown(&d);
	return code;
}
