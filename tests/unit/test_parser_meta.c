/* SPDX-License-Identifier: Apache-2.0 */
/* Meta protocol (mg ms md ma mn me and their replies) and base64 keys. */
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

#define Q  MBX_MSG_F_QUIET
#define OP MBX_MSG_F_OPAQUE

static void req(const struct tctx *t, size_t i, unsigned op, const char *key, unsigned flags,
		unsigned variant, uint32_t value_len, const char *opaque)
{
	check_req(t, i, op, MBX_PROTO_META, key, flags, value_len);
	assert_int_equal(t->cap.v[i].variant, variant);
	assert_int_equal(t->cap.v[i].opaque, opaque ? oh(t, opaque) : 0);
}

static void base64_vectors(void **state)
{
	(void)state;
	uint8_t out[16];
	/* RFC 4648 section 10, with and without padding */
	static const char *const enc[] = {"",	      "Zg==",	  "Zm8=",    "Zm9v",
					  "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
	static const char *const dec[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
	for (size_t i = 0; i < MBX_ARRAY_SIZE(enc); i++) {
		int n =
		    mbx_base64_decode((const uint8_t *)enc[i], strlen(enc[i]), out, sizeof(out));
		assert_int_equal(n, strlen(dec[i]));
		assert_memory_equal(out, dec[i], (size_t)n);
	}
	assert_int_equal(mbx_base64_decode((const uint8_t *)"Zm9vYg", 6, out, sizeof(out)), 4);
	assert_int_equal(mbx_base64_decode((const uint8_t *)"Zm9vYmE", 7, out, sizeof(out)), 5);
	assert_memory_equal(out, "fooba", 5);
	uint8_t bin[3] = {0xfb, 0xff, 0x00};
	assert_int_equal(mbx_base64_decode((const uint8_t *)"+/8A", 4, out, sizeof(out)), 3);
	assert_memory_equal(out, bin, 3);
	/* invalid: bad alphabet, lone char, '=' inside, padding on a short
	 * quad, output too small */
	assert_int_equal(mbx_base64_decode((const uint8_t *)"Zm9v!A==", 8, out, 16), -1);
	assert_int_equal(mbx_base64_decode((const uint8_t *)"Zm9vY", 5, out, 16), -1);
	assert_int_equal(mbx_base64_decode((const uint8_t *)"Zm=vYg==", 8, out, 16), -1);
	assert_int_equal(mbx_base64_decode((const uint8_t *)"Zg=", 3, out, 16), -1);
	assert_int_equal(mbx_base64_decode((const uint8_t *)"Zm9vYmFy", 8, out, 5), -1);
}

static void mg(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 0,
		  "mg k1\r\n"
		  "mg k2 v\r\n"
		  "mg k3 s v t f c k O123 q\r\n"
		  "mg k4 T30 v\r\n"
		  "mg Zm9vYmFy b k v\r\n"
		  "mg k5 k\r\n");
	assert_int_equal(t->cap.n, 6);
	req(t, 0, MBX_OP_MG, "k1", 0, 0, 0, NULL);
	req(t, 1, MBX_OP_MG, "k2", 0, MBX_MG_V, 0, NULL);
	req(t, 2, MBX_OP_MG, "k3", Q | OP, MBX_MG_V | MBX_MG_K, 0, "123");
	req(t, 3, MBX_OP_MG, "k4", 0, MBX_MG_T | MBX_MG_V, 0, NULL);
	req(t, 4, MBX_OP_MG, "foobar", 0, MBX_MG_K | MBX_MG_V, 0, NULL); /* decoded key */
	req(t, 5, MBX_OP_MG, "k5", 0, MBX_MG_K, 0, NULL);
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void ms(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 0,
		  "ms a 5\r\nhello\r\n"
		  "ms b 2 T0 F5 MS\r\nab\r\n"
		  "ms c 1 ME q\r\nx\r\n"
		  "ms d 1 Ma\r\ny\r\n"
		  "ms e 1 MP O9\r\nz\r\n"
		  "ms f 1 Mr\r\nw\r\n"
		  "ms g 3 C1234\r\nabc\r\n"
		  "ms h 0 C1 ME\r\n\r\n"
		  "ms i 1 C5 MR\r\nv\r\n"
		  "ms Zm9v 1 b I\r\nu\r\n"
		  "ms j 3 ms\r\nEND\r\n");
	assert_int_equal(t->cap.n, 11);
	req(t, 0, MBX_OP_MS, "a", 0, MBX_MS_SET, 5, NULL);
	req(t, 1, MBX_OP_MS, "b", 0, MBX_MS_SET, 2, NULL);
	req(t, 2, MBX_OP_MS, "c", Q, MBX_MS_ADD, 1, NULL);
	req(t, 3, MBX_OP_MS, "d", 0, MBX_MS_APPEND, 1, NULL);
	req(t, 4, MBX_OP_MS, "e", OP, MBX_MS_PREPEND, 1, "9");
	req(t, 5, MBX_OP_MS, "f", 0, MBX_MS_REPLACE, 1, NULL);
	req(t, 6, MBX_OP_MS, "g", 0, MBX_MS_CAS, 3, NULL);
	req(t, 7, MBX_OP_MS, "h", 0, MBX_MS_ADD, 0, NULL); /* add with a cas stays an add */
	req(t, 8, MBX_OP_MS, "i", 0, MBX_MS_CAS, 1, NULL); /* memcached: replace+cas is a cas */
	req(t, 9, MBX_OP_MS, "foo", 0, MBX_MS_SET, 1, NULL);
	req(t, 10, MBX_OP_MS, "j", 0, MBX_MS_SET, 3, NULL); /* "ms" mode token: set */
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void ms_errors(void **state)
{
	struct tctx *t = *state;
	/* Errors after a valid <datalen>: memcached swallows the data block.
	 * Errors before it (no/bad datalen, long key): nothing swallowed. */
	parse_str(t, 0,
		  "ms a 2 MX\r\nab\r\n"	   /* invalid mode */
		  "ms b 2 T1 T2\r\nab\r\n" /* duplicate flag */
		  "ms Z 2 b\r\nab\r\n"	   /* bad base64 */
		  "ms c 2 1\r\nab\r\n"	   /* not a flag */
		  "ms d\r\n"		   /* no datalen */
		  "ms e -1\r\n"		   /* negative */
		  "ms f x\r\n"		   /* not a number */
		  "mn\r\n");
	assert_int_equal(t->cap.n, 8);
	req(t, 0, MBX_OP_MS, "a", 0, 0, 2, NULL);
	req(t, 1, MBX_OP_MS, "b", 0, MBX_MS_SET, 2, NULL);
	req(t, 2, MBX_OP_MS, "Z", 0, MBX_MS_SET, 2, NULL);
	req(t, 3, MBX_OP_MS, "c", 0, MBX_MS_SET, 2, NULL);
	req(t, 4, MBX_OP_MS, "d", 0, 0, 0, NULL);
	req(t, 5, MBX_OP_MS, "e", 0, 0, 0, NULL);
	req(t, 6, MBX_OP_MS, "f", 0, 0, 0, NULL);
	req(t, 7, MBX_OP_MN, "", 0, 0, 0, NULL);
	assert_int_equal(t->ctr->parse_errors, 7);
}

static void md_ma_mn_me(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 0,
		  "md a\r\n"
		  "md b q Oxyz C12 I T30\r\n"
		  "ma c\r\n"
		  "ma d MI v\r\n"
		  "ma e Mi\r\n"
		  "ma f M+ D5 q\r\n"
		  "ma g MD\r\n"
		  "ma h Md N0 J10\r\n"
		  "ma i M- O1\r\n"
		  "mn\r\n"
		  "me j\r\n"
		  "me YmluYXJ5 b\r\n");
	assert_int_equal(t->cap.n, 12);
	req(t, 0, MBX_OP_MD, "a", 0, 0, 0, NULL);
	req(t, 1, MBX_OP_MD, "b", Q | OP, 0, 0, "xyz");
	req(t, 2, MBX_OP_MA, "c", 0, MBX_MA_INCR, 0, NULL);
	req(t, 3, MBX_OP_MA, "d", 0, MBX_MA_INCR, 0, NULL);
	req(t, 4, MBX_OP_MA, "e", 0, MBX_MA_INCR, 0, NULL);
	req(t, 5, MBX_OP_MA, "f", Q, MBX_MA_INCR, 0, NULL);
	req(t, 6, MBX_OP_MA, "g", 0, MBX_MA_DECR, 0, NULL);
	req(t, 7, MBX_OP_MA, "h", 0, MBX_MA_DECR, 0, NULL);
	req(t, 8, MBX_OP_MA, "i", OP, MBX_MA_DECR, 0, "1");
	req(t, 9, MBX_OP_MN, "", 0, 0, 0, NULL);
	req(t, 10, MBX_OP_ME, "j", 0, 0, 0, NULL);
	req(t, 11, MBX_OP_ME, "binary", 0, 0, 0, NULL);
	assert_int_equal(t->ctr->parse_errors, 0);
}

static void meta_errors(void **state)
{
	struct tctx *t = *state;
	char line[512], k[252];
	memset(k, 'k', 251);
	k[251] = 0;
	snprintf(line, sizeof(line),
		 "mg\r\n"
		 "mg a v v\r\n"
		 "ma b MX\r\n"
		 "mg c O012345678901234567890123456789012\r\n"
		 "mg d a b c d e f g h i j k l m n o p r s\r\n"
		 "mg %s v\r\n"
		 "mx foo\r\n"
		 "mg e T\r\n"
		 "md f Cx\r\n"
		 "ma g Dz J-1 N1x\r\n"
		 "ms h 1 Fx\r\nx\r\n",
		 k);
	parse_str(t, 0, line);
	assert_int_equal(t->cap.n, 11);
	req(t, 7, MBX_OP_MG, "e", 0, MBX_MG_T, 0, NULL);
	req(t, 8, MBX_OP_MD, "f", 0, 0, 0, NULL);
	req(t, 9, MBX_OP_MA, "g", 0, MBX_MA_INCR, 0, NULL);
	req(t, 10, MBX_OP_MS, "h", 0, MBX_MS_SET, 1, NULL); /* data still swallowed */
	req(t, 0, MBX_OP_MG, "", 0, 0, 0, NULL);
	req(t, 1, MBX_OP_MG, "a", 0, MBX_MG_V, 0, NULL);
	req(t, 2, MBX_OP_MA, "b", 0, 0, 0, NULL);
	req(t, 3, MBX_OP_MG, "c", OP, 0, 0, "012345678901234567890123456789012");
	assert_int_equal(t->cap.v[4].op, MBX_OP_MG); /* 20 tokens: too many flags */
	assert_int_equal(t->cap.v[5].flags, MBX_MSG_F_KEY_CLAMP);
	assert_int_equal(t->cap.v[5].key_len, 251);
	check_req(t, 6, MBX_OP_UNKNOWN, MBX_PROTO_TEXT, "", 0, 0);
	assert_int_equal(t->ctr->parse_errors, 10); /* all but the long key */
	assert_int_equal(t->ctr->key_too_long, 1);
}

static void meta_responses(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 1,
		  "HD\r\n"
		  "HD O123 kfoo c5\r\n"
		  "VA 5 f0 t-1 Oab\r\nhello\r\n"
		  "VA 0\r\n\r\n"
		  "VA 6 kYmluYXJ5 b\r\nEN\r\nHD\r\n"
		  "EN\r\n"
		  "EN kmiss O7\r\n"
		  "NF\r\n"
		  "NS\r\n"
		  "EX Oq\r\n"
		  "MN\r\n"
		  "ME key exp=-1 la=3 cas=2 fetch=no cls=1 size=63\r\n");
	assert_int_equal(t->cap.n, 12);
	const unsigned M = MBX_PROTO_META, K = MBX_MSG_F_KEY;
	check_rsp(t, 0, MBX_RSP_HD, M, 0, 0, NULL);
	check_rsp(t, 1, MBX_RSP_HD, M, OP | K, 0, "foo");
	assert_int_equal(t->cap.v[1].opaque, oh(t, "123"));
	check_rsp(t, 2, MBX_RSP_VA, M, OP, 5, NULL);
	assert_int_equal(t->cap.v[2].opaque, oh(t, "ab"));
	check_rsp(t, 3, MBX_RSP_VA, M, 0, 0, NULL);
	check_rsp(t, 4, MBX_RSP_VA, M, K, 6, "binary");
	check_rsp(t, 5, MBX_RSP_EN, M, 0, 0, NULL);
	check_rsp(t, 6, MBX_RSP_EN, M, OP | K, 0, "miss");
	check_rsp(t, 7, MBX_RSP_NF, M, 0, 0, NULL);
	check_rsp(t, 8, MBX_RSP_NS, M, 0, 0, NULL);
	check_rsp(t, 9, MBX_RSP_EX, M, OP, 0, NULL);
	check_rsp(t, 10, MBX_RSP_MN, M, 0, 0, NULL);
	check_rsp(t, 11, MBX_RSP_ME, M, 0, 0, NULL);
	assert_int_equal(t->ctr->parse_errors, 0);
}

/* The opaque of a request and of its reply hash to the same value, and
 * differ between tokens. */
static void opaque_pairs(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 0, "mg a O77 v\r\nmg b O78 v\r\n");
	uint32_t o1 = t->cap.v[0].opaque, o2 = t->cap.v[1].opaque;
	tctx_reset(t);
	parse_str(t, 1, "EN O78\r\nVA 1 O77\r\nx\r\n");
	assert_int_equal(t->cap.v[0].opaque, o2);
	assert_int_equal(t->cap.v[1].opaque, o1);
	assert_true(o1 != o2);
}

static void meta_text_mixed(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 0, "get a\r\nmg b v\r\nset c 0 0 1\r\nx\r\nms d 1\r\ny\r\nmn\r\ndelete e\r\n");
	assert_int_equal(t->cap.n, 6);
	check_req(t, 0, MBX_OP_GET, MBX_PROTO_TEXT, "a", MBX_MSG_F_BATCH_END, 0);
	req(t, 1, MBX_OP_MG, "b", 0, MBX_MG_V, 0, NULL);
	check_req(t, 2, MBX_OP_SET, MBX_PROTO_TEXT, "c", 0, 1);
	req(t, 3, MBX_OP_MS, "d", 0, MBX_MS_SET, 1, NULL);
	req(t, 4, MBX_OP_MN, "", 0, 0, 0, NULL);
	check_req(t, 5, MBX_OP_DELETE, MBX_PROTO_TEXT, "e", 0, 0);
	tctx_reset(t);
	parse_str(t, 1,
		  "VALUE a 0 1\r\nx\r\nEND\r\nVA 1\r\ny\r\nSTORED\r\nHD\r\nMN\r\nDELETED\r\n");
	assert_int_equal(t->cap.n, 7);
	check_rsp(t, 0, MBX_RSP_VALUE, MBX_PROTO_TEXT, MBX_MSG_F_KEY, 1, "a");
	check_rsp(t, 1, MBX_RSP_END, MBX_PROTO_TEXT, 0, 0, NULL);
	check_rsp(t, 2, MBX_RSP_VA, MBX_PROTO_META, 0, 1, NULL);
	check_rsp(t, 3, MBX_RSP_STORED, MBX_PROTO_TEXT, 0, 0, NULL);
	check_rsp(t, 4, MBX_RSP_HD, MBX_PROTO_META, 0, 0, NULL);
	check_rsp(t, 5, MBX_RSP_MN, MBX_PROTO_META, 0, 0, NULL);
	check_rsp(t, 6, MBX_RSP_DELETED, MBX_PROTO_TEXT, 0, 0, NULL);
}

static void bad_va_resyncs(void **state)
{
	struct tctx *t = *state;
	parse_str(t, 1, "VA x\r\nhello\r\nHD\r\n");
	assert_int_equal(t->cap.n, 1);
	check_rsp(t, 0, MBX_RSP_HD, MBX_PROTO_META, 0, 0, NULL);
	assert_int_equal(t->ctr->parse_errors, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(base64_vectors),
	    cmocka_unit_test_setup_teardown(mg, setup, teardown),
	    cmocka_unit_test_setup_teardown(ms, setup, teardown),
	    cmocka_unit_test_setup_teardown(ms_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(md_ma_mn_me, setup, teardown),
	    cmocka_unit_test_setup_teardown(meta_errors, setup, teardown),
	    cmocka_unit_test_setup_teardown(meta_responses, setup, teardown),
	    cmocka_unit_test_setup_teardown(opaque_pairs, setup, teardown),
	    cmocka_unit_test_setup_teardown(meta_text_mixed, setup, teardown),
	    cmocka_unit_test_setup_teardown(bad_va_resyncs, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
