#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Bind a NIC to vfio-pci for `mbx record --backend dpdk`, or give it back to
# its kernel driver (docs/deployment.md, "## DPDK"). A wrapper around DPDK's
# dpdk-devbind.py that refuses the obvious mistakes.
set -eu

usage() {
    cat <<'EOF'
Usage: scripts/dpdk-bind.sh --status
       scripts/dpdk-bind.sh --bind PCI|IFACE [--driver vfio-pci]
       scripts/dpdk-bind.sh --unbind PCI --driver KERNEL-DRIVER   (e.g. i40e, ice)

  --status        NICs and the drivers they are bound to (dpdk-devbind.py --status-dev net)
  --bind X        bind the NIC X (a PCI address like 0000:3b:00.0, or a Linux interface
                  name, which is resolved to its PCI address) to vfio-pci (or --driver).
                  The interface must be down: binding takes it away from Linux. Refuses
                  an interface that carries a route or an address (your SSH session?)
  --unbind X      give X back to a kernel driver (--driver, required: the one --status
                  listed as "unused=" for it)
  --driver D      driver to bind to (default vfio-pci; loads the module if needed)
  --devbind PATH  dpdk-devbind.py to use (default: PATH, then /usr/share/dpdk/usertools,
                  /usr/local/share/dpdk/usertools)
  -h, --help      this text

Mellanox/NVIDIA ConnectX NICs (mlx5) are NOT bound: their DPDK driver works alongside
the kernel driver (bifurcated). Keep mlx5_core and give mbx the PCI address.

vfio-pci needs the IOMMU on (intel_iommu=on iommu=pt on the kernel command line), or
'echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode' where there is none.
dpdk-devbind.py is in Debian's "dpdk" package (apt-get install dpdk).
EOF
}

ACTION="" DEV="" DRIVER=vfio-pci DEVBIND=""
while [ $# -gt 0 ]; do
    case "$1" in
        --status) ACTION=status ;;
        --bind) ACTION=bind; DEV=${2:?--bind needs a PCI address or interface}; shift ;;
        --unbind) ACTION=unbind; DEV=${2:?--unbind needs a PCI address}; shift ;;
        --driver) DRIVER=${2:?--driver needs a name}; shift ;;
        --devbind) DEVBIND=${2:?--devbind needs a path}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown argument '$1'" >&2; usage >&2; exit 2 ;;
    esac
    shift
done
[ -n "$ACTION" ] || { usage >&2; exit 2; }

if [ -z "$DEVBIND" ]; then
    for c in "$(command -v dpdk-devbind.py 2>/dev/null || true)" /usr/share/dpdk/usertools/dpdk-devbind.py \
             /usr/local/share/dpdk/usertools/dpdk-devbind.py /usr/bin/dpdk-devbind.py; do
        [ -n "$c" ] && [ -x "$c" ] && { DEVBIND=$c; break; }
    done
fi
[ -n "$DEVBIND" ] || { echo "dpdk-devbind.py not found: install Debian's 'dpdk' package or pass --devbind PATH" >&2; exit 1; }

if [ "$ACTION" = status ]; then
    exec "$DEVBIND" --status-dev net
fi
[ "$(id -u)" = 0 ] || { echo "needs root" >&2; exit 1; }

# Interface name -> PCI address
if [ -e "/sys/class/net/$DEV" ]; then
    IFACE=$DEV
    d=$(readlink -f "/sys/class/net/$DEV/device" 2>/dev/null || true)
    case "${d##*/}" in virtio*) d=${d%/*} ;; esac # virtio-net: the PCI device is the parent
    PCI=${d##*/}
    [[ $PCI =~ ^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]] ||
        { echo "$DEV is not a PCI NIC (veth, bridge, virtual?): DPDK cannot bind it; use --vdev=net_af_packet0,iface=$DEV" >&2; exit 1; }
else
    PCI=$DEV
    [[ $PCI =~ ^[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$ ]] && PCI=0000:$PCI
    [ -e "/sys/bus/pci/devices/$PCI" ] || { echo "no PCI device $PCI (see --status)" >&2; exit 1; }
    IFACE=""
    for n in "/sys/bus/pci/devices/$PCI"/net/* "/sys/bus/pci/devices/$PCI"/virtio*/net/*; do
        [ -e "$n" ] && { IFACE=${n##*/}; break; }
    done
fi
CUR=$(basename "$(readlink -f "/sys/bus/pci/devices/$PCI/driver" 2>/dev/null)" 2>/dev/null || echo none)

case "$ACTION" in
bind)
    if [ "$CUR" = mlx5_core ]; then
        echo "$PCI is a Mellanox/NVIDIA NIC (mlx5_core): do not bind it; DPDK's mlx5 driver uses it through the kernel driver." >&2
        echo "Give mbx the PCI address: mbx record --backend dpdk --iface $PCI ... -- -a $PCI" >&2
        exit 1
    fi
    if [ -n "${IFACE:-}" ]; then
        if ip -o addr show dev "$IFACE" 2>/dev/null | grep -q inet ||
           ip route show 2>/dev/null | grep -qw "dev $IFACE"; then
            echo "$IFACE ($PCI) has addresses or routes: binding it would cut that traffic. Use a dedicated SPAN/TAP NIC." >&2
            exit 1
        fi
        ip link set dev "$IFACE" down 2>/dev/null || true
    fi
    if [ "$DRIVER" = vfio-pci ]; then
        modprobe vfio-pci 2>/dev/null || [ -d /sys/bus/pci/drivers/vfio-pci ] ||
            { echo "cannot load vfio-pci (no VFIO in this kernel?)" >&2; exit 1; }
        if [ -z "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ] &&
           [ "$(cat /sys/module/vfio/parameters/enable_unsafe_noiommu_mode 2>/dev/null)" != Y ]; then
            echo "no IOMMU: boot with intel_iommu=on iommu=pt (or amd_iommu=on), or accept no isolation with" >&2
            echo "  echo 1 > /sys/module/vfio/parameters/enable_unsafe_noiommu_mode" >&2
            exit 1
        fi
    fi
    echo "binding $PCI (${IFACE:-no interface}, now $CUR) to $DRIVER"
    "$DEVBIND" --bind="$DRIVER" "$PCI"
    echo "to undo: $0 --unbind $PCI --driver $CUR" ;;
unbind)
    [ "$DRIVER" != vfio-pci ] || { echo "--unbind needs --driver KERNEL-DRIVER (the one --status shows as unused=)" >&2; exit 1; }
    "$DEVBIND" --bind="$DRIVER" "$PCI"
    "$DEVBIND" --status-dev net | grep -F "$PCI" || true ;;
esac
