#!/usr/bin/env bash
# Runs every libFuzzer target of FUZZ_BUILD (see `make fuzz-build`) for
# SECONDS each, two at a time, and prints one TAP line per target:
# "ok - fuzz_X: N runs, no crash" or "not ok - ..." with the report.
# Usage: tests/fuzz/run.sh FUZZ_BUILD [SECONDS [TARGETS_DIR]]
#
# Seeds: the committed request corpus (tests/fuzz/corpus/request, written by
# make-request-seeds.py) and, for the ELF readers, real binaries of this
# machine copied into a temporary corpus (true, xz, libc, and test targets
# from TARGETS_DIR: spin with its symbols, without, and with them only as
# MiniDebugInfo; cxx), from which make-ehframe-seeds.py also cuts the
# unwind-table seeds.  Inputs the run finds stay in the temporary corpus and
# go with it; an input that crashes a target is kept in
# FUZZ_BUILD/fuzz/artifacts/.  Exits 1 on any failure.
set -u
fuzz_build=${1:?usage: run.sh FUZZ_BUILD [SECONDS [TARGETS_DIR]]}
seconds=${2:-60}
targets=${3:-}
here=$(cd "$(dirname "$0")" && pwd)
artifacts="$fuzz_build/fuzz/artifacts"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$artifacts" "$tmp/elf" "$tmp/ehframe"

# Sanitizer reports go to the fuzzer's stderr (whatever a caller such as
# check-asan set up for its daemons), and any report is fatal.
export ASAN_OPTIONS=detect_leaks=1:symbolize=1:allocator_may_return_null=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# fuzz_request's socket directory: whatever a crash leaves goes with $tmp.
export TMPDIR=$tmp

libc=$(ldd /usr/bin/true | awk '/libc\.so\.6/ { print $3 }')
for f in /usr/bin/true /usr/bin/xz "$libc"; do
	[ -f "$f" ] && cp "$f" "$tmp/elf/"
done
if [ -n "$targets" ] && [ -f "$targets/spin" ]; then
	cp "$targets/spin" "$tmp/elf/spin"
	strip -o "$tmp/elf/spin.stripped" "$targets/spin"
	# C++ with DWARF: mangled names, inlining, namespaces.
	[ -f "$targets/cxx" ] && cp "$targets/cxx" "$tmp/elf/cxx"
	# Stripped, with its symbols as MiniDebugInfo (.gnu_debugdata: an xz'd ELF).
	objcopy --only-keep-debug "$targets/spin" "$tmp/spin.debug" &&
		strip --strip-debug -o "$tmp/spin.mini" "$tmp/spin.debug" &&
		xz -f "$tmp/spin.mini" &&
		objcopy --add-section .gnu_debugdata="$tmp/spin.mini.xz" "$tmp/elf/spin.stripped" \
			"$tmp/elf/spin.minidebug"
else
	echo "# no test target under '${targets}': ELF seeds are system files only"
fi
python3 "$here/make-ehframe-seeds.py" "$tmp/ehframe" "$tmp/elf"/* || exit 1

# Starts one target in the background: fresh corpus dir first (libFuzzer
# adds what it finds there), the seeds after it.
start() {
	local name=$1 seeds=$2

	mkdir -p "$tmp/corpus-$name"
	"$fuzz_build/fuzz/$name" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
		-artifact_prefix="$artifacts/$name-" "$tmp/corpus-$name" "$seeds" \
		>"$tmp/$name.log" 2>&1 &
	pids+=("$!")
	names+=("$name")
}

# Waits for the targets started and reports each.
finish() {
	local i runs rc

	for i in "${!pids[@]}"; do
		wait "${pids[$i]}"
		rc=$?
		runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)$/\1/p' \
			"$tmp/${names[$i]}.log")
		if [ "$rc" -eq 0 ] && [ -n "$runs" ]; then
			echo "ok - ${names[$i]}: $runs runs, no crash"
		else
			echo "not ok - ${names[$i]}: exit status $rc; its report:"
			grep -v -e '^#[0-9]' "$tmp/${names[$i]}.log" | tail -n 60 | sed 's/^/# /'
			failed=1
		fi
	done
	pids=()
	names=()
}

failed=0
pids=()
names=()
for name in fuzz_symtab fuzz_ehframe fuzz_request; do
	if [ ! -x "$fuzz_build/fuzz/$name" ]; then
		echo "not ok - $name: $fuzz_build/fuzz/$name is not built"
		failed=1
		continue
	fi
	case $name in
	fuzz_symtab) start "$name" "$tmp/elf" ;;
	fuzz_ehframe) start "$name" "$tmp/ehframe" ;;
	fuzz_request) start "$name" "$here/corpus/request" ;;
	esac
	[ "${#pids[@]}" -lt 2 ] || finish
done
finish
exit "$failed"
