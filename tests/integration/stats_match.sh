#!/bin/bash
# Real clients drive a real memcached; the traffic is captured on a SPAN port
# with tcpdump; `mbx record` + `mbx analyze --json` must report exactly the
# per-op counts, hits and misses that memcached's own stats deltas show.
# Usage: stats_match.sh SCENARIO   (pymemcache | memcslap-text | memcslap-binary | meta | mixed)
source "$(dirname "$0")/lib.sh"
SCEN=${1:?scenario}
need_root
need_cmd memcached tcpdump memcslap
topo_up 2
mc_start
run_pymemcache() { in_cli "$PY" "$HERE/pyclient.py" $SRV_IP $MC_PORT --ops 1500 --seed "$1" > "$TMPD/py.json" || fail "pyclient"; }
run_meta() { in_cli "$PY" "$HERE/metaclient.py" $SRV_IP $MC_PORT --ops 1500 --seed "$1" > "$TMPD/meta.json" || fail "metaclient"; }
run_slap() { # memcslap exits 0 even when it cannot connect: the stats deltas tell
    in_cli memcslap -s $SRV_IP:$MC_PORT "$@" > "$TMPD/slap.out" 2>&1 || true; }
clients() {
    case "$SCEN" in
        pymemcache) run_pymemcache 1 ;;
        memcslap-text)
            run_slap --test=set --execute-number=2000 --concurrency=4
            run_slap --test=get --execute-number=2000 --concurrency=4 ;;
        memcslap-binary)
            run_slap --binary --test=set --execute-number=2000 --concurrency=4
            run_slap --binary --test=get --execute-number=2000 --concurrency=4 ;;
        meta) run_meta 1 ;;
        mixed) # three protocols at once on separate connections
            run_pymemcache 2 & p1=$!
            run_meta 2 & p2=$!
            run_slap --binary --test=get --execute-number=1000 --concurrency=2
            wait $p1 || fail "pyclient"
            wait $p2 || fail "metaclient" ;;
        *) fail "unknown scenario $SCEN" ;;
    esac
}
stats_before() { mc_stats "$TMPD/before"; }
capture_retry "$TMPD/cap.pcap" clients stats_before
mc_stats "$TMPD/after"
"$MBX" record "$TMPD/cap.pcap" -o "$TMPD/cap.mbx" > "$TMPD/record.out" || fail "mbx record: $(cat "$TMPD/record.out")"
cat "$TMPD/record.out"
"$MBX" analyze "$TMPD/cap.mbx" --json "$TMPD/analysis.json" --no-text || fail "mbx analyze"
"$PY" "$HERE/check_stats.py" "$TMPD/before" "$TMPD/after" "$TMPD/analysis.json" || fail "stats mismatch ($SCEN)"
# the deltas must not be trivially zero
gets=$(awk '$1=="cmd_get"{print $2}' "$TMPD/after"); [ "${gets:-0}" -gt 100 ] || fail "too little traffic (cmd_get=$gets)"
echo "PASS stats_match $SCEN"
