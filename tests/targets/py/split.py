"""A Python target with a known CPU profile: a, b and c burn 60%, 30% and
10% of the main thread's CPU time in pure Python.  Each call runs for a few
milliseconds, so a sampled stack rarely changes between the tick and the
moment the profiler reads the Python frames; the length of each call
varies at random around its mean, so the functions' cycle cannot fall
in step with a periodic sampler and bias it.  At exit it prints the CPU
time each function really took, measured with the thread CPU clock.

usage: split.py SECONDS
"""
import random
import sys
import time

UNIT = 0.001  # seconds of CPU per unit of work


def spin(seconds):
    end = time.thread_time() + seconds
    x = 0
    while time.thread_time() < end:
        for i in range(200):
            x += i * i
    return x


def a():
    return spin(6 * UNIT * random.uniform(0.5, 1.5))


def b():
    return spin(3 * UNIT * random.uniform(0.5, 1.5))


def c():
    return spin(1 * UNIT * random.uniform(0.5, 1.5))


def main(seconds):
    truth = {"a": 0.0, "b": 0.0, "c": 0.0}
    print("ready", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        for name, fn in (("a", a), ("b", b), ("c", c)):
            t0 = time.thread_time()
            fn()
            truth[name] += time.thread_time() - t0
    total = sum(truth.values())
    print("truth " + " ".join("%s=%.3f" % (k, v / total) for k, v in truth.items()), flush=True)


if __name__ == "__main__":
    main(float(sys.argv[1]))
