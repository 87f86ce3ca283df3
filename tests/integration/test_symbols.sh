#!/usr/bin/env bash
# Symbolization end to end: a real daemon attached to real processes.
#  - C++ (tests/targets/cxx.cc, g++ -O2 -g): the two instantiations of a
#    class template in a namespace show demangled, each with the share of
#    CPU the target measured; a function forced inline shows as a frame of
#    its own under its caller, with the file and declaration line the
#    source marks; --no-demangle shows the linker's names, the inlined
#    function's included (it comes from DWARF); --no-lines shows symbol
#    names only: no inlined frame, no file:line anywhere.
#  - The same program stripped, with its DWARF in a separate file found by
#    .gnu_debuglink: names and lines come back.
#  - The same program deleted after it started, another program copied to
#    its path: names and lines come from the mapped file (map_files).
#  - Generated code named in /tmp/perf-PID.map (tests/targets/jit.c).
# Shares are judged within 5 points of what the target measured of itself:
# with >= 1000 samples one standard deviation of a 40% share is 1.6
# points, while a wrong name or a lost frame moves whole tens of points.
. "$(dirname "$0")/lib.sh"

STACKS=$(dirname "$0")/stacks.py
SRC=$(dirname "$0")/../targets/cxx.cc
DOUBLE='ns::Burner<double>::run(long)'
INT='ns::Burner<int>::run(long)'
CHURN='ns::churn(long)'
MIX='ns::mix(unsigned long)'
# The declaration lines the source marks "decl: NAME".
decl_line() { grep -n "decl: $1 \*/" "$SRC" | cut -d: -f1; }
RUN_LINE=$(decl_line run)
MIX_LINE=$(decl_line mix)
CHURN_LINE=$(decl_line churn)

# start NAME COMMAND...: runs COMMAND (output in $WORK/NAME.out) until it
# says ready; sets $pid.
start() {
	local name=$1
	shift
	"$@" >"$WORK/$name.out" 2>&1 &
	pid=$!
	CHILDREN+=("$pid")
	wait_for "grep -qs ready '$WORK/$name.out'" 10
}

# collect NAME [OPTIONS...]: attaches to $pid at 999 Hz with OPTIONS, waits
# for it to exit; leaves $WORK/NAME.folded (collapsed), NAME.json
# (speedscope: frames with files and lines), NAME.status and, from the
# target's output, $truth.
collect() {
	local name=$1 sock=$WORK/$1.sock
	shift
	"$SAMPLED" attach --rate 999 "$@" --socket "$sock" $pid >/dev/null
	wait $pid
	"$CTL" --socket "$sock" export -f collapsed -o "$WORK/$name.folded"
	"$CTL" --socket "$sock" export -f speedscope -o "$WORK/$name.json"
	"$CTL" --socket "$sock" status --json >"$WORK/$name.status"
	"$CTL" --socket "$sock" stop >/dev/null
	truth=$(grep truth "$WORK/$name.out")
}

truth_of() { echo "$truth" | sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | awk '{print $1 * 100}'; }
stacks() { python3 "$STACKS" "$WORK/$1.folded" "${@:2}"; }

# near DESC GOT WANT: |GOT - WANT| <= 5 points.
near() {
	check "$1: $2% vs $3% measured by the target" \
		python3 -c "import sys; sys.exit(not abs($2 - $3) <= 5.0)"
}

# fails COMMAND...: succeeds when COMMAND fails (for check).
fails() { ! "$@"; }

# at_least DESC GOT MIN
at_least() {
	check "$1 ($2%)" python3 -c "import sys; sys.exit(not $2 >= $3)"
}

# where NAME FUNCTION: "file:line" of the frame named FUNCTION in the
# speedscope export (file as a base name), "none" when there is no such frame.
where() {
	python3 - "$WORK/$1.json" "$2" <<'EOF'
import json, os, sys
frames = json.load(open(sys.argv[1]))["shared"]["frames"]
hit = [f for f in frames if f["name"] == sys.argv[2]]
print("%s:%s" % (os.path.basename(hit[0].get("file", "")), hit[0].get("line", 0)) if hit else "none")
EOF
}

# The checks every profile of cxx with DWARF passes: demangled names with
# their shares, the inlined function under its caller, files and lines.
check_cxx() {
	local name=$1 label=$2 total
	total=$(stacks "$name" total)
	echo "# $label: $total samples; target says: $truth"
	check "$label: enough samples to judge ($total)" [ "$total" -ge 1000 ]
	near "$label: $DOUBLE under main" "$(stacks "$name" path main "$DOUBLE")" "$(truth_of double)"
	near "$label: $INT under main" "$(stacks "$name" path main "$INT")" "$(truth_of int)"
	near "$label: $CHURN under main" "$(stacks "$name" path main "$CHURN")" "$(truth_of churn)"
	at_least "$label: the inlined $MIX is a frame under $CHURN" \
		"$(stacks "$name" path main "$CHURN" "$MIX")" "0.5 * $(truth_of churn)"
	check "$label: $MIX carries its declaration, cxx.cc:$MIX_LINE" \
		[ "$(where "$name" "$MIX")" = "cxx.cc:$MIX_LINE" ]
	check "$label: $CHURN carries its declaration, cxx.cc:$CHURN_LINE" \
		[ "$(where "$name" "$CHURN")" = "cxx.cc:$CHURN_LINE" ]
	check "$label: $DOUBLE carries its declaration, cxx.cc:$RUN_LINE" \
		[ "$(where "$name" "$DOUBLE")" = "cxx.cc:$RUN_LINE" ]
	check "$label: no mangled name left" fails grep -Eq '(^|;)_Z' "$WORK/$name.folded"
}

# Daemon CPU per sample from a status reply, in microseconds.
cost_us() {
	python3 -c "import json,sys; s=json.load(open(sys.argv[1])); print('%.1f' % (s['daemon_cpu_ns'] / 1e3 / max(1, s['samples'])))" "$WORK/$1.status"
}

# ---- C++ names, inlined functions, lines ----------------------------------
check "the source marks the declaration lines" \
	[ "$(grep -c 'decl: \(run\|mix\|churn\) \*/' "$SRC")" -eq 3 ]
start lines "$TARGETS/cxx" -c 2.5
collect lines --lines
check_cxx lines "C++ with DWARF"

start mangled "$TARGETS/cxx" -c 1.5
collect mangled --no-demangle
for f in _ZN2ns6BurnerIdE3runEl _ZN2ns6BurnerIiE3runEl _ZN2ns5churnEl _ZN2ns3mixEm; do
	at_least "--no-demangle: $f in the profile" "$(stacks mangled share $f)" 5
done
check "--no-demangle: no demangled name" fails grep -q 'ns::' "$WORK/mangled.folded"

start nolines "$TARGETS/cxx" -c 1.5
collect nolines --no-lines
echo "# --no-lines: $(stacks nolines total) samples; target says: $truth"
near "--no-lines: $DOUBLE under main" "$(stacks nolines path main "$DOUBLE")" "$(truth_of double)"
near "--no-lines: $CHURN under main" "$(stacks nolines path main "$CHURN")" "$(truth_of churn)"
check "--no-lines: no inlined $MIX frame" [ "$(where nolines "$MIX")" = none ]
check "--no-lines: no frame has a line" python3 -c "
import json, sys
frames = json.load(open(sys.argv[1]))['shared']['frames']
sys.exit(any(f.get('line') for f in frames))" "$WORK/nolines.json"
# Run-long averages: they include each run's first touch of the binaries
# (libc's separate DWARF when libc6-dbg is installed).
echo "# daemon CPU per sample: $(cost_us lines) us with lines, $(cost_us nolines) us without"

# ---- a stripped binary with a separate debug file -------------------------
mkdir -p "$WORK/strip"
cp "$TARGETS/cxx" "$WORK/strip/cxx"
(cd "$WORK/strip" && objcopy --only-keep-debug cxx cxx.debug && strip --strip-all cxx &&
	objcopy --add-gnu-debuglink=cxx.debug cxx)
nsyms=$(nm "$WORK/strip/cxx" 2>/dev/null | wc -l)
check "stripped copy: no symbols left in it ($nsyms)" [ "$nsyms" -eq 0 ]
readelf -S "$WORK/strip/cxx" >"$WORK/strip/sections"
check "stripped copy: no DWARF left in it" fails grep -q '\.debug_info' "$WORK/strip/sections"
check "stripped copy: a .gnu_debuglink section" grep -q '\.gnu_debuglink' "$WORK/strip/sections"
start strip "$WORK/strip/cxx" -c 2
collect strip
check_cxx strip "stripped, .gnu_debuglink"

# ---- a deleted binary, another one in its place ---------------------------
mkdir -p "$WORK/del"
cp "$TARGETS/cxx" "$WORK/del/cxx"
start deleted "$WORK/del/cxx" -c 2
rm "$WORK/del/cxx"
cp "$TARGETS/spin" "$WORK/del/cxx"
check "deleted: the kernel says so" grep -q "$WORK/del/cxx (deleted)" "/proc/$pid/maps"
collect deleted
check_cxx deleted "deleted and replaced"

# ---- JIT code named in the perf map ---------------------------------------
start jit "$TARGETS/jit" -s 2
jitmap=/tmp/perf-$pid.map
trap 'rm -f "$jitmap"; cleanup' EXIT
check "jit: the target wrote $jitmap" grep -q ' jitted_burn$' "$jitmap"
collect jit
rm -f "$jitmap"
at_least "jit: jitted_burn under run_jit under main" \
	"$(stacks jit path main run_jit jitted_burn)" 80
check "jit: jitted_burn is in module [jit]" [ "$(where jit jitted_burn)" = "[jit]:0" ]
