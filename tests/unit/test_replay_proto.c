/* SPDX-License-Identifier: Apache-2.0 */
/* Replay request encoding and translation (src/replay/encode.c).
 *
 * Oracles, none of them the encoder itself:
 *  - mbx_parser (request direction): every encodable (op, protocol, quiet,
 *    variant, opaque) is encoded, parsed, and the parser must report exactly
 *    that op/proto/key hash/key length/value length/flags/opaque/variant;
 *    the bytes are also fed split at every boundary;
 *  - the tables of sendable ops and quiet siblings below, written from the
 *    protocol documents, not from the encoder's tables;
 *  - a live memcached (skipped when not installed) that must accept every
 *    request and give the scripted outcomes. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "parser_test_util.h"

#include "mbx/replay_proto.h"

static struct tctx *T;
static struct mbx_valbuf *VB; /* 4096 bytes: values above that repeat */
static struct mbx_keygen KG;
static uint8_t scratch[MBX_RREQ_SCRATCH];
static uint8_t wire[1 << 20];

static uint64_t rnd_state = 0x9c2c2d1a0f3b4e5dULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

/* ---- what the protocols allow (from protocol.txt and protocol_binary.h) ---- */

/* clang-format off */
static const uint8_t text_ops[] = {
	MBX_OP_GET,	MBX_OP_GETS,   MBX_OP_GAT,   MBX_OP_GATS,    MBX_OP_SET,     MBX_OP_ADD,
	MBX_OP_REPLACE, MBX_OP_APPEND, MBX_OP_PREPEND, MBX_OP_CAS,    MBX_OP_DELETE, MBX_OP_INCR,
	MBX_OP_DECR,	MBX_OP_TOUCH,  MBX_OP_VERSION, MBX_OP_STATS,
};
/* meta commands, plus the ASCII keyless commands a meta client sends */
static const uint8_t meta_ops[] = { MBX_OP_MG, MBX_OP_MS, MBX_OP_MD,	  MBX_OP_MA,
				    MBX_OP_MN, MBX_OP_ME, MBX_OP_VERSION, MBX_OP_STATS };
static const uint8_t bin_ops[] = {
	MBX_OP_GET,	  MBX_OP_GETQ,	   MBX_OP_GETK,	   MBX_OP_GETKQ,   MBX_OP_GAT,
	MBX_OP_GATQ,	  MBX_OP_GATK,	   MBX_OP_GATKQ,   MBX_OP_SET,	   MBX_OP_SETQ,
	MBX_OP_ADD,	  MBX_OP_ADDQ,	   MBX_OP_REPLACE, MBX_OP_REPLACEQ, MBX_OP_APPEND,
	MBX_OP_APPENDQ,	  MBX_OP_PREPEND,  MBX_OP_PREPENDQ, MBX_OP_CAS,	   MBX_OP_CASQ,
	MBX_OP_DELETE,	  MBX_OP_DELETEQ,  MBX_OP_INCR,	   MBX_OP_INCRQ,   MBX_OP_DECR,
	MBX_OP_DECRQ,	  MBX_OP_TOUCH,	   MBX_OP_NOOP,	   MBX_OP_VERSION, MBX_OP_STATS,
};
/* binary loud opcode -> quiet opcode */
static const uint8_t bin_quiet_pairs[][2] = {
	{ MBX_OP_GET, MBX_OP_GETQ },	     { MBX_OP_GETK, MBX_OP_GETKQ },
	{ MBX_OP_GAT, MBX_OP_GATQ },	     { MBX_OP_GATK, MBX_OP_GATKQ },
	{ MBX_OP_SET, MBX_OP_SETQ },	     { MBX_OP_ADD, MBX_OP_ADDQ },
	{ MBX_OP_REPLACE, MBX_OP_REPLACEQ }, { MBX_OP_APPEND, MBX_OP_APPENDQ },
	{ MBX_OP_PREPEND, MBX_OP_PREPENDQ }, { MBX_OP_CAS, MBX_OP_CASQ },
	{ MBX_OP_DELETE, MBX_OP_DELETEQ },   { MBX_OP_INCR, MBX_OP_INCRQ },
	{ MBX_OP_DECR, MBX_OP_DECRQ },
};

/* clang-format on */

static bool in(unsigned op, const uint8_t *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == op)
			return true;
	return false;
}
#define IN(op, ...) in(op, (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__}))

static bool sendable(unsigned op, unsigned proto)
{
	if (proto == MBX_PROTO_TEXT)
		return in(op, text_ops, sizeof(text_ops));
	if (proto == MBX_PROTO_META)
		return in(op, meta_ops, sizeof(meta_ops));
	return in(op, bin_ops, sizeof(bin_ops));
}

static unsigned bin_quiet_of(unsigned op)
{
	for (size_t i = 0; i < MBX_ARRAY_SIZE(bin_quiet_pairs); i++)
		if (bin_quiet_pairs[i][0] == op)
			return bin_quiet_pairs[i][1];
	return op;
}

static bool bin_is_quiet(unsigned op)
{
	for (size_t i = 0; i < MBX_ARRAY_SIZE(bin_quiet_pairs); i++)
		if (bin_quiet_pairs[i][1] == op)
			return true;
	return false;
}

static bool keyless(unsigned op)
{
	return IN(op, MBX_OP_VERSION, MBX_OP_STATS, MBX_OP_MN, MBX_OP_NOOP);
}

static bool has_value(unsigned op)
{
	return IN(op, MBX_OP_SET, MBX_OP_ADD, MBX_OP_REPLACE, MBX_OP_APPEND, MBX_OP_PREPEND,
		  MBX_OP_CAS, MBX_OP_SETQ, MBX_OP_ADDQ, MBX_OP_REPLACEQ, MBX_OP_APPENDQ,
		  MBX_OP_PREPENDQ, MBX_OP_CASQ, MBX_OP_MS);
}

static bool multi(unsigned op, unsigned proto)
{
	return proto == MBX_PROTO_TEXT && IN(op, MBX_OP_GET, MBX_OP_GETS, MBX_OP_GAT, MBX_OP_GATS);
}

/* ---- building, flattening and parsing requests ---- */

struct req {
	struct mbx_rreq r;
	char keys[MBX_BATCH_MAX][MBX_KEY_MAX];
};

static void req_init(struct req *q, unsigned op, unsigned proto, unsigned nkeys, unsigned klen,
		     uint32_t vlen)
{
	memset(q, 0, sizeof(*q));
	q->r.op = (uint8_t)op;
	q->r.proto = (uint8_t)proto;
	q->r.nkeys = nkeys;
	q->r.value_len = vlen;
	q->r.value_hash = rnd();
	for (unsigned i = 0; i < nkeys; i++) {
		q->r.keys[i] = q->keys[i];
		q->r.key_lens[i] = (uint8_t)mbx_keygen_key(&KG, rnd(), klen, q->keys[i]);
	}
}

/* hdr + value (repeated from the buffer when longer) + tail */
static size_t flatten(const struct mbx_rreq_wire *w, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	assert_true(w->hdr_len + w->value_len + w->tail_len <= cap);
	memcpy(buf, w->hdr, w->hdr_len);
	n = w->hdr_len;
	for (uint32_t left = w->value_len; left;) {
		assert_true(w->value_avail > 0);
		uint32_t c = MBX_MIN(left, w->value_avail);
		memcpy(buf + n, w->value, c);
		n += c;
		left -= c;
	}
	if (w->tail_len)
		memcpy(buf + n, w->tail, w->tail_len);
	return n + w->tail_len;
}

static size_t encode_flat(const struct req *q, uint8_t *buf, size_t cap)
{
	struct mbx_rreq_wire w;
	int rc = mbx_rreq_encode(&q->r, VB, scratch, sizeof(scratch), &w);
	if (rc != 0)
		fail_msg("encode op %s proto %u: %d", mbx_op_name(q->r.op), q->r.proto, rc);
	assert_ptr_equal(w.hdr, scratch);
	return flatten(&w, buf, cap);
}

/* What the parser must report for request q (from the tables above). */
static void check_parsed(const struct req *q, const struct mbx_msg *msgs, size_t n)
{
	const struct mbx_rreq *r = &q->r;
	unsigned op = r->op, proto = r->proto, eop = op, flags = 0, variant = 0;
	unsigned nmsg = r->nkeys ? r->nkeys : 1;
	char otok[16];

	if (proto == MBX_PROTO_BINARY && r->quiet)
		eop = bin_quiet_of(op);
	switch (proto) {
	case MBX_PROTO_TEXT:
		if (r->quiet &&
		    IN(op, MBX_OP_SET, MBX_OP_ADD, MBX_OP_REPLACE, MBX_OP_APPEND, MBX_OP_PREPEND,
		       MBX_OP_CAS, MBX_OP_DELETE, MBX_OP_INCR, MBX_OP_DECR, MBX_OP_TOUCH))
			flags |= MBX_MSG_F_QUIET;
		break;
	case MBX_PROTO_META:
		if (IN(op, MBX_OP_MG, MBX_OP_MS, MBX_OP_MD, MBX_OP_MA)) {
			if (r->quiet)
				flags |= MBX_MSG_F_QUIET;
			if (r->opaque)
				flags |= MBX_MSG_F_OPAQUE;
		}
		if (IN(op, MBX_OP_MG, MBX_OP_MS, MBX_OP_MA))
			variant = r->variant & 7;
		break;
	default:
		flags |= MBX_MSG_F_OPAQUE;
		if (bin_is_quiet(eop))
			flags |= MBX_MSG_F_QUIET;
		break;
	}
	unsigned eproto = proto;
	if (proto == MBX_PROTO_META && IN(op, MBX_OP_VERSION, MBX_OP_STATS))
		eproto = MBX_PROTO_TEXT; /* ASCII keyless commands on a meta connection */

	if (n != nmsg)
		fail_msg("%s/%u: %zu messages, expected %u", mbx_op_name(op), proto, n, nmsg);
	for (unsigned i = 0; i < nmsg; i++) {
		const struct mbx_msg *m = &msgs[i];
		unsigned f = flags;
		if (multi(op, proto)) {
			if (i > 0)
				f |= MBX_MSG_F_BATCH_CONT;
			if (i == nmsg - 1)
				f |= MBX_MSG_F_BATCH_END;
		}
		check_common(m, MBX_MSG_REQ, 0);
		if (m->op != eop)
			fail_msg("%s/%u q%u: parsed op %s", mbx_op_name(op), proto, r->quiet,
				 mbx_op_name(m->op));
		assert_int_equal(m->proto, eproto);
		assert_int_equal(m->flags, f);
		assert_int_equal(m->variant, variant);
		assert_int_equal(m->value_len, has_value(op) ? r->value_len : 0);
		if (r->nkeys) {
			assert_int_equal(m->key_len, r->key_lens[i]);
			assert_int_equal(m->key_hash, kh(T, r->keys[i], r->key_lens[i]));
		} else {
			assert_int_equal(m->key_len, 0);
			assert_int_equal(m->key_hash, 0);
		}
		if (proto == MBX_PROTO_BINARY) {
			assert_int_equal(m->opaque, r->opaque);
		} else if (f & MBX_MSG_F_OPAQUE) {
			snprintf(otok, sizeof(otok), "%u", r->opaque);
			assert_int_equal(m->opaque, oh(T, otok));
		} else {
			assert_int_equal(m->opaque, 0);
		}
	}
}

static void parse_check(const struct req *q, const uint8_t *buf, size_t n)
{
	tctx_reset(T);
	parse_buf(T, 0, buf, n, 1000);
	assert_int_equal(T->ctr->parse_errors, 0);
	assert_int_equal(T->ctr->key_too_long, 0);
	check_parsed(q, T->cap.v, T->cap.n);
}

/* ---- every op in every protocol ---- */

/* One case: returns whether the op was sendable (and then checked). */
static bool encode_case(unsigned op, unsigned proto, unsigned var, unsigned quiet, bool opaque,
			unsigned klen, uint32_t vlen)
{
	struct req q;
	struct mbx_rreq_wire w;

	req_init(&q, op, proto, keyless(op) ? 0 : 1, klen, has_value(op) ? vlen : 0);
	q.r.variant = (uint8_t)var;
	q.r.quiet = (uint8_t)quiet;
	q.r.opaque = opaque ? (uint32_t)rnd() | 1 : 0;
	q.r.exptime = klen == 250 ? 4294967295u : klen * 1000;
	int rc = mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w);
	if (!sendable(op, proto)) {
		assert_int_equal(rc, -EINVAL);
		return false;
	}
	if (rc != 0)
		fail_msg("%s/%u: rc %d", mbx_op_name(op), proto, rc);
	assert_ptr_equal(w.hdr, scratch);
	size_t n = flatten(&w, wire, sizeof(wire));
	parse_check(&q, wire, n);
	return true;
}

/* Variants worth sending for an op: mg flag sets (with c), ms modes, ma
 * directions (with v). */
static unsigned variants(unsigned op, unsigned proto, uint8_t *out)
{
	unsigned n = 0;
	if (proto != MBX_PROTO_META || !IN(op, MBX_OP_MG, MBX_OP_MS, MBX_OP_MA)) {
		out[n++] = 0;
	} else if (op == MBX_OP_MG) {
		for (unsigned v = 0; v < 16; v++)
			out[n++] = (uint8_t)v;
	} else if (op == MBX_OP_MS) {
		for (unsigned v = MBX_MS_SET; v <= MBX_MS_CAS; v++)
			out[n++] = (uint8_t)v;
	} else {
		out[n++] = MBX_MA_INCR;
		out[n++] = MBX_MA_DECR;
		out[n++] = MBX_MA_INCR | MBX_RREQ_MA_V;
		out[n++] = MBX_MA_DECR | MBX_RREQ_MA_V;
	}
	return n;
}

static void encode_every_op(void **state)
{
	(void)state;
	static const uint32_t vlens[] = {0, 1, 100, 4096, 10000};
	static const unsigned klens[] = {1, 11, 30, 250};
	unsigned done = 0, cases = 0;

	for (unsigned proto = 0; proto < 3; proto++) {
		for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
			uint8_t vars[16];
			unsigned nv = variants(op, proto, vars);
			for (unsigned c = 0; c < nv * 2 * 2 * 4; c++) {
				unsigned var = vars[c % nv], quiet = c / nv % 2,
					 opq = c / nv / 2 % 2;
				unsigned ki = c / nv / 4;
				done += encode_case(op, proto, var, quiet, opq, klens[ki],
						    vlens[c % 5]);
				cases++;
			}
		}
	}
	/* 16 text + 8 meta + 30 binary ops, each in 16 cases at least */
	assert_true(done >= (16 + 8 + 30) * 16);
	assert_true(cases > done);
}

static void encode_multi_key_text(void **state)
{
	(void)state;
	static const uint8_t ops[] = {MBX_OP_GET, MBX_OP_GETS, MBX_OP_GAT, MBX_OP_GATS};
	struct req q;
	for (size_t oi = 0; oi < 4; oi++) {
		for (unsigned nk = 1; nk <= MBX_BATCH_MAX; nk++) {
			/* up to 64 keys of 250 bytes: a 16 KB line, streamed by the parser */
			req_init(&q, ops[oi], MBX_PROTO_TEXT, nk, nk % 3 ? 250 : 1 + nk, 0);
			q.r.exptime = nk;
			size_t n = encode_flat(&q, wire, sizeof(wire));
			parse_check(&q, wire, n);
		}
		/* keys of mixed lengths */
		req_init(&q, ops[oi], MBX_PROTO_TEXT, 20, 30, 0);
		for (unsigned i = 0; i < 20; i++)
			q.r.key_lens[i] =
			    (uint8_t)mbx_keygen_key(&KG, rnd(), 1 + i * 13, q.keys[i]);
		size_t n = encode_flat(&q, wire, sizeof(wire));
		parse_check(&q, wire, n);
	}
}

/* Exact bytes for a few requests: what memcached's docs spell out. */
static void encode_exact_bytes(void **state)
{
	(void)state;
	struct mbx_rreq r = {0};
	struct mbx_rreq_wire w;
	const char *k[2] = {"foo", "barbaz"};
	r.keys[0] = k[0];
	r.keys[1] = k[1];
	r.key_lens[0] = 3;
	r.key_lens[1] = 6;

#define EXPECT_HDR(s)                                                                              \
	do {                                                                                       \
		assert_int_equal(mbx_rreq_encode(&r, VB, scratch, sizeof(scratch), &w), 0);        \
		if (w.hdr_len != sizeof(s) - 1 || memcmp(w.hdr, s, sizeof(s) - 1) != 0)            \
			fail_msg("got \"%.*s\", want \"%s\"", (int)w.hdr_len, w.hdr, s);           \
	} while (0)

	r.proto = MBX_PROTO_TEXT;
	r.op = MBX_OP_GAT;
	r.nkeys = 2;
	r.exptime = 60;
	EXPECT_HDR("gat 60 foo barbaz\r\n");
	r.nkeys = 1;
	r.op = MBX_OP_CAS;
	r.value_len = 5;
	r.quiet = 1;
	EXPECT_HDR("cas foo 0 60 5 999999999999999999 noreply\r\n");
	assert_int_equal(w.value_len, 5);
	assert_int_equal(w.tail_len, 2);
	assert_memory_equal(w.tail, "\r\n", 2);
	r.op = MBX_OP_INCR;
	EXPECT_HDR("incr foo 1 noreply\r\n");
	assert_int_equal(w.value_len, 0);
	assert_int_equal(w.tail_len, 0);
	r.op = MBX_OP_TOUCH;
	r.quiet = 0;
	EXPECT_HDR("touch foo 60\r\n");

	r.proto = MBX_PROTO_META;
	r.op = MBX_OP_MG;
	r.variant = MBX_MG_V | MBX_MG_T | MBX_MG_K | MBX_RREQ_MG_C;
	r.quiet = 1;
	r.opaque = 4294967295u;
	EXPECT_HDR("mg foo v T60 k c q O4294967295\r\n");
	r.op = MBX_OP_MS;
	r.variant = MBX_MS_CAS;
	r.opaque = 0;
	r.exptime = 0;
	EXPECT_HDR("ms foo 5 C999999999999999999 q\r\n");
	r.variant = MBX_MS_PREPEND;
	r.quiet = 0;
	r.exptime = 7;
	EXPECT_HDR("ms foo 5 MP T7\r\n");
	r.op = MBX_OP_MA;
	r.variant = MBX_MA_DECR | MBX_RREQ_MA_V;
	EXPECT_HDR("ma foo MD v\r\n");
	r.op = MBX_OP_ME;
	r.opaque = 9;
	EXPECT_HDR("me foo\r\n");

	r.proto = MBX_PROTO_BINARY;
	r.op = MBX_OP_INCR;
	r.quiet = 1;
	r.opaque = 0x01020304;
	static const uint8_t incrq[] = {
	    0x80, 0x15, 0,    3,    20, 0, 0, 0, 0, 0, 0, 23, 1, 2, 3, 4,
	    0,	  0,	0,    0,    0,	0, 0, 0, 0, 0, 0, 0,  0, 0, 0, 1, /* delta 1 */
	    0,	  0,	0,    0,    0,	0, 0, 0,			  /* initial 0 */
	    0xff, 0xff, 0xff, 0xff, /* exptime: do not create */
	    'f',  'o',	'o',
	};
	assert_int_equal(mbx_rreq_encode(&r, VB, scratch, sizeof(scratch), &w), 0);
	assert_int_equal(w.hdr_len, sizeof(incrq));
	assert_memory_equal(w.hdr, incrq, sizeof(incrq));
	r.op = MBX_OP_CAS;
	r.quiet = 0;
	static const uint8_t cas[] = {
	    0x80, 0x01, 0, 3,	 8,    0,    0,	   0,	 0,    0,    0,	   16, 1,
	    2,	  3,	4, 0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x63, 0xff, 0xff, /* 999999999999999999 */
	    0,	  0,	0, 0,	 0,    0,    0,	   7,	 'f',  'o',  'o',
	};
	assert_int_equal(mbx_rreq_encode(&r, VB, scratch, sizeof(scratch), &w), 0);
	assert_int_equal(w.hdr_len, sizeof(cas));
	assert_memory_equal(w.hdr, cas, sizeof(cas));
	assert_int_equal(w.value_len, 5);
	assert_int_equal(w.tail_len, 0);
#undef EXPECT_HDR
}

static void encode_rejects(void **state)
{
	(void)state;
	struct req q;
	struct mbx_rreq_wire w;

	req_init(&q, MBX_OP_GET, MBX_PROTO_BINARY, 2, 10, 0); /* multi-key binary */
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	req_init(&q, MBX_OP_MG, MBX_PROTO_META, 2, 10, 0);
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	req_init(&q, MBX_OP_GET, MBX_PROTO_TEXT, 0, 10, 0); /* no key */
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	req_init(&q, MBX_OP_GET, MBX_PROTO_TEXT, MBX_BATCH_MAX, 10, 0);
	q.r.nkeys = MBX_BATCH_MAX + 1;
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	req_init(&q, MBX_OP_VERSION, MBX_PROTO_TEXT, 1, 10, 0); /* keyless with a key */
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	req_init(&q, MBX_OP_SET, MBX_PROTO_TEXT, 1, 10, 10);
	q.r.key_lens[0] = 0;
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	q.r.key_lens[0] = 251;
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	q.r.key_lens[0] = 10;
	q.r.keys[0] = NULL;
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	req_init(&q, MBX_OP_SET, MBX_PROTO_TEXT, 1, 10, 10);
	assert_int_equal(mbx_rreq_encode(&q.r, NULL, scratch, sizeof(scratch), &w), -EINVAL);
	q.r.value_len = 0; /* an empty value needs no buffer */
	assert_int_equal(mbx_rreq_encode(&q.r, NULL, scratch, sizeof(scratch), &w), 0);
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, 20, &w), -ENOSPC);
	req_init(&q, MBX_OP_MS, MBX_PROTO_META, 1, 10, 10);
	q.r.variant = 6;
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	req_init(&q, MBX_OP_MA, MBX_PROTO_META, 1, 10, 0);
	q.r.variant = 2;
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	req_init(&q, MBX_OP_SET, 3, 1, 10, 0);
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	q.r.proto = MBX_PROTO_TEXT;
	q.r.op = MBX_OP__COUNT;
	assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w), -EINVAL);
	/* skipped ops are not encodable anywhere */
	for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
		if (!mbx_rreq_skipped_op(op))
			continue;
		for (unsigned p = 0; p < 3; p++) {
			req_init(&q, op, p, 0, 10, 0);
			assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w),
					 -EINVAL);
		}
	}
	/* exactly these are skipped */
	static const uint8_t skipped[] = {
	    MBX_OP_NONE,
	    MBX_OP_FLUSH_ALL,
	    MBX_OP_QUIT,
	    MBX_OP_VERBOSITY,
	    MBX_OP_FLUSHQ,
	    MBX_OP_QUITQ,
	    MBX_OP_SASL_LIST_MECHS,
	    MBX_OP_SASL_AUTH,
	    MBX_OP_SASL_STEP,
	    MBX_OP_UNKNOWN,
	};
	for (unsigned op = 0; op < MBX_OP__COUNT + 2; op++)
		assert_int_equal(mbx_rreq_skipped_op(op),
				 op >= MBX_OP__COUNT || in(op, skipped, sizeof(skipped)));
}

/* Feed the bytes in two chunks, cut at every position. */
static void encode_split_everywhere(void **state)
{
	(void)state;
	struct req qs[6];
	req_init(&qs[0], MBX_OP_SET, MBX_PROTO_TEXT, 1, 30, 40);
	qs[0].r.quiet = 1;
	req_init(&qs[1], MBX_OP_GATS, MBX_PROTO_TEXT, 5, 20, 0);
	req_init(&qs[2], MBX_OP_MS, MBX_PROTO_META, 1, 30, 40);
	qs[2].r.variant = MBX_MS_CAS;
	qs[2].r.opaque = 123456;
	req_init(&qs[3], MBX_OP_MG, MBX_PROTO_META, 1, 30, 0);
	qs[3].r.variant = MBX_MG_V | MBX_MG_T | MBX_MG_K;
	qs[3].r.quiet = 1;
	qs[3].r.opaque = 42;
	req_init(&qs[4], MBX_OP_INCR, MBX_PROTO_BINARY, 1, 30, 0);
	qs[4].r.opaque = 0xdeadbeef;
	req_init(&qs[5], MBX_OP_SETQ, MBX_PROTO_BINARY, 1, 30, 40);
	for (size_t i = 0; i < MBX_ARRAY_SIZE(qs); i++) {
		size_t n = encode_flat(&qs[i], wire, sizeof(wire));
		for (size_t cut = 0; cut <= n; cut++) {
			tctx_reset(T);
			mbx_parser_init(&T->p, T_FLOW, 0, true);
			mbx_parser_data(&T->p, &T->ctx, wire, cut, 1000);
			mbx_parser_data(&T->p, &T->ctx, wire + cut, n - cut, 2000);
			mbx_parser_fini(&T->p, &T->ctx);
			assert_int_equal(mbx_bufpool_available(T->pool),
					 mbx_bufpool_capacity(T->pool));
			assert_int_equal(T->ctr->parse_errors, 0);
			check_parsed(&qs[i], T->cap.v, T->cap.n);
		}
	}
	/* and all of them back to back, byte by byte */
	size_t n = 0;
	for (size_t i = 0; i < MBX_ARRAY_SIZE(qs); i++)
		n += encode_flat(&qs[i], wire + n, sizeof(wire) - n);
	tctx_reset(T);
	mbx_parser_init(&T->p, T_FLOW, 0, true);
	for (size_t i = 0; i < n; i++)
		mbx_parser_data(&T->p, &T->ctx, wire + i, 1, 1000 + i);
	mbx_parser_fini(&T->p, &T->ctx);
	assert_int_equal(T->ctr->parse_errors, 0);
	size_t at = 0;
	for (size_t i = 0; i < MBX_ARRAY_SIZE(qs); i++) {
		unsigned nm = qs[i].r.nkeys;
		assert_true(at + nm <= T->cap.n);
		check_parsed(&qs[i], T->cap.v + at, nm);
		at += nm;
	}
	assert_int_equal(at, T->cap.n);
}

/* ---- translation ---- */

struct trow {
	uint8_t from, op, var, q;
	uint8_t to, eop, evar, eq;
};

#define TX   MBX_PROTO_TEXT
#define MT   MBX_PROTO_META
#define BN   MBX_PROTO_BINARY
#define O(x) MBX_OP_##x
#define MG_C MBX_RREQ_MG_C
#define MA_V MBX_RREQ_MA_V

/* clang-format off */
/* The table of docs/replay.md. */
static const struct trow trows[] = {
	{ TX, O(GET), 0, 0, MT, O(MG), MBX_MG_V, 0 },
	{ TX, O(GET), 0, 0, BN, O(GETK), 0, 0 },
	{ TX, O(GET), 0, 1, MT, O(MG), MBX_MG_V, 0 }, /* "get k noreply" is not quiet */
	{ TX, O(GETS), 0, 0, MT, O(MG), MBX_MG_V | MG_C, 0 },
	{ TX, O(GETS), 0, 0, BN, O(GETK), 0, 0 },
	{ TX, O(GAT), 0, 0, MT, O(MG), MBX_MG_V | MBX_MG_T, 0 },
	{ TX, O(GAT), 0, 0, BN, O(GATK), 0, 0 },
	{ TX, O(GATS), 0, 0, MT, O(MG), MBX_MG_V | MBX_MG_T | MG_C, 0 },
	{ TX, O(GATS), 0, 0, BN, O(GATK), 0, 0 },
	{ TX, O(SET), 0, 1, MT, O(MS), MBX_MS_SET, 1 },
	{ TX, O(SET), 0, 1, BN, O(SETQ), 0, 1 },
	{ TX, O(ADD), 0, 0, MT, O(MS), MBX_MS_ADD, 0 },
	{ TX, O(ADD), 0, 0, BN, O(ADD), 0, 0 },
	{ TX, O(REPLACE), 0, 0, MT, O(MS), MBX_MS_REPLACE, 0 },
	{ TX, O(APPEND), 0, 1, BN, O(APPENDQ), 0, 1 },
	{ TX, O(PREPEND), 0, 0, MT, O(MS), MBX_MS_PREPEND, 0 },
	{ TX, O(CAS), 0, 0, MT, O(MS), MBX_MS_CAS, 0 },
	{ TX, O(CAS), 0, 1, BN, O(CASQ), 0, 1 },
	{ TX, O(DELETE), 0, 1, MT, O(MD), 0, 1 },
	{ TX, O(DELETE), 0, 1, BN, O(DELETEQ), 0, 1 },
	{ TX, O(INCR), 0, 0, MT, O(MA), MBX_MA_INCR | MA_V, 0 },
	{ TX, O(INCR), 0, 0, BN, O(INCR), 0, 0 },
	{ TX, O(DECR), 0, 1, MT, O(MA), MBX_MA_DECR | MA_V, 1 },
	{ TX, O(DECR), 0, 1, BN, O(DECRQ), 0, 1 },
	{ TX, O(TOUCH), 0, 0, MT, O(MG), MBX_MG_T, 0 },
	{ TX, O(TOUCH), 0, 1, MT, O(MG), MBX_MG_T, 1 },
	{ TX, O(TOUCH), 0, 1, BN, O(TOUCH), 0, 0 }, /* binary touch has no quiet opcode */
	{ TX, O(VERSION), 0, 0, MT, O(VERSION), 0, 0 },
	{ TX, O(VERSION), 0, 0, BN, O(VERSION), 0, 0 },
	{ TX, O(STATS), 0, 0, MT, O(STATS), 0, 0 },
	{ TX, O(STATS), 0, 0, BN, O(STATS), 0, 0 },
	{ MT, O(MG), MBX_MG_V, 0, TX, O(GET), 0, 0 },
	{ MT, O(MG), MBX_MG_V, 0, BN, O(GETK), 0, 0 },
	{ MT, O(MG), MBX_MG_V | MBX_MG_K, 1, TX, O(GET), 0, 0 },
	{ MT, O(MG), MBX_MG_V | MBX_MG_K, 1, BN, O(GETKQ), 0, 1 },
	{ MT, O(MG), 0, 0, TX, O(GET), 0, 0 },
	{ MT, O(MG), 0, 1, BN, O(GETKQ), 0, 1 },
	{ MT, O(MG), MBX_MG_T, 0, TX, O(TOUCH), 0, 0 },
	{ MT, O(MG), MBX_MG_T, 1, TX, O(TOUCH), 0, 1 },
	{ MT, O(MG), MBX_MG_T | MBX_MG_K, 1, BN, O(TOUCH), 0, 0 },
	{ MT, O(MG), MBX_MG_V | MBX_MG_T, 1, TX, O(GAT), 0, 0 },
	{ MT, O(MG), MBX_MG_V | MBX_MG_T, 1, BN, O(GATKQ), 0, 1 },
	{ MT, O(MG), MBX_MG_V | MG_C, 0, TX, O(GETS), 0, 0 },
	{ MT, O(MS), MBX_MS_SET, 0, TX, O(SET), 0, 0 },
	{ MT, O(MS), MBX_MS_ADD, 1, BN, O(ADDQ), 0, 1 },
	{ MT, O(MS), MBX_MS_APPEND, 0, TX, O(APPEND), 0, 0 },
	{ MT, O(MS), MBX_MS_PREPEND, 1, TX, O(PREPEND), 0, 1 },
	{ MT, O(MS), MBX_MS_PREPEND, 1, BN, O(PREPENDQ), 0, 1 },
	{ MT, O(MS), MBX_MS_REPLACE, 0, BN, O(REPLACE), 0, 0 },
	{ MT, O(MS), MBX_MS_CAS, 0, TX, O(CAS), 0, 0 },
	{ MT, O(MS), MBX_MS_CAS, 0, BN, O(CAS), 0, 0 },
	{ MT, O(MD), 0, 0, TX, O(DELETE), 0, 0 },
	{ MT, O(MD), 0, 1, BN, O(DELETEQ), 0, 1 },
	{ MT, O(MA), MBX_MA_INCR, 0, TX, O(INCR), 0, 0 },
	{ MT, O(MA), MBX_MA_DECR, 1, TX, O(DECR), 0, 1 },
	{ MT, O(MA), MBX_MA_DECR, 1, BN, O(DECRQ), 0, 1 },
	{ MT, O(MN), 0, 0, TX, O(NONE), 0, 0 },
	{ MT, O(MN), 0, 0, BN, O(NOOP), 0, 0 },
	{ MT, O(ME), 0, 0, TX, O(NONE), 0, 0 },
	{ MT, O(ME), 0, 0, BN, O(NONE), 0, 0 },
	{ MT, O(VERSION), 0, 0, BN, O(VERSION), 0, 0 },
	{ BN, O(GET), 0, 0, TX, O(GET), 0, 0 },
	{ BN, O(GET), 0, 0, MT, O(MG), MBX_MG_V, 0 },
	{ BN, O(GETQ), 0, 1, TX, O(GET), 0, 0 },
	{ BN, O(GETQ), 0, 1, MT, O(MG), MBX_MG_V, 1 },
	{ BN, O(GETK), 0, 0, MT, O(MG), MBX_MG_V | MBX_MG_K, 0 },
	{ BN, O(GETKQ), 0, 1, MT, O(MG), MBX_MG_V | MBX_MG_K, 1 },
	{ BN, O(GAT), 0, 0, TX, O(GAT), 0, 0 },
	{ BN, O(GATQ), 0, 1, MT, O(MG), MBX_MG_V | MBX_MG_T, 1 },
	{ BN, O(GATKQ), 0, 1, MT, O(MG), MBX_MG_V | MBX_MG_T | MBX_MG_K, 1 },
	{ BN, O(SETQ), 0, 1, TX, O(SET), 0, 1 },
	{ BN, O(SETQ), 0, 1, MT, O(MS), MBX_MS_SET, 1 },
	{ BN, O(CASQ), 0, 1, TX, O(CAS), 0, 1 },
	{ BN, O(CASQ), 0, 1, MT, O(MS), MBX_MS_CAS, 1 },
	{ BN, O(REPLACEQ), 0, 1, MT, O(MS), MBX_MS_REPLACE, 1 },
	{ BN, O(DELETE), 0, 0, MT, O(MD), 0, 0 },
	{ BN, O(INCRQ), 0, 1, MT, O(MA), MBX_MA_INCR | MA_V, 1 },
	{ BN, O(DECR), 0, 0, TX, O(DECR), 0, 0 },
	{ BN, O(TOUCH), 0, 0, TX, O(TOUCH), 0, 0 },
	{ BN, O(TOUCH), 0, 0, MT, O(MG), MBX_MG_T, 0 },
	{ BN, O(NOOP), 0, 0, TX, O(NONE), 0, 0 },
	{ BN, O(NOOP), 0, 0, MT, O(MN), 0, 0 },
	{ BN, O(STATS), 0, 0, MT, O(STATS), 0, 0 },
	/* same protocol: op and variant kept, quiet normalised */
	{ TX, O(GET), 0, 1, TX, O(GET), 0, 0 },
	{ TX, O(SET), 0, 1, TX, O(SET), 0, 1 },
	{ MT, O(MG), MBX_MG_V | MBX_MG_K | MG_C, 1, MT, O(MG), MBX_MG_V | MBX_MG_K | MG_C, 1 },
	{ MT, O(MN), 0, 1, MT, O(MN), 0, 0 },
	{ BN, O(GET), 0, 0, BN, O(GET), 0, 0 },
	{ BN, O(GETQ), 0, 0, BN, O(GETQ), 0, 1 },
	{ BN, O(GET), 0, 1, BN, O(GETQ), 0, 1 }, /* the op names the opcode sent */
	{ BN, O(CAS), 0, 1, BN, O(CASQ), 0, 1 },
	{ BN, O(TOUCH), 0, 1, BN, O(TOUCH), 0, 0 },
};
/* clang-format on */

static void translate_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < MBX_ARRAY_SIZE(trows); i++) {
		const struct trow *t = &trows[i];
		uint8_t v = t->var, q = t->q;
		unsigned op = mbx_rreq_translate(t->op, t->from, t->to, &v, &q);
		if (op != t->eop || (op != MBX_OP_NONE && (v != t->evar || q != t->eq)))
			fail_msg("row %zu: %s/%u -> %u: got %s v%u q%u, want %s v%u q%u", i,
				 mbx_op_name(t->op), t->from, t->to, mbx_op_name(op), v, q,
				 mbx_op_name(t->eop), t->evar, t->eq);
	}
	/* skipped ops translate to nothing, in every direction */
	for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
		if (!mbx_rreq_skipped_op(op))
			continue;
		for (unsigned f = 0; f < 3; f++)
			for (unsigned to = 0; to < 3; to++) {
				uint8_t v = 0, q = 0;
				assert_int_equal(mbx_rreq_translate(op, f, to, &v, &q),
						 MBX_OP_NONE);
			}
	}
}

/* The meaning of a request, read back from what the parser saw. */
struct sem {
	char kind; /* R etrieve, S tore, D elete, A rith, T ouch, N oop, V ersion, X stats, E me */
	unsigned mode, v, t, k, q;
};

/* clang-format off */
static struct sem sem_of(unsigned op, unsigned variant, unsigned quiet)
{
	struct sem s = { 0, 0, 0, 0, 0, quiet };
	switch (op) {
	case MBX_OP_GET: case MBX_OP_GETS: case MBX_OP_GETQ:
		s.kind = 'R'; s.v = 1; break;
	case MBX_OP_GETK: case MBX_OP_GETKQ:
		s.kind = 'R'; s.v = 1; s.k = 1; break;
	case MBX_OP_GAT: case MBX_OP_GATS: case MBX_OP_GATQ:
		s.kind = 'R'; s.v = 1; s.t = 1; break;
	case MBX_OP_GATK: case MBX_OP_GATKQ:
		s.kind = 'R'; s.v = 1; s.t = 1; s.k = 1; break;
	case MBX_OP_MG:
		s.kind = 'R';
		s.v = !!(variant & MBX_MG_V);
		s.t = !!(variant & MBX_MG_T);
		s.k = !!(variant & MBX_MG_K);
		break;
	case MBX_OP_SET: case MBX_OP_SETQ: s.kind = 'S'; s.mode = MBX_MS_SET; break;
	case MBX_OP_ADD: case MBX_OP_ADDQ: s.kind = 'S'; s.mode = MBX_MS_ADD; break;
	case MBX_OP_REPLACE: case MBX_OP_REPLACEQ: s.kind = 'S'; s.mode = MBX_MS_REPLACE; break;
	case MBX_OP_APPEND: case MBX_OP_APPENDQ: s.kind = 'S'; s.mode = MBX_MS_APPEND; break;
	case MBX_OP_PREPEND: case MBX_OP_PREPENDQ: s.kind = 'S'; s.mode = MBX_MS_PREPEND; break;
	case MBX_OP_CAS: case MBX_OP_CASQ: s.kind = 'S'; s.mode = MBX_MS_CAS; break;
	case MBX_OP_MS: s.kind = 'S'; s.mode = variant & 7; break;
	case MBX_OP_DELETE: case MBX_OP_DELETEQ: case MBX_OP_MD: s.kind = 'D'; break;
	case MBX_OP_INCR: case MBX_OP_INCRQ: s.kind = 'A'; s.mode = MBX_MA_INCR; break;
	case MBX_OP_DECR: case MBX_OP_DECRQ: s.kind = 'A'; s.mode = MBX_MA_DECR; break;
	case MBX_OP_MA: s.kind = 'A'; s.mode = variant & 1; break;
	case MBX_OP_TOUCH: s.kind = 'T'; break;
	case MBX_OP_MN: case MBX_OP_NOOP: s.kind = 'N'; break;
	case MBX_OP_VERSION: s.kind = 'V'; break;
	case MBX_OP_STATS: s.kind = 'X'; break;
	case MBX_OP_ME: s.kind = 'E'; break;
	default: break;
	}
	if (bin_is_quiet(op))
		s.q = 1;
	return s;
}
/* clang-format on */

/* Can protocol `to` say "quiet" for a request of this kind? */
static bool quiet_expressible(char kind, unsigned to)
{
	switch (to) {
	case MBX_PROTO_TEXT:
		return kind == 'S' || kind == 'D' || kind == 'A' || kind == 'T';
	case MBX_PROTO_META:
		return kind == 'R' || kind == 'S' || kind == 'D' || kind == 'A' || kind == 'T';
	default:
		return kind == 'R' || kind == 'S' || kind == 'D' || kind == 'A';
	}
}

/* Translate one case, encode the result, parse it, compare meanings. */
static void translate_case(unsigned from, unsigned op, unsigned var, unsigned quiet, unsigned to)
{
	struct req q;
	uint8_t v = (uint8_t)var, qq = (uint8_t)quiet;
	unsigned top = mbx_rreq_translate(op, from, to, &v, &qq);
	struct sem s = sem_of(op, var, quiet || bin_is_quiet(op));

	if (from == MBX_PROTO_TEXT && s.kind == 'R')
		s.q = 0;
	if (top == MBX_OP_NONE) {
		/* only noop to text and me out of meta have no equivalent */
		if (!((s.kind == 'N' && to == MBX_PROTO_TEXT) ||
		      (s.kind == 'E' && to != MBX_PROTO_META)))
			fail_msg("%s/%u v%u q%u -> %u: none", mbx_op_name(op), from, var, quiet,
				 to);
		return;
	}
	assert_true(sendable(top, to));
	req_init(&q, top, to, keyless(top) ? 0 : 1, 20, has_value(top) ? 33 : 0);
	q.r.variant = v;
	q.r.quiet = qq;
	q.r.opaque = 99;
	size_t n = encode_flat(&q, wire, sizeof(wire));
	parse_check(&q, wire, n);
	const struct mbx_msg *m = &T->cap.v[0];
	struct sem t = sem_of(m->op, m->variant, !!(m->flags & MBX_MSG_F_QUIET));

	char want = s.kind;
	if (to != MBX_PROTO_META && s.kind == 'R' && s.t && !s.v)
		want = 'T'; /* mg T without v only touches */
	if (to == MBX_PROTO_META && s.kind == 'T')
		want = 'R';
	if (t.kind != want)
		fail_msg("%s/%u v%u -> %s/%u: kind %c, want %c", mbx_op_name(op), from, var,
			 mbx_op_name(m->op), to, t.kind, want);
	if (want == 'R') {
		assert_int_equal(t.t, s.kind == 'T' ? 1 : s.t);
		/* text and binary always fetch the value */
		assert_int_equal(t.v, to == MBX_PROTO_META ? s.v : 1);
		if (to == MBX_PROTO_META)
			assert_int_equal(t.k, s.k);
		else if (to == MBX_PROTO_BINARY && from != to)
			assert_int_equal(t.k, 1); /* getk forms */
	}
	if (want == 'S' || want == 'A')
		assert_int_equal(t.mode, s.mode);
	if (quiet_expressible(want, to))
		assert_int_equal(t.q, s.q);
	else
		assert_int_equal(t.q, 0);
}

/* Every sendable op of every protocol, to every protocol. */
static void translate_preserves_meaning(void **state)
{
	(void)state;
	unsigned checked = 0;
	for (unsigned from = 0; from < 3; from++) {
		for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
			if (!sendable(op, from))
				continue;
			uint8_t vars[16];
			unsigned nv = variants(op, from, vars);
			for (unsigned c = 0; c < nv * 2 * 3; c++) {
				translate_case(from, op, vars[c % nv], c / nv % 2, c / nv / 2);
				checked++;
			}
		}
	}
	assert_true(checked > 300);
}

/* text -> meta -> text and binary -> meta -> binary give the op back. */
static void translate_round_trips(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(text_ops); i++) {
		for (unsigned quiet = 0; quiet < 2; quiet++) {
			unsigned op = text_ops[i];
			uint8_t v = 0, q = (uint8_t)quiet;
			unsigned m = mbx_rreq_translate(op, TX, MT, &v, &q);
			unsigned back = mbx_rreq_translate(m, MT, TX, &v, &q);
			assert_int_equal(back, op);
			bool can_q =
			    !IN(op, O(GET), O(GETS), O(GAT), O(GATS), O(VERSION), O(STATS));
			assert_int_equal(q, can_q && quiet);
			v = 0;
			q = (uint8_t)quiet;
			unsigned b = mbx_rreq_translate(op, TX, BN, &v, &q);
			back = mbx_rreq_translate(b, BN, TX, &v, &q);
			/* gets/gats fall back to get/gat: binary always returns the cas */
			assert_int_equal(back, op == O(GETS)   ? O(GET)
					       : op == O(GATS) ? O(GAT)
							       : op);
		}
	}
	for (size_t i = 0; i < sizeof(bin_ops); i++) {
		unsigned op = bin_ops[i];
		uint8_t v = 0, q = bin_is_quiet(op);
		unsigned m = mbx_rreq_translate(op, BN, MT, &v, &q);
		unsigned back = mbx_rreq_translate(m, MT, BN, &v, &q);
		/* get/gat come back as their key-returning forms */
		unsigned want = op == O(GET)	? O(GETK)
				: op == O(GETQ) ? O(GETKQ)
				: op == O(GAT)	? O(GATK)
				: op == O(GATQ) ? O(GATKQ)
						: op;
		assert_int_equal(back, want);
		assert_int_equal(q, bin_is_quiet(want));
	}
}

/* ---- live memcached ---- */

static bool find_memcached(char *path, size_t cap)
{
	const char *env = getenv("PATH");
	char dirs[4096];
	snprintf(dirs, sizeof(dirs), "%s:/usr/bin:/usr/local/bin:/usr/sbin", env ? env : "");
	for (char *save, *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		snprintf(path, cap, "%s/memcached", d);
		if (access(path, X_OK) == 0)
			return true;
	}
	return false;
}

static int free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t al = sizeof(a);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &al), 0);
	close(fd);
	return ntohs(a.sin_port);
}

static int connect_port(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET,
				.sin_port = htons((uint16_t)port),
				.sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

struct live {
	pid_t pid;
	int port;
};

static bool live_start(struct live *l)
{
	char path[512];
	if (!find_memcached(path, sizeof(path)))
		return false;
	for (int attempt = 0; attempt < 3; attempt++) {
		char port[16];
		l->port = free_port();
		snprintf(port, sizeof(port), "%d", l->port);
		l->pid = fork();
		assert_true(l->pid >= 0);
		if (l->pid == 0) {
			/* never outlive the test, even if it crashes */
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			int dn = open("/dev/null", O_WRONLY);
			if (dn >= 0) {
				dup2(dn, 1);
				dup2(dn, 2);
			}
			execl(path, "memcached", "-u", "root", "-l", "127.0.0.1", "-p", port, "-U",
			      "0", "-t", "1", "-m", "64", (char *)NULL);
			_exit(127);
		}
		for (int i = 0; i < 300; i++) { /* up to 3 s */
			int fd = connect_port(l->port);
			if (fd >= 0) {
				close(fd);
				return true;
			}
			if (waitpid(l->pid, NULL, WNOHANG) == l->pid)
				break; /* exited: port taken? try another */
			usleep(10000);
		}
		kill(l->pid, SIGKILL);
		waitpid(l->pid, NULL, 0);
		l->pid = 0;
	}
	fail_msg("memcached did not start");
	return false;
}

static void live_stop(struct live *l)
{
	if (l->pid <= 0)
		return;
	kill(l->pid, SIGTERM);
	for (int i = 0; i < 200; i++) {
		if (waitpid(l->pid, NULL, WNOHANG) == l->pid)
			return;
		usleep(10000);
	}
	kill(l->pid, SIGKILL);
	waitpid(l->pid, NULL, 0);
	l->pid = 0;
}

/* One scripted request and the response codes it must get ("" = none). */
struct step {
	uint8_t op, variant, quiet, key;
	uint32_t vlen;
	const char *expect;
};

enum { K_MAIN, K_MISSING, K_NUM, K_QUIET, K_COUNT };

static size_t split_codes(const char *s, const char **out, size_t cap)
{
	size_t n = 0;
	while (*s) {
		while (*s == ' ')
			s++;
		if (!*s)
			break;
		assert_true(n < cap);
		out[n++] = s;
		while (*s && *s != ' ')
			s++;
	}
	return n;
}

static bool code_is(const char *tok, const char *name)
{
	size_t n = strlen(name);
	return strncmp(tok, name, n) == 0 && (tok[n] == ' ' || tok[n] == 0);
}

static void live_run(int port, unsigned proto, const struct step *steps, size_t nsteps,
		     const uint32_t *opaques)
{
	char keys[K_COUNT][MBX_KEY_MAX];
	uint8_t klens[K_COUNT];
	struct mbx_keygen kg;
	char prefix[32];
	static uint8_t out[1 << 18];
	size_t olen = 0;
	const char *want[512];
	uint32_t want_opaque[512];
	size_t nwant = 0;

	/* fresh keys per run and protocol */
	snprintf(prefix, sizeof(prefix), "t%u-%ld-%u:", proto, (long)getpid(), (unsigned)rnd());
	assert_int_equal(mbx_keygen_init(&kg, prefix), 0);
	for (int k = 0; k < K_COUNT; k++)
		klens[k] = (uint8_t)mbx_keygen_key(&kg, rnd(), 40, keys[k]);

	for (size_t i = 0; i < nsteps; i++) {
		const struct step *s = &steps[i];
		struct mbx_rreq r = {0};
		struct mbx_rreq_wire w;
		r.op = s->op;
		r.proto = (uint8_t)proto;
		r.variant = s->variant;
		r.quiet = s->quiet;
		r.opaque = opaques ? opaques[i] : 0;
		r.value_len = s->vlen;
		r.value_hash = i;
		if (s->key == 0xff) {
			/* multi-key text get of every key */
			r.nkeys = K_COUNT;
			for (int k = 0; k < K_COUNT; k++) {
				r.keys[k] = keys[k];
				r.key_lens[k] = klens[k];
			}
		} else if (!keyless(s->op)) {
			r.nkeys = 1;
			r.keys[0] = keys[s->key];
			r.key_lens[0] = klens[s->key];
		}
		if (mbx_rreq_encode(&r, VB, scratch, sizeof(scratch), &w) != 0)
			fail_msg("step %zu (%s): not encodable", i, mbx_op_name(s->op));
		olen += flatten(&w, out + olen, sizeof(out) - olen);
		const char *toks[16];
		size_t nt = split_codes(s->expect, toks, 16);
		for (size_t t = 0; t < nt; t++) {
			want_opaque[nwant] = r.opaque;
			want[nwant++] = toks[t];
		}
	}

	int fd = connect_port(port);
	assert_true(fd >= 0);
	for (size_t off = 0; off < olen;) {
		ssize_t n = write(fd, out + off, olen - off);
		assert_true(n > 0);
		off += (size_t)n;
	}

	/* read and parse replies until the expected number of non-STAT units arrived */
	struct tctx *R = tctx_new(4);
	mbx_parser_init(&R->p, T_FLOW, 1, true);
	size_t got = 0;
	static uint8_t in[1 << 16];
	double deadline = 3000; /* ms */
	while (got < nwant && deadline > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 50) <= 0) {
			deadline -= 50;
			continue;
		}
		ssize_t n = read(fd, in, sizeof(in));
		if (n <= 0)
			break;
		mbx_parser_data(&R->p, &R->ctx, in, (size_t)n, 1);
		got = 0;
		for (size_t i = 0; i < R->cap.n; i++)
			got += R->cap.v[i].code != MBX_RSP_STAT;
	}
	close(fd);
	mbx_parser_fini(&R->p, &R->ctx);
	assert_int_equal(R->ctr->parse_errors, 0);

	size_t w = 0;
	for (size_t i = 0; i < R->cap.n; i++) {
		const struct mbx_msg *m = &R->cap.v[i];
		if (m->code == MBX_RSP_STAT)
			continue;
		const char *name = mbx_rsp_name(m->code);
		if (w >= nwant)
			fail_msg("proto %u: unexpected extra reply %s", proto, name);
		if (!code_is(want[w], name))
			fail_msg("proto %u: reply %zu is %s (binary status %u), want %.12s", proto,
				 w, name, m->aux, want[w]);
		if (proto == MBX_PROTO_BINARY)
			assert_int_equal(m->opaque, want_opaque[w]);
		else if (m->flags & MBX_MSG_F_OPAQUE) {
			char tok[16];
			snprintf(tok, sizeof(tok), "%u", want_opaque[w]);
			assert_int_equal(m->opaque, oh(R, tok));
		}
		w++;
	}
	if (w != nwant)
		fail_msg("proto %u: %zu replies, want %zu (next: %.12s)", proto, w, nwant, want[w]);
	tctx_free(R);
}

/* clang-format off */
#define S(op, var, q, key, vlen, exp) { MBX_OP_##op, var, q, key, vlen, exp }
#define ALLKEYS 0xff

static const struct step text_script[] = {
	S(GET, 0, 0, K_MAIN, 0, "END"),
	S(SET, 0, 0, K_MAIN, 100, "STORED"),
	S(GET, 0, 0, K_MAIN, 0, "VALUE END"),
	S(GETS, 0, 0, K_MAIN, 0, "VALUE END"),
	S(ADD, 0, 0, K_MAIN, 10, "NOT_STORED"),
	S(REPLACE, 0, 0, K_MAIN, 10, "STORED"),
	S(APPEND, 0, 0, K_MAIN, 10, "STORED"),
	S(PREPEND, 0, 0, K_MAIN, 10, "STORED"),
	S(CAS, 0, 0, K_MAIN, 10, "EXISTS"),
	S(CAS, 0, 0, K_MISSING, 10, "NOT_FOUND"),
	S(TOUCH, 0, 0, K_MAIN, 0, "TOUCHED"),
	S(TOUCH, 0, 0, K_MISSING, 0, "NOT_FOUND"),
	S(GAT, 0, 0, K_MAIN, 0, "VALUE END"),
	S(GATS, 0, 0, K_MAIN, 0, "VALUE END"),
	S(GAT, 0, 0, K_MISSING, 0, "END"),
	S(SET, 0, 0, K_NUM, 5, "STORED"), /* digits: a number */
	S(INCR, 0, 0, K_NUM, 0, "NUMBER"),
	S(DECR, 0, 0, K_NUM, 0, "NUMBER"),
	S(INCR, 0, 0, K_MISSING, 0, "NOT_FOUND"),
	S(INCR, 0, 1, K_NUM, 0, ""),
	S(SET, 0, 1, K_QUIET, 10000, ""), /* larger than the value buffer */
	S(GET, 0, 0, K_QUIET, 0, "VALUE END"),
	S(GET, 0, 0, ALLKEYS, 0, "VALUE VALUE VALUE END"),
	S(DELETE, 0, 0, K_MAIN, 0, "DELETED"),
	S(GET, 0, 0, K_MAIN, 0, "END"),
	S(DELETE, 0, 0, K_MAIN, 0, "NOT_FOUND"),
	S(DELETE, 0, 1, K_QUIET, 0, ""),
	S(ADD, 0, 0, K_MAIN, 10, "STORED"),
	S(ADD, 0, 1, K_MAIN, 10, ""),
	S(REPLACE, 0, 0, K_MISSING, 10, "NOT_STORED"),
	S(APPEND, 0, 0, K_MISSING, 10, "NOT_STORED"),
	S(TOUCH, 0, 1, K_MAIN, 0, ""),
	S(STATS, 0, 0, 0, 0, "END"),
	S(VERSION, 0, 0, 0, 0, "VERSION"),
};

static const struct step meta_script[] = {
	S(MG, MBX_MG_V, 0, K_MAIN, 0, "EN"),
	S(MS, MBX_MS_SET, 0, K_MAIN, 100, "HD"),
	S(MG, MBX_MG_V, 0, K_MAIN, 0, "VA"),
	S(MG, MBX_MG_V | MBX_MG_K, 0, K_MAIN, 0, "VA"),
	S(MG, 0, 0, K_MAIN, 0, "HD"),
	S(MG, MBX_MG_T, 0, K_MAIN, 0, "HD"),
	S(MG, MBX_MG_V | MBX_MG_T | MBX_MG_K | MBX_RREQ_MG_C, 0, K_MAIN, 0, "VA"),
	S(MG, MBX_MG_T, 0, K_MISSING, 0, "EN"),
	S(MS, MBX_MS_ADD, 0, K_MAIN, 10, "NS"),
	S(MS, MBX_MS_REPLACE, 0, K_MAIN, 10, "HD"),
	S(MS, MBX_MS_APPEND, 0, K_MAIN, 10, "HD"),
	S(MS, MBX_MS_PREPEND, 0, K_MAIN, 10, "HD"),
	S(MS, MBX_MS_CAS, 0, K_MAIN, 10, "EX"),
	S(MS, MBX_MS_CAS, 0, K_MISSING, 10, "NF"),
	S(MS, MBX_MS_REPLACE, 0, K_MISSING, 10, "NS"),
	S(MS, MBX_MS_SET, 1, K_QUIET, 10000, ""),
	S(MG, MBX_MG_V, 1, K_QUIET, 0, "VA"),
	S(MG, MBX_MG_V, 1, K_MISSING, 0, ""),
	S(MS, MBX_MS_ADD, 1, K_QUIET, 10, "NS"), /* q hides only success */
	S(MN, 0, 0, 0, 0, "MN"),
	S(MS, MBX_MS_SET, 0, K_NUM, 5, "HD"),
	S(MA, MBX_MA_INCR, 0, K_NUM, 0, "HD"),
	S(MA, MBX_MA_DECR | MBX_RREQ_MA_V, 0, K_NUM, 0, "VA"),
	S(MA, MBX_MA_INCR, 0, K_MISSING, 0, "NF"),
	S(MA, MBX_MA_INCR | MBX_RREQ_MA_V, 1, K_NUM, 0, ""),
	S(MD, 0, 0, K_MAIN, 0, "HD"),
	S(MD, 0, 0, K_MAIN, 0, "NF"),
	S(MD, 0, 1, K_QUIET, 0, ""),
	S(MG, MBX_MG_V, 0, K_QUIET, 0, "EN"),
	S(ME, 0, 0, K_NUM, 0, "ME"),
	S(STATS, 0, 0, 0, 0, "END"),
	S(VERSION, 0, 0, 0, 0, "VERSION"),
	S(MN, 0, 0, 0, 0, "MN"),
};

static const struct step bin_script[] = {
	S(GETK, 0, 0, K_MAIN, 0, "NOT_FOUND"),
	S(GET, 0, 0, K_MAIN, 0, "NOT_FOUND"),
	S(SET, 0, 0, K_MAIN, 100, "BIN_OK"),
	S(GET, 0, 0, K_MAIN, 0, "BIN_OK"),
	S(GETK, 0, 0, K_MAIN, 0, "BIN_OK"),
	S(GETQ, 0, 0, K_MAIN, 0, "BIN_OK"),
	S(GETKQ, 0, 0, K_MISSING, 0, ""),
	S(GET, 0, 1, K_MISSING, 0, ""), /* quiet flag on a loud op: GETQ */
	S(ADD, 0, 0, K_MAIN, 10, "EXISTS"),
	S(REPLACE, 0, 0, K_MAIN, 10, "BIN_OK"),
	S(APPEND, 0, 0, K_MAIN, 10, "BIN_OK"),
	S(PREPEND, 0, 0, K_MAIN, 10, "BIN_OK"),
	S(CAS, 0, 0, K_MAIN, 10, "EXISTS"),
	S(CAS, 0, 0, K_MISSING, 10, "NOT_FOUND"),
	S(REPLACE, 0, 0, K_MISSING, 10, "NOT_FOUND"),
	S(APPEND, 0, 0, K_MISSING, 10, "NOT_STORED"),
	S(SETQ, 0, 0, K_QUIET, 10000, ""),
	S(GETK, 0, 0, K_QUIET, 0, "BIN_OK"),
	S(ADDQ, 0, 0, K_MAIN, 10, "EXISTS"),
	S(REPLACEQ, 0, 0, K_MAIN, 10, ""),
	S(APPENDQ, 0, 0, K_MAIN, 10, ""),
	S(PREPENDQ, 0, 0, K_MAIN, 10, ""),
	S(CASQ, 0, 0, K_MAIN, 10, "EXISTS"),
	S(TOUCH, 0, 0, K_MAIN, 0, "BIN_OK"),
	S(TOUCH, 0, 0, K_MISSING, 0, "NOT_FOUND"),
	S(GAT, 0, 0, K_MAIN, 0, "BIN_OK"),
	S(GATK, 0, 0, K_MAIN, 0, "BIN_OK"),
	S(GATQ, 0, 0, K_MAIN, 0, "BIN_OK"),
	S(GATKQ, 0, 0, K_MISSING, 0, ""),
	S(SET, 0, 0, K_NUM, 5, "BIN_OK"),
	S(INCR, 0, 0, K_NUM, 0, "BIN_OK"),
	S(DECR, 0, 0, K_NUM, 0, "BIN_OK"),
	S(INCR, 0, 0, K_MISSING, 0, "NOT_FOUND"), /* never creates */
	S(INCRQ, 0, 0, K_NUM, 0, ""),
	S(DECRQ, 0, 0, K_NUM, 0, ""),
	S(DELETE, 0, 0, K_MAIN, 0, "BIN_OK"),
	S(DELETE, 0, 0, K_MAIN, 0, "NOT_FOUND"),
	S(DELETEQ, 0, 0, K_QUIET, 0, ""),
	S(GETK, 0, 0, K_QUIET, 0, "NOT_FOUND"),
	S(VERSION, 0, 0, 0, 0, "BIN_OK"),
	S(STATS, 0, 0, 0, 0, "BIN_OK"),
	S(NOOP, 0, 0, 0, 0, "BIN_OK"),
};
#undef S
/* clang-format on */

static struct live LIVE;

static int live_setup(void **state)
{
	(void)state;
	memset(&LIVE, 0, sizeof(LIVE));
	return 0;
}

/* Runs even when the test failed half-way. */
static int live_teardown(void **state)
{
	(void)state;
	live_stop(&LIVE);
	return 0;
}

static void live_memcached(void **state)
{
	(void)state;
	struct live *l = &LIVE;
	if (!live_start(l)) {
		fprintf(stderr, "memcached not installed: live check skipped\n");
		skip();
	}
	uint32_t op_meta[MBX_ARRAY_SIZE(meta_script)], op_bin[MBX_ARRAY_SIZE(bin_script)];
	for (size_t i = 0; i < MBX_ARRAY_SIZE(meta_script); i++)
		op_meta[i] = i % 3 ? (uint32_t)(1000 + i) : 0; /* O on two of three */
	for (size_t i = 0; i < MBX_ARRAY_SIZE(bin_script); i++)
		op_bin[i] = 0x10000 + (uint32_t)i;
	live_run(l->port, MBX_PROTO_TEXT, text_script, MBX_ARRAY_SIZE(text_script), NULL);
	live_run(l->port, MBX_PROTO_META, meta_script, MBX_ARRAY_SIZE(meta_script), op_meta);
	live_run(l->port, MBX_PROTO_BINARY, bin_script, MBX_ARRAY_SIZE(bin_script), op_bin);
}

/* ---- speed (reported, not asserted) ---- */

static void encode_speed(void **state)
{
	(void)state;
	struct req q;
	struct mbx_rreq_wire w;
	enum { N = 1000000 };
	static const struct {
		uint8_t op, proto;
		const char *name;
	} c[] = {
	    {MBX_OP_GET, MBX_PROTO_TEXT, "text get"},
	    {MBX_OP_SET, MBX_PROTO_TEXT, "text set"},
	    {MBX_OP_MG, MBX_PROTO_META, "meta mg v"},
	    {MBX_OP_MS, MBX_PROTO_META, "meta ms"},
	    {MBX_OP_GETK, MBX_PROTO_BINARY, "binary getk"},
	    {MBX_OP_SET, MBX_PROTO_BINARY, "binary set"},
	};
	for (size_t i = 0; i < MBX_ARRAY_SIZE(c); i++) {
		req_init(&q, c[i].op, c[i].proto, 1, 30, has_value(c[i].op) ? 100 : 0);
		q.r.variant = c[i].op == MBX_OP_MG ? MBX_MG_V : 0;
		q.r.opaque = 1234567;
		struct timespec t0, t1;
		uint64_t sink = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (uint32_t j = 0; j < N; j++) {
			q.r.opaque = j;
			q.r.value_hash = j;
			assert_int_equal(mbx_rreq_encode(&q.r, VB, scratch, sizeof(scratch), &w),
					 0);
			sink += w.hdr_len + w.value_avail;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		double ns =
		    ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / N;
		fprintf(stderr, "encode %-12s (30-byte key): %.1f ns/request\n", c[i].name, ns);
		assert_true(sink > 0);
	}
}

static int setup(void **state)
{
	(void)state;
	T = tctx_new(8);
	VB = mbx_valbuf_create(4096);
	assert_non_null(VB);
	assert_int_equal(mbx_keygen_init(&KG, "rp:"), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	tctx_free(T);
	mbx_valbuf_destroy(VB);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(encode_every_op),
	    cmocka_unit_test(encode_multi_key_text),
	    cmocka_unit_test(encode_exact_bytes),
	    cmocka_unit_test(encode_rejects),
	    cmocka_unit_test(encode_split_everywhere),
	    cmocka_unit_test(translate_table),
	    cmocka_unit_test(translate_preserves_meaning),
	    cmocka_unit_test(translate_round_trips),
	    cmocka_unit_test_setup_teardown(live_memcached, live_setup, live_teardown),
	    cmocka_unit_test(encode_speed),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
