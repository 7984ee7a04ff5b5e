#!/bin/bash
# Regression: folding recorded connections of different protocols onto one
# pool connection. memcached fixes a connection's protocol (binary, or
# text/meta) at its first request, so mbx keeps one connection per protocol
# family per pool slot. The bundled example mixes text, meta and binary on
# 7 connections; replayed with -c 1 and -c 2 every event must complete with
# no error, timeout or lost connection. No root needed (loopback).
set -u
MBX=${MBX:?}; SRC=${MBX_SRCDIR:?}
command -v memcached >/dev/null || { echo "SKIP: memcached is not installed"; exit 77; }
T=$(mktemp -d /tmp/mbx-fold.XXXXXX)
PORT=$((20000 + $$ % 20000))
memcached -u root -l 127.0.0.1 -p $PORT -U 0 -t 1 & MC=$!
trap 'kill $MC 2>/dev/null; wait $MC 2>/dev/null; rm -rf "$T"' EXIT
for _ in $(seq 50); do bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null && break; sleep 0.05; done
"$MBX" record "$SRC/tests/data/example.pcap" -o "$T/ex.mbx" -q || exit 1
for c in 1 2; do
    "$MBX" replay "$T/ex.mbx" -t 127.0.0.1:$PORT -c $c --timing none --progress 0 --json "$T/r$c.json" > "$T/out$c" \
        || { cat "$T/out$c"; echo "FAIL: replay -c $c exited non-zero"; exit 1; }
    /usr/bin/python3 - "$T/r$c.json" "$c" <<'PYEOF' || exit 1
import json, sys
r = json.load(open(sys.argv[1]))
t = r["totals"]
bad = {k: t[k] for k in ("timeouts", "aborted", "errors", "protocol_errors", "reconnects") if t[k]}
if bad or t["completed"] != t["sent"] or t["sent"] < 1200:
    sys.exit("FAIL -c %s: sent %d completed %d %s" % (sys.argv[2], t["sent"], t["completed"], bad))
print("-c %s: %d sent, %d completed, no errors" % (sys.argv[2], t["sent"], t["completed"]))
PYEOF
done
echo "PASS replay_fold"
