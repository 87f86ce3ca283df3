#!/usr/bin/env bash
# A long run of the time windows: the daemon samples a target with
# thousands of distinct stacks (tests/targets/scatter.c) at 999 Hz, in 2 s
# buckets capped at 256 KiB, so that the cap is reached within a minute
# and buckets are dropped from then on, while a client asks for the last
# 10 s every second.  Every 5 s the buckets' memory (status) must be within
# the cap; at the end buckets must have been dropped, every range request
# answered with samples, and the daemon's resident memory, after a warm-up
# (the first fifth of the run), within 10% of where it stood.
# Usage: tests/soak-window.sh BUILD_DIR   (SOAK_SECONDS, default 300)
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
export BUILD=$root/${1:-build}
. "$root/tests/integration/lib.sh"

seconds=${SOAK_SECONDS:-300}
warmup=$((seconds / 5))
sock=$WORK/soak.sock
cap=$((256 << 10))
period=5

"$TARGETS/scatter" -b 12 -m $((seconds + 300)) >/dev/null &
target=$!
CHILDREN+=($target)
"$SAMPLED" attach --rate 999 --window-bucket 2s --window-memory 256K --socket "$sock" \
	$target >/dev/null
d=$(json_field "$sock" 's["daemon_pid"]')
echo "# soak-window: $seconds s at 999 Hz, 2 s buckets within $cap bytes, target $target," \
	"daemon $d; memory judged after $warmup s"

# The client: the last 10 s every second, counting the answers with samples.
client_turn() {
	local n
	n=$("$CTL" --timeout 10 --socket "$sock" export --last 10s 2>/dev/null |
		awk '{ n += $NF } END { print n + 0 }')
	if [ "${n:-0}" -gt 0 ]; then echo 1 1; else echo 1 0; fi
}
# The daemon's memory, the window's memory and buckets, the samples.
figures() {
	local mem buckets dropped samples
	read -r mem buckets dropped samples <<<"$(json_field "$sock" '"%d %d %d %d" % (
		s["window"]["memory_bytes"], s["window"]["buckets"], s["window"]["dropped_buckets"],
		s["samples"])' 2>/dev/null)"
	echo "$(rss_kb $d) ${mem:-?} ${buckets:-?} ${dropped:-?} ${samples:-?}"
}
soak_run $d $seconds $period client_turn figures rss_kib window_b buckets dropped samples

# Within the cap at every look; the daemon's memory within 10% after the warm-up.
over=$(awk -v cap=$cap '$3 > cap { over = 1 } END { print over + 0 }' "$WORK/figures")
mem_max=$(awk '$3 > max { max = $3 } END { print max + 0 }' "$WORK/figures")
dropped=$(awk 'END { print $5 + 0 }' "$WORK/figures")
read -r rss_ok rss_base rss_lo rss_hi <<<"$(soak_band 1 0.1 $warmup)"
echo "# window memory at most $mem_max bytes of $cap; $dropped buckets dropped;" \
	"after ${warmup} s RSS $rss_base KiB at first, $rss_lo..$rss_hi KiB;" \
	"range requests answered with samples: $answered of $asked"
verify "the daemon ran the whole soak" [ -n "$(proc_state $d)" ]
verify "the buckets stayed within --window-memory 256K (at most $mem_max bytes)" \
	[ "$over" = 0 ]
verify "the oldest buckets were dropped ($dropped)" [ "${dropped:-0}" -gt 0 ]
verify "the daemon's memory stayed within 10% after the warm-up ($rss_lo..$rss_hi KiB vs $rss_base)" \
	[ "$rss_ok" = flat ]
verify "every range request was answered with samples ($answered of $asked)" \
	sh -c "[ '${asked:-0}' -gt 0 ] && [ '${answered:-0}' = '${asked:-0}' ]"
quiet "$CTL" --socket "$sock" stop
[ "$verify_failed" = 0 ]
