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
def frame(body):
    return struct.pack(">I", len(body)) + body
def varint(n):
    out = b""
    while n >= 0x80:
        out += bytes([n & 0x7f | 0x80])
        n >>= 7
    return out + bytes([n])
# A status request whose unknown length-delimited fields nest 3000 deep.
nested = b""
for _ in range(3000):
    nested = b"\x7a" + varint(len(nested)) + nested
payloads.update({
    # Unknown fields are skipped: the request is answered as a status.
    "unknown": frame(b"\x08\x01\x1a\x00\xa0\x06\x01\xaa\x06\x03abc"),
    # protocol_version sent length-delimited instead of as a varint.
    "wrongtype": frame(b"\x0a\x01\x01\x1a\x00"),
    "nested": frame(b"\x08\x01\x1a" + varint(len(nested)) + nested),
    # A frame of length 0: an empty Request (no version, no command).
    "zero": struct.pack(">I", 0),
})
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
    # Skip Response.protocol_version (field 1), then the result's tag:
    # error is field 15 (0x7a), status field 3 (0x1a).
    i = 0
    if body[:1] == b"\x08":
        i = 1
        while i < len(body) and body[i] & 0x80:
            i += 1
        i += 1
    tag = body[i] if i < len(body) else 0
    print({0x7a: "error-reply", 0x1a: "status-reply"}.get(tag, "reply"),
          body[-120:].decode("ascii", "replace"))
except Exception as e:
    print("no-reply", e)
PY
}
before=$(samples)
for kind in garbage oversized truncated version empty notproto unknown wrongtype nested zero; do
	out=$(poke $kind)
	case $kind in
	truncated) check "truncated frame: daemon survives" quiet "$CTL" --socket "$sock" status ;;
	unknown|nested)
		check "$kind fields: skipped, the status answered ($(echo "$out" | cut -c1-12))" \
			sh -c "echo '$(echo "$out" | tr -d "'")' | grep -q '^status-reply'" ;;
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

# Requests after stop, on the same connection: the stop is answered, what
# follows gets an Error or the end of the stream, never a hang; the daemon
# exits and removes its socket.
res=$(python3 - "$sock" <<'PY'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
frame = lambda b: struct.pack(">I", len(b)) + b
s.sendall(frame(b"\x08\x01\x22\x00") + frame(b"\x08\x01\x1a\x00") * 3)
got = []
try:
    while True:
        head = s.recv(4, socket.MSG_WAITALL)
        if len(head) < 4:
            got.append("eof")
            break
        body = s.recv(struct.unpack(">I", head)[0], socket.MSG_WAITALL)
        i = 2 if body[:1] == b"\x08" else 0
        tag = body[i] if i < len(body) else 0
        got.append({0x22: "stop", 0x1a: "status", 0x7a: "error"}.get(tag, "other"))
except socket.timeout:
    got.append("timeout")
except ConnectionResetError:
    got.append("eof")
print(" ".join(got))
PY
)
check "requests after stop: the stop answered, then errors or the end ($res)" \
	sh -c "echo '$res' | grep -Eq '^stop( error)*( eof)?$'"
wait_for "[ ! -e '$sock' ]" 5
check "the stopped daemon removed its socket" [ ! -e "$sock" ]
kill $target
