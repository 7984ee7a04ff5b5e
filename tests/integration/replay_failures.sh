#!/bin/bash
# Failure paths of `mbx replay`: it must never hang, must say what happened,
# exit with the right status and still print the report and write --json.
#
# Usage: replay_failures.sh SCENARIO
#   down    nothing listens on the target: "cannot connect" (short profile),
#           "cannot reach" after 5 s without a connection (long one), exit 1
#   killed  memcached is killed (SIGKILL) 1.5 s into a 20 s replay: the lost
#           connection, reconnect attempts and dropped events are counted,
#           "cannot reach" after 5 s without a connection, exit 1
#   errors  a server answering SERVER_ERROR / ERROR to everything: every
#           event completes as an error reply, per op, exit 1 (--max-errors)
#   silent  a server that accepts and never answers, --timeout 200ms: every
#           event times out or is lost with its connection, connections are
#           reopened, exit 1, no hang
#   garbage a server answering bytes that are no memcache reply: counted as
#           protocol errors, nothing completes, connections reopened, exit 1
#   midclose
#           a server that sends half a reply (VALUE header, part of the data)
#           and closes: the event is aborted, the connection reopened, exit 1
#   slow    a server answering correctly 2 ms after each request, behind a
#           1 ms schedule: every event completes (exit 0) and the latency,
#           measured from the intended send time, shows the backlog (no
#           coordinated omission): p99 >= 500 ms
#   sigint  SIGINT during --loop inf: stops within about --timeout, report
#           says INTERRUPTED, nothing counted as failed, exit 0 (cmd_replay.c:
#           an interrupted run that kept within --max-errors succeeded)
source "$(dirname "$0")/lib.sh"
source "$HERE/replay_lib.sh"
SCEN=${1:?scenario}
need_root
need_cmd memcached
topo_up 1
# 1000 events (get, set, get, ...) one per ms: 1 s; and a 20 s one
"$PY" "$HERE/pcaptool.py" gen "$TMPD/short.pcap" --count 1000 --every-us 1000 --sets || fail "pcaptool"
"$PY" "$HERE/pcaptool.py" gen "$TMPD/long.pcap" --count 20000 --every-us 1000 --sets || fail "pcaptool"
"$MBX" record "$TMPD/short.pcap" -o "$TMPD/short.mbx" -q || fail "record"
"$MBX" record "$TMPD/long.pcap" -o "$TMPD/long.mbx" -q || fail "record"
FS_PID=""
fake_start() {
    ip netns exec "$NS_SRV" "$PY" "$HERE/fakeserver.py" $SRV_IP $MC_PORT "$1" > "$TMPD/fake.out" &
    FS_PID=$!
    for _ in $(seq 100); do grep -q listening "$TMPD/fake.out" && return 0; sleep 0.05; done
    fail "fakeserver did not start"
}
trap '[ -n "$FS_PID" ] && kill $FS_PID 2>/dev/null; cleanup' EXIT

# the report is there in every case: text on stdout, JSON in the file
report_written() {
    grep -q '^TOTALS' "$TMPD/$1.out" || fail "$1: no report on stdout"
    [ "$(jget "$TMPD/$1.report.json" 'd["schema"]')" = mbx.replay/1 ] || fail "$1: no JSON report"
}
# jt NAME EXPR: the Python expression over the JSON report (d) must be true
jt() {
    [ "$(jget "$TMPD/$1.report.json" "$2")" = True ] ||
        fail "$1: not true: $2 (totals: $(jget "$TMPD/$1.report.json" 'd["totals"]'))"
}

case "$SCEN" in
down)
    # a 1 s profile ends before the give-up: the message says why nothing was sent
    replay down "$TMPD/short.mbx"
    [ "$RC" = 1 ] || fail "exit status $RC, want 1"
    [ "$ELAPSED_MS" -lt 5000 ] || fail "took $ELAPSED_MS ms"
    grep -q "cannot connect to $SRV_IP:$MC_PORT: Connection refused (nothing was sent)" "$TMPD/down.err" ||
        fail "message: $(cat "$TMPD/down.err")"
    report_written down
    jt down 'd["totals"]["sent"] == 0 and d["totals"]["completed"] == 0 and d["totals"]["connect_errors"] >= 3'
    # a 20 s profile: given up after 5 s without a connection
    replay down-long "$TMPD/long.mbx"
    [ "$RC" = 1 ] || fail "exit status $RC, want 1"
    [ "$ELAPSED_MS" -lt 10000 ] || fail "took $ELAPSED_MS ms"
    grep -q "cannot reach the target (no connection for 5 s): $SRV_IP:$MC_PORT: Connection refused" "$TMPD/down-long.err" ||
        fail "message: $(cat "$TMPD/down-long.err")"
    report_written down-long
    jt down-long 'd["totals"]["sent"] == 0 and d["totals"]["connect_errors"] >= 3 and d["run"]["interrupted"]'
    ;;
killed)
    mc_start
    ( sleep 1.5; kill -9 "$MC_PID" ) &
    replay killed "$TMPD/long.mbx" --timeout 500ms
    wait "$MC_PID" 2>/dev/null; MC_PID=""
    [ "$RC" = 1 ] || fail "exit status $RC, want 1"
    # 1.5 s, then 5 s without a connection (max(5 s, 3 x --timeout))
    [ "$ELAPSED_MS" -lt 10000 ] || fail "took $ELAPSED_MS ms"
    grep -q "cannot reach the target (no connection for 5 s): $SRV_IP:$MC_PORT: Connection refused" "$TMPD/killed.err" ||
        fail "message: $(cat "$TMPD/killed.err")"
    report_written killed
    jt killed 'd["totals"]["completed"] >= 1000 and d["totals"]["reconnects"] >= 1 and d["totals"]["connect_errors"] >= 1'
    jt killed 'd["totals"]["aborted"] >= 1000 and d["totals"]["errors"] == 0 and d["run"]["interrupted"]'
    # requests queued on the killed connections were never written: they
    # still have a send lag (until the failure), one per request
    jt killed 'd["lag"]["count"] == d["totals"]["requests"]'
    ;;
errors)
    fake_start errors
    replay errors "$TMPD/short.mbx" --speed 4
    [ "$RC" = 1 ] || fail "exit status $RC, want 1"
    grep -q "1000 of 1000 events failed" "$TMPD/errors.err" || fail "message: $(cat "$TMPD/errors.err")"
    report_written errors
    jt errors '{(o["op"], o["sent"], o["completed"], o["errors"]) for o in d["ops"]} == {("get", 500, 500, 500), ("set", 500, 500, 500)}'
    jt errors 'd["totals"]["outcomes"]["error"] == 500 and d["totals"]["outcomes"]["server_error"] == 500'
    jt errors 'd["totals"]["protocol_errors"] == 0 and d["totals"]["timeouts"] == 0'
    ;;
silent)
    fake_start silent
    replay silent "$TMPD/short.mbx" --timeout 200ms
    [ "$RC" = 1 ] || fail "exit status $RC, want 1"
    [ "$ELAPSED_MS" -lt 5000 ] || fail "took $ELAPSED_MS ms"
    grep -q "1000 of 1000 events failed" "$TMPD/silent.err" || fail "message: $(cat "$TMPD/silent.err")"
    report_written silent
    # every event timed out, or was due while its connection was being reopened
    jt silent 'd["totals"]["completed"] == 0 and d["totals"]["timeouts"] + d["totals"]["aborted"] == 1000'
    jt silent 'd["totals"]["timeouts"] >= 500 and d["totals"]["reconnects"] >= 3'
    ;;
garbage)
    fake_start garbage
    replay garbage "$TMPD/short.mbx" --timeout 200ms
    [ "$RC" = 1 ] || fail "exit status $RC, want 1"
    [ "$ELAPSED_MS" -lt 5000 ] || fail "took $ELAPSED_MS ms"
    grep -q "1000 of 1000 events failed" "$TMPD/garbage.err" || fail "message: $(cat "$TMPD/garbage.err")"
    report_written garbage
    jt garbage 'd["totals"]["protocol_errors"] >= 100 and d["totals"]["completed"] == 0'
    # (how many reconnects fit in the 1 s run depends on timing: at least one)
    jt garbage 'd["totals"]["timeouts"] + d["totals"]["aborted"] == 1000 and d["totals"]["reconnects"] >= 1'
    ;;
midclose)
    fake_start midclose
    replay midclose "$TMPD/short.mbx" --timeout 200ms
    [ "$RC" = 1 ] || fail "exit status $RC, want 1"
    [ "$ELAPSED_MS" -lt 5000 ] || fail "took $ELAPSED_MS ms"
    report_written midclose
    jt midclose 'd["totals"]["completed"] == 0 and d["totals"]["aborted"] + d["totals"]["timeouts"] == 1000'
    jt midclose 'd["totals"]["reconnects"] >= 3'
    ;;
slow)
    fake_start slow
    replay slow "$TMPD/short.mbx"
    [ "$RC" = 0 ] || fail "exit status $RC, want 0: $(cat "$TMPD/slow.err")"
    [ "$ELAPSED_MS" -lt 10000 ] || fail "took $ELAPSED_MS ms"
    report_written slow
    jt slow 'd["totals"]["completed"] == 1000 and d["totals"]["timeouts"] == 0 and d["totals"]["aborted"] == 0'
    # 1000 requests due 1 ms apart, served 2 ms apart: the last waits about
    # 1 s behind its schedule; latency from the intended time must show it
    jt slow 'max(o["latency"]["p99_ns"] or 0 for o in d["ops"]) >= 500e6'
    ;;
sigint)
    mc_start
    ip netns exec "$NS_CLI" "$MBX" replay "$TMPD/long.mbx" -t $SRV_IP:$MC_PORT --loop inf --rate 5000 \
        --timeout 500ms --json "$TMPD/sigint.report.json" > "$TMPD/sigint.out" 2> "$TMPD/sigint.err" &
    pid=$!
    sleep 2
    kill -INT $pid
    t0=$(date +%s%N)
    wait $pid; RC=$?
    ms=$(( ($(date +%s%N) - t0) / 1000000 ))
    log "exit $RC ${ms} ms after SIGINT"
    [ "$RC" = 0 ] || fail "exit status $RC, want 0: $(cat "$TMPD/sigint.err")"
    [ "$ms" -lt 1500 ] || fail "took $ms ms to stop (--timeout 500ms)"
    grep -q "stopping" "$TMPD/sigint.err" || fail "no 'stopping' message: $(cat "$TMPD/sigint.err")"
    grep -q "INTERRUPTED" "$TMPD/sigint.out" || fail "report does not say INTERRUPTED"
    report_written sigint
    jt sigint 'd["run"]["interrupted"] and d["totals"]["sent"] >= 5000 and d["totals"]["completed"] == d["totals"]["sent"]'
    jt sigint 'd["totals"]["aborted"] == 0 and d["totals"]["timeouts"] == 0 and d["totals"]["unfinished"] == 0'
    ;;
*) fail "unknown scenario $SCEN" ;;
esac
echo "PASS replay_failures $SCEN"
