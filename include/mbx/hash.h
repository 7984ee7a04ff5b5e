/* SPDX-License-Identifier: Apache-2.0 */
/* Keyed hashing (SipHash-2-4) for key anonymisation and flow ids, and CRC32C
 * for profile block checksums. */
#ifndef MBX_HASH_H
#define MBX_HASH_H

#include "mbx/common.h"

#define MBX_SALT_LEN 16

/* SipHash-2-4 of data under a 16-byte key (Aumasson & Bernstein). */
uint64_t mbx_siphash(const uint8_t key[MBX_SALT_LEN], const void *data, size_t len);

/* Fingerprint of a salt that can be stored without revealing it: SipHash of
 * a fixed label under the salt. Two profiles with equal fingerprints were
 * recorded with the same salt, so their key hashes are comparable. */
uint64_t mbx_salt_fingerprint(const uint8_t salt[MBX_SALT_LEN]);

/* Fill salt from getrandom(). Returns 0 or -errno. */
int mbx_salt_random(uint8_t salt[MBX_SALT_LEN]);

/* Salt from user text: exactly 32 hex digits are taken as the raw 16 bytes;
 * any other non-empty string is stretched to 16 bytes with SipHash under two
 * fixed labels. Returns 0, or -EINVAL for an empty string. */
int mbx_salt_from_string(const char *s, uint8_t salt[MBX_SALT_LEN]);

/* CRC32C (Castagnoli), hardware-accelerated where the CPU has SSE4.2. */
uint32_t mbx_crc32c(uint32_t crc, const void *data, size_t len);

#endif
