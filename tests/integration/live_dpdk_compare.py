#!/usr/bin/python3
"""Compare the events of two profiles (`mbx inspect -f csv` outputs) when
connection ids may differ: with several capture queues, two connections
whose first packets carry the same timestamp (microsecond captures) can be
numbered in either order. Every connection must have exactly the same
events in the same order, and every other column must match.

Usage: live_dpdk_compare.py A.csv B.csv
"""
import sys


def load(path):
    conns = {}
    with open(path) as f:
        header = f.readline().rstrip("\n").split(",")
        ci = header.index("conn_id")
        for line in f:
            cols = line.rstrip("\n").split(",")
            cid = cols.pop(ci)
            conns.setdefault(cid, []).append(",".join(cols))
    return conns


def main():
    a, b = load(sys.argv[1]), load(sys.argv[2])
    na = sum(len(v) for v in a.values())
    nb = sum(len(v) for v in b.values())
    if na != nb or len(a) != len(b):
        sys.exit("MISMATCH: %d events on %d connections vs %d on %d" % (na, len(a), nb, len(b)))
    sa = sorted(tuple(v) for v in a.values())
    sb = sorted(tuple(v) for v in b.values())
    if sa != sb:
        bad = sum(1 for x, y in zip(sa, sb) if x != y)
        sys.exit("MISMATCH: %d of %d connections differ in their events" % (bad, len(sa)))
    print("OK: %d events on %d connections match (up to connection numbering)" % (na, len(a)))


if __name__ == "__main__":
    main()
