#!/usr/bin/env bash
# Time windows on a target whose profile changes over time (phases: A, then
# B, then C, 10 s each), with 1 s buckets: --last 10s shows only the
# current phase, --since/--until select the middle one, the whole profile has all
# three.  reset empties the profile while sampling goes on; pause stops
# the sample count, resume restarts it (perf and ptrace).  The buckets stay
# under their memory cap on a target with thousands of distinct stacks,
# dropping the oldest.
. "$(dirname "$0")/lib.sh"

rate=499
P=10
sock=$WORK/phases.sock
phases_out=$WORK/phases.out

# Shares of the samples whose stack passes through each function, from the
# folded stacks export writes: share_of FILE FUNC...
share_of() {
	python3 - "$@" <<'EOF'
import sys
lines = open(sys.argv[1]).read().split("\n")
total = 0
hits = dict((f, 0) for f in sys.argv[2:])
for line in lines:
    if not line.strip():
        continue
    stack, count = line.rsplit(" ", 1)
    frames = stack.split(";")
    total += int(count)
    for f in hits:
        if f in frames:
            hits[f] += int(count)
print(" ".join("%.3f" % (hits[f] / total if total else 0) for f in sys.argv[2:]), total)
EOF
}

# A float comparison: ge A B, le A B.
ge() { python3 -c "import sys; sys.exit(not $1 >= $2)"; }
le() { python3 -c "import sys; sys.exit(not $1 <= $2)"; }

samples_of() { json_field "$1" 's["samples"]'; }

spawn "$TARGETS/phases" -p $P -m 120 >"$phases_out"
target=$!
wait_for "grep -q '^phase a' '$phases_out'" 5
out=$("$SAMPLED" attach --rate $rate --window-bucket 1s --socket "$sock" $target)
check "attach with --window-bucket 1s" [ "$out" = "$sock" ]

# Phase C began; after 11.5 s of it, the last 10 s (to 1 s buckets) are all C.
wait_for "grep -q '^phase c' '$phases_out'" 30
sleep 11.5
"$CTL" --socket "$sock" export --last 10s >"$WORK/last.folded"
read -r a b c n <<<"$(share_of "$WORK/last.folded" phase_a phase_b phase_c)"
echo "# --last 10s in phase C: phase_a $a, phase_b $b, phase_c $c of $n samples"
check "--last 10s has samples ($n)" [ "$n" -ge 50 ]
check "--last 10s is phase C ($c)" ge "$c" 0.9
check "--last 10s has nothing of phase B ($b)" le "$b" 0.02
check "--last 10s has nothing of phase A ($a)" le "$a" 0.02
"$CTL" --socket "$sock" tree --last 10s --no-color >"$WORK/last.txt"
check "the tree's header shows the window" grep -q '^Window:  .* to .*(' "$WORK/last.txt"
check "the tree of the window shows phase_c" grep -q ' phase_c ' "$WORK/last.txt"
"$CTL" --socket "$sock" top --last 2s >"$WORK/top.txt"
check "top says its window" grep -q '^window: .* to ' "$WORK/top.txt"
"$CTL" --socket "$sock" flame --last 2s -o "$WORK/last.svg"
check "the flame graph's title says its window" grep -q 'samples at [0-9]* Hz, .* to ' "$WORK/last.svg"

# The whole profile has all three.
"$CTL" --socket "$sock" export >"$WORK/all.folded"
read -r a b c n <<<"$(share_of "$WORK/all.folded" phase_a phase_b phase_c)"
echo "# whole profile: phase_a $a, phase_b $b, phase_c $c of $n samples"
check "the whole profile has phase A ($a)" ge "$a" 0.1
check "the whole profile has phase B ($b)" ge "$b" 0.1
check "the whole profile has phase C ($c)" ge "$c" 0.1
check "the whole tree has no Window line" \
	sh -c "! '$CTL' --socket '$sock' tree --no-color | grep -q '^Window:'"

# --since/--until a second inside phase B's ends: the buckets that serve
# the range (1 s, aligned) lie within phase B.
b_start=$(awk '$2 == "b" { print $3 }' "$phases_out")
c_start=$(awk '$2 == "c" { print $3 }' "$phases_out")
since=$(date -d "@$(python3 -c "print($b_start + 1)")" +%Y-%m-%dT%H:%M:%S.%N)
until=$(date -d "@$(python3 -c "print($c_start - 1)")" +%Y-%m-%dT%H:%M:%S.%N)
"$CTL" --socket "$sock" export --since "$since" --until "$until" >"$WORK/b.folded"
read -r a b c n <<<"$(share_of "$WORK/b.folded" phase_a phase_b phase_c)"
echo "# --since $since --until $until: phase_a $a, phase_b $b, phase_c $c of $n samples"
check "--since/--until has samples ($n)" [ "$n" -ge 50 ]
check "--since/--until is phase B ($b)" ge "$b" 0.95
check "--since/--until has nothing of phase A ($a)" le "$a" 0.02
check "--since/--until has nothing of phase C ($c)" le "$c" 0.02
# The same span, relative to now.
ago_b=$(python3 -c "import time; print('%.3f' % (time.time() - $b_start - 1))")
"$CTL" --socket "$sock" export --since "-${ago_b}s" --until "$until" >"$WORK/b2.folded"
read -r a b c n <<<"$(share_of "$WORK/b2.folded" phase_a phase_b phase_c)"
check "--since -DURATION selects phase B too ($b)" ge "$b" 0.95

# The buckets in status.
read -r bucket_ns buckets mem cap span_ok <<<"$(json_field "$sock" '"%d %d %d %d %d" % (
	s["window"]["bucket_ns"], s["window"]["buckets"], s["window"]["memory_bytes"],
	s["window"]["memory_cap_bytes"],
	s["window"]["end_unix_ns"] - s["window"]["start_unix_ns"] > 8e9)')"
echo "# window: $buckets buckets of $bucket_ns ns, $mem bytes of $cap"
check "status: 1 s buckets" [ "$bucket_ns" = 1000000000 ]
check "status: the buckets cover the run ($buckets)" \
	sh -c "[ '$buckets' -ge 9 ] && [ '$span_ok' = 1 ]"
check "status: memory within the default cap" \
	sh -c "[ '$mem' -gt 0 ] && [ '$mem' -le '$cap' ] && [ '$cap' = $((64 << 20)) ]"
check "status text shows the window" \
	sh -c "'$CTL' --socket '$sock' status | grep -q '^window: .*1.0 s buckets'"

# Usage errors.
"$CTL" --socket "$sock" tree --last 2s --since -5s >/dev/null 2>&1
check "--last with --since is a usage error" [ $? = 2 ]
"$CTL" --socket "$sock" tree --since -5s --until -10s >/dev/null 2>&1
check "--until before --since is a usage error" [ $? = 2 ]
"$CTL" --socket "$sock" top --last yesterday >/dev/null 2>&1
check "a bad --last is a usage error" [ $? = 2 ]

# A saved profile has no buckets: a range is refused, clearly.
"$CTL" --socket "$sock" save -o "$WORK/p.sprof" >/dev/null
err=$("$CTL" tree --load "$WORK/p.sprof" --last 1s 2>&1)
check "--load with --last is refused (exit 1)" [ $? = 1 ]
check "... saying why" grep -q 'no time buckets' <<<"$err"

# reset: the profile starts again, sampling goes on.
before=$(samples_of "$sock")
reset_at=$(date +%s.%N)
check "reset succeeds" quiet "$CTL" --socket "$sock" reset
after=$(samples_of "$sock")
echo "# samples: $before before the reset, $after right after"
check "reset empties the profile ($before -> $after)" \
	sh -c "[ '$after' -lt 100 ] && [ '$before' -gt 300 ]"
sleep 1
grown=$(samples_of "$sock")
check "sampling goes on after reset ($grown)" [ "$grown" -gt $((after + 20)) ]
"$CTL" --socket "$sock" export >"$WORK/reset.folded"
read -r a b c n <<<"$(share_of "$WORK/reset.folded" phase_a phase_b phase_c)"
check "after reset the tree holds phase C only ($a $b $c)" ge "$c" 0.98
"$CTL" --socket "$sock" export --until "$(date -d "@$(python3 -c "print($reset_at - 2)")" +%H:%M:%S)" \
	>"$WORK/old.folded"
check "after reset the buckets from before are gone" [ ! -s "$WORK/old.folded" ]

# pause: the count stops; resume: it grows again.
paused_at=$(date +%s.%N)
check "pause succeeds" quiet "$CTL" --socket "$sock" pause
check "status says paused" sh -c "'$CTL' --socket '$sock' status | grep -q '^sampling: *paused'"
check "status --json says paused" [ "$(json_field "$sock" 's["paused"]')" = True ]
p1=$(samples_of "$sock")
sleep 0.6
p2=$(samples_of "$sock")
check "no samples while paused ($p1 -> $p2)" [ "$p2" = "$p1" ]
check "pausing again says so" \
	sh -c "'$CTL' --socket '$sock' pause | grep -q 'paused already'"
check "resume succeeds" quiet "$CTL" --socket "$sock" resume
resumed_at=$(date +%s.%N)
sleep 1
p3=$(samples_of "$sock")
check "sampling again after resume ($p2 -> $p3)" [ "$p3" -gt $((p2 + 20)) ]
check "status says sampling on" sh -c "'$CTL' --socket '$sock' status | grep -q '^sampling: *on'"
check "resuming again says so" \
	sh -c "'$CTL' --socket '$sock' resume | grep -q 'running already'"
read -r sampled age <<<"$(json_field "$sock" "'%d %d' % (s['sampled_ns'], ($(date +%s.%N) - $reset_at) * 1e9)")"
pause_ns=$(python3 -c "print(int(($resumed_at - $paused_at) * 1e9))")
echo "# sampled ${sampled} ns in the ${age} ns since the reset, paused about ${pause_ns} ns"
check "the time sampled leaves the pause out" \
	python3 -c "import sys; sys.exit(not abs($age - $pause_ns - $sampled) <= 0.5e9)"

# Once the target has exited there is nothing to pause.
kill $target
wait $target 2>/dev/null
wait_for "[ \"\$(json_field '$sock' 's[\"state\"]')\" = exited ]" 5
err=$("$CTL" --socket "$sock" pause 2>&1)
check "pause after the target exited fails" [ $? = 1 ]
check "... saying sampling has ended" grep -q 'sampling has ended' <<<"$err"
quiet "$CTL" --socket "$sock" stop

# Wall mode (ptrace): pause stops the ticks, resume restarts them.
spawn_quiet "$TARGETS/spin" -t 2 -s 60
target=$!
wsock=$WORK/wall.sock
"$SAMPLED" attach --mode wall --rate 199 --socket "$wsock" $target >/dev/null
sleep 0.5
check "wall mode: pause" quiet "$CTL" --socket "$wsock" pause
sleep 0.2
w1=$(samples_of "$wsock")
sleep 0.6
w2=$(samples_of "$wsock")
check "wall mode: no samples while paused ($w1 -> $w2)" [ "$w2" = "$w1" ]
check "wall mode: the target runs on while paused" live_state "$(settled_state $target live_state)"
check "wall mode: resume" quiet "$CTL" --socket "$wsock" resume
sleep 1
w3=$(samples_of "$wsock")
check "wall mode: sampling again after resume ($w2 -> $w3)" [ "$w3" -gt $((w2 + 20)) ]
quiet "$CTL" --socket "$wsock" stop
kill $target

# Without windows (--window-memory 0) a range is refused; status says off.
spawn_quiet "$TARGETS/spin" -t 1 -s 60
target=$!
osock=$WORK/off.sock
"$SAMPLED" attach --window-memory 0 --socket "$osock" $target >/dev/null
err=$("$CTL" --socket "$osock" tree --last 1s 2>&1)
check "--window-memory 0: --last is refused" [ $? = 1 ]
check "... saying why" grep -q 'keeps no time windows' <<<"$err"
check "--window-memory 0: status says window off" \
	sh -c "'$CTL' --socket '$osock' status | grep -q '^window: *off'"
check "--window-memory 0: status --json has no window" \
	[ "$(json_field "$osock" 's["window"]')" = None ]
quiet "$CTL" --socket "$osock" stop
kill $target

# The memory cap holds with thousands of distinct stacks: the oldest
# buckets are dropped, and the recent ones still answer.
spawn_quiet "$TARGETS/scatter" -b 14 -m 60
target=$!
msock=$WORK/scatter.sock
cap=$((64 << 10))
"$SAMPLED" attach --rate 1999 --window-bucket 250ms --window-memory 64K --socket "$msock" \
	$target >/dev/null
over=0
for i in $(seq 1 30); do
	read -r mem dropped <<<"$(json_field "$msock" \
		'"%d %d" % (s["window"]["memory_bytes"], s["window"]["dropped_buckets"])')"
	[ "$mem" -le $cap ] || over=1
	[ "$dropped" -gt 0 ] && [ $i -ge 6 ] && break
	sleep 0.2
done
echo "# scatter: $mem bytes of $cap, $dropped buckets dropped after $i looks"
check "the buckets stay within --window-memory 64K" sh -c "[ $over = 0 ] && [ '$mem' -le $cap ]"
check "the oldest buckets were dropped ($dropped)" [ "$dropped" -gt 0 ]
n=$("$CTL" --socket "$msock" export --last 1s | awk '{ n += $NF } END { print n + 0 }')
check "the recent buckets still answer ($n samples in the last second)" [ "$n" -gt 50 ]
quiet "$CTL" --socket "$msock" stop
kill $target
