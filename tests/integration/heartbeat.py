#!/usr/bin/python3
"""Measure how responsive the host is: sleep 1 ms at a time until SIGTERM,
then print the largest oversleep in microseconds. A host so busy that this
process is not run for milliseconds cannot run a replay on time either; the
timing test uses it to tell a busy host from a late engine.

Usage: heartbeat.py OUT_FILE"""
import signal
import sys
import time

worst = 0
stop = False


def on_term(sig, frm):
    global stop
    stop = True


signal.signal(signal.SIGTERM, on_term)
while not stop:
    t = time.monotonic_ns()
    time.sleep(0.001)
    worst = max(worst, time.monotonic_ns() - t - 1000000)
with open(sys.argv[1], "w") as f:
    f.write("%d\n" % (worst // 1000))
