/* SPDX-License-Identifier: Apache-2.0 */
/* Text protocol: every request command and response line, as memcached reads
 * and writes them. */
#include "parser_test_util.h"
#include "proto/proto_internal.h"

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

#define REQ(i, op, key, fl, vl)	  check_req(t, i, MBX_OP_##op, MBX_PROTO_TEXT, key, fl, vl)
#define RSP(i, code, fl, vl, key) check_rsp(t, i, MBX_RSP_##code, MBX_PROTO_TEXT, fl, vl, key)
#define Q			  MBX_MSG_F_QUIET
#define END			  MBX_MSG_F_BATCH_END
#define CONT			  MBX_MSG_F_BATCH_CONT

static void retrieval_commands(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 0,
		  "get k1\r\n"
		  "gets k2\r\n"
		  "gat 100 k3\r\n"
		  "gats -1 k4 k5\r\n"
		  "bget k6\r\n");
	assert_int_equal(t->cap.n, 6);
	REQ(0, GET, "k1", END, 0);
	REQ(1, GETS, "k2", END, 0);
	REQ(2, GAT, "k3", END, 0); /* the exptime is not a key */
	REQ(3, GATS, "k4", 0, 0);
	REQ(4, GATS, "k5", CONT | END, 0);
	REQ(5, GET, "k6", END, 0);
	assert_int_equal(t->ctr->req_msgs, 6);
	assert_int_equal(t->ctr->parse_errors, 0);
	for (size_t i = 0; i < t->cap.n; i++)
		assert_int_equal(t->cap.v[i].ts_ns, 1000);
}

static void storage_commands(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 0,
		  "set a 0 0 5\r\nhello\r\n"
		  "add b 1 2 3\r\nabc\r\n"
		  "replace c 0 0 1\r\nx\r\n"
		  "append d 0 0 2\r\nyz\r\n"
		  "prepend e 0 0 0\r\n\r\n"
		  "cas f 0 0 4 12345\r\nwxyz\r\n"
		  "set g 4294967295 -1 3 noreply\r\nabc\r\n"
		  "cas h 0 0 1 99 noreply\r\nq\r\n"
		  "set i 0 0 2 whatever\r\nab\r\n");
	assert_int_equal(t->cap.n, 9);
	REQ(0, SET, "a", 0, 5);
	REQ(1, ADD, "b", 0, 3);
	REQ(2, REPLACE, "c", 0, 1);
	REQ(3, APPEND, "d", 0, 2);
	REQ(4, PREPEND, "e", 0, 0);
	REQ(5, CAS, "f", 0, 4);
	REQ(6, SET, "g", Q, 3);
	REQ(7, CAS, "h", Q, 1);
	REQ(8, SET, "i", 0, 2); /* memcached ignores a 6th token that is not noreply */
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void other_commands(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 0,
		  "delete a\r\n"
		  "delete b 0\r\n"
		  "delete c noreply\r\n"
		  "delete d 0 noreply\r\n"
		  "incr e 1\r\n"
		  "decr f 18446744073709551615 noreply\r\n"
		  "touch g 10\r\n"
		  "touch h -1 noreply\r\n"
		  "flush_all\r\n"
		  "flush_all 10\r\n"
		  "flush_all noreply\r\n"
		  "flush_all 0 noreply\r\n"
		  "version\r\n"
		  "stats\r\n"
		  "stats items\r\n"
		  "verbosity 1\r\n"
		  "verbosity 1 noreply\r\n"
		  "quit\r\n");
	assert_int_equal(t->cap.n, 18);
	REQ(0, DELETE, "a", 0, 0);
	REQ(1, DELETE, "b", 0, 0);
	REQ(2, DELETE, "c", Q, 0);
	REQ(3, DELETE, "d", Q, 0);
	REQ(4, INCR, "e", 0, 0);
	REQ(5, DECR, "f", Q, 0);
	REQ(6, TOUCH, "g", 0, 0);
	REQ(7, TOUCH, "h", Q, 0);
	REQ(8, FLUSH_ALL, "", 0, 0);
	REQ(9, FLUSH_ALL, "", 0, 0);
	REQ(10, FLUSH_ALL, "", Q, 0);
	REQ(11, FLUSH_ALL, "", Q, 0);
	REQ(12, VERSION, "", 0, 0);
	REQ(13, STATS, "", 0, 0);
	REQ(14, STATS, "", 0, 0);
	REQ(15, VERBOSITY, "", 0, 0);
	REQ(16, VERBOSITY, "", Q, 0);
	REQ(17, QUIT, "", 0, 0);
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void unknown_and_empty_lines(void **state)
{
	struct tctx *t = *state;
	/* Each complete line gets exactly one reply from memcached (ERROR for
	 * most), so each is one request. */
	parse_str(t, 0,
		  "bogus command\r\n\r\n\nx\r\nGET k\r\nlru_crawler metadump all\r\nget k\r\n");
	assert_int_equal(t->cap.n, 7);
	for (int i = 0; i < 6; i++)
		REQ(i, UNKNOWN, "", 0, 0);
	REQ(6, GET, "k", END, 0);
	assert_int_equal(t->ctr->parse_errors, 5); /* lru_crawler is a real command */
}

static void invalid_command_errors(void **state)
{
	struct tctx *t = *state;
	/* delete with a non-zero hold and incr with a bad delta: one CLIENT_ERROR
	 * each, still one request each; noreply silences memcached's error too. */
	parse_str(t, 0, "delete a 5\r\nincr b x\r\ntouch c abc noreply\r\nverbosity\r\ndecr d\r\n");
	assert_int_equal(t->cap.n, 5);
	REQ(0, DELETE, "a", 0, 0);
	REQ(1, INCR, "b", 0, 0);
	REQ(2, TOUCH, "c", Q, 0);
	REQ(3, VERBOSITY, "", 0, 0);
	REQ(4, DECR, "d", 0, 0);
	assert_int_equal(t->ctr->parse_errors, 5);
}

static void multiget(void **state)
{
	struct tctx *t = *state;
	char line[4096];
	size_t n = (size_t)snprintf(line, sizeof(line), "get");
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, " key:%03d", i);
	snprintf(line + n, sizeof(line) - n, "\r\nget x y\r\n");
	parse_str(t, 0, line);
	assert_int_equal(t->cap.n, 102);
	for (int i = 0; i < 100; i++) {
		char k[16];
		snprintf(k, sizeof(k), "key:%03d", i);
		REQ((size_t)i, GET, k, (i ? CONT : 0) | (i == 99 ? END : 0), 0);
	}
	REQ(100, GET, "x", 0, 0);
	REQ(101, GET, "y", CONT | END, 0);
}

/* A 10000-key line (~100 KB) is legal: fed whole, in 1000-byte chunks and
 * byte by byte, the keys come out the same; streamed keys are never emitted
 * before their bytes were seen. */
static void multiget_10000_keys(void **state)
{
	struct tctx *t = *state;
	size_t cap = 10000 * 12 + 64, n = 0;
	char *line = malloc(cap);
	assert_non_null(line);
	n += (size_t)snprintf(line, cap, "gets");
	for (int i = 0; i < 10000; i++)
		n += (size_t)snprintf(line + n, cap - n, " k%d", i);
	n += (size_t)snprintf(line + n, cap - n, "   \r\nget after\r\n");

	for (int mode = 0; mode < 3; mode++) {
		tctx_reset(t);
		mbx_parser_init(&t->p, T_FLOW, 0, true);
		size_t step = mode == 0 ? n : mode == 1 ? 1000 : 1;
		for (size_t off = 0; off < n; off += step)
			mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)line + off,
					MBX_MIN(step, n - off), 1 + off);
		mbx_parser_fini(&t->p, &t->ctx);
		assert_int_equal(mbx_bufpool_available(t->pool), mbx_bufpool_capacity(t->pool));
		assert_int_equal(t->cap.n, 10001);
		for (int i = 0; i < 10000; i++) {
			char k[16];
			snprintf(k, sizeof(k), "k%d", i);
			REQ((size_t)i, GETS, k, (i ? CONT : 0) | (i == 9999 ? END : 0), 0);
			if (i)
				assert_true(t->cap.v[i].ts_ns >= t->cap.v[i - 1].ts_ns);
		}
		REQ(10000, GET, "after", END, 0);
		assert_int_equal(t->ctr->parse_errors, 0);
		assert_int_equal(t->ctr->line_too_long, 0);
	}
	free(line);
}

static void line_endings_and_spaces(void **state)
{
	struct tctx *t = *state;
	/* memcached ends a line at '\n' alone; spaces around tokens are free. */
	parse_str(t, 0,
		  "get a \r\n"
		  "get b\n"
		  "  get   c  d  \n"
		  "set e 0 0 1\nx\r\n"
		  "delete f\n"
		  "get g\r\r\n");
	assert_int_equal(t->cap.n, 7);
	REQ(0, GET, "a", END, 0);
	REQ(1, GET, "b", END, 0);
	REQ(2, GET, "c", 0, 0);
	REQ(3, GET, "d", CONT | END, 0);
	REQ(4, SET, "e", 0, 1);
	REQ(5, DELETE, "f", 0, 0);
	REQ(6, GET, "g\r", END, 0); /* only one '\r' belongs to the terminator */
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void values_with_protocol_bytes(void **state)
{
	struct tctx *t = *state;
	static const uint8_t s[] = "set a 0 0 14\r\nx\r\nEND\r\nget b\r\r\n"
				   "set c 0 0 4\r\n\x80\x01\x81\n\r\n"
				   "set d 0 0 0\r\n\r\n"
				   "get e\r\n";
	parse_buf(t, 0, s, sizeof(s) - 1, 1000);
	assert_int_equal(t->cap.n, 4);
	REQ(0, SET, "a", 0, 14);
	REQ(1, SET, "c", 0, 4);
	REQ(2, SET, "d", 0, 0);
	REQ(3, GET, "e", END, 0);
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void invalid_storage_lines_swallow_nothing(void **state)
{
	struct tctx *t = *state;
	/* memcached answers CLIENT_ERROR / ERROR and reads the data block as the
	 * next command line (which then gets its own ERROR). */
	parse_str(t, 0,
		  "set a 0 0 -1\r\nhello\r\n"
		  "set b 0 0 abc\r\nhello\r\n"
		  "set c 0 0\r\nhello\r\n"
		  "add d x 0 5\r\nhello\r\n"
		  "cas e 0 0 5\r\nhello\r\n"
		  "set f 0 0 134217729\r\nhello\r\n"
		  "set g 0 0 5 noreply extra\r\nhello\r\n"
		  "get z\r\n");
	assert_int_equal(t->cap.n, 15);
	const char *keys[] = {"a", "b", "c", "d", "e", "f", "g"};
	unsigned ops[] = {MBX_OP_SET, MBX_OP_SET, MBX_OP_SET, MBX_OP_ADD,
			  MBX_OP_CAS, MBX_OP_SET, MBX_OP_SET};
	for (int i = 0; i < 7; i++) {
		check_req(t, (size_t)(2 * i), ops[i], MBX_PROTO_TEXT, keys[i], 0, 0);
		REQ((size_t)(2 * i + 1), UNKNOWN, "", 0, 0);
	}
	REQ(14, GET, "z", END, 0);
	assert_int_equal(t->ctr->parse_errors, 14);
}

static void max_value_is_accepted(void **state)
{
	struct tctx *t = *state;
	char line[64];
	snprintf(line, sizeof(line), "set big 0 0 %u\r\n", MBX_PARSER_MAX_VALUE);
	mbx_parser_init(&t->p, T_FLOW, 0, true);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)line, strlen(line), 1);
	mbx_parser_gap(&t->p, &t->ctx, MBX_PARSER_MAX_VALUE, 2);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"\r\nget k\r\n", 9, 3);
	mbx_parser_fini(&t->p, &t->ctx);
	assert_int_equal(t->cap.n, 2);
	REQ(0, SET, "big", 0, MBX_PARSER_MAX_VALUE);
	assert_int_equal(t->cap.v[0].ts_ns, 3);
	REQ(1, GET, "k", END, 0);
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void bad_data_chunk(void **state)
{
	struct tctx *t = *state;
	/* 3 declared, 5 sent: memcached reads "abc" + "de", replies CLIENT_ERROR
	 * bad data chunk, then reads "\r\n" as an (empty) command: ERROR. */
	parse_str(t, 0, "set a 0 0 3\r\nabcde\r\nget b\r\n");
	assert_int_equal(t->cap.n, 3);
	REQ(0, SET, "a", 0, 3);
	REQ(1, UNKNOWN, "", 0, 0);
	REQ(2, GET, "b", END, 0);
	assert_int_equal(t->ctr->parse_errors, 2);
}

static void long_keys(void **state)
{
	struct tctx *t = *state;
	char k251[252], k250[251], line[1024];
	memset(k251, 'k', 251);
	k251[251] = 0;
	memset(k250, 'k', 250);
	k250[250] = 0;
	snprintf(line, sizeof(line), "get %s %s\r\nset %s 0 0 1\r\nx\r\n", k250, k251, k251);
	parse_str(t, 0, line);
	assert_int_equal(t->cap.n, 4);
	REQ(0, GET, k250, 0, 0);
	const struct mbx_msg *m = &t->cap.v[1];
	assert_int_equal(m->op, MBX_OP_GET);
	assert_int_equal(m->flags, CONT | END | MBX_MSG_F_KEY_CLAMP);
	assert_int_equal(m->key_len, 251);
	assert_int_equal(m->key_hash, kh(t, k251, 250));
	/* set with a long key: CLIENT_ERROR, no data swallowed ("x" is a command) */
	m = &t->cap.v[2];
	assert_int_equal(m->op, MBX_OP_SET);
	assert_int_equal(m->flags, MBX_MSG_F_KEY_CLAMP);
	assert_int_equal(m->value_len, 0);
	REQ(3, UNKNOWN, "", 0, 0);
	assert_int_equal(t->ctr->key_too_long, 2);
	assert_int_equal(t->ctr->parse_errors, 1); /* "x" only */
}

static void get_errors(void **state)
{
	struct tctx *t = *state;
	/* "get" alone: ERROR; "gat 10": END (valid, no keys); "gat x k": CLIENT_ERROR. */
	parse_str(t, 0, "get\r\ngat 10\r\ngat x k\r\ngets \r\n");
	assert_int_equal(t->cap.n, 4);
	REQ(0, GET, "", END, 0);
	REQ(1, GAT, "", END, 0);
	REQ(2, GAT, "k", END, 0);
	REQ(3, GETS, "", END, 0);
	assert_int_equal(t->ctr->parse_errors, 3);
}

static void line_too_long(void **state)
{
	struct tctx *t = *state;
	char *s = malloc(8192);
	assert_non_null(s);
	memcpy(s, "set ", 4);
	memset(s + 4, 'a', 3000);
	memcpy(s + 3004, " 0 0 1\r\nx\r\nget ok\r\n", 19);
	parse_buf(t, 0, s, 3023, 1000);
	/* memcached would drop the connection; we resync on the next good line. */
	assert_int_equal(t->ctr->line_too_long, 1);
	assert_int_equal(t->cap.n, 1);
	REQ(0, GET, "ok", END, 0);
	/* exactly 2048 bytes of content is fine */
	tctx_reset(t);
	memcpy(s, "stats ", 6);
	memset(s + 6, 'a', 2042);
	memcpy(s + 2048, "\r\n", 2);
	parse_buf(t, 0, s, 2050, 1000);
	assert_int_equal(t->cap.n, 1);
	REQ(0, STATS, "", 0, 0);
	assert_int_equal(t->ctr->line_too_long, 0);
	free(s);
}

static void responses(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 1,
		  "VALUE k1 0 5\r\nhello\r\n"
		  "VALUE k2 4294967295 0 1234567\r\n\r\n"
		  "END\r\n"
		  "STORED\r\n"
		  "NOT_STORED\r\n"
		  "EXISTS\r\n"
		  "NOT_FOUND\r\n"
		  "DELETED\r\n"
		  "TOUCHED\r\n"
		  "OK\r\n"
		  "42\r\n"
		  "7   \r\n"
		  "VERSION 1.6.21\r\n"
		  "STAT pid 123\r\n"
		  "ITEM foo [5 b; 0 s]\r\n"
		  "ERROR\r\n"
		  "ERROR cannot pipeline\r\n"
		  "CLIENT_ERROR bad data chunk\r\n"
		  "SERVER_ERROR out of memory\r\n"
		  "RESET\r\n"
		  "BUSY currently processing\r\n"
		  "96 1\r\n"
		  "\r\n"
		  "\n");
	assert_int_equal(t->cap.n, 24);
	RSP(0, VALUE, MBX_MSG_F_KEY, 5, "k1");
	RSP(1, VALUE, MBX_MSG_F_KEY, 0, "k2");
	RSP(2, END, 0, 0, NULL);
	RSP(3, STORED, 0, 0, NULL);
	RSP(4, NOT_STORED, 0, 0, NULL);
	RSP(5, EXISTS, 0, 0, NULL);
	RSP(6, NOT_FOUND, 0, 0, NULL);
	RSP(7, DELETED, 0, 0, NULL);
	RSP(8, TOUCHED, 0, 0, NULL);
	RSP(9, OK, 0, 0, NULL);
	RSP(10, NUMBER, 0, 0, NULL);
	RSP(11, NUMBER, 0, 0, NULL);
	RSP(12, VERSION, 0, 0, NULL);
	RSP(13, STAT, 0, 0, NULL);
	RSP(14, STAT, 0, 0, NULL);
	RSP(15, ERROR, 0, 0, NULL);
	RSP(16, ERROR, 0, 0, NULL);
	RSP(17, CLIENT_ERROR, 0, 0, NULL);
	RSP(18, SERVER_ERROR, 0, 0, NULL);
	RSP(19, OK, 0, 0, NULL);
	RSP(20, NONE, 0, 0, NULL);
	RSP(21, NONE, 0, 0, NULL);
	RSP(22, NONE, 0, 0, NULL);
	RSP(23, NONE, 0, 0, NULL);
	for (size_t i = 0; i < t->cap.n; i++)
		assert_int_equal(t->cap.v[i].op, MBX_OP_NONE);
	assert_int_equal(t->ctr->rsp_msgs, 24);
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void value_data_is_skipped(void **state)
{
	struct tctx *t = *state;
	static const uint8_t s[] = "VALUE a 1 11\r\nx\r\nEND\r\nOK\r\r\n"
				   "VALUE b 0 3\r\n\x81\x00\n\r\n"
				   "END\r\n";
	parse_buf(t, 1, s, sizeof(s) - 1, 1000);
	assert_int_equal(t->cap.n, 3);
	RSP(0, VALUE, MBX_MSG_F_KEY, 11, "a");
	RSP(1, VALUE, MBX_MSG_F_KEY, 3, "b");
	RSP(2, END, 0, 0, NULL);
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void response_ts_is_first_byte(void **state)
{
	struct tctx *t = *state;
	/* "VALUE k 0 3\r\nabc\r\nEND\r\n": VALUE starts in chunk 1, END in chunk 2,
	 * STORED's first byte in chunk 2 and its last in chunk 3. */
	mbx_parser_init(&t->p, T_FLOW, 1, true);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"VALUE k 0 3\r\nab", 15, 10);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"c\r\nEND\r\nSTO", 11, 20);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"RED\r\n", 5, 30);
	mbx_parser_fini(&t->p, &t->ctx);
	assert_int_equal(t->cap.n, 3);
	assert_int_equal(t->cap.v[0].ts_ns, 10);
	assert_int_equal(t->cap.v[1].ts_ns, 20);
	assert_int_equal(t->cap.v[2].ts_ns, 20);
	RSP(2, STORED, 0, 0, NULL);
}

static void request_ts_is_last_byte(void **state)
{
	struct tctx *t = *state;
	mbx_parser_init(&t->p, T_FLOW, 0, true);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"set k 0 0 3\r\nab", 15, 10);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"c\r", 2, 20);
	assert_int_equal(t->cap.n, 0);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"\nget a b", 8, 30);
	assert_int_equal(t->cap.n, 1);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"\r\n", 2, 40);
	mbx_parser_fini(&t->p, &t->ctx);
	assert_int_equal(t->cap.n, 3);
	assert_int_equal(t->cap.v[0].ts_ns, 30);
	assert_int_equal(t->cap.v[1].ts_ns, 40);
	assert_int_equal(t->cap.v[2].ts_ns, 40);
}

static void bad_value_line_resyncs(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 1, "VALUE k x 5\r\nhello\r\nEND\r\nVALUE k 0 -1\r\nSTORED\r\n");
	assert_int_equal(t->cap.n, 2);
	RSP(0, END, 0, 0, NULL);
	RSP(1, STORED, 0, 0, NULL);
	assert_int_equal(t->ctr->parse_errors, 2);
	assert_int_equal(t->ctr->resyncs, 2);
}

static void fini_counts_truncation(void **state)
{
	struct tctx *t = *state;
	/* Data complete but its CRLF missing: still a request. */
	mbx_parser_init(&t->p, T_FLOW, 0, true);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"set k 0 0 3\r\nabc", 16, 5);
	mbx_parser_fini(&t->p, &t->ctx);
	mbx_parser_fini(&t->p, &t->ctx); /* twice is fine */
	assert_int_equal(t->cap.n, 1);
	REQ(0, SET, "k", 0, 3);
	assert_int_equal(t->cap.v[0].ts_ns, 5);
	assert_int_equal(t->ctr->parse_errors, 0);
	/* Cut inside the value or the line: an error, nothing emitted. */
	tctx_reset(t);
	mbx_parser_init(&t->p, T_FLOW, 0, true);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"set k 0 0 3\r\nab", 15, 5);
	mbx_parser_fini(&t->p, &t->ctx);
	mbx_parser_init(&t->p, T_FLOW, 0, true);
	mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)"get k", 5, 5);
	mbx_parser_fini(&t->p, &t->ctx);
	assert_int_equal(t->cap.n, 0);
	assert_int_equal(t->ctr->parse_errors, 2);
	assert_int_equal(mbx_bufpool_available(t->pool), mbx_bufpool_capacity(t->pool));
}

static void feed_chunked(struct tctx *t, unsigned dir, const char *s, size_t n, size_t step)
{
	mbx_parser_init(&t->p, T_FLOW, dir, true);
	for (size_t off = 0, c; off < n; off += c) {
		c = MBX_MIN(step, n - off);
		mbx_parser_data(&t->p, &t->ctx, (const uint8_t *)s + off, c, 1 + off);
	}
	mbx_parser_fini(&t->p, &t->ctx);
	assert_int_equal(mbx_bufpool_available(t->pool), mbx_bufpool_capacity(t->pool));
}

/* gat/gats lines longer than the carry: the exptime is not a key, a bad
 * one is one error; lines of spaces only. */
static void long_gat_lines(void **state)
{
	struct tctx *t = *state;
	char *s = malloc(16384);
	assert_non_null(s);
	const char *heads[] = {"gat 100", "gats abc", "get", "gat 5"};
	const size_t nkeys[] = {800, 800, 0, 0};
	const uint64_t errs[] = {0, 1, 1, 0};
	for (int h = 0; h < 4; h++) {
		for (size_t step = 1000; step <= 16384; step += 15384) {
			size_t n = (size_t)snprintf(s, 16384, "%s", heads[h]);
			for (size_t i = 0; i < nkeys[h]; i++)
				n += (size_t)snprintf(s + n, 16384 - n, " k%04zu", i);
			memset(s + n, ' ', 5000);
			n += 5000;
			n += (size_t)snprintf(s + n, 16384 - n, "\r\nget z\r\n");
			tctx_reset(t);
			feed_chunked(t, 0, s, n, step);
			size_t want = nkeys[h] ? nkeys[h] : 1;
			assert_int_equal(t->cap.n, want + 1);
			static const unsigned ops[] = {MBX_OP_GAT, MBX_OP_GATS, MBX_OP_GET,
						       MBX_OP_GAT};
			unsigned op = ops[h];
			for (size_t i = 0; i < want; i++) {
				char k[32] = "";
				if (nkeys[h])
					snprintf(k, sizeof(k), "k%04zu", i);
				check_req(t, i, op, MBX_PROTO_TEXT, k,
					  (i ? CONT : 0) | (i == want - 1 ? END : 0), 0);
			}
			REQ(want, GET, "z", END, 0);
			assert_int_equal(t->ctr->parse_errors, errs[h]);
		}
	}
	free(s);
}

static void truncated_long_line(void **state)
{
	struct tctx *t = *state;
	char *s = malloc(8000);
	assert_non_null(s);
	memcpy(s, "get", 3);
	for (int i = 0; i < 1000; i++)
		memcpy(s + 3 + 6 * i, " k0000", 6);
	feed_chunked(t, 0, s, 6003, 1500);
	/* keys seen before the end are out; the pending one is dropped */
	assert_true(t->cap.n > 0 && t->cap.n < 1000);
	for (size_t i = 0; i < t->cap.n; i++)
		assert_int_equal(t->cap.v[i].flags & END, 0);
	assert_int_equal(t->ctr->parse_errors, 1);
	free(s);
}

static void too_many_tokens(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 0,
		  "set a 0 0 1 noreply 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20\r\n"
		  "delete b 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24\r\n"
		  "stats 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25\r\n");
	assert_int_equal(t->cap.n, 3);
	REQ(0, SET, "a", 0, 0); /* memcached: ERROR, nothing swallowed */
	REQ(1, DELETE, "b", 0, 0);
	REQ(2, STATS, "", 0, 0);
	assert_int_equal(t->ctr->parse_errors, 2);
}

static void number_syntax(void **state)
{
	struct tctx *t = *state;
	/* strtol rules: a sign, whitespace after the digits */
	parse_str(t, 0,
		  "set a +0 -1 +1\r\nx\r\n"
		  "set b 0 0 2\t\r\nxy\r\n"
		  "touch c -10\r\n"
		  "incr d -1\r\n"
		  "incr e 18446744073709551616\r\n"
		  "set f 0 0 1x\r\n"
		  "set g 0 0 -0\r\n\r\n");
	assert_int_equal(t->cap.n, 7);
	REQ(0, SET, "a", 0, 1);
	REQ(1, SET, "b", 0, 2);
	REQ(2, TOUCH, "c", 0, 0);
	REQ(3, INCR, "d", 0, 0);
	REQ(4, INCR, "e", 0, 0);
	REQ(5, SET, "f", 0, 0);
	REQ(6, SET, "g", 0, 0); /* "-0" is 0: a valid empty block follows */
	assert_int_equal(t->ctr->parse_errors, 3);
}

static void long_keys_other_commands(void **state)
{
	struct tctx *t = *state;
	char k[252], line[2048];
	memset(k, 'k', 251);
	k[251] = 0;
	snprintf(line, sizeof(line), "incr %s 1\r\ntouch %s 1\r\ndelete %s\r\nmg %s v\r\n", k, k, k,
		 k);
	parse_str(t, 0, line);
	assert_int_equal(t->cap.n, 4);
	const unsigned ops[] = {MBX_OP_INCR, MBX_OP_TOUCH, MBX_OP_DELETE, MBX_OP_MG};
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(t->cap.v[i].op, ops[i]);
		assert_int_equal(t->cap.v[i].flags, MBX_MSG_F_KEY_CLAMP);
		assert_int_equal(t->cap.v[i].key_len, 251);
		assert_int_equal(t->cap.v[i].key_hash, kh(t, k, 250));
	}
	assert_int_equal(t->ctr->key_too_long, 4);
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void line_too_long_by_one(void **state)
{
	struct tctx *t = *state;
	char *s = malloc(4096);
	assert_non_null(s);
	memcpy(s, "stats ", 6);
	memset(s + 6, 'a', 2043);
	memcpy(s + 2049, "\nversion\r\n", 11); /* 2049 bytes before the '\n' */
	for (size_t step = 100; step <= 4096; step += 3996) {
		tctx_reset(t);
		feed_chunked(t, 0, s, 2059, step);
		assert_int_equal(t->ctr->line_too_long, 1);
		assert_int_equal(t->cap.n, 1);
		REQ(0, VERSION, "", 0, 0);
	}
	free(s);
}

/* The inline newline search equals memchr for every length 0-200 and
 * every position of the first '\n' (and none), on exact-size buffers,
 * among letters and among the bytes a word-at-a-time test could mistake
 * for a newline (0x0b, 0x09, 0x8a, 0x00, 0xff, 0x80). */
static void find_nl_matches_memchr(void **state)
{
	(void)state;
	static const uint8_t near[] = {0x0b, 0x09, 0x8a, 0x00, 0xff, 0x80, 0x0b, 'a', 0x0b};
	for (size_t k = 0; k <= 200 * 2 + 1; k++) {
		bool hard = k > 200;
		size_t n = hard ? k - 201 : k;
		for (size_t at = 0; at <= n; at++) { /* at == n: no newline */
			uint8_t *b = malloc(n ? n : 1);
			assert_non_null(b);
			for (size_t i = 0; i < n; i++)
				b[i] = hard ? near[(i * 5 + at) % sizeof(near)]
					    : (uint8_t)('a' + (i * 7) % 26);
			if (at < n)
				b[at] = '\n';
			if (at + 3 < n)
				b[at + 3] = '\n'; /* a later one must not win */
			assert_ptr_equal(mbx_proto_find_nl(b, n), n ? memchr(b, '\n', n) : NULL);
			free(b);
		}
	}
}

/* The tokenizer (8 bytes at a time, and an SSE2 space mask for lines of
 * 16-64 bytes) against a byte-by-byte one: every mix of spaces and token
 * bytes (including bytes with the high bit set, which a word-at-a-time
 * zero-byte test can confuse with a space) over lengths 0-150, with the
 * token limit at MBX_TOK_MAX and at 0-5 (the max + 1 answer for too many
 * tokens), each line in a buffer of exactly its length (ASan sees any
 * over-read). */
static void tokenizer_matches_naive(void **state)
{
	(void)state;
	static const uint8_t alphabet[16] = {' ',  'a',  0xa0, 0x21, 0x1f, 0x00, ' ',  ' ',
					     0xa1, 0x80, 0xff, 0x7f, ' ',  'k',  0x01, 0xdf};
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	for (size_t n = 0; n <= 150; n++) {
		for (int iter = 0; iter < 2000; iter++) {
			uint8_t *s = malloc(n ? n : 1);
			assert_non_null(s);
			for (size_t i = 0; i < n; i++) {
				x ^= x << 13, x ^= x >> 7, x ^= x << 17;
				s[i] = alphabet[x & 15];
			}
			struct mbx_tok t[MBX_TOK_MAX + 1];
			/* every 4th line with a limit of 0-5 tokens; t[max] is a
			 * canary: nothing may be stored past the limit */
			unsigned max = iter % 4 ? MBX_TOK_MAX : (unsigned)(iter / 4) % 6;
			t[max].p = (const uint8_t *)&x;
			t[max].len = 0xdead;
			unsigned nt = mbx_proto_tokenize(s, n, t, max);
			assert_ptr_equal(t[max].p, (const uint8_t *)&x);
			assert_int_equal(t[max].len, 0xdead);
			/* naive */
			unsigned k = 0;
			size_t i = 0;
			while (i < n) {
				if (s[i] == ' ') {
					i++;
					continue;
				}
				size_t j = i;
				while (j < n && s[j] != ' ')
					j++;
				if (k == max) {
					k++;
					break;
				}
				assert_ptr_equal(t[k].p, s + i);
				assert_int_equal(t[k].len, j - i);
				k++;
				i = j;
			}
			assert_int_equal(nt, k);
			free(s);
		}
	}
	/* 16-64-byte lines with more tokens than MBX_TOK_MAX ("a b c ..."):
	 * max + 1, and nothing stored past t[MBX_TOK_MAX - 1] */
	for (size_t ntok = MBX_TOK_MAX - 2; ntok <= 32; ntok++) {
		uint8_t line[64];
		size_t n = 2 * ntok - 1;
		for (size_t i = 0; i < n; i++)
			line[i] = i % 2 ? ' ' : (uint8_t)('a' + i / 2 % 26);
		struct mbx_tok t[MBX_TOK_MAX + 1];
		t[MBX_TOK_MAX].p = line;
		t[MBX_TOK_MAX].len = 0xdead;
		unsigned nt = mbx_proto_tokenize(line, n, t, MBX_TOK_MAX);
		assert_int_equal(nt, ntok > MBX_TOK_MAX ? MBX_TOK_MAX + 1 : ntok);
		assert_int_equal(t[MBX_TOK_MAX].len, 0xdead);
		for (unsigned k = 0; k < MBX_MIN(nt, MBX_TOK_MAX); k++)
			assert_ptr_equal(t[k].p, line + 2 * k);
	}
}

/* The number parser against its previous form (a per-digit overflow check)
 * on digit strings of 0-25 characters, leading zeros, signs, whitespace and
 * trailing bytes, and the exact 2^64 and 2^63 boundaries. */
static bool ref_mag(const uint8_t *s, const uint8_t *e, uint64_t *out)
{
	const uint8_t *d0 = s;
	uint64_t v = 0;
	while (s < e && *s >= '0' && *s <= '9') {
		unsigned dg = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - dg) / 10)
			return false;
		v = v * 10 + dg;
		s++;
	}
	if (s == d0 || (s < e && !(*s == ' ' || (*s >= '\t' && *s <= '\r'))))
		return false;
	*out = v;
	return true;
}

static void number_parse_matches_reference(void **state)
{
	(void)state;
	static const char *fixed[] = {
	    "0", "9999999999999999999", "18446744073709551615", "18446744073709551616",
	    "99999999999999999999", "0000000000000000000000018446744073709551615",
	    "000000000000000000000000018446744073709551616", "9223372036854775807",
	    "9223372036854775808", "-9223372036854775808", "-9223372036854775809", "+7", "-0",
	    " 12", "12 ", "12\r", "12a", "", " ", "+", "-", "1234567890123456789x",
	};
	const char *trail = " \t\r\nx0";
	uint32_t x = 99;
	for (unsigned round = 0; round < 20000 + sizeof(fixed) / sizeof(fixed[0]); round++) {
		char buf[64];
		size_t n = 0;
		if (round < sizeof(fixed) / sizeof(fixed[0])) {
			n = strlen(fixed[round]);
			assert_true(n <= sizeof(buf));
			memcpy(buf, fixed[round], n);
		} else {
			x = x * 1103515245u + 12345u;
			if ((x >> 5) % 4 == 0)
				buf[n++] = "+- \t"[(x >> 9) % 4];
			unsigned nd = (x >> 12) % 26;
			for (unsigned i = 0; i < nd; i++) {
				x = x * 1103515245u + 12345u;
				buf[n++] = (char)('0' + (x >> 16) % 10);
			}
			if ((x >> 3) % 3 == 0)
				buf[n++] = trail[(x >> 20) % 6];
		}
		const uint8_t *b = (const uint8_t *)buf, *e = b + n, *p = b;
		while (p < e && (*p == ' ' || (*p >= '\t' && *p <= '\r')))
			p++;
		/* u64: an optional '+' */
		const uint8_t *pu = p < e && *p == '+' ? p + 1 : p;
		uint64_t want = 0, got = 0;
		bool wok = ref_mag(pu, e, &want), gok = mbx_proto_parse_u64(b, n, &got);
		assert_int_equal(gok, wok);
		if (wok)
			assert_true(got == want);
		/* i64: '+' or '-' */
		bool neg = p < e && *p == '-';
		const uint8_t *pi = p < e && (*p == '+' || *p == '-') ? p + 1 : p;
		wok = ref_mag(pi, e, &want) && want <= (uint64_t)INT64_MAX + neg;
		int64_t gi = 0;
		gok = mbx_proto_parse_i64(b, n, &gi);
		assert_int_equal(gok, wok);
		if (wok)
			assert_true(gi == (neg ? (int64_t)(0 - want) : (int64_t)want));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(tokenizer_matches_naive),
	    cmocka_unit_test(find_nl_matches_memchr),
	    cmocka_unit_test_setup_teardown(retrieval_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(storage_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(other_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_and_empty_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(invalid_command_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(multiget, setup, teardown),
	    cmocka_unit_test_setup_teardown(multiget_10000_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(line_endings_and_spaces, setup, teardown),
	    cmocka_unit_test_setup_teardown(values_with_protocol_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(invalid_storage_lines_swallow_nothing, setup, teardown),
	    cmocka_unit_test_setup_teardown(max_value_is_accepted, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_data_chunk, setup, teardown),
	    cmocka_unit_test_setup_teardown(long_keys, setup, teardown),
	    cmocka_unit_test_setup_teardown(get_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(line_too_long, setup, teardown),
	    cmocka_unit_test_setup_teardown(responses, setup, teardown),
	    cmocka_unit_test_setup_teardown(value_data_is_skipped, setup, teardown),
	    cmocka_unit_test_setup_teardown(response_ts_is_first_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(request_ts_is_last_byte, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_value_line_resyncs, setup, teardown),
	    cmocka_unit_test_setup_teardown(fini_counts_truncation, setup, teardown),
	    cmocka_unit_test_setup_teardown(long_gat_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(truncated_long_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(too_many_tokens, setup, teardown),
	    cmocka_unit_test_setup_teardown(number_syntax, setup, teardown),
	    cmocka_unit_test_setup_teardown(long_keys_other_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(line_too_long_by_one, setup, teardown),
	    cmocka_unit_test(number_parse_matches_reference),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
