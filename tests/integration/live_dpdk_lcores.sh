#!/bin/bash
# DPDK backend, more capture workers than CPUs. The workers are mbx's
# pthreads (not EAL lcores), pinned by mbx's --lcores to CPUs; EAL gets one
# main lcore. On a 2-CPU machine:
#   pinned     --lcores 0-1,0-1: 4 workers, 2 per CPU, polling 4 queues of
#              net_null (an RSS device: RSS is configured) that never run dry.
#              Proves: each worker is pinned where asked, the main and writer
#              threads keep the process' CPU set (EAL pins the thread that
#              calls rte_eal_init; the backend restores it, or every thread
#              started after it would share the main lcore's CPU), 4 busy
#              pollers on 2 CPUs all make progress and stop on --duration, and
#              the profile is complete.
#   unpinned   --lcores naming 4 CPUs that do not exist (like 2-5 here): each
#              worker warns that it cannot be pinned and runs unpinned; all 4
#              queues are polled.
# (live_dpdk_pcap.sh queues4 checks exact results with 4 workers on 2 CPUs.)
source "$(dirname "$0")/lib.sh"
source "$HERE/live_dpdk_lib.sh"
MODE=${1:?mode}
need_dpdk
ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || skip "needs 2 CPUs"

case "$MODE" in
    pinned) LC=0-1,0-1 ;;
    unpinned) LC=$ncpu-$((ncpu + 3)) ;;
    *) fail "unknown mode $MODE" ;;
esac
"$MBX" record -v --backend dpdk --iface net_null0 --lcores "$LC" --duration 3s --buffer-size 16M \
    -o "$TMPD/n.mbx" -- "${EAL_BASE[@]}" --vdev=net_null0 > "$TMPD/rec.out" 2> "$TMPD/rec.err" &
CAP_PID=$!
for _ in $(seq 100); do
    grep -q "pkt/s" "$TMPD/rec.err" && break
    sleep 0.05
done
grep -q "pkt/s" "$TMPD/rec.err" || fail "mbx record did not start: $(grep -v '^EAL' "$TMPD/rec.err" | tail)"
# thread name, allowed CPUs
for t in /proc/$CAP_PID/task/*; do
    echo "$(cat "$t/comm") $(awk '/Cpus_allowed_list/{print $2}' "$t/status") ${t##*/}"
done > "$TMPD/threads"
cat "$TMPD/threads"
PID=$CAP_PID
wait $CAP_PID; rc=$?; CAP_PID=""
grep -v '^EAL' "$TMPD/rec.err" | grep -v pkt/s
[ $rc = 0 ] || fail "mbx record exited $rc"
for i in 0 1 2 3; do
    grep -q "queue $i: [1-9][0-9]* packets" "$TMPD/rec.err" || fail "queue $i was not polled"
done
grep -q "net_null, 4 queues, RSS" "$TMPD/rec.err" || fail "RSS was not configured on net_null"
"$MBX" inspect --strict "$TMPD/n.mbx" > /dev/null || fail "incomplete profile"
all=$(awk '/Cpus_allowed_list/{print $2}' /proc/self/status)
main=$(awk -v p=$PID '$3 == p {print $2}' "$TMPD/threads")
[ "$main" = "$all" ] || fail "main thread allowed on '$main', expected the process set '$all'"
if [ "$MODE" = pinned ]; then
    on0=$(awk '$1 == "mbx" && $2 == "0"' "$TMPD/threads" | wc -l)
    on1=$(awk '$1 == "mbx" && $2 == "1"' "$TMPD/threads" | wc -l)
    [ "$on0" = 2 ] && [ "$on1" = 2 ] || fail "expected 2 workers on CPU 0 and 2 on CPU 1 (got $on0, $on1)"
    writer=$(awk -v p=$PID -v all="$all" '$1 == "mbx" && $3 != p && $2 == all' "$TMPD/threads" | wc -l)
    [ "$writer" -ge 1 ] || fail "the writer thread does not have the process' CPU set"
else
    n=$(grep -c "cannot pin to CPU" "$TMPD/rec.err")
    [ "$n" = 4 ] || fail "expected 4 'cannot pin' warnings, got $n"
    pinned=$(awk -v p=$PID -v all="$all" '$1 == "mbx" && $3 != p && $2 != all' "$TMPD/threads" | wc -l)
    [ "$pinned" = 0 ] || fail "$pinned threads are restricted (EAL's main lcore pin leaked?)"
fi
echo "PASS live_dpdk_lcores $MODE"
