#!/bin/bash
# AF_XDP setup problems end with a message that says what to do, a non-zero
# exit, and the interface as it was:
#  - another XDP program on the interface (generic or native): named, with
#    the command that removes it, and left in place;
#  - --zero-copy where the driver has none (veth): refused after the program
#    was attached, which must be detached again;
#  - --xdp-mode drv on a device without native XDP (lo); auto falls back to
#    skb there;
#  - queues beyond the interface's; queues left uncaptured are warned about
#    and what arrives on them is counted as interface drops;
#  - without CAP_IPC_LOCK the UMEM must fit RLIMIT_MEMLOCK (8 MiB here);
#    without CAP_BPF/CAP_NET_ADMIN the message names them.
source "$(dirname "$0")/live_afxdp_lib.sh"
afxdp_need
need_cmd clang memcslap setpriv
topo_up 2

# record in the monitor namespace; expect failure; output in $TMPD/err.out
expect_fail() {
    local what=$1; shift
    ip netns exec "$NS_MON" "$@" > "$TMPD/err.out" 2>&1
    local rc=$?
    sed 's/^/    /' "$TMPD/err.out"
    [ $rc != 0 ] || fail "$what: mbx record succeeded"
}
expect_msg() {
    grep -q -- "$1" "$TMPD/err.out" || fail "message lacks '$1'"
}
REC=("$MBX" record --iface span_m --backend afxdp -o "$TMPD/x.mbx" --duration 1s -q)
REC2=("${REC[@]}" --queues 2)

log "a foreign XDP program"
cat > "$TMPD/pass.bpf.c" <<'C'
#include <linux/bpf.h>
__attribute__((section("xdp"), used)) int foreign_pass(struct xdp_md *ctx) { return XDP_PASS; }
char LICENSE[] __attribute__((section("license"), used)) = "GPL";
C
clang -O2 -g -target bpf -I/usr/include/$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu) \
    -c "$TMPD/pass.bpf.c" -o "$TMPD/pass.o" || fail "cannot build the test XDP program"
for mode in xdpgeneric xdpdrv; do
    ip -n "$NS_MON" link set dev span_m $mode obj "$TMPD/pass.o" sec xdp || fail "cannot attach the test program ($mode)"
    before=$(xdp_prog_on_span)
    [ "$(echo "$before" | awk '{print $2}')" = foreign_pass ] || fail "test program not attached: '$before'"
    for xm in auto skb drv; do
        expect_fail "foreign program ($mode), --xdp-mode $xm" "${REC2[@]}" --xdp-mode $xm
        expect_msg "another XDP program is attached: 'foreign_pass' (id $(echo "$before" | awk '{print $1}')"
        expect_msg "ip link set dev span_m $mode off"
        expect_msg "xdp-loader unload span_m --all"
        [ "$(xdp_prog_on_span)" = "$before" ] || fail "the foreign program was touched: '$before' -> '$(xdp_prog_on_span)'"
    done
    ip -n "$NS_MON" link set dev span_m $mode off || fail "cannot remove the test program"
done
[ -z "$(xdp_prog_on_span)" ] || fail "test program still attached"

log "--zero-copy on veth"
expect_fail "--zero-copy" "${REC2[@]}" --xdp-mode drv --zero-copy
expect_msg "zero-copy AF_XDP is not available"
expect_msg "drop --zero-copy"
[ -z "$(xdp_prog_on_span)" ] || fail "--zero-copy failure left a program: $(xdp_prog_on_span)"

log "native mode on a device without it (lo)"
expect_fail "--xdp-mode drv on lo" "$MBX" record --iface lo --backend afxdp -o "$TMPD/x.mbx" --duration 1s -q --xdp-mode drv
expect_msg "the driver has no native XDP"
expect_msg "use --xdp-mode skb"
ip netns exec "$NS_MON" "$MBX" record --iface lo --backend afxdp -o "$TMPD/d.mbx" --duration 0.5s -q -v > "$TMPD/d.out" 2>&1 ||
    fail "auto mode on lo: $(cat "$TMPD/d.out")"
grep -q "attached in skb mode" "$TMPD/d.out" || fail "auto mode did not fall back to skb on lo: $(cat "$TMPD/d.out")"
ip -n "$NS_MON" link show dev lo | grep -q "prog/xdp" && fail "program left on lo"

log "queues"
expect_fail "--first-queue 1 --queues 2" "${REC[@]}" --first-queue 1 --queues 2
expect_msg "span_m has 2 receive queues"
mc_start
mc_stats "$TMPD/before"
rec_start "$TMPD/q1.mbx" --xdp-mode drv --queues 1 --summary-json "$TMPD/q1.json"
grep -q "but mbx captures 1 (queues 0-0)" "$TMPD/rec.err" || fail "no warning about the uncaptured queue: $(head -3 "$TMPD/rec.err")"
# 16 connections: some land on the uncaptured queue (4 once all hashed to queue 0)
in_cli memcslap -s $SRV_IP:$MC_PORT --test=get --execute-number=2000 --concurrency=16 > /dev/null 2>&1
rec_stop
ifdrop=$(counter "$TMPD/q1.json" src_drop_iface)
redirected=$(sed -n 's/.*memcache packets on queues without a socket \([0-9]*\).*/\1/p' "$TMPD/rec.err")
echo "queue 1 not captured: src_drop_iface $ifdrop, XDP count $redirected"
[ "$ifdrop" -gt 0 ] && [ "$ifdrop" = "$redirected" ] || fail "packets on the uncaptured queue are not counted as interface drops ($ifdrop vs $redirected)"
[ -z "$(xdp_prog_on_span)" ] || fail "program left after the 1-queue recording"

log "privileges"
# without CAP_IPC_LOCK: 2 x 64 MiB of UMEM cannot be locked under an 8 MiB limit...
if [ "$(ulimit -l)" != unlimited ]; then
    expect_fail "no CAP_IPC_LOCK" setpriv --bounding-set=-ipc_lock "${REC2[@]}"
    expect_msg "CAP_IPC_LOCK is missing"
    expect_msg "lower --buffer-size"
    [ -z "$(xdp_prog_on_span)" ] || fail "program left after the memlock failure"
    # ... 2 x 1 MiB can
    ip netns exec "$NS_MON" setpriv --bounding-set=-ipc_lock "${REC2[@]}" --buffer-size 1M > "$TMPD/small.out" 2>&1 ||
        fail "a 1 MiB UMEM per queue without CAP_IPC_LOCK: $(cat "$TMPD/small.out")"
fi
# without CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN
expect_fail "no CAP_BPF/CAP_NET_ADMIN" setpriv --bounding-set=-bpf,-net_admin,-sys_admin,-perfmon "${REC2[@]}"
expect_msg "CAP_BPF"
expect_msg "CAP_NET_ADMIN"
[ -z "$(xdp_prog_on_span)" ] || fail "program left after the privilege failure"
echo "PASS live_afxdp_errors"
