#!/usr/bin/env bash
# The daemon under faults: SIGKILLed while sampling at 999 Hz, while a
# client receives a big tree, and while it may hold a ptrace stop (cpu and
# wall mode); a target that churns threads, forks and execs, sampled, and
# detached from (stop or SIGKILL) in the middle of it; a target held by
# SIGSTOP; a socket directory the daemon may not write.  The target must
# run on untraced with every signal it was sent, and the daemon must keep
# answering with consistent counts and no leaked descriptor.
. "$(dirname "$0")/lib.sh"

WC=$(dirname "$0")/wireclient.py

daemon_of() { json_field "$1" 's["daemon_pid"]'; }
# Whether pid $1 has died (gone, or a zombie its parent has not reaped).
dead() { local st; st=$(proc_state "$1"); [ -z "$st" ] || [ "$st" = Z ]; }
tracer_of() { sed -n 's/^TracerPid:[[:space:]]*//p' "/proc/$1/status" 2>/dev/null; }
# A random delay of 0 to 150 ms, a few of them under 2 ms.
rand_delay() {
	if [ $((RANDOM % 4)) = 0 ]; then printf '0.00%d' $((RANDOM % 2)); else printf '0.%03d' $((RANDOM % 150)); fi
}
# Whether pid $1 has used more than $3 CPU seconds since it had used $2.
cpu_above() { awk "BEGIN { exit !($(proc_cpu_seconds "$1") > $2 + $3) }"; }
# Whether pid $1 is using CPU (in 0.3 s).
uses_cpu() {
	local c0
	c0=$(proc_cpu_seconds "$1")
	sleep 0.3
	python3 -c "import sys; sys.exit(not $(proc_cpu_seconds "$1") > $c0)"
}

# --- SIGKILL while sampling at 999 Hz: a busy multi-threaded target and
# one counting signals; in wall mode the kill often lands while a tick
# holds a thread stopped, or between a signal's stop and its delivery.
for mode in cpu wall; do
	spawn_quiet "$TARGETS/spin" -t 3 -s 300
	spin=$!
	rm -f "$WORK/in" "$WORK/stop" "$WORK/sent"
	: >"$WORK/sig.out"
	mkfifo "$WORK/in"
	"$TARGETS/sigcount" <"$WORK/in" >"$WORK/sig.out" &
	sig=$!
	CHILDREN+=($sig)
	python3 "$WC" signals $sig "$WORK/in" "$WORK/sig.out" "$WORK/stop" "$WORK/sent" &
	sender=$!
	CHILDREN+=($sender)
	wait_for "grep -q ready '$WORK/sig.out'" 10
	bad=""
	rounds=8
	for round in $(seq $rounds); do
		"$SAMPLED" attach --mode $mode --rate 999 --socket "$WORK/spin.sock" $spin >/dev/null ||
			bad="$bad attach-spin-$round"
		"$SAMPLED" attach --mode $mode --rate 999 --socket "$WORK/sig.sock" $sig >/dev/null ||
			bad="$bad attach-sig-$round"
		d1=$(daemon_of "$WORK/spin.sock")
		d2=$(daemon_of "$WORK/sig.sock")
		sleep "$(rand_delay)"
		kill -9 $d1
		sleep "$(rand_delay)"
		kill -9 $d2
		wait_for "dead $d1 && dead $d2" 10 || bad="$bad daemon-survives-$round"
		for p in $spin $sig; do
			st=$(settled_state $p live_state 2)
			live_state "$st" || bad="$bad state-$p-$st-$round"
			[ "$(tracer_of $p)" = 0 ] || bad="$bad traced-$p-$round"
		done
	done
	check "$mode: $rounds SIGKILLs at random moments leave both targets running, untraced${bad:+:$bad}" \
		[ -z "$bad" ]
	check "$mode: the busy target keeps using CPU" uses_cpu $spin
	touch "$WORK/stop"
	wait $sender
	wait $sig
	sent=$(cat "$WORK/sent" 2>/dev/null)
	got=$(tail -n 1 "$WORK/sig.out")
	check "$mode: every SIGUSR1 and every byte reached the target ($got; sent ${sent#usr1 })" \
		all_of '[ -n "$sent" ]' '[ "$got" = "$sent" ]'
	kill $spin
done

# --- SIGKILL while a client is receiving a big tree.
for mode in cpu wall; do
	: >"$WORK/big.out"	# before the start: the waits below read it
	"$TARGETS/churn" -g -t 0 -s 300 >"$WORK/big.out" &
	pid=$!
	CHILDREN+=($pid)
	wait_for "grep -q 'phase2 ready' '$WORK/big.out'" 10
	"$SAMPLED" attach --mode $mode --rate 999 --socket "$WORK/big.sock" $pid >/dev/null
	d=$(daemon_of "$WORK/big.sock")
	# Every sample adds tens of nodes: CPU time, not wall time, makes the tree big.
	wait_for "cpu_above $pid $(proc_cpu_seconds $pid) 1.5" 60
	rm -f "$WORK/slow.log"
	timeout 60 python3 "$WC" slow "$WORK/big.sock" "$WORK/slow.log" &
	client=$!
	wait_for "grep -qs size '$WORK/slow.log'" 20
	sleep 0.05
	kill -9 $d
	wait $client
	rc=$?
	read -r got size <<<"$(sed -n 's/^got \([0-9]*\) of \([0-9]*\)$/\1 \2/p' "$WORK/slow.log")"
	check "$mode: a client reading a ${size:-?}-byte tree sees the daemon's death as the end of the stream (got ${got:-?} bytes, status $rc)" \
		all_of '[ "$rc" = 0 ]' '[ -n "$got" ]' '[ "$got" -lt "$size" ]'
	wait_for "dead $d" 10
	st=$(settled_state $pid live_state 2)
	check "$mode: the target runs on untraced ($st, tracer $(tracer_of $pid))" \
		sh -c "[ '$(tracer_of $pid)' = 0 ] && { [ '$st' = R ] || [ '$st' = S ]; }"
	check "$mode: and keeps using CPU" uses_cpu $pid
	kill $pid
	wait $pid 2>/dev/null
done

# --- A target that starts and ends 1,000 threads, forks and execs
# /bin/true, then execs itself, while clients keep asking.
for mode in cpu wall; do
	sock=$WORK/churn.sock
	: >"$WORK/churn.out"	# before the start: the waits below read it
	"$TARGETS/churn" -t 1000 -b 20 -m 1 -f 5 -s 2 >"$WORK/churn.out" &
	pid=$!
	CHILDREN+=($pid)
	wait_for "grep -q ready '$WORK/churn.out'" 10
	"$SAMPLED" attach --mode $mode --rate 999 --socket "$sock" $pid >/dev/null
	d=$(daemon_of "$sock")
	sleep 0.3
	fd0=$(fd_count $d)
	kill -USR1 $pid
	asked=0
	answered=0
	end=$((SECONDS + 120))
	while ! grep -q 'phase2 done' "$WORK/churn.out" && [ $SECONDS -lt $end ]; do
		asked=$((asked + 2))
		quiet "$CTL" --timeout 10 --socket "$sock" status && answered=$((answered + 1))
		quiet "$CTL" --timeout 10 --socket "$sock" tree --threads && answered=$((answered + 1))
	done
	check "$mode: the target went through both phases ($(head -c 200 "$WORK/churn.out" | tr '\n' ';'))" \
		grep -q 'phase1 threads 1000 forks 10' "$WORK/churn.out"
	check "$mode: status and tree answered all along ($answered of $asked)" \
		all_of '[ "$asked" -ge 4 ]' '[ "$answered" = "$asked" ]'
	fd1=$(fd_count $d)
	check "$mode: no descriptor leaked ($fd0 before the churn, $fd1 after)" [ "$fd1" -le "$fd0" ]
	"$CTL" --socket "$sock" status --json >"$WORK/churn.status"
	live=$(python3 -c "
import json; s = json.load(open('$WORK/churn.status'))
print(' '.join(str(t['tid']) for t in s['threads'] if not t['exited']))")
	check "$mode: only the main thread is left running in status ($live)" [ "$live" = "$pid" ]
	check "$mode: the new program's code is named after the exec" \
		sh -c "'$CTL' --socket '$sock' tree --show-all | grep -q walk_a"
	kill -USR1 $pid
	wait $pid
	check "$mode: the target ended normally" [ $? = 0 ]
	wait_for "[ \"\$(json_field '$sock' 's[\"state\"]')\" = exited ]" 5
	"$CTL" --socket "$sock" status --json >"$WORK/churn.status"
	"$CTL" --socket "$sock" export --threads >"$WORK/churn.folded"
	read -r samples lost nthreads tsum <<<"$(python3 -c "
import json; s = json.load(open('$WORK/churn.status'))
print(s['samples'], s['lost_samples'], len(s['threads']), sum(t['samples'] for t in s['threads']))")"
	fsum=$(awk '{ n += $NF } END { print n + 0 }' "$WORK/churn.folded")
	froots=$(awk '{ sub(/;.*/, ""); print }' "$WORK/churn.folded" | sort -u | wc -l)
	echo "# $mode churn: $samples samples, $lost lost, $nthreads threads known ($froots with samples); tree $fsum samples; fds $fd0 -> $fd1"
	check "$mode: the per-thread tree holds every sample status counts ($fsum vs $samples)" \
		[ "$fsum" = "$samples" ]
	check "$mode: the threads' samples add up to the total ($tsum vs $samples)" [ "$tsum" = "$samples" ]
	if [ $mode = wall ]; then
		check "wall: every thread was seen ($nthreads of 1001)" [ "$nthreads" -ge 1001 ]
	fi
	quiet "$CTL" --socket "$sock" stop
done

# --- Detaching in the middle of the churn (wall mode): daemons attached,
# then stopped or SIGKILLed at random moments while threads start and end
# and the program execs.  No thread may be left traced or stopped: the
# target would then never finish.
: >"$WORK/churn2.out"	# before the start: the waits below read it
"$TARGETS/churn" -g -t 2000 -b 20 -m 1 -f 3 -s 1 >"$WORK/churn2.out" &
pid=$!
CHILDREN+=($pid)
wait_for "grep -q ready '$WORK/churn2.out'" 10
bad=""
rounds=0
while ! grep -q 'phase2 ready' "$WORK/churn2.out" && [ $rounds -lt 10 ]; do
	rounds=$((rounds + 1))
	if ! "$SAMPLED" attach --mode wall --rate 999 --socket "$WORK/c2.sock" $pid >/dev/null; then
		bad="$bad attach-$rounds"
		continue
	fi
	d=$(daemon_of "$WORK/c2.sock")
	sleep "$(rand_delay)"
	if [ $((rounds % 2)) = 0 ]; then
		timeout 20 "$CTL" --socket "$WORK/c2.sock" stop >/dev/null || bad="$bad stop-$rounds"
	else
		kill -9 $d
	fi
	wait_for "dead $d" 10 || bad="$bad daemon-survives-$rounds"
	traced=$(grep -h TracerPid /proc/$pid/task/*/status 2>/dev/null | grep -vc 'TracerPid:[[:space:]]*0$')
	[ "$traced" = 0 ] || bad="$bad $traced-traced-$rounds"
	st=$(settled_state $pid live_state 2)
	live_state "$st" || bad="$bad state-$st-$rounds"
done
check "wall: $rounds rounds of attach, then stop or SIGKILL, in the churn leave nothing traced or stopped${bad:+:$bad}" \
	[ -z "$bad" ]
wait_for "grep -q 'phase2 done' '$WORK/churn2.out'" 60
kill -USR1 $pid
wait $pid
rc=$?
check "wall: and the target went through both phases and exited normally ($(grep -c . "$WORK/churn2.out") lines, status $rc)" \
	all_of '[ "$rc" = 0 ]' "grep -q 'phase2 done' '$WORK/churn2.out'"

# --- A target stopped by SIGSTOP: the daemon answers at once.
for mode in cpu wall; do
	sock=$WORK/stopped.sock
	spawn_quiet "$TARGETS/spin" -t 2 -s 300
	pid=$!
	"$SAMPLED" attach --mode $mode --rate 999 --socket "$sock" $pid >/dev/null
	sleep 0.3
	kill -STOP $pid
	sleep 0.3
	t0=$(date +%s.%N)
	ok_all=1
	for c in status tree dump; do
		quiet "$CTL" --timeout 10 --socket "$sock" $c || ok_all=0
	done
	took=$(python3 -c "print(round($(date +%s.%N) - $t0, 2))")
	check "$mode: status, tree and dump answer a stopped target's daemon in ${took} s" \
		sh -c "[ $ok_all = 1 ] && python3 -c 'import sys; sys.exit(not $took < 3)'"
	check "$mode: the target stays stopped ($(proc_state $pid))" stopped_state "$(proc_state $pid)"
	kill -CONT $pid
	st=$(settled_state $pid live_state 2)
	check "$mode: SIGCONT lets it run ($st)" live_state "$st"
	quiet "$CTL" --socket "$sock" stop
	kill $pid
done

# --- A socket directory the daemon may not write: a clear error, exit 1.
copy_bins_for_unpriv
mkdir "$WORK/ro" "$WORK/xdg" "$WORK/xdg/sampled"
chmod 0500 "$WORK/ro"
# The user's runtime directory is its own, but someone else made sampled/ in it.
chown "$UNPRIV_USER" "$WORK/xdg"
chmod 0700 "$WORK/xdg" "$WORK/xdg/sampled"
as_unpriv "$WORK/bin/targets/spin" -t 1 -s 300 >"$WORK/u.out" &
CHILDREN+=($!)
disown $!	# killed below: no job report
wait_for "grep -q ready '$WORK/u.out'" 10
# $! is the shell that runs setpriv: the target is the user's spin.
upid=$(pgrep -n -u "$UNPRIV_USER" -x spin)
CHILDREN+=($upid)
out=$(as_unpriv "$WORK/bin/sampled" attach --socket "$WORK/ro/t.sock" $upid 2>&1)
rc=$?
echo "# $out"
check "an unwritable socket directory: exit status 1 (got $rc)" [ "$rc" = 1 ]
check "and an error naming the path and the cause" \
	sh -c "echo '$out' | grep -q '$WORK/ro/' && echo '$out' | grep -qi 'permission denied'"
out=$(set -o pipefail; as_unpriv "$WORK/bin/sampled" attach --foreground --socket "$WORK/ro/t.sock" \
	$upid 2>&1 | tail -n 1)
rc=$?
echo "# $out"
check "the same in the foreground (status $rc)" \
	sh -c "[ $rc = 1 ] && echo '$out' | grep -q '$WORK/ro/t.lock: Permission denied'"
out=$(as_unpriv env XDG_RUNTIME_DIR="$WORK/xdg" "$WORK/bin/sampled" attach $upid 2>&1)
rc=$?
echo "# $out"
check "a default socket directory owned by another user is refused (status $rc)" \
	sh -c "[ $rc = 1 ] && echo '$out' | grep -q '$WORK/xdg/sampled belongs to uid 0'"
check "nothing was left in the directories" \
	[ -z "$(find "$WORK/ro" "$WORK/xdg/sampled" -mindepth 1)" ]
check "the target was not disturbed ($(proc_state $upid), tracer $(tracer_of $upid))" \
	all_of "live_state '$(proc_state $upid)'" "[ '$(tracer_of $upid)' = 0 ]"
kill $upid
