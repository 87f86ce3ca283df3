#!/usr/bin/env bash
# Runs every unit test binary and every integration script, then prints one
# closing line "N passed, N failed".  Usage: tests/run.sh BUILD_DIR [FILTER]
set -u
build=${1:-build}
filter=${2:-}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
passed=0
failed=0
failures=()

count_cmocka() {	# name, output file, exit code
	local p f
	p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test(s)\./\1/p' "$2" | tail -n 1)
	f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test(s), listed below:/\1/p' "$2" | tail -n 1)
	p=${p:-0}
	f=${f:-0}
	if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1	# crashed or aborted before its summary
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -eq 0 ] || failures+=("$1")
}

count_tap() {		# name, output file, exit code
	local p f
	p=$(grep -c '^ok ' "$2")
	f=$(grep -c '^not ok ' "$2")
	if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "not ok - $1 exited with status $3" >>"$2"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -eq 0 ] || failures+=("$1")
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for t in "$root/$build"/tests/test_*; do
	[ -x "$t" ] || continue
	name=$(basename "$t")
	case "$name" in *"$filter"*) ;; *) continue ;; esac
	echo "== unit: $name"
	(cd "$root" && "$t") >"$tmp/out" 2>&1
	rc=$?
	cat "$tmp/out"
	count_cmocka "$name" "$tmp/out" "$rc"
done

# run_scripts KIND: every tests/KIND/test_*.sh, each printing TAP.
run_scripts() {
	local t name rc
	for t in "$root/tests/$1"/test_*.sh; do
		[ -f "$t" ] || continue
		name=$(basename "$t" .sh)
		case "$name" in *"$filter"*) ;; *) continue ;; esac
		echo "== $1: $name"
		(cd "$root" && BUILD="$root/$build" timeout 600 bash "$t") >"$tmp/out" 2>&1
		rc=$?
		cat "$tmp/out"
		count_tap "$name" "$tmp/out" "$rc"
	done
}

run_scripts static
run_scripts integration

# Under the sanitizers every process, daemons in the background included,
# writes its reports to files: any report is a failure.
if [ -n "${SANITIZER_LOG_DIR:-}" ]; then
	reports=$(find "$SANITIZER_LOG_DIR" -type f 2>/dev/null)
	if [ -n "$reports" ]; then
		echo "== sanitizer reports"
		for r in $reports; do
			echo "-- $r"
			head -n 40 "$r"
		done
		failed=$((failed + 1))
		failures+=("sanitizer-reports")
	else
		echo "== sanitizer reports: none"
	fi
fi

if [ ${#failures[@]} -gt 0 ]; then
	echo "failing suites: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
