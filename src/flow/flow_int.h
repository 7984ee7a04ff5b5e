/* SPDX-License-Identifier: Apache-2.0 */
/* Private state of the flow table (flowtab.c) and the reassembler (reasm.c).
 * See docs/reassembly.md for the picture. */
#ifndef MBX_FLOW_INT_H
#define MBX_FLOW_INT_H

#include "mbx/flow.h"

#define FT_NIL		UINT32_MAX
#define FT_CHUNK	512u			  /* bytes of one out-of-order chunk */
#define FT_TICK_NS	(100 * MBX_NSEC_PER_MSEC) /* expire() works at most this often */
#define FT_ZOMBIE_NS	(60 * MBX_NSEC_PER_SEC)	  /* closed entries remembered (TIME_WAIT-like) */
#define FT_LRU_GRAIN_NS MBX_NSEC_PER_SEC	  /* LRU position resolution (at most idle/16) */
#define FT_TICK(ns)	((uint32_t)((ns) >> 20))  /* ~1.05 ms units for LRU positions */

enum ft_state {
	FT_FREE = 0,
	FT_LIVE = 1,   /* a stream the consumer knows */
	FT_ZOMBIE = 2, /* closed by FIN/RST; kept to recognise late segments */
};

enum ft_list_id {
	FT_L_LIVE = 0,
	FT_L_ZOMBIE = 1,
	FT_L_NONE = 2,
};

#define FTF_DATA  0x01 /* payload seen (delivered or held) */
#define FTF_FIN	  0x02 /* FIN seen; fin_seq valid */
#define FTF_HOLEQ 0x04 /* on the table's hole queue */

/* One direction. The private part comes first, then the public struct
 * mbx_stream, then the consumer's area (mbx_stream_user()). The first cache
 * line holds everything the in-order fast path reads. */
struct ft_entry {
	uint64_t key[5];   /* saddr, daddr, sport | dport << 16 */
	uint32_t next_seq; /* next byte expected (everything before was delivered or gapped) */
	uint32_t ooo_head; /* first held segment in sequence order, or FT_NIL */
	uint64_t last_ts;  /* last packet time (max seen) */
	uint32_t lru_tick; /* FT_TICK(time) of the last move to the head of its list */
	uint8_t state;	   /* enum ft_state */
	uint8_t flags;	   /* FTF_* */
	uint8_t list;	   /* enum ft_list_id */
	uint8_t pad0;
	/* second line: slow path */
	uint32_t lru_prev, lru_next;
	uint32_t self;	    /* index in the pool */
	uint32_t hash;	    /* index hash */
	uint32_t isn;	    /* sequence number before the first byte (ISN, or first seq - 1) */
	uint32_t fin_seq;   /* sequence number of the FIN */
	uint32_t ooo_segs;  /* held segments */
	uint32_t ooo_bytes; /* held captured bytes */
	uint32_t hq_prev, hq_next;
	uint64_t fin_ts;
	uint64_t deliv_ts; /* time given with the last delivery (running max) */
	uint64_t pend_gap; /* gap bytes not yet reported (coalesced within one operation) */
	struct mbx_stream s __attribute__((aligned(16)));
};

/* A held out-of-order piece. Indexed by its first chunk; its captured bytes
 * are in that chunk and the ones chained by chunk_next[]. */
struct ft_seg {
	uint32_t seq;
	uint32_t cap;  /* captured bytes held */
	uint32_t wire; /* sequence space covered; wire - cap bytes at the end were snapped */
	uint32_t next; /* next held piece of the stream, in sequence order */
	uint64_t ts;   /* capture time of the segment */
};

struct ft_slot {
	uint32_t hash;
	uint32_t idx1; /* entry index + 1; 0 = empty */
};

struct ft_list {
	uint32_t head; /* most recently used */
	uint32_t tail;
};

struct mbx_flowtab {
	/* read on every packet */
	const uint8_t *port_map;
	struct mbx_counters *ctr;
	struct mbx_stream_ops ops;
	void *ops_ctx;
	uint8_t *ents;
	size_t stride;
	struct ft_slot *slots;
	uint32_t slot_mask;
	uint32_t nh[10]; /* index hash key (NH) */
	struct ft_list lru[2];
	uint32_t lru_grain; /* ticks: an entry moved to the head less long ago stays put */

	uint32_t max_flows;
	uint32_t nbump;	    /* entries ever handed out (the rest were never touched) */
	uint32_t free_head; /* freed entries */
	uint32_t nlive;
	uint32_t hq_head; /* streams waiting on a hole or a FIN beyond next_seq */

	/* out-of-order store */
	uint8_t *slab;
	uint32_t *chunk_next;
	struct ft_seg *segs;
	uint32_t nchunks, chunk_bump, chunk_free, chunks_avail;
	uint32_t ooo_max_segs, ooo_max_bytes, max_window;

	uint64_t idle_ns, zombie_ns, ooo_wait_ns, next_tick;
	uint64_t held_min_ts; /* <= capture time of every held segment; UINT64_MAX if none */
	size_t user_size;
	uint8_t flow_key[16];
	size_t ents_len, slots_len, slab_len, cnext_len, segs_len;
	struct mbx_counters own_ctr; /* used when cfg->ctr is NULL */
};

static inline struct ft_entry *ft_ent(const struct mbx_flowtab *ft, uint32_t idx)
{
	return (struct ft_entry *)(void *)(ft->ents + (size_t)idx * ft->stride);
}

static inline int32_t ft_seq_diff(uint32_t a, uint32_t b)
{
	return (int32_t)(a - b);
}

/* |a - b| in sequence space (at most 2^31). */
static inline uint32_t ft_seq_dist(uint32_t a, uint32_t b)
{
	return ft_seq_diff(a, b) < 0 ? b - a : a - b;
}

static inline void ft_holeq_add(struct mbx_flowtab *ft, struct ft_entry *e)
{
	if (e->flags & FTF_HOLEQ)
		return;
	e->flags |= FTF_HOLEQ;
	e->hq_prev = FT_NIL;
	e->hq_next = ft->hq_head;
	if (ft->hq_head != FT_NIL)
		ft_ent(ft, ft->hq_head)->hq_prev = e->self;
	ft->hq_head = e->self;
}

static inline void ft_holeq_del(struct mbx_flowtab *ft, struct ft_entry *e)
{
	if (!(e->flags & FTF_HOLEQ))
		return;
	e->flags &= (uint8_t)~FTF_HOLEQ;
	if (e->hq_prev != FT_NIL)
		ft_ent(ft, e->hq_prev)->hq_next = e->hq_next;
	else
		ft->hq_head = e->hq_next;
	if (e->hq_next != FT_NIL)
		ft_ent(ft, e->hq_next)->hq_prev = e->hq_prev;
}

/* reasm.c */

/* Process payload [seq, seq + wire) of a live stream; the first cap bytes
 * are at p. Delivers, holds or drops; may leave e->pend_gap non-zero. */
void mbx_ft_payload(struct mbx_flowtab *ft, struct ft_entry *e, uint32_t seq, const uint8_t *p,
		    uint32_t cap, uint32_t wire, uint64_t ts);
/* Declare every hole before held data lost: deliver all held data in order. */
void mbx_ft_giveup_all(struct mbx_flowtab *ft, struct ft_entry *e);
/* Give up holes that held data (or a pending FIN) has waited on for longer
 * than ooo_wait_ns. */
void mbx_ft_hole_expire(struct mbx_flowtab *ft, struct ft_entry *e, uint64_t now);
/* Report the pending gap, if any. */
void mbx_ft_gap_flush(struct mbx_flowtab *ft, struct ft_entry *e, uint64_t ts);

#endif
