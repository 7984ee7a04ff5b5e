#!/bin/bash
# DPDK backend stopped by a signal in the middle of live traffic: mbx record
# must exit 0 within seconds (workers see the stop between bursts, the port
# is stopped and EAL cleaned up) and leave a complete profile: `mbx inspect
# --strict` reads every event, `mbx analyze` reports it complete.
# Usage: live_dpdk_sigint.sh SIGNAL   (INT | TERM)
source "$(dirname "$0")/lib.sh"
source "$HERE/live_dpdk_lib.sh"
SIG=${1:-INT}
need_root
need_dpdk
need_cmd memcached memcaslap
topo_up 2
mc_start

ip netns exec "$NS_MON" "$MBX" record --backend dpdk --iface net_af_packet0 --queues 2 \
    --buffer-size 16M -o "$TMPD/dp.mbx" -- "${EAL_BASE[@]}" \
    --vdev=net_af_packet0,iface=span_m,qpairs=2,framecnt=4096 \
    > "$TMPD/rec.out" 2> "$TMPD/rec.err" &
CAP_PID=$!
for _ in $(seq 150); do
    grep -q "pkt/s" "$TMPD/rec.err" && break
    sleep 0.05
done
grep -q "pkt/s" "$TMPD/rec.err" || fail "mbx record (dpdk) did not start: $(cat "$TMPD/rec.err")"
# traffic that outlasts the capture
in_cli memcaslap -s $SRV_IP:$MC_PORT -t 20s -T 1 -c 8 \
    > /dev/null 2>&1 &
SLAP=$!
sleep 2
kill -"$SIG" $CAP_PID
t0=$(date +%s%N)
for _ in $(seq 100); do kill -0 $CAP_PID 2>/dev/null || break; sleep 0.1; done
kill -0 $CAP_PID 2>/dev/null && fail "mbx record still running 10 s after SIG$SIG"
wait $CAP_PID; rc=$?; CAP_PID=""
ms=$((($(date +%s%N) - t0) / 1000000))
kill $SLAP 2>/dev/null; wait $SLAP 2>/dev/null
cat "$TMPD/rec.out"
echo "exited $ms ms after SIG$SIG"
[ $rc = 0 ] || fail "mbx record exited $rc after SIG$SIG: $(grep -v '^EAL' "$TMPD/rec.err" | tail -5)"
"$MBX" inspect --strict -f csv "$TMPD/dp.mbx" > "$TMPD/ev.csv" || fail "profile incomplete or corrupt"
n=$(($(wc -l < "$TMPD/ev.csv") - 1))
[ "$n" -gt 1000 ] || fail "only $n events in the profile"
"$MBX" analyze "$TMPD/dp.mbx" > "$TMPD/analyze.txt" || fail "mbx analyze"
grep -q "profile   complete" "$TMPD/analyze.txt" || fail "analyze: $(head -3 "$TMPD/analyze.txt")"
echo "PASS live_dpdk_sigint $SIG ($n events)"
