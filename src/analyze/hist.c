/* SPDX-License-Identifier: Apache-2.0 */
/* Log-linear histogram: see mbx/hist.h for the layout and its error bound. */
#include "mbx/hist.h"

void mbx_hist_init(struct mbx_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void mbx_hist_reset(struct mbx_hist *h)
{
	mbx_hist_init(h);
}

static uint64_t sat_add(uint64_t a, uint64_t b)
{
	return a + b < a ? UINT64_MAX : a + b;
}

static uint64_t sat_mul(uint64_t a, uint64_t b)
{
	uint64_t r;
	return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

void mbx_hist_record_n(struct mbx_hist *h, uint64_t v, uint64_t n)
{
	uint64_t c = v;

	if (n == 0)
		return;
	if (v > MBX_HIST_MAX_VALUE) {
		h->saturated += n;
		c = MBX_HIST_MAX_VALUE;
	}
	h->counts[mbx_hist_index(c)] += n;
	h->count += n;
	h->sum = sat_add(h->sum, sat_mul(v, n));
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void mbx_hist_merge(struct mbx_hist *dst, const struct mbx_hist *src)
{
	if (src->count == 0)
		return;
	for (unsigned i = 0; i < MBX_HIST_LEN; i++)
		dst->counts[i] += src->counts[i];
	dst->count += src->count;
	dst->sum = sat_add(dst->sum, src->sum);
	dst->saturated += src->saturated;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

/* Index i is in power-of-two bucket b = i / 128 - 1 (b >= 1), at sub-bucket
 * 128 + i % 128, i.e. values [sub << b, (sub + 1) << b). Indexes below 256
 * are the values themselves. */
uint64_t mbx_hist_bucket_low(unsigned i)
{
	if (i < MBX_HIST_SUB_COUNT)
		return i;
	unsigned b = i / MBX_HIST_HALF_COUNT - 1;
	uint64_t sub = MBX_HIST_HALF_COUNT + i % MBX_HIST_HALF_COUNT;
	return sub << b;
}

uint64_t mbx_hist_bucket_high(unsigned i)
{
	if (i < MBX_HIST_SUB_COUNT)
		return i;
	unsigned b = i / MBX_HIST_HALF_COUNT - 1;
	return mbx_hist_bucket_low(i) + (1ULL << b) - 1;
}

uint64_t mbx_hist_percentile(const struct mbx_hist *h, double p)
{
	if (h->count == 0)
		return 0;
	if (!(p > 0.0)) /* also NaN */
		return h->min;
	if (p >= 100.0)
		return h->max;

	/* rank = ceil(p% * count), tolerant of the rounding in p * count / 100
	 * (99% of 100 must be rank 99, not 100). */
	double r = p * (double)h->count / 100.0;
	uint64_t rank = (uint64_t)r;
	if ((double)rank < r * (1.0 - 1e-12))
		rank++;
	if (rank < 1)
		rank = 1;
	if (rank > h->count)
		rank = h->count;

	uint64_t seen = 0;
	for (unsigned i = 0; i < MBX_HIST_LEN; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = mbx_hist_bucket_high(i);
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max; /* counts inconsistent with count: not reached */
}

double mbx_hist_mean(const struct mbx_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
