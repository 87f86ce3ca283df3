#!/usr/bin/env bash
# What symbolization costs, one JSON object per measurement on standard
# output (progress on standard error).  Usage: tests/bench/symcost.sh [BUILD_DIR]
# (after `make BUILD=BUILD_DIR all targets`); SYMCOST_ARGS passes options
# and files to symcost (see tests/bench/symcost.c).
#   1. tests/bench/symcost.c, built here against BUILD_DIR's libdaemon.a and
#      libcommon.a: first touch of big ELF files, the per-frame cost of new
#      and of known addresses, with and without lines;
#   2. the daemon itself, `sampled attach --rate 999` with --lines and with
#      --no-lines, on build/targets/cxx (C++, its own DWARF and libc's from
#      libc6-dbg) and on python3.11 running a json/re/sort mix with
#      --python off (many distinct code addresses): daemon CPU per sample
#      over the first second (first touch of every file included) and over
#      the next STEADY seconds, and the daemon's resident memory.
# About a minute on a 2-core machine.  It leaves no process or file behind.
BENCH_NAME=symcost
. "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3.11
STEADY=${STEADY:-4}
PKGS="libunwind-generic libunwind libelf libdw libprotobuf-c zlib liblzma"

require "$B/libdaemon.a" "$B/libcommon.a" "$SAMPLED" "$CTL" "$TARGETS/cxx"
mkdir -p "$B/bench"
# shellcheck disable=SC2046,SC2086
cc -std=gnu11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Wformat=2 -Wmissing-prototypes \
	-Wstrict-prototypes -Wshadow -Werror \
	-I"$root" -I"$root/common" -I"$root/proto" -I"$root/daemon" -I"$B/gen" \
	$(pkg-config --cflags $PKGS) -o "$B/bench/symcost" "$here/symcost.c" \
	"$B/libdaemon.a" "$B/libcommon.a" $(pkg-config --libs $PKGS) -lpthread -lstdc++ -ldl ||
	die "building symcost"

# ---- 1. the library-level measurements -----------------------------------
say "symcost on big files"
# shellcheck disable=SC2086
"$B/bench/symcost" ${SYMCOST_ARGS:-} || die "symcost failed"

# ---- 2. the daemon -------------------------------------------------------
cat >"$WORK/work.py" <<'EOF'
import json, re, sys, time
print("ready", flush=True)
end = time.monotonic() + float(sys.argv[1])
while time.monotonic() < end:
    data = [{"id": i, "name": "item%d" % i, "v": i * 0.37} for i in range(2000)]
    s = json.dumps(data)
    d = json.loads(s)
    re.findall(r"item(\d+)7", s)
    d.sort(key=lambda x: -x["id"])
EOF

# One status reading on one line: daemon_cpu_ns samples daemon_rss_bytes.
reading() { status_field "$1" daemon_cpu_ns samples daemon_rss_bytes; }

# daemon LABEL LINES-OPTION COMMAND...: one run, one JSON line.
daemon() {
	local label=$1 opt=$2 sock=$WORK/d.sock pid c0 s0 c1 s1 r1 c2 s2 r2
	shift 2
	"$@" >"$WORK/d.out" 2>&1 &
	pid=$!
	CHILDREN+=("$pid")
	for _ in $(seq 100); do grep -q ready "$WORK/d.out" && break; sleep 0.05; done
	"$SAMPLED" attach --rate 999 --python off "$opt" --socket "$sock" $pid >/dev/null ||
		{ say "attach to $label failed"; kill -9 $pid; return; }
	read -r c0 s0 _ <<<"$(reading "$sock")"
	sleep 1
	read -r c1 s1 r1 <<<"$(reading "$sock")"
	sleep "$STEADY"
	read -r c2 s2 r2 <<<"$(reading "$sock")"
	"$CTL" --socket "$sock" stop >/dev/null 2>&1
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	python3 - "$label" "$opt" "$c0" "$s0" "$c1" "$s1" "$r1" "$c2" "$s2" "$r2" <<'EOF'
import json, sys
label, opt = sys.argv[1], sys.argv[2]
c0, s0, c1, s1, r1, c2, s2, r2 = map(int, sys.argv[3:])
per = lambda c, s: round(c / 1e3 / s, 2) if s > 0 else None
print(json.dumps({"bench": "symcost", "measure": "daemon", "target": label,
                  "lines": opt == "--lines", "first_samples": s1 - s0,
                  "first_cpu_ms": round((c1 - c0) / 1e6, 1), "first_us_per_sample": per(c1 - c0, s1 - s0),
                  "steady_samples": s2 - s1, "steady_cpu_ms": round((c2 - c1) / 1e6, 1),
                  "steady_us_per_sample": per(c2 - c1, s2 - s1),
                  "rss_mib": round(r2 / 1048576, 1)}, separators=(",", ":")))
EOF
}

run_s=$((STEADY + 3))
for opt in --lines --no-lines; do
	say "daemon on cxx, $opt"
	daemon "cxx (C++, DWARF)" "$opt" "$B/targets/cxx" -s $run_s
done
if [ -x "$PY" ]; then
	for opt in --lines --no-lines; do
		say "daemon on python3.11, $opt"
		daemon "python3.11 json/re/sort, --python off" "$opt" "$PY" "$WORK/work.py" $run_s
	done
fi
