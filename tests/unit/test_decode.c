/* SPDX-License-Identifier: Apache-2.0 */
/* mbx_decode(): every link type, VLAN stacks, IPv4 options and fragments,
 * IPv6 extension headers, TCP options, truncation at every length, padding,
 * GSO super-frames, snapped frames and random garbage. Frames are decoded
 * from heap buffers of exactly caplen bytes so that AddressSanitizer catches
 * any read past the captured length. */
/* cmocka.h needs these first */
// clang-format off
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <cmocka.h>
// clang-format on

#include "mbx/decode.h"
#include "pktbuild.h"

static uint8_t frame[PB_FRAME_MAX];

struct dec {
	enum mbx_decode_result r;
	struct mbx_tcpseg seg;
	uint32_t payload_off; /* seg.payload - data, when r == OK */
};

/* Decode a copy of data[0..caplen) held in an exact-size heap block, and
 * check the invariants every OK result must satisfy. */
static struct dec decode_exact(const uint8_t *data, uint32_t caplen, int dlt)
{
	struct dec d;
	uint8_t *copy = malloc(caplen ? caplen : 1);

	assert_non_null(copy);
	memcpy(copy, data, caplen);
	memset(&d, 0, sizeof(d));
	d.r = mbx_decode(copy, caplen, dlt, &d.seg);
	if (d.r == MBX_DEC_OK) {
		assert_true(d.seg.payload >= copy);
		assert_true(d.seg.payload <= copy + caplen);
		d.payload_off = (uint32_t)(d.seg.payload - copy);
		assert_true(d.payload_off + d.seg.payload_len <= caplen);
		assert_true(d.seg.payload_len <= d.seg.payload_wire);
		d.seg.payload = data + d.payload_off; /* rebase onto the caller's bytes */
	}
	free(copy);
	return d;
}

static size_t build(const struct pb_pkt *p, struct pb_layout *lay)
{
	size_t n = pb_build(p, frame, sizeof(frame), lay);
	assert_true(n > 0);
	return n;
}

static struct pb_pkt tcp4(const char *payload)
{
	struct pb_pkt p = {
	    .src = pb_ip("10.1.2.3"),
	    .dst = pb_ip("192.168.100.200"),
	    .sport = 40001,
	    .dport = 11211,
	    .seq = 0x01020304,
	    .ack = 0xfffffff0,
	    .flags = MBX_TCP_ACK | MBX_TCP_PSH,
	    .payload = payload,
	    .len = payload ? (uint32_t)strlen(payload) : 0,
	};
	return p;
}

static struct pb_pkt tcp6(const char *payload)
{
	struct pb_pkt p = tcp4(payload);
	p.src = pb_ip("fd00::1:2");
	p.dst = pb_ip("2001:db8::ffff:1");
	return p;
}

static void assert_seg4(const struct dec *d, const char *payload)
{
	static const uint8_t s[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
	static const uint8_t t[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 168, 100, 200};

	assert_int_equal(d->r, MBX_DEC_OK);
	assert_int_equal(d->seg.ip_version, 4);
	assert_memory_equal(d->seg.saddr, s, 16);
	assert_memory_equal(d->seg.daddr, t, 16);
	assert_int_equal(d->seg.sport, 40001);
	assert_int_equal(d->seg.dport, 11211);
	assert_int_equal(d->seg.seq, 0x01020304);
	assert_int_equal(d->seg.ack, 0xfffffff0);
	assert_int_equal(d->seg.tcp_flags, MBX_TCP_ACK | MBX_TCP_PSH);
	assert_int_equal(d->seg.payload_len, strlen(payload));
	assert_int_equal(d->seg.payload_wire, strlen(payload));
	assert_memory_equal(d->seg.payload, payload, strlen(payload));
}

static void assert_seg6(const struct dec *d, const char *payload)
{
	struct pb_addr s = pb_ip("fd00::1:2"), t = pb_ip("2001:db8::ffff:1");

	assert_int_equal(d->r, MBX_DEC_OK);
	assert_int_equal(d->seg.ip_version, 6);
	assert_memory_equal(d->seg.saddr, s.a, 16);
	assert_memory_equal(d->seg.daddr, t.a, 16);
	assert_int_equal(d->seg.sport, 40001);
	assert_int_equal(d->seg.dport, 11211);
	assert_int_equal(d->seg.seq, 0x01020304);
	assert_int_equal(d->seg.ack, 0xfffffff0);
	assert_int_equal(d->seg.payload_len, strlen(payload));
	assert_int_equal(d->seg.payload_wire, strlen(payload));
	assert_memory_equal(d->seg.payload, payload, strlen(payload));
}

/* ---------------------------------------------------------------- */

static void link_types_ipv4_and_ipv6(void **state)
{
	(void)state;
	static const struct {
		enum pb_link link;
		int dlt;
	} links[] = {
	    {PB_ETH, MBX_LINK_ETHERNET},
	    {PB_SLL, MBX_LINK_SLL},
	    {PB_SLL2, MBX_LINK_SLL2},
	    {PB_RAW, MBX_LINK_RAW},
	    {PB_RAW, MBX_LINK_RAW_DLT},
	    {PB_NULL, MBX_LINK_NULL},
	    {PB_LOOP, MBX_LINK_LOOP},
	    /* Either byte order is accepted for both BSD loopback types. */
	    {PB_NULL, MBX_LINK_LOOP},
	    {PB_LOOP, MBX_LINK_NULL},
	};
	const char *msg = "get foo\r\n";

	for (size_t i = 0; i < MBX_ARRAY_SIZE(links); i++) {
		struct pb_pkt p = tcp4(msg);
		p.link = links[i].link;
		size_t n = build(&p, NULL);
		struct dec d = decode_exact(frame, (uint32_t)n, links[i].dlt);
		assert_seg4(&d, msg);

		p = tcp6(msg);
		p.link = links[i].link;
		n = build(&p, NULL);
		d = decode_exact(frame, (uint32_t)n, links[i].dlt);
		assert_seg6(&d, msg);
	}

	/* DLT_IPV4 / DLT_IPV6 accept only their own version. */
	struct pb_pkt p = tcp4(msg);
	p.link = PB_RAW;
	size_t n = build(&p, NULL);
	struct dec d = decode_exact(frame, (uint32_t)n, MBX_LINK_IPV4);
	assert_seg4(&d, msg);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_IPV6).r, MBX_DEC_MALFORMED);
	p = tcp6(msg);
	p.link = PB_RAW;
	n = build(&p, NULL);
	d = decode_exact(frame, (uint32_t)n, MBX_LINK_IPV6);
	assert_seg6(&d, msg);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_IPV4).r, MBX_DEC_MALFORMED);

	/* Raw IP with a version that is neither 4 nor 6. */
	frame[0] = 0x55;
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_RAW).r, MBX_DEC_MALFORMED);
}

static void bsd_loopback_families(void **state)
{
	(void)state;
	/* AF_INET6 is 10 on Linux, 24 on NetBSD/OpenBSD, 28 on FreeBSD, 30 on
	 * macOS; all in host or network byte order. */
	static const uint32_t fam6[] = {10, 24, 28, 30};
	for (int swap = 0; swap < 2; swap++) {
		for (size_t i = 0; i < MBX_ARRAY_SIZE(fam6); i++) {
			struct pb_pkt p = tcp6("x");
			p.link = PB_NULL;
			p.null_family = fam6[i];
			p.null_swap = swap;
			size_t n = build(&p, NULL);
			struct dec d = decode_exact(frame, (uint32_t)n, MBX_LINK_NULL);
			assert_seg6(&d, "x");
		}
		struct pb_pkt p = tcp4("x");
		p.link = PB_LOOP;
		p.null_swap = swap;
		size_t n = build(&p, NULL);
		struct dec d = decode_exact(frame, (uint32_t)n, MBX_LINK_LOOP);
		assert_seg4(&d, "x");
		/* Unknown family (AF_APPLETALK-ish 16, and 0). */
		p.null_family = 16;
		n = build(&p, NULL);
		assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_LOOP).r, MBX_DEC_NOT_IP);
	}
}

static void unsupported_and_names(void **state)
{
	(void)state;
	struct pb_pkt p = tcp4("x");
	size_t n = build(&p, NULL);
	struct mbx_tcpseg seg;

	assert_int_equal(mbx_decode(frame, (uint32_t)n, 147, &seg), MBX_DEC_BAD_LINK);
	assert_int_equal(mbx_decode(frame, (uint32_t)n, -1, &seg), MBX_DEC_BAD_LINK);
	assert_false(mbx_decode_link_supported(147));
	assert_false(mbx_decode_link_supported(105)); /* 802.11 */
	static const int ok[] = {0, 1, 12, 101, 108, 113, 228, 229, 276};
	for (size_t i = 0; i < MBX_ARRAY_SIZE(ok); i++)
		assert_true(mbx_decode_link_supported(ok[i]));

	for (int r = MBX_DEC_OK; r <= MBX_DEC_MALFORMED; r++) {
		const char *name = mbx_decode_result_name((enum mbx_decode_result)r);
		assert_non_null(name);
		assert_string_not_equal(name, "?");
		for (int q = MBX_DEC_OK; q < r; q++)
			assert_string_not_equal(name,
						mbx_decode_result_name((enum mbx_decode_result)q));
	}
	assert_string_equal(mbx_decode_result_name((enum mbx_decode_result)99), "?");
}

static void non_ip_frames(void **state)
{
	(void)state;
	struct pb_pkt p = tcp4("x");
	p.ethertype = 0x0806; /* ARP */
	size_t n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_IP);
	p.ethertype = 0x0042; /* 802.3 length field */
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_IP);
	p.ethertype = 0x88cc; /* LLDP behind a VLAN tag */
	p.nvlan = 1;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_IP);
	p.nvlan = 0;
	p.link = PB_SLL;
	p.ethertype = 0x0004; /* 802.2 LLC */
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_SLL).r, MBX_DEC_NOT_IP);
	p.link = PB_SLL2;
	p.ethertype = 0x0806;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_SLL2).r, MBX_DEC_NOT_IP);

	/* IPv4 ethertype with an IPv6 header behind it, and the reverse. */
	p = tcp6("x");
	p.ethertype = 0x0800;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_MALFORMED);
	p = tcp4("x");
	p.ethertype = 0x86dd;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_MALFORMED);
}

static void vlan_stacks(void **state)
{
	(void)state;
	static const uint16_t tpids[] = {0x8100, 0x88a8, 0x9100};
	static const enum pb_link links[] = {PB_ETH, PB_SLL, PB_SLL2};

	for (size_t l = 0; l < MBX_ARRAY_SIZE(links); l++) {
		int dlt = pb_link_dlt(links[l]);
		for (unsigned ntags = 1; ntags <= 4; ntags++) {
			for (size_t t = 0; t < MBX_ARRAY_SIZE(tpids); t++) {
				struct pb_pkt p = ntags & 1 ? tcp4("stats\r\n") : tcp6("stats\r\n");
				p.link = links[l];
				p.nvlan = (uint8_t)ntags;
				for (unsigned k = 0; k < ntags; k++) {
					p.vlan_tpid[k] = tpids[(t + k) % 3];
					p.vlan_tci[k] = (uint16_t)(100 + k);
				}
				size_t n = build(&p, NULL);
				struct dec d = decode_exact(frame, (uint32_t)n, dlt);
				if (ntags & 1)
					assert_seg4(&d, "stats\r\n");
				else
					assert_seg6(&d, "stats\r\n");
			}
		}
	}

	/* A fifth tag is more than we follow. */
	struct pb_pkt p = tcp4("x");
	p.nvlan = 4;
	size_t n = build(&p, NULL);
	/* Turn the IPv4 ethertype after the 4th tag into a 5th tag (the IP
	 * header's first 4 bytes then act as its TCI + type). */
	assert_int_equal(mbx_rd16be(frame + 14 + 4 * 4 - 2), 0x0800);
	mbx_wr16be(frame + 14 + 4 * 4 - 2, 0x8100);
	mbx_wr16be(frame + 14 + 4 * 4 + 2, 0x0800);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_IP);
}

static void ipv4_options_and_header_checks(void **state)
{
	(void)state;
	/* Record route (7), 39 bytes + EOL: a 60-byte header. */
	uint8_t rr[39] = {7, 39, 4};
	uint8_t ra[4] = {0x94, 4, 0, 0}; /* router alert */
	struct pb_layout lay;

	struct pb_pkt p = tcp4("version\r\n");
	p.ip_opts = rr;
	p.ip_opts_len = sizeof(rr);
	size_t n = build(&p, &lay);
	assert_int_equal(lay.l4 - lay.l3, 60);
	struct dec d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_seg4(&d, "version\r\n");

	p.ip_opts = ra;
	p.ip_opts_len = sizeof(ra);
	n = build(&p, &lay);
	assert_int_equal(lay.l4 - lay.l3, 24);
	d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_seg4(&d, "version\r\n");

	/* IHL below 5. */
	p = tcp4("version\r\n");
	n = build(&p, &lay);
	frame[lay.l3] = 0x44;
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_MALFORMED);
	/* Total length shorter than the IP header. */
	n = build(&p, &lay);
	mbx_wr16be(frame + lay.l3 + 2, 19);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_MALFORMED);
	/* Total length with room for the IP header but not a TCP header. */
	n = build(&p, &lay);
	mbx_wr16be(frame + lay.l3 + 2, 30);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_MALFORMED);
	/* IHL pointing past the captured bytes. */
	p.len = 0;
	n = build(&p, &lay);
	frame[lay.l3] = 0x4f; /* 60-byte header, frame has 40 IP bytes */
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_TRUNCATED);

	/* Not TCP. */
	p = tcp4("x");
	p.proto = 17;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_TCP);
	p.proto = 1;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_TCP);
}

static void ipv4_fragments(void **state)
{
	(void)state;
	struct pb_pkt p = tcp4("get a\r\n");

	p.frag = PB_IP_MF; /* first fragment */
	size_t n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_FRAGMENT);
	p.frag = 185; /* last fragment, offset 1480 */
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_FRAGMENT);
	p.frag = PB_IP_MF | 1;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_FRAGMENT);
	/* DF alone, or no flags, is a whole datagram. */
	p.frag = PB_IP_DF;
	n = build(&p, NULL);
	struct dec d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_seg4(&d, "get a\r\n");
	p.frag = 0;
	n = build(&p, NULL);
	d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_seg4(&d, "get a\r\n");
	/* A UDP fragment is "not TCP", not a TCP fragment. */
	p.frag = PB_IP_MF;
	p.proto = 17;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_TCP);
}

static void ipv6_extension_headers(void **state)
{
	(void)state;
	static const uint8_t chains[][4] = {
	    {0}, {43}, {60}, {51}, {0, 43, 60, 51}, {0, 60, 43, 60},
	};
	static const uint8_t lens[] = {1, 1, 1, 1, 4, 4};

	for (size_t i = 0; i < MBX_ARRAY_SIZE(chains); i++) {
		struct pb_pkt p = tcp6("mn\r\n");
		p.n_ext = lens[i];
		memcpy(p.ext, chains[i], 4);
		size_t n = build(&p, NULL);
		struct dec d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
		assert_seg6(&d, "mn\r\n");
	}

	/* Fragment header: real fragments are skipped, an atomic fragment
	 * (offset 0, no M flag) is a whole datagram. */
	struct pb_pkt p = tcp6("mn\r\n");
	p.n_ext = 1;
	p.ext[0] = 44;
	p.frag = PB_IP6_M;
	size_t n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_FRAGMENT);
	p.frag = 100 << 3;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_FRAGMENT);
	p.frag = 0;
	n = build(&p, NULL);
	struct dec d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_seg6(&d, "mn\r\n");
	/* Fragment after hop-by-hop and destination options. */
	p.n_ext = 3;
	p.ext[0] = 0;
	p.ext[1] = 60;
	p.ext[2] = 44;
	p.frag = PB_IP6_M;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_FRAGMENT);
	/* A UDP fragment is not TCP. */
	p.proto = 17;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_TCP);

	/* No next header (59) after an extension header, UDP, ICMPv6. */
	p = tcp6("");
	p.n_ext = 1;
	p.ext[0] = 60;
	p.proto = 59;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_TCP);
	p.n_ext = 0;
	p.proto = 17;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_TCP);
	p.proto = 58;
	n = build(&p, NULL);
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_NOT_TCP);
}

/* A hand-made chain of n destination-options headers in front of TCP. */
static size_t ipv6_long_chain(unsigned n, uint8_t *buf)
{
	struct pb_pkt p = tcp6("x");
	p.link = PB_RAW;
	uint8_t tmp[200];
	size_t tlen = pb_build(&p, tmp, sizeof(tmp), NULL);
	assert_true(tlen > 40);
	memcpy(buf, tmp, 40);
	buf[6] = 60;
	for (unsigned i = 0; i < n; i++) {
		uint8_t *h = buf + 40 + 8 * i;
		memset(h, 0, 8);
		h[0] = i + 1 < n ? 60 : 6;
		h[2] = 1;
		h[3] = 4;
	}
	memcpy(buf + 40 + 8 * n, tmp + 40, tlen - 40);
	mbx_wr16be(buf + 4, (uint16_t)(tlen - 40 + 8 * n));
	return tlen + 8 * n;
}

static void ipv6_chain_limits(void **state)
{
	(void)state;
	uint8_t buf[400];
	size_t n = ipv6_long_chain(8, buf);
	struct dec d = decode_exact(buf, (uint32_t)n, MBX_LINK_RAW);
	assert_seg6(&d, "x");
	n = ipv6_long_chain(9, buf);
	assert_int_equal(decode_exact(buf, (uint32_t)n, MBX_LINK_RAW).r, MBX_DEC_MALFORMED);

	/* Extension header longer than the declared payload. */
	n = ipv6_long_chain(1, buf);
	buf[40 + 1] = 10; /* 88 bytes */
	assert_int_equal(decode_exact(buf, (uint32_t)n, MBX_LINK_RAW).r, MBX_DEC_MALFORMED);
	/* TCP header longer than the declared payload. */
	n = ipv6_long_chain(1, buf);
	mbx_wr16be(buf + 4, 8 + 12);
	assert_int_equal(decode_exact(buf, (uint32_t)n, MBX_LINK_RAW).r, MBX_DEC_MALFORMED);
}

static void tcp_options_and_header_checks(void **state)
{
	(void)state;
	/* MSS, SACK permitted, timestamps, window scale: 20 bytes. */
	static const uint8_t opts[] = {2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0,
				       0, 1, 0, 0,    0, 2, 1, 3,  3, 7};
	struct pb_layout lay;

	struct pb_pkt p = tcp4("get k\r\n");
	p.tcp_opts = opts;
	p.tcp_opts_len = sizeof(opts);
	size_t n = build(&p, &lay);
	assert_int_equal(lay.payload - lay.l4, 40);
	struct dec d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_seg4(&d, "get k\r\n");
	assert_int_equal(d.payload_off, lay.payload);

	p = tcp6("get k\r\n");
	p.tcp_opts = opts;
	p.tcp_opts_len = 10; /* padded with NOPs to 12 */
	n = build(&p, &lay);
	assert_int_equal(lay.payload - lay.l4, 32);
	d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_seg6(&d, "get k\r\n");

	/* Data offset below 5. */
	p = tcp4("get k\r\n");
	n = build(&p, &lay);
	frame[lay.l4 + 12] = 4 << 4;
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_MALFORMED);
	/* Data offset past the IP datagram: 60 bytes of TCP header declared,
	 * only 27 bytes in the datagram. */
	frame[lay.l4 + 12] = 15 << 4;
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_MALFORMED);
	/* Data offset past the captured bytes, inside the declared length. */
	p.len = 0;
	n = build(&p, &lay);
	frame[lay.l4 + 12] = 15 << 4;
	mbx_wr16be(frame + lay.l3 + 2, 20 + 60 + 100); /* snapped frame */
	assert_int_equal(decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET).r, MBX_DEC_TRUNCATED);

	/* Pure ACK, SYN, FIN, RST flags are passed through. */
	p = tcp4(NULL);
	p.flags = MBX_TCP_SYN | MBX_TCP_ACK | MBX_TCP_FIN | MBX_TCP_RST;
	n = build(&p, NULL);
	d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_int_equal(d.r, MBX_DEC_OK);
	assert_int_equal(d.seg.tcp_flags, p.flags);
	assert_int_equal(d.seg.payload_len, 0);
	assert_int_equal(d.seg.payload_wire, 0);
}

/* Truncate a valid frame at every length: below the payload the result must
 * be TRUNCATED; inside the payload it is OK with the captured part only. */
static void truncate_everywhere(const struct pb_pkt *p, int dlt)
{
	struct pb_layout lay;
	size_t n = build(p, &lay);
	uint8_t *copy = malloc(n);
	assert_non_null(copy);
	memcpy(copy, frame, n);

	for (uint32_t cut = 0; cut < n; cut++) {
		struct dec d = decode_exact(copy, cut, dlt);
		if (cut < lay.payload) {
			if (d.r != MBX_DEC_TRUNCATED)
				fail_msg("link %d: cut at %u of %zu (payload at %u): %s", dlt, cut,
					 n, lay.payload, mbx_decode_result_name(d.r));
		} else {
			assert_int_equal(d.r, MBX_DEC_OK);
			assert_int_equal(d.payload_off, lay.payload);
			assert_int_equal(d.seg.payload_len, cut - lay.payload);
			assert_int_equal(d.seg.payload_wire, p->len);
		}
	}
	struct dec d = decode_exact(copy, (uint32_t)n, dlt);
	assert_int_equal(d.r, MBX_DEC_OK);
	assert_int_equal(d.seg.payload_len, p->len);
	free(copy);
}

static void truncation_at_every_length(void **state)
{
	(void)state;
	static const uint8_t topts[] = {1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2};
	static const uint8_t iopts[] = {0x94, 4, 0, 0};
	static const enum pb_link links[] = {PB_ETH, PB_SLL, PB_SLL2, PB_RAW, PB_NULL, PB_LOOP};

	for (size_t l = 0; l < MBX_ARRAY_SIZE(links); l++) {
		for (int v6 = 0; v6 < 2; v6++) {
			struct pb_pkt p =
			    v6 ? tcp6("set k 0 0 1\r\nx\r\n") : tcp4("set k 0 0 1\r\nx\r\n");
			p.link = links[l];
			p.tcp_opts = topts;
			p.tcp_opts_len = sizeof(topts);
			if (v6) {
				p.n_ext = 3;
				p.ext[0] = 0;
				p.ext[1] = 51;
				p.ext[2] = 60;
			} else {
				p.ip_opts = iopts;
				p.ip_opts_len = sizeof(iopts);
			}
			if (links[l] == PB_ETH || links[l] == PB_SLL || links[l] == PB_SLL2) {
				p.nvlan = 2;
				p.vlan_tpid[0] = 0x88a8;
			}
			truncate_everywhere(&p, pb_link_dlt(links[l]));
		}
	}
}

static void ethernet_padding_is_not_payload(void **state)
{
	(void)state;
	struct pb_layout lay;

	/* A 5-byte reply in a frame padded to the 60-byte minimum. */
	struct pb_pkt p = tcp4("END\r\n");
	p.pad_to = 60;
	size_t n = build(&p, &lay);
	assert_int_equal(n, 60);
	memset(frame + lay.payload + 5, 0xee, n - lay.payload - 5); /* non-zero padding */
	struct dec d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_seg4(&d, "END\r\n");

	/* A pure ACK: padding bytes, zero payload. */
	p = tcp4(NULL);
	p.pad_to = 60;
	n = build(&p, NULL);
	d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_int_equal(d.r, MBX_DEC_OK);
	assert_int_equal(d.seg.payload_len, 0);
	assert_int_equal(d.seg.payload_wire, 0);

	/* Same with IPv6 and trailing bytes (e.g. an FCS) after the packet. */
	p = tcp6("HD\r\n");
	p.pad_to = 200;
	n = build(&p, NULL);
	d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_seg6(&d, "HD\r\n");
}

static void gso_super_frames(void **state)
{
	(void)state;
	uint8_t *payload = malloc(200000);
	assert_non_null(payload);
	for (size_t i = 0; i < 200000; i++)
		payload[i] = (uint8_t)(i * 7);

	/* The largest regular IPv4 datagram: 65535 bytes. */
	struct pb_pkt p = tcp4(NULL);
	p.payload = payload;
	p.len = 65535 - 40;
	size_t n = build(&p, NULL);
	struct dec d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_int_equal(d.r, MBX_DEC_OK);
	assert_int_equal(d.seg.payload_len, 65535 - 40);
	assert_int_equal(d.seg.payload_wire, 65535 - 40);
	assert_memory_equal(d.seg.payload, payload, 65535 - 40);

	/* TSO on the capturing host: total length 0, 150 KB frame. */
	p.len = 150000;
	p.ip_len_zero = true;
	n = build(&p, NULL);
	d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_int_equal(d.r, MBX_DEC_OK);
	assert_int_equal(d.seg.payload_len, 150000);
	assert_int_equal(d.seg.payload_wire, 150000);
	assert_memory_equal(d.seg.payload, payload, 150000);

	/* IPv6 jumbo/GSO: payload length 0. */
	p = tcp6(NULL);
	p.payload = payload;
	p.len = 200000;
	p.ip_len_zero = true;
	p.n_ext = 1;
	p.ext[0] = 0;
	n = build(&p, NULL);
	d = decode_exact(frame, (uint32_t)n, MBX_LINK_ETHERNET);
	assert_int_equal(d.r, MBX_DEC_OK);
	assert_int_equal(d.seg.payload_len, 200000);
	assert_int_equal(d.seg.payload_wire, 200000);
	free(payload);
}

static void snapped_frame(void **state)
{
	(void)state;
	char payload[1400];
	memset(payload, 'v', sizeof(payload));
	payload[sizeof(payload) - 1] = 0;

	struct pb_layout lay;
	struct pb_pkt p = tcp4(payload);
	size_t n = build(&p, &lay);
	assert_int_equal(n, 14 + 40 + 1399);
	/* snaplen 128: the headers and 74 payload bytes */
	struct dec d = decode_exact(frame, 128, MBX_LINK_ETHERNET);
	assert_int_equal(d.r, MBX_DEC_OK);
	assert_int_equal(d.seg.payload_len, 128 - 54);
	assert_int_equal(d.seg.payload_wire, 1399);

	p = tcp6(payload);
	p.link = PB_SLL2;
	n = build(&p, &lay);
	d = decode_exact(frame, 96, MBX_LINK_SLL2);
	assert_int_equal(d.r, MBX_DEC_OK);
	assert_int_equal(d.seg.payload_len, 96 - 80);
	assert_int_equal(d.seg.payload_wire, 1399);
	/* snapped inside the TCP header */
	d = decode_exact(frame, 70, MBX_LINK_SLL2);
	assert_int_equal(d.r, MBX_DEC_TRUNCATED);
}

/* Random bytes, and valid frames with random bit flips and cuts: never a
 * crash, an out-of-bounds read (ASan) or an inconsistent OK result. */
static void garbage_never_crashes(void **state)
{
	(void)state;
	static const int dlts[] = {0, 1, 12, 101, 108, 113, 228, 229, 276};
	uint64_t rng = 0x5eed;
	uint8_t buf[300];
	unsigned ok = 0, results[MBX_DEC_MALFORMED + 1] = {0};

	for (int i = 0; i < 100000; i++) {
		uint32_t len = (uint32_t)(pb_rand(&rng) % sizeof(buf));
		int dlt = dlts[pb_rand(&rng) % MBX_ARRAY_SIZE(dlts)];
		for (uint32_t k = 0; k < len; k++)
			buf[k] = (uint8_t)pb_rand(&rng);
		/* Make deeper layers reachable: a plausible header half the time. */
		if (i & 1) {
			struct pb_pkt p = (i & 2) ? tcp6("get x\r\n") : tcp4("get x\r\n");
			p.link = pb_link_from_dlt(dlt);
			if (p.link == PB_ETH && (i & 4))
				p.nvlan = (uint8_t)(1 + pb_rand(&rng) % 4);
			if ((i & 2) && (i & 8)) {
				p.n_ext = 2;
				p.ext[0] = 0;
				p.ext[1] = (i & 16) ? 51 : 44;
			}
			size_t n = pb_build(&p, buf, sizeof(buf), NULL);
			assert_true(n > 0);
			len = (uint32_t)(pb_rand(&rng) % (n + 1));
			for (int f = 0; f < 3; f++) {
				uint32_t pos = (uint32_t)(pb_rand(&rng) % n);
				buf[pos] ^= (uint8_t)(1u << (pb_rand(&rng) % 8));
			}
		}
		struct dec d = decode_exact(buf, len, dlt);
		results[d.r]++;
		ok += d.r == MBX_DEC_OK;
	}
	/* The mutated half must reach every outcome but BAD_LINK. */
	for (int r = MBX_DEC_OK; r <= MBX_DEC_MALFORMED; r++) {
		if (r != MBX_DEC_BAD_LINK && results[r] == 0)
			fail_msg("result %s never produced", mbx_decode_result_name(r));
	}
	assert_true(ok > 1000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(link_types_ipv4_and_ipv6),
	    cmocka_unit_test(bsd_loopback_families),
	    cmocka_unit_test(unsupported_and_names),
	    cmocka_unit_test(non_ip_frames),
	    cmocka_unit_test(vlan_stacks),
	    cmocka_unit_test(ipv4_options_and_header_checks),
	    cmocka_unit_test(ipv4_fragments),
	    cmocka_unit_test(ipv6_extension_headers),
	    cmocka_unit_test(ipv6_chain_limits),
	    cmocka_unit_test(tcp_options_and_header_checks),
	    cmocka_unit_test(truncation_at_every_length),
	    cmocka_unit_test(ethernet_padding_is_not_payload),
	    cmocka_unit_test(gso_super_frames),
	    cmocka_unit_test(snapped_frame),
	    cmocka_unit_test(garbage_never_crashes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
