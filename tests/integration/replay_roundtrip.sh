#!/bin/bash
# Round trip: real client traffic (text, meta and binary clients, one
# connection each) is captured and recorded; a fresh memcached is driven by
# `mbx replay` while the SPAN port is captured again; the second recording
# must describe the same traffic as the first (check_roundtrip.py: per-op
# counts and outcomes, key and value size distributions, connections).
# pyclient.py runs with --no-cas: a replayed cas cannot store (docs/replay.md,
# Limitations), so values returned after it would have other sizes.
source "$(dirname "$0")/lib.sh"
source "$HERE/replay_lib.sh"
need_root
need_cmd memcached tcpdump memcslap
topo_up 1
mc_start
clients() {
    in_cli "$PY" "$HERE/pyclient.py" $SRV_IP $MC_PORT --ops 1000 --seed 5 --no-cas > /dev/null || fail "pyclient"
    in_cli "$PY" "$HERE/metaclient.py" $SRV_IP $MC_PORT --ops 800 --seed 5 > /dev/null || fail "metaclient"
    in_cli "$PY" "$HERE/binclient.py" $SRV_IP $MC_PORT --ops 800 --seed 5 > /dev/null || fail "binclient"
    in_cli memcslap -s $SRV_IP:$MC_PORT --binary --test=mget --execute-number=300 --concurrency=1 > /dev/null 2>&1
}
capture_retry "$TMPD/cap1.pcap" clients
record_profile "$TMPD/cap1.pcap" first

mc_restart
replay_first() {
    replay run "$TMPD/first.mbx"
    [ "$RC" = 0 ] || fail "replay exit status $RC: $(cat "$TMPD/run.err")"
}
capture_retry "$TMPD/cap2.pcap" replay_first
record_profile "$TMPD/cap2.pcap" second
"$PY" "$HERE/check_roundtrip.py" "$TMPD/first.json" "$TMPD/second.json" || fail "round trip differs"
conns=$(jget "$TMPD/first.json" 'd["connections"]["distinct"]')
[ "$conns" -ge 4 ] || fail "expected at least 4 recorded connections, got $conns"
echo "PASS replay_roundtrip"
