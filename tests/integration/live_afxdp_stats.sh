#!/bin/bash
# AF_XDP live capture of real clients (pymemcache, meta, memcslap text and
# binary) on the SPAN port, in XDP mode $1 (skb | drv): memcached's own stats
# deltas must equal what `mbx analyze --json` reports, with no loss of any
# kind, and the program must be gone from the interface afterwards.
# Usage: live_afxdp_stats.sh MODE
source "$(dirname "$0")/live_afxdp_lib.sh"
MODE=${1:?xdp mode}
afxdp_need
need_cmd memcslap
topo_up 2
mc_start
mc_stats "$TMPD/before"
rec_start "$TMPD/live.mbx" --xdp-mode "$MODE" --queues 2 --summary-json "$TMPD/sum.json"
grep -q "attached in $MODE mode" "$TMPD/rec.err" || fail "not attached in $MODE mode: $(head -5 "$TMPD/rec.err")"
[ "$(xdp_prog_on_span | awk '{print $2}')" = mbx_afxdp ] || fail "mbx_afxdp is not on span_m while recording"
run_clients 4
rec_stop
mc_stats "$TMPD/after"
cat "$TMPD/rec.out"
grep -E "afxdp|AF_XDP" "$TMPD/rec.err" | grep -v pkt/s
check_profile_stats "$TMPD/live.mbx"
check_no_loss "$TMPD/sum.json"
[ -z "$(xdp_prog_on_span)" ] || fail "an XDP program is still attached after the recorder exited: $(xdp_prog_on_span)"
echo "PASS live_afxdp_stats $MODE"
