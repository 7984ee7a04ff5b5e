#!/bin/bash
# TESTED (tests/integration/live_dpdk_stats.sh): mbx's DPDK path on any Linux interface,
# without NIC hardware, hugepages or binding: net_af_packet, 2 queues through
# PACKET_FANOUT (hash) -> 2 workers. Useful to try the DPDK backend; for production on a
# Linux interface prefer --backend pcap or afxdp (same kernel path, fewer moving parts).
#   IFACE    the SPAN port (here a veth in a namespace: ip netns exec NS scripts...)
#   memory   --no-huge: each 2368-byte mbuf takes a whole 4 KiB page; mbx sizes EAL's -m
#   frames   framecnt=4096 frames of 2 KiB per queue in the kernel ring (default 512)
#   drops    DPDK 22.11's af_packet PMD does not report the kernel ring's drops
set -eu
IFACE=${IFACE:-span_m}
OUT=${OUT:-/tmp/span.mbx}
cmd=(mbx record --backend dpdk --iface net_af_packet0 --queues 2 --buffer-size 16M -o "$OUT"
     -- --no-huge --no-pci --vdev="net_af_packet0,iface=$IFACE,qpairs=2,framecnt=4096")
if [ "${DRY_RUN:-1}" = 1 ]; then printf '%q ' "${cmd[@]}"; echo; else exec "${cmd[@]}"; fi
