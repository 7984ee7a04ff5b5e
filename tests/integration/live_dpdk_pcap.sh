#!/bin/bash
# DPDK backend, net_pcap replaying a capture file: `mbx record --backend dpdk`
# must write exactly the events the offline recorder writes for the same
# file (same salt, so key hashes match; net_pcap hands over the file's
# timestamps, so times and latencies match too). Files are microsecond pcap:
# net_pcap reads with microsecond precision.
# Usage: live_dpdk_pcap.sh CASE
#   example   tests/data/example.pcap (real clients, 1 queue), byte-identical CSV
#   gencap    mbx-gencap capture with ground truth, 1 queue, byte-identical CSV
#             and check_truth.py on the DPDK profile
#   jumbo     9 KB frames (--mss 8960): every payload frame arrives as a
#             multi-segment mbuf chain and is linearised; byte-identical CSV
#   queues4   the gencap capture split into 4 files (requests/responses x
#             client port parity: the two directions of every connection on
#             different queues), 4 workers pinned to 2 CPUs (--lcores 0-1,0-1):
#             the same events per connection (ids may be numbered in another
#             order, see live_dpdk_compare.py), the per-op truth exact
#   smallring the gencap capture through the smallest worker ring (1024
#             messages): replaying a file, a full ring waits for the writer
#             instead of dropping, so the events are still byte-identical and
#             ring_full stays 0 (a live source would drop and count)
source "$(dirname "$0")/lib.sh"
source "$HERE/live_dpdk_lib.sh"
CASE=${1:?case}
need_dpdk
need_cmd tcpdump

gen() { # NAME GENCAP-OPTIONS...
    local n=$1; shift
    [ -x "$GEN" ] || skip "mbx-gencap not found (MBX_GENCAP)"
    "$GEN" -o "$TMPD/$n.pcap" -t "$TMPD/$n.truth.json" --format pcap "$@" 2> "$TMPD/gen.err" ||
        fail "gencap: $(cat "$TMPD/gen.err")"
}

offline() { # CAPTURE OUT
    "$MBX" record -q --salt "$SALT" "$1" -o "$2" || fail "offline mbx record $1"
}

case "$CASE" in
example)
    CAP=$HERE/../data/example.pcap
    offline "$CAP" "$TMPD/off.mbx"
    dpdk_record "$TMPD/dp.mbx" "$TMPD/dp.log" --iface net_pcap0 -- "${EAL_BASE[@]}" \
        --vdev="net_pcap0,rx_pcap=$CAP"
    same_csv "$TMPD/off.mbx" "$TMPD/dp.mbx"
    grep -q "timestamps from the capture file" "$TMPD/dp.log" || fail "not in file-timestamp mode"
    ;;
smallring)
    gen c --requests 40000 --think-us 5000
    offline "$TMPD/c.pcap" "$TMPD/off.mbx"
    dpdk_record "$TMPD/dp.mbx" "$TMPD/dp.log" --iface net_pcap0 --ring-size 1024 -- \
        "${EAL_BASE[@]}" --vdev="net_pcap0,rx_pcap=$TMPD/c.pcap"
    grep -q "a full worker ring waits for the writer" "$TMPD/dp.log" ||
        fail "file replay not announced as lossless"
    grep -q "waited for the writer [1-9][0-9]* times" "$TMPD/dp.log" ||
        fail "the ring never filled: the test did not exercise the wait"
    "$MBX" analyze "$TMPD/dp.mbx" --json "$TMPD/dp.json" --no-text || fail "analyze"
    "$PY" - "$TMPD/dp.json" <<'PYEOF' || fail "ring_full"
import json, sys
n = json.load(open(sys.argv[1]))["capture"]["counters"]["ring_full"]
if n: sys.exit("ring_full = %d: the file replay dropped messages" % n)
print("OK: ring_full 0")
PYEOF
    same_csv "$TMPD/off.mbx" "$TMPD/dp.mbx"
    ;;
gencap|jumbo)
    if [ "$CASE" = gencap ]; then
        gen c --requests 40000 --think-us 5000
    else
        gen c --requests 4000 --mss 8960 --max-value 200000 --op-mix get=0.5,set=0.5
    fi
    offline "$TMPD/c.pcap" "$TMPD/off.mbx"
    "$MBX" analyze "$TMPD/off.mbx" --json "$TMPD/off.json" --no-text || fail "analyze"
    "$PY" "$HERE/check_truth.py" "$TMPD/c.truth.json" "$TMPD/off.json" || fail "offline vs truth"
    dpdk_record "$TMPD/dp.mbx" "$TMPD/dp.log" --iface net_pcap0 -- "${EAL_BASE[@]}" \
        --vdev="net_pcap0,rx_pcap=$TMPD/c.pcap"
    same_csv "$TMPD/off.mbx" "$TMPD/dp.mbx"
    segs=$(sed -n 's/.* \([0-9]*\) multi-segment packets linearised.*/\1/p' "$TMPD/dp.log")
    if [ "$CASE" = jumbo ]; then
        [ "${segs:-0}" -gt 100 ] || fail "expected multi-segment mbufs, got ${segs:-none}"
    else
        [ "${segs:-x}" = 0 ] || fail "unexpected multi-segment mbufs: ${segs:-none}"
    fi
    ;;
queues4)
    gen c --requests 40000 --think-us 5000
    offline "$TMPD/c.pcap" "$TMPD/off.mbx"
    "$MBX" analyze "$TMPD/off.mbx" --json "$TMPD/off.json" --no-text || fail "analyze"
    "$PY" "$HERE/check_truth.py" "$TMPD/c.truth.json" "$TMPD/off.json" || fail "offline vs truth"
    f=(
        'tcp dst port 11211 and tcp[0:2] & 1 = 0'
        'tcp dst port 11211 and tcp[0:2] & 1 = 1'
        'tcp src port 11211 and tcp[2:2] & 1 = 0'
        'tcp src port 11211 and tcp[2:2] & 1 = 1'
    )
    vdev=net_pcap0; total=0
    for i in 0 1 2 3; do
        tcpdump -n -r "$TMPD/c.pcap" -w "$TMPD/q$i.pcap" "${f[$i]}" 2>/dev/null || fail "tcpdump split"
        n=$(tcpdump -n -r "$TMPD/q$i.pcap" 2>/dev/null | wc -l); total=$((total + n))
        [ "$n" -gt 1000 ] || fail "split $i has only $n packets"
        vdev+=",rx_pcap=$TMPD/q$i.pcap"
    done
    all=$(tcpdump -n -r "$TMPD/c.pcap" 2>/dev/null | wc -l)
    [ "$total" = "$all" ] || fail "the split lost packets ($total of $all)"
    dpdk_record "$TMPD/dp.mbx" "$TMPD/dp.log" --iface net_pcap0 --lcores 0-1,0-1 -- \
        "${EAL_BASE[@]}" --vdev="$vdev"
    for i in 0 1 2 3; do
        grep -q "queue $i: [1-9][0-9]* packets" "$TMPD/dp.log" || fail "queue $i read nothing"
    done
    "$MBX" inspect -f csv --strict "$TMPD/off.mbx" > "$TMPD/a.csv" || fail "inspect"
    "$MBX" inspect -f csv --strict "$TMPD/dp.mbx" > "$TMPD/b.csv" || fail "inspect"
    "$PY" "$HERE/live_dpdk_compare.py" "$TMPD/a.csv" "$TMPD/b.csv" || fail "events differ"
    "$MBX" analyze "$TMPD/dp.mbx" --json "$TMPD/dp.json" --no-text || fail "analyze"
    # the per-op counts and outcomes against the truth (the footer counters
    # are not compared: see the report on live.c's final counter snapshot)
    "$PY" - "$TMPD/c.truth.json" "$TMPD/dp.json" <<'PYEOF' || fail "per-op truth"
import json, sys
t = json.load(open(sys.argv[1])); a = json.load(open(sys.argv[2]))
got = {}
for o in a["ops"]:
    g = got.setdefault(o["op"], {"count": 0}); g["count"] += o["count"]
    for k, v in o["outcomes"].items():
        if v: g[k] = g.get(k, 0) + v
bad = [f"{op}.{k}: truth {v}, mbx {got.get(op, {}).get(k, 0)}"
       for op, e in t["ops"].items() for k, v in e.items() if got.get(op, {}).get(k, 0) != v]
bad += [f"{op}: not in the truth" for op in got if op not in t["ops"]]
if bad: sys.exit("MISMATCH: " + "; ".join(bad[:10]))
print("OK: per-op counts and outcomes match the truth")
PYEOF
    ;;
*) fail "unknown case $CASE" ;;
esac
echo "PASS live_dpdk_pcap $CASE"
