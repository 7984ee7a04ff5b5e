/* SPDX-License-Identifier: Apache-2.0 */
/* Single-producer / single-consumer ring of fixed-size elements, for handing
 * records between two threads (capture worker -> writer; replay reader ->
 * worker). Lock-free, bounded, burst-oriented:
 *
 * - head is written only by the producer, tail only by the consumer; each
 *   side publishes its index with a release store and reads the other's with
 *   an acquire load, and caches the other's index so that most calls touch
 *   no shared cache line (the libxdp xsk ring / rte_ring SP/SC pattern);
 * - the two indices live on separate cache lines (no false sharing);
 * - enqueue never blocks: it returns how many elements fit (a capture
 *   producer drops and counts the rest; a replay reader waits and retries).
 *
 * Indices are free-running 64-bit counters; capacity is a power of two. */
#ifndef MBX_RING_H
#define MBX_RING_H

#include "mbx/common.h"

struct mbx_ring {
	/* producer line */
	uint64_t head MBX_CACHE_ALIGNED; /* next slot to write (published) */
	uint64_t tail_cache;             /* producer's view of tail */
	/* consumer line */
	uint64_t tail MBX_CACHE_ALIGNED; /* next slot to read (published) */
	uint64_t head_cache;             /* consumer's view of head */
	/* read-only after create */
	uint64_t mask MBX_CACHE_ALIGNED;
	uint32_t esize;
	uint32_t closed; /* set by the producer: no more elements will come */
	uint8_t *data;
};

/* capacity: elements, rounded up to a power of two (>= 2). esize: bytes per
 * element (a multiple of 8 keeps copies fast). NULL + errno on failure. */
struct mbx_ring *mbx_ring_create(uint32_t capacity, uint32_t esize);
void mbx_ring_destroy(struct mbx_ring *r); /* NULL ok */

static inline uint32_t mbx_ring_capacity(const struct mbx_ring *r)
{
	return (uint32_t)(r->mask + 1);
}

/* Producer: copy up to n elements in; returns how many were enqueued. */
static inline uint32_t mbx_ring_enqueue_burst(struct mbx_ring *r, const void *objs, uint32_t n)
{
	uint64_t head = r->head;
	uint64_t cap = r->mask + 1;
	uint64_t free_slots = cap - (head - r->tail_cache);

	if (free_slots < n) {
		r->tail_cache = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
		free_slots = cap - (head - r->tail_cache);
		if (free_slots < n)
			n = (uint32_t)free_slots;
	}
	if (n == 0)
		return 0;
	const uint8_t *src = objs;
	uint64_t idx = head & r->mask;
	uint64_t first = MBX_MIN((uint64_t)n, cap - idx);
	memcpy(r->data + idx * r->esize, src, first * r->esize);
	if (first < n)
		memcpy(r->data, src + first * r->esize, (n - first) * r->esize);
	__atomic_store_n(&r->head, head + n, __ATOMIC_RELEASE);
	return n;
}

/* Consumer: copy up to n elements out; returns how many were dequeued. */
static inline uint32_t mbx_ring_dequeue_burst(struct mbx_ring *r, void *objs, uint32_t n)
{
	uint64_t tail = r->tail;
	uint64_t avail = r->head_cache - tail;

	if (avail < n) {
		r->head_cache = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
		avail = r->head_cache - tail;
		if (avail < n)
			n = (uint32_t)avail;
	}
	if (n == 0)
		return 0;
	uint8_t *dst = objs;
	uint64_t cap = r->mask + 1;
	uint64_t idx = tail & r->mask;
	uint64_t first = MBX_MIN((uint64_t)n, cap - idx);
	memcpy(dst, r->data + idx * r->esize, first * r->esize);
	if (first < n)
		memcpy(dst + first * r->esize, r->data, (n - first) * r->esize);
	__atomic_store_n(&r->tail, tail + n, __ATOMIC_RELEASE);
	return n;
}

/* Either side: elements currently in the ring (approximate by nature). */
static inline uint32_t mbx_ring_count(const struct mbx_ring *r)
{
	uint64_t h = __atomic_load_n(&r->head, __ATOMIC_ACQUIRE);
	uint64_t t = __atomic_load_n(&r->tail, __ATOMIC_ACQUIRE);
	return (uint32_t)(h - t);
}

/* Producer: no more elements. Consumer: the ring is closed AND drained. */
static inline void mbx_ring_close(struct mbx_ring *r)
{
	__atomic_store_n(&r->closed, 1, __ATOMIC_RELEASE);
}
static inline bool mbx_ring_done(struct mbx_ring *r)
{
	/* read closed before head: an element enqueued before close is seen */
	if (!__atomic_load_n(&r->closed, __ATOMIC_ACQUIRE))
		return false;
	return __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) == r->tail;
}

#endif
