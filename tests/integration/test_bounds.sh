#!/usr/bin/env bash
# A target whose every sample is a stack never seen before
# (tests/targets/manystacks.c), sampled at 999 Hz: the call tree must stay
# within --max-nodes with the cut samples counted, the daemon's memory
# must stay bounded, and trees must keep coming back in under a second
# while the loop keeps answering.  BOUNDS_SECONDS (default 15) and
# BOUNDS_MAX_NODES (default 50000) set the run; `make soak-tree` runs it
# for 3 minutes at the default bound (250,000 nodes).
. "$(dirname "$0")/lib.sh"

seconds=${BOUNDS_SECONDS:-15}
max_nodes=${BOUNDS_MAX_NODES:-50000}
sock=$WORK/b.sock
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }
ms_now() { echo $(($(date +%s%N) / 1000000)); }

spawn "$TARGETS/manystacks" -s $((seconds + 60)) >"$WORK/m.out"
pid=$!
wait_for "grep -q ready '$WORK/m.out'" 10
"$SAMPLED" attach --rate 999 --max-nodes "$max_nodes" --socket "$sock" $pid >/dev/null
d=$(json_field "$sock" 's["daemon_pid"]')
echo "# $seconds s at 999 Hz, --max-nodes $max_nodes"

slowest_tree=0 slowest_status=0 trees=0 failed=0 peak=0
end=$(($(ms_now) + seconds * 1000))
while [ "$(ms_now)" -lt "$end" ]; do
	# A tree, and a status asked while the tree is being built.
	t0=$(ms_now)
	"$CTL" --timeout 10 --socket "$sock" tree --no-color >"$WORK/tree.out" 2>&1 &
	tp=$!
	s0=$(ms_now)
	quiet "$CTL" --timeout 10 --socket "$sock" status || failed=$((failed + 1))
	s1=$(ms_now)
	wait $tp || failed=$((failed + 1))
	t1=$(ms_now)
	trees=$((trees + 1))
	[ $((t1 - t0)) -le $slowest_tree ] || slowest_tree=$((t1 - t0))
	[ $((s1 - s0)) -le $slowest_status ] || slowest_status=$((s1 - s0))
	rss=$(rss_kb "$d")
	[ "$rss" -le $peak ] || peak=$rss
	sleep 0.5
done
"$CTL" --socket "$sock" status --json >"$WORK/st.json"
mem() { python3 -c "import json; m=json.load(open('$WORK/st.json'))['memory']; print(m['$1'])"; }
nodes=$(mem tree_nodes)
folded=$(mem tree_folded_samples)
samples=$(python3 -c "import json; print(json.load(open('$WORK/st.json'))['samples'])")
echo "# $trees trees, slowest ${slowest_tree} ms; status during a tree build: slowest ${slowest_status} ms; daemon RSS peak $peak KiB"
echo "# tree $nodes of $max_nodes nodes, $folded of $samples samples folded into [other]"

check "every tree and status was answered ($failed failures)" [ "$failed" = 0 ]
check "the tree stays within --max-nodes ($nodes <= $max_nodes)" [ "$nodes" -le "$max_nodes" ]
check "the samples past the bound are counted, not dropped ($folded folded)" \
	[ "$folded" -gt 0 ]
check "every tree came back within a second (slowest $slowest_tree ms)" [ "$slowest_tree" -lt 1000 ]
check "the loop answered status while trees were built (slowest $slowest_status ms)" \
	[ "$slowest_status" -lt 500 ]
"$CTL" --socket "$sock" top --limit 0 >"$WORK/top.out" 2>&1
check "the flat profile shows where stacks were cut" grep -q '\[other\]' "$WORK/top.out"
# About 100 bytes a node for the tree and its table, one snapshot of it
# while a reply is built, and the reply itself: 400 bytes a node bounds it.
bound=$((32768 + max_nodes * 400 / 1024))
if nm "$SAMPLED" 2>/dev/null | grep -q ' __asan_init'; then
	echo "# memory peak $peak KiB: not checked on an ASan build"
else
	check "the daemon's memory stays bounded (peak $peak KiB, at most $bound KiB)" \
		[ "$peak" -le "$bound" ]
fi
quiet "$CTL" --socket "$sock" stop
kill "$pid" 2>/dev/null
