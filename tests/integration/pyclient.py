#!/usr/bin/python3
"""Drive memcached with pymemcache (text protocol): every storage command,
multi-key gets, gets/cas, incr/decr, touch, delete, noreply variants.
Usage: pyclient.py HOST PORT [--ops N] [--seed S] [--no-cas]
--no-cas: issue the gets but not the cas that would follow (a replay cannot
know the cas unique, so a replayed cas never stores: the replay tests that
compare value sizes leave it out, see docs/replay.md "Limitations").
Prints a JSON summary of what it did."""
import json
import random
import sys

from pymemcache.client.base import Client


def main():
    args = sys.argv[1:]
    host, port = args[0], int(args[1])
    nops = int(args[args.index("--ops") + 1]) if "--ops" in args else 500
    seed = int(args[args.index("--seed") + 1]) if "--seed" in args else 1
    no_cas = "--no-cas" in args
    rng = random.Random(seed)
    c = Client((host, port), default_noreply=False, connect_timeout=5, timeout=5)
    keys = ["py:%d:%s" % (i, "k" * rng.randint(0, 30)) for i in range(80)]
    did = {}

    def note(op, n=1):
        did[op] = did.get(op, 0) + n

    for i in range(nops):
        k = rng.choice(keys)
        r = rng.random()
        if r < 0.25:
            c.get(k)
            note("get")
        elif r < 0.35:
            ks = rng.sample(keys, rng.randint(2, 12))
            c.get_many(ks)
            note("get", len(ks))
        elif r < 0.55:
            v = b"v" * rng.randint(1, 5000)
            c.set(k, v, noreply=rng.random() < 0.2)
            note("set")
        elif r < 0.60:
            c.add(k, b"added")
            note("add")
        elif r < 0.64:
            c.replace(k, b"replaced")
            note("replace")
        elif r < 0.67:
            c.append(k, b"+a")
            note("append")
        elif r < 0.70:
            c.prepend(k, b"p+")
            note("prepend")
        elif r < 0.76:
            val, cas = c.gets(k)
            note("gets")
            if cas is not None and not no_cas:
                c.cas(k, b"cas-new", cas if rng.random() < 0.7 else b"1")
                note("cas")
        elif r < 0.84:
            c.delete(k)
            note("delete")
        elif r < 0.90:
            ck = "py:counter:%d" % rng.randint(0, 4)
            if rng.random() < 0.3:
                c.set(ck, b"100")
                note("set")
            if rng.random() < 0.5:
                c.incr(ck, rng.randint(1, 5))
                note("incr")
            else:
                c.decr(ck, rng.randint(1, 5))
                note("decr")
        else:
            c.touch(k, 3600)
            note("touch")
    c.close()
    print(json.dumps(did))


if __name__ == "__main__":
    main()
