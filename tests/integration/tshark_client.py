#!/usr/bin/python3
"""Non-pipelined memcache client for the tshark cross-check: every request
is ONE send() on a TCP_NODELAY socket and the client waits for the complete
reply before the next, so each request is alone in its TCP segment (tshark's
text dissector decodes only the first command of a segment). Values are at
most 100 bytes, so every reply also fits in one segment.

Usage: tshark_client.py HOST PORT --text N --binary N [--seed S]
Runs N random text commands on one connection, then N random binary commands
on another. Prints a JSON summary: commands sent per protocol and name (a
multi-key get counts once in "lines" and per key in "keys")."""
import json
import random
import socket
import struct
import sys


class Conn:
    def __init__(self, host, port):
        self.s = socket.create_connection((host, port), timeout=5)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def need(self, n):
        while len(self.buf) < n:
            d = self.s.recv(65536)
            if not d:
                raise EOFError("server closed")
            self.buf += d

    def line(self):
        while b"\r\n" not in self.buf:
            self.need(len(self.buf) + 1)
        i = self.buf.index(b"\r\n")
        ln, self.buf = self.buf[:i], self.buf[i + 2:]
        return ln

    def take(self, n):
        self.need(n)
        d, self.buf = self.buf[:n], self.buf[n:]
        return d

    def send(self, data):
        self.s.sendall(data)
        # nothing may be left over from an earlier reply: one request, one reply
        assert not self.buf, "unexpected bytes before a request"


def run_text(c, rng, n, did):
    keys = ["tk:%d" % i for i in range(12)]
    cas_of = {}

    def note(name, nkeys=1):
        d = did.setdefault(name, {"lines": 0, "keys": 0})
        d["lines"] += 1
        d["keys"] += nkeys

    def retrieve(cmd, ks):
        c.send(("%s %s\r\n" % (cmd, " ".join(ks))).encode())
        note(cmd, len(ks))
        while True:
            ln = c.line()
            if ln == b"END":
                return
            t = ln.split()
            assert t[0] == b"VALUE", ln
            if cmd == "gets":
                cas_of[t[1].decode()] = int(t[4])
            c.take(int(t[3]) + 2)

    def one_line(cmd, text, value=None):
        data = text.encode() + b"\r\n"
        if value is not None:
            data += value + b"\r\n"
        c.send(data)
        note(cmd)
        return c.line()

    for _ in range(n):
        k = rng.choice(keys)
        v = b"v" * rng.randint(1, 100)
        r = rng.random()
        if r < 0.16:
            retrieve("get", [k])
        elif r < 0.24:
            retrieve("get", rng.sample(keys, rng.randint(2, 6)))
        elif r < 0.33:
            # single-key only: tshark 4.0 stops decoding a gets reply after
            # its first VALUE line (it re-reads the cas token as the line
            # end), so it cannot count hits of a multi-key gets
            retrieve("gets", [k])
        elif r < 0.45:
            one_line("set", "set %s 0 0 %d" % (k, len(v)), v)
        elif r < 0.50:
            one_line("add", "add %s 0 0 %d" % (k, len(v)), v)
        elif r < 0.55:
            one_line("replace", "replace %s 0 0 %d" % (k, len(v)), v)
        elif r < 0.59:
            one_line("append", "append %s 0 0 2" % k, b"+a")
        elif r < 0.63:
            one_line("prepend", "prepend %s 0 0 2" % k, b"p+")
        elif r < 0.70:
            # a fresh cas (stored, or exists if changed since), a stale one
            # (exists) or one for a key that may be gone (not_found)
            cas = cas_of.get(k, 1) if rng.random() < 0.6 else rng.randint(1, 10**6)
            one_line("cas", "cas %s 0 0 %d %d" % (k, len(v), cas), v)
        elif r < 0.78:
            one_line("delete", "delete %s" % k)
        elif r < 0.88:
            ck = "tk:ctr:%d" % rng.randint(0, 3)
            if rng.random() < 0.3:
                one_line("set", "set %s 0 0 3" % ck, b"500")
            cmd = rng.choice(["incr", "decr"])
            one_line(cmd, "%s %s %d" % (cmd, ck, rng.randint(1, 9)))
        else:
            one_line("touch", "touch %s %d" % (k, rng.randint(100, 1000)))


# binary opcodes (memcached protocol_binary.h)
B_GET, B_SET, B_ADD, B_REPLACE, B_DELETE, B_INCR, B_DECR = 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
B_NOOP, B_VERSION, B_GETK, B_APPEND, B_PREPEND, B_TOUCH, B_GAT = 0x0a, 0x0b, 0x0c, 0x0e, 0x0f, 0x1c, 0x1d


def run_binary(c, rng, n, did):
    keys = [b"bk:%d" % i for i in range(12)]
    opaque = 0

    def req(op, key=b"", extras=b"", value=b"", cas=0):
        nonlocal opaque
        opaque += 1
        body = extras + key + value
        c.send(struct.pack(">BBHBBHIIQ", 0x80, op, len(key), len(extras), 0, 0, len(body),
                           opaque, cas) + body)
        h = c.take(24)
        magic, rop, klen, elen, _, status, blen, ropq, rcas = struct.unpack(">BBHBBHIIQ", h)
        assert magic == 0x81 and rop == op and ropq == opaque, h
        c.take(blen)
        did[op] = did.get(op, 0) + 1
        return status, rcas

    cas_of = {}
    for _ in range(n):
        k = rng.choice(keys)
        v = b"b" * rng.randint(1, 100)
        r = rng.random()
        if r < 0.18:
            st, cas = req(rng.choice([B_GET, B_GETK]), k)
            if st == 0:
                cas_of[k] = cas
        elif r < 0.32:
            # SET, sometimes with a CAS value (memcached: cas command)
            cas = cas_of.get(k, 0) if rng.random() < 0.3 else 0
            req(B_SET, k, struct.pack(">II", 0, 0), v, cas)
        elif r < 0.40:
            req(B_ADD, k, struct.pack(">II", 0, 0), v)
        elif r < 0.48:
            req(B_REPLACE, k, struct.pack(">II", 0, 0), v)
        elif r < 0.56:
            req(B_DELETE, k)
        elif r < 0.68:
            # incr/decr with an initial value, or 0xffffffff = fail if missing
            exp = 0 if rng.random() < 0.5 else 0xffffffff
            req(rng.choice([B_INCR, B_DECR]), b"bk:ctr:%d" % rng.randint(0, 3),
                struct.pack(">QQI", rng.randint(1, 9), 100, exp))
        elif r < 0.74:
            req(B_APPEND, k, b"", b"+a")
        elif r < 0.80:
            req(B_PREPEND, k, b"", b"p+")
        elif r < 0.88:
            req(B_TOUCH, k, struct.pack(">I", rng.randint(100, 1000)))
        elif r < 0.94:
            req(B_GAT, k, struct.pack(">I", rng.randint(100, 1000)))
        elif r < 0.97:
            req(B_NOOP)
        else:
            req(B_VERSION)


def main():
    a = sys.argv[1:]
    host, port = a[0], int(a[1])

    def opt(name, dflt):
        return int(a[a.index(name) + 1]) if name in a else dflt

    rng = random.Random(opt("--seed", 1))
    text, binary = {}, {}
    c = Conn(host, port)
    run_text(c, rng, opt("--text", 300), text)
    c.s.close()
    c = Conn(host, port)
    run_binary(c, rng, opt("--binary", 300), binary)
    c.s.close()
    print(json.dumps({"text": text, "binary": {"0x%02x" % k: v for k, v in sorted(binary.items())}}))


if __name__ == "__main__":
    main()
