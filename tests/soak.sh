#!/usr/bin/env bash
# A long run: the daemon samples a four-thread target at 999 Hz while a
# client asks for a tree and a status every second.  Every 10 s the
# daemon's resident memory and open descriptors are recorded; after a
# warm-up (the first fifth of the run: two minutes of ten) both must stay
# within 5% of where they stood, and every request must be answered.
# Usage: tests/soak.sh BUILD_DIR   (SOAK_SECONDS, default 600; SOAK_MODE,
# cpu or wall, default cpu)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
export BUILD=$root/${1:-build}
. "$root/tests/integration/lib.sh"

seconds=${SOAK_SECONDS:-600}
mode=${SOAK_MODE:-cpu}
warmup=$((seconds / 5))
sock=$WORK/soak.sock
period=10

# Four spinning threads: a profile whose shape is soon complete (a target
# whose kernel paths keep varying grows its tree, and rightly the memory
# that holds it, for a long time).
: >"$WORK/target.out"	# before the start: the waits below read it
"$TARGETS/spin" -t 4 -s $((seconds + 300)) >"$WORK/target.out" &
target=$!
CHILDREN+=($target)
wait_for "grep -q ready '$WORK/target.out'" 10
"$SAMPLED" attach --mode "$mode" --rate 999 --socket "$sock" $target >/dev/null
d=$(json_field "$sock" 's["daemon_pid"]')
echo "# soak: $seconds s in $mode mode at 999 Hz, target $target, daemon $d; judged after $warmup s"

# The client: a tree and a status every second, counting what is answered.
client_turn() {
	local n=0
	"$CTL" --timeout 10 --socket "$sock" tree >/dev/null 2>&1 && n=$((n + 1))
	"$CTL" --timeout 10 --socket "$sock" status >/dev/null 2>&1 && n=$((n + 1))
	echo 2 $n
}
# The daemon's memory and descriptors, and the sampling counters.
figures() {
	local samples lost
	read -r samples lost <<<"$(json_field "$sock" '"%d %d" % (s["samples"], s["lost_samples"])' 2>/dev/null)"
	echo "$(rss_kb $d) $(fd_count $d) ${samples:-?} ${lost:-?}"
}
soak_run $d $seconds $period client_turn figures rss_kib fds samples lost

# Flat: every figure after the warm-up within 5% of the first one after it.
read -r rss_ok rss_base rss_lo rss_hi <<<"$(soak_band 1 0.05 $warmup)"
read -r fd_ok fd_base fd_lo fd_hi <<<"$(soak_band 2 0.05 $warmup)"
judged_samples=$(awk -v w=$warmup '$1 >= w { if (!n++) first = $4; last = $4 } END { print (n > 1 ? last - first : 0) }' "$WORK/figures")
echo "# after ${warmup} s: RSS $rss_base KiB at first, $rss_lo..$rss_hi KiB;" \
	"descriptors $fd_base at first, $fd_lo..$fd_hi; $judged_samples samples meanwhile;" \
	"requests answered $answered of $asked"
verify "the daemon ran the whole soak" [ -n "$(proc_state $d)" ]
verify "the daemon's memory stayed within 5% after the warm-up ($rss_lo..$rss_hi KiB vs $rss_base)" \
	[ "$rss_ok" = flat ]
verify "its descriptors stayed within 5% ($fd_lo..$fd_hi vs $fd_base)" [ "$fd_ok" = flat ]
verify "sampling went on ($judged_samples samples after the warm-up)" [ "${judged_samples:-0}" -gt 0 ]
verify "every request was answered ($answered of $asked)" \
	all_of '[ "${asked:-0}" -gt 0 ]' '[ "$answered" = "$asked" ]'
quiet "$CTL" --socket "$sock" stop
kill $target
wait $target 2>/dev/null
[ "$verify_failed" = 0 ]
