#!/usr/bin/env bash
# sampled against perf on programs nobody here wrote: Debian's python3.11
# running a CPU-bound stdlib workload, and xz -9 compressing a generated
# file.  Both profilers sample the SAME run at the same time (perf record
# --call-graph dwarf -p PID beside sampled attach), and their self time per
# function must agree: same top function, and for each of perf's top 5
# functions (and modules) with >= 5% of the samples, sampled's share within
# 3 points of perf's.
#
# Statistics.  Both tools sample at 999 Hz for ~7 s of target CPU time, so
# each has n ~ 6000-7000 samples.  A function's share is then a proportion
# with sd sqrt(p(1-p)/n) per tool, and the difference of two independent
# proportions has sd sqrt(p(1-p)(1/n1+1/n2)): at most 0.85 points at n=7000
# (p=0.5), 0.75 points at p=0.3.  3 points is >= 3.5 sd for any p, >= 4 sd
# for the shares that really occur here (<= 35% or >= 65%): a false
# failure has probability < 1e-4 per comparison.  A wrong answer (a static
# function charged to the exported symbol before it, a wrong load bias,
# samples of one module dropped) moves a share by well over 5 points, which
# the same tolerance catches with probability > 0.99.  At perf's usual
# -F 99 the same run gives n ~ 700 and sd ~ 2.3 points at p=0.3: 3 points
# would flake about one run in five, hence 999 Hz for both.
#
# Both tools must see the same symbols: perf would use Debian's separate
# debug info (libc6-dbg) that sampled does not read, so perf report runs
# with a --symfs holding the mapped files only.  Unnamed code is compared
# by module and .eh_frame function (see tests/bench/perfcmp.py).
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
CHILDREN+=($probe)
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

# profile_both NAME PID: perf and sampled on the running PID until it ends;
# leaves $WORK/NAME.{perf,folded,tree,maps,status} and removes perf.data.
profile_both() {
	local name=$1 pid=$2 sock=$WORK/$1.sock perfpid
	perf record -N -F $RATE -g --call-graph dwarf -o "$WORK/$name.data" -p "$pid" \
		>"$WORK/$name.perf.log" 2>&1 &
	perfpid=$!
	CHILDREN+=($perfpid)
	"$SAMPLED" attach --rate $RATE --socket "$sock" "$pid" >/dev/null
	sleep 0.5
	cp "/proc/$pid/maps" "$WORK/$name.maps" 2>/dev/null
	wait "$pid"
	wait "$perfpid"
	"$CTL" --socket "$sock" export -f collapsed -o "$WORK/$name.folded"
	"$CTL" --socket "$sock" tree --min-percent 0 >"$WORK/$name.tree"
	"$CTL" --socket "$sock" status --json >"$WORK/$name.status"
	"$CTL" --socket "$sock" stop >/dev/null
	# perf sees the mapped files only, through a private symfs.
	local symfs=$WORK/$name.symfs path
	mkdir -p "$symfs"
	perf buildid-list -i "$WORK/$name.data" 2>/dev/null | awk '{print $2}' | grep '^/' |
		while read -r path; do
			[ -f "$path" ] || continue
			mkdir -p "$symfs$(dirname "$path")"
			ln -sf "$path" "$symfs$path"
		done
	perf report -i "$WORK/$name.data" --symfs="$symfs" --no-children -F sample,dso,sym \
		-t '|' -g none -q --stdio >"$WORK/$name.perf" 2>"$WORK/$name.report.err"
	grep -i 'lost' "$WORK/$name.perf.log" | sed 's/^/# perf: /'
	rm -f "$WORK/$name.data" "$WORK/$name.data.old"
}

# Agreement of the sample counts: same rate, same process, same window
# give the same count within a few percent (perf starts a little later).
check_counts() {
	local name=$1 np ns
	np=$(awk -F'|' '$1+0 > 0 {n += $1} END {print n+0}' "$WORK/$name.perf")
	ns=$(python3 -c "import json; print(json.load(open('$WORK/$name.status'))['samples'])")
	check "$name: sampled took as many samples as perf (sampled $ns, perf $np)" \
		python3 -c "import sys; sys.exit(not ($np >= 3000 and 0.85 * $np <= $ns <= 1.2 * $np))"
	local lost
	lost=$(python3 -c "import json; print(json.load(open('$WORK/$name.status'))['lost_samples'])")
	check "$name: sampled lost no samples ($lost)" [ "$lost" -eq 0 ]
}

# (a) python3.11: json, float formatting, re, sorting and a pure-Python
# recursion; it prints "ready" once set up, then loops for $1 seconds.
cat >"$WORK/work.py" <<'EOF'
import json, re, sys, time

def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)

data = [{"id": i, "name": "item%d" % i, "tags": ["a", "b", str(i % 7)], "v": i * 0.37}
        for i in range(2000)]
pat = re.compile(r"item(\d+)7")
n = 0
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    n += fib(21)
    s = json.dumps(data)
    d = json.loads(s)
    n += len(pat.findall(s))
    d.sort(key=lambda x: (x["tags"][2], -x["id"]))
print(n)
EOF
if [ -x "$PY" ]; then
	"$PY" "$WORK/work.py" 7 >"$WORK/py.out" &
	pypid=$!
	CHILDREN+=($pypid)
	wait_for "grep -q ready '$WORK/py.out'" 20
	profile_both python $pypid
	check_counts python
	python3 "$PERFCMP" --label python3.11 --perf "$WORK/python.perf" --folded "$WORK/python.folded" \
		--tree "$WORK/python.tree" --maps "$WORK/python.maps"
else
	echo "# SKIP $PY is not installed"
fi

# (b) xz -9 -T1 on ~10 MB of generated text (~6 s here; xz -9 reaches
# ~2 MB/s on text, so the 30-60 MB first planned would take half a minute
# or more).  liblzma's own functions are stripped: most keys are
# liblzma.so.5+FDE and the module level is liblzma itself.
python3 - "$WORK/in.txt" <<'EOF'
import random, sys
r = random.Random(7)
words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 9)))
         for _ in range(5000)]
with open(sys.argv[1], "w") as f:
    n = 0
    while n < 10 * 1000 * 1000:
        line = " ".join(r.choice(words) for _ in range(12)) + " %d\n" % r.randint(0, 10**9)
        f.write(line)
        n += len(line)
EOF
xz -9 -T1 -c "$WORK/in.txt" >/dev/null &
xzpid=$!
CHILDREN+=($xzpid)
profile_both xz $xzpid
check_counts xz
python3 "$PERFCMP" --label xz --perf "$WORK/xz.perf" --folded "$WORK/xz.folded" \
	--tree "$WORK/xz.tree" --maps "$WORK/xz.maps"
rm -f "$WORK/in.txt"
