/* SPDX-License-Identifier: Apache-2.0 */
/* Capture worker: decode -> flow table/reassembly -> protocol parser -> sink.
 * One per core in live capture, one in total offline. No allocation after
 * create. */
#include <errno.h>
#include <stdlib.h>

#include "mbx/decode.h"
#include "mbx/log.h"
#include "mbx/parser.h"
#include "mbx/record.h"

struct mbx_cworker {
	struct mbx_flowtab *ft;
	struct mbx_bufpool *pool;
	struct mbx_parse_ctx pctx;
	struct mbx_counters *ctr;
	struct mbx_msg_sink sink;
	uint8_t salt[MBX_SALT_LEN];
	unsigned id;
};

static void emit_ctl(struct mbx_cworker *w, const struct mbx_stream *s, unsigned kind,
		     unsigned aux, uint64_t ts)
{
	struct mbx_msg m;
	memset(&m, 0, sizeof(m));
	m.kind = (uint8_t)kind;
	m.flow = s->flow;
	m.ts_ns = ts;
	m.dir = s->dir;
	m.aux = (uint16_t)aux;
	m.worker = (uint8_t)w->id;
	w->sink.emit(w->sink.ctx, &m);
}

static void st_open(void *ctx, struct mbx_stream *s, uint64_t ts)
{
	struct mbx_cworker *w = ctx;
	mbx_parser_init(mbx_stream_user(s), s->flow, s->dir, s->syn_seen);
	/* A client SYN starts a connection: the pairing stage gives it a new id
	 * even if the 5-tuple was used before. */
	if (s->dir == MBX_DIR_REQ && s->syn_seen)
		emit_ctl(w, s, MBX_MSG_OPEN, 0, ts);
}

static void st_data(void *ctx, struct mbx_stream *s, const uint8_t *p, uint32_t n, uint64_t ts)
{
	struct mbx_cworker *w = ctx;
	mbx_parser_data(mbx_stream_user(s), &w->pctx, p, n, ts);
}

static void st_gap(void *ctx, struct mbx_stream *s, uint64_t nbytes, uint64_t ts)
{
	struct mbx_cworker *w = ctx;
	mbx_parser_gap(mbx_stream_user(s), &w->pctx, nbytes, ts);
	emit_ctl(w, s, MBX_MSG_GAP, s->dir, ts);
}

static void st_close(void *ctx, struct mbx_stream *s, enum mbx_close_why why, uint64_t ts)
{
	struct mbx_cworker *w = ctx;
	mbx_parser_fini(mbx_stream_user(s), &w->pctx);
	emit_ctl(w, s, MBX_MSG_CLOSE, why, ts);
}

static const struct mbx_stream_ops stream_ops = {
	.open = st_open,
	.data = st_data,
	.gap = st_gap,
	.close = st_close,
};

struct mbx_cworker *mbx_cworker_create(const struct mbx_record_cfg *cfg, unsigned worker_id,
				       const struct mbx_msg_sink *sink, struct mbx_counters *ctr)
{
	struct mbx_cworker *w;
	struct mbx_flowtab_cfg fc;

	if (!cfg || !sink || !sink->emit || !ctr) {
		errno = EINVAL;
		return NULL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	w->id = worker_id;
	w->ctr = ctr;
	w->sink = *sink;
	memcpy(w->salt, cfg->salt, sizeof(w->salt));

	w->pool = mbx_bufpool_create(MBX_PARSER_CARRY_SIZE, cfg->carry_bufs);
	if (!w->pool)
		goto fail;
	w->pctx.salt = w->salt;
	w->pctx.pool = w->pool;
	w->pctx.ctr = ctr;
	w->pctx.sink = *sink;
	w->pctx.worker = (uint8_t)worker_id;

	mbx_flowtab_cfg_defaults(&fc);
	fc.max_flows = cfg->max_flows;
	fc.idle_timeout_ns = cfg->idle_timeout_ns;
	if (cfg->ooo_max_segs)
		fc.ooo_max_segs = cfg->ooo_max_segs;
	if (cfg->ooo_max_bytes)
		fc.ooo_max_bytes = cfg->ooo_max_bytes;
	if (cfg->ooo_total_bytes)
		fc.ooo_total_bytes = cfg->ooo_total_bytes;
	fc.port_map = cfg->port_map;
	fc.flow_key = cfg->flow_key;
	fc.user_size = sizeof(struct mbx_parser);
	fc.ops = &stream_ops;
	fc.ops_ctx = w;
	fc.ctr = ctr;
	w->ft = mbx_flowtab_create(&fc);
	if (!w->ft)
		goto fail;
	return w;
fail: {
	int e = errno ? errno : ENOMEM;
	mbx_cworker_destroy(w);
	errno = e;
	return NULL;
}
}

void mbx_cworker_destroy(struct mbx_cworker *w)
{
	if (!w)
		return;
	mbx_flowtab_destroy(w->ft);
	mbx_bufpool_destroy(w->pool);
	free(w);
}

/* Decode one packet; true when it is a TCP segment to feed. The callers
 * count pkts, bytes and dec_tcp (mbx_cworker_burst once per burst). */
static inline bool cw_decode(struct mbx_counters *c, const struct mbx_pkt *pkt, int linktype,
			     struct mbx_tcpseg *seg)
{
	switch (mbx_decode(pkt->data, pkt->caplen, linktype, seg)) {
	case MBX_DEC_OK:
		if (MBX_UNLIKELY(seg->payload_len < seg->payload_wire))
			MBX_CTR_INC(c, dec_snap_short);
		return true;
	case MBX_DEC_BAD_LINK: MBX_CTR_INC(c, dec_bad_link); return false;
	case MBX_DEC_TRUNCATED: MBX_CTR_INC(c, dec_truncated); return false;
	case MBX_DEC_NOT_IP: MBX_CTR_INC(c, dec_not_ip); return false;
	case MBX_DEC_NOT_TCP: MBX_CTR_INC(c, dec_not_tcp); return false;
	case MBX_DEC_FRAGMENT: MBX_CTR_INC(c, dec_fragment); return false;
	case MBX_DEC_MALFORMED:
	default: MBX_CTR_INC(c, dec_malformed); return false;
	}
}

void mbx_cworker_packet(struct mbx_cworker *w, const struct mbx_pkt *pkt, int linktype)
{
	struct mbx_tcpseg seg;

	MBX_CTR_INC(w->ctr, pkts);
	MBX_CTR_ADD(w->ctr, bytes, pkt->caplen);
	if (cw_decode(w->ctr, pkt, linktype, &seg)) {
		MBX_CTR_INC(w->ctr, dec_tcp);
		mbx_flowtab_input(w->ft, &seg, pkt->ts_ns);
	}
}

#define CW_BURST 32

void mbx_cworker_burst(struct mbx_cworker *w, const struct mbx_pkt *pkts, unsigned n, int linktype)
{
	struct mbx_tcpseg seg[CW_BURST];
	uint32_t hash[CW_BURST];
	uint16_t idx[CW_BURST]; /* packets that decoded to a segment */

	for (unsigned base = 0; base < n; base += CW_BURST) {
		const struct mbx_pkt *pb = pkts + base;
		unsigned b = n - base < CW_BURST ? n - base : CW_BURST;
		unsigned m = 0;
		uint64_t bytes = 0;

		/* 1: decode; hash each flow key and prefetch its index slot */
		/* cppcheck-suppress knownConditionTrueFalse ; false positive: b >= 1 since base < n */
		for (unsigned i = 0; i < b; i++) {
			bytes += pb[i].caplen;
			if (cw_decode(w->ctr, &pb[i], linktype, &seg[m])) {
				hash[m] = mbx_flowtab_prefetch(w->ft, &seg[m]);
				idx[m++] = (uint16_t)i;
			}
		}
		MBX_CTR_ADD(w->ctr, pkts, b); /* once per burst, not per packet */
		MBX_CTR_ADD(w->ctr, bytes, bytes);
		MBX_CTR_ADD(w->ctr, dec_tcp, m);
		/* 2: the slots are (being) loaded: prefetch the entries */
		for (unsigned j = 0; j < m; j++)
			mbx_flowtab_prefetch_entry(w->ft, hash[j]);
		/* 3: in order, as mbx_cworker_packet would */
		for (unsigned j = 0; j < m; j++)
			mbx_flowtab_input_hashed(w->ft, &seg[j], pb[idx[j]].ts_ns, hash[j]);
	}
}

void mbx_cworker_tick(struct mbx_cworker *w, uint64_t now)
{
	mbx_flowtab_expire(w->ft, now);
}

uint64_t mbx_cworker_watermark(const struct mbx_cworker *w, uint64_t now)
{
	return MBX_MIN(now, mbx_flowtab_held_since(w->ft));
}

void mbx_cworker_flush(struct mbx_cworker *w, uint64_t now)
{
	mbx_flowtab_flush(w->ft, now);
}
