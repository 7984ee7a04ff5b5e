/* SPDX-License-Identifier: Apache-2.0 */
/* Replay keys: a legal memcache key for every recorded (key hash, key length).
 *
 * The key is the prefix, then "derived" characters: the SplitMix64 stream
 * seeded by the hash, read as a bit stream (low bits of each word first),
 * 6 bits per character into the base64url alphabet. The stream's first word
 * is SplitMix64's finaliser applied to hash + golden gamma, a bijection of
 * the 64-bit hash, and the first 11 characters hold all of its bits: keys of
 * different hashes differ whenever at least 11 characters are derived.
 *
 * THE DERIVATION IS PART OF THE REPLAY FORMAT: a change gives every replay a
 * different key set. tests/unit/test_replay_keys.c pins golden keys. */
#include <errno.h>

#include "mbx/replay_proto.h"
#include "replay/rp_mix.h"

/* base64url: letters, digits, '-' and '_'. Legal in text, meta and binary
 * keys, nothing a meta parser or a proxy's routing prefix reads specially. */
static const char rp_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Derived characters when the recorded length leaves no room after the
 * prefix: as many as the recorded key had, at most the 11 that carry the
 * whole hash, at least one. */
#define RP_HASH_CHARS 11u

int mbx_keygen_init(struct mbx_keygen *kg, const char *prefix)
{
	size_t n = 0;

	memset(kg, 0, sizeof(*kg));
	if (!prefix)
		return 0;
	for (; prefix[n]; n++) {
		unsigned char c = (unsigned char)prefix[n];
		if (n == MBX_KEY_PREFIX_MAX || c < 0x21 || c > 0x7e) {
			memset(kg, 0, sizeof(*kg));
			return -EINVAL;
		}
	}
	memcpy(kg->prefix, prefix, n);
	kg->prefix_len = (uint32_t)n;
	return 0;
}

/* Up to 32 characters (n of them, rounded up to a section boundary) from
 * the next 192 stream bits: words w0 w1 w2, low bits first. */
static inline void rp_block32(char *o, uint64_t *s, size_t n)
{
	uint64_t w0 = mbx_rp_splitmix64(s);
	for (unsigned i = 0; i < 10; i++)
		o[i] = rp_alphabet[(w0 >> (6 * i)) & 63];
	if (n <= 10)
		return;
	uint64_t w1 = mbx_rp_splitmix64(s);
	o[10] = rp_alphabet[(w0 >> 60) | ((w1 & 3) << 4)];
	for (unsigned i = 0; i < 10; i++)
		o[11 + i] = rp_alphabet[(w1 >> (2 + 6 * i)) & 63];
	if (n <= 21)
		return;
	uint64_t w2 = mbx_rp_splitmix64(s);
	o[21] = rp_alphabet[(w1 >> 62) | ((w2 & 15) << 2)];
	for (unsigned i = 0; i < 10; i++)
		o[22 + i] = rp_alphabet[(w2 >> (4 + 6 * i)) & 63];
}

size_t mbx_keygen_key(const struct mbx_keygen *kg, uint64_t hash, unsigned len, char *out)
{
	uint32_t plen = kg->prefix_len;
	uint64_t s = hash;
	size_t d;

	if (len > MBX_KEY_MAX)
		len = MBX_KEY_MAX;
	if (MBX_LIKELY(len > plen))
		d = len - plen;
	else
		d = len ? MBX_MIN(len, RP_HASH_CHARS) : 1;

	memcpy(out, kg->prefix, plen);
	/* Blocks go straight into out, which has MBX_KEY_MAX bytes: bytes past
	 * the key may be overwritten. Only a block that would cross the end of
	 * out goes through tmp. */
	char *o = out + plen, *end = o + d;
	while (o < end) {
		size_t left = (size_t)(end - o);
		if (MBX_LIKELY(out + MBX_KEY_MAX - o >= 32)) {
			rp_block32(o, &s, left);
		} else {
			char tmp[32];
			rp_block32(tmp, &s, left);
			memcpy(o, tmp, left);
		}
		o += 32;
	}
	return plen + d;
}
