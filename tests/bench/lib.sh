# Shared by the benchmark scripts (tests/bench/*.sh), on top of the
# integration tests' library (tests/integration/lib.sh: the build's
# binaries, a work directory $WORK, and at exit the children in CHILDREN
# killed and the daemons serving under $WORK stopped).  The sourcing
# script's first argument names the build directory (default build,
# relative to the tree's root); BENCH_NAME prefixes its progress lines.
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-build}
case $build in /*) BUILD=$build ;; *) BUILD=$root/$build ;; esac
export BUILD
. "$root/tests/integration/lib.sh"
trap 'exit 130' INT TERM

say() { echo "$BENCH_NAME: $*" >&2; }
die() { say "$*"; exit 1; }

# require FILE...: dies unless every file is there (the build made it).
require() {
	local f
	for f in "$@"; do
		[ -e "$f" ] || die "$f is missing: run make BUILD=$build all targets first"
	done
}

# Fields of one `samplectl status --json`, on one line: status_field SOCKET NAME...
status_field() {
	local sock=$1 name exprs=()
	shift
	for name in "$@"; do
		exprs+=("s[\"$name\"]")
	done
	json_field "$sock" "${exprs[@]}"
}

# Kills one process we started and reaps it.
stop_pid() {
	kill -9 "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
