#!/usr/bin/env bash
# The benchmarks behind BENCHMARKS.md (`make bench`; QUICK=1 for a short
# run).  Usage: tests/bench/run.sh [BUILD_DIR]
#   1. daemon CPU time per sample at 999 Hz (unwind + symbolize + aggregate);
#   2. slowdown of a fixed amount of work (xz -9 -T1 on a generated file,
#      then a compute loop)
#      under sampled and under perf record --call-graph dwarf, 99 and 999 Hz,
#      against no profiler, interleaved, several runs each;
#   3. the share of [truncated] stacks per --stack-size for deep stacks;
#   4. rendering a 100k-node tree; 5. wall mode's stop times; 6. wall
#      mode's slowdown of a fixed amount of work on 1 and 32 threads;
#   7. symbolization cost (tests/bench/symcost.sh); 8. a Python program's
#      slowdown and the daemon's cost with Python frames (pyslow.sh).
# Everything runs in one go, in about 5 minutes on a 2-core machine (2 in
# QUICK mode); on a loaded machine the slowdown rounds stop early once
# SLOW_BUDGET seconds have gone since the start, so that the whole run
# stays under 10 minutes.  It leaves no process or file behind.
# BENCH_OUT=FILE writes the report elsewhere than BENCHMARKS.md;
# BENCH_RAW=DIR keeps the raw measurements (results.jsonl, meta.json) there.
BENCH_NAME=bench
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3.11
QUICK=${QUICK:-0}
OUT=${BENCH_OUT:-$root/BENCHMARKS.md}
START=$(date +%s)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

if [ "$QUICK" = 1 ]; then
	COST_WINDOW=3 SLOW_REPS=3 SLOW_MB=1.5 STACK_CPU=1.5 WALL_WORK=600 COMPUTE_WORK=600
else
	COST_WINDOW=6 SLOW_REPS=7 SLOW_MB=6 STACK_CPU=3 WALL_WORK=1500 COMPUTE_WORK=1500
fi
COST_WARM=1
COST_PARTS=5
COST_RATE=999
STACK_RATE=999
STACK_SIZES="8192 16384 32768 65528"
SLOW_BUDGET=${SLOW_BUDGET:-450}

RESULTS=$WORK/results.jsonl
: >"$RESULTS"

elapsed() { echo $(($(date +%s) - START)); }

require "$SAMPLED" "$CTL" "$TARGETS/split" "$TARGETS/cxx" "$B/libdaemon.a"
command -v perf >/dev/null 2>&1 && perf version >/dev/null 2>&1 || die "perf is missing (linux-perf)"
[ -x "$PY" ] || die "$PY is missing"
mkdir -p "$B/bench"
cc -O2 -g -fomit-frame-pointer -Wall -Wextra -Werror -o "$B/bench/deep" "$here/deep.c" ||
	die "building deep"
cc -O2 -Wall -Wextra -Werror -o "$B/bench/benchrun" "$here/benchrun.c" || die "building benchrun"
cc -O2 -Wall -Wextra -Werror -pthread -o "$B/bench/threads" "$here/threads.c" || die "building threads"

# The Python workloads, written once: a json/re/sort mix, and a recursion
# that is pure Python (3.11 runs Python-to-Python calls without C
# recursion) or goes through C at every level (map() calls back into the
# interpreter, as callbacks, decorators and C extensions do).
cat >"$WORK/work.py" <<'EOF'
import json, random, re, sys, time
sys.setrecursionlimit(100000)
r = random.Random(5)

def burn(n):
    x = 0
    for i in range(n):
        x += i * i
    return x

# Each level burns a random amount, a pass down takes ~5-10 ms: passes as
# long as the 1 ms sampling period would let the samples lock onto a few
# depths.
def rec(n):
    burn(r.randint(100, 1100))
    if n > 1:
        rec(n - 1)

def rec_c(n):
    burn(r.randint(100, 1100))
    if n > 1:
        list(map(rec_c, [n - 1]))

def mix():
    data = [{"id": i, "name": "item%d" % i, "v": i * 0.37} for i in range(2000)]
    pat = re.compile(r"item(\d+)7")
    s = json.dumps(data)
    d = json.loads(s)
    pat.findall(s)
    d.sort(key=lambda x: -x["id"])

mode, depth, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
f = {"pure": lambda: rec(depth), "c": lambda: rec_c(depth), "mix": mix}[mode]
print("ready", flush=True)
end = time.process_time() + secs
while time.process_time() < end:
    f()
EOF

# ---- 1. daemon CPU time per sample --------------------------------------
# cost LABEL STACK PYTHON COMMAND...: starts COMMAND, attaches at
# $COST_RATE Hz with --stack-size STACK --python PYTHON, and measures the
# daemon between two readings.
cost() {
	local label=$1 stack=$2 python=$3 sock=$WORK/cost.sock pid c0 s0 t0 c1 s1 t1 frames
	shift 3
	"$@" >"$WORK/cost.out" 2>&1 &
	pid=$!
	CHILDREN+=("$pid")
	sleep 0.3
	if ! "$SAMPLED" attach --rate $COST_RATE --stack-size "$stack" --python "$python" \
		--socket "$sock" $pid >/dev/null; then
		say "cost: attach to $label failed"
		stop_pid $pid
		return
	fi
	sleep $COST_WARM
	# One status request per reading (each costs the daemon ~0.2 ms); the
	# window is read in COST_PARTS parts, each its own measurement.
	read -r c0 s0 <<<"$(status_field "$sock" daemon_cpu_ns samples)"
	t0=$(date +%s.%N)
	local part cp=$c0 sp=$s0 ci si parts=""
	for part in $(seq 1 $COST_PARTS); do
		sleep "$(awk -v w=$COST_WINDOW -v n=$COST_PARTS 'BEGIN {print w / n}')"
		read -r ci si <<<"$(status_field "$sock" daemon_cpu_ns samples)"
		parts="$parts${parts:+,}$(awk -v c=$((ci - cp)) -v n=$((si - sp)) \
			'BEGIN {if (n > 0) printf "%.3f", c / 1000 / n; else printf "null"}')"
		cp=$ci
		sp=$si
	done
	c1=$cp
	s1=$sp
	t1=$(date +%s.%N)
	# Frames per sample, from the whole profile.
	"$CTL" --socket "$sock" export -f collapsed -o "$WORK/cost.folded" >/dev/null 2>&1
	frames=$(awk '{n = $NF; $NF = ""; d += n * split($0, f, ";"); t += n}
		END {printf "%.1f", t ? d / t : 0}' "$WORK/cost.folded" 2>/dev/null)
	"$CTL" --socket "$sock" stop >/dev/null 2>&1
	stop_pid $pid
	printf '{"sec":"cost","target":"%s","stack":%d,"rate":%d,"samples":%d,"cpu_ns":%d,"seconds":%s,"frames":%s,"parts":[%s]}\n' \
		"$label" "$stack" $COST_RATE $((s1 - s0)) $((c1 - c0)) \
		"$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')" "${frames:-0}" "$parts" >>"$RESULTS"
	say "cost: $label, stack $stack: $((s1 - s0)) samples, $(((c1 - c0) / 1000)) us of daemon CPU"
}

say "1/3 daemon CPU per sample ($(elapsed) s)"
run_s=$((COST_WARM + COST_WINDOW + 3))
# The daemon's cost with nothing to sample: its drain timer, its thread
# scan, and the process events of the whole machine (proc connector).
cost "idle (sleep: no samples)" 32768 auto sleep $((run_s + 5))
cost "split -t 2 (C, 2 threads)" 32768 auto "$TARGETS/split" -t 2 -s $run_s
cost "split -t 2 (C, 2 threads)" 8192 auto "$TARGETS/split" -t 2 -s $run_s
cost "split -t 2 (C, 2 threads)" 65528 auto "$TARGETS/split" -t 2 -s $run_s
cost "deep -d 300 (C)" 32768 auto "$B/bench/deep" -d 300 -c $((run_s * 2))
cost "python3.11 json/re/sort, --python off" 32768 off "$PY" "$WORK/work.py" mix 0 $((run_s * 2))
cost "python3.11 json/re/sort, Python frames" 32768 auto "$PY" "$WORK/work.py" mix 0 $((run_s * 2))

# ---- 2. target slowdown -------------------------------------------------
python3 - "$WORK/input.txt" "$SLOW_MB" <<'EOF'
import random, sys
r = random.Random(11)
words = ["".join(r.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(r.randint(2, 9)))
         for _ in range(5000)]
with open(sys.argv[1], "w") as f:
    n = 0
    while n < float(sys.argv[2]) * 1000 * 1000:
        line = " ".join(r.choice(words) for _ in range(12)) + " %d\n" % r.randint(0, 10**9)
        f.write(line)
        n += len(line)
EOF
SLOW_CMD="xz -9 -T1 -c $WORK/input.txt"
SLOW_WORK=xz
CONFIGS=(none sampled99 sampled999 perf99 perf999)

# slow_once CONFIG REP: one timed run of the workload under CONFIG,
# recorded unless REP is 0 (a warm-up).
slow_once() {
	local config=$1 rep=$2 pidfile=$WORK/slow.pid res=$WORK/slow.res sock=$WORK/slow.sock
	local runner pid perfpid="" prof=null samples=null rate
	rm -f "$pidfile" "$res" "$WORK/perf.data" "$WORK/perf.times"
	"$B/bench/benchrun" "$pidfile" "$res" $SLOW_CMD >/dev/null 2>"$WORK/slow.err" &
	runner=$!
	CHILDREN+=("$runner")
	wait_for "[ -s '$pidfile' ]" 10 || { say "slow: benchrun did not start"; stop_pid $runner; return; }
	pid=$(cat "$pidfile")
	CHILDREN+=("$pid")
	case $config in
	sampled*)
		rate=${config#sampled}
		"$SAMPLED" attach --rate "$rate" --socket "$sock" "$pid" >/dev/null ||
			say "slow: sampled attach failed"
		;;
	perf*)
		rate=${config#perf}
		( perf record -N -q -F "$rate" -g --call-graph dwarf -o "$WORK/perf.data" -p "$pid" \
			>/dev/null 2>&1; times >"$WORK/perf.times" ) &
		perfpid=$!
		CHILDREN+=("$perfpid")
		# perf is ready once its events show in its fd table.
		wait_for "ls -l /proc/\$(pgrep -P $perfpid -x perf | head -n 1)/fd 2>/dev/null | grep -q perf_event" 20 ||
			say "slow: perf did not open its events"
		sleep 0.2
		;;
	esac
	kill -USR1 $runner
	wait $runner
	case $config in
	sampled*)
		prof=$(status_field "$sock" daemon_cpu_ns | awk '{printf "%.4f", $1 / 1e9}')
		samples=$(status_field "$sock" samples)
		"$CTL" --socket "$sock" stop >/dev/null 2>&1
		;;
	perf*)
		wait $perfpid
		# The second line of `times`: the children's user and system time.
		prof=$(sed -n 2p "$WORK/perf.times" | awk '{
			n = split($0, f, " "); t = 0
			for (i = 1; i <= n; i++) { split(f[i], ms, "m"); sub("s", "", ms[2]); t += ms[1] * 60 + ms[2] }
			printf "%.4f", t }')
		samples=$(perf report -i "$WORK/perf.data" --stats 2>/dev/null |
			sed -n 's/^ *SAMPLE events: *\([0-9]*\).*/\1/p' | head -n 1)
		samples=${samples:-null}
		rm -f "$WORK/perf.data" "$WORK/perf.data.old"
		;;
	esac
	local wall user sys status
	# "wall=W user=U sys=S status=N" -> W U S N
	read -r wall user sys status <<<"$(sed -n 's/^wall=\([^ ]*\) user=\([^ ]*\) sys=\([^ ]*\) status=\(.*\)$/\1 \2 \3 \4/p' "$res" 2>/dev/null)"
	[ -n "$status" ] || { say "slow: no result for $config"; return; }
	[ "$status" = 0 ] || say "slow: $config: the workload exited with $status"
	[ "$rep" -gt 0 ] || return
	printf '{"sec":"slow","work":"%s","config":"%s","rep":%d,"wall":%s,"user":%s,"sys":%s,"prof_cpu":%s,"samples":%s}\n' \
		"$SLOW_WORK" "$config" "$rep" "$wall" "$user" "$sys" "$prof" "$samples" >>"$RESULTS"
	say "slow: $SLOW_WORK $config #$rep: wall $wall s, cpu $(python3 -c "print($user + $sys)") s, profiler $prof s"
}

# slow_rounds: SLOW_REPS rounds of every configuration on $SLOW_CMD.
slow_rounds() {
	slow_once none 0	# a warm-up, not recorded: the input file into the page cache
	SLOW_DONE=0
	for rep in $(seq 1 "$SLOW_REPS"); do
		if [ "$(elapsed)" -gt "$SLOW_BUDGET" ]; then
			say "slow: over the time budget after $SLOW_DONE rounds; skipping the rest"
			break
		fi
		SLOW_DONE=$rep
		# Rotate the order each round so no configuration always runs first.
		for i in "${!CONFIGS[@]}"; do
			slow_once "${CONFIGS[(i + rep - 1) % ${#CONFIGS[@]}]}" "$rep"
		done
	done
}
say "2/3 target slowdown, $SLOW_REPS rounds ($(elapsed) s)"
slow_rounds
XZ_DONE=$SLOW_DONE
# The same on a compute loop that touches no memory: xz's own run-to-run
# spread on a shared machine hides differences of a few percent.
SLOW_CMD="$B/bench/threads -t 1 -w $COMPUTE_WORK"
SLOW_WORK=compute
slow_rounds

# ---- 3. stack copy size -------------------------------------------------
# stack_run LABEL STACK NOTE COMMAND...: the share of [truncated] samples.
stack_run() {
	local label=$1 stack=$2 note=$3 sock=$WORK/stack.sock pid samples trunc lost
	shift 3
	"$@" >"$WORK/stack.out" 2>&1 &
	pid=$!
	CHILDREN+=("$pid")
	wait_for "[ -s '$WORK/stack.out' ]" 20
	"$SAMPLED" attach --rate $STACK_RATE --stack-size "$stack" --socket "$sock" $pid >/dev/null ||
		{ say "stack: attach failed"; stop_pid $pid; return; }
	wait $pid
	read -r samples trunc lost <<<"$(status_field "$sock" samples truncated_samples lost_samples)"
	"$CTL" --socket "$sock" stop >/dev/null 2>&1
	[ -n "$note" ] || note=$(head -n 1 "$WORK/stack.out" | grep -v ready)
	printf '{"sec":"stack","target":"%s","stack":%d,"samples":%d,"truncated":%d,"lost":%d,"note":"%s"}\n' \
		"$label" "$stack" "$samples" "$trunc" "$lost" "$note" >>"$RESULTS"
	say "stack: $label at $stack: $trunc of $samples truncated, $lost lost"
}

say "3/3 stack copy size ($(elapsed) s)"
for s in $STACK_SIZES; do
	stack_run "deep -d 300 (C, ~100-byte frames)" "$s" "" "$B/bench/deep" -d 300 -c "$STACK_CPU"
	stack_run "python3.11, pure recursion, depth 150" "$s" \
		"Python-to-Python calls do not recurse in C in 3.11" "$PY" "$WORK/work.py" pure 150 "$STACK_CPU"
	stack_run "python3.11, recursion through map(), depth 150" "$s" \
		"each level adds _PyEval_EvalFrameDefault and the C frames of map()" \
		"$PY" "$WORK/work.py" c 150 "$STACK_CPU"
done

# ---- the report -----------------------------------------------------------
mem=$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)
DEFAULT_STACK=$("$SAMPLED" attach --help 2>&1 | tr '\n' ' ' |
	sed -n 's/.*--stack-size BYTES[^(]*(default \([0-9]*\)).*/\1/p')
DEFAULT_STACK=${DEFAULT_STACK:-32768}
python3 - "$WORK/meta.json" <<EOF
import json, sys
meta = {
    "quick": $QUICK == 1,
    "date": "$(date -u '+%Y-%m-%d %H:%M UTC')",
    "cpu": "$(lscpu | sed -n 's/^Model name: *//p' | head -n 1)$(lscpu | grep -q '^Hypervisor vendor' && echo " (virtual machine, $(lscpu | sed -n 's/^Hypervisor vendor: *//p'))")",
    "cores": "$(nproc)",
    "memory": "$mem",
    "kernel": "$(uname -r)",
    "os": "Debian $(cat /etc/debian_version 2>/dev/null)",
    "perf": "$(perf version 2>/dev/null)",
    "python": "$($PY --version 2>&1)",
    "xz": "$(xz --version | head -n 1)",
    "sampled": "$("$SAMPLED" --version 2>/dev/null | head -n 1)",
    "load_before": "$LOAD_BEFORE",
    "load_after": "$(cut -d' ' -f1-3 /proc/loadavg)",
    "duration": "$(elapsed) s",
    "noise_note": "Measured on a shared 2-core virtual machine where other jobs may run at the same time (see the load averages): medians and ranges, not single runs, and the configurations interleaved; still, treat differences of a few percent as noise.",
    "cost_rate": $COST_RATE, "cost_warm": $COST_WARM, "cost_window": $COST_WINDOW, "cost_parts": $COST_PARTS,
    "slow_cmd": "xz -9 -T1 -c input.txt >/dev/null",
    "slow_input": "$(stat -c %s "$WORK/input.txt") bytes of generated text",
    "slow_reps": $XZ_DONE,
    "compute_reps": $SLOW_DONE,
    "compute_cmd": "build/bench/threads -t 1 -w $COMPUTE_WORK",
    "slow_labels": {"none": "no profiler", "sampled99": "sampled 99 Hz", "sampled999": "sampled 999 Hz",
                    "perf99": "perf record dwarf 99 Hz", "perf999": "perf record dwarf 999 Hz"},
    "stack_rate": $STACK_RATE, "stack_cpu": $STACK_CPU,
    "default_stack": $DEFAULT_STACK,
    "commands": [
        "# 1. per target and --stack-size S, after ${COST_WARM} s and again ${COST_WINDOW} s later:",
        "sampled attach --rate $COST_RATE --stack-size S [--python off] --socket SOCK PID",
        "samplectl --socket SOCK status --json   # daemon_cpu_ns, samples",
        "#    targets: build/targets/split -t 2; build/bench/deep -d 300 (tests/bench/deep.c);",
        "#    /usr/bin/python3.11 work.py mix (json/re/sort, written by run.sh)",
        "# 2. each round, configurations rotated; build/bench/benchrun (tests/bench/benchrun.c) starts",
        "#    the workload stopped, the profiler attaches to its pid, then it runs and is timed:",
        "benchrun PIDFILE RESULTFILE xz -9 -T1 -c input.txt >/dev/null",
        "benchrun PIDFILE RESULTFILE build/bench/threads -t 1 -w $COMPUTE_WORK   # 2b, tests/bench/threads.c",
        "sampled attach --rate R --socket SOCK PID             # R = 99, 999 (default --stack-size)",
        "perf record -N -q -F R -g --call-graph dwarf -o perf.data -p PID",
        "# 3. per target and S in $STACK_SIZES:",
        "sampled attach --rate $STACK_RATE --stack-size S --socket SOCK PID",
        "#    status --json: truncated_samples / samples; targets: deep -d 300; python3.11 work.py pure|c 150",
    ],
}
json.dump(meta, open(sys.argv[1], "w"), indent=1)
EOF
python3 "$here/report.py" "$RESULTS" "$WORK/meta.json" >"$WORK/BENCHMARKS.md" || die "report failed"

# 4. Rendering a 100k-node tree: the client's decode, transforms and text
# (the unit test prints its timings), the HTML page written in C, and the
# page's first view in headless Chromium (the HTML test's big pages).
say "rendering 100k-node trees"
render_line=$(cd "$root" && "$B/tests/test_render" 2>&1 | grep '^100k nodes:')
t0=$(date +%s.%N)
"$B/tests/test_render_html" --page "$WORK/big.html" 100000 >/dev/null 2>&1
t1=$(date +%s.%N)
page_line=$(cd "$root" && BUILD="$B" bash tests/integration/test_html.sh 2>&1 |
	grep -E '^# big (per-thread )?page' | sed 's/^# //')
{
	echo
	echo "## 4. Rendering a 100k-node tree"
	echo
	echo "Targets: text in < 0.5 s, HTML in < 1 s, the page usable at that size."
	echo
	echo "- samplectl's pipeline (\`tests/unit/test_render.c\`, test_speed_100k): $render_line"
	echo "- writing the 100k-node HTML page ($(stat -c %s "$WORK/big.html") bytes, \`test_render_html --page FILE 100000\`): $(python3 -c "print('%.3f s' % ($t1 - $t0))")"
	echo "- in headless Chromium (\`tests/integration/test_html.sh\`, tests/html/drive.js):"
	echo "$page_line" | sed 's/^/  - /'
} >>"$WORK/BENCHMARKS.md"

# 5. Wall mode: how long ptrace holds each thread stopped per sample, for
# one and for 32 CPU-bound threads (on 2 cores the daemon competes with
# them for a CPU, and a stopped thread waits for it), at 99 Hz for 5 s.
say "wall-mode stop times"
{
	echo
	echo "## 5. Wall mode: time a thread stays stopped per sample"
	echo
	echo "\`sampled attach --mode wall --rate 99\` on \`build/targets/spin -t N\` for 5 s, then \`samplectl status --json\`"
	echo "(stop_median_ns, stop_p99_ns: from PTRACE_INTERRUPT, or the sampler's last look, to PTRACE_CONT returning)."
	echo "Target: median <= 50 us."
	echo
	echo "| threads | samples | stop median | stop p99 | daemon CPU |"
	echo "|---:|---:|---:|---:|---:|"
} >>"$WORK/BENCHMARKS.md"
for n in 1 32; do
	"$B/targets/spin" -t $n -s 30 >/dev/null 2>&1 &
	spid=$!
	CHILDREN+=($spid)
	sleep 0.5
	"$B/sampled" attach --mode wall --rate 99 --socket "$WORK/wall.sock" $spid >/dev/null 2>&1
	sleep 5
	"$B/samplectl" --socket "$WORK/wall.sock" status --json 2>/dev/null | python3 -c "
import json, sys
s = json.load(sys.stdin)
print('| %d | %d | %.1f us | %.1f us | %.2f%% of one core |' % ($n, s['samples'],
      s['stop_median_ns'] / 1e3, s['stop_p99_ns'] / 1e3, 100.0 * s['daemon_cpu_ns'] / s['uptime_ns']))
" >>"$WORK/BENCHMARKS.md"
	"$B/samplectl" --socket "$WORK/wall.sock" stop >/dev/null 2>&1
	kill $spid 2>/dev/null
	wait $spid 2>/dev/null
done

# 6. Wall mode's cost to the target: a fixed amount of CPU work split over
# 1 and over 32 threads (tests/bench/threads.c), alone and under wall mode
# at 99 Hz, interleaved, started stopped by benchrun like section 2.
say "wall-mode slowdown, $SLOW_REPS rounds ($(elapsed) s)"
# wall_once THREADS CONFIG REP: one timed run; CONFIG none or wall99.
wall_once() {
	local n=$1 config=$2 rep=$3 pidfile=$WORK/ws.pid res=$WORK/ws.res sock=$WORK/ws.sock runner pid
	local wall user sys status samples=0
	rm -f "$pidfile" "$res"
	"$B/bench/benchrun" "$pidfile" "$res" "$B/bench/threads" -t "$n" -w "$WALL_WORK" \
		>/dev/null 2>"$WORK/ws.err" &
	runner=$!
	CHILDREN+=("$runner")
	wait_for "[ -s '$pidfile' ]" 10 || { say "wall: benchrun did not start"; stop_pid $runner; return; }
	pid=$(cat "$pidfile")
	CHILDREN+=("$pid")
	if [ "$config" = wall99 ]; then
		"$SAMPLED" attach --mode wall --rate 99 --socket "$sock" "$pid" >/dev/null ||
			say "wall: sampled attach failed"
	fi
	kill -USR1 $runner
	wait $runner
	if [ "$config" = wall99 ]; then
		samples=$(status_field "$sock" samples)
		"$CTL" --socket "$sock" stop >/dev/null 2>&1
	fi
	read -r wall user sys status <<<"$(sed -n 's/^wall=\([^ ]*\) user=\([^ ]*\) sys=\([^ ]*\) status=\(.*\)$/\1 \2 \3 \4/p' "$res" 2>/dev/null)"
	[ -n "$status" ] || { say "wall: no result for $n threads, $config"; return; }
	[ "$rep" -gt 0 ] || return
	printf '{"sec":"wallslow","threads":%d,"config":"%s","rep":%d,"wall":%s,"samples":%s}\n' \
		"$n" "$config" "$rep" "$wall" "${samples:-0}" >>"$RESULTS"
	say "wall: $n threads, $config #$rep: $wall s"
}
wall_once 1 none 0	# warm-up, not recorded
for rep in $(seq 1 "$SLOW_REPS"); do
	for n in 1 32; do
		if [ $((rep % 2)) = 0 ]; then
			wall_once $n none "$rep"
			wall_once $n wall99 "$rep"
		else
			wall_once $n wall99 "$rep"
			wall_once $n none "$rep"
		fi
	done
done
python3 "$here/report.py" --wall "$RESULTS" "$WALL_WORK" >>"$WORK/BENCHMARKS.md" || die "report failed"

# 7. Symbolization: first touch of big files, per-frame costs, the daemon's
# first second against its steady state (tests/bench/symcost.sh).
say "symbolization cost ($(elapsed) s)"
if "$here/symcost.sh" "$build" >"$WORK/symcost.jsonl" 2>"$WORK/symcost.err"; then
	python3 "$here/report.py" --symcost "$WORK/symcost.jsonl" >>"$WORK/BENCHMARKS.md" ||
		die "report failed"
else
	cat "$WORK/symcost.err" >&2
	die "symcost.sh failed"
fi

# 8. A Python program: slowdown in both modes, daemon cost per sample with
# Python frames (tests/bench/pyslow.sh).
say "python ($(elapsed) s)"
if QUICK=$QUICK "$here/pyslow.sh" "$build" >"$WORK/pyslow.jsonl" 2>"$WORK/pyslow.err"; then
	python3 "$here/report.py" --python "$WORK/pyslow.jsonl" >>"$WORK/BENCHMARKS.md" ||
		die "report failed"
else
	cat "$WORK/pyslow.err" >&2
	die "pyslow.sh failed"
fi
cp "$WORK/BENCHMARKS.md" "$OUT"
if [ -n "${BENCH_RAW:-}" ]; then
	mkdir -p "$BENCH_RAW" && cp "$RESULTS" "$WORK/meta.json" "$BENCH_RAW/"
fi
say "done in $(elapsed) s: $OUT"
