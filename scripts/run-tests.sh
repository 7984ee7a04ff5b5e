#!/bin/bash
# Build mbx with -Werror and run the whole test suite (unit + integration).
# Usage: scripts/run-tests.sh [BUILD_DIR] [-- extra meson test args]
# Integration tests need root (network namespaces, memcached, tcpdump); run
# with sudo to include them, otherwise they are reported as skipped.
set -euo pipefail
if [ "${1:-}" = "--help" ] || [ "${1:-}" = "-h" ]; then
    sed -n '2,5p' "$0" | sed 's/^# //'
    exit 0
fi
cd "$(dirname "$0")/.."
BUILD=${1:-build}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
if [ ! -f "$BUILD/build.ninja" ]; then
    meson setup "$BUILD" -Dwerror=true --buildtype=debugoptimized
fi
ninja -C "$BUILD"
meson test -C "$BUILD" --print-errorlogs --num-processes 2 "$@"
