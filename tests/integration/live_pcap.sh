#!/bin/bash
# Live capture with the libpcap backend on the SPAN port: real clients, and
# memcached's stats deltas must equal the recording exactly.
# Usage: live_pcap.sh SCENARIO   (one-queue | fanout | sigint | sigkill | rotate)
source "$(dirname "$0")/lib.sh"
SCEN=${1:?scenario}
need_root
need_cmd memcached memcslap
topo_up 2
mc_start

REC_PID=""
rec_start() { # args: extra mbx record options; waits for the ready line
    ip netns exec "$NS_MON" "$MBX" record --iface span_m -o "$TMPD/live.mbx" --status 1s "$@" \
        > "$TMPD/rec.out" 2> "$TMPD/rec.err" &
    REC_PID=$!
    for _ in $(seq 100); do
        grep -q "capturing on span_m" "$TMPD/rec.err" 2>/dev/null && return 0
        kill -0 $REC_PID 2>/dev/null || fail "mbx record exited: $(cat "$TMPD/rec.err")"
        sleep 0.05
    done
    fail "mbx record did not become ready"
}
rec_stop() { # SIGINT, then the exit status
    sleep 0.5
    kill -INT $REC_PID
    local t=0
    while kill -0 $REC_PID 2>/dev/null; do
        sleep 0.1; t=$((t + 1)); [ $t -lt 100 ] || fail "mbx record did not stop within 10 s of SIGINT"
    done
    wait $REC_PID; local rc=$?; REC_PID=""
    [ $rc = 0 ] || fail "mbx record exited $rc: $(cat "$TMPD/rec.err")"
}
traffic() {
    in_cli "$PY" "$HERE/pyclient.py" $SRV_IP $MC_PORT --ops 800 --seed "$1" >/dev/null || fail pyclient
    in_cli "$PY" "$HERE/metaclient.py" $SRV_IP $MC_PORT --ops 800 --seed "$1" >/dev/null || fail metaclient
    in_cli memcslap -s $SRV_IP:$MC_PORT --binary --test=get --execute-number=500 --concurrency=4 >/dev/null 2>&1
    in_cli memcslap -s $SRV_IP:$MC_PORT --test=get --execute-number=500 --concurrency=4 >/dev/null 2>&1
}
check() {
    "$MBX" analyze "$1" --json "$TMPD/a.json" --no-text --strict || fail "analyze $1"
    "$PY" "$HERE/check_stats.py" "$TMPD/before" "$TMPD/after" "$TMPD/a.json" || fail "stats mismatch ($SCEN)"
}

case "$SCEN" in
one-queue|fanout)
    q=1; [ "$SCEN" = fanout ] && q=2
    mc_stats "$TMPD/before"
    rec_start --queues $q
    traffic 1
    rec_stop
    mc_stats "$TMPD/after"
    cat "$TMPD/rec.out"
    check "$TMPD/live.mbx" ;;
sigint)
    # SIGINT in the middle of traffic: the profile is complete (footer) and
    # holds what was captured up to the stop
    rec_start
    in_cli "$PY" "$HERE/pyclient.py" $SRV_IP $MC_PORT --ops 20000 --seed 2 >/dev/null &
    cp=$!
    sleep 1.5
    kill -INT $REC_PID; wait $REC_PID || fail "record exit status after SIGINT"
    REC_PID=""
    kill $cp 2>/dev/null; wait $cp 2>/dev/null
    "$MBX" analyze "$TMPD/live.mbx" --strict --json "$TMPD/a.json" --no-text || fail "profile not complete after SIGINT"
    n=$("$PY" -c "import json; print(json.load(open('$TMPD/a.json'))['summary']['events'])")
    [ "$n" -gt 100 ] || fail "only $n events before SIGINT" ;;
sigkill)
    # SIGKILL: no footer, but every complete block reads back (stats blocks
    # every second keep the counters)
    rec_start
    in_cli "$PY" "$HERE/pyclient.py" $SRV_IP $MC_PORT --ops 20000 --seed 3 >/dev/null &
    cp=$!
    sleep 2.5
    kill -KILL $REC_PID; wait $REC_PID 2>/dev/null; REC_PID=""
    kill $cp 2>/dev/null; wait $cp 2>/dev/null
    "$MBX" analyze "$TMPD/live.mbx" --json "$TMPD/a.json" --no-text 2> "$TMPD/an.err" || fail "killed profile unreadable: $(cat "$TMPD/an.err")"
    grep -q incomplete "$TMPD/an.err" || fail "a killed recording should read as incomplete"
    "$PY" - "$TMPD/a.json" <<'PYEOF' || fail "killed profile content"
import json, sys
a = json.load(open(sys.argv[1]))
assert a["summary"]["events"] > 100, a["summary"]["events"]
assert a["capture"]["counters"].get("pkts", 0) > 0, "no stats block survived"
PYEOF
    ;;
crash20)
    # SIGKILL at 20 random moments during live traffic. Every profile must
    # read back (incomplete), and hold at least the events its last stats
    # block says were written: the writer flushes the event block before each
    # stats block, so no block older than the last stats block may be lost
    # (the loss bound: the events of the block being filled plus those still
    # waiting in the pairing window; docs/profile-format.md).
    in_cli "$PY" "$HERE/pyclient.py" $SRV_IP $MC_PORT --ops 400000 --seed 9 >/dev/null &
    cp=$!
    for i in $(seq 20); do
        rm -f "$TMPD/live.mbx"
        rec_start --block-events 64
        sleep "$(awk -v s=$i 'BEGIN{srand(s); printf "%.2f", 0.3 + rand() * 1.7}')"
        kill -KILL $REC_PID; wait $REC_PID 2>/dev/null; REC_PID=""
        "$MBX" analyze "$TMPD/live.mbx" --json "$TMPD/a.json" --no-text 2>/dev/null \
            || fail "kill $i: profile unreadable"
        "$PY" - "$TMPD/a.json" "$i" <<'PYEOF' || fail "kill $i: lost more than the bound"
import json, sys
a = json.load(open(sys.argv[1]))
read = a["summary"]["events"]
written = a["capture"]["counters"].get("events", 0)  # last stats block
assert a["profile"]["state"] in ("incomplete", "complete"), a["profile"]["state"]
assert read >= written, "read %d < %d written before the last stats block" % (read, written)
print("kill %s: %d events read, %d counted by the last stats block" % (sys.argv[2], read, written))
PYEOF
    done
    kill $cp 2>/dev/null; wait $cp 2>/dev/null ;;
user)
    # --user: once the capture is open the recorder runs as nobody, with no
    # capabilities, and still records everything exactly
    mc_stats "$TMPD/before"
    rec_start --user nobody
    uid=$(awk '/^Uid:/{print $2}' /proc/$REC_PID/status)
    capeff=$(awk '/^CapEff:/{print $2}' /proc/$REC_PID/status)
    [ "$uid" = "$(id -u nobody)" ] || fail "still running as uid $uid"
    [ "$capeff" = 0000000000000000 ] || fail "capabilities left: $capeff"
    traffic 5
    rec_stop
    mc_stats "$TMPD/after"
    check "$TMPD/live.mbx" ;;
rotate)
    # small blocks and a limit well under the ~6k events (~190 KiB) of traffic:
    # several files whatever the timing of partial-block flushes
    rec_start --rotate 64k --block-events 256
    traffic 4
    rec_stop
    files=$(ls "$TMPD"/live.*.mbx | wc -l)
    [ "$files" -ge 2 ] || fail "expected several rotated profiles, got $files"
    total=0
    for f in "$TMPD"/live.*.mbx; do
        "$MBX" analyze "$f" --strict --json "$TMPD/r.json" --no-text || fail "rotated $f not complete"
        n=$("$PY" -c "import json; print(json.load(open('$TMPD/r.json'))['summary']['events'])")
        total=$((total + n))
    done
    [ "$total" -gt 1000 ] || fail "only $total events in $files files" ;;
*) fail "unknown scenario $SCEN" ;;
esac
echo "PASS live_pcap $SCEN"
