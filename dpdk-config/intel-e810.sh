#!/bin/bash
# EXAMPLE (not tested here): mbx on an Intel E810 (ice) 25/100 GbE port fed by a TAP.
#   NIC      0000:af:00.0, NUMA node 1, bound to vfio-pci. The ice PMD needs the DDP package
#            (/lib/firmware/intel/ice/ddp/ice.pkg, Debian firmware-misc-nonfree); without it
#            the port starts in "safe mode" with a single queue and no RSS: mbx then refuses
#            more than 1 worker ("has 1 RX queue but mbx runs N workers").
#   workers  8 queues -> 8 workers on node-1 CPUs 17-24; EAL main lcore on CPU 16
#   memory   8 x 512M mbufs -> reserve 4.2G on node 1, preferably 1 GB pages at boot
#            (default_hugepagesz=1G hugepagesz=1G hugepages=5); or
#              scripts/dpdk-hugepages.sh --reserve 4200M --node 1
#   RSS      52-byte key; mbx installs the symmetric key. On kernels/PMDs where the key is
#            refused mbx says so and keeps the default key.
#   rate     25 GbE min-size frames = 37.2 Mpps; memcache traffic has far larger frames (the
#            realistic mix in bench/capture-dpdk-cost averages ~450 B), so packet rates are
#            usually a fraction of that. Watch "drops kernel" in the status line.
set -eu
PCI=${PCI:-0000:af:00.0}
WORKER_CPUS=${WORKER_CPUS:-17-24}
MAIN_LCORE=${MAIN_LCORE:-16}
OUT=${OUT:-/var/lib/mbx/e810.mbx}
cmd=(mbx record --backend dpdk --iface "$PCI" --lcores "$WORKER_CPUS" --buffer-size 512M
     --rotate 10m -o "$OUT"
     -- -l "$MAIN_LCORE" -a "$PCI" --in-memory --socket-mem "0,4200" --no-telemetry)
if [ "${DRY_RUN:-1}" = 1 ]; then printf '%q ' "${cmd[@]}"; echo; else exec "${cmd[@]}"; fi
