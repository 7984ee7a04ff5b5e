#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Independent check of mbx-gencap's ground truth.

Reads the capture with tshark (TCP layer: stream, direction, seq, payload),
reassembles each direction by sequence number, parses the memcache text,
meta and binary protocols in Python, and compares per-op outcome counts,
the request total and the connection count with the --truth JSON.

    mbx-gencap --out x.pcap --truth x.json --requests 20000
    bench/gencap_check.py x.pcap x.json

Only for captures without --drop (a dropped segment makes the stream
unparseable, as it would for mbx). Needs tshark. Exit status 0 = match.
"""
import collections
import json
import subprocess
import sys


def streams(pcap, port):
    out = subprocess.run(
        ["tshark", "-r", pcap, "-T", "fields", "-E", "separator=;",
         "-e", "tcp.stream", "-e", "tcp.dstport", "-e", "tcp.seq_raw",
         "-e", "tcp.flags.syn", "-e", "tcp.payload"],
        check=True, capture_output=True, text=True).stdout
    segs = collections.defaultdict(dict)  # (stream, dir) -> {seq: bytes}
    isn = {}
    conns = set()
    for line in out.splitlines():
        st, dport, seq, syn, payload = line.split(";")
        d = 0 if int(dport) == port else 1
        key = (int(st), d)
        seq = int(seq)
        if syn == "1" or syn == "True":
            isn[key] = seq + 1
            if d == 0:
                conns.add(int(st))
            continue
        if payload:
            segs[key][seq] = bytes.fromhex(payload.replace(":", ""))
    data = {}
    for key, m in segs.items():
        pos = isn[key]
        buf = bytearray()
        for seq in sorted(m, key=lambda s: (s - pos) & 0xffffffff):
            off = (seq - pos) & 0xffffffff
            chunk = m[seq]
            if off > len(buf):
                raise SystemExit(f"hole in stream {key}")
            buf += chunk[len(buf) - off:]
        data[key] = bytes(buf)
    return data, len(conns)


def lines(b, i):
    j = b.index(b"\r\n", i)
    return b[i:j], j + 2


def parse_text(req, rsp, count):
    """Text and meta: walk requests, consume the matching responses."""
    i = k = 0
    while i < len(req):
        line, i = lines(req, i)
        w = line.split()
        cmd = w[0].decode()
        if cmd in ("set", "ms"):
            n = int(w[4]) if cmd == "set" else int(w[2])
            i += n + 2
        if cmd == "get":
            for key in w[1:]:
                rl, k2 = lines(rsp, k)
                if rl.startswith(b"VALUE ") and rl.split()[1] == key:
                    k = k2 + int(rl.split()[3]) + 2
                    count("get", "hit")
                else:
                    count("get", "miss")
            rl, k = lines(rsp, k)
            assert rl == b"END", rl
        elif cmd == "mg":
            quiet = b"q" in w[2:]
            rl = rsp[k:k + 2]
            if rl == b"VA":
                head, k = lines(rsp, k)
                k += int(head.split()[1]) + 2
                count("mg", "hit")
            elif rl == b"HD":
                _, k = lines(rsp, k)
                count("mg", "hit")
            elif quiet:
                count("mg", "miss")
            else:
                rl, k = lines(rsp, k)
                assert rl == b"EN", rl
                count("mg", "miss")
        elif cmd == "mn":
            rl, k = lines(rsp, k)
            assert rl == b"MN"
            count("mn", "ok")
        else:
            rl, k = lines(rsp, k)
            if cmd == "set":
                assert rl == b"STORED"
                count("set", "stored")
            elif cmd == "ms":
                assert rl == b"HD"
                count("ms", "stored")
            elif cmd == "delete":
                count("delete", "deleted" if rl == b"DELETED" else "not_found")
            elif cmd == "md":
                count("md", "deleted" if rl == b"HD" else "not_found")
            elif cmd == "touch":
                count("touch", "touched" if rl == b"TOUCHED" else "not_found")
            elif cmd == "incr":
                count("incr", "not_found" if rl == b"NOT_FOUND" else "hit")
            elif cmd == "ma":
                if rl.startswith(b"VA"):
                    k += int(rl.split()[1]) + 2
                    count("ma", "hit")
                else:
                    count("ma", "not_found")
            else:
                raise SystemExit(f"unknown command {cmd}")
    assert k == len(rsp), (k, len(rsp))


BIN_OPS = {0x00: "get", 0x01: "set", 0x04: "delete", 0x05: "incr", 0x0a: "noop",
           0x0d: "getkq", 0x1c: "touch"}


def parse_binary(req, rsp, count):
    def msgs(b, magic):
        i = 0
        while i < len(b):
            assert b[i] == magic
            body = int.from_bytes(b[i + 8:i + 12], "big")
            yield b[i + 1], int.from_bytes(b[i + 6:i + 8], "big"), \
                int.from_bytes(b[i + 12:i + 16], "big")
            i += 24 + body
    rsps = {op: (opc, st) for opc, st, op in msgs(rsp, 0x81)}
    for opc, _, opaque in msgs(req, 0x80):
        name = BIN_OPS[opc]
        r = rsps.get(opaque)
        if name == "getkq":
            count(name, "hit" if r else "miss")
            continue
        assert r, (name, opaque)
        ok = r[1] == 0
        outcome = {"get": ("hit", "miss"), "set": ("stored", "not_stored"),
                   "delete": ("deleted", "not_found"), "incr": ("hit", "not_found"),
                   "touch": ("touched", "not_found"), "noop": ("ok", "error")}[name]
        count(name, outcome[0] if ok else outcome[1])


def main():
    pcap, truth_path = sys.argv[1], sys.argv[2]
    truth = json.load(open(truth_path))
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 11211
    data, nconns = streams(pcap, port)
    got = collections.defaultdict(collections.Counter)

    def count(op, outcome):
        got[op][outcome] += 1

    for (st, d), req in sorted(data.items()):
        if d != 0:
            continue
        rsp = data.get((st, 1), b"")
        if req[:1] == b"\x80":
            parse_binary(req, rsp, count)
        else:
            parse_text(req, rsp, count)

    ok = True
    want = {op: {k: v for k, v in o.items() if k != "count"} for op, o in truth["ops"].items()}
    for op in sorted(set(want) | set(got)):
        if dict(got[op]) != want.get(op, {}):
            print(f"{op}: capture {dict(got[op])} truth {want.get(op)}")
            ok = False
    total = sum(sum(c.values()) for c in got.values())
    if total != truth["requests"]:
        print(f"requests: capture {total} truth {truth['requests']}")
        ok = False
    if nconns != truth["connections"]:
        print(f"connections: capture {nconns} truth {truth['connections']}")
        ok = False
    print(f"{'OK' if ok else 'MISMATCH'}: {total} requests, {nconns} connections, "
          f"{len(got)} ops checked")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
