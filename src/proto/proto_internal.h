/* SPDX-License-Identifier: Apache-2.0 */
/* Private interfaces between the files of the protocol parser:
 *   parser.c  state machine, carry buffer, value skipping, gaps, resync scan
 *   text.c    text request/response lines, long retrieval lines
 *   meta.c    meta request/response lines (mg ms md ma mn me / HD VA EN ...)
 *   binary.c  binary headers (magic 0x80/0x81)
 *   base64.c  meta 'b' keys */
#ifndef MBX_PROTO_INTERNAL_H
#define MBX_PROTO_INTERNAL_H

#include "mbx/event.h"
#include "mbx/hash.h"
#include "mbx/parser.h"

#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Parser states (struct mbx_parser.state). */
enum {
	MBX_PST_HEAD = 0, /* at a message boundary; carry may hold an unfinished head */
	MBX_PST_SKIP,	  /* skipping p->skip value bytes */
	MBX_PST_GETS,	  /* inside a retrieval line longer than the carry */
	MBX_PST_RESYNC,	  /* looking for the next message boundary */
};

/* struct mbx_parser.pflags */
#define MBX_PF_PENDING	 0x01u /* p->pending is a request to emit when the skip ends */
#define MBX_PF_CRLF	 0x02u /* the skipped block must end with "\r\n" */
#define MBX_PF_BADDATA	 0x04u /* ... and did not */
#define MBX_PF_LINESTART 0x08u /* resync: the next unexamined position starts a line */
#define MBX_PF_GS_ERR	 0x10u /* long retrieval line: an error was already counted */

#define MBX_BIN_REQ	0x80u
#define MBX_BIN_RES	0x81u
#define MBX_BIN_HDR	24u
#define MBX_BIN_EXT_MAX 64u

/* A text line with its terminator must show its '\n' within this window. */
#define MBX_LINE_WIN (MBX_PARSER_LINE_MAX + 2)

/* memcached's tokenizer keeps at most 23 tokens plus the rest of the line;
 * lines with more tokens are invalid for every fixed-arity command. */
#define MBX_TOK_MAX 24

struct mbx_tok {
	const uint8_t *p;
	uint32_t len;
};

/* ---- parser.c ---- */
void mbx_proto_emit(struct mbx_parser *p, struct mbx_parse_ctx *ctx, struct mbx_msg *m,
		    uint64_t ts);
/* Start skipping n value bytes; pending (may be NULL) is emitted at the end. */
void mbx_proto_start_skip(struct mbx_parser *p, struct mbx_parse_ctx *ctx, uint64_t n,
			  const struct mbx_msg *pending, bool crlf, uint64_t ts);
void mbx_proto_enter_resync(struct mbx_parser *p, struct mbx_parse_ctx *ctx, bool line_start);
void mbx_proto_carry_release(struct mbx_parser *p, struct mbx_parse_ctx *ctx);

static inline void mbx_proto_msg_init(struct mbx_msg *m, unsigned kind, unsigned op, unsigned proto)
{
	memset(m, 0, sizeof(*m));
	m->kind = (uint8_t)kind;
	m->op = (uint8_t)op;
	m->proto = (uint8_t)proto;
}

/* The message to build next: in the sink's own slot when it offers one
 * (struct mbx_msg_sink), else in *local; initialised. Emit it (or drop it)
 * before asking for another. */
static inline struct mbx_msg *mbx_proto_msg_new(struct mbx_parse_ctx *ctx, struct mbx_msg *local,
						unsigned kind, unsigned op, unsigned proto)
{
	struct mbx_msg *m = ctx->sink.slot ? *ctx->sink.slot : local;

	mbx_proto_msg_init(m, kind, op, proto);
	return m;
}

/* Key hash and length; keys over MBX_PARSER_KEY_MAX are counted, flagged and
 * hashed over their first MBX_PARSER_KEY_MAX bytes. */
void mbx_proto_set_key(struct mbx_parse_ctx *ctx, struct mbx_msg *m, const uint8_t *key,
		       size_t len);

/* ---- text.c ---- */
unsigned mbx_proto_tokenize(const uint8_t *s, size_t n, struct mbx_tok *t, unsigned max);
/* memcached's safe_strto* on one token: [ws][sign]digits then end or ws. */
bool mbx_proto_parse_u64(const uint8_t *s, size_t n, uint64_t *out);
bool mbx_proto_parse_i64(const uint8_t *s, size_t n, int64_t *out);
/* Content length of a line of n bytes ending in '\n' (memcached strips one
 * '\r' before the '\n' when at least two bytes precede it). */
static inline size_t mbx_proto_line_content(const uint8_t *line, size_t n)
{
	size_t c = n - 1;
	if (c >= 2 && line[c - 1] == '\r')
		c--;
	return c;
}
/* Does this line prefix start with get/gets/gat/gats/bget followed by a space? */
bool mbx_proto_is_retrieval(const uint8_t *s, size_t n);
/* A complete line (n bytes incl. '\n'). ts: chunk of the last byte (requests);
 * ts0: chunk of the first byte (responses). */
void mbx_proto_text_line(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *line,
			 size_t n, uint64_t ts, uint64_t ts0);
/* Resync: is this complete line (incl. '\n') a request/response we would
 * accept as a message boundary? */
bool mbx_proto_text_candidate(unsigned dir, const uint8_t *line, size_t n);
/* Resync: could a line starting with these n bytes (no '\n' yet) become a
 * candidate? Its first word must be (a prefix of) a command or keyword. */
bool mbx_proto_text_prefix_ok(unsigned dir, const uint8_t *s, size_t n);
/* Resync: a line with no '\n' in the first MBX_LINE_WIN bytes: long
 * retrieval line whose visible keys look like keys? */
bool mbx_proto_long_candidate(unsigned dir, const uint8_t *s, size_t n);
/* Long retrieval lines: begin from a buffer holding the line start (no '\n'),
 * continue with more bytes, returning the position after the line's '\n' or
 * end. */
void mbx_proto_gets_begin(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *s,
			  const uint8_t *end, uint64_t ts);
const uint8_t *mbx_proto_gets_feed(struct mbx_parser *p, struct mbx_parse_ctx *ctx,
				   const uint8_t *s, const uint8_t *end, uint64_t ts);
void mbx_proto_gets_abort(struct mbx_parser *p, struct mbx_parse_ctx *ctx);

/* ---- meta.c ---- */
/* A parsed request line (text or meta, not retrieval). */
struct mbx_req_info {
	struct mbx_msg *m;  /* set by the caller: op, proto, flags, variant, opaque, value_len */
	const uint8_t *key; /* raw key, or keybuf for a decoded base64 key */
	size_t key_len;
	bool valid;   /* memcached would accept the line */
	bool swallow; /* a data block of m.value_len + 2 bytes follows */
	bool counted; /* invalid and not already counted as key_too_long */
	uint8_t keybuf[MBX_PARSER_KEY_MAX + 2];
};
/* t[0] is the 2-byte meta command. salt may be NULL (validation only: no
 * opaque hash). */
void mbx_proto_meta_req(const uint8_t *salt, const struct mbx_tok *t, unsigned nt,
			struct mbx_req_info *r);
/* Response code of a meta keyword token (MBX_RSP_NONE if none). */
unsigned mbx_proto_meta_rsp_code(const struct mbx_tok *t0);
/* Fill m for a meta response line (code from mbx_proto_meta_rsp_code).
 * Returns false if the line is unusable (VA without a valid size). ctx may
 * be NULL to validate only. */
bool mbx_proto_meta_rsp(struct mbx_parse_ctx *ctx, unsigned code, const struct mbx_tok *t,
			unsigned nt, struct mbx_msg *m);
/* Eight bytes at a time in a register (SWAR): the flags (bit 7 of each byte)
 * of the zero bytes of x. The lowest flag marks the first zero byte exactly;
 * flags above it may be false (a borrow only propagates upwards). To find a
 * byte c, pass x ^ MBX_SWAR_ALL(c). */
#define MBX_SWAR_ALL(c) (0x0101010101010101ULL * (uint8_t)(c))
static inline uint64_t mbx_swar_zeros(uint64_t x)
{
	return (x - 0x0101010101010101ULL) & ~x & 0x8080808080808080ULL;
}

/* The first '\n' in [d, d + n), or NULL: memchr, except that the first 64
 * bytes (where nearly every command and reply line ends) are searched 16 at
 * a time inline, without memchr's call and set-up, and fewer than 16 bytes
 * (a segment holding just "END\r\n") 8 at a time or byte by byte. Reads
 * only [d, d + n). */
static inline const uint8_t *mbx_proto_find_nl(const uint8_t *d, size_t n)
{
	size_t i = 0;

	if (n < 16) { /* short segments ("END\r\n", "HD\r\n"): no call */
		if (n >= 8) {
			/* two overlapping words */
			uint64_t w, z;
			memcpy(&w, d, 8);
			z = mbx_swar_zeros(w ^ MBX_SWAR_ALL('\n'));
			if (z)
				return d + (__builtin_ctzll(z) >> 3);
			memcpy(&w, d + n - 8, 8);
			z = mbx_swar_zeros(w ^ MBX_SWAR_ALL('\n'));
			return z ? d + n - 8 + (__builtin_ctzll(z) >> 3) : NULL;
		}
		for (; i < n; i++)
			if (d[i] == '\n')
				return d + i;
		return NULL;
	}
#if defined(__SSE2__)
	const __m128i nl = _mm_set1_epi8('\n');
	for (; i + 16 <= n && i < 64; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(d + i));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl));
		if (m)
			return d + i + __builtin_ctz(m);
	}
	if (i < 64 && i < n) {
		/* the last n - i (< 16) bytes: the 16 that end at d + n */
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(d + n - 16));
		unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, nl)) >> (16 - (n - i));
		return m ? d + i + __builtin_ctz(m) : NULL;
	}
#endif
	return memchr(d + i, '\n', n - i); /* i <= n */
}

/* Opaque token hash (the bytes after 'O'). */
static inline uint32_t mbx_proto_opaque(const uint8_t *salt, const uint8_t *tok, size_t len)
{
	return (uint32_t)mbx_siphash(salt, tok, len);
}

/* ---- binary.c ---- */
/* Structural check on a complete 24-byte header: 0 or -1 (extlen > 64,
 * bodylen < extlen + keylen, bodylen > MBX_PARSER_MAX_VALUE). */
int mbx_proto_bin_check(const uint8_t *h);
/* Bytes of header + extras + (clamped) key that must be contiguous. */
static inline size_t mbx_proto_bin_headlen(const uint8_t *h)
{
	size_t klen = mbx_rd16be(h + 2);
	return MBX_BIN_HDR + h[4] + MBX_MIN(klen, (size_t)MBX_PARSER_KEY_MAX);
}
/* Resync: is this header a plausible message start for the direction? */
bool mbx_proto_bin_plausible(unsigned dir, const uint8_t *h);
/* Resync: could a header starting with these n (< 24) bytes be plausible?
 * Lets an implausible candidate be dropped before its 24 bytes arrived. */
bool mbx_proto_bin_prefix_ok(unsigned dir, const uint8_t *h, size_t n);
/* A complete head (mbx_proto_bin_headlen bytes). */
void mbx_proto_bin_head(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *h,
			uint64_t ts, uint64_t ts0);

#endif
