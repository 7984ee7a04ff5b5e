#!/bin/bash
# Exactness: real client traffic on a fresh memcached is captured on the SPAN
# port, recorded and analysed; a second fresh memcached is then driven by
# `mbx replay` (recorded timing) and its own stats deltas must equal the
# recording's counts, op class by op class (check_stats.py, the same mapping
# stats_match.sh uses for recordings).
#
# Usage: replay_exact.sh SCENARIO
#   text           pymemcache (every text command, noreply, multi-key gets, cas)
#   meta           metaclient.py (mg/ms/md/ma/mn, quiet, opaques, base64 keys)
#   binary         memcslap --binary, one connection (set, get, getkq + noop)
#   binary-ops     binclient.py: every binary op class, quiet misses and failures
#   text-as-meta   the text recording replayed with --protocol meta
#   text-as-binary the text recording replayed with --protocol binary
#   text-pipelined, meta-pipelined
#                  the recording replayed closed loop (--timing none), 16
#                  requests outstanding per connection, refilled in batches
#                  (--refill-at 4): the client's one connection keeps its order
#
# cas: a replay cannot know the cas unique (it sends 999999999999999999), so a
# replayed cas answers EXISTS where the recorded one answered STORED.
# check_stats.py --replayed-cas asserts exactly that instead of ignoring cas:
# cas_misses as recorded, cas_hits 0, cas_badval = recorded stored + exists.
# (A cas never changes whether a key exists, so nothing else can differ.)
source "$(dirname "$0")/lib.sh"
source "$HERE/replay_lib.sh"
SCEN=${1:?scenario}
need_root
need_cmd memcached tcpdump memcslap
topo_up 1
mc_start
clients() {
    : > "$TMPD/client.out"
    case "$SCEN" in
        text|text-as-meta|text-as-binary|text-pipelined)
            in_cli "$PY" "$HERE/pyclient.py" $SRV_IP $MC_PORT --ops 1500 --seed 3 > "$TMPD/client.out" || fail "pyclient" ;;
        meta|meta-pipelined)
            in_cli "$PY" "$HERE/metaclient.py" $SRV_IP $MC_PORT --ops 1500 --seed 3 > "$TMPD/client.out" || fail "metaclient" ;;
        binary) # memcslap exits 0 even when it cannot connect: the stats deltas tell
            # sets (loud and quiet SETQ), gets, multi-gets (GETKQ + NOOP)
            for t in "set" "set --noreply" "get" "mget"; do
                # shellcheck disable=SC2086
                in_cli memcslap -s $SRV_IP:$MC_PORT --binary --test=$t --execute-number=400 --concurrency=1 >> "$TMPD/client.out" 2>&1
            done ;;
        binary-ops)
            in_cli "$PY" "$HERE/binclient.py" $SRV_IP $MC_PORT --ops 1500 --seed 3 > "$TMPD/client.out" || fail "binclient" ;;
        *) fail "unknown scenario $SCEN" ;;
    esac
}
# the replay starts from an empty cache: so does the recording
capture_retry "$TMPD/cap.pcap" clients
record_profile "$TMPD/cap.pcap" rec
proto=()
case "$SCEN" in
    text-as-meta) proto=(--protocol meta) ;;
    text-as-binary) proto=(--protocol binary) ;;
    text-pipelined) proto=(--timing none --pipeline 16 --refill-at 4) ;;
    # replies read in batches: the same exact counts
    meta-pipelined) proto=(--timing none --pipeline 16 --refill-at 4 --batch-wait 300us) ;;
esac

mc_restart
mc_stats "$TMPD/before"
replay run "$TMPD/rec.mbx" "${proto[@]}"
mc_stats "$TMPD/after"
cat "$TMPD/run.out"
[ "$RC" = 0 ] || fail "replay exit status $RC: $(cat "$TMPD/run.err")"

# memcached's own stats deltas against the recording's counts
stats_opts=(--replayed-cas)
[ "$SCEN" = text-as-meta ] && stats_opts+=(--replayed-as meta)
"$PY" "$HERE/check_stats.py" "${stats_opts[@]}" "$TMPD/before" "$TMPD/after" "$TMPD/rec.json" ||
    fail "memcached stats deltas differ from the recording ($SCEN)"
# the replay's own view: every event sent, answered, same outcome class
case "$SCEN" in
    text-as-*) want_proto=${SCEN#text-as-} ;;
    binary*) want_proto=binary ;;
    *) want_proto=${SCEN%-pipelined} ;;
esac
"$PY" "$HERE/check_replay.py" "$TMPD/run.report.json" "$TMPD/rec.json" --proto "$want_proto" --replayed-cas ||
    fail "replay report differs from the recording ($SCEN)"
if [[ $SCEN == *-pipelined ]]; then
    # the plan (--dry-run) shows the refill mark only when one is given
    "$MBX" replay "$TMPD/rec.mbx" -t $SRV_IP:$MC_PORT --dry-run "${proto[@]}" > "$TMPD/dry.out" ||
        fail "dry run"
    grep -q "pipeline 16 per connection, refilled at 4, " "$TMPD/dry.out" ||
        fail "the plan does not show --refill-at: $(grep pipeline "$TMPD/dry.out")"
    if [ "$SCEN" = meta-pipelined ]; then
        grep -q "refilled at 4, replies read in batches (waits of 300 us), loops" "$TMPD/dry.out" ||
            fail "the plan does not show --batch-wait: $(grep pipeline "$TMPD/dry.out")"
    fi
    "$MBX" replay "$TMPD/rec.mbx" -t $SRV_IP:$MC_PORT --dry-run --timing none --pipeline 16 > "$TMPD/dry.out" ||
        fail "dry run"
    grep -q "pipeline 16 per connection, loops" "$TMPD/dry.out" ||
        fail "default refill shown wrongly: $(grep pipeline "$TMPD/dry.out")"
    "$PY" - "$TMPD/run.report.json" "$SCEN" <<'PYEOF' || fail "closed-loop settings not in the report"
import json, sys
c = json.load(open(sys.argv[1]))["config"]
assert c["timing"] == "none" and c["pipeline"] == 16 and c["refill_at"] == 4, c
want = 300000 if sys.argv[2] == "meta-pipelined" else 0
assert c["batch_wait_ns"] == want, c
PYEOF
fi
# not trivially empty: gets with hits and misses (binary: memcslap only hits)
gets=$(awk '$1=="cmd_get"{print $2}' "$TMPD/after"); sets=$(awk '$1=="cmd_set"{print $2}' "$TMPD/after")
[ "${gets:-0}" -ge 500 ] && [ "${sets:-0}" -ge 300 ] || fail "too little traffic (cmd_get=$gets cmd_set=$sets)"
echo "PASS replay_exact $SCEN"
