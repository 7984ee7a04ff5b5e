/* SPDX-License-Identifier: Apache-2.0 */
/* Messages: what a protocol parser emits for ONE direction of a connection,
 * and what the pairing stage consumes. A request message is one request (one
 * key of a multi-key get); a response message is one response unit (a VALUE
 * line, END, STORED, a binary response packet, ...).
 *
 * The two directions of a connection may be parsed by different workers
 * (no symmetric RSS): they share only `flow`, the canonical connection hash.
 * The pairing stage (pair.h) merges both directions in time order and turns
 * request + response messages into events. */
#ifndef MBX_MSG_H
#define MBX_MSG_H

#include "mbx/common.h"

enum mbx_msg_kind {
	MBX_MSG_REQ = 1,   /* a request (one key) */
	MBX_MSG_RSP = 2,   /* a response unit */
	MBX_MSG_OPEN = 3,  /* client SYN seen: a new connection on this 5-tuple */
	MBX_MSG_CLOSE = 4, /* FIN/RST/idle/eviction/end of capture on one direction */
	MBX_MSG_GAP = 5,   /* bytes lost on one direction; pairing must resynchronise */
};

/* Response codes, independent of the request. Binary statuses are mapped to
 * the nearest text meaning (see binary parser); the raw status is kept in
 * mbx_msg.aux for binary responses. */
#define MBX_RSPS(X)                                                                                \
	X(NONE, "none")                                                                            \
	X(VALUE, "VALUE")             /* text VALUE line + data block; key_hash, value_len */     \
	X(END, "END")                 /* text END (get/gat/stats terminator) */                   \
	X(STORED, "STORED")                                                                        \
	X(NOT_STORED, "NOT_STORED")                                                                \
	X(EXISTS, "EXISTS")                                                                        \
	X(NOT_FOUND, "NOT_FOUND")                                                                  \
	X(DELETED, "DELETED")                                                                      \
	X(TOUCHED, "TOUCHED")                                                                      \
	X(OK, "OK")                   /* flush_all, verbosity, ... */                             \
	X(NUMBER, "NUMBER")           /* incr/decr new value */                                   \
	X(VERSION, "VERSION")                                                                      \
	X(STAT, "STAT")               /* one STAT line (emitted; pairing ignores them) */         \
	X(ERROR, "ERROR")                                                                          \
	X(CLIENT_ERROR, "CLIENT_ERROR")                                                            \
	X(SERVER_ERROR, "SERVER_ERROR")                                                            \
	X(HD, "HD")                   /* meta success, no value */                                \
	X(VA, "VA")                   /* meta value follows; value_len */                         \
	X(EN, "EN")                   /* meta miss */                                             \
	X(NF, "NF")                   /* meta not found */                                        \
	X(NS, "NS")                   /* meta not stored */                                       \
	X(EX, "EX")                   /* meta exists (cas mismatch) */                            \
	X(MN, "MN")                   /* meta no-op */                                            \
	X(ME, "ME")                   /* meta debug reply */                                      \
	X(BIN_OK, "BIN_OK")           /* binary status 0 */                                       \
	X(BIN_AUTH, "BIN_AUTH")       /* binary SASL auth statuses (0x20, 0x21) */

enum mbx_rsp {
#define MBX_X_ENUM(e, n) MBX_RSP_##e,
	MBX_RSPS(MBX_X_ENUM)
#undef MBX_X_ENUM
	MBX_RSP__COUNT
};

/* mbx_msg.flags */
#define MBX_MSG_F_QUIET      0x01u /* REQ: noreply / meta q / binary quiet opcode */
#define MBX_MSG_F_BATCH_CONT 0x02u /* REQ: continues the previous request (multi-key get) */
#define MBX_MSG_F_OPAQUE     0x04u /* REQ/RSP: opaque is meaningful (binary always, meta O) */
#define MBX_MSG_F_KEY        0x08u /* RSP: key_hash/key_len are meaningful (VALUE, GETK, meta k) */
#define MBX_MSG_F_KEY_CLAMP  0x10u /* key longer than 254 bytes */
#define MBX_MSG_F_BATCH_END  0x20u /* REQ: last key of a multi-key request (text get line end) */

/* mbx_msg.aux for MBX_MSG_CLOSE */
enum mbx_close_why {
	MBX_CLOSE_FIN = 1,
	MBX_CLOSE_RST = 2,
	MBX_CLOSE_IDLE = 3,
	MBX_CLOSE_EVICT = 4,
	MBX_CLOSE_END = 5, /* end of capture */
	MBX_CLOSE_REUSED = 6, /* the 5-tuple started a new connection (SYN, new ISN) */
};

struct mbx_msg {
	uint64_t ts_ns;    /* REQ: last byte seen; RSP: first byte seen; others: packet time */
	uint64_t flow;     /* canonical connection hash, same for both directions, never 0 */
	uint64_t key_hash; /* REQ (keyed ops) and RSP with MBX_MSG_F_KEY */
	uint32_t value_len;/* REQ: data block length; RSP VALUE/VA/binary: value length */
	uint32_t opaque;   /* binary opaque; meta O token hashed to 32 bits */
	uint16_t key_len;  /* saturated at 0xffff */
	uint8_t kind;      /* enum mbx_msg_kind */
	uint8_t op;        /* REQ: enum mbx_op. RSP binary: the op of the response opcode */
	uint8_t proto;     /* enum mbx_proto */
	uint8_t code;      /* RSP: enum mbx_rsp */
	uint8_t flags;     /* MBX_MSG_F_* */
	uint8_t variant;   /* REQ: op variant (event.h MBX_MS_*, MBX_MA_*, MBX_MG_*) */
	uint16_t aux;      /* RSP binary: raw status; CLOSE: enum mbx_close_why; GAP: direction */
	uint8_t dir;       /* 0 = request direction (client->server), 1 = response direction */
	uint8_t worker;    /* producing worker index */
	uint32_t cookie;   /* REQ: opaque to mbx, handed back by pairing's on_final (replay) */
};

_Static_assert(sizeof(struct mbx_msg) == 48, "mbx_msg layout");

const char *mbx_rsp_name(unsigned code);

/* A consumer of messages. emit() must not fail; a consumer that can fill up
 * (a ring) drops and counts.
 * slot (optional, NULL if unused): *slot is where the sink wants the next
 * message built, e.g. its staging array; a producer that honours it builds
 * the message there and passes that pointer to emit(), which then need not
 * copy it. (Copying a message right after its fields were stored one by one
 * costs a store-forwarding stall per message: the copy's wide loads cannot
 * be served from the narrower stores still in the store buffer.) *slot is
 * valid until the next emit(); nothing else may be emitted in between. */
struct mbx_msg_sink {
	void (*emit)(void *ctx, const struct mbx_msg *m);
	void *ctx;
	struct mbx_msg *const *slot;
};

#endif
