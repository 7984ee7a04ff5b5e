#!/bin/bash
# The XDP program's parser, end to end: generated memcache traffic is
# rewritten into 802.1Q, QinQ (802.1ad + 802.1Q), IPv4-with-options and
# IPv6-with-extension-headers (hop-by-hop + destination options) frames, with
# TCP traffic on other ports mixed in, and replayed into the SPAN veth. The
# program must redirect exactly the memcache frames (its counters), pass the
# rest, and `mbx record --backend afxdp` must find every request the
# generator made (as `mbx record` of the same file does offline). Mode $1:
# skb | drv.
source "$(dirname "$0")/live_afxdp_lib.sh"
MODE=${1:?xdp mode}
afxdp_need
need_cmd tcpreplay
[ -x "${MBX_GENCAP:-}" ] || skip "mbx-gencap not built (MBX_GENCAP)"
topo_up 1
# room for two VLAN tags on full-size segments
ip -n "$NS_SRV" link set dev span_s mtu 1600 && ip -n "$NS_MON" link set dev span_m mtu 1600 || fail "mtu"

"$MBX_GENCAP" -o "$TMPD/b4.pcap" -n 2000 --conns 10 --format pcap --max-value 3000 2> /dev/null || fail "gencap"
"$MBX_GENCAP" -o "$TMPD/b6.pcap" -n 2000 --conns 10 --format pcap --max-value 3000 --ipv6 2> /dev/null || fail "gencap ipv6"

# variant IN OUT KIND: rewrite every frame; then add a copy of each TCP frame
# on other ports (11212 -> 80) that must be passed. Prints "memcache other".
variant() {
    "$PY" - "$@" <<'PY'
import struct, sys
src, out, kind = sys.argv[1:4]
f = open(src, "rb"); gh = f.read(24)
frames = []
while True:
    h = f.read(16)
    if len(h) < 16: break
    ts, us, cl, wl = struct.unpack("<IIII", h)
    frames.append((ts, us, f.read(cl)))

def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b + b"\0" * (len(b) % 2)))
    while s >> 16: s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

def rewrite(d):
    eth, l3 = d[:12], d[14:]
    et = d[12:14]
    if kind == "vlan":
        return eth + b"\x81\x00\x00\x64" + et + l3
    if kind == "qinq":
        return eth + b"\x88\xa8\x00\xc8\x81\x00\x00\x64" + et + l3
    if kind == "ipopt":  # 8 bytes of options: NOP x3 + a 5-byte... keep it simple: 8 NOPs
        ihl = (l3[0] & 15) * 4
        hdr = bytearray(l3[:ihl] + b"\x01" * 8)
        hdr[0] = 0x40 | (ihl + 8) // 4
        struct.pack_into("!H", hdr, 2, struct.unpack("!H", l3[2:4])[0] + 8)
        struct.pack_into("!H", hdr, 10, 0)
        struct.pack_into("!H", hdr, 10, csum(bytes(hdr)))
        return eth + et + bytes(hdr) + l3[ihl:]
    if kind == "v6ext":  # hop-by-hop (PadN) and destination options (PadN)
        nh = l3[6]
        hbh = bytes([60, 0, 1, 4, 0, 0, 0, 0])
        dst = bytes([nh, 0, 1, 4, 0, 0, 0, 0])
        hdr = bytearray(l3[:40])
        hdr[6] = 0
        struct.pack_into("!H", hdr, 4, struct.unpack("!H", l3[4:6])[0] + 16)
        return eth + et + bytes(hdr) + hbh + dst + l3[40:]
    return d

def other_port(d):
    # the same frame on ports 11212 -> 80 (TCP header offset found again)
    off = 14
    while d[off - 2:off] in (b"\x81\x00", b"\x88\xa8"): off += 4
    et = d[off - 2:off]
    if et == b"\x08\x00":
        l4 = off + (d[off] & 15) * 4
    else:
        l4, nh = off + 40, d[off + 6]
        while nh in (0, 60):
            nh, l4 = d[l4], l4 + (d[l4 + 1] + 1) * 8
    b = bytearray(d)
    sp, dp = struct.unpack("!HH", d[l4:l4 + 4])
    struct.pack_into("!HH", b, l4, 80 if sp == 11211 else sp, 80 if dp == 11211 else dp)
    return bytes(b)

o = open(out, "wb"); o.write(gh)
mc = other = 0
for ts, us, d in frames:
    d = rewrite(d)
    for x, is_mc in ((d, True), (other_port(d), False)):
        o.write(struct.pack("<IIII", ts, us, len(x), len(x))); o.write(x)
        mc += is_mc; other += not is_mc
print(mc, other)
PY
}

rc_all=0
for kind in vlan qinq ipopt v6ext; do
    base=b4; [ $kind = v6ext ] && base=b6
    read -r n_mc n_other <<< "$(variant "$TMPD/$base.pcap" "$TMPD/$kind.pcap" $kind)" || fail "variant $kind"
    "$MBX" record "$TMPD/$kind.pcap" -o "$TMPD/$kind-off.mbx" -q --summary-json "$TMPD/$kind-off.json" || fail "offline record of $kind"
    off_events=$(counter "$TMPD/$kind-off.json" events)
    [ "$off_events" -ge 2000 ] || fail "$kind: the offline recording has $off_events events (the rewrite broke the frames?)"

    rec_start "$TMPD/$kind.mbx" --xdp-mode "$MODE" --queues 1 --summary-json "$TMPD/$kind.json"
    ip netns exec "$NS_SRV" tcpreplay -i span_s --pps 20000 "$TMPD/$kind.pcap" > "$TMPD/tcpreplay.out" 2>&1 ||
        fail "tcpreplay $kind: $(tail -3 "$TMPD/tcpreplay.out")"
    rec_stop
    live_events=$(counter "$TMPD/$kind.json" events)
    redirected=$(sed -n 's/.*XDP redirected \([0-9]*\), passed \([0-9]*\).*/\1/p' "$TMPD/rec.err")
    passed=$(sed -n 's/.*XDP redirected \([0-9]*\), passed \([0-9]*\).*/\2/p' "$TMPD/rec.err")
    echo "$kind: $n_mc memcache + $n_other other frames; XDP redirected $redirected, passed $passed; events live $live_events, offline $off_events"
    [ "$redirected" = "$n_mc" ] || fail "$kind: XDP redirected $redirected frames, expected $n_mc"
    [ "${passed:-0}" -ge "$n_other" ] || fail "$kind: XDP passed $passed frames, expected at least $n_other"
    [ "$live_events" = "$off_events" ] || fail "$kind: $live_events events live, $off_events offline"
    check_no_loss "$TMPD/$kind.json"
done
[ -z "$(xdp_prog_on_span)" ] || fail "program left on span_m"
echo "PASS live_afxdp_parse $MODE"
