/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "mbx/hash.h"

static void siphash_reference_vectors(void **state)
{
	(void)state;
	uint8_t key[16], msg[64];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* From the SipHash paper, appendix A, and the reference vectors.h. */
	assert_int_equal(mbx_siphash(key, msg, 0), 0x726fdb47dd0e0e31ULL);
	assert_int_equal(mbx_siphash(key, msg, 1), 0x74f839c593dc67fdULL);
	assert_int_equal(mbx_siphash(key, msg, 15), 0xa129ca6149be45e5ULL);
	assert_int_equal(mbx_siphash(key, msg, 63), 0x958a324ceb064572ULL);
}

static void siphash_key_changes_output(void **state)
{
	(void)state;
	uint8_t k1[16] = { 0 }, k2[16] = { 0 };
	k2[15] = 1;
	assert_true(mbx_siphash(k1, "foo", 3) != mbx_siphash(k2, "foo", 3));
	assert_true(mbx_siphash(k1, "foo", 3) == mbx_siphash(k1, "foo", 3));
}

static void crc32c_known_values(void **state)
{
	(void)state;
	/* RFC 3720 B.4 test vectors. */
	uint8_t zeros[32] = { 0 }, ones[32], inc[32];
	memset(ones, 0xff, sizeof(ones));
	for (int i = 0; i < 32; i++)
		inc[i] = (uint8_t)i;
	assert_int_equal(mbx_crc32c(0, zeros, 32), 0x8a9136aa);
	assert_int_equal(mbx_crc32c(0, ones, 32), 0x62a8ab43);
	assert_int_equal(mbx_crc32c(0, inc, 32), 0x46dd794e);
	assert_int_equal(mbx_crc32c(0, "123456789", 9), 0xe3069283);
	/* incremental == one-shot */
	assert_int_equal(mbx_crc32c(mbx_crc32c(0, "1234", 4), "56789", 5), 0xe3069283);
}

static void salt_parsing(void **state)
{
	(void)state;
	uint8_t s[16], t[16];
	assert_int_equal(mbx_salt_from_string("000102030405060708090a0b0c0d0e0f", s), 0);
	for (int i = 0; i < 16; i++)
		assert_int_equal(s[i], i);
	assert_int_equal(mbx_salt_from_string("correct horse", s), 0);
	assert_int_equal(mbx_salt_from_string("correct horse", t), 0);
	assert_memory_equal(s, t, 16);
	assert_int_equal(mbx_salt_from_string("correct horsf", t), 0);
	assert_memory_not_equal(s, t, 16);
	assert_int_equal(mbx_salt_from_string("", s), -EINVAL);
	assert_int_equal(mbx_salt_random(s), 0);
	assert_int_equal(mbx_salt_random(t), 0);
	assert_memory_not_equal(s, t, 16);
	assert_true(mbx_salt_fingerprint(s) != mbx_salt_fingerprint(t));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(siphash_reference_vectors),
		cmocka_unit_test(siphash_key_changes_output),
		cmocka_unit_test(crc32c_known_values),
		cmocka_unit_test(salt_parsing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
