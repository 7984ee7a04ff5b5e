/* SPDX-License-Identifier: Apache-2.0 */
/* SipHash-2-4 (reference: Aumasson & Bernstein, "SipHash: a fast short-input
 * PRF", 2012) and CRC32C. */
#include "mbx/hash.h"

#include <errno.h>
#include <sys/random.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <nmmintrin.h>
#endif

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

static inline uint64_t load64le(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v; /* little-endian hosts only (checked in meson.build) */
}

uint64_t mbx_siphash(const uint8_t key[MBX_SALT_LEN], const void *data, size_t len)
{
	const uint8_t *in = data;
	uint64_t k0 = load64le(key), k1 = load64le(key + 8);
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0;
	uint64_t v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0;
	uint64_t v3 = 0x7465646279746573ULL ^ k1;
	uint64_t b = (uint64_t)len << 56;
	const uint8_t *end = in + (len & ~(size_t)7);
	size_t r = len & 7;

	/* The last len % 8 bytes, little-endian. Keys vary in length from
	 * one message to the next: a switch on r mispredicted often (27 ->
	 * 22 ns per key of 10-60 bytes); from 8 bytes on they are the top
	 * of the 8-byte word that ends with the input (no read past it). */
	if (MBX_LIKELY(len >= 8)) {
		uint64_t w = load64le(in + len - 8);
		b |= r ? w >> (64 - 8 * r) : 0;
	} else {
		for (size_t i = 0; i < r; i++)
			b |= (uint64_t)in[i] << (8 * i);
	}
	for (; in != end; in += 8) {
		uint64_t m = load64le(in);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t mbx_salt_fingerprint(const uint8_t salt[MBX_SALT_LEN])
{
	static const char label[] = "mbx salt fingerprint v1";
	return mbx_siphash(salt, label, sizeof(label) - 1);
}

int mbx_salt_random(uint8_t salt[MBX_SALT_LEN])
{
	size_t got = 0;
	while (got < MBX_SALT_LEN) {
		ssize_t r = getrandom(salt + got, MBX_SALT_LEN - got, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		got += (size_t)r;
	}
	return 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int mbx_salt_from_string(const char *s, uint8_t salt[MBX_SALT_LEN])
{
	static const uint8_t label0[MBX_SALT_LEN] = "mbx-salt-stretch";
	static const uint8_t label1[MBX_SALT_LEN] = "mbx-salt-second.";
	size_t len = strlen(s);
	bool hex = len == 2 * (size_t)MBX_SALT_LEN;

	if (len == 0)
		return -EINVAL;
	for (size_t i = 0; hex && i < len; i++)
		hex = hexval(s[i]) >= 0;
	if (hex) {
		for (size_t i = 0; i < MBX_SALT_LEN; i++)
			salt[i] = (uint8_t)(hexval(s[2 * i]) << 4 | hexval(s[2 * i + 1]));
		return 0;
	}
	uint64_t a = mbx_siphash(label0, s, len), b = mbx_siphash(label1, s, len);
	memcpy(salt, &a, 8);
	memcpy(salt + 8, &b, 8);
	return 0;
}

/* CRC32C: slicing-by-1 table fallback, SSE4.2 crc32 instruction when present. */
static uint32_t crc_table[256];
static int crc_mode; /* 0 = not initialised, 1 = table, 2 = sse4.2 */

static void crc_init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crc_table[i] = c;
	}
	int mode = 1;
#if defined(__x86_64__)
	unsigned eax, ebx, ecx, edx;
	if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) && (ecx & bit_SSE4_2))
		mode = 2;
#endif
	__atomic_store_n(&crc_mode, mode, __ATOMIC_RELEASE);
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t c, const uint8_t *p, size_t n)
{
	while (n >= 8) {
		uint64_t v;
		memcpy(&v, p, 8);
		c = (uint32_t)_mm_crc32_u64(c, v);
		p += 8;
		n -= 8;
	}
	while (n--)
		c = _mm_crc32_u8(c, *p++);
	return c;
}
#endif

uint32_t mbx_crc32c(uint32_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t c = ~crc;
	int mode = __atomic_load_n(&crc_mode, __ATOMIC_ACQUIRE);

	if (MBX_UNLIKELY(mode == 0)) {
		crc_init();
		mode = __atomic_load_n(&crc_mode, __ATOMIC_ACQUIRE);
	}
#if defined(__x86_64__)
	if (mode == 2)
		return ~crc_hw(c, p, len);
#endif
	while (len--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}
