#!/usr/bin/env bash
# Kernel frames in cpu mode.  sysburn reads 1 MiB at a time from
# /dev/zero: nearly all of its CPU time is the kernel clearing the buffer
# inside read(2) (perf record -g shows entry_SYSCALL_64_after_hwframe,
# do_syscall_64, ksys_read, vfs_read, read_zero below libc's read).
# Sampled at 999 Hz for about 3.5 s: ~3500 samples on an idle machine,
# >= 500 even when it gets a sixth of a CPU; the shares measured are near
# 99% and judged against 50%, which 500 samples decide beyond doubt.
# With kernel frames on (the default, as root):
#   - >= 50% of the samples hang >= 2 kernel frames under the libc read
#     wrapper that burn_read calls (measured here: over 95%; a tick that
#     lands in user code or the entry stub has fewer, hence the margin),
#     and among them a function with "read" in its name;
#   - status says kernel frames are on; the text tree and the HTML
#     page's data mark those frames as kernel frames, and every frame of
#     module "kernel" is a function of /proc/kallsyms.
# With --no-kernel: no kernel function at all, and the same ticks end in
# one [kernel] frame under the wrapper.  An unprivileged user (at
# perf_event_paranoid >= 2) gets a profile without kernel frames and a
# note, not an error.
. "$(dirname "$0")/lib.sh"

STACKS=$(dirname "$0")/stacks.py

paranoid=$(cat /proc/sys/kernel/perf_event_paranoid)
if [ "$(id -u)" -ne 0 ] && [ "$paranoid" -gt 1 ]; then
	echo "# SKIP kernel frames need root, CAP_PERFMON or perf_event_paranoid <= 1 (it is $paranoid)"
	exit 0
fi
if ! awk '$2 ~ /^[tT]$/ { exit !($1 !~ /^0+$/) }' /proc/kallsyms; then
	echo "# SKIP /proc/kallsyms shows no addresses (kernel.kptr_restrict=$(cat /proc/sys/kernel/kptr_restrict))"
	exit 0
fi

# profile NAME [SAMPLED OPTIONS...]: sysburn profiled for its whole run;
# leaves $WORK/NAME.{folded,status,txt,html,speedscope.json}.
profile() {
	local name=$1 sock=$WORK/$1.sock out=$WORK/$1.out pid
	shift
	"$TARGETS/sysburn" -s 4 >"$out" &
	pid=$!
	CHILDREN+=($pid)
	wait_for "grep -q ready '$out'" 10
	"$SAMPLED" attach --rate 999 "$@" --socket "$sock" $pid >/dev/null
	wait $pid
	"$CTL" --socket "$sock" export -f collapsed -o "$WORK/$name.folded"
	"$CTL" --socket "$sock" export -f speedscope -o "$WORK/$name.speedscope.json"
	"$CTL" --socket "$sock" tree --show-all --min-percent 0 --no-color >"$WORK/$name.txt"
	"$CTL" --socket "$sock" tree --html -o "$WORK/$name.html"
	"$CTL" --socket "$sock" status --json >"$WORK/$name.status"
	"$CTL" --socket "$sock" stop >/dev/null
}

# kernel_stats NAME prints "TOTAL UNDER DEEP READ WRAPPER BELOW": all
# samples; the wrapper, burn_read's most frequent callee (libc's read; the
# other is the clock); the samples under it; those with >= 2 kernel frames
# under it; those with a kernel frame naming "read" under it; the wrapper's
# name; the kernel frames seen under it, most frequent first ("-": none).
# Kernel frames are the frames the speedscope export gives the module
# "kernel", so that user frames between the wrapper and the system call
# (newer C libraries have them) do not count.
kernel_stats() {
	python3 - "$WORK/$1.folded" "$WORK/$1.speedscope.json" <<'PY'
import collections, json, sys
stacks = []
for line in open(sys.argv[1]):
    stack, _, n = line.rstrip("\n").rpartition(" ")
    stacks.append((stack.split(";"), int(n)))
kset = {f["name"] for f in json.load(open(sys.argv[2]))["shared"]["frames"]
        if f.get("file") == "kernel"}
total = sum(n for _, n in stacks)

def callee(frames):
    if "burn_read" not in frames[:-1]:
        return None
    return frames[frames.index("burn_read") + 1]

callees = collections.Counter()
for frames, n in stacks:
    if callee(frames) is not None:
        callees[callee(frames)] += n
wrapper = callees.most_common(1)[0][0] if callees else "-"
under = deep = read = 0
below = collections.Counter()
for frames, n in stacks:
    if callee(frames) != wrapper:
        continue
    kernel = [f for f in frames[frames.index("burn_read") + 2:] if f in kset]
    under += n
    deep += n if len(kernel) >= 2 else 0
    read += n if any("read" in f for f in kernel) else 0
    for f in set(kernel):
        below[f] += n
print(total, under, deep, read, wrapper, ",".join(f for f, _ in below.most_common(8)) or "-")
PY
}

pct() { python3 -c "print(round(100.0 * $1 / max(1, $2), 1))"; }

# ---- kernel frames on (the default)
profile on
read -r total under deep readish wrapper below <<<"$(kernel_stats on)"
echo "# on: $total samples, $under under burn_read's callee $wrapper; below it: $below"
check "on: enough samples to judge ($total)" [ "$total" -ge 500 ]
check "on: burn_read's callee is libc's read wrapper ($wrapper)" \
	python3 -c "import sys; sys.exit(not ('read' in '$wrapper' and 'burn' not in '$wrapper'))"
share=$(pct "$deep" "$total")
check "on: >= 50% of samples have >= 2 kernel frames under $wrapper ($share%)" \
	python3 -c "import sys; sys.exit(not $share >= 50)"
share=$(pct "$readish" "$total")
check "on: >= 50% of samples have a kernel function named *read* under $wrapper ($share%)" \
	python3 -c "import sys; sys.exit(not $share >= 50)"
placeholder=$(python3 "$STACKS" "$WORK/on.folded" path burn_read "$wrapper" "[kernel]")
check "on: < 5% of samples end in a [kernel] placeholder under $wrapper ($placeholder%)" \
	python3 -c "import sys; sys.exit(not $placeholder < 5)"
check "on: status says kernel frames are on" \
	python3 -c "import json,sys; sys.exit(json.load(open('$WORK/on.status'))['kernel_frames'] is not True)"

# The same frames are kernel frames in every view: the text tree names
# their module in brackets, the HTML page's data carries their kind.
kfunc=$(echo "$below" | tr ',' '\n' | grep -m1 read)
echo "# a kernel function to look for: $kfunc"
check "on: the text tree shows $kfunc as [kernel]" \
	grep -Eq "[^A-Za-z0-9_]$kfunc  \[kernel\]\$" "$WORK/on.txt"
check "on: the HTML page's data gives $kfunc the kind kernel" python3 - "$WORK/on.html" "$kfunc" <<'PY'
import json, sys
page = open(sys.argv[1]).read()
data, _ = json.JSONDecoder().raw_decode(page[page.index('{"format":"sampled-tree"'):])
fr, s = data["frames"], data["strings"]
kinds = {data["kinds"][fr[i + 4]] for i in range(0, len(fr), 6) if s[fr[i]] == sys.argv[2]}
sys.exit(kinds != {"kernel"})
PY
check "on: every frame of module kernel is a function of /proc/kallsyms" python3 - "$WORK/on.speedscope.json" <<'PY'
import json, sys
names = {l.split()[2] for l in open("/proc/kallsyms") if len(l.split()) >= 3}
frames = json.load(open(sys.argv[1]))["shared"]["frames"]
kernel = {f["name"] for f in frames if f.get("file") == "kernel"}
print("# %d kernel functions in the profile" % len(kernel))
sys.exit(not kernel or not kernel <= names)
PY

# ---- --no-kernel
profile off --no-kernel
read -r total under deep readish wrapper below <<<"$(kernel_stats off)"
echo "# off: $total samples, $under under burn_read's callee $wrapper; below it: $below"
check "off: enough samples to judge ($total)" [ "$total" -ge 500 ]
check "off: no kernel frame under $wrapper ($below)" [ "$below" = "-" ]
placeholder=$(python3 "$STACKS" "$WORK/off.folded" path burn_read "$wrapper" "[kernel]")
check "off: >= 50% of samples end in [kernel] under $wrapper ($placeholder%)" \
	python3 -c "import sys; sys.exit(not $placeholder >= 50)"
check "off: no kernel frame anywhere" python3 - "$WORK/off.speedscope.json" <<'PY'
import json, sys
frames = json.load(open(sys.argv[1]))["shared"]["frames"]
sys.exit(any(f.get("file") == "kernel" for f in frames))
PY
check "off: status says kernel frames are off" \
	python3 -c "import json,sys; sys.exit(json.load(open('$WORK/off.status'))['kernel_frames'] is not False)"

# ---- not permitted: an unprivileged user at paranoid >= 2
if [ "$(id -u)" -eq 0 ] && [ "$paranoid" -ge 2 ]; then
	copy_bins_for_unpriv
	# A directory of the user's own: the daemon refuses one others may write.
	mkdir -m 700 "$WORK/u"
	chown "$UNPRIV_USER" "$WORK/u"
	sock=$WORK/u/u.sock
	as_unpriv "$WORK/bin/targets/sysburn" -s 3 >"$WORK/u.out" &
	CHILDREN+=($!)
	wait_for "grep -q ready '$WORK/u.out'" 10
	# $! is the shell that runs setpriv: the target is the user's sysburn.
	upid=$(pgrep -n -u "$UNPRIV_USER" -x sysburn)
	CHILDREN+=($upid)
	attach_unpriv() {
		as_unpriv "$WORK/bin/sampled" attach --rate 999 --socket "$sock" "$upid" >/dev/null
	}
	check "unprivileged: attach succeeds, without kernel frames" attach_unpriv
	check "unprivileged: status says kernel frames are off" \
		[ "$(json_field "$sock" 's["kernel_frames"]')" = False ]
	note=$(json_field "$sock" 's["sampler_note"]')
	echo "# unprivileged note: $note"
	check "unprivileged: status says why" [ -n "$note" ]
	as_unpriv "$WORK/bin/samplectl" --socket "$sock" stop >/dev/null
	wait
fi
