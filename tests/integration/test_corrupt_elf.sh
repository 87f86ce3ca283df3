#!/usr/bin/env bash
# Broken ELF files under a running target: the dynamic loader needs only
# the program headers, so a library whose section headers are gone or
# garbage still loads and runs, and a file can change on disk while its
# code runs.  The daemon must stay up and answering, count every sample,
# and show the frames of each broken library by name where it still can
# and as module+0xoffset where it cannot, never with a made-up name; the
# target must not notice.
#
# dlburn calls five copies of tests/targets/lib/burnlib.c in turn, each
# built with its own function names (burnlib_V_burn -> burnlib_V_core, and
# after SIGUSR1 burnlib_V_late -> burnlib_V_late_core: code first reached,
# and so first symbolized, after the files have changed on disk):
#   plain   untouched, the control;
#   shoff   e_shoff points far past the end of the file;
#   shjunk  the section header table overwritten with random bytes;
#   swap    loaded intact, then a truncated file renamed over it on disk
#           (the mapping keeps the old inode; the path now names junk);
#   trunc   loaded intact, then cut in place after the last byte the
#           loader maps (.symtab, .strtab and the section headers go; the
#           target never touches them, so it gets no SIGBUS, but a daemon
#           that mapped the whole file and reads it later would).
. "$(dirname "$0")/lib.sh"

SRC=$(cd "$(dirname "$0")/../targets/lib" && pwd)/burnlib.c
STACKS=$(dirname "$0")/stacks.py
VARIANTS="plain shoff shjunk swap trunc"

for v in $VARIANTS; do
	cc -shared -fPIC -O2 -fomit-frame-pointer -g -DBURNLIB_VARIANT=$v \
		-o "$WORK/burnlib_$v.so" "$SRC" || { not_ok "building burnlib_$v.so"; exit 1; }
	# The truth about each copy's functions, read before any damage:
	# name, file offset and size (text is mapped at offset == vaddr here).
	nm -S --defined-only "$WORK/burnlib_$v.so" |
		awk -v v="burnlib_$v" '$3 ~ /^[Tt]$/ && index($4, v "_") == 1 {print $4, $1, $2}' \
		>"$WORK/burnlib_$v.syms"
done
# What renames over burnlib_swap.so: its first 200 bytes (an ELF header
# whose tables point past the end).
head -c 200 "$WORK/burnlib_swap.so" >"$WORK/swap.junk"

# elf_edit FILE WHAT: shoff | shjunk | loadend (prints the end of the last
# PT_LOAD's file bytes: where the file may be cut).
elf_edit() {
	python3 - "$1" "$2" <<'EOF'
import random, struct, sys
path, what = sys.argv[1], sys.argv[2]
with open(path, "r+b") as f:
    h = f.read(64)
    assert h[:4] == b"\x7fELF" and h[4] == 2, "not ELF64"
    phoff, shoff = struct.unpack_from("<QQ", h, 0x20)
    phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", h, 0x36)
    if what == "shoff":
        f.seek(0x28)
        f.write(struct.pack("<Q", 0x7FFF_FFFF_0000))
    elif what == "shjunk":
        r = random.Random(42)
        f.seek(shoff)
        f.write(bytes(r.getrandbits(8) for _ in range(shentsize * shnum)))
    elif what == "loadend":
        end = 0
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            p_type, _, p_offset, _, _, p_filesz = struct.unpack("<IIQQQQ", f.read(40))
            if p_type == 1:
                end = max(end, p_offset + p_filesz)
        print(end)
EOF
}
elf_edit "$WORK/burnlib_shoff.so" shoff
elf_edit "$WORK/burnlib_shjunk.so" shjunk
check "the broken copies have no readable section headers" \
	sh -c "! readelf -SW '$WORK/burnlib_shoff.so' 2>&1 | grep -q '\.symtab' &&
	       ! readelf -SW '$WORK/burnlib_shjunk.so' 2>&1 | grep -q '\.symtab'"
cut=$(elf_edit "$WORK/burnlib_trunc.so" loadend)
size=$(stat -c %s "$WORK/burnlib_trunc.so")
check "the tail to cut from burnlib_trunc.so spans whole pages ($cut of $size bytes kept)" \
	[ $((size - (cut + 4095) / 4096 * 4096)) -ge 8192 ]

# run_case NAME CHANGE VARIANT...: dlburn on the copies of VARIANTs for 7 s
# of its CPU time under sampled at 499 Hz (8 KiB of stack per sample is
# plenty here and keeps the ring from filling when the machine is busy:
# lost samples are the kernel's, counted apart, and only reported); after
# 2 s runs the shell command CHANGE (the
# files change under the running code), then switches dlburn to its late
# code; then checks the daemon, the target, the counts and every copy's
# frames.  Each case has its own target and daemon, so that a daemon
# killed by one case does not hide what the others show.
run_case() {
	local name=$1 change=$2 out=$WORK/$1.out sock=$WORK/$1.sock pid dpid rc v
	shift 2
	local variants="$*" libs=()
	for v in $variants; do libs+=("$WORK/burnlib_$v.so"); done
	"$TARGETS/dlburn" -c 7 "${libs[@]}" >"$out" 2>"$WORK/$name.err" &
	pid=$!
	CHILDREN+=("$pid")
	wait_for "grep -q ready '$out' 2>/dev/null" 10
	check "$name: dlburn loaded $variants" grep -q ready "$out"
	"$SAMPLED" attach --rate 499 --stack-size 8192 --buffer-size 4096 --socket "$sock" $pid \
		>/dev/null
	dpid=$(json_field "$sock" 's["daemon_pid"]')
	sleep 2
	check "$name: the daemon answers while sampling" quiet "$CTL" --socket "$sock" status
	quiet "$CTL" --socket "$sock" tree
	eval "$change"
	sleep 0.5
	kill -USR1 $pid
	wait_for "grep -q late '$out' 2>/dev/null" 5
	check "$name: dlburn moved on to code it had not run before" grep -q late "$out"
	sleep 1
	check "$name: the daemon answers after the change on disk" quiet "$CTL" --socket "$sock" status
	quiet "$CTL" --socket "$sock" tree
	wait $pid
	rc=$?
	check "$name: dlburn ran to its end unharmed (exit $rc)" [ $rc -eq 0 ]
	check "$name: dlburn printed its result" grep -q '^done' "$out"
	check "$name: the daemon is still alive after the target ended" kill -0 "$dpid"
	if ! "$CTL" --socket "$sock" status --json >"$WORK/$name.status" 2>/dev/null ||
		! "$CTL" --socket "$sock" export -f collapsed -o "$WORK/$name.folded" 2>/dev/null; then
		not_ok "$name: the daemon answered status and export at the end"
		return
	fi
	ok "$name: the daemon answered status and export at the end"
	local samples lost total
	samples=$(python3 -c "import json; print(json.load(open('$WORK/$name.status'))['samples'])")
	lost=$(python3 -c "import json; print(json.load(open('$WORK/$name.status'))['lost_samples'])")
	total=$(python3 "$STACKS" "$WORK/$name.folded" total)
	echo "# $name: $samples samples, $lost lost, $total in the tree; $(grep truth "$out")"
	check "$name: enough samples to judge ($samples)" [ "$samples" -ge 1000 ]
	check "$name: every sample is in the tree (status $samples, tree $total)" [ "$samples" -eq "$total" ]
	judge_frames "$name" $variants
	"$CTL" --socket "$sock" stop >/dev/null
}

# judge_frames NAME VARIANT...: per copy V, from the folded stacks and the
# symbols read before any damage: "share" = samples with a frame of V
# (burnlib_V_* or burnlib_V.so+0x...), "late" = samples in V's late code
# (by name, or by an offset inside burnlib_V_late*), "bad" = frames of V
# that name a function V does not have or an offset outside every
# function of V.  The share must match the CPU time the target measured
# in V within 5 points (~3500 samples, >= 1000 checked, over <= 4 copies:
# the binomial sd at 25% is 0.7 points, at worst 1.4).
judge_frames() {
	local name=$1 report v share late nbad bad truth names
	shift
	report=$(python3 - "$WORK" "$name" "$@" <<'EOF'
import re, sys
work, name, variants = sys.argv[1], sys.argv[2], sys.argv[3:]
stacks = []
for line in open("%s/%s.folded" % (work, name)):
    stack, _, c = line.rstrip("\n").rpartition(" ")
    stacks.append((stack.split(";"), int(c)))
total = sum(c for _, c in stacks)
for v in variants:
    syms = {}
    for line in open("%s/burnlib_%s.syms" % (work, v)):
        fn, start, size = line.split()
        syms[fn] = (int(start, 16), int(start, 16) + int(size, 16))
    lib = "burnlib_%s" % v
    addr = re.compile(r"^%s\.so\+0x([0-9a-f]+)$" % lib)

    def which(frame):
        """The function of V a frame is in, "" if not V's, None if bad."""
        if frame in syms:
            return frame
        m = addr.match(frame)
        if m:
            off = int(m.group(1), 16)
            for fn, (lo, hi) in syms.items():
                if lo <= off < hi:
                    return fn
            return None
        if frame.startswith(lib + "_") or frame.startswith(lib + "."):
            return None
        return ""

    share = late = 0
    bad = set()
    for frames, c in stacks:
        fns = [(f, which(f)) for f in frames]
        mine = [fn for _, fn in fns if fn != ""]
        bad.update(f for f, fn in fns if fn is None)
        if mine:
            share += c
        if any(fn and "_late" in fn for fn in mine):
            late += c
    print(v, "%.2f" % (100.0 * share / total), "%.2f" % (100.0 * late / total),
          len(bad), ",".join(sorted(bad)[:3]) or "-")
EOF
)
	for v in "$@"; do
		read -r _ share late nbad bad <<<"$(echo "$report" | awk -v v=$v '$1 == v')"
		truth=$(sed -n "s/.*burnlib_$v=\([0-9.]*\).*/\1/p" "$WORK/$name.out" | awk '{print $1 * 100}')
		names=$(grep -o "burnlib_${v}[_.][A-Za-z0-9_.+]*" "$WORK/$name.folded" |
			sed 's/+0x[0-9a-f]*$/+0x.../' | sort -u | tr '\n' ' ')
		echo "# $name/$v: frames seen: $names"
		check "$name/$v: its frames hold ${share:-?}% of the samples, the target measured ${truth:-?}%" \
			python3 -c "import sys; sys.exit(not abs(${share:-999} - ${truth:-0}) <= 5.0)"
		# The late code runs for ~2/3 of the profile.
		check "$name/$v: its late code, reached after the change, was sampled (${late:-?}%)" \
			python3 -c "import sys; sys.exit(not ${late:-0} >= 5.0)"
		check "$name/$v: no frame names a function or offset it does not have (${nbad:-?}: ${bad:-})" \
			[ "${nbad:-1}" -eq 0 ]
	done
}

# Section headers gone or garbage, and a file replaced on disk: named
# where the symbols can still be read, addresses where they cannot.
run_case broken 'mv -f "$WORK/swap.junk" "$WORK/burnlib_swap.so"' plain shoff shjunk swap
for v in shoff shjunk; do
	check "broken/$v: the static leaf burnlib_${v}_core (only in .symtab) shows as an address" \
		sh -c "! grep -q 'burnlib_${v}_core' '$WORK/broken.folded'"
done
check "broken/plain: the control library's static leaves are named" \
	sh -c "grep -q 'burnlib_plain_core' '$WORK/broken.folded' &&
	       grep -q 'burnlib_plain_late_core' '$WORK/broken.folded'"
check "broken/swap: the replaced file's functions are still named (the old inode)" \
	grep -q 'burnlib_swap_late_core' "$WORK/broken.folded"

# A file cut in place under the running code: the part the target runs
# stays, the symbol tables the daemon may have mapped go.
run_case cut 'truncate -s "$cut" "$WORK/burnlib_trunc.so"' plain trunc
