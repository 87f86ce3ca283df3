"""A Python target whose time goes through C code: sorted() calling a
Python key function (python -> native -> python), json.dumps, and
zlib.compress (python -> native library).  Each runs in its own function
so a profile can say where the time went.  Also starts two worker threads
that each run one of the functions, to check Python frames per thread.

usage: native.py SECONDS
"""
import json
import sys
import threading
import time
import zlib

DATA = list(range(2000))
BLOB = bytes(range(256)) * 2000
DOC = {"k%d" % i: [i, str(i), {"x": i}] for i in range(300)}


def keyf(x):
    s = 0
    for i in range(20):
        s += (x * i) % 7
    return s


def sorter():
    return sorted(DATA, key=keyf)


def dumper():
    return json.dumps(DOC)


def compressor():
    return zlib.compress(BLOB, 9)


def loop(fn, end):
    while time.monotonic() < end:
        fn()


def main(seconds):
    end = time.monotonic() + seconds
    workers = [threading.Thread(target=loop, args=(fn, end), name=fn.__name__)
               for fn in (dumper, compressor)]
    for w in workers:
        w.start()
    print("ready", flush=True)
    loop(sorter, end)
    for w in workers:
        w.join()


if __name__ == "__main__":
    main(float(sys.argv[1]))
