/* SPDX-License-Identifier: Apache-2.0 */
/* Key counting structures of the analysis (private to src/analyze):
 *  - keyset: exact open-addressing table hash -> (count, key_len);
 *  - hll: HyperLogLog distinct count (p = 14, ~0.81% standard error) with
 *    Ertl's improved raw estimator (no bias tables, whole range);
 *  - spacesaving: Metwally et al.'s Space-Saving top-k, a min-heap of
 *    counters plus an open-addressing index. Each monitored key's true count
 *    lies in [count - err, count]; a key not monitored occurred at most
 *    min-count times. */
#ifndef MBX_ANALYZE_SKETCH_H
#define MBX_ANALYZE_SKETCH_H

#include "mbx/common.h"

#define KEYSET_COUNT_ONE 256u /* meta = count << 8 | key_len */
#define KEYSET_MIN_SIZE	 1024u

struct key_slot {
	uint64_t hash; /* 0 = empty (key_hash 0 is never a key) */
	uint64_t meta;
};

struct keyset {
	struct key_slot *slots;
	uint64_t size;	  /* power of two */
	unsigned shift;	  /* 64 - log2(size) */
	uint64_t n;	  /* keys stored */
	uint64_t grow_at; /* 3/4 of size */
};

static inline uint64_t keyset_home(const struct keyset *ks, uint64_t hash)
{
	/* Fibonacci hashing: key hashes are SipHash outputs, but tests and
	 * other producers may feed small integers. */
	return (hash * 0x9e3779b97f4a7c15ULL) >> ks->shift;
}

static inline const void *keyset_slot_addr(const struct keyset *ks, uint64_t hash)
{
	return &ks->slots[keyset_home(ks, hash)];
}

/* Count one access of hash (non-zero). Returns true if the key is new. */
static inline bool keyset_add(struct keyset *ks, uint64_t hash, unsigned key_len)
{
	uint64_t mask = ks->size - 1;
	uint64_t i = keyset_home(ks, hash);
	for (;;) {
		struct key_slot *s = &ks->slots[i];
		if (s->hash == hash) {
			s->meta += KEYSET_COUNT_ONE;
			return false;
		}
		if (s->hash == 0) {
			s->hash = hash;
			s->meta = KEYSET_COUNT_ONE | key_len;
			ks->n++;
			return true;
		}
		i = (i + 1) & mask;
	}
}

int keyset_init(struct keyset *ks, uint64_t size);
void keyset_free(struct keyset *ks);
/* Double the table. 0 or -ENOMEM (the table is left as it was). */
int keyset_grow(struct keyset *ks);

#define HLL_P 14
#define HLL_M (1u << HLL_P)

struct hll {
	uint8_t reg[HLL_M];
};

static inline void hll_add(struct hll *h, uint64_t hash)
{
	/* splitmix64 finalizer: a bijection, so distinct hashes stay distinct,
	 * and the register index and rank get uniform bits whatever the input. */
	uint64_t x = hash;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	x ^= x >> 31;
	unsigned idx = (unsigned)(x >> (64 - HLL_P));
	uint64_t w = x << HLL_P;
	uint8_t rank = w ? (uint8_t)(__builtin_clzll(w) + 1) : (uint8_t)(64 - HLL_P + 1);
	if (rank > h->reg[idx])
		h->reg[idx] = rank;
}

double hll_estimate(const struct hll *h);

/* Space-Saving in a Stream-Summary (Metwally et al. 2005): entries hang in
 * buckets of equal count, buckets form a list by increasing count, so an
 * increment and a replacement of the minimum are O(1). */
#define SS_NIL UINT32_MAX

struct ss_entry {
	uint64_t hash;
	uint64_t err;
	uint32_t bucket;
	uint32_t prev, next; /* within the bucket */
	uint32_t slot;	     /* position in the index */
	uint8_t key_len;
};

struct ss_bucket {
	uint64_t count;
	uint32_t head;	     /* first entry */
	uint32_t prev, next; /* neighbours by count; next = free list when unused */
};

struct spacesaving {
	struct ss_entry *e;
	struct ss_bucket *b;
	uint32_t n, cap;
	uint32_t bmin;	 /* bucket with the smallest count */
	uint32_t bmax;	 /* and the largest */
	uint32_t bfree;	 /* free bucket list */
	uint32_t *index; /* entry + 1, 0 = empty */
	uint32_t imask;
	unsigned ishift;
};

int ss_init(struct spacesaving *ss, uint32_t cap);
void ss_free(struct spacesaving *ss);
/* Seed with exact counts (err 0), in non-decreasing count order, at most
 * cap keys, before any ss_add(). */
void ss_seed(struct spacesaving *ss, uint64_t hash, unsigned key_len, uint64_t count);
/* One access (Space-Saving update). */
void ss_add(struct spacesaving *ss, uint64_t hash, unsigned key_len);

static inline uint64_t ss_count(const struct spacesaving *ss, uint32_t i)
{
	return ss->b[ss->e[i].bucket].count;
}

/* Smallest monitored count: an unmonitored key occurred at most this often. */
static inline uint64_t ss_floor(const struct spacesaving *ss)
{
	return ss->n < ss->cap || ss->bmin == SS_NIL ? 0 : ss->b[ss->bmin].count;
}

#endif
