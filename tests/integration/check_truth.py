#!/usr/bin/python3
"""Compare `mbx analyze --json` with the ground truth written by
`mbx-gencap --truth`: per-op counts and outcomes, requests, connections.

Usage: check_truth.py TRUTH_JSON ANALYZE_JSON [--lossy MAX_FRACTION]

Without --lossy every number must be equal and no loss counter may be set.
With --lossy F (captures made with --drop), losses must be reported, and the
per-op counts may be off by at most F of the requests (outcomes of requests
whose reply was lost become 'none').
"""
import json
import sys


def main():
    truth = json.load(open(sys.argv[1]))
    a = json.load(open(sys.argv[2]))
    lossy = float(sys.argv[sys.argv.index("--lossy") + 1]) if "--lossy" in sys.argv else None
    got = {}
    for o in a["ops"]:
        g = got.setdefault(o["op"], {"count": 0})
        g["count"] += o["count"]
        for k, v in o["outcomes"].items():
            if v:
                g[k] = g.get(k, 0) + v
    bad = []
    total_diff = 0
    for op, exp in truth["ops"].items():
        g = got.get(op, {"count": 0})
        for k, v in exp.items():
            d = abs(g.get(k, 0) - v)
            total_diff += d if k == "count" else 0
            if d and lossy is None:
                bad.append("%s.%s: truth %d, mbx %d" % (op, k, v, g.get(k, 0)))
    for op in got:
        if op not in truth["ops"]:
            bad.append("%s: not in the truth (mbx %d)" % (op, got[op]["count"]))
    events = sum(o["count"] for o in a["ops"])
    # connections seen (also those that closed without an operation); the
    # analysis' "distinct" counts only connections with operations
    conns = a["capture"]["counters"]["conns"]
    if a["connections"]["distinct"] > conns:
        bad.append("more connections with operations (%d) than connections (%d)"
                   % (a["connections"]["distinct"], conns))
    losses = {k: v for k, v in a["capture"]["losses"].items() if v and k != "merge_late"}
    if lossy is None:
        if events != truth["requests"]:
            bad.append("requests: truth %d, mbx %d" % (truth["requests"], events))
        if conns != truth["connections"]:
            bad.append("connections: truth %d, mbx %d" % (truth["connections"], conns))
        if losses:
            bad.append("loss counters set on a clean capture: %s" % losses)
    else:
        if not losses:
            bad.append("segments were dropped but no loss is reported")
        limit = lossy * truth["requests"]
        if total_diff > limit:
            bad.append("per-op counts differ by %d in total, more than %.0f" % (total_diff, limit))
        print("lossy capture: reported losses %s; per-op count difference %d (limit %.0f)"
              % (losses, total_diff, limit))
    if bad:
        print("\n".join(bad))
        sys.exit("MISMATCH against the generator's truth")
    print("OK: %d requests, %d connections, %d ops match the truth" %
          (truth["requests"], truth["connections"], len(truth["ops"])))


if __name__ == "__main__":
    main()
