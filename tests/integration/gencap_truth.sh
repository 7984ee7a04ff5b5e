#!/bin/bash
# Synthetic traffic with a known ground truth (mbx-gencap): mbx record +
# analyze must reproduce every per-op count and outcome exactly, through
# every link type, IPv6, pcapng, retransmissions and reordering; and with
# segments missing from the capture, must report the losses and stay close.
# Usage: gencap_truth.sh NAME GENCAP-OPTIONS...
set -u
NAME=$1; shift
GEN=${MBX_GENCAP:?}; MBX=${MBX:?}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/mbx-gt.XXXXXX); trap 'rm -rf "$T"' EXIT
"$GEN" -o "$T/c.pcap" -t "$T/truth.json" "$@" 2> "$T/gen.err" || { cat "$T/gen.err"; exit 1; }
"$MBX" record "$T/c.pcap" -o "$T/c.mbx" || exit 1
"$MBX" analyze "$T/c.mbx" --json "$T/a.json" --no-text || exit 1
lossy=()
for a in "$@"; do [ "$a" = "--drop" ] && lossy=(--lossy 0.01); done
/usr/bin/python3 "$HERE/check_truth.py" "$T/truth.json" "$T/a.json" "${lossy[@]}" || exit 1
echo "PASS gencap_truth $NAME"
