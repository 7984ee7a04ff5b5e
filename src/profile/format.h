/* SPDX-License-Identifier: Apache-2.0 */
/* Byte layout of the profile file, shared by writer.c and reader.c. The
 * normative description is docs/profile-format.md; keep the two in step.
 * All integers are little-endian (meson refuses big-endian hosts, so native
 * loads and stores through memcpy are the file's byte order). */
#ifndef MBX_PROFILE_FORMAT_H
#define MBX_PROFILE_FORMAT_H

#include "mbx/common.h"
#include "mbx/counters.h"
#include "mbx/event.h"
#include "mbx/profile.h"

/* File header, version 1.0. A newer minor version may make it longer
 * (hdr_len); the CRC is always the last 4 bytes of the header. */
#define PF_MAGIC	  "MBXPROF\0"
#define PF_MAGIC_LEN	  8
#define PF_H_MAGIC	  0   /* 8  "MBXPROF\0" */
#define PF_H_MAJOR	  8   /* u16 */
#define PF_H_MINOR	  10  /* u16 */
#define PF_H_LEN	  12  /* u32 header length in bytes, CRC included */
#define PF_H_EVENT_SIZE	  16  /* u32 = 32 */
#define PF_H_BLOCK_EVENTS 20  /* u32 max events per EVENTS block */
#define PF_H_CREATED_NS	  24  /* u64 */
#define PF_H_SALT_FP	  32  /* u64 */
#define PF_H_LINKTYPE	  40  /* u32 */
#define PF_H_SNAPLEN	  44  /* u32 */
#define PF_H_NPORTS	  48  /* u32 <= 16 */
#define PF_H_PORTS	  52  /* u16[16] */
#define PF_H_SOURCE	  84  /* char[256] NUL-terminated, NUL-padded */
#define PF_H_HOSTNAME	  340 /* char[64] */
#define PF_H_VERSION	  404 /* char[32] */
#define PF_H_CRC	  436 /* u32 CRC32C of bytes [0, 436) (in general [0, hdr_len - 4)) */
#define PF_HDR_LEN_V1	  440
#define PF_HDR_LEN_MAX	  65536 /* a reader refuses longer headers (sanity bound) */
#define PF_HDR_FIXED	  16	/* bytes needed to learn magic, version and length */

/* Block header: 48 bytes before every block's payload. */
#define PF_BLOCK_MAGIC	 "MBXB"
#define PF_B_MAGIC	 0  /* 4  "MBXB" */
#define PF_B_TYPE	 4  /* u16 enum pf_block_type */
#define PF_B_RESERVED	 6  /* u16 written 0, ignored by 1.x readers */
#define PF_B_SEQ	 8  /* u64 0, 1, 2, ... over all blocks of the file */
#define PF_B_COUNT	 16 /* u32 records in the payload */
#define PF_B_PAYLOAD_LEN 20 /* u32 payload bytes */
#define PF_B_FIRST_TS	 24 /* u64 */
#define PF_B_LAST_TS	 32 /* u64 */
#define PF_B_PAYLOAD_CRC 40 /* u32 CRC32C of the payload */
#define PF_B_HEADER_CRC	 44 /* u32 CRC32C of bytes [0, 44) of this header */
#define PF_BLOCK_HDR_LEN 48

enum pf_block_type {
	PF_BLOCK_EVENTS = 1,
	PF_BLOCK_STATS = 2,
	PF_BLOCK_FOOTER = 3,
};

/* A counter as stored: 32-byte NUL-padded name, u64 value. */
#define PF_KV_LEN 40

/* Footer payload: fixed part, then ncounters * 40 bytes of counters, then
 * event_blocks * 8 bytes of block index (file offset of each EVENTS block).
 * A newer minor version may append bytes after the index. */
#define PF_F_EVENTS	  0  /* u64 */
#define PF_F_EVENT_BLOCKS 8  /* u64 */
#define PF_F_STATS_BLOCKS 16 /* u64 */
#define PF_F_FIRST_TS	  24 /* u64 */
#define PF_F_LAST_TS	  32 /* u64 */
#define PF_F_NCOUNTERS	  40 /* u64 */
#define PF_FOOTER_FIXED	  48

/* Trailer: the last 24 bytes of a complete file. */
#define PF_T_FOOTER_OFF	 0  /* u64 offset of the footer block header */
#define PF_T_FOOTER_LEN	 8  /* u64 footer block length, header included */
#define PF_T_MAGIC	 16 /* 4  "MBXT" */
#define PF_T_CRC	 20 /* u32 CRC32C of bytes [0, 20) */
#define PF_TRAILER_MAGIC "MBXT"
#define PF_TRAILER_LEN	 24

/* The footer payload length is a u32 like every payload: the block index of
 * one file is limited to about 512 Mi EVENTS blocks (2 Ti events at the
 * default block size; rotate long before that). */
#define PF_MAX_EVENT_BLOCKS                                                                        \
	((UINT32_MAX - PF_FOOTER_FIXED - (uint64_t)MBX_PROFILE_MAX_COUNTERS * PF_KV_LEN) / 8)

static inline void pf_put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void pf_put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline void pf_put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static inline uint16_t pf_get16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint32_t pf_get32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static inline uint64_t pf_get64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* The on-disk event is the in-memory struct, byte for byte. */
_Static_assert(offsetof(struct mbx_event, ts_ns) == 0, "event layout");
_Static_assert(offsetof(struct mbx_event, key_hash) == 8, "event layout");
_Static_assert(offsetof(struct mbx_event, conn_id) == 16, "event layout");
_Static_assert(offsetof(struct mbx_event, latency_ns) == 20, "event layout");
_Static_assert(offsetof(struct mbx_event, value_len) == 24, "event layout");
_Static_assert(offsetof(struct mbx_event, op) == 28, "event layout");
_Static_assert(offsetof(struct mbx_event, key_len) == 29, "event layout");
_Static_assert(offsetof(struct mbx_event, outcome) == 30, "event layout");
_Static_assert(offsetof(struct mbx_event, flags) == 31, "event layout");
_Static_assert(sizeof(struct mbx_counter_kv) == PF_KV_LEN, "counter kv layout");
_Static_assert(MBX_COUNTER_NAME_MAX == 32, "counter name size");

#endif
