#!/bin/bash
# EXAMPLE (not tested here): mbx on an NVIDIA/Mellanox ConnectX-5 port (mlx5).
#   NIC      0000:5e:00.1 stays bound to mlx5_core (bifurcated driver: DPDK opens it through
#            the kernel's verbs; do NOT run dpdk-bind.sh). Needs rdma-core (libibverbs,
#            libmlx5) and the mlx5 PMD built into DPDK. The Linux interface stays up: keep
#            its traffic (and the capture) isolated, e.g. a dedicated mirror port.
#   workers  4 queues -> 4 workers on CPUs 4-7, EAL main lcore on CPU 3
#   memory   4 x 256M -> reserve 1.2G of hugepages on the NIC's node
#   RSS      40-byte key; symmetric key accepted.
#   time     mlx5 offers RTE_ETH_RX_OFFLOAD_TIMESTAMP: mbx enables it and converts the
#            free-running device clock to wall time per burst (rte_eth_read_clock), so a
#            packet's time is when the NIC received it, not when the worker polled it. Do
#            not add the mlx5 devarg rt_timestamp=1 (a different clock format). To fall back
#            to per-burst CLOCK_REALTIME, set MBX_DPDK_SW_TIMESTAMPS=1.
#   devargs  rxq_cqe_comp_en=1 (CQE compression, less PCIe traffic at high packet rates) and
#            mprq_en=1 (multi-packet RQ) are worth trying at line rate.
set -eu
PCI=${PCI:-0000:5e:00.1}
WORKER_CPUS=${WORKER_CPUS:-4-7}
MAIN_LCORE=${MAIN_LCORE:-3}
OUT=${OUT:-/var/lib/mbx/cx5.mbx}
cmd=(mbx record --backend dpdk --iface "$PCI" --lcores "$WORKER_CPUS" --buffer-size 256M
     --rotate 1G -o "$OUT"
     -- -l "$MAIN_LCORE" -a "$PCI,rxq_cqe_comp_en=1" --in-memory --no-telemetry)
if [ "${DRY_RUN:-1}" = 1 ]; then printf '%q ' "${cmd[@]}"; echo; else exec "${cmd[@]}"; fi
