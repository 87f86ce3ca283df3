"""A fixed amount of pure-Python work for the Python slowdown benchmark
(tests/bench/pyslow.sh): recursion (stacks 20 to 30 Python frames deep),
a generator, dict and string work, method calls and a sort with a Python
key.  No C call in it releases the GIL or sleeps.

usage: pywork.py run UNITS    prints "ready", waits for SIGUSR1, does a
                              twentieth of UNITS units of work untimed (a
                              profiler's caches warm up), prints "warm",
                              waits for SIGUSR1 again, does UNITS units,
                              prints "wall=S cpu=S" (its own wall-clock and
                              CPU time for those)
       pywork.py loop SECONDS prints "ready", repeats units of work until it
                              has used SECONDS of CPU time
"""
import signal
import sys
import time


def fib(n):
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def squares(n):
    for i in range(n):
        yield i * i


class Account:
    def __init__(self, name):
        self.name = name
        self.total = 0

    def add(self, v):
        self.total += v
        return self.total


def ledger(n):
    accounts = {}
    for i in range(n):
        key = "acct%d" % (i % 97)
        acct = accounts.get(key)
        if acct is None:
            acct = accounts[key] = Account(key)
        acct.add(i)
    return sorted(accounts.values(), key=lambda a: (-a.total, a.name))


def unit():
    fib(17)
    sum(squares(3000))
    ledger(2000)


def main():
    what, arg = sys.argv[1], float(sys.argv[2])
    if what == "run":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        print("ready", flush=True)
        signal.sigwait({signal.SIGUSR1})
        for _ in range(int(arg) // 20):
            unit()
        print("warm", flush=True)
        signal.sigwait({signal.SIGUSR1})
        w0, c0 = time.perf_counter(), time.process_time()
        for _ in range(int(arg)):
            unit()
        w1, c1 = time.perf_counter(), time.process_time()
        print("wall=%.4f cpu=%.4f" % (w1 - w0, c1 - c0), flush=True)
    else:
        print("ready", flush=True)
        while time.process_time() < arg:
            unit()


if __name__ == "__main__":
    main()
