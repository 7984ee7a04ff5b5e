#!/usr/bin/python3
"""Privacy: record traffic whose keys and values are distinctive random
strings (text, meta with plain and base64 keys, binary), then check that no
key or value -- nor any 8-byte substring of one -- appears anywhere in the
profile, the record summary (text and JSON), the analysis (text and JSON) or
the inspect output (text and CSV).

Usage: privacy.py MBX WORKDIR"""
import base64
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

rng = random.Random(20261126)
ALPHA = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"  # no digits: avoid numbers mbx prints


def secret(n):
    return "".join(rng.choice(ALPHA) for _ in range(n))


def frame(src, dst, sport, dport, seq, payload, flags=0x18):
    ip_src = bytes(map(int, src.split(".")))
    ip_dst = bytes(map(int, dst.split(".")))
    tcp = struct.pack(">HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, ip_src, ip_dst)
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + ip + tcp


def build(path):
    keys, values = [], []
    exch = []  # (client->server payload, server->client payload)
    for i in range(60):
        k, v = secret(rng.randint(12, 60)), secret(rng.randint(16, 200))
        keys.append(k)
        values.append(v)
        kind = i % 3
        if kind == 0:  # text
            exch.append((b"set %s 0 0 %d\r\n%s\r\n" % (k.encode(), len(v), v.encode()), b"STORED\r\n"))
            exch.append((b"get %s\r\n" % k.encode(),
                         b"VALUE %s 0 %d\r\n%s\r\nEND\r\n" % (k.encode(), len(v), v.encode())))
        elif kind == 1:  # meta, some keys base64 (b flag), keys returned (k)
            if i % 2:
                bk = base64.b64encode(k.encode())
                exch.append((b"ms %s %d b\r\n%s\r\n" % (bk, len(v), v.encode()), b"HD\r\n"))
                exch.append((b"mg %s b v k\r\n" % bk,
                             b"VA %d k%s b\r\n%s\r\n" % (len(v), bk, v.encode())))
            else:
                exch.append((b"ms %s %d\r\n%s\r\n" % (k.encode(), len(v), v.encode()), b"HD\r\n"))
                tok = secret(8).encode()  # memcached echoes the opaque token
                exch.append((b"mg %s v k O%s\r\n" % (k.encode(), tok),
                             b"VA %d k%s O%s\r\n%s\r\n" % (len(v), k.encode(), tok, v.encode())))
        else:  # binary SET, GETK
            kb, vb = k.encode(), v.encode()
            hdr = lambda magic, op, kl, el, bl, st=0: struct.pack(">BBHBBHIIQ", magic, op, kl, el, 0, st, bl, 7, 0)
            exch.append((hdr(0x80, 0x01, len(kb), 8, 8 + len(kb) + len(vb)) + b"\0" * 8 + kb + vb,
                         hdr(0x81, 0x01, 0, 0, 0)))
            exch.append((hdr(0x80, 0x0c, len(kb), 0, len(kb)) + kb,
                         hdr(0x81, 0x0c, len(kb), 4, 4 + len(kb) + len(vb)) + b"\0" * 4 + kb + vb))
    out = bytearray(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    t = 1700000000 * 10**6
    seq = [1000, 5000]
    for c2s, s2c in exch:
        for d, pl in ((0, c2s), (1, s2c)):
            src, dst = ("10.1.0.2", "10.1.0.1") if d == 0 else ("10.1.0.1", "10.1.0.2")
            sp, dp = (40000, 11211) if d == 0 else (11211, 40000)
            fr = frame(src, dst, sp, dp, seq[d], pl)
            seq[d] += len(pl)
            t += 100
            out += struct.pack("<IIII", t // 10**6, t % 10**6, len(fr), len(fr)) + fr
    open(path, "wb").write(out)
    return keys, values


def main():
    mbx = sys.argv[1]
    work = tempfile.mkdtemp(prefix="mbx-privacy-", dir=sys.argv[2] if len(sys.argv) > 2 else None)
    try:
        check(mbx, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def check(mbx, work):
    cap = os.path.join(work, "secret.pcap")
    keys, values = build(cap)
    prof = os.path.join(work, "secret.mbx")
    outs = {}

    def run(name, args, capture_file=None):
        r = subprocess.run([mbx] + args, capture_output=True)
        if r.returncode != 0:
            sys.exit("%s failed: %s" % (name, r.stderr.decode(errors="replace")))
        outs[name] = r.stdout + r.stderr
        if capture_file:
            outs[name + " (file)"] = open(capture_file, "rb").read()

    sj = os.path.join(work, "summary.json")
    aj = os.path.join(work, "analysis.json")
    run("record", ["record", cap, "-o", prof, "--summary-json", sj], sj)
    summ = __import__("json").load(open(sj))
    lossy = {k: v for k, v in summ["counters"].items() if v and k in (
        "rsp_orphan", "req_unanswered", "pair_mismatch", "parse_errors", "gaps")}
    if lossy or summ["events"] != 120:
        sys.exit("the synthetic capture did not pair cleanly: %d events, %s" % (summ["events"], lossy))
    run("analyze", ["analyze", prof, "--json", aj, "--top", "1000"], aj)
    run("inspect text", ["inspect", prof])
    run("inspect csv", ["inspect", prof, "-f", "csv"])
    outs["profile"] = open(prof, "rb").read()
    # the recording must actually contain the operations
    if b"set" not in outs["inspect text"] or outs["inspect csv"].count(b"\n") < 120:
        sys.exit("the recording does not hold the operations")
    leaks = 0
    for s in keys + values:
        b = s.encode()
        pieces = {b[i:i + 8] for i in range(len(b) - 7)}
        pieces.add(base64.b64encode(b)[:8])
        for name, data in outs.items():
            for p in pieces:
                if p in data:
                    leaks += 1
                    print("LEAK: %r (from %r...) in %s" % (p, s[:12], name))
                    break
    if leaks:
        sys.exit("%d leaks" % leaks)
    print("no key or value, nor any 8-byte piece of one, in %d outputs (%d keys, %d values)"
          % (len(outs), len(keys), len(values)))


if __name__ == "__main__":
    main()
