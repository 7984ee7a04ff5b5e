#!/usr/bin/python3
"""Check the request times of one replay run, taken from a capture of the
replay (pcaptool.py requests), against the schedule the run was asked for.

  check_timing.py REQ_JSON IDX sched --at-ms T0,T1,.. [--speed S]
        [--max-gap-ms G] [--loops L] --tol-ms E
      connection IDX of REQ_JSON sent exactly len(T) * L requests, and every
      request left at its intended offset from the first, within E ms: the
      recorded offsets (gaps longer than G cut to G) divided by S; loop k+1
      starts one mean gap (last offset / (n - 1)) after loop k's last request.
      Both each gap and each absolute offset are checked (the engine
      schedules against absolute intended times: errors must not add up).
  check_timing.py REQ_JSON IDX rate --rate R --count N --tol F
      N requests, sent at R per second within a fraction F:
      (N - 1) / (last - first) in [R (1 - F), R (1 + F)]
  check_timing.py REQ_JSON IDX count --min A --max B
      between A and B requests
  --label TEXT names the run in messages (default "run IDX")
  --lag-us L   the largest send lag the replay itself reported for the run:
               a miss that L explains (a request the engine knew it sent up
               to L late) exits 3 instead of 1 (the host did not let it run);
               a miss it does not explain (a wrong schedule, sent "on time")
               exits 1
"""
import json
import sys


def opt(a, name, conv, default=None):
    if name in a:
        return conv(a[a.index(name) + 1])
    if default is None:
        sys.exit("missing " + name)
    return default


def main():
    a = sys.argv[1:]
    conns = json.load(open(a[0]))
    idx, mode = int(a[1]), a[2]
    if idx >= len(conns):
        sys.exit("FAIL: connection %d: not in the capture (%d found)" % (idx, len(conns)))
    t = conns[idx]
    n = len(t)
    label = opt(a, "--label", str, "run %d" % idx)
    lag_ms = opt(a, "--lag-us", float, -1.0) / 1000 if "--lag-us" in a else None

    def miss(msg, by_ms):
        """Fail; exit 3 if the engine's own lag explains a miss of by_ms."""
        if lag_ms is not None and by_ms <= lag_ms + 2.0:
            print("%s: %s; explained by the replay's own send lag of %.3f ms" % (label, msg, lag_ms))
            sys.exit(3)
        sys.exit("FAIL: %s: %s" % (label, msg))
    if mode == "sched":
        at = [float(x) for x in opt(a, "--at-ms", str).split(",")]
        speed = opt(a, "--speed", float, 1.0)
        cap = opt(a, "--max-gap-ms", float, 0.0)
        loops = opt(a, "--loops", int, 1)
        tol = opt(a, "--tol-ms", float)
        want = []
        off = 0.0
        for _ in range(loops):
            for i in range(len(at)):
                if i:
                    g = at[i] - at[i - 1]
                    off += min(g, cap) if cap else g
                want.append(off)
            off += off / (len(want) - 1)
        want = [w / speed for w in want]
        if n != len(want):
            sys.exit("FAIL: %s: %d requests, want %d" % (label, n, len(want)))
        got = [(x - t[0]) / 1e6 for x in t]
        gap_err = [(got[i] - got[i - 1]) - (want[i] - want[i - 1]) for i in range(1, n)]
        abs_err = [g - w for g, w in zip(got, want)]
        worst_gap = max(abs(e) for e in gap_err)
        worst_abs = max(abs(e) for e in abs_err)
        print("%s: %d requests, speed %g, max-gap %g ms: worst gap error %.3f ms, "
              "worst offset error %.3f ms (tolerance %g ms)"
              % (label, n, speed, cap, worst_gap, worst_abs, tol))
        if worst_gap > tol or worst_abs > tol:
            print("  gap errors (ms):", " ".join("%.3f" % e for e in gap_err))
            # a request late by L shows as an offset error of L, or of -L on
            # all the others when it is the first
            miss("timing off by more than %g ms" % tol, worst_abs)
    elif mode == "rate":
        rate = opt(a, "--rate", float)
        count = opt(a, "--count", int)
        tol = opt(a, "--tol", float)
        if n != count:
            sys.exit("FAIL: %s: %d requests, want %d" % (label, n, count))
        got = (n - 1) / ((t[-1] - t[0]) / 1e9)
        print("%s: %d requests at %.1f/s, asked %g/s (%+.2f%%, tolerance %g%%)"
              % (label, n, got, rate, 100 * (got / rate - 1), 100 * tol))
        if abs(got / rate - 1) > tol:
            span_ms = (t[-1] - t[0]) / 1e6
            miss("rate %.1f/s, want %g/s within %g%%" % (got, rate, 100 * tol),
                 abs(span_ms - (n - 1) / rate * 1000))
    elif mode == "count":
        lo, hi = opt(a, "--min", int), opt(a, "--max", int)
        print("%s: %d requests (want %d..%d)" % (label, n, lo, hi))
        if n > hi:
            sys.exit("FAIL: %s: %d requests, want %d..%d" % (label, n, lo, hi))
        if n < lo:
            # requests due just before a stop are not sent if the engine is
            # held up then (one per ms in the test's profile)
            miss("%d requests, want %d..%d" % (n, lo, hi), float(lo - n))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
