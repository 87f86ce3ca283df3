# Shared helpers for the integration tests: real binaries, real targets,
# private sockets, and a trap that leaves no process or file behind.
# Each test prints TAP-style "ok - ..." / "not ok - ..." lines.
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

# Reads a field from `samplectl status --json`: json_field SOCKET EXPR
# where EXPR is a Python expression over the decoded object `s`.
json_field() {
	"$CTL" --socket "$1" status --json | python3 -c "import json,sys; s=json.load(sys.stdin); print($2)"
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
