# Shared helpers for the integration tests: real binaries, real targets,
# private sockets, and a trap that leaves no process or file behind.
# Each test prints TAP-style "ok - ..." / "not ok - ..." lines.  The long
# runs (tests/soak*.sh) and the benchmarks (tests/bench/lib.sh) build on it.
set -u

B=${BUILD:?BUILD must name the build directory}
SAMPLED=$B/sampled
CTL=$B/samplectl
TARGETS=$B/targets
WORK=$(mktemp -d /tmp/sampled-test.XXXXXX)
chmod 755 "$WORK"
CHILDREN=()

cleanup() {
	local p
	for p in "${CHILDREN[@]}"; do
		pkill -9 -P "$p" 2>/dev/null	# what a child started, perf under a timing subshell say
		kill -9 "$p" 2>/dev/null
	done
	# Daemons started by this test serve sockets under $WORK.
	for p in $(pgrep -f "sampled attach.*$WORK" 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	wait 2>/dev/null
	rm -rf "$WORK"
	[ -z "${TEST_USER:-}" ] || userdel "$TEST_USER" 2>/dev/null
}
trap cleanup EXIT

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }

# check DESCRIPTION COMMAND...: passes when the command succeeds.
check() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; fi
}

# Runs a command with its output discarded.
quiet() { "$@" >/dev/null 2>&1; }

# Starts a command in the background with its output discarded; sets $!.
spawn_quiet() {
	"$@" >/dev/null 2>&1 &
	CHILDREN+=($!)
}

# Starts a command in the background, remembered for cleanup; sets $!.
spawn() {
	"$@" &
	CHILDREN+=($!)
}

# Waits up to $2 seconds (default 5) for a condition command to succeed.
wait_for() {
	local cond=$1 limit=${2:-5} i=0
	while ! eval "$cond"; do
		sleep 0.05
		i=$((i + 1))
		[ $i -lt $((limit * 20)) ] || return 1
	done
	return 0
}

# The process state letter from /proc (R, S, T, t, Z...), or "" when gone.
proc_state() {
	sed -n 's/^State:[[:space:]]*\([A-Za-z]\).*/\1/p' "/proc/$1/status" 2>/dev/null
}

# Whether a state letter is a live, not stopped process (running or sleeping).
live_state() { [ "$1" = R ] || [ "$1" = S ] || [ "$1" = D ]; }

# Prints the state of pid $1 as soon as predicate $2 holds for it, or the
# last state seen after $3 seconds (default 2).  One look is not enough
# while a wall-mode sampler runs: every tick holds each thread in a
# tracing stop (t) for microseconds.
settled_state() {
	local st i=0
	while :; do
		st=$(proc_state "$1")
		"$2" "$st" && break
		i=$((i + 1))
		[ $i -lt $((${3:-2} * 20)) ] || break
		sleep 0.05
	done
	echo "$st"
}

# Whether a state letter is a stopped process: job control (T), or the
# same stop seen through a tracer (t).
stopped_state() { [ "$1" = T ] || [ "$1" = t ]; }

# CPU time (user + system) of a whole process in seconds.
proc_cpu_seconds() {
	awk -v hz="$(getconf CLK_TCK)" '{
		sub(/^.*\) /, ""); print ($12 + $13) / hz }' "/proc/$1/stat"
}

# Reads fields from `samplectl status --json`, on one line: json_field
# SOCKET EXPR... where each EXPR is a Python expression over the decoded
# object `s` (and `g`, its python_gil counters, zero without Python).
json_field() {
	local sock=$1
	shift
	"$CTL" --socket "$sock" status --json | python3 -c '
import json, sys
s = json.load(sys.stdin)
g = s.get("python_gil") or {"held": 0, "released": 0}
print(*(eval(e) for e in sys.argv[1:]))' "$@"
}

# An unprivileged user for permission tests.
UNPRIV_USER=nobody
# Creates a user of its own for the test (removed at exit) and makes it
# the one as_unpriv runs as; stays with nobody where that is impossible.
use_test_user() {
	local name=sampled$$
	[ "$(id -u)" = 0 ] && command -v useradd >/dev/null 2>&1 || return 0
	useradd --system --no-create-home --shell /usr/sbin/nologin "$name" 2>/dev/null || return 0
	TEST_USER=$name
	UNPRIV_USER=$name
}

as_unpriv() {
	setpriv --reuid="$UNPRIV_USER" --regid=nogroup --clear-groups --reset-env -- "$@"
}

# Binaries that an unprivileged user can run wherever the tree lives.
copy_bins_for_unpriv() {
	mkdir -p "$WORK/bin"
	cp "$SAMPLED" "$CTL" "$WORK/bin/"
	cp -r "$TARGETS" "$WORK/bin/targets"
	chmod -R a+rx "$WORK/bin"
}

# all_of 'COMMAND' ...: whether every command (each one string) succeeds.
all_of() { local c; for c in "$@"; do eval "$c" || return 1; done; }

# Resident memory of pid $1 in KiB.
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }

# The open descriptors of pid $1, the fewest of three looks: a look can
# land while a request's connection or a /proc file is briefly open.
fd_count() {
	local n m=100000
	for _ in 1 2 3; do
		n=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
		[ "$n" -lt "$m" ] && m=$n
		sleep 0.1
	done
	echo "$m"
}

# ---- long runs (tests/soak*.sh): a client asking all along, figures
# taken at a period, judged after a warm-up.

verify_failed=0
# verify DESCRIPTION COMMAND...: check, remembering a failure in
# $verify_failed for the exit status.
verify() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; verify_failed=1; fi
}

# soak_run DAEMON SECONDS PERIOD CLIENT FIGURES HEADER...: for SECONDS, runs
# the function CLIENT again and again, a second apart (each turn prints how
# many requests it made and how many were answered as wanted), and every
# PERIOD seconds, while DAEMON lives, the function FIGURES, which prints
# one line of numbers ("?" for one it could not read).  Each line goes to
# $WORK/figures after the seconds elapsed ("?" as 0) and is shown as a
# comment under HEADER, the names of the columns.  Sets asked and answered.
soak_run() {
	local d=$1 seconds=$2 period=$3 client_fn=$4 figures_fn=$5 start elapsed line client
	shift 5
	(
		asked=0
		answered=0
		while [ ! -e "$WORK/done" ]; do
			read -r a b <<<"$("$client_fn")"
			asked=$((asked + a))
			answered=$((answered + b))
			echo "$asked $answered" >"$WORK/client.count"
			sleep 1
		done
	) &
	client=$!
	CHILDREN+=($client)
	start=$SECONDS
	: >"$WORK/figures"
	printf '#  %6s' time
	printf ' %10s' "$@"
	echo
	while :; do
		elapsed=$((SECONDS - start))
		if [ -z "$(proc_state "$d")" ]; then
			echo "# the daemon is gone"
			break
		fi
		line=$("$figures_fn")
		echo "$elapsed ${line//\?/0}" >>"$WORK/figures"
		printf '#  %5ss' "$elapsed"
		printf ' %10s' $line
		echo
		[ $elapsed -lt "$seconds" ] || break
		sleep $((period - (SECONDS - start - elapsed) % period))
	done
	touch "$WORK/done"
	wait $client 2>/dev/null
	read -r asked answered <"$WORK/client.count"
}

# soak_band COLUMN FRACTION WARMUP: over the figures taken from WARMUP
# seconds on, "flat FIRST LOW HIGH" when every value of COLUMN (the time
# is column 0) stays within FRACTION of the first one, "moved FIRST LOW
# HIGH" when not, "too-short 0 0 0" when there are fewer than two.
soak_band() {
	python3 - "$WORK/figures" "$@" <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
col, frac, warmup = int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
judged = [r[col] for r in rows if r[0] >= warmup]
if len(judged) < 2:
    print("too-short 0 0 0")
    sys.exit()
base, lo, hi = judged[0], min(judged), max(judged)
ok = lo >= (1 - frac) * base and hi <= (1 + frac) * base
print("flat" if ok else "moved", base, lo, hi)
PY
}
