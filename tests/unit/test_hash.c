/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/* SipHash-2-4 written as the paper does, byte by byte: what the word-wise
 * tail of mbx_siphash must equal. */
#define RROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define RROUND                                                                                     \
	do {                                                                                       \
		v0 += v1; v1 = RROTL(v1, 13); v1 ^= v0; v0 = RROTL(v0, 32);                       \
		v2 += v3; v3 = RROTL(v3, 16); v3 ^= v2;                                           \
		v0 += v3; v3 = RROTL(v3, 21); v3 ^= v0;                                           \
		v2 += v1; v1 = RROTL(v1, 17); v1 ^= v2; v2 = RROTL(v2, 32);                       \
	} while (0)

static uint64_t ref_u64(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static uint64_t ref_siphash(const uint8_t key[16], const uint8_t *in, size_t len)
{
	uint64_t k0 = ref_u64(key, 8), k1 = ref_u64(key + 8, 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	size_t i = 0;
	for (; i + 8 <= len; i += 8) {
		uint64_t m = ref_u64(in + i, 8);
		v3 ^= m;
		RROUND;
		RROUND;
		v0 ^= m;
	}
	uint64_t b = ((uint64_t)len << 56) | ref_u64(in + i, len - i);
	v3 ^= b;
	RROUND;
	RROUND;
	v0 ^= b;
	v2 ^= 0xff;
	RROUND;
	RROUND;
	RROUND;
	RROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

/* Every length 0-130 at every alignment, each input ending right before an
 * inaccessible page and each starting right after one: equal to the
 * reference, and no byte read outside the input (a read past either end
 * faults). */
static void siphash_all_lengths_at_page_end(void **state)
{
	(void)state;
	long pg = sysconf(_SC_PAGESIZE);
	uint8_t *m = mmap(NULL, (size_t)pg * 3, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(m != MAP_FAILED);
	uint8_t *d = m + pg; /* [guard][d: one page][guard] */
	for (long i = 0; i < pg; i++)
		d[i] = (uint8_t)(i * 131 + 7);
	assert_int_equal(mprotect(m, (size_t)pg, PROT_NONE), 0);
	assert_int_equal(mprotect(d + pg, (size_t)pg, PROT_NONE), 0);
	uint8_t key[16];
	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)(0xa5 ^ (i * 37));
	for (size_t len = 0; len <= 130; len++) {
		for (size_t al = 0; al < 8; al++) {
			const uint8_t *at_end = d + pg - len - al, *at_start = d + al;
			assert_int_equal(mbx_siphash(key, at_end, len), ref_siphash(key, at_end, len));
			assert_int_equal(mbx_siphash(key, at_start, len), ref_siphash(key, at_start, len));
		}
	}
	munmap(m, (size_t)pg * 3);
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
		cmocka_unit_test(siphash_all_lengths_at_page_end),
		cmocka_unit_test(siphash_key_changes_output),
		cmocka_unit_test(crc32c_known_values),
		cmocka_unit_test(salt_parsing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
