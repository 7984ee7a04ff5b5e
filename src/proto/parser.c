/* SPDX-License-Identifier: Apache-2.0 */
/* Protocol parser core: the per-direction state machine, the carry buffer,
 * value skipping, gaps and resynchronisation. Message heads are interpreted
 * by text.c/meta.c (lines) and binary.c (magic 0x80/0x81).
 *
 * States:
 *   HEAD    at a message boundary. With an empty carry, heads are parsed in
 *           place; a head cut by the end of a chunk is copied to the carry and
 *           completed from the next chunk(s).
 *   SKIP    p->skip bytes of value still to pass (plus the "\r\n" check of a
 *           text data block); a request waiting in p->pending is emitted when
 *           the skip ends.
 *   GETS    inside a get/gets/gat/gats line too long for the carry: keys are
 *           emitted as they complete (text.c).
 *   RESYNC  searching for a boundary: a line start whose line is a known,
 *           well-formed command/response, or a magic byte starting a plausible
 *           binary header. Candidates cut by the end of a chunk wait in the
 *           carry; every stream position is examined once. */
#include "proto/proto_internal.h"

#include "mbx/bufpool.h"

#define MBX_PF_RSCOUNT 0x20u /* initial resync not yet counted (no ctx at init) */

_Static_assert(sizeof(struct mbx_parser) <= 128, "parser state grew: it is embedded per stream");

static void run(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *d,
		const uint8_t *end, uint64_t ts);

void mbx_parser_init(struct mbx_parser *p, uint64_t flow, unsigned dir, bool at_boundary)
{
	memset(p, 0, sizeof(*p));
	p->flow = flow;
	p->dir = dir ? 1 : 0;
	p->state = at_boundary ? MBX_PST_HEAD : MBX_PST_RESYNC;
	if (!at_boundary)
		p->pflags = MBX_PF_LINESTART | MBX_PF_RSCOUNT;
}

void mbx_proto_emit(struct mbx_parser *p, struct mbx_parse_ctx *ctx, struct mbx_msg *m, uint64_t ts)
{
	m->ts_ns = ts;
	m->flow = p->flow;
	m->dir = p->dir;
	m->worker = ctx->worker;
	if (m->kind == MBX_MSG_REQ)
		MBX_CTR_INC(ctx->ctr, req_msgs);
	else
		MBX_CTR_INC(ctx->ctr, rsp_msgs);
	ctx->sink.emit(ctx->sink.ctx, m);
}

void mbx_proto_set_key(struct mbx_parse_ctx *ctx, struct mbx_msg *m, const uint8_t *key, size_t len)
{
	if (MBX_UNLIKELY(len > MBX_PARSER_KEY_MAX)) {
		m->flags |= MBX_MSG_F_KEY_CLAMP;
		MBX_CTR_INC(ctx->ctr, key_too_long);
		m->key_hash = mbx_siphash(ctx->salt, key, MBX_PARSER_KEY_MAX);
	} else {
		m->key_hash = mbx_siphash(ctx->salt, key, len);
	}
	m->key_len = len > UINT16_MAX ? UINT16_MAX : (uint16_t)len;
}

/* ---- carry buffer ---- */

static bool carry_take(struct mbx_parser *p, struct mbx_parse_ctx *ctx)
{
	if (p->carry)
		return true;
	p->carry = mbx_bufpool_get(ctx->pool);
	if (MBX_UNLIKELY(!p->carry)) {
		MBX_CTR_INC(ctx->ctr, carry_exhausted);
		return false;
	}
	return true;
}

/* Replace the carry content with [s, s + n). */
static bool carry_save(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *s, size_t n)
{
	if (!carry_take(p, ctx))
		return false;
	memcpy(p->carry, s, n);
	p->carry_len = (uint32_t)n;
	return true;
}

static void carry_append(struct mbx_parser *p, const uint8_t *s, size_t n)
{
	memcpy(p->carry + p->carry_len, s, n);
	p->carry_len += (uint32_t)n;
}

void mbx_proto_carry_release(struct mbx_parser *p, struct mbx_parse_ctx *ctx)
{
	if (p->carry) {
		mbx_bufpool_put(ctx->pool, p->carry);
		p->carry = NULL;
	}
	p->carry_len = 0;
}

/* Drop the first n carry bytes. */
static void carry_drop(struct mbx_parser *p, uint32_t n)
{
	if (n == 0)
		return;
	memmove(p->carry, p->carry + n, p->carry_len - n);
	p->carry_len -= n;
}

/* ---- state changes ---- */

void mbx_proto_enter_resync(struct mbx_parser *p, struct mbx_parse_ctx *ctx, bool line_start)
{
	p->state = MBX_PST_RESYNC;
	p->pflags = line_start ? MBX_PF_LINESTART : 0;
	p->rs_pos = 0;
	p->skip = 0;
	MBX_CTR_INC(ctx->ctr, resyncs);
}

/* A head held in the carry failed: resync, examining the carry from its
 * second byte on (the first one cannot start a message). */
static void resync_from_carry(struct mbx_parser *p, struct mbx_parse_ctx *ctx)
{
	mbx_proto_enter_resync(p, ctx, false);
	p->rs_pos = 1;
}

static void skip_done(struct mbx_parser *p, struct mbx_parse_ctx *ctx, uint64_t ts)
{
	uint8_t f = p->pflags;

	p->state = MBX_PST_HEAD;
	p->pflags = 0;
	if (f & MBX_PF_BADDATA)
		MBX_CTR_INC(ctx->ctr, parse_errors); /* memcached: CLIENT_ERROR bad data chunk */
	if (f & MBX_PF_PENDING)
		mbx_proto_emit(p, ctx, &p->pending, ts);
}

void mbx_proto_start_skip(struct mbx_parser *p, struct mbx_parse_ctx *ctx, uint64_t n,
			  const struct mbx_msg *pending, bool crlf, uint64_t ts)
{
	p->state = MBX_PST_SKIP;
	p->skip = n;
	p->pflags = crlf ? MBX_PF_CRLF : 0;
	if (pending) {
		p->pending = *pending;
		p->pflags |= MBX_PF_PENDING;
	}
	if (n == 0)
		skip_done(p, ctx, ts);
}

/* ---- SKIP ---- */

static const uint8_t *st_skip(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *d,
			      const uint8_t *end, uint64_t ts)
{
	uint64_t avail = (uint64_t)(end - d);
	uint64_t n = p->skip < avail ? p->skip : avail;

	if ((p->pflags & MBX_PF_CRLF) && p->skip - n < 2) {
		/* This span holds (part of) the block terminator: the byte with r
		 * bytes left to skip (r = 2, 1) must be '\r', '\n'. */
		for (uint64_t r = MBX_MIN(p->skip, 2); r > p->skip - n; r--) {
			if (d[p->skip - r] != (r == 2 ? '\r' : '\n'))
				p->pflags |= MBX_PF_BADDATA;
		}
	}
	p->skip -= n;
	d += n;
	if (p->skip == 0)
		skip_done(p, ctx, ts);
	return d;
}

/* ---- HEAD ---- */

/* A complete text line of n bytes (incl. '\n'). */
static void text_complete(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *line,
			  size_t n, uint64_t ts, uint64_t ts0)
{
	if (MBX_UNLIKELY(mbx_proto_line_content(line, n) > MBX_PARSER_LINE_MAX) &&
	    !(p->dir == 0 && mbx_proto_is_retrieval(line, n))) {
		MBX_CTR_INC(ctx->ctr, line_too_long);
		mbx_proto_enter_resync(p, ctx, true); /* the next byte starts a line */
		return;
	}
	mbx_proto_text_line(p, ctx, line, n, ts, ts0);
}

/* Continue a head held in the carry. */
static const uint8_t *head_carry(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *d,
				 const uint8_t *end, uint64_t ts)
{
	uint8_t *c = p->carry;
	size_t avail = (size_t)(end - d), k;

	if (c[0] == (p->dir ? MBX_BIN_RES : MBX_BIN_REQ)) {
		if (p->carry_len < MBX_BIN_HDR) {
			k = MBX_MIN(MBX_BIN_HDR - p->carry_len, avail);
			carry_append(p, d, k);
			d += k;
			avail -= k;
			if (p->carry_len < MBX_BIN_HDR)
				return d;
			if (mbx_proto_bin_check(c) != 0) {
				MBX_CTR_INC(ctx->ctr, parse_errors);
				resync_from_carry(p, ctx);
				return d;
			}
		}
		size_t need = mbx_proto_bin_headlen(c);
		k = MBX_MIN(need - p->carry_len, avail);
		carry_append(p, d, k);
		d += k;
		if (p->carry_len < need)
			return d;
		mbx_proto_bin_head(p, ctx, c, ts, p->msg_ts);
		mbx_proto_carry_release(p, ctx);
		return d;
	}

	/* Text line. */
	size_t room = MBX_PARSER_CARRY_SIZE - p->carry_len;
	const uint8_t *nl = memchr(d, '\n', MBX_MIN(avail, room));
	if (nl) {
		k = (size_t)(nl + 1 - d);
		carry_append(p, d, k);
		text_complete(p, ctx, c, p->carry_len, ts, p->msg_ts);
		mbx_proto_carry_release(p, ctx);
		return d + k;
	}
	if (p->carry_len + avail < MBX_LINE_WIN) {
		carry_append(p, d, avail);
		return end;
	}
	/* No '\n' within the line window: only retrieval lines may go on. */
	if (p->carry_len < MBX_LINE_WIN) {
		k = MBX_LINE_WIN - p->carry_len;
		carry_append(p, d, k);
		d += k;
		avail -= k;
	}
	if (!(p->dir == 0 && mbx_proto_is_retrieval(c, p->carry_len))) {
		MBX_CTR_INC(ctx->ctr, line_too_long);
		resync_from_carry(p, ctx);
		return d;
	}
	room = MBX_PARSER_CARRY_SIZE - p->carry_len;
	if (avail < room) {
		carry_append(p, d, avail);
		return end;
	}
	/* Longer than the carry: stream its keys. The carry is reused for the
	 * key being assembled, so its content moves to the stack first. */
	uint8_t tmp[MBX_PARSER_CARRY_SIZE];
	size_t n = p->carry_len;
	memcpy(tmp, c, n);
	p->carry_len = 0;
	mbx_proto_gets_begin(p, ctx, tmp, tmp + n, ts);
	return d;
}

static const uint8_t *st_head(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *d,
			      const uint8_t *end, uint64_t ts)
{
	if (p->carry_len)
		return head_carry(p, ctx, d, end, ts);

	size_t avail = (size_t)(end - d);
	if (*d == (p->dir ? MBX_BIN_RES : MBX_BIN_REQ)) {
		if (avail < MBX_BIN_HDR)
			goto carry;
		if (MBX_UNLIKELY(mbx_proto_bin_check(d) != 0)) {
			MBX_CTR_INC(ctx->ctr, parse_errors);
			goto bad_head;
		}
		size_t hl = mbx_proto_bin_headlen(d);
		if (avail < hl)
			goto carry;
		mbx_proto_bin_head(p, ctx, d, ts, ts);
		return d + hl;
	}

	const uint8_t *nl = mbx_proto_find_nl(d, MBX_MIN(avail, (size_t)MBX_LINE_WIN));
	if (MBX_LIKELY(nl != NULL)) {
		text_complete(p, ctx, d, (size_t)(nl + 1 - d), ts, ts);
		return nl + 1;
	}
	if (avail < MBX_LINE_WIN)
		goto carry;
	if (!(p->dir == 0 && mbx_proto_is_retrieval(d, avail))) {
		MBX_CTR_INC(ctx->ctr, line_too_long);
		goto bad_head;
	}
	nl = memchr(d + MBX_LINE_WIN, '\n', avail - MBX_LINE_WIN);
	if (nl) {
		text_complete(p, ctx, d, (size_t)(nl + 1 - d), ts, ts);
		return nl + 1;
	}
	if (avail < MBX_PARSER_CARRY_SIZE)
		goto carry;
	mbx_proto_gets_begin(p, ctx, d, end, ts);
	return end;

bad_head:
	/* Look again from the next byte: it may start a message. */
	mbx_proto_enter_resync(p, ctx, false);
	MBX_CTR_INC(ctx->ctr, resync_bytes);
	return d + 1;

carry:
	p->msg_ts = ts;
	if (MBX_UNLIKELY(!carry_save(p, ctx, d, avail))) {
		/* Message dropped; look for the next one in the following data. */
		mbx_proto_enter_resync(p, ctx, false);
		MBX_CTR_ADD(ctx->ctr, resync_bytes, avail);
	}
	return end;
}

/* ---- RESYNC ---- */

static const uint8_t *rs_synced(struct mbx_parser *p, struct mbx_parse_ctx *ctx,
				const uint8_t *from, const uint8_t *at)
{
	MBX_CTR_ADD(ctx->ctr, resync_bytes, at - from);
	p->state = MBX_PST_HEAD;
	p->pflags = 0;
	return at;
}

/* A candidate at 'at' needs bytes beyond this chunk: keep [at, end). */
static const uint8_t *rs_pending(struct mbx_parser *p, struct mbx_parse_ctx *ctx,
				 const uint8_t *from, const uint8_t *at, const uint8_t *end,
				 bool line_start, uint64_t ts)
{
	MBX_CTR_ADD(ctx->ctr, resync_bytes, at - from);
	p->rs_pos = 0;
	p->msg_ts = ts;
	if (!carry_save(p, ctx, at, (size_t)(end - at))) {
		MBX_CTR_ADD(ctx->ctr, resync_bytes, end - at);
		p->pflags = 0;
		return end;
	}
	p->pflags = line_start ? MBX_PF_LINESTART : 0;
	return end;
}

/* Scan data in place. */
static const uint8_t *rs_scan(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *d,
			      const uint8_t *end, uint64_t ts)
{
	const uint8_t magic = p->dir ? MBX_BIN_RES : MBX_BIN_REQ;
	const uint8_t *pos = d, *next_m = NULL;
	bool ls = p->pflags & MBX_PF_LINESTART;

	while (pos < end) {
		if (ls && *pos != magic) {
			size_t avail = (size_t)(end - pos);
			const uint8_t *nl = memchr(pos, '\n', MBX_MIN(avail, (size_t)MBX_LINE_WIN));
			if (nl) {
				if (mbx_proto_text_candidate(p->dir, pos, (size_t)(nl + 1 - pos)))
					return rs_synced(p, ctx, d, pos);
			} else if (avail < MBX_LINE_WIN) {
				if (mbx_proto_text_prefix_ok(p->dir, pos, avail))
					return rs_pending(p, ctx, d, pos, end, true, ts);
			} else if (mbx_proto_long_candidate(p->dir, pos, avail)) {
				return rs_synced(p, ctx, d, pos);
			}
		}
		ls = false;
		if (!next_m || next_m < pos) {
			next_m = memchr(pos, magic, (size_t)(end - pos));
			if (!next_m)
				next_m = end;
		}
		const uint8_t *nl = memchr(pos, '\n', (size_t)(next_m - pos));
		if (nl) {
			pos = nl + 1;
			ls = true;
			continue;
		}
		if (next_m == end)
			break; /* neither a line start nor a magic byte left */
		if (end - next_m < (ptrdiff_t)MBX_BIN_HDR) {
			if (mbx_proto_bin_prefix_ok(p->dir, next_m, (size_t)(end - next_m)))
				return rs_pending(p, ctx, d, next_m, end, false, ts);
		} else if (mbx_proto_bin_plausible(p->dir, next_m)) {
			return rs_synced(p, ctx, d, next_m);
		}
		pos = next_m + 1;
	}
	MBX_CTR_ADD(ctx->ctr, resync_bytes, end - d);
	p->pflags = ls ? MBX_PF_LINESTART : 0;
	return end;
}

/* A boundary was found at carry position i and the carry holds more than
 * the head: parse carry[i..end) again as ordinary input. It holds bytes of
 * earlier chunks, so it is fed with ts_old. The carry is released first;
 * this input cannot leave a carry behind before its own end, so the
 * re-feed never nests. */
static void rs_refeed(struct mbx_parser *p, struct mbx_parse_ctx *ctx, uint32_t i, uint32_t end,
		      uint64_t ts_old)
{
	uint8_t tmp[MBX_PARSER_CARRY_SIZE];
	uint32_t n = end - i;

	memcpy(tmp, p->carry + i, n);
	MBX_CTR_ADD(ctx->ctr, resync_bytes, i);
	mbx_proto_carry_release(p, ctx);
	p->state = MBX_PST_HEAD;
	p->pflags = 0;
	run(p, ctx, tmp, tmp + n, ts_old);
}

/* Time for carry bytes parsed again: for requests the chunk that brought the
 * last of them (the previous chunk), for responses the first one. */
static uint64_t refeed_ts(const struct mbx_parser *p)
{
	return p->dir ? p->msg_ts : p->last_ts;
}

/* A boundary was found at carry position i. The carry's first old_len bytes
 * came with earlier chunks; the rest were copied from this chunk: they are
 * the bytes right before d (d0: the start of this chunk's data). Parse the
 * old bytes again with their time, and give the new ones back to the
 * caller (rewind d) to be parsed as this chunk's, so that a message is
 * never stamped with a time older than its bytes. */
static const uint8_t *rs_boundary(struct mbx_parser *p, struct mbx_parse_ctx *ctx, uint32_t i,
				  uint32_t old_len, const uint8_t *d, const uint8_t *d0, uint64_t ts,
				  uint32_t *old)
{
	uint32_t nnew = p->carry_len - old_len;

	if (MBX_UNLIKELY((size_t)(d - d0) < nnew)) {
		/* not reached (new carry bytes always come from this chunk):
		 * re-feed everything, at the new time if any byte is new */
		rs_refeed(p, ctx, i, p->carry_len, nnew ? ts : refeed_ts(p));
		*old = 0;
		return d;
	}
	if (i >= old_len) {
		/* the boundary is in this chunk's bytes: parse from there */
		MBX_CTR_ADD(ctx->ctr, resync_bytes, i);
		d -= p->carry_len - i;
		mbx_proto_carry_release(p, ctx);
		p->state = MBX_PST_HEAD;
		p->pflags = 0;
		*old = 0;
		return d;
	}
	rs_refeed(p, ctx, i, old_len, refeed_ts(p));
	*old = p->carry_len; /* what the re-feed left: old bytes */
	return d - nnew;
}

/* Examine the candidates waiting in the carry, with look-ahead into data.
 * *old: how many carry bytes (at its front) came with earlier chunks; the
 * rest came with this chunk (a head completed from it, then found bad).
 * Updated as the carry changes. */
static const uint8_t *rs_carry(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *d,
			       const uint8_t *end, uint64_t ts, const uint8_t *d0, uint32_t *old)
{
	const uint8_t magic = p->dir ? MBX_BIN_RES : MBX_BIN_REQ;
	uint32_t i = p->rs_pos, old_len = MBX_MIN(*old, p->carry_len);
	bool ls = p->pflags & MBX_PF_LINESTART;
	uint8_t *c = p->carry;

	while (i < p->carry_len) {
		if (ls && c[i] != magic) {
			/* A text candidate waiting at position 0 has no '\n' in the
			 * carry (that is why it waits): only look in new data. */
			const uint8_t *nl = i == 0 ? NULL : memchr(c + i, '\n', p->carry_len - i);
			if (nl) {
				size_t n = (size_t)(nl + 1 - (c + i));
				if (n <= MBX_LINE_WIN &&
				    mbx_proto_text_candidate(p->dir, c + i, n)) {
					return rs_boundary(p, ctx, i, old_len, d, d0, ts, old);
				}
			} else {
				/* Complete the line from data: move it to the front. */
				if (i >= old_len)
					p->msg_ts = ts;
				MBX_CTR_ADD(ctx->ctr, resync_bytes, i);
				carry_drop(p, i);
				old_len = old_len > i ? old_len - i : 0;
				i = 0;
				size_t want =
				    p->carry_len < MBX_LINE_WIN ? MBX_LINE_WIN - p->carry_len : 0;
				size_t k = MBX_MIN(want, (size_t)(end - d));
				const uint8_t *q = memchr(d, '\n', k);
				size_t a = q ? (size_t)(q + 1 - d) : k;
				carry_append(p, d, a);
				d += a;
				if (q) {
					if (mbx_proto_text_candidate(p->dir, c, p->carry_len)) {
						p->state = MBX_PST_HEAD;
						p->pflags = 0;
						text_complete(p, ctx, c, p->carry_len, ts,
							      p->msg_ts);
						mbx_proto_carry_release(p, ctx);
						return d;
					}
				} else if (p->carry_len < MBX_LINE_WIN) {
					if (mbx_proto_text_prefix_ok(p->dir, c, p->carry_len)) {
						p->rs_pos = 0;
						p->pflags = MBX_PF_LINESTART;
						*old = old_len;
						return d; /* data exhausted, still waiting */
					}
				} else if (mbx_proto_long_candidate(p->dir, c, p->carry_len)) {
					p->state = MBX_PST_HEAD; /* head_carry continues the line */
					p->pflags = 0;
					*old = old_len;
					return d;
				}
			}
		} else if (c[i] == magic) {
			uint8_t h[MBX_BIN_HDR];
			const uint8_t *hp = c + i;
			size_t have = p->carry_len - i;
			if (have < MBX_BIN_HDR) {
				size_t need = MBX_BIN_HDR - have;
				if ((size_t)(end - d) < need) {
					size_t a = (size_t)(end - d);
					memcpy(h, c + i, have);
					memcpy(h + have, d, a);
					if (!mbx_proto_bin_prefix_ok(p->dir, h, have + a))
						goto next;
					/* Wait with this candidate at the front. */
					MBX_CTR_ADD(ctx->ctr, resync_bytes, i);
					carry_drop(p, i);
					carry_append(p, d, (size_t)(end - d));
					if (i >= old_len)
						p->msg_ts = ts;
					*old = old_len > i ? old_len - i : 0;
					p->rs_pos = 0;
					p->pflags = ls ? MBX_PF_LINESTART : 0;
					return end;
				}
				memcpy(h, c + i, have);
				memcpy(h + have, d, need);
				hp = h;
			}
			if (mbx_proto_bin_plausible(p->dir, hp)) {
				if (have >= MBX_BIN_HDR) {
					return rs_boundary(p, ctx, i, old_len, d, d0, ts, old);
				}
				/* The carry holds a prefix of the header. */
				MBX_CTR_ADD(ctx->ctr, resync_bytes, i);
				carry_drop(p, i);
				if (i >= old_len)
					p->msg_ts = ts;
				p->state = MBX_PST_HEAD;
				p->pflags = 0;
				*old = old_len > i ? old_len - i : 0;
				return d;
			}
		}
	next:
		ls = c[i] == '\n';
		i++;
	}
	MBX_CTR_ADD(ctx->ctr, resync_bytes, p->carry_len);
	mbx_proto_carry_release(p, ctx);
	p->rs_pos = 0;
	p->pflags = ls ? MBX_PF_LINESTART : 0;
	return d;
}

static const uint8_t *st_resync(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *d,
				const uint8_t *end, uint64_t ts, const uint8_t *d0, uint32_t *old)
{
	if (p->carry_len) {
		d = rs_carry(p, ctx, d, end, ts, d0, old);
		if (p->state != MBX_PST_RESYNC || p->carry_len)
			return d;
	}
	return rs_scan(p, ctx, d, end, ts);
}

/* ---- entry points ---- */

static void run(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *d,
		const uint8_t *end, uint64_t ts)
{
	/* Carry bytes that came with earlier chunks: those at its front now.
	 * A head completed from this chunk and then found bad leaves newer
	 * bytes behind them; resync must not stamp those with an old time. */
	uint32_t old = p->carry_len;
	const uint8_t *d0 = d;

	while (d < end) {
		switch (p->state) {
		case MBX_PST_SKIP:
			d = st_skip(p, ctx, d, end, ts);
			break;
		case MBX_PST_HEAD:
			d = st_head(p, ctx, d, end, ts);
			break;
		case MBX_PST_GETS:
			d = mbx_proto_gets_feed(p, ctx, d, end, ts);
			break;
		default:
			d = st_resync(p, ctx, d, end, ts, d0, &old);
			break;
		}
		if (!p->carry_len)
			old = 0;
	}
}

static void count_initial_resync(struct mbx_parser *p, struct mbx_parse_ctx *ctx)
{
	if (MBX_UNLIKELY(p->pflags & MBX_PF_RSCOUNT)) {
		p->pflags &= (uint8_t)~MBX_PF_RSCOUNT;
		MBX_CTR_INC(ctx->ctr, resyncs);
	}
}

/* Length of the digit line ("123\r\n", maybe space padded, as incr/decr
 * replies are) at d, or 0. */
static size_t number_line_len(const uint8_t *d, size_t len)
{
	size_t i = 0, digits = 0;
	while (i < len && i < 24 && d[i] >= '0' && d[i] <= '9')
		i++, digits++;
	while (i < len && i < 44 && d[i] == ' ')
		i++;
	if (!digits || i + 1 >= len || d[i] != '\r' || d[i + 1] != '\n')
		return 0;
	return i + 2;
}

/* Does d start with a complete, well-formed reply line (or a number line)? */
static bool starts_with_reply(const uint8_t *d, size_t len)
{
	if (number_line_len(d, len))
		return true;
	const uint8_t *nl = memchr(d, '\n', MBX_MIN(len, (size_t)MBX_LINE_WIN));
	return nl && mbx_proto_text_candidate(1, d, (size_t)(nl + 1 - d));
}

static void emit_number(struct mbx_parser *p, struct mbx_parse_ctx *ctx, uint64_t ts)
{
	struct mbx_msg m;
	memset(&m, 0, sizeof(m));
	m.kind = MBX_MSG_RSP;
	m.proto = MBX_PROTO_TEXT;
	m.code = MBX_RSP_NUMBER;
	mbx_proto_emit(p, ctx, &m, ts);
}

/* A response stream that began mid-connection may begin with a digit line:
 * an incr/decr reply (percona capture 003 begins so), or a value, or the
 * length or cas field of a VALUE line the capture cut. Elsewhere a digit
 * line is never a resync point; here it is taken when the line after it is
 * a well-formed reply (or another number). When the first segment is the
 * number line alone, the decision waits for the next data (tent_len). */
static void midstream_number(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t **d,
			     size_t *len, uint64_t ts)
{
	if (p->tent_len) {
		size_t tl = p->tent_len;
		p->tent_len = 0;
		if (starts_with_reply(*d, *len)) {
			emit_number(p, ctx, p->msg_ts);
			p->state = MBX_PST_HEAD;
			p->pflags = 0;
		} else {
			MBX_CTR_ADD(ctx->ctr, resync_bytes, tl);
		}
		return;
	}
	size_t n = number_line_len(*d, *len);
	if (!n)
		return;
	if (n == *len) {
		p->tent_len = (uint8_t)n;
		p->msg_ts = ts;
		*len = 0;
		return;
	}
	if (starts_with_reply(*d + n, *len - n)) {
		emit_number(p, ctx, ts);
		p->state = MBX_PST_HEAD;
		p->pflags = 0;
		*d += n;
		*len -= n;
	}
}

void mbx_parser_data(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *data,
		     size_t len, uint64_t ts)
{
	if (!len)
		return;
	if (MBX_UNLIKELY((p->pflags & MBX_PF_RSCOUNT) || p->tent_len) && p->dir &&
	    p->state == MBX_PST_RESYNC && !p->carry_len) {
		count_initial_resync(p, ctx);
		midstream_number(p, ctx, &data, &len, ts);
		if (!len) {
			p->last_ts = ts;
			return;
		}
	}
	count_initial_resync(p, ctx);
	run(p, ctx, data, data + len, ts); /* p->last_ts: the previous chunk's */
	p->last_ts = ts;
}

void mbx_parser_gap(struct mbx_parser *p, struct mbx_parse_ctx *ctx, uint64_t nbytes, uint64_t ts)
{
	if (!nbytes)
		return;
	if (p->tent_len) {
		MBX_CTR_ADD(ctx->ctr, resync_bytes, p->tent_len);
		p->tent_len = 0;
	}
	count_initial_resync(p, ctx);
	p->last_ts = ts;
	switch (p->state) {
	case MBX_PST_SKIP:
		if (nbytes < p->skip) {
			p->skip -= nbytes;
			return;
		}
		/* The value ended inside the gap: its request is complete. */
		nbytes -= p->skip;
		p->skip = 0;
		p->pflags &= (uint8_t)~MBX_PF_BADDATA;
		skip_done(p, ctx, ts);
		if (nbytes == 0)
			return; /* the gap ended exactly at a boundary */
		mbx_proto_enter_resync(p, ctx, true);
		return;
	case MBX_PST_HEAD:
		if (p->carry_len)
			MBX_CTR_INC(ctx->ctr, parse_errors); /* head cut by the gap */
		mbx_proto_carry_release(p, ctx);
		mbx_proto_enter_resync(p, ctx, true);
		return;
	case MBX_PST_GETS:
		mbx_proto_gets_abort(p, ctx);
		mbx_proto_enter_resync(p, ctx, true);
		return;
	default:
		MBX_CTR_ADD(ctx->ctr, resync_bytes, p->carry_len);
		mbx_proto_carry_release(p, ctx);
		p->rs_pos = 0;
		p->pflags = MBX_PF_LINESTART;
		return;
	}
}

void mbx_parser_fini(struct mbx_parser *p, struct mbx_parse_ctx *ctx)
{
	if (p->tent_len) {
		/* the stream ended on its first line, a number: nothing says
		 * otherwise, take it as the reply it most likely is */
		p->tent_len = 0;
		emit_number(p, ctx, p->msg_ts);
	}
	switch (p->state) {
	case MBX_PST_SKIP:
		if ((p->pflags & MBX_PF_PENDING) && (p->pflags & MBX_PF_CRLF) && p->skip <= 2) {
			/* Data block complete, only its terminator missing. */
			mbx_proto_emit(p, ctx, &p->pending, p->last_ts);
		} else {
			MBX_CTR_INC(ctx->ctr, parse_errors);
		}
		break;
	case MBX_PST_HEAD:
		if (p->carry_len)
			MBX_CTR_INC(ctx->ctr, parse_errors);
		break;
	case MBX_PST_GETS:
		mbx_proto_gets_abort(p, ctx);
		break;
	default:
		MBX_CTR_ADD(ctx->ctr, resync_bytes, p->carry_len);
		break;
	}
	mbx_proto_carry_release(p, ctx);
	p->state = MBX_PST_HEAD;
	p->pflags = 0;
	p->skip = 0;
}
