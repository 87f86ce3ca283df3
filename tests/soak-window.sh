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

failed=0
# verify DESCRIPTION COMMAND...: check, remembering a failure for the exit status.
verify() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; failed=1; fi
}
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }

"$TARGETS/scatter" -b 12 -m $((seconds + 300)) >/dev/null &
target=$!
CHILDREN+=($target)
"$SAMPLED" attach --rate 999 --window-bucket 2s --window-memory 256K --socket "$sock" \
	$target >/dev/null
d=$(json_field "$sock" 's["daemon_pid"]')
echo "# soak-window: $seconds s at 999 Hz, 2 s buckets within $cap bytes, target $target," \
	"daemon $d; memory judged after $warmup s"

# The client: the last 10 s every second, counting the answers with samples.
(
	asked=0
	answered=0
	while [ ! -e "$WORK/done" ]; do
		asked=$((asked + 1))
		n=$("$CTL" --timeout 10 --socket "$sock" export --last 10s 2>/dev/null |
			awk '{ n += $NF } END { print n + 0 }')
		[ "${n:-0}" -gt 0 ] && answered=$((answered + 1))
		echo "$asked $answered" >"$WORK/client.count"
		sleep 1
	done
) &
client=$!
CHILDREN+=($client)

start=$SECONDS
over=0
: >"$WORK/figures"
printf '#  %6s %10s %10s %8s %8s %10s\n' time rss_kib window_b buckets dropped samples
while :; do
	elapsed=$((SECONDS - start))
	if [ -z "$(proc_state $d)" ]; then
		echo "# the daemon is gone"
		break
	fi
	read -r mem buckets dropped samples <<<"$(json_field "$sock" '"%d %d %d %d" % (
		s["window"]["memory_bytes"], s["window"]["buckets"], s["window"]["dropped_buckets"],
		s["samples"])' 2>/dev/null)"
	rss=$(rss_kb $d)
	[ "${mem:-0}" -le $cap ] || over=1
	echo "$elapsed $rss ${mem:-0} ${buckets:-0} ${dropped:-0} ${samples:-0}" >>"$WORK/figures"
	printf '#  %5ss %10s %10s %8s %8s %10s\n' "$elapsed" "$rss" "${mem:-?}" "${buckets:-?}" \
		"${dropped:-?}" "${samples:-?}"
	[ $elapsed -lt $seconds ] || break
	sleep $((period - (SECONDS - start - elapsed) % period))
done
touch "$WORK/done"
wait $client 2>/dev/null
read -r asked answered <"$WORK/client.count"

verdict=$(python3 - "$WORK/figures" "$warmup" <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
judged = [r for r in rows if r[0] >= int(sys.argv[2])]
if len(judged) < 2:
    print("too-short 0 0 0 0 0")
    sys.exit()
base = judged[0][1]
lo, hi = min(r[1] for r in judged), max(r[1] for r in judged)
print("flat" if lo >= 0.9 * base and hi <= 1.1 * base else "moved", base, lo, hi,
      max(r[2] for r in rows), rows[-1][4])
PY
)
read -r rss_ok rss_base rss_lo rss_hi mem_max dropped <<<"$verdict"
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
[ "$failed" = 0 ]
