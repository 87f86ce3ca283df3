#!/usr/bin/env bash
# The daemon runs as root against other users' processes: neither another
# user nor the profiled process may steer it into touching files it did not
# mean to.  Each check below plays one attack (docs/RELIABILITY.md, "Threat
# model") with a user created for the test, and looks at what was hit.
. "$(dirname "$0")/lib.sh"

use_test_user
copy_bins_for_unpriv
atk=$UNPRIV_USER
echo "# attacker: $atk (uid $(id -u "$atk"))"

# A file of root's that nothing may touch, and a directory like /tmp.
victim=$WORK/victim
echo precious >"$victim"
chmod 0644 "$victim"
shared=$WORK/shared
mkdir -m 1777 "$shared"

victim_intact() { [ "$(cat "$victim")" = precious ] && [ "$(stat -c %a "$victim")" = 644 ]; }

spawn "$TARGETS/spin" -t 1 -s 600 >/dev/null
pid=$!

# attack DESC PATTERN ATTACH-ARGS...: the root daemon must refuse, saying
# PATTERN, within 10 s (a FIFO must not block it), and leave the victim be.
attack() {
	local desc=$1 pattern=$2 out rc
	shift 2
	out=$(timeout 10 "$SAMPLED" attach "$@" $pid 2>&1)
	rc=$?
	echo "# $out"
	if [ $rc -eq 1 ] && grep -qE -- "$pattern" <<<"$out" && victim_intact; then
		ok "$desc (exit $rc)"
	else
		not_ok "$desc: exit $rc, victim: $(head -c 40 "$victim" | tr "\n" " ") mode $(stat -c %a "$victim")"
	fi
}

# ---- the daemon's own files in a shared directory
as_unpriv ln -s "$victim" "$shared/a.log"
attack "a link planted as the log is not followed" "a.log is a symbolic link" \
	--socket "$shared/a.sock"
check "and no daemon serves there" [ ! -e "$shared/a.sock" ]

as_unpriv ln -s "$victim" "$shared/b.lock"
attack "a link planted as the lock file is not followed" "b.lock is a symbolic link" \
	--socket "$shared/b.sock"

as_unpriv ln -s "$victim" "$shared/named.log"
attack "--log naming a planted link is not followed" "named.log is a symbolic link" \
	--socket "$WORK/c.sock" --log "$shared/named.log"
check "nothing was left behind by the refusal" [ ! -e "$WORK/c.sock" ] && [ ! -e "$WORK/c.lock" ]

as_unpriv mkfifo "$shared/d.log"
attack "a FIFO planted as the log neither blocks nor is used" "d.log is not a regular file" \
	--socket "$shared/d.sock"

as_unpriv touch "$shared/e.log"
attack "a log file of another user is not taken over" "e.log belongs to uid $(id -u "$atk")" \
	--socket "$shared/e.sock"

ln "$victim" "$shared/f.log" 2>/dev/null
attack "a log file with a second hard link is refused" "f.log has 2 hard links" \
	--socket "$shared/f.sock"
rm -f "$shared/f.log"

# ---- directories another user controls
mkdir -m 0777 "$WORK/atk"
chown "$atk" "$WORK/atk"
attack "a --socket directory owned by another user is refused" \
	"atk belongs to uid $(id -u "$atk")" --socket "$WORK/atk/s.sock"
check "and nothing was created in it" [ -z "$(ls -A "$WORK/atk")" ]
mkdir -m 0777 "$WORK/open"
attack "a --socket directory others may write, without the sticky bit, is refused" \
	"writable by other users without the sticky bit" --socket "$WORK/open/s.sock"
check "and its mode is left as it was ($(stat -c %a "$WORK/open"))" \
	[ "$(stat -c %a "$WORK/open")" = 777 ]
ln -s "$WORK" "$WORK/dirlink"
attack "a --socket directory that is a link is refused" "dirlink is a symbolic link" \
	--socket "$WORK/dirlink/s.sock"

# The default directory of a user, open to others: refused, never chmod'ed.
mkdir -p "$WORK/xdg/sampled"
chown -R "$atk" "$WORK/xdg"
chmod 0700 "$WORK/xdg"
chmod 0777 "$WORK/xdg/sampled"
as_unpriv "$WORK/bin/targets/spin" -t 1 -s 300 >"$WORK/u.out" &
CHILDREN+=($!)
disown $!
wait_for "grep -q ready '$WORK/u.out'" 10
upid=$(pgrep -n -u "$atk" -x spin)
CHILDREN+=($upid)
out=$(as_unpriv env XDG_RUNTIME_DIR="$WORK/xdg" "$WORK/bin/sampled" attach $upid 2>&1)
rc=$?
echo "# $out"
check "a default socket directory open to others is refused (exit $rc)" \
	sh -c "[ $rc = 1 ] && echo '$out' | grep -q 'open to other users (mode 0777)'"
check "and left as it was, not chmod'ed ($(stat -c %a "$WORK/xdg/sampled"))" \
	[ "$(stat -c %a "$WORK/xdg/sampled")" = 777 ]
pkill -u "$atk" -x sampled 2>/dev/null	# a daemon that wrongly started

# ---- one daemon must not disturb another
"$SAMPLED" attach --socket "$WORK/live.sock" $pid >/dev/null
wait_for "[ -S '$WORK/live.sock' ]" 5
before=$(stat -c %s "$WORK/live.log")
out=$("$SAMPLED" attach --socket "$WORK/live.sock" $pid 2>&1)
rc=$?
echo "# $out"
check "a second daemon on a live socket is refused (exit $rc)" \
	sh -c "[ $rc = 1 ] && echo '$out' | grep -q 'already serving'"
check "and the live daemon's log was not emptied ($before -> $(stat -c %s "$WORK/live.log") bytes)" \
	sh -c "[ $before -gt 0 ] && [ \$(stat -c %s '$WORK/live.log') -ge $before ]"
check "and it still answers" quiet "$CTL" --socket "$WORK/live.sock" status
quiet "$CTL" --socket "$WORK/live.sock" stop

# Another user's live daemon in the shared directory keeps its socket.
as_unpriv "$WORK/bin/sampled" attach --socket "$shared/u.sock" $upid >/dev/null
wait_for "[ -S '$shared/u.sock' ]" 5
out=$("$SAMPLED" attach --socket "$shared/u.sock" $pid 2>&1)
rc=$?
echo "# $out"
check "root does not take over another user's socket path (exit $rc)" \
	sh -c "[ $rc = 1 ] && echo '$out' | grep -q 'u.lock belongs to uid $(id -u "$atk")'"
check "and that user's daemon still answers" \
	quiet as_unpriv "$WORK/bin/samplectl" --socket "$shared/u.sock" status
quiet as_unpriv "$WORK/bin/samplectl" --socket "$shared/u.sock" stop

# One user's idle connections must not lock root out: 300 of them against a
# daemon of that user with 48 descriptors (out of descriptors), then
# against one with plenty (past the per-user share).
hold_connections() {	# SOCKET COUNT: connects COUNT times and waits
	as_unpriv python3 -c '
import socket, sys, time
held = []
for _ in range(int(sys.argv[2])):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.connect(sys.argv[1])
        held.append(s)
    except OSError:
        pass
print("holding", len(held), flush=True)
time.sleep(60)' "$1" "$2"
}
for limit in 48 4096; do
	as_unpriv prlimit --nofile=$limit:$limit "$WORK/bin/sampled" attach \
		--socket "$shared/n$limit.sock" $upid >/dev/null
	hold_connections "$shared/n$limit.sock" 300 >"$WORK/hold.out" 2>&1 &
	hpid=$!
	wait_for "grep -q holding '$WORK/hold.out'" 20
	sleep 0.5
	check "root is served while another uid holds idle connections ($limit fds; $(cat "$WORK/hold.out"))" \
		quiet "$CTL" --timeout 5 --socket "$shared/n$limit.sock" status
	pkill -u "$atk" -f "import socket"
	wait $hpid 2>/dev/null
	sleep 0.3
	check "and so is that user once it lets go of them" \
		quiet as_unpriv "$WORK/bin/samplectl" --timeout 5 --socket "$shared/n$limit.sock" status
	quiet "$CTL" --socket "$shared/n$limit.sock" stop
done
grep -h "too many connections\|out of descriptors" "$shared"/n*.log | sort | uniq -c | sed 's/^/# /' | head -4

# A target of that user that execs a set-user-ID program: the kernel stops
# the user's events; the daemon must say so once and stop retrying.
as_unpriv sh -c 'sleep 30 | sh -c "sleep 1; exec passwd"' >/dev/null 2>&1 &
CHILDREN+=($!)
disown $!
wait_for "pgrep -u '$atk' -f 'exec passwd' >/dev/null" 5
spid=$(pgrep -n -u "$atk" -f "exec passwd")
as_unpriv "$WORK/bin/sampled" attach --socket "$shared/p.sock" $spid >/dev/null
wait_for "grep -q 'sampling stopped' '$shared/p.log'" 10
sleep 3
out=$(as_unpriv "$WORK/bin/samplectl" --socket "$shared/p.sock" status 2>&1)
check "after a set-user-ID exec, status says sampling stopped" \
	grep -q "sampling stopped: pid $spid now runs a program" <<<"$out"
check "and the log says it once, not every second ($(grep -c 'refused\|stopped' "$shared/p.log") lines)" \
	[ "$(grep -c 'refused\|stopped' "$shared/p.log")" = 1 ]
quiet as_unpriv "$WORK/bin/samplectl" --socket "$shared/p.sock" stop
kill "$upid" 2>/dev/null
pkill -9 -u "$atk" 2>/dev/null

# ---- files a profiled process can name
rss_kb() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\).*/\1/p' "/proc/$1/status"; }
is_asan() { nm "$SAMPLED" 2>/dev/null | grep -q ' __asan_init'; }
dl=$WORK/dl
mkdir -p "$dl"

# debuglinked NAME LINK: a stripped copy of spin whose .gnu_debuglink names
# LINK in its own directory; LINK is then the attack's to replace.
debuglinked() {
	objcopy --only-keep-debug "$TARGETS/spin" "$dl/$2" &&
		objcopy --strip-all --add-gnu-debuglink="$dl/$2" "$TARGETS/spin" "$dl/$1"
}

# responsive SOCKET: the longest `samplectl status` of 10 over 5 s, in ms.
responsive() {
	local worst=0 t0 t1 i
	for i in 1 2 3 4 5 6 7 8 9 10; do
		t0=$(date +%s%N)
		quiet "$CTL" --timeout 3 --socket "$1" status || { echo 9999; return; }
		t1=$(date +%s%N)
		[ $(((t1 - t0) / 1000000)) -le $worst ] || worst=$(((t1 - t0) / 1000000))
		sleep 0.5
	done
	echo $worst
}

# attach_to PROGRAM NAME: runs a target from $dl and a debug-logging daemon on it.
attach_to() {
	spawn "$dl/$1" -t 1 -s 120 >/dev/null
	tpid=$!
	sleep 0.3
	"$SAMPLED" attach --log-level debug --socket "$WORK/$2.sock" $tpid >/dev/null
}

debuglinked fifo evil.debug && rm "$dl/evil.debug" && mkfifo "$dl/evil.debug"
attach_to fifo fifo
worst=$(responsive "$WORK/fifo.sock")
check "a FIFO as the debug link does not block the daemon (slowest status ${worst} ms)" \
	[ "$worst" -lt 1000 ]
check "and it still stops when asked" quiet timeout 10 "$CTL" --socket "$WORK/fifo.sock" stop
kill $tpid; wait $tpid 2>/dev/null

debuglinked shadow shadow.debug && ln -sf /etc/shadow "$dl/shadow.debug"
attach_to shadow shadow
wait_for "grep -q 'shadow.debug' '$WORK/shadow.log'" 5
check "a debug link that is a symbolic link is not followed" \
	grep -q "shadow.debug is a symbolic link: not followed" "$WORK/shadow.log"
quiet "$CTL" --socket "$WORK/shadow.sock" stop
kill $tpid; wait $tpid 2>/dev/null

# A debug file of 4 GiB (a real one, extended sparse): its CRC alone used
# to take the daemon away for many seconds.
debuglinked sparse sparse.debug && truncate -s 4G "$dl/sparse.debug"
attach_to sparse sparse
worst=$(responsive "$WORK/sparse.sock")
check "a sparse 4 GiB debug file: every status answered within 1 s (slowest ${worst} ms)" \
	[ "$worst" -lt 1000 ]
check "and the file was skipped, saying why" \
	grep -q "debug file for .*sparse skipped: .*over the cap" "$WORK/sparse.log"
quiet "$CTL" --socket "$WORK/sparse.sock" stop
kill $tpid; wait $tpid 2>/dev/null
rm -f "$dl/sparse.debug"

# MiniDebugInfo that inflates to 250 MiB (an ELF followed by zeros, 40 KiB of xz).
objcopy --only-keep-debug "$TARGETS/spin" "$dl/payload" && truncate -s 250M "$dl/payload" &&
	xz -0 -T1 -f "$dl/payload" &&
	objcopy --strip-all --add-section .gnu_debugdata="$dl/payload.xz" "$TARGETS/spin" "$dl/bomb"
echo "# the bomb: $(stat -c %s "$dl/payload.xz") bytes of xz"
attach_to bomb bomb
d=$(json_field "$WORK/bomb.sock" 's["daemon_pid"]')
sleep 3
rss1=$(rss_kb "$d")
check "an inflation bomb is refused, saying why" \
	grep -q "MiniDebugInfo not read: .*over the" "$WORK/bomb.log"
if is_asan; then
	echo "# memory ${rss1} KiB: not checked on an ASan build"
else
	check "and costs no memory (daemon RSS ${rss1} KiB, at most 64 MiB)" [ "$rss1" -le 65536 ]
fi
quiet "$CTL" --socket "$WORK/bomb.sock" stop
kill $tpid; wait $tpid 2>/dev/null

# A JIT target whose runtime rewrites a large perf map again and again,
# while its mappings change (so its code is looked up again, and the map
# read again).
spawn "$TARGETS/jit" -c -s 120 >"$WORK/jit.out"
jpid=$!
wait_for "grep -q ready '$WORK/jit.out'" 10
jitmap=/tmp/perf-$jpid.map
python3 - "$jitmap" <<'PY'
import sys
with open(sys.argv[1]) as f:
    real = f.read()
filler = ''.join('%x 10 filler_function_with_a_long_name_%d\n' % (0x10000000 + 16 * i, i)
                 for i in range(300000))
with open(sys.argv[1] + '.big', 'w') as f:
    f.write(filler + real)
PY
"$SAMPLED" attach --socket "$WORK/jit.sock" $jpid >/dev/null
d=$(json_field "$WORK/jit.sock" 's["daemon_pid"]')
for i in $(seq 1 20); do
	cp "$jitmap.big" "$jitmap.new" && mv "$jitmap.new" "$jitmap"
	sleep 0.6
	[ $i = 4 ] && rss0=$(rss_kb "$d")
done
rss1=$(rss_kb "$d")
echo "# perf map of $(stat -c %s "$jitmap") bytes, replaced 20 times"
if is_asan; then
	echo "# memory ${rss0} -> ${rss1} KiB: not checked on an ASan build"
else
	check "a perf map rewritten 16 times more costs no more memory (${rss0} -> ${rss1} KiB, at most +24 MiB)" \
		[ "$rss1" -le $((rss0 + 24576)) ]
fi
"$CTL" --socket "$WORK/jit.sock" export --format collapsed >"$WORK/jit.folded" 2>/dev/null
check "and the JIT code is still named (jitted_burn)" grep -q jitted_burn "$WORK/jit.folded"

# Whether a file holds a control character other than tab and newline:
# C0, DEL, or C1 (U+0080-U+009F in UTF-8).
has_controls() { LC_ALL=C grep -qP '[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]' "$1"; }

# A name with terminal escapes (a title change, a colour) from the target:
# nothing printed for a terminal may carry them.
sed -n '$p' "$jitmap.big" | sed 's/jitted_burn$/evil\x1b]0;pwned\x07\x1b[31mred\xc2\x9b2J/' |
	printf '%b' "$(cat)" >"$jitmap.new" && echo >>"$jitmap.new" && mv "$jitmap.new" "$jitmap"
wait_for "'$CTL' --socket '$WORK/jit.sock' export --format collapsed | grep -q 'evil?'" 10
for cmd in "export --format collapsed" "tree --no-color --min-percent 0" "top --limit 0" \
	"tree --flat --no-color --min-percent 0"; do
	"$CTL" --socket "$WORK/jit.sock" $cmd >"$WORK/esc.out" 2>&1
	check "samplectl $cmd prints no control character from a name ($(grep -ao 'evil[^ ;]*' "$WORK/esc.out" | head -n 1))" \
		all_of "grep -q 'evil?' '$WORK/esc.out'" "! has_controls '$WORK/esc.out'"
done

# Every writer of -o FILE, with a link planted under FILE's name.
for w in "tree -o OUT" "tree --html -o OUT" "flame -o OUT" "export --format collapsed -o OUT" \
	"save -o OUT" "diff live live -o OUT"; do
	out=$shared/out.$RANDOM
	as_unpriv ln -s "$victim" "$out"
	msg=$("$CTL" --socket "$WORK/jit.sock" ${w/OUT/$out} 2>&1)
	rc=$?
	check "samplectl ${w% -o OUT} -o: a planted link is refused, not written through (exit $rc: $msg)" \
		sh -c "[ $rc != 0 ] && echo '$msg' | grep -q 'symbolic link' && [ -L '$out' ] && [ \"\$(cat '$victim')\" = precious ]"
done
out=$shared/dur.txt
as_unpriv ln -s "$victim" "$out"
msg=$("$SAMPLED" attach --duration 1s -o "$out" --socket "$WORK/dur.sock" $jpid 2>&1)
rc=$?
check "sampled attach --duration -o with a planted link: refused (exit $rc), victim intact" \
	sh -c "[ $rc != 0 ] && [ \"\$(cat '$victim')\" = precious ]"
"$CTL" --socket "$WORK/jit.sock" tree -o "$WORK/plain.txt" >/dev/null 2>&1
check "and an ordinary -o file is still written" grep -q jitted_burn "$WORK/plain.txt"
quiet "$CTL" --socket "$WORK/jit.sock" stop
rm -f "$jitmap" "$jitmap.big"
kill $jpid; wait $jpid 2>/dev/null

# ---- samplectl's trust: a socket directory another user made first
vuser=sampledv$$
if useradd --system --no-create-home --shell /usr/sbin/nologin "$vuser" 2>/dev/null; then
	vuid=$(id -u "$vuser")
	vdir=/tmp/sampled-$vuid
	trap 'userdel "$vuser" 2>/dev/null; rm -rf "$vdir"; cleanup' EXIT
	as_unpriv mkdir -m 0755 "$vdir"
	as_unpriv "$WORK/bin/targets/spin" -t 1 -s 60 >/dev/null 2>&1 &
	CHILDREN+=($!)
	disown $!
	wait_for "pgrep -u '$atk' -x spin >/dev/null" 5
	apid=$(pgrep -n -u "$atk" -x spin)
	as_unpriv "$WORK/bin/sampled" attach --socket "$vdir/$apid.sock" $apid >/dev/null 2>&1
	as_unpriv chmod 0666 "$vdir/$apid.sock"	# a lure for other users
	vctl() { setpriv --reuid="$vuser" --regid=nogroup --clear-groups --reset-env -- \
		"$WORK/bin/samplectl" "$@"; }
	out=$(vctl status 2>&1)
	echo "# $out"
	check "samplectl refuses a socket directory another user made (its default one)" \
		grep -q "not trusted: directory $vdir belongs to uid $(id -u "$atk")" <<<"$out"
	out=$(vctl list 2>&1)
	check "and so does samplectl list" grep -q "not trusted" <<<"$out"
	out=$(vctl --socket "$vdir/$apid.sock" status 2>&1)
	echo "# $out"
	check "a daemon of another user is not believed even when named" \
		grep -q "served by uid $(id -u "$atk"), not by uid $vuid or root" <<<"$out"
	quiet as_unpriv "$WORK/bin/samplectl" --socket "$vdir/$apid.sock" stop
	kill $apid 2>/dev/null
	pkill -9 -u "$atk" 2>/dev/null
fi

# ---- a target that maps ever new files: 1,500 copies of one library,
# loaded, called and unloaded in turn.  Images no mapping uses are let go.
mkdir -p "$WORK/libs"
cc -shared -fPIC -O2 -g -o "$WORK/libs/base.so" "$(dirname "$0")/../targets/lib/burnlib.c" &&
	for i in $(seq 1 1500); do cp "$WORK/libs/base.so" "$WORK/libs/l$i.so"; done
spawn "$TARGETS/dlchurn" -s 60 "$WORK"/libs/l*.so >"$WORK/dl.out"
cpid=$!
wait_for "grep -q ready '$WORK/dl.out'" 10
"$SAMPLED" attach --rate 999 --socket "$WORK/dl.sock" $cpid >/dev/null
sleep 12
"$CTL" --socket "$WORK/dl.sock" status --json >"$WORK/dl.json"
read -r images evicted rss <<<"$(python3 -c "import json; s=json.load(open('$WORK/dl.json')); m=s['memory']; print(m['elf_images'], m['elf_images_evicted'], s['daemon_rss_bytes'] // 1024)")"
echo "# 1,500 library files in turn: $images images held, $evicted let go, daemon RSS $rss KiB"
check "images no mapping uses are let go ($evicted), the cache stays bounded ($images held)" \
	all_of "[ $evicted -gt 0 ]" "[ $images -lt 1000 ]"
"$CTL" --socket "$WORK/dl.sock" export --format collapsed >"$WORK/dl.folded" 2>/dev/null
check "and the libraries' code is still named" grep -q 'burnlib_plain_' "$WORK/dl.folded"
if is_asan; then
	echo "# memory $rss KiB: not checked on an ASan build"
else
	check "and the daemon's memory with it (RSS $rss KiB, at most 96 MiB)" [ "$rss" -le 98304 ]
fi
quiet "$CTL" --socket "$WORK/dl.sock" stop
kill $cpid 2>/dev/null

# ---- a process whose main thread has left (pthread_exit) while others run
spawn "$TARGETS/spin" -t 3 -x -s 60 >"$WORK/x.out"
xpid=$!
wait_for "grep -q ready '$WORK/x.out'" 10
wait_for "[ \"\$(proc_state $xpid)\" = Z ]" 5
for mode in cpu wall; do
	out=$("$SAMPLED" attach --mode $mode --socket "$WORK/x$mode.sock" $xpid 2>&1)
	rc=$?
	echo "# $out"
	sleep 2
	"$CTL" --socket "$WORK/x$mode.sock" export --format collapsed >"$WORK/x.folded" 2>/dev/null
	check "$mode: a process whose main thread has exited is profiled, not refused as a zombie" \
		all_of "[ $rc = 0 ]" "grep -q '^[^ ]*;spin ' '$WORK/x.folded'"
	quiet "$CTL" --socket "$WORK/x$mode.sock" stop
done
kill $xpid 2>/dev/null
