/* SPDX-License-Identifier: Apache-2.0 */
/* Flow table and per-direction TCP reassembly.
 *
 * Each entry is ONE direction of a TCP connection (a "stream"), keyed by the
 * directional 5-tuple: the two directions of a connection may be handled by
 * different workers, each with its own table. Both directions share
 * stream->flow, a keyed hash of the canonical (sorted) 5-tuple, which is how
 * the pairing stage joins them.
 *
 * Reassembly delivers each stream's bytes in order, exactly once, to the
 * consumer callbacks: retransmitted and overlapping bytes are dropped (first
 * copy wins), a bounded number of out-of-order segments are held (copied)
 * until the hole fills; a hole that does not fill (window or memory bound
 * reached, or FIN/idle/end) is delivered as a gap of known size and the
 * stream continues after it. A stream first seen without SYN starts at the
 * first segment seen (syn_seen = 0: the consumer must resynchronise).
 *
 * Bounded memory: max_flows entries (allocated up front) and out-of-order
 * data bounded per stream and per table. When a bound is hit the counters in
 * struct mbx_counters say so. No allocation per packet. */
#ifndef MBX_FLOW_H
#define MBX_FLOW_H

#include "mbx/common.h"
#include "mbx/counters.h"
#include "mbx/decode.h"
#include "mbx/msg.h"

enum mbx_dir {
	MBX_DIR_REQ = 0, /* client -> server (destination port is a memcache port) */
	MBX_DIR_RSP = 1, /* server -> client */
};

struct mbx_stream {
	uint64_t flow;     /* canonical connection hash; equal for both directions; never 0 */
	uint8_t dir;       /* enum mbx_dir */
	uint8_t syn_seen;  /* the stream began with SYN: its first byte is a message boundary */
	uint8_t closing;   /* FIN or RST seen */
	uint8_t pad[5];
	/* consumer state follows (cfg.user_size bytes, 16-byte aligned) */
};

static inline void *mbx_stream_user(struct mbx_stream *s)
{
	return (uint8_t *)s + ((sizeof(struct mbx_stream) + 15) & ~(size_t)15);
}

/* Consumer callbacks. All are optional except data. Timestamps are packet
 * times in ns. Called synchronously from mbx_flowtab_input()/expire()/flush();
 * a callback must not call back into the same table. Data delivered from the
 * out-of-order store carries the time its segment was captured. */
struct mbx_stream_ops {
	/* A stream was created. The user area is zeroed before this call. */
	void (*open)(void *ctx, struct mbx_stream *s, uint64_t ts);
	/* In-order bytes. p is valid only during the call. */
	void (*data)(void *ctx, struct mbx_stream *s, const uint8_t *p, uint32_t n, uint64_t ts);
	/* nbytes of the stream were lost; the next data() continues after them. */
	void (*gap)(void *ctx, struct mbx_stream *s, uint64_t nbytes, uint64_t ts);
	/* The stream ends; its entry is freed after this returns. */
	void (*close)(void *ctx, struct mbx_stream *s, enum mbx_close_why why, uint64_t ts);
};

struct mbx_flowtab_cfg {
	uint32_t max_flows;         /* directional entries; default 65536 */
	uint32_t ooo_max_segs;      /* held out-of-order segments per stream; default 32 */
	uint32_t ooo_max_bytes;     /* held out-of-order bytes per stream; default 256 KiB */
	uint64_t ooo_total_bytes;   /* held out-of-order bytes per table; default 64 MiB */
	uint64_t idle_timeout_ns;   /* default 300 s of capture time; 0 = never */
	uint32_t max_window;        /* data further than this from the next expected byte (either
	                             * way) means we lost track: resynchronise with a gap.
	                             * default and maximum 1 GiB (largest TCP window); 0 = default */
	uint64_t ooo_max_wait_ns;   /* give up a hole once data after it has waited this long
	                             * (checked by expire()); default 1 s; 0 = wait for a bound */
	const uint8_t *port_map;    /* 65536-bit bitmap (8192 bytes) of memcache server ports */
	const uint8_t *flow_key;    /* 16-byte key for the canonical connection hash */
	size_t user_size;           /* bytes of consumer state per stream */
	const struct mbx_stream_ops *ops;
	void *ops_ctx;
	struct mbx_counters *ctr;   /* counters to increment (owned by the caller) */
};

/* Fill cfg with the defaults above (port_map, flow_key, ops, ctr left NULL). */
void mbx_flowtab_cfg_defaults(struct mbx_flowtab_cfg *cfg);

struct mbx_flowtab;

/* Returns NULL and sets errno (EINVAL, ENOMEM). */
struct mbx_flowtab *mbx_flowtab_create(const struct mbx_flowtab_cfg *cfg);
/* Frees everything WITHOUT calling close callbacks; call flush() first. NULL ok. */
void mbx_flowtab_destroy(struct mbx_flowtab *ft);

/* Feed one decoded TCP segment seen at time ts. Segments whose ports are not
 * in the port map are counted (dec_other_port) and ignored. */
void mbx_flowtab_input(struct mbx_flowtab *ft, const struct mbx_tcpseg *seg, uint64_t ts);

/* Burst processing (the DPDK pattern): for every segment of a burst,
 * mbx_flowtab_prefetch() hashes its flow key and prefetches its index slot;
 * then mbx_flowtab_prefetch_entry() reads the slot and prefetches the flow
 * entry; then mbx_flowtab_input_hashed() with that hash does what
 * mbx_flowtab_input() does, its cache misses already in flight. Prefetching
 * is only a hint: a table changed in between stays correct. */
uint32_t mbx_flowtab_prefetch(const struct mbx_flowtab *ft, const struct mbx_tcpseg *seg);
void mbx_flowtab_prefetch_entry(const struct mbx_flowtab *ft, uint32_t hash);
void mbx_flowtab_input_hashed(struct mbx_flowtab *ft, const struct mbx_tcpseg *seg, uint64_t ts,
			      uint32_t hash);

/* Expire streams idle since before now - idle_timeout (close why = IDLE).
 * Cheap enough to call once per burst; does work at most every ~100 ms of
 * capture time. */
void mbx_flowtab_expire(struct mbx_flowtab *ft, uint64_t now);

/* End of input: deliver held out-of-order data (holes become gaps) and close
 * every stream (why = END). */
void mbx_flowtab_flush(struct mbx_flowtab *ft, uint64_t now);

/* A time no later than the capture time of every out-of-order segment
 * currently held (UINT64_MAX if none). Data delivered later can carry times
 * this old: a time-ordering stage downstream must not release messages past
 * it. Exact after each expire() tick, conservative in between. */
uint64_t mbx_flowtab_held_since(const struct mbx_flowtab *ft);

/* Number of live streams. */
uint32_t mbx_flowtab_count(const struct mbx_flowtab *ft);

/* Canonical connection hash of a segment (same for both directions). Never 0. */
uint64_t mbx_flow_hash(const uint8_t key[16], const struct mbx_tcpseg *seg);

/* Port bitmap helpers. */
static inline bool mbx_port_test(const uint8_t *map, uint16_t port)
{
	return (map[port >> 3] >> (port & 7)) & 1;
}
static inline void mbx_port_set(uint8_t *map, uint16_t port)
{
	map[port >> 3] = (uint8_t)(map[port >> 3] | (1u << (port & 7)));
}

#endif
