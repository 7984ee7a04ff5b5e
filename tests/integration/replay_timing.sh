#!/bin/bash
# Timing: profiles with known gaps (pcaptool.py writes the captures: one
# connection doing get/END at exact times) are replayed while the SPAN port
# is captured; the request times in that capture must follow the schedule.
#
#   run 0  --speed 1           gaps of 1 ms .. 400 ms, as recorded
#   run 1  --speed 10          the same, ten times faster
#   run 2  --max-gap 50ms      gaps above 50 ms cut to 50 ms
#   run 3  --speed 10 --loop 2 everything twice (also memcached's cmd_get)
#   run 4  --rate 4000         3000 gets at 4000/s
#   run 5  --duration 700ms    a 3 s profile stops after 0.7 s
#
# Tolerance: every request within 2 ms of its intended time, gap by gap and
# as an offset from the first request (check_timing.py). Measured on the
# 2-core test VM, idle: worst 0.17 ms over 80 gaps at speed 1 and 10; with
# two CPU hogs running, speed 1 stayed within 1.7 ms. Rate within 3%
# (measured 0.02%).
# A busy host can stall the replay for tens or hundreds of ms (seen: 470 ms,
# with memcached stalled at the same time, while other jobs kept the 2 CPUs at
# a load of 5 to 8). A run that misses the tolerance is therefore repeated, at
# most 3 attempts, but only when the miss is explained: the replay's own send
# lag (actual - intended send time, in its report) is as large as the miss,
# i.e. the engine knew it was late because it did not get the CPU. A miss it
# does not explain (a wrong schedule, sent "on time" by the engine's own
# measure) fails at once. So does a median send lag above 200 us, unless
# heartbeat.py (a process sleeping 1 ms at a time next to the replay) was held
# more than the tolerance too. Still late after 3 attempts: SKIPPED (77),
# saying why. (At a load of 5, 2 of 30 runs needed a second attempt,
# with send lags of 17 and 95 ms; at a load of 8 from other jobs, the median
# send lag itself reached 142 ms.)
source "$(dirname "$0")/lib.sh"
source "$HERE/replay_lib.sh"
need_root
need_cmd memcached tcpdump
TOL_MS=2
AT=0,1,3,8,18,38,88,188,388,688,1088,1089,1091,1096,1106,1126,1176,1276,1476,1776,2176
"$PY" "$HERE/pcaptool.py" gen "$TMPD/gaps.pcap" --at-ms $AT || fail "pcaptool gen"
"$PY" "$HERE/pcaptool.py" gen "$TMPD/uniform.pcap" --count 3000 --every-us 1000 || fail "pcaptool gen"
"$MBX" record "$TMPD/gaps.pcap" -o "$TMPD/gaps.mbx" -q || fail "mbx record gaps"
"$MBX" record "$TMPD/uniform.pcap" -o "$TMPD/uniform.mbx" -q || fail "mbx record uniform"
topo_up 1
mc_start

do_run() {
    case $1 in
        0) replay r0 "$TMPD/gaps.mbx" --speed 1 ;;
        1) replay r1 "$TMPD/gaps.mbx" --speed 10 ;;
        2) replay r2 "$TMPD/gaps.mbx" --max-gap 50ms ;;
        3) mc_stats "$TMPD/before"
           replay r3 "$TMPD/gaps.mbx" --speed 10 --loop 2
           mc_stats "$TMPD/after" ;;
        4) replay r4 "$TMPD/uniform.mbx" --rate 4000 ;;
        5) replay r5 "$TMPD/uniform.mbx" --duration 700ms
           R5_MS=$ELAPSED_MS ;;
    esac
    [ "$RC" = 0 ] || fail "replay r$1: exit status $RC: $(cat "$TMPD/r$1.err")"
}

# check_run RUN CONN_INDEX LAG_US: 0 ok, 3 missed but explained by the
# replay's own send lag, else failed
check_run() {
    local run=$1 conn=$2 lag=$3
    ct() { "$PY" "$HERE/check_timing.py" "$TMPD/req.json" "$conn" "$@" --label "run $run" --lag-us "$lag"; }
    case $run in
        0) ct sched --at-ms $AT --speed 1 --tol-ms $TOL_MS ;;
        1) ct sched --at-ms $AT --speed 10 --tol-ms $TOL_MS ;;
        2) ct sched --at-ms $AT --max-gap-ms 50 --tol-ms $TOL_MS ;;
        3) ct sched --at-ms $AT --speed 10 --loops 2 --tol-ms $TOL_MS ;;
        4) ct rate --rate 4000 --count 3000 --tol 0.03 ;;
        # the events due in the first 700 ms (one per ms), then a stop; a
        # few of the last may be dropped if the stop comes first
        5) ct count --min 690 --max 700 ;;
    esac
}

todo="0 1 2 3 4 5"
late=0 lossy=0
for attempt in 1 2 3 4 5 6; do
    ip netns exec "$NS_CLI" "$PY" "$HERE/heartbeat.py" "$TMPD/heartbeat" & hb=$!
    cap_start "$TMPD/replay$attempt.pcap" --time-stamp-precision=nano tcp port $MC_PORT
    for r in $todo; do do_run "$r"; done
    cap_stop_lossy; caprc=$?
    kill -TERM $hb; wait $hb
    # tcpdump is the reference: a capture that lost packets proves nothing,
    # the same runs are done again (at most 3 such captures)
    if [ $caprc != 0 ]; then
        lossy=$((lossy + 1))
        [ $lossy -ge 3 ] && fail "tcpdump lost packets in 3 captures (last: $CAP_LOSS)"
        log "attempt $attempt: tcpdump lost packets ($CAP_LOSS); running again"
        continue
    fi
    stall=$(cat "$TMPD/heartbeat")
    log "attempt $attempt: the host held a 1 ms sleeper up to $stall us"
    "$PY" "$HERE/pcaptool.py" requests "$TMPD/replay$attempt.pcap" > "$TMPD/req.json" || fail "pcaptool requests"
    i=0; again=""
    for r in $todo; do
        lag=$(jget "$TMPD/r$r.report.json" 'd["lag"]["max_ns"] // 1000')
        p50=$(jget "$TMPD/r$r.report.json" 'd["lag"]["p50_ns"] // 1000')
        check_run "$r" $i "$lag"; rc=$?
        [ $rc = 0 ] || [ $rc = 3 ] || fail "run $r: off schedule (see above)"
        # not late as a rule: half of the sends within 200 us by the
        # replay's own measure, unless the host was seen to be busy
        if [ "$p50" -gt 200 ]; then
            [ "$stall" -gt $((TOL_MS * 1000)) ] ||
                fail "run $r: median send lag $p50 us on a host that was not busy (sleeper held $stall us)"
            rc=3
        fi
        if [ $rc = 3 ]; then
            log "run $r: late in attempt $attempt: send lag p50 $p50 us, max $lag us; sleeper held $stall us"
            again="$again $r"
        fi
        i=$((i + 1))
    done
    todo=$again
    [ -z "$todo" ] && break
    late=$((late + 1))
    [ $late -ge 3 ] && break
done
[ -z "$todo" ] ||
    skip "runs$todo: the host was too busy to run the replay on time in 3 attempts (see above)"

# --loop 2: memcached saw every get twice, the report says so
gets=$(( $(awk '$1=="cmd_get"{print $2}' "$TMPD/after") - $(awk '$1=="cmd_get"{print $2}' "$TMPD/before") ))
[ "$gets" = 42 ] || fail "--loop 2: memcached counted $gets gets, want 42"
[ "$(jget "$TMPD/r3.report.json" 'd["totals"]["sent"]')" = 42 ] || fail "--loop 2: report does not say 42 sent"
# a send lag for every request sent, taken when its bytes were written (or,
# never written because the run stopped, when it stopped: run 5)
for r in 0 1 2 3 4 5; do
    jget "$TMPD/r$r.report.json" 'd["lag"]["count"] == d["totals"]["requests"] > 0' | grep -qx True ||
        fail "run $r: $(jget "$TMPD/r$r.report.json" 'd["lag"]["count"]') send lags for $(jget "$TMPD/r$r.report.json" 'd["totals"]["requests"]') requests"
done
# --rate: the report's own view of the rate
jget "$TMPD/r4.report.json" 'abs(d["rate"]["requested_ops_per_sec"] - 4000) < 1 and abs(d["rate"]["sent_vs_requested"] - 1) < 0.03' |
    grep -qx True || fail "--rate 4000: report rate $(jget "$TMPD/r4.report.json" 'd["rate"]')"
# --duration: stopped in time (the whole profile takes 3 s), says interrupted
[ "$R5_MS" -lt 2000 ] || fail "--duration 700ms: the run took $R5_MS ms"
[ "$(jget "$TMPD/r5.report.json" 'd["run"]["interrupted"]')" = True ] || fail "--duration: report not marked interrupted"
[ "$(jget "$TMPD/r0.report.json" 'd["run"]["interrupted"]')" = False ] || fail "a complete run is marked interrupted"
log "--duration 700ms: the whole command took $R5_MS ms"
echo "PASS replay_timing"
