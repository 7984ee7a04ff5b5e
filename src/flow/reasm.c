/* SPDX-License-Identifier: Apache-2.0 */
/* Per-direction TCP reassembly: sequence logic and the out-of-order store.
 *
 * Invariants of a live stream (checked by the tests, relied upon here):
 *  - every byte before next_seq was delivered or reported as a gap, once;
 *  - held pieces are sorted, do not overlap, and all start after next_seq
 *    (within max_window + one segment), so "x - next_seq" orders them even
 *    across the 2^32 wrap;
 *  - a byte is delivered from the first copy that was held or delivered.
 *
 * The in-order fast path lives in flowtab.c; this file is the rest. */
#include "flow/flow_int.h"

struct ft_pieces {
	uint32_t n;	 /* pieces not covered by held data */
	uint64_t bytes;	 /* captured bytes in them */
	uint64_t chunks; /* chunks they need */
	uint64_t wire;	 /* sequence space they cover */
};

/* Bytes become available in stream order at the latest capture time of the
 * segments that carry them and all bytes before them: deliveries of a stream
 * never go back in time, even when held data is delivered after data that
 * arrived later. (Downstream orders messages by time; a stream's own order
 * must survive that.) */
static inline uint64_t ft_deliv_ts(struct ft_entry *e, uint64_t ts)
{
	if (ts < e->deliv_ts)
		return e->deliv_ts;
	e->deliv_ts = ts;
	return ts;
}

void mbx_ft_gap_flush(struct mbx_flowtab *ft, struct ft_entry *e, uint64_t ts)
{
	uint64_t n = e->pend_gap;

	if (!n)
		return;
	ts = ft_deliv_ts(e, ts);
	e->pend_gap = 0;
	MBX_CTR_INC(ft->ctr, gaps);
	MBX_CTR_ADD(ft->ctr, gap_bytes, n);
	if (ft->ops.gap)
		ft->ops.gap(ft->ops_ctx, &e->s, n, ts);
}

static inline void ft_data(struct mbx_flowtab *ft, struct ft_entry *e, const uint8_t *p, uint32_t n,
			   uint64_t ts)
{
	if (e->pend_gap)
		mbx_ft_gap_flush(ft, e, ts);
	ft->ops.data(ft->ops_ctx, &e->s, p, n, ft_deliv_ts(e, ts));
}

/* Deliver bytes [skip, lim) of a segment whose first cap bytes are at p; the
 * ones past cap were snapped and become gap. skip < lim. */
static void ft_deliver_flat(struct mbx_flowtab *ft, struct ft_entry *e, const uint8_t *p,
			    uint32_t cap, uint32_t lim, uint32_t skip, uint64_t ts)
{
	uint32_t have;

	if (cap > lim)
		cap = lim;
	if (skip < cap)
		ft_data(ft, e, p + skip, cap - skip, ts);
	have = MBX_MAX(skip, cap);
	if (lim > have)
		e->pend_gap += lim - have;
	e->next_seq += lim - skip;
}

/* ---- chunk slab ---- */

static inline uint32_t ft_chunk_get(struct mbx_flowtab *ft)
{
	uint32_t c = ft->chunk_free;

	if (c != FT_NIL)
		ft->chunk_free = ft->chunk_next[c];
	else
		c = ft->chunk_bump++; /* chunks_avail > 0 and no free chunk: bump is in range */
	ft->chunks_avail--;
	return c;
}

/* Return a chain; it goes back on the free list in its own order, so a
 * chain allocated from the bump region is handed out again contiguously. */
static void ft_chain_put(struct mbx_flowtab *ft, uint32_t head)
{
	uint32_t c = head, n = 1;

	while (ft->chunk_next[c] != FT_NIL) {
		c = ft->chunk_next[c];
		n++;
	}
	ft->chunk_next[c] = ft->chunk_free;
	ft->chunk_free = head;
	ft->chunks_avail += n;
}

/* Copy n bytes into a new chain (at least one chunk); returns its head. */
static uint32_t ft_store(struct mbx_flowtab *ft, const uint8_t *src, uint32_t n)
{
	uint32_t head = ft_chunk_get(ft), c = head;

	for (;;) {
		uint32_t k = MBX_MIN(n, FT_CHUNK);

		if (k) {
			memcpy(ft->slab + (size_t)c * FT_CHUNK, src, k);
			src += k;
			n -= k;
		}
		if (!n)
			break;
		ft->chunk_next[c] = ft_chunk_get(ft);
		c = ft->chunk_next[c];
	}
	ft->chunk_next[c] = FT_NIL;
	return head;
}

/* Deliver bytes [skip, wire) of held piece id (not unlinked here). */
static void ft_deliver_held(struct mbx_flowtab *ft, struct ft_entry *e, uint32_t id, uint32_t skip)
{
	const struct ft_seg *g = &ft->segs[id];
	uint32_t c = id, off = skip, have;

	if (skip < g->cap) {
		uint32_t left = g->cap - skip;

		while (off >= FT_CHUNK) {
			c = ft->chunk_next[c];
			off -= FT_CHUNK;
		}
		while (left) {
			/* Chunks with consecutive indices are adjacent in the slab:
			 * hand them over in one call. */
			uint32_t span = FT_CHUNK - off, last = c, n;

			while (span < left && ft->chunk_next[last] == last + 1) {
				last++;
				span += FT_CHUNK;
			}
			n = MBX_MIN(left, span);
			ft_data(ft, e, ft->slab + (size_t)c * FT_CHUNK + off, n, g->ts);
			left -= n;
			off = 0;
			c = ft->chunk_next[last];
		}
	}
	have = MBX_MAX(skip, g->cap);
	if (g->wire > have)
		e->pend_gap += g->wire - have;
	e->next_seq += g->wire - skip;
}

/* Deliver every held piece that starts at or before next_seq. */
static void ft_drain(struct mbx_flowtab *ft, struct ft_entry *e)
{
	while (e->ooo_head != FT_NIL) {
		uint32_t id = e->ooo_head, skip;
		struct ft_seg *g = &ft->segs[id];

		if (ft_seq_diff(g->seq, e->next_seq) > 0)
			break;
		skip = e->next_seq - g->seq;
		e->ooo_head = g->next;
		e->ooo_segs--;
		e->ooo_bytes -= g->cap;
		if (skip < g->wire)
			ft_deliver_held(ft, e, id, skip);
		ft_chain_put(ft, id);
	}
}

/* The bytes up to target (ahead of next_seq) are lost. */
static void ft_giveup_to(struct mbx_flowtab *ft, struct ft_entry *e, uint32_t target)
{
	e->pend_gap += (uint32_t)(target - e->next_seq);
	e->next_seq = target;
	ft_drain(ft, e);
}

void mbx_ft_giveup_all(struct mbx_flowtab *ft, struct ft_entry *e)
{
	while (e->ooo_head != FT_NIL)
		ft_giveup_to(ft, e, ft->segs[e->ooo_head].seq);
}

/* Deliver an in-order (or partly old) segment: seq <= next_seq < seq + wire.
 * Where it overlaps held pieces the held bytes win (they came first). */
static void ft_deliver_new(struct mbx_flowtab *ft, struct ft_entry *e, uint32_t seq,
			   const uint8_t *p, uint32_t cap, uint32_t wire, uint64_t ts)
{
	for (;;) {
		uint32_t skip = e->next_seq - seq, lim = wire;

		if (e->ooo_head != FT_NIL) {
			uint32_t hs = ft->segs[e->ooo_head].seq - seq;

			if (hs < lim)
				lim = hs;
		}
		ft_deliver_flat(ft, e, p, cap, lim, skip, ts);
		if (e->ooo_head == FT_NIL)
			return;
		ft_drain(ft, e);
		if (ft_seq_diff(seq + wire, e->next_seq) <= 0)
			return;
	}
}

/* Walk the parts of [a, b) (offsets from next_seq) that no held piece covers;
 * count them, and if insert, store them. cap: captured bytes from a. */
static void ft_walk(struct mbx_flowtab *ft, struct ft_entry *e, uint32_t seq, const uint8_t *p,
		    uint32_t cap, uint64_t a, uint64_t b, uint64_t ts, bool insert,
		    struct ft_pieces *pc)
{
	uint32_t base = e->next_seq, *link = &e->ooo_head;
	uint64_t cur = a, cap_end = a + cap;

	while (cur < b) {
		uint32_t id = *link, c;
		uint64_t end = b;

		if (id != FT_NIL) {
			struct ft_seg *g = &ft->segs[id];
			uint64_t hs = (uint32_t)(g->seq - base), he = hs + g->wire;

			if (hs <= cur) {
				if (he > cur)
					cur = he;
				link = &g->next;
				continue;
			}
			if (hs < b)
				end = hs;
		}
		c = cur < cap_end ? (uint32_t)(MBX_MIN(end, cap_end) - cur) : 0;
		pc->n++;
		pc->bytes += c;
		pc->chunks += c ? (c + FT_CHUNK - 1) / FT_CHUNK : 1;
		pc->wire += end - cur;
		if (insert) {
			uint32_t nid = ft_store(ft, c ? p + (cur - a) : NULL, c);

			ft->segs[nid] = (struct ft_seg){
			    .seq = seq + (uint32_t)(cur - a),
			    .cap = c,
			    .wire = (uint32_t)(end - cur),
			    .next = id,
			    .ts = ts,
			};
			*link = nid;
			link = &ft->segs[nid].next;
		}
		cur = end;
	}
}

/* Hold a segment that starts after next_seq. Returns false, holding nothing,
 * if a bound does not allow it. */
static bool ft_hold(struct mbx_flowtab *ft, struct ft_entry *e, uint32_t seq, const uint8_t *p,
		    uint32_t cap, uint32_t wire, uint64_t ts)
{
	struct ft_pieces pc = {0};
	uint64_t a = (uint32_t)(seq - e->next_seq), b = a + wire;

	ft_walk(ft, e, seq, p, cap, a, b, ts, false, &pc);
	if (pc.n == 0) {
		MBX_CTR_INC(ft->ctr, seg_retrans); /* all of it is held already */
		return true;
	}
	if (e->ooo_segs + (uint64_t)pc.n > ft->ooo_max_segs ||
	    e->ooo_bytes + pc.bytes > ft->ooo_max_bytes || pc.chunks > ft->chunks_avail)
		return false;
	if (pc.wire < wire)
		MBX_CTR_INC(ft->ctr, seg_overlap);
	MBX_CTR_INC(ft->ctr, seg_ooo);
	ft_walk(ft, e, seq, p, cap, a, b, ts, true, &(struct ft_pieces){0});
	e->ooo_segs += pc.n;
	e->ooo_bytes += (uint32_t)pc.bytes;
	ft_holeq_add(ft, e);
	if (ts < ft->held_min_ts)
		ft->held_min_ts = ts;
	return true;
}

void mbx_ft_payload(struct mbx_flowtab *ft, struct ft_entry *e, uint32_t seq, const uint8_t *p,
		    uint32_t cap, uint32_t wire, uint64_t ts)
{
	if (cap > wire)
		cap = wire;
	e->flags |= FTF_DATA;
	if (e->flags & FTF_FIN) {
		uint32_t room = e->fin_seq - seq;

		if (ft_seq_diff(e->fin_seq, seq) <= 0) {
			MBX_CTR_INC(ft->ctr, seg_after_close);
			return;
		}
		if (wire > room) {
			wire = room;
			cap = MBX_MIN(cap, room);
		}
	}
	for (;;) {
		int32_t d = ft_seq_diff(seq, e->next_seq);
		uint32_t dist = ft_seq_dist(seq, e->next_seq), target;

		if (dist > ft->max_window) {
			/* Neither a plausible retransmission nor data inside any TCP
			 * window: we lost track (heavy capture loss, or a new
			 * connection whose SYN we missed). Deliver what is held and
			 * restart at this segment; the gap is the forward distance. */
			MBX_CTR_INC(ft->ctr, seg_ooo_drop);
			mbx_ft_giveup_all(ft, e);
			if (ft_seq_dist(seq, e->next_seq) > ft->max_window) {
				e->pend_gap += (uint32_t)(seq - e->next_seq);
				e->next_seq = seq;
			}
			continue;
		}
		if (d <= 0) {
			if (dist >= wire) {
				MBX_CTR_INC(ft->ctr, seg_retrans);
				return;
			}
			if (dist)
				MBX_CTR_INC(ft->ctr, seg_overlap);
			ft_deliver_new(ft, e, seq, p, cap, wire, ts);
			return;
		}
		if (ft_hold(ft, e, seq, p, cap, wire, ts))
			return;
		/* A bound is reached: the first hole will not be waited for.
		 * It ends at the first held byte or at this segment. */
		MBX_CTR_INC(ft->ctr, seg_ooo_drop);
		target = seq;
		if (e->ooo_head != FT_NIL) {
			uint32_t hs = ft->segs[e->ooo_head].seq;

			if (ft_seq_diff(hs, seq) < 0)
				target = hs;
		}
		ft_giveup_to(ft, e, target);
	}
}

void mbx_ft_hole_expire(struct mbx_flowtab *ft, struct ft_entry *e, uint64_t now)
{
	uint32_t target = e->next_seq;
	bool any = false;

	for (uint32_t id = e->ooo_head; id != FT_NIL; id = ft->segs[id].next) {
		const struct ft_seg *g = &ft->segs[id];

		if (now >= g->ts && now - g->ts >= ft->ooo_wait_ns) {
			target = g->seq; /* the last one in sequence order wins */
			any = true;
		}
	}
	if ((e->flags & FTF_FIN) && now >= e->fin_ts && now - e->fin_ts >= ft->ooo_wait_ns) {
		target = e->fin_seq; /* beyond every held byte */
		any = true;
	}
	if (!any)
		return;
	while (ft_seq_diff(target, e->next_seq) > 0) {
		uint32_t to = target;

		if (e->ooo_head != FT_NIL && ft_seq_diff(ft->segs[e->ooo_head].seq, target) < 0)
			to = ft->segs[e->ooo_head].seq;
		MBX_CTR_INC(ft->ctr, seg_ooo_drop);
		ft_giveup_to(ft, e, to);
	}
}
