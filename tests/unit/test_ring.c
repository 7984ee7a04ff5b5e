/* SPDX-License-Identifier: Apache-2.0 */
/* SPSC ring: semantics, wraparound, and a two-thread stress test that must
 * deliver every element exactly once and in order (also run under TSan). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>

#include "mbx/ring.h"

struct elem {
	uint64_t seq;
	uint64_t check;
	uint8_t pad[24];
};

static void basic(void **state)
{
	(void)state;
	struct mbx_ring *r = mbx_ring_create(5, sizeof(struct elem));
	assert_non_null(r);
	assert_int_equal(mbx_ring_capacity(r), 8);
	struct elem in[10], out[10];
	for (int i = 0; i < 10; i++)
		in[i] = (struct elem){ .seq = (uint64_t)i, .check = (uint64_t)i * 3 };
	assert_int_equal(mbx_ring_enqueue_burst(r, in, 10), 8); /* full at 8 */
	assert_int_equal(mbx_ring_enqueue_burst(r, in, 1), 0);
	assert_int_equal(mbx_ring_count(r), 8);
	assert_int_equal(mbx_ring_dequeue_burst(r, out, 3), 3);
	assert_int_equal(out[2].seq, 2);
	/* wraparound: 3 free slots at the start */
	assert_int_equal(mbx_ring_enqueue_burst(r, in + 8, 2), 2);
	assert_int_equal(mbx_ring_dequeue_burst(r, out, 10), 7);
	for (int i = 0; i < 5; i++)
		assert_int_equal(out[i].seq, (uint64_t)i + 3);
	assert_int_equal(out[5].seq, 8);
	assert_int_equal(out[6].seq, 9);
	assert_int_equal(mbx_ring_dequeue_burst(r, out, 1), 0);
	assert_false(mbx_ring_done(r));
	mbx_ring_close(r);
	assert_true(mbx_ring_done(r));
	mbx_ring_destroy(r);
	mbx_ring_destroy(NULL);
	assert_null(mbx_ring_create(0, 8));
	assert_null(mbx_ring_create(8, 0));
}

#define STRESS_N 2000000ULL

static void *producer(void *arg)
{
	struct mbx_ring *r = arg;
	struct elem buf[64];
	uint64_t next = 0, rng = 12345;
	while (next < STRESS_N) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		uint32_t n = 1 + (uint32_t)((rng >> 40) % 64);
		if (next + n > STRESS_N)
			n = (uint32_t)(STRESS_N - next);
		for (uint32_t i = 0; i < n; i++)
			buf[i] = (struct elem){ .seq = next + i, .check = (next + i) * 0x9e3779b97f4a7c15ULL };
		uint32_t done = 0;
		while (done < n)
			done += mbx_ring_enqueue_burst(r, buf + done, n - done);
		next += n;
	}
	mbx_ring_close(r);
	return NULL;
}

static void two_threads(void **state)
{
	(void)state;
	struct mbx_ring *r = mbx_ring_create(1024, sizeof(struct elem));
	pthread_t t;
	struct elem buf[100];
	uint64_t expect = 0, rng = 99;
	assert_int_equal(pthread_create(&t, NULL, producer, r), 0);
	for (;;) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		uint32_t want = 1 + (uint32_t)((rng >> 40) % 100);
		uint32_t n = mbx_ring_dequeue_burst(r, buf, want);
		for (uint32_t i = 0; i < n; i++) {
			if (buf[i].seq != expect || buf[i].check != expect * 0x9e3779b97f4a7c15ULL)
				fail_msg("element %llu: got seq %llu", (unsigned long long)expect,
					 (unsigned long long)buf[i].seq);
			expect++;
		}
		if (n == 0 && mbx_ring_done(r))
			break;
	}
	pthread_join(t, NULL);
	assert_int_equal(expect, STRESS_N);
	mbx_ring_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(basic),
		cmocka_unit_test(two_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
