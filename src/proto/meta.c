/* SPDX-License-Identifier: Apache-2.0 */
/* Meta protocol lines (memcached >= 1.6):
 *   mg <key> <flag>*            ms <key> <datalen> <flag>* + data block
 *   md <key> <flag>*            ma <key> <flag>*
 *   mn                          me <key> [b]
 * Flags are single letters, some with a token glued on (O<opaque>, T<ttl>,
 * M<mode>, C<cas>, ...). Replies: HD EN NF NS EX MN <flag>*, VA <size>
 * <flag>* + data block, ME <key> <debug text>. We keep q (quiet), O (opaque,
 * hashed), b (base64 key), k/v/T (mg variant), M (ms/ma mode), C (cas). */
#include "proto/proto_internal.h"

#define META_MAX_TOKENS 19 /* memcached: ntokens (incl. the terminal one) <= 20 */
#define META_OPAQUE_MAX 32 /* memcached: O token length limit */

static bool tok_eq(const struct mbx_tok *t, const char *s, size_t n)
{
	return t->len == n && memcmp(t->p, s, n) == 0;
}

static unsigned flag_bit(uint8_t c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return 26u + (c - 'a');
	return 64; /* not a flag */
}

static bool tok_i64(const struct mbx_tok *t, size_t off)
{
	int64_t v;
	return mbx_proto_parse_i64(t->p + off, t->len - off, &v);
}

static bool tok_u64(const struct mbx_tok *t, size_t off)
{
	uint64_t v;
	return mbx_proto_parse_u64(t->p + off, t->len - off, &v);
}

static void decode_key(struct mbx_req_info *r)
{
	int n = mbx_base64_decode(r->key, r->key_len, r->keybuf, sizeof(r->keybuf));
	if (n <= 0) {
		r->valid = false; /* memcached: CLIENT_ERROR error decoding key */
		return;
	}
	r->key = r->keybuf;
	r->key_len = (size_t)n;
}

void mbx_proto_meta_req(const uint8_t *salt, const struct mbx_tok *t, unsigned nt,
			struct mbx_req_info *r)
{
	static const uint8_t ops[26] = {
	    ['g' - 'a'] = MBX_OP_MG, ['s' - 'a'] = MBX_OP_MS, ['d' - 'a'] = MBX_OP_MD,
	    /* cppcheck-suppress duplicateExpression ; indexed by letter - 'a', 'a' too */
	    ['a' - 'a'] = MBX_OP_MA, ['n' - 'a'] = MBX_OP_MN, ['e' - 'a'] = MBX_OP_ME,
	};
	unsigned op = ops[t[0].p[1] - 'a'];
	struct mbx_msg *m = r->m;

	mbx_proto_msg_init(m, MBX_MSG_REQ, op, MBX_PROTO_META);
	r->valid = true;
	r->swallow = false;
	r->counted = true;
	r->key = NULL;
	r->key_len = 0;
	if (op == MBX_OP_MN)
		return;
	if (nt < 2 || nt > MBX_TOK_MAX) {
		r->valid = false;
		return;
	}
	r->key = t[1].p;
	r->key_len = t[1].len;
	if (t[1].len > MBX_PARSER_KEY_MAX) {
		r->valid = false; /* checked before anything else, no data swallowed */
		r->counted = false;
		return;
	}
	if (op == MBX_OP_ME) {
		if (nt >= 3 && tok_eq(&t[2], "b", 1))
			decode_key(r);
		return;
	}
	if (nt > META_MAX_TOKENS) {
		r->valid = false;
		return;
	}

	unsigned first = 2;
	if (op == MBX_OP_MS) {
		int64_t v;
		if (nt < 3 || !mbx_proto_parse_i64(t[2].p, t[2].len, &v) || v < 0 ||
		    v > INT32_MAX - 2 || v > (int64_t)MBX_PARSER_MAX_VALUE) {
			r->valid = false;
			return;
		}
		/* From here on memcached swallows the data block even on errors. */
		m->value_len = (uint32_t)v;
		r->swallow = true;
		first = 3;
	}

	uint64_t seen = 0;
	uint8_t mode = 0;
	bool has_cas = false, b64 = false;
	for (unsigned i = first; i < nt; i++) {
		uint8_t c = t[i].p[0];
		unsigned bit = flag_bit(c);
		if (bit == 64 || (seen >> bit & 1)) {
			r->valid = false; /* invalid or duplicate flag */
			continue;
		}
		seen |= 1ull << bit;
		switch (c) {
		case 'q':
			m->flags |= MBX_MSG_F_QUIET;
			break;
		case 'O':
			m->flags |= MBX_MSG_F_OPAQUE;
			if (salt)
				m->opaque = mbx_proto_opaque(salt, t[i].p + 1, t[i].len - 1);
			if (t[i].len > META_OPAQUE_MAX)
				r->valid = false;
			break;
		case 'b':
			b64 = true;
			break;
		case 'k':
			if (op == MBX_OP_MG)
				m->variant |= MBX_MG_K;
			break;
		case 'v':
			if (op == MBX_OP_MG)
				m->variant |= MBX_MG_V;
			break;
		case 'T':
			if (op == MBX_OP_MG)
				m->variant |= MBX_MG_T;
			/* fall through */
		case 'N':
		case 'R':
			if (!tok_i64(&t[i], 1))
				r->valid = false;
			break;
		case 'C':
			has_cas = true;
			/* fall through */
		case 'F':
		case 'D':
		case 'J':
			if (!tok_u64(&t[i], 1))
				r->valid = false;
			break;
		case 'M':
			if (t[i].len != 2)
				r->valid = false;
			else
				mode = t[i].p[1];
			break;
		default:
			break;
		}
	}

	if (op == MBX_OP_MS) {
		switch (mode) {
		case 0:
		case 'S':
		case 's':
			m->variant = MBX_MS_SET;
			break;
		case 'E':
		case 'e':
			m->variant = MBX_MS_ADD;
			break;
		case 'A':
		case 'a':
			m->variant = MBX_MS_APPEND;
			break;
		case 'P':
		case 'p':
			m->variant = MBX_MS_PREPEND;
			break;
		case 'R':
		case 'r':
			m->variant = MBX_MS_REPLACE;
			break;
		default:
			r->valid = false;
			break;
		}
		/* As memcached: a CAS value turns set and replace into a CAS. */
		if (has_cas && (m->variant == MBX_MS_SET || m->variant == MBX_MS_REPLACE))
			m->variant = MBX_MS_CAS;
	} else if (op == MBX_OP_MA) {
		switch (mode) {
		case 0:
		case 'I':
		case 'i':
		case '+':
			m->variant = MBX_MA_INCR;
			break;
		case 'D':
		case 'd':
		case '-':
			m->variant = MBX_MA_DECR;
			break;
		default:
			r->valid = false;
			break;
		}
	}
	if (b64)
		decode_key(r);
}

unsigned mbx_proto_meta_rsp_code(const struct mbx_tok *t0)
{
	if (t0->len != 2)
		return MBX_RSP_NONE;
	switch (t0->p[0] << 8 | t0->p[1]) {
	case 'H' << 8 | 'D':
		return MBX_RSP_HD;
	case 'V' << 8 | 'A':
		return MBX_RSP_VA;
	case 'E' << 8 | 'N':
		return MBX_RSP_EN;
	case 'N' << 8 | 'F':
		return MBX_RSP_NF;
	case 'N' << 8 | 'S':
		return MBX_RSP_NS;
	case 'E' << 8 | 'X':
		return MBX_RSP_EX;
	case 'M' << 8 | 'N':
		return MBX_RSP_MN;
	case 'M' << 8 | 'E':
		return MBX_RSP_ME;
	default:
		return MBX_RSP_NONE;
	}
}

bool mbx_proto_meta_rsp(struct mbx_parse_ctx *ctx, unsigned code, const struct mbx_tok *t,
			unsigned nt, struct mbx_msg *m)
{
	unsigned first = 1;

	m->code = (uint8_t)code;
	m->proto = MBX_PROTO_META;
	if (code == MBX_RSP_ME)
		return nt >= 2; /* "ME <key> <debug text>": nothing we use */
	if (code == MBX_RSP_VA) {
		int64_t v;
		if (nt < 2 || !mbx_proto_parse_i64(t[1].p, t[1].len, &v) || v < 0 ||
		    v > (int64_t)MBX_PARSER_MAX_VALUE)
			return false;
		m->value_len = (uint32_t)v;
		first = 2;
	}
	if (nt > MBX_TOK_MAX)
		nt = MBX_TOK_MAX; /* flags beyond memcached's own limit are not ours */

	const struct mbx_tok *key = NULL;
	bool b64 = false, ok = true;
	for (unsigned i = first; i < nt; i++) {
		switch (t[i].p[0]) {
		case 'O':
			m->flags |= MBX_MSG_F_OPAQUE;
			if (ctx)
				m->opaque = mbx_proto_opaque(ctx->salt, t[i].p + 1, t[i].len - 1);
			break;
		case 'k':
			key = &t[i];
			break;
		case 'b':
			b64 = true;
			break;
		default:
			if (flag_bit(t[i].p[0]) == 64)
				ok = false; /* not a flag: only matters for resync */
			break;
		}
	}
	if (key) {
		m->flags |= MBX_MSG_F_KEY;
		if (ctx) {
			const uint8_t *k = key->p + 1;
			size_t klen = key->len - 1;
			uint8_t buf[MBX_PARSER_KEY_MAX + 2];
			if (b64) {
				int n = mbx_base64_decode(k, klen, buf, sizeof(buf));
				if (n > 0) {
					k = buf;
					klen = (size_t)n;
				}
			}
			mbx_proto_set_key(ctx, m, k, klen);
		}
	}
	return ctx ? true : ok;
}
