/* SPDX-License-Identifier: Apache-2.0 */
/* Time-ordering stage. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>

#include "mbx/merge.h"

#define MAXM 50000

struct out {
	struct mbx_msg m[MAXM];
	size_t n;
};

static void sink(void *ctx, const struct mbx_msg *m)
{
	struct out *o = ctx;
	assert_true(o->n < MAXM);
	o->m[o->n++] = *m;
}

static struct mbx_merge *mk(struct out *o, struct mbx_counters *c, uint32_t cap, uint64_t hold)
{
	struct mbx_merge_cfg cfg;
	mbx_merge_cfg_defaults(&cfg);
	cfg.capacity = cap;
	cfg.hold_ns = hold;
	cfg.out.emit = sink;
	cfg.out.ctx = o;
	cfg.ctr = c;
	struct mbx_merge *mm = mbx_merge_create(&cfg);
	assert_non_null(mm);
	return mm;
}

static struct mbx_msg msg(uint64_t ts, uint32_t tag)
{
	struct mbx_msg m;
	memset(&m, 0, sizeof(m));
	m.ts_ns = ts;
	m.opaque = tag;
	m.kind = MBX_MSG_REQ;
	return m;
}

static void orders_within_hold(void **state)
{
	(void)state;
	struct out *o = calloc(1, sizeof(*o));
	struct mbx_counters c = { 0 };
	struct mbx_merge *mm = mk(o, &c, 1 << 16, 1000);
	uint64_t rng = 7, now = 0;
	/* times arrive up to 900 ns late (< hold) */
	for (uint32_t i = 0; i < 40000; i++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		now += 10;
		uint64_t late = (rng >> 33) % 4 == 0 ? (rng >> 40) % 900 : 0;
		struct mbx_msg m = msg(now > late ? now - late : 0, i);
		mbx_merge_push(mm, &m);
		if (i % 64 == 0)
			mbx_merge_release(mm, now);
	}
	mbx_merge_flush(mm);
	assert_int_equal(o->n, 40000);
	for (size_t i = 1; i < o->n; i++) {
		assert_true(o->m[i - 1].ts_ns <= o->m[i].ts_ns);
		if (o->m[i - 1].ts_ns == o->m[i].ts_ns) /* stable for ties */
			assert_true(o->m[i - 1].opaque < o->m[i].opaque);
	}
	assert_int_equal(c.merge_late, 0);
	assert_int_equal(c.merge_forced, 0);
	mbx_merge_destroy(mm);
	free(o);
}

static void release_respects_hold(void **state)
{
	(void)state;
	struct out *o = calloc(1, sizeof(*o));
	struct mbx_counters c = { 0 };
	struct mbx_merge *mm = mk(o, &c, 64, 100);
	struct mbx_msg a = msg(1000, 1), b = msg(1050, 2), d = msg(990, 3);
	mbx_merge_push(mm, &a);
	mbx_merge_push(mm, &b);
	mbx_merge_release(mm, 1099);
	assert_int_equal(o->n, 0); /* 1000 + 100 > 1099 */
	mbx_merge_push(mm, &d);    /* late but within hold: goes first */
	mbx_merge_release(mm, 1100);
	assert_int_equal(o->n, 2);
	assert_int_equal(o->m[0].opaque, 3);
	assert_int_equal(o->m[1].opaque, 1);
	assert_int_equal(mbx_merge_held(mm), 1);
	/* older than something released: passed on at once, counted */
	struct mbx_msg e = msg(995, 4);
	mbx_merge_push(mm, &e);
	assert_int_equal(o->n, 3);
	assert_int_equal(c.merge_late, 1);
	mbx_merge_flush(mm);
	assert_int_equal(o->n, 4);
	assert_int_equal(o->m[3].opaque, 2);
	mbx_merge_destroy(mm);
	free(o);
}

static void bounded_and_forced(void **state)
{
	(void)state;
	struct out *o = calloc(1, sizeof(*o));
	struct mbx_counters c = { 0 };
	struct mbx_merge *mm = mk(o, &c, 8, 1000000);
	for (uint32_t i = 0; i < 20; i++) {
		struct mbx_msg m = msg(100 + i, i);
		mbx_merge_push(mm, &m);
	}
	/* capacity 8: the FIFO never holds more, the oldest go early */
	assert_int_equal(mbx_merge_held(mm), 8);
	assert_int_equal(o->n, 12);
	assert_int_equal(c.merge_forced, 12);
	for (uint32_t i = 0; i < 20; i++) {
		struct mbx_msg m = msg(50 + i, 100 + i); /* all out of order: heap */
		mbx_merge_push(mm, &m);
	}
	mbx_merge_flush(mm);
	assert_int_equal(o->n, 40);
	assert_true(mbx_merge_held(mm) == 0);
	mbx_merge_destroy(mm);
	free(o);
}

/* A reply timestamped a little before the end of its request (two capture
 * paths) must still be released after it. */
static void response_direction_skew(void **state)
{
	(void)state;
	struct out *o = calloc(1, sizeof(*o));
	struct mbx_counters c = { 0 };
	struct mbx_merge_cfg cfg;
	mbx_merge_cfg_defaults(&cfg);
	cfg.capacity = 64;
	cfg.hold_ns = 10000;
	cfg.rsp_skew_ns = 1000;
	cfg.out.emit = sink;
	cfg.out.ctx = o;
	cfg.ctr = &c;
	struct mbx_merge *mm = mbx_merge_create(&cfg);
	assert_non_null(mm);
	struct mbx_msg rsp = msg(100000, 1), req = msg(100005, 2), rsp2 = msg(102000, 3);
	rsp.dir = 1;
	rsp.kind = MBX_MSG_RSP;
	rsp2.dir = 1;
	rsp2.kind = MBX_MSG_RSP;
	mbx_merge_push(mm, &rsp);
	mbx_merge_push(mm, &req);
	mbx_merge_push(mm, &rsp2);
	mbx_merge_flush(mm);
	assert_int_equal(o->n, 3);
	assert_int_equal(o->m[0].opaque, 2); /* request first */
	assert_int_equal(o->m[1].opaque, 1);
	assert_int_equal(o->m[1].ts_ns, 100000); /* timestamp unchanged */
	assert_int_equal(o->m[2].opaque, 3);
	mbx_merge_destroy(mm);
	free(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(orders_within_hold),
		cmocka_unit_test(release_respects_hold),
		cmocka_unit_test(bounded_and_forced),
		cmocka_unit_test(response_direction_skew),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
