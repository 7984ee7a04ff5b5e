/* SPDX-License-Identifier: Apache-2.0 */
/* Replay keys and values (src/replay/keys.c, rp_valbuf.c).
 *
 * The key derivation is checked three independent ways: against a
 * bit-by-bit reference model written from the spec in docs/replay.md,
 * by decoding the first 11 characters back into the hash (which proves
 * injectivity for every hash, not only sampled ones), and by golden keys
 * pinned forever (a change there changes every replay's key set). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
/* cmocka.h needs the headers above first */
#include <cmocka.h>

#include "mbx/hash.h"
#include "mbx/replay_proto.h"

static const char ALPHA[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int alpha_index(char c)
{
	const char *p = memchr(ALPHA, c, 64);
	return p ? (int)(p - ALPHA) : -1;
}

/* ---- reference model: SplitMix64 stream, bit by bit, low bits first ---- */

static uint64_t ref_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void ref_derive(uint64_t hash, size_t n, char *out)
{
	uint64_t s = hash, w = 0;
	unsigned avail = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned v = 0;
		for (unsigned b = 0; b < 6; b++) {
			if (!avail) {
				w = ref_next(&s);
				avail = 64;
			}
			v |= (unsigned)(w & 1) << b;
			w >>= 1;
			avail--;
		}
		out[i] = ALPHA[v];
	}
}

static size_t ref_len(size_t plen, unsigned len)
{
	if (len > 250)
		len = 250;
	if (len > plen)
		return len;
	return plen + (len == 0 ? 1 : len < 11 ? len : 11);
}

/* ---- inverse of SplitMix64's output function ---- */

static uint64_t inv_mul(uint64_t a)
{
	uint64_t x = a; /* Newton: each step doubles the correct low bits */
	for (int i = 0; i < 6; i++)
		x *= 2 - a * x;
	return x;
}

static uint64_t inv_xorshift(uint64_t y, unsigned k)
{
	uint64_t z = y;
	for (unsigned i = 0; i < 64 / k + 1; i++)
		z = y ^ (z >> k);
	return z;
}

static uint64_t unmix(uint64_t z)
{
	z = inv_xorshift(z, 31);
	z *= inv_mul(0x94d049bb133111ebULL);
	z = inv_xorshift(z, 27);
	z *= inv_mul(0xbf58476d1ce4e5b9ULL);
	z = inv_xorshift(z, 30);
	return z - 0x9e3779b97f4a7c15ULL;
}

/* The hash back from the first 11 derived characters. */
static uint64_t decode11(const char *d)
{
	uint64_t w = 0;
	for (unsigned i = 0; i < 11; i++) {
		int v = alpha_index(d[i]);
		assert_true(v >= 0);
		if (i < 10)
			w |= (uint64_t)v << (6 * i);
		else
			w |= (uint64_t)(v & 15) << 60;
	}
	return unmix(w);
}

static uint64_t rnd_state = 0x243f6a8885a308d3ULL;

static uint64_t rnd(void)
{
	/* xorshift64*: unrelated to the generator under test */
	rnd_state ^= rnd_state >> 12;
	rnd_state ^= rnd_state << 25;
	rnd_state ^= rnd_state >> 27;
	return rnd_state * 0x2545f4914f6cdd1dULL;
}

static const char *const prefixes[] = {
    NULL,
    "p",
    "mbx:",
    "replay/run-42|",
    "0123456789012345678901234567890123456789012345678901234567890123",
};

static void keys_lengths_and_legality(void **state)
{
	(void)state;
	struct mbx_keygen kg;
	/* out holds exactly MBX_KEY_MAX bytes; the guard must never change */
	struct {
		char out[MBX_KEY_MAX];
		char guard[64];
	} b;
	char ref[MBX_KEY_MAX];

	for (size_t pi = 0; pi < MBX_ARRAY_SIZE(prefixes); pi++) {
		assert_int_equal(mbx_keygen_init(&kg, prefixes[pi]), 0);
		size_t plen = prefixes[pi] ? strlen(prefixes[pi]) : 0;
		assert_int_equal(kg.prefix_len, plen);
		for (unsigned len = 0; len <= 300; len++) {
			for (int h = 0; h < 8; h++) {
				uint64_t hash = h == 0 ? 0 : h == 1 ? UINT64_MAX : rnd();
				memset(&b, 0xa5, sizeof(b));
				size_t n = mbx_keygen_key(&kg, hash, len, b.out);
				assert_int_equal(n, ref_len(plen, len));
				if (len >= 1 && len <= 250 && len > plen)
					assert_int_equal(n, len);
				for (size_t i = 0; i < sizeof(b.guard); i++)
					assert_int_equal((uint8_t)b.guard[i], 0xa5);
				assert_memory_equal(b.out, prefixes[pi] ? prefixes[pi] : "", plen);
				for (size_t i = 0; i < n; i++)
					assert_true(b.out[i] >= 0x21 && b.out[i] <= 0x7e);
				for (size_t i = plen; i < n; i++)
					assert_true(alpha_index(b.out[i]) >= 0);
				ref_derive(hash, n - plen, ref);
				assert_memory_equal(b.out + plen, ref, n - plen);
			}
		}
	}
}

static void keys_first_11_chars_are_the_hash(void **state)
{
	(void)state;
	struct mbx_keygen kg;
	char out[MBX_KEY_MAX];
	assert_int_equal(mbx_keygen_init(&kg, "pfx-"), 0);
	uint64_t special[] = {0,
			      1,
			      2,
			      UINT64_MAX,
			      1ULL << 63,
			      0x9e3779b97f4a7c15ULL,
			      (uint64_t)-0x9e3779b97f4a7c15LL};
	for (unsigned i = 0; i < 100000 + MBX_ARRAY_SIZE(special); i++) {
		uint64_t h = i < MBX_ARRAY_SIZE(special) ? special[i] : rnd();
		size_t n = mbx_keygen_key(&kg, h, 4 + 11, out);
		assert_int_equal(n, 15);
		assert_int_equal(decode11(out + 4), h);
	}
}

/* Pinned forever: a failure here means every replay's keys changed. */
static void keys_golden(void **state)
{
	(void)state;
	static const struct {
		const char *prefix;
		uint64_t hash;
		unsigned len;
		const char *key;
	} g[] = {
	    {NULL, 0, 1, "v"},
	    {NULL, 0, 11, "v2cH7lDqgIO"},
	    {NULL, 0x0123456789abcdefULL, 30, "dq6jkeAO6VxkQHKNbK1cV7LztlpL3C"},
	    {NULL, UINT64_MAX, 40, "gwSZbcXcZTeyCa_2nh_npnegyJLT4_COSLYqLz2s"},
	    {"mbx:", 42, 20, "mbx:V626vYiMX37Axbms"},
	    {"mbx:", 42, 3, "mbx:V62"},
	    {"longprefix-", 7, 2, "longprefix-X3"},
	    {"longprefix-", 7, 11, "longprefix-X3gMZRe4LPG"},
	    {NULL, 0xfeedfacecafebeefULL, 64,
	     "0d2El3gmdG2rr0wTu3UfFaMk_i1k1_xO4ZhRBpxEddJbE9eaJo_qF_YJ8HeOEjkY"},
	};
	struct mbx_keygen kg;
	char out[MBX_KEY_MAX];
	for (size_t i = 0; i < MBX_ARRAY_SIZE(g); i++) {
		assert_int_equal(mbx_keygen_init(&kg, g[i].prefix), 0);
		size_t n = mbx_keygen_key(&kg, g[i].hash, g[i].len, out);
		if (n != strlen(g[i].key) || memcmp(out, g[i].key, n) != 0)
			fail_msg("golden %zu: got \"%.*s\", pinned \"%s\"", i, (int)n, out,
				 g[i].key);
	}
	/* the 250-byte key of one hash, by checksum */
	assert_int_equal(mbx_keygen_init(&kg, NULL), 0);
	assert_int_equal(mbx_keygen_key(&kg, 0x5555aaaa5555aaaaULL, 255, out), 250);
	assert_int_equal(mbx_crc32c(0, out, 250), 0xe9580e50u);
}

struct kh {
	char k[20];
	uint64_t h;
};

static size_t cmp_len;

static int kh_cmp(const void *a, const void *b)
{
	return memcmp(((const struct kh *)a)->k, ((const struct kh *)b)->k, cmp_len);
}

static void keys_injective_1m(void **state)
{
	(void)state;
	enum { N = 1000000 };
	struct kh *v = malloc(N * sizeof(*v));
	struct mbx_keygen kg;
	assert_non_null(v);
	assert_int_equal(mbx_keygen_init(&kg, NULL), 0);
	static const unsigned lens[] = {11, 20};
	for (size_t li = 0; li < 2; li++) {
		cmp_len = lens[li];
		for (size_t i = 0; i < N; i++) {
			/* low-entropy hashes too: sequential and one-bit-apart */
			v[i].h = i < 1000 ? i : i < 1064 ? 1ULL << (i - 1000) : rnd();
			assert_int_equal(mbx_keygen_key(&kg, v[i].h, lens[li], v[i].k), lens[li]);
		}
		qsort(v, N, sizeof(*v), kh_cmp);
		for (size_t i = 1; i < N; i++)
			if (kh_cmp(&v[i - 1], &v[i]) == 0)
				assert_int_equal(v[i - 1].h, v[i].h);
	}
	free(v);
}

static void keys_prefix_validation(void **state)
{
	(void)state;
	struct mbx_keygen kg;
	char p65[66];
	memset(p65, 'a', 65);
	p65[65] = 0;
	assert_int_equal(mbx_keygen_init(&kg, NULL), 0);
	assert_int_equal(kg.prefix_len, 0);
	assert_int_equal(mbx_keygen_init(&kg, ""), 0);
	assert_int_equal(kg.prefix_len, 0);
	assert_int_equal(mbx_keygen_init(&kg, p65 + 1), 0);
	assert_int_equal(kg.prefix_len, 64);
	assert_int_equal(mbx_keygen_init(&kg, p65), -EINVAL);
	assert_int_equal(kg.prefix_len, 0); /* a failed init leaves no prefix behind */
	static const char *const bad[] = {"a b",   "a\tb",  "a\r",  "\n",
					  "x\x7f", "x\x80", "\xff", "\x01"};
	for (size_t i = 0; i < MBX_ARRAY_SIZE(bad); i++)
		assert_int_equal(mbx_keygen_init(&kg, bad[i]), -EINVAL);
	/* every printable non-space byte is accepted */
	char all[2] = {0, 0};
	for (int c = 0x21; c <= 0x7e; c++) {
		all[0] = (char)c;
		assert_int_equal(mbx_keygen_init(&kg, all), 0);
		assert_int_equal(kg.prefix_len, 1);
	}
}

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void keys_speed(void **state)
{
	(void)state;
	struct mbx_keygen kg;
	char out[MBX_KEY_MAX];
	uint64_t sink = 0;
	enum { N = 2000000 };
	assert_int_equal(mbx_keygen_init(&kg, "mbx:"), 0);
	static const unsigned lens[] = {10, 30, 100, 250};
	for (size_t li = 0; li < MBX_ARRAY_SIZE(lens); li++) {
		double t0 = now_ns();
		for (uint64_t i = 0; i < N; i++)
			sink += mbx_keygen_key(&kg, i * 0x9e3779b97f4a7c15ULL, lens[li], out) +
				(uint8_t)out[5];
		double t1 = now_ns();
		fprintf(stderr, "keygen: %3u-byte key: %.1f ns\n", lens[li], (t1 - t0) / N);
	}
	assert_true(sink > 0);
}

/* ---- values ---- */

static void valbuf_bounds(void **state)
{
	(void)state;
	errno = 0;
	assert_null(mbx_valbuf_create(4095));
	assert_int_equal(errno, EINVAL);
	mbx_valbuf_destroy(NULL);

	struct mbx_valbuf *a = mbx_valbuf_create(4096), *b = mbx_valbuf_create(4096);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal(mbx_valbuf_size(a), 4096);
	uint32_t av, bv;
	/* all digits, identical in two buffers (fixed seed) */
	const uint8_t *p = mbx_valbuf_get(a, 0, 4096, &av), *q = mbx_valbuf_get(b, 0, 4096, &bv);
	assert_int_equal(av, 4096);
	assert_memory_equal(p, q, 4096);
	unsigned hist[10] = {0};
	for (size_t i = 0; i < 4096; i++) {
		assert_true(p[i] >= '0' && p[i] <= '9');
		hist[p[i] - '0']++;
	}
	for (int d = 0; d < 10; d++)
		assert_true(hist[d] > 300 && hist[d] < 520); /* roughly uniform */

	/* slices: inside the buffer, deterministic, spread over it */
	size_t lo = SIZE_MAX, hi = 0;
	for (uint32_t len = 0; len <= 4096; len += 7) {
		for (int i = 0; i < 16; i++) {
			uint64_t h = rnd();
			const uint8_t *s = mbx_valbuf_get(a, h, len, &av);
			assert_int_equal(av, len);
			assert_true(s >= p && s + len <= p + 4096);
			assert_ptr_equal(mbx_valbuf_get(a, h, len, &bv), s);
			if (len == 0) {
				size_t off = (size_t)(s - p);
				lo = MBX_MIN(lo, off);
				hi = MBX_MAX(hi, off);
			}
		}
	}
	assert_true(lo < 512 && hi > 4096 - 512);
	/* larger than the buffer: the whole buffer, to be repeated */
	p = mbx_valbuf_get(a, 12345, 4097, &av);
	assert_int_equal(av, 4096);
	assert_ptr_equal(p, mbx_valbuf_get(a, 0, 4096, &bv));
	p = mbx_valbuf_get(a, 1, UINT32_MAX, &av);
	assert_int_equal(av, 4096);
	mbx_valbuf_destroy(a);
	mbx_valbuf_destroy(b);
}

/* Values are pinned like keys: a replay's values must not drift. */
static void valbuf_golden(void **state)
{
	(void)state;
	struct mbx_valbuf *vb = mbx_valbuf_create(2u << 20);
	assert_non_null(vb);
	uint32_t av;
	const uint8_t *p = mbx_valbuf_get(vb, 0, 2u << 20, &av);
	assert_int_equal(av, 2u << 20);
	assert_int_equal(mbx_crc32c(0, p, 2u << 20), 0xfe4d9464u);
	p = mbx_valbuf_get(vb, 0xabcdef, 16, &av);
	assert_memory_equal(p, "0722615838600171", 16);
	mbx_valbuf_destroy(vb);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(keys_lengths_and_legality),
	    cmocka_unit_test(keys_first_11_chars_are_the_hash),
	    cmocka_unit_test(keys_golden),
	    cmocka_unit_test(keys_injective_1m),
	    cmocka_unit_test(keys_prefix_validation),
	    cmocka_unit_test(keys_speed),
	    cmocka_unit_test(valbuf_bounds),
	    cmocka_unit_test(valbuf_golden),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
