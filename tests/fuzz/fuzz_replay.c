/* SPDX-License-Identifier: Apache-2.0 */
/* Fuzz the replay response path: what `mbx replay` does with the target
 * server's reply bytes. As in src/replay/rworker.c (send_request), a few
 * requests are translated (mbx_rreq_translate), encoded (mbx_rreq_encode)
 * and announced to a pairing stage as synthesized REQ messages; the fuzz
 * input's tail is then the server's reply, parsed by a response-direction
 * mbx_parser into the same pairing stage, in chunks chosen by the input.
 *
 * Input:
 *   byte 0     protocol to send in (% 3: text, meta, binary)
 *   byte 1     number of requests (% 8 + 1)
 *   per request, 4 bytes: recorded op (% MBX_OP__COUNT), bit 0-1 of the
 *              next byte: recorded protocol, bit 2: quiet, bits 3-5: keys
 *              for a text multi-key get - 1, bits 6-7: variant low bits;
 *              key length (% 64 + 1); value length (byte * 3)
 *   bytes      u32le chunking seed
 *   rest       the server's reply bytes
 *
 * Oracles: sanitizers; fz_check_msg/fz_check_events; every request gets
 * exactly one on_final (its cookie) and one event; and the synthesized REQ
 * messages agree with what the recorder's own request parser reads from
 * the encoded bytes (op, protocol, key hash and length, quiet, batch flags,
 * opaque, value length): replay pairs replies against the former, so a
 * disagreement would pair replies wrongly. */
#include "fuzz_common.h"

#include "mbx/bufpool.h"
#include "mbx/counters.h"
#include "mbx/hash.h"
#include "mbx/pair.h"
#include "mbx/parser.h"
#include "mbx/replay_proto.h"

#define FLOW 0xfeedULL
#define MAX_REQ 8
#define MAX_MSG (MAX_REQ * MBX_BATCH_MAX)
#define T0 (2000 * MBX_NSEC_PER_SEC)

struct fz_replay {
	uint8_t finals[MAX_MSG]; /* on_final calls per cookie */
	uint32_t ncookies;
	uint64_t events;
	uint64_t last_ev_ts;
	struct mbx_msg parsed[MAX_MSG]; /* request parser's view of the bytes sent */
	uint32_t nparsed;
	struct mbx_pair *pair;
	bool verbose;
};

static struct fz_replay st;
static struct mbx_valbuf *vb;
static uint8_t salt[MBX_SALT_LEN];
static uint8_t scratch[MBX_RREQ_SCRATCH];
static uint8_t wirebuf[MAX_REQ * (MBX_RREQ_SCRATCH + 3 * 255 + 16)];

static void on_events(void *ctx, const struct mbx_event *ev, size_t n)
{
	struct fz_replay *s = ctx;
	fz_check_events(ev, n, &s->last_ev_ts);
	s->events += n;
}

static void on_final(void *ctx, uint64_t flow, uint32_t cookie, const struct mbx_event *ev)
{
	struct fz_replay *s = ctx;
	FZ_CHECK(flow == FLOW, "on_final for flow %llx", (unsigned long long)flow);
	FZ_CHECK(cookie < s->ncookies, "on_final for unknown cookie %u", cookie);
	FZ_CHECK(s->finals[cookie] == 0, "request %u finalised twice", cookie);
	s->finals[cookie]++;
	if (s->verbose)
		fprintf(stderr, "request %u: %s %s, latency %u\n", cookie, mbx_op_name(ev->op),
			mbx_outcome_name(ev->outcome), ev->latency_ns);
}

static void rsp_sink(void *ctx, const struct mbx_msg *m)
{
	struct fz_replay *s = ctx;
	fz_check_msg(m);
	mbx_pair_input(s->pair, m);
}

static void req_sink(void *ctx, const struct mbx_msg *m)
{
	struct fz_replay *s = ctx;
	fz_check_msg(m);
	if (s->nparsed < MAX_MSG)
		s->parsed[s->nparsed++] = *m;
}

static size_t append_wire(size_t off, const struct mbx_rreq_wire *w)
{
	memcpy(wirebuf + off, w->hdr, w->hdr_len);
	off += w->hdr_len;
	for (uint32_t left = w->value_len; left;) {
		uint32_t n = MBX_MIN(left, w->value_avail);
		memcpy(wirebuf + off, w->value, n);
		off += n;
		left -= n;
	}
	if (w->tail_len)
		memcpy(wirebuf + off, w->tail, w->tail_len);
	return off + w->tail_len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct mbx_msg sent[MAX_MSG];
	uint32_t nsent = 0, opaque_ctr = 0;
	size_t wlen = 0;
	struct mbx_keygen kg;
	char keys[MBX_BATCH_MAX][MBX_KEY_MAX];
	static struct mbx_counters ctr;
	uint64_t now = T0;

	if (!vb) {
		vb = mbx_valbuf_create(4096);
		FZ_CHECK(vb, "mbx_valbuf_create failed");
		fz_salt(salt, 0x33);
	}
	memset(&st, 0, sizeof(st));
	st.verbose = getenv("MBX_FUZZ_VERBOSE") != NULL;
	memset(&ctr, 0, sizeof(ctr));
	mbx_keygen_init(&kg, NULL);

	struct mbx_pair_cfg pc;
	mbx_pair_cfg_defaults(&pc);
	pc.max_conns = 16;
	pc.window = 1024;
	pc.timeout_ns = 10 * MBX_NSEC_PER_SEC;
	pc.emit = on_events;
	pc.emit_ctx = &st;
	pc.on_final = on_final;
	pc.ctr = &ctr;
	st.pair = mbx_pair_create(&pc);
	FZ_CHECK(st.pair, "mbx_pair_create failed");

	/* the connection is up: as rworker conn_up */
	struct mbx_msg open = { .kind = MBX_MSG_OPEN, .flow = FLOW, .ts_ns = now };
	mbx_pair_input(st.pair, &open);

	unsigned proto = fz_u8(&in) % 3;
	unsigned nreq = fz_u8(&in) % MAX_REQ + 1;
	for (unsigned i = 0; i < nreq; i++) {
		unsigned rec_op = fz_u8(&in) % MBX_OP__COUNT;
		uint8_t b = fz_u8(&in);
		unsigned klen = fz_u8(&in) % 64 + 1;
		uint32_t vlen = fz_u8(&in) * 3u;
		unsigned rec_proto = (b & 3) % 3;
		uint8_t quiet = (b >> 2) & 1;
		uint8_t variant = (uint8_t)(b >> 6);
		unsigned op = mbx_rreq_translate(rec_op, rec_proto, proto, &variant, &quiet);
		if (op == MBX_OP_NONE || mbx_rreq_skipped_op(op))
			continue;
		bool multi = proto == MBX_PROTO_TEXT && mbx_op_class(op) == MBX_OPC_RETR;
		unsigned nk = multi ? ((b >> 3) & 7) + 1 : 1;

		struct mbx_rreq rq;
		memset(&rq, 0, sizeof(rq));
		rq.op = (uint8_t)op;
		rq.proto = (uint8_t)proto;
		rq.variant = variant;
		rq.quiet = quiet;
		/* keyless ops were recorded without a key (rworker: keyed) */
		bool keyed = mbx_op_class(op) != MBX_OPC_OTHER || op == MBX_OP_ME;
		rq.nkeys = keyed ? nk : 0;
		for (unsigned k = 0; k < rq.nkeys; k++) {
			size_t kl = mbx_keygen_key(&kg, 0x1234 + i * 64 + k, klen + k, keys[k]);
			rq.keys[k] = keys[k];
			rq.key_lens[k] = (uint8_t)kl;
		}
		rq.value_len = vlen;
		rq.value_hash = i;
		if (proto == MBX_PROTO_BINARY || (proto == MBX_PROTO_META && quiet))
			rq.opaque = ++opaque_ctr;
		struct mbx_rreq_wire wire;
		if (mbx_rreq_encode(&rq, vb, scratch, sizeof(scratch), &wire) < 0)
			continue; /* rworker: skipped */
		wlen = append_wire(wlen, &wire);

		/* as rworker send_request: one REQ message per key */
		struct mbx_msg msgs[MBX_BATCH_MAX];
		uint32_t n = mbx_rreq_msgs(&rq, salt, msgs);
		for (uint32_t k = 0; k < n; k++) {
			struct mbx_msg m = msgs[k];
			m.flow = FLOW;
			m.ts_ns = now;
			m.cookie = st.ncookies++;
			fz_check_msg(&m);
			sent[nsent++] = m;
			mbx_pair_input(st.pair, &m);
		}
	}

	/* the recorder's request parser reads the same bytes */
	{
		struct mbx_bufpool *pool = mbx_bufpool_create(MBX_PARSER_CARRY_SIZE, 2);
		struct mbx_parse_ctx ctx = { .salt = salt, .pool = pool, .ctr = &ctr,
					     .sink = { req_sink, &st } };
		struct mbx_parser p;
		FZ_CHECK(pool, "mbx_bufpool_create failed");
		mbx_parser_init(&p, FLOW, 0, true);
		mbx_parser_data(&p, &ctx, wirebuf, wlen, now);
		mbx_parser_fini(&p, &ctx);
		mbx_bufpool_destroy(pool);
		FZ_CHECK(st.nparsed == nsent, "sent %u request messages, the parser reads %u", nsent,
			 st.nparsed);
		for (uint32_t i = 0; i < nsent; i++) {
			const struct mbx_msg *a = &sent[i], *b = &st.parsed[i];
			const uint8_t fl = MBX_MSG_F_QUIET | MBX_MSG_F_BATCH_CONT | MBX_MSG_F_OPAQUE;
			FZ_CHECK(a->op == b->op && a->proto == b->proto,
				 "request %u: sent as %s/%u, parsed as %s/%u", i, mbx_op_name(a->op),
				 a->proto, mbx_op_name(b->op), b->proto);
			FZ_CHECK(a->key_hash == b->key_hash && a->key_len == b->key_len,
				 "request %u (%s): key differs", i, mbx_op_name(a->op));
			FZ_CHECK((a->flags & fl) == (b->flags & fl),
				 "request %u (%s): flags %#x sent, %#x parsed", i, mbx_op_name(a->op),
				 a->flags, b->flags);
			FZ_CHECK(!(a->flags & MBX_MSG_F_OPAQUE) || a->opaque == b->opaque,
				 "request %u (%s): opaque differs", i, mbx_op_name(a->op));
			FZ_CHECK(a->value_len == b->value_len,
				 "request %u (%s): value_len %u sent, %u parsed", i,
				 mbx_op_name(a->op), a->value_len, b->value_len);
			/* the variant bits mean something for mg/ms/ma only; other
			 * requests keep their recorded bits (harmless) */
			bool has_variant = a->op == MBX_OP_MG || a->op == MBX_OP_MS || a->op == MBX_OP_MA;
			FZ_CHECK(!has_variant || a->variant == b->variant,
				 "request %u (%s): variant %u sent, %u parsed",
				 i, mbx_op_name(a->op), a->variant, b->variant);
		}
	}

	/* the server's reply, as rworker conn_read */
	uint64_t seed = fz_u32(&in);
	struct mbx_bufpool *pool = mbx_bufpool_create(MBX_PARSER_CARRY_SIZE, 2);
	struct mbx_parse_ctx ctx = { .salt = salt, .pool = pool, .ctr = &ctr,
				     .sink = { rsp_sink, &st } };
	struct mbx_parser rp;
	FZ_CHECK(pool, "mbx_bufpool_create failed");
	mbx_parser_init(&rp, FLOW, 1, true);
	for (size_t off = 0; off < in.n;) {
		size_t n = fz_chunk_len(&seed, in.n - off);
		now += 1000;
		mbx_parser_data(&rp, &ctx, in.p + off, n, now);
		off += n;
		if (fz_rand(&seed) % 4 == 0)
			mbx_pair_advance(st.pair, now);
	}
	/* the connection ends: as rworker conn_fail */
	struct mbx_msg close = { .kind = MBX_MSG_CLOSE, .flow = FLOW, .ts_ns = now, .dir = 1,
				 .aux = MBX_CLOSE_RST };
	mbx_pair_input(st.pair, &close);
	mbx_parser_fini(&rp, &ctx);
	FZ_CHECK(mbx_bufpool_available(pool) == mbx_bufpool_capacity(pool), "carry buffer leaked");
	mbx_bufpool_destroy(pool);
	mbx_pair_finish(st.pair);

	for (uint32_t c = 0; c < st.ncookies; c++)
		FZ_CHECK(st.finals[c] == 1, "request %u (%s) finalised %u times", c,
			 mbx_op_name(sent[c].op), st.finals[c]);
	FZ_CHECK(st.events == st.ncookies, "%u requests, %llu events", st.ncookies,
		 (unsigned long long)st.events);
	if (st.verbose)
		fprintf(stderr, "%u requests, %llu responses, %llu orphans, %llu mismatches, %llu parse errors\n",
			st.ncookies, (unsigned long long)ctr.rsp_msgs, (unsigned long long)ctr.rsp_orphan,
			(unsigned long long)ctr.pair_mismatch, (unsigned long long)ctr.parse_errors);
	mbx_pair_destroy(st.pair);
	return 0;
}
