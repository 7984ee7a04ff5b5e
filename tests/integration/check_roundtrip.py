#!/usr/bin/python3
"""Round trip: the analysis of a replay's capture must describe the same
traffic as the analysis of the recording it replayed.

Usage: check_roundtrip.py FIRST_ANALYZE_JSON SECOND_ANALYZE_JSON

Compared exactly:
  - per (op, protocol): count and every outcome (ops replay never sends,
    such as quit, are left out of the first);
  - key sizes, sizes of values sent and of values returned: count, min,
    p50, p90, p99, max and every histogram bucket (replay keys have the
    recorded lengths, values the recorded sizes);
  - connections: distinct count;
  - requests (less the ops never sent, one request each) and multi-key requests (a text get of n keys is sent
    as one line of n keys).
Neither capture may have lost anything.
"""
import json
import sys

NEVER_SENT = {"flush_all", "flushq", "quit", "quitq", "verbosity",
              "sasl_list_mechs", "sasl_auth", "sasl_step", "unknown", "none"}


def ops(a):
    return {(o["op"], o["proto"]): (o["count"], o["outcomes"])
            for o in a["ops"] if o["op"] not in NEVER_SENT}


def dist(d):
    return {k: d[k] for k in ("count", "min", "p50", "p90", "p99", "max", "buckets")}


def main():
    a = json.load(open(sys.argv[1]))
    b = json.load(open(sys.argv[2]))
    bad = []

    def cmp(what, x, y):
        if x != y:
            bad.append("%s: first %s, second %s" % (what, x, y))

    oa, ob = ops(a), ops(b)
    for k in sorted(set(oa) | set(ob)):
        cmp("op %s/%s" % k, oa.get(k), ob.get(k))
    for s in ("key", "value_sent", "value_returned"):
        cmp("sizes." + s, dist(a["sizes"][s]), dist(b["sizes"][s]))
    cmp("connections.distinct", a["connections"]["distinct"], b["connections"]["distinct"])
    never = sum(o["count"] for o in a["ops"] if o["op"] in NEVER_SENT)
    cmp("requests.requests (less ops never sent)", a["requests"]["requests"] - never,
        b["requests"]["requests"])
    for k in ("multi_key_requests", "multi_key_keys"):
        cmp("requests." + k, a["requests"][k], b["requests"][k])
    for n, x in (("first", a), ("second", b)):
        if x["capture"]["any_loss"]:
            bad.append("%s capture lost data: %s" % (n, x["capture"]["losses"]))
    print("%d (op, proto) rows, %d events, %d connections, %d keys; first vs second"
          % (len(oa), sum(c for c, _ in oa.values()), a["connections"]["distinct"],
             a["sizes"]["key"]["count"]))
    if bad:
        for x in bad:
            print("MISMATCH:", x)
        sys.exit("%d mismatch(es)" % len(bad))
    print("the replay's capture matches the recording")


if __name__ == "__main__":
    main()
