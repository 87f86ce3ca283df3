#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "duration.h"
#include "options.h"
#include "outformat.h"

static const char usage_main[] =
	"Usage: sampled COMMAND [OPTIONS]\n"
	"\n"
	"sampled is a sampling profiler daemon.  It attaches to a running process,\n"
	"samples its threads without stopping them, and serves what it collects\n"
	"over a Unix socket to samplectl(1) while sampling goes on.\n"
	"\n"
	"Commands:\n"
	"  attach PID     sample a running process (see 'sampled attach --help')\n"
	"  record -- CMD  run CMD under the profiler and show its profile when it\n"
	"                 ends (see 'sampled record --help')\n"
	"  dump PID       print every thread's stack once and exit\n"
	"  help [COMMAND] show this text, or the usage of COMMAND\n"
	"\n"
	"Options:\n"
	"  -h, --help     show this text\n"
	"  -V, --version  show the version\n"
	"\n"
	"Exit status: 0 on success, 1 on an error, 2 on a usage error.\n";

static const char usage_attach[] =
	"Usage: sampled attach [OPTIONS] PID\n"
	"\n"
	"Attach to the running process PID and sample the CPU time of all its\n"
	"threads, including threads it starts later.  The daemon creates its\n"
	"socket, prints the socket's path once it is ready, and goes on in the\n"
	"background until 'samplectl stop', SIGTERM or SIGINT.  When the target\n"
	"exits, the daemon keeps serving what it collected until it is stopped.\n"
	"\n"
	"Options:\n"
	"  -m, --mode MODE        cpu (default): on-CPU time, with perf events; the\n"
	"                         target is never stopped (without permission for\n"
	"                         perf events, running threads are sampled with\n"
	"                         ptrace instead); wall: wall-clock time of every\n"
	"                         thread, running or blocked, with ptrace: each\n"
	"                         thread is stopped for tens of microseconds per\n"
	"                         sample\n"
	"  -r, --rate HZ          samples per second per thread (1-10000;\n"
	"                         default 99)\n"
	"  -s, --socket PATH      serve on PATH instead of the default\n"
	"                         /run/sampled/PID.sock (root) or\n"
	"                         $XDG_RUNTIME_DIR/sampled/PID.sock\n"
	"  -f, --foreground       stay in the foreground and log to stderr\n"
	"      --log FILE         write the log to FILE (default in the background:\n"
	"                         the socket path with .log instead of .sock)\n"
	"      --log-level LEVEL  debug, info (default), warn or error\n"
	"      --buffer-size KIB  perf ring buffer per thread in KiB, a power of two\n"
	"                         (default: room for an eighth of a second of\n"
	"                         samples, 1024 to 8192)\n"
	"      --stack-size BYTES user stack copied with each sample for unwinding,\n"
	"                         a multiple of 8 up to 65528 (default 32768); deeper\n"
	"                         stacks end in a [truncated] frame\n"
	"      --python MODE      auto (default): show the Python functions of a\n"
	"                         CPython 3.11-3.13 target between the native frames\n"
	"                         that run them; on: the same, and fail if the target\n"
	"                         is not such a Python; off: native frames only\n"
	"      --native-python-internals\n"
	"                         keep the interpreter's own call machinery\n"
	"                         (vectorcall, _PyEval_* helpers) in Python stacks\n"
	"      --no-demangle      show C++ functions by their mangled names\n"
	"      --lines, --no-lines\n"
	"                         --lines (default): code with DWARF debug\n"
	"                         information (in its binary or a separate debug\n"
	"                         file) shows each function's source file and line,\n"
	"                         and functions inlined into it as frames of their\n"
	"                         own; --no-lines: names from the symbol tables only,\n"
	"                         one frame per real function, DWARF never read\n"
	"      --kernel, --no-kernel\n"
	"                         cpu mode: --kernel (default): a tick that finds a\n"
	"                         thread in the kernel shows the kernel functions\n"
	"                         it was in, below the user frames that entered\n"
	"                         the kernel, where the system permits it (root,\n"
	"                         CAP_PERFMON or perf_event_paranoid <= 1);\n"
	"                         --no-kernel, or where not permitted: the tick\n"
	"                         ends in one [kernel] frame\n"
	"      --window-bucket TIME\n"
	"                         time windows: count the samples of every TIME\n"
	"                         apart (100ms to 1h; default 10s), so that\n"
	"                         samplectl's --last, --since and --until can show\n"
	"                         a part of the profile, to this precision\n"
	"      --window-memory SIZE\n"
	"                         keep at most SIZE of those counts (64K, 64M, 1G;\n"
	"                         at least 16K; default 64M), dropping the oldest\n"
	"                         intervals first; 0: keep none (no time windows)\n"
	"      --max-nodes N      keep the call tree within N nodes (1024 to\n"
	"                         4000000; default 250000, about 15 MiB): past\n"
	"                         it, new stacks end in an [other] frame under the\n"
	"                         deepest node they share with the tree, counted in\n"
	"                         status as folded\n"
	"  -d, --duration TIME    one-shot: sample for TIME (500ms, 30s, 5m, 1h, 2d;\n"
	"                         a bare number is seconds; at most a week) or\n"
	"                         until the target exits, in the foreground, then\n"
	"                         write -o FILE (or print the call tree without\n"
	"                         -o), detach and exit; SIGINT or SIGTERM end the\n"
	"                         sampling early\n"
	"  -o, --output FILE      with --duration: the file to write, its format\n"
	"                         from its ending: .html page, .svg flame graph,\n"
	"                         .txt text tree, .json speedscope, .pb.gz or\n"
	"                         .pprof pprof, .folded or .collapsed stacks,\n"
	"                         .sprof saved profile (samplectl --load)\n"
	"  -h, --help             show this text\n"
	"\n"
	"Examples:\n"
	"  sampled attach 4242 && samplectl status\n"
	"  sampled attach --rate 999 --foreground $(pidof myserver)\n"
	"  sampled attach --duration 30s -o profile.html $(pidof myserver)\n"
	"\n"
	"Exit status: 0 once the daemon serves, 1 if it could not attach (no such\n"
	"process, permission denied, already attached), 2 on a usage error.\n";

static const char usage_record[] =
	"Usage: sampled record [OPTIONS] [-o FILE] [--] COMMAND [ARGS...]\n"
	"\n"
	"Run COMMAND under the profiler from its first instruction, in the\n"
	"foreground: its threads, including later ones, and whatever program it\n"
	"becomes through execve are sampled (the processes it forks are not).\n"
	"While it runs the daemon serves its socket as 'sampled attach' does, so\n"
	"samplectl can look at the profile live.  When COMMAND exits, the call\n"
	"tree is printed on standard output, after COMMAND's own output, and\n"
	"written to FILE when -o is given.  SIGINT, SIGTERM and SIGHUP sent to\n"
	"sampled are passed on to COMMAND (the terminal's reach it directly);\n"
	"'samplectl stop' ends the sampling, and COMMAND runs on to its end.\n"
	"\n"
	"Options: those of 'sampled attach' (--mode, --rate, --socket, --python,\n"
	"--stack-size, --log, --log-level, ...; the log level is warn unless\n"
	"given), and\n"
	"  -o, --output FILE      also write the profile to FILE, its format from\n"
	"                         its ending: .html page, .svg flame graph, .txt\n"
	"                         text tree, .json speedscope, .pb.gz or .pprof\n"
	"                         pprof, .folded or .collapsed stacks, .sprof saved\n"
	"                         profile (samplectl --load)\n"
	"\n"
	"Nothing is known of COMMAND before it runs: in cpu mode each sample is\n"
	"read at once, in case it turns out to be Python (--python off reads\n"
	"them in batches, for less of the daemon's time), and with --python on a\n"
	"command that is not a supported Python gets a warning at the end.\n"
	"\n"
	"Examples:\n"
	"  sampled record -- python3 script.py --input data.csv\n"
	"  sampled record --mode wall -o profile.html -- ./server --once\n"
	"\n"
	"Exit status: COMMAND's: its exit code, or 128 + the signal that killed\n"
	"it; 127 when COMMAND is not found, 126 when it cannot be run; 1 when it\n"
	"could not be profiled, 2 on a usage error.\n";

static const char usage_dump[] =
	"Usage: sampled dump [--python auto|on|off] PID\n"
	"\n"
	"Print the current stack of every thread of the process PID, once, and\n"
	"exit, without starting a daemon: each thread is stopped with ptrace for\n"
	"tens of microseconds, its registers and stack copied, and it runs on;\n"
	"then the stacks are unwound and named, Python functions among native\n"
	"frames for a CPython target.\n"
	"\n"
	"Exit status: 0 on success, 1 when the process cannot be traced, 2 on a\n"
	"usage error.\n";

const char *options_usage(const char *topic)
{
	if (topic != NULL && strcmp(topic, "dump") == 0)
		return usage_dump;
	if (topic != NULL && strcmp(topic, "attach") == 0)
		return usage_attach;
	if (topic != NULL && strcmp(topic, "record") == 0)
		return usage_record;
	return usage_main;
}

/* Parses a whole decimal number in [min, max]. */
static int parse_number(const char *s, unsigned long long min, unsigned long long max,
			unsigned long long *out)
{
	unsigned long long v;
	char *end;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* Digits, then nothing or a binary unit. */
int options_parse_size(const char *s, size_t *bytes, struct error *err)
{
	static const struct {
		const char *unit;
		unsigned shift;
	} units[] = {
		{ "", 0 }, { "B", 0 },
		{ "K", 10 }, { "k", 10 }, { "KiB", 10 }, { "kB", 10 }, { "KB", 10 },
		{ "M", 20 }, { "MiB", 20 }, { "MB", 20 },
		{ "G", 30 }, { "GiB", 30 }, { "GB", 30 },
	};
	unsigned long long v;
	char *end;

	if (*s < '0' || *s > '9')
		goto bad;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		goto bad;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (v > (1ull << 40) >> units[i].shift)
			goto bad;
		*bytes = (size_t)(v << units[i].shift);
		return 0;
	}
bad:
	error_set(err, 0, "invalid size '%s': expected a whole number of bytes with an optional "
		  "unit, K, M or G (64K, 64M)", s);
	return -1;
}

/* record always; attach only with --duration (dump never: it has no daemon). */
int options_oneshot(const struct options *o)
{
	return o->command == OPTIONS_RECORD || (o->command == OPTIONS_ATTACH && o->duration_ns != 0);
}

/*
 * What record and attach --duration add to attach: the command to run
 * (record), an output file whose ending says its format, and the
 * foreground with only warnings logged, so that the terminal shows the
 * program and its profile, not the daemon's chatter.
 */
static int parse_oneshot(int argc, char **argv, struct options *o, int level_given,
			 struct error *err)
{
	enum outformat format;

	if (o->command == OPTIONS_RECORD) {
		if (o->duration_ns != 0) {
			error_set(err, 0, "record samples its command until it exits: --duration "
				  "is for attach");
			return -1;
		}
		if (optind >= argc) {
			error_set(err, 0, "record needs a command to run");
			return -1;
		}
		o->run_argv = argv + optind;
	}
	if (o->command == OPTIONS_ATTACH && o->output != NULL && o->duration_ns == 0) {
		error_set(err, 0, "-o needs --duration: a daemon that goes on has no end to write at");
		return -1;
	}
	if (o->output != NULL && outformat_from_name(o->output, &format, err) < 0)
		return -1;
	if (options_oneshot(o)) {
		o->foreground = 1;
		if (!level_given)
			o->log_level = LOG_WARN;
	}
	return 0;
}

static int parse_attach(int argc, char **argv, struct options *o, struct error *err)
{
	enum { OPT_LOG = 256, OPT_LOG_LEVEL, OPT_BUFFER, OPT_STACK, OPT_PYTHON, OPT_INTERNALS,
	       OPT_NO_DEMANGLE, OPT_LINES, OPT_NO_LINES, OPT_KERNEL, OPT_NO_KERNEL,
	       OPT_WINDOW_BUCKET, OPT_WINDOW_MEMORY, OPT_MAX_NODES };
	static const struct option longopts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "socket", required_argument, NULL, 's' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "log", required_argument, NULL, OPT_LOG },
		{ "log-level", required_argument, NULL, OPT_LOG_LEVEL },
		{ "buffer-size", required_argument, NULL, OPT_BUFFER },
		{ "stack-size", required_argument, NULL, OPT_STACK },
		{ "python", required_argument, NULL, OPT_PYTHON },
		{ "mode", required_argument, NULL, 'm' },
		{ "native-python-internals", no_argument, NULL, OPT_INTERNALS },
		{ "no-demangle", no_argument, NULL, OPT_NO_DEMANGLE },
		{ "lines", no_argument, NULL, OPT_LINES },
		{ "no-lines", no_argument, NULL, OPT_NO_LINES },
		{ "kernel", no_argument, NULL, OPT_KERNEL },
		{ "no-kernel", no_argument, NULL, OPT_NO_KERNEL },
		{ "window-bucket", required_argument, NULL, OPT_WINDOW_BUCKET },
		{ "window-memory", required_argument, NULL, OPT_WINDOW_MEMORY },
		{ "max-nodes", required_argument, NULL, OPT_MAX_NODES },
		{ "duration", required_argument, NULL, 'd' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long v;
	int c, level_given = 0;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:m:r:s:fd:o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (duration_parse(optarg, "--duration", DURATION_MIN_NS,
					   OPTIONS_MAX_DURATION_NS, &o->duration_ns, err) < 0)
				return -1;
			break;
		case 'o':
			if (optarg[0] == '\0') {
				error_set(err, 0, "empty output file name");
				return -1;
			}
			o->output = optarg;
			break;
		case 'm':
			if (strcmp(optarg, "cpu") == 0 || strcmp(optarg, "wall") == 0) {
				o->wall = optarg[0] == 'w';
			} else {
				error_set(err, 0, "invalid --mode '%s': expected cpu or wall", optarg);
				return -1;
			}
			break;
		case 'r':
			if (parse_number(optarg, 1, OPTIONS_MAX_RATE, &v) < 0) {
				error_set(err, 0, "invalid rate '%s': expected 1 to %u samples per second",
					  optarg, OPTIONS_MAX_RATE);
				return -1;
			}
			o->rate_hz = (unsigned)v;
			break;
		case 's':
			if (optarg[0] == '\0') {
				error_set(err, 0, "empty socket path");
				return -1;
			}
			o->socket_path = optarg;
			break;
		case 'f':
			o->foreground = 1;
			break;
		case OPT_LOG:
			o->log_path = optarg;
			break;
		case OPT_LOG_LEVEL:
			level_given = 1;
			if (log_level_parse(optarg, &o->log_level) < 0) {
				error_set(err, 0, "invalid log level '%s': expected debug, info, warn or error",
					  optarg);
				return -1;
			}
			break;
		case OPT_BUFFER:
			if (parse_number(optarg, 8, 1u << 20, &v) < 0 || (v & (v - 1)) != 0) {
				error_set(err, 0,
					  "invalid buffer size '%s': expected a power of two from 8 to 1048576 KiB",
					  optarg);
				return -1;
			}
			o->buffer_bytes = (size_t)v << 10;
			break;
		case OPT_STACK:
			if (parse_number(optarg, 8, OPTIONS_MAX_STACK, &v) < 0 || (v & 7) != 0) {
				error_set(err, 0,
					  "invalid stack size '%s': expected a multiple of 8 from 8 to %u bytes",
					  optarg, OPTIONS_MAX_STACK);
				return -1;
			}
			o->stack_bytes = (uint32_t)v;
			break;
		case OPT_PYTHON:
			if (strcmp(optarg, "auto") == 0) {
				o->python = PROFILE_PYTHON_AUTO;
			} else if (strcmp(optarg, "on") == 0) {
				o->python = PROFILE_PYTHON_ON;
			} else if (strcmp(optarg, "off") == 0) {
				o->python = PROFILE_PYTHON_OFF;
			} else {
				error_set(err, 0, "invalid --python '%s': expected auto, on or off", optarg);
				return -1;
			}
			break;
		case OPT_INTERNALS:
			o->python_internals = 1;
			break;
		case OPT_NO_DEMANGLE:
			o->no_demangle = 1;
			break;
		case OPT_LINES:
			o->no_lines = 0;
			break;
		case OPT_NO_LINES:
			o->no_lines = 1;
			break;
		case OPT_KERNEL:
			o->no_kernel = 0;
			break;
		case OPT_NO_KERNEL:
			o->no_kernel = 1;
			break;
		case OPT_WINDOW_BUCKET:
			if (duration_parse(optarg, "--window-bucket", OPTIONS_MIN_WINDOW_BUCKET_NS,
					   OPTIONS_MAX_WINDOW_BUCKET_NS, &o->window_bucket_ns, err) < 0)
				return -1;
			break;
		case OPT_WINDOW_MEMORY:
			if (options_parse_size(optarg, &o->window_memory, err) < 0)
				return -1;
			if (o->window_memory != 0 && o->window_memory < OPTIONS_MIN_WINDOW_MEMORY) {
				error_set(err, 0, "invalid --window-memory '%s': expected 0 (no time "
					  "windows) or at least 16K", optarg);
				return -1;
			}
			break;
		case OPT_MAX_NODES:
			if (parse_number(optarg, OPTIONS_MIN_MAX_NODES, OPTIONS_MAX_MAX_NODES, &v) < 0) {
				error_set(err, 0, "invalid --max-nodes '%s': expected a whole number "
					  "from %u to %u", optarg, OPTIONS_MIN_MAX_NODES,
					  OPTIONS_MAX_MAX_NODES);
				return -1;
			}
			o->max_nodes = (size_t)v;
			break;

		case 'h':
			o->command = OPTIONS_HELP;
			o->help_topic = "attach";
			return 0;
		case ':':
			error_set(err, 0, "option '%s' needs a value", argv[optind - 1]);
			return -1;
		default:
			error_set(err, 0, "unknown option '%s'", argv[optind - 1]);
			return -1;
		}
	}
	if (parse_oneshot(argc, argv, o, level_given, err) < 0)
		return -1;
	if (o->command == OPTIONS_RECORD)
		return 0;
	if (optind >= argc) {
		error_set(err, 0, "attach needs the PID of the process to profile");
		return -1;
	}
	if (argc - optind > 1) {
		error_set(err, 0, "unexpected argument '%s' after the PID", argv[optind + 1]);
		return -1;
	}
	if (parse_number(argv[optind], 1, INT_MAX, &v) < 0) {
		error_set(err, 0, "invalid pid '%s': expected a positive number", argv[optind]);
		return -1;
	}
	o->pid = (pid_t)v;
	return 0;
}

int options_parse(int argc, char **argv, struct options *o, struct error *err)
{
	const char *cmd;

	memset(o, 0, sizeof(*o));
	o->rate_hz = OPTIONS_DEFAULT_RATE;
	o->log_level = LOG_INFO;
	o->buffer_bytes = 0;	/* sized from the rate and stack size by the daemon */
	o->stack_bytes = OPTIONS_DEFAULT_STACK;
	o->window_bucket_ns = OPTIONS_DEFAULT_WINDOW_BUCKET_NS;
	o->window_memory = OPTIONS_DEFAULT_WINDOW_MEMORY;
	o->command = OPTIONS_HELP;
	if (argc < 2) {
		error_set(err, 0, "no command given");
		return -1;
	}
	cmd = argv[1];
	if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0)
		return 0;
	if (strcmp(cmd, "help") == 0) {
		if (argc > 2 && strcmp(argv[2], "attach") != 0 && strcmp(argv[2], "dump") != 0 &&
		    strcmp(argv[2], "record") != 0) {
			error_set(err, 0, "no help on '%s': unknown command", argv[2]);
			return -1;
		}
		o->help_topic = argc > 2 ? argv[2] : NULL;
		return 0;
	}
	if (strcmp(cmd, "-V") == 0 || strcmp(cmd, "--version") == 0) {
		o->command = OPTIONS_VERSION;
		return 0;
	}
	if (strcmp(cmd, "attach") == 0) {
		o->command = OPTIONS_ATTACH;
		return parse_attach(argc - 1, argv + 1, o, err);
	}
	if (strcmp(cmd, "record") == 0) {
		o->command = OPTIONS_RECORD;
		if (parse_attach(argc - 1, argv + 1, o, err) < 0)
			return -1;
		if (o->command == OPTIONS_HELP)
			o->help_topic = "record";
		return 0;
	}
	if (strcmp(cmd, "dump") == 0) {
		/* dump takes attach's options that make sense for it; the rest are harmless. */
		o->command = OPTIONS_DUMP;
		if (parse_attach(argc - 1, argv + 1, o, err) < 0) {
			if (strstr(err->msg, "attach needs") != NULL)
				error_set(err, 0, "dump needs the PID of the process to dump");
			return -1;
		}
		if (o->command == OPTIONS_HELP)
			o->help_topic = "dump";
		return 0;
	}
	error_set(err, 0, "unknown command '%s'", cmd);
	return -1;
}
