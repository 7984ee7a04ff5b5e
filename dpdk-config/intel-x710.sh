#!/bin/bash
# EXAMPLE (not tested here): mbx on an Intel X710/XL710 port used as a SPAN port.
#   NIC      0000:3b:00.0, NUMA node 0, bound to vfio-pci (scripts/dpdk-bind.sh --bind 0000:3b:00.0)
#   workers  4 RX queues -> 4 pinned workers on CPUs 2-5 (node 0); EAL main lcore on CPU 1
#   memory   4 x 256 MiB mbufs (--buffer-size 256M: 113k mbufs of 2368 B per queue) + ~64 MiB
#            for EAL -> reserve 1.2G of 2 MB hugepages on node 0:
#              scripts/dpdk-hugepages.sh --reserve 1200M --node 0
#   RSS      i40e accepts a 52-byte key: mbx installs the symmetric Toeplitz key (0x6d5a...),
#            so both directions of a connection reach the same worker ("RSS symmetric" in the
#            profile source and with -v). mbx is correct without it, only less cache-friendly.
#   frames   jumbo frames on the mirrored network: mbx enables scatter and MTU 9000 on PCI
#            ports; mbufs keep 2 KiB data rooms and chains are linearised.
#   rate     10 GbE of 64-byte frames is 14.88 Mpps; see bench/capture-dpdk-cost for mbx's
#            per-packet cost and size the worker count from it (docs/deployment.md).
set -eu
PCI=${PCI:-0000:3b:00.0}
WORKER_CPUS=${WORKER_CPUS:-2-5}
MAIN_LCORE=${MAIN_LCORE:-1}
OUT=${OUT:-/var/lib/mbx/x710.mbx}
cmd=(mbx record --backend dpdk --iface "$PCI" --lcores "$WORKER_CPUS" --buffer-size 256M
     --rotate 1G -o "$OUT"
     -- -l "$MAIN_LCORE" -a "$PCI" --in-memory --socket-mem "1200,0" --no-telemetry)
if [ "${DRY_RUN:-1}" = 1 ]; then printf '%q ' "${cmd[@]}"; echo; else exec "${cmd[@]}"; fi
