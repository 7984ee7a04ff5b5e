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

struct mbx_merge {
	struct mbx_merge_cfg cfg;
	struct mbx_counters *ctr;
	struct mbx_counters dummy;

	struct held *fifo;
	uint32_t fmask;
	uint64_t fhead, ftail;
	uint64_t fifo_last_key; /* key of the newest message in the FIFO */

	struct held *heap;
	uint32_t hlen, hcap;

	uint64_t seq;
	uint64_t released_key; /* newest key released */
	size_t fifo_bytes, heap_bytes;
};

void mbx_merge_cfg_defaults(struct mbx_merge_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->capacity = 1u << 20;
	cfg->hold_ns = 1100 * MBX_NSEC_PER_MSEC;
	cfg->rsp_skew_ns = MBX_NSEC_PER_MSEC;
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

	if (!cfg || !cfg->out.emit || cfg->capacity < 2 || cfg->capacity > (1u << 28)) {
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
	mm->fmask = cap - 1;
	mm->hcap = cap;
	mm->fifo_bytes = (size_t)cap * sizeof(struct held);
	mm->heap_bytes = (size_t)cap * sizeof(struct held);
	mm->fifo = map_anon(mm->fifo_bytes);
	mm->heap = map_anon(mm->heap_bytes);
	if (!mm->fifo || !mm->heap) {
		mbx_merge_destroy(mm);
		errno = ENOMEM;
		return NULL;
	}
	return mm;
}

void mbx_merge_destroy(struct mbx_merge *mm)
{
	if (!mm)
		return;
	if (mm->fifo)
		munmap(mm->fifo, mm->fifo_bytes);
	if (mm->heap)
		munmap(mm->heap, mm->heap_bytes);
	free(mm);
}

uint32_t mbx_merge_held(const struct mbx_merge *mm)
{
	return (uint32_t)(mm->ftail - mm->fhead) + mm->hlen;
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

/* The oldest held message, or NULL. *from_heap says where it is. */
static const struct held *oldest(const struct mbx_merge *mm, bool *from_heap)
{
	const struct held *f = mm->fhead != mm->ftail ? &mm->fifo[mm->fhead & mm->fmask] : NULL;
	const struct held *h = mm->hlen ? &mm->heap[0] : NULL;
	if (f && (!h || before(f, h))) {
		*from_heap = false;
		return f;
	}
	*from_heap = true;
	return h;
}

static void emit_oldest(struct mbx_merge *mm)
{
	bool from_heap;
	const struct held *o = oldest(mm, &from_heap);
	struct mbx_msg m = o->m;
	uint64_t key = o->key;
	if (from_heap)
		heap_pop(mm);
	else
		mm->fhead++;
	if (key > mm->released_key)
		mm->released_key = key;
	mm->cfg.out.emit(mm->cfg.out.ctx, &m);
}

void mbx_merge_push(struct mbx_merge *mm, const struct mbx_msg *m)
{
	struct held h = { .m = *m, .seq = mm->seq++ };

	h.key = m->ts_ns + (m->dir ? mm->cfg.rsp_skew_ns : 0);
	if (h.key < mm->released_key) {
		/* its place in the order is gone */
		MBX_CTR_INC(mm->ctr, merge_late);
		mm->cfg.out.emit(mm->cfg.out.ctx, m);
		return;
	}
	if (h.key >= mm->fifo_last_key || mm->fhead == mm->ftail) {
		if (mm->ftail - mm->fhead > mm->fmask) {
			MBX_CTR_INC(mm->ctr, merge_forced);
			emit_oldest(mm);
		}
		mm->fifo[mm->ftail++ & mm->fmask] = h;
		mm->fifo_last_key = h.key;
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
	bool from_heap;
	const struct held *o;

	if (watermark < mm->cfg.hold_ns)
		return;
	uint64_t limit = watermark - mm->cfg.hold_ns;
	while ((o = oldest(mm, &from_heap)) && o->key <= limit)
		emit_oldest(mm);
}

void mbx_merge_flush(struct mbx_merge *mm)
{
	bool from_heap;
	while (oldest(mm, &from_heap))
		emit_oldest(mm);
}
