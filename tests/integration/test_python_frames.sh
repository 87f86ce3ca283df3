#!/usr/bin/env bash
# Python processes: Python functions with their files and lines, in place
# between the native frames that run them, on Debian's python3.11 and
# pyenv's 3.11.7, attached to after they have been running a while.
. "$(dirname "$0")/lib.sh"

STACKS=$(dirname "$0")/stacks.py
PY=$(cd "$(dirname "$0")/../targets/py" && pwd)
interpreters=(/usr/bin/python3.11)
[ -x /root/.pyenv/versions/3.11.7/bin/python3.11 ] &&
	interpreters+=(/root/.pyenv/versions/3.11.7/bin/python3.11)

# run_python INTERP SCRIPT SECONDS MODE-OPTIONS...: starts the script, lets
# it run a second, attaches, waits for its end; leaves $WORK/p.folded,
# $WORK/p.tree, $WORK/p.status and the script's output in $WORK/p.out.
run_python() {
	local interp=$1 script=$2 secs=$3 sock=$WORK/p.sock
	shift 3
	"$interp" "$script" "$secs" >"$WORK/p.out" 2>&1 &
	local pid=$!
	CHILDREN+=($pid)
	wait_for "grep -q ready '$WORK/p.out'" 10
	sleep 1
	"$SAMPLED" attach --socket "$sock" "$@" $pid >/dev/null
	wait $pid
	"$CTL" --socket "$sock" export -o "$WORK/p.folded"
	"$CTL" --socket "$sock" tree --show-all --no-color --ascii >"$WORK/p.tree"
	"$CTL" --socket "$sock" status --json >"$WORK/p.status"
	"$CTL" --socket "$sock" stop >/dev/null
}

near() {
	check "$1: $2% vs $3% measured by the script" \
		python3 -c "import sys; sys.exit(not abs($2 - $3) <= 3.0)"
}

status_field() { python3 -c "import json; print(json.load(open('$WORK/p.status'))$1)"; }

for interp in "${interpreters[@]}"; do
	label=$(basename "$(dirname "$(dirname "$interp")")")/$(basename "$interp")
	run_python "$interp" "$PY/split.py" 10 --rate 499
	truth=$(grep truth "$WORK/p.out")
	total=$(python3 "$STACKS" "$WORK/p.folded" total)
	echo "# $label split.py: $total samples; $truth; $(status_field '["python"]');" \
		"out of step: $(status_field '["python_out_of_step"]')"
	check "$label: status names the interpreter" \
		sh -c "python3 -c \"import json; print(json.load(open('$WORK/p.status'))['python'])\" | grep -q '^CPython 3.11'"
	check "$label: enough samples to judge ($total)" [ "$total" -ge 2000 ]
	for f in a b c; do
		want=$(echo "$truth" | sed -n "s/.* $f=\([0-9.]*\).*/\1/p" | awk '{print $1 * 100}')
		near "$label: $f under <module> > main" \
			"$(python3 "$STACKS" "$WORK/p.folded" path '<module>' main $f spin)" "$want"
		line=$(grep -n "^def $f(" "$PY/split.py" | cut -d: -f1)
		check "$label: $f carries its file and line (split.py:$line)" \
			grep -qE "  $f  $PY/split\\.py:$line\$" "$WORK/p.tree"
	done
	# A thread caught between frames (starting, exiting) may have no
	# Python frame to read: its loop then stays native, rarely.
	raw=$(python3 "$STACKS" "$WORK/p.folded" share _PyEval_EvalFrameDefault)
	check "$label: eval loops are replaced by Python frames (left native in $raw%)" \
		python3 -c "import sys; sys.exit(not $raw <= 1.0)"

	run_python "$interp" "$PY/native.py" 8 --rate 499
	echo "# $label native.py: $(python3 "$STACKS" "$WORK/p.folded" total) samples;" \
		"out of step: $(status_field '["python_out_of_step"]')"
	keyf=$(python3 "$STACKS" "$WORK/p.folded" path sorter keyf)
	between=$(python3 "$STACKS" "$WORK/p.folded" gap sorter keyf)
	check "$label: python -> native -> python: keyf under sorter ($keyf%), through native frames ($between%)" \
		python3 -c "import sys; sys.exit(not ($keyf > 5 and $between >= 0.5 * $keyf))"
	# Debian's interpreter is stripped: its C functions have no names.
	if [ "$interp" != /usr/bin/python3.11 ] || grep -q builtin_sorted "$WORK/p.folded"; then
		check "$label: the native frames between are sorted's" \
			python3 -c "import sys; sys.exit(not $(python3 "$STACKS" "$WORK/p.folded" path sorter builtin_sorted keyf) >= 0.5 * $keyf)"
	fi
	check "$label: zlib's deflate runs under compressor" \
		python3 -c "import sys; sys.exit(not $(python3 "$STACKS" "$WORK/p.folded" path compressor deflate) > 1)"
	check "$label: each thread's Python frames: dumper and compressor are sampled too" \
		python3 -c "import sys; sys.exit(not ($(python3 "$STACKS" "$WORK/p.folded" share dumper) > 1 and $(python3 "$STACKS" "$WORK/p.folded" share compressor) > 1))"

	# Wall-clock mode: the sleeping half shows, under the function that sleeps.
	run_python "$interp" "$PY/sleeper.py" 6 --mode wall --rate 499
	truth=$(grep truth "$WORK/p.out")
	echo "# $label sleeper.py (wall): $(python3 "$STACKS" "$WORK/p.folded" total) samples; $truth"
	for f in spin nap; do
		want=$(echo "$truth" | sed -n "s/.* $f=\([0-9.]*\).*/\1/p" | awk '{print $1 * 100}')
		got=$(python3 "$STACKS" "$WORK/p.folded" path '<module>' main $f)
		check "wall: $label: $f: $got% vs $want% measured by the script" \
			python3 -c "import sys; sys.exit(not abs($got - $want) <= 5.0)"
	done
	asleep=$(python3 "$STACKS" "$WORK/p.folded" path main nap clock_nanosleep)
	check "wall: $label: the sleep sits in clock_nanosleep under nap ($asleep%)" \
		python3 -c "import sys; sys.exit(not $asleep >= 0.8 * $(python3 "$STACKS" "$WORK/p.folded" path main nap))"
done

# Python frames required from a process that is not Python: a clear refusal.
spawn_quiet "$TARGETS/spin" -t 1 -s 30
out=$("$SAMPLED" attach --python on --socket "$WORK/n.sock" $! 2>&1)
rc=$?
check "--python on refuses a native program (exit $rc: $out)" \
	sh -c "[ $rc = 1 ] && echo '$out' | grep -q 'python'"
check "no socket left by the refusal" [ ! -e "$WORK/n.sock" ]
