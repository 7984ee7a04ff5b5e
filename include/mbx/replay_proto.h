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

#define MBX_KEY_MAX 250
#define MBX_KEY_PREFIX_MAX 64
#define MBX_BATCH_MAX 64  /* keys in one multi-key request */

struct mbx_keygen {
	char prefix[MBX_KEY_PREFIX_MAX + 1];
	uint32_t prefix_len;
};

/* prefix may be NULL; longer than MBX_KEY_PREFIX_MAX or containing bytes that
 * are not legal in a key (control, space, DEL) -> -EINVAL. */
int mbx_keygen_init(struct mbx_keygen *kg, const char *prefix);

/* Write the key for (hash, len) into out (at least MBX_KEY_MAX bytes) and
 * return its length. The key is the prefix followed by characters derived
 * from hash; it has exactly `len` bytes when prefix_len < len <= 250,
 * otherwise the nearest legal length (documented in docs/replay.md). Only
 * printable ASCII without spaces. Different hashes give different keys when
 * the derived part has >= 11 characters (66 bits). */
size_t mbx_keygen_key(const struct mbx_keygen *kg, uint64_t hash, unsigned len, char *out);

/* The value buffer: printable bytes, allocated once. */
struct mbx_valbuf;
struct mbx_valbuf *mbx_valbuf_create(size_t size); /* NULL + errno; size >= 4096 */
void mbx_valbuf_destroy(struct mbx_valbuf *vb);
/* Bytes for a value of len bytes for this key: a slice of the buffer
 * (deterministic in hash). For len > buffer size, *avail < len: send the
 * same slice repeatedly (mbx_valbuf_size() bytes at a time). */
const uint8_t *mbx_valbuf_get(const struct mbx_valbuf *vb, uint64_t hash, uint32_t len,
			      uint32_t *avail);
size_t mbx_valbuf_size(const struct mbx_valbuf *vb);

/* One request to send: an op (possibly translated to another protocol) with
 * one or more keys (multi-key gets). */
struct mbx_rreq {
	uint8_t op;       /* enum mbx_op, in the protocol `proto` */
	uint8_t proto;    /* enum mbx_proto to send in */
	uint8_t variant;  /* event variant bits (ms mode, ma direction, mg flags) */
	uint8_t quiet;    /* noreply / q / quiet opcode */
	uint32_t nkeys;   /* 0 for keyless ops, >1 only for multi-key retrieval */
	uint32_t value_len;
	uint32_t opaque;  /* binary opaque / meta O token value */
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

/* Encode req. Returns 0, or -EINVAL if the op cannot be sent in that
 * protocol (e.g. a meta op in binary): the caller counts it as skipped. */
int mbx_rreq_encode(const struct mbx_rreq *req, const struct mbx_valbuf *vb, uint8_t *scratch,
		    size_t scratch_len, struct mbx_rreq_wire *out);

/* Translate a recorded op to the op used in protocol `to` (e.g. text get ->
 * meta mg -> binary getk; text set -> ms -> set). Returns MBX_OP_NONE when
 * the op has no equivalent (it is then skipped and counted). *variant and
 * *quiet are adjusted (e.g. binary getq -> text get, quiet dropped). */
unsigned mbx_rreq_translate(unsigned op, unsigned from_proto, unsigned to_proto, uint8_t *variant,
			    uint8_t *quiet);

/* Ops replay never sends (they would disturb the target or the engine):
 * flush_all/flushq, quit/quitq, verbosity, SASL, unknown. */
bool mbx_rreq_skipped_op(unsigned op);

#endif
