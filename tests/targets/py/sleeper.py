"""A Python target for wall-clock profiling: the main thread alternates
spinning in Python with time.sleep, each for 20 to 60 ms at random, so
about half its wall time is asleep.  At exit it prints the shares it
measured.

usage: sleeper.py SECONDS
"""
import random
import sys
import time


def spin(seconds):
    end = time.monotonic() + seconds
    x = 0
    while time.monotonic() < end:
        for i in range(100):
            x += i
    return x


def nap(seconds):
    time.sleep(seconds)


def main(seconds):
    t = {"spin": 0.0, "nap": 0.0}
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for name, fn in (("spin", spin), ("nap", nap)):
            t0 = time.monotonic()
            fn(random.uniform(0.02, 0.06))
            t[name] += time.monotonic() - t0
    total = t["spin"] + t["nap"]
    print("truth spin=%.3f nap=%.3f" % (t["spin"] / total, t["nap"] / total), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]))
