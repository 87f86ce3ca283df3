#!/usr/bin/env bash
# samplectl diff on saved profiles of real runs: split (a 60/30/10 split
# under main -> work), spin (one function), and spin with a second thread
# that starts late (half the samples leave main's stack for a thread's).
# split vs spin: a, b and c are gone by about their shares and spin is new;
# a profile against itself, as a file or live, changes nothing; --sort,
# --limit, --min-change and colours behave; the differential flame graphs
# are well-formed SVG, red where B grew and blue where it shrank.
. "$(dirname "$0")/lib.sh"

# profile NAME CMD...: runs CMD until it exits with a daemon
# attached at 999 Hz, then saves $WORK/NAME.sprof; the daemon goes on
# serving the finished profile on $WORK/NAME.sock.
profile() {
	local name=$1 out=$WORK/$1.out
	shift
	"$@" >"$out" &
	local pid=$!
	CHILDREN+=($pid)
	wait_for "grep -q ready '$out'" 10
	"$SAMPLED" attach --rate 999 --socket "$WORK/$name.sock" $pid >/dev/null
	wait $pid
	"$CTL" --socket "$WORK/$name.sock" save -o "$WORK/$name.sprof"
}

# rows FILE: the table's rows as "FUNCTION A_TOTAL B_TOTAL TOTAL_PTS TAG"
# (a missing share is -, TAG is new, gone or =).
rows() {
	python3 - "$1" <<'EOF'
import sys
lines = open(sys.argv[1]).read().splitlines()
head = [i for i, l in enumerate(lines) if l.lstrip().startswith("A SELF%")][0]
for l in lines[head + 1:]:
    if l.startswith("("):
        continue
    f = l.split()
    tag = f[6] if f[6] in ("new", "gone") else "="
    name = f[7] if tag != "=" else f[6]
    print(name, f[1].rstrip("%"), f[3].rstrip("%"), f[5], tag)
EOF
}

# field FILE FUNCTION N: field N (1-based) of the function's row from rows.
field() { rows "$1" | awk -v f="$2" -v n="$3" '$1 == f { print $n; exit }'; }

# near GOT WANT TOLERANCE: |GOT - WANT| <= TOLERANCE.
near() { python3 -c "import sys; sys.exit(not abs($1 - ($2)) <= $3)"; }

profile split "$TARGETS/split" -s 2.5
profile spin "$TARGETS/spin" -s 2
profile late "$TARGETS/spin" -s 2.5 -l 0.5
truth=$(grep truth "$WORK/split.out")
truth_of() { echo "$truth" | sed -n "s/.*$1=\([0-9.]*\).*/\1/p" | awk '{print $1 * 100}'; }
echo "# split says: $truth"

# split -> spin: every function of split is gone, spin is new.
"$CTL" diff --limit 0 "$WORK/split.sprof" "$WORK/spin.sprof" >"$WORK/t1" 2>"$WORK/e1"
rc=$?
check "diff of two files exits 0 ($(cat "$WORK/e1"))" [ $rc = 0 ]
check "the header gives both profiles' samples and durations" \
	grep -qE "^A  .*split.sprof: pid [0-9]+ \(split\), [0-9]+ samples in [0-9.]+ .*s at 999 Hz" "$WORK/t1"
check "the header names B" \
	grep -qE "^B  .*spin.sprof: pid [0-9]+ \(spin\), [0-9]+ samples in" "$WORK/t1"
n_a=$(sed -n 's/^A  .*), \([0-9]*\) samples.*/\1/p' "$WORK/t1")
# Four standard deviations of a share measured on n_a samples (at most
# 50/sqrt(n) points each), and never less than 3 points.
tolerance=$(python3 -c "print(round(max(3.0, 4 * 50 / max(1, ${n_a:-1}) ** 0.5), 1))")
echo "# split: $n_a samples; shares must be within $tolerance points of the truth"
for f in a b c; do
	got=$(field "$WORK/t1" $f 2)
	check "$f is gone (tag $(field "$WORK/t1" $f 5))" [ "$(field "$WORK/t1" $f 5)" = gone ]
	check "$f's total share in A ($got%) is about what split measured ($(truth_of $f)%)" \
		near "$got" "$(truth_of $f)" "$tolerance"
	check "$f's change ($(field "$WORK/t1" $f 4)) is minus its share in A" \
		near "$(field "$WORK/t1" $f 4)" "-$got" 0.11
done
# The table's shares are top's: the same flat profile.
top_a=$("$CTL" top --load "$WORK/split.sprof" --sort total --limit 0 |
	awk '$5 == "a" { print $4 }' | tr -d %)
check "a's share in A ($(field "$WORK/t1" a 2)%) is top's ($top_a%)" \
	near "$(field "$WORK/t1" a 2)" "${top_a:-999}" 0.05
spin_new() { [ "$(field "$WORK/t1" spin 5)" = new ] && near "$(field "$WORK/t1" spin 3)" 100 5; }
check "spin is new and holds nearly all of B ($(field "$WORK/t1" spin 3)%)" spin_new
check "the largest changes come first" python3 - "$WORK/t1" <<EOF
import sys
pts = [abs(float(l.split()[3])) for l in """$(rows "$WORK/t1")""".splitlines()]
sys.exit(not (len(pts) > 5 and pts == sorted(pts, reverse=True)))
EOF
check "no colours into a file" python3 -c "import sys; sys.exit(b'\x1b' in open('$WORK/t1','rb').read())"
"$CTL" diff --color "$WORK/split.sprof" "$WORK/spin.sprof" >"$WORK/t2"
colored() {
	grep -q $'\033\\[31m.*new.*spin' "$WORK/t2" &&
		grep -q $'\033\\[32mgone\033\\[0m  a ' "$WORK/t2"
}
check "--color: growth red, shrinking green" colored

# A profile against itself: the same file twice, then a file and the daemon.
"$CTL" diff --limit 0 "$WORK/split.sprof" "$WORK/split.sprof" >"$WORK/t3"
moved() { rows "$1" | awk '$4 > 0.5 || $4 < -0.5 || $5 != "=" { n++ } END { print n + 0 }'; }
unmoved() { [ "$(moved "$1")" = 0 ] && [ "$(rows "$1" | wc -l)" -gt 5 ]; }
check "diff A A: no change above 0.5 points ($(moved "$WORK/t3") rows moved)" unmoved "$WORK/t3"
"$CTL" --socket "$WORK/split.sock" diff --limit 0 "$WORK/split.sprof" live >"$WORK/t4" 2>"$WORK/e4"
check "saved vs live: no change above 0.5 points ($(moved "$WORK/t4") rows moved) $(cat "$WORK/e4")" \
	unmoved "$WORK/t4"
check "saved vs live: B is the daemon" grep -q "^B  live: pid [0-9]* (split)" "$WORK/t4"
"$CTL" --socket "$WORK/spin.sock" diff - "$WORK/spin.sprof" >"$WORK/t5"
check "'-' is the daemon too" grep -q "^A  live: pid.*(spin)" "$WORK/t5"

# Sort, limit, threshold.
"$CTL" diff --limit 3 "$WORK/split.sprof" "$WORK/spin.sprof" >"$WORK/t6"
three() { [ "$(rows "$WORK/t6" | wc -l)" = 3 ] && grep -q "more functions not shown" "$WORK/t6"; }
check "--limit 3: three rows and a note of the rest" three
"$CTL" diff --limit 0 --min-change 50 "$WORK/split.sprof" "$WORK/spin.sprof" >"$WORK/t7"
big_only() { rows "$WORK/t7" | grep -q "^a " && ! rows "$WORK/t7" | grep -qE "^(b|c) "; }
check "--min-change 50: a (60 points) stays, b (30) and c (10) go" big_only
"$CTL" diff --limit 0 --sort name "$WORK/split.sprof" "$WORK/spin.sprof" >"$WORK/t8"
check "--sort name: alphabetical" python3 - <<EOF
import sys
names = [l.split()[0] for l in """$(rows "$WORK/t8")""".splitlines()]
sys.exit(not (len(names) > 5 and names == sorted(names)))
EOF

# Differential flame graphs.
svg_check() {	# FILE PYTHON-CONDITION: parses the SVG, bars as (title, r, g, b)
	python3 - "$1" "$2" <<'EOF'
import re, sys
import xml.etree.ElementTree as ET
ns = "{http://www.w3.org/2000/svg}"
bars = []
for g in ET.parse(sys.argv[1]).getroot().iter(ns + "g"):
    rgb = re.match(r"rgb\((\d+),(\d+),(\d+)\)", g.find(ns + "rect").get("fill"))
    bars.append((g.find(ns + "title").text,) + tuple(int(x) for x in rgb.groups()))
red = lambda t: t[1] > t[2] + 100 and t[1] > t[3] + 100
blue = lambda t: t[3] > t[1] + 100
sys.exit(not eval(sys.argv[2]))
EOF
}
"$CTL" diff --flame -o "$WORK/d1.svg" "$WORK/split.sprof" "$WORK/spin.sprof"
check "split -> spin: a well-formed SVG" svg_check "$WORK/d1.svg" "len(bars) > 3"
check "split -> spin: spin's bar is red and says new" svg_check "$WORK/d1.svg" \
	"any(t[0].startswith('spin (') and red(t) and 'points, new)' in t[0] for t in bars)"
check "split -> spin: the hover text gives both shares" svg_check "$WORK/d1.svg" \
	"any(re.search(r'^spin .*; A 0\.00% \u2192 B (9\d|100)\.\d\d% \(\+(9\d|100)\.\d\d points, new\)$', t[0]) for t in bars)"
"$CTL" diff --flame "$WORK/spin.sprof" "$WORK/late.sprof" >"$WORK/d2.svg"
check "spin -> late thread: main's spin shrank (blue), the thread's grew (red)" svg_check \
	"$WORK/d2.svg" "(any(t[0].startswith('main (') and blue(t) for t in bars) and
	any(t[0].startswith('start_thread') and red(t) for t in bars))"
# How the two threads share the CPU is the scheduler's business on a busy
# machine: main's share need only fall, by what the tooltip says.
echo "# $(grep -o '<title>main [^<]*' "$WORK/d2.svg")"
check "spin -> late thread: main's tooltip says 100% in A, less in B, and the difference" \
	svg_check "$WORK/d2.svg" "any((lambda m: m and 100 - float(m[1]) > 5 and
	abs(float(m[1]) - 100 + float(m[2])) < 0.011)(re.search(r'^main .*; A 100\.00% \u2192 B (\d+\.\d\d)% \(-(\d+\.\d\d) points\)$', t[0])) for t in bars)"
"$CTL" diff --flame -o "$WORK/d3.svg" "$WORK/split.sprof" "$WORK/split.sprof"
check "diff --flame A A: every bar grey" svg_check "$WORK/d3.svg" \
	"len(bars) > 3 and all(t[1:] == (224, 224, 224) for t in bars)"

# Errors.
"$CTL" diff "$WORK/split.sprof" "$WORK/nosuch.sprof" >/dev/null 2>"$WORK/e9"
rc=$?
check "a missing file: exit 1 ($rc) naming it" grep -q "nosuch.sprof" "$WORK/e9"
check "a missing file: exit 1" [ $rc = 1 ]
"$CTL" diff "$WORK/split.sprof" >/dev/null 2>&1
rc=$?
check "one operand: usage error" [ $rc = 2 ]
"$CTL" diff --sort size "$WORK/split.sprof" "$WORK/spin.sprof" >/dev/null 2>&1
rc=$?
check "a bad --sort: usage error" [ $rc = 2 ]

for s in split spin late; do
	"$CTL" --socket "$WORK/$s.sock" stop >/dev/null
done
