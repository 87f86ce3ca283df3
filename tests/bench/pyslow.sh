#!/usr/bin/env bash
# How much sampled slows down a Python program, and what a sample with
# Python frames costs the daemon.  Usage: tests/bench/pyslow.sh [BUILD_DIR]
#
#   1. Slowdown: a fixed amount of pure-Python work (tests/bench/pywork.py,
#      UNITS units, about 2.5 s alone) under /usr/bin/python3.11, with no
#      profiler and under sampled in cpu and wall mode at 99 and 999 Hz.
#      The script starts, the profiler attaches, a SIGUSR1 starts a short
#      untimed warm-up (the daemon reads the ELF files and fills its caches
#      on its first samples), then a second one the work, which times
#      itself (wall clock and process CPU time).  REPS
#      rounds, the configurations rotated each round so that a change in
#      the machine's load hits them all alike; one unrecorded warm-up run.
#   2. Daemon cost: the same work looped for COST_WARM + COST_WINDOW + 2 s
#      of CPU; after COST_WARM s of sampling at 999 Hz, the daemon's CPU
#      time and sample count are read, and again COST_WINDOW s later.
#
# Prints one JSON object per line on standard output, progress on standard
# error:
#   {"sec":"pyslow","config","mode","rate","rep","wall","cpu","daemon_cpu",
#    "samples","python_samples","gil_held","out_of_step"}   one timed run
#   {"sec":"pyslow_summary","config","mode","rate","reps","wall_median",
#    "wall_min","wall_max","wall_slowdown","wall_paired","cpu_median",
#    "cpu_min","cpu_max","cpu_slowdown","cpu_paired","samples_median",
#    "daemon_us_per_sample"}                                  per configuration
#   {"sec":"pycost","mode","rate","samples","cpu_ns","seconds","us_per_sample",
#    "frames","python_share"}                                 steady-state cost
# Times in seconds.  wall/cpu: the work's own measurement.  daemon_cpu: the
# daemon's CPU time from just before the start signal to the end of the
# work (status daemon_cpu_ns), samples, python_samples (samples whose
# thread had Python frames: status python_gil held + released), gil_held
# and out_of_step (status python_out_of_step) likewise.
# Slowdown: median(config) / median(none) - 1; paired: the median over
# rounds of config / none within the round.  frames: mean frames per
# sample (collapsed export); python_share: python_samples / samples.
# Environment: REPS (default 5), UNITS (default 6000), PY, QUICK=1 (3 rounds,
# half the work, shorter cost windows).  Leaves no process or file behind.
BENCH_NAME=pyslow
. "$(dirname "$0")/lib.sh"
PY=${PY:-/usr/bin/python3.11}
PYWORK=$here/pywork.py
if [ "${QUICK:-0}" = 1 ]; then
	REPS=${REPS:-3} UNITS=${UNITS:-3000} COST_WARM=1 COST_WINDOW=2
else
	REPS=${REPS:-5} UNITS=${UNITS:-6000} COST_WARM=1 COST_WINDOW=4
fi
CONFIGS=(none cpu99 wall99 cpu999 wall999)

RESULTS=$WORK/runs.jsonl
: >"$RESULTS"
TARGET=""	# the workload running now, by pid
DAEMON=""	# the daemon serving now, by pid

require "$SAMPLED" "$CTL" "$PY" "$PYWORK"

# What run_once reads from the status before and after the work.
FIELDS=('s["daemon_cpu_ns"]' 's["samples"]' 'g["held"] + g["released"]' 'g["held"]'
	's["python_out_of_step"]')

# attach CONFIG SOCKET: starts a daemon on $TARGET for a config "cpu99",
# "wall999"...; remembers its pid (finish stops it).
attach() {
	local mode=${1%%[0-9]*} rate=${1##*[a-z]}
	"$SAMPLED" attach --mode "$mode" --rate "$rate" --socket "$2" "$TARGET" >/dev/null ||
		return 1
	DAEMON=$(json_field "$2" 's["daemon_pid"]')
}

# Stops the daemon on SOCKET ($1) and the workload, if they still run.
finish() {
	if [ -n "$DAEMON" ]; then
		"$CTL" --socket "$1" stop >/dev/null 2>&1 || kill -9 "$DAEMON" 2>/dev/null
		DAEMON=""
	fi
	if [ -n "$TARGET" ]; then
		kill -9 "$TARGET" 2>/dev/null
		wait "$TARGET" 2>/dev/null
		TARGET=""
	fi
}

# run_once CONFIG REP: one timed run of the work, recorded unless REP is 0.
run_once() {
	local config=$1 rep=$2 sock=$WORK/run.sock mode=none rate=0
	local c0=0 s0=0 p0=0 h0=0 o0=0 c1=0 s1=0 p1=0 h1=0 o1=0 wall cpu
	"$PY" "$PYWORK" run "$UNITS" >"$WORK/run.out" 2>&1 &
	TARGET=$!
	CHILDREN+=("$TARGET")
	if ! wait_for "grep -qs ready '$WORK/run.out'" 10; then
		say "$config: the work did not start"
		finish "$sock"
		return
	fi
	if [ "$config" != none ]; then
		mode=${config%%[0-9]*}
		rate=${config##*[a-z]}
		if ! attach "$config" "$sock"; then
			say "$config: attach failed"
			finish "$sock"
			return
		fi
	fi
	kill -USR1 "$TARGET"
	if ! wait_for "grep -qs warm '$WORK/run.out'" 60; then
		say "$config: the warm-up did not end"
		finish "$sock"
		return
	fi
	[ "$config" = none ] || read -r c0 s0 p0 h0 o0 <<<"$(json_field "$sock" "${FIELDS[@]}")"
	kill -USR1 "$TARGET"
	wait "$TARGET"
	TARGET=""
	read -r wall cpu <<<"$(sed -n 's/^wall=\([^ ]*\) cpu=\(.*\)$/\1 \2/p' "$WORK/run.out")"
	if [ "$config" != none ]; then
		read -r c1 s1 p1 h1 o1 <<<"$(json_field "$sock" "${FIELDS[@]}")"
	fi
	finish "$sock"
	[ -n "${cpu:-}" ] || { say "$config: no result: $(head -c 300 "$WORK/run.out")"; return; }
	[ "$rep" -gt 0 ] || return
	printf '{"sec":"pyslow","config":"%s","mode":"%s","rate":%d,"rep":%d,"wall":%s,"cpu":%s,"daemon_cpu":%s,"samples":%d,"python_samples":%d,"gil_held":%d,"out_of_step":%d}\n' \
		"$config" "$mode" "$rate" "$rep" "$wall" "$cpu" \
		"$(awk -v a="$c0" -v b="$c1" 'BEGIN {printf "%.4f", (b - a) / 1e9}')" \
		$((s1 - s0)) $((p1 - p0)) $((h1 - h0)) $((o1 - o0)) | tee -a "$RESULTS"
	say "$config #$rep: wall $wall s, cpu $cpu s, $((s1 - s0)) samples"
}

# cost MODE: the daemon's steady-state CPU per sample at 999 Hz.
cost() {
	local mode=$1 sock=$WORK/cost.sock c0 s0 t0 c1 s1 t1 py frames
	"$PY" "$PYWORK" loop $((COST_WARM + COST_WINDOW + 2)) >"$WORK/cost.out" 2>&1 &
	TARGET=$!
	CHILDREN+=("$TARGET")
	if ! wait_for "grep -qs ready '$WORK/cost.out'" 10 || ! attach "${mode}999" "$sock"; then
		say "cost: $mode: the work or the daemon did not start"
		finish "$sock"
		return
	fi
	sleep "$COST_WARM"
	read -r c0 s0 <<<"$(json_field "$sock" 's["daemon_cpu_ns"]' 's["samples"]')"
	t0=$(date +%s.%N)
	sleep "$COST_WINDOW"
	read -r c1 s1 py <<<"$(json_field "$sock" 's["daemon_cpu_ns"]' 's["samples"]' \
		'g["held"] + g["released"]')"
	t1=$(date +%s.%N)
	"$CTL" --socket "$sock" export -f collapsed -o "$WORK/cost.folded" >/dev/null 2>&1
	frames=$(awk '{n = $NF; $NF = ""; d += n * split($0, f, ";"); t += n}
		END {printf "%.1f", t ? d / t : 0}' "$WORK/cost.folded")
	finish "$sock"
	python3 -c '
import json, sys
mode, c0, s0, c1, s1, t0, t1, py, frames = sys.argv[1:]
n = int(s1) - int(s0)
print(json.dumps({"sec": "pycost", "mode": mode, "rate": 999, "samples": n,
                  "cpu_ns": int(c1) - int(c0), "seconds": round(float(t1) - float(t0), 3),
                  "us_per_sample": round((int(c1) - int(c0)) / 1e3 / n, 2) if n else None,
                  "frames": float(frames),
                  "python_share": round(int(py) / int(s1), 4) if int(s1) else None},
                 separators=(",", ":")))' "$mode" "$c0" "$s0" "$c1" "$s1" "$t0" "$t1" "$py" "$frames"
	say "cost: $mode mode: $((s1 - s0)) samples, $(((c1 - c0) / 1000)) us of daemon CPU"
}

say "python: $("$PY" --version 2>&1); load $(cut -d' ' -f1-3 /proc/loadavg)"
run_once none 0
for rep in $(seq 1 "$REPS"); do
	for i in "${!CONFIGS[@]}"; do
		run_once "${CONFIGS[(i + rep - 1) % ${#CONFIGS[@]}]}" "$rep"
	done
done

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
base = {r["rep"]: r for r in runs if r["config"] == "none"}
med = lambda xs: statistics.median(xs) if xs else None
none_wall = med([r["wall"] for r in base.values()])
none_cpu = med([r["cpu"] for r in base.values()])
for config in ("none", "cpu99", "wall99", "cpu999", "wall999"):
    rs = [r for r in runs if r["config"] == config]
    if not rs:
        continue
    out = {"sec": "pyslow_summary", "config": config, "mode": rs[0]["mode"],
           "rate": rs[0]["rate"], "reps": len(rs)}
    for k, ref in (("wall", none_wall), ("cpu", none_cpu)):
        xs = [r[k] for r in rs]
        out[k + "_median"] = round(med(xs), 4)
        out[k + "_min"] = min(xs)
        out[k + "_max"] = max(xs)
        out[k + "_slowdown"] = round(med(xs) / ref - 1, 4) if ref else None
        pairs = [r[k] / base[r["rep"]][k] for r in rs if r["rep"] in base]
        out[k + "_paired"] = round(med(pairs) - 1, 4) if pairs else None
    out["samples_median"] = med([r["samples"] for r in rs])
    per = [r["daemon_cpu"] * 1e6 / r["samples"] for r in rs if r["samples"] > 0]
    out["daemon_us_per_sample"] = round(med(per), 2) if per else None
    print(json.dumps(out, separators=(",", ":")))
EOF

cost cpu
cost wall
