/* SPDX-License-Identifier: Apache-2.0 */
/* Replay requests: an op in a protocol -> exact wire bytes, and the mapping
 * of ops between protocols. The wire format of every op is in one table per
 * protocol; docs/replay.md shows the same tables for people.
 *
 * Encoding writes the request head into the caller's scratch and points the
 * value at the value buffer: no allocation, no system call. The tests feed
 * every encoding to mbx_parser (the independent oracle) and to a live
 * memcached. */
#include <errno.h>
#include <string.h>

#include "mbx/replay_proto.h"

/* What a request carries on the wire, per op and protocol. */
enum rp_shape {
	RP_NO = 0,  /* not sendable in this protocol */
	RP_KEYLESS, /* version, stats, mn, noop */
	RP_KEY,	    /* one key, no value */
	RP_MULTI,   /* text retrieval: 1..MBX_BATCH_MAX keys */
	RP_VALUE,   /* one key and a value */
};

/* ---- text ---- */

enum rp_text_kind { RT_RETR = 1, RT_GAT, RT_STORE, RT_CAS, RT_DEL, RT_ARITH, RT_TOUCH, RT_PLAIN };

struct rp_text_cmd {
	char cmd[8]; /* followed by a space, except RT_PLAIN */
	uint8_t len;
	uint8_t kind;
	uint8_t shape;
};

/* clang-format off */
#define RT(op, s, k, sh) [MBX_OP_##op] = { s, sizeof(s) - 1, RT_##k, RP_##sh }
static const struct rp_text_cmd rp_text[MBX_OP__COUNT] = {
	RT(GET, "get", RETR, MULTI),		RT(GETS, "gets", RETR, MULTI),
	RT(GAT, "gat", GAT, MULTI),		RT(GATS, "gats", GAT, MULTI),
	RT(SET, "set", STORE, VALUE),		RT(ADD, "add", STORE, VALUE),
	RT(REPLACE, "replace", STORE, VALUE),	RT(APPEND, "append", STORE, VALUE),
	RT(PREPEND, "prepend", STORE, VALUE),	RT(CAS, "cas", CAS, VALUE),
	RT(DELETE, "delete", DEL, KEY),		RT(INCR, "incr", ARITH, KEY),
	RT(DECR, "decr", ARITH, KEY),		RT(TOUCH, "touch", TOUCH, KEY),
	RT(VERSION, "version", PLAIN, KEYLESS), RT(STATS, "stats", PLAIN, KEYLESS),
};
#undef RT
/* clang-format on */

/* ---- meta (plus the ASCII keyless commands a meta client also sends) ---- */

/* clang-format off */
static const uint8_t rp_meta_shape[MBX_OP__COUNT] = {
	[MBX_OP_MG] = RP_KEY,	     [MBX_OP_MS] = RP_VALUE,	  [MBX_OP_MD] = RP_KEY,
	[MBX_OP_MA] = RP_KEY,	     [MBX_OP_MN] = RP_KEYLESS,	  [MBX_OP_ME] = RP_KEY,
	[MBX_OP_VERSION] = RP_KEYLESS, [MBX_OP_STATS] = RP_KEYLESS,
};
/* clang-format on */

/* ms mode flag per MBX_MS_* (set and cas use the default mode). */
static const char rp_ms_mode[8][4] = {"", " ME", " MA", " MP", " MR", "", "", ""};

/* ---- binary ---- */

enum rp_bin_ext { RB_NONE = 0, RB_STORE, RB_ARITH, RB_TTL };

struct rp_bin_cmd {
	uint8_t shape;
	uint8_t opc; /* opcode */
	uint8_t qop; /* the quiet op sent when req->quiet (GET -> GETQ), 0: none */
	uint8_t ext; /* enum rp_bin_ext */
	uint8_t cas; /* send MBX_RREQ_CAS_UNIQUE */
};

/* clang-format off */
#define RB(op, o, q, e, sh) [MBX_OP_##op] = { RP_##sh, o, MBX_OP_##q, RB_##e, 0 }
static const struct rp_bin_cmd rp_bin[MBX_OP__COUNT] = {
	RB(GET, 0x00, GETQ, NONE, KEY),	        RB(GETQ, 0x09, NONE, NONE, KEY),
	RB(GETK, 0x0c, GETKQ, NONE, KEY),       RB(GETKQ, 0x0d, NONE, NONE, KEY),
	RB(GAT, 0x1d, GATQ, TTL, KEY),	        RB(GATQ, 0x1e, NONE, TTL, KEY),
	RB(GATK, 0x23, GATKQ, TTL, KEY),        RB(GATKQ, 0x24, NONE, TTL, KEY),
	RB(SET, 0x01, SETQ, STORE, VALUE),      RB(SETQ, 0x11, NONE, STORE, VALUE),
	RB(ADD, 0x02, ADDQ, STORE, VALUE),      RB(ADDQ, 0x12, NONE, STORE, VALUE),
	RB(REPLACE, 0x03, REPLACEQ, STORE, VALUE), RB(REPLACEQ, 0x13, NONE, STORE, VALUE),
	RB(APPEND, 0x0e, APPENDQ, NONE, VALUE), RB(APPENDQ, 0x19, NONE, NONE, VALUE),
	RB(PREPEND, 0x0f, PREPENDQ, NONE, VALUE), RB(PREPENDQ, 0x1a, NONE, NONE, VALUE),
	RB(DELETE, 0x04, DELETEQ, NONE, KEY),   RB(DELETEQ, 0x14, NONE, NONE, KEY),
	RB(INCR, 0x05, INCRQ, ARITH, KEY),      RB(INCRQ, 0x15, NONE, ARITH, KEY),
	RB(DECR, 0x06, DECRQ, ARITH, KEY),      RB(DECRQ, 0x16, NONE, ARITH, KEY),
	RB(TOUCH, 0x1c, NONE, TTL, KEY),        RB(NOOP, 0x0a, NONE, NONE, KEYLESS),
	RB(VERSION, 0x0b, NONE, NONE, KEYLESS), RB(STATS, 0x10, NONE, NONE, KEYLESS),
	/* cas is SET with a cas value */
	[MBX_OP_CAS] = { RP_VALUE, 0x01, MBX_OP_CASQ, RB_STORE, 1 },
	[MBX_OP_CASQ] = { RP_VALUE, 0x11, MBX_OP_NONE, RB_STORE, 1 },
};
#undef RB
/* clang-format on */

#define RP_BIN_HDR 24
/* Binary incr/decr expiration meaning "fail if missing" (text incr and meta
 * ma without N behave that way; replay never creates counters). */
#define RP_BIN_NO_CREATE 0xffffffffu
/* Head bytes beyond the keys (and one separator per key) never exceed this. */
#define RP_HEAD_SLACK 96

static const uint8_t rp_crlf[2] = {'\r', '\n'};

static inline uint8_t *rp_put(uint8_t *p, const void *s, size_t n)
{
	memcpy(p, s, n);
	return p + n;
}

static inline uint8_t *rp_u64(uint8_t *p, uint64_t v)
{
	uint8_t tmp[20];
	unsigned n = 0;

	do {
		tmp[n++] = (uint8_t)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*p++ = tmp[--n];
	return p;
}

/* " <flag><number>" */
static inline uint8_t *rp_flag_u64(uint8_t *p, uint8_t flag, uint64_t v)
{
	p[0] = ' ';
	p[1] = flag;
	return rp_u64(p + 2, v);
}

static inline uint8_t *rp_flag(uint8_t *p, uint8_t flag)
{
	p[0] = ' ';
	p[1] = flag;
	return p + 2;
}

static uint8_t *rp_key(uint8_t *p, const struct mbx_rreq *r, unsigned i)
{
	return rp_put(p, r->keys[i], r->key_lens[i]);
}

static uint8_t *rp_encode_text(const struct mbx_rreq *r, const struct rp_text_cmd *c, uint8_t *p)
{
	p = rp_put(p, c->cmd, c->len);
	if (c->kind == RT_PLAIN)
		return rp_put(p, rp_crlf, 2);
	*p++ = ' ';
	if (c->kind == RT_GAT) {
		p = rp_u64(p, r->exptime);
		*p++ = ' ';
	}
	p = rp_key(p, r, 0);
	switch (c->kind) {
	case RT_RETR:
	case RT_GAT:
		for (unsigned i = 1; i < r->nkeys; i++) {
			*p++ = ' ';
			p = rp_key(p, r, i);
		}
		return rp_put(p, rp_crlf, 2); /* retrievals have no noreply */
	case RT_STORE:
	case RT_CAS:
		p = rp_put(p, " 0 ", 3); /* client flags */
		p = rp_u64(p, r->exptime);
		*p++ = ' ';
		p = rp_u64(p, r->value_len);
		if (c->kind == RT_CAS) {
			*p++ = ' ';
			p = rp_u64(p, MBX_RREQ_CAS_UNIQUE);
		}
		break;
	case RT_ARITH:
		p = rp_put(p, " 1", 2); /* delta */
		break;
	case RT_TOUCH:
		*p++ = ' ';
		p = rp_u64(p, r->exptime);
		break;
	default: /* RT_DEL */
		break;
	}
	if (r->quiet)
		p = rp_put(p, " noreply", 8);
	return rp_put(p, rp_crlf, 2);
}

static uint8_t *rp_encode_meta(const struct mbx_rreq *r, uint8_t *p)
{
	unsigned v = r->variant;

	switch (r->op) {
	case MBX_OP_MN:
		return rp_put(p, "mn\r\n", 4);
	case MBX_OP_VERSION:
		return rp_put(p, "version\r\n", 9);
	case MBX_OP_STATS:
		return rp_put(p, "stats\r\n", 7);
	case MBX_OP_ME:
		p = rp_key(rp_put(p, "me ", 3), r, 0);
		return rp_put(p, rp_crlf, 2); /* me takes no q and no O */
	case MBX_OP_MG:
		p = rp_key(rp_put(p, "mg ", 3), r, 0);
		if (v & MBX_MG_V)
			p = rp_flag(p, 'v');
		if (v & MBX_MG_T)
			p = rp_flag_u64(p, 'T', r->exptime);
		if (v & MBX_MG_K)
			p = rp_flag(p, 'k');
		if (v & MBX_RREQ_MG_C)
			p = rp_flag(p, 'c');
		break;
	case MBX_OP_MS: {
		const char *mode = rp_ms_mode[v & 7];
		p = rp_key(rp_put(p, "ms ", 3), r, 0);
		*p++ = ' ';
		p = rp_u64(p, r->value_len);
		p = rp_put(p, mode, mode[0] ? 3 : 0);
		if ((v & 7) == MBX_MS_CAS)
			p = rp_flag_u64(p, 'C', MBX_RREQ_CAS_UNIQUE);
		if (r->exptime)
			p = rp_flag_u64(p, 'T', r->exptime);
		break;
	}
	case MBX_OP_MD:
		p = rp_key(rp_put(p, "md ", 3), r, 0);
		break;
	default: /* MBX_OP_MA */
		p = rp_key(rp_put(p, "ma ", 3), r, 0);
		if ((v & 7) == MBX_MA_DECR)
			p = rp_put(p, " MD", 3);
		if (v & MBX_RREQ_MA_V)
			p = rp_flag(p, 'v');
		break;
	}
	if (r->quiet)
		p = rp_flag(p, 'q');
	if (r->opaque)
		p = rp_flag_u64(p, 'O', r->opaque);
	return rp_put(p, rp_crlf, 2);
}

static uint8_t *rp_encode_bin(const struct mbx_rreq *r, const struct rp_bin_cmd *c, uint8_t *p)
{
	static const uint8_t extlen[] = {
	    [RB_NONE] = 0, [RB_STORE] = 8, [RB_ARITH] = 20, [RB_TTL] = 4};
	unsigned klen = r->nkeys ? r->key_lens[0] : 0;
	unsigned elen = extlen[c->ext];
	uint32_t vlen = c->shape == RP_VALUE ? r->value_len : 0;
	uint8_t *e = p + RP_BIN_HDR;

	p[0] = 0x80;
	p[1] = r->quiet && c->qop ? rp_bin[c->qop].opc : c->opc;
	mbx_wr16be(p + 2, (uint16_t)klen);
	p[4] = (uint8_t)elen;
	p[5] = 0;	      /* raw bytes */
	mbx_wr16be(p + 6, 0); /* vbucket */
	mbx_wr32be(p + 8, (uint32_t)(elen + klen + vlen));
	mbx_wr32be(p + 12, r->opaque);
	mbx_wr64be(p + 16, c->cas ? MBX_RREQ_CAS_UNIQUE : 0);
	switch (c->ext) {
	case RB_STORE:
		mbx_wr32be(e, 0); /* client flags */
		mbx_wr32be(e + 4, r->exptime);
		break;
	case RB_ARITH:
		mbx_wr64be(e, 1);     /* delta */
		mbx_wr64be(e + 8, 0); /* initial (unused: no create) */
		mbx_wr32be(e + 16, RP_BIN_NO_CREATE);
		break;
	case RB_TTL:
		mbx_wr32be(e, r->exptime);
		break;
	default:
		break;
	}
	e += elen;
	return klen ? rp_key(e, r, 0) : e;
}

int mbx_rreq_encode(const struct mbx_rreq *req, const struct mbx_valbuf *vb, uint8_t *scratch,
		    size_t scratch_len, struct mbx_rreq_wire *out)
{
	const struct rp_text_cmd *tc = NULL;
	const struct rp_bin_cmd *bc = NULL;
	unsigned shape, op = req->op;
	size_t need = RP_HEAD_SLACK;
	uint8_t *end;

	if (op >= MBX_OP__COUNT)
		return -EINVAL;
	switch (req->proto) {
	case MBX_PROTO_TEXT:
		tc = &rp_text[op];
		shape = tc->shape;
		break;
	case MBX_PROTO_META:
		shape = rp_meta_shape[op];
		if ((op == MBX_OP_MS && (req->variant & 7) > MBX_MS_CAS) ||
		    (op == MBX_OP_MA && (req->variant & 7) > MBX_MA_DECR))
			return -EINVAL;
		break;
	case MBX_PROTO_BINARY:
		bc = &rp_bin[op];
		shape = bc->shape;
		break;
	default:
		return -EINVAL;
	}

	switch (shape) {
	case RP_KEYLESS:
		if (req->nkeys != 0)
			return -EINVAL;
		break;
	case RP_KEY:
	case RP_VALUE:
		if (req->nkeys != 1)
			return -EINVAL;
		break;
	case RP_MULTI:
		if (req->nkeys < 1 || req->nkeys > MBX_BATCH_MAX)
			return -EINVAL;
		break;
	default:
		return -EINVAL;
	}
	for (unsigned i = 0; i < req->nkeys; i++) {
		if (!req->keys[i] || req->key_lens[i] == 0 || req->key_lens[i] > MBX_KEY_MAX)
			return -EINVAL;
		need += req->key_lens[i] + 1u;
	}
	if (scratch_len < need)
		return -ENOSPC;

	memset(out, 0, sizeof(*out));
	if (shape == RP_VALUE) {
		/* The binary body length must fit in 32 bits. */
		if (req->value_len > UINT32_MAX - 8 - MBX_KEY_MAX)
			return -EINVAL;
		if (req->value_len) {
			if (!vb)
				return -EINVAL;
			out->value =
			    mbx_valbuf_get(vb, req->value_hash, req->value_len, &out->value_avail);
			out->value_len = req->value_len;
		}
		if (req->proto != MBX_PROTO_BINARY) {
			out->tail = rp_crlf;
			out->tail_len = 2;
		}
	}

	if (tc)
		end = rp_encode_text(req, tc, scratch);
	else if (bc)
		end = rp_encode_bin(req, bc, scratch);
	else
		end = rp_encode_meta(req, scratch);
	out->hdr = scratch;
	out->hdr_len = (size_t)(end - scratch);
	return 0;
}

/* ---- translation ---- */

/* What an op means, independent of the protocol it was recorded in. */
enum rp_kind {
	RK_NONE = 0,
	RK_RETR,
	RK_STORE,
	RK_DEL,
	RK_ARITH,
	RK_TOUCH,
	RK_NOOP,
	RK_VERSION,
	RK_STATS,
	RK_ME
};

struct rp_sem {
	uint8_t kind;
	uint8_t mode;  /* RK_STORE: MBX_MS_*; RK_ARITH: MBX_MA_* */
	uint8_t value; /* RK_RETR: value wanted */
	uint8_t ttl;   /* RK_RETR: touches (gat, mg T) */
	uint8_t key;   /* RK_RETR: key returned (getk, mg k) */
	uint8_t cas;   /* RK_RETR: cas returned (gets, mg c) */
	uint8_t quiet;
};

#define RS(op, k, m, v, t, kk, c, q) [MBX_OP_##op] = {RK_##k, m, v, t, kk, c, q}
/* clang-format off */
static const struct rp_sem rp_sem_of[MBX_OP__COUNT] = {
	RS(GET, RETR, 0, 1, 0, 0, 0, 0),    RS(GETS, RETR, 0, 1, 0, 0, 1, 0),
	RS(GAT, RETR, 0, 1, 1, 0, 0, 0),    RS(GATS, RETR, 0, 1, 1, 0, 1, 0),
	RS(GETQ, RETR, 0, 1, 0, 0, 0, 1),   RS(GETK, RETR, 0, 1, 0, 1, 0, 0),
	RS(GETKQ, RETR, 0, 1, 0, 1, 0, 1),  RS(GATQ, RETR, 0, 1, 1, 0, 0, 1),
	RS(GATK, RETR, 0, 1, 1, 1, 0, 0),   RS(GATKQ, RETR, 0, 1, 1, 1, 0, 1),
	RS(SET, STORE, MBX_MS_SET, 0, 0, 0, 0, 0),
	RS(ADD, STORE, MBX_MS_ADD, 0, 0, 0, 0, 0),
	RS(REPLACE, STORE, MBX_MS_REPLACE, 0, 0, 0, 0, 0),
	RS(APPEND, STORE, MBX_MS_APPEND, 0, 0, 0, 0, 0),
	RS(PREPEND, STORE, MBX_MS_PREPEND, 0, 0, 0, 0, 0),
	RS(CAS, STORE, MBX_MS_CAS, 0, 0, 0, 0, 0),
	RS(SETQ, STORE, MBX_MS_SET, 0, 0, 0, 0, 1),
	RS(ADDQ, STORE, MBX_MS_ADD, 0, 0, 0, 0, 1),
	RS(REPLACEQ, STORE, MBX_MS_REPLACE, 0, 0, 0, 0, 1),
	RS(APPENDQ, STORE, MBX_MS_APPEND, 0, 0, 0, 0, 1),
	RS(PREPENDQ, STORE, MBX_MS_PREPEND, 0, 0, 0, 0, 1),
	RS(CASQ, STORE, MBX_MS_CAS, 0, 0, 0, 0, 1),
	RS(DELETE, DEL, 0, 0, 0, 0, 0, 0),  RS(DELETEQ, DEL, 0, 0, 0, 0, 0, 1),
	RS(INCR, ARITH, MBX_MA_INCR, 0, 0, 0, 0, 0),
	RS(DECR, ARITH, MBX_MA_DECR, 0, 0, 0, 0, 0),
	RS(INCRQ, ARITH, MBX_MA_INCR, 0, 0, 0, 0, 1),
	RS(DECRQ, ARITH, MBX_MA_DECR, 0, 0, 0, 0, 1),
	RS(TOUCH, TOUCH, 0, 0, 0, 0, 0, 0),
	RS(NOOP, NOOP, 0, 0, 0, 0, 0, 0),   RS(MN, NOOP, 0, 0, 0, 0, 0, 0),
	RS(VERSION, VERSION, 0, 0, 0, 0, 0, 0),
	RS(STATS, STATS, 0, 0, 0, 0, 0, 0),
	RS(ME, ME, 0, 0, 0, 0, 0, 0),
	/* the meta ops take mode, flags and quiet from the request */
	RS(MG, RETR, 0, 0, 0, 0, 0, 0),     RS(MS, STORE, 0, 0, 0, 0, 0, 0),
	RS(MD, DEL, 0, 0, 0, 0, 0, 0),      RS(MA, ARITH, 0, 0, 0, 0, 0, 0),
};
/* clang-format on */
#undef RS

static const uint8_t rp_text_store[6] = {
    [MBX_MS_SET] = MBX_OP_SET,	       [MBX_MS_ADD] = MBX_OP_ADD,
    [MBX_MS_APPEND] = MBX_OP_APPEND,   [MBX_MS_PREPEND] = MBX_OP_PREPEND,
    [MBX_MS_REPLACE] = MBX_OP_REPLACE, [MBX_MS_CAS] = MBX_OP_CAS,
};
static const uint8_t rp_bin_store[2][6] = {
    {MBX_OP_SET, MBX_OP_ADD, MBX_OP_APPEND, MBX_OP_PREPEND, MBX_OP_REPLACE, MBX_OP_CAS},
    {MBX_OP_SETQ, MBX_OP_ADDQ, MBX_OP_APPENDQ, MBX_OP_PREPENDQ, MBX_OP_REPLACEQ, MBX_OP_CASQ},
};

/* Can quiet be expressed for op in proto? */
static bool rp_quiet_ok(unsigned op, unsigned proto)
{
	switch (proto) {
	case MBX_PROTO_TEXT:
		return rp_text[op].shape && rp_text[op].kind != RT_RETR &&
		       rp_text[op].kind != RT_GAT && rp_text[op].kind != RT_PLAIN;
	case MBX_PROTO_META:
		return op == MBX_OP_MG || op == MBX_OP_MS || op == MBX_OP_MD || op == MBX_OP_MA;
	default:
		return rp_bin[op].shape && (rp_bin[op].qop || rp_sem_of[op].quiet);
	}
}

static bool rp_sendable(unsigned op, unsigned proto)
{
	switch (proto) {
	case MBX_PROTO_TEXT:
		return rp_text[op].shape != RP_NO;
	case MBX_PROTO_META:
		return rp_meta_shape[op] != RP_NO;
	default:
		return rp_bin[op].shape != RP_NO;
	}
}

unsigned mbx_rreq_translate(unsigned op, unsigned from_proto, unsigned to_proto, uint8_t *variant,
			    uint8_t *quiet)
{
	struct rp_sem s;

	if (op >= MBX_OP__COUNT || to_proto > MBX_PROTO_BINARY || mbx_rreq_skipped_op(op))
		return MBX_OP_NONE;

	if (from_proto == to_proto && rp_sendable(op, to_proto)) {
		/* a quiet binary opcode is quiet whatever the flag says, and a
		 * quiet flag on a loud binary op names its quiet opcode */
		*quiet = rp_sem_of[op].quiet || (*quiet && rp_quiet_ok(op, to_proto));
		if (to_proto == MBX_PROTO_BINARY && *quiet && rp_bin[op].qop)
			return rp_bin[op].qop;
		return op;
	}

	s = rp_sem_of[op];
	if (s.kind == RK_NONE)
		return MBX_OP_NONE;
	switch (op) {
	case MBX_OP_MG:
		s.value = !!(*variant & MBX_MG_V);
		s.ttl = !!(*variant & MBX_MG_T);
		s.key = !!(*variant & MBX_MG_K);
		s.cas = !!(*variant & MBX_RREQ_MG_C);
		break;
	case MBX_OP_MS:
		s.mode = *variant & 7;
		if (s.mode > MBX_MS_CAS)
			return MBX_OP_NONE;
		break;
	case MBX_OP_MA:
		s.mode = *variant & 1;
		break;
	default:
		break;
	}
	/* Quiet from the request (noreply, q) or from the opcode (getq). A text
	 * retrieval cannot be quiet, whatever a parser made of "get k noreply". */
	s.quiet = (s.quiet || *quiet) && !(from_proto == MBX_PROTO_TEXT && s.kind == RK_RETR);

	unsigned to = MBX_OP_NONE;
	uint8_t v = 0, q = 0;
	switch (s.kind) {
	case RK_RETR:
		if (to_proto == MBX_PROTO_META) {
			to = MBX_OP_MG;
			v = (uint8_t)((s.value ? MBX_MG_V : 0) | (s.ttl ? MBX_MG_T : 0) |
				      (s.key ? MBX_MG_K : 0) | (s.cas ? MBX_RREQ_MG_C : 0));
			q = s.quiet;
		} else if (s.ttl && !s.value) {
			/* mg T without v only touches */
			to = MBX_OP_TOUCH;
			q = to_proto == MBX_PROTO_TEXT && s.quiet;
		} else if (to_proto == MBX_PROTO_TEXT) {
			to = s.ttl ? (s.cas ? MBX_OP_GATS : MBX_OP_GAT)
				   : (s.cas ? MBX_OP_GETS : MBX_OP_GET);
		} else {
			to = s.ttl ? (s.quiet ? MBX_OP_GATKQ : MBX_OP_GATK)
				   : (s.quiet ? MBX_OP_GETKQ : MBX_OP_GETK);
			q = s.quiet;
		}
		break;
	case RK_STORE:
		q = s.quiet;
		if (to_proto == MBX_PROTO_META) {
			to = MBX_OP_MS;
			v = s.mode;
		} else if (to_proto == MBX_PROTO_TEXT) {
			to = rp_text_store[s.mode];
		} else {
			to = rp_bin_store[q][s.mode];
		}
		break;
	case RK_DEL:
		q = s.quiet;
		to = to_proto == MBX_PROTO_META		 ? MBX_OP_MD
		     : to_proto == MBX_PROTO_BINARY && q ? MBX_OP_DELETEQ
							 : MBX_OP_DELETE;
		break;
	case RK_ARITH:
		q = s.quiet;
		if (to_proto == MBX_PROTO_META) {
			to = MBX_OP_MA;
			/* text and binary incr return the new value */
			v = (uint8_t)(s.mode | MBX_RREQ_MA_V);
		} else if (to_proto == MBX_PROTO_TEXT) {
			to = s.mode == MBX_MA_DECR ? MBX_OP_DECR : MBX_OP_INCR;
		} else {
			to = s.mode == MBX_MA_DECR ? (q ? MBX_OP_DECRQ : MBX_OP_DECR)
						   : (q ? MBX_OP_INCRQ : MBX_OP_INCR);
		}
		break;
	case RK_TOUCH:
		if (to_proto == MBX_PROTO_META) {
			to = MBX_OP_MG;
			v = MBX_MG_T;
			q = s.quiet;
		} else {
			to = MBX_OP_TOUCH;
			q = to_proto == MBX_PROTO_TEXT && s.quiet; /* binary touch has no quiet */
		}
		break;
	case RK_NOOP:
		to = to_proto == MBX_PROTO_META	    ? MBX_OP_MN
		     : to_proto == MBX_PROTO_BINARY ? MBX_OP_NOOP
						    : MBX_OP_NONE;
		break;
	case RK_VERSION:
		to = MBX_OP_VERSION;
		break;
	case RK_STATS:
		to = MBX_OP_STATS;
		break;
	case RK_ME:
		to = to_proto == MBX_PROTO_META ? MBX_OP_ME : MBX_OP_NONE;
		break;
	default:
		break;
	}
	if (to != MBX_OP_NONE) {
		*variant = v;
		*quiet = q;
	}
	return to;
}

bool mbx_rreq_skipped_op(unsigned op)
{
	switch (op) {
	case MBX_OP_FLUSH_ALL:
	case MBX_OP_FLUSHQ:
	case MBX_OP_QUIT:
	case MBX_OP_QUITQ:
	case MBX_OP_VERBOSITY:
	case MBX_OP_SASL_LIST_MECHS:
	case MBX_OP_SASL_AUTH:
	case MBX_OP_SASL_STEP:
	case MBX_OP_UNKNOWN:
	case MBX_OP_NONE:
		return true;
	default:
		return op >= MBX_OP__COUNT;
	}
}

/* The decimal O token mbx_rreq_encode writes, hashed as the meta parser
 * reports it. */
static uint32_t meta_opaque_hash(const uint8_t salt[MBX_SALT_LEN], uint32_t opaque)
{
	char rev[10], tok[10];
	size_t n = 0;
	do {
		rev[n++] = (char)('0' + opaque % 10);
		opaque /= 10;
	} while (opaque);
	for (size_t i = 0; i < n; i++)
		tok[i] = rev[n - 1 - i];
	return (uint32_t)mbx_siphash(salt, tok, n);
}

uint32_t mbx_rreq_msgs(const struct mbx_rreq *req, const uint8_t salt[MBX_SALT_LEN],
		       struct mbx_msg *out)
{
	uint32_t nk = req->nkeys ? req->nkeys : 1;
	bool opaque = req->proto == MBX_PROTO_BINARY || (req->proto == MBX_PROTO_META && req->quiet);
	/* version and stats go out as text lines on a meta connection: the
	 * reply is text */
	uint8_t rproto = (req->proto == MBX_PROTO_META &&
			  (req->op == MBX_OP_VERSION || req->op == MBX_OP_STATS)) ?
				 (uint8_t)MBX_PROTO_TEXT :
				 req->proto;
	uint32_t ohash = 0;

	if (nk > MBX_BATCH_MAX)
		nk = MBX_BATCH_MAX;
	if (opaque)
		ohash = req->proto == MBX_PROTO_META ? meta_opaque_hash(salt, req->opaque) : req->opaque;
	for (uint32_t k = 0; k < nk; k++) {
		struct mbx_msg *m = &out[k];
		memset(m, 0, sizeof(*m));
		m->kind = MBX_MSG_REQ;
		m->op = req->op;
		m->proto = rproto;
		m->variant = (uint8_t)(req->variant & 7); /* 0x08 is request-only */
		if (req->nkeys) {
			m->key_hash = mbx_siphash(salt, req->keys[k], req->key_lens[k]);
			m->key_len = req->key_lens[k];
		}
		if (mbx_op_class(req->op) == MBX_OPC_STORE)
			m->value_len = req->value_len;
		if (req->quiet)
			m->flags |= MBX_MSG_F_QUIET;
		if (k > 0)
			m->flags |= MBX_MSG_F_BATCH_CONT;
		if (k == nk - 1)
			m->flags |= MBX_MSG_F_BATCH_END;
		if (opaque) {
			m->flags |= MBX_MSG_F_OPAQUE;
			m->opaque = ohash;
		}
	}
	return nk;
}
