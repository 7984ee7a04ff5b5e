#!/bin/bash
# TESTED (tests/integration/live_dpdk_pcap.sh): replay a capture file through the DPDK path
# with net_pcap. The events equal `mbx record FILE` on the same file (with the same --salt):
# net_pcap hands over the file's timestamps (microseconds: use microsecond pcap files for an
# exact comparison), and the recording ends by itself at the end of the file(s).
# Several queues: one rx_pcap= per queue (e.g. a capture split by flow).
set -eu
CAP=${CAP:?CAP=capture.pcap}
OUT=${OUT:-/tmp/replay.mbx}
cmd=(mbx record --backend dpdk --iface net_pcap0 --salt "${SALT:-replay}" -o "$OUT"
     -- --no-huge --no-pci --vdev="net_pcap0,rx_pcap=$(readlink -f "$CAP")")
if [ "${DRY_RUN:-1}" = 1 ]; then printf '%q ' "${cmd[@]}"; echo; else exec "${cmd[@]}"; fi
