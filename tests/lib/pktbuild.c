/* SPDX-License-Identifier: Apache-2.0 */
/* pktbuild: frames, capture files and TCP conversations for tests.
 * See pktbuild.h for the API and examples. */
#include "pktbuild.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Addresses                                                          */

struct pb_addr pb_ip(const char *text)
{
	struct pb_addr a;

	memset(&a, 0, sizeof(a));
	if (!text)
		return a;
	if (inet_pton(AF_INET, text, a.a) == 1)
		a.family = 4;
	else if (inet_pton(AF_INET6, text, a.a) == 1)
		a.family = 6;
	return a;
}

/* ------------------------------------------------------------------ */
/* Frames                                                             */

int pb_link_dlt(enum pb_link link)
{
	switch (link) {
	case PB_ETH:
		return MBX_LINK_ETHERNET;
	case PB_SLL:
		return MBX_LINK_SLL;
	case PB_SLL2:
		return MBX_LINK_SLL2;
	case PB_RAW:
		return MBX_LINK_RAW;
	case PB_NULL:
		return MBX_LINK_NULL;
	case PB_LOOP:
		return MBX_LINK_LOOP;
	}
	return MBX_LINK_ETHERNET;
}

enum pb_link pb_link_from_dlt(int dlt)
{
	switch (dlt) {
	case MBX_LINK_SLL:
		return PB_SLL;
	case MBX_LINK_SLL2:
		return PB_SLL2;
	case MBX_LINK_RAW:
	case MBX_LINK_RAW_DLT:
	case MBX_LINK_IPV4:
	case MBX_LINK_IPV6:
		return PB_RAW;
	case MBX_LINK_NULL:
		return PB_NULL;
	case MBX_LINK_LOOP:
		return PB_LOOP;
	default:
		return PB_ETH;
	}
}

static uint32_t csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	while (len >= 2) {
		sum += (uint32_t)p[0] << 8 | p[1];
		p += 2;
		len -= 2;
		if (sum & 0x80000000u)
			sum = (sum & 0xffff) + (sum >> 16);
	}
	if (len)
		sum += (uint32_t)p[0] << 8;
	return sum;
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

uint16_t pb_csum(const void *data, size_t len, uint32_t sum)
{
	return csum_fold(csum_add(sum, data, len));
}

static size_t ext_len(uint8_t type)
{
	switch (type) {
	case 0:
	case 43:
	case 44:
	case 60:
		return 8;
	case 51:
		return 24;
	default:
		return 0;
	}
}

static size_t link_hlen(const struct pb_pkt *p)
{
	size_t tags = (size_t)p->nvlan * 4;

	switch (p->link) {
	case PB_ETH:
		return 14 + tags;
	case PB_SLL:
		return 16 + tags;
	case PB_SLL2:
		return 20 + tags;
	case PB_RAW:
		return 0;
	case PB_NULL:
	case PB_LOOP:
		return 4;
	}
	return 0;
}

/* Write the link header; returns its length. */
static size_t put_link(const struct pb_pkt *p, uint8_t *b, uint16_t ethertype)
{
	static const uint8_t mac_a[6] = {0x02, 0, 0, 0, 0, 0x01};
	static const uint8_t mac_b[6] = {0x02, 0, 0, 0, 0, 0x02};
	size_t off, first_type_off;

	switch (p->link) {
	case PB_ETH:
		memcpy(b, mac_b, 6);
		memcpy(b + 6, mac_a, 6);
		first_type_off = 12;
		off = 14;
		break;
	case PB_SLL:
		mbx_wr16be(b, 0);     /* packet type: to us */
		mbx_wr16be(b + 2, 1); /* ARPHRD_ETHER */
		mbx_wr16be(b + 4, 6); /* address length */
		memcpy(b + 6, mac_a, 6);
		b[12] = b[13] = 0;
		first_type_off = 14;
		off = 16;
		break;
	case PB_SLL2:
		mbx_wr16be(b + 2, 0); /* reserved */
		mbx_wr32be(b + 4, 2); /* interface index */
		mbx_wr16be(b + 8, 1); /* ARPHRD_ETHER */
		b[10] = 0;	      /* packet type */
		b[11] = 6;
		memcpy(b + 12, mac_a, 6);
		b[18] = b[19] = 0;
		first_type_off = 0;
		off = 20;
		break;
	case PB_NULL:
	case PB_LOOP: {
		uint32_t fam = p->null_family ? p->null_family : (p->src.family == 6 ? 30 : 2);
		bool be = (p->link == PB_LOOP) != p->null_swap;
		if (be) {
			mbx_wr32be(b, fam);
		} else {
			b[0] = (uint8_t)fam;
			b[1] = (uint8_t)(fam >> 8);
			b[2] = (uint8_t)(fam >> 16);
			b[3] = (uint8_t)(fam >> 24);
		}
		return 4;
	}
	case PB_RAW:
	default:
		return 0;
	}

	/* Type chain: first type in its slot, then per tag [TCI][next type]. */
	unsigned n = p->nvlan > 4 ? 4 : p->nvlan;
	uint16_t first = n ? (p->vlan_tpid[0] ? p->vlan_tpid[0] : 0x8100) : ethertype;
	mbx_wr16be(b + first_type_off, first);
	for (unsigned i = 0; i < n; i++) {
		uint16_t next;
		if (i + 1 < n)
			next = p->vlan_tpid[i + 1] ? p->vlan_tpid[i + 1] : 0x8100;
		else
			next = ethertype;
		mbx_wr16be(b + off, p->vlan_tci[i]);
		mbx_wr16be(b + off + 2, next);
		off += 4;
	}
	return off;
}

size_t pb_build(const struct pb_pkt *p, uint8_t *buf, size_t cap, struct pb_layout *lay)
{
	if (!p || !buf || p->src.family == 0 || p->src.family != p->dst.family ||
	    p->ip_opts_len > 40 || p->tcp_opts_len > 40 || p->nvlan > 4 || p->n_ext > 4 ||
	    (p->len && !p->payload) || (p->ip_opts_len && !p->ip_opts) ||
	    (p->tcp_opts_len && !p->tcp_opts)) {
		errno = EINVAL;
		return 0;
	}
	bool v6 = p->src.family == 6;
	bool tcp = p->proto == 0 || p->proto == 6;
	uint8_t proto = tcp ? 6 : p->proto;

	size_t ipopt = v6 ? 0 : ((size_t)p->ip_opts_len + 3) & ~(size_t)3;
	size_t iphl = v6 ? 40 : 20 + ipopt;
	size_t exts = 0;
	if (v6) {
		for (unsigned i = 0; i < p->n_ext; i++) {
			size_t l = ext_len(p->ext[i]);
			if (!l) {
				errno = EINVAL;
				return 0;
			}
			exts += l;
		}
	} else if (p->n_ext) {
		errno = EINVAL;
		return 0;
	}
	size_t tcpopt = ((size_t)p->tcp_opts_len + 3) & ~(size_t)3;
	size_t l4h = tcp ? 20 + tcpopt : 0;
	size_t lh = link_hlen(p);
	size_t iplen = iphl + exts + l4h + p->len; /* whole datagram */
	size_t flen = lh + iplen;

	if (!p->ip_len_zero && (v6 ? iplen - 40 : iplen) > 65535) {
		errno = EMSGSIZE;
		return 0;
	}
	size_t total = flen < p->pad_to ? p->pad_to : flen;
	if (total > cap) {
		errno = ENOSPC;
		return 0;
	}

	uint16_t ethertype = p->ethertype ? p->ethertype : (v6 ? 0x86dd : 0x0800);
	size_t off = put_link(p, buf, ethertype);
	uint8_t *ip = buf + off;
	uint32_t l3 = (uint32_t)off;

	if (!v6) {
		ip[0] = (uint8_t)(0x40 | (iphl / 4));
		ip[1] = 0;
		mbx_wr16be(ip + 2, p->ip_len_zero ? 0 : (uint16_t)iplen);
		mbx_wr16be(ip + 4, p->ip_id);
		mbx_wr16be(ip + 6, p->frag);
		ip[8] = p->ttl ? p->ttl : 64;
		ip[9] = proto;
		ip[10] = ip[11] = 0;
		memcpy(ip + 12, p->src.a, 4);
		memcpy(ip + 16, p->dst.a, 4);
		if (ipopt) {
			memcpy(ip + 20, p->ip_opts, p->ip_opts_len);
			memset(ip + 20 + p->ip_opts_len, 0, ipopt - p->ip_opts_len); /* EOL */
		}
		mbx_wr16be(ip + 10, pb_csum(ip, iphl, 0));
	} else {
		mbx_wr32be(ip, 0x60000000u);
		mbx_wr16be(ip + 4, p->ip_len_zero ? 0 : (uint16_t)(iplen - 40));
		ip[6] = p->n_ext ? p->ext[0] : proto;
		ip[7] = p->ttl ? p->ttl : 64;
		memcpy(ip + 8, p->src.a, 16);
		memcpy(ip + 24, p->dst.a, 16);
		uint8_t *h = ip + 40;
		for (unsigned i = 0; i < p->n_ext; i++) {
			uint8_t nh = i + 1 < p->n_ext ? p->ext[i + 1] : proto;
			size_t l = ext_len(p->ext[i]);
			memset(h, 0, l);
			h[0] = nh;
			switch (p->ext[i]) {
			case 0:
			case 60:
				h[1] = 0;
				h[2] = 1; /* PadN covering the remaining 4 bytes */
				h[3] = 4;
				break;
			case 43:
				h[1] = 0;
				h[2] = 0; /* routing type 0, segments left 0 */
				break;
			case 44:
				mbx_wr16be(h + 2, p->frag);
				mbx_wr32be(h + 4, p->ip_id);
				break;
			case 51:
				h[1] = (uint8_t)(l / 4 - 2);
				mbx_wr32be(h + 4, 0x100); /* SPI */
				mbx_wr32be(h + 8, 1);	  /* sequence */
				break;
			}
			h += l;
		}
	}

	uint8_t *l4 = ip + iphl + exts;
	uint32_t l4off = (uint32_t)(l4 - buf);
	if (tcp) {
		mbx_wr16be(l4, p->sport);
		mbx_wr16be(l4 + 2, p->dport);
		mbx_wr32be(l4 + 4, p->seq);
		mbx_wr32be(l4 + 8, p->ack);
		l4[12] = (uint8_t)((l4h / 4) << 4);
		l4[13] = p->flags;
		mbx_wr16be(l4 + 14, p->window ? p->window : 502);
		l4[16] = l4[17] = 0;
		l4[18] = l4[19] = 0;
		if (tcpopt) {
			memcpy(l4 + 20, p->tcp_opts, p->tcp_opts_len);
			memset(l4 + 20 + p->tcp_opts_len, 1, tcpopt - p->tcp_opts_len); /* NOP */
		}
	}
	if (p->len)
		memcpy(l4 + l4h, p->payload, p->len);
	if (tcp && p->tcp_csum) {
		size_t seglen = l4h + p->len;
		uint32_t sum = 0;
		uint8_t ph[4];
		if (v6) {
			sum = csum_add(sum, p->src.a, 16);
			sum = csum_add(sum, p->dst.a, 16);
			mbx_wr32be(ph, (uint32_t)seglen);
			sum = csum_add(sum, ph, 4);
		} else {
			sum = csum_add(sum, p->src.a, 4);
			sum = csum_add(sum, p->dst.a, 4);
			mbx_wr16be(ph, (uint16_t)seglen);
			sum = csum_add(sum, ph, 2);
		}
		sum += 6;
		uint16_t c = pb_csum(l4, seglen, sum);
		mbx_wr16be(l4 + 16, c);
	}
	if (total > flen)
		memset(buf + flen, 0, total - flen);
	if (lay) {
		lay->l3 = l3;
		lay->l4 = l4off;
		lay->payload = (uint32_t)(l4off + l4h);
		lay->len = (uint32_t)total;
	}
	return total;
}

/* ------------------------------------------------------------------ */
/* Capture files                                                      */

struct pb_writer {
	FILE *fp;
	bool own;
	enum pb_fmt fmt;
	int dlt;
	uint32_t snaplen;
	uint64_t count;
	int err;
};

static int put(FILE *fp, const void *p, size_t n)
{
	return n == 0 || fwrite(p, 1, n, fp) == n ? 0 : -EIO;
}

static void le16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static void le32(uint8_t *b, uint32_t v)
{
	le16(b, (uint16_t)v);
	le16(b + 2, (uint16_t)(v >> 16));
}

/* The files are written little-endian (the byte order mbx runs on); a
 * native magic read back as a little-endian value is the right one. */
int pb_pcap_header(FILE *fp, uint32_t magic, uint16_t vmaj, uint16_t vmin, uint32_t snaplen,
		   uint32_t dlt)
{
	uint8_t h[24];
	le32(h, magic);
	le16(h + 4, vmaj);
	le16(h + 6, vmin);
	le32(h + 8, 0);	 /* thiszone */
	le32(h + 12, 0); /* sigfigs */
	le32(h + 16, snaplen);
	le32(h + 20, dlt);
	return put(fp, h, sizeof(h));
}

int pb_pcap_record(FILE *fp, uint32_t sec, uint32_t frac, uint32_t caplen, uint32_t wirelen,
		   const void *data, size_t n)
{
	uint8_t h[16];
	le32(h, sec);
	le32(h + 4, frac);
	le32(h + 8, caplen);
	le32(h + 12, wirelen);
	int rc = put(fp, h, sizeof(h));
	return rc ? rc : put(fp, data, n);
}

int pb_pcapng_shb(FILE *fp)
{
	uint8_t b[28];
	le32(b, 0x0a0d0d0a);
	le32(b + 4, sizeof(b));
	le32(b + 8, 0x1a2b3c4d);
	le16(b + 12, 1);
	le16(b + 14, 0);
	le32(b + 16, 0xffffffffu); /* section length unknown */
	le32(b + 20, 0xffffffffu);
	le32(b + 24, sizeof(b));
	return put(fp, b, sizeof(b));
}

int pb_pcapng_idb(FILE *fp, uint16_t dlt, uint32_t snaplen, uint8_t tsresol)
{
	uint8_t b[32];
	uint32_t len = tsresol ? 32 : 20;
	le32(b, 1);
	le32(b + 4, len);
	le16(b + 8, dlt);
	le16(b + 10, 0);
	le32(b + 12, snaplen);
	if (tsresol) {
		le16(b + 16, 9); /* if_tsresol */
		le16(b + 18, 1);
		b[20] = tsresol;
		b[21] = b[22] = b[23] = 0;
		le32(b + 24, 0); /* opt_endofopt */
		le32(b + 28, len);
	} else {
		le32(b + 16, len);
	}
	return put(fp, b, len);
}

int pb_pcapng_epb(FILE *fp, uint32_t ifid, uint64_t ts_units, uint32_t caplen, uint32_t wirelen,
		  const void *data, size_t n)
{
	static const uint8_t zeros[4];
	size_t padded = (n + 3) & ~(size_t)3;
	uint32_t total = (uint32_t)(32 + padded);
	uint8_t h[28], t[4];
	le32(h, 6);
	le32(h + 4, total);
	le32(h + 8, ifid);
	le32(h + 12, (uint32_t)(ts_units >> 32));
	le32(h + 16, (uint32_t)ts_units);
	le32(h + 20, caplen);
	le32(h + 24, wirelen);
	le32(t, total);
	int rc = put(fp, h, sizeof(h));
	if (!rc)
		rc = put(fp, data, n);
	if (!rc)
		rc = put(fp, zeros, padded - n);
	if (!rc)
		rc = put(fp, t, sizeof(t));
	return rc;
}

static struct pb_writer *writer_new(FILE *fp, bool own, enum pb_fmt fmt, int dlt, uint32_t snaplen)
{
	struct pb_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->fp = fp;
	w->own = own;
	w->fmt = fmt;
	w->dlt = dlt;
	w->snaplen = snaplen ? snaplen : 262144;
	int rc;
	switch (fmt) {
	case PB_PCAP_US:
		rc = pb_pcap_header(fp, PB_PCAP_MAGIC_US, 2, 4, w->snaplen, (uint32_t)dlt);
		break;
	case PB_PCAP_NS:
		rc = pb_pcap_header(fp, PB_PCAP_MAGIC_NS, 2, 4, w->snaplen, (uint32_t)dlt);
		break;
	case PB_PCAPNG_NS:
	case PB_PCAPNG_US:
		rc = pb_pcapng_shb(fp);
		if (!rc)
			rc = pb_pcapng_idb(fp, (uint16_t)dlt, w->snaplen,
					   fmt == PB_PCAPNG_NS ? 9 : 0);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc) {
		free(w);
		errno = -rc;
		return NULL;
	}
	return w;
}

struct pb_writer *pb_writer_fopen(FILE *fp, enum pb_fmt fmt, int dlt, uint32_t snaplen)
{
	if (!fp) {
		errno = EINVAL;
		return NULL;
	}
	return writer_new(fp, false, fmt, dlt, snaplen);
}

struct pb_writer *pb_writer_open(const char *path, enum pb_fmt fmt, int dlt, uint32_t snaplen)
{
	FILE *fp = fopen(path, "wb");
	if (!fp)
		return NULL;
	setvbuf(fp, NULL, _IOFBF, 1 << 20);
	struct pb_writer *w = writer_new(fp, true, fmt, dlt, snaplen);
	if (!w) {
		int e = errno;
		fclose(fp);
		errno = e;
	}
	return w;
}

int pb_writer_add(struct pb_writer *w, uint64_t ts_ns, const void *frame, uint32_t len)
{
	uint32_t caplen = len < w->snaplen ? len : w->snaplen;
	int rc;

	switch (w->fmt) {
	case PB_PCAP_US:
		rc = pb_pcap_record(w->fp, (uint32_t)(ts_ns / PB_S),
				    (uint32_t)(ts_ns % PB_S / 1000), caplen, len, frame, caplen);
		break;
	case PB_PCAP_NS:
		rc = pb_pcap_record(w->fp, (uint32_t)(ts_ns / PB_S), (uint32_t)(ts_ns % PB_S),
				    caplen, len, frame, caplen);
		break;
	case PB_PCAPNG_NS:
		rc = pb_pcapng_epb(w->fp, 0, ts_ns, caplen, len, frame, caplen);
		break;
	case PB_PCAPNG_US:
		rc = pb_pcapng_epb(w->fp, 0, ts_ns / 1000, caplen, len, frame, caplen);
		break;
	default:
		rc = -EINVAL;
	}
	if (rc && !w->err)
		w->err = rc;
	if (!rc)
		w->count++;
	return rc;
}

int pb_writer_add_pkt(struct pb_writer *w, uint64_t ts_ns, const struct pb_pkt *p)
{
	static _Thread_local uint8_t buf[PB_FRAME_MAX];
	size_t n = pb_build(p, buf, sizeof(buf), NULL);
	if (!n) {
		int rc = -errno;
		if (!w->err)
			w->err = rc;
		return rc;
	}
	return pb_writer_add(w, ts_ns, buf, (uint32_t)n);
}

int pb_writer_dlt(const struct pb_writer *w)
{
	return w->dlt;
}

uint64_t pb_writer_count(const struct pb_writer *w)
{
	return w->count;
}

int pb_writer_close(struct pb_writer *w)
{
	if (!w)
		return 0;
	int rc = w->err;
	if (fflush(w->fp) != 0 && !rc)
		rc = -EIO;
	if (w->own && fclose(w->fp) != 0 && !rc)
		rc = -EIO;
	free(w);
	return rc;
}

int pb_writer_emit(void *writer, uint64_t ts_ns, const uint8_t *frame, uint32_t len)
{
	return pb_writer_add(writer, ts_ns, frame, len);
}

/* ------------------------------------------------------------------ */
/* Frame lists                                                        */

int pb_frames_add(struct pb_frames *fl, uint64_t ts_ns, const uint8_t *frame, uint32_t len)
{
	if (fl->n == fl->cap) {
		size_t ncap = fl->cap ? fl->cap * 2 : 64;
		struct pb_frame *v = realloc(fl->v, ncap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		fl->v = v;
		fl->cap = ncap;
	}
	uint8_t *d = malloc(len ? len : 1);
	if (!d)
		return -ENOMEM;
	memcpy(d, frame, len);
	fl->v[fl->n].ts_ns = ts_ns;
	fl->v[fl->n].len = len;
	fl->v[fl->n].data = d;
	fl->n++;
	return 0;
}

int pb_frames_emit(void *frames, uint64_t ts_ns, const uint8_t *frame, uint32_t len)
{
	return pb_frames_add(frames, ts_ns, frame, len);
}

int pb_frames_write(const struct pb_frames *fl, struct pb_writer *w)
{
	for (size_t i = 0; i < fl->n; i++) {
		int rc = pb_writer_add(w, fl->v[i].ts_ns, fl->v[i].data, fl->v[i].len);
		if (rc)
			return rc;
	}
	return 0;
}

void pb_frames_free(struct pb_frames *fl)
{
	if (!fl)
		return;
	for (size_t i = 0; i < fl->n; i++)
		free(fl->v[i].data);
	free(fl->v);
	fl->v = NULL;
	fl->n = fl->cap = 0;
}

/* ------------------------------------------------------------------ */
/* TCP conversations                                                  */

int pb_conn_init_emit(struct pb_conn *c, enum pb_link link, pb_emit_fn fn, void *ctx,
		      const char *client, uint16_t cport, const char *server, uint16_t sport)
{
	memset(c, 0, sizeof(*c));
	c->tmpl.link = link;
	c->tmpl.src = pb_ip(client);
	c->tmpl.dst = pb_ip(server);
	c->tmpl.sport = cport;
	c->tmpl.dport = sport;
	c->mss = 1448;
	c->seg_gap_ns = 1000;
	c->rtt_ns = 100000;
	c->ack_delay_ns = 500;
	c->rng = 0x6d6278; /* "mbx" */
	c->isn[0] = 1000;
	c->isn[1] = 5000;
	c->nxt[0] = c->isn[0];
	c->nxt[1] = c->isn[1];
	c->emit = fn;
	c->emit_ctx = ctx;
	if (!c->tmpl.src.family || c->tmpl.src.family != c->tmpl.dst.family) {
		c->err = -EINVAL;
		return -EINVAL;
	}
	return 0;
}

int pb_conn_init(struct pb_conn *c, struct pb_writer *w, const char *client, uint16_t cport,
		 const char *server, uint16_t sport)
{
	return pb_conn_init_emit(c, pb_link_from_dlt(w->dlt), pb_writer_emit, w, client, cport,
				 server, sport);
}

/* Segments since the last ACK that direction d owes its peer. */
#define ACK_OWED(c, d) ((c)->nxt[1 - (d)] != (c)->acked[d])

static int conn_emit(struct pb_conn *c, int dir, uint64_t ts, uint32_t seq, uint8_t flags,
		     const uint8_t *opts, uint8_t optlen, const uint8_t *data, uint32_t len)
{
	static _Thread_local uint8_t buf[PB_FRAME_MAX];
	struct pb_pkt p = c->tmpl;

	if (c->err)
		return c->err;
	if (dir == PB_S2C) {
		p.src = c->tmpl.dst;
		p.dst = c->tmpl.src;
		p.sport = c->tmpl.dport;
		p.dport = c->tmpl.sport;
	}
	p.seq = seq;
	p.flags = flags;
	if ((flags & MBX_TCP_SYN) && !p.window)
		p.window = 64240; /* SYN windows are not scaled */
	if (flags & MBX_TCP_ACK) {
		p.ack = c->nxt[1 - dir];
		c->acked[dir] = p.ack;
	}
	p.tcp_opts = opts;
	p.tcp_opts_len = optlen;
	p.payload = data;
	p.len = len;
	if (c->pad_to)
		p.pad_to = c->pad_to;
	size_t n = pb_build(&p, buf, sizeof(buf), NULL);
	if (!n) {
		c->err = -errno;
		return c->err;
	}
	int rc = c->emit(c->emit_ctx, ts, buf, (uint32_t)n);
	if (rc) {
		c->err = rc;
		return rc;
	}
	c->frames++;
	return 0;
}

int pb_conn_open(struct pb_conn *c, uint64_t ts)
{
	/* MSS, SACK permitted, window scale 7 (so the default window of 502
	 * means 64256 bytes, as on Linux). */
	uint8_t opts[10] = {2, 4, (uint8_t)(c->mss >> 8), (uint8_t)c->mss, 4, 2, 1, 3, 3, 7};
	int rc;

	c->nxt[0] = c->isn[0];
	c->nxt[1] = c->isn[1];
	rc = conn_emit(c, PB_C2S, ts, c->nxt[0], MBX_TCP_SYN, opts, sizeof(opts), NULL, 0);
	if (rc)
		return rc;
	c->nxt[0]++;
	rc = conn_emit(c, PB_S2C, ts + c->rtt_ns / 2, c->nxt[1], MBX_TCP_SYN | MBX_TCP_ACK, opts,
		       sizeof(opts), NULL, 0);
	if (rc)
		return rc;
	c->nxt[1]++;
	rc = conn_emit(c, PB_C2S, ts + c->rtt_ns, c->nxt[0], MBX_TCP_ACK, NULL, 0, NULL, 0);
	if (rc)
		return rc;
	c->open = true;
	return 0;
}

void pb_conn_midstream(struct pb_conn *c)
{
	c->nxt[0] = c->isn[0];
	c->nxt[1] = c->isn[1];
	c->acked[0] = c->nxt[1];
	c->acked[1] = c->nxt[0];
	c->open = true;
}

static int emit_seg(struct pb_conn *c, int dir, uint64_t *ts, uint32_t base, const uint8_t *data,
		    size_t len, size_t off, size_t n, size_t back)
{
	uint8_t flags = MBX_TCP_ACK;
	if (back > off)
		back = off;
	if (off + n == len)
		flags |= MBX_TCP_PSH;
	int rc = conn_emit(c, dir, *ts, base + (uint32_t)(off - back), flags, NULL, 0,
			   data + off - back, (uint32_t)(n + back));
	*ts += c->seg_gap_ns;
	return rc;
}

static bool bit(uint64_t mask, size_t i)
{
	return i < 64 && (mask >> i & 1);
}

int pb_conn_send_fault(struct pb_conn *c, int dir, const void *data, size_t len, uint64_t ts,
		       const struct pb_fault *f)
{
	const uint8_t *d = data;
	int peer = 1 - dir;
	uint32_t mss = c->mss ? c->mss : 1448;
	uint32_t base = c->nxt[dir];
	uint64_t start = ts;
	size_t nseg = (len + mss - 1) / mss;
	size_t held = SIZE_MAX; /* segment waiting for a swap */
	uint64_t late = 0, dup = 0;
	unsigned unacked = 0;
	int rc = 0;

	if (c->err)
		return c->err;
	if (dir != PB_C2S && dir != PB_S2C)
		return -EINVAL;
	if (len > UINT32_MAX / 2)
		return -EMSGSIZE;
	if (len == 0)
		return 0;

	/* The sender's segments acknowledge what it received. */
	for (size_t i = 0; i < nseg && !rc; i++) {
		size_t off = i * mss, n = MBX_MIN((size_t)mss, len - off);
		bool drop, swap, dupl = false, lt = false;
		size_t back = 0;

		if (f) {
			drop = bit(f->drop, i);
			lt = bit(f->late, i);
			swap = bit(f->swap, i) && i + 1 < nseg;
			dupl = bit(f->dup, i);
			if (bit(f->overlap, i))
				back = f->overlap_bytes;
		} else {
			drop = c->drop_rate > 0 && pb_rand_unit(&c->rng) < c->drop_rate;
			swap = c->swap_rate > 0 && i + 1 < nseg &&
			       pb_rand_unit(&c->rng) < c->swap_rate;
			dupl = c->dup_rate > 0 && pb_rand_unit(&c->rng) < c->dup_rate;
		}

		if (drop) {
			c->dropped++;
		} else if (lt) {
			late |= 1ULL << i;
		} else if (swap && held == SIZE_MAX) {
			held = i;
		} else {
			rc = emit_seg(c, dir, &ts, base, d, len, off, n, back);
			if (!rc && held != SIZE_MAX) {
				size_t hoff = held * mss;
				rc = emit_seg(c, dir, &ts, base, d, len, hoff,
					      MBX_MIN((size_t)mss, len - hoff), 0);
				held = SIZE_MAX;
			}
		}
		if (dupl) {
			if (f) {
				dup |= 1ULL << i;
			} else if (!rc && !drop) {
				rc = emit_seg(c, dir, &ts, base, d, len, off, n, 0);
				c->duplicated++;
			}
		}

		/* The receiver got the segment (capture faults are not
		 * network faults): delayed ACK every second segment. */
		if (c->acks && !rc && ++unacked == 2) {
			unacked = 0;
			uint32_t saved = c->nxt[dir];
			c->nxt[dir] = base + (uint32_t)(off + n);
			uint64_t last = ts == start ? start : ts - c->seg_gap_ns;
			rc = conn_emit(c, peer, last + c->ack_delay_ns, c->nxt[peer], MBX_TCP_ACK,
				       NULL, 0, NULL, 0);
			c->nxt[dir] = saved;
		}
	}
	if (!rc && held != SIZE_MAX) {
		size_t hoff = held * mss;
		rc = emit_seg(c, dir, &ts, base, d, len, hoff, MBX_MIN((size_t)mss, len - hoff), 0);
	}
	for (size_t i = 0; i < nseg && i < 64 && !rc; i++) {
		if (late >> i & 1)
			rc = emit_seg(c, dir, &ts, base, d, len, i * mss,
				      MBX_MIN((size_t)mss, len - i * mss), 0);
	}
	for (size_t i = 0; i < nseg && i < 64 && !rc; i++) {
		if (dup >> i & 1) {
			rc = emit_seg(c, dir, &ts, base, d, len, i * mss,
				      MBX_MIN((size_t)mss, len - i * mss), 0);
			c->duplicated++;
		}
	}
	c->nxt[dir] = base + (uint32_t)len;
	c->bytes[dir] += len;
	return rc;
}

int pb_conn_send(struct pb_conn *c, int dir, const void *data, size_t len, uint64_t ts)
{
	return pb_conn_send_fault(c, dir, data, len, ts, NULL);
}

int pb_conn_sends(struct pb_conn *c, int dir, const char *str, uint64_t ts)
{
	return pb_conn_send_fault(c, dir, str, strlen(str), ts, NULL);
}

bool pb_conn_ack_pending(const struct pb_conn *c, int dir)
{
	return c->acks && ACK_OWED(c, dir);
}

int pb_conn_ack(struct pb_conn *c, int dir, uint64_t ts)
{
	return conn_emit(c, dir, ts, c->nxt[dir], MBX_TCP_ACK, NULL, 0, NULL, 0);
}

int pb_conn_fin(struct pb_conn *c, int dir, uint64_t ts)
{
	int rc = conn_emit(c, dir, ts, c->nxt[dir], MBX_TCP_FIN | MBX_TCP_ACK, NULL, 0, NULL, 0);
	if (rc)
		return rc;
	c->nxt[dir]++;
	if (c->acks)
		rc = pb_conn_ack(c, 1 - dir, ts + c->ack_delay_ns);
	return rc;
}

int pb_conn_close(struct pb_conn *c, uint64_t ts)
{
	int rc = conn_emit(c, PB_C2S, ts, c->nxt[0], MBX_TCP_FIN | MBX_TCP_ACK, NULL, 0, NULL, 0);
	if (rc)
		return rc;
	c->nxt[0]++;
	rc = conn_emit(c, PB_S2C, ts + c->rtt_ns / 2, c->nxt[1], MBX_TCP_FIN | MBX_TCP_ACK, NULL, 0,
		       NULL, 0);
	if (rc)
		return rc;
	c->nxt[1]++;
	rc = conn_emit(c, PB_C2S, ts + c->rtt_ns, c->nxt[0], MBX_TCP_ACK, NULL, 0, NULL, 0);
	c->open = false;
	return rc;
}

int pb_conn_rst(struct pb_conn *c, int dir, uint64_t ts)
{
	int rc = conn_emit(c, dir, ts, c->nxt[dir], MBX_TCP_RST | MBX_TCP_ACK, NULL, 0, NULL, 0);
	c->open = false;
	return rc;
}

void pb_conn_skip(struct pb_conn *c, int dir, uint32_t n)
{
	c->nxt[dir] += n;
}

/* ------------------------------------------------------------------ */
/* Temporary directories                                              */

int pb_tmpdir(char *out, size_t outlen)
{
	const char *base = getenv("TMPDIR");
	if (!base || !*base)
		base = "/tmp";
	int n = snprintf(out, outlen, "%s/mbx-test-XXXXXX", base);
	if (n < 0 || (size_t)n >= outlen)
		return -ENAMETOOLONG;
	if (!mkdtemp(out))
		return -errno;
	return 0;
}

void pb_tmpdir_remove(const char *dir)
{
	if (!dir)
		return;
	DIR *d = opendir(dir);
	if (d) {
		struct dirent *e;
		char path[PATH_MAX];
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if (snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) <
			    (int)sizeof(path))
				unlink(path);
		}
		closedir(d);
	}
	rmdir(dir);
}
