/* SPDX-License-Identifier: Apache-2.0 */
/* Shared helpers for the libFuzzer harnesses (tests/fuzz/fuzz_*.c): input
 * cursor, a deterministic PRNG for input-driven chunking, fixed salts, and
 * the invariant checks every harness applies to what the pipeline emits.
 *
 * A violated invariant aborts with a message on stderr, which libFuzzer
 * reports as a crash and saves as crash-<sha1>: the oracle is not only
 * "no sanitizer report" but also "the documented contract holds". Header-only,
 * every function static. Input formats: docs/testing.md ("Fuzzing"). */
#ifndef MBX_FUZZ_COMMON_H
#define MBX_FUZZ_COMMON_H

#include <stdio.h>
#include <stdlib.h>

#include "mbx/common.h"
#include "mbx/event.h"
#include "mbx/hash.h"
#include "mbx/msg.h"

#define FZ_CHECK(cond, ...)                                                                        \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz invariant violated (%s:%d): ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* Input cursor. Reads past the end return 0 and leave the cursor empty. */
struct fz_in {
	const uint8_t *p;
	size_t n;
};

static MBX_UNUSED uint8_t fz_u8(struct fz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static MBX_UNUSED uint16_t fz_u16(struct fz_in *in)
{
	uint16_t lo = fz_u8(in);
	return (uint16_t)(lo | (uint16_t)fz_u8(in) << 8);
}

static MBX_UNUSED uint32_t fz_u32(struct fz_in *in)
{
	uint32_t lo = fz_u16(in);
	return lo | (uint32_t)fz_u16(in) << 16;
}

/* splitmix64: chunk sizes and gap positions derived from a seed in the input,
 * so the fuzzer controls the chunking without spending input bytes on it. */
static MBX_UNUSED uint64_t fz_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Chunk length for a stream: mostly small (splits inside tokens, headers
 * and CRLFs), sometimes large. */
static MBX_UNUSED size_t fz_chunk_len(uint64_t *s, size_t left)
{
	uint64_t r = fz_rand(s);
	size_t n;
	switch (r & 3) {
	case 0: n = 1 + (size_t)((r >> 8) % 3); break;
	case 1: n = 1 + (size_t)((r >> 8) % 16); break;
	case 2: n = 1 + (size_t)((r >> 8) % 300); break;
	default: n = 1 + (size_t)((r >> 8) % 5000); break;
	}
	return MBX_MIN(n, left);
}

/* Fixed salts: runs must be reproducible (a random salt changes hash-table
 * layouts and therefore code paths between runs of the same input). */
static MBX_UNUSED void fz_salt(uint8_t salt[MBX_SALT_LEN], uint8_t base)
{
	for (int i = 0; i < MBX_SALT_LEN; i++)
		salt[i] = (uint8_t)(base + 13 * i);
}

/* What the parser may emit (msg.h). */
static MBX_UNUSED void fz_check_msg(const struct mbx_msg *m)
{
	FZ_CHECK(m->kind >= MBX_MSG_REQ && m->kind <= MBX_MSG_GAP, "message kind %u", m->kind);
	FZ_CHECK(m->flow != 0, "message with flow 0");
	FZ_CHECK(m->dir <= 1, "message dir %u", m->dir);
	if (m->kind == MBX_MSG_REQ) {
		FZ_CHECK(m->dir == 0, "request message in the response direction");
		FZ_CHECK(m->op < MBX_OP__COUNT, "request op %u", m->op);
		FZ_CHECK(m->proto <= MBX_PROTO_BINARY, "request proto %u", m->proto);
		FZ_CHECK(m->variant < 8, "request variant %u", m->variant);
	} else if (m->kind == MBX_MSG_RSP) {
		FZ_CHECK(m->dir == 1, "response message in the request direction");
		FZ_CHECK(m->code < MBX_RSP__COUNT, "response code %u", m->code);
		FZ_CHECK(m->proto <= MBX_PROTO_BINARY, "response proto %u", m->proto);
		FZ_CHECK(m->op < MBX_OP__COUNT, "response op %u", m->op);
	}
}

/* What pairing may emit (event.h, pair.h): valid enums, and events in
 * non-decreasing time order across batches (*last_ts carries the order). */
static MBX_UNUSED void fz_check_events(const struct mbx_event *ev, size_t n, uint64_t *last_ts)
{
	for (size_t i = 0; i < n; i++) {
		const struct mbx_event *e = &ev[i];
		FZ_CHECK(e->op < MBX_OP__COUNT && e->op != MBX_OP_NONE, "event op %u", e->op);
		FZ_CHECK(e->outcome < MBX_OUT__COUNT, "event outcome %u", e->outcome);
		FZ_CHECK(mbx_ev_proto(e) <= MBX_PROTO_BINARY, "event proto %u", mbx_ev_proto(e));
		FZ_CHECK(e->conn_id != 0, "event with connection id 0");
		FZ_CHECK(e->ts_ns >= *last_ts, "event time went backwards: %llu after %llu",
			 (unsigned long long)e->ts_ns, (unsigned long long)*last_ts);
		FZ_CHECK(e->key_len != 255 || (e->flags & MBX_EV_F_KEY_CLAMPED),
			 "key_len 255 without KEY_CLAMPED");
		*last_ts = e->ts_ns;
	}
}

#endif
