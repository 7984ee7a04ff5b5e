#!/usr/bin/python3
"""The replay's own view of an exact replay (the target started empty, as the
recorded server did): every sendable event was sent and answered, and each
event's replayed outcome has the class of its recorded outcome (a hit is a
hit, a stored is a stored, a not-found is a not-found, ...).

Usage: check_replay.py REPLAY_JSON ANALYZE_JSON [--proto PROTO] [--replayed-cas]

  REPLAY_JSON   mbx replay --json of the run
  ANALYZE_JSON  mbx analyze --json of the recording
  --proto P     every op must have been sent in protocol P (--protocol P)
  --replayed-cas  a replayed cas cannot store (docs/replay.md, Limitations):
                allow exactly as many stored -> exists transitions as the
                recording has cas events that stored.

Outcome classes (mbx_outcome_is_hit/_miss): positive = hit stored deleted
touched; negative = miss not_stored exists not_found. Names differ between
protocols for the same meaning (binary add on a present key: EXISTS where text
says NOT_STORED), so only classes are compared. A recorded noreply has no
outcome to compare with.
"""
import json
import sys

POS = {"hit", "stored", "deleted", "touched"}
NEG = {"miss", "not_stored", "exists", "not_found"}
NEVER_SENT = {"flush_all", "flushq", "quit", "quitq", "verbosity",
              "sasl_list_mechs", "sasl_auth", "sasl_step", "unknown", "none"}
CAS = {"cas", "casq"}


def cls(o):
    return "pos" if o in POS else "neg" if o in NEG else o


def main():
    argv = sys.argv[1:]
    replayed_cas = "--replayed-cas" in argv
    argv = [a for a in argv if a != "--replayed-cas"]
    proto = None
    if "--proto" in argv:
        i = argv.index("--proto")
        proto = argv[i + 1]
        del argv[i:i + 2]
    if len(argv) != 2:
        sys.exit(__doc__)
    rp = json.load(open(argv[0]))
    an = json.load(open(argv[1]))
    bad = []
    t = rp["totals"]

    for k in ("timeouts", "aborted", "unfinished", "errors", "reconnects",
              "connect_errors", "protocol_errors"):
        if t[k] != 0:
            bad.append("totals.%s = %d, want 0" % (k, t[k]))
    if t["completed"] != t["sent"]:
        bad.append("completed %d != sent %d" % (t["completed"], t["sent"]))
    rec_events = an["summary"]["events"]
    never = sum(o["count"] for o in an["ops"] if o["op"] in NEVER_SENT)
    if t["sent"] != rec_events - never or t["skipped"] != never:
        bad.append("sent %d + skipped %d, want %d + %d (recorded events, ops replay never sends)"
                   % (t["sent"], t["skipped"], rec_events - never, never))
    if rp["run"]["interrupted"]:
        bad.append("run.interrupted")

    changed = {}
    for o in rp["ops"]:
        if proto and o["sent"] and o["proto"] != proto:
            bad.append("%s sent in %s, want %s" % (o["op"], o["proto"], proto))
        for tr in o["transitions"]:
            a, b = cls(tr["recorded"]), cls(tr["replayed"])
            if tr["recorded"] in ("noreply", "none") or a == b:
                continue
            key = "%s/%s: %s -> %s" % (o["op"], o["proto"], tr["recorded"], tr["replayed"])
            changed[key] = changed.get(key, 0) + tr["count"]
    cas_stored = sum(o["outcomes"]["stored"] for o in an["ops"] if o["op"] in CAS)
    flips = sum(n for k, n in changed.items() if k.endswith("stored -> exists"))
    if replayed_cas and flips == cas_stored:
        changed = {k: n for k, n in changed.items() if not k.endswith("stored -> exists")}
    for k, n in sorted(changed.items()):
        bad.append("%d events changed outcome class: %s" % (n, k))
    print("replay: %d sent, %d skipped, %d completed; %d recorded cas stored, %d stored -> exists"
          % (t["sent"], t["skipped"], t["completed"], cas_stored, flips))
    if bad:
        for b in bad:
            print("MISMATCH:", b)
        sys.exit("%d mismatch(es)" % len(bad))
    print("every event replayed with its recorded outcome class")


if __name__ == "__main__":
    main()
