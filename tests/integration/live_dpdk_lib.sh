# shellcheck shell=bash disable=SC2034
# Helpers for the DPDK backend tests (sourced after lib.sh). DPDK runs here
# without NIC hardware: --no-huge --no-pci and virtual devices (net_pcap,
# net_af_packet, net_null); docs/deployment.md "## DPDK".

EAL_BASE=(--no-huge --no-pci)
GEN=${MBX_GENCAP:-}
SALT=00112233445566778899aabbccddeeff

# Skip (77) unless this mbx has the DPDK backend and we are root.
need_dpdk() {
    [ "$(id -u)" = 0 ] || skip "needs root (DPDK EAL)"
    local out
    # --first-queue is rejected by the backend before EAL starts: a cheap
    # probe that tells "built" from "not built"
    out=$("$MBX" record --iface probe0 --backend dpdk --first-queue 1 -o "$TMPD/probe.mbx" 2>&1)
    case "$out" in
        *"not built"*) skip "mbx was built without DPDK (-Ddpdk=enabled needs libdpdk-dev)" ;;
        *"first-queue"*) ;;
        *) fail "unexpected answer from the DPDK probe: $out" ;;
    esac
}

# dpdk_record OUT.mbx LOG MBX-OPTIONS... -- EAL-ARGS...
# mbx record with the DPDK backend and a fixed salt, -v (its EAL line and
# per-queue costs go to LOG); fails the test on a non-zero exit.
dpdk_record() {
    local out=$1 log=$2; shift 2
    "$MBX" record -v --salt "$SALT" --backend dpdk --status 0 -o "$out" "$@" > "$log.out" 2> "$log" ||
        fail "mbx record (dpdk) failed: $(grep -v '^EAL' "$log" | tail -5)"
}

# Same events, byte for byte, in `mbx inspect -f csv`.
same_csv() {
    "$MBX" inspect -f csv --strict "$1" > "$TMPD/a.csv" || fail "inspect $1"
    "$MBX" inspect -f csv --strict "$2" > "$TMPD/b.csv" || fail "inspect $2"
    [ "$(wc -l < "$TMPD/a.csv")" -gt 1 ] || fail "no events in $1"
    cmp -s "$TMPD/a.csv" "$TMPD/b.csv" ||
        fail "events differ: $1 vs $2: $(diff "$TMPD/a.csv" "$TMPD/b.csv" | head -6)"
}
