/* SPDX-License-Identifier: Apache-2.0 */
/* Log-linear histogram (HdrHistogram layout): 2^MBX_HIST_SUB_BITS linear
 * sub-buckets per power of two: a bucket is at most 1/128 of its values
 * wide, so a reported value is within 0.79% of the true one (< 1%). Values from 0 to
 * 2^MBX_HIST_MAX_BITS - 1 (about 18 minutes in ns, or 1 TiB in bytes);
 * larger values are clamped to the top and counted in `saturated`.
 *
 * Fixed size, no allocation: embed it, record with an inline increment, merge
 * by adding counts. Used for latencies (ns) and sizes (bytes). */
#ifndef MBX_HIST_H
#define MBX_HIST_H

#include "mbx/common.h"

#define MBX_HIST_SUB_BITS 8
#define MBX_HIST_MAX_BITS 40
#define MBX_HIST_SUB_COUNT (1u << MBX_HIST_SUB_BITS)           /* 256 */
#define MBX_HIST_HALF_COUNT (MBX_HIST_SUB_COUNT / 2)           /* 128 */
#define MBX_HIST_BUCKETS (MBX_HIST_MAX_BITS - MBX_HIST_SUB_BITS + 1)
#define MBX_HIST_LEN ((MBX_HIST_BUCKETS + 1) * MBX_HIST_HALF_COUNT)
#define MBX_HIST_MAX_VALUE ((1ULL << MBX_HIST_MAX_BITS) - 1)

struct mbx_hist {
	uint64_t count;
	uint64_t sum;        /* of recorded (unclamped) values, saturating */
	uint64_t min;        /* UINT64_MAX when empty */
	uint64_t max;
	uint64_t saturated;  /* values above MBX_HIST_MAX_VALUE */
	uint64_t counts[MBX_HIST_LEN];
};

void mbx_hist_init(struct mbx_hist *h);

/* Index of the bucket holding v (v <= MBX_HIST_MAX_VALUE). */
static inline unsigned mbx_hist_index(uint64_t v)
{
	/* bucket = position of the highest bit above the sub-bucket range */
	unsigned pow2 = 63u - (unsigned)__builtin_clzll(v | (MBX_HIST_SUB_COUNT - 1));
	unsigned bucket = pow2 - (MBX_HIST_SUB_BITS - 1);
	unsigned sub = (unsigned)(v >> bucket);
	return ((bucket + 1) << (MBX_HIST_SUB_BITS - 1)) + sub - MBX_HIST_HALF_COUNT;
}

static inline void mbx_hist_record(struct mbx_hist *h, uint64_t v)
{
	uint64_t c = v;
	if (MBX_UNLIKELY(v > MBX_HIST_MAX_VALUE)) {
		h->saturated++;
		c = MBX_HIST_MAX_VALUE;
	}
	h->counts[mbx_hist_index(c)]++;
	h->count++;
	h->sum = (h->sum + v < h->sum) ? UINT64_MAX : h->sum + v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void mbx_hist_record_n(struct mbx_hist *h, uint64_t v, uint64_t n);
void mbx_hist_merge(struct mbx_hist *dst, const struct mbx_hist *src);
void mbx_hist_reset(struct mbx_hist *h);

/* Lowest and highest value that map to bucket index i. */
uint64_t mbx_hist_bucket_low(unsigned i);
uint64_t mbx_hist_bucket_high(unsigned i);

/* Value at percentile p (0..100): the highest value equivalent to the bucket
 * holding the ceil(p% * count)-th value, clamped to [min, max]. 0 if empty.
 * p = 100 returns max exactly, p <= 0 returns min exactly. Linear scan. */
uint64_t mbx_hist_percentile(const struct mbx_hist *h, double p);
double mbx_hist_mean(const struct mbx_hist *h);

#endif
