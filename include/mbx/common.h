/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers shared by every module: branch hints, alignment, unaligned
 * big-endian loads. No state, no allocation. */
#ifndef MBX_COMMON_H
#define MBX_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MBX_LIKELY(x)   __builtin_expect(!!(x), 1)
#define MBX_UNLIKELY(x) __builtin_expect(!!(x), 0)

#define MBX_CACHE_LINE    64
#define MBX_CACHE_ALIGNED __attribute__((aligned(MBX_CACHE_LINE)))
#define MBX_PRINTF(f, a)  __attribute__((format(printf, f, a)))
#define MBX_UNUSED        __attribute__((unused))
#define MBX_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define MBX_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MBX_MAX(a, b) ((a) > (b) ? (a) : (b))

#define MBX_NSEC_PER_SEC  1000000000ULL
#define MBX_NSEC_PER_MSEC 1000000ULL
#define MBX_NSEC_PER_USEC 1000ULL

static inline uint16_t mbx_rd16be(const uint8_t *p)
{
	return (uint16_t)((uint16_t)p[0] << 8 | p[1]);
}

static inline uint32_t mbx_rd32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline uint64_t mbx_rd64be(const uint8_t *p)
{
	return (uint64_t)mbx_rd32be(p) << 32 | mbx_rd32be(p + 4);
}

static inline uint32_t mbx_rd32le(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v; /* x86-64 and aarch64 little endian only; checked in meson.build */
}

static inline void mbx_wr16be(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void mbx_wr32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void mbx_wr64be(uint8_t *p, uint64_t v)
{
	mbx_wr32be(p, (uint32_t)(v >> 32));
	mbx_wr32be(p + 4, (uint32_t)v);
}

/* Saturating narrowing used for event fields. */
static inline uint32_t mbx_sat_u32(uint64_t v)
{
	return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

#endif
