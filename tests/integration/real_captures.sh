#!/bin/bash
# Real memcache captures from other projects (deepflow, nDPI, percona-toolkit;
# ../shared/data, described in its SOURCES.md): mbx must decode each one and
# report exactly the commands, outcomes, key and value lengths, pairs and
# latencies that the packets (and deepflow's own decoder output) show, with
# every loss counter zero except the ones the capture explains.
# The expectations and where each number comes from: real_captures.py.
# Usage: real_captures.sh CASE
#   percona             the 14 percona captures mbx decodes (all but 003)
#   percona-003         incr/decr replies at the start of a mid-stream capture
#                       (registered as an expected failure: known mbx bug)
#   deepflow-userdata   10,154 pipelined gets/gets/set vs deepflow's rtt
#   deepflow-split-set  a set whose data block is a separate segment; quit
#   ndpi-stats          stats and its STAT lines
#   midstream-number    synthetic reduction of percona-003 (no data needed;
#                       also an expected failure until the bug is fixed)
# Data: $MBX_SHARED_DATA, else $MBX_SRCDIR/../shared/data; skipped (77) when absent.
set -u
CASE=${1:?case}
MBX=${MBX:?MBX must point to the mbx binary}
HERE=$(cd "$(dirname "$0")" && pwd)
SRCDIR=${MBX_SRCDIR:-$(cd "$HERE/../.." && pwd)}
DATA=${MBX_SHARED_DATA:-$SRCDIR/../shared/data}
if [ "$CASE" != midstream-number ] && [ ! -f "$DATA/SOURCES.md" ]; then
    echo "SKIP: real captures not found in $DATA (set MBX_SHARED_DATA)" >&2
    exit 77
fi
T=$(mktemp -d /tmp/mbx-rc.XXXXXX)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 "$HERE/real_captures.py" "$MBX" "$DATA" "$CASE" "$T" || exit 1
echo "PASS real_captures $CASE"
