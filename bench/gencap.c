/* SPDX-License-Identifier: Apache-2.0 */
/* mbx-gencap: write a capture of synthetic but realistic memcache traffic,
 * and the ground truth of what it contains.
 *
 * N client connections talk to one server, each in one protocol (text, meta
 * or binary, by --proto-mix). Each connection alternates: think time,
 * request (or a pipelined batch), server latency, response. Keys follow a
 * Zipf popularity; value sizes a heavy-tailed distribution fixed per key.
 * The generator keeps a model of the cache (which keys are stored, their
 * sizes, counter values), so every response is what a real server would
 * have said: a get after a set hits, a delete makes the next get miss, a
 * get miss is usually followed by a set of the same key (cache-aside).
 *
 * Connections are simulated as events in a time-ordered heap; the frames
 * they produce go through a small sorting buffer so the capture is in
 * timestamp order, as a real one is. Deterministic for a given seed.
 *
 * The ground truth (per op and outcome, per protocol, connections, request
 * count) goes to stderr and, with --truth, to a JSON file. See
 * docs/gencap.md. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbx/common.h"
#include "mbx/event.h"
#include "pktbuild.h"

enum { P_TEXT, P_META, P_BIN, P__N };
static const char *const proto_names[P__N] = {"text", "meta", "binary"};

enum { K_GET, K_MGET, K_SET, K_DELETE, K_INCR, K_TOUCH, K__N };
static const char *const kind_names[K__N] = {"get", "mget", "set", "delete", "incr", "touch"};

enum { S_OPEN, S_REQ, S_SACK, S_RSP, S_CACK, S_CLOSE, S_DONE };

#define ABSENT32   UINT32_MAX
#define ABSENT64   UINT64_MAX
#define VALUE_POOL (2 * 1024 * 1024) /* > the largest --max-value */
#define EXPTIME	   3600

struct opts {
	uint64_t requests; /* stop issuing requests after this many (0 = by packets) */
	uint64_t packets;  /* or after this many frames */
	uint32_t conns;
	uint64_t seed;
	double proto_w[P__N];
	double kind_w[K__N];
	uint32_t keys;
	double zipf_s;
	double pipeline;    /* fraction of connections that pipeline */
	double warm;	    /* fraction of keys stored before the capture starts */
	double cache_aside; /* probability that a get miss is followed by a set */
	uint32_t max_value;
	uint32_t max_batch;
	uint32_t conn_requests; /* mean requests per connection before it reconnects (0 = never) */
	double think_us;
	double lat_min_us, lat_max_us;
	double delack_us;
	bool acks;
	bool ipv6;
	double drop, dup, reorder;
	enum pb_fmt fmt;
	enum pb_link link;
	uint16_t port;
	uint32_t mss;
	const char *out;
	const char *truth;
	uint64_t start_ns;
};

struct buf {
	uint8_t *p;
	size_t len, cap;
};

struct gen;

struct gconn {
	struct pb_conn pc;
	struct gen *g;
	uint32_t idx;
	uint8_t proto;
	bool pipeline;
	uint8_t state;
	uint64_t next_ts;
	uint64_t t_queued; /* time of the action after a pure ACK */
	uint64_t last_emit;
	uint32_t pending_set; /* key + 1 of a cache-aside set, 0 = none */
	bool pending_ctr;     /* ... on a counter key */
	uint32_t opaque;
	uint32_t reqs_left;
	uint16_t cport;
	struct buf rsp;
};

struct qframe {
	uint64_t ts, seq;
	uint8_t *data;
	uint32_t len;
};

struct gen {
	struct opts o;
	uint64_t rng;
	double *zipf_cdf, *ctr_cdf;
	uint32_t nctr;
	uint32_t *vlen; /* per key: stored value length or ABSENT32 */
	uint64_t *cval; /* per counter: value or ABSENT64 */
	uint8_t *pool;
	struct gconn *conns;
	uint32_t *heap; /* connection indices by next_ts */
	uint32_t nheap;
	struct qframe *fq; /* frame sorting buffer (min-heap by ts, seq) */
	size_t nfq, capfq;
	uint64_t fseq;
	struct pb_writer *w;
	struct buf req;
	uint16_t next_port;
	bool stopping;

	/* truth */
	uint64_t ev[MBX_OP__COUNT][MBX_OUT__COUNT];
	uint64_t ev_proto[P__N];
	uint64_t kinds[K__N];
	uint64_t requests; /* events: one per key of a multi-key get, plus mn/noop */
	uint64_t connections;
	uint64_t frames;
	uint64_t payload_frames;
	uint64_t bytes[2];
	uint64_t value_bytes;
	uint64_t dropped, duplicated;
	uint64_t first_ts, last_ts;
};

/* ------------------------------------------------------------------ */

static void die(const char *fmt, ...) MBX_PRINTF(1, 2);
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("mbx-gencap: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xcalloc(size_t n, size_t sz)
{
	void *p = calloc(n, sz);
	if (!p)
		die("out of memory");
	return p;
}

static void buf_need(struct buf *b, size_t more)
{
	if (b->len + more <= b->cap)
		return;
	size_t ncap = b->cap ? b->cap : 4096;
	while (ncap < b->len + more)
		ncap *= 2;
	b->p = realloc(b->p, ncap);
	if (!b->p)
		die("out of memory");
	b->cap = ncap;
}

static void buf_put(struct buf *b, const void *p, size_t n)
{
	if (!n)
		return;
	buf_need(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void buf_str(struct buf *b, const char *s)
{
	buf_put(b, s, strlen(s));
}

static void buf_fmt(struct buf *b, const char *fmt, ...) MBX_PRINTF(2, 3);
static void buf_fmt(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	buf_need(b, 128);
	va_start(ap, fmt);
	int n = vsnprintf((char *)b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		die("format error");
	if ((size_t)n >= b->cap - b->len) {
		buf_need(b, (size_t)n + 1);
		va_start(ap, fmt);
		vsnprintf((char *)b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static double urand(struct gen *g)
{
	return pb_rand_unit(&g->rng);
}

static uint32_t irand(struct gen *g, uint32_t n)
{
	return (uint32_t)(pb_rand(&g->rng) % n);
}

static uint64_t exp_ns(struct gen *g, double mean_us)
{
	double u = urand(g);
	return (uint64_t)(-log(1.0 - u) * mean_us * 1000.0) + 1;
}

static uint64_t loguni_ns(struct gen *g, double lo_us, double hi_us)
{
	return (uint64_t)(lo_us * exp(urand(g) * log(hi_us / lo_us)) * 1000.0);
}

static int pick(struct gen *g, const double *w, int n)
{
	double u = urand(g), acc = 0;
	for (int i = 0; i < n; i++) {
		acc += w[i];
		if (u < acc)
			return i;
	}
	return n - 1;
}

/* ------------------------------------------------------------------ */
/* Keys and values                                                    */

static double *zipf_build(uint32_t n, double s)
{
	double *cdf = xcalloc(n, sizeof(*cdf)), sum = 0;
	for (uint32_t i = 0; i < n; i++) {
		sum += 1.0 / pow((double)(i + 1), s);
		cdf[i] = sum;
	}
	for (uint32_t i = 0; i < n; i++)
		cdf[i] /= sum;
	cdf[n - 1] = 1.0;
	return cdf;
}

static uint32_t zipf_pick(struct gen *g, const double *cdf, uint32_t n)
{
	double u = urand(g);
	uint32_t lo = 0, hi = n - 1;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	/* Spread popularity ranks over the id space (ids are also used for
	 * sizes, so rank order must not correlate with them). */
	return (uint32_t)(((uint64_t)lo * 2654435761u) % n);
}

/* Key name, 10..60 bytes, unique per (id, counter). */
static size_t key_name(const struct gen *g, uint32_t id, bool ctr, char *out)
{
	static const char *const prefixes[] = {
	    "user:", "session:", "product:", "feed:item:", "cfg:", "page:/v2/", "u:", "rec:"};
	uint64_t h = mix64(((uint64_t)id << 1 | ctr) ^ g->o.seed * 0x9e3779b97f4a7c15ULL);
	const char *pre = ctr ? "ctr:" : prefixes[h % MBX_ARRAY_SIZE(prefixes)];
	size_t plen = strlen(pre);
	size_t len = 10 + (size_t)(h >> 8) % 51;
	memcpy(out, pre, plen);
	for (int i = 7; i >= 0; i--)
		out[plen + 7 - (size_t)i] = "0123456789abcdef"[(id >> (i * 4)) & 15];
	size_t n = plen + 8;
	if (len < n)
		len = n;
	if (n < len)
		out[n++] = ':';
	uint64_t f = h;
	while (n < len) {
		f = mix64(f + n);
		out[n++] = "abcdefghijklmnopqrstuvwxyz0123456789_-"[f % 38];
	}
	return len;
}

/* Value size of a key: fixed per key, mostly 100-1000 bytes. */
static uint32_t value_size(const struct gen *g, uint32_t id)
{
	uint64_t h = mix64(id * 0x2545f4914f6cdd1dULL ^ g->o.seed);
	double u = (double)(h >> 11) * (1.0 / 9007199254740992.0);
	double v = (double)((h >> 3) & 0xffff) / 65536.0;
	double lo, hi;
	if (u < 0.20) {
		lo = 10, hi = 100;
	} else if (u < 0.92) {
		lo = 100, hi = 1000;
	} else if (u < 0.99) {
		lo = 1000, hi = 10000;
	} else {
		lo = 10000, hi = 100000;
	}
	uint32_t s = (uint32_t)(lo * exp(v * log(hi / lo)));
	return s > g->o.max_value ? g->o.max_value : s;
}

static uint32_t key_flags(uint32_t id)
{
	static const uint32_t f[] = {0, 0, 1, 2, 16, 32};
	return f[mix64(id) % MBX_ARRAY_SIZE(f)];
}

static const uint8_t *value_bytes(const struct gen *g, uint32_t id, uint32_t len)
{
	uint64_t off = mix64(id ^ 0x5bd1e995) % (VALUE_POOL - len);
	return g->pool + off;
}

/* ------------------------------------------------------------------ */
/* Truth                                                              */

static void count(struct gen *g, struct gconn *c, enum mbx_op op, enum mbx_outcome out)
{
	g->ev[op][out]++;
	g->ev_proto[c->proto]++;
	g->requests++;
}

/* ------------------------------------------------------------------ */
/* Binary protocol                                                    */

#define BIN_GET	   0x00
#define BIN_SET	   0x01
#define BIN_DELETE 0x04
#define BIN_INCR   0x05
#define BIN_NOOP   0x0a
#define BIN_GETKQ  0x0d
#define BIN_TOUCH  0x1c

static void bin_hdr(struct buf *b, uint8_t magic, uint8_t opcode, uint16_t klen, uint8_t elen,
		    uint16_t status, uint32_t body, uint32_t opaque, uint64_t cas)
{
	uint8_t h[24];
	h[0] = magic;
	h[1] = opcode;
	mbx_wr16be(h + 2, klen);
	h[4] = elen;
	h[5] = 0;
	mbx_wr16be(h + 6, status);
	mbx_wr32be(h + 8, body);
	mbx_wr32be(h + 12, opaque);
	mbx_wr64be(h + 16, cas);
	buf_put(b, h, sizeof(h));
}

static void bin_req(struct buf *b, uint8_t op, const char *key, size_t klen, const uint8_t *extras,
		    uint8_t elen, const uint8_t *val, uint32_t vlen, uint32_t opaque)
{
	bin_hdr(b, 0x80, op, (uint16_t)klen, elen, 0, (uint32_t)(elen + klen + vlen), opaque, 0);
	buf_put(b, extras, elen);
	buf_put(b, key, klen);
	buf_put(b, val, vlen);
}

static void bin_not_found(struct buf *b, uint8_t op, uint32_t opaque)
{
	bin_hdr(b, 0x81, op, 0, 0, 1, 9, opaque, 0);
	buf_put(b, "Not found", 9);
}

/* ------------------------------------------------------------------ */
/* One operation in the connection's protocol                          */

static void op_get(struct gen *g, struct gconn *c, struct buf *rq, struct buf *rs, uint32_t id)
{
	char key[64];
	size_t klen = key_name(g, id, false, key);
	uint32_t vl = g->vlen[id];
	bool hit = vl != ABSENT32;
	uint32_t flags = key_flags(id);

	switch (c->proto) {
	case P_TEXT:
		buf_str(rq, "get ");
		buf_put(rq, key, klen);
		buf_str(rq, "\r\n");
		if (hit) {
			buf_str(rs, "VALUE ");
			buf_put(rs, key, klen);
			buf_fmt(rs, " %u %u\r\n", flags, vl);
			buf_put(rs, value_bytes(g, id, vl), vl);
			buf_str(rs, "\r\n");
		}
		buf_str(rs, "END\r\n");
		count(g, c, MBX_OP_GET, hit ? MBX_OUT_HIT : MBX_OUT_MISS);
		break;
	case P_META:
		buf_str(rq, "mg ");
		buf_put(rq, key, klen);
		buf_str(rq, " v f\r\n");
		if (hit) {
			buf_fmt(rs, "VA %u f%u\r\n", vl, flags);
			buf_put(rs, value_bytes(g, id, vl), vl);
			buf_str(rs, "\r\n");
		} else {
			buf_str(rs, "EN\r\n");
		}
		count(g, c, MBX_OP_MG, hit ? MBX_OUT_HIT : MBX_OUT_MISS);
		break;
	case P_BIN: {
		uint32_t op = ++c->opaque;
		bin_req(rq, BIN_GET, key, klen, NULL, 0, NULL, 0, op);
		if (hit) {
			uint8_t ex[4];
			mbx_wr32be(ex, flags);
			bin_hdr(rs, 0x81, BIN_GET, 0, 4, 0, 4 + vl, op, 1 + id);
			buf_put(rs, ex, 4);
			buf_put(rs, value_bytes(g, id, vl), vl);
		} else {
			bin_not_found(rs, BIN_GET, op);
		}
		count(g, c, MBX_OP_GET, hit ? MBX_OUT_HIT : MBX_OUT_MISS);
		break;
	}
	}
	if (hit) {
		g->value_bytes += vl;
	} else if (urand(g) < g->o.cache_aside) {
		c->pending_set = id + 1;
		c->pending_ctr = false;
	}
}

static void op_mget(struct gen *g, struct gconn *c, struct buf *rq, struct buf *rs)
{
	uint32_t n = 2 + irand(g, 9), ids[10];
	char key[64];

	for (uint32_t i = 0; i < n; i++)
		ids[i] = zipf_pick(g, g->zipf_cdf, g->o.keys);
	if (c->proto == P_TEXT)
		buf_str(rq, "get");
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id = ids[i], vl = g->vlen[id], flags = key_flags(id);
		size_t klen = key_name(g, id, false, key);
		bool hit = vl != ABSENT32;
		switch (c->proto) {
		case P_TEXT:
			buf_str(rq, " ");
			buf_put(rq, key, klen);
			if (hit) {
				buf_str(rs, "VALUE ");
				buf_put(rs, key, klen);
				buf_fmt(rs, " %u %u\r\n", flags, vl);
				buf_put(rs, value_bytes(g, id, vl), vl);
				buf_str(rs, "\r\n");
			}
			count(g, c, MBX_OP_GET, hit ? MBX_OUT_HIT : MBX_OUT_MISS);
			break;
		case P_META:
			/* quiet mode: misses are silent, mn closes the batch */
			buf_str(rq, "mg ");
			buf_put(rq, key, klen);
			buf_str(rq, " k v f q\r\n");
			if (hit) {
				buf_fmt(rs, "VA %u k", vl);
				buf_put(rs, key, klen);
				buf_fmt(rs, " f%u\r\n", flags);
				buf_put(rs, value_bytes(g, id, vl), vl);
				buf_str(rs, "\r\n");
			}
			count(g, c, MBX_OP_MG, hit ? MBX_OUT_HIT : MBX_OUT_MISS);
			break;
		case P_BIN: {
			uint32_t op = ++c->opaque;
			bin_req(rq, BIN_GETKQ, key, klen, NULL, 0, NULL, 0, op);
			if (hit) {
				uint8_t ex[4];
				mbx_wr32be(ex, flags);
				bin_hdr(rs, 0x81, BIN_GETKQ, (uint16_t)klen, 4, 0,
					(uint32_t)(4 + klen + vl), op, 1 + id);
				buf_put(rs, ex, 4);
				buf_put(rs, key, klen);
				buf_put(rs, value_bytes(g, id, vl), vl);
			}
			count(g, c, MBX_OP_GETKQ, hit ? MBX_OUT_HIT : MBX_OUT_MISS);
			break;
		}
		}
		if (hit)
			g->value_bytes += vl;
	}
	switch (c->proto) {
	case P_TEXT:
		buf_str(rq, "\r\n");
		buf_str(rs, "END\r\n");
		break;
	case P_META:
		buf_str(rq, "mn\r\n");
		buf_str(rs, "MN\r\n");
		count(g, c, MBX_OP_MN, MBX_OUT_OK);
		break;
	case P_BIN: {
		uint32_t op = ++c->opaque;
		bin_req(rq, BIN_NOOP, NULL, 0, NULL, 0, NULL, 0, op);
		bin_hdr(rs, 0x81, BIN_NOOP, 0, 0, 0, 0, op, 0);
		count(g, c, MBX_OP_NOOP, MBX_OUT_OK);
		break;
	}
	}
}

static void op_set(struct gen *g, struct gconn *c, struct buf *rq, struct buf *rs, uint32_t id,
		   bool ctr)
{
	char key[64], num[24];
	size_t klen = key_name(g, id, ctr, key);
	const uint8_t *val;
	uint32_t vl, flags = ctr ? 0 : key_flags(id);

	if (ctr) {
		uint64_t v = 1 + irand(g, 1000);
		vl = (uint32_t)snprintf(num, sizeof(num), "%" PRIu64, v);
		val = (const uint8_t *)num;
		g->cval[id] = v;
	} else {
		vl = value_size(g, id);
		val = value_bytes(g, id, vl);
		g->vlen[id] = vl;
	}
	switch (c->proto) {
	case P_TEXT:
		buf_str(rq, "set ");
		buf_put(rq, key, klen);
		buf_fmt(rq, " %u %d %u\r\n", flags, EXPTIME, vl);
		buf_put(rq, val, vl);
		buf_str(rq, "\r\n");
		buf_str(rs, "STORED\r\n");
		count(g, c, MBX_OP_SET, MBX_OUT_STORED);
		break;
	case P_META:
		buf_str(rq, "ms ");
		buf_put(rq, key, klen);
		buf_fmt(rq, " %u T%d F%u\r\n", vl, EXPTIME, flags);
		buf_put(rq, val, vl);
		buf_str(rq, "\r\n");
		buf_str(rs, "HD\r\n");
		count(g, c, MBX_OP_MS, MBX_OUT_STORED);
		break;
	case P_BIN: {
		uint32_t op = ++c->opaque;
		uint8_t ex[8];
		mbx_wr32be(ex, flags);
		mbx_wr32be(ex + 4, EXPTIME);
		bin_req(rq, BIN_SET, key, klen, ex, 8, val, vl, op);
		bin_hdr(rs, 0x81, BIN_SET, 0, 0, 0, 0, op, 1 + id);
		count(g, c, MBX_OP_SET, MBX_OUT_STORED);
		break;
	}
	}
}

static void op_delete(struct gen *g, struct gconn *c, struct buf *rq, struct buf *rs, uint32_t id)
{
	char key[64];
	size_t klen = key_name(g, id, false, key);
	bool hit = g->vlen[id] != ABSENT32;

	g->vlen[id] = ABSENT32;
	switch (c->proto) {
	case P_TEXT:
		buf_str(rq, "delete ");
		buf_put(rq, key, klen);
		buf_str(rq, "\r\n");
		buf_str(rs, hit ? "DELETED\r\n" : "NOT_FOUND\r\n");
		count(g, c, MBX_OP_DELETE, hit ? MBX_OUT_DELETED : MBX_OUT_NOT_FOUND);
		break;
	case P_META:
		buf_str(rq, "md ");
		buf_put(rq, key, klen);
		buf_str(rq, "\r\n");
		buf_str(rs, hit ? "HD\r\n" : "NF\r\n");
		count(g, c, MBX_OP_MD, hit ? MBX_OUT_DELETED : MBX_OUT_NOT_FOUND);
		break;
	case P_BIN: {
		uint32_t op = ++c->opaque;
		bin_req(rq, BIN_DELETE, key, klen, NULL, 0, NULL, 0, op);
		if (hit)
			bin_hdr(rs, 0x81, BIN_DELETE, 0, 0, 0, 0, op, 0);
		else
			bin_not_found(rs, BIN_DELETE, op);
		count(g, c, MBX_OP_DELETE, hit ? MBX_OUT_DELETED : MBX_OUT_NOT_FOUND);
		break;
	}
	}
}

static void op_incr(struct gen *g, struct gconn *c, struct buf *rq, struct buf *rs, uint32_t id)
{
	char key[64];
	size_t klen = key_name(g, id, true, key);
	bool hit = g->cval[id] != ABSENT64;
	uint64_t v = hit ? ++g->cval[id] : 0;

	switch (c->proto) {
	case P_TEXT:
		buf_str(rq, "incr ");
		buf_put(rq, key, klen);
		buf_str(rq, " 1\r\n");
		if (hit)
			buf_fmt(rs, "%" PRIu64 "\r\n", v);
		else
			buf_str(rs, "NOT_FOUND\r\n");
		count(g, c, MBX_OP_INCR, hit ? MBX_OUT_HIT : MBX_OUT_NOT_FOUND);
		break;
	case P_META:
		buf_str(rq, "ma ");
		buf_put(rq, key, klen);
		buf_str(rq, " v\r\n");
		if (hit) {
			char num[24];
			int n = snprintf(num, sizeof(num), "%" PRIu64, v);
			buf_fmt(rs, "VA %d\r\n%s\r\n", n, num);
		} else {
			buf_str(rs, "NF\r\n");
		}
		count(g, c, MBX_OP_MA, hit ? MBX_OUT_HIT : MBX_OUT_NOT_FOUND);
		break;
	case P_BIN: {
		uint32_t op = ++c->opaque;
		uint8_t ex[20];
		mbx_wr64be(ex, 1);		  /* delta */
		mbx_wr64be(ex + 8, 0);		  /* initial */
		mbx_wr32be(ex + 16, 0xffffffffu); /* do not create */
		bin_req(rq, BIN_INCR, key, klen, ex, 20, NULL, 0, op);
		if (hit) {
			uint8_t val[8];
			mbx_wr64be(val, v);
			bin_hdr(rs, 0x81, BIN_INCR, 0, 0, 0, 8, op, 1 + id);
			buf_put(rs, val, 8);
		} else {
			bin_not_found(rs, BIN_INCR, op);
		}
		count(g, c, MBX_OP_INCR, hit ? MBX_OUT_HIT : MBX_OUT_NOT_FOUND);
		break;
	}
	}
	if (!hit && urand(g) < g->o.cache_aside) {
		c->pending_set = id + 1;
		c->pending_ctr = true;
	}
}

static void op_touch(struct gen *g, struct gconn *c, struct buf *rq, struct buf *rs, uint32_t id)
{
	char key[64];
	size_t klen = key_name(g, id, false, key);
	bool hit = g->vlen[id] != ABSENT32;

	switch (c->proto) {
	case P_TEXT:
		buf_str(rq, "touch ");
		buf_put(rq, key, klen);
		buf_fmt(rq, " %d\r\n", EXPTIME);
		buf_str(rs, hit ? "TOUCHED\r\n" : "NOT_FOUND\r\n");
		count(g, c, MBX_OP_TOUCH, hit ? MBX_OUT_TOUCHED : MBX_OUT_NOT_FOUND);
		break;
	case P_META:
		/* meta has no touch command: mg with a new TTL and no value */
		buf_str(rq, "mg ");
		buf_put(rq, key, klen);
		buf_fmt(rq, " T%d\r\n", EXPTIME);
		buf_str(rs, hit ? "HD\r\n" : "EN\r\n");
		count(g, c, MBX_OP_MG, hit ? MBX_OUT_HIT : MBX_OUT_MISS);
		break;
	case P_BIN: {
		uint32_t op = ++c->opaque;
		uint8_t ex[4];
		mbx_wr32be(ex, EXPTIME);
		bin_req(rq, BIN_TOUCH, key, klen, ex, 4, NULL, 0, op);
		if (hit) {
			mbx_wr32be(ex, key_flags(id));
			bin_hdr(rs, 0x81, BIN_TOUCH, 0, 4, 0, 4, op, 1 + id);
			buf_put(rs, ex, 4);
		} else {
			bin_not_found(rs, BIN_TOUCH, op);
		}
		count(g, c, MBX_OP_TOUCH, hit ? MBX_OUT_TOUCHED : MBX_OUT_NOT_FOUND);
		break;
	}
	}
}

/* Append one request and its response. A cache-aside set only starts a new
 * batch: the client learns about the miss from the previous response. */
static void gen_request(struct gen *g, struct gconn *c, struct buf *rq, struct buf *rs,
			bool batch_start)
{
	if (c->pending_set && batch_start) {
		uint32_t id = c->pending_set - 1;
		c->pending_set = 0;
		g->kinds[K_SET]++;
		op_set(g, c, rq, rs, id, c->pending_ctr);
		return;
	}
	int k = pick(g, g->o.kind_w, K__N);
	g->kinds[k]++;
	switch (k) {
	case K_GET:
		op_get(g, c, rq, rs, zipf_pick(g, g->zipf_cdf, g->o.keys));
		break;
	case K_MGET:
		op_mget(g, c, rq, rs);
		break;
	case K_SET:
		op_set(g, c, rq, rs, zipf_pick(g, g->zipf_cdf, g->o.keys), false);
		break;
	case K_DELETE:
		op_delete(g, c, rq, rs, zipf_pick(g, g->zipf_cdf, g->o.keys));
		break;
	case K_INCR:
		op_incr(g, c, rq, rs, zipf_pick(g, g->ctr_cdf, g->nctr));
		break;
	case K_TOUCH:
		op_touch(g, c, rq, rs, zipf_pick(g, g->zipf_cdf, g->o.keys));
		break;
	}
}

/* ------------------------------------------------------------------ */
/* Frame sorting buffer                                                */

static bool fq_less(const struct qframe *a, const struct qframe *b)
{
	return a->ts < b->ts || (a->ts == b->ts && a->seq < b->seq);
}

static void fq_push(struct gen *g, struct qframe f)
{
	if (g->nfq == g->capfq) {
		g->capfq = g->capfq ? g->capfq * 2 : 1024;
		g->fq = realloc(g->fq, g->capfq * sizeof(*g->fq));
		if (!g->fq)
			die("out of memory");
	}
	size_t i = g->nfq++;
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!fq_less(&f, &g->fq[p]))
			break;
		g->fq[i] = g->fq[p];
		i = p;
	}
	g->fq[i] = f;
}

static struct qframe fq_pop(struct gen *g)
{
	struct qframe top = g->fq[0], last = g->fq[--g->nfq];
	size_t i = 0, n = g->nfq;
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		const struct qframe *mv = &last;
		if (l < n && fq_less(&g->fq[l], mv))
			m = l, mv = &g->fq[l];
		if (r < n && fq_less(&g->fq[r], mv))
			m = r;
		if (m == i)
			break;
		g->fq[i] = g->fq[m];
		i = m;
	}
	if (n)
		g->fq[i] = last;
	return top;
}

static void fq_flush(struct gen *g, uint64_t upto)
{
	while (g->nfq && g->fq[0].ts <= upto) {
		struct qframe f = fq_pop(g);
		if (pb_writer_add(g->w, f.ts, f.data, f.len) != 0)
			die("writing %s: %s", g->o.out, strerror(errno ? errno : EIO));
		if (!g->first_ts)
			g->first_ts = f.ts;
		g->last_ts = f.ts;
		free(f.data);
	}
}

static int gen_emit(void *ctx, uint64_t ts, const uint8_t *frame, uint32_t len)
{
	struct gconn *c = ctx;
	struct gen *g = c->g;
	struct qframe f = {.ts = ts, .seq = g->fseq++, .len = len};
	f.data = malloc(len);
	if (!f.data)
		return -ENOMEM;
	memcpy(f.data, frame, len);
	fq_push(g, f);
	if (ts > c->last_emit)
		c->last_emit = ts;
	g->frames++;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Connections                                                        */

static bool heap_less(const struct gen *g, uint32_t a, uint32_t b)
{
	const struct gconn *x = &g->conns[a], *y = &g->conns[b];
	return x->next_ts < y->next_ts || (x->next_ts == y->next_ts && a < b);
}

static void heap_down(struct gen *g, uint32_t i)
{
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < g->nheap && heap_less(g, g->heap[l], g->heap[m]))
			m = l;
		if (r < g->nheap && heap_less(g, g->heap[r], g->heap[m]))
			m = r;
		if (m == i)
			return;
		uint32_t t = g->heap[i];
		g->heap[i] = g->heap[m];
		g->heap[m] = t;
		i = m;
	}
}

static void conn_start(struct gen *g, struct gconn *c, uint64_t ts)
{
	char cli[64], srv[64];
	uint32_t i = c->idx;

	if (g->o.ipv6) {
		snprintf(cli, sizeof(cli), "fd00::c:%x:%x", i >> 16, (i & 0xffff) + 2);
		snprintf(srv, sizeof(srv), "fd00::1");
	} else {
		snprintf(cli, sizeof(cli), "10.%u.%u.%u", 1 + (i >> 16) % 200, (i >> 8) & 255,
			 (i & 255) == 0 ? 254 : i & 255);
		snprintf(srv, sizeof(srv), "10.0.0.1");
	}
	c->cport = g->next_port;
	g->next_port = g->next_port == 60999 ? 32768 : g->next_port + 1;
	if (pb_conn_init_emit(&c->pc, g->o.link, gen_emit, c, cli, c->cport, srv, g->o.port) != 0)
		die("bad address %s / %s", cli, srv);
	c->pc.mss = g->o.mss;
	c->pc.acks = g->o.acks;
	c->pc.tmpl.tcp_csum = true;
	c->pc.drop_rate = g->o.drop;
	c->pc.dup_rate = g->o.dup;
	c->pc.swap_rate = g->o.reorder;
	c->pc.rng = mix64(g->o.seed ^ ((uint64_t)i << 20) ^ g->connections);
	c->pc.isn[0] = (uint32_t)pb_rand(&g->rng);
	c->pc.isn[1] = (uint32_t)pb_rand(&g->rng);
	c->pc.rtt_ns = 40000 + pb_rand(&g->rng) % 60000;
	c->opaque = 0;
	c->pending_set = 0;
	c->reqs_left = UINT32_MAX;
	if (g->o.conn_requests) /* exponential lifetime with the given mean */
		c->reqs_left = (uint32_t)(1 - log(1.0 - urand(g)) * g->o.conn_requests);
	c->state = S_OPEN;
	c->next_ts = ts;
	g->connections++;
}

static void conn_stats_out(struct gen *g, struct gconn *c)
{
	g->dropped += c->pc.dropped;
	g->duplicated += c->pc.duplicated;
	g->bytes[0] += c->pc.bytes[0];
	g->bytes[1] += c->pc.bytes[1];
	c->pc.dropped = c->pc.duplicated = 0;
	c->pc.bytes[0] = c->pc.bytes[1] = 0;
}

static bool target_reached(const struct gen *g)
{
	if (g->o.requests)
		return g->requests >= g->o.requests;
	return g->frames >= g->o.packets;
}

static void check(const struct gen *g, int rc)
{
	if (rc)
		die("frame generation failed: %s (written %s so far)", strerror(-rc), g->o.out);
}

/* Run the connection's due action and schedule its next one. */
static void conn_step(struct gen *g, struct gconn *c)
{
	struct pb_conn *pc = &c->pc;
	uint64_t t = c->next_ts, end;
	uint64_t delack = (uint64_t)(g->o.delack_us * 1000);

	switch (c->state) {
	case S_OPEN:
		check(g, pb_conn_open(pc, t));
		c->state = S_REQ;
		c->next_ts = t + pc->rtt_ns + exp_ns(g, g->o.think_us);
		return;
	case S_REQ: {
		if (g->stopping || target_reached(g)) {
			g->stopping = true;
			c->state = S_CLOSE;
			break; /* close now */
		}
		uint32_t n = c->pipeline ? 2 + irand(g, g->o.max_batch - 1) : 1;
		g->req.len = 0;
		c->rsp.len = 0;
		for (uint32_t i = 0; i < n; i++)
			gen_request(g, c, &g->req, &c->rsp, i == 0);
		c->last_emit = t;
		check(g, pb_conn_send(pc, PB_C2S, g->req.p, g->req.len, t));
		g->payload_frames += (g->req.len + pc->mss - 1) / pc->mss;
		end = c->last_emit;
		uint64_t t_rsp = end + loguni_ns(g, g->o.lat_min_us, g->o.lat_max_us);
		if (c->reqs_left > n)
			c->reqs_left -= n;
		else
			c->reqs_left = 0;
		if (pb_conn_ack_pending(pc, PB_S2C) && t_rsp > end + delack) {
			c->state = S_SACK;
			c->next_ts = end + delack;
			c->t_queued = t_rsp;
		} else {
			c->state = S_RSP;
			c->next_ts = t_rsp;
		}
		return;
	}
	case S_SACK:
		check(g, pb_conn_ack(pc, PB_S2C, t));
		c->state = S_RSP;
		c->next_ts = c->t_queued;
		return;
	case S_RSP: {
		c->last_emit = t;
		check(g, pb_conn_send(pc, PB_S2C, c->rsp.p, c->rsp.len, t));
		g->payload_frames += (c->rsp.len + pc->mss - 1) / pc->mss;
		end = c->last_emit;
		uint64_t next = end + exp_ns(g, g->o.think_us);
		uint8_t then = c->reqs_left ? S_REQ : S_CLOSE;
		if (pb_conn_ack_pending(pc, PB_C2S) && next > end + delack) {
			c->state = S_CACK;
			c->next_ts = end + delack;
			c->t_queued = next;
		} else {
			c->state = then;
			c->next_ts = next;
		}
		return;
	}
	case S_CACK:
		check(g, pb_conn_ack(pc, PB_C2S, t));
		c->state = c->reqs_left ? S_REQ : S_CLOSE;
		c->next_ts = c->t_queued;
		return;
	case S_CLOSE:
		break;
	default:
		return;
	}

	/* S_CLOSE: FIN both ways; reconnect unless we are done. */
	check(g, pb_conn_close(pc, t));
	conn_stats_out(g, c);
	if (g->stopping || target_reached(g)) {
		g->stopping = true;
		c->state = S_DONE;
		return;
	}
	conn_start(g, c, t + pc->rtt_ns + exp_ns(g, g->o.think_us));
}

/* ------------------------------------------------------------------ */
/* Output                                                             */

static void truth_write(struct gen *g, FILE *fp, bool json)
{
	uint64_t hits = 0, misses = 0, rhits = 0, rmisses = 0;
	for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
		for (unsigned o = 0; o < MBX_OUT__COUNT; o++) {
			uint64_t n = g->ev[op][o];
			if (!n)
				continue;
			if (mbx_outcome_is_hit(op, o))
				hits += n;
			if (mbx_outcome_is_miss(op, o))
				misses += n;
			if (mbx_op_class(op) == MBX_OPC_RETR) {
				rhits += o == MBX_OUT_HIT ? n : 0;
				rmisses += o == MBX_OUT_MISS ? n : 0;
			}
		}
	}

	if (!json) {
		fprintf(fp,
			"mbx-gencap: %" PRIu64 " frames (%" PRIu64 " with payload), %" PRIu64
			" connections, %" PRIu64 " requests, %.3f s of traffic\n",
			g->frames, g->payload_frames - g->dropped + g->duplicated, g->connections,
			g->requests, (double)(g->last_ts - g->first_ts) / 1e9);
		fprintf(fp, "  retrieval hits %" PRIu64 " misses %" PRIu64 "; by protocol:", rhits,
			rmisses);
		for (int p = 0; p < P__N; p++)
			fprintf(fp, " %s %" PRIu64, proto_names[p], g->ev_proto[p]);
		fprintf(fp, "\n");
		for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
			uint64_t tot = 0;
			for (unsigned o = 0; o < MBX_OUT__COUNT; o++)
				tot += g->ev[op][o];
			if (!tot)
				continue;
			fprintf(fp, "  %-8s %10" PRIu64 " ", mbx_op_name(op), tot);
			for (unsigned o = 0; o < MBX_OUT__COUNT; o++)
				if (g->ev[op][o])
					fprintf(fp, " %s %" PRIu64, mbx_outcome_name(o),
						g->ev[op][o]);
			fprintf(fp, "\n");
		}
		if (g->dropped || g->duplicated)
			fprintf(fp,
				"  faults: %" PRIu64 " segments dropped, %" PRIu64 " duplicated\n",
				g->dropped, g->duplicated);
		return;
	}

	fprintf(fp, "{\n  \"generator\": \"mbx-gencap\",\n  \"seed\": %" PRIu64 ",\n", g->o.seed);
	fprintf(fp,
		"  \"frames\": %" PRIu64 ",\n  \"payload_frames\": %" PRIu64
		",\n  \"payload_segments_sent\": %" PRIu64 ",\n",
		g->frames, g->payload_frames - g->dropped + g->duplicated, g->payload_frames);
	fprintf(fp, "  \"bytes_c2s\": %" PRIu64 ",\n  \"bytes_s2c\": %" PRIu64 ",\n", g->bytes[0],
		g->bytes[1]);
	fprintf(fp, "  \"connections\": %" PRIu64 ",\n  \"requests\": %" PRIu64 ",\n",
		g->connections, g->requests);
	fprintf(fp, "  \"first_ts_ns\": %" PRIu64 ",\n  \"last_ts_ns\": %" PRIu64 ",\n",
		g->first_ts, g->last_ts);
	fprintf(fp, "  \"hits\": %" PRIu64 ",\n  \"misses\": %" PRIu64 ",\n", hits, misses);
	fprintf(fp, "  \"retrieval_hits\": %" PRIu64 ",\n  \"retrieval_misses\": %" PRIu64 ",\n",
		rhits, rmisses);
	fprintf(fp, "  \"value_bytes_returned\": %" PRIu64 ",\n", g->value_bytes);
	fprintf(fp, "  \"protocols\": {");
	for (int p = 0; p < P__N; p++)
		fprintf(fp, "%s\"%s\": %" PRIu64, p ? ", " : "", proto_names[p], g->ev_proto[p]);
	fprintf(fp, "},\n  \"commands\": {");
	for (int k = 0; k < K__N; k++)
		fprintf(fp, "%s\"%s\": %" PRIu64, k ? ", " : "", kind_names[k], g->kinds[k]);
	fprintf(fp, "},\n  \"ops\": {");
	bool first = true;
	for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
		uint64_t tot = 0;
		for (unsigned o = 0; o < MBX_OUT__COUNT; o++)
			tot += g->ev[op][o];
		if (!tot)
			continue;
		fprintf(fp, "%s\n    \"%s\": {\"count\": %" PRIu64, first ? "" : ",",
			mbx_op_name(op), tot);
		for (unsigned o = 0; o < MBX_OUT__COUNT; o++)
			if (g->ev[op][o])
				fprintf(fp, ", \"%s\": %" PRIu64, mbx_outcome_name(o),
					g->ev[op][o]);
		fprintf(fp, "}");
		first = false;
	}
	fprintf(fp,
		"\n  },\n  \"faults\": {\"dropped_segments\": %" PRIu64
		", \"duplicated_segments\": %" PRIu64 ", \"drop_rate\": %g, \"dup_rate\": %g, "
		"\"reorder_rate\": %g}\n}\n",
		g->dropped, g->duplicated, g->o.drop, g->o.dup, g->o.reorder);
}

/* ------------------------------------------------------------------ */
/* Options                                                            */

static void usage(FILE *fp)
{
	fprintf(
	    fp,
	    "usage: mbx-gencap --out FILE [options]\n"
	    "Write a capture of synthetic memcache traffic and print its ground truth.\n\n"
	    "  -o, --out FILE          capture to write ('-' = stdout)\n"
	    "  -t, --truth FILE        ground truth as JSON (summary always on stderr)\n"
	    "  -n, --requests N        requests to generate (default 100000)\n"
	    "  -p, --packets N         or: stop issuing requests after about N frames\n"
	    "  -c, --conns N           client connections (default 200)\n"
	    "  -s, --seed N            random seed (default 1)\n"
	    "      --proto-mix LIST    text=W,meta=W,binary=W (default "
	    "text=0.6,meta=0.2,binary=0.2)\n"
	    "      --op-mix LIST       get=W,mget=W,set=W,delete=W,incr=W,touch=W\n"
	    "                          (default "
	    "get=0.62,mget=0.08,set=0.12,delete=0.06,incr=0.06,touch=0.06)\n"
	    "      --keys N            key space (default 100000)\n"
	    "      --zipf S            key popularity exponent (default 0.99)\n"
	    "      --warm F            fraction of keys stored before the capture (default 0.5)\n"
	    "      --cache-aside F     probability of a set after a miss (default 0.8)\n"
	    "      --pipeline F        fraction of connections sending batches (default 0.2)\n"
	    "      --max-batch N       largest pipelined batch (default 6)\n"
	    "      --max-value N       largest value in bytes (default 100000)\n"
	    "      --conn-requests N   mean requests per connection before reconnecting (default 0 "
	    "= never)\n"
	    "      --think-us F        mean client think time per connection (default 500)\n"
	    "      --latency-us A-B    server latency range, log-uniform (default 20-200)\n"
	    "      --delack-us F       delayed ACK timeout (default 200)\n"
	    "      --no-acks           no pure ACK packets\n"
	    "      --drop F            fraction of payload segments missing from the capture\n"
	    "      --dup F             fraction of payload segments duplicated (retransmitted)\n"
	    "      --reorder F         fraction of payload segments swapped with the next\n"
	    "      --ipv6              IPv6 addresses\n"
	    "      --link L            eth|sll|sll2|raw|null (default eth)\n"
	    "      --format F          pcap|pcap-ns|pcapng (default pcap-ns)\n"
	    "      --port N            server port (default 11211)\n"
	    "      --mss N             TCP segment payload size (default 1448)\n"
	    "      --start S           capture start, seconds since the epoch (default "
	    "1700000000)\n");
}

static double parse_double(const char *opt, const char *s, double lo, double hi)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v >= lo && v <= hi))
		die("%s: '%s' is not a number in [%g, %g]", opt, s, lo, hi);
	return v;
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi)
		die("%s: '%s' is not an integer in [%" PRIu64 ", %" PRIu64 "]", opt, s, lo, hi);
	return v;
}

/* "a=0.5,b=0.2": weights by name, normalised. */
static void parse_mix(const char *opt, const char *s, const char *const *names, int n, double *w)
{
	char *copy = strdup(s), *save = NULL, *tok;
	double sum = 0;
	if (!copy)
		die("out of memory");
	for (int i = 0; i < n; i++)
		w[i] = 0;
	for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (!eq)
			die("%s: expected name=weight, got '%s'", opt, tok);
		*eq = 0;
		int i;
		for (i = 0; i < n; i++)
			if (!strcmp(tok, names[i]))
				break;
		if (i == n)
			die("%s: unknown name '%s'", opt, tok);
		w[i] = parse_double(opt, eq + 1, 0, 1e9);
	}
	for (int i = 0; i < n; i++)
		sum += w[i];
	if (sum <= 0)
		die("%s: weights sum to zero", opt);
	for (int i = 0; i < n; i++)
		w[i] /= sum;
	free(copy);
}

enum {
	O_PROTO = 1000,
	O_OPS,
	O_KEYS,
	O_ZIPF,
	O_WARM,
	O_ASIDE,
	O_PIPE,
	O_BATCH,
	O_MAXV,
	O_CONNREQ,
	O_THINK,
	O_LAT,
	O_DELACK,
	O_NOACKS,
	O_DROP,
	O_DUP,
	O_REORDER,
	O_IPV6,
	O_LINK,
	O_FORMAT,
	O_PORT,
	O_MSS,
	O_START,
	O_HELP,
};

static void parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"out", required_argument, NULL, 'o'},
	    {"truth", required_argument, NULL, 't'},
	    {"requests", required_argument, NULL, 'n'},
	    {"packets", required_argument, NULL, 'p'},
	    {"conns", required_argument, NULL, 'c'},
	    {"seed", required_argument, NULL, 's'},
	    {"proto-mix", required_argument, NULL, O_PROTO},
	    {"op-mix", required_argument, NULL, O_OPS},
	    {"keys", required_argument, NULL, O_KEYS},
	    {"zipf", required_argument, NULL, O_ZIPF},
	    {"warm", required_argument, NULL, O_WARM},
	    {"cache-aside", required_argument, NULL, O_ASIDE},
	    {"pipeline", required_argument, NULL, O_PIPE},
	    {"max-batch", required_argument, NULL, O_BATCH},
	    {"max-value", required_argument, NULL, O_MAXV},
	    {"conn-requests", required_argument, NULL, O_CONNREQ},
	    {"think-us", required_argument, NULL, O_THINK},
	    {"latency-us", required_argument, NULL, O_LAT},
	    {"delack-us", required_argument, NULL, O_DELACK},
	    {"no-acks", no_argument, NULL, O_NOACKS},
	    {"drop", required_argument, NULL, O_DROP},
	    {"dup", required_argument, NULL, O_DUP},
	    {"reorder", required_argument, NULL, O_REORDER},
	    {"ipv6", no_argument, NULL, O_IPV6},
	    {"link", required_argument, NULL, O_LINK},
	    {"format", required_argument, NULL, O_FORMAT},
	    {"port", required_argument, NULL, O_PORT},
	    {"mss", required_argument, NULL, O_MSS},
	    {"start", required_argument, NULL, O_START},
	    {"help", no_argument, NULL, 'h'},
	    {0},
	};
	static const double proto_def[P__N] = {0.6, 0.2, 0.2};
	static const double kind_def[K__N] = {0.62, 0.08, 0.12, 0.06, 0.06, 0.06};
	int ch;

	memset(o, 0, sizeof(*o));
	o->requests = 100000;
	o->conns = 200;
	o->seed = 1;
	memcpy(o->proto_w, proto_def, sizeof(proto_def));
	memcpy(o->kind_w, kind_def, sizeof(kind_def));
	o->keys = 100000;
	o->zipf_s = 0.99;
	o->pipeline = 0.2;
	o->warm = 0.5;
	o->cache_aside = 0.8;
	o->max_value = 100000;
	o->max_batch = 6;
	o->think_us = 500;
	o->lat_min_us = 20;
	o->lat_max_us = 200;
	o->delack_us = 200;
	o->acks = true;
	o->fmt = PB_PCAP_NS;
	o->link = PB_ETH;
	o->port = 11211;
	o->mss = 1448;
	o->start_ns = 1700000000ULL * PB_S;

	while ((ch = getopt_long(argc, argv, "o:t:n:p:c:s:h", lo, NULL)) != -1) {
		switch (ch) {
		case 'o':
			o->out = optarg;
			break;
		case 't':
			o->truth = optarg;
			break;
		case 'n':
			o->requests = parse_u64("--requests", optarg, 1, UINT64_MAX / 2);
			o->packets = 0;
			break;
		case 'p':
			o->packets = parse_u64("--packets", optarg, 1, UINT64_MAX / 2);
			o->requests = 0;
			break;
		case 'c':
			o->conns = (uint32_t)parse_u64("--conns", optarg, 1, 1000000);
			break;
		case 's':
			o->seed = parse_u64("--seed", optarg, 0, UINT64_MAX);
			break;
		case O_PROTO:
			parse_mix("--proto-mix", optarg, proto_names, P__N, o->proto_w);
			break;
		case O_OPS:
			parse_mix("--op-mix", optarg, kind_names, K__N, o->kind_w);
			break;
		case O_KEYS:
			o->keys = (uint32_t)parse_u64("--keys", optarg, 1, 100000000);
			break;
		case O_ZIPF:
			o->zipf_s = parse_double("--zipf", optarg, 0, 10);
			break;
		case O_WARM:
			o->warm = parse_double("--warm", optarg, 0, 1);
			break;
		case O_ASIDE:
			o->cache_aside = parse_double("--cache-aside", optarg, 0, 1);
			break;
		case O_PIPE:
			o->pipeline = parse_double("--pipeline", optarg, 0, 1);
			break;
		case O_BATCH:
			o->max_batch = (uint32_t)parse_u64("--max-batch", optarg, 2, 1000);
			break;
		case O_MAXV:
			o->max_value = (uint32_t)parse_u64("--max-value", optarg, 1, 1000000);
			break;
		case O_CONNREQ:
			o->conn_requests =
			    (uint32_t)parse_u64("--conn-requests", optarg, 0, UINT32_MAX);
			break;
		case O_THINK:
			o->think_us = parse_double("--think-us", optarg, 0.001, 1e9);
			break;
		case O_LAT: {
			char *dash = strchr(optarg, '-');
			if (!dash)
				die("--latency-us: expected MIN-MAX");
			*dash = 0;
			o->lat_min_us = parse_double("--latency-us", optarg, 0.001, 1e9);
			o->lat_max_us = parse_double("--latency-us", dash + 1, o->lat_min_us, 1e9);
			break;
		}
		case O_DELACK:
			o->delack_us = parse_double("--delack-us", optarg, 0, 1e9);
			break;
		case O_NOACKS:
			o->acks = false;
			break;
		case O_DROP:
			o->drop = parse_double("--drop", optarg, 0, 1);
			break;
		case O_DUP:
			o->dup = parse_double("--dup", optarg, 0, 1);
			break;
		case O_REORDER:
			o->reorder = parse_double("--reorder", optarg, 0, 1);
			break;
		case O_IPV6:
			o->ipv6 = true;
			break;
		case O_LINK:
			if (!strcmp(optarg, "eth"))
				o->link = PB_ETH;
			else if (!strcmp(optarg, "sll"))
				o->link = PB_SLL;
			else if (!strcmp(optarg, "sll2"))
				o->link = PB_SLL2;
			else if (!strcmp(optarg, "raw"))
				o->link = PB_RAW;
			else if (!strcmp(optarg, "null"))
				o->link = PB_NULL;
			else
				die("--link: unknown link type '%s'", optarg);
			break;
		case O_FORMAT:
			if (!strcmp(optarg, "pcap"))
				o->fmt = PB_PCAP_US;
			else if (!strcmp(optarg, "pcap-ns"))
				o->fmt = PB_PCAP_NS;
			else if (!strcmp(optarg, "pcapng"))
				o->fmt = PB_PCAPNG_NS;
			else
				die("--format: unknown format '%s'", optarg);
			break;
		case O_PORT:
			o->port = (uint16_t)parse_u64("--port", optarg, 1, 65535);
			break;
		case O_MSS:
			o->mss = (uint32_t)parse_u64("--mss", optarg, 64, 65000);
			break;
		case O_START:
			o->start_ns = parse_u64("--start", optarg, 0, 4000000000ULL) * PB_S;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (optind != argc)
		die("unexpected argument '%s' (see --help)", argv[optind]);
	if (!o->out)
		die("--out FILE is required (see --help)");
}

/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
	static struct gen gen;
	struct gen *g = &gen;

	parse_opts(argc, argv, &g->o);
	g->rng = mix64(g->o.seed + 1);
	g->next_port = 32768;

	g->zipf_cdf = zipf_build(g->o.keys, g->o.zipf_s);
	g->nctr = g->o.keys / 100 < 100 ? 100 : g->o.keys / 100;
	g->ctr_cdf = zipf_build(g->nctr, g->o.zipf_s);
	g->vlen = xcalloc(g->o.keys, sizeof(*g->vlen));
	g->cval = xcalloc(g->nctr, sizeof(*g->cval));
	for (uint32_t i = 0; i < g->o.keys; i++)
		g->vlen[i] = urand(g) < g->o.warm ? value_size(g, i) : ABSENT32;
	for (uint32_t i = 0; i < g->nctr; i++)
		g->cval[i] = urand(g) < g->o.warm ? irand(g, 100000) : ABSENT64;
	g->pool = xcalloc(VALUE_POOL, 1);
	for (size_t i = 0; i < VALUE_POOL; i++) {
		uint64_t r = pb_rand(&g->rng);
		g->pool[i] = (uint8_t) "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"
				       "789 {}:,\""[r % 67];
	}

	if (!strcmp(g->o.out, "-"))
		g->w = pb_writer_fopen(stdout, g->o.fmt, pb_link_dlt(g->o.link), 0);
	else
		g->w = pb_writer_open(g->o.out, g->o.fmt, pb_link_dlt(g->o.link), 0);
	if (!g->w)
		die("cannot create %s: %s", g->o.out, strerror(errno));

	g->conns = xcalloc(g->o.conns, sizeof(*g->conns));
	g->heap = xcalloc(g->o.conns, sizeof(*g->heap));
	for (uint32_t i = 0; i < g->o.conns; i++) {
		struct gconn *c = &g->conns[i];
		c->g = g;
		c->idx = i;
		c->proto = (uint8_t)pick(g, g->o.proto_w, P__N);
		c->pipeline = urand(g) < g->o.pipeline;
		/* Connections open over the first 2 ms. */
		conn_start(g, c, g->o.start_ns + pb_rand(&g->rng) % (2 * PB_MS));
		g->heap[i] = i;
	}
	g->nheap = g->o.conns;
	for (uint32_t i = g->nheap / 2 + 1; i-- > 0;)
		heap_down(g, i);

	while (g->nheap) {
		struct gconn *c = &g->conns[g->heap[0]];
		conn_step(g, c);
		if (c->state == S_DONE) {
			g->heap[0] = g->heap[--g->nheap];
		}
		if (g->nheap)
			heap_down(g, 0);
		/* No action can produce a frame earlier than the next one due. */
		fq_flush(g, g->nheap ? g->conns[g->heap[0]].next_ts : UINT64_MAX);
	}
	fq_flush(g, UINT64_MAX);

	int rc = pb_writer_close(g->w);
	if (rc)
		die("writing %s: %s", g->o.out, strerror(-rc));

	truth_write(g, stderr, false);
	if (g->o.truth) {
		FILE *fp = fopen(g->o.truth, "w");
		if (!fp)
			die("cannot create %s: %s", g->o.truth, strerror(errno));
		truth_write(g, fp, true);
		if (fclose(fp) != 0)
			die("writing %s: %s", g->o.truth, strerror(errno));
	}

	for (uint32_t i = 0; i < g->o.conns; i++)
		free(g->conns[i].rsp.p);
	free(g->conns);
	free(g->heap);
	free(g->fq);
	free(g->req.p);
	free(g->pool);
	free(g->vlen);
	free(g->cval);
	free(g->zipf_cdf);
	free(g->ctr_cdf);
	return 0;
}
