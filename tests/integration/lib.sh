# Shared helpers for integration tests (sourced by the test scripts).
# Tests that need root/namespaces exit 77 (meson's "skipped") when they cannot
# run, saying why.

set -u

MBX=${MBX:-mbx}
PY=/usr/bin/python3
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TMPD=$(mktemp -d /tmp/mbx-it.XXXXXX)
NS_SUFFIX="$$"
NS_SRV="mbxs$NS_SUFFIX"; NS_CLI="mbxc$NS_SUFFIX"; NS_MON="mbxm$NS_SUFFIX"
SRV_IP=10.99.0.1; CLI_IP=10.99.0.2
MC_PORT=11211
MC_PID=""
CAP_PID=""
TOPO_UP=0

log()  { echo "[$(date +%T)] $*" >&2; }
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*" >&2; exit 77; }

need_root() {
    [ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
    ip netns add "mbxprobe$$" 2>/dev/null || skip "cannot create network namespaces here"
    ip netns del "mbxprobe$$"
}

need_cmd() {
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || skip "$c is not installed"
    done
}

cleanup() {
    set +e
    [ -n "$CAP_PID" ] && kill "$CAP_PID" 2>/dev/null && wait "$CAP_PID" 2>/dev/null
    # Any other background job still running (a client, a heartbeat, a fake
    # server) would keep the test's stdout open, and meson waits for it until
    # the test times out: a failing test would hang instead of failing.
    local j jobs_left
    jobs_left=$(jobs -p)
    for j in $jobs_left; do [ "$j" = "$MC_PID" ] || kill "$j" 2>/dev/null; done
    for j in $jobs_left; do
        [ "$j" = "$MC_PID" ] && continue
        for _ in $(seq 20); do kill -0 "$j" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$j" 2>/dev/null
    done
    if [ -n "$MC_PID" ]; then
        kill "$MC_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$MC_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$MC_PID" 2>/dev/null
        wait "$MC_PID" 2>/dev/null
    fi
    if [ "$TOPO_UP" = 1 ]; then
        ip netns del "$NS_SRV" 2>/dev/null
        ip netns del "$NS_CLI" 2>/dev/null
        ip netns del "$NS_MON" 2>/dev/null
    fi
    [ -n "${KEEP_TMP:-}" ] || rm -rf "$TMPD"
}
trap cleanup EXIT

# Server, client and monitor namespaces; the server's interface is mirrored
# (both directions) to span_m in the monitor namespace, like a SPAN port.
# $1 = number of queues on every veth (default 2).
topo_up() {
    local q=${1:-2}
    ip netns add "$NS_SRV" && ip netns add "$NS_CLI" && ip netns add "$NS_MON" || fail "netns add"
    TOPO_UP=1
    ip link add vs numtxqueues "$q" numrxqueues "$q" netns "$NS_SRV" type veth peer name vc \
        numtxqueues "$q" numrxqueues "$q" netns "$NS_CLI" || fail "veth vs/vc"
    ip link add span_s numtxqueues "$q" numrxqueues "$q" netns "$NS_SRV" type veth peer name span_m \
        numtxqueues "$q" numrxqueues "$q" netns "$NS_MON" || fail "veth span"
    for n in "$NS_SRV" "$NS_CLI" "$NS_MON"; do ip -n "$n" link set lo up; done
    ip -n "$NS_SRV" addr add $SRV_IP/24 dev vs; ip -n "$NS_SRV" link set vs up
    ip -n "$NS_CLI" addr add $CLI_IP/24 dev vc; ip -n "$NS_CLI" link set vc up
    ip -n "$NS_SRV" link set span_s up; ip -n "$NS_MON" link set span_m up
    # MTU-sized frames, like a real wire
    ip netns exec "$NS_SRV" ethtool -K vs tso off gso off gro off >/dev/null 2>&1
    ip netns exec "$NS_CLI" ethtool -K vc tso off gso off gro off >/dev/null 2>&1
    ip netns exec "$NS_SRV" ethtool -K span_s tso off gso off gro off >/dev/null 2>&1
    tc -n "$NS_SRV" qdisc add dev vs clsact || fail "clsact"
    tc -n "$NS_SRV" filter add dev vs ingress protocol all u32 match u32 0 0 action mirred egress mirror dev span_s || fail "mirred ingress"
    tc -n "$NS_SRV" filter add dev vs egress protocol all u32 match u32 0 0 action mirred egress mirror dev span_s || fail "mirred egress"
}

# memcached in the server namespace, foreground, tracked by pid.
mc_start() {
    ip netns exec "$NS_SRV" memcached -u root -l $SRV_IP -p $MC_PORT -U 0 -t 2 -m 64 "$@" &
    MC_PID=$!
    for _ in $(seq 100); do
        ip netns exec "$NS_CLI" bash -c "exec 3<>/dev/tcp/$SRV_IP/$MC_PORT" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "memcached did not start"
}

# stats as "name value" lines into file $1
mc_stats() {
    ip netns exec "$NS_CLI" "$PY" "$HERE/mcstats.py" $SRV_IP $MC_PORT > "$1" || fail "stats"
}

# Capture in the monitor namespace with tcpdump; waits until it listens.
cap_start() {
    local out=$1; shift
    # immediate mode: without it, packets still in the kernel ring when
    # tcpdump is stopped are lost (seen: 149 of 5601)
    ip netns exec "$NS_MON" tcpdump -i span_m -s 0 -B 131072 -U --immediate-mode -w "$out" "$@" 2> "$TMPD/tcpdump.err" &
    CAP_PID=$!
    for _ in $(seq 100); do
        grep -q "listening on" "$TMPD/tcpdump.err" 2>/dev/null && return 0
        sleep 0.05
    done
    fail "tcpdump did not start: $(cat "$TMPD/tcpdump.err")"
}

cap_stop() { cap_stop_lossy || fail "tcpdump lost packets ($CAP_LOSS)"; }

# The same, but returns 1 (CAP_LOSS says what was lost) instead of failing
# when tcpdump itself dropped packets, for tests that capture again.
cap_stop_lossy() {
    sleep 0.5 # let the mirror deliver the last packets
    # On a loaded machine tcpdump may not have read the last packets of its
    # ring yet, and late packets (delayed ACKs, FINs) may still come: ask for
    # its counters (SIGUSR1) until it has processed all it received and
    # nothing new arrived for 3 polls in a row, then stop it (seen without
    # this: received 10615, captured 10614; received 5704, captured 5703).
    local info rcv0="" same=0
    for _ in $(seq 150); do
        kill -USR1 "$CAP_PID" 2>/dev/null || break
        sleep 0.05
        info=$(grep "packets captured, " "$TMPD/tcpdump.err" | tail -1)
        if [ -n "$info" ] && [ "$(awk '{print $2}' <<<"$info")" = "$(awk '{print $5}' <<<"$info")" ]; then
            if [ "$(awk '{print $5}' <<<"$info")" = "$rcv0" ]; then
                same=$((same + 1))
                [ $same -ge 3 ] && break
            else
                same=0
            fi
            rcv0=$(awk '{print $5}' <<<"$info")
        else
            same=0
        fi
        sleep 0.05
    done
    kill -INT "$CAP_PID" 2>/dev/null
    wait "$CAP_PID" 2>/dev/null
    CAP_PID=""
    # The reference capture itself must be complete, or the test proves nothing.
    local rcv cap drop
    rcv=$(awk '/^[0-9]+ packets received by filter/{print $1}' "$TMPD/tcpdump.err")
    cap=$(awk '/^[0-9]+ packets captured/{print $1}' "$TMPD/tcpdump.err")
    drop=$(awk '/^[0-9]+ packets dropped by kernel/{print $1}' "$TMPD/tcpdump.err")
    CAP_LOSS="received $rcv, captured $cap, dropped $drop"
    [ "$rcv" = "$cap" ] && [ "$drop" = 0 ]
}

# mc_stop: memcached is down (e.g. the target of the next replay)
mc_stop() {
    if [ -n "$MC_PID" ]; then
        kill "$MC_PID" 2>/dev/null
        wait "$MC_PID" 2>/dev/null
        MC_PID=""
    fi
}

# mc_restart [ARGS]: a fresh memcached (empty cache, stats from zero)
mc_restart() { mc_stop; mc_start "$@"; }

# capture_retry OUT FUNC [PREP]: capture the SPAN port (memcached's port) to OUT
# while FUNC runs. tcpdump is the reference a test compares against: if it
# lost packets (seen on a loaded machine: "received 7709, captured 7708"), the
# capture proves nothing, so memcached is restarted (the clients expect an
# empty cache) and FUNC runs again, at most 3 times. FUNC must start from
# scratch each time (it is called with the attempt number). PREP, if given,
# runs before each capture starts (e.g. taking memcached's stats).
capture_retry() {
    local out=$1 fn=$2 prep=${3:-} try
    for try in 1 2 3; do
        rm -f "$out"
        [ $try -gt 1 ] && mc_restart
        [ -n "$prep" ] && "$prep" "$try"
        cap_start "$out" tcp port $MC_PORT
        "$fn" "$try"
        cap_stop_lossy && return 0
        [ $try = 3 ] && fail "tcpdump lost packets in 3 captures (last: $CAP_LOSS)"
        log "capture $try: tcpdump lost packets ($CAP_LOSS); capturing again from a fresh memcached"
    done
}

in_cli() { ip netns exec "$NS_CLI" "$@"; }
