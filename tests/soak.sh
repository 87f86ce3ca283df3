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

# all_of 'COMMAND' ...: whether every command (each one string) succeeds.
all_of() { local c; for c in "$@"; do eval "$c" || return 1; done; }

seconds=${SOAK_SECONDS:-600}
mode=${SOAK_MODE:-cpu}
warmup=$((seconds / 5))
sock=$WORK/soak.sock
period=10

failed=0
# verify DESCRIPTION COMMAND...: check, remembering a failure for the exit status.
verify() {
	local desc=$1
	shift
	if "$@"; then ok "$desc"; else not_ok "$desc"; failed=1; fi
}
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }
# The fewest of three looks: a look can land while a request's connection
# or a /proc file is briefly open.
fd_count() {
	local n m=100000
	for _ in 1 2 3; do
		n=$(ls "/proc/$1/fd" 2>/dev/null | wc -l)
		[ "$n" -lt "$m" ] && m=$n
		sleep 0.1
	done
	echo "$m"
}

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
(
	asked=0
	answered=0
	while [ ! -e "$WORK/done" ]; do
		asked=$((asked + 2))
		"$CTL" --timeout 10 --socket "$sock" tree >/dev/null 2>&1 && answered=$((answered + 1))
		"$CTL" --timeout 10 --socket "$sock" status >/dev/null 2>&1 && answered=$((answered + 1))
		echo "$asked $answered" >"$WORK/client.count"
		sleep 1
	done
) &
client=$!
CHILDREN+=($client)

start=$SECONDS
: >"$WORK/figures"
printf '#  %6s %10s %5s %10s %8s\n' time rss_kib fds samples lost
while :; do
	elapsed=$((SECONDS - start))
	if [ -z "$(proc_state $d)" ]; then
		echo "# the daemon is gone"
		break
	fi
	read -r samples lost <<<"$(json_field "$sock" '"%d %d" % (s["samples"], s["lost_samples"])' 2>/dev/null)"
	rss=$(rss_kb $d)
	fds=$(fd_count $d)
	echo "$elapsed $rss $fds ${samples:-0} ${lost:-0}" >>"$WORK/figures"
	printf '#  %5ss %10s %5s %10s %8s\n' "$elapsed" "$rss" "$fds" "${samples:-?}" "${lost:-?}"
	[ $elapsed -lt $seconds ] || break
	sleep $((period - (SECONDS - start - elapsed) % period))
done
touch "$WORK/done"
wait $client 2>/dev/null
read -r asked answered <"$WORK/client.count"

# Flat: every figure after the warm-up within 5% of the first one after it.
verdict=$(python3 - "$WORK/figures" "$warmup" <<'PY'
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
judged = [r for r in rows if r[0] >= int(sys.argv[2])]
if len(judged) < 2:
    print("too-short 0 0 0 0 0 0")
    sys.exit()
def band(i):
    base = judged[0][i]
    lo, hi = min(r[i] for r in judged), max(r[i] for r in judged)
    ok = lo >= 0.95 * base and hi <= 1.05 * base
    return "%s %d %d %d" % ("flat" if ok else "moved", base, lo, hi)
print(band(1), band(2), judged[-1][3] - judged[0][3])
PY
)
read -r rss_ok rss_base rss_lo rss_hi fd_ok fd_base fd_lo fd_hi judged_samples <<<"$verdict"
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
[ "$failed" = 0 ]
