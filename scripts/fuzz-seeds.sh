#!/bin/bash
# Build the seed corpora of the libFuzzer harnesses into OUTDIR/<harness>/.
# Usage: scripts/fuzz-seeds.sh OUTDIR [BUILD_DIR]   (default build dir: build-fuzz)
# Sources: memcache conversations built with tests/lib/pktbuild (every link
# type, IPv6, VLAN, loss, reordering, mid-stream), small mbx-gencap captures,
# tests/data/example.pcap and, when present, the real captures of
# ../shared/data (MBX_SHARED_DATA overrides). Needs clang (CC=clang).
set -euo pipefail
if [ $# -lt 1 ] || [ "$1" = "--help" ] || [ "$1" = "-h" ]; then
    sed -n '2,7p' "$0" | sed 's/^# //'
    [ $# -lt 1 ] && exit 2 || exit 0
fi
OUT=$1
cd "$(dirname "$0")/.."
BUILD=${2:-build-fuzz}
if [ ! -f "$BUILD/build.ninja" ]; then
    CC=clang meson setup "$BUILD" -Dfuzz=true -Dtests=false >/dev/null
fi
ninja -C "$BUILD" tests/fuzz/mbx-fuzz-seeds bench/mbx-gencap >/dev/null
mkdir -p "$OUT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# small synthetic captures with every feature mbx-gencap has
gencap() {
    local name=$1
    shift
    "$BUILD/bench/mbx-gencap" -o "$tmp/$name.pcap" --requests 300 --conns 6 --max-value 3000 "$@" 2>/dev/null
}
gencap gencap-mix --seed 1
gencap gencap-pipelined --seed 2 --pipeline 0.9 --max-batch 8 --op-mix get=0.3,mget=0.4,set=0.2,delete=0.1
gencap gencap-ipv6-sll2 --seed 3 --ipv6 --link sll2 --format pcapng
gencap gencap-raw-binary --seed 4 --link raw --proto-mix binary=1
gencap gencap-meta-lossy --seed 5 --proto-mix meta=1 --drop 0.02 --reorder 0.05 --dup 0.05
gencap gencap-reconnects --seed 6 --conn-requests 5 --mss 200

shared=${MBX_SHARED_DATA:-../shared/data}
caps=(tests/data/example.pcap "$tmp"/gencap-*.pcap)
if [ -d "$shared" ]; then
    while IFS= read -r -d '' f; do caps+=("$f"); done < <(find "$shared" -maxdepth 2 -name '*.pcap*' -size -20M -print0 | sort -z)
fi
"$BUILD/tests/fuzz/mbx-fuzz-seeds" "$OUT" "${caps[@]}"
