#!/bin/bash
# AF_XDP with 2 workers on the 2 queues of the SPAN veth (native XDP, which
# spreads packets over the veth's queues; generic XDP sees everything on
# queue 0). veth has no symmetric RSS: the two directions of a connection
# land on either queue, so workers see halves of connections. Checks: both
# queues carried traffic (ethtool per-queue XDP counters, and each worker's
# packet count), some connections had their directions on different queues
# (the XDP program counts client SYNs and server SYN-ACKs per queue), and
# pairing is still exact: stats deltas match, no orphan or mismatch, every
# request that expects a reply has a positive latency.
source "$(dirname "$0")/live_afxdp_lib.sh"
afxdp_need
need_cmd memcslap
topo_up 2
ip netns exec "$NS_MON" ethtool -l span_m | grep -A2 "Current" | grep -q "RX:.*2" || fail "span_m does not have 2 rx queues"
mc_start
mc_stats "$TMPD/before"
rec_start "$TMPD/live.mbx" --xdp-mode drv --queues 2 --summary-json "$TMPD/sum.json"
# many short connections: each is a new draw of the two directions' queues
run_clients 4; run_clients 4 slap
ip netns exec "$NS_MON" ethtool -S span_m > "$TMPD/ethtool.txt"
rec_stop
mc_stats "$TMPD/after"
cat "$TMPD/rec.out"
grep -E "afxdp|AF_XDP" "$TMPD/rec.err" | grep -v pkt/s

for q in 0 1; do
    n=$(awk -v k="rx_queue_${q}_xdp_redirect:" '$1 == k {print $2}' "$TMPD/ethtool.txt")
    [ "${n:-0}" -gt 1000 ] || fail "queue $q: ethtool rx_queue_${q}_xdp_redirect = ${n:-none}"
    n=$(sed -n "s/.*afxdp queue $q: \([0-9]*\) packets.*/\1/p" "$TMPD/rec.err")
    [ "${n:-0}" -gt 1000 ] || fail "worker of queue $q saw ${n:-no} packets"
done
split=$(sed -n 's/.*at least \([0-9]*\) with their directions on different queues.*/\1/p' "$TMPD/rec.err")
[ "${split:-0}" -gt 0 ] || fail "no connection had its directions on different queues (split=${split:-?}): the test proves nothing"
echo "connections with directions on different queues: at least $split"

check_profile_stats "$TMPD/live.mbx"
check_no_loss "$TMPD/sum.json"
"$PY" - "$TMPD/analysis.json" <<'PYEOF' || fail "latencies"
import json, sys
a = json.load(open(sys.argv[1]))
s = a["summary"]
lat = s["latency"]
expect = s["events"] - s["noreply"] - s["unanswered"]
print("latency: count %d of %d events, min %s ns, p50 %s ns, p99 %s ns, max %s ns" % (
    lat["count"], s["events"], lat["min_ns"], lat["p50_ns"], lat["p99_ns"], lat["max_ns"]))
assert s["unanswered"] == 0, "unanswered requests"
# quiet binary requests carry no latency of their own
assert lat["count"] >= expect - s["quiet"], "requests without a latency"
assert lat["p50_ns"] < 10_000_000, "median latency above 10 ms on a veth"
PYEOF
# Timestamps are taken when a queue's NAPI poll runs the XDP program, not
# when the frame reached the veth: with a connection's directions on
# different queues (CPUs), a reply can be stamped before its request when
# the request's queue is polled later (seen: 20 us typically, ms with both
# CPUs saturated). Pairing must not care (--direction-skew: no orphan
# above); the latency of such a pair is 0, and they must stay rare (seen:
# 0.01-0.25% here).
"$MBX" inspect "$TMPD/live.mbx" -f csv > "$TMPD/events.csv" || fail "mbx inspect"
zero=$(awk -F, 'NR > 1 && $9 == "0"' "$TMPD/events.csv" | wc -l)
total=$(($(wc -l < "$TMPD/events.csv") - 1))
echo "zero latencies: $zero of $total events"
[ $((zero * 100)) -le "$total" ] || fail "$zero of $total events have a zero latency (more than 1%)"
echo "PASS live_afxdp_multiqueue"
