/* SPDX-License-Identifier: Apache-2.0 */
/* pktbuild: test traffic for mbx tests, integration tests and benches.
 *
 * Three layers, each usable alone:
 *
 * 1. Frames. Fill a struct pb_pkt (zero = sensible default for every field)
 *    and pb_build() writes link + IP + TCP headers + payload into a buffer:
 *
 *        uint8_t buf[PB_FRAME_MAX];
 *        struct pb_pkt p = { .src = pb_ip("10.0.0.1"), .dst = pb_ip("10.0.0.2"),
 *                            .sport = 40000, .dport = 11211, .flags = MBX_TCP_ACK,
 *                            .payload = "get foo\r\n", .len = 9 };
 *        size_t n = pb_build(&p, buf, sizeof(buf), NULL);
 *
 * 2. Capture files, written by hand (no libpcap), so that tests can also
 *    write broken ones: pb_writer_* for well-formed pcap/pcapng files, and
 *    the pb_pcap_* / pb_pcapng_* record functions for arbitrary bytes.
 *
 * 3. TCP conversations with real sequence numbers in both directions:
 *
 *        struct pb_writer *w = pb_writer_open(path, PB_PCAP_NS, MBX_LINK_ETHERNET, 0);
 *        struct pb_conn c;
 *        pb_conn_init(&c, w, "10.0.0.1", 40000, "10.0.0.2", 11211);
 *        pb_conn_open(&c, 0);
 *        pb_conn_sends(&c, PB_C2S, "get foo\r\n", 1 * PB_MS);
 *        pb_conn_sends(&c, PB_S2C, "END\r\n", 1200 * PB_US);
 *        pb_conn_close(&c, 2 * PB_MS);
 *        pb_writer_close(w);
 *
 *    Payload is cut at c.mss; faults (drop, duplicate, reorder, overlap)
 *    are injected per send (struct pb_fault) or at random rates.
 *
 * Errors: int functions return 0 or -errno, constructors NULL + errno,
 * pb_build() 0 + errno. Nothing here aborts or prints. */
#ifndef MBX_TESTS_PKTBUILD_H
#define MBX_TESTS_PKTBUILD_H

#include <stdio.h>
#include <stdlib.h>

#include "mbx/common.h"
#include "mbx/decode.h"

#define PB_US 1000ULL
#define PB_MS 1000000ULL
#define PB_S  1000000000ULL

/* Largest frame pb_build() can produce (IPv4 with length 0 or an IPv6
 * jumbogram may exceed 64 KiB, as GSO super-frames do). */
#define PB_FRAME_MAX (256 * 1024 + 256)

/* ------------------------------------------------------------------ */
/* Addresses                                                          */

struct pb_addr {
	uint8_t family; /* 4 or 6; 0 = invalid (pb_build fails with EINVAL) */
	uint8_t a[16];	/* IPv4 in a[0..3] */
};

/* "10.0.0.1" or "fd00::1". On a parse error returns family 0. */
struct pb_addr pb_ip(const char *text);

/* ------------------------------------------------------------------ */
/* Frames                                                             */

enum pb_link {
	PB_ETH = 0, /* Ethernet II */
	PB_SLL,	    /* Linux cooked v1 (16 bytes) */
	PB_SLL2,    /* Linux cooked v2 (20 bytes) */
	PB_RAW,	    /* bare IP packet (LINKTYPE_RAW, DLT_RAW, IPV4, IPV6) */
	PB_NULL,    /* BSD loopback, family in host byte order */
	PB_LOOP,    /* OpenBSD loopback, family in network byte order */
};

/* Link type number for a pcap file header (RAW -> 101). */
int pb_link_dlt(enum pb_link link);
/* Inverse: the frame layout for a DLT (101, 12, 228, 229 -> PB_RAW).
 * Unknown DLTs return PB_ETH. */
enum pb_link pb_link_from_dlt(int dlt);

/* IPv4 flags/offset field values for pb_pkt.frag */
#define PB_IP_DF 0x4000
#define PB_IP_MF 0x2000
/* IPv6 fragment header offset/M field for pb_pkt.frag when ext has 44:
 * (offset_in_8_byte_units << 3) | PB_IP6_M */
#define PB_IP6_M 0x0001

struct pb_pkt {
	/* link */
	enum pb_link link;
	uint8_t nvlan;	       /* 0..4 VLAN tags (Ethernet, SLL, SLL2) */
	uint16_t vlan_tpid[4]; /* 0 = 0x8100; e.g. 0x88a8 for the outer QinQ tag */
	uint16_t vlan_tci[4];  /* outermost first */
	uint16_t ethertype;    /* 0 = IPv4/IPv6 from the address family; else written as is
				  (e.g. 0x0806) and the IP header is still built after it */
	uint32_t null_family;  /* NULL/LOOP: 0 = 2 for IPv4, 30 for IPv6 */
	bool null_swap;	       /* NULL/LOOP: write the family in the other byte order */
	uint32_t pad_to;       /* zero-pad the frame to this length (Ethernet minimum: 60) */

	/* IP */
	struct pb_addr src, dst; /* same family */
	uint8_t proto;		 /* 0 = TCP (6); another value: payload is the L4 bytes */
	uint8_t ttl;		 /* 0 = 64 */
	uint16_t ip_id;
	uint16_t frag;		/* IPv4: flags|offset field, as is; IPv6: see PB_IP6_M */
	const uint8_t *ip_opts; /* IPv4 options, padded with EOL to a multiple of 4 */
	uint8_t ip_opts_len;	/* at most 40 */
	uint8_t n_ext;		/* IPv6 extension headers, in order, from ext[] */
	uint8_t ext[4];		/* 0 hop-by-hop, 43 routing, 60 dest opts (8 bytes each),
				   51 AH (24 bytes), 44 fragment (8 bytes, uses .frag) */
	bool ip_len_zero;	/* write 0 as IPv4 total length / IPv6 payload length */

	/* TCP */
	uint16_t sport, dport;
	uint32_t seq, ack;
	uint8_t flags;		 /* MBX_TCP_*; written as is (0 = no flags) */
	uint16_t window;	 /* 0 = 502 */
	const uint8_t *tcp_opts; /* padded with NOP to a multiple of 4 */
	uint8_t tcp_opts_len;	 /* at most 40 */
	bool tcp_csum;		 /* compute the TCP checksum (else 0) */

	const void *payload;
	uint32_t len;
};

/* Offsets of the layers in a built frame. */
struct pb_layout {
	uint32_t l3;	  /* IP header */
	uint32_t l4;	  /* TCP header (or the L4 bytes) */
	uint32_t payload; /* first payload byte */
	uint32_t len;	  /* frame length */
};

/* Build p into buf. Returns the frame length, or 0 with errno set: EINVAL
 * (bad address, mixed families, options too long), EMSGSIZE (IP length over
 * 65535 without ip_len_zero), ENOSPC (cap too small). lay may be NULL. */
size_t pb_build(const struct pb_pkt *p, uint8_t *buf, size_t cap, struct pb_layout *lay);

/* RFC 1071 checksum over len bytes plus an initial partial sum. */
uint16_t pb_csum(const void *data, size_t len, uint32_t sum);

/* ------------------------------------------------------------------ */
/* Capture files                                                      */

#define PB_PCAP_MAGIC_US 0xa1b2c3d4u
#define PB_PCAP_MAGIC_NS 0xa1b23c4du

enum pb_fmt {
	PB_PCAP_US = 0, /* classic pcap, microsecond timestamps */
	PB_PCAP_NS,	/* classic pcap, nanosecond magic */
	PB_PCAPNG_NS,	/* pcapng, if_tsresol = 9 */
	PB_PCAPNG_US,	/* pcapng without if_tsresol (default microseconds) */
};

struct pb_writer;

/* Create path and write the file header. snaplen 0 = 262144; frames longer
 * than snaplen are cut (caplen = snaplen, wire length kept). dlt is written
 * as given, so any number may be used. NULL + errno on failure. */
struct pb_writer *pb_writer_open(const char *path, enum pb_fmt fmt, int dlt, uint32_t snaplen);
/* Same on an open stream, which pb_writer_close() does not close. */
struct pb_writer *pb_writer_fopen(FILE *fp, enum pb_fmt fmt, int dlt, uint32_t snaplen);
/* Append one frame of len bytes (wire length len, caplen min(len, snaplen)). */
int pb_writer_add(struct pb_writer *w, uint64_t ts_ns, const void *frame, uint32_t len);
/* Build p (pb_build) and append it. */
int pb_writer_add_pkt(struct pb_writer *w, uint64_t ts_ns, const struct pb_pkt *p);
int pb_writer_dlt(const struct pb_writer *w);
uint64_t pb_writer_count(const struct pb_writer *w); /* frames written */
/* Flush and close (the file, if pb_writer_open made it). The first error of
 * any earlier call is returned here too. NULL ok. */
int pb_writer_close(struct pb_writer *w);

/* Raw records, for well-formed and deliberately broken files. These write
 * exactly what they are told (lengths in the headers need not match the
 * bytes written). All values in host byte order (the file is native-endian
 * unless the magic says otherwise). Return 0 or -EIO. */
int pb_pcap_header(FILE *fp, uint32_t magic, uint16_t vmaj, uint16_t vmin, uint32_t snaplen,
		   uint32_t dlt);
int pb_pcap_record(FILE *fp, uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t wirelen,
		   const void *data, size_t n);
int pb_pcapng_shb(FILE *fp);
/* tsresol: 6 or 9 writes an if_tsresol option; 0 writes none (usec). */
int pb_pcapng_idb(FILE *fp, uint16_t dlt, uint32_t snaplen, uint8_t tsresol);
int pb_pcapng_epb(FILE *fp, uint32_t ifid, uint64_t ts_units, uint32_t caplen, uint32_t wirelen,
		  const void *data, size_t n);

/* ------------------------------------------------------------------ */
/* Frame lists in memory (e.g. to feed mbx_decode directly)            */

struct pb_frame {
	uint64_t ts_ns;
	uint32_t len;
	uint8_t *data;
};

struct pb_frames {
	struct pb_frame *v;
	size_t n, cap;
};

/* Append a copy. 0 or -ENOMEM. */
int pb_frames_add(struct pb_frames *fl, uint64_t ts_ns, const uint8_t *frame, uint32_t len);
int pb_frames_write(const struct pb_frames *fl, struct pb_writer *w);
void pb_frames_free(struct pb_frames *fl); /* frees the frames, keeps fl reusable */

/* ------------------------------------------------------------------ */
/* TCP conversations                                                  */

#define PB_C2S 0 /* client -> server */
#define PB_S2C 1 /* server -> client */

/* Where a conversation's frames go. */
typedef int (*pb_emit_fn)(void *ctx, uint64_t ts_ns, const uint8_t *frame, uint32_t len);

/* Faults for the segments of ONE send, by segment index (bit i = segment i,
 * i < 64). Segments are emitted in order, then the "late" ones, then the
 * duplicates, each PB_SEG_GAP apart. */
struct pb_fault {
	uint64_t drop;	  /* never emitted: a hole in the stream */
	uint64_t late;	  /* emitted after all other segments of the send */
	uint64_t swap;	  /* emitted after segment i+1 */
	uint64_t dup;	  /* emitted again at the end (a retransmission) */
	uint64_t overlap; /* starts overlap_bytes before its place, re-sending the
			     tail of segment i-1 (same bytes) */
	uint32_t overlap_bytes;
};

struct pb_conn {
	/* Settings: defaults from pb_conn_init, change freely afterwards. */
	struct pb_pkt tmpl;    /* link, VLAN, addresses (client = src), ports */
	uint32_t mss;	       /* payload bytes per segment; default 1448 */
	uint64_t seg_gap_ns;   /* time between segments of one send; default 1 us */
	uint64_t rtt_ns;       /* handshake/close spacing; default 100 us */
	bool acks;	       /* receiver sends pure ACKs: every 2nd segment, and
				  after a send that ends on an unacked segment */
	uint64_t ack_delay_ns; /* pure ACK this long after the segment; default 0.5 us */
	uint32_t pad_to;       /* copied into every frame (60 pads Ethernet) */
	/* Random faults applied to every payload segment of pb_conn_send()
	 * (when no explicit fault is given), rates in [0, 1]. */
	double drop_rate, dup_rate, swap_rate;
	uint64_t rng; /* state of the random generator; set a seed */

	/* State: next sequence number to send per direction, and what each
	 * side has acknowledged. Set isn[] before pb_conn_open(). */
	uint32_t isn[2];
	uint32_t nxt[2];
	uint32_t acked[2]; /* highest ack sent in direction d */
	bool open;	   /* handshake done (or pb_conn_midstream) */

	/* Statistics */
	uint64_t frames, bytes[2], dropped, duplicated;
	int err; /* first error (-errno), sticky */

	pb_emit_fn emit;
	void *emit_ctx;
};

/* Set up a conversation that writes into w (link type from the writer).
 * isn = 1000 (client) / 5000 (server). 0 or -EINVAL (bad address). */
int pb_conn_init(struct pb_conn *c, struct pb_writer *w, const char *client, uint16_t cport,
		 const char *server, uint16_t sport);
/* Same with any output (e.g. pb_frames_emit with a struct pb_frames *). */
int pb_conn_init_emit(struct pb_conn *c, enum pb_link link, pb_emit_fn fn, void *ctx,
		      const char *client, uint16_t cport, const char *server, uint16_t sport);
int pb_writer_emit(void *writer, uint64_t ts_ns, const uint8_t *frame, uint32_t len);
int pb_frames_emit(void *frames, uint64_t ts_ns, const uint8_t *frame, uint32_t len);

/* SYN at ts, SYN-ACK at ts + rtt/2, ACK at ts + rtt. */
int pb_conn_open(struct pb_conn *c, uint64_t ts_ns);
/* Skip the handshake: the capture starts mid-connection. */
void pb_conn_midstream(struct pb_conn *c);
/* Send len bytes in direction dir starting at ts (segments seg_gap_ns
 * apart, PSH on the last). With c->acks the receiver ACKs. */
int pb_conn_send(struct pb_conn *c, int dir, const void *data, size_t len, uint64_t ts_ns);
int pb_conn_sends(struct pb_conn *c, int dir, const char *str, uint64_t ts_ns);
int pb_conn_send_fault(struct pb_conn *c, int dir, const void *data, size_t len, uint64_t ts_ns,
		       const struct pb_fault *f);
/* A pure ACK from dir for everything the other side sent (also flushes a
 * pending delayed ACK). */
int pb_conn_ack(struct pb_conn *c, int dir, uint64_t ts_ns);
/* True if dir owes the peer an ACK (c->acks mode, odd segment count). */
bool pb_conn_ack_pending(const struct pb_conn *c, int dir);
/* FIN from dir (with ACK); with c->acks the peer ACKs it. */
int pb_conn_fin(struct pb_conn *c, int dir, uint64_t ts_ns);
/* Client FIN at ts, server FIN at ts + rtt/2, client ACK at ts + rtt. */
int pb_conn_close(struct pb_conn *c, uint64_t ts_ns);
/* RST from dir. */
int pb_conn_rst(struct pb_conn *c, int dir, uint64_t ts_ns);
/* Advance dir's sequence number by n without sending (bytes lost before the
 * capture point and never retransmitted into it). */
void pb_conn_skip(struct pb_conn *c, int dir, uint32_t n);

/* ------------------------------------------------------------------ */
/* Small helpers for tests                                            */

/* Deterministic PRNG (splitmix64). */
static inline uint64_t pb_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform double in [0, 1). */
static inline double pb_rand_unit(uint64_t *state)
{
	return (double)(pb_rand(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Make a fresh directory under $TMPDIR (or /tmp) into out. 0 or -errno. */
int pb_tmpdir(char *out, size_t outlen);
/* Remove the files directly inside dir, then dir. NULL ok. */
void pb_tmpdir_remove(const char *dir);

/* The shared data directory for tests: $MBX_SHARED_DATA if set, else
 * compiled_default (pass MBX_SHARED_DATA_DIR). */
static inline const char *pb_shared_data_dir(const char *compiled_default)
{
	const char *e = getenv("MBX_SHARED_DATA");
	return e && *e ? e : compiled_default;
}

#endif
