/* SPDX-License-Identifier: Apache-2.0 */
/* Binary protocol: every opcode as request and response, every status,
 * quiet variants, CAS detection, bodies with protocol bytes, bad headers. */
#include "parser_test_util.h"

static int setup(void **state)
{
	*state = tctx_new(8);
	return 0;
}

static int teardown(void **state)
{
	tctx_free(*state);
	return 0;
}

struct opc_case {
	uint8_t opc;
	unsigned op;
	bool quiet;
	unsigned extlen;
	const char *key;
	const char *val;
};

/* Shapes as memcached's dispatch_bin_command accepts them. */
static const struct opc_case cases[] = {
    {0x00, MBX_OP_GET, false, 0, "k", NULL},
    {0x01, MBX_OP_SET, false, 8, "k", "value"},
    {0x02, MBX_OP_ADD, false, 8, "k", "v"},
    {0x03, MBX_OP_REPLACE, false, 8, "k", "v"},
    {0x04, MBX_OP_DELETE, false, 0, "k", NULL},
    {0x05, MBX_OP_INCR, false, 20, "k", NULL},
    {0x06, MBX_OP_DECR, false, 20, "k", NULL},
    {0x07, MBX_OP_QUIT, false, 0, NULL, NULL},
    {0x08, MBX_OP_FLUSH_ALL, false, 4, NULL, NULL},
    {0x09, MBX_OP_GETQ, true, 0, "k", NULL},
    {0x0a, MBX_OP_NOOP, false, 0, NULL, NULL},
    {0x0b, MBX_OP_VERSION, false, 0, NULL, NULL},
    {0x0c, MBX_OP_GETK, false, 0, "k", NULL},
    {0x0d, MBX_OP_GETKQ, true, 0, "k", NULL},
    {0x0e, MBX_OP_APPEND, false, 0, "k", "tail"},
    {0x0f, MBX_OP_PREPEND, false, 0, "k", "head"},
    {0x10, MBX_OP_STATS, false, 0, "items", NULL},
    {0x11, MBX_OP_SETQ, true, 8, "k", "v"},
    {0x12, MBX_OP_ADDQ, true, 8, "k", "v"},
    {0x13, MBX_OP_REPLACEQ, true, 8, "k", "v"},
    {0x14, MBX_OP_DELETEQ, true, 0, "k", NULL},
    {0x15, MBX_OP_INCRQ, true, 20, "k", NULL},
    {0x16, MBX_OP_DECRQ, true, 20, "k", NULL},
    {0x17, MBX_OP_QUITQ, true, 0, NULL, NULL},
    {0x18, MBX_OP_FLUSHQ, true, 0, NULL, NULL},
    {0x19, MBX_OP_APPENDQ, true, 0, "k", "t"},
    {0x1a, MBX_OP_PREPENDQ, true, 0, "k", "h"},
    {0x1b, MBX_OP_VERBOSITY, false, 4, NULL, NULL},
    {0x1c, MBX_OP_TOUCH, false, 4, "k", NULL},
    {0x1d, MBX_OP_GAT, false, 4, "k", NULL},
    {0x1e, MBX_OP_GATQ, true, 4, "k", NULL},
    {0x20, MBX_OP_SASL_LIST_MECHS, false, 0, NULL, NULL},
    {0x21, MBX_OP_SASL_AUTH, false, 0, "PLAIN", "user pass"},
    {0x22, MBX_OP_SASL_STEP, false, 0, "PLAIN", "x"},
    {0x23, MBX_OP_GATK, false, 4, "k", NULL},
    {0x24, MBX_OP_GATKQ, true, 4, "k", NULL},
};

static void every_request_opcode(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	b.n = 0;
	for (size_t i = 0; i < MBX_ARRAY_SIZE(cases); i++)
		bb_req(&b, cases[i].opc, 0x1000u + (uint32_t)i, cases[i].extlen, cases[i].key,
		       cases[i].val);
	parse_buf(t, 0, b.b, b.n, 1000);
	assert_int_equal(t->cap.n, MBX_ARRAY_SIZE(cases));
	for (size_t i = 0; i < MBX_ARRAY_SIZE(cases); i++) {
		const struct opc_case *c = &cases[i];
		unsigned fl = MBX_MSG_F_OPAQUE | (c->quiet ? MBX_MSG_F_QUIET : 0);
		check_req(t, i, c->op, MBX_PROTO_BINARY, c->key ? c->key : "", fl,
			  c->val ? (uint32_t)strlen(c->val) : 0);
		assert_int_equal(t->cap.v[i].opaque, 0x1000u + i);
	}
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void set_with_cas_is_cas(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	b.n = 0;
	bb_pkt(&b, 0x80, 0x01, 0, 1, 0x1234, 8, "a", "xy", 2);
	bb_pkt(&b, 0x80, 0x11, 0, 2, 1, 8, "b", "z", 1);
	bb_pkt(&b, 0x80, 0x02, 0, 3, 7, 8, "c", "z", 1); /* add with cas stays add */
	parse_buf(t, 0, b.b, b.n, 1000);
	assert_int_equal(t->cap.n, 3);
	check_req(t, 0, MBX_OP_CAS, MBX_PROTO_BINARY, "a", MBX_MSG_F_OPAQUE, 2);
	check_req(t, 1, MBX_OP_CASQ, MBX_PROTO_BINARY, "b", MBX_MSG_F_OPAQUE | MBX_MSG_F_QUIET, 1);
	check_req(t, 2, MBX_OP_ADD, MBX_PROTO_BINARY, "c", MBX_MSG_F_OPAQUE, 1);
}

static void unknown_opcode_and_bodies(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	static const uint8_t magicval[] = {0x80, 0x01, 0x00, 0x01, 0x81, '\r', '\n',
					   'E',	 'N',  'D',  '\r', '\n', 0x80};
	b.n = 0;
	bb_req(&b, 0x3d, 9, 0, "vb", "body"); /* not a memcached opcode: body skipped */
	bb_pkt(&b, 0x80, 0x01, 0, 10, 0, 8, "m", magicval, sizeof(magicval));
	bb_pkt(&b, 0x80, 0x01, 0, 11, 0, 8, "z", NULL, 0); /* zero-length value */
	bb_req(&b, 0x0a, 12, 0, NULL, NULL);
	parse_buf(t, 0, b.b, b.n, 1000);
	assert_int_equal(t->cap.n, 4);
	check_req(t, 0, MBX_OP_UNKNOWN, MBX_PROTO_BINARY, "vb", MBX_MSG_F_OPAQUE, 4);
	check_req(t, 1, MBX_OP_SET, MBX_PROTO_BINARY, "m", MBX_MSG_F_OPAQUE, sizeof(magicval));
	check_req(t, 2, MBX_OP_SET, MBX_PROTO_BINARY, "z", MBX_MSG_F_OPAQUE, 0);
	check_req(t, 3, MBX_OP_NOOP, MBX_PROTO_BINARY, "", MBX_MSG_F_OPAQUE, 0);
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void long_binary_key(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	char key[301];
	memset(key, 'q', 300);
	key[300] = 0;
	b.n = 0;
	bb_req(&b, 0x01, 1, 8, key, "val");
	bb_req(&b, 0x00, 2, 0, "next", NULL);
	parse_buf(t, 0, b.b, b.n, 1000);
	assert_int_equal(t->cap.n, 2);
	const struct mbx_msg *m = &t->cap.v[0];
	assert_int_equal(m->op, MBX_OP_SET);
	assert_int_equal(m->flags, MBX_MSG_F_OPAQUE | MBX_MSG_F_KEY_CLAMP);
	assert_int_equal(m->key_len, 300);
	assert_int_equal(m->key_hash, kh(t, key, 250));
	assert_int_equal(m->value_len, 3);
	check_req(t, 1, MBX_OP_GET, MBX_PROTO_BINARY, "next", MBX_MSG_F_OPAQUE, 0);
	assert_int_equal(t->ctr->key_too_long, 1);
}

static void bad_headers_resync(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	uint8_t h[24] = {0x80, 0x00, 0x00, 0x05, 0x00};
	/* bodylen (2) < keylen (5) */
	b.n = 0;
	mbx_wr32be(h + 8, 2);
	bb_add(&b, h, 24);
	bb_req(&b, 0x00, 1, 0, "a", NULL);
	/* extlen 65 */
	memset(h, 0, sizeof(h));
	h[0] = 0x80;
	h[4] = 65;
	mbx_wr32be(h + 8, 65);
	bb_add(&b, h, 24);
	bb_req(&b, 0x00, 2, 0, "b", NULL);
	/* bodylen > 128 MiB */
	memset(h, 0, sizeof(h));
	h[0] = 0x80;
	h[1] = 0x01;
	mbx_wr32be(h + 8, MBX_PARSER_MAX_VALUE + 1);
	bb_add(&b, h, 24);
	bb_req(&b, 0x00, 3, 0, "c", NULL);
	parse_buf(t, 0, b.b, b.n, 1000);
	assert_int_equal(t->cap.n, 3);
	check_req(t, 0, MBX_OP_GET, MBX_PROTO_BINARY, "a", MBX_MSG_F_OPAQUE, 0);
	check_req(t, 1, MBX_OP_GET, MBX_PROTO_BINARY, "b", MBX_MSG_F_OPAQUE, 0);
	check_req(t, 2, MBX_OP_GET, MBX_PROTO_BINARY, "c", MBX_MSG_F_OPAQUE, 0);
	assert_int_equal(t->cap.v[2].opaque, 3);
	assert_int_equal(t->ctr->parse_errors, 3);
	assert_int_equal(t->ctr->resyncs, 3);
	assert_int_equal(t->ctr->resync_bytes, 3 * 24);
}

struct st_case {
	uint16_t status;
	unsigned code;
};

static void every_status(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	static const struct st_case st[] = {
	    {0x00, MBX_RSP_BIN_OK},	    {0x01, MBX_RSP_NOT_FOUND},
	    {0x02, MBX_RSP_EXISTS},	    {0x03, MBX_RSP_SERVER_ERROR},
	    {0x04, MBX_RSP_CLIENT_ERROR},   {0x05, MBX_RSP_NOT_STORED},
	    {0x06, MBX_RSP_CLIENT_ERROR},   {0x20, MBX_RSP_BIN_AUTH},
	    {0x21, MBX_RSP_BIN_AUTH},	    {0x81, MBX_RSP_ERROR},
	    {0x82, MBX_RSP_SERVER_ERROR},   {0x07, MBX_RSP_SERVER_ERROR},
	    {0x1234, MBX_RSP_SERVER_ERROR},
	};
	b.n = 0;
	for (size_t i = 0; i < MBX_ARRAY_SIZE(st); i++)
		bb_rsp(&b, 0x01, st[i].status, (uint32_t)i, 0, NULL, st[i].status ? "Err" : NULL);
	parse_buf(t, 1, b.b, b.n, 1000);
	assert_int_equal(t->cap.n, MBX_ARRAY_SIZE(st));
	for (size_t i = 0; i < MBX_ARRAY_SIZE(st); i++) {
		check_rsp(t, i, st[i].code, MBX_PROTO_BINARY, MBX_MSG_F_OPAQUE,
			  st[i].status ? 3 : 0, NULL);
		assert_int_equal(t->cap.v[i].aux, st[i].status);
		assert_int_equal(t->cap.v[i].op, MBX_OP_SET);
		assert_int_equal(t->cap.v[i].opaque, i);
	}
}

static void response_shapes(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	b.n = 0;
	bb_rsp(&b, 0x00, 0, 1, 4, NULL, "hello"); /* get hit: flags + value */
	bb_rsp(&b, 0x0d, 0, 2, 4, "key", "v");	  /* getkq hit: key returned */
	bb_rsp(&b, 0x0c, 1, 3, 0, "gone", NULL);  /* getk miss: key, no value */
	bb_pkt(&b, 0x81, 0x05, 0, 4, 0, 0, NULL, "\0\0\0\0\0\0\0\x08", 8); /* incr: 8 */
	bb_rsp(&b, 0x10, 0, 5, 0, "pid", "42");				   /* stat line */
	bb_rsp(&b, 0x10, 0, 5, 0, NULL, NULL);				   /* stat terminator */
	bb_rsp(&b, 0x0b, 0, 6, 0, NULL, "1.6.21");
	bb_rsp(&b, 0x0a, 0, 7, 0, NULL, NULL);
	parse_buf(t, 1, b.b, b.n, 1000);
	assert_int_equal(t->cap.n, 8);
	const unsigned B = MBX_PROTO_BINARY, O = MBX_MSG_F_OPAQUE, K = MBX_MSG_F_KEY;
	check_rsp(t, 0, MBX_RSP_BIN_OK, B, O, 5, NULL);
	check_rsp(t, 1, MBX_RSP_BIN_OK, B, O | K, 1, "key");
	assert_int_equal(t->cap.v[1].op, MBX_OP_GETKQ);
	check_rsp(t, 2, MBX_RSP_NOT_FOUND, B, O | K, 0, "gone");
	assert_int_equal(t->cap.v[2].op, MBX_OP_GETK);
	check_rsp(t, 3, MBX_RSP_BIN_OK, B, O, 8, NULL);
	check_rsp(t, 4, MBX_RSP_STAT, B, O | K, 2, "pid");
	check_rsp(t, 5, MBX_RSP_BIN_OK, B, O, 0, NULL);
	assert_int_equal(t->cap.v[5].op, MBX_OP_STATS);
	check_rsp(t, 6, MBX_RSP_BIN_OK, B, O, 6, NULL);
	assert_int_equal(t->cap.v[6].op, MBX_OP_VERSION);
	check_rsp(t, 7, MBX_RSP_BIN_OK, B, O, 0, NULL);
	assert_int_equal(t->cap.v[7].op, MBX_OP_NOOP);
}

static void ts_semantics(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	b.n = 0;
	bb_req(&b, 0x01, 1, 8, "key", "0123456789");
	/* request: emitted when the last value byte arrives */
	mbx_parser_init(&t->p, T_FLOW, 0, true);
	mbx_parser_data(&t->p, &t->ctx, b.b, 10, 1);	  /* in the header */
	mbx_parser_data(&t->p, &t->ctx, b.b + 10, 30, 2); /* header done, into the value */
	assert_int_equal(t->cap.n, 0);
	mbx_parser_data(&t->p, &t->ctx, b.b + 40, b.n - 40, 3);
	mbx_parser_fini(&t->p, &t->ctx);
	assert_int_equal(t->cap.n, 1);
	assert_int_equal(t->cap.v[0].ts_ns, 3);
	/* response: emitted at the head, with the first byte's time */
	tctx_reset(t);
	b.n = 0;
	bb_rsp(&b, 0x00, 0, 1, 4, NULL, "0123456789");
	mbx_parser_init(&t->p, T_FLOW, 1, true);
	mbx_parser_data(&t->p, &t->ctx, b.b, 5, 1);
	mbx_parser_data(&t->p, &t->ctx, b.b + 5, 25, 2);
	assert_int_equal(t->cap.n, 1);
	assert_int_equal(t->cap.v[0].ts_ns, 1);
	mbx_parser_data(&t->p, &t->ctx, b.b + 30, b.n - 30, 3);
	mbx_parser_fini(&t->p, &t->ctx);
	assert_int_equal(t->cap.n, 1);
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void mixed_protocols(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	b.n = 0;
	bb_str(&b, "get a b\r\n");
	bb_req(&b, 0x09, 1, 0, "c", NULL);
	bb_str(&b, "mg d v\r\n");
	bb_req(&b, 0x01, 2, 8, "e", "x\r\nget z\r\n");
	bb_str(&b, "set f 0 0 3\r\n\x80\x81\n\r\n");
	bb_req(&b, 0x0a, 3, 0, NULL, NULL);
	bb_str(&b, "ms g 1 q\r\ny\r\n");
	parse_buf(t, 0, b.b, b.n, 1000);
	assert_int_equal(t->cap.n, 8);
	check_req(t, 0, MBX_OP_GET, MBX_PROTO_TEXT, "a", 0, 0);
	check_req(t, 1, MBX_OP_GET, MBX_PROTO_TEXT, "b", MBX_MSG_F_BATCH_CONT | MBX_MSG_F_BATCH_END,
		  0);
	check_req(t, 2, MBX_OP_GETQ, MBX_PROTO_BINARY, "c", MBX_MSG_F_OPAQUE | MBX_MSG_F_QUIET, 0);
	check_req(t, 3, MBX_OP_MG, MBX_PROTO_META, "d", 0, 0);
	check_req(t, 4, MBX_OP_SET, MBX_PROTO_BINARY, "e", MBX_MSG_F_OPAQUE, 10);
	check_req(t, 5, MBX_OP_SET, MBX_PROTO_TEXT, "f", 0, 3);
	check_req(t, 6, MBX_OP_NOOP, MBX_PROTO_BINARY, "", MBX_MSG_F_OPAQUE, 0);
	check_req(t, 7, MBX_OP_MS, MBX_PROTO_META, "g", MBX_MSG_F_QUIET, 1);
	assert_int_equal(t->ctr->parse_errors, 0);

	tctx_reset(t);
	b.n = 0;
	bb_str(&b, "VALUE a 0 2\r\n\x81\x01\r\nEND\r\n");
	bb_rsp(&b, 0x09, 0, 1, 4, NULL, "END\r\n");
	bb_str(&b, "VA 1 Ox\r\n\x81\r\n");
	bb_rsp(&b, 0x0a, 0, 3, 0, NULL, NULL);
	bb_str(&b, "STORED\r\n");
	parse_buf(t, 1, b.b, b.n, 1000);
	assert_int_equal(t->cap.n, 6);
	check_rsp(t, 0, MBX_RSP_VALUE, MBX_PROTO_TEXT, MBX_MSG_F_KEY, 2, "a");
	check_rsp(t, 1, MBX_RSP_END, MBX_PROTO_TEXT, 0, 0, NULL);
	check_rsp(t, 2, MBX_RSP_BIN_OK, MBX_PROTO_BINARY, MBX_MSG_F_OPAQUE, 5, NULL);
	check_rsp(t, 3, MBX_RSP_VA, MBX_PROTO_META, MBX_MSG_F_OPAQUE, 1, NULL);
	check_rsp(t, 4, MBX_RSP_BIN_OK, MBX_PROTO_BINARY, MBX_MSG_F_OPAQUE, 0, NULL);
	check_rsp(t, 5, MBX_RSP_STORED, MBX_PROTO_TEXT, 0, 0, NULL);
	assert_int_equal(t->ctr->parse_errors, 0);
}

/* A response magic byte on the request side (and vice versa) is not binary. */
static void wrong_direction_magic(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	b.n = 0;
	bb_rsp(&b, 0x00, 0, 1, 0, "k", NULL);
	bb_str(&b, "\r\nget k\r\n");
	parse_buf(t, 0, b.b, b.n, 1000);
	/* the junk up to the first '\n' is one unknown line, then the get */
	assert_int_equal(t->cap.n, 2);
	check_req(t, 0, MBX_OP_UNKNOWN, MBX_PROTO_TEXT, "", 0, 0);
	check_req(t, 1, MBX_OP_GET, MBX_PROTO_TEXT, "k", MBX_MSG_F_BATCH_END, 0);
}

/* Resync finds every request opcode of the shape memcached accepts, and
 * responses of every status, behind junk. */
static void resync_finds_every_opcode(void **state)
{
	struct tctx *t = *state;
	static struct bbuf b;
	for (size_t i = 0; i < MBX_ARRAY_SIZE(cases); i++) {
		const struct opc_case *c = &cases[i];
		for (size_t step = 5; step <= 4096; step += 4091) {
			b.n = 0;
			bb_str(&b, "zz\r\nq");
			bb_req(&b, c->opc, 77, c->extlen, c->key, c->val);
			tctx_reset(t);
			mbx_parser_init(&t->p, T_FLOW, 0, false);
			for (size_t off = 0, n; off < b.n; off += n) {
				n = MBX_MIN(step, b.n - off);
				mbx_parser_data(&t->p, &t->ctx, b.b + off, n, 1);
			}
			mbx_parser_fini(&t->p, &t->ctx);
			assert_int_equal(t->cap.n, 1);
			assert_int_equal(t->cap.v[0].op, c->op);
			assert_int_equal(t->ctr->resync_bytes, 5);
		}
	}
	static const uint16_t st[] = {0, 1, 2, 3, 4, 5, 6, 0x20, 0x21, 0x81, 0x82};
	for (size_t i = 0; i < MBX_ARRAY_SIZE(st); i++) {
		b.n = 0;
		bb_str(&b, "junk");
		bb_rsp(&b, 0x00, st[i], 1, st[i] ? 0 : 4, NULL, "payload");
		tctx_reset(t);
		mbx_parser_init(&t->p, T_FLOW, 1, false);
		mbx_parser_data(&t->p, &t->ctx, b.b, b.n, 1);
		mbx_parser_fini(&t->p, &t->ctx);
		assert_int_equal(t->cap.n, 1);
		assert_int_equal(t->cap.v[0].aux, st[i]);
	}
	/* not plausible: unknown status, extras on an error, datatype set */
	b.n = 0;
	bb_rsp(&b, 0x00, 0x07, 1, 0, NULL, NULL);
	bb_rsp(&b, 0x00, 0x01, 1, 4, NULL, NULL);
	bb_pkt(&b, 0x81, 0x00, 0, 1, 0, 4, NULL, "v", 1);
	b.b[b.n - 1 - 4 - 24 + 5] = 1; /* datatype of the last packet */
	tctx_reset(t);
	mbx_parser_init(&t->p, T_FLOW, 1, false);
	mbx_parser_data(&t->p, &t->ctx, b.b, b.n, 1);
	mbx_parser_fini(&t->p, &t->ctx);
	assert_int_equal(t->cap.n, 0);
	assert_int_equal(t->ctr->resync_bytes, b.n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(every_request_opcode, setup, teardown),
	    cmocka_unit_test_setup_teardown(set_with_cas_is_cas, setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_opcode_and_bodies, setup, teardown),
	    cmocka_unit_test_setup_teardown(long_binary_key, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_headers_resync, setup, teardown),
	    cmocka_unit_test_setup_teardown(every_status, setup, teardown),
	    cmocka_unit_test_setup_teardown(response_shapes, setup, teardown),
	    cmocka_unit_test_setup_teardown(ts_semantics, setup, teardown),
	    cmocka_unit_test_setup_teardown(mixed_protocols, setup, teardown),
	    cmocka_unit_test_setup_teardown(wrong_direction_magic, setup, teardown),
	    cmocka_unit_test_setup_teardown(resync_finds_every_opcode, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
