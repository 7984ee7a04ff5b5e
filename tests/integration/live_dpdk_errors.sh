#!/bin/bash
# DPDK backend: every setup failure is one clear line on stderr, a non-zero
# exit, nothing on stdout (EAL prints its usage there; the backend sends it
# to stderr), no profile, and no hang: a missing port (listing the ports
# there are), no ports at all, a vdev whose driver failed (not root), more
# workers than the device's queues, --first-queue, a bad EAL argument, and
# no hugepages (only checked when the machine has none free).
source "$(dirname "$0")/lib.sh"
source "$HERE/live_dpdk_lib.sh"
need_dpdk
CAP=$TMPD/ex.pcap
cp "$HERE/../data/example.pcap" "$CAP"; chmod 644 "$CAP"; chmod 755 "$TMPD"

# expect_fail WHAT EXPECTED-TEXT MBX-RECORD-ARGS...
expect_fail() {
    local what=$1 want=$2; shift 2
    rm -f "$TMPD/e.mbx"
    timeout 30 "$@" > "$TMPD/e.out" 2> "$TMPD/e.err"; local rc=$?
    [ $rc = 124 ] && fail "$what: hung"
    [ $rc != 0 ] || fail "$what: exited 0"
    grep -qF -- "$want" "$TMPD/e.err" || fail "$what: expected '$want' in: $(grep -v '^EAL' "$TMPD/e.err" | tail -3)"
    [ -s "$TMPD/e.out" ] && fail "$what: wrote to stdout: $(head -3 "$TMPD/e.out")"
    [ -e "$TMPD/e.mbx" ] && fail "$what: left a profile"
    echo "ok  $what: $(grep -F -- "$want" "$TMPD/e.err" | head -1 | cut -c1-150)"
}
R=("$MBX" record --backend dpdk -o "$TMPD/e.mbx")
expect_fail "no such port" "no DPDK port 'net_pcap9' (ports: 0=net_pcap0)" \
    "${R[@]}" --iface net_pcap9 -- "${EAL_BASE[@]}" --vdev="net_pcap0,rx_pcap=$CAP"
expect_fail "no port number 7" "no DPDK port '7'" \
    "${R[@]}" --iface 7 -- "${EAL_BASE[@]}" --vdev="net_pcap0,rx_pcap=$CAP"
expect_fail "no ports at all" "DPDK found no ports at all" \
    "${R[@]}" --iface 0000:00:1f.0 -- "${EAL_BASE[@]}"
expect_fail "more workers than queues" "has 1 RX queue but mbx runs 2 workers" \
    "${R[@]}" --iface net_pcap0 --queues 2 -- "${EAL_BASE[@]}" --vdev="net_pcap0,rx_pcap=$CAP"
expect_fail "first queue" "--first-queue is for AF_XDP" \
    "${R[@]}" --iface net_pcap0 --first-queue 2 -- "${EAL_BASE[@]}"
expect_fail "bad EAL argument" "DPDK EAL initialisation failed: Invalid argument" \
    "${R[@]}" --iface net_pcap0 -- "${EAL_BASE[@]}" --no-such-eal-flag
expect_fail "no such capture file" "its driver could not create it" \
    "${R[@]}" --iface net_pcap0 -- "${EAL_BASE[@]}" --vdev="net_pcap0,rx_pcap=$TMPD/missing.pcap"
if command -v setpriv > /dev/null; then
    # AF_PACKET needs CAP_NET_RAW: the vdev is not created; the message says why
    expect_fail "not root" "not running as root" \
        setpriv --reuid=65534 --regid=65534 --clear-groups "${R[@]}" \
        --iface net_af_packet0 -- "${EAL_BASE[@]}" --vdev=net_af_packet0,iface=lo
fi
free=$(awk '/HugePages_Free/{print $2}' /proc/meminfo)
if [ "${free:-0}" = 0 ]; then
    expect_fail "no hugepages" "no free hugepages" \
        "${R[@]}" --iface net_pcap0 -- --no-pci --vdev="net_pcap0,rx_pcap=$CAP"
else
    echo "(hugepages are reserved here: the no-hugepages case is not checked)"
fi
echo "PASS live_dpdk_errors"
