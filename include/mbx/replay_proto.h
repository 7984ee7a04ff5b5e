/* SPDX-License-Identifier: Apache-2.0 */
/* Replay: keys, values and request encoding.
 *
 * Keys are deterministic: the same (key hash, key length) gives the same
 * valid memcache key on every run and every machine; --key-prefix
 * namespaces a run. Values have the recorded length and come from one
 * preallocated buffer. Requests are encoded into caller-provided scratch
 * memory (header) plus a pointer into the value buffer: no allocation. */
#ifndef MBX_REPLAY_PROTO_H
#define MBX_REPLAY_PROTO_H

#include "mbx/common.h"
#include "mbx/event.h"
#include "mbx/hash.h"
#include "mbx/msg.h"

#define MBX_KEY_MAX 250
#define MBX_KEY_PREFIX_MAX 64
#define MBX_BATCH_MAX 64  /* keys in one multi-key request */

struct mbx_keygen {
	char prefix[MBX_KEY_PREFIX_MAX + 1];
	uint32_t prefix_len;
};

/* prefix may be NULL; longer than MBX_KEY_PREFIX_MAX or containing bytes
 * outside 0x21-0x7e (control, space, DEL, non-ASCII) -> -EINVAL, and kg is
 * left with no prefix. */
int mbx_keygen_init(struct mbx_keygen *kg, const char *prefix);

/* Write the key for (hash, len) into out (MBX_KEY_MAX bytes, all of which
 * may be written) and return its length. The key is the prefix followed by characters derived
 * from hash (alphabet A-Z a-z 0-9 - _, the SplitMix64 stream seeded by hash
 * read 6 bits per character). Its length is:
 *   len                      when prefix_len < len <= 250
 *   250                      when len > 250 (recorded keys were clamped)
 *   prefix_len + max(1, min(len, 11))   when len <= prefix_len
 * so the caller counts a length change by comparing the result with len
 * (MBX_MIN(len, 250)). Only printable ASCII 0x21-0x7e. The first 11 derived
 * characters encode all 64 bits of the hash: different hashes give
 * different keys when the derived part has >= 11 characters. No allocation.
 * The derivation is pinned by golden tests: changing it changes every
 * replay. docs/replay.md. */
size_t mbx_keygen_key(const struct mbx_keygen *kg, uint64_t hash, unsigned len, char *out);

/* The value buffer: ASCII digits (printable, and a value of up to 19 bytes
 * is a number, so a replayed incr/decr on a replayed value works), filled
 * once from a fixed seed: identical on every run. */
struct mbx_valbuf;
/* NULL + errno (EINVAL unless 4096 <= size <= 1 GiB; mmap's errno). */
struct mbx_valbuf *mbx_valbuf_create(size_t size);
void mbx_valbuf_destroy(struct mbx_valbuf *vb);
/* Bytes for a value of len bytes for this key: a slice of the buffer
 * (deterministic in hash). For len > buffer size, *avail < len: send the
 * same slice repeatedly (mbx_valbuf_size() bytes at a time). */
const uint8_t *mbx_valbuf_get(const struct mbx_valbuf *vb, uint64_t hash, uint32_t len,
			      uint32_t *avail);
size_t mbx_valbuf_size(const struct mbx_valbuf *vb);

/* Request-only variant bit (above the 3 event variant bits; mask with 7
 * before storing a variant in an event): mg: add "c" (return the cas, as
 * text gets/gats do); ma: add "v" (return the value, as text and binary
 * incr/decr do). Set by mbx_rreq_translate. */
#define MBX_RREQ_MG_C 0x08u
#define MBX_RREQ_MA_V 0x08u

/* The cas unique sent by cas requests (text cas, ms C, binary SET with cas).
 * Replay does not know the target's cas values; this one is far above any
 * counter memcached reaches, so a cas on a stored key answers EXISTS and on
 * a missing key NOT_FOUND. */
#define MBX_RREQ_CAS_UNIQUE 999999999999999999ULL

/* One request to send: an op (possibly translated to another protocol) with
 * one or more keys (multi-key gets). */
struct mbx_rreq {
	uint8_t op;       /* enum mbx_op, in the protocol `proto` */
	uint8_t proto;    /* enum mbx_proto to send in */
	uint8_t variant;  /* event variant bits (ms mode, ma direction, mg flags) */
	uint8_t quiet;    /* noreply / q / quiet opcode */
	uint32_t nkeys;   /* 0 for keyless ops, >1 only for multi-key retrieval */
	uint32_t value_len;
	uint32_t opaque;  /* binary opaque; meta: O<decimal> when non-zero */
	uint32_t exptime; /* storage, touch, gat, mg T: 0 = never expires */
	uint64_t value_hash; /* selects the value bytes */
	const char *keys[MBX_BATCH_MAX];
	uint8_t key_lens[MBX_BATCH_MAX];
};

/* The encoded request: hdr (in the caller's scratch), then value_len bytes
 * of value (from the value buffer; repeat when longer than it), then tail
 * (e.g. "\r\n" after a text/meta data block). */
struct mbx_rreq_wire {
	const uint8_t *hdr;
	size_t hdr_len;
	const uint8_t *value;
	uint32_t value_avail; /* bytes available at value (< value_len: repeat) */
	uint32_t value_len;
	const uint8_t *tail;
	size_t tail_len;
};

/* Scratch needed for any header: a multi-key line of MBX_BATCH_MAX keys. */
#define MBX_RREQ_SCRATCH (MBX_BATCH_MAX * (MBX_KEY_MAX + 1) + 256)

/* Encode req. Returns 0, -EINVAL if the op cannot be sent in that protocol
 * (e.g. a meta op in binary, a skipped op) or the request is malformed (key
 * count or length, missing value buffer): the caller counts it as skipped;
 * -ENOSPC if scratch_len is too small (MBX_RREQ_SCRATCH always suffices).
 * Keys go on the wire as given (mbx_keygen_key keys are legal everywhere).
 * quiet selects noreply / q / the quiet binary opcode where the op has one
 * and is ignored where it has none (text retrievals, mn, binary touch, ...).
 * Table of what is sent: docs/replay.md. */
int mbx_rreq_encode(const struct mbx_rreq *req, const struct mbx_valbuf *vb, uint8_t *scratch,
		    size_t scratch_len, struct mbx_rreq_wire *out);

/* What pairing must be told about an encoded request: one MBX_MSG_REQ per
 * key (one for a keyless op), as mbx_parser would read the wire bytes of
 * mbx_rreq_encode(req): op, protocol of the expected reply (version and
 * stats go out as text lines on a meta connection), variant, key hash and
 * length under salt, value length of stores, quiet/batch/opaque flags (a
 * meta O token is reported as the low 32 bits of its SipHash, as the parser
 * does). flow, ts_ns and cookie are left 0 for the caller. Returns the
 * number of messages written to out[] (<= MBX_BATCH_MAX). */
uint32_t mbx_rreq_msgs(const struct mbx_rreq *req, const uint8_t salt[MBX_SALT_LEN],
		       struct mbx_msg *out);

/* Translate a recorded op to the op used in protocol `to` (e.g. text get ->
 * meta mg -> binary getk; text set -> ms -> set). Returns MBX_OP_NONE when
 * the op has no equivalent (it is then skipped and counted). *variant and
 * *quiet are adjusted (e.g. binary getq -> text get, quiet dropped).
 * from == to keeps the op and variant and only normalises quiet (binary: a
 * quiet flag on a loud op gives its quiet op, GET -> GETQ, so the op always
 * names the opcode sent). Table: docs/replay.md. */
unsigned mbx_rreq_translate(unsigned op, unsigned from_proto, unsigned to_proto, uint8_t *variant,
			    uint8_t *quiet);

/* Ops replay never sends (they would disturb the target or the engine):
 * flush_all/flushq, quit/quitq, verbosity, SASL, unknown. */
bool mbx_rreq_skipped_op(unsigned op);

#endif
