#!/usr/bin/python3
"""A small binary-protocol client (memcslap only sends set/get/getkq): get,
getk, quiet gets closed by noop, set/add/replace/append/prepend (loud and
quiet), delete/deleteq, incr/decr (never creating: exptime 0xffffffff),
touch, gat. It models the cache and checks every status it gets back, so the
traffic is real and well-formed.

Usage: binclient.py HOST PORT [--ops N] [--seed S]
Prints a JSON summary of the statuses seen."""
import json
import random
import socket
import struct
import sys

GET, SET, ADD, REPLACE, DELETE, INCR, DECR = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
GETQ, NOOP, GETK, GETKQ, APPEND, PREPEND = 0x09, 0x0a, 0x0c, 0x0d, 0x0e, 0x0f
SETQ, ADDQ, DELETEQ, TOUCH, GAT = 0x11, 0x12, 0x14, 0x1c, 0x1d
OK, ENOENT, EXISTS, NOT_STORED = 0, 1, 2, 5
HDR = struct.Struct(">BBHBBHIIQ")


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=10)
        # quiet requests go out one write each: without this, Nagle holds
        # each one for the server's delayed ACK (40 ms)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.opaque = 0

    def send(self, op, key=b"", extras=b"", value=b""):
        self.opaque += 1
        body = len(extras) + len(key) + len(value)
        self.s.sendall(HDR.pack(0x80, op, len(key), len(extras), 0, 0, body, self.opaque, 0)
                       + extras + key + value)
        return self.opaque

    def recv(self):
        while len(self.buf) < 24:
            self._more()
        magic, op, klen, elen, _, status, body, opaque, _ = HDR.unpack(self.buf[:24])
        assert magic == 0x81, magic
        while len(self.buf) < 24 + body:
            self._more()
        pkt, self.buf = self.buf[24:24 + body], self.buf[24 + body:]
        return op, status, opaque, pkt[elen + klen:]

    def _more(self):
        chunk = self.s.recv(65536)
        if not chunk:
            raise EOFError("server closed")
        self.buf += chunk


def main():
    args = sys.argv[1:]
    host, port = args[0], int(args[1])
    nops = int(args[args.index("--ops") + 1]) if "--ops" in args else 500
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 1
    rng = random.Random(seed)
    c = Conn(host, port)
    keys = [("bin:%d:%s" % (i, "b" * rng.randint(0, 40))).encode() for i in range(60)]
    counters = [b"bin:ctr:%d" % i for i in range(4)]
    stored = {}
    seen = {}

    def expect(status, want, what):
        seen[what + ":" + str(status)] = seen.get(what + ":" + str(status), 0) + 1
        assert status == want, (what, status, want)

    def noop_flush(quiet_expect):
        """Send NOOP; collect replies to quiet requests until its reply."""
        c.send(NOOP)
        got = []
        while True:
            op, st, opq, val = c.recv()
            if op == NOOP:
                break
            got.append((op, st, opq, val))
        assert len(got) == quiet_expect, (got, quiet_expect)

    for _ in range(nops):
        k = rng.choice(keys)
        r = rng.random()
        if r < 0.25:
            op = rng.choice([GET, GETK])
            c.send(op, k)
            _, st, _, val = c.recv()
            expect(st, OK if k in stored else ENOENT, "get")
            if st == OK:
                assert val == stored[k]
        elif r < 0.35:
            batch = rng.sample(keys, 5)
            for b in batch:
                c.send(rng.choice([GETQ, GETKQ]), b)
            noop_flush(sum(b in stored for b in batch))
        elif r < 0.55:
            v = bytes(rng.randrange(48, 58) for _ in range(rng.randint(1, 3000)))
            quiet = rng.random() < 0.3
            c.send(SETQ if quiet else SET, k, struct.pack(">II", 0, 0), v)
            stored[k] = v
            if quiet:
                noop_flush(0)
            else:
                expect(c.recv()[1], OK, "set")
        elif r < 0.62:
            op = rng.choice([ADD, REPLACE, ADDQ])
            v = b"x" * rng.randint(1, 100)
            c.send(op, k, struct.pack(">II", 0, 0), v)
            ok = (k not in stored) if op in (ADD, ADDQ) else (k in stored)
            if ok:
                stored[k] = v
            if op == ADDQ:
                noop_flush(0 if ok else 1)
            else:
                st = c.recv()[1]
                expect(st, OK if ok else (EXISTS if op == ADD else ENOENT), "addrep")
        elif r < 0.68:
            op = rng.choice([APPEND, PREPEND])
            c.send(op, k, b"", b"++")
            st = c.recv()[1]
            expect(st, OK if k in stored else NOT_STORED, "appprep")
            if k in stored:
                stored[k] = stored[k] + b"++" if op == APPEND else b"++" + stored[k]
        elif r < 0.78:
            quiet = rng.random() < 0.3
            c.send(DELETEQ if quiet else DELETE, k)
            present = k in stored
            stored.pop(k, None)
            if quiet:
                noop_flush(0 if present else 1)
            else:
                expect(c.recv()[1], OK if present else ENOENT, "delete")
        elif r < 0.88:
            ck = rng.choice(counters)
            if rng.random() < 0.3:
                c.send(SET, ck, struct.pack(">II", 0, 0), b"100")
                expect(c.recv()[1], OK, "set")
                stored[ck] = b"100"
            op = rng.choice([INCR, DECR])
            c.send(op, ck, struct.pack(">QQI", 1, 0, 0xffffffff))
            st = c.recv()[1]
            expect(st, OK if ck in stored else ENOENT, "arith")
        else:
            op = rng.choice([TOUCH, GAT])
            c.send(op, k, struct.pack(">I", 3600))
            expect(c.recv()[1], OK if k in stored else ENOENT, "touch")
    noop_flush(0)
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
