#!/bin/bash
# Bad input gets a clear message and a non-zero exit, never a crash, a hang or
# silent data loss (product rule). For every case: the exit status (2 = bad
# command line, 1 = the command ran and failed), key words of the message on
# stderr, no signal death, no sanitizer report, no hang (timeout). Garbage on
# the wire is not an error: mbx record must finish with status 0 and count it.
# Test files are generated here (python3 writes pcap bytes directly).
# No root needed; as root, the permission case runs mbx as nobody (setpriv).
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=$(cd "${MBX_SRCDIR:-$HERE/../..}" && pwd)
MBX=${MBX:?set MBX to the mbx binary}
MBX=$(cd "$(dirname "$MBX")" && pwd)/$(basename "$MBX")
PY=/usr/bin/python3
EXAMPLE=$SRC/tests/data/example.pcap
[ -x "$PY" ] || { echo "SKIP: $PY is needed to generate test captures" >&2; exit 77; }
[ -f "$EXAMPLE" ] || { echo "FAIL: $EXAMPLE is missing" >&2; exit 1; }

T=$(mktemp -d /tmp/mbx-err.XXXXXX)
trap 'chmod -R u+rwX "$T" 2>/dev/null; [ -n "${KEEP_TMP:-}" ] || rm -rf "$T"' EXIT
cd "$T" || exit 1
NFAIL=0
NCASE=0
TIMEOUT=${CLI_TIMEOUT:-30}

bad() { echo "FAIL [$CASE]: $*" >&2; NFAIL=$((NFAIL + 1)); }

# run CASE-NAME ARGS...: run mbx ARGS with stdin from $STDIN (default /dev/null);
# sets RC; stdout in $T/out, stderr in $T/err.
run() {
    CASE=$1; shift
    NCASE=$((NCASE + 1))
    timeout -k 5 "$TIMEOUT" "${PREFIX[@]}" "$MBX" "$@" < "${STDIN:-/dev/null}" > "$T/out" 2> "$T/err"
    RC=$?
    if [ "$RC" = 124 ] || [ "$RC" = 137 ]; then
        bad "mbx $*: did not finish within ${TIMEOUT} s (hang?)"
    elif [ "$RC" -ge 128 ]; then
        bad "mbx $*: killed by signal $((RC - 128))"
    fi
    if grep -qE 'Sanitizer|runtime error:|Segmentation fault|core dumped' "$T/err"; then
        bad "mbx $*: sanitizer report or crash:"
        head -20 "$T/err" | sed 's/^/    /' >&2
    fi
}

# expect RC PATTERN...: the last run exited with RC and its stderr matches every
# PATTERN (extended regex, case-insensitive). Usage errors (2) print nothing on
# stdout.
expect() {
    local want=$1 p; shift
    if [ "$RC" != "$want" ]; then
        bad "exit status $RC, want $want; stderr: $(head -3 "$T/err")"
        return
    fi
    for p in "$@"; do
        grep -qiE -- "$p" "$T/err" || bad "stderr lacks /$p/; stderr: $(head -3 "$T/err")"
    done
    if [ "$want" = 2 ] && [ -s "$T/out" ]; then
        bad "a usage error printed on stdout: $(head -2 "$T/out")"
    fi
}

# stdout_has PATTERN...
stdout_has() {
    local p
    for p in "$@"; do
        grep -qiE -- "$p" "$T/out" || bad "stdout lacks /$p/"
    done
}

# json FILE EXPR: evaluate a python expression over the parsed JSON document d
json() {
    "$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

PREFIX=()

# ---------------------------------------------------------------- test files

cat > mkcap.py <<'PYEOF'
# Write small pcap files byte by byte: Ethernet/IPv4/TCP conversations with
# real sequence numbers, or a file of an unsupported link type.
import random, struct, sys

def csum(b):
    if len(b) % 2:
        b += b'\0'
    s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xffff) + (s >> 16)
    return ~s & 0xffff

class Cap:
    def __init__(self, path, linktype=1):
        self.f = open(path, 'wb')
        self.t = 1700000000.0
        self.f.write(struct.pack('<IHHiIII', 0xa1b2c3d4, 2, 4, 0, 0, 262144, linktype))
    def raw(self, data):
        self.t += 0.0001
        sec = int(self.t)
        self.f.write(struct.pack('<IIII', sec, int((self.t - sec) * 1e6), len(data), len(data)) + data)
    def close(self):
        self.f.close()

class Conn:
    def __init__(self, cap, cport, sport=11211):
        self.cap, self.port, self.seq = cap, (cport, sport), [1000, 5000]
        self.ip = (bytes([10, 0, 0, 2]), bytes([10, 0, 0, 1]))
    def frame(self, d, flags, payload=b''):
        tcp = struct.pack('!HHIIBBHHH', self.port[d], self.port[1 - d], self.seq[d],
                          self.seq[1 - d], 5 << 4, flags, 65535, 0, 0)
        ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 40 + len(payload), 0, 0x4000, 64, 6, 0,
                         self.ip[d], self.ip[1 - d])
        ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
        eth = bytes([2, 0, 0, 0, 0, 2 - d, 2, 0, 0, 0, 0, 1 + d, 8, 0])
        self.cap.raw(eth + ip + tcp + payload)
        self.seq[d] = (self.seq[d] + len(payload) + (1 if flags & 0x03 else 0)) & 0xffffffff
    def open(self):
        self.frame(0, 0x02); self.frame(1, 0x12); self.frame(0, 0x10)
    def send(self, d, data):  # d = 0: client -> server, 1: server -> client
        for i in range(0, len(data), 1448):
            self.frame(d, 0x18, data[i:i + 1448])
    def close(self):
        self.frame(0, 0x11); self.frame(1, 0x11); self.frame(0, 0x10)

def binhdr(magic, op, keylen, extlen, bodylen):
    return struct.pack('!BBHBBHIIQ', magic, op, keylen, extlen, 0, 0, bodylen, 0, 0)

kind, path = sys.argv[1], sys.argv[2]
rnd = random.Random(42)
if kind == 'linktype':      # USER0: nothing mbx can decode
    cap = Cap(path, linktype=147)
    cap.raw(b'\0' * 60)
    cap.close()
    sys.exit(0)
cap = Cap(path)
c = Conn(cap, 40000)
c.open()
if kind == 'random':        # random bytes both ways, plus a connection seen mid-stream
    m = Conn(cap, 40001)
    for _ in range(40):
        for conn in (c, m):
            conn.send(0, bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4000))))
            conn.send(1, bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 4000))))
elif kind == 'longlines':   # lines far over the 2048-byte limit, no line end for 100 KB
    c.send(0, b'set ' + b'k' * 5000 + b' 0 0 1\r\nx\r\n')
    c.send(0, b'Z' * 100000 + b'\r\n')
    c.send(0, b'mg ' + b'f' * 9000 + b' v\r\n')
    c.send(1, b'Q' * 50000 + b'\r\n')
elif kind == 'binhdr':      # binary headers with absurd lengths, absurd text sizes
    for op in (0x00, 0x01, 0x0c, 0x42, 0xff):
        c.send(0, binhdr(0x80, op, 0xffff, 0xff, 0xffffffff))
        c.send(0, binhdr(0x80, op, 10, 0, 0x7fffffff) + b'0123456789')
        c.send(1, binhdr(0x81, op, 0xffff, 0xff, 0xffffffff))
    c.send(0, b'set k 0 0 99999999999999999999999\r\n')
    c.send(0, b'set k 0 0 -5\r\n')
    c.send(1, b'VALUE k 0 99999999999999999999999\r\n')
else:
    sys.exit('unknown kind ' + kind)
# then a valid exchange: a parser that resynchronised finds it
c.send(0, b'\r\nget foo\r\n')
c.send(1, b'\r\nEND\r\n')
c.close()
cap.close()
PYEOF

for k in random longlines binhdr linktype; do
    "$PY" mkcap.py "$k" "$k.pcap" || { echo "FAIL: cannot generate $k.pcap" >&2; exit 1; }
done
: > empty.file
printf 'hello, this is not a capture\n' > text.file
mkdir dir.d
head -c 10 "$EXAMPLE" > hdr10.pcap                       # inside the 24-byte file header
head -c 34 "$EXAMPLE" > rechdr.pcap                      # inside the first record header
head -c 100000 "$EXAMPLE" > mid.pcap                     # inside a record, after many packets

# ---------------------------------------------------------------- command line (2)

run no-command;          expect 2 'Usage: mbx COMMAND'
run unknown-command frob; expect 2 "unknown command 'frob'"
run help-unknown help frob; expect 2 "unknown command 'frob'"
run unknown-long record --frob x -o y.mbx; expect 2 'unknown option --frob' "Try 'mbx record --help'"
run unknown-short analyze -x p.mbx;  expect 2 'unknown option -x' "Try 'mbx analyze --help'"
run missing-value record "$EXAMPLE" -o; expect 2 '--output needs a value'
run missing-value-int analyze p.mbx --top; expect 2 '--top needs a value \(N\)'
run flag-with-value record --quiet=yes -o y.mbx x; expect 2 '--quiet takes no value'
run combined-flags record -qv -o y.mbx x; expect 2 '-q takes no value'
run bad-uint analyze --top abc p.mbx; expect 2 "--top: 'abc' is not a non-negative integer"
run negative-uint analyze --top -1 p.mbx; expect 2 "--top: '-1' is not a non-negative integer"
run huge-uint inspect -n 99999999999999999999999 p.mbx; expect 2 '--limit: .* is too large'
run bad-size record --ooo-bytes 12q -o y.mbx x; expect 2 "--ooo-bytes: '12q' is not a size"
run nan-size record --ooo-memory nan -o y.mbx x; expect 2 "--ooo-memory: 'nan' is not a size"
run hex-size record --ooo-bytes 0x1000 -o y.mbx x; expect 2 "--ooo-bytes: '0x1000' is not a size"
run bad-duration record --flow-timeout 10y -o y.mbx x; expect 2 "--flow-timeout: '10y' is not a duration"
run neg-duration analyze --interval -1s p.mbx; expect 2 "--interval: '-1s' is not a duration"
run bad-choice inspect -f xml p.mbx; expect 2 "--format: 'xml' is not one of: text csv"
run range-uint record --max-flows 1 -o y.mbx x; expect 2 '--max-flows: 1 is out of range \(16 to 67108864\)'
run range-uint-max analyze --top 100001 p.mbx; expect 2 '--top: 100001 is out of range \(1 to 100000\)'
run range-uint-zero analyze --top 0 p.mbx; expect 2 '--top: 0 is out of range'
run range-rows-zero analyze --rows 0 p.mbx; expect 2 '--rows: 0 is out of range'
run range-skew-max record --direction-skew 101ms -o y.mbx x; expect 2 '--direction-skew: 101ms is out of range \(at most 100ms\)'
run range-batch-wait replay --batch-wait 11ms --target 127.0.0.1:1 p.mbx; expect 2 '--batch-wait: 11ms is out of range \(at most 10ms\)'
run range-size record --ooo-bytes 1 -o y.mbx x; expect 2 '--ooo-bytes: 1 is out of range \(1 KiB to 1 GiB\)'
run range-duration record --flow-timeout 0 -o y.mbx x; expect 2 '--flow-timeout: 0 is out of range \(at least 1ms\)'
run range-events record --block-events 0 -o y.mbx x; expect 2 '--block-events: 0 is out of range'
for p in 0 70000 '' 1,,2 11211, abc; do
    run "bad-port-'$p'" record -p "$p" -o y.mbx x; expect 2 "--port: '$p' is not a TCP port"
done
run too-many-ports record -p 1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17 -o y.mbx x
expect 2 '--port: at most 16 ports'
run missing-capture record -o y.mbx; expect 2 'give a CAPTURE file or --iface IFACE'
run missing-profile analyze; expect 2 'missing argument: PROFILE'
run missing-profile-inspect inspect; expect 2 'missing argument: PROFILE'
run extra-positional record a b -o y.mbx; expect 2 'give a CAPTURE file or --iface IFACE'
run capture-and-iface record a -i lo -o y.mbx; expect 2 'give a CAPTURE file or --iface IFACE'
run eal-args-for-file record a -o y.mbx -- --no-pci; expect 2 "arguments after '--' are for live capture"
run live-bad-iface record -i nosuchif0 -o y.mbx --duration 1s; expect 1 "no interface named 'nosuchif0'"
run live-bad-lcores record -i lo -l 5-2 -o y.mbx; expect 2 'not a CPU list'
run live-bad-rotate record -i lo --rotate 1x -o y.mbx; expect 2 'rotate'
run extra-positional-analyze analyze p.mbx q.mbx; expect 2 "unexpected argument 'q.mbx'"
run missing-output record "$EXAMPLE"; expect 2 '--output FILE is required'
run empty-output record "$EXAMPLE" --output=; expect 2 '--output must not be empty'
run stdout-output record "$EXAMPLE" -o -; expect 2 'cannot be written to stdout'
[ -e ./- ] && bad "'-o -' created a file named '-'"
cp "$EXAMPLE" same.pcap
run output-is-capture record same.pcap -o ./same.pcap; expect 2 'is the capture file itself'
cmp -s "$EXAMPLE" same.pcap || bad "mbx record overwrote its own capture"
run empty-salt record "$EXAMPLE" -o y.mbx --salt ''; expect 2 '--salt must not be empty'
run two-salts record "$EXAMPLE" -o y.mbx --salt a --salt-file s; expect 2 'use --salt or --salt-file, not both'
run unknown-op inspect --op frob p.mbx; expect 2 "unknown op 'frob'"
[ -e y.mbx ] && bad "a usage error created the output file"

# ---------------------------------------------------------------- record: failures (1)

run salt-file-missing record "$EXAMPLE" -o y.mbx --salt-file nope.txt
expect 1 'cannot read salt file nope.txt: No such file'
run salt-file-empty record "$EXAMPLE" -o y.mbx --salt-file empty.file
expect 1 'salt file empty.file: the first line is empty'
run capture-missing record nope.pcap -o y.mbx; expect 1 'nope.pcap: cannot open: No such file or directory'
[ -e y.mbx ] && bad "a missing capture created the output file"
run capture-directory record dir.d -o y.mbx; expect 1 'dir.d: cannot read: Is a directory'
run capture-empty record empty.file -o y.mbx; expect 1 'empty.file: empty file \(0 bytes\)'
run capture-text record text.file -o y.mbx; expect 1 'not a pcap or pcapng capture file \(unknown magic'
run capture-hdr10 record hdr10.pcap -o y.mbx; expect 1 'truncated pcap file header \(10 of 24 bytes\)'
run capture-stdin-empty record - -o y.mbx; expect 1 'empty file'
run linktype record linktype.pcap -o y.mbx; expect 1 'unsupported link type 147'
[ -e y.mbx ] && bad "an unsupported capture created the output file"

# unreadable: as root, permissions only bind another user
cp "$EXAMPLE" unread.pcap; chmod 000 unread.pcap; chmod 755 "$T"
if [ "$(id -u)" != 0 ]; then
    run capture-unreadable record unread.pcap -o /tmp/mbx-unread-$$.mbx
    expect 1 'unread.pcap: cannot open: Permission denied'
elif command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups "$MBX" version >/dev/null 2>&1; then
    PREFIX=(setpriv --reuid=65534 --regid=65534 --clear-groups)
    run capture-unreadable record unread.pcap -o /tmp/mbx-unread-$$.mbx
    expect 1 'unread.pcap: cannot open: Permission denied'
    PREFIX=()
else
    echo "note: capture-unreadable not run (root, and cannot run mbx as nobody)" >&2
fi
rm -f /tmp/mbx-unread-$$.mbx

run output-missing-dir record "$EXAMPLE" -o nodir/sub/y.mbx
expect 1 'cannot create profile nodir/sub/y.mbx: No such file or directory'
[ -s "$T/out" ] && bad "a profile that could not be created still got a summary"
run output-directory record "$EXAMPLE" -o dir.d; expect 1 'cannot create profile dir.d: Is a directory'
run summary-json-missing-dir record "$EXAMPLE" -o y.mbx -q --summary-json nodir/s.json
expect 1 'cannot write nodir/s.json: No such file'

# A capture cut short: keep what was read, complete the profile, say so, exit 1.
for c in rechdr mid mid-stdin; do
    f=${c%-stdin}.pcap
    if [ "$c" = mid-stdin ]; then
        STDIN=$f run truncated-$c record - -o $c.mbx --summary-json $c.json
    else
        run truncated-$c record $f -o $c.mbx --summary-json $c.json
    fi
    expect 1 'truncated dump file' 'kept the [0-9]+ packets read before it'
    stdout_has 'src_errors +1 '
    kept=$(grep -oE 'kept the [0-9]+ packets' "$T/err" | grep -oE '[0-9]+')
    pkts=$(json $c.json 'd["counters"]["pkts"]')
    events=$(json $c.json 'd["events"]')
    [ "${kept:-x}" = "$pkts" ] || bad "message says kept $kept packets, summary says $pkts"
    run truncated-$c-analyze analyze --strict --no-text -j $c.a.json $c.mbx
    expect 0
    [ "$(json $c.a.json 'd["profile"]["state"]')" = complete ] || bad "the profile of a cut capture is not complete"
    [ "$(json $c.a.json 'd["summary"]["events"]')" = "$events" ] || bad "profile events differ from the summary ($events)"
    [ "$c" = rechdr ] || [ "$events" -gt 0 ] || bad "no events kept from a capture cut after $pkts packets"
done

# ---------------------------------------------------------------- profiles

"$MBX" record "$EXAMPLE" -o ok.mbx -q --block-events 100 || { echo "FAIL: cannot record the example" >&2; exit 1; }
"$MBX" analyze ok.mbx --no-text -j ok.json || { echo "FAIL: cannot analyze the example" >&2; exit 1; }
TOTAL=$(json ok.json 'd["summary"]["events"]')
# block offsets, from the format (docs/profile-format.md): 440-byte header,
# blocks of 48 + payload_len bytes, payload_len at +20, then the 24-byte trailer
read -r -a BLK <<< "$("$PY" - ok.mbx <<'PYEOF'
import struct, sys
b = open(sys.argv[1], 'rb').read()
off, out = struct.unpack_from('<I', b, 12)[0], []
while off + 48 <= len(b) - 24:
    out.append(off)
    off += 48 + struct.unpack_from('<I', b, off + 20)[0]
print(' '.join(map(str, out + [off])))
PYEOF
)"
NB=$((${#BLK[@]} - 2))   # event blocks; BLK[NB] = footer, BLK[NB+1] = trailer
SIZE=$(stat -c %s ok.mbx)
[ "$NB" -ge 4 ] && [ "${BLK[$((NB + 1))]}" = $((SIZE - 24)) ] || { echo "FAIL: unexpected layout of ok.mbx: ${BLK[*]} (size $SIZE)" >&2; exit 1; }

for cmd in analyze inspect; do
    run $cmd-missing $cmd nope.mbx; expect 1 'nope.mbx: cannot open: No such file'
    run $cmd-directory $cmd dir.d; expect 1 'dir.d: .*Is a directory'
    run $cmd-empty $cmd empty.file; expect 1 'empty file'
    run $cmd-not-profile $cmd "$EXAMPLE"; expect 1 'not an mbx profile'
    run $cmd-text $cmd text.file; expect 1 'not an mbx profile'
done

# truncated inside the header: nothing to report
for n in 5 8 100 439; do
    head -c $n ok.mbx > cut.mbx
    run header-cut-$n analyze cut.mbx; expect 1 'truncated header'
done

# truncated after the header: warn, report what was read; --strict fails
cut_at() { # NAME OFFSET EVENTS-EXPECTED
    local name=$1 off=$2 want=$3
    head -c "$off" ok.mbx > $name.mbx
    run cut-$name analyze $name.mbx -j $name.json
    expect 0 "warning: $name.mbx is incomplete" "read $want events"
    stdout_has 'INCOMPLETE'
    [ "$(json $name.json 'd["summary"]["events"]')" = "$want" ] || bad "analysis of $name.mbx does not have $want events"
    run cut-$name-strict analyze --strict $name.mbx
    expect 1 "error: $name.mbx is incomplete" '--strict'
    stdout_has 'INCOMPLETE'
    run cut-$name-inspect inspect --no-header $name.mbx
    expect 0 "warning: $name.mbx is incomplete"
    [ "$(wc -l < "$T/out")" = "$want" ] || bad "inspect printed $(wc -l < "$T/out") events, want $want"
    run cut-$name-inspect-strict inspect --strict $name.mbx
    expect 1 "incomplete"
}
cut_at after-header 440 0
cut_at first-block-header $((BLK[0] + 20)) 0
cut_at first-block-payload $((BLK[0] + 500)) 0
cut_at fourth-block $((BLK[3] + 1000)) 300
cut_at block-boundary "${BLK[3]}" 300
cut_at footer-header $((BLK[NB] + 30)) "$TOTAL"
cut_at footer-payload $((BLK[NB] + 100)) "$TOTAL"
cut_at no-trailer "${BLK[$((NB + 1))]}" "$TOTAL"
cut_at trailer-part $((SIZE - 1)) "$TOTAL"

# one bit flipped: the damage is located (block and offset) and reading fails
flip() { # NAME OFFSET PATTERN...
    local name=$1 off=$2; shift 2
    cp ok.mbx $name.mbx
    "$PY" -c 'import sys; f = open(sys.argv[1], "r+b"); o = int(sys.argv[2]); f.seek(o); b = f.read(1); f.seek(o); f.write(bytes([b[0] ^ 0x10]))' $name.mbx "$off"
    for cmd in analyze inspect; do
        run flip-$name-$cmd $cmd $name.mbx
        expect 1 "$@"
    done
}
flip magic 2 'not an mbx profile'
flip version 9 'unsupported profile version'
flip header-len 12 'corrupt header: length 424'
flip header-field 300 'header checksum mismatch'
flip header-crc 437 'header checksum mismatch'
flip block0-header $((BLK[0] + 8)) "block 0 at offset ${BLK[0]}" 'the 0 events before this block are intact'
flip block0-payload $((BLK[0] + 100)) "block 0 at offset ${BLK[0]}" 'checksum mismatch'
flip block3-payload $((BLK[3] + 300)) "block 3 at offset ${BLK[3]}" 'checksum mismatch' 'the 300 events before this block are intact'
flip block3-length $((BLK[3] + 21)) "block 3 at offset ${BLK[3]}"
flip footer $((BLK[NB] + 60)) "block $NB at offset ${BLK[$NB]}" 'footer'
flip trailer $((SIZE - 10)) 'trailer at offset' 'damaged'
# the report still covers the events before the damage, and says so
run flip-report analyze block3-payload.mbx -j flip.json
expect 1 'corrupt'
stdout_has 'ERROR +reading stopped early: block 3'
[ "$(json flip.json 'd["summary"]["events"]')" = 300 ] || bad "the analysis of a damaged profile does not have the 300 events before the damage"

# ---------------------------------------------------------------- garbage on the wire (0)

for k in random longlines binhdr; do
    run garbage-$k record $k.pcap -o $k.mbx --summary-json $k.json
    expect 0
    stdout_has 'losses and anomalies'
    case $k in
    random) need="parse_errors resync_bytes" ;;
    longlines) need="line_too_long resync_bytes" ;;
    binhdr) need="parse_errors resync_bytes" ;;
    esac
    for ctr in $need; do
        v=$(json $k.json "d['counters']['$ctr']")
        [ "${v:-0}" -gt 0 ] 2>/dev/null || bad "$ctr is $v: garbage not counted"
        stdout_has "^ +$ctr +[1-9][0-9]* "
    done
    run garbage-$k-analyze analyze --strict $k.mbx -j $k.a.json
    expect 0
    stdout_has 'LOSSES'
    for ctr in $need; do
        v=$(json $k.a.json "d['capture']['losses'].get('$ctr', 0)")
        [ "${v:-0}" -gt 0 ] 2>/dev/null || bad "analyze does not report $ctr as a loss"
    done
done
# after absurd binary lengths the parsers resynchronise on the valid exchange at the end
run garbage-binhdr-last inspect -f csv --no-header binhdr.mbx
last=$(tail -1 "$T/out" | tr -d '\r')
case "$last" in
*,text,get,*,miss,*) ;;
*) bad "the get after the garbage was not recovered and paired (last event: $last)" ;;
esac

echo "$NCASE cases, $NFAIL failures" >&2
[ "$NFAIL" = 0 ] || exit 1
echo "PASS cli_errors"
