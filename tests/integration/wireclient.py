#!/usr/bin/env python3
"""A small client of the daemon's framed protocol (docs/PROTOCOL.md) for the
reliability tests, with just enough protobuf to build requests and to tell
which reply came back.  It also sends the signals whose delivery the fault
tests count.

  wireclient.py load SOCK CLIENTS REQUESTS   CLIENTS processes, each asking
        REQUESTS trees (a new connection every 10); prints
        "answered N failed M slowest S took T" (seconds)
  wireclient.py slow SOCK LOG                asks a per-thread tree and reads
        it slowly; LOG gets "size N" once the reply began, "got X of N" at
        the end
  wireclient.py stall SOCK LOG               asks trees and never reads;
        LOG gets "sent N requests" once sending blocks; then sleeps
  wireclient.py ask SOCK tree|status         one request; prints the reply
        kind and its size, or "error CODE MESSAGE"
  wireclient.py signals PID FIFO OUT STOPFILE LOG  once OUT (the target's
        output) says "ready", sends SIGUSR1 to PID, each only once the
        previous one left the pending set (so none can merge), with bytes
        to FIFO after each, until STOPFILE exists; LOG gets
        "usr1 N bytes M sum S"
"""
import os
import random
import signal
import socket
import struct
import sys
import time

PROTOCOL_VERSION = 1
# Request fields: 2 hello, 3 status, 5 tree; Response results likewise, 15 error.
RESULTS = {2: "hello", 3: "status", 4: "stop", 5: "tree", 6: "dump", 15: "error"}


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def fields(buf):
    """Yields (number, wire type, value) of a message's top-level fields."""
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = read_varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            n, i = read_varint(buf, i)
            v, i = buf[i:i + n], i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError("wire type %d" % wt)
        yield num, wt, v


def request(kind, per_thread=False):
    body = b""
    if kind == "tree" and per_thread:
        body = b"\x08\x01"
    num = {"hello": 2, "status": 3, "tree": 5}[kind]
    if kind == "hello":
        body = b"\x08" + varint(PROTOCOL_VERSION)
    msg = b"\x08" + varint(PROTOCOL_VERSION) + varint(num << 3 | 2) + varint(len(body)) + body
    return struct.pack(">I", len(msg)) + msg


def recv_exact(sock, n):
    parts = []
    while n > 0:
        b = sock.recv(min(n, 1 << 20))
        if not b:
            raise EOFError("connection closed")
        parts.append(b)
        n -= len(b)
    return b"".join(parts)


def reply(sock, sizes=None):
    """The reply kind and, for an error, (code, message)."""
    (n,) = struct.unpack(">I", recv_exact(sock, 4))
    payload = recv_exact(sock, n)
    if sizes is not None:
        sizes.append(n)
    for num, wt, v in fields(payload):
        if num in RESULTS and wt == 2:
            if num != 15:
                return RESULTS[num], None
            code, msg = 0, ""
            for enum, _, ev in fields(v):
                if enum == 1:
                    code = ev
                elif enum == 2:
                    msg = ev.decode()
            return "error", (code, msg)
    return "empty", None


def connect(path, timeout):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    return s


def one_client(path, requests):
    ok = failed = 0
    slowest = 0.0
    sock = None
    for i in range(requests):
        t0 = time.monotonic()
        try:
            if sock is None or i % 10 == 0:
                if sock is not None:
                    sock.close()
                sock = connect(path, 30)
            sock.sendall(request("tree"))
            kind, _ = reply(sock)
            if kind == "tree":
                ok += 1
            else:
                failed += 1
        except (OSError, EOFError, ValueError) as e:
            failed += 1
            sys.stderr.write("client %d: %s\n" % (os.getpid(), e))
            if sock is not None:
                sock.close()
            sock = None
        slowest = max(slowest, time.monotonic() - t0)
    if sock is not None:
        sock.close()
    return ok, failed, slowest


def load(path, clients, requests):
    t0 = time.monotonic()
    pids = []
    for _ in range(clients):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            res = one_client(path, requests)
            os.write(w, ("%d %d %f" % res).encode())
            os._exit(0)
        os.close(w)
        pids.append((pid, r))
    ok = failed = 0
    slowest = 0.0
    for pid, r in pids:
        data = b""
        while True:
            b = os.read(r, 100)
            if not b:
                break
            data += b
        os.close(r)
        os.waitpid(pid, 0)
        if not data:
            failed += requests
            continue
        a, f, s = data.split()
        ok += int(a)
        failed += int(f)
        slowest = max(slowest, float(s))
    print("answered %d failed %d slowest %.2f took %.1f" % (ok, failed, slowest,
                                                           time.monotonic() - t0))
    return 0 if failed == 0 else 1


def slow(path, log):
    sock = connect(path, 30)
    sock.sendall(request("tree", per_thread=True))
    (n,) = struct.unpack(">I", recv_exact(sock, 4))
    got = 0
    with open(log, "w") as f:
        f.write("size %d\n" % n)
        f.flush()
        while got < n:
            b = sock.recv(2048)
            if not b:
                break
            got += len(b)
            time.sleep(0.002)
        f.write("got %d of %d\n" % (got, n))
    return 0


def stall(path, log):
    sock = connect(path, 30)
    sock.setblocking(False)
    req = request("tree")
    sent = 0
    while True:
        try:
            k = sock.send(req)
        except BlockingIOError:
            break
        if k != len(req):
            break
        sent += 1
    with open(log, "w") as f:
        f.write("sent %d requests\n" % sent)
    while True:
        time.sleep(60)


def ask(path, kind):
    sock = connect(path, 10)
    sock.sendall(request(kind))
    sizes = []
    try:
        kind, err = reply(sock, sizes)
    except EOFError:
        print("closed")
        return 1
    if err is None:
        print("%s %d bytes" % (kind, sizes[0]))
    else:
        print("error %d %s" % err)
    return 0


def pending_usr1(pid):
    """Whether a SIGUSR1 is queued for the process or its main thread."""
    bit = 1 << (signal.SIGUSR1 - 1)
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(("SigPnd:", "ShdPnd:")) and int(line.split()[1], 16) & bit:
                return True
    return False


def signals(pid, fifo, out, stopfile, log):
    blob = bytes(range(250)) * 2
    fd = os.open(fifo, os.O_WRONLY)
    while "ready" not in open(out).read():
        time.sleep(0.01)
    total = sent = 0
    csum = 0
    while not os.path.exists(stopfile):
        while pending_usr1(pid):
            time.sleep(0.0005)
        os.kill(pid, signal.SIGUSR1)
        sent += 1
        chunk = blob[sent % 250:sent % 250 + 500]
        os.write(fd, chunk)
        for b in chunk:
            csum = (csum * 31 + b) % 2**64
        total += len(chunk)
        time.sleep(random.uniform(0.0005, 0.003))
    while pending_usr1(pid):
        time.sleep(0.0005)
    os.close(fd)
    with open(log, "w") as f:
        f.write("usr1 %d bytes %d sum %d\n" % (sent, total, csum))
    return 0


def main(argv):
    cmd = argv[1]
    if cmd == "load":
        return load(argv[2], int(argv[3]), int(argv[4]))
    if cmd == "slow":
        return slow(argv[2], argv[3])
    if cmd == "stall":
        return stall(argv[2], argv[3])
    if cmd == "ask":
        return ask(argv[2], argv[3])
    if cmd == "signals":
        return signals(int(argv[2]), argv[3], argv[4], argv[5], argv[6])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
