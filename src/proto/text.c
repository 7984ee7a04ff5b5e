/* SPDX-License-Identifier: Apache-2.0 */
/* Text protocol lines, as memcached's proto_text.c reads them: a line ends at
 * '\n' (one '\r' before it is dropped), tokens are separated by spaces only,
 * the first token names the command. Storage commands are followed by a data
 * block of <bytes> + 2 bytes; memcached consumes it whenever the command line
 * was valid and never when it was not, and we do the same, so that the
 * request/reply sequence stays the server's. Retrieval lines may be of any
 * length; their keys are streamed when the line outgrows the carry. */
#include "proto/proto_internal.h"

/* ---- tokens and numbers ---- */

/* The first ' ' in [s, e), or e. Tokens are short (a command, a key, a
 * number): eight bytes at a time in a register beats a call to memchr, whose
 * set-up dominates at these lengths. Reads only [lo, e), lo <= s: the last
 * few bytes of a line are read as the 8-byte word that ends at e when the
 * line is that long, instead of one at a time (a loop of varying length that
 * mispredicted at the end of most lines). */
static inline const uint8_t *find_space_in(const uint8_t *lo, const uint8_t *s, const uint8_t *e)
{
	while (e - s >= 8) {
		uint64_t w;
		memcpy(&w, s, 8);
		uint64_t z = mbx_swar_zeros(w ^ MBX_SWAR_ALL(' '));
		if (z)
			return s + (__builtin_ctzll(z) >> 3); /* little endian */
		s += 8;
	}
	size_t k = (size_t)(e - s); /* 0..7 bytes left */
	if (k && e - lo >= 8) {
		uint64_t w;
		memcpy(&w, e - 8, 8);
		/* shifted before the test, so that the bytes before s cannot
		 * borrow into it: s's byte now lowest, zero bytes shifted in above */
		w = (w ^ MBX_SWAR_ALL(' ')) >> (8 * (8 - k));
		uint64_t z = mbx_swar_zeros(w) & ((1ULL << (8 * k)) - 1); /* the k real bytes */
		return z ? s + (__builtin_ctzll(z) >> 3) : e;
	}
	while (s < e && *s != ' ')
		s++;
	return s;
}

static inline const uint8_t *find_space(const uint8_t *s, const uint8_t *e)
{
	return find_space_in(s, s, e);
}

#if defined(__SSE2__)
#include <emmintrin.h>

/* Bit i set where s[i] is a space, for a line of 16 to 64 bytes: 16 bytes
 * per compare, the last 16 read back from the line's end (overlapping). */
static inline uint64_t space_mask16(const uint8_t *s, size_t n)
{
	const __m128i sp = _mm_set1_epi8(' ');
	uint64_t m = 0;
	size_t i = 0;
	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		m |= (uint64_t)(uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, sp)) << i;
	}
	if (i < n) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + n - 16));
		uint32_t t = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(v, sp));
		m |= (uint64_t)(t >> (16 - (n - i))) << i;
	}
	return m;
}

/* Lines of 16-64 bytes (nearly every command and reply line): the spaces
 * as a bit mask, then each token from the positions where a run of
 * non-spaces starts and ends; no per-byte branch. */
static unsigned tokenize_short(const uint8_t *s, size_t n, struct mbx_tok *t, unsigned max)
{
	uint64_t in = ~space_mask16(s, n);
	if (n < 64)
		in &= (1ULL << n) - 1;
	uint64_t starts = in & ~(in << 1), ends = in & ~(in >> 1);
	unsigned nt = 0;
	while (starts) {
		unsigned a = (unsigned)__builtin_ctzll(starts), b = (unsigned)__builtin_ctzll(ends);
		if (nt == max)
			return max + 1;
		t[nt].p = s + a;
		t[nt].len = b - a + 1;
		nt++;
		starts &= starts - 1;
		ends &= ends - 1;
	}
	return nt;
}
#endif

unsigned mbx_proto_tokenize(const uint8_t *s, size_t n, struct mbx_tok *t, unsigned max)
{
#if defined(__SSE2__)
	if (n >= 16 && n <= 64)
		return tokenize_short(s, n, t, max);
#endif
	const uint8_t *e = s + n, *lo = s;
	unsigned nt = 0;

	while (s < e) {
		if (*s == ' ') {
			s++;
			continue;
		}
		const uint8_t *q = find_space_in(lo, s, e);
		if (nt == max)
			return max + 1;
		t[nt].p = s;
		t[nt].len = (uint32_t)(q - s);
		nt++;
		s = q;
	}
	return nt;
}

/* Next space-separated token of [*s, e); false at the end. */
static inline bool next_tok(const uint8_t **s, const uint8_t *e, struct mbx_tok *t)
{
	const uint8_t *p = *s;

	while (p < e && *p == ' ')
		p++;
	if (p == e)
		return false;
	const uint8_t *q = find_space(p, e);
	t->p = p;
	t->len = (uint32_t)(q - p);
	*s = q;
	return true;
}

static inline bool is_ws(uint8_t c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Digits with overflow check; leading whitespace, then the sign was already
 * consumed by the caller. Trailing garbage other than whitespace fails. */
static bool parse_mag(const uint8_t *s, const uint8_t *e, uint64_t *out)
{
	const uint8_t *d0 = s;
	uint64_t v = 0;
	/* 19 digits cannot overflow (10^19 - 1 < 2^64): no check for them */
	const uint8_t *unchecked = e - s > 19 ? s + 19 : e;

	while (s < unchecked && (unsigned)(*s - '0') < 10) {
		v = v * 10 + (unsigned)(*s - '0');
		s++;
	}
	while (s == unchecked && s < e && (unsigned)(*s - '0') < 10) {
		unsigned dg = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - dg) / 10)
			return false;
		v = v * 10 + dg;
		unchecked = ++s;
	}
	if (s == d0 || (s < e && !is_ws(*s)))
		return false;
	*out = v;
	return true;
}

bool mbx_proto_parse_u64(const uint8_t *s, size_t n, uint64_t *out)
{
	const uint8_t *e = s + n;

	while (s < e && is_ws(*s))
		s++;
	if (s < e && *s == '+')
		s++;
	return parse_mag(s, e, out);
}

bool mbx_proto_parse_i64(const uint8_t *s, size_t n, int64_t *out)
{
	const uint8_t *e = s + n;
	bool neg = false;
	uint64_t v;

	while (s < e && is_ws(*s))
		s++;
	if (s < e && (*s == '+' || *s == '-'))
		neg = *s++ == '-';
	if (!parse_mag(s, e, &v) || v > (uint64_t)INT64_MAX + neg)
		return false;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return true;
}

static bool tok_is(const struct mbx_tok *t, const char *s, size_t n)
{
	return t->len == n && memcmp(t->p, s, n) == 0;
}

#define TOK_IS(t, lit) tok_is((t), lit, sizeof(lit) - 1)

static bool tok_u64(const struct mbx_tok *t)
{
	uint64_t v;
	return mbx_proto_parse_u64(t->p, t->len, &v);
}

static bool tok_i64(const struct mbx_tok *t)
{
	int64_t v;
	return mbx_proto_parse_i64(t->p, t->len, &v);
}

/* Could these bytes be a key in a resync candidate? memcached splits a line
 * on spaces only, so control bytes are legal in keys and real clients use
 * them (memcaslap's keys begin with eight 0x10 bytes: a stricter test made a
 * capture that began mid-run of memcaslap never resynchronise). A key cannot
 * hold a space, CR, LF, or NUL (C-string based servers and clients). */
static bool key_printable(const uint8_t *k, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (k[i] == ' ' || k[i] == '\r' || k[i] == '\n' || k[i] == 0)
			return false;
	return true;
}

/* ---- command names ---- */

#define EQ(s, n, lit) ((n) == sizeof(lit) - 1 && memcmp((s), lit, sizeof(lit) - 1) == 0)

static unsigned text_cmd(const uint8_t *s, size_t n)
{
	switch (n) {
	case 2:
		if (s[0] == 'm') {
			switch (s[1]) {
			case 'g':
				return MBX_OP_MG;
			case 's':
				return MBX_OP_MS;
			case 'd':
				return MBX_OP_MD;
			case 'a':
				return MBX_OP_MA;
			case 'n':
				return MBX_OP_MN;
			case 'e':
				return MBX_OP_ME;
			}
		}
		break;
	case 3:
		if (EQ(s, n, "get"))
			return MBX_OP_GET;
		if (EQ(s, n, "set"))
			return MBX_OP_SET;
		if (EQ(s, n, "gat"))
			return MBX_OP_GAT;
		if (EQ(s, n, "add"))
			return MBX_OP_ADD;
		if (EQ(s, n, "cas"))
			return MBX_OP_CAS;
		break;
	case 4:
		if (EQ(s, n, "gets"))
			return MBX_OP_GETS;
		if (EQ(s, n, "gats"))
			return MBX_OP_GATS;
		if (EQ(s, n, "incr"))
			return MBX_OP_INCR;
		if (EQ(s, n, "decr"))
			return MBX_OP_DECR;
		if (EQ(s, n, "quit"))
			return MBX_OP_QUIT;
		if (EQ(s, n, "bget"))
			return MBX_OP_GET; /* memcached's legacy alias */
		break;
	case 5:
		if (EQ(s, n, "touch"))
			return MBX_OP_TOUCH;
		if (EQ(s, n, "stats"))
			return MBX_OP_STATS;
		break;
	case 6:
		if (EQ(s, n, "delete"))
			return MBX_OP_DELETE;
		if (EQ(s, n, "append"))
			return MBX_OP_APPEND;
		break;
	case 7:
		if (EQ(s, n, "replace"))
			return MBX_OP_REPLACE;
		if (EQ(s, n, "prepend"))
			return MBX_OP_PREPEND;
		if (EQ(s, n, "version"))
			return MBX_OP_VERSION;
		break;
	case 9:
		if (EQ(s, n, "flush_all"))
			return MBX_OP_FLUSH_ALL;
		if (EQ(s, n, "verbosity"))
			return MBX_OP_VERBOSITY;
		break;
	}
	return MBX_OP_UNKNOWN;
}

/* memcached commands outside the op table: reported as UNKNOWN but they are
 * not protocol errors. */
static bool text_admin_cmd(const uint8_t *s, size_t n)
{
	return EQ(s, n, "lru") || EQ(s, n, "slabs") || EQ(s, n, "watch") || EQ(s, n, "shutdown") ||
	       EQ(s, n, "extstore") || EQ(s, n, "misbehave") || EQ(s, n, "debugtime") ||
	       EQ(s, n, "lru_crawler") || EQ(s, n, "refresh_certs") || EQ(s, n, "cache_memlimit");
}

static bool is_retr_op(unsigned op)
{
	return op == MBX_OP_GET || op == MBX_OP_GETS || op == MBX_OP_GAT || op == MBX_OP_GATS;
}

static bool is_gat_op(unsigned op)
{
	return op == MBX_OP_GAT || op == MBX_OP_GATS;
}

bool mbx_proto_is_retrieval(const uint8_t *s, size_t n)
{
	const uint8_t *e = s + n;

	while (s < e && *s == ' ')
		s++;
	const uint8_t *q = memchr(s, ' ', (size_t)(e - s));
	return q && is_retr_op(text_cmd(s, (size_t)(q - s)));
}

/* ---- requests ---- */

/* Parse a non-retrieval text command line (tokens t[0..nt), nt may be
 * MBX_TOK_MAX + 1 for "too many"), as memcached's process_*_command do. */
static void text_req_parse(const struct mbx_tok *t, unsigned nt, unsigned op,
			   struct mbx_req_info *r)
{
	struct mbx_msg *m = r->m;
	int64_t v;

	mbx_proto_msg_init(m, MBX_MSG_REQ, op, MBX_PROTO_TEXT);
	r->valid = true;
	r->swallow = false;
	r->counted = true;
	r->key = NULL;
	r->key_len = 0;
	if (nt >= 2 && op != MBX_OP_UNKNOWN && op != MBX_OP_FLUSH_ALL && op != MBX_OP_VERSION &&
	    op != MBX_OP_STATS && op != MBX_OP_VERBOSITY && op != MBX_OP_QUIT) {
		r->key = t[1].p;
		r->key_len = t[1].len;
	}

	/* Token counts (memcached answers ERROR and reads no noreply). */
	switch (op) {
	case MBX_OP_SET:
	case MBX_OP_ADD:
	case MBX_OP_REPLACE:
	case MBX_OP_APPEND:
	case MBX_OP_PREPEND:
		if (nt != 5 && nt != 6)
			goto invalid;
		break;
	case MBX_OP_CAS:
		if (nt != 6 && nt != 7)
			goto invalid;
		break;
	case MBX_OP_INCR:
	case MBX_OP_DECR:
	case MBX_OP_TOUCH:
		if (nt != 3 && nt != 4)
			goto invalid;
		break;
	case MBX_OP_DELETE:
		if (nt < 2 || nt > 4)
			goto invalid;
		break;
	case MBX_OP_VERBOSITY:
		if (nt != 2 && nt != 3)
			goto invalid;
		break;
	case MBX_OP_FLUSH_ALL:
		if (nt > 3)
			goto invalid;
		break;
	case MBX_OP_UNKNOWN:
		r->valid = false;
		r->counted = !(nt >= 1 && text_admin_cmd(t[0].p, t[0].len));
		return;
	default: /* version, stats, quit: anything goes */
		return;
	}

	/* noreply is the last token for every command that takes it. */
	bool noreply = TOK_IS(&t[nt - 1], "noreply");
	if (noreply && op != MBX_OP_DELETE)
		m->flags |= MBX_MSG_F_QUIET;

	switch (op) {
	case MBX_OP_SET:
	case MBX_OP_ADD:
	case MBX_OP_REPLACE:
	case MBX_OP_APPEND:
	case MBX_OP_PREPEND:
	case MBX_OP_CAS:
		if (t[1].len > MBX_PARSER_KEY_MAX)
			goto long_key;
		if (!tok_u64(&t[2]) || !tok_i64(&t[3]) ||
		    !mbx_proto_parse_i64(t[4].p, t[4].len, &v) ||
		    (op == MBX_OP_CAS && !tok_u64(&t[5])))
			goto invalid;
		if (v < 0 || v > INT32_MAX - 2 || v > (int64_t)MBX_PARSER_MAX_VALUE)
			goto invalid;
		m->value_len = (uint32_t)v;
		r->swallow = true;
		return;
	case MBX_OP_INCR:
	case MBX_OP_DECR:
		if (t[1].len > MBX_PARSER_KEY_MAX)
			goto long_key;
		if (!tok_u64(&t[2]))
			goto invalid;
		return;
	case MBX_OP_TOUCH:
		if (t[1].len > MBX_PARSER_KEY_MAX)
			goto long_key;
		if (!tok_i64(&t[2]))
			goto invalid;
		return;
	case MBX_OP_DELETE:
		if (nt > 2) {
			/* delete <key> [0] [noreply] */
			bool hold0 = TOK_IS(&t[2], "0");
			if (noreply)
				m->flags |= MBX_MSG_F_QUIET;
			if (!((nt == 3 && (hold0 || noreply)) || (nt == 4 && hold0 && noreply)))
				goto invalid;
		}
		if (t[1].len > MBX_PARSER_KEY_MAX)
			goto long_key;
		return;
	case MBX_OP_VERBOSITY:
		if (!tok_u64(&t[1]))
			goto invalid;
		return;
	case MBX_OP_FLUSH_ALL:
		if (nt != (noreply ? 2u : 1u) && !tok_i64(&t[1]))
			goto invalid;
		return;
	default:
		return;
	}

long_key:
	r->counted = false; /* counted as key_too_long when the key is set */
			    /* fall through */
invalid:
	r->valid = false;
}

/* A complete get/gets/gat/gats line: one request per key, all with the time
 * of the line's last byte (memcached acts on the whole line at once). */
static void text_get(struct mbx_parser *p, struct mbx_parse_ctx *ctx, unsigned op, const uint8_t *s,
		     const uint8_t *e, uint64_t ts)
{
	struct mbx_tok tok, next;
	struct mbx_msg local, *m;
	bool err = false;

	/* "gat" alone: ERROR; a bad exptime: CLIENT_ERROR invalid exptime argument */
	if (is_gat_op(op) && (!next_tok(&s, e, &tok) || !tok_i64(&tok)))
		err = true;
	bool more = next_tok(&s, e, &next);
	if (!more) {
		/* "get" alone is an ERROR; "gat <exptime>" alone is a valid empty
		 * request (END). Either way one request for one reply. */
		m = mbx_proto_msg_new(ctx, &local, MBX_MSG_REQ, op, MBX_PROTO_TEXT);
		if (!is_gat_op(op))
			err = true;
		m->flags |= MBX_MSG_F_BATCH_END;
		mbx_proto_emit(p, ctx, m, ts);
	}
	for (bool first = true; more; first = false) {
		tok = next;
		more = next_tok(&s, e, &next); /* is this key the last? */
		m = mbx_proto_msg_new(ctx, &local, MBX_MSG_REQ, op, MBX_PROTO_TEXT);
		mbx_proto_set_key(ctx, m, tok.p, tok.len);
		if (!first)
			m->flags |= MBX_MSG_F_BATCH_CONT;
		if (!more)
			m->flags |= MBX_MSG_F_BATCH_END;
		mbx_proto_emit(p, ctx, m, ts);
	}
	if (err)
		MBX_CTR_INC(ctx->ctr, parse_errors);
}

static void text_req(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *line,
		     size_t cl, uint64_t ts)
{
	const uint8_t *s = line, *e = line + cl;
	struct mbx_tok t[MBX_TOK_MAX];
	struct mbx_req_info r;
	struct mbx_msg local;
	unsigned op = MBX_OP_UNKNOWN, nt;

	/* Fast path: the first token decides. */
	if (next_tok(&s, e, &t[0])) {
		op = text_cmd(t[0].p, t[0].len);
		if (is_retr_op(op)) {
			text_get(p, ctx, op, s, e, ts);
			return;
		}
	}
	nt = mbx_proto_tokenize(line, cl, t, MBX_TOK_MAX);
	/* built in the sink's slot (the parse functions initialise it) */
	/* cppcheck-suppress uninitvar ; false positive: *r.m is initialised by
	 * text_req_parse() or mbx_proto_meta_req() before any read */
	r.m = ctx->sink.slot ? *ctx->sink.slot : &local;
	if (op >= MBX_OP_MG && op <= MBX_OP_ME)
		mbx_proto_meta_req(ctx->salt, t, nt, &r);
	else
		text_req_parse(t, nt, op, &r);
	if (r.key)
		mbx_proto_set_key(ctx, r.m, r.key, r.key_len);
	if (!r.valid && r.counted)
		MBX_CTR_INC(ctx->ctr, parse_errors);
	if (r.swallow)
		mbx_proto_start_skip(p, ctx, (uint64_t)r.m->value_len + 2, r.m, true, ts);
	else
		mbx_proto_emit(p, ctx, r.m, ts);
}

/* ---- responses ---- */

enum { RK_NONE = 0, RK_EXACT, RK_ARGS, RK_VALUE };

/* Text response keyword -> code; kind says how strict resync must be. */
static unsigned rsp_keyword(const struct mbx_tok *t, unsigned *kind)
{
	const uint8_t *s = t->p;
	size_t n = t->len;

	*kind = RK_EXACT;
	switch (n) {
	case 2:
		if (EQ(s, n, "OK"))
			return MBX_RSP_OK;
		break;
	case 3:
		if (EQ(s, n, "END"))
			return MBX_RSP_END;
		break;
	case 4:
		*kind = RK_ARGS;
		if (EQ(s, n, "STAT"))
			return MBX_RSP_STAT;
		if (EQ(s, n, "ITEM"))
			return MBX_RSP_STAT;
		break;
	case 5:
		if (EQ(s, n, "VALUE")) {
			*kind = RK_VALUE;
			return MBX_RSP_VALUE;
		}
		if (EQ(s, n, "RESET"))
			return MBX_RSP_OK;
		if (EQ(s, n, "ERROR")) {
			*kind = RK_ARGS;
			return MBX_RSP_ERROR;
		}
		break;
	case 6:
		if (EQ(s, n, "STORED"))
			return MBX_RSP_STORED;
		if (EQ(s, n, "EXISTS"))
			return MBX_RSP_EXISTS;
		break;
	case 7:
		if (EQ(s, n, "DELETED"))
			return MBX_RSP_DELETED;
		if (EQ(s, n, "TOUCHED"))
			return MBX_RSP_TOUCHED;
		if (EQ(s, n, "VERSION")) {
			*kind = RK_ARGS;
			return MBX_RSP_VERSION;
		}
		break;
	case 9:
		if (EQ(s, n, "NOT_FOUND"))
			return MBX_RSP_NOT_FOUND;
		break;
	case 10:
		if (EQ(s, n, "NOT_STORED"))
			return MBX_RSP_NOT_STORED;
		break;
	case 12:
		*kind = RK_ARGS;
		if (EQ(s, n, "CLIENT_ERROR"))
			return MBX_RSP_CLIENT_ERROR;
		if (EQ(s, n, "SERVER_ERROR"))
			return MBX_RSP_SERVER_ERROR;
		break;
	}
	*kind = RK_NONE;
	return MBX_RSP_NONE;
}

static bool all_digits(const struct mbx_tok *t)
{
	for (uint32_t i = 0; i < t->len; i++)
		if (t->p[i] < '0' || t->p[i] > '9')
			return false;
	return t->len > 0;
}

/* VALUE <key> <flags> <bytes> [<cas>] */
static bool value_line(const struct mbx_tok *t, unsigned nt, uint32_t *bytes)
{
	int64_t v;

	if ((nt != 4 && nt != 5) || !tok_u64(&t[2]) || !mbx_proto_parse_i64(t[3].p, t[3].len, &v) ||
	    v < 0 || v > (int64_t)MBX_PARSER_MAX_VALUE || (nt == 5 && !tok_u64(&t[4])))
		return false;
	*bytes = (uint32_t)v;
	return true;
}

static void text_rsp(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *line,
		     size_t cl, uint64_t ts0)
{
	struct mbx_tok t[MBX_TOK_MAX];
	struct mbx_msg local, *m;
	unsigned nt = mbx_proto_tokenize(line, cl, t, MBX_TOK_MAX), kind;

	m = mbx_proto_msg_new(ctx, &local, MBX_MSG_RSP, MBX_OP_NONE, MBX_PROTO_TEXT);
	if (nt == 0) {
		mbx_proto_emit(p, ctx, m, ts0); /* empty line: a reply we do not know */
		return;
	}
	unsigned code = rsp_keyword(&t[0], &kind);
	if (code == MBX_RSP_VALUE) {
		uint32_t bytes;
		if (!value_line(t, nt, &bytes))
			goto bad;
		m->code = MBX_RSP_VALUE;
		m->flags = MBX_MSG_F_KEY;
		m->value_len = bytes;
		mbx_proto_set_key(ctx, m, t[1].p, t[1].len);
		mbx_proto_emit(p, ctx, m, ts0);
		mbx_proto_start_skip(p, ctx, (uint64_t)bytes + 2, NULL, true, ts0);
		return;
	}
	if (code == MBX_RSP_NONE) {
		code = mbx_proto_meta_rsp_code(&t[0]);
		if (code != MBX_RSP_NONE) {
			if (!mbx_proto_meta_rsp(ctx, code, t, nt, m))
				goto bad;
			uint64_t vlen = m->value_len; /* m is the sink's after emit */
			mbx_proto_emit(p, ctx, m, ts0);
			if (code == MBX_RSP_VA)
				mbx_proto_start_skip(p, ctx, vlen + 2, NULL, true, ts0);
			return;
		}
		if (nt == 1 && all_digits(&t[0]))
			code = MBX_RSP_NUMBER; /* incr/decr, maybe space padded */
	}
	m->code = (uint8_t)code;
	mbx_proto_emit(p, ctx, m, ts0);
	return;
bad:
	/* A value header we cannot size: the data length is unknown. */
	MBX_CTR_INC(ctx->ctr, parse_errors);
	mbx_proto_enter_resync(p, ctx, true);
}

void mbx_proto_text_line(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *line,
			 size_t n, uint64_t ts, uint64_t ts0)
{
	size_t cl = mbx_proto_line_content(line, n);

	if (p->dir)
		text_rsp(p, ctx, line, cl, ts0);
	else
		text_req(p, ctx, line, cl, ts);
}

/* ---- resync candidates ---- */

/* Keys of a retrieval line: at least one, printable, not too long. last_open:
 * the final token may be cut (long line prefix), do not judge its length. */
static bool get_keys_ok(unsigned op, const uint8_t *s, const uint8_t *e, bool last_open)
{
	struct mbx_tok tok;
	unsigned nk = 0;

	if (is_gat_op(op) && (!next_tok(&s, e, &tok) || !tok_i64(&tok)))
		return false;
	while (next_tok(&s, e, &tok)) {
		bool last = s == e;
		if ((!last || !last_open) && tok.len > MBX_PARSER_KEY_MAX)
			return false;
		if (!key_printable(tok.p, tok.len))
			return false;
		nk++;
	}
	return nk > 0;
}

bool mbx_proto_text_candidate(unsigned dir, const uint8_t *line, size_t n)
{
	size_t cl = mbx_proto_line_content(line, n);
	struct mbx_tok t[MBX_TOK_MAX];
	unsigned nt;

	if (cl > MBX_PARSER_LINE_MAX)
		return false;
	if (dir == 0) {
		const uint8_t *s = line, *e = line + cl;
		struct mbx_req_info r;
		struct mbx_msg m;
		r.m = &m;
		if (!next_tok(&s, e, &t[0]))
			return false;
		unsigned op = text_cmd(t[0].p, t[0].len);
		if (op == MBX_OP_UNKNOWN)
			return false;
		if (is_retr_op(op))
			return get_keys_ok(op, s, e, false);
		nt = mbx_proto_tokenize(line, cl, t, MBX_TOK_MAX);
		if (op >= MBX_OP_MG && op <= MBX_OP_ME)
			mbx_proto_meta_req(NULL, t, nt, &r);
		else
			text_req_parse(t, nt, op, &r);
		if (!r.valid)
			return false;
		if (op == MBX_OP_MN || op == MBX_OP_VERSION || op == MBX_OP_QUIT)
			return nt == 1;
		return nt >= 2 ? key_printable(t[1].p, t[1].len) : true;
	}

	nt = mbx_proto_tokenize(line, cl, t, MBX_TOK_MAX);
	if (nt == 0 || nt > MBX_TOK_MAX)
		return false;
	unsigned kind, code = rsp_keyword(&t[0], &kind);
	uint32_t bytes;
	switch (kind) {
	case RK_EXACT:
		return nt == 1;
	case RK_ARGS:
		/* STAT/ITEM <name> ..., VERSION <v>; errors may have no text. */
		return code == MBX_RSP_ERROR || code == MBX_RSP_CLIENT_ERROR ||
		       code == MBX_RSP_SERVER_ERROR || nt >= 2;
	case RK_VALUE:
		return value_line(t, nt, &bytes) && t[1].len <= MBX_PARSER_KEY_MAX &&
		       key_printable(t[1].p, t[1].len);
	default:
		break;
	}
	code = mbx_proto_meta_rsp_code(&t[0]);
	if (code == MBX_RSP_NONE)
		return false;
	if (code == MBX_RSP_MN)
		return nt == 1;
	struct mbx_msg m;
	mbx_proto_msg_init(&m, MBX_MSG_RSP, MBX_OP_NONE, MBX_PROTO_META);
	return mbx_proto_meta_rsp(NULL, code, t, nt, &m);
}

bool mbx_proto_text_prefix_ok(unsigned dir, const uint8_t *s, size_t n)
{
	static const char *const req_words[] = {
	    "get",	 "gets",    "gat",   "gats",	  "set",  "add",  "replace",
	    "append",	 "prepend", "cas",   "delete",	  "incr", "decr", "touch",
	    "flush_all", "version", "stats", "verbosity", "quit", "bget", "mg",
	    "ms",	 "md",	    "ma",    "mn",	  "me",
	};
	static const char *const rsp_words[] = {
	    "VALUE",   "END",	  "STORED",	  "NOT_STORED",	  "EXISTS",  "NOT_FOUND",
	    "DELETED", "TOUCHED", "OK",		  "RESET",	  "VERSION", "STAT",
	    "ITEM",    "ERROR",	  "CLIENT_ERROR", "SERVER_ERROR", "HD",	     "VA",
	    "EN",      "NF",	  "NS",		  "EX",		  "MN",	     "ME",
	};
	const char *const *w = dir ? rsp_words : req_words;
	size_t nw = dir ? MBX_ARRAY_SIZE(rsp_words) : MBX_ARRAY_SIZE(req_words);
	const uint8_t *e = s + n, *q;

	while (s < e && *s == ' ')
		s++;
	for (q = s; q < e && *q != ' ' && *q != '\r'; q++)
		;
	size_t len = (size_t)(q - s);
	bool complete = q < e;
	if (complete && len == 0)
		return false;
	for (size_t i = 0; i < nw; i++) {
		size_t wl = strlen(w[i]);
		if ((complete ? len == wl : len <= wl) && memcmp(s, w[i], len) == 0)
			return true;
	}
	return false;
}

bool mbx_proto_long_candidate(unsigned dir, const uint8_t *s, size_t n)
{
	const uint8_t *e = s + MBX_MIN(n, (size_t)MBX_LINE_WIN);
	struct mbx_tok t0 = {s, 0};

	if (dir != 0 || !mbx_proto_is_retrieval(s, n))
		return false;
	(void)next_tok(&s, e, &t0);
	return get_keys_ok(text_cmd(t0.p, t0.len), s, e, true);
}

/* ---- retrieval lines longer than the carry ---- */

static void gs_error(struct mbx_parser *p, struct mbx_parse_ctx *ctx)
{
	if (!(p->pflags & MBX_PF_GS_ERR)) {
		p->pflags |= MBX_PF_GS_ERR;
		MBX_CTR_INC(ctx->ctr, parse_errors);
	}
}

/* A token is complete in the carry (its first MBX_PARSER_KEY_MAX bytes). */
static void gs_token(struct mbx_parser *p, struct mbx_parse_ctx *ctx, uint64_t ts)
{
	uint32_t len = p->tok_len;

	p->tok_len = 0;
	if (p->gs_phase == 0) {
		p->gs_phase = 1;
		int64_t v;
		if (len > MBX_PARSER_KEY_MAX || !mbx_proto_parse_i64(p->carry, len, &v))
			gs_error(p, ctx);
		return;
	}
	struct mbx_msg m;
	mbx_proto_msg_init(&m, MBX_MSG_REQ, p->gs_op, MBX_PROTO_TEXT);
	mbx_proto_set_key(ctx, &m, p->carry, len);
	if (p->nkeys)
		m.flags |= MBX_MSG_F_BATCH_CONT;
	if (p->pflags & MBX_PF_PENDING)
		mbx_proto_emit(p, ctx, &p->pending, ts);
	p->pending = m;
	p->pflags |= MBX_PF_PENDING;
	p->nkeys++;
}

static void gs_end(struct mbx_parser *p, struct mbx_parse_ctx *ctx, uint64_t ts)
{
	if (!(p->pflags & MBX_PF_PENDING)) {
		mbx_proto_msg_init(&p->pending, MBX_MSG_REQ, p->gs_op, MBX_PROTO_TEXT);
		if (!is_gat_op(p->gs_op) || p->gs_phase == 0)
			gs_error(p, ctx);
	}
	p->pending.flags |= MBX_MSG_F_BATCH_END;
	mbx_proto_emit(p, ctx, &p->pending, ts);
	p->state = MBX_PST_HEAD;
	p->pflags = 0;
	mbx_proto_carry_release(p, ctx);
}

const uint8_t *mbx_proto_gets_feed(struct mbx_parser *p, struct mbx_parse_ctx *ctx,
				   const uint8_t *s, const uint8_t *end, uint64_t ts)
{
	while (s < end) {
		if (p->tok_len == 0) {
			while (s < end && *s == ' ')
				s++;
			if (s == end)
				break;
		}
		const uint8_t *q = s;
		while (q < end && *q != ' ' && *q != '\n')
			q++;
		if (q > s) {
			size_t n = (size_t)(q - s);
			if (p->tok_len < MBX_PARSER_KEY_MAX) {
				size_t k = MBX_MIN(n, (size_t)(MBX_PARSER_KEY_MAX - p->tok_len));
				memcpy(p->carry + p->tok_len, s, k);
			}
			p->tok_len =
			    n > UINT32_MAX - p->tok_len ? UINT32_MAX : p->tok_len + (uint32_t)n;
			p->tok_last = q[-1];
		}
		if (q == end)
			return end;
		if (*q == ' ') {
			gs_token(p, ctx, ts);
			s = q + 1;
			continue;
		}
		/* '\n': a '\r' right before it belongs to the terminator. */
		if (p->tok_len && p->tok_last == '\r')
			p->tok_len--;
		if (p->tok_len)
			gs_token(p, ctx, ts);
		gs_end(p, ctx, ts);
		return q + 1;
	}
	return end;
}

void mbx_proto_gets_begin(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *s,
			  const uint8_t *end, uint64_t ts)
{
	struct mbx_tok t0 = {s, 0};

	(void)next_tok(&s, end, &t0); /* mbx_proto_is_retrieval() said it exists */
	if (!p->carry) {
		p->carry = mbx_bufpool_get(ctx->pool);
		if (!p->carry) {
			MBX_CTR_INC(ctx->ctr, carry_exhausted);
			mbx_proto_enter_resync(p, ctx, false);
			MBX_CTR_ADD(ctx->ctr, resync_bytes, end - s);
			return;
		}
	}
	p->carry_len = 0;
	p->state = MBX_PST_GETS;
	p->pflags = 0;
	p->gs_op = (uint8_t)text_cmd(t0.p, t0.len);
	p->gs_phase = is_gat_op(p->gs_op) ? 0 : 1;
	p->nkeys = 0;
	p->tok_len = 0;
	(void)mbx_proto_gets_feed(p, ctx, s, end, ts);
}

void mbx_proto_gets_abort(struct mbx_parser *p, struct mbx_parse_ctx *ctx)
{
	MBX_CTR_INC(ctx->ctr, parse_errors);
	p->pflags = 0;
	p->tok_len = 0;
	mbx_proto_carry_release(p, ctx);
}
