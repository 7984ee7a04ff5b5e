#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Reserve, show or release hugepages for `mbx record --backend dpdk`
# (docs/deployment.md, "## DPDK").
set -eu

usage() {
    cat <<'EOF'
Usage: scripts/dpdk-hugepages.sh [--show] [--reserve SIZE [--page 2M|1G] [--node N]] [--clear]

Hugepages for mbx's DPDK backend. mbx starts EAL with --in-memory (no
hugetlbfs mount needed) unless you pass your own memory options.

  --show            hugepages reserved and free, per size and NUMA node (default)
  --reserve SIZE    reserve SIZE of hugepages in total (e.g. 512M, 2G): pages are
                    added or released to reach it. Give the NIC's NUMA node with
                    --node (see /sys/bus/pci/devices/ADDR/numa_node); without it
                    the kernel spreads them over the nodes
  --page 2M|1G      page size (default 2M; 1G pages are best reserved at boot:
                    default_hugepagesz=1G hugepagesz=1G hugepages=N)
  --node N          NUMA node for the reservation
  --clear           release every hugepage (fails for pages in use)
  -h, --help        this text

How much: per capture queue, --buffer-size (default 64M) of mbufs, plus about
64 MiB for EAL and the driver: 2 queues -> 192M; 4 queues with --buffer-size
256M -> 1.1G. mbx record checks that some hugepages are free before starting
EAL and says so otherwise.

This changes /proc/sys/vm/nr_hugepages (needs root) and does not survive a
reboot: for a permanent setup use vm.nr_hugepages in /etc/sysctl.d/ or the
kernel command line.
EOF
}

size_kb() { # 512M, 2G, 1048576K -> KiB
    local v=${1%[KkMmGg]} u=${1##*[0-9]}
    [[ $v =~ ^[0-9]+$ ]] || { echo "bad size '$1'" >&2; exit 2; }
    case "$u" in
        K|k) echo "$v" ;; M|m|"") echo $((v * 1024)) ;; G|g) echo $((v * 1024 * 1024)) ;;
        *) echo "bad size '$1'" >&2; exit 2 ;;
    esac
}

show() {
    local d
    for d in /sys/kernel/mm/hugepages/hugepages-*; do
        [ -d "$d" ] || continue
        printf '%-22s total %6s  free %6s\n' "${d##*/}" "$(cat "$d/nr_hugepages")" "$(cat "$d/free_hugepages")"
    done
    for d in /sys/devices/system/node/node*/hugepages/hugepages-*; do
        [ -d "$d" ] || continue
        local node=${d#/sys/devices/system/node/}; node=${node%%/*}
        printf '  %-6s %-22s total %6s  free %6s\n' "$node" "${d##*/}" "$(cat "$d/nr_hugepages")" "$(cat "$d/free_hugepages")"
    done
}

ACTION=show SIZE="" PAGE=2M NODE=""
while [ $# -gt 0 ]; do
    case "$1" in
        --show) ACTION=show ;;
        --reserve) ACTION=reserve; SIZE=${2:?--reserve needs a size}; shift ;;
        --page) PAGE=${2:?--page needs 2M or 1G}; shift ;;
        --node) NODE=${2:?--node needs a number}; shift ;;
        --clear) ACTION=clear ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

case "$PAGE" in
    2M|2m) PKB=2048 ;; 1G|1g) PKB=1048576 ;;
    *) echo "--page must be 2M or 1G" >&2; exit 2 ;;
esac
if [ -n "$NODE" ]; then
    F=/sys/devices/system/node/node$NODE/hugepages/hugepages-${PKB}kB/nr_hugepages
else
    F=/sys/kernel/mm/hugepages/hugepages-${PKB}kB/nr_hugepages
fi

case "$ACTION" in
    show) show ;;
    reserve|clear)
        [ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }
        [ -w "$F" ] || { echo "$F: no such page size or node on this machine" >&2; exit 1; }
        want=0
        [ "$ACTION" = reserve ] && want=$(( ($(size_kb "$SIZE") + PKB - 1) / PKB ))
        echo "$want" > "$F"
        got=$(cat "$F")
        show
        if [ "$got" -lt "$want" ]; then
            echo "only $got of $want pages could be reserved (memory fragmented: reserve at boot," \
                 "or try after 'echo 3 > /proc/sys/vm/drop_caches; echo 1 > /proc/sys/vm/compact_memory')" >&2
            exit 1
        fi ;;
esac
