/* SPDX-License-Identifier: Apache-2.0 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>

/* cmocka needs the headers above */
#include <cmocka.h>

#include "mbx/hist.h"

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: fixed seed, reproducible */
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static double rnd_unit(void)
{
	return (double)(rnd() >> 11) / 9007199254740992.0; /* [0, 1) */
}

static int cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

static struct mbx_hist *new_hist(void)
{
	struct mbx_hist *h = malloc(sizeof(*h));
	assert_non_null(h);
	mbx_hist_init(h);
	return h;
}

/* Every bucket is contiguous with the next, maps back to itself, and is at
 * most 1/128 of its values wide. */
static void bucket_layout(void **state)
{
	(void)state;
	assert_int_equal(mbx_hist_bucket_low(0), 0);
	for (unsigned i = 0; i < MBX_HIST_LEN; i++) {
		uint64_t lo = mbx_hist_bucket_low(i), hi = mbx_hist_bucket_high(i);
		assert_true(lo <= hi);
		assert_int_equal(mbx_hist_index(lo), i);
		assert_int_equal(mbx_hist_index(hi), i);
		assert_true((hi - lo) * 128 <= lo || lo < 256);
		if (i + 1 < MBX_HIST_LEN)
			assert_int_equal(mbx_hist_bucket_low(i + 1), hi + 1);
	}
	assert_int_equal(mbx_hist_bucket_high(MBX_HIST_LEN - 1), MBX_HIST_MAX_VALUE);
}

/* The value a histogram reports for v, unhidden by the [min, max] clamp:
 * v is the lower of two values far apart, so p50 is v's bucket's top. */
static void check_value(struct mbx_hist *h, uint64_t v)
{
	mbx_hist_reset(h);
	mbx_hist_record(h, v);
	assert_int_equal(mbx_hist_percentile(h, 50), v); /* single value: exact */
	assert_int_equal(mbx_hist_percentile(h, 100), v);
	assert_int_equal(mbx_hist_percentile(h, 0), v);

	mbx_hist_record(h, MBX_HIST_MAX_VALUE);
	uint64_t r = v == MBX_HIST_MAX_VALUE ? v : mbx_hist_percentile(h, 50);
	assert_true(r >= v);
	if ((double)(r - v) > (double)v / 128.0)
		fail_msg("value %llu reported as %llu (> 1/128 off)", (unsigned long long)v,
			 (unsigned long long)r);
	/* and the bucket really contains v */
	unsigned i = mbx_hist_index(v);
	assert_true(mbx_hist_bucket_low(i) <= v && v <= mbx_hist_bucket_high(i));
}

static void error_bound_whole_range(void **state)
{
	(void)state;
	struct mbx_hist *h = new_hist();
	for (uint64_t v = 0; v < 4096; v++)
		check_value(h, v);
	for (unsigned b = 1; b < MBX_HIST_MAX_BITS; b++) {
		uint64_t p = 1ULL << b;
		check_value(h, p - 1);
		check_value(h, p);
		check_value(h, p + 1);
	}
	check_value(h, MBX_HIST_MAX_VALUE);
	for (int i = 0; i < 200000; i++) {
		/* log-uniform over the range: every power of two gets values */
		unsigned bits = 1 + (unsigned)(rnd() % MBX_HIST_MAX_BITS);
		uint64_t v = rnd() & ((1ULL << bits) - 1);
		check_value(h, v);
	}
	free(h);
}

/* Percentiles of n values against the sorted array: rank ceil(p% n). */
static void check_percentiles(uint64_t *vals, size_t n)
{
	static const double ps[] = {0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};
	struct mbx_hist *h = new_hist();

	for (size_t i = 0; i < n; i++)
		mbx_hist_record(h, vals[i]);
	qsort(vals, n, sizeof(*vals), cmp_u64);
	for (size_t k = 0; k < MBX_ARRAY_SIZE(ps); k++) {
		size_t rank = (size_t)ceil(ps[k] / 100.0 * (double)n - 1e-9);
		uint64_t exact = vals[rank - 1];
		uint64_t got = mbx_hist_percentile(h, ps[k]);
		double err = fabs((double)got - (double)exact) / (double)exact;
		if (err > 0.01)
			fail_msg("p%g: got %llu, exact %llu", ps[k], (unsigned long long)got,
				 (unsigned long long)exact);
		assert_true(got >= exact); /* top of the bucket */
	}
	assert_int_equal(mbx_hist_percentile(h, 100), vals[n - 1]);
	assert_int_equal(mbx_hist_percentile(h, 0), vals[0]);
	assert_int_equal(h->min, vals[0]);
	assert_int_equal(h->max, vals[n - 1]);
	long double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += vals[i];
	assert_true(fabs(mbx_hist_mean(h) - (double)(sum / n)) < 1e-6 * (double)(sum / n));
	free(h);
}

static void percentiles_uniform(void **state)
{
	(void)state;
	size_t n = 500000;
	uint64_t *v = malloc(n * sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = 1 + rnd() % 1000000; /* uniform 1..1e6 ns */
	check_percentiles(v, n);
	free(v);
}

static void percentiles_exponential(void **state)
{
	(void)state;
	size_t n = 500000;
	uint64_t *v = malloc(n * sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = 1 + (uint64_t)(-log(1.0 - rnd_unit()) * 200000.0); /* mean 200 us */
	check_percentiles(v, n);
	free(v);
}

/* Ranks: 99% of 100 values is the 99th, not the 100th (float rounding). */
static void percentile_ranks(void **state)
{
	(void)state;
	struct mbx_hist *h = new_hist();
	for (uint64_t v = 1; v <= 100; v++)
		mbx_hist_record(h, v);
	assert_int_equal(mbx_hist_percentile(h, 1), 1);
	assert_int_equal(mbx_hist_percentile(h, 50), 50);
	assert_int_equal(mbx_hist_percentile(h, 99), 99);
	assert_int_equal(mbx_hist_percentile(h, 99.5), 100);
	assert_int_equal(mbx_hist_percentile(h, 29), 29);
	assert_int_equal(mbx_hist_percentile(h, 57), 57);
	assert_int_equal(mbx_hist_percentile(h, 0.5), 1);
	assert_int_equal(mbx_hist_percentile(h, 150), 100);
	assert_int_equal(mbx_hist_percentile(h, -3), 1);
	assert_true(fabs(mbx_hist_mean(h) - 50.5) < 1e-12);
	free(h);
}

static void merge_equals_single(void **state)
{
	(void)state;
	struct mbx_hist *a = new_hist(), *b = new_hist(), *all = new_hist();
	for (int i = 0; i < 100000; i++) {
		uint64_t v = rnd() >> (rnd() % 64);
		mbx_hist_record(i % 3 ? a : b, v);
		mbx_hist_record(all, v);
	}
	mbx_hist_merge(a, b);
	assert_memory_equal(a, all, sizeof(*a));
	/* merging an empty histogram changes nothing, also not min */
	mbx_hist_reset(b);
	mbx_hist_merge(a, b);
	assert_memory_equal(a, all, sizeof(*a));
	/* into an empty one: a copy */
	mbx_hist_merge(b, all);
	assert_memory_equal(b, all, sizeof(*b));
	free(a);
	free(b);
	free(all);
}

static void record_n_equals_loop(void **state)
{
	(void)state;
	struct mbx_hist *a = new_hist(), *b = new_hist();
	for (int i = 0; i < 1000; i++) {
		uint64_t v = rnd() % 100000000, n = rnd() % 5;
		mbx_hist_record_n(a, v, n);
		for (uint64_t k = 0; k < n; k++)
			mbx_hist_record(b, v);
	}
	assert_memory_equal(a, b, sizeof(*a));
	free(a);
	free(b);
}

static void empty_hist(void **state)
{
	(void)state;
	struct mbx_hist *h = new_hist();
	assert_int_equal(h->count, 0);
	assert_int_equal(h->min, UINT64_MAX);
	assert_int_equal(h->max, 0);
	assert_int_equal(mbx_hist_percentile(h, 0), 0);
	assert_int_equal(mbx_hist_percentile(h, 50), 0);
	assert_int_equal(mbx_hist_percentile(h, 100), 0);
	assert_true(mbx_hist_mean(h) == 0.0);
	mbx_hist_record_n(h, 5, 0);
	assert_int_equal(h->count, 0);
	assert_int_equal(h->min, UINT64_MAX);
	free(h);
}

static void saturation(void **state)
{
	(void)state;
	struct mbx_hist *h = new_hist();
	mbx_hist_record(h, 10);
	mbx_hist_record(h, MBX_HIST_MAX_VALUE);
	assert_int_equal(h->saturated, 0);
	mbx_hist_record(h, MBX_HIST_MAX_VALUE + 1);
	mbx_hist_record(h, UINT64_MAX);
	mbx_hist_record_n(h, 1ULL << 50, 3);
	assert_int_equal(h->saturated, 5);
	assert_int_equal(h->count, 7);
	assert_int_equal(h->max, UINT64_MAX);
	assert_int_equal(h->sum, UINT64_MAX); /* saturates, does not wrap */
	assert_int_equal(h->counts[MBX_HIST_LEN - 1], 6);
	assert_int_equal(mbx_hist_percentile(h, 100), UINT64_MAX);
	assert_int_equal(mbx_hist_percentile(h, 50), MBX_HIST_MAX_VALUE);
	assert_int_equal(mbx_hist_percentile(h, 10), 10);
	free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(bucket_layout),	    cmocka_unit_test(error_bound_whole_range),
	    cmocka_unit_test(percentiles_uniform),  cmocka_unit_test(percentiles_exponential),
	    cmocka_unit_test(percentile_ranks),	    cmocka_unit_test(merge_equals_single),
	    cmocka_unit_test(record_n_equals_loop), cmocka_unit_test(empty_hist),
	    cmocka_unit_test(saturation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
