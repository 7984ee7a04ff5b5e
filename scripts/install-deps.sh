#!/bin/sh
# Install everything mbx needs to build, test and benchmark on Debian 12.
# Usage: scripts/install-deps.sh [--help]   (as root, or with sudo)
set -eu
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    sed -n '2,3p' "$0" | sed 's/^# //'
    exit 0
fi
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential pkg-config meson ninja-build clang llvm clang-tidy cppcheck \
    libbpf-dev libxdp-dev xdp-tools bpftool libdpdk-dev dpdk-dev libpcap-dev \
    libjemalloc-dev libcmocka-dev libelf-dev zlib1g-dev libnuma-dev libclang-rt-14-dev \
    memcached libmemcached-tools python3 python3-pymemcache tcpdump tshark tcpreplay \
    iproute2 ethtool hyperfine >/dev/null
