#!/bin/bash
# Cross-check mbx against Wireshark's memcache dissector: non-pipelined text
# and binary traffic (tshark_client.py: every text and binary command with
# hits and misses, multi-key gets; memcslap --binary: SET, GETK, QUIT) is
# captured on a SPAN port; the per-op counts and outcomes that tshark decodes
# must equal mbx's analysis exactly. How tshark counts differently (one
# multi-key get line = 1 command for tshark, N events for mbx; replies it
# does not label; commands it does not know) is accounted for in
# tshark_crosscheck.py.
source "$(dirname "$0")/lib.sh"
need_root
need_cmd memcached tcpdump tshark memcslap
topo_up 2
mc_start
clients() {
    in_cli "$PY" "$HERE/tshark_client.py" $SRV_IP $MC_PORT --text 400 --binary 300 --seed $$ \
        > "$TMPD/client.json" || fail "tshark_client.py"
    # memcslap exits 0 even when it cannot connect: tshark's counts tell
    in_cli memcslap -s $SRV_IP:$MC_PORT --binary --test=set --execute-number=100 --concurrency=2 > "$TMPD/slap.out" 2>&1
    in_cli memcslap -s $SRV_IP:$MC_PORT --binary --test=get --execute-number=100 --concurrency=2 >> "$TMPD/slap.out" 2>&1
}
capture_retry "$TMPD/cap.pcap" clients
"$MBX" record "$TMPD/cap.pcap" -o "$TMPD/cap.mbx" > "$TMPD/record.out" || fail "mbx record: $(cat "$TMPD/record.out")"
"$MBX" analyze "$TMPD/cap.mbx" --json "$TMPD/analysis.json" --no-text || fail "mbx analyze"
fields=()
for f in frame.number tcp.stream tcp.dstport _ws.col.Protocol memcache.command memcache.response \
         memcache.key memcache.magic memcache.opcode memcache.status memcache.cas; do
    fields+=(-e "$f")
done
tshark -r "$TMPD/cap.pcap" -o tcp.analyze_sequence_numbers:FALSE -Y "tcp.len > 0" \
    -T fields -E aggregator='|' "${fields[@]}" > "$TMPD/tshark.tsv" 2> "$TMPD/tshark.err" \
    || fail "tshark: $(cat "$TMPD/tshark.err")"
"$PY" "$HERE/tshark_crosscheck.py" "$TMPD/tshark.tsv" "$TMPD/analysis.json" "$TMPD/client.json" \
    || fail "tshark and mbx disagree"
echo "PASS tshark_crosscheck"
