#!/usr/bin/env bash
# The daemon under valgrind's memcheck, in cpu and in wall mode: attached
# to a target that starts and ends threads, forks and execs, answering
# status, tree, dump and export requests, through the target's exit to its
# stop.  No memory error and no definite leak.
. "$(dirname "$0")/lib.sh"

here=$(dirname "$0")
sock=$WORK/vg.sock

if ! command -v valgrind >/dev/null 2>&1; then
	not_ok "valgrind is installed (make deps installs it)"
	exit 0
fi

# valgrind cannot run a binary built with AddressSanitizer (make
# check-asan): that build is checked by the sanitizers themselves, and
# memcheck runs on the plain build in make check.  Nothing is counted here.
if nm "$SAMPLED" 2>/dev/null | grep -q ' __asan_init'; then
	echo "# $SAMPLED is built with AddressSanitizer: memcheck runs in make check, not here"
	exit 0
fi

# A valgrind that does not know pidfd_open (3.19 fails it with ENOSYS)
# would stop the daemon at start-up: a preloaded library answers it then.
cc -std=gnu11 -D_GNU_SOURCE -shared -fPIC -O2 -Wall -Wextra -Werror \
	-o "$WORK/pidfd_shim.so" "$here/pidfd_shim.c" -ldl -lpthread
spawn_quiet sleep 60
probe=$!
preload=
if valgrind -q "$SAMPLED" dump $probe 2>&1 | grep -q 'pidfd_open.*not implemented'; then
	preload=$WORK/pidfd_shim.so
	echo "# $(valgrind --version) lacks pidfd_open: preloading pidfd_shim.so"
fi
kill $probe

ctl() { "$CTL" --timeout 60 --socket "$sock" "$@"; }

# run_mode MODE HOW_TO_STOP: one daemon under memcheck, start to end.
run_mode() {
	local mode=$1 how=$2 pid vg rc asked=0 answered=0
	: >"$WORK/churn.out"	# before the start: the waits below read it
	"$TARGETS/churn" -t 300 -b 20 -m 1 -f 3 -s 2 -p 2 -d 8 >"$WORK/churn.out" &
	pid=$!
	CHILDREN+=($pid)
	wait_for "grep -q ready '$WORK/churn.out'" 10
	rm -f "$sock"
	LD_PRELOAD=$preload valgrind --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite --log-file="$WORK/vg-$mode.log" \
		"$SAMPLED" attach --foreground --mode $mode --rate 199 --socket "$sock" $pid \
		>"$WORK/vg-$mode.out" 2>"$WORK/vg-$mode.err" &
	vg=$!
	CHILDREN+=($vg)
	wait_for "grep -q sock '$WORK/vg-$mode.out'" 60
	# ask CMD...: a request that must be answered.
	ask() {
		asked=$((asked + 1))
		if ctl "$@" >/dev/null 2>"$WORK/ask.err"; then
			answered=$((answered + 1))
		else
			echo "# $mode: '$*' failed: $(head -c 300 "$WORK/ask.err")"
		fi
	}
	ask status
	ask tree
	kill -USR1 $pid
	wait_for "grep -q 'phase2 done' '$WORK/churn.out'" 60
	ask tree --threads
	ask dump
	ask export -f pprof -o "$WORK/vg.pb.gz"
	kill -USR1 $pid
	wait $pid
	wait_for "[ \"\$(json_field '$sock' 's[\"state\"]')\" = exited ]" 30
	ask status --json
	ask tree
	if [ "$how" = stop ]; then
		ask stop
	else
		kill -TERM $vg
	fi
	wait $vg
	rc=$?
	grep -E 'ERROR SUMMARY|definitely lost|possibly lost' "$WORK/vg-$mode.log" | sed 's/^==[0-9]*== */# /'
	check "$mode: every request answered under valgrind ($answered of $asked)" [ "$answered" = "$asked" ]
	check "$mode: the daemon ended cleanly after $how (status $rc)" [ "$rc" = 0 ]
	check "$mode: memcheck found no error" grep -q 'ERROR SUMMARY: 0 errors' "$WORK/vg-$mode.log"
	check "$mode: and no definite leak" \
		sh -c "grep -q 'definitely lost: 0 bytes' '$WORK/vg-$mode.log' || grep -q 'no leaks are possible' '$WORK/vg-$mode.log'"
	if [ "$rc" != 0 ]; then
		sed -n '/^==[0-9]*== [A-Z].*/,$p' "$WORK/vg-$mode.log" | head -n 60
		cat "$WORK/vg-$mode.err"
	fi
}

run_mode cpu stop
run_mode wall SIGTERM
