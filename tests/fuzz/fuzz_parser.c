/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the memcache parser of one direction (text, meta, binary), fed in
 * chunks chosen by the input. Built twice: fuzz_response (FUZZ_DIR=1, the
 * server's replies) and fuzz_request (FUZZ_DIR=0).
 *
 * Input:
 *   byte 0     flags: bit 0 mid-stream start (parser begins in resync mode);
 *              bit 1 lose bytes between chunks (mbx_parser_gap); bit 2 a
 *              carry pool of one buffer shared with a second parser that
 *              holds it at times (carry_exhausted paths)
 *   bytes 1-4  seed of the chunking (u32le)
 *   rest       the byte stream
 *
 * Oracles: sanitizers; every message valid (fz_check_msg), of this
 * direction, with a time within the chunks fed, in non-decreasing time
 * order; after mbx_parser_fini the carry buffers are all back in the pool;
 * and chunking does not matter: when the stream parses cleanly in one piece
 * (no parse error, no resync), the chunked parse yields the same messages. */
#include "fuzz_common.h"

#include "mbx/bufpool.h"
#include "mbx/counters.h"
#include "mbx/parser.h"

#ifndef FUZZ_DIR
#define FUZZ_DIR 1
#endif

#define FLOW 0x5eed5eedULL
#define T0 (1000 * MBX_NSEC_PER_SEC)
#define MAX_MSGS 8192

struct run {
	struct mbx_msg msgs[MAX_MSGS];
	size_t n;
	bool overflow;
	uint64_t last_ts; /* of the last message */
	uint64_t now;     /* time of the chunk being fed */
};

static struct run whole, chunked;
static int verbose = -1;

static void collect(void *ctx, const struct mbx_msg *m)
{
	struct run *r = ctx;
	if (verbose)
		fprintf(stderr, "  msg kind %u op %s code %s proto %u flags %#x ts +%llu\n", m->kind,
			mbx_op_name(m->op), mbx_rsp_name(m->code), m->proto, m->flags,
			(unsigned long long)(m->ts_ns - T0));
	fz_check_msg(m);
	FZ_CHECK(m->kind == MBX_MSG_REQ || m->kind == MBX_MSG_RSP, "parser emitted kind %u",
		 m->kind);
	FZ_CHECK(m->dir == FUZZ_DIR, "message of direction %u from a parser of direction %u",
		 m->dir, FUZZ_DIR);
	FZ_CHECK(m->flow == FLOW, "message flow %llx", (unsigned long long)m->flow);
	FZ_CHECK(m->ts_ns >= T0 && m->ts_ns <= r->now, "message time %llu outside [%llu, %llu]",
		 (unsigned long long)m->ts_ns, (unsigned long long)T0,
		 (unsigned long long)r->now);
	FZ_CHECK(m->ts_ns >= r->last_ts, "message time went backwards: %llu after %llu",
		 (unsigned long long)m->ts_ns, (unsigned long long)r->last_ts);
	r->last_ts = m->ts_ns;
	if (r->n == MAX_MSGS) {
		r->overflow = true;
		return;
	}
	r->msgs[r->n++] = *m;
}

/* Messages of the second parser (scarce mode): checked, not kept. */
static void check_only(void *ctx, const struct mbx_msg *m)
{
	(void)ctx;
	fz_check_msg(m);
}

struct env {
	struct mbx_bufpool *pool;
	struct mbx_counters ctr;
	struct mbx_parse_ctx ctx;
	struct mbx_parse_ctx ctx2; /* the second parser's: same pool, own sink */
	uint8_t salt[MBX_SALT_LEN];
};

static void env_init(struct env *e, struct run *r, size_t nbufs)
{
	memset(e, 0, sizeof(*e));
	memset(r, 0, sizeof(*r));
	r->now = T0;
	memset(&e->ctr, 0, sizeof(e->ctr));
	e->pool = mbx_bufpool_create(MBX_PARSER_CARRY_SIZE, nbufs);
	FZ_CHECK(e->pool, "mbx_bufpool_create failed");
	fz_salt(e->salt, 0x42);
	e->ctx.salt = e->salt;
	e->ctx.pool = e->pool;
	e->ctx.ctr = &e->ctr;
	e->ctx.sink.emit = collect;
	e->ctx.sink.ctx = r;
	e->ctx.worker = 1;
	e->ctx2 = e->ctx;
	e->ctx2.sink.emit = check_only;
	e->ctx2.sink.ctx = NULL;
}

static void env_fini(struct env *e)
{
	FZ_CHECK(mbx_bufpool_available(e->pool) == mbx_bufpool_capacity(e->pool),
		 "carry buffers not returned: %zu of %zu available",
		 mbx_bufpool_available(e->pool), mbx_bufpool_capacity(e->pool));
	mbx_bufpool_destroy(e->pool);
}

static bool same_msgs(const struct run *a, const struct run *b, size_t *at)
{
	if (a->n != b->n) {
		*at = MBX_MIN(a->n, b->n);
		return false;
	}
	for (size_t i = 0; i < a->n; i++) {
		struct mbx_msg x = a->msgs[i], y = b->msgs[i];
		x.ts_ns = y.ts_ns = 0;
		if (memcmp(&x, &y, sizeof(x)) != 0) {
			*at = i;
			return false;
		}
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	if (verbose < 0)
		verbose = getenv("MBX_FUZZ_VERBOSE") != NULL;
	uint8_t flags = fz_u8(&in);
	uint64_t seed = fz_u32(&in);
	bool midstream = flags & 1;
	bool gaps = flags & 2;
	bool scarce = flags & 4;
	struct env e;
	struct mbx_parser p, other;
	bool clean = false;
	struct mbx_counters ref_ctr;

	/* 1. the whole stream in one chunk: the reference */
	if (!gaps && !scarce) {
		env_init(&e, &whole, 2);
		mbx_parser_init(&p, FLOW, FUZZ_DIR, !midstream);
		mbx_parser_data(&p, &e.ctx, in.p, in.n, T0);
		mbx_parser_fini(&p, &e.ctx);
		mbx_parser_fini(&p, &e.ctx); /* documented: safe twice */
		ref_ctr = e.ctr;
		clean = !whole.overflow && e.ctr.parse_errors == 0 && e.ctr.resyncs == 0 &&
			e.ctr.carry_exhausted == 0;
		env_fini(&e);
	}

	/* 2. chunked, with gaps and a scarce pool if asked */
	env_init(&e, &chunked, scarce ? 1 : 2);
	mbx_parser_init(&p, FLOW, FUZZ_DIR, !midstream);
	mbx_parser_init(&other, FLOW + 1, FUZZ_DIR, true);
	uint64_t now = T0;
	size_t off = 0;
	while (off < in.n) {
		size_t n = fz_chunk_len(&seed, in.n - off);
		uint64_t r = fz_rand(&seed);
		chunked.now = now;
		if (verbose)
			fprintf(stderr, "%s %zu bytes at +%llu\n",
				gaps && (r & 7) == 0 ? "gap" : "data", n,
				(unsigned long long)(now - T0));
		if (gaps && (r & 7) == 0) {
			/* these n bytes were lost on the wire */
			mbx_parser_gap(&p, &e.ctx, n, now);
		} else {
			mbx_parser_data(&p, &e.ctx, in.p + off, n, now);
		}
		if (scarce && (r & 0x30) == 0) {
			/* another stream takes the only carry buffer for a while:
			 * a partial line holds it until the next call */
#if FUZZ_DIR
			static const uint8_t partial[] = "VALUE abc 0 5";
#else
			static const uint8_t partial[] = "get abc";
#endif
			mbx_parser_data(&other, &e.ctx2, partial, sizeof(partial) - 1, now);
		} else if (scarce) {
			mbx_parser_fini(&other, &e.ctx2);
			mbx_parser_init(&other, FLOW + 1, FUZZ_DIR, true);
		}
		off += n;
		now += 1000 + (r >> 40);
	}
	chunked.now = now;
	if (gaps && (seed & 1))
		mbx_parser_gap(&p, &e.ctx, 1 + (seed >> 8) % 100000, now);
	mbx_parser_fini(&p, &e.ctx);
	mbx_parser_fini(&other, &e.ctx2);
	env_fini(&e);

	/* 3. chunking must not change a clean stream's messages */
	if (clean) {
		size_t at = 0;
		FZ_CHECK(!chunked.overflow, "more messages chunked than whole");
		FZ_CHECK(same_msgs(&whole, &chunked, &at),
			 "chunked parse differs from whole parse at message %zu (whole %zu, chunked %zu messages)",
			 at, whole.n, chunked.n);
		FZ_CHECK(e.ctr.parse_errors == 0 && e.ctr.resyncs == 0,
			 "chunked parse had %llu parse errors, %llu resyncs; whole had none",
			 (unsigned long long)e.ctr.parse_errors, (unsigned long long)e.ctr.resyncs);
		FZ_CHECK(e.ctr.key_too_long == ref_ctr.key_too_long &&
				 e.ctr.line_too_long == ref_ctr.line_too_long,
			 "limit counters differ between chunked and whole parse");
	}
	return 0;
}
