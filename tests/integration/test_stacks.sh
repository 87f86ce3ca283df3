#!/usr/bin/env bash
# On-CPU stacks of a program built -O2 -fomit-frame-pointer with a known
# 60/30/10 split, one branch crossing libc's qsort into a callback: the
# tree must match what the program measured of itself, within 3 points,
# and nearly every sample must unwind to the thread's first frame.
# At 999 Hz for 6 s there are >= 3000 samples, so one standard deviation
# of a 60% share is under 0.9 points: 3 points never flake, while a
# misattributed function (a frame lost, a callback under the wrong
# caller) moves whole tens of points.
. "$(dirname "$0")/lib.sh"

STACKS=$(dirname "$0")/stacks.py

# profile_split THREADS: runs split, attached for its whole run; leaves
# folded stacks in $WORK/split.folded and the target's truth in $truth.
profile_split() {
	local threads=$1 sock=$WORK/split.sock out=$WORK/split.out
	"$TARGETS/split" -t "$threads" -s 6 >"$out" &
	local pid=$!
	CHILDREN+=($pid)
	wait_for "grep -q ready '$out'" 10
	"$SAMPLED" attach --rate 999 --socket "$sock" $pid >/dev/null
	wait $pid
	"$CTL" --socket "$sock" export -f collapsed -o "$WORK/split.folded"
	status=$("$CTL" --socket "$sock" status --json)
	"$CTL" --socket "$sock" stop >/dev/null
	truth=$(grep truth "$out")
}

# near NAME GOT WANT: |GOT - WANT| <= 3 points.
near() {
	check "$1: $2% vs $3% measured by the target" \
		python3 -c "import sys; sys.exit(not abs($2 - $3) <= 3.0)"
}

truth_of() { echo "$truth" | sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | awk '{print $1 * 100}'; }

for threads in 0 4; do
	if [ $threads = 0 ]; then label="single thread"; caller=main
	else label="$threads threads"; caller=worker; fi
	profile_split $threads
	total=$(python3 "$STACKS" "$WORK/split.folded" total)
	echo "# $label: $total samples; target says: $truth"
	check "$label: enough samples to judge ($total)" [ "$total" -ge 3000 ]
	for f in a b c; do
		near "$label: share of $f under $caller" \
			"$(python3 "$STACKS" "$WORK/split.folded" path "$caller" work $f)" "$(truth_of $f)"
	done
	# c spends its time inside libc's qsort_r: in its sorting code and in
	# the compare callback it calls back into.
	near "$label: qsort_r under c" \
		"$(python3 "$STACKS" "$WORK/split.folded" path $caller c qsort_r)" "$(truth_of c)"
	cb=$(python3 "$STACKS" "$WORK/split.folded" path $caller c qsort_r compare)
	check "$label: the compare callback sits under qsort_r under c ($cb%)" \
		python3 -c "import sys; sys.exit(not $cb >= 0.5 * $(truth_of c))"
	# The unwinder ends a stack without a marker frame only when it reached
	# the thread's first frame (_start for main, clone3 for threads).
	reach=$(python3 "$STACKS" "$WORK/split.folded" rooted)
	if [ $threads = 0 ]; then
		first=$(python3 "$STACKS" "$WORK/split.folded" path _start __libc_start_main main)
		check "$label: main's stacks start at _start ($first%)" \
			python3 -c "import sys; sys.exit(not $first >= 99.0)"
	fi
	echo "# $label: $reach% of samples unwind to the thread's root"
	check "$label: >= 99% of samples unwind to the root ($reach%)" \
		python3 -c "import sys; sys.exit(not $reach >= 99.0)"
	trunc=$(echo "$status" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(round(100.0*s["truncated_samples"]/max(1,s["samples"]),2))')
	check "$label: status reports the truncated share ($trunc%)" \
		python3 -c "import sys; sys.exit(not $trunc <= 1.0)"
done
