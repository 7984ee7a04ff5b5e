/* SPDX-License-Identifier: Apache-2.0 */
/* The event: one memcache operation, fixed 32 bytes, the unit of the profile.
 *
 * Ops are named as memcached names them. Text and binary commands with the
 * same meaning share an op (binary GET and text get are both "get"; the
 * protocol bits in flags tell them apart); binary-only variants (quiet and
 * key-returning opcodes) have their own ops. Meta commands are their own ops. */
#ifndef MBX_EVENT_H
#define MBX_EVENT_H

#include "mbx/common.h"

/* The numeric values of ops and outcomes are stored in profiles: both lists
 * are APPEND-ONLY. New ops and outcomes go at the end (after UNKNOWN); never
 * reorder, remove or insert.
 *
 * X(ENUM, "name", class) -- class drives hit/miss accounting in analysis:
 *   RETR  retrieval (hit/miss)         STORE storage (stored/not stored/...)
 *   DEL   deletion (deleted/not found) ARITH incr/decr (hit/not found)
 *   TOUCH touch (touched/not found)    OTHER everything else */
#define MBX_OPS(X)                                                                                 \
	X(NONE, "none", OTHER)                                                                     \
	X(GET, "get", RETR)                                                                        \
	X(GETS, "gets", RETR)                                                                      \
	X(GAT, "gat", RETR)                                                                        \
	X(GATS, "gats", RETR)                                                                      \
	X(SET, "set", STORE)                                                                       \
	X(ADD, "add", STORE)                                                                       \
	X(REPLACE, "replace", STORE)                                                               \
	X(APPEND, "append", STORE)                                                                 \
	X(PREPEND, "prepend", STORE)                                                               \
	X(CAS, "cas", STORE)                                                                       \
	X(DELETE, "delete", DEL)                                                                   \
	X(INCR, "incr", ARITH)                                                                     \
	X(DECR, "decr", ARITH)                                                                     \
	X(TOUCH, "touch", TOUCH)                                                                   \
	X(FLUSH_ALL, "flush_all", OTHER)                                                           \
	X(VERSION, "version", OTHER)                                                               \
	X(STATS, "stats", OTHER)                                                                   \
	X(VERBOSITY, "verbosity", OTHER)                                                           \
	X(QUIT, "quit", OTHER)                                                                     \
	X(MG, "mg", RETR)                                                                          \
	X(MS, "ms", STORE)                                                                         \
	X(MD, "md", DEL)                                                                           \
	X(MA, "ma", ARITH)                                                                         \
	X(MN, "mn", OTHER)                                                                         \
	X(ME, "me", OTHER)                                                                         \
	X(GETQ, "getq", RETR)                                                                      \
	X(GETK, "getk", RETR)                                                                      \
	X(GETKQ, "getkq", RETR)                                                                    \
	X(GATQ, "gatq", RETR)                                                                      \
	X(GATK, "gatk", RETR)                                                                      \
	X(GATKQ, "gatkq", RETR)                                                                    \
	X(SETQ, "setq", STORE)                                                                     \
	X(ADDQ, "addq", STORE)                                                                     \
	X(REPLACEQ, "replaceq", STORE)                                                             \
	X(APPENDQ, "appendq", STORE)                                                               \
	X(PREPENDQ, "prependq", STORE)                                                             \
	X(CASQ, "casq", STORE)                                                                     \
	X(DELETEQ, "deleteq", DEL)                                                                 \
	X(INCRQ, "incrq", ARITH)                                                                   \
	X(DECRQ, "decrq", ARITH)                                                                   \
	X(FLUSHQ, "flushq", OTHER)                                                                 \
	X(QUITQ, "quitq", OTHER)                                                                   \
	X(NOOP, "noop", OTHER)                                                                     \
	X(SASL_LIST_MECHS, "sasl_list_mechs", OTHER)                                               \
	X(SASL_AUTH, "sasl_auth", OTHER)                                                           \
	X(SASL_STEP, "sasl_step", OTHER)                                                           \
	X(UNKNOWN, "unknown", OTHER)

enum mbx_op {
#define MBX_X_ENUM(e, n, c) MBX_OP_##e,
	MBX_OPS(MBX_X_ENUM)
#undef MBX_X_ENUM
	MBX_OP__COUNT
};

enum mbx_op_class {
	MBX_OPC_OTHER = 0,
	MBX_OPC_RETR,
	MBX_OPC_STORE,
	MBX_OPC_DEL,
	MBX_OPC_ARITH,
	MBX_OPC_TOUCH,
};

/* What happened to an operation. Hits and misses per op class:
 *   RETR: HIT / MISS;  DEL: DELETED / NOT_FOUND;  ARITH: HIT / NOT_FOUND;
 *   TOUCH: TOUCHED / NOT_FOUND;  STORE: STORED / NOT_STORED / EXISTS / NOT_FOUND.
 * NONE means no response was seen although one was expected (capture ended,
 * connection closed, data lost in a gap, pairing timeout). NOREPLY means the
 * request asked for no reply and its result cannot be inferred. A quiet
 * request whose silence implies a result (binary GETQ miss, meta "mg q" miss,
 * "ms q" stored) gets that result and keeps MBX_EV_F_QUIET. */
#define MBX_OUTCOMES(X)                                                                            \
	X(NONE, "none")                                                                            \
	X(NOREPLY, "noreply")                                                                      \
	X(HIT, "hit")                                                                              \
	X(MISS, "miss")                                                                            \
	X(STORED, "stored")                                                                        \
	X(NOT_STORED, "not_stored")                                                                \
	X(EXISTS, "exists")                                                                        \
	X(NOT_FOUND, "not_found")                                                                  \
	X(DELETED, "deleted")                                                                      \
	X(TOUCHED, "touched")                                                                      \
	X(OK, "ok")                                                                                \
	X(ERROR, "error")                                                                          \
	X(CLIENT_ERROR, "client_error")                                                            \
	X(SERVER_ERROR, "server_error")

enum mbx_outcome {
#define MBX_X_ENUM(e, n) MBX_OUT_##e,
	MBX_OUTCOMES(MBX_X_ENUM)
#undef MBX_X_ENUM
	MBX_OUT__COUNT
};

enum mbx_proto {
	MBX_PROTO_TEXT = 0,
	MBX_PROTO_META = 1,
	MBX_PROTO_BINARY = 2,
};

/* Event flags byte. */
#define MBX_EV_F_PROTO_MASK  0x03u /* enum mbx_proto */
#define MBX_EV_F_BATCH_CONT  0x04u /* same request as the previous event of this connection */
#define MBX_EV_F_QUIET       0x08u /* noreply / meta q / binary quiet opcode */
#define MBX_EV_F_KEY_CLAMPED 0x10u /* key longer than 254 bytes; key_len says 255 */
#define MBX_EV_F_VARIANT_SHIFT 5   /* 3 bits of op-specific variant, see below */
#define MBX_EV_F_VARIANT_MASK  0xe0u

/* Variants (3 bits). ms: storage mode; ma: direction; mg: bit flags. */
enum mbx_ms_mode {
	MBX_MS_SET = 0, /* MS (default) */
	MBX_MS_ADD = 1, /* ME */
	MBX_MS_APPEND = 2, /* MA */
	MBX_MS_PREPEND = 3, /* MP */
	MBX_MS_REPLACE = 4, /* MR */
	MBX_MS_CAS = 5, /* C flag given */
};
enum mbx_ma_mode {
	MBX_MA_INCR = 0,
	MBX_MA_DECR = 1,
};
#define MBX_MG_V 0x1u /* mg: value requested (v flag) */
#define MBX_MG_T 0x2u /* mg: new TTL given (T flag): memcached counts it as a touch */
#define MBX_MG_K 0x4u /* mg: key returned (k flag) */

#define MBX_LAT_NONE 0xffffffffu /* latency unknown: no response paired */
#define MBX_LAT_MAX  0xfffffffeu /* saturation value, ~4.29 s */

#define MBX_KEY_LEN_CLAMP 255u

struct mbx_event {
	uint64_t ts_ns;      /* request complete (last byte seen), ns since the Unix epoch */
	uint64_t key_hash;   /* keyed SipHash-2-4 of the key bytes; 0 for keyless ops */
	uint32_t conn_id;    /* 1, 2, ... per TCP connection, in order of first appearance */
	uint32_t latency_ns; /* last request byte -> first response byte; MBX_LAT_NONE if unpaired */
	uint32_t value_len;  /* storage: bytes sent; retrieval hit: bytes returned; else 0 */
	uint8_t op;          /* enum mbx_op */
	uint8_t key_len;     /* 0..254, 255 = clamped (MBX_EV_F_KEY_CLAMPED) */
	uint8_t outcome;     /* enum mbx_outcome */
	uint8_t flags;       /* MBX_EV_F_* */
};

_Static_assert(sizeof(struct mbx_event) == 32, "event must stay 32 bytes");

static inline enum mbx_proto mbx_ev_proto(const struct mbx_event *e)
{
	return (enum mbx_proto)(e->flags & MBX_EV_F_PROTO_MASK);
}

static inline unsigned mbx_ev_variant(const struct mbx_event *e)
{
	return (e->flags & MBX_EV_F_VARIANT_MASK) >> MBX_EV_F_VARIANT_SHIFT;
}

/* Names and classes. Return "?" / MBX_OPC_OTHER for out-of-range values. */
const char *mbx_op_name(unsigned op);
enum mbx_op_class mbx_op_class(unsigned op);
const char *mbx_outcome_name(unsigned outcome);
const char *mbx_proto_name(unsigned proto);
/* Look up an op by name; returns MBX_OP_NONE if unknown. */
enum mbx_op mbx_op_from_name(const char *name, size_t len);

/* Is this outcome a hit / a miss for the op's class (see table above)? */
bool mbx_outcome_is_hit(unsigned op, unsigned outcome);
bool mbx_outcome_is_miss(unsigned op, unsigned outcome);
bool mbx_outcome_is_error(unsigned outcome);

#endif
