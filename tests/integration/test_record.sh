#!/usr/bin/env bash
# One-shot runs: `sampled record` runs a command under the profiler, prints
# its tree after the command's own output, writes -o FILE in the format its
# name says, and exits with the command's status (codes, 128 + signal,
# 127/126); signals sent to it reach the command.  `sampled attach
# --duration` samples a running target for a while, writes its file and
# leaves the target running.  `samplectl save` and every view's --load
# give offline exactly what the live daemon gave.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SPLIT_PY=$ROOT/tests/targets/py/split.py

# Record runs serve sockets under $WORK too: none may outlive the test.
record_cleanup() {
	local p
	for p in $(pgrep -f "sampled record.*$WORK" 2>/dev/null); do
		kill -9 "$p" 2>/dev/null
	done
	cleanup
}
trap record_cleanup EXIT

# The share in percent of the first tree line naming function $2 in file $1.
share_of() {
	sed -n "s/^[^0-9]*[0-9.]* *\([0-9.]*\)%  $2  .*/\1/p" "$1" | head -n 1
}

# --- record a Python program, to the terminal and to a page --------------
"$SAMPLED" record --socket "$WORK/rec.sock" -o "$WORK/p.html" -- \
	python3 "$SPLIT_PY" 3 >"$WORK/rec.out" 2>"$WORK/rec.err"
rc=$?
check "record of a Python program exits 0 (rc $rc)" [ $rc -eq 0 ]
check "the program's own output comes first" \
	sh -c "grep -n '^truth ' '$WORK/rec.out' | head -1 | cut -d: -f1 > '$WORK/l1'; \
	       grep -n '^Target: ' '$WORK/rec.out' | head -1 | cut -d: -f1 > '$WORK/l2'; \
	       [ -s '$WORK/l1' ] && [ -s '$WORK/l2' ] && [ \$(cat '$WORK/l1') -lt \$(cat '$WORK/l2') ]"
check "the tree header names the command and its exit" \
	grep -q "^Duration: .*exited with code 0" "$WORK/rec.out"
check "the header shows the command line, not sampled's" \
	grep -q "^Target: .*(python3) python3 .*split.py 3" "$WORK/rec.out"
for f in main a b c spin; do
	check "the tree shows the Python function $f" grep -q "  $f  .*split.py:" "$WORK/rec.out"
done
sa=$(share_of "$WORK/rec.out" a)
sc=$(share_of "$WORK/rec.out" c)
echo "# shares: a ${sa:-?}%, c ${sc:-?}%"
check "a (60% of the work) outweighs c (10%)" \
	python3 -c "import sys; sys.exit(not float('${sa:-0}') > float('${sc:-100}'))"
check "no socket is left behind" [ ! -e "$WORK/rec.sock" ]
check "the page is written" grep -qi '<html' "$WORK/p.html"
check "the page holds the profile" grep -q 'split.py' "$WORK/p.html"
check "the page is self-contained (no external script, style or image)" \
	sh -c "! grep -Eiq '<(script|img)[^>]* src=|<link[^>]* href=|url\\((https?:)?//' '$WORK/p.html'"
check "nothing but warnings on stderr" sh -c "! grep -v ' warn ' '$WORK/rec.err' | grep -q ."

# --- exit statuses passed through -----------------------------------------
"$SAMPLED" record -- sh -c 'exit 3' >/dev/null 2>&1
check "exit code 3 passed through" [ $? -eq 3 ]
"$SAMPLED" record -- true >/dev/null 2>&1
check "exit code 0 passed through" [ $? -eq 0 ]
"$SAMPLED" record -- sh -c 'kill -TERM $$' >/dev/null 2>&1
check "killed by SIGTERM gives 143" [ $? -eq 143 ]
"$SAMPLED" record --mode wall -- sh -c 'exit 5' >/dev/null 2>&1
check "wall mode passes the exit code through too" [ $? -eq 5 ]
"$SAMPLED" record -- "$WORK/no-such-command" >/dev/null 2>"$WORK/nf.err"
rc=$?
check "a command not found gives 127 (rc $rc)" [ $rc -eq 127 ]
check "and says so" grep -q "cannot run '$WORK/no-such-command': No such file" "$WORK/nf.err"
printf 'echo hi\n' >"$WORK/noexec.sh"
chmod 644 "$WORK/noexec.sh"
"$SAMPLED" record -- "$WORK/noexec.sh" >/dev/null 2>&1
check "a command that cannot be run gives 126" [ $? -eq 126 ]
"$SAMPLED" record -o "$WORK/x.png" -- true >/dev/null 2>"$WORK/png.err"
check "an output whose format is unknown is a usage error" [ $? -eq 2 ]
check "naming the endings it knows" grep -q '\.folded' "$WORK/png.err"

# --- a signal to sampled reaches the command; the profile is live meanwhile
"$SAMPLED" record --socket "$WORK/live.sock" -- "$TARGETS/spin" -t 2 -s 60 \
	>"$WORK/live.out" 2>&1 &
rec=$!
CHILDREN+=($rec)
check "the record serves its socket while the command runs" \
	wait_for "'$CTL' --socket '$WORK/live.sock' status >/dev/null 2>&1" 10
sleep 1
check "samplectl sees the command live" \
	sh -c "'$CTL' --socket '$WORK/live.sock' tree | grep -q ' spin '"
check "status shows the command, not sampled" \
	[ "$(json_field "$WORK/live.sock" 's["target_comm"]')" = spin ]
kill -TERM $rec
wait $rec
rc=$?
check "SIGTERM to sampled ends the command: 143 (rc $rc)" [ $rc -eq 143 ]
check "and the tree is printed at the end" grep -q "killed by signal 15" "$WORK/live.out"

# A record on the default socket is listed like any daemon, under its command.
"$SAMPLED" record -- sh -c 'sleep 4.25; :' >/dev/null 2>&1 &
rec=$!
CHILDREN+=($rec)
wait_for "pgrep -f '^sh -c sleep 4.25; :\$' >/dev/null" 10
cmd_pid=$(pgrep -f '^sh -c sleep 4.25; :$' | head -n 1)
check "samplectl list shows the recorded command's pid and name" \
	wait_for "'$CTL' list 2>/dev/null | grep -Eq '^ *${cmd_pid:-none} +sh +running +[0-9.]+ ?[a-z]+ '" 10
check "samplectl --pid finds it" quiet "$CTL" --pid "${cmd_pid:-1}" status
kill -TERM $rec
wait $rec

# --- record writes every format its -o names --------------------------------
"$SAMPLED" record -o "$WORK/r.folded" -- "$TARGETS/spin" -t 1 -s 1 >/dev/null 2>&1
check "record -o .folded writes collapsed stacks" \
	grep -Eq '^[^ ]*spin [0-9]+$' "$WORK/r.folded"
"$SAMPLED" record -o "$WORK/r.svg" -- "$TARGETS/spin" -t 1 -s 0.5 >/dev/null 2>&1
check "record -o .svg writes a flame graph" grep -q '<svg' "$WORK/r.svg"
"$SAMPLED" record -o "$WORK/r.json" -- "$TARGETS/spin" -t 1 -s 0.5 >/dev/null 2>&1
check "record -o .json writes speedscope" grep -q 'speedscope' "$WORK/r.json"
"$SAMPLED" record -o "$WORK/r.txt" -- "$TARGETS/spin" -t 1 -s 0.5 >/dev/null 2>&1
check "record -o .txt writes the text tree" grep -q '^Target: ' "$WORK/r.txt"

# --- attach --duration: sample a while, write, detach, exit ----------------
spawn_quiet "$TARGETS/spin" -t 2 -s 120
target=$!
sleep 0.3
t0=$(date +%s.%N)
"$SAMPLED" attach --duration 2s -o "$WORK/x.folded" $target >"$WORK/dur.out" 2>&1
rc=$?
t1=$(date +%s.%N)
elapsed=$(python3 -c "print(round($t1 - $t0, 2))")
echo "# attach --duration 2s took ${elapsed}s"
check "attach --duration exits 0 (rc $rc)" [ $rc -eq 0 ]
check "it sampled about 2 s (${elapsed}s)" \
	python3 -c "import sys; sys.exit(not 1.9 <= $elapsed < 15)"
check "it writes a collapsed file" grep -Eq '^[^ ]*spin [0-9]+$' "$WORK/x.folded"
check "and prints nothing else with -o" [ ! -s "$WORK/dur.out" ]
check "the target runs on" live_state "$(settled_state $target live_state)"
check "no daemon is left attached" [ -z "$(pgrep -f "sampled attach --duration 2s -o $WORK")" ]
# Without -o the tree is printed; SIGTERM ends the sampling early, the tree still comes.
"$SAMPLED" attach -d 1h --socket "$WORK/dur.sock" $target >"$WORK/dur2.out" 2>&1 &
dur=$!
CHILDREN+=($dur)
wait_for "[ -S '$WORK/dur.sock' ]" 10
sleep 1
kill -TERM $dur
wait $dur
rc=$?
check "SIGTERM ends attach --duration early, exit 0 (rc $rc)" [ $rc -eq 0 ]
check "and the tree is printed" grep -q '  spin  ' "$WORK/dur2.out"
check "the target still runs" live_state "$(settled_state $target live_state)"
kill $target

# --- save and --load: offline views equal the live ones ------------------
sock=$WORK/save.sock
"$TARGETS/spin" -t 2 -s 2 >/dev/null &
target=$!
CHILDREN+=($target)
"$SAMPLED" attach --socket "$sock" $target >/dev/null
wait $target
wait_for "[ \"\$(json_field '$sock' 's[\"state\"]')\" = exited ]" 5
check "save writes the profile" quiet "$CTL" --socket "$sock" save -o "$WORK/run.sprof"
"$CTL" --socket "$sock" export -o "$WORK/live.folded"
"$CTL" export --load "$WORK/run.sprof" -o "$WORK/saved.folded"
check "the saved profile's collapsed stacks equal the live ones" \
	cmp -s "$WORK/live.folded" "$WORK/saved.folded"
check "and they are not empty" [ -s "$WORK/saved.folded" ]
"$CTL" --socket "$sock" export --threads -o "$WORK/live-t.folded"
"$CTL" export --threads --load "$WORK/run.sprof" -o "$WORK/saved-t.folded"
check "per thread too" cmp -s "$WORK/live-t.folded" "$WORK/saved-t.folded"
"$CTL" --socket "$sock" tree --no-color --ascii --min-percent 0 >"$WORK/live.tree"
"$CTL" tree --no-color --ascii --min-percent 0 --load "$WORK/run.sprof" >"$WORK/saved.tree"
check "the text tree is the same" cmp -s "$WORK/live.tree" "$WORK/saved.tree"
tid=$(json_field "$sock" 'max(s["threads"], key=lambda t: t["samples"])["tid"]')
"$CTL" --socket "$sock" tree --no-color --tid "$tid" >"$WORK/live-tid.tree"
"$CTL" tree --no-color --tid "$tid" --load "$WORK/run.sprof" >"$WORK/saved-tid.tree"
check "one thread's tree is the same" cmp -s "$WORK/live-tid.tree" "$WORK/saved-tid.tree"
"$CTL" --socket "$sock" top >"$WORK/live.top"
"$CTL" top --load "$WORK/run.sprof" >"$WORK/saved.top"
check "top is the same" cmp -s "$WORK/live.top" "$WORK/saved.top"
"$CTL" --socket "$sock" status --json | python3 -c 'import json,sys; s=json.load(sys.stdin); [s.pop(k) for k in ("uptime_ns","daemon_cpu_ns","daemon_rss_bytes")]; print(json.dumps(s, sort_keys=True))' >"$WORK/live.status"
"$CTL" status --json --load "$WORK/run.sprof" | python3 -c 'import json,sys; s=json.load(sys.stdin); [s.pop(k) for k in ("uptime_ns","daemon_cpu_ns","daemon_rss_bytes")]; print(json.dumps(s, sort_keys=True))' >"$WORK/saved.status"
check "status is the same (but for the daemon's clock and usage)" \
	cmp -s "$WORK/live.status" "$WORK/saved.status"
check "flame reads a saved profile" \
	sh -c "'$CTL' flame --load '$WORK/run.sprof' | grep -q '<svg'"
quiet "$CTL" --socket "$sock" stop
check "--load needs no daemon" quiet "$CTL" tree --load "$WORK/run.sprof"
out=$("$CTL" dump --load "$WORK/run.sprof" 2>&1)
check "dump takes no --load" [ $? -eq 2 ]

# A Python target's file answers the GIL views too (where this build has them).
if "$CTL" help tree | grep -q -- '--gil'; then
	sock=$WORK/py.sock
	python3 "$SPLIT_PY" 2 >"$WORK/py.out" &
	target=$!
	CHILDREN+=($target)
	wait_for "grep -q ready '$WORK/py.out'" 10
	"$SAMPLED" attach --socket "$sock" $target >/dev/null
	wait $target
	wait_for "[ \"\$(json_field '$sock' 's[\"state\"]')\" = exited ]" 5
	quiet "$CTL" --socket "$sock" save -o "$WORK/py.sprof"
	for gil in held released; do
		"$CTL" --socket "$sock" tree --no-color --gil $gil >"$WORK/live-$gil.tree"
		"$CTL" tree --no-color --gil $gil --load "$WORK/py.sprof" >"$WORK/saved-$gil.tree"
		check "a Python profile's --gil $gil tree is the same saved" \
			cmp -s "$WORK/live-$gil.tree" "$WORK/saved-$gil.tree"
	done
	quiet "$CTL" --socket "$sock" stop
fi

# A record's .sprof re-renders the tree it printed.
"$SAMPLED" record -o "$WORK/rec.sprof" -- "$TARGETS/spin" -t 1 -s 1 >"$WORK/rec2.out" 2>/dev/null
"$CTL" tree --load "$WORK/rec.sprof" >"$WORK/rec2.tree"
grep -v '^ready$' "$WORK/rec2.out" >"$WORK/rec2.printed"	# the target's own line
check "record -o .sprof holds the tree record printed" \
	cmp -s "$WORK/rec2.printed" "$WORK/rec2.tree"

# Broken files give one clear line and exit 1.
head -c 100 "$WORK/run.sprof" >"$WORK/cut.sprof"
out=$("$CTL" tree --load "$WORK/cut.sprof" 2>&1)
rc=$?
check "a truncated file is refused (rc $rc)" [ $rc -eq 1 ]
check "as truncated: $out" sh -c "echo '$out' | grep -q 'cut.sprof: truncated'"
out=$("$CTL" tree --load /etc/passwd 2>&1)
check "a file that is no profile is refused: $out" \
	sh -c "echo '$out' | grep -q 'not a saved profile'"
out=$("$CTL" --pid 1 tree --load "$WORK/run.sprof" 2>&1)
check "--load with --pid is refused" sh -c "echo '$out' | grep -q 'do not go with it'"
