/* SPDX-License-Identifier: Apache-2.0 */
/* Time-ordering stage: in-order FIFO + out-of-order heap. See merge.h. */
#include "mbx/merge.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>

struct held {
	struct mbx_msg m;
	uint64_t key; /* ordering time: ts, plus the skew for the response direction */
	uint64_t seq; /* arrival order, for stable ties */
};

/* A lane's FIFO is a ring that starts small and doubles when full, up to
 * the configured capacity: memory touched follows the messages actually
 * held, not the bound. */
struct lane {
	struct held *fifo;
	uint32_t mask;
	uint64_t head, tail;
	uint64_t last_key; /* key of the newest message in the FIFO */
};

#define LANE_INIT 4096

struct mbx_merge {
	struct mbx_merge_cfg cfg;
	struct mbx_counters *ctr;
	struct mbx_counters dummy;

	struct lane *lanes;
	uint32_t nlanes;
	uint32_t lane_cap; /* bound of each lane (power of two) */

	struct held *heap;
	uint32_t hlen, hcap;

	uint64_t seq;
	uint64_t released_key; /* newest key released */
	size_t heap_bytes;
};

void mbx_merge_cfg_defaults(struct mbx_merge_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = 1u << 20;
	cfg->hold_ns = 5 * MBX_NSEC_PER_MSEC;
	cfg->rsp_skew_ns = MBX_NSEC_PER_MSEC;
	cfg->workers = 1;
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		       -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

struct mbx_merge *mbx_merge_create(const struct mbx_merge_cfg *cfg)
{
	struct mbx_merge *mm;
	uint32_t cap = 2;

	if (!cfg || !cfg->out.emit || cfg->capacity < 2 || cfg->capacity > (1u << 28) ||
	    cfg->workers > 256) {
		errno = EINVAL;
		return NULL;
	}
	while (cap < cfg->capacity)
		cap <<= 1;
	mm = calloc(1, sizeof(*mm));
	if (!mm)
		return NULL;
	mm->cfg = *cfg;
	mm->ctr = cfg->ctr ? cfg->ctr : &mm->dummy;
	mm->lane_cap = cap;
	mm->hcap = cap;
	mm->nlanes = 2 * (cfg->workers ? cfg->workers : 1);
	mm->heap_bytes = (size_t)cap * sizeof(struct held);
	mm->lanes = calloc(mm->nlanes, sizeof(*mm->lanes));
	mm->heap = map_anon(mm->heap_bytes);
	if (!mm->lanes || !mm->heap)
		goto nomem;
	for (uint32_t i = 0; i < mm->nlanes; i++) {
		uint32_t n = MBX_MIN(cap, LANE_INIT);
		mm->lanes[i].fifo = malloc((size_t)n * sizeof(struct held));
		if (!mm->lanes[i].fifo)
			goto nomem;
		mm->lanes[i].mask = n - 1;
	}
	return mm;
nomem:
	mbx_merge_destroy(mm);
	errno = ENOMEM;
	return NULL;
}

void mbx_merge_destroy(struct mbx_merge *mm)
{
	if (!mm)
		return;
	for (uint32_t i = 0; mm->lanes && i < mm->nlanes; i++)
		free(mm->lanes[i].fifo);
	free(mm->lanes);
	if (mm->heap)
		munmap(mm->heap, mm->heap_bytes);
	free(mm);
}

uint32_t mbx_merge_held(const struct mbx_merge *mm)
{
	uint32_t n = mm->hlen;
	for (uint32_t i = 0; i < mm->nlanes; i++)
		n += (uint32_t)(mm->lanes[i].tail - mm->lanes[i].head);
	return n;
}

static inline bool before(const struct held *a, const struct held *b)
{
	return a->key < b->key || (a->key == b->key && a->seq < b->seq);
}

static void heap_push(struct mbx_merge *mm, const struct held *h)
{
	uint32_t i = mm->hlen++;
	while (i > 0) {
		uint32_t parent = (i - 1) / 2;
		if (!before(h, &mm->heap[parent]))
			break;
		mm->heap[i] = mm->heap[parent];
		i = parent;
	}
	mm->heap[i] = *h;
}

static void heap_pop(struct mbx_merge *mm)
{
	struct held last = mm->heap[--mm->hlen];
	uint32_t i = 0, n = mm->hlen;
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		const struct held *best = &last;
		if (l < n && before(&mm->heap[l], best)) {
			m = l;
			best = &mm->heap[l];
		}
		if (r < n && before(&mm->heap[r], best))
			m = r;
		if (m == i)
			break;
		mm->heap[i] = mm->heap[m];
		i = m;
	}
	if (n)
		mm->heap[i] = last;
}

/* The oldest held message, or NULL. *lane_out is its lane, or -1 for the heap. */
static const struct held *oldest(const struct mbx_merge *mm, int *lane_out)
{
	const struct held *best = mm->hlen ? &mm->heap[0] : NULL;
	int bl = -1;
	for (uint32_t i = 0; i < mm->nlanes; i++) {
		const struct lane *l = &mm->lanes[i];
		if (l->head == l->tail)
			continue;
		const struct held *f = &l->fifo[l->head & l->mask];
		if (!best || before(f, best)) {
			best = f;
			bl = (int)i;
		}
	}
	*lane_out = bl;
	return best;
}

static void emit_oldest(struct mbx_merge *mm)
{
	int lane;
	const struct held *o = oldest(mm, &lane);
	struct mbx_msg m = o->m;
	uint64_t key = o->key;
	if (lane < 0)
		heap_pop(mm);
	else
		mm->lanes[lane].head++;
	if (key > mm->released_key)
		mm->released_key = key;
	mm->cfg.out.emit(mm->cfg.out.ctx, &m);
}

/* Double a full lane (amortised O(1) per message). False at the bound or
 * when memory runs out: the caller then releases early. */
static bool lane_grow(struct mbx_merge *mm, struct lane *l)
{
	uint32_t n = l->mask + 1;
	if (n >= mm->lane_cap)
		return false;
	struct held *f = malloc((size_t)n * 2 * sizeof(struct held));
	if (!f)
		return false;
	for (uint64_t p = l->head; p != l->tail; p++)
		f[p & (2 * n - 1)] = l->fifo[p & l->mask];
	free(l->fifo);
	l->fifo = f;
	l->mask = 2 * n - 1;
	return true;
}

void mbx_merge_push(struct mbx_merge *mm, const struct mbx_msg *m)
{
	struct held h = { .m = *m, .seq = mm->seq++ };
	uint32_t li = ((uint32_t)m->worker * 2u + (m->dir ? 1u : 0u)) % mm->nlanes;
	struct lane *l = &mm->lanes[li];

	h.key = m->ts_ns + (m->dir ? mm->cfg.rsp_skew_ns : 0);
	if (h.key < mm->released_key) {
		/* its place in the order is gone */
		MBX_CTR_INC(mm->ctr, merge_late);
		mm->cfg.out.emit(mm->cfg.out.ctx, m);
		return;
	}
	if (h.key >= l->last_key || l->head == l->tail) {
		if (l->tail - l->head > l->mask && !lane_grow(mm, l)) {
			MBX_CTR_INC(mm->ctr, merge_forced);
			emit_oldest(mm);
		}
		l->fifo[l->tail++ & l->mask] = h;
		l->last_key = h.key;
		return;
	}
	if (mm->hlen == mm->hcap) {
		MBX_CTR_INC(mm->ctr, merge_forced);
		emit_oldest(mm);
	}
	heap_push(mm, &h);
}

void mbx_merge_sink_emit(void *mm, const struct mbx_msg *m)
{
	mbx_merge_push(mm, m);
}

void mbx_merge_release(struct mbx_merge *mm, uint64_t watermark)
{
	int lane;
	const struct held *o;

	if (watermark < mm->cfg.hold_ns)
		return;
	uint64_t limit = watermark - mm->cfg.hold_ns;
	while ((o = oldest(mm, &lane)) && o->key <= limit)
		emit_oldest(mm);
}

void mbx_merge_flush(struct mbx_merge *mm)
{
	int lane;
	while (oldest(mm, &lane))
		emit_oldest(mm);
}
