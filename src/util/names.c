/* SPDX-License-Identifier: Apache-2.0 */
/* Name tables generated from the X-macros in event.h, msg.h, counters.h. */
#include "mbx/counters.h"
#include "mbx/event.h"
#include "mbx/msg.h"

static const char *const op_names[] = {
#define MBX_X(e, n, c) [MBX_OP_##e] = (n),
	MBX_OPS(MBX_X)
#undef MBX_X
};

static const uint8_t op_classes[] = {
#define MBX_X(e, n, c) [MBX_OP_##e] = MBX_OPC_##c,
	MBX_OPS(MBX_X)
#undef MBX_X
};

static const char *const outcome_names[] = {
#define MBX_X(e, n) [MBX_OUT_##e] = (n),
	MBX_OUTCOMES(MBX_X)
#undef MBX_X
};

static const char *const rsp_names[] = {
#define MBX_X(e, n) [MBX_RSP_##e] = (n),
	MBX_RSPS(MBX_X)
#undef MBX_X
};

static const char *const counter_names[] = {
#define MBX_X(n, k, d) #n,
	MBX_COUNTERS(MBX_X)
#undef MBX_X
};

static const char *const counter_descs[] = {
#define MBX_X(n, k, d) d,
	MBX_COUNTERS(MBX_X)
#undef MBX_X
};

#define MBX_CTR_KIND_INFO false
#define MBX_CTR_KIND_LOSS true
static const bool counter_loss[] = {
#define MBX_X(n, k, d) MBX_CTR_KIND_##k,
	MBX_COUNTERS(MBX_X)
#undef MBX_X
};

_Static_assert(sizeof(struct mbx_counters) >= MBX_CTR__COUNT * sizeof(uint64_t), "counters");

const char *mbx_op_name(unsigned op)
{
	return op < MBX_OP__COUNT ? op_names[op] : "?";
}

enum mbx_op_class mbx_op_class(unsigned op)
{
	return op < MBX_OP__COUNT ? (enum mbx_op_class)op_classes[op] : MBX_OPC_OTHER;
}

const char *mbx_outcome_name(unsigned o)
{
	return o < MBX_OUT__COUNT ? outcome_names[o] : "?";
}

const char *mbx_proto_name(unsigned proto)
{
	switch (proto) {
	case MBX_PROTO_TEXT: return "text";
	case MBX_PROTO_META: return "meta";
	case MBX_PROTO_BINARY: return "binary";
	default: return "?";
	}
}

enum mbx_op mbx_op_from_name(const char *name, size_t len)
{
	for (unsigned i = 1; i < MBX_OP__COUNT; i++)
		if (strlen(op_names[i]) == len && memcmp(op_names[i], name, len) == 0)
			return (enum mbx_op)i;
	return MBX_OP_NONE;
}

bool mbx_outcome_is_hit(unsigned op, unsigned o)
{
	switch (mbx_op_class(op)) {
	case MBX_OPC_RETR:
	case MBX_OPC_ARITH: return o == MBX_OUT_HIT;
	case MBX_OPC_DEL: return o == MBX_OUT_DELETED;
	case MBX_OPC_TOUCH: return o == MBX_OUT_TOUCHED;
	case MBX_OPC_STORE: return o == MBX_OUT_STORED;
	default: return false;
	}
}

bool mbx_outcome_is_miss(unsigned op, unsigned o)
{
	switch (mbx_op_class(op)) {
	case MBX_OPC_RETR: return o == MBX_OUT_MISS;
	case MBX_OPC_ARITH:
	case MBX_OPC_DEL:
	case MBX_OPC_TOUCH: return o == MBX_OUT_NOT_FOUND || o == MBX_OUT_MISS;
	case MBX_OPC_STORE: return o == MBX_OUT_NOT_STORED || o == MBX_OUT_EXISTS || o == MBX_OUT_NOT_FOUND;
	default: return false;
	}
}

bool mbx_outcome_is_error(unsigned o)
{
	return o == MBX_OUT_ERROR || o == MBX_OUT_CLIENT_ERROR || o == MBX_OUT_SERVER_ERROR;
}

const char *mbx_rsp_name(unsigned code)
{
	return code < MBX_RSP__COUNT ? rsp_names[code] : "?";
}

const char *mbx_counter_name(unsigned id)
{
	return id < MBX_CTR__COUNT ? counter_names[id] : "?";
}

const char *mbx_counter_desc(unsigned id)
{
	return id < MBX_CTR__COUNT ? counter_descs[id] : "?";
}

bool mbx_counter_is_loss(unsigned id)
{
	return id < MBX_CTR__COUNT && counter_loss[id];
}

int mbx_counter_lookup(const char *name)
{
	for (unsigned i = 0; i < MBX_CTR__COUNT; i++)
		if (strcmp(counter_names[i], name) == 0)
			return (int)i;
	return -1;
}

void mbx_counters_add(struct mbx_counters *dst, const struct mbx_counters *src)
{
	uint64_t *d = mbx_counters_array(dst);
	const uint64_t *s = (const uint64_t *)(const void *)src;
	for (unsigned i = 0; i < MBX_CTR__COUNT; i++)
		d[i] += __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

size_t mbx_counters_to_kv(const struct mbx_counters *c, struct mbx_counter_kv *kv)
{
	const uint64_t *s = (const uint64_t *)(const void *)c;
	for (unsigned i = 0; i < MBX_CTR__COUNT; i++) {
		memset(kv[i].name, 0, sizeof(kv[i].name));
		memcpy(kv[i].name, counter_names[i], strlen(counter_names[i]));
		kv[i].value = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
	}
	return MBX_CTR__COUNT;
}
