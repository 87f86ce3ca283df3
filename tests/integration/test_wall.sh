#!/usr/bin/env bash
# Wall-clock mode: blocked time shows where the thread waits; cpu mode
# shows the spinning alone; the state filter splits the two; a target
# under ptrace gets its signals and data, and is left running when the
# daemon dies.
. "$(dirname "$0")/lib.sh"

STACKS=$(dirname "$0")/stacks.py
sock=$WORK/w.sock

# profile_half MODE: runs half for 6 s attached at 499 Hz in MODE.
profile_half() {
	"$TARGETS/half" 6 >"$WORK/half.out" &
	local pid=$!
	CHILDREN+=($pid)
	wait_for "grep -q ready '$WORK/half.out'" 10
	"$SAMPLED" attach --mode "$1" --rate 499 --socket "$sock" $pid >/dev/null
	wait $pid
	"$CTL" --socket "$sock" export -o "$WORK/half.folded"
	"$CTL" --socket "$sock" tree --state running --show-all --no-color --ascii >"$WORK/running.txt"
	"$CTL" --socket "$sock" tree --state idle --show-all --no-color --ascii >"$WORK/idle.txt"
	"$CTL" --socket "$sock" status --json >"$WORK/half.status"
	"$CTL" --socket "$sock" stop >/dev/null
	truth=$(grep truth "$WORK/half.out")
}
truth_of() { echo "$truth" | sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | awk '{print $1 * 100}'; }
near5() {
	check "$1: $2% vs $3%" python3 -c "import sys; sys.exit(not abs($2 - $3) <= 5.0)"
}

profile_half wall
spin=$(python3 "$STACKS" "$WORK/half.folded" path main spin)
nap=$(python3 "$STACKS" "$WORK/half.folded" path main nap)
echo "# wall: $(python3 "$STACKS" "$WORK/half.folded" total) samples; $truth;" \
	"$(python3 -c "import json; s=json.load(open('$WORK/half.status')); print('stops median %d ns, p99 %d ns' % (s['stop_median_ns'], s['stop_p99_ns']))")"
near5 "wall: spin's share" "$spin" "$(truth_of spin)"
near5 "wall: nap's share" "$nap" "$(truth_of nap)"
sleep_in=$(python3 "$STACKS" "$WORK/half.folded" path main nap clock_nanosleep)
check "wall: the sleep sits in clock_nanosleep under nap ($sleep_in% of samples)" \
	python3 -c "import sys; sys.exit(not $sleep_in >= 0.9 * $nap)"
check "wall: --state running holds the spinning, not the sleep" \
	sh -c "grep -q '  spin' '$WORK/running.txt' && ! grep -q 'clock_nanosleep  \[kernel\]' '$WORK/running.txt'"
check "wall: --state idle holds the sleep" grep -q 'clock_nanosleep  \[kernel\]' "$WORK/idle.txt"
check "wall: status reports ptrace stop times" \
	python3 -c "import json,sys; s=json.load(open('$WORK/half.status')); sys.exit(not (s['mode']=='wall' and s['stop_median_ns'] > 0))"

profile_half cpu
spin=$(python3 "$STACKS" "$WORK/half.folded" path main spin)
nap=$(python3 "$STACKS" "$WORK/half.folded" path main nap)
echo "# cpu: $(python3 "$STACKS" "$WORK/half.folded" total) samples; spin $spin%, nap $nap%"
check "cpu: the spinning alone ($spin% spin, $nap% nap)" \
	python3 -c "import sys; sys.exit(not ($spin >= 95 and $nap <= 5))"

# Under the ptrace sampler: signals, pipes, job control, and the daemon's death.
mkfifo "$WORK/in"
"$TARGETS/sigcount" <"$WORK/in" >"$WORK/sig.out" &
pid=$!
CHILDREN+=($pid)
exec 7>"$WORK/in"
wait_for "grep -q ready '$WORK/sig.out'" 10
"$SAMPLED" attach --mode wall --rate 999 --socket "$sock" $pid >/dev/null
python3 - "$pid" <<'PY'
import os, signal, sys, time
pid = int(sys.argv[1])
blob = bytes(range(250)) * 400
fd = os.open("/proc/self/fd/7", os.O_WRONLY)
for i in range(200):
    os.kill(pid, signal.SIGUSR1)
    os.write(fd, blob[i * 500:(i + 1) * 500])
    time.sleep(0.005)
PY
exec 7>&-
wait $pid
want=$(python3 -c "
s = 0
for b in bytes(range(250)) * 400:
    s = (s * 31 + b) % 2**64
print('usr1 200 bytes 100000 sum %d' % s)")
check "wall: every SIGUSR1 reached the target, and its pipe data came whole ($(tail -n 1 "$WORK/sig.out"))" \
	[ "$(tail -n 1 "$WORK/sig.out")" = "$want" ]
"$CTL" --socket "$sock" stop >/dev/null

spawn_quiet "$TARGETS/half" 60
pid=$!
"$SAMPLED" attach --mode wall --rate 999 --socket "$sock" $pid >/dev/null
sleep 0.5
kill -STOP $pid
sleep 0.5
st=$(proc_state $pid)
check "wall: SIGSTOP keeps the target stopped ($st)" stopped_state "$st"
kill -CONT $pid
st=$(settled_state $pid live_state 2)
check "wall: SIGCONT lets it run again ($st)" live_state "$st"
dpid=$(json_field "$sock" 's["daemon_pid"]')
kill -9 "$dpid"
sleep 0.5
st=$(proc_state $pid)
check "wall: after the daemon's SIGKILL the target runs on, not stopped ($st)" live_state "$st"
c0=$(proc_cpu_seconds $pid)
sleep 0.5
check "wall: and it keeps using CPU" python3 -c "import sys; sys.exit(not $(proc_cpu_seconds $pid) > $c0)"
