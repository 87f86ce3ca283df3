#!/usr/bin/env bash
# The presentation commands against a live daemon whose target has exited,
# so that every command sees the same tree: each export must account for
# exactly the samples the tree holds (pprof decoded back with protoc,
# speedscope checked against the format, collapsed stacks summed), the
# speedscope stacks must be the collapsed stacks root first, and the text
# tree, flat table, flame graph and usage errors must behave.
. "$(dirname "$0")/lib.sh"

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PROTO=$ROOT/proto/profile.proto
SOCK=$WORK/x.sock
OUT=$WORK/split.out
CTLS=("$CTL" --socket "$SOCK")

: >"$OUT"
"$TARGETS/split" -t 2 -s 2 >"$OUT" &
pid=$!
CHILDREN+=($pid)
wait_for "grep -q ready '$OUT'" 10
"$SAMPLED" attach --rate 999 --socket "$SOCK" $pid >/dev/null
wait $pid
check "the target has exited and the daemon still serves its profile" \
	wait_for "[ \"\$(json_field '$SOCK' 's[\"state\"]')\" = exited ]" 5

# The tree's total: the header of the text tree, all of it.
"${CTLS[@]}" tree --show-all --ascii --no-color >"$WORK/tree.txt"
total=$(sed -n 's/^Samples: *\([0-9]*\).*/\1/p' "$WORK/tree.txt")
rate=$(json_field "$SOCK" 's["rate_hz"]')
echo "# $total samples at $rate Hz"
check "enough samples to judge ($total)" [ "${total:-0}" -ge 200 ]

# ------------------------------------------------------------ collapsed
"${CTLS[@]}" export -o "$WORK/p.folded"
folded_total=$(awk '{ s += $NF } END { print s + 0 }' "$WORK/p.folded")
check "collapsed stacks add up to the tree's total ($folded_total)" \
	[ "$folded_total" = "$total" ]

# ------------------------------------------------------------ pprof
# A small parser of protoc's text format: messages as dicts of lists.
cat >"$WORK/pprof_check.py" <<'EOF'
import re, sys

def parse(lines):
    stack = [{}]
    for line in lines:
        line = line.strip()
        if line.endswith("{"):
            child = {}
            stack[-1].setdefault(line[:-1].strip(), []).append(child)
            stack.append(child)
        elif line == "}":
            stack.pop()
        elif line:
            key, value = line.split(":", 1)
            value = value.strip()
            if value.startswith('"'):
                value = value[1:-1]
            elif value in ("true", "false"):
                value = value == "true"
            else:
                value = int(value)
            stack[-1].setdefault(key, []).append(value)
    return stack[0]

p = parse(open(sys.argv[1]).read().splitlines())
total, rate, threads = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "threads"
strings = p["string_table"]
errors = []
if strings[0] != "":
    errors.append("string_table[0] is %r" % strings[0])
locations = {l["id"][0] for l in p["location"]}
functions = {f["id"][0] for f in p["function"]}
mappings = {m["id"][0] for m in p["mapping"]}
if 0 in locations or 0 in functions or 0 in mappings:
    errors.append("an id is 0")
for l in p["location"]:
    # 0 (absent) is "no mapping": markers such as [kernel] have no module.
    if l.get("mapping_id", [0])[0] not in mappings | {0}:
        errors.append("location %d names no mapping" % l["id"][0])
    for line in l["line"]:
        if line["function_id"][0] not in functions:
            errors.append("location %d names no function" % l["id"][0])
types = [(strings[t.get("type", [0])[0]], strings[t.get("unit", [0])[0]]) for t in p["sample_type"]]
if types != [("samples", "count"), ("cpu", "nanoseconds")]:
    errors.append("sample types %r" % types)
period = p["period"][0]
if period != round(1e9 / rate):
    errors.append("period %d at %d Hz" % (period, rate))
count = 0
labelled = set()
for s in p["sample"]:
    v = s["value"]
    count += v[0]
    if v[1] != v[0] * period:
        errors.append("values %r" % v)
    for lid in s.get("location_id", []):
        if lid not in locations:
            errors.append("sample names location %d" % lid)
    for label in s.get("label", []):
        labelled.add(strings[label["str"][0]])
if count != total:
    errors.append("samples add up to %d, not %d" % (count, total))
if threads and len(labelled) < 2:
    errors.append("thread labels %r" % labelled)
print("# pprof: %d samples, %d locations, %d functions, %d mappings, threads %r"
      % (len(p["sample"]), len(locations), len(functions), len(mappings), sorted(labelled)))
for e in errors[:10]:
    print("# " + e)
sys.exit(1 if errors else 0)
EOF

for mode in merged threads; do
	flag=
	[ $mode = threads ] && flag=--threads
	"${CTLS[@]}" export $flag -o "$WORK/$mode.pb.gz"
	check "pprof ($mode): a valid gzip file" gzip -t "$WORK/$mode.pb.gz"
	gzip -dc <"$WORK/$mode.pb.gz" |
		protoc --proto_path="$(dirname "$PROTO")" --decode=perftools.profiles.Profile \
			"$PROTO" >"$WORK/$mode.pprof.txt" 2>"$WORK/protoc.err"
	check "pprof ($mode): protoc decodes it as perftools.profiles.Profile" \
		[ -s "$WORK/$mode.pprof.txt" -a ! -s "$WORK/protoc.err" ]
	check "pprof ($mode): ids resolve and the values add up to the tree's $total samples" \
		python3 "$WORK/pprof_check.py" "$WORK/$mode.pprof.txt" "$total" "$rate" "$mode"
done
"${CTLS[@]}" export -f pprof | head -c 2 | od -An -tx1 >"$WORK/magic"
check "pprof to a pipe: gzip data" grep -q "1f 8b" "$WORK/magic"

# ------------------------------------------------------------ speedscope
cat >"$WORK/speedscope_check.py" <<'EOF'
import collections, json, sys

d = json.load(open(sys.argv[1]))
total, rate, folded, threads = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
errors = []
if d.get("$schema") != "https://www.speedscope.app/file-format-schema.json":
    errors.append("schema %r" % d.get("$schema"))
frames = d["shared"]["frames"]
if any("name" not in f for f in frames):
    errors.append("a frame without a name")
stacks = collections.Counter()
weight = 0.0
for p in d["profiles"]:
    if p["type"] != "sampled" or p["unit"] != "seconds" or p["startValue"] != 0:
        errors.append("profile header %r" % {k: p[k] for k in ("type", "unit", "startValue")})
    if len(p["samples"]) != len(p["weights"]):
        errors.append("%d samples, %d weights" % (len(p["samples"]), len(p["weights"])))
    if abs(sum(p["weights"]) - p["endValue"]) > 1e-6 * max(1, p["endValue"]):
        errors.append("endValue %r, weights add up to %r" % (p["endValue"], sum(p["weights"])))
    for s, w in zip(p["samples"], p["weights"]):
        if any(not (0 <= i < len(frames)) for i in s):
            errors.append("frame index out of range in %r" % s)
            continue
        stacks[";".join(frames[i]["name"] for i in s)] += round(w * rate)
        weight += w
if round(weight * rate) != total:
    errors.append("weights add up to %r samples, not %d" % (weight * rate, total))
if threads and len(d["profiles"]) != threads:
    errors.append("%d profiles for %d threads" % (len(d["profiles"]), threads))
if folded != "-":
    # Root first: the same stacks as the collapsed export, which is root first.
    want = collections.Counter()
    for line in open(folded):
        stack, count = line.rstrip("\n").rsplit(" ", 1)
        want[stack] += int(count)
    if stacks != want:
        diff = list((stacks - want).items())[:3] + list((want - stacks).items())[:3]
        errors.append("stacks differ from the collapsed ones: %r" % diff)
print("# speedscope: %d frames, %d profiles, %d stacks" % (len(frames), len(d["profiles"]), len(stacks)))
for e in errors[:10]:
    print("# " + e)
sys.exit(1 if errors else 0)
EOF

"${CTLS[@]}" export -o "$WORK/p.speedscope.json"
check "speedscope: valid, root-first stacks equal to the collapsed ones, weights add up" \
	python3 "$WORK/speedscope_check.py" "$WORK/p.speedscope.json" "$total" "$rate" \
	"$WORK/p.folded" 0
threads=$(json_field "$SOCK" 'sum(1 for t in s["threads"] if t["samples"] > 0)')
"${CTLS[@]}" export -f speedscope --threads -o "$WORK/threads.json"
check "speedscope --threads: one profile per sampled thread ($threads), weights add up" \
	python3 "$WORK/speedscope_check.py" "$WORK/threads.json" "$total" "$rate" - "$threads"

# ------------------------------------------------------------ text, flat, flame
# A frame shows its module, or its source file:line when debug info names it
# (the targets are built with -g; libc's comes with libc6-dbg).
SPLIT_AT='(\[split\]|[^ ]*split\.c:[0-9]+)'
LIBC_AT='(\[libc\.so\.6\]|[^ ]+\.[ch]:[0-9]+)'
has() { grep -qE "$1" "$2"; }
check "tree --show-all: the whole tree, qsort_r and compare under c, nothing folded" \
	eval "has '  qsort_r  $LIBC_AT' '$WORK/tree.txt' && has '  compare  $SPLIT_AT' '$WORK/tree.txt' \
		&& ! grep -q 'frames hidden' '$WORK/tree.txt'"
"${CTLS[@]}" tree --ascii --no-color >"$WORK/default.txt"
check "tree: libc's runs are folded into '[N frames hidden]' lines" \
	grep -q '^[ |`-]*[0-9.]* *[0-9.]*%  \[[0-9]* frames hidden\]  libc.so.6' "$WORK/default.txt"
sed -n '6,/^$/p' "$WORK/default.txt" | sed '/^$/d' >"$WORK/lines.txt"
check "tree: every line under the header is 'time share name ...'" \
	eval "[ -s '$WORK/lines.txt' ] &&
		! grep -v '^[ |\`-]*[0-9]*\.[0-9]\{3\} *[0-9.]*%  [^ ]' '$WORK/lines.txt'"
"${CTLS[@]}" tree --ascii --no-color --hide '^(a|worker)$' >"$WORK/hidden.txt"
check "tree --hide: the hidden functions are gone, their callers stay" \
	eval "! has '  a  $SPLIT_AT' '$WORK/hidden.txt' && ! has '  worker  $SPLIT_AT' '$WORK/hidden.txt' \
		&& has '  work  $SPLIT_AT' '$WORK/hidden.txt'"
check "tree --hide: the header still counts every sample" \
	grep -q "^Samples: *$total " "$WORK/hidden.txt"
"${CTLS[@]}" tree --unicode --no-color --min-percent 0 >"$WORK/unicode.txt"
check "tree --unicode draws box-drawing connectors" grep -q '└─ ' "$WORK/unicode.txt"
check "tree --no-color writes no escape sequences" \
	eval "! grep -q \$'\\033' '$WORK/unicode.txt'"
"${CTLS[@]}" tree --color --ascii >"$WORK/color.txt"
check "tree --color colours even into a file" grep -q $'\033\\[31m' "$WORK/color.txt"

"${CTLS[@]}" top --limit 3 >"$WORK/top.txt"
check "top --limit 3: a header line, a table head and three rows" \
	[ "$(sed -n '3,$p' "$WORK/top.txt" | grep -c '^ *[0-9]')" = 3 ]
check "top: function a has the most samples of its own" \
	eval "sed -n 4p '$WORK/top.txt' | grep -q '  a  .*split\\(\\.c\\)\\?$'"
"${CTLS[@]}" top --sort total --limit 0 >"$WORK/top_total.txt"
check "top --sort total: the total column never increases" \
	eval "sed -n '4,\$p' '$WORK/top_total.txt' | awk '{ if (NR > 1 && \$3 > last) exit 1; last = \$3 }'"
"${CTLS[@]}" tree --flat --min-percent 0 >"$WORK/flat.txt"
check "tree --flat: the flat table" grep -q '^ *SELF  *SELF%  *TOTAL  *TOTAL%  FUNCTION' "$WORK/flat.txt"

"${CTLS[@]}" flame -o "$WORK/flame.svg" --title 'split <test>'
check "flame: well-formed SVG with tooltips and the title" \
	python3 -c "
import sys, xml.etree.ElementTree as E
r = E.parse('$WORK/flame.svg').getroot()
ns = '{http://www.w3.org/2000/svg}'
titles = [t.text for t in r.iter(ns + 'title')]
texts = [t.text for t in r.iter(ns + 'text')]
sys.exit(not (r.tag == ns + 'svg' and len(titles) > 5 and 'split <test>' in texts
              and any(t.startswith('all: $total samples') for t in titles)))"

"${CTLS[@]}" tree --html -o "$WORK/tree.html"
check "tree --html writes a page" grep -qi '<html' "$WORK/tree.html"

# ------------------------------------------------------------ usage errors
usage() {	# DESCRIPTION MESSAGE ARGS...: exit status 2 and MESSAGE on stderr
	local desc=$1 msg=$2 rc
	shift 2
	"${CTLS[@]}" "$@" >/dev/null 2>"$WORK/err"
	rc=$?
	if [ $rc = 2 ] && grep -qF -- "$msg" "$WORK/err"; then ok "$desc"; else not_ok "$desc"; fi
}
usage "export -f nope is a usage error" "unknown format 'nope'" export -f nope
usage "a bad --hide regex is a usage error" "bad --hide regex" tree --hide '('
usage "--color and --no-color conflict" "cannot go together" tree --color --no-color
usage "--flat and --html conflict" "cannot go together" tree --flat --html
usage "top --sort takes self, total or name" "invalid --sort" top --sort speed
usage "top --limit takes a number" "invalid --limit" top --limit -1
usage "flame --width has a minimum" "invalid --width" flame --width 10

"${CTLS[@]}" stop >/dev/null
