#!/usr/bin/python3
"""Captures with known timing, and request times out of a capture.

  pcaptool.py gen OUT.pcap --at-ms T0,T1,...    one connection doing
        `get k<i>` / `END` at exactly these times (ms from the first request;
        the reply 50 us later), nanosecond pcap, Ethernet/IPv4, with the
        handshake and FIN
  pcaptool.py gen OUT.pcap --count N --every-us G    N gets, one every G us
      --sets: every other request is `set k<i> 0 0 10` (STORED) instead
  pcaptool.py requests CAP.pcap [--port P]   JSON: for every TCP connection
        to port P (default 11211), in order of its first request, the
        capture times (ns) of its text `get` requests, at the time of the
        segment that carries each (two gets sent together count twice, at
        the same time); retransmitted segments are left out, and so are
        connections without a get
"""
import json
import struct
import sys

CLI = bytes([10, 9, 0, 2])
SRV = bytes([10, 9, 0, 1])
CPORT, SPORT = 40000, 11211


def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff


def frame(src, dst, sport, dport, seq, ack, flags, payload=b""):
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, 5 << 4, flags, 65535, 0, 0) + payload
    ph = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(ph + tcp)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    smac = b"\x02\0\0\0\0\x02" if src == CLI else b"\x02\0\0\0\0\x01"
    dmac = b"\x02\0\0\0\0\x01" if src == CLI else b"\x02\0\0\0\0\x02"
    return dmac + smac + b"\x08\x00" + ip + tcp


def gen(out, times_ns, sets=False):
    base = 1700000000 * 10**9
    pkts = []
    cs, ss = 1000, 5000
    t0 = base - 10**6
    pkts.append((t0, frame(CLI, SRV, CPORT, SPORT, cs, 0, 0x02)))
    pkts.append((t0 + 20000, frame(SRV, CLI, SPORT, CPORT, ss, cs + 1, 0x12)))
    pkts.append((t0 + 40000, frame(CLI, SRV, CPORT, SPORT, cs + 1, ss + 1, 0x10)))
    cs += 1
    ss += 1
    for i, t in enumerate(times_ns):
        if sets and i % 2:
            req = b"set k%06d 0 0 10\r\n0123456789\r\n" % (i - 1)
            rsp = b"STORED\r\n"
        else:
            req = b"get k%06d\r\n" % i
            rsp = b"END\r\n"
        pkts.append((base + t, frame(CLI, SRV, CPORT, SPORT, cs, ss, 0x18, req)))
        cs += len(req)
        pkts.append((base + t + 50000, frame(SRV, CLI, SPORT, CPORT, ss, cs, 0x18, rsp)))
        ss += len(rsp)
    tend = base + times_ns[-1] + 10**6
    pkts.append((tend, frame(CLI, SRV, CPORT, SPORT, cs, ss, 0x11)))
    pkts.append((tend + 20000, frame(SRV, CLI, SPORT, CPORT, ss, cs + 1, 0x11)))
    pkts.append((tend + 40000, frame(CLI, SRV, CPORT, SPORT, cs + 1, ss + 1, 0x10)))
    with open(out, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b23c4d, 2, 4, 0, 0, 65535, 1))
        for t, p in pkts:
            f.write(struct.pack("<IIII", t // 10**9, t % 10**9, len(p), len(p)) + p)


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic == 0xa1b2c3d4:
        mult = 1000
    elif magic == 0xa1b23c4d:
        mult = 1
    else:
        sys.exit("%s: not a little-endian pcap file" % path)
    link = struct.unpack("<I", data[20:24])[0]
    if link != 1:
        sys.exit("%s: link type %d, want Ethernet" % (path, link))
    off = 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack("<IIII", data[off:off + 16])
        yield sec * 10**9 + frac * mult, data[off + 16:off + 16 + incl]
        off += 16 + incl


def requests(path, port):
    conns = {}
    order = []
    nxt = {}
    for t, p in read_pcap(path):
        if len(p) < 14 + 20 + 20 or p[12:14] != b"\x08\x00" or p[23] != 6:
            continue
        ihl = (p[14] & 15) * 4
        tot = struct.unpack("!H", p[16:18])[0]
        tcp = 14 + ihl
        sport, dport = struct.unpack("!HH", p[tcp:tcp + 4])
        doff = (p[tcp + 12] >> 4) * 4
        plen = tot - ihl - doff
        if dport != port or plen <= 0:
            continue
        key = (p[26:30], sport)
        seq = struct.unpack("!I", p[tcp + 4:tcp + 8])[0]
        if key in nxt and (seq - nxt[key]) & 0x80000000:
            continue  # a retransmission: these bytes were counted
        nxt[key] = (seq + plen) & 0xffffffff
        n = p[tcp + doff:tcp + doff + plen].count(b"get ")
        if not n:
            continue
        if key not in conns:
            conns[key] = []
            order.append(key)
        conns[key].extend([t] * n)
    return [conns[k] for k in order]


def main():
    a = sys.argv[1:]
    if a[0] == "gen":
        if "--at-ms" in a:
            times = [int(float(x) * 10**6) for x in a[a.index("--at-ms") + 1].split(",")]
        else:
            n = int(a[a.index("--count") + 1])
            g = int(a[a.index("--every-us") + 1])
            times = [i * g * 1000 for i in range(n)]
        gen(a[1], times, "--sets" in a)
    elif a[0] == "requests":
        port = int(a[a.index("--port") + 1]) if "--port" in a else SPORT
        print(json.dumps(requests(a[1], port)))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
