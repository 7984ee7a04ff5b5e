#!/usr/bin/python3
"""A small meta-protocol client (there is no packaged one): issues mg/ms/md/ma/mn
over one connection, with quiet mode, opaques, returned keys and base64 keys,
and checks every reply it expects, so the traffic is real and well-formed.

Usage: metaclient.py HOST PORT [--ops N] [--seed S] [--pipeline]
Prints a JSON summary of what it sent and what the server answered.
"""
import base64
import json
import random
import socket
import sys


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=10)
        # "ms q" and "mn" go out as separate writes: without this, Nagle holds
        # the second until the first is acknowledged (8 s for 1,500 ops)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def send(self, data):
        self.s.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def data(self, n):
        while len(self.buf) < n + 2:
            chunk = self.s.recv(65536)
            if not chunk:
                raise EOFError("server closed")
            self.buf += chunk
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d

    def reply(self):
        ln = self.line()
        parts = ln.split(b" ")
        if parts[0] == b"VA":
            return parts, self.data(int(parts[1]))
        return parts, None


def main():
    args = sys.argv[1:]
    host, port = args[0], int(args[1])
    nops = int(args[args.index("--ops") + 1]) if "--ops" in args else 500
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 1
    rng = random.Random(seed)
    c = Conn(host, port)
    keys = ["meta:%d:%s" % (i, "x" * rng.randint(0, 40)) for i in range(60)]
    stored = {}
    sent = {"mg": 0, "ms": 0, "md": 0, "ma": 0, "mn": 0}
    replies = {}

    def note(code):
        replies[code] = replies.get(code, 0) + 1

    for i in range(nops):
        k = rng.choice(keys)
        r = rng.random()
        if r < 0.35:
            opaque = "O%d" % i
            c.send(("mg %s v k %s\r\n" % (k, opaque)).encode())
            sent["mg"] += 1
            parts, val = c.reply()
            note(parts[0].decode())
            assert parts[0] in (b"VA", b"EN"), parts
            if parts[0] == b"VA":
                assert val == stored[k], (k, val)
        elif r < 0.45:
            # quiet gets with returned keys, closed by mn
            batch = rng.sample(keys, 4)
            req = "".join("mg %s v k q\r\n" % b for b in batch) + "mn\r\n"
            c.send(req.encode())
            sent["mg"] += len(batch)
            sent["mn"] += 1
            while True:
                parts, _ = c.reply()
                note(parts[0].decode())
                if parts[0] == b"MN":
                    break
                assert parts[0] == b"VA", parts
        elif r < 0.75:
            val = bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000)))
            mode = rng.choice(["", "", "", " MS", " ME", " MR"])
            quiet = rng.random() < 0.3
            c.send(("ms %s %d%s%s\r\n" % (k, len(val), mode, " q" if quiet else "")).encode() + val + b"\r\n")
            sent["ms"] += 1
            ok = (mode == " ME" and k not in stored) or (mode == " MR" and k in stored) or mode in ("", " MS")
            if ok:
                stored[k] = val
            if quiet:
                c.send(b"mn\r\n")
                sent["mn"] += 1
                parts, _ = c.reply()
                note(parts[0].decode())
                if parts[0] != b"MN":
                    assert parts[0] == b"NS" and not ok, parts
                    parts, _ = c.reply()
                    note(parts[0].decode())
                    assert parts[0] == b"MN", parts
            else:
                parts, _ = c.reply()
                note(parts[0].decode())
                assert parts[0] == (b"HD" if ok else b"NS"), (parts, mode, k in stored)
        elif r < 0.85:
            c.send(("md %s\r\n" % k).encode())
            sent["md"] += 1
            parts, _ = c.reply()
            note(parts[0].decode())
            assert parts[0] == (b"HD" if k in stored else b"NF"), parts
            stored.pop(k, None)
        elif r < 0.93:
            # No N (auto-create) flag: memcached answers an auto-created ma
            # like a hit but counts it as neither incr hit nor miss, so a
            # capture cannot tell. Create counters explicitly instead.
            nk = "counter:%d" % rng.randint(0, 5)
            mode = rng.choice(["", " MI", " MD", " M+", " M-"])
            c.send(("ma %s v%s\r\n" % (nk, mode)).encode())
            sent["ma"] += 1
            parts, val = c.reply()
            note(parts[0].decode())
            assert parts[0] in (b"VA", b"NF"), parts
            if parts[0] == b"NF":
                c.send(("ms %s 2\r\n10\r\n" % nk).encode())
                sent["ms"] += 1
                parts, _ = c.reply()
                note(parts[0].decode())
                assert parts[0] == b"HD", parts
        else:
            bk = base64.b64encode(("bin\x00key%d" % rng.randint(0, 9)).encode()).decode()
            c.send(("mg %s b v\r\n" % bk).encode())
            sent["mg"] += 1
            parts, _ = c.reply()
            note(parts[0].decode())
            assert parts[0] in (b"VA", b"EN"), parts
    c.send(b"mn\r\n")
    sent["mn"] += 1
    parts, _ = c.reply()
    assert parts[0] == b"MN"
    print(json.dumps({"sent": sent, "replies": replies}))


if __name__ == "__main__":
    main()
