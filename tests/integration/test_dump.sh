#!/usr/bin/env bash
# Dumps: every thread's stack once, with and without a daemon, in cpu and
# wall mode; the target runs on unharmed.
. "$(dirname "$0")/lib.sh"

spawn_quiet "$TARGETS/split" -t 2 -s 60
pid=$!
wait_for "[ \$(ls /proc/$pid/task | wc -l) -ge 3 ]" 10
sleep 0.5

"$SAMPLED" dump $pid >"$WORK/d1.txt"
rc=$?
check "sampled dump exits 0" [ $rc = 0 ]
check "sampled dump shows all 3 threads" [ "$(grep -c '^Thread ' "$WORK/d1.txt")" = 3 ]
check "the main thread waits in futex under pthread join, under main" \
	sh -c "grep -A8 '^Thread $pid ' '$WORK/d1.txt' | grep -q '^    futex \[kernel\]' &&
	       grep -A8 '^Thread $pid ' '$WORK/d1.txt' | grep -q '^    main '"
check "the workers run work() under worker" \
	[ "$(grep -c '^    work (.*split.c' "$WORK/d1.txt")" = 2 ]
st=$(proc_state $pid)
check "the target runs on after the dump ($st)" live_state "$st"

for mode in cpu wall; do
	"$SAMPLED" attach --mode $mode --socket "$WORK/s.sock" $pid >/dev/null
	sleep 0.3
	"$CTL" --socket "$WORK/s.sock" dump >"$WORK/d2.txt"
	check "$mode mode: samplectl dump shows all 3 threads" \
		[ "$(grep -c '^Thread ' "$WORK/d2.txt")" = 3 ]
	check "$mode mode: the workers are in work()" \
		[ "$(grep -c '^    work (' "$WORK/d2.txt")" = 2 ]
	"$CTL" --socket "$WORK/s.sock" stop >/dev/null
done
st=$(settled_state $pid live_state 2)
check "the target runs on after the daemons ($st)" live_state "$st"

gone=$(($(cat /proc/sys/kernel/pid_max) - 1))
while [ -e /proc/$gone ]; do gone=$((gone - 1)); done
out=$("$SAMPLED" dump $gone 2>&1)
rc=$?
check "dump of a pid that does not exist fails clearly (exit $rc: $out)" \
	sh -c "[ $rc = 1 ] && echo '$out' | grep -q 'no process'"
