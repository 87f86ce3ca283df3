"""A Python target for the GIL view: the main thread burns CPU in pure
Python, so it holds the GIL whenever it runs; a second thread, "dozer",
sleeps in time.sleep, which lets go of the GIL, and wakes four times a
second just long enough to go back to sleep.  (Each wake-up takes the GIL
from the burner for a moment, longer on a busy machine: few of them keep
the burner's waits for the GIL rare.)

usage: gil.py SECONDS
"""
import sys
import threading
import time


def burn(end):
    x = 0
    while time.monotonic() < end:
        for i in range(200):
            x += i * i
    return x


def doze(end):
    while time.monotonic() < end:
        time.sleep(0.25)


def main(seconds):
    end = time.monotonic() + seconds
    dozer = threading.Thread(target=doze, args=(end,), name="dozer")
    dozer.start()
    print("ready", flush=True)
    burn(end)
    dozer.join()


if __name__ == "__main__":
    main(float(sys.argv[1]))
