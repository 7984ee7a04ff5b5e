/* SPDX-License-Identifier: Apache-2.0 */
/* Binary protocol heads. A packet is a 24-byte big-endian header
 *   magic opcode keylen(2) extlen datatype vbucket/status(2) bodylen(4)
 *   opaque(4) cas(8)
 * then extlen bytes of extras, keylen bytes of key and the value, which is
 * skipped by count. Requests are emitted when their body has been consumed,
 * responses as soon as the head (header + extras + key) is complete. */
#include "proto/proto_internal.h"

/* Opcode -> op (0 = not a memcached opcode). 0x1f and 0x25+ are unknown. */
/* clang-format off */
static const uint8_t bin_op[256] = {
	[0x00] = MBX_OP_GET,         [0x01] = MBX_OP_SET,         [0x02] = MBX_OP_ADD,
	[0x03] = MBX_OP_REPLACE,     [0x04] = MBX_OP_DELETE,      [0x05] = MBX_OP_INCR,
	[0x06] = MBX_OP_DECR,        [0x07] = MBX_OP_QUIT,        [0x08] = MBX_OP_FLUSH_ALL,
	[0x09] = MBX_OP_GETQ,        [0x0a] = MBX_OP_NOOP,        [0x0b] = MBX_OP_VERSION,
	[0x0c] = MBX_OP_GETK,        [0x0d] = MBX_OP_GETKQ,       [0x0e] = MBX_OP_APPEND,
	[0x0f] = MBX_OP_PREPEND,     [0x10] = MBX_OP_STATS,       [0x11] = MBX_OP_SETQ,
	[0x12] = MBX_OP_ADDQ,        [0x13] = MBX_OP_REPLACEQ,    [0x14] = MBX_OP_DELETEQ,
	[0x15] = MBX_OP_INCRQ,       [0x16] = MBX_OP_DECRQ,       [0x17] = MBX_OP_QUITQ,
	[0x18] = MBX_OP_FLUSHQ,      [0x19] = MBX_OP_APPENDQ,     [0x1a] = MBX_OP_PREPENDQ,
	[0x1b] = MBX_OP_VERBOSITY,   [0x1c] = MBX_OP_TOUCH,       [0x1d] = MBX_OP_GAT,
	[0x1e] = MBX_OP_GATQ,        [0x20] = MBX_OP_SASL_LIST_MECHS, [0x21] = MBX_OP_SASL_AUTH,
	[0x22] = MBX_OP_SASL_STEP,   [0x23] = MBX_OP_GATK,        [0x24] = MBX_OP_GATKQ,
};
/* clang-format on */

static bool bin_quiet(unsigned opc)
{
	return opc == 0x09 || opc == 0x0d || (opc >= 0x11 && opc <= 0x1a) || opc == 0x1e ||
	       opc == 0x24;
}

int mbx_proto_bin_check(const uint8_t *h)
{
	uint32_t klen = mbx_rd16be(h + 2), elen = h[4], blen = mbx_rd32be(h + 8);

	if (elen > MBX_BIN_EXT_MAX || blen < klen + elen || blen > MBX_PARSER_MAX_VALUE)
		return -1;
	return 0;
}

/* memcached's own per-opcode request validation (dispatch_bin_command). */
static bool bin_req_shape(unsigned opc, uint32_t klen, uint32_t elen, uint32_t blen)
{
	switch (opc) {
	case 0x00:
	case 0x09:
	case 0x0c:
	case 0x0d: /* get* */
	case 0x04:
	case 0x14: /* delete */
		return elen == 0 && klen > 0 && blen == klen;
	case 0x01:
	case 0x02:
	case 0x03:
	case 0x11:
	case 0x12:
	case 0x13: /* set/add/replace */
		return elen == 8 && klen > 0;
	case 0x05:
	case 0x06:
	case 0x15:
	case 0x16: /* incr/decr */
		return elen == 20 && klen > 0 && blen == klen + 20;
	case 0x07:
	case 0x17:
	case 0x0a:
	case 0x0b:
	case 0x20: /* quit noop version list */
		return elen == 0 && klen == 0 && blen == 0;
	case 0x08:
	case 0x18: /* flush */
		return klen == 0 && (elen == 0 || elen == 4) && blen == elen;
	case 0x0e:
	case 0x0f:
	case 0x19:
	case 0x1a: /* append/prepend */
		return elen == 0 && klen > 0;
	case 0x10: /* stat */
		return elen == 0 && blen == klen;
	case 0x1b: /* verbosity */
		return elen == 4 && klen == 0 && blen == 4;
	case 0x1c:
	case 0x1d:
	case 0x1e:
	case 0x23:
	case 0x24: /* touch/gat */
		return elen == 4 && klen > 0 && blen == klen + 4;
	case 0x21:
	case 0x22: /* sasl auth/step */
		return elen == 0 && klen > 0;
	default:
		return false;
	}
}

static bool bin_status_known(unsigned st)
{
	return st <= 6 || st == 0x20 || st == 0x21 || st == 0x81 || st == 0x82;
}

bool mbx_proto_bin_plausible(unsigned dir, const uint8_t *h)
{
	unsigned opc = h[1];
	uint32_t klen = mbx_rd16be(h + 2), elen = h[4], blen = mbx_rd32be(h + 8);

	if (h[0] != (dir ? MBX_BIN_RES : MBX_BIN_REQ) || !bin_op[opc] || h[5] != 0)
		return false;
	if (klen > MBX_PARSER_KEY_MAX || mbx_proto_bin_check(h) != 0)
		return false;
	if (!dir)
		return bin_req_shape(opc, klen, elen, blen);
	unsigned st = mbx_rd16be(h + 6);
	if (!bin_status_known(st))
		return false;
	/* memcached's responses: extras only on hits (get flags), errors plain. */
	if (elen != 0 && (elen != 4 || st != 0))
		return false;
	return true;
}

bool mbx_proto_bin_prefix_ok(unsigned dir, const uint8_t *h, size_t n)
{
	if (n >= MBX_BIN_HDR)
		return mbx_proto_bin_plausible(dir, h);
	if ((n > 1 && !bin_op[h[1]]) || (n > 2 && h[2] != 0) ||
	    (n > 3 && h[3] > MBX_PARSER_KEY_MAX) || (n > 4 && h[4] > MBX_BIN_EXT_MAX) ||
	    (n > 5 && h[5] != 0))
		return false;
	if (dir && n > 7) {
		unsigned st = mbx_rd16be(h + 6);
		if (!bin_status_known(st) || (h[4] != 0 && (h[4] != 4 || st != 0)))
			return false;
	}
	if (n > 11) {
		/* every field the check looks at is known now */
		uint8_t full[MBX_BIN_HDR] = {0};
		memcpy(full, h, 12);
		return mbx_proto_bin_plausible(dir, full);
	}
	return true;
}

static uint8_t bin_rsp_code(unsigned status, unsigned opc, uint32_t klen)
{
	switch (status) {
	case 0x00:
		return opc == 0x10 && klen > 0 ? MBX_RSP_STAT : MBX_RSP_BIN_OK;
	case 0x01:
		return MBX_RSP_NOT_FOUND;
	case 0x02:
		return MBX_RSP_EXISTS;
	case 0x03:
		return MBX_RSP_SERVER_ERROR; /* E2BIG */
	case 0x04:
		return MBX_RSP_CLIENT_ERROR; /* EINVAL */
	case 0x05:
		return MBX_RSP_NOT_STORED;
	case 0x06:
		return MBX_RSP_CLIENT_ERROR; /* DELTA_BADVAL */
	case 0x20:
	case 0x21:
		return MBX_RSP_BIN_AUTH;
	case 0x81:
		return MBX_RSP_ERROR; /* unknown command */
	default:
		return MBX_RSP_SERVER_ERROR; /* 0x82 ENOMEM and anything else */
	}
}

void mbx_proto_bin_head(struct mbx_parser *p, struct mbx_parse_ctx *ctx, const uint8_t *h,
			uint64_t ts, uint64_t ts0)
{
	unsigned opc = h[1];
	uint32_t klen = mbx_rd16be(h + 2), elen = h[4], blen = mbx_rd32be(h + 8);
	uint64_t cas = mbx_rd64be(h + 16);
	struct mbx_msg local, *m;
	unsigned op = bin_op[opc] ? bin_op[opc] : MBX_OP_UNKNOWN;
	/* Bytes after the contiguous head: value, and the tail of an over-long key. */
	uint64_t rest = (uint64_t)blen - elen - MBX_MIN(klen, (uint32_t)MBX_PARSER_KEY_MAX);

	if (p->dir == 0) {
		if (op == MBX_OP_SET && cas != 0)
			op = MBX_OP_CAS;
		else if (op == MBX_OP_SETQ && cas != 0)
			op = MBX_OP_CASQ;
		m = mbx_proto_msg_new(ctx, &local, MBX_MSG_REQ, op, MBX_PROTO_BINARY);
	} else {
		m = mbx_proto_msg_new(ctx, &local, MBX_MSG_RSP, op, MBX_PROTO_BINARY);
		m->aux = mbx_rd16be(h + 6);
		m->code = bin_rsp_code(m->aux, opc, klen);
	}
	m->flags = MBX_MSG_F_OPAQUE | (p->dir == 0 && bin_quiet(opc) ? MBX_MSG_F_QUIET : 0);
	m->opaque = mbx_rd32be(h + 12);
	m->value_len = blen - klen - elen;
	if (klen) {
		mbx_proto_set_key(ctx, m, h + MBX_BIN_HDR + elen, klen);
		if (p->dir)
			m->flags |= MBX_MSG_F_KEY;
	}

	if (p->dir == 0) {
		if (rest == 0)
			mbx_proto_emit(p, ctx, m, ts);
		else
			mbx_proto_start_skip(p, ctx, rest, m, false, ts);
	} else {
		mbx_proto_emit(p, ctx, m, ts0);
		if (rest)
			mbx_proto_start_skip(p, ctx, rest, NULL, false, ts);
	}
}
