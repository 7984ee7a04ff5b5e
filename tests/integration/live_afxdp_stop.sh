#!/bin/bash
# Stopping an AF_XDP recorder in every way leaves a readable profile and the
# interface usable:
#  - SIGINT mid-capture: a complete profile, no XDP program left on span_m;
#  - SIGINT at any moment of setup: no XDP program left;
#  - SIGKILL mid-capture: a profile that reads back (incomplete), and no
#    program left (it is attached through a BPF link, which dies with the
#    process); the next recorder attaches;
#  - SIGKILL of a recorder attached through netlink (MBX_AFXDP_NETLINK=1, as
#    on kernels without XDP links): its program stays (stale); the next
#    recorder recognises it as mbx's with a dead owner, replaces it, and
#    captures;
#  - a second recorder on an interface a live one uses fails, leaving the
#    first one alone.
source "$(dirname "$0")/live_afxdp_lib.sh"
# both queues of the veth: a connection's packets may use either
afxdp_need
need_cmd memcslap memcaslap
topo_up 2
mc_start

# traffic until stopped: memcslap in the client namespace
SLAP_PID=""
slap_start() {
    # ip netns exec execs memcaslap: $! is memcaslap itself
    ip netns exec "$NS_CLI" memcaslap -s $SRV_IP:$MC_PORT -t 60s -T 1 -c 4 > /dev/null 2>&1 &
    SLAP_PID=$!
}
slap_stop() {
    [ -n "$SLAP_PID" ] || return 0
    kill "$SLAP_PID" 2>/dev/null; wait "$SLAP_PID" 2>/dev/null; SLAP_PID=""
}
# wait until the recorder's status line reports events (and a stats block
# was written: blocks are flushed every second)
wait_events() {
    for _ in $(seq 100); do
        n=$(grep -o "events [0-9]*" "$TMPD/rec.err" | tail -1 | awk '{print $2}')
        [ "${n:-0}" -gt 100 ] && { sleep 1.2; return 0; }
        sleep 0.05
    done
    fail "the recorder reports no events: $(tail -3 "$TMPD/rec.err")"
}
state_of() { # profile state from mbx analyze --json
    "$MBX" analyze "$1" --json "$TMPD/a.json" --no-text 2> "$TMPD/analyze.err" || return 1
    "$PY" -c 'import json,sys; a=json.load(open(sys.argv[1])); print(a["profile"]["state"], a["summary"]["events"])' "$TMPD/a.json"
}
no_xdp() {
    [ -z "$(xdp_prog_on_span)" ] || fail "$1: an XDP program is left on span_m: $(xdp_prog_on_span)"
}

log "SIGINT mid-capture"
rec_start "$TMPD/int.mbx" --queues 2
slap_start
wait_events
kill -INT "$CAP_PID"; wait "$CAP_PID"; rc=$?; CAP_PID=""
slap_stop
[ $rc = 0 ] || fail "SIGINT: mbx record exited $rc"
read -r st ev <<< "$(state_of "$TMPD/int.mbx")" || fail "SIGINT: profile unreadable"
[ "$st" = complete ] && [ "$ev" -gt 100 ] || fail "SIGINT: profile $st with $ev events"
"$MBX" analyze "$TMPD/int.mbx" --strict --no-text || fail "SIGINT: analyze --strict"
no_xdp "after SIGINT"

log "SIGINT during setup"
for d in 0 0.005 0.01 0.02 0.05 0.1; do
    ip netns exec "$NS_MON" "$MBX" record --iface span_m --backend afxdp --queues 2 -o "$TMPD/early.mbx" -q > /dev/null 2>&1 &
    pid=$!
    # signal mbx itself, never the shell forked for it: until it execs,
    # that child runs this script's EXIT trap (which would tear down the
    # namespaces) when a signal kills it
    for _ in $(seq 200); do [ "$(cat /proc/$pid/comm 2>/dev/null)" = mbx ] && break; sleep 0.005; done
    sleep $d
    kill -INT $pid 2>/dev/null
    # A SIGINT that arrives after mbx installed its handler but before
    # mbx_live_run() clears the stop flag is lost (a race in live.c, reported
    # to the lead): then a second one stops it. What this test checks is
    # that no program is left whenever the signal lands.
    for _ in $(seq 40); do kill -0 $pid 2>/dev/null || break; sleep 0.05; done
    if kill -0 $pid 2>/dev/null; then
        log "NOTE: SIGINT after ${d}s was not acted on (background jobs start with SIGINT ignored until mbx installs its handler, or the live.c race); sending another"
        kill -INT $pid
    fi
    wait $pid
    no_xdp "SIGINT after ${d}s"
done

log "SIGKILL mid-capture"
rec_start "$TMPD/kill.mbx" --queues 2
slap_start
wait_events
kill -KILL "$CAP_PID"; wait "$CAP_PID" 2>/dev/null; CAP_PID=""
slap_stop
read -r st ev <<< "$(state_of "$TMPD/kill.mbx")" || fail "SIGKILL: profile unreadable: $(cat "$TMPD/analyze.err")"
[ "$st" = incomplete ] && [ "$ev" -gt 0 ] || fail "SIGKILL: profile $st with $ev events"
no_xdp "after SIGKILL (BPF link)"
rec_start "$TMPD/after-kill.mbx" --queues 2
in_cli memcslap -s $SRV_IP:$MC_PORT --test=get --execute-number=500 --concurrency=2 > /dev/null 2>&1
rec_stop
read -r st ev <<< "$(state_of "$TMPD/after-kill.mbx")"
[ "$st" = complete ] && [ "$ev" -ge 1000 ] || fail "recorder after SIGKILL: profile $st with $ev events"
no_xdp "after the recorder that followed SIGKILL"

log "SIGKILL of a netlink-attached recorder: stale program"
MBX_AFXDP_NETLINK=1 rec_start "$TMPD/nl.mbx" --queues 2
grep -q "(netlink)" "$TMPD/rec.err" || fail "MBX_AFXDP_NETLINK=1 did not attach through netlink"
kill -KILL "$CAP_PID"; wait "$CAP_PID" 2>/dev/null; CAP_PID=""
stale=$(xdp_prog_on_span)
[ "$(echo "$stale" | awk '{print $2}')" = mbx_afxdp ] || fail "expected a stale mbx_afxdp on span_m, found '$stale'"
rec_start "$TMPD/after-stale.mbx" --queues 2
grep -q "removed a stale mbx XDP program (id $(echo "$stale" | awk '{print $1}'))" "$TMPD/rec.err" || fail "stale program not reported: $(head -5 "$TMPD/rec.err")"
in_cli memcslap -s $SRV_IP:$MC_PORT --test=get --execute-number=500 --concurrency=2 > /dev/null 2>&1
rec_stop
read -r st ev <<< "$(state_of "$TMPD/after-stale.mbx")"
[ "$st" = complete ] && [ "$ev" -ge 1000 ] || fail "recorder after the stale program: profile $st with $ev events"
no_xdp "after replacing the stale program"

log "a second recorder while one is live (netlink-attached: only the owner check protects it)"
MBX_AFXDP_NETLINK=1 rec_start "$TMPD/first.mbx" --queues 2
first=$CAP_PID
before=$(xdp_prog_on_span)
ip netns exec "$NS_MON" "$MBX" record --iface span_m --backend afxdp --queues 2 -o "$TMPD/second.mbx" -q > "$TMPD/second.out" 2>&1
rc=$?
cat "$TMPD/second.out"
[ $rc != 0 ] || fail "a second recorder on the same interface succeeded"
grep -q "another mbx recorder (pid $first)" "$TMPD/second.out" || fail "the second recorder does not name the first (pid $first)"
[ "$(xdp_prog_on_span)" = "$before" ] || fail "the second recorder changed the attached program"
kill -0 "$first" || fail "the first recorder died"
in_cli memcslap -s $SRV_IP:$MC_PORT --test=get --execute-number=500 --concurrency=2 > /dev/null 2>&1
rec_stop
read -r st ev <<< "$(state_of "$TMPD/first.mbx")"
[ "$st" = complete ] && [ "$ev" -ge 1000 ] || fail "first recorder: profile $st with $ev events"
no_xdp "after the netlink-attached recorder stopped"
echo "PASS live_afxdp_stop"
