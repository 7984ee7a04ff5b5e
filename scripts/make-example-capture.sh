#!/bin/bash
# Regenerate tests/data/example.pcap: a real capture of real clients talking
# to a real memcached (text via pymemcache, binary via memcslap, meta via
# tests/integration/metaclient.py), taken on a SPAN port in network
# namespaces. Needs root. Usage: scripts/make-example-capture.sh [OUT.pcap]
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    sed -n '2,5p' "$0" | sed 's/^# //'
    exit 0
fi
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$(realpath -m "${1:-$ROOT/tests/data/example.pcap}")
source "$ROOT/tests/integration/lib.sh"
need_root
need_cmd memcached tcpdump memcslap
topo_up 1
mc_start
cap_start "$TMPD/ex.pcap" tcp port $MC_PORT
in_cli "$PY" "$HERE/pyclient.py" $SRV_IP $MC_PORT --ops 300 --seed 7 >/dev/null
in_cli memcslap -s $SRV_IP:$MC_PORT --binary --test=set --execute-number=100 --concurrency=2 >/dev/null 2>&1 || true
in_cli memcslap -s $SRV_IP:$MC_PORT --binary --test=get --execute-number=100 --concurrency=2 >/dev/null 2>&1 || true
in_cli "$PY" "$HERE/metaclient.py" $SRV_IP $MC_PORT --ops 200 --seed 7 >/dev/null
cap_stop
cp "$TMPD/ex.pcap" "$OUT"
echo "wrote $OUT ($(stat -c %s "$OUT") bytes)"
