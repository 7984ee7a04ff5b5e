/* SPDX-License-Identifier: Apache-2.0 */
/* L2/L3/L4 decoding of one captured frame, in place.
 *
 * Every read is preceded by a check against the captured length: the decoder
 * is fed raw bytes from files and wires and must be safe on any input. The
 * only loops are the VLAN tag stack and the IPv6 extension header chain, both
 * bounded. Lengths come from the IP header (Ethernet padding is not payload),
 * clipped to what was captured (snap length). */
#include "mbx/decode.h"

#include <stddef.h>
#include <string.h>

#define ETH_HLEN  14
#define SLL_HLEN  16
#define SLL2_HLEN 20
#define NULL_HLEN 4

#define ETHERTYPE_IPV4	0x0800
#define ETHERTYPE_IPV6	0x86dd
#define ETHERTYPE_VLAN	0x8100 /* 802.1Q */
#define ETHERTYPE_QINQ	0x88a8 /* 802.1ad */
#define ETHERTYPE_Q9100 0x9100 /* pre-standard QinQ */

#define MAX_VLAN_TAGS 4
#define MAX_IP6_EXT   8 /* more extension headers than this is not real traffic */

#define IPPROTO_HOPOPTS_  0
#define IPPROTO_TCP_	  6
#define IPPROTO_ROUTING_  43
#define IPPROTO_FRAGMENT_ 44
#define IPPROTO_AH_	  51
#define IPPROTO_NONE_	  59
#define IPPROTO_DSTOPTS_  60
#define IPPROTO_MH_	  135 /* mobility header: same (len + 1) * 8 layout */

/* BSD loopback address families for IPv6 differ by OS. */
#define BSD_AF_INET	  2
#define BSD_AF_INET6_LNX  10
#define BSD_AF_INET6_BSD  24 /* NetBSD, OpenBSD, BSD/OS */
#define BSD_AF_INET6_FBSD 28
#define BSD_AF_INET6_DARW 30

/* ::ffff:a.b.c.d, written with one 16-byte store: the flow table reads the
 * address back at once (16-byte loads), and a load that spans several
 * smaller stores still in the store buffer cannot be forwarded from them
 * (a stall of about 15 cycles per packet, twice). */
typedef uint32_t v4m_vec __attribute__((vector_size(16)));
_Static_assert(offsetof(struct mbx_tcpseg, dport) == offsetof(struct mbx_tcpseg, sport) + 2,
	       "decode_tcp writes sport and dport with one store");

static inline void v4mapped(uint8_t dst[16], const uint8_t *a4)
{
	uint32_t a;
	memcpy(&a, a4, 4);
	const uint8_t ffff[4] = {0, 0, 0xff, 0xff};
	uint32_t w2;
	memcpy(&w2, ffff, 4); /* bytes 8-11: 00 00 ff ff in memory order */
	v4m_vec v = {0, 0, w2, a};
	memcpy(dst, &v, 16);
}

/* TCP header at data[off]; the IP datagram is declared to end at ip_end
 * (relative to data, >= off; beyond caplen when the frame was snapped).
 * A header that does not fit the declared length is malformed; one that fits
 * it but not the captured bytes is truncated. */
static inline __attribute__((always_inline)) enum mbx_decode_result
decode_tcp(const uint8_t *data, uint32_t caplen, uint32_t off, uint64_t ip_end,
	   struct mbx_tcpseg *seg)
{
	if (MBX_UNLIKELY(ip_end - off < 20)) /* ip_end >= off is guaranteed by callers */
		return ip_end > caplen ? MBX_DEC_TRUNCATED : MBX_DEC_MALFORMED;
	if (MBX_UNLIKELY(caplen - off < 20))
		return MBX_DEC_TRUNCATED;

	const uint8_t *t = data + off;
	uint32_t thl = (uint32_t)(t[12] >> 4) * 4;
	if (MBX_UNLIKELY(thl < 20))
		return MBX_DEC_MALFORMED;
	if (MBX_UNLIKELY(ip_end - off < thl))
		return MBX_DEC_MALFORMED;
	if (MBX_UNLIKELY(caplen - off < thl))
		return MBX_DEC_TRUNCATED;

	/* both ports with one 32-bit store (host order, sport first): the
	 * flow table reads them back as one word right away, and a load that
	 * spans two 16-bit stores still in the store buffer is not forwarded */
	uint32_t pw;
	memcpy(&pw, t, 4);
	pw = ((pw & 0x00ff00ffu) << 8) | ((pw >> 8) & 0x00ff00ffu); /* each half to host order */
	memcpy((uint8_t *)seg + offsetof(struct mbx_tcpseg, sport), &pw, 4);
	seg->seq = mbx_rd32be(t + 4);
	seg->ack = mbx_rd32be(t + 8);
	seg->tcp_flags = t[13];
	seg->pad = 0;

	uint32_t start = off + thl;
	uint64_t wire = ip_end - start;
	uint64_t cap_end = ip_end < caplen ? ip_end : caplen;
	seg->payload = data + start;
	seg->payload_len = (uint32_t)(cap_end - start);
	seg->payload_wire = mbx_sat_u32(wire);
	return MBX_DEC_OK;
}

static inline __attribute__((always_inline)) enum mbx_decode_result
decode_ipv4_inl(const uint8_t *data, uint32_t caplen, uint32_t off, struct mbx_tcpseg *seg)
{
	if (MBX_UNLIKELY(caplen - off < 20))
		return MBX_DEC_TRUNCATED;

	const uint8_t *ip = data + off;
	if (MBX_UNLIKELY((ip[0] >> 4) != 4))
		return MBX_DEC_MALFORMED;
	uint32_t ihl = (uint32_t)(ip[0] & 0x0f) * 4;
	if (MBX_UNLIKELY(ihl < 20))
		return MBX_DEC_MALFORMED;
	if (MBX_UNLIKELY(caplen - off < ihl))
		return MBX_DEC_TRUNCATED;

	uint32_t tot = mbx_rd16be(ip + 2);
	if (tot == 0) {
		/* TSO on the sending host: the kernel hands the capture a
		 * super-frame whose length field is not filled in yet. */
		tot = caplen - off;
	}
	if (MBX_UNLIKELY(tot < ihl))
		return MBX_DEC_MALFORMED;

	/* Protocol before fragmentation: a fragment of something that is not
	 * TCP is simply not TCP. */
	if (ip[9] != IPPROTO_TCP_)
		return MBX_DEC_NOT_TCP;
	if (MBX_UNLIKELY(mbx_rd16be(ip + 6) & 0x3fff)) /* MF or offset != 0 */
		return MBX_DEC_FRAGMENT;

	v4mapped(seg->saddr, ip + 12);
	v4mapped(seg->daddr, ip + 16);
	seg->ip_version = 4;
	return decode_tcp(data, caplen, off + ihl, (uint64_t)off + tot, seg);
}

static enum mbx_decode_result decode_ipv4(const uint8_t *data, uint32_t caplen, uint32_t off,
					  struct mbx_tcpseg *seg)
{
	return decode_ipv4_inl(data, caplen, off, seg);
}

/* Could a fragment whose fragmentable part starts with this header be TCP? */
static inline bool ip6_may_carry_tcp(uint8_t nh)
{
	switch (nh) {
	case IPPROTO_TCP_:
	case IPPROTO_ROUTING_:
	case IPPROTO_DSTOPTS_:
	case IPPROTO_AH_:
	case IPPROTO_MH_:
		return true;
	default:
		return false;
	}
}

static enum mbx_decode_result decode_ipv6(const uint8_t *data, uint32_t caplen, uint32_t off,
					  struct mbx_tcpseg *seg)
{
	if (MBX_UNLIKELY(caplen - off < 40))
		return MBX_DEC_TRUNCATED;

	const uint8_t *ip = data + off;
	if (MBX_UNLIKELY((ip[0] >> 4) != 6))
		return MBX_DEC_MALFORMED;

	uint64_t end;
	uint32_t plen = mbx_rd16be(ip + 4);
	if (plen == 0) /* jumbogram or GSO super-frame: trust the capture */
		end = caplen;
	else
		end = (uint64_t)off + 40 + plen;

	uint8_t nh = ip[6];
	uint32_t p = off + 40;
	for (unsigned i = 0;; i++) {
		uint32_t hlen;

		switch (nh) {
		case IPPROTO_TCP_:
			memcpy(seg->saddr, ip + 8, 16);
			memcpy(seg->daddr, ip + 24, 16);
			seg->ip_version = 6;
			return decode_tcp(data, caplen, p, end, seg);
		case IPPROTO_HOPOPTS_:
		case IPPROTO_ROUTING_:
		case IPPROTO_DSTOPTS_:
		case IPPROTO_MH_:
		case IPPROTO_AH_:
		case IPPROTO_FRAGMENT_:
			break;
		default: /* UDP, ICMPv6, ESP, no next header (59), ... */
			return MBX_DEC_NOT_TCP;
		}
		if (MBX_UNLIKELY(i >= MAX_IP6_EXT))
			return MBX_DEC_MALFORMED;
		/* Every extension header is at least 8 bytes. */
		if (MBX_UNLIKELY(end - p < 8))
			return end > caplen ? MBX_DEC_TRUNCATED : MBX_DEC_MALFORMED;
		if (MBX_UNLIKELY(caplen - p < 8))
			return MBX_DEC_TRUNCATED;

		const uint8_t *h = data + p;
		if (nh == IPPROTO_FRAGMENT_) {
			/* An atomic fragment (offset 0, no MF, RFC 6946) is a
			 * whole datagram; anything else is a real fragment. */
			if (mbx_rd16be(h + 2) & 0xfff9)
				return ip6_may_carry_tcp(h[0]) ? MBX_DEC_FRAGMENT : MBX_DEC_NOT_TCP;
			hlen = 8;
		} else if (nh == IPPROTO_AH_) {
			hlen = ((uint32_t)h[1] + 2) * 4;
		} else {
			hlen = ((uint32_t)h[1] + 1) * 8;
		}
		if (MBX_UNLIKELY(end - p < hlen))
			return end > caplen ? MBX_DEC_TRUNCATED : MBX_DEC_MALFORMED;
		if (MBX_UNLIKELY(caplen - p < hlen))
			return MBX_DEC_TRUNCATED;
		nh = h[0];
		p += hlen;
	}
}

static enum mbx_decode_result decode_ip_any(const uint8_t *data, uint32_t caplen, uint32_t off,
					    struct mbx_tcpseg *seg)
{
	if (MBX_UNLIKELY(caplen <= off))
		return MBX_DEC_TRUNCATED;
	switch (data[off] >> 4) {
	case 4:
		return decode_ipv4(data, caplen, off, seg);
	case 6:
		return decode_ipv6(data, caplen, off, seg);
	default:
		return MBX_DEC_MALFORMED;
	}
}

/* Ethertype at data[off - 2] (already read into type); VLAN tags follow it. */
static enum mbx_decode_result decode_ethertype(const uint8_t *data, uint32_t caplen, uint32_t off,
					       uint16_t type, struct mbx_tcpseg *seg)
{
	for (unsigned tags = 0;; tags++) {
		switch (type) {
		case ETHERTYPE_IPV4:
			return decode_ipv4(data, caplen, off, seg);
		case ETHERTYPE_IPV6:
			return decode_ipv6(data, caplen, off, seg);
		case ETHERTYPE_VLAN:
		case ETHERTYPE_QINQ:
		case ETHERTYPE_Q9100:
			if (MBX_UNLIKELY(tags >= MAX_VLAN_TAGS))
				return MBX_DEC_NOT_IP;
			if (MBX_UNLIKELY(caplen - off < 4))
				return MBX_DEC_TRUNCATED;
			type = mbx_rd16be(data + off + 2); /* after the 2-byte TCI */
			off += 4;
			break;
		default: /* ARP, LLDP, 802.3 length, MPLS, PPPoE, ... */
			return MBX_DEC_NOT_IP;
		}
	}
}

static enum mbx_decode_result decode_null(const uint8_t *data, uint32_t caplen,
					  struct mbx_tcpseg *seg)
{
	if (MBX_UNLIKELY(caplen < NULL_HLEN))
		return MBX_DEC_TRUNCATED;
	/* DLT_NULL is in the capturing host's byte order, DLT_LOOP in network
	 * order; the family fits in 16 bits, so whichever half is non-zero
	 * tells the order. */
	uint32_t fam = mbx_rd32le(data);
	if (fam > 0xffff)
		fam = __builtin_bswap32(fam);
	switch (fam) {
	case BSD_AF_INET:
		return decode_ipv4(data, caplen, NULL_HLEN, seg);
	case BSD_AF_INET6_LNX:
	case BSD_AF_INET6_BSD:
	case BSD_AF_INET6_FBSD:
	case BSD_AF_INET6_DARW:
		return decode_ipv6(data, caplen, NULL_HLEN, seg);
	default:
		return MBX_DEC_NOT_IP;
	}
}

enum mbx_decode_result mbx_decode(const uint8_t *data, uint32_t caplen, int linktype,
				  struct mbx_tcpseg *seg)
{
	/* The common frame, Ethernet + IPv4 + TCP, in one function (the same
	 * code as below, inlined: three calls less per packet). */
	if (MBX_LIKELY(linktype == MBX_LINK_ETHERNET && caplen >= ETH_HLEN &&
		       mbx_rd16be(data + 12) == ETHERTYPE_IPV4))
		return decode_ipv4_inl(data, caplen, ETH_HLEN, seg);
	switch (linktype) {
	case MBX_LINK_ETHERNET:
		if (MBX_UNLIKELY(caplen < ETH_HLEN))
			return MBX_DEC_TRUNCATED;
		return decode_ethertype(data, caplen, ETH_HLEN, mbx_rd16be(data + 12), seg);
	case MBX_LINK_SLL:
		if (MBX_UNLIKELY(caplen < SLL_HLEN))
			return MBX_DEC_TRUNCATED;
		return decode_ethertype(data, caplen, SLL_HLEN, mbx_rd16be(data + 14), seg);
	case MBX_LINK_SLL2:
		if (MBX_UNLIKELY(caplen < SLL2_HLEN))
			return MBX_DEC_TRUNCATED;
		return decode_ethertype(data, caplen, SLL2_HLEN, mbx_rd16be(data), seg);
	case MBX_LINK_RAW:
	case MBX_LINK_RAW_DLT:
		return decode_ip_any(data, caplen, 0, seg);
	case MBX_LINK_IPV4:
		return decode_ipv4(data, caplen, 0, seg);
	case MBX_LINK_IPV6:
		return decode_ipv6(data, caplen, 0, seg);
	case MBX_LINK_NULL:
	case MBX_LINK_LOOP:
		return decode_null(data, caplen, seg);
	default:
		return MBX_DEC_BAD_LINK;
	}
}

bool mbx_decode_link_supported(int linktype)
{
	switch (linktype) {
	case MBX_LINK_ETHERNET:
	case MBX_LINK_SLL:
	case MBX_LINK_SLL2:
	case MBX_LINK_RAW:
	case MBX_LINK_RAW_DLT:
	case MBX_LINK_IPV4:
	case MBX_LINK_IPV6:
	case MBX_LINK_NULL:
	case MBX_LINK_LOOP:
		return true;
	default:
		return false;
	}
}

const char *mbx_decode_result_name(enum mbx_decode_result r)
{
	switch (r) {
	case MBX_DEC_OK:
		return "ok";
	case MBX_DEC_BAD_LINK:
		return "bad_link";
	case MBX_DEC_TRUNCATED:
		return "truncated";
	case MBX_DEC_NOT_IP:
		return "not_ip";
	case MBX_DEC_NOT_TCP:
		return "not_tcp";
	case MBX_DEC_FRAGMENT:
		return "fragment";
	case MBX_DEC_MALFORMED:
		return "malformed";
	}
	return "?";
}
