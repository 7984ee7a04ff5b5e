/* SPDX-License-Identifier: Apache-2.0 */
/* Parse-rate harness for the protocol parser (not a test, asserts nothing).
 * Builds pipelined streams in memory and feeds them in MSS-sized and 64 KiB
 * chunks to a counting sink; prints MB/s and ns per message.
 *
 *   cc -O2 -g -Iinclude -Isrc bench/parser_bench.c build-<you>/libmbx.a \
 *      -lpcap -lpthread -o /tmp/parser_bench && /tmp/parser_bench */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "mbx/bufpool.h"
#include "mbx/counters.h"
#include "mbx/parser.h"

struct count_sink {
	uint64_t n, x;
};

static void count_emit(void *arg, const struct mbx_msg *m)
{
	struct count_sink *c = arg;
	c->n++;
	c->x ^= m->key_hash; /* keep the work observable */
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t *buf;
static size_t blen, bcap;

static void put(const void *p, size_t n)
{
	if (blen + n > bcap) {
		bcap = bcap ? bcap * 2 : 1 << 20;
		buf = realloc(buf, bcap);
		if (!buf)
			abort();
	}
	memcpy(buf + blen, p, n);
	blen += n;
}

static void bin_pkt(uint8_t magic, uint8_t opc, const char *key, unsigned extlen, size_t vlen)
{
	uint8_t h[24] = {magic, opc};
	static const uint8_t zero[4096];
	size_t klen = strlen(key);
	mbx_wr16be(h + 2, (uint16_t)klen);
	h[4] = (uint8_t)extlen;
	mbx_wr32be(h + 8, (uint32_t)(extlen + klen + vlen));
	put(h, 24);
	put(zero, extlen);
	put(key, klen);
	put(zero, vlen);
}

static void run(const char *name, unsigned dir, uint64_t expect_msgs)
{
	static const size_t chunks[] = {1448, 65536};
	struct mbx_counters *ctr = aligned_alloc(64, sizeof(*ctr));
	struct mbx_bufpool *pool = mbx_bufpool_create(MBX_PARSER_CARRY_SIZE, 64);
	uint8_t salt[16] = {1, 2, 3};
	struct count_sink cs = {0, 0};
	struct mbx_parse_ctx ctx = {salt, pool, ctr, {count_emit, &cs}, 0};

	for (size_t ci = 0; ci < 2; ci++) {
		double best = 1e9;
		for (int rep = 0; rep < 5; rep++) {
			struct mbx_parser p;
			memset(ctr, 0, sizeof(*ctr));
			cs.n = 0;
			double t0 = now();
			mbx_parser_init(&p, 1, dir, true);
			for (size_t off = 0, n; off < blen; off += n) {
				n = MBX_MIN(chunks[ci], blen - off);
				mbx_parser_data(&p, &ctx, buf + off, n, off);
			}
			mbx_parser_fini(&p, &ctx);
			double dt = now() - t0;
			if (dt < best)
				best = dt;
		}
		printf("%-34s chunk %6zu: %7.0f MB/s %6.1f ns/msg (%" PRIu64 " msgs%s)\n", name,
		       chunks[ci], (double)blen / best / 1e6, best * 1e9 / (double)cs.n, cs.n,
		       cs.n == expect_msgs && ctr->parse_errors == 0 ? "" : ", MISMATCH");
	}
	mbx_bufpool_destroy(pool);
	free(ctr);
}

int main(void)
{
	char line[128];
	const unsigned N = 1000000;
	static const char val[33] = "0123456789abcdef0123456789abcdef";

	/* text: 80% single-key gets, 20% 32-byte sets */
	blen = 0;
	for (unsigned i = 0; i < N; i++) {
		if (i % 5 == 4) {
			int n = snprintf(line, sizeof(line), "set key:%08u 0 0 32\r\n", i);
			put(line, (size_t)n);
			put(val, 32);
			put("\r\n", 2);
		} else {
			int n = snprintf(line, sizeof(line), "get key:%08u\r\n", i);
			put(line, (size_t)n);
		}
	}
	run("text get/set requests", 0, N);

	/* text multi-get, 10 keys per line */
	blen = 0;
	for (unsigned i = 0; i < N / 10; i++) {
		put("get", 3);
		for (unsigned k = 0; k < 10; k++) {
			int n = snprintf(line, sizeof(line), " key:%08u", i * 10 + k);
			put(line, (size_t)n);
		}
		put("\r\n", 2);
	}
	run("text 10-key gets", 0, N);

	/* meta: mg with flags */
	blen = 0;
	for (unsigned i = 0; i < N; i++) {
		int n = snprintf(line, sizeof(line), "mg key:%08u v f t O%u q\r\n", i, i);
		put(line, (size_t)n);
	}
	run("meta mg requests", 0, N);

	/* binary: getq x4 + noop, and sets */
	blen = 0;
	for (unsigned i = 0; i < N; i++) {
		snprintf(line, sizeof(line), "key:%08u", i);
		if (i % 5 == 4)
			bin_pkt(0x80, 0x01, line, 8, 32);
		else
			bin_pkt(0x80, 0x09, line, 0, 0);
	}
	run("binary get/set requests", 0, N);

	/* text responses: hit (32 bytes) + END, miss END */
	blen = 0;
	unsigned rsp = 0;
	for (unsigned i = 0; i < N / 2; i++) {
		if (i & 1) {
			int n = snprintf(line, sizeof(line), "VALUE key:%08u 0 32\r\n", i);
			put(line, (size_t)n);
			put(val, 32);
			put("\r\n", 2);
			rsp++;
		}
		put("END\r\n", 5);
		rsp++;
	}
	run("text VALUE/END responses", 1, rsp);

	/* binary responses: get hits with 32-byte values */
	blen = 0;
	for (unsigned i = 0; i < N; i++)
		bin_pkt(0x81, 0x00, "", 4, 32);
	run("binary get responses", 1, N);
	free(buf);
	return 0;
}
