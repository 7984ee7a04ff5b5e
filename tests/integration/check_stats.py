#!/usr/bin/python3
"""Compare memcached's own `stats` deltas (the ground truth) with what
`mbx analyze --json` reports for a capture of the same traffic.

Usage: check_stats.py [--replayed-cas] [--replayed-as PROTO] STATS_BEFORE STATS_AFTER ANALYZE_JSON

The replay tests use the same mapping the other way round: the stats deltas of
a memcached driven by `mbx replay` against the analysis of the recording.
  --replayed-cas      a replayed cas carries a made-up cas unique (docs/replay.md,
                      "Limitations"), so it can never store: cas_misses as
                      recorded, cas_hits 0, cas_badval = recorded stored + exists.
  --replayed-as meta  the recording was replayed with --protocol meta: memcached
                      1.6.18 counts a meta get with T (from touch, gat) that misses
                      as a get miss only (cmd_get, get_misses; not cmd_touch nor
                      touch_misses); a hit stays a touch hit (cmd_touch, touch_hits).

Mapping (memcached 1.6 accounting, see proto_text.c / proto_bin.c):
  cmd_get/get_hits/get_misses  every retrieval op except gat/gats/gatq/gatk*
                               (one per key; mg, getq, getk, getkq included)
  cmd_touch/touch_hits/misses  touch + gat-family
  cmd_set                      every storage op (set/add/replace/append/
                               prepend/cas, ms, binary *q), whatever the outcome
  delete_hits/delete_misses    delete, md, deleteq
  incr_*/decr_*                incr/incrq, decr/decrq; with meta ma present, the
                               sums incr+decr (ma counts as either by its mode)
  cas_hits/cas_misses/cas_badval  cas/casq: stored / not_found / exists
Counts must be equal. Hits and misses must be equal too, except where the
protocol hides them (text noreply): there the recorded outcome is 'noreply'
and the check becomes known <= stat <= known + noreply.
"""
import json
import sys

RETR_GET = {"get", "gets", "mg", "getq", "getk", "getkq"}
RETR_GAT = {"gat", "gats", "gatq", "gatk", "gatkq"}
STORE = {"set", "add", "replace", "append", "prepend", "cas", "ms",
         "setq", "addq", "replaceq", "appendq", "prependq", "casq"}
DELETE = {"delete", "md", "deleteq"}
INCR = {"incr", "incrq"}
DECR = {"decr", "decrq"}
CAS = {"cas", "casq"}


def load_stats(path):
    d = {}
    for line in open(path):
        k, v = line.split(" ", 1)
        try:
            d[k] = int(v)
        except ValueError:
            pass
    return d


def main():
    argv = sys.argv[1:]
    replayed_cas = "--replayed-cas" in argv
    argv = [x for x in argv if x != "--replayed-cas"]
    replayed_as = None
    if "--replayed-as" in argv:
        i = argv.index("--replayed-as")
        replayed_as = argv[i + 1]
        del argv[i:i + 2]
    if len(argv) != 3:
        sys.exit(__doc__)
    before, after = load_stats(argv[0]), load_stats(argv[1])
    a = json.load(open(argv[2]))
    delta = {k: after[k] - before.get(k, 0) for k in after}

    def agg(names, field):
        return sum(o.get(field, 0) if field in o else o["outcomes"].get(field, 0)
                   for o in a["ops"] if o["op"] in names)

    def outc(names, outcome):
        return sum(o["outcomes"][outcome] for o in a["ops"] if o["op"] in names)

    def count(names):
        return sum(o["count"] for o in a["ops"] if o["op"] in names)

    checks = []  # (stat, expected_low, expected_high)

    def exact(stat, v):
        checks.append((stat, v, v))

    def bounded(stat, known, unknown):
        checks.append((stat, known, known + unknown))

    touch_misses = outc({"touch"}, "not_found") + outc(RETR_GAT, "miss")
    # touch-flavoured misses that memcached counts as get misses
    as_get = touch_misses if replayed_as == "meta" else 0
    exact("cmd_get", outc(RETR_GET, "hit") + outc(RETR_GET, "miss") + as_get)
    exact("get_hits", outc(RETR_GET, "hit"))
    exact("get_misses", outc(RETR_GET, "miss") + as_get)
    exact("cmd_touch", count({"touch"}) + outc(RETR_GAT, "hit") + outc(RETR_GAT, "miss") - as_get)
    exact("touch_hits", outc({"touch"}, "touched") + outc(RETR_GAT, "hit"))
    exact("touch_misses", touch_misses - as_get)
    errs = sum(outc(STORE, e) for e in ("error", "client_error", "server_error"))
    bounded("cmd_set", count(STORE) - errs, errs)
    nr_del = outc(DELETE, "noreply")
    bounded("delete_hits", outc(DELETE, "deleted"), nr_del)
    bounded("delete_misses", outc(DELETE, "not_found"), nr_del)
    if count({"ma"}) == 0:
        for name, ops in (("incr", INCR), ("decr", DECR)):
            nr = outc(ops, "noreply")
            bounded(name + "_hits", outc(ops, "hit"), nr)
            bounded(name + "_misses", outc(ops, "not_found"), nr)
    else:
        # meta ma counts as incr or decr by its mode; the sum is exact
        ar = INCR | DECR | {"ma"}
        nr = outc(ar, "noreply")
        delta["incr+decr_hits"] = delta.get("incr_hits", 0) + delta.get("decr_hits", 0)
        delta["incr+decr_misses"] = delta.get("incr_misses", 0) + delta.get("decr_misses", 0)
        bounded("incr+decr_hits", outc(ar, "hit"), nr)
        bounded("incr+decr_misses", outc(ar, "not_found"), nr)
    nr_cas = outc(CAS, "noreply")
    if replayed_cas:
        bounded("cas_hits", 0, 0)
        bounded("cas_misses", outc(CAS, "not_found"), nr_cas)
        bounded("cas_badval", outc(CAS, "stored") + outc(CAS, "exists"), nr_cas)
    else:
        bounded("cas_hits", outc(CAS, "stored"), nr_cas)
        bounded("cas_misses", outc(CAS, "not_found"), nr_cas)
        bounded("cas_badval", outc(CAS, "exists"), nr_cas)

    bad = 0
    print("%-14s %10s %10s %10s" % ("stat", "memcached", "mbx", "result"))
    for stat, lo, hi in checks:
        got = delta.get(stat, 0)
        ok = lo <= got <= hi
        exp = str(lo) if lo == hi else "%d..%d" % (lo, hi)
        print("%-14s %10d %10s %10s" % (stat, got, exp, "ok" if ok else "MISMATCH"))
        bad += not ok
    losses = a["capture"]["losses"]
    lossy = {k: v for k, v in losses.items() if v} if isinstance(losses, dict) else losses
    if lossy:
        print("capture losses:", lossy)
        bad += 1
    if bad:
        sys.exit("%d mismatch(es)" % bad)
    print("all memcached stats deltas match the recording")


if __name__ == "__main__":
    main()
