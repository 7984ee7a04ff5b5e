/* SPDX-License-Identifier: Apache-2.0 */
/* Memcache protocol parser for ONE direction of a connection: text, meta and
 * binary, requests (client->server) or responses (server->client).
 *
 * Input arrives as in-order byte chunks (from reassembly) of any size, split
 * anywhere. The parser works in place: it never copies values, only the
 * unfinished head of a message (a partial text line, a partial binary header
 * + key) into a carry buffer taken from a per-worker pool; value bytes are
 * skipped by count. Never uses C-string functions on wire bytes.
 *
 * Output: struct mbx_msg records through ctx->sink (see msg.h). Requests are
 * emitted when their last byte is seen (storage commands after the data
 * block), with ts = that chunk's time. Responses are emitted when their first
 * line/header is complete, with ts = the time of the chunk holding their FIRST
 * byte.
 *
 * Protocol detection per direction: a binary magic byte (0x80 request, 0x81
 * response) at a message boundary selects binary for that message; otherwise
 * a text line, whose command decides text vs meta. Text and meta may mix.
 *
 * Limits (memcached's own): keys of at most 250 bytes (longer: counted as
 * key_too_long, still emitted with MBX_MSG_F_KEY_CLAMP); text lines of at
 * most 2048 bytes (line_too_long, resync) except retrieval commands
 * (get/gets/gat/gats), whose keys are consumed incrementally however long the
 * line; binary keys up to 250 and extras up to 64 bytes.
 *
 * Resynchronisation (after a gap, garbage, or when the stream started
 * mid-connection): skip the rest of a value of known length; otherwise look
 * for the next line that begins with a known command (requests) or response
 * keyword (responses), or a binary magic byte followed by a plausible header.
 * Skipped bytes are counted (resync_bytes). */
#ifndef MBX_PARSER_H
#define MBX_PARSER_H

#include "mbx/bufpool.h"
#include "mbx/common.h"
#include "mbx/counters.h"
#include "mbx/msg.h"

/* Carry buffers (the pool's bufsize) must hold the longest unfinished message
 * head: a 2048-byte text line + CRLF, or a binary header + extras + key, and
 * the first 4 KiB of a long retrieval line. */
#define MBX_PARSER_CARRY_SIZE 4096
/* Longest text line (without its terminator) outside get/gets/gat/gats. */
#define MBX_PARSER_LINE_MAX 2048
/* Keys longer than this are counted (key_too_long) and flagged KEY_CLAMP. */
#define MBX_PARSER_KEY_MAX 250
/* Data blocks / binary bodies above this are treated as invalid. */
#define MBX_PARSER_MAX_VALUE (128u << 20)

struct mbx_parse_ctx {
	const uint8_t *salt;          /* 16-byte key-hash salt */
	struct mbx_bufpool *pool;     /* carry buffers of >= MBX_PARSER_CARRY_SIZE bytes */
	struct mbx_counters *ctr;
	struct mbx_msg_sink sink;
	uint8_t worker;               /* copied into mbx_msg.worker */
};

/* Per-direction parser state. Embedded in the stream's user area; treat as
 * opaque (fields are internal to src/proto). Its size is fixed at compile
 * time (112 bytes on LP64). */
struct mbx_parser {
	uint64_t flow;
	uint64_t skip;          /* value bytes (incl. a text block's CRLF) still to skip */
	uint64_t msg_ts;        /* time of the chunk holding the first byte of the head in progress */
	uint64_t last_ts;       /* time of the last chunk or gap seen */
	uint8_t *carry;         /* pool buffer or NULL */
	uint32_t carry_len;     /* bytes held in carry */
	uint32_t rs_pos;        /* resync: first carry position not yet examined */
	uint32_t tok_len;       /* long retrieval line: length of the token being assembled */
	uint32_t nkeys;         /* long retrieval line: keys seen so far */
	uint8_t dir;            /* 0 = requests, 1 = responses */
	uint8_t state;          /* internal state machine */
	uint8_t pflags;         /* internal flags */
	uint8_t gs_op;          /* long retrieval line: op */
	uint8_t gs_phase;       /* long retrieval line: 0 = exptime expected, 1 = keys */
	uint8_t tok_last;       /* long retrieval line: last byte of the token being assembled */
	uint8_t tent_len;       /* mid-stream start: a lone number line awaiting confirmation */
	uint8_t pad;
	struct mbx_msg pending; /* request waiting for its data block / last key of a long line */
};

/* Initialise for a direction. at_boundary: the first byte fed will be the
 * first byte of a message (stream started with SYN); otherwise the parser
 * starts in resync mode. */
void mbx_parser_init(struct mbx_parser *p, uint64_t flow, unsigned dir, bool at_boundary);

/* Feed len in-order bytes seen at time ts. */
void mbx_parser_data(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *data,
		     size_t len, uint64_t ts);

/* nbytes were lost at this point of the stream. Skips them if they fall
 * inside a value of known length; otherwise drops the message in progress
 * (counted) and resynchronises. */
void mbx_parser_gap(struct mbx_parser *p, struct mbx_parse_ctx *ctx, uint64_t nbytes,
		    uint64_t ts);

/* End of stream: a message still in progress is counted as a parse error
 * (truncated), unless it is a request whose data block is complete. Returns
 * the carry buffer to the pool. Safe to call twice. */
void mbx_parser_fini(struct mbx_parser *p, struct mbx_parse_ctx *ctx);

/* Base64 decode (RFC 4648, with or without padding) for meta 'b' keys.
 * Returns the decoded length, or -1 if invalid or out too small. */
int mbx_base64_decode(const uint8_t *in, size_t inlen, uint8_t *out, size_t outcap);

#endif
