#!/usr/bin/env bash
# The GIL view of a Python process: gil.py's main thread burns CPU in pure
# Python (it holds the GIL), its second thread sleeps (it has let go of
# it).  Wall mode at 199 Hz for about 3 s on Debian's python3.11 and on
# pyenv's 3.11.7 (and 3.12.1, 3.13.0 when installed): --gil held shows burn and not doze, --gil released doze,
# in tree, top, flame and export; status gives the share.
# A cpu-mode run: only the burning thread is sampled, holding the GIL.
. "$(dirname "$0")/lib.sh"

STACKS=$(dirname "$0")/stacks.py
PY=$(cd "$(dirname "$0")/../targets/py" && pwd)
interpreters=(/usr/bin/python3.11)
for v in 3.11.7/bin/python3.11 3.12.1/bin/python3.12 3.13.0/bin/python3.13; do
	if [ -x "/root/.pyenv/versions/$v" ]; then
		interpreters+=("/root/.pyenv/versions/$v")
	else
		ok "pyenv's ${v%%/*} # SKIP /root/.pyenv/versions/$v is absent"
	fi
done

# profile INTERP SECONDS MODE-OPTIONS...: runs gil.py for SECONDS, attached
# from its first moment, and leaves the daemon serving on $SOCK after the
# script's end.
SOCK=$WORK/g.sock
profile() {
	local interp=$1 secs=$2
	shift 2
	"$interp" "$PY/gil.py" "$secs" >"$WORK/g.out" 2>&1 &
	local pid=$!
	CHILDREN+=("$pid")
	wait_for "grep -q ready '$WORK/g.out'" 10
	"$SAMPLED" attach --socket "$SOCK" "$@" $pid >/dev/null
	wait $pid
}

# Percentages of the folded stacks in file $1 whose stacks hold function $2.
share() { python3 "$STACKS" "$1" share "$2"; }
# Passes when $1 (a number) compares with $3 as $2 says (">=", "<=").
cmp_num() { python3 -c "import sys; sys.exit(not ($1 $2 $3))"; }

for interp in "${interpreters[@]}"; do
	label=$(basename "$(dirname "$(dirname "$interp")")")/$(basename "$interp")

	profile "$interp" 3.5 --mode wall --rate 199
	"$CTL" --socket "$SOCK" export -o "$WORK/all.folded"
	"$CTL" --socket "$SOCK" export --gil held -o "$WORK/held.folded"
	"$CTL" --socket "$SOCK" export --gil released -o "$WORK/released.folded"
	"$CTL" --socket "$SOCK" status --json >"$WORK/g.status"
	all=$(python3 "$STACKS" "$WORK/all.folded" total)
	held=$(python3 "$STACKS" "$WORK/held.folded" total)
	released=$(python3 "$STACKS" "$WORK/released.folded" total)
	gil=$(python3 -c "import json; print(json.load(open('$WORK/g.status'))['python_gil'])")
	echo "# $label wall: $all samples, $held held, $released released; status: $gil"
	check "wall: $label: enough samples to judge ($all)" [ "$all" -ge 800 ]
	check "wall: $label: nearly every sample has a GIL class ($held + $released of $all)" \
		cmp_num "$held + $released" ">=" "0.95 * $all"
	check "wall: $label: status counts the classes the trees hold ($gil)" \
		python3 -c "import json, sys; g = json.load(open('$WORK/g.status'))['python_gil']; sys.exit(not (g['held'] == $held and g['released'] == $released))"
	# One thread of two holds the GIL: about half of the Python samples.
	check "wall: $label: status: the GIL held in about half the samples" \
		python3 -c "import sys; sys.exit(not (0.35 <= $held / ($held + $released) <= 0.65))"
	b=$(share "$WORK/held.folded" burn)
	d=$(share "$WORK/held.folded" doze)
	check "wall: $label: --gil held: burn ($b%), not doze ($d%)" \
		python3 -c "import sys; sys.exit(not ($b >= 95 and $d <= 2))"
	b=$(share "$WORK/released.folded" burn)
	d=$(share "$WORK/released.folded" doze)
	# The burner waits for the GIL while the sleeper, woken, has it: rarely,
	# but longer when a busy machine is slow to run the sleeper.
	check "wall: $label: --gil released: doze ($d%), hardly burn ($b%)" \
		python3 -c "import sys; sys.exit(not ($d >= 85 and $b <= 10))"
	check "wall: $label: the sleep is released, in clock_nanosleep under doze" \
		cmp_num "$(python3 "$STACKS" "$WORK/released.folded" path doze clock_nanosleep)" ">=" 50

	# The other commands take the same filter (their default thresholds apply).
	"$CTL" --socket "$SOCK" tree --gil held --no-color --ascii >"$WORK/held.tree"
	"$CTL" --socket "$SOCK" tree --gil released --no-color --ascii >"$WORK/released.tree"
	check "wall: $label: tree --gil held shows burn, not doze" \
		sh -c "grep -q '  burn  ' '$WORK/held.tree' && ! grep -q '  doze  ' '$WORK/held.tree'"
	check "wall: $label: tree --gil released shows doze" grep -q '  doze  ' "$WORK/released.tree"
	"$CTL" --socket "$SOCK" top --gil held --min-percent 1 >"$WORK/held.top"
	check "wall: $label: top --gil held lists burn, not doze" \
		sh -c "grep -q ' burn ' '$WORK/held.top' && ! grep -q ' doze ' '$WORK/held.top'"
	"$CTL" --socket "$SOCK" flame --gil released -o "$WORK/released.svg"
	check "wall: $label: flame --gil released draws doze" grep -q '<title>doze ' "$WORK/released.svg"
	"$CTL" --socket "$SOCK" status >"$WORK/g.text"
	check "wall: $label: status says how often the GIL was held" \
		grep -qE '^gil: +held in [0-9.]+% of [0-9]+ Python samples$' "$WORK/g.text"
	"$CTL" --socket "$SOCK" stop >/dev/null

	# cpu mode: the sleeper is never on a CPU; the burner holds the GIL.
	profile "$interp" 2.5 --rate 199
	"$CTL" --socket "$SOCK" export --gil held -o "$WORK/held.folded"
	gil=$(python3 -c "import json, subprocess; print(json.loads(subprocess.check_output(['$CTL', '--socket', '$SOCK', 'status', '--json']))['python_gil'])")
	held=$(python3 "$STACKS" "$WORK/held.folded" total)
	echo "# $label cpu: status: $gil"
	check "cpu: $label: the GIL held in nearly every Python sample ($gil)" \
		python3 -c "import sys; g = $gil; sys.exit(not (g['held'] >= 50 and g['held'] >= 0.9 * (g['held'] + g['released'])))"
	check "cpu: $label: --gil held is burn" cmp_num "$(share "$WORK/held.folded" burn)" ">=" 95
	"$CTL" --socket "$SOCK" stop >/dev/null
done

# Usage errors need no daemon and name the option.
"$CTL" --socket "$WORK/none.sock" tree --gil sometimes >/dev/null 2>"$WORK/err"
rc=$?
check "tree --gil sometimes is a usage error (exit $rc)" \
	sh -c "[ $rc = 2 ] && grep -q \"invalid --gil 'sometimes'\" '$WORK/err'"
"$CTL" --socket "$WORK/none.sock" export --gil >/dev/null 2>&1
rc=$?
check "export --gil without a value is a usage error (exit $rc)" [ $rc = 2 ]

# A native program: no Python, so the status has no GIL share and the GIL
# filters select nothing.
spawn_quiet "$TARGETS/spin" -t 1 -s 30
"$SAMPLED" attach --socket "$WORK/n.sock" --rate 199 $! >/dev/null
sleep 1
pg=$(json_field "$WORK/n.sock" 's.get("python_gil")')
check "native: status has no GIL share ($pg)" [ "$pg" = None ]
check "native: no gil line in the status text" \
	sh -c "! '$CTL' --socket '$WORK/n.sock' status | grep -q '^gil:'"
"$CTL" --socket "$WORK/n.sock" export --gil held -o "$WORK/n.folded"
check "native: --gil held selects no sample" [ ! -s "$WORK/n.folded" ]
"$CTL" --socket "$WORK/n.sock" stop >/dev/null
