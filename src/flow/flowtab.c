/* SPDX-License-Identifier: Apache-2.0 */
/* Per-worker flow table: one entry per direction, an open-addressing index,
 * LRU lists for idle expiry and eviction, stream life cycle (SYN, FIN, RST).
 * The in-order fast path is mbx_flowtab_input() down to the data callback;
 * everything else is in the slow path or in reasm.c. */
#include "flow/flow_int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "mbx/hash.h"

_Static_assert(offsetof(struct ft_entry, s) % 16 == 0, "stream must be 16-byte aligned");
_Static_assert(offsetof(struct ft_entry, pad0) < MBX_CACHE_LINE, "fast path fields in line 1");

#define FT_DEF_MAX_FLOWS   65536u
#define FT_DEF_OOO_SEGS	   32u
#define FT_DEF_OOO_BYTES   (256u * 1024)
#define FT_DEF_OOO_TOTAL   (64ull * 1024 * 1024)
#define FT_DEF_IDLE_NS	   (300 * MBX_NSEC_PER_SEC)
#define FT_DEF_MAX_WINDOW  (1u << 30) /* largest TCP window (65535 << 14) */
#define FT_DEF_OOO_WAIT_NS (1 * MBX_NSEC_PER_SEC)
#define FT_MAX_FLOWS	   (1u << 28)

void mbx_flowtab_cfg_defaults(struct mbx_flowtab_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->max_flows = FT_DEF_MAX_FLOWS;
	cfg->ooo_max_segs = FT_DEF_OOO_SEGS;
	cfg->ooo_max_bytes = FT_DEF_OOO_BYTES;
	cfg->ooo_total_bytes = FT_DEF_OOO_TOTAL;
	cfg->idle_timeout_ns = FT_DEF_IDLE_NS;
	cfg->max_window = FT_DEF_MAX_WINDOW;
	cfg->ooo_max_wait_ns = FT_DEF_OOO_WAIT_NS;
}

/* ---- memory ---- */

static void *ft_map(size_t len)
{
	/* Anonymous and lazily backed: a pool sized for the worst case costs
	 * only the pages that are used. */
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void ft_unmap(void *p, size_t len)
{
	if (p)
		munmap(p, len);
}

void mbx_flowtab_destroy(struct mbx_flowtab *ft)
{
	if (!ft)
		return;
	ft_unmap(ft->ents, ft->ents_len);
	ft_unmap(ft->slots, ft->slots_len);
	ft_unmap(ft->slab, ft->slab_len);
	ft_unmap(ft->chunk_next, ft->cnext_len);
	ft_unmap(ft->segs, ft->segs_len);
	free(ft);
}

struct mbx_flowtab *mbx_flowtab_create(const struct mbx_flowtab_cfg *cfg)
{
	struct mbx_flowtab *ft;
	size_t ft_size = (sizeof(*ft) + MBX_CACHE_LINE - 1) & ~(size_t)(MBX_CACHE_LINE - 1);
	uint64_t nchunks;
	uint32_t nslots = 16;

	if (!cfg || !cfg->port_map || !cfg->flow_key || !cfg->ops || !cfg->ops->data ||
	    cfg->max_flows == 0 || cfg->max_flows > FT_MAX_FLOWS || cfg->user_size > (1u << 24) ||
	    cfg->max_window > FT_DEF_MAX_WINDOW) {
		errno = EINVAL;
		return NULL;
	}
	ft = aligned_alloc(MBX_CACHE_LINE, ft_size);
	if (!ft)
		return NULL;
	memset(ft, 0, ft_size);

	ft->port_map = cfg->port_map;
	ft->ctr = cfg->ctr ? cfg->ctr : &ft->own_ctr;
	ft->ops = *cfg->ops;
	ft->ops_ctx = cfg->ops_ctx;
	ft->user_size = cfg->user_size;
	memcpy(ft->flow_key, cfg->flow_key, sizeof(ft->flow_key));
	ft->max_flows = cfg->max_flows;
	ft->ooo_max_segs = cfg->ooo_max_segs;
	ft->ooo_max_bytes = cfg->ooo_max_bytes;
	ft->max_window = cfg->max_window ? cfg->max_window : FT_DEF_MAX_WINDOW;
	ft->idle_ns = cfg->idle_timeout_ns;
	ft->zombie_ns = ft->idle_ns ? MBX_MIN(ft->idle_ns, FT_ZOMBIE_NS) : FT_ZOMBIE_NS;
	ft->ooo_wait_ns = cfg->ooo_max_wait_ns;
	ft->held_min_ts = UINT64_MAX;
	ft->lru_grain =
	    FT_TICK(ft->idle_ns ? MBX_MIN(FT_LRU_GRAIN_NS, ft->idle_ns / 16) : FT_LRU_GRAIN_NS);
	ft->free_head = FT_NIL;
	ft->hq_head = FT_NIL;
	ft->chunk_free = FT_NIL;
	for (int i = 0; i < 2; i++)
		ft->lru[i] = (struct ft_list){FT_NIL, FT_NIL};

	/* Index hash key: ten 32-bit words derived from the flow key, so the
	 * slot of a tuple cannot be predicted by whoever sends the packets. */
	for (size_t i = 0; i < 5; i++) {
		uint8_t label[20] = "mbx flowtab index";

		label[19] = (uint8_t)i;
		uint64_t w = mbx_siphash(cfg->flow_key, label, sizeof(label));
		ft->nh[2 * i] = (uint32_t)w;
		ft->nh[2 * i + 1] = (uint32_t)(w >> 32);
	}

	ft->stride =
	    (sizeof(struct ft_entry) + ((cfg->user_size + 15) & ~(size_t)15) + MBX_CACHE_LINE - 1) &
	    ~(size_t)(MBX_CACHE_LINE - 1);
	ft->ents_len = ft->stride * cfg->max_flows;
	while (nslots < 2 * cfg->max_flows)
		nslots <<= 1;
	ft->slot_mask = nslots - 1;
	ft->slots_len = (size_t)nslots * sizeof(struct ft_slot);

	nchunks = cfg->ooo_total_bytes / FT_CHUNK;
	if (nchunks > UINT32_MAX - 1)
		nchunks = UINT32_MAX - 1;
	ft->nchunks = (uint32_t)nchunks;
	ft->chunks_avail = ft->nchunks;

	ft->ents = ft_map(ft->ents_len);
	ft->slots = ft_map(ft->slots_len);
	if (!ft->ents || !ft->slots)
		goto fail;
	if (nchunks) {
		ft->slab_len = (size_t)nchunks * FT_CHUNK;
		ft->cnext_len = (size_t)nchunks * sizeof(uint32_t);
		ft->segs_len = (size_t)nchunks * sizeof(struct ft_seg);
		ft->slab = ft_map(ft->slab_len);
		ft->chunk_next = ft_map(ft->cnext_len);
		ft->segs = ft_map(ft->segs_len);
		if (!ft->slab || !ft->chunk_next || !ft->segs)
			goto fail;
	}
	return ft;
fail:
	mbx_flowtab_destroy(ft);
	errno = ENOMEM;
	return NULL;
}

uint64_t mbx_flowtab_held_since(const struct mbx_flowtab *ft)
{
	return ft->held_min_ts;
}

uint32_t mbx_flowtab_count(const struct mbx_flowtab *ft)
{
	return ft->nlive;
}

/* ---- hashing ---- */

uint64_t mbx_flow_hash(const uint8_t key[16], const struct mbx_tcpseg *seg)
{
	const uint8_t *a = seg->saddr, *b = seg->daddr;
	uint16_t pa = seg->sport, pb = seg->dport;
	uint8_t buf[36];
	uint64_t h;
	int c = memcmp(a, b, 16);

	if (c > 0 || (c == 0 && pa > pb)) {
		const uint8_t *t = a;
		uint16_t tp = pa;

		a = b;
		b = t;
		pa = pb;
		pb = tp;
	}
	memcpy(buf, a, 16);
	mbx_wr16be(buf + 16, pa);
	memcpy(buf + 18, b, 16);
	mbx_wr16be(buf + 34, pb);
	h = mbx_siphash(key, buf, sizeof(buf));
	return h ? h : 1;
}

static inline void ft_key(uint64_t k[5], const struct mbx_tcpseg *seg)
{
	memcpy(&k[0], seg->saddr, 16);
	memcpy(&k[2], seg->daddr, 16);
	k[4] = (uint64_t)seg->sport | (uint64_t)seg->dport << 16;
}

/* 64-bit finaliser (murmur3's): spreads the NH sum over the index bits. */
static inline uint32_t ft_hash_mix(uint64_t s)
{
	s ^= s >> 33;
	s *= 0xff51afd7ed558ccdULL;
	s ^= s >> 33;
	s *= 0xc4ceb9fe1a85ec53ULL;
	s ^= s >> 33;
	return (uint32_t)s;
}

static inline uint32_t ft_rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

/* NH (the UMAC inner hash: almost-universal under a secret key) over the
 * ten 32-bit halves of a flow key (addresses a and b, 16 bytes each, then
 * the ports word and a zero word), then the finaliser. Written out on the
 * fields: built as an array, the words went through the stack first. */
static inline uint32_t ft_nh(const struct mbx_flowtab *ft, const uint8_t *a, const uint8_t *b,
			     uint32_t ports)
{
	const uint32_t *nh = ft->nh;
	uint64_t s = (uint64_t)(ft_rd32(a) + nh[0]) * (uint32_t)(ft_rd32(a + 4) + nh[1]);
	s += (uint64_t)(ft_rd32(a + 8) + nh[2]) * (uint32_t)(ft_rd32(a + 12) + nh[3]);
	s += (uint64_t)(ft_rd32(b) + nh[4]) * (uint32_t)(ft_rd32(b + 4) + nh[5]);
	s += (uint64_t)(ft_rd32(b + 8) + nh[6]) * (uint32_t)(ft_rd32(b + 12) + nh[7]);
	s += (uint64_t)(ports + nh[8]) * (uint32_t)(0 + nh[9]);
	return ft_hash_mix(s);
}

/* Of a key built by ft_key (little-endian: k[0..1] hold a's bytes, k[2..3]
 * b's, the low half of k[4] the ports word). */
static inline uint32_t ft_hash(const struct mbx_flowtab *ft, const uint64_t k[5])
{
	return ft_nh(ft, (const uint8_t *)&k[0], (const uint8_t *)&k[2], (uint32_t)k[4]);
}

/* The same value as ft_hash(ft, ft_key(seg)), read straight from the
 * segment (entries are indexed by this one and an RST finds its reverse
 * direction by ft_hash: the flow unit test rst_closes_both_directions
 * fails if they ever differ). */
static inline uint32_t ft_hash_seg(const struct mbx_flowtab *ft, const struct mbx_tcpseg *seg)
{
	return ft_nh(ft, seg->saddr, seg->daddr,
		     (uint32_t)seg->sport | (uint32_t)seg->dport << 16);
}

static inline bool ft_key_eq(const uint64_t a[5], const uint64_t b[5])
{
	return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
}

/* ---- index (linear probing, backward-shift deletion: no tombstones) ---- */

static inline struct ft_entry *ft_lookup(const struct mbx_flowtab *ft, const uint64_t k[5],
					 uint32_t h)
{
	uint32_t i = h & ft->slot_mask;

	for (;;) {
		struct ft_slot s = ft->slots[i];

		if (!s.idx1)
			return NULL;
		if (s.hash == h) {
			struct ft_entry *e = ft_ent(ft, s.idx1 - 1);

			if (MBX_LIKELY(ft_key_eq(e->key, k)))
				return e;
		}
		i = (i + 1) & ft->slot_mask;
	}
}

static void ft_index_add(struct mbx_flowtab *ft, struct ft_entry *e)
{
	uint32_t i = e->hash & ft->slot_mask;

	while (ft->slots[i].idx1)
		i = (i + 1) & ft->slot_mask;
	ft->slots[i] = (struct ft_slot){e->hash, e->self + 1};
}

static void ft_index_del(struct mbx_flowtab *ft, struct ft_entry *e)
{
	uint32_t mask = ft->slot_mask, i = e->hash & mask, j;

	while (ft->slots[i].idx1 != e->self + 1)
		i = (i + 1) & mask;
	for (;;) {
		ft->slots[i].idx1 = 0;
		j = i;
		for (;;) {
			uint32_t home;

			j = (j + 1) & mask;
			if (!ft->slots[j].idx1)
				return;
			home = ft->slots[j].hash & mask;
			/* slot j may stay unless its home is cyclically outside (i, j] */
			if (i <= j ? (i < home && home <= j) : (i < home || home <= j))
				continue;
			break;
		}
		ft->slots[i] = ft->slots[j];
		i = j;
	}
}

/* ---- LRU lists ---- */

static inline void ft_lru_unlink(struct mbx_flowtab *ft, struct ft_entry *e)
{
	struct ft_list *l = &ft->lru[e->list];

	if (e->lru_prev != FT_NIL)
		ft_ent(ft, e->lru_prev)->lru_next = e->lru_next;
	else
		l->head = e->lru_next;
	if (e->lru_next != FT_NIL)
		ft_ent(ft, e->lru_next)->lru_prev = e->lru_prev;
	else
		l->tail = e->lru_prev;
}

static inline void ft_lru_push(struct mbx_flowtab *ft, struct ft_entry *e, uint8_t list)
{
	struct ft_list *l = &ft->lru[list];

	e->list = list;
	e->lru_prev = FT_NIL;
	e->lru_next = l->head;
	if (l->head != FT_NIL)
		ft_ent(ft, l->head)->lru_prev = e->self;
	else
		l->tail = e->self;
	l->head = e->self;
}

static inline void ft_lru_move(struct mbx_flowtab *ft, struct ft_entry *e, uint8_t list)
{
	if (e->list != FT_L_NONE)
		ft_lru_unlink(ft, e);
	ft_lru_push(ft, e, list);
	e->lru_tick = FT_TICK(e->last_ts);
}

/* Approximate LRU: an entry moves to the head of its list at most once per
 * lru_grain of capture time. Unlinking touches two neighbours and the head,
 * three likely cache misses per packet on a large table; with the grain a
 * busy stream pays them once per grain. The list stays ordered by the time
 * of the last move, and last_ts - that time < grain, so expiry is at most one
 * grain late and eviction picks a stream idle for at least (oldest - grain). */
static inline void ft_touch(struct mbx_flowtab *ft, struct ft_entry *e, uint64_t ts)
{
	uint32_t tick = FT_TICK(ts);

	if (ts > e->last_ts)
		e->last_ts = ts;
	if (tick - e->lru_tick >= ft->lru_grain && ft->lru[e->list].head != e->self) {
		e->lru_tick = tick;
		ft_lru_unlink(ft, e);
		ft_lru_push(ft, e, e->list);
	}
}

/* ---- entry life cycle ---- */

static void ft_free(struct mbx_flowtab *ft, struct ft_entry *e)
{
	ft_holeq_del(ft, e);
	ft_index_del(ft, e);
	ft_lru_unlink(ft, e);
	if (e->state == FT_LIVE)
		ft->nlive--;
	e->state = FT_FREE;
	e->list = FT_L_NONE;
	e->lru_next = ft->free_head;
	ft->free_head = e->self;
}

/* End the consumer's stream: held data and holes are delivered first. The
 * caller then frees the entry, keeps it as a zombie, or restarts it. */
static void ft_close(struct mbx_flowtab *ft, struct ft_entry *e, enum mbx_close_why why,
		     uint64_t ts)
{
	mbx_ft_giveup_all(ft, e);
	if ((e->flags & FTF_FIN) && ft_seq_diff(e->fin_seq, e->next_seq) > 0) {
		/* bytes before the FIN that never came */
		e->pend_gap += e->fin_seq - e->next_seq;
		e->next_seq = e->fin_seq;
	}
	mbx_ft_gap_flush(ft, e, ts);
	switch (why) {
	case MBX_CLOSE_FIN:
	case MBX_CLOSE_RST:
		MBX_CTR_INC(ft->ctr, flows_closed);
		break;
	case MBX_CLOSE_IDLE:
		MBX_CTR_INC(ft->ctr, flows_idle);
		break;
	case MBX_CLOSE_EVICT:
		MBX_CTR_INC(ft->ctr, flows_evicted);
		break;
	case MBX_CLOSE_END:
	case MBX_CLOSE_REUSED:
		break;
	}
	ft_holeq_del(ft, e);
	if (ts < e->deliv_ts)
		ts = e->deliv_ts; /* a close never precedes the stream's data */
	if (ft->ops.close)
		ft->ops.close(ft->ops_ctx, &e->s, why, ts);
}

/* Keep a closed entry to recognise its late segments. Zombies are the first
 * to go when the table is full. */
static void ft_retire(struct mbx_flowtab *ft, struct ft_entry *e)
{
	e->state = FT_ZOMBIE;
	ft->nlive--;
	ft_lru_move(ft, e, FT_L_ZOMBIE);
}

static struct ft_entry *ft_alloc(struct mbx_flowtab *ft, uint64_t ts)
{
	struct ft_entry *e;
	uint32_t idx;

	if (ft->free_head != FT_NIL) {
		idx = ft->free_head;
		ft->free_head = ft_ent(ft, idx)->lru_next;
		return ft_ent(ft, idx);
	}
	if (ft->nbump < ft->max_flows) {
		idx = ft->nbump++;
		return ft_ent(ft, idx);
	}
	if (ft->lru[FT_L_ZOMBIE].tail != FT_NIL) {
		e = ft_ent(ft, ft->lru[FT_L_ZOMBIE].tail);
	} else {
		e = ft_ent(ft, ft->lru[FT_L_LIVE].tail);
		ft_close(ft, e, MBX_CLOSE_EVICT, ts);
	}
	ft_free(ft, e);
	ft->free_head = e->lru_next;
	return e;
}

static struct ft_entry *ft_new(struct mbx_flowtab *ft, const uint64_t k[5], uint32_t h,
			       const struct mbx_tcpseg *seg, uint64_t ts)
{
	struct ft_entry *e = ft_alloc(ft, ts);
	uint32_t self = (uint32_t)(((uint8_t *)e - ft->ents) / ft->stride);

	memset(e, 0, sizeof(*e));
	memcpy(e->key, k, sizeof(e->key));
	e->self = self;
	e->hash = h;
	e->list = FT_L_NONE;
	e->ooo_head = FT_NIL;
	e->last_ts = ts;
	e->s.flow = mbx_flow_hash(ft->flow_key, seg);
	ft_index_add(ft, e);
	return e;
}

/* (Re)start the consumer's stream on entry e. */
static void ft_start(struct mbx_flowtab *ft, struct ft_entry *e, bool syn, uint32_t isn,
		     uint8_t dir, uint64_t ts)
{
	if (e->state != FT_LIVE)
		ft->nlive++;
	e->state = FT_LIVE;
	e->flags = 0;
	e->isn = isn;
	e->next_seq = isn + 1;
	e->fin_seq = 0;
	e->ooo_head = FT_NIL;
	e->ooo_segs = 0;
	e->ooo_bytes = 0;
	e->pend_gap = 0;
	e->s.dir = dir;
	e->s.syn_seen = syn;
	e->s.closing = 0;
	memset(e->s.pad, 0, sizeof(e->s.pad));
	memset(mbx_stream_user(&e->s), 0, ft->user_size);
	ft_lru_move(ft, e, FT_L_LIVE);
	MBX_CTR_INC(ft->ctr, flows_created);
	if (!syn)
		MBX_CTR_INC(ft->ctr, flows_midstream);
	if (ft->ops.open)
		ft->ops.open(ft->ops_ctx, &e->s, ts);
}

/* RST: the stream is over in both directions. */
static void ft_rst(struct mbx_flowtab *ft, struct ft_entry *e, const uint64_t k[5], uint64_t ts)
{
	uint64_t rk[5] = {k[2], k[3], k[0], k[1], (k[4] >> 16) | (k[4] & 0xffff) << 16};
	struct ft_entry *r;

	if (e && e->state == FT_LIVE) {
		ft_close(ft, e, MBX_CLOSE_RST, ts);
		ft_retire(ft, e);
	}
	r = ft_lookup(ft, rk, ft_hash(ft, rk));
	if (r && r->state == FT_LIVE) {
		ft_touch(ft, r, ts);
		ft_close(ft, r, MBX_CLOSE_RST, ts);
		ft_retire(ft, r);
	}
}

static void ft_input_slow(struct mbx_flowtab *ft, const struct mbx_tcpseg *seg, uint64_t ts,
			  const uint64_t k[5], uint32_t h, uint8_t dir, struct ft_entry *e)
{
	uint8_t fl = seg->tcp_flags;
	uint32_t seq = seg->seq, wire = seg->payload_wire;
	uint32_t cap = MBX_MIN(seg->payload_len, wire);

	if (wire)
		MBX_CTR_INC(ft->ctr, seg_payload);
	if (fl & MBX_TCP_RST) {
		ft_rst(ft, e, k, ts);
		return;
	}
	if (fl & MBX_TCP_SYN) {
		if (!e) {
			e = ft_new(ft, k, h, seg, ts);
			ft_start(ft, e, true, seq, dir, ts);
		} else if (e->state == FT_ZOMBIE) {
			if (e->s.syn_seen && seq == e->isn)
				return; /* the old connection's SYN, late */
			ft_start(ft, e, true, seq, dir, ts);
		} else if (seq != e->isn) {
			if (e->flags & (FTF_DATA | FTF_FIN)) {
				/* A new connection on this tuple: the old one
				 * ended without us seeing how. */
				MBX_CTR_INC(ft->ctr, flows_reused);
				ft_close(ft, e,
					 (e->flags & FTF_FIN) ? MBX_CLOSE_FIN : MBX_CLOSE_REUSED,
					 ts);
				ft_start(ft, e, true, seq, dir, ts);
			} else {
				/* nothing delivered yet: just take the new ISN */
				e->isn = seq;
				e->next_seq = seq + 1;
				e->s.syn_seen = 1;
			}
		}
		seq++; /* SYN takes one sequence number */
	} else if (!e) {
		/* Pure ACKs and empty FINs of unknown streams create nothing. */
		if (!wire)
			return;
		e = ft_new(ft, k, h, seg, ts);
		ft_start(ft, e, false, seq - 1, dir, ts);
	} else if (e->state == FT_ZOMBIE) {
		if (!wire)
			return;
		if (ft_seq_dist(seq, e->next_seq) <= ft->max_window) {
			MBX_CTR_INC(ft->ctr, seg_after_close);
			return;
		}
		/* far from where the old connection ended: a new one whose
		 * SYN we missed */
		ft_start(ft, e, false, seq - 1, dir, ts);
	}

	if (wire)
		mbx_ft_payload(ft, e, seq, seg->payload, cap, wire, ts);
	if ((fl & MBX_TCP_FIN) && !(e->flags & FTF_FIN)) {
		uint32_t fin_seq = seq + wire;

		/* a FIN from nowhere near the stream is noise */
		if (ft_seq_dist(fin_seq, e->next_seq) <= ft->max_window) {
			e->flags |= FTF_FIN;
			e->fin_seq = fin_seq;
			e->fin_ts = ts;
			e->s.closing = 1;
		}
	}
	if (e->flags & FTF_FIN) {
		if (ft_seq_diff(e->next_seq, e->fin_seq) >= 0) {
			ft_close(ft, e, MBX_CLOSE_FIN, ts);
			ft_retire(ft, e);
			return;
		}
		ft_holeq_add(ft, e);
	}
	mbx_ft_gap_flush(ft, e, ts);
}

uint32_t mbx_flowtab_prefetch(const struct mbx_flowtab *ft, const struct mbx_tcpseg *seg)
{
	uint32_t h = ft_hash_seg(ft, seg);

	__builtin_prefetch(&ft->slots[h & ft->slot_mask]);
	return h;
}

void mbx_flowtab_prefetch_entry(const struct mbx_flowtab *ft, uint32_t h)
{
	struct ft_slot s = ft->slots[h & ft->slot_mask];

	/* the first probe is the common case; the fast path reads the
	 * entry's first line and its stream (parser state) */
	if (s.idx1 && s.hash == h) {
		const struct ft_entry *e = ft_ent(ft, s.idx1 - 1);
		__builtin_prefetch(e, 1);
		__builtin_prefetch(&e->s, 1);
	}
}

/* Direction from the memcache ports; false (counted) for other ports. */
static inline bool ft_dir(struct mbx_flowtab *ft, const struct mbx_tcpseg *seg, uint8_t *dir)
{
	if (mbx_port_test(ft->port_map, seg->dport)) {
		*dir = MBX_DIR_REQ;
	} else if (mbx_port_test(ft->port_map, seg->sport)) {
		*dir = MBX_DIR_RSP;
	} else {
		MBX_CTR_INC(ft->ctr, dec_other_port);
		return false;
	}
	return true;
}

static inline void ft_input(struct mbx_flowtab *ft, const struct mbx_tcpseg *seg, uint64_t ts,
			    const uint64_t k[5], uint32_t h, uint8_t dir)
{
	struct ft_entry *e = ft_lookup(ft, k, h);

	if (MBX_LIKELY(e != NULL)) {
		ft_touch(ft, e, ts);
		if (MBX_LIKELY(!(seg->tcp_flags & (MBX_TCP_SYN | MBX_TCP_FIN | MBX_TCP_RST)))) {
			uint32_t n = seg->payload_wire;

			if (n == 0)
				return; /* pure ACK: the touch was all */
			/* In order, fully captured, nothing held, no FIN pending. */
			if (MBX_LIKELY(seg->seq == e->next_seq && seg->payload_len == n &&
				       e->state == FT_LIVE && e->ooo_head == FT_NIL &&
				       !(e->flags & FTF_FIN))) {
				MBX_CTR_INC(ft->ctr, seg_payload);
				e->flags |= FTF_DATA;
				e->next_seq += n;
				ft->ops.data(ft->ops_ctx, &e->s, seg->payload, n, ts);
				return;
			}
		}
	}
	ft_input_slow(ft, seg, ts, k, h, dir, e);
}

void mbx_flowtab_input(struct mbx_flowtab *ft, const struct mbx_tcpseg *seg, uint64_t ts)
{
	mbx_flowtab_input_hashed(ft, seg, ts, ft_hash_seg(ft, seg));
}

void mbx_flowtab_input_hashed(struct mbx_flowtab *ft, const struct mbx_tcpseg *seg, uint64_t ts,
			      uint32_t h)
{
	uint64_t k[5];
	uint8_t dir;

	if (!ft_dir(ft, seg, &dir))
		return;
	ft_key(k, seg);
	ft_input(ft, seg, ts, k, h, dir);
}

/* ---- time ---- */

static inline bool ft_older(uint64_t t, uint64_t now, uint64_t age)
{
	return now >= t && now - t >= age;
}

void mbx_flowtab_expire(struct mbx_flowtab *ft, uint64_t now)
{
	uint32_t idx;

	/* (a clock that jumped backwards does not stall expiry) */
	if (now < ft->next_tick && now + FT_TICK_NS >= ft->next_tick)
		return;
	ft->next_tick = now + FT_TICK_NS;

	/* Holes first: a stream that gives up its holes may reach its FIN. */
	uint64_t held_min = UINT64_MAX;
	if (ft->ooo_wait_ns) {
		for (idx = ft->hq_head; idx != FT_NIL;) {
			struct ft_entry *e = ft_ent(ft, idx);

			idx = e->hq_next;
			mbx_ft_hole_expire(ft, e, now);
			if ((e->flags & FTF_FIN) && ft_seq_diff(e->next_seq, e->fin_seq) >= 0) {
				ft_close(ft, e, MBX_CLOSE_FIN, now);
				ft_retire(ft, e);
				continue;
			}
			mbx_ft_gap_flush(ft, e, now);
			if (e->ooo_head == FT_NIL && !(e->flags & FTF_FIN))
				ft_holeq_del(ft, e);
			for (uint32_t id = e->ooo_head; id != FT_NIL; id = ft->segs[id].next)
				held_min = MBX_MIN(held_min, ft->segs[id].ts);
		}
	} else {
		for (idx = ft->hq_head; idx != FT_NIL; idx = ft_ent(ft, idx)->hq_next) {
			const struct ft_entry *e = ft_ent(ft, idx);
			for (uint32_t id = e->ooo_head; id != FT_NIL; id = ft->segs[id].next)
				held_min = MBX_MIN(held_min, ft->segs[id].ts);
		}
	}
	ft->held_min_ts = held_min;
	/* The LRU order is the order of last use, so the walk stops at the
	 * first stream that is still active. */
	while (ft->idle_ns && (idx = ft->lru[FT_L_LIVE].tail) != FT_NIL) {
		struct ft_entry *e = ft_ent(ft, idx);

		if (!ft_older(e->last_ts, now, ft->idle_ns))
			break;
		/* A stream that saw its FIN was closed by it, not by the
		 * timeout: it only waited for missing bytes. */
		ft_close(ft, e, (e->flags & FTF_FIN) ? MBX_CLOSE_FIN : MBX_CLOSE_IDLE, now);
		ft_free(ft, e);
	}
	while ((idx = ft->lru[FT_L_ZOMBIE].tail) != FT_NIL) {
		struct ft_entry *e = ft_ent(ft, idx);

		if (!ft_older(e->last_ts, now, ft->zombie_ns))
			break;
		ft_free(ft, e);
	}
}

void mbx_flowtab_flush(struct mbx_flowtab *ft, uint64_t now)
{
	uint32_t idx;

	while ((idx = ft->lru[FT_L_LIVE].tail) != FT_NIL) {
		struct ft_entry *e = ft_ent(ft, idx);

		ft_close(ft, e, MBX_CLOSE_END, now);
		ft_free(ft, e);
	}
	while ((idx = ft->lru[FT_L_ZOMBIE].tail) != FT_NIL)
		ft_free(ft, ft_ent(ft, idx));
}
