/* SPDX-License-Identifier: Apache-2.0 */
/* L2/L3/L4 decoding of one captured frame, in place (no copy).
 *
 * Link types: Ethernet (DLT_EN10MB), Linux cooked SLL (DLT_LINUX_SLL) and SLL2
 * (DLT_LINUX_SLL2), raw IP (DLT_RAW, LINKTYPE_RAW = 101, DLT_IPV4, DLT_IPV6),
 * BSD loopback (DLT_NULL / DLT_LOOP). 802.1Q / 802.1ad / QinQ tags at any
 * depth up to 4. IPv4 with options; fragments are reported and skipped.
 * IPv6 with extension headers (hop-by-hop, routing, destination options,
 * fragment => skipped, AH). TCP with options. Checksums are NOT verified
 * (captures on the sending host carry bad checksums because of offload).
 *
 * Frames up to 256 KiB (GSO/TSO super-frames) are fine; lengths come from the
 * IP header, clipped to the captured bytes. */
#ifndef MBX_DECODE_H
#define MBX_DECODE_H

#include "mbx/common.h"

/* Link types we accept (values of pcap's DLT_ / LINKTYPE_ numbers). */
#define MBX_LINK_NULL     0
#define MBX_LINK_ETHERNET 1
#define MBX_LINK_RAW      101 /* LINKTYPE_RAW (pcap files) */
#define MBX_LINK_RAW_DLT  12  /* DLT_RAW on Linux as returned by pcap_datalink() */
#define MBX_LINK_LOOP     108
#define MBX_LINK_SLL      113
#define MBX_LINK_IPV4     228
#define MBX_LINK_IPV6     229
#define MBX_LINK_SLL2     276

enum mbx_decode_result {
	MBX_DEC_OK = 0,        /* TCP segment decoded; see struct mbx_tcpseg */
	MBX_DEC_BAD_LINK,      /* unsupported link type */
	MBX_DEC_TRUNCATED,     /* captured bytes end inside a header */
	MBX_DEC_NOT_IP,        /* ARP, LLDP, ... */
	MBX_DEC_NOT_TCP,       /* UDP, ICMP, ... */
	MBX_DEC_FRAGMENT,      /* IPv4/IPv6 fragment */
	MBX_DEC_MALFORMED,     /* inconsistent lengths or versions */
};

/* A decoded TCP segment. Addresses are stored as 16 bytes: IPv4 addresses as
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) so that one code path handles both. */
struct mbx_tcpseg {
	uint8_t saddr[16];
	uint8_t daddr[16];
	uint16_t sport; /* host byte order */
	uint16_t dport; /* right after sport: decode writes both in one store */
	uint32_t seq;
	uint32_t ack;
	uint8_t tcp_flags;   /* MBX_TCP_* */
	uint8_t ip_version;  /* 4 or 6 */
	uint16_t pad;
	const uint8_t *payload; /* first payload byte inside the frame */
	uint32_t payload_len;   /* payload bytes present in the capture */
	uint32_t payload_wire;  /* payload bytes on the wire (IP length); > payload_len if snapped */
};

#define MBX_TCP_FIN 0x01
#define MBX_TCP_SYN 0x02
#define MBX_TCP_RST 0x04
#define MBX_TCP_PSH 0x08
#define MBX_TCP_ACK 0x10

/* Decode one frame of the given link type. caplen is the number of bytes at
 * data. Returns MBX_DEC_OK and fills *seg, or another result (seg undefined).
 * Pure function: no state, no allocation, safe on any input. */
enum mbx_decode_result mbx_decode(const uint8_t *data, uint32_t caplen, int linktype,
				  struct mbx_tcpseg *seg);

/* True if decode supports this link type. */
bool mbx_decode_link_supported(int linktype);

const char *mbx_decode_result_name(enum mbx_decode_result r);

#endif
