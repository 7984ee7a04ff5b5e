/* SPDX-License-Identifier: Apache-2.0 */
/* The offline capture source (pcap usec/nsec, pcapng, broken files), the
 * pktbuild capture writers and TCP conversation helper that every other
 * test relies on, and the real captures in the shared data directory. */
/* cmocka.h needs these first */
// clang-format off
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
// clang-format on

#include "mbx/decode.h"
#include "mbx/source.h"
#include "pktbuild.h"

#ifndef MBX_SHARED_DATA_DIR
#define MBX_SHARED_DATA_DIR "../shared/data"
#endif

static char tmpdir[256];

static int setup(void **state)
{
	(void)state;
	return pb_tmpdir(tmpdir, sizeof(tmpdir));
}

static int teardown(void **state)
{
	(void)state;
	pb_tmpdir_remove(tmpdir);
	return 0;
}

static const char *tmp(const char *name)
{
	static char path[512];
	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	return path;
}

static struct mbx_pcap_file *open_ok(const char *path)
{
	char err[512] = "";
	struct mbx_pcap_file *f = mbx_pcap_file_open(path, err, sizeof(err));
	if (!f)
		fail_msg("open %s: %s", path, err);
	return f;
}

/* Open must fail; the message must name the file and contain `what`. */
static void open_fails(const char *path, const char *what)
{
	char err[512] = "";
	errno = 0;
	struct mbx_pcap_file *f = mbx_pcap_file_open(path, err, sizeof(err));
	if (f)
		fail_msg("open %s succeeded, expected '%s'", path, what);
	assert_true(errno != 0);
	if (!strstr(err, path) || !strstr(err, what))
		fail_msg("open %s: message '%s' lacks the path or '%s'", path, err, what);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
	FILE *fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* A small frame whose payload encodes i, so that order can be checked. */
static size_t frame_n(uint8_t *buf, size_t cap, unsigned i, uint32_t len)
{
	static char payload[2000];
	snprintf(payload, sizeof(payload), "pkt %08u ", i);
	for (uint32_t k = 13; k < len && k < sizeof(payload); k++)
		payload[k] = (char)('a' + (i + k) % 26);
	struct pb_pkt p = {
	    .src = pb_ip("10.0.0.1"),
	    .dst = pb_ip("10.0.0.2"),
	    .sport = 40000,
	    .dport = 11211,
	    .seq = i,
	    .flags = MBX_TCP_ACK,
	    .payload = payload,
	    .len = len < 13 ? 13 : len,
	};
	size_t n = pb_build(&p, buf, cap, NULL);
	assert_true(n > 0);
	return n;
}

/* ---------------------------------------------------------------- */

/* Timestamps chosen to exercise every digit, including values that are not
 * multiples of 1000 ns (which a usec file cannot hold). */
static const uint64_t stamps[] = {
    0,
    1,
    999,
    1000000000ULL,
    1700000000123456789ULL,
    1700000000999999999ULL,
    4294967295ULL * 1000000000ULL + 999999999ULL, /* last second of a u32 */
};

static void roundtrip(enum pb_fmt fmt, const char *name, uint64_t ts_unit)
{
	uint8_t buf[2100];
	struct pb_writer *w = pb_writer_open(tmp(name), fmt, MBX_LINK_ETHERNET, 0);
	assert_non_null(w);
	for (unsigned i = 0; i < MBX_ARRAY_SIZE(stamps); i++) {
		size_t n = frame_n(buf, sizeof(buf), i, 13 + i * 200);
		assert_int_equal(pb_writer_add(w, stamps[i], buf, (uint32_t)n), 0);
	}
	assert_int_equal(pb_writer_count(w), MBX_ARRAY_SIZE(stamps));
	assert_int_equal(pb_writer_close(w), 0);

	struct mbx_pcap_file *f = open_ok(tmp(name));
	assert_int_equal(mbx_pcap_file_linktype(f), MBX_LINK_ETHERNET);
	assert_int_equal(mbx_pcap_file_snaplen(f), 262144);
	struct mbx_pkt pkt;
	for (unsigned i = 0; i < MBX_ARRAY_SIZE(stamps); i++) {
		assert_int_equal(mbx_pcap_file_next(f, &pkt), 1);
		size_t n = frame_n(buf, sizeof(buf), i, 13 + i * 200);
		assert_int_equal(pkt.caplen, n);
		assert_int_equal(pkt.wirelen, n);
		assert_memory_equal(pkt.data, buf, n);
		uint64_t want = stamps[i] / ts_unit * ts_unit;
		if (pkt.ts_ns != want)
			fail_msg("%s packet %u: ts %llu, want %llu", name, i,
				 (unsigned long long)pkt.ts_ns, (unsigned long long)want);
	}
	assert_int_equal(mbx_pcap_file_next(f, &pkt), 0);
	assert_int_equal(mbx_pcap_file_next(f, &pkt), 0);
	mbx_pcap_file_close(f);
}

static void pcap_usec(void **state)
{
	(void)state;
	roundtrip(PB_PCAP_US, "us.pcap", 1000);
}

static void pcap_nsec_exact(void **state)
{
	(void)state;
	roundtrip(PB_PCAP_NS, "ns.pcap", 1);
}

static void pcapng_nsec_and_usec(void **state)
{
	(void)state;
	roundtrip(PB_PCAPNG_NS, "ns.pcapng", 1);
	roundtrip(PB_PCAPNG_US, "us.pcapng", 1000);
}

/* A big-endian pcap file (written on a SPARC, say): every field swapped. */
static void pcap_big_endian(void **state)
{
	(void)state;
	uint8_t buf[200];
	FILE *fp = fopen(tmp("be.pcap"), "wb");
	assert_non_null(fp);
	assert_int_equal(pb_pcap_header(fp, __builtin_bswap32(PB_PCAP_MAGIC_NS),
					__builtin_bswap16(2), __builtin_bswap16(4),
					__builtin_bswap32(65535),
					__builtin_bswap32(MBX_LINK_ETHERNET)),
			 0);
	size_t n = frame_n(buf, sizeof(buf), 7, 30);
	assert_int_equal(
	    pb_pcap_record(fp, __builtin_bswap32(1700000000), __builtin_bswap32(123456789),
			   __builtin_bswap32((uint32_t)n), __builtin_bswap32((uint32_t)n), buf, n),
	    0);
	assert_int_equal(fclose(fp), 0);

	struct mbx_pcap_file *f = open_ok(tmp("be.pcap"));
	assert_int_equal(mbx_pcap_file_linktype(f), MBX_LINK_ETHERNET);
	assert_int_equal(mbx_pcap_file_snaplen(f), 65535);
	struct mbx_pkt pkt;
	assert_int_equal(mbx_pcap_file_next(f, &pkt), 1);
	assert_int_equal(pkt.ts_ns, 1700000000123456789ULL);
	assert_int_equal(pkt.caplen, n);
	assert_memory_equal(pkt.data, buf, n);
	assert_int_equal(mbx_pcap_file_next(f, &pkt), 0);
	mbx_pcap_file_close(f);
}

/* Some writers put the version fields in big-endian order into a
 * little-endian file (deepflow's memcached capture does): libpcap refuses
 * "version 512.1024"; we read it. */
static void pcap_swapped_version_fields(void **state)
{
	(void)state;
	uint8_t buf[200];
	FILE *fp = fopen(tmp("ver.pcap"), "wb");
	assert_non_null(fp);
	assert_int_equal(pb_pcap_header(fp, PB_PCAP_MAGIC_US, 0x0200, 0x0400, 65535, 1), 0);
	for (unsigned i = 0; i < 3; i++) {
		size_t n = frame_n(buf, sizeof(buf), i, 20);
		assert_int_equal(pb_pcap_record(fp, 100 + i, 5, (uint32_t)n, (uint32_t)n, buf, n),
				 0);
	}
	assert_int_equal(fclose(fp), 0);

	struct mbx_pcap_file *f = open_ok(tmp("ver.pcap"));
	struct mbx_pkt pkt;
	for (unsigned i = 0; i < 3; i++) {
		assert_int_equal(mbx_pcap_file_next(f, &pkt), 1);
		assert_int_equal(pkt.ts_ns, (100 + i) * PB_S + 5000);
		size_t n = frame_n(buf, sizeof(buf), i, 20);
		assert_memory_equal(pkt.data, buf, n);
	}
	assert_int_equal(mbx_pcap_file_next(f, &pkt), 0);
	mbx_pcap_file_close(f);
}

static void snaplen_cuts_frames(void **state)
{
	(void)state;
	uint8_t buf[2100];
	struct pb_writer *w = pb_writer_open(tmp("snap.pcap"), PB_PCAP_NS, MBX_LINK_ETHERNET, 96);
	assert_non_null(w);
	size_t n = frame_n(buf, sizeof(buf), 1, 1400);
	assert_int_equal(pb_writer_add(w, 5, buf, (uint32_t)n), 0);
	assert_int_equal(pb_writer_close(w), 0);

	struct mbx_pcap_file *f = open_ok(tmp("snap.pcap"));
	assert_int_equal(mbx_pcap_file_snaplen(f), 96);
	struct mbx_pkt pkt;
	assert_int_equal(mbx_pcap_file_next(f, &pkt), 1);
	assert_int_equal(pkt.caplen, 96);
	assert_int_equal(pkt.wirelen, n);
	struct mbx_tcpseg seg;
	assert_int_equal(mbx_decode(pkt.data, pkt.caplen, mbx_pcap_file_linktype(f), &seg),
			 MBX_DEC_OK);
	assert_int_equal(seg.payload_len, 96 - 54);
	assert_int_equal(seg.payload_wire, 1400);
	mbx_pcap_file_close(f);
}

static void stdin_is_dash(void **state)
{
	(void)state;
	uint8_t buf[200];
	struct pb_writer *w = pb_writer_open(tmp("stdin.pcapng"), PB_PCAPNG_NS, MBX_LINK_SLL2, 0);
	assert_non_null(w);
	for (unsigned i = 0; i < 10; i++) {
		size_t n = frame_n(buf, sizeof(buf), i, 20 + i);
		assert_int_equal(pb_writer_add(w, 1000 + i, buf, (uint32_t)n), 0);
	}
	assert_int_equal(pb_writer_close(w), 0);

	int saved = dup(0);
	assert_true(saved >= 0);
	assert_non_null(freopen(tmp("stdin.pcapng"), "rb", stdin));
	char err[256];
	struct mbx_pcap_file *f = mbx_pcap_file_open("-", err, sizeof(err));
	assert_non_null(f);
	assert_int_equal(mbx_pcap_file_linktype(f), MBX_LINK_SLL2);
	struct mbx_pkt pkt;
	unsigned count = 0;
	while (mbx_pcap_file_next(f, &pkt) == 1) {
		assert_int_equal(pkt.ts_ns, 1000 + count);
		count++;
	}
	assert_int_equal(count, 10);
	mbx_pcap_file_close(f);
	assert_int_equal(dup2(saved, 0), 0);
	close(saved);
	clearerr(stdin);
}

static void open_errors(void **state)
{
	(void)state;
	open_fails(tmp("does-not-exist.pcap"), "No such file");

	write_bytes(tmp("empty.pcap"), "", 0);
	open_fails(tmp("empty.pcap"), "empty");

	const char *text = "This is a text file,\nnot a capture.\n";
	write_bytes(tmp("text.pcap"), text, strlen(text));
	open_fails(tmp("text.pcap"), "not a pcap or pcapng");

	write_bytes(tmp("two.pcap"), "\xd4\xc3", 2);
	open_fails(tmp("two.pcap"), "truncated");

	/* pcap magic, 10 bytes of a 24-byte header */
	write_bytes(tmp("hdr.pcap"), "\xd4\xc3\xb2\xa1\x02\x00\x04\x00\x00\x00", 10);
	open_fails(tmp("hdr.pcap"), "truncated pcap file header");

	/* pcapng section header cut short: libpcap's message, with the path */
	FILE *fp = fopen(tmp("shb.pcapng"), "wb");
	assert_non_null(fp);
	assert_int_equal(pb_pcapng_shb(fp), 0);
	assert_int_equal(fclose(fp), 0);
	truncate(tmp("shb.pcapng"), 14);
	open_fails(tmp("shb.pcapng"), "shb.pcapng: ");

	/* unsupported pcap version */
	fp = fopen(tmp("v9.pcap"), "wb");
	assert_non_null(fp);
	assert_int_equal(pb_pcap_header(fp, PB_PCAP_MAGIC_US, 9, 0, 65535, 1), 0);
	assert_int_equal(fclose(fp), 0);
	open_fails(tmp("v9.pcap"), "version");

	/* A directory. */
	open_fails(tmpdir, "Is a directory");

	/* Permissions (root reads anything, so only as another user). */
	if (geteuid() != 0) {
		write_bytes(tmp("noperm.pcap"), "x", 1);
		chmod(tmp("noperm.pcap"), 0);
		open_fails(tmp("noperm.pcap"), "Permission denied");
	}

	char err[64];
	errno = 0;
	assert_null(mbx_pcap_file_open("", err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	mbx_pcap_file_close(NULL);
}

/* Unknown link types open fine; the decoder says what it cannot handle. */
static void unknown_linktype(void **state)
{
	(void)state;
	uint8_t buf[200];
	struct pb_writer *w = pb_writer_open(tmp("lt.pcap"), PB_PCAP_US, 147, 0);
	assert_non_null(w);
	size_t n = frame_n(buf, sizeof(buf), 0, 20);
	assert_int_equal(pb_writer_add(w, 1, buf, (uint32_t)n), 0);
	assert_int_equal(pb_writer_close(w), 0);

	struct mbx_pcap_file *f = open_ok(tmp("lt.pcap"));
	assert_int_equal(mbx_pcap_file_linktype(f), 147);
	struct mbx_pkt pkt;
	assert_int_equal(mbx_pcap_file_next(f, &pkt), 1);
	struct mbx_tcpseg seg;
	assert_int_equal(mbx_decode(pkt.data, pkt.caplen, 147, &seg), MBX_DEC_BAD_LINK);
	mbx_pcap_file_close(f);
}

/* The good packets before a damaged record are delivered, then -1 with a
 * message, and -1 again after that. */
static void truncated_records(void **state)
{
	(void)state;
	uint8_t buf[200];
	static const struct {
		const char *name;
		enum pb_fmt fmt;
		long cut; /* bytes to remove from the end */
		const char *what;
	} cases[] = {
	    {"cut-data.pcap", PB_PCAP_US, 10, "truncated"},
	    {"cut-hdr.pcap", PB_PCAP_NS, 0, "truncated"}, /* + 5 header bytes, below */
	    {"cut-data.pcapng", PB_PCAPNG_NS, 10, "truncated"},
	};

	for (size_t c = 0; c < MBX_ARRAY_SIZE(cases); c++) {
		struct pb_writer *w =
		    pb_writer_open(tmp(cases[c].name), cases[c].fmt, MBX_LINK_ETHERNET, 0);
		assert_non_null(w);
		for (unsigned i = 0; i < 4; i++) {
			size_t n = frame_n(buf, sizeof(buf), i, 50);
			assert_int_equal(pb_writer_add(w, i, buf, (uint32_t)n), 0);
		}
		assert_int_equal(pb_writer_close(w), 0);
		struct stat st;
		assert_int_equal(stat(tmp(cases[c].name), &st), 0);
		if (cases[c].cut) {
			assert_int_equal(truncate(tmp(cases[c].name), st.st_size - cases[c].cut),
					 0);
		} else {
			FILE *fp = fopen(tmp(cases[c].name), "ab");
			assert_non_null(fp);
			fwrite("\x01\x02\x03\x04\x05", 1, 5, fp);
			fclose(fp);
		}

		struct mbx_pcap_file *f = open_ok(tmp(cases[c].name));
		struct mbx_pkt pkt;
		unsigned good = cases[c].cut ? 3 : 4;
		for (unsigned i = 0; i < good; i++)
			assert_int_equal(mbx_pcap_file_next(f, &pkt), 1);
		assert_int_equal(mbx_pcap_file_next(f, &pkt), -1);
		const char *msg = mbx_pcap_file_error(f);
		if (!strstr(msg, tmp(cases[c].name)) || !strstr(msg, cases[c].what))
			fail_msg("%s: message '%s'", cases[c].name, msg);
		assert_int_equal(mbx_pcap_file_next(f, &pkt), -1);
		mbx_pcap_file_close(f);
	}
}

/* Records whose header lengths lie. */
static void inconsistent_records(void **state)
{
	(void)state;
	uint8_t buf[200];
	size_t n = frame_n(buf, sizeof(buf), 0, 20);

	/* caplen > wire length: wirelen is raised to caplen. */
	FILE *fp = fopen(tmp("caplen.pcap"), "wb");
	assert_non_null(fp);
	assert_int_equal(pb_pcap_header(fp, PB_PCAP_MAGIC_US, 2, 4, 65535, 1), 0);
	assert_int_equal(pb_pcap_record(fp, 1, 0, (uint32_t)n, 20, buf, n), 0);
	assert_int_equal(fclose(fp), 0);
	struct mbx_pcap_file *f = open_ok(tmp("caplen.pcap"));
	struct mbx_pkt pkt;
	assert_int_equal(mbx_pcap_file_next(f, &pkt), 1);
	assert_int_equal(pkt.caplen, n);
	assert_true(pkt.wirelen >= pkt.caplen);
	mbx_pcap_file_close(f);

	/* A caplen no capture can have (1 GiB) is an error, not an allocation. */
	fp = fopen(tmp("huge.pcap"), "wb");
	assert_non_null(fp);
	assert_int_equal(pb_pcap_header(fp, PB_PCAP_MAGIC_US, 2, 4, 65535, 1), 0);
	assert_int_equal(pb_pcap_record(fp, 1, 0, (uint32_t)n, (uint32_t)n, buf, n), 0);
	assert_int_equal(pb_pcap_record(fp, 1, 0, 1u << 30, 1u << 30, buf, n), 0);
	assert_int_equal(fclose(fp), 0);
	f = open_ok(tmp("huge.pcap"));
	assert_int_equal(mbx_pcap_file_next(f, &pkt), 1);
	assert_int_equal(mbx_pcap_file_next(f, &pkt), -1);
	assert_non_null(strstr(mbx_pcap_file_error(f), "huge.pcap"));
	mbx_pcap_file_close(f);
}

/* ---------------------------------------------------------------- */
/* pktbuild conversations, checked through the file reader + decoder  */

struct seen {
	struct mbx_tcpseg seg[4096];
	uint64_t ts[4096];
	uint8_t data[1 << 20];
	size_t off[4096];
	size_t n, bytes;
};

static struct seen seen;

static void read_all(const char *path, int want_dlt)
{
	struct mbx_pcap_file *f = open_ok(path);
	assert_int_equal(mbx_pcap_file_linktype(f), want_dlt);
	struct mbx_pkt pkt;
	int rc;
	seen.n = seen.bytes = 0;
	while ((rc = mbx_pcap_file_next(f, &pkt)) == 1) {
		assert_true(seen.n < MBX_ARRAY_SIZE(seen.seg));
		struct mbx_tcpseg *s = &seen.seg[seen.n];
		assert_int_equal(mbx_decode(pkt.data, pkt.caplen, want_dlt, s), MBX_DEC_OK);
		assert_true(seen.bytes + s->payload_len <= sizeof(seen.data));
		memcpy(seen.data + seen.bytes, s->payload, s->payload_len);
		seen.off[seen.n] = seen.bytes;
		s->payload = NULL;
		seen.bytes += s->payload_len;
		seen.ts[seen.n] = pkt.ts_ns;
		seen.n++;
	}
	assert_int_equal(rc, 0);
	mbx_pcap_file_close(f);
}

static void conversation_three_lines(void **state)
{
	(void)state;
	struct pb_writer *w = pb_writer_open(tmp("conv.pcap"), PB_PCAP_NS, MBX_LINK_ETHERNET, 0);
	assert_non_null(w);
	struct pb_conn c;
	assert_int_equal(pb_conn_init(&c, w, "10.0.0.1", 40000, "10.0.0.2", 11211), 0);
	assert_int_equal(pb_conn_open(&c, 0), 0);
	assert_int_equal(pb_conn_sends(&c, PB_C2S, "get foo\r\n", 1 * PB_MS), 0);
	assert_int_equal(pb_conn_sends(&c, PB_S2C, "END\r\n", 1200 * PB_US), 0);
	assert_int_equal(pb_conn_close(&c, 2 * PB_MS), 0);
	assert_int_equal(pb_writer_close(w), 0);

	read_all(tmp("conv.pcap"), MBX_LINK_ETHERNET);
	assert_int_equal(seen.n, 3 + 2 + 3);
	static const uint8_t flags[] = {
	    MBX_TCP_SYN,
	    MBX_TCP_SYN | MBX_TCP_ACK,
	    MBX_TCP_ACK,
	    MBX_TCP_ACK | MBX_TCP_PSH,
	    MBX_TCP_ACK | MBX_TCP_PSH,
	    MBX_TCP_FIN | MBX_TCP_ACK,
	    MBX_TCP_FIN | MBX_TCP_ACK,
	    MBX_TCP_ACK,
	};
	static const uint32_t seqs[] = {1000, 5000, 1001, 1001, 5001, 1010, 5006, 1011};
	static const uint32_t acks[] = {0, 1001, 5001, 5001, 1010, 5006, 1011, 5007};
	static const uint64_t ts[] = {0,       50000,	100000,	 1000000,
				      1200000, 2000000, 2050000, 2100000};
	for (size_t i = 0; i < seen.n; i++) {
		assert_int_equal(seen.seg[i].tcp_flags, flags[i]);
		assert_int_equal(seen.seg[i].seq, seqs[i]);
		assert_int_equal(seen.seg[i].ack, acks[i]);
		assert_int_equal(seen.ts[i], ts[i]);
		bool c2s = seen.seg[i].sport == 40000;
		assert_int_equal(c2s ? seen.seg[i].dport : seen.seg[i].sport, 11211);
	}
	assert_int_equal(seen.bytes, 9 + 5);
	assert_memory_equal(seen.data, "get foo\r\nEND\r\n", 14);
}

static void conversation_segments_and_acks(void **state)
{
	(void)state;
	static uint8_t value[100000];
	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (uint8_t)(i * 31 + 7);

	/* IPv6 over SLL2, pcapng, isn near the wrap, receiver ACKs. */
	struct pb_writer *w = pb_writer_open(tmp("big.pcapng"), PB_PCAPNG_NS, MBX_LINK_SLL2, 0);
	assert_non_null(w);
	struct pb_conn c;
	assert_int_equal(pb_conn_init(&c, w, "fd00::1", 50000, "fd00::2", 11211), 0);
	c.isn[1] = 0xffffff00u;
	c.acks = true;
	c.mss = 1000;
	assert_int_equal(pb_conn_open(&c, PB_S), 0);
	assert_int_equal(pb_conn_sends(&c, PB_C2S, "get big\r\n", PB_S + PB_MS), 0);
	assert_true(pb_conn_ack_pending(&c, PB_S2C));
	assert_int_equal(pb_conn_send(&c, PB_S2C, value, sizeof(value), PB_S + 2 * PB_MS), 0);
	assert_false(pb_conn_ack_pending(&c, PB_S2C));
	assert_false(pb_conn_ack_pending(&c, PB_C2S)); /* 100 segments: even */
	assert_int_equal(pb_writer_close(w), 0);

	read_all(tmp("big.pcapng"), MBX_LINK_SLL2);
	/* 3 handshake + 1 request + 100 data + 50 ACKs */
	assert_int_equal(seen.n, 3 + 1 + 100 + 50);
	uint32_t expect_seq = 0xffffff01u;
	size_t data_segs = 0, acks = 0;
	for (size_t i = 4; i < seen.n; i++) {
		const struct mbx_tcpseg *s = &seen.seg[i];
		assert_true(seen.ts[i] >= seen.ts[i - 1]);
		if (s->sport == 11211) {
			assert_int_equal(s->seq, expect_seq);
			assert_int_equal(s->ack, 1001 + 9);
			assert_int_equal(s->payload_len, 1000);
			assert_memory_equal(seen.data + seen.off[i], value + data_segs * 1000,
					    1000);
			assert_int_equal(!!(s->tcp_flags & MBX_TCP_PSH), data_segs == 99);
			expect_seq += 1000;
			data_segs++;
		} else {
			/* every second segment acknowledged, right after it */
			assert_int_equal(s->payload_len, 0);
			assert_int_equal(s->tcp_flags, MBX_TCP_ACK);
			assert_int_equal(s->ack, expect_seq);
			assert_int_equal(data_segs % 2, 0);
			acks++;
		}
	}
	assert_int_equal(data_segs, 100);
	assert_int_equal(acks, 50);
	assert_int_equal(expect_seq, 0xffffff01u + 100000u); /* wrapped */
}

/* Segment start offsets (relative to the send) in the order they appear. */
static size_t send_with_fault(const struct pb_fault *f, size_t len, uint32_t *starts,
			      uint32_t *lens)
{
	static uint8_t data[20000];
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i % 251);
	struct pb_frames fl = {0};
	struct pb_conn c;
	assert_int_equal(
	    pb_conn_init_emit(&c, PB_RAW, pb_frames_emit, &fl, "10.9.9.9", 1234, "10.8.8.8", 11211),
	    0);
	c.mss = 100;
	pb_conn_midstream(&c);
	assert_int_equal(pb_conn_send_fault(&c, PB_C2S, data, len, 77, f), 0);
	assert_int_equal(c.nxt[0], 1000 + len);

	uint64_t last = 0;
	for (size_t i = 0; i < fl.n; i++) {
		struct mbx_tcpseg s;
		assert_int_equal(mbx_decode(fl.v[i].data, fl.v[i].len, MBX_LINK_RAW, &s),
				 MBX_DEC_OK);
		starts[i] = s.seq - 1000;
		lens[i] = s.payload_len;
		/* the bytes are the stream's bytes at that sequence number */
		assert_memory_equal(s.payload, data + starts[i], s.payload_len);
		assert_true(fl.v[i].ts_ns >= last);
		last = fl.v[i].ts_ns;
	}
	size_t n = fl.n;
	pb_frames_free(&fl);
	return n;
}

static void conversation_faults(void **state)
{
	(void)state;
	uint32_t st[64], ln[64];

	struct pb_fault drop = {.drop = 1u << 2};
	assert_int_equal(send_with_fault(&drop, 450, st, ln), 4);
	assert_int_equal(st[0], 0);
	assert_int_equal(st[1], 100);
	assert_int_equal(st[2], 300); /* 200..299 is a hole */
	assert_int_equal(st[3], 400);
	assert_int_equal(ln[3], 50);

	struct pb_fault swap = {.swap = 1u << 1};
	assert_int_equal(send_with_fault(&swap, 400, st, ln), 4);
	assert_int_equal(st[1], 200);
	assert_int_equal(st[2], 100);

	struct pb_fault late = {.late = 1u << 0};
	assert_int_equal(send_with_fault(&late, 300, st, ln), 3);
	assert_int_equal(st[0], 100);
	assert_int_equal(st[1], 200);
	assert_int_equal(st[2], 0);

	struct pb_fault dup = {.dup = 1u << 1};
	assert_int_equal(send_with_fault(&dup, 300, st, ln), 4);
	assert_int_equal(st[3], 100);
	assert_int_equal(ln[3], 100);

	struct pb_fault ovl = {.overlap = 1u << 2, .overlap_bytes = 30};
	assert_int_equal(send_with_fault(&ovl, 300, st, ln), 3);
	assert_int_equal(st[2], 170);
	assert_int_equal(ln[2], 130);

	/* Random faults are deterministic for a seed and change the count. */
	struct pb_frames a = {0}, b = {0};
	static uint8_t data[100000];
	struct pb_conn c;
	for (int k = 0; k < 2; k++) {
		assert_int_equal(pb_conn_init_emit(&c, PB_ETH, pb_frames_emit, k ? &b : &a,
						   "10.0.0.1", 1, "10.0.0.2", 2),
				 0);
		c.rng = 42;
		c.drop_rate = 0.1;
		c.dup_rate = 0.1;
		c.swap_rate = 0.1;
		pb_conn_midstream(&c);
		assert_int_equal(pb_conn_send(&c, PB_S2C, data, sizeof(data), 0), 0);
	}
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++)
		assert_memory_equal(a.v[i].data, b.v[i].data, a.v[i].len);
	assert_true(c.dropped > 0 && c.duplicated > 0);
	assert_int_equal(a.n, 70 - c.dropped + c.duplicated);
	pb_frames_free(&a);
	pb_frames_free(&b);
}

static void builder_rejects_bad_specs(void **state)
{
	(void)state;
	uint8_t buf[100];
	struct pb_pkt p = {.src = pb_ip("10.0.0.1"), .dst = pb_ip("fd00::1")};
	errno = 0;
	assert_int_equal(pb_build(&p, buf, sizeof(buf), NULL), 0);
	assert_int_equal(errno, EINVAL);
	p.dst = pb_ip("10.0.0.300");
	assert_int_equal(p.dst.family, 0);
	assert_int_equal(pb_build(&p, buf, sizeof(buf), NULL), 0);
	p.dst = pb_ip("10.0.0.2");
	p.len = 100;
	p.payload = buf;
	errno = 0;
	assert_int_equal(pb_build(&p, buf, sizeof(buf), NULL), 0);
	assert_int_equal(errno, ENOSPC);
	static uint8_t big[70000];
	p.payload = big;
	p.len = sizeof(big);
	errno = 0;
	assert_int_equal(pb_build(&p, big, sizeof(big), NULL), 0);
	assert_int_equal(errno, EMSGSIZE);
	struct pb_conn c;
	assert_int_equal(
	    pb_conn_init_emit(&c, PB_ETH, pb_frames_emit, NULL, "nope", 1, "10.0.0.1", 2), -EINVAL);
	assert_int_equal(pb_conn_sends(&c, PB_C2S, "x", 0), -EINVAL);
}

/* ---------------------------------------------------------------- */
/* Real captures                                                       */

/* TCP segments with payload to and from port 11211, and the payload bytes
 * sent to it, for every capture in the shared data directory. Numbers from:
 *   tshark -r F -Y 'tcp.dstport==11211 && tcp.len>0' | wc -l
 *   tshark -r F -Y 'tcp.srcport==11211 && tcp.len>0' | wc -l
 *   tshark -r F -Y 'tcp.dstport==11211 && tcp.len>0' -T fields -e tcp.len \
 *       | awk '{s+=$1} END {print s}'
 *   tshark -r F -Y tcp | wc -l
 * cross-checked with
 *   tcpdump -nr F 'tcp dst port 11211 and (((ip[2:2] - ((ip[0]&0xf)<<2))
 *       - ((tcp[12]&0xf0)>>2)) != 0)' | wc -l
 * (tcpdump/libpcap refuse deepflow-memcached-userdata.pcap: its version
 * fields are byte-swapped; tshark reads it.) */
static const struct {
	const char *file;
	unsigned frames, to, from;
	uint64_t bytes_to;
} real[] = {
    {"deepflow-memcached-split-set.pcap", 16, 4, 2, 35},
    {"deepflow-memcached-userdata.pcap", 20421, 10138, 10153, 459074},
    {"ndpi-memcached-stats.pcap", 10, 1, 1, 7},
    {"percona/percona_memc_001.pcap", 2, 1, 1, 31},
    {"percona/percona_memc_002.pcap", 2, 1, 1, 13},
    {"percona/percona_memc_003.pcap", 4, 2, 2, 24},
    {"percona/percona_memc_004.pcap", 12, 2, 2, 24},
    {"percona/percona_memc_005.pcap", 8, 2, 1, 17970},
    {"percona/percona_memc_006.pcap", 9, 1, 3, 13},
    {"percona/percona_memc_007.pcap", 2, 1, 1, 23},
    {"percona/percona_memc_008.pcap", 6, 2, 2, 26},
    {"percona/percona_memc_009.pcap", 2, 1, 1, 26},
    {"percona/percona_memc_010.pcap", 2, 1, 1, 15},
    {"percona/percona_memc_011.pcap", 4, 2, 2, 44},
    {"percona/percona_memc_013.pcap", 1, 1, 0, 26},
    {"percona/percona_memc_014.pcap", 3, 1, 2, 88},
    {"percona/percona_memc_015.pcap", 4, 1, 3, 117},
    {"percona/percona_memc_016.pcap", 4, 2, 2, 175},
};

static void real_captures(void **state)
{
	(void)state;
	const char *dir = pb_shared_data_dir(MBX_SHARED_DATA_DIR);
	char path[1024];
	unsigned checked = 0;

	for (size_t i = 0; i < MBX_ARRAY_SIZE(real); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, real[i].file);
		if (access(path, R_OK) != 0) {
			fprintf(stderr, "skipping %s: not found (set MBX_SHARED_DATA)\n", path);
			continue;
		}
		struct mbx_pcap_file *f = open_ok(path);
		int dlt = mbx_pcap_file_linktype(f);
		struct mbx_pkt pkt;
		struct mbx_tcpseg seg;
		unsigned frames = 0, to = 0, from = 0;
		uint64_t bytes_to = 0;
		int rc;
		while ((rc = mbx_pcap_file_next(f, &pkt)) == 1) {
			frames++;
			if (mbx_decode(pkt.data, pkt.caplen, dlt, &seg) != MBX_DEC_OK)
				fail_msg("%s frame %u does not decode", real[i].file, frames);
			if (seg.payload_wire == 0)
				continue;
			assert_int_equal(seg.payload_len, seg.payload_wire);
			if (seg.dport == 11211) {
				to++;
				bytes_to += seg.payload_len;
			}
			if (seg.sport == 11211)
				from++;
		}
		if (rc != 0)
			fail_msg("%s: %s", real[i].file, mbx_pcap_file_error(f));
		mbx_pcap_file_close(f);
		if (frames != real[i].frames || to != real[i].to || from != real[i].from ||
		    bytes_to != real[i].bytes_to)
			fail_msg("%s: frames %u to %u from %u bytes %llu; want %u %u %u %llu",
				 real[i].file, frames, to, from, (unsigned long long)bytes_to,
				 real[i].frames, real[i].to, real[i].from,
				 (unsigned long long)real[i].bytes_to);
		checked++;
	}
	if (!checked)
		skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(pcap_usec),
	    cmocka_unit_test(pcap_nsec_exact),
	    cmocka_unit_test(pcapng_nsec_and_usec),
	    cmocka_unit_test(pcap_big_endian),
	    cmocka_unit_test(pcap_swapped_version_fields),
	    cmocka_unit_test(snaplen_cuts_frames),
	    cmocka_unit_test(stdin_is_dash),
	    cmocka_unit_test(open_errors),
	    cmocka_unit_test(unknown_linktype),
	    cmocka_unit_test(truncated_records),
	    cmocka_unit_test(inconsistent_records),
	    cmocka_unit_test(conversation_three_lines),
	    cmocka_unit_test(conversation_segments_and_acks),
	    cmocka_unit_test(conversation_faults),
	    cmocka_unit_test(builder_rejects_bad_specs),
	    cmocka_unit_test(real_captures),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
