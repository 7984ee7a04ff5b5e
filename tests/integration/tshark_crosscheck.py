#!/usr/bin/python3
"""Compare mbx's per-op counts and outcomes with Wireshark's memcache
dissector on the same capture (traffic without pipelining).

Usage: tshark_crosscheck.py TSHARK_TSV ANALYZE_JSON CLIENT_JSON

TSHARK_TSV: `tshark -o tcp.analyze_sequence_numbers:FALSE -Y "tcp.len>0"
-T fields -E aggregator='|'` with the fields of FIELDS below, one line per
TCP segment with payload. (Sequence analysis is off because the SPAN port
may deliver an ACK before the data it acknowledges; tshark then calls the
data a "spurious retransmission" and drops it from its reassembly: seen
once in ~60 memcslap SETs.)

How tshark 4.0 counts, and how this script accounts for it:
- Text: the dissector decodes only the FIRST command of a segment, and the
  tshark_client.py traffic puts exactly one command in each segment (checked
  here: as many request as reply segments on every text connection, and
  every one dissected as memcache). A multi-key `get k1 k2 k3` is ONE command for tshark with
  three memcache.key values, and three events (one per key) for mbx: mbx's
  count is compared with the number of keys, and mbx's multi-key request
  statistics with the number of such lines.
- Text replies: tshark labels STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED
  and END (memcache.response), lists a reply's VALUE keys (memcache.key), and
  leaves bare numbers (incr/decr values) and TOUCHED unlabelled. It stops
  decoding a `gets` reply after the first VALUE line (a VALUE line with a cas
  fails its end-of-line check), so the client sends single-key gets only. tshark does
  not know the `touch` command at all (a MEMCACHE segment with no command).
  Requests and replies are paired in order per connection (memcached answers
  in order and the client never pipelines), so a get line's hits are the
  VALUE keys of its reply and its misses the rest; an unlabelled reply to
  incr/decr is a hit (the new value), to touch is TOUCHED.
- Binary: every PDU is decoded (the dissector reassembles by body length),
  requests by opcode, replies by opcode and status; paired in order per
  connection (no quiet opcodes are sent: checked). A SET request carrying a
  non-zero CAS is memcached's (and mbx's) `cas`. Status -> outcome: 0 is the
  success of the command (hit / stored / deleted / touched / ok; for incr and
  decr the new value), 1 key not found (miss for gets, else not_found),
  2 exists, 5 not stored.
"""
import collections
import json
import sys

FIELDS = ["frame.number", "tcp.stream", "tcp.dstport", "_ws.col.Protocol", "memcache.command",
          "memcache.response", "memcache.key", "memcache.magic", "memcache.opcode",
          "memcache.status", "memcache.cas"]
PORT = "11211"

BIN_OP = {0x00: "get", 0x01: "set", 0x02: "add", 0x03: "replace", 0x04: "delete", 0x05: "incr",
          0x06: "decr", 0x07: "quit", 0x08: "flush_all", 0x0a: "noop", 0x0b: "version",
          0x0c: "getk", 0x0e: "append", 0x0f: "prepend", 0x10: "stats", 0x1c: "touch",
          0x1d: "gat", 0x23: "gatk"}
RETR = {"get", "gets", "getk", "gat", "gatk"}
SUCCESS = {"get": "hit", "getk": "hit", "gat": "hit", "gatk": "hit", "set": "stored",
           "add": "stored", "replace": "stored", "append": "stored", "prepend": "stored",
           "cas": "stored", "delete": "deleted", "incr": "hit", "decr": "hit", "touch": "touched",
           "quit": "ok", "noop": "ok", "version": "ok", "flush_all": "ok", "stats": "ok"}
TEXT_REPLY = {"STORED": "stored", "NOT_STORED": "not_stored", "EXISTS": "exists",
              "NOT_FOUND": "not_found", "DELETED": "deleted"}

errors = []


def err(msg):
    errors.append(msg)
    print("MISMATCH:", msg)


def split(v):
    return v.split("|") if v else []


def main():
    tsv, ajson, cjson = sys.argv[1:4]
    streams = collections.defaultdict(list)
    for line in open(tsv):
        f = dict(zip(FIELDS, line.rstrip("\n").split("\t")))
        streams[f["tcp.stream"]].append(f)
    client = json.load(open(cjson))

    ts_count = collections.Counter()     # (proto, op) -> events as mbx counts them
    ts_out = collections.Counter()       # (proto, op, outcome)
    ts_lines = collections.Counter()     # (op) -> text lines, as tshark counts them
    multi_lines = multi_keys = 0
    for sid, frames in sorted(streams.items(), key=lambda x: int(x[0])):
        if any(f["memcache.magic"] for f in frames):          # binary connection
            reqs, rsps = [], []
            for f in frames:
                if not f["memcache.magic"]:
                    continue  # a segment of a PDU that tshark shows in a later frame
                mg, ops, st, cas = (split(f[k]) for k in ("memcache.magic", "memcache.opcode",
                                                            "memcache.status", "memcache.cas"))
                for i, m in enumerate(mg):
                    op = int(ops[i], 0)
                    if op not in BIN_OP:
                        err("stream %s: opcode 0x%02x (quiet or unknown: not expected)" % (sid, op))
                        continue
                    if m == "128":
                        name = BIN_OP[op]
                        if name == "set" and int(cas[i], 0) != 0:
                            name = "cas"
                        reqs.append(name)
                    else:
                        rsps.append((BIN_OP[op], int(st[i], 0)))
            if len(reqs) != len(rsps):
                err("stream %s: %d binary requests, %d replies" % (sid, len(reqs), len(rsps)))
            for name, (rop, status) in zip(reqs, rsps):
                if rop != (name if name != "cas" else "set"):
                    err("stream %s: request %s answered by %s (pairing premise)" % (sid, name, rop))
                out = {0: SUCCESS[name], 1: "miss" if name in RETR else "not_found",
                       2: "exists", 5: "not_stored"}.get(status, "status%d" % status)
                ts_count[("binary", name)] += 1
                ts_out[("binary", name, out)] += 1
            continue
        # text connection: one command per request segment, one reply per
        # reply segment, so the i-th request segment is answered by the i-th
        # reply segment. The two directions are paired per direction, not by
        # frame order: the SPAN mirror may deliver a reply before the request
        # it answers (seen once under load: req rsp rsp req req rsp).
        reqf = [f for f in frames if f["tcp.dstport"] == PORT]
        rspf = [f for f in frames if f["tcp.dstport"] != PORT]
        if len(reqf) != len(rspf):
            err("stream %s: %d text request segments, %d reply segments (pipelining or "
                "split reply)" % (sid, len(reqf), len(rspf)))
            continue
        for q, r in zip(reqf, rspf):
            if q["_ws.col.Protocol"] != "MEMCACHE" or r["_ws.col.Protocol"] != "MEMCACHE":
                err("frames %s/%s: not dissected as memcache" % (q["frame.number"], r["frame.number"]))
                continue
            cmd = q["memcache.command"] or "touch"  # tshark 4.0 has no touch
            keys = split(q["memcache.key"])
            rkind = r["memcache.response"]
            ts_lines[cmd] += 1
            if cmd in ("get", "gets"):
                hits = len(split(r["memcache.key"]))
                ts_count[("text", cmd)] += len(keys)
                ts_out[("text", cmd, "hit")] += hits
                ts_out[("text", cmd, "miss")] += len(keys) - hits
                if len(keys) >= 2:
                    multi_lines += 1
                    multi_keys += len(keys)
                continue
            ts_count[("text", cmd)] += 1
            if rkind in TEXT_REPLY:
                out = TEXT_REPLY[rkind]
            elif not rkind and cmd in ("incr", "decr"):
                out = "hit"        # the new value: a bare number tshark does not label
            elif not rkind and cmd == "touch":
                out = "touched"    # TOUCHED: not in tshark's list
            else:
                out = "unexpected:" + (rkind or "unlabelled")
            ts_out[("text", cmd, out)] += 1

    # the client's own record of what it sent: tshark must have seen it all
    for name, d in client["text"].items():
        if ts_lines[name] != d["lines"]:
            err("text %s: client sent %d lines, tshark decoded %d" % (name, d["lines"], ts_lines[name]))

    a = json.load(open(ajson))
    mbx_count = {(o["proto"], o["op"]): o["count"] for o in a["ops"]}
    mbx_out = collections.Counter()
    for o in a["ops"]:
        for k, v in o["outcomes"].items():
            if v:
                mbx_out[(o["proto"], o["op"], k)] = v
    print("%-8s %-10s %8s %8s %8s  %s" % ("proto", "op", "tshark", "(lines)", "mbx", "outcomes (tshark == mbx)"))
    for key in sorted(set(ts_count) | set(mbx_count)):
        t, m = ts_count.get(key, 0), mbx_count.get(key, 0)
        touts = {o: n for (p, op, o), n in ts_out.items() if (p, op) == key and n}
        mouts = {o: n for (p, op, o), n in mbx_out.items() if (p, op) == key}
        lines = ts_lines.get(key[1], "") if key[0] == "text" else ""
        print("%-8s %-10s %8d %8s %8d  %s%s" % (key[0], key[1], t, lines, m, touts,
                                                "" if touts == mouts else "  mbx: %s" % mouts))
        if t != m:
            err("%s %s: tshark %d, mbx %d" % (key[0], key[1], t, m))
        if touts != mouts:
            err("%s %s outcomes: tshark %s, mbx %s" % (key[0], key[1], touts, mouts))
    rq = a["requests"]
    if (rq["multi_key_requests"], rq["multi_key_keys"]) != (multi_lines, multi_keys):
        err("multi-key gets: tshark %d lines / %d keys, mbx %d / %d"
            % (multi_lines, multi_keys, rq["multi_key_requests"], rq["multi_key_keys"]))
    lossy = {k: v for k, v in a["capture"]["losses"].items() if v}
    if lossy:
        err("mbx reports losses: %s" % lossy)
    total = sum(ts_count.values())
    if total < 500:
        err("too little traffic decoded by tshark (%d events)" % total)
    if errors:
        sys.exit("%d mismatch(es)" % len(errors))
    print("tshark and mbx agree: %d events, %d multi-key gets (%d keys)" % (total, multi_lines, multi_keys))


if __name__ == "__main__":
    main()
