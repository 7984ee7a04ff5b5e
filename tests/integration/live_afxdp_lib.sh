# Helpers for the AF_XDP live-capture tests (sourced by live_afxdp_*.sh).
# The recorder runs in the monitor namespace on span_m, the SPAN port of
# lib.sh's topology: XDP on memcached's own interface would steal the
# packets it redirects.

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# lib.sh names the namespaces after $$; sessions in other pid namespaces
# share /run/netns (seen: ours deleted under us): add randomness.
NS_SUFFIX="$$x$RANDOM"
NS_SRV="mbxs$NS_SUFFIX"; NS_CLI="mbxc$NS_SUFFIX"; NS_MON="mbxm$NS_SUFFIX"

# Skip (77) unless root, namespaces and an mbx built with the AF_XDP backend.
afxdp_need() {
    need_root
    need_cmd memcached ethtool
    local out
    out=$("$MBX" record --iface mbx-no-such-if --backend afxdp -o /dev/null 2>&1)
    case "$out" in *"not built"*) skip "mbx was built without the AF_XDP backend (-Dafxdp)";; esac
}

# The XDP program attached to span_m ("" when none): "id NAME".
xdp_prog_on_span() {
    ip -n "$NS_MON" link show dev span_m | awk '/prog\/xdp/ {for (i = 1; i <= NF; i++) { if ($i == "id") id = $(i + 1); if ($i == "name") n = $(i + 1) } print id, n; exit}'
}

# Start `mbx record --backend afxdp` on span_m writing profile $1 (further
# arguments are passed on), and wait until it says it captures. Its pid is
# kept in CAP_PID so that lib.sh's cleanup stops it. Logs: $TMPD/rec.err
# (stderr, -v), $TMPD/rec.out (summary).
rec_start() {
    local out=$1; shift
    # a fresh log: the previous recorder's "capturing on" must not count
    rm -f "$TMPD/rec.err" "$TMPD/rec.out"
    ip netns exec "$NS_MON" "$MBX" record --iface span_m --backend afxdp -o "$out" \
        --status 200ms -v "$@" > "$TMPD/rec.out" 2> "$TMPD/rec.err" &
    CAP_PID=$!
    for _ in $(seq 200); do
        grep -q "capturing on span_m" "$TMPD/rec.err" 2>/dev/null && return 0
        kill -0 "$CAP_PID" 2>/dev/null || break
        sleep 0.05
    done
    fail "mbx record did not start: $(grep -v 'pkt/s' "$TMPD/rec.err" | tail -5)"
}

# Stop the recorder with SIGINT; it must exit 0.
rec_stop() {
    sleep 0.3 # let the mirror deliver the last packets
    kill -INT "$CAP_PID" 2>/dev/null
    wait "$CAP_PID"
    local rc=$?
    CAP_PID=""
    [ $rc = 0 ] || fail "mbx record exited $rc: $(grep -v 'pkt/s' "$TMPD/rec.err" | tail -5)"
}

# The same clients as stats_match.sh: pymemcache (text), the meta client
# (once per memcached: they model what they stored), memcslap text and
# binary. $1 = memcslap concurrency, $2 = "slap" for memcslap only.
run_clients() {
    local conc=${1:-4}
    if [ "${2:-}" != slap ]; then
        in_cli "$PY" "$HERE/pyclient.py" $SRV_IP $MC_PORT --ops 1500 --seed 1 > "$TMPD/py.json" || fail "pyclient"
        in_cli "$PY" "$HERE/metaclient.py" $SRV_IP $MC_PORT --ops 1500 --seed 1 > "$TMPD/meta.json" || fail "metaclient"
    fi
    # memcslap exits 0 even when it cannot connect: the stats deltas tell
    in_cli memcslap -s $SRV_IP:$MC_PORT --test=set --execute-number=2000 --concurrency="$conc" > /dev/null 2>&1 || true
    in_cli memcslap -s $SRV_IP:$MC_PORT --test=get --execute-number=2000 --concurrency="$conc" > /dev/null 2>&1 || true
    in_cli memcslap -s $SRV_IP:$MC_PORT --binary --test=set --execute-number=2000 --concurrency="$conc" > /dev/null 2>&1 || true
    in_cli memcslap -s $SRV_IP:$MC_PORT --binary --test=get --execute-number=2000 --concurrency="$conc" > /dev/null 2>&1 || true
}

# Counter $2 of the summary JSON $1.
counter() {
    "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["counters"][sys.argv[2]])' "$1" "$2"
}

# Analyse profile $1 (must be complete) and compare with memcached's stats
# deltas ($TMPD/before, $TMPD/after).
check_profile_stats() {
    "$MBX" analyze "$1" --strict --json "$TMPD/analysis.json" --no-text || fail "mbx analyze $1"
    "$PY" "$HERE/check_stats.py" "$TMPD/before" "$TMPD/after" "$TMPD/analysis.json" || fail "stats mismatch"
    local gets
    gets=$(awk '$1=="cmd_get"{print $2}' "$TMPD/after")
    [ "${gets:-0}" -gt 100 ] || fail "too little traffic (cmd_get=$gets)"
}

# The summary must show no loss of any kind the capture could cause.
check_no_loss() {
    local c v
    for c in src_drop_kernel src_drop_iface ring_full gaps rsp_orphan pair_mismatch parse_errors; do
        v=$(counter "$1" $c)
        [ "$v" = 0 ] || fail "counter $c = $v (expected 0)"
    done
}
