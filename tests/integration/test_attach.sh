#!/usr/bin/env bash
# Attach to a real multi-threaded target: sample counts match the CPU time
# the target used, threads started after attach are counted, status tells
# a target's exit and its status, stop leaves the target running and no
# socket behind.
. "$(dirname "$0")/lib.sh"

rate=99
sock=$WORK/spin.sock

# Four CPU-bound threads; a fifth starts 2 s in.  They run long enough
# that the test, not the clock, ends them, even on a loaded machine.
spawn_quiet "$TARGETS/spin" -t 4 -s 120 -l 2
target=$!
wait_for "[ \$(ls /proc/$target/task | wc -l) -ge 4 ]" 5

out=$("$SAMPLED" attach --rate $rate --socket "$sock" $target)
check "attach prints the socket path" [ "$out" = "$sock" ]
check "socket has mode 0600" [ "$(stat -c %a "$sock")" = 600 ]
cpu0=$(proc_cpu_seconds $target)
sleep 5
cpu1=$(proc_cpu_seconds $target)
status=$("$CTL" --socket "$sock" status --json)

# cpu-clock ticks count CPU time: 4 spinning threads get min(4, cores)
# CPUs.  Expected samples = rate x CPU seconds used in the window.
read -r samples nthreads busy minshare <<<"$(python3 -c '
import json, sys
s = json.loads(sys.argv[1])
t = s["threads"]
busy = [x for x in t if x["samples"] > 0]
print(s["samples"], len(t), len(busy), min(x["share"] for x in busy))
' "$status")"
expected=$(python3 -c "print(round($rate * ($cpu1 - $cpu0)))")
echo "# samples=$samples expected=$expected (rate $rate x $(python3 -c "print(round($cpu1 - $cpu0, 2))") CPU s, $(nproc) cores); threads=$nthreads busy=$busy"
check "samples within 10% of rate x CPU time ($samples vs $expected)" \
	python3 -c "import sys; sys.exit(not abs($samples - $expected) <= 0.10 * $expected)"
check "all 5 threads known, the late one included ($nthreads)" [ "$nthreads" -eq 5 ]
check "all 5 threads sampled ($busy)" [ "$busy" -eq 5 ]
check "samples split over the threads (smallest share $minshare)" \
	python3 -c "import sys; sys.exit(not $minshare > 0.05)"
check "status reports the target running" \
	[ "$(json_field "$sock" 's["state"]')" = running ]
check "samplectl tree shows the spin function" \
	sh -c "'$CTL' --socket '$sock' tree | grep -q ' spin'"

# The target ends: the daemon notices at once and keeps serving.
kill -TERM $target
wait $target 2>/dev/null
wait_for "[ \"\$(json_field '$sock' 's[\"state\"]')\" = exited ]" 5
check "status says the target exited" [ "$(json_field "$sock" 's["state"]')" = exited ]
check "the profile is still served after exit" \
	[ "$(json_field "$sock" 's["samples"]')" -ge "$samples" ]
if [ "$(id -u)" = 0 ]; then
	check "the exit status is known (killed by SIGTERM)" \
		[ "$(json_field "$sock" 's["exit_signal"]')" = 15 ]
fi
check "stop succeeds" quiet "$CTL" --socket "$sock" stop
check "stop removes the socket" [ ! -e "$sock" ]

# stop leaves a live target running.
spawn_quiet "$TARGETS/spin" -t 1 -s 30
target=$!
"$SAMPLED" attach --socket "$sock" $target >/dev/null
sleep 0.5
"$CTL" --socket "$sock" stop >/dev/null
check "target still running after stop" [ -n "$(proc_state $target)" ]
check "target is not left stopped" [ "$(proc_state $target)" != T ]
kill $target

# The default socket path, and samplectl finding the one daemon by itself.
spawn_quiet "$TARGETS/spin" -t 1 -s 30
target=$!
out=$("$SAMPLED" attach $target)
check "default socket path names the pid" sh -c "echo '$out' | grep -q '/$target.sock\$'"
check "samplectl --pid finds it" quiet "$CTL" --pid $target status
check "samplectl list shows it" sh -c "'$CTL' list | grep -q '^ *$target '"
check "stop by pid" quiet "$CTL" --pid $target stop
check "default socket removed" [ ! -e "$out" ]
kill $target
