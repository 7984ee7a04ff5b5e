/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for the parser tests (test_parser_*.c): a sink that captures
 * messages into an array, a context with its own pool and counters, and
 * builders for binary packets and for streams made of units with known
 * byte ranges. Header-only, every function static. */
#ifndef MBX_PARSER_TEST_UTIL_H
#define MBX_PARSER_TEST_UTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
/* cmocka.h needs the headers above first */
#include <cmocka.h>

#include "mbx/bufpool.h"
#include "mbx/counters.h"
#include "mbx/event.h"
#include "mbx/hash.h"
#include "mbx/msg.h"
#include "mbx/parser.h"

#define T_FLOW	 0x1234abcdULL
#define T_WORKER 3

struct cap {
	struct mbx_msg *v;
	size_t n, cap;
	/* The parsers build messages in place here (sink.slot), as they do in
	 * the live workers' staging array; poisoned once taken, so that a
	 * parser reading its message after emit() gets garbage. */
	struct mbx_msg slot;
	struct mbx_msg *slotp;
};

struct tctx {
	struct mbx_parse_ctx ctx;
	struct mbx_counters *ctr;
	struct mbx_bufpool *pool;
	struct cap cap;
	uint8_t salt[MBX_SALT_LEN];
	struct mbx_parser p;
};

static MBX_UNUSED void cap_emit(void *arg, const struct mbx_msg *m)
{
	struct cap *c = arg;
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = realloc(c->v, c->cap * sizeof(*c->v));
		assert_non_null(c->v);
	}
	c->v[c->n++] = *m;
	if (m == &c->slot)
		memset(&c->slot, 0xa5, sizeof(c->slot));
}

static MBX_UNUSED struct tctx *tctx_new(size_t nbufs)
{
	struct tctx *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->ctr = aligned_alloc(MBX_CACHE_LINE, sizeof(*t->ctr));
	assert_non_null(t->ctr);
	memset(t->ctr, 0, sizeof(*t->ctr));
	t->pool = mbx_bufpool_create(MBX_PARSER_CARRY_SIZE, nbufs);
	assert_non_null(t->pool);
	for (int i = 0; i < MBX_SALT_LEN; i++)
		t->salt[i] = (uint8_t)(0x51 + 7 * i);
	t->ctx.salt = t->salt;
	t->ctx.pool = t->pool;
	t->ctx.ctr = t->ctr;
	t->ctx.sink.emit = cap_emit;
	t->ctx.sink.ctx = &t->cap;
	t->cap.slotp = &t->cap.slot;
	t->ctx.sink.slot = &t->cap.slotp;
	t->ctx.worker = T_WORKER;
	return t;
}

static MBX_UNUSED void tctx_reset(struct tctx *t)
{
	t->cap.n = 0;
	memset(t->ctr, 0, sizeof(*t->ctr));
}

static MBX_UNUSED void tctx_free(struct tctx *t)
{
	if (!t)
		return;
	free(t->cap.v);
	mbx_bufpool_destroy(t->pool);
	free(t->ctr);
	free(t);
}

static MBX_UNUSED uint64_t kh(const struct tctx *t, const void *key, size_t len)
{
	return mbx_siphash(t->salt, key, len);
}

static MBX_UNUSED uint64_t khs(const struct tctx *t, const char *key)
{
	return kh(t, key, strlen(key));
}

static MBX_UNUSED uint32_t oh(const struct tctx *t, const char *tok)
{
	return (uint32_t)mbx_siphash(t->salt, tok, strlen(tok));
}

/* Parse one whole stream (fresh parser, at a boundary, one chunk, fini). */
static MBX_UNUSED void parse_buf(struct tctx *t, unsigned dir, const void *s, size_t n, uint64_t ts)
{
	mbx_parser_init(&t->p, T_FLOW, dir, true);
	mbx_parser_data(&t->p, &t->ctx, s, n, ts);
	mbx_parser_fini(&t->p, &t->ctx);
	assert_int_equal(mbx_bufpool_available(t->pool), mbx_bufpool_capacity(t->pool));
}

static MBX_UNUSED void parse_str(struct tctx *t, unsigned dir, const char *s)
{
	parse_buf(t, dir, s, strlen(s), 1000);
}

/* Common fields every emitted message must carry. */
static MBX_UNUSED void check_common(const struct mbx_msg *m, unsigned kind, unsigned dir)
{
	assert_int_equal(m->kind, kind);
	assert_int_equal(m->dir, dir);
	assert_int_equal(m->flow, T_FLOW);
	assert_int_equal(m->worker, T_WORKER);
}

/* A request: op, proto, key ("" = keyless), flags, value_len. */
static MBX_UNUSED void check_req(const struct tctx *t, size_t i, unsigned op, unsigned proto,
				 const char *key, unsigned flags, uint32_t value_len)
{
	assert_true(i < t->cap.n);
	const struct mbx_msg *m = &t->cap.v[i];
	check_common(m, MBX_MSG_REQ, 0);
	assert_int_equal(m->op, op);
	assert_int_equal(m->proto, proto);
	assert_int_equal(m->flags, flags);
	assert_int_equal(m->value_len, value_len);
	assert_int_equal(m->key_len, strlen(key));
	assert_int_equal(m->key_hash, *key ? khs(t, key) : 0);
}

/* A response: code, proto, flags, value_len, key (NULL: no key). */
static MBX_UNUSED void check_rsp(const struct tctx *t, size_t i, unsigned code, unsigned proto,
				 unsigned flags, uint32_t value_len, const char *key)
{
	assert_true(i < t->cap.n);
	const struct mbx_msg *m = &t->cap.v[i];
	check_common(m, MBX_MSG_RSP, 1);
	assert_int_equal(m->code, code);
	assert_int_equal(m->proto, proto);
	assert_int_equal(m->flags, flags);
	assert_int_equal(m->value_len, value_len);
	if (key) {
		assert_int_equal(m->key_len, strlen(key));
		assert_int_equal(m->key_hash, khs(t, key));
	} else {
		assert_int_equal(m->key_len, 0);
		assert_int_equal(m->key_hash, 0);
	}
}

/* ---- binary packet builder ---- */

struct bbuf {
	uint8_t b[1 << 16];
	size_t n;
};

static MBX_UNUSED void bb_add(struct bbuf *b, const void *s, size_t n)
{
	assert_true(b->n + n <= sizeof(b->b));
	memcpy(b->b + b->n, s, n);
	b->n += n;
}

static MBX_UNUSED void bb_str(struct bbuf *b, const char *s)
{
	bb_add(b, s, strlen(s));
}

/* Append a packet: magic, opcode, status (responses) / vbucket, opaque, cas,
 * extras (extlen bytes of 'e'), key, value. */
static MBX_UNUSED void bb_pkt(struct bbuf *b, uint8_t magic, uint8_t opc, uint16_t status,
			      uint32_t opaque, uint64_t cas, unsigned extlen, const char *key,
			      const void *val, size_t vlen)
{
	uint8_t h[24] = {0};
	size_t klen = key ? strlen(key) : 0;
	h[0] = magic;
	h[1] = opc;
	mbx_wr16be(h + 2, (uint16_t)klen);
	h[4] = (uint8_t)extlen;
	mbx_wr16be(h + 6, status);
	mbx_wr32be(h + 8, (uint32_t)(extlen + klen + vlen));
	mbx_wr32be(h + 12, opaque);
	mbx_wr64be(h + 16, cas);
	bb_add(b, h, 24);
	for (unsigned i = 0; i < extlen; i++)
		bb_add(b, "e", 1);
	if (klen)
		bb_add(b, key, klen);
	if (vlen)
		bb_add(b, val, vlen);
}

static MBX_UNUSED void bb_req(struct bbuf *b, uint8_t opc, uint32_t opaque, unsigned extlen,
			      const char *key, const char *val)
{
	bb_pkt(b, 0x80, opc, 0, opaque, 0, extlen, key, val, val ? strlen(val) : 0);
}

static MBX_UNUSED void bb_rsp(struct bbuf *b, uint8_t opc, uint16_t status, uint32_t opaque,
			      unsigned extlen, const char *key, const char *val)
{
	bb_pkt(b, 0x81, opc, status, opaque, 0, extlen, key, val, val ? strlen(val) : 0);
}

/* ---- streams made of units with known byte ranges and message counts ---- */

#define MAX_UNITS 400
#define MAX_BYTES 8192

struct stream {
	const char *name;
	unsigned dir;
	uint8_t b[MAX_BYTES];
	size_t n;
	unsigned nunits;
	unsigned perr; /* parse errors the stream contains on purpose */
	size_t ustart[MAX_UNITS], uend[MAX_UNITS];
	unsigned unmsg[MAX_UNITS];
};

static MBX_UNUSED void stream_init(struct stream *s, const char *name, unsigned dir)
{
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->dir = dir;
}

static MBX_UNUSED void u_raw(struct stream *s, const void *p, size_t n, unsigned nmsg)
{
	assert_true(s->n + n <= MAX_BYTES && s->nunits < MAX_UNITS);
	memcpy(s->b + s->n, p, n);
	s->ustart[s->nunits] = s->n;
	s->n += n;
	s->uend[s->nunits] = s->n;
	s->unmsg[s->nunits++] = nmsg;
}

static MBX_UNUSED void u(struct stream *s, const char *txt, unsigned nmsg)
{
	u_raw(s, txt, strlen(txt), nmsg);
}

/* "<pre><len><post>\r\n<data>\r\n": a command line with its data block. */
static MBX_UNUSED void u_store(struct stream *s, const char *pre, const char *post,
			       const void *data, size_t dlen)
{
	char line[512];
	static uint8_t buf[MAX_BYTES];
	int n = snprintf(line, sizeof(line), "%s%zu%s\r\n", pre, dlen, post);
	memcpy(buf, line, (size_t)n);
	memcpy(buf + n, data, dlen);
	memcpy(buf + n + dlen, "\r\n", 2);
	u_raw(s, buf, (size_t)n + dlen + 2, 1);
}

static MBX_UNUSED void u_bin(struct stream *s, uint8_t magic, uint8_t opc, uint16_t status,
			     uint64_t cas, unsigned extlen, const char *key, const void *val,
			     size_t vlen)
{
	static struct bbuf bb;
	bb.n = 0;
	bb_pkt(&bb, magic, opc, status, 0x01020304u + s->nunits, cas, extlen, key, val, vlen);
	u_raw(s, bb.b, bb.n, 1);
}

static MBX_UNUSED void u_breq(struct stream *s, uint8_t opc, unsigned extlen, const char *key,
			      const char *val)
{
	u_bin(s, 0x80, opc, 0, 0, extlen, key, val, val ? strlen(val) : 0);
}

static MBX_UNUSED void u_brsp(struct stream *s, uint8_t opc, uint16_t st, unsigned extlen,
			      const char *key, const char *val)
{
	u_bin(s, 0x81, opc, st, 0, extlen, key, val, val ? strlen(val) : 0);
}

#endif
