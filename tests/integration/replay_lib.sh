# Helpers for the replay tests (sourced after lib.sh).

# record_profile PCAP NAME: $TMPD/NAME.mbx and the analysis $TMPD/NAME.json
record_profile() {
    "$MBX" record "$1" -o "$TMPD/$2.mbx" > "$TMPD/$2.record.out" 2>&1 ||
        fail "mbx record $1: $(cat "$TMPD/$2.record.out")"
    "$MBX" analyze "$TMPD/$2.mbx" --json "$TMPD/$2.json" --no-text ||
        fail "mbx analyze $2"
}

# replay NAME [OPTIONS...]: mbx replay in the client namespace against the
# server; stdout in $TMPD/NAME.out, stderr in $TMPD/NAME.err, JSON report in
# $TMPD/NAME.report.json; sets RC and ELAPSED_MS.
replay() {
    local name=$1 prof=$2; shift 2
    local t0 t1
    t0=$(date +%s%N)
    in_cli "$MBX" replay "$prof" -t $SRV_IP:$MC_PORT --progress 0 \
        --json "$TMPD/$name.report.json" "$@" > "$TMPD/$name.out" 2> "$TMPD/$name.err"
    RC=$?
    t1=$(date +%s%N)
    ELAPSED_MS=$(( (t1 - t0) / 1000000 ))
    log "replay $name: exit $RC in ${ELAPSED_MS} ms"
}

# jq-free JSON field: jget FILE PY_EXPR (d = the document)
jget() {
    "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}
