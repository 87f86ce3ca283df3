#!/usr/bin/env python3
"""Writes the seed corpus of fuzz_request: byte streams a client could send.

Usage: make-request-seeds.py [OUTDIR]   (default: corpus/request beside this file)

Each seed is a sequence of frames (4-byte big-endian length, then a
sampled.Request: proto/sampled.proto), valid or not.  The protobuf
encoding is written out by hand so that no protobuf package is needed;
the field numbers are those of sampled.proto.
"""
import math
import os
import struct
import sys

VERSION = 1   # WIRE_PROTOCOL_VERSION in proto/wire.h


def varint(n):
    """Base-128 varint; negative numbers as their 64-bit two's complement (int32 fields)."""
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, n):
    return varint(num << 3 | 0) + varint(n)


def field_double(num, x):
    return varint(num << 3 | 1) + struct.pack("<d", x)


def field_bytes(num, data):
    return varint(num << 3 | 2) + varint(len(data)) + data


def request(command=None, body=b"", version=VERSION):
    """A Request: its version, then the command (Hello=2 Status=3 Stop=4 Tree=5 Dump=6)."""
    out = field_varint(1, version) if version else b""
    if command is not None:
        out += field_bytes(command, body)
    return out


def tree(per_thread=False, tid=0, min_share=0.0, state=0, gil=0):
    """A TreeRequest's body."""
    out = b""
    if per_thread:
        out += field_varint(1, 1)
    if tid:
        out += field_varint(2, tid)
    if min_share:
        out += field_double(3, min_share)
    if state:
        out += field_varint(4, state)
    if gil:
        out += field_varint(5, gil)
    return out


def frame(payload, length=None):
    return struct.pack(">I", len(payload) if length is None else length) + payload


SEEDS = {
    "hello": frame(request(2, field_varint(1, VERSION) + field_bytes(2, b"samplectl"))),
    "status": frame(request(3)),
    "tree": frame(request(5)),
    "tree-filters": frame(request(5, tree(True, 4242, 0.01, 1))),
    "tree-idle-per-thread": frame(request(5, tree(True, 0, 0.0, 2))),
    "tree-share-too-big": frame(request(5, tree(min_share=2.0))),
    "tree-share-nan": frame(request(5, tree(min_share=math.nan))),
    "tree-state-unknown": frame(request(5, tree(state=7))),
    "tree-tid-negative": frame(request(5, tree(tid=-1))),
    "tree-gil-held": frame(request(5, tree(True, 0, 0.0, 1, 1))),
    "tree-gil-unknown": frame(request(5, tree(gil=9))),
    "dump": frame(request(6)),
    "stop": frame(request(4)),
    "version-mismatch": frame(request(3, version=2)),
    "no-command": frame(request()),
    "empty-frame": frame(b""),
    "not-protobuf": frame(b"\xff\xff\xff\xff\x0fGET / HTTP/1.0\r\n"),
    "too-large": frame(b"", length=0x7FFFFFFF),
    "truncated": frame(request(3), length=100),
    "pipelined": b"".join(frame(request(c)) for c in (2, 3, 5, 3)) +
                 frame(request(5, tree(True))),
}


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    outdir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "corpus", "request")
    os.makedirs(outdir, exist_ok=True)
    for name, data in sorted(SEEDS.items()):
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
