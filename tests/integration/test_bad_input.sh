#!/usr/bin/env bash
# Bad input of every kind gets a clear one-line error and the right exit
# code, never a crash, a hang or a leftover socket; a bad client never
# takes the daemon down; killing the daemon never hurts the target.
. "$(dirname "$0")/lib.sh"

sock=$WORK/d.sock

# expect_error DESC CODE PATTERN COMMAND...: exit code and message checked.
expect_error() {
	local desc=$1 code=$2 pattern=$3 out rc
	shift 3
	out=$("$@" 2>&1 >/dev/null)
	rc=$?
	# The message is the first line; a usage hint may follow.
	if [ $rc -eq "$code" ] && echo "$out" | head -n 1 | grep -qE "$pattern"; then
		ok "$desc (exit $rc: $(echo "$out" | head -n 1))"
	else
		not_ok "$desc: exit $rc, expected $code; said: $out"
	fi
}

# A pid that does not exist: take one past the highest in use.
gone=$(($(cat /proc/sys/kernel/pid_max) - 1))
while [ -e /proc/$gone ]; do gone=$((gone - 1)); done
expect_error "attach to a pid that does not exist" 1 "no process with pid $gone" \
	"$SAMPLED" attach --socket "$sock" $gone
check "no socket left after a failed attach" [ ! -e "$sock" ]
expect_error "attach to itself" 1 "profiler itself" \
	bash -c "exec '$SAMPLED' attach --socket '$sock' \$\$"
expect_error "attach with a malformed pid" 2 "invalid pid" "$SAMPLED" attach 12abc
expect_error "attach with a bad rate" 2 "invalid rate" "$SAMPLED" attach --rate 0 1
expect_error "attach with an unknown option" 2 "unknown option" "$SAMPLED" attach --bogus 1
expect_error "sampled with no command" 2 "no command" "$SAMPLED"
expect_error "samplectl with an unknown command" 2 "unknown command" "$CTL" frobnicate
expect_error "samplectl with a bad pid" 2 "process id" "$CTL" --pid 0 status
expect_error "samplectl with no daemon at a path" 1 "no daemon" "$CTL" --socket "$WORK/none.sock" status
check "sampled --help exits 0" quiet "$SAMPLED" --help
check "sampled attach --help exits 0" quiet "$SAMPLED" attach --help
check "samplectl --help exits 0" quiet "$CTL" --help
check "samplectl status --help exits 0" quiet "$CTL" status --help

# Permission: an unprivileged user may not attach to pid 1.
copy_bins_for_unpriv
if [ "$(id -u)" = 0 ]; then
	expect_error "unprivileged attach to pid 1 is refused" 1 "permission denied" \
		as_unpriv "$WORK/bin/sampled" attach --socket "$WORK/u.sock" 1
	check "no socket left by the refused attach" [ ! -e "$WORK/u.sock" ]
else
	echo "# not root: the unprivileged-user cases need root to switch users"
fi

# A live daemon for the rest.
spawn_quiet "$TARGETS/spin" -t 2 -s 60
target=$!
"$SAMPLED" attach --socket "$sock" $target >/dev/null
samples() { json_field "$sock" 's["samples"]'; }

expect_error "attaching twice to the same socket is refused" 1 "already serving" \
	"$SAMPLED" attach --socket "$sock" $target
check "the first daemon still answers" quiet "$CTL" --socket "$sock" status

# Raw bytes straight at the socket: garbage, an oversized length, a
# truncated frame, a wrong protocol version, an empty request.
poke() {
	python3 - "$sock" "$1" <<'PY'
import socket, struct, sys
path, kind = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(path)
payloads = {
    "garbage": bytes(range(256)) * 4,
    "oversized": struct.pack(">I", 0xFFFFFFFF) + b"x" * 100,
    "truncated": struct.pack(">I", 100) + b"\x08\x01",
    "version": struct.pack(">I", 4) + b"\x08\x63\x1a\x00",   # version 99, status
    "empty": struct.pack(">I", 0),
    "notproto": struct.pack(">I", 6) + b"\xff\xff\xff\xff\xff\xff",
}
s.sendall(payloads[kind])
if kind == "truncated":
    s.close()          # hang up mid-frame
    print("closed")
    sys.exit(0)
try:
    head = s.recv(4)
    n = struct.unpack(">I", head)[0]
    body = b""
    while len(body) < n:
        chunk = s.recv(n - len(body))
        if not chunk:
            break
        body += chunk
    # Response.error is field 15 (tag 0x7a); its message is readable text.
    print("error-reply" if b"\x7a" in body else "reply", body[-120:].decode("ascii", "replace"))
except Exception as e:
    print("no-reply", e)
PY
}
before=$(samples)
for kind in garbage oversized truncated version empty notproto; do
	out=$(poke $kind)
	case $kind in
	truncated) check "truncated frame: daemon survives" quiet "$CTL" --socket "$sock" status ;;
	*) check "$kind: answered with an Error ($(echo "$out" | tr -cd '[:print:]' | cut -c1-90))" \
		sh -c "echo '$(echo "$out" | tr -d "'")' | grep -q error-reply" ;;
	esac
done
check "daemon still up after bad clients" quiet "$CTL" --socket "$sock" status
sleep 1
after=$(samples)
check "sampling went on ($before -> $after samples)" [ "$after" -gt "$before" ]

# Another uid: the socket mode keeps it out; if the mode is loosened, the
# daemon's own SO_PEERCRED check still refuses it.
if [ "$(id -u)" = 0 ]; then
	expect_error "another uid cannot connect (socket mode)" 1 "ermission denied" \
		as_unpriv "$WORK/bin/samplectl" --socket "$sock" status
	chmod 0666 "$sock"
	expect_error "another uid is refused by the daemon (SO_PEERCRED)" 1 "serves uid 0" \
		as_unpriv "$WORK/bin/samplectl" --socket "$sock" status
	chmod 0600 "$sock"
	check "daemon still serves its owner" quiet "$CTL" --socket "$sock" status
fi

# kill -9 of the daemon: the target runs on, not stopped, not killed; the
# stale socket is replaced by the next daemon.
dpid=$(json_field "$sock" 's["daemon_pid"]')
kill -9 "$dpid"
sleep 0.3
check "target alive after the daemon was SIGKILLed" [ -d /proc/$target ]
st=$(proc_state $target)
check "target not stopped after the daemon was SIGKILLed (state $st)" live_state "$st"
c0=$(proc_cpu_seconds $target)
sleep 0.5
c1=$(proc_cpu_seconds $target)
check "target keeps running ($c0 -> $c1 CPU s)" python3 -c "import sys; sys.exit(not $c1 > $c0)"
check "the dead daemon's socket file remains" [ -S "$sock" ]
expect_error "a stale socket is reported as such" 1 "stale" "$CTL" --socket "$sock" status
out=$("$SAMPLED" attach --socket "$sock" $target)
check "a new daemon replaces the stale socket" [ "$out" = "$sock" ]
check "and serves" quiet "$CTL" --socket "$sock" status
"$CTL" --socket "$sock" stop >/dev/null
kill $target
