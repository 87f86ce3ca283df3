#!/usr/bin/env bash
# sampled against perf on programs nobody here wrote: Debian's python3.11
# running a CPU-bound stdlib workload, and xz -9 compressing a generated
# file.  Both profilers sample the SAME run at the same time (perf record
# --call-graph dwarf -p PID beside sampled attach), and their self time per
# function must agree: same top function, and for each of perf's top 5
# functions (and modules) with >= 5% of the samples, sampled's share within
# 3 points of perf's.
#
# Statistics.  Both tools sample at 999 Hz, from the same moment (the
# target waits, stopped, until both are attached) to its exit: python for
# 9 s of its CPU time, xz for 12 MB of input (8-12 s of CPU here).
# Measured: python 8990-9020 samples, xz 8300-12000, and both tools
# count the same number within 0.1% (they sample the same task clock at
# the same period, often at the same instants).  A function's self share
# is a proportion with sd sqrt(p(1-p)/n) per tool; taking the two as
# independent (the real spread is smaller, as they share many instants),
# the difference has sd sqrt(2p(1-p)/n): at n = 8300, 0.78 points at
# p = 0.5, 0.71 at p = 0.3 or 0.7 (the top shares here: 25% and 70%),
# 0.47 at p = 0.1.  3 points is >= 3.8 sd for any share, >= 4.2 sd for
# the real ones: a false failure has probability < 1e-4 per comparison, and
# the differences seen over a dozen runs were at most 1.6 points (0.6
# since the windows were aligned).  A wrong answer (a static function
# charged to the exported symbol before it, a wrong load bias, the
# samples of one module dropped) moves a share by 5 points or more, which
# the same tolerance catches with probability > 0.99; --control checks
# that such a doctored profile is rejected.  At perf's usual -F 99 the
# same run gives n ~ 900 and sd ~ 2.2 points at p = 0.3: 3 points would
# flake about one run in six, hence 999 Hz for both.
#
# perf knows nothing of Python, so sampled runs with --python off: both
# see native frames only.  Both read Debian's separate debug info where it
# is installed (libc6-dbg); functions are compared by module and start
# address, whichever tool could name them, and unnamed code by module and
# .eh_frame function (see tests/bench/perfcmp.py).
. "$(dirname "$0")/lib.sh"

PERFCMP=$(cd "$(dirname "$0")/../bench" && pwd)/perfcmp.py
PY=/usr/bin/python3.11
RATE=999

if ! command -v perf >/dev/null 2>&1 || ! perf version >/dev/null 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "# SKIP perf is not installed (linux-perf) and we are not root"
		exit 0
	fi
	not_ok "perf is installed (make deps installs linux-perf)"
	exit 1
fi

# A probe: can perf record follow another process here?
sleep 5 &
probe=$!
CHILDREN+=("$probe")
if ! perf record -N -q -F 99 -g --call-graph dwarf -o "$WORK/probe.data" -p $probe -- sleep 0.2 \
	>"$WORK/probe.err" 2>&1; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "# SKIP perf record -p cannot run as $(id -un) (perf_event_paranoid=$(cat /proc/sys/kernel/perf_event_paranoid)): $(head -n 1 "$WORK/probe.err")"
		exit 0
	fi
	not_ok "perf record runs as root: $(head -n 3 "$WORK/probe.err" | tr '\n' ' ')"
	exit 1
fi
kill $probe 2>/dev/null
rm -f "$WORK/probe.data"
# An 8 MiB ring for perf as for sampled (beyond perf_event_mlock_kb only
# root may lock that much).
PERF_MMAP=
[ "$(id -u)" -ne 0 ] || PERF_MMAP="-m 2048"

# profile_both NAME PID: PID is stopped (SIGSTOP); starts perf and sampled
# on it, lets it go on, and profiles it until it ends, so that both tools
# see exactly the same stretch of the run (xz's mix of functions changes as
# its dictionary fills: a window that starts later is a different profile).
# Leaves $WORK/NAME.{perf,stats,folded,maps,status} and removes perf.data.
profile_both() {
	local name=$1 pid=$2 sock=$WORK/$1.sock perfpid
	perf record -N -F $RATE -g --call-graph dwarf $PERF_MMAP -o "$WORK/$name.data" -p "$pid" \
		>"$WORK/$name.perf.log" 2>&1 &
	perfpid=$!
	CHILDREN+=("$perfpid")
	# perf has opened its events once they show in its fd table.
	wait_for "ls -l /proc/$perfpid/fd 2>/dev/null | grep -q perf_event" 20 ||
		not_ok "$name: perf record opened its events"
	sleep 0.3
	# perf sees the interpreter's native frames only: so must sampled here.
	"$SAMPLED" attach --rate $RATE --buffer-size 8192 --python off --socket "$sock" "$pid" \
		>/dev/null
	cp "/proc/$pid/maps" "$WORK/$name.maps"
	kill -CONT "$pid"
	wait "$pid"
	wait "$perfpid"
	"$CTL" --socket "$sock" export -f collapsed -o "$WORK/$name.folded"
	"$CTL" --socket "$sock" status --json >"$WORK/$name.status"
	"$CTL" --socket "$sock" stop >/dev/null
	perf report -i "$WORK/$name.data" --no-children -F sample,dso,sym \
		-t '|' -g none -q --stdio >"$WORK/$name.perf" 2>"$WORK/$name.report.err"
	perf report -i "$WORK/$name.data" --stats >"$WORK/$name.stats" 2>/dev/null
	rm -f "$WORK/$name.data" "$WORK/$name.data.old"
}

# Agreement of the sample counts: same rate, same process, same stretch
# of the run give the same count, less what either tool lost when its ring
# filled (a busy machine can starve either reader: both rings are made
# large, 8 MiB, and the losses are reported, not judged).
check_counts() {
	local name=$1 np ns lost plost
	np=$(awk -F'|' '$1+0 > 0 {n += $1} END {print n+0}' "$WORK/$name.perf")
	ns=$(python3 -c "import json; print(json.load(open('$WORK/$name.status'))['samples'])")
	lost=$(python3 -c "import json; print(json.load(open('$WORK/$name.status'))['lost_samples'])")
	plost=$(sed -n 's/^ *LOST\(_SAMPLES\)\{0,1\} events: *\([0-9]*\).*/\2/p' "$WORK/$name.stats" |
		awk '{n += $1} END {print n+0}')
	echo "# $name: sampled $ns samples ($lost lost), perf $np samples ($plost lost records)"
	check "$name: both tools took enough samples to judge (sampled $ns, perf $np)" \
		[ "$np" -ge 3000 -a "$ns" -ge 3000 ]
	check "$name: sampled counted as many samples as perf (sampled $ns + $lost lost, perf $np)" \
		python3 -c "import sys; sys.exit(not (0.85 * $np <= $ns + $lost and ($plost > 0 or $ns <= 1.2 * $np)))"
}

# (a) python3.11: json, float formatting, re, sorting and a pure-Python
# recursion; it stops itself once set up, then loops for $1 seconds of its
# CPU time (a fixed amount of work: a busy machine makes it take longer,
# not sample less).
cat >"$WORK/work.py" <<'EOF'
import json, os, re, signal, sys, time

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

data = [{"id": i, "name": "item%d" % i, "tags": ["a", "b", str(i % 7)], "v": i * 0.37}
        for i in range(2000)]
pat = re.compile(r"item(\d+)7")
n = 0
print("ready", flush=True)
os.kill(os.getpid(), signal.SIGSTOP)
end = time.process_time() + float(sys.argv[1])
while time.process_time() < end:
    n += fib(21)
    s = json.dumps(data)
    d = json.loads(s)
    n += len(pat.findall(s))
    d.sort(key=lambda x: (x["tags"][2], -x["id"]))
print(n)
EOF
if [ -x "$PY" ]; then
	"$PY" "$WORK/work.py" 9 >"$WORK/py.out" &
	pypid=$!
	CHILDREN+=("$pypid")
	wait_for "[ \"\$(proc_state $pypid)\" = T ]" 20
	profile_both python $pypid
	check_counts python
	python3 "$PERFCMP" --label python3.11 --perf "$WORK/python.perf" --folded "$WORK/python.folded" \
		--maps "$WORK/python.maps" --control
else
	echo "# SKIP $PY is not installed"
fi

# (b) xz -9 -T1 on 12 MB of generated text (8-12 s of CPU here: xz -9
# does 1-1.5 MB/s on this text, so the 30-60 MB first planned would take
# most of a minute).  liblzma's own functions are stripped: most keys are
# liblzma.so.5+FDE and the module level is liblzma itself.
python3 - "$WORK/in.txt" <<'EOF'
import random, sys
r = random.Random(7)
words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 9)))
         for _ in range(5000)]
with open(sys.argv[1], "w") as f:
    n = 0
    while n < 12 * 1000 * 1000:
        line = " ".join(r.choice(words) for _ in range(12)) + " %d\n" % r.randint(0, 10**9)
        f.write(line)
        n += len(line)
EOF
xz -9 -T1 -c "$WORK/in.txt" >/dev/null &
xzpid=$!
CHILDREN+=("$xzpid")
# Stop it once it is xz (not the shell that forks it), a few ms in.
wait_for "[ \"\$(readlink /proc/$xzpid/exe)\" = \"\$(command -v xz | xargs readlink -f)\" ]" 10
kill -STOP $xzpid
wait_for "[ \"\$(proc_state $xzpid)\" = T ]" 10
profile_both xz $xzpid
check_counts xz
python3 "$PERFCMP" --label xz --perf "$WORK/xz.perf" --folded "$WORK/xz.folded" \
	--maps "$WORK/xz.maps" --control
rm -f "$WORK/in.txt"
