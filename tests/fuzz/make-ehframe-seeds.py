#!/usr/bin/env python3
"""Cuts seeds for fuzz_ehframe out of real ELF files.

Usage: make-ehframe-seeds.py OUTDIR ELF...

Each seed is the harness's input (see fuzz_ehframe.c): a layout head, then
up to TEXT_MAX bytes of .text, the whole .eh_frame_hdr and .eh_frame, and a
stack whose words are return addresses into the code, so that an unwind
steps through many FDEs.  Sections keep their addresses, so the tables stay
valid.  Files without the three sections (or not ELF64) are skipped.
"""
import os
import struct
import sys

# Must match FUZZ_TEXT_MAP in fuzz_ehframe.c.
TEXT_MAP = 0x10000000000
TEXT_MAX = 16384
STACK_WORDS = 128
# Where in the code each seed's IP lies, as fractions of the code kept.
IP_AT = (0.25, 0.5, 0.9)


def sections(data):
    """Maps section names to (addr, offset, size) for an ELF64 little-endian file."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return {}
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    if shoff == 0 or shoff + shnum * shentsize > len(data) or shstrndx >= shnum:
        return {}
    heads = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_off, names_size = heads[shstrndx][4], heads[shstrndx][5]
    names = data[names_off:names_off + names_size]
    out = {}
    for name, _type, _flags, addr, off, size, *_ in heads:
        end = names.find(b"\0", name)
        out[names[name:end].decode("latin-1")] = (addr, off, size)
    return out


def seed(data, secs, ip_at):
    """One input for the harness."""
    text_addr, text_off, text_size = secs[".text"]
    hdr_addr, hdr_off, hdr_size = secs[".eh_frame_hdr"]
    frame_addr, frame_off, frame_size = secs[".eh_frame"]
    text_len = min(text_size, TEXT_MAX)
    head = struct.pack("<QQQIIIIII", text_addr, hdr_addr, frame_addr, text_len, hdr_size,
                       frame_size, int(text_len * ip_at), 16, 63)
    stack = b"".join(struct.pack("<Q", TEXT_MAP + (i * 977 + 5) % text_len)
                     for i in range(STACK_WORDS))
    return (head + data[text_off:text_off + text_len] + data[hdr_off:hdr_off + hdr_size] +
            data[frame_off:frame_off + frame_size] + stack)


def main():
    """Writes OUTDIR/NAME.N for every usable file and IP position."""
    outdir, files = sys.argv[1], sys.argv[2:]
    made = 0
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        secs = sections(data)
        if not all(s in secs for s in (".text", ".eh_frame_hdr", ".eh_frame")):
            continue
        for i, at in enumerate(IP_AT):
            name = os.path.join(outdir, "%s.%d" % (os.path.basename(path), i))
            with open(name, "wb") as f:
                f.write(seed(data, secs, at))
            made += 1
    if made == 0:
        sys.exit("make-ehframe-seeds.py: no usable ELF file")


if __name__ == "__main__":
    main()
