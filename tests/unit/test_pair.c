/* SPDX-License-Identifier: Apache-2.0 */
/* Pairing: requests + responses of both directions -> events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>

#include "mbx/pair.h"

#define MAXEV 16384

struct cap {
	struct mbx_event ev[MAXEV];
	size_t n;
	size_t calls;
};

static void cap_emit(void *ctx, const struct mbx_event *ev, size_t n)
{
	struct cap *c = ctx;
	assert_true(c->n + n <= MAXEV);
	memcpy(&c->ev[c->n], ev, n * sizeof(*ev));
	c->n += n;
	c->calls++;
}

struct fx {
	struct cap cap;
	struct mbx_counters ctr;
	struct mbx_pair *p;
};

static struct fx *fx_new(uint32_t max_conns, uint32_t window, uint64_t timeout)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct mbx_pair_cfg cfg;
	mbx_pair_cfg_defaults(&cfg);
	if (max_conns)
		cfg.max_conns = max_conns;
	if (window)
		cfg.window = window;
	if (timeout)
		cfg.timeout_ns = timeout;
	cfg.emit = cap_emit;
	cfg.emit_ctx = &f->cap;
	cfg.ctr = &f->ctr;
	f->p = mbx_pair_create(&cfg);
	assert_non_null(f->p);
	return f;
}

static void fx_free(struct fx *f)
{
	mbx_pair_destroy(f->p);
	free(f);
}

static uint64_t kh(const char *k)
{
	/* any stable non-zero value per key is fine for pairing */
	uint64_t h = 1469598103934665603ULL;
	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 1099511628211ULL;
	return h;
}

static void req(struct fx *f, uint64_t flow, uint64_t ts, unsigned proto, unsigned op,
		const char *key, uint32_t vlen, uint8_t flags, uint32_t opaque)
{
	struct mbx_msg m = { 0 };
	m.kind = MBX_MSG_REQ;
	m.flow = flow;
	m.ts_ns = ts;
	m.proto = (uint8_t)proto;
	m.op = (uint8_t)op;
	m.key_hash = key ? kh(key) : 0;
	m.key_len = key ? (uint16_t)strlen(key) : 0;
	m.value_len = vlen;
	m.flags = flags;
	m.opaque = opaque;
	mbx_pair_input(f->p, &m);
}

static void rsp(struct fx *f, uint64_t flow, uint64_t ts, unsigned proto, unsigned code,
		const char *key, uint32_t vlen, uint8_t flags, uint32_t opaque, unsigned op)
{
	struct mbx_msg m = { 0 };
	m.kind = MBX_MSG_RSP;
	m.dir = 1;
	m.flow = flow;
	m.ts_ns = ts;
	m.proto = (uint8_t)proto;
	m.code = (uint8_t)code;
	m.op = (uint8_t)op;
	if (key) {
		m.key_hash = kh(key);
		m.key_len = (uint16_t)strlen(key);
		flags |= MBX_MSG_F_KEY;
	}
	m.value_len = vlen;
	m.flags = flags;
	m.opaque = opaque;
	mbx_pair_input(f->p, &m);
}

static void ctl(struct fx *f, uint64_t flow, uint64_t ts, unsigned kind, unsigned dir, unsigned aux)
{
	struct mbx_msg m = { 0 };
	m.kind = (uint8_t)kind;
	m.flow = flow;
	m.ts_ns = ts;
	m.dir = (uint8_t)dir;
	m.aux = (uint16_t)aux;
	mbx_pair_input(f->p, &m);
}

#define T MBX_PROTO_TEXT
#define M MBX_PROTO_META
#define B MBX_PROTO_BINARY
#define BC MBX_MSG_F_BATCH_CONT
#define BE MBX_MSG_F_BATCH_END
#define Q MBX_MSG_F_QUIET
#define O MBX_MSG_F_OPAQUE

static void text_basic(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 7, 1000, T, MBX_OP_SET, "foo", 3, 0, 0);
	rsp(f, 7, 1250, T, MBX_RSP_STORED, NULL, 0, 0, 0, 0);
	req(f, 7, 2000, T, MBX_OP_GET, "foo", 0, BE, 0);
	rsp(f, 7, 2100, T, MBX_RSP_VALUE, "foo", 3, 0, 0, 0);
	rsp(f, 7, 2100, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	req(f, 7, 3000, T, MBX_OP_GET, "bar", 0, BE, 0);
	rsp(f, 7, 3040, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	req(f, 7, 4000, T, MBX_OP_DELETE, "foo", 0, 0, 0);
	rsp(f, 7, 4010, T, MBX_RSP_DELETED, NULL, 0, 0, 0, 0);
	req(f, 7, 5000, T, MBX_OP_INCR, "n", 0, 0, 0);
	rsp(f, 7, 5010, T, MBX_RSP_NUMBER, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);

	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 5);
	assert_int_equal(e[0].op, MBX_OP_SET);
	assert_int_equal(e[0].outcome, MBX_OUT_STORED);
	assert_int_equal(e[0].value_len, 3);
	assert_int_equal(e[0].latency_ns, 250);
	assert_int_equal(e[0].conn_id, 1);
	assert_int_equal(e[0].key_len, 3);
	assert_int_equal(e[0].key_hash, kh("foo"));
	assert_int_equal(e[1].outcome, MBX_OUT_HIT);
	assert_int_equal(e[1].value_len, 3);
	assert_int_equal(e[1].latency_ns, 100);
	assert_int_equal(e[2].outcome, MBX_OUT_MISS);
	assert_int_equal(e[2].value_len, 0);
	assert_int_equal(e[2].latency_ns, 40);
	assert_int_equal(e[3].outcome, MBX_OUT_DELETED);
	assert_int_equal(e[4].outcome, MBX_OUT_HIT);
	for (int i = 0; i < 5; i++)
		assert_int_equal(mbx_ev_proto(&e[i]), MBX_PROTO_TEXT);
	assert_int_equal(f->ctr.events, 5);
	assert_int_equal(f->ctr.conns, 1);
	assert_int_equal(f->ctr.rsp_orphan, 0);
	fx_free(f);
}

static void text_multiget(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, T, MBX_OP_GET, "a", 0, 0, 0);
	req(f, 1, 100, T, MBX_OP_GET, "b", 0, BC, 0);
	req(f, 1, 100, T, MBX_OP_GET, "c", 0, BC, 0);
	req(f, 1, 100, T, MBX_OP_GET, "d", 0, BC | BE, 0);
	rsp(f, 1, 150, T, MBX_RSP_VALUE, "b", 10, 0, 0, 0);
	rsp(f, 1, 160, T, MBX_RSP_VALUE, "d", 20, 0, 0, 0);
	rsp(f, 1, 170, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	/* a second multiget where a VALUE names a key outside the batch */
	req(f, 1, 200, T, MBX_OP_GETS, "x", 0, 0, 0);
	req(f, 1, 200, T, MBX_OP_GETS, "y", 0, BC | BE, 0);
	rsp(f, 1, 210, T, MBX_RSP_VALUE, "zzz", 5, 0, 0, 0);
	rsp(f, 1, 220, T, MBX_RSP_VALUE, "y", 7, 0, 0, 0);
	rsp(f, 1, 230, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 6);
	assert_int_equal(e[0].outcome, MBX_OUT_MISS);
	assert_int_equal(e[1].outcome, MBX_OUT_HIT);
	assert_int_equal(e[1].value_len, 10);
	assert_int_equal(e[2].outcome, MBX_OUT_MISS);
	assert_int_equal(e[3].outcome, MBX_OUT_HIT);
	assert_int_equal(e[3].value_len, 20);
	for (int i = 0; i < 4; i++)
		assert_int_equal(e[i].latency_ns, 50); /* first response byte of the batch */
	assert_false(e[0].flags & MBX_EV_F_BATCH_CONT);
	assert_true(e[1].flags & MBX_EV_F_BATCH_CONT);
	assert_true(e[3].flags & MBX_EV_F_BATCH_CONT);
	assert_int_equal(e[4].outcome, MBX_OUT_MISS);
	assert_int_equal(e[5].outcome, MBX_OUT_HIT);
	assert_int_equal(e[5].value_len, 7);
	assert_int_equal(f->ctr.pair_mismatch, 1);
	assert_int_equal(f->ctr.rsp_orphan, 1);
	fx_free(f);
}

static void text_noreply_and_errors(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, T, MBX_OP_SET, "a", 5, Q, 0);
	req(f, 1, 110, T, MBX_OP_GET, "a", 0, 0, 0);
	req(f, 1, 110, T, MBX_OP_GET, "b", 0, BC | BE, 0);
	rsp(f, 1, 120, T, MBX_RSP_CLIENT_ERROR, NULL, 0, 0, 0, 0);
	req(f, 1, 130, T, MBX_OP_UNKNOWN, NULL, 0, 0, 0);
	rsp(f, 1, 140, T, MBX_RSP_ERROR, NULL, 0, 0, 0, 0);
	req(f, 1, 150, T, MBX_OP_GET, "c", 0, BE, 0);
	rsp(f, 1, 160, T, MBX_RSP_STORED, NULL, 0, 0, 0, 0); /* cannot answer a get */
	rsp(f, 1, 170, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 5);
	assert_int_equal(e[0].outcome, MBX_OUT_NOREPLY);
	assert_true(e[0].flags & MBX_EV_F_QUIET);
	assert_int_equal(e[0].latency_ns, MBX_LAT_NONE);
	assert_int_equal(e[1].outcome, MBX_OUT_CLIENT_ERROR);
	assert_int_equal(e[2].outcome, MBX_OUT_CLIENT_ERROR);
	assert_int_equal(e[3].op, MBX_OP_UNKNOWN);
	assert_int_equal(e[3].outcome, MBX_OUT_ERROR);
	assert_int_equal(e[4].outcome, MBX_OUT_MISS);
	assert_int_equal(f->ctr.pair_mismatch, 1);
	fx_free(f);
}

static void text_stats(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, T, MBX_OP_STATS, NULL, 0, 0, 0);
	for (int i = 0; i < 50; i++)
		rsp(f, 1, 200 + (uint64_t)i, T, MBX_RSP_STAT, NULL, 0, 0, 0, 0);
	rsp(f, 1, 300, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	req(f, 1, 400, T, MBX_OP_VERSION, NULL, 0, 0, 0);
	rsp(f, 1, 410, T, MBX_RSP_VERSION, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	assert_int_equal(f->cap.n, 2);
	assert_int_equal(f->cap.ev[0].outcome, MBX_OUT_OK);
	assert_int_equal(f->cap.ev[0].latency_ns, 100);
	assert_int_equal(f->cap.ev[1].outcome, MBX_OUT_OK);
	assert_int_equal(f->ctr.rsp_orphan, 0);
	fx_free(f);
}

static void order_across_connections(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, T, MBX_OP_GET, "slow", 0, BE, 0); /* conn 1 */
	req(f, 2, 200, T, MBX_OP_GET, "fast", 0, BE, 0); /* conn 2 */
	rsp(f, 2, 250, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	assert_int_equal(f->cap.n, 0); /* held behind the pending one */
	assert_int_equal(mbx_pair_pending(f->p), 2);
	rsp(f, 1, 900, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	assert_int_equal(f->cap.n, 2);
	assert_int_equal(f->cap.ev[0].conn_id, 1);
	assert_int_equal(f->cap.ev[0].latency_ns, 800);
	assert_int_equal(f->cap.ev[1].conn_id, 2);
	assert_true(f->cap.ev[0].ts_ns <= f->cap.ev[1].ts_ns);
	fx_free(f);
}

static void timeout_releases_head(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 1000);
	req(f, 1, 100, T, MBX_OP_GET, "lost", 0, BE, 0);
	req(f, 2, 200, T, MBX_OP_GET, "k", 0, BE, 0);
	rsp(f, 2, 250, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	assert_int_equal(f->cap.n, 0);
	req(f, 2, 1200, T, MBX_OP_GET, "k2", 0, BE, 0); /* now - 100 > 1000 */
	mbx_pair_advance(f->p, 1200);
	assert_int_equal(f->cap.n, 2);
	assert_int_equal(f->cap.ev[0].outcome, MBX_OUT_NONE);
	assert_int_equal(f->cap.ev[0].latency_ns, MBX_LAT_NONE);
	assert_int_equal(f->cap.ev[1].outcome, MBX_OUT_MISS);
	assert_int_equal(f->ctr.pair_timeouts, 1);
	assert_int_equal(f->ctr.req_unanswered, 1);
	/* a late reply to the timed-out request is an orphan, the pending k2
	 * is still answered by the next reply on conn 2 */
	rsp(f, 1, 1300, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	assert_int_equal(f->ctr.rsp_orphan, 1);
	rsp(f, 2, 1300, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	assert_int_equal(f->cap.n, 3);
	assert_int_equal(f->cap.ev[2].outcome, MBX_OUT_MISS);
	fx_free(f);
}

static void window_overflow(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 4, 0);
	req(f, 1, 100, T, MBX_OP_GET, "stuck", 0, BE, 0);
	for (int i = 0; i < 6; i++) {
		req(f, 2, 200 + (uint64_t)i * 10, T, MBX_OP_DELETE, "k", 0, 0, 0);
		rsp(f, 2, 205 + (uint64_t)i * 10, T, MBX_RSP_NOT_FOUND, NULL, 0, 0, 0, 0);
	}
	mbx_pair_finish(f->p);
	assert_int_equal(f->cap.n, 7);
	assert_int_equal(f->cap.ev[0].outcome, MBX_OUT_NONE);
	assert_int_equal(f->ctr.pair_overflow, 1);
	for (int i = 1; i < 7; i++) {
		assert_int_equal(f->cap.ev[i].outcome, MBX_OUT_NOT_FOUND);
		assert_true(f->cap.ev[i - 1].ts_ns <= f->cap.ev[i].ts_ns);
	}
	fx_free(f);
}

static void meta_quiet_inference(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	/* mg a q (miss: EN suppressed), mg b q v (hit: VA), ms c q (stored),
	 * md d q (deleted), md e q (not found: NF is sent), ma f q (hit), mn */
	req(f, 1, 100, M, MBX_OP_MG, "a", 0, Q, 0);
	req(f, 1, 100, M, MBX_OP_MG, "b", 0, Q, 0);
	req(f, 1, 100, M, MBX_OP_MS, "c", 9, Q, 0);
	req(f, 1, 100, M, MBX_OP_MD, "d", 0, Q, 0);
	req(f, 1, 100, M, MBX_OP_MD, "e", 0, Q, 0);
	req(f, 1, 100, M, MBX_OP_MA, "f", 0, Q, 0);
	req(f, 1, 100, M, MBX_OP_MN, NULL, 0, 0, 0);
	rsp(f, 1, 130, M, MBX_RSP_VA, "b", 42, 0, 0, 0); /* k flag: key returned */
	rsp(f, 1, 140, M, MBX_RSP_NF, "e", 0, 0, 0, 0); /* NF could be c, d, e or f: k names it */
	rsp(f, 1, 150, M, MBX_RSP_MN, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 7);
	assert_int_equal(e[0].outcome, MBX_OUT_MISS);
	assert_int_equal(e[1].outcome, MBX_OUT_HIT);
	assert_int_equal(e[1].value_len, 42);
	assert_int_equal(e[1].latency_ns, 30);
	assert_int_equal(e[2].outcome, MBX_OUT_STORED);
	assert_int_equal(e[2].value_len, 9);
	assert_int_equal(e[3].outcome, MBX_OUT_DELETED);
	assert_int_equal(e[4].outcome, MBX_OUT_NOT_FOUND);
	assert_int_equal(e[5].outcome, MBX_OUT_HIT);
	assert_int_equal(e[6].op, MBX_OP_MN);
	assert_int_equal(e[6].outcome, MBX_OUT_OK);
	for (int i = 0; i < 6; i++)
		assert_true(e[i].flags & MBX_EV_F_QUIET);
	assert_int_equal(f->ctr.pair_mismatch, 0);
	assert_int_equal(f->ctr.rsp_orphan, 0);
	fx_free(f);
}

/* Without opaque or returned key, a hit for the second of two quiet mg is
 * indistinguishable from a hit for the first: the first quiet request that
 * could have produced the reply takes it. Clients that pipeline quiet gets
 * use k or O (memcached's documentation says so); this pins the rule. */
static void meta_quiet_ambiguous_greedy(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, M, MBX_OP_MG, "a", 0, Q, 0);
	req(f, 1, 100, M, MBX_OP_MG, "b", 0, Q, 0);
	req(f, 1, 100, M, MBX_OP_MN, NULL, 0, 0, 0);
	rsp(f, 1, 130, M, MBX_RSP_VA, NULL, 42, 0, 0, 0);
	rsp(f, 1, 150, M, MBX_RSP_MN, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	assert_int_equal(f->cap.n, 3);
	assert_int_equal(f->cap.ev[0].outcome, MBX_OUT_HIT);
	assert_int_equal(f->cap.ev[1].outcome, MBX_OUT_MISS);
	assert_int_equal(f->cap.ev[2].outcome, MBX_OUT_OK);
	fx_free(f);
}

/* Text and meta share a connection. A text reply after quiet meta requests
 * answers the first text request: the quiet ones before it were silent. */
static void meta_quiet_then_text_multiget(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, M, MBX_OP_MG, "a", 0, Q, 0);
	req(f, 1, 110, T, MBX_OP_GET, "b", 0, 0, 0);
	req(f, 1, 110, T, MBX_OP_GET, "c", 0, BC | BE, 0);
	rsp(f, 1, 150, T, MBX_RSP_VALUE, "c", 10, 0, 0, 0);
	rsp(f, 1, 160, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 3);
	assert_int_equal(e[0].outcome, MBX_OUT_MISS);
	assert_int_equal(e[1].outcome, MBX_OUT_MISS);
	assert_int_equal(e[2].outcome, MBX_OUT_HIT);
	assert_int_equal(e[2].value_len, 10);
	assert_int_equal(e[1].latency_ns, 40);
	assert_int_equal(f->ctr.pair_mismatch, 0);
	assert_int_equal(f->ctr.rsp_orphan, 0);
	fx_free(f);
}

/* A meta reply whose key names the second key of a pending text multi-get
 * (found by fuzz_capture: the match consumed the whole batch, then the
 * connection's queue, and dereferenced its empty head). A text request is
 * never answered by a meta reply: mismatch, orphan, and the text get still
 * takes its own END. */
static void meta_reply_naming_text_batch_key(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, M, MBX_OP_MG, "a", 0, Q, 0);
	req(f, 1, 110, T, MBX_OP_GET, "b", 0, 0, 0);
	req(f, 1, 110, T, MBX_OP_GET, "c", 0, BC | BE, 0);
	rsp(f, 1, 150, M, MBX_RSP_VA, "c", 10, 0, 0, 0);
	rsp(f, 1, 160, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 3);
	assert_int_equal(e[0].outcome, MBX_OUT_MISS);
	assert_int_equal(e[1].outcome, MBX_OUT_MISS);
	assert_int_equal(e[2].outcome, MBX_OUT_MISS);
	assert_int_equal(f->ctr.pair_mismatch, 1);
	assert_int_equal(f->ctr.rsp_orphan, 1);
	fx_free(f);
}

static void meta_opaque_and_key(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	/* an mg without q whose reply was lost: the opaque shows it */
	req(f, 1, 100, M, MBX_OP_MG, "a", 0, O, 11);
	req(f, 1, 100, M, MBX_OP_MG, "b", 0, O, 22);
	rsp(f, 1, 120, M, MBX_RSP_EN, NULL, 0, O, 22, 0);
	/* k flag: key returned */
	req(f, 1, 200, M, MBX_OP_MG, "c", 0, Q, 0);
	req(f, 1, 200, M, MBX_OP_MG, "d", 0, Q, 0);
	rsp(f, 1, 210, M, MBX_RSP_HD, "d", 0, 0, 0, 0);
	req(f, 1, 300, M, MBX_OP_MN, NULL, 0, 0, 0);
	rsp(f, 1, 310, M, MBX_RSP_MN, NULL, 0, 0, 0, 0);
	/* opaque that matches nothing: orphan, nothing popped */
	req(f, 1, 400, M, MBX_OP_MG, "e", 0, O, 5);
	rsp(f, 1, 410, M, MBX_RSP_EN, NULL, 0, O, 6, 0);
	rsp(f, 1, 420, M, MBX_RSP_EN, NULL, 0, O, 5, 0);
	mbx_pair_finish(f->p);
	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 6);
	assert_int_equal(e[0].outcome, MBX_OUT_NONE);
	assert_int_equal(e[1].outcome, MBX_OUT_MISS);
	assert_int_equal(e[2].outcome, MBX_OUT_MISS); /* c: quiet, passed over */
	assert_int_equal(e[3].outcome, MBX_OUT_HIT);  /* d */
	assert_int_equal(e[4].outcome, MBX_OUT_OK);
	assert_int_equal(e[5].outcome, MBX_OUT_MISS);
	assert_int_equal(e[5].latency_ns, 20);
	assert_int_equal(f->ctr.req_unanswered, 1);
	assert_int_equal(f->ctr.rsp_orphan, 1);
	fx_free(f);
}

static void binary_quiet_and_noop(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, B, MBX_OP_GETKQ, "a", 0, Q | O, 1);
	req(f, 1, 100, B, MBX_OP_GETKQ, "b", 0, Q | O, 2);
	req(f, 1, 100, B, MBX_OP_GETKQ, "c", 0, Q | O, 3);
	req(f, 1, 100, B, MBX_OP_NOOP, NULL, 0, O, 4);
	rsp(f, 1, 120, B, MBX_RSP_BIN_OK, "b", 100, O, 2, MBX_OP_GETKQ);
	rsp(f, 1, 130, B, MBX_RSP_BIN_OK, NULL, 0, O, 4, MBX_OP_NOOP);
	/* SETQ that fails is answered; one that succeeds is not */
	req(f, 1, 200, B, MBX_OP_ADDQ, "x", 10, Q | O, 5);
	req(f, 1, 200, B, MBX_OP_SETQ, "y", 10, Q | O, 6);
	req(f, 1, 200, B, MBX_OP_GET, "y", 0, O, 7);
	rsp(f, 1, 210, B, MBX_RSP_NOT_STORED, NULL, 0, O, 5, MBX_OP_ADDQ);
	rsp(f, 1, 220, B, MBX_RSP_BIN_OK, NULL, 10, O, 7, MBX_OP_GET);
	/* CAS is a SET with cas on the wire */
	req(f, 1, 300, B, MBX_OP_CAS, "y", 10, O, 8);
	rsp(f, 1, 310, B, MBX_RSP_EXISTS, NULL, 0, O, 8, MBX_OP_SET);
	mbx_pair_finish(f->p);
	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 8);
	assert_int_equal(e[0].outcome, MBX_OUT_MISS);
	assert_int_equal(e[1].outcome, MBX_OUT_HIT);
	assert_int_equal(e[1].value_len, 100);
	assert_int_equal(e[2].outcome, MBX_OUT_MISS);
	assert_int_equal(e[3].outcome, MBX_OUT_OK);
	assert_int_equal(e[4].outcome, MBX_OUT_NOT_STORED);
	assert_int_equal(e[5].outcome, MBX_OUT_STORED);
	assert_int_equal(e[6].outcome, MBX_OUT_HIT);
	assert_int_equal(e[6].value_len, 10);
	assert_int_equal(e[7].op, MBX_OP_CAS);
	assert_int_equal(e[7].outcome, MBX_OUT_EXISTS);
	for (int i = 0; i < 8; i++)
		assert_int_equal(mbx_ev_proto(&e[i]), MBX_PROTO_BINARY);
	assert_int_equal(f->ctr.rsp_orphan, 0);
	assert_int_equal(f->ctr.pair_mismatch, 0);
	fx_free(f);
}

static void binary_stats(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, B, MBX_OP_STATS, NULL, 0, O, 1);
	for (int i = 0; i < 10; i++)
		rsp(f, 1, 150 + (uint64_t)i, B, MBX_RSP_STAT, NULL, 0, O, 1, MBX_OP_STATS);
	rsp(f, 1, 200, B, MBX_RSP_BIN_OK, NULL, 0, O, 1, MBX_OP_STATS);
	mbx_pair_finish(f->p);
	assert_int_equal(f->cap.n, 1);
	assert_int_equal(f->cap.ev[0].outcome, MBX_OUT_OK);
	assert_int_equal(f->cap.ev[0].latency_ns, 50);
	fx_free(f);
}

static void connections_lifecycle(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	ctl(f, 9, 50, MBX_MSG_OPEN, 0, 0);
	req(f, 9, 100, T, MBX_OP_GET, "a", 0, BE, 0);
	req(f, 9, 110, T, MBX_OP_QUIT, NULL, 0, 0, 0);
	rsp(f, 9, 120, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	ctl(f, 9, 130, MBX_MSG_CLOSE, 1, MBX_CLOSE_FIN); /* server closes: quit answered */
	ctl(f, 9, 131, MBX_MSG_CLOSE, 0, MBX_CLOSE_FIN);
	/* same 5-tuple reused by a new connection */
	ctl(f, 9, 200, MBX_MSG_OPEN, 0, 0);
	req(f, 9, 210, T, MBX_OP_GET, "a", 0, BE, 0);
	req(f, 9, 220, T, MBX_OP_GET, "b", 0, BE, 0);
	ctl(f, 9, 230, MBX_MSG_CLOSE, 0, MBX_CLOSE_RST);
	/* a mid-stream connection seen first through a request */
	req(f, 4, 300, T, MBX_OP_GET, "z", 0, BE, 0);
	rsp(f, 4, 310, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	rsp(f, 5, 320, T, MBX_RSP_END, NULL, 0, 0, 0, 0); /* unknown connection: orphan */
	mbx_pair_finish(f->p);
	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 5);
	assert_int_equal(e[0].conn_id, 1);
	assert_int_equal(e[1].op, MBX_OP_QUIT);
	assert_int_equal(e[1].outcome, MBX_OUT_OK);
	assert_int_equal(e[2].conn_id, 2);
	assert_int_equal(e[2].outcome, MBX_OUT_NONE);
	assert_int_equal(e[3].outcome, MBX_OUT_NONE);
	assert_int_equal(e[4].conn_id, 3);
	assert_int_equal(f->ctr.conns, 3);
	assert_int_equal(f->ctr.req_unanswered, 2);
	assert_int_equal(f->ctr.rsp_orphan, 1);
	fx_free(f);
}

static void response_gap_settles_pending(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, T, MBX_OP_GET, "a", 0, BE, 0);
	req(f, 1, 110, T, MBX_OP_GET, "b", 0, BE, 0);
	ctl(f, 1, 150, MBX_MSG_GAP, 1, 1);
	req(f, 1, 200, T, MBX_OP_GET, "c", 0, BE, 0);
	rsp(f, 1, 210, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	assert_int_equal(f->cap.n, 3);
	assert_int_equal(f->cap.ev[0].outcome, MBX_OUT_NONE);
	assert_int_equal(f->cap.ev[1].outcome, MBX_OUT_NONE);
	assert_int_equal(f->cap.ev[2].outcome, MBX_OUT_MISS);
	assert_int_equal(f->cap.ev[2].latency_ns, 10);
	fx_free(f);
}

/* A client that waits for each reply; one reply lost in the capture. The
 * next reply re-anchors on the newest request sent before it: the lost one
 * is unanswered, nothing after it shifts. */
static void response_gap_one_outstanding(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, T, MBX_OP_SET, "a", 5, 0, 0);
	/* STORED for a lost here */
	req(f, 1, 200, T, MBX_OP_GET, "a", 0, BE, 0);
	ctl(f, 1, 250, MBX_MSG_GAP, 1, 1);
	rsp(f, 1, 250, T, MBX_RSP_VALUE, "a", 5, 0, 0, 0);
	rsp(f, 1, 250, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	req(f, 1, 300, T, MBX_OP_DELETE, "a", 0, 0, 0);
	rsp(f, 1, 320, T, MBX_RSP_DELETED, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	assert_int_equal(f->cap.n, 3);
	assert_int_equal(f->cap.ev[0].outcome, MBX_OUT_NONE);
	assert_int_equal(f->cap.ev[1].outcome, MBX_OUT_HIT);
	assert_int_equal(f->cap.ev[1].latency_ns, 50);
	assert_int_equal(f->cap.ev[2].outcome, MBX_OUT_DELETED);
	assert_int_equal(f->ctr.req_unanswered, 1);
	assert_int_equal(f->ctr.rsp_orphan, 0);
	fx_free(f);
}

/* A request whose event time was clamped (it completed from data held behind
 * a hole) keeps its true time for the latency. */
static void clamped_request_keeps_latency(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 2, 500, T, MBX_OP_GET, "x", 0, BE, 0);
	req(f, 1, 400, T, MBX_OP_GET, "y", 0, BE, 0); /* late: clamped to 500 */
	rsp(f, 1, 450, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	rsp(f, 2, 520, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	assert_int_equal(f->cap.n, 2);
	assert_int_equal(f->cap.ev[1].ts_ns, 500);
	assert_int_equal(f->cap.ev[1].latency_ns, 50);
	assert_int_equal(f->ctr.time_backwards, 1);
	fx_free(f);
}

struct finals {
	uint32_t cookie[16];
	uint64_t flow[16];
	uint8_t outcome[16];
	int n;
};

static void on_final_cb(void *ctx, uint64_t flow, uint32_t cookie, const struct mbx_event *ev)
{
	struct cap *c = ctx;
	struct finals *f = (struct finals *)(void *)&c->ev[MAXEV - 20]; /* scratch at the end */
	f->cookie[f->n] = cookie;
	f->flow[f->n] = flow;
	f->outcome[f->n] = ev->outcome;
	f->n++;
}

/* on_final reports completion order immediately, with the request's cookie,
 * while emit still waits for the older request. */
static void on_final_in_completion_order(void **state)
{
	(void)state;
	struct cap *capt = calloc(1, sizeof(*capt));
	struct mbx_counters ctr = { 0 };
	struct mbx_pair_cfg cfg;
	mbx_pair_cfg_defaults(&cfg);
	cfg.emit = cap_emit;
	cfg.emit_ctx = capt;
	cfg.on_final = on_final_cb;
	cfg.ctr = &ctr;
	struct mbx_pair *p = mbx_pair_create(&cfg);
	struct fx fake = { .p = p };
	struct finals *f = (struct finals *)(void *)&capt->ev[MAXEV - 20];
	struct mbx_msg m = { 0 };
	m.kind = MBX_MSG_REQ; m.flow = 1; m.ts_ns = 100; m.op = MBX_OP_GET; m.flags = BE; m.cookie = 11;
	m.key_hash = 5;
	mbx_pair_input(p, &m);
	m.flow = 2; m.ts_ns = 110; m.cookie = 22;
	mbx_pair_input(p, &m);
	rsp(&fake, 2, 120, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	assert_int_equal(f->n, 1);
	assert_int_equal(f->cookie[0], 22);
	assert_int_equal(f->flow[0], 2);
	assert_int_equal(f->outcome[0], MBX_OUT_MISS);
	assert_int_equal(capt->n, 0); /* in-order output still waits */
	rsp(&fake, 1, 130, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	assert_int_equal(f->n, 2);
	assert_int_equal(f->cookie[1], 11);
	mbx_pair_finish(p);
	assert_int_equal(capt->n, 2);
	mbx_pair_destroy(p);
	free(capt);
}

/* 10,000 requests outstanding at once: the window (starting at 4096 slots)
 * grows while links between pending requests stay valid. */
static void window_grows_with_pending(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 1u << 16, 0);
	for (uint64_t i = 0; i < 10000; i++)
		req(f, 1 + (i % 3), 100 + i, T, MBX_OP_DELETE, "k", 0, 0, 0);
	for (uint64_t i = 0; i < 10000; i++)
		rsp(f, 1 + (i % 3), 20000 + i, T, (i % 2) ? MBX_RSP_DELETED : MBX_RSP_NOT_FOUND, NULL,
		    0, 0, 0, 0);
	mbx_pair_finish(f->p);
	assert_int_equal(f->ctr.pair_overflow, 0);
	assert_int_equal(f->cap.n, 10000);
	for (uint64_t i = 0; i < 10000; i++) {
		assert_int_equal(f->cap.ev[i].outcome, (i % 2) ? MBX_OUT_DELETED : MBX_OUT_NOT_FOUND);
		assert_int_equal(f->cap.ev[i].latency_ns, 20000 - 100);
	}
	fx_free(f);
}

/* A reply that cannot answer the oldest request but fits a later one: the
 * older requests lost their replies (regression: an incr whose reply the
 * parser could not resynchronise to blocked every later pair on the
 * connection, percona capture 003). */
static void stuck_head_does_not_block(void **state)
{
	(void)state;
	struct fx *f = fx_new(0, 0, 0);
	req(f, 1, 100, T, MBX_OP_INCR, "k", 0, 0, 0);
	/* its reply "8" was never parsed */
	req(f, 1, 200, T, MBX_OP_GET, "k", 0, BE, 0);
	rsp(f, 1, 210, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	req(f, 1, 300, T, MBX_OP_SET, "k", 1, 0, 0);
	rsp(f, 1, 310, T, MBX_RSP_STORED, NULL, 0, 0, 0, 0);
	req(f, 1, 400, T, MBX_OP_GET, "k", 0, BE, 0);
	rsp(f, 1, 410, T, MBX_RSP_VALUE, "k", 1, 0, 0, 0);
	rsp(f, 1, 410, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	/* a reply that fits nothing pending is still dropped, nothing settled */
	req(f, 1, 500, T, MBX_OP_GET, "z", 0, BE, 0);
	rsp(f, 1, 505, T, MBX_RSP_DELETED, NULL, 0, 0, 0, 0);
	rsp(f, 1, 510, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 5);
	assert_int_equal(e[0].outcome, MBX_OUT_NONE);
	assert_int_equal(e[1].outcome, MBX_OUT_MISS);
	assert_int_equal(e[1].latency_ns, 10);
	assert_int_equal(e[2].outcome, MBX_OUT_STORED);
	assert_int_equal(e[3].outcome, MBX_OUT_HIT);
	assert_int_equal(e[4].outcome, MBX_OUT_MISS);
	assert_int_equal(f->ctr.req_unanswered, 1);
	assert_int_equal(f->ctr.rsp_orphan, 1);
	fx_free(f);
}

static void conn_table_eviction(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, 0, 0);
	req(f, 1, 100, T, MBX_OP_GET, "a", 0, BE, 0);
	req(f, 2, 110, T, MBX_OP_GET, "a", 0, BE, 0);
	rsp(f, 1, 120, T, MBX_RSP_END, NULL, 0, 0, 0, 0); /* conn 1 most recent */
	req(f, 3, 130, T, MBX_OP_GET, "a", 0, BE, 0);     /* evicts conn 2 (LRU) */
	rsp(f, 3, 140, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	rsp(f, 2, 150, T, MBX_RSP_END, NULL, 0, 0, 0, 0); /* orphan now */
	req(f, 1, 160, T, MBX_OP_GET, "b", 0, BE, 0);     /* conn 1 still known */
	rsp(f, 1, 170, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
	mbx_pair_finish(f->p);
	struct mbx_event *e = f->cap.ev;
	assert_int_equal(f->cap.n, 4);
	assert_int_equal(e[0].conn_id, 1);
	assert_int_equal(e[1].conn_id, 2);
	assert_int_equal(e[1].outcome, MBX_OUT_NONE);
	assert_int_equal(e[2].conn_id, 3);
	assert_int_equal(e[3].conn_id, 1);
	assert_int_equal(e[3].outcome, MBX_OUT_MISS);
	assert_int_equal(f->ctr.conn_table_full, 1);
	assert_int_equal(f->ctr.rsp_orphan, 1);
	fx_free(f);
}

/* Many connections, random interleaving, every request answered: every
 * event must come out once, in ts order, with the right outcome. Exercises
 * the index with deletions (backward shift) and the FIFO wrap. */
static void random_interleaving(void **state)
{
	(void)state;
	struct fx *f = fx_new(128, 1024, 0);
	uint64_t rng = 42;
	uint64_t ts = 1000;
	uint64_t expect_hits = 0, expect_miss = 0;
	unsigned pending[200] = { 0 }; /* outstanding requests per flow */
	unsigned sent = 0;
	for (int step = 0; step < 20000; step++) {
		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		unsigned flow = (unsigned)(rng >> 33) % 100 + 1;
		ts += 1 + (rng >> 60);
		if (pending[flow] && ((rng >> 20) & 1)) {
			bool hit = (rng >> 21) & 1;
			if (hit) {
				rsp(f, flow, ts, T, MBX_RSP_VALUE, "k", 1, 0, 0, 0);
				expect_hits++;
			} else {
				expect_miss++;
			}
			rsp(f, flow, ts, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
			pending[flow]--;
		} else if (pending[flow] < 3 && sent < 900) {
			req(f, flow, ts, T, MBX_OP_GET, "k", 0, BE, 0);
			pending[flow]++;
			sent++;
		}
		if (f->cap.n > 800)
			break;
	}
	for (unsigned fl = 1; fl <= 100; fl++) {
		while (pending[fl]) {
			ts++;
			rsp(f, fl, ts, T, MBX_RSP_END, NULL, 0, 0, 0, 0);
			expect_miss++;
			pending[fl]--;
		}
	}
	mbx_pair_finish(f->p);
	assert_int_equal(f->cap.n, sent);
	uint64_t hits = 0, miss = 0;
	for (size_t i = 0; i < f->cap.n; i++) {
		if (i)
			assert_true(f->cap.ev[i - 1].ts_ns <= f->cap.ev[i].ts_ns);
		hits += f->cap.ev[i].outcome == MBX_OUT_HIT;
		miss += f->cap.ev[i].outcome == MBX_OUT_MISS;
	}
	assert_int_equal(f->ctr.pair_overflow, 0);
	assert_int_equal(hits + miss, sent);
	assert_int_equal(hits, expect_hits);
	assert_int_equal(miss, expect_miss);
	assert_int_equal(f->ctr.req_unanswered, 0);
	assert_int_equal(f->ctr.rsp_orphan, 0);
	assert_int_equal(f->ctr.conns, 100);
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(text_basic),
		cmocka_unit_test(text_multiget),
		cmocka_unit_test(text_noreply_and_errors),
		cmocka_unit_test(text_stats),
		cmocka_unit_test(order_across_connections),
		cmocka_unit_test(timeout_releases_head),
		cmocka_unit_test(window_overflow),
		cmocka_unit_test(meta_quiet_inference),
		cmocka_unit_test(meta_quiet_ambiguous_greedy),
		cmocka_unit_test(meta_quiet_then_text_multiget),
		cmocka_unit_test(meta_reply_naming_text_batch_key),
		cmocka_unit_test(meta_opaque_and_key),
		cmocka_unit_test(binary_quiet_and_noop),
		cmocka_unit_test(binary_stats),
		cmocka_unit_test(connections_lifecycle),
		cmocka_unit_test(response_gap_settles_pending),
		cmocka_unit_test(response_gap_one_outstanding),
		cmocka_unit_test(clamped_request_keeps_latency),
		cmocka_unit_test(on_final_in_completion_order),
		cmocka_unit_test(window_grows_with_pending),
		cmocka_unit_test(stuck_head_does_not_block),
		cmocka_unit_test(conn_table_eviction),
		cmocka_unit_test(random_interleaving),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
