/* SPDX-License-Identifier: Apache-2.0 */
/* Chunking must not matter. Each corpus stream is built from units whose byte
 * ranges and message counts are known independently of the parser (a get
 * line with 3 keys is one unit of 3 requests). The stream is parsed whole,
 * then cut at every byte boundary (2 chunks), at every pair of cut points (3
 * chunks, short streams) and byte by byte, each chunk with its own time. The
 * messages must equal the whole parse except for ts, which must be the time
 * of the chunk holding the unit's last byte (requests) or first byte
 * (responses). Every carry buffer must be back in the pool after fini. */
#include <inttypes.h>

#include "parser_test_util.h"

static struct stream *streams;
static unsigned nstreams;

static struct stream *s_new(const char *name, unsigned dir)
{
	struct stream *s = &streams[nstreams++];
	stream_init(s, name, dir);
	return s;
}

static void build_requests(void)
{
	struct stream *s;
	char big[5000], line[4096];

	s = s_new("get", 0);
	u(s, "get k\r\n", 1);
	s = s_new("multiget", 0);
	u(s, "get a b c\r\n", 3);
	u(s, "gets k1 k2\r\n", 2);
	s = s_new("gat", 0);
	u(s, "gat 10 k\r\n", 1);
	u(s, "gats 0 a b\r\n", 2);
	u(s, "gat 5\r\n", 1);
	s = s_new("set", 0);
	u_store(s, "set k 0 0 ", "", "hello", 5);
	s = s_new("set-empty", 0);
	u_store(s, "set k 0 0 ", "", "", 0);
	u(s, "get k\r\n", 1);
	s = s_new("add-noreply", 0);
	u_store(s, "add k 1 2 ", " noreply", "abc", 3);
	s = s_new("cas", 0);
	u_store(s, "cas k 0 0 ", " 77", "hi", 2);
	s = s_new("append-crlf-data", 0);
	u_store(s, "append k 0 0 ", "", "END\r", 4);
	u_store(s, "prepend k 0 0 ", "", "\r\n", 2);
	s = s_new("bare-newlines", 0);
	u(s, "replace k 0 0 3\nabc\r\n", 1);
	u(s, "get a\n", 1);
	u(s, "delete b\n", 1);
	s = s_new("delete", 0);
	u(s, "delete k\r\n", 1);
	u(s, "delete k 0 noreply\r\n", 1);
	s = s_new("arith-touch", 0);
	u(s, "incr k 5\r\n", 1);
	u(s, "decr k 1 noreply\r\n", 1);
	u(s, "touch k 100\r\n", 1);
	s = s_new("admin", 0);
	u(s, "flush_all\r\n", 1);
	u(s, "flush_all 0 noreply\r\n", 1);
	u(s, "version\r\n", 1);
	u(s, "stats\r\n", 1);
	u(s, "stats slabs\r\n", 1);
	u(s, "verbosity 1\r\n", 1);
	u(s, "quit\r\n", 1);
	s = s_new("unknown-lines", 0);
	s->perr = 3;
	u(s, "bogus\r\n", 1);
	u(s, "\r\n", 1);
	u(s, "\n", 1);
	u(s, "get x\r\n", 1);
	s = s_new("invalid-set", 0);
	s->perr = 3;
	u(s, "set k 0 0 -1\r\n", 1);
	u(s, "abc\r\n", 1);
	u(s, "set k 0 0\r\n", 1);
	u(s, "get k\r\n", 1);
	s = s_new("bad-data-chunk", 0);
	s->perr = 2;
	u(s, "set k 0 0 3\r\nabcde", 1);
	u(s, "\r\n", 1);
	s = s_new("mg", 0);
	u(s, "mg k v\r\n", 1);
	u(s, "mg k s v t f q O12 k\r\n", 1);
	u(s, "mg Zm9v b v\r\n", 1);
	s = s_new("ms", 0);
	u_store(s, "ms k ", " T0 F1", "hello", 5);
	u_store(s, "ms k ", " MA q", "ab", 2);
	u_store(s, "ms k ", " C55", "", 0);
	s = s_new("md-ma-mn-me", 0);
	u(s, "md k q\r\n", 1);
	u(s, "ma k MD v\r\n", 1);
	u(s, "mn\r\n", 1);
	u(s, "me k\r\n", 1);
	s = s_new("bin-get", 0);
	u_breq(s, 0x00, 0, "k", NULL);
	s = s_new("bin-set-protocol-bytes", 0);
	u_bin(s, 0x80, 0x01, 0, 0, 8, "key", "\r\nEND\r\n\x80\x81\n", 11);
	u_breq(s, 0x00, 0, "k", NULL);
	s = s_new("bin-getq-noop", 0);
	u_breq(s, 0x09, 0, "a", NULL);
	u_breq(s, 0x0d, 0, "bb", NULL);
	u_breq(s, 0x09, 0, "ccc", NULL);
	u_breq(s, 0x0a, 0, NULL, NULL);
	s = s_new("bin-incr-delete", 0);
	u_breq(s, 0x05, 20, "n", NULL);
	u_breq(s, 0x04, 0, "d", NULL);
	s = s_new("bin-admin", 0);
	u_breq(s, 0x08, 4, NULL, NULL);
	u_breq(s, 0x0b, 0, NULL, NULL);
	u_breq(s, 0x07, 0, NULL, NULL);
	s = s_new("bin-touch-gat", 0);
	u_breq(s, 0x1c, 4, "t", NULL);
	u_breq(s, 0x1d, 4, "g", NULL);
	u_breq(s, 0x24, 4, "gk", NULL);
	s = s_new("bin-unknown-opcode", 0);
	u_breq(s, 0x3d, 0, "x", "body");
	u_breq(s, 0x00, 0, "k", NULL);
	s = s_new("bin-cas", 0);
	u_bin(s, 0x80, 0x11, 0, 99, 8, "c", "v", 1);
	s = s_new("bin-long-key", 0);
	memset(big, 'K', 300);
	big[300] = 0;
	u_breq(s, 0x01, 8, big, "value");
	s = s_new("mixed", 0);
	u(s, "get a\r\n", 1);
	u_breq(s, 0x00, 0, "b", NULL);
	u(s, "mg c v\r\n", 1);
	u_store(s, "set d 0 0 ", "", "\x80\x01", 2);
	u_breq(s, 0x0a, 0, NULL, NULL);
	s = s_new("mixed2", 0);
	u_breq(s, 0x01, 8, "e", "x\r\nget z\r\n");
	u(s, "get a b\r\n", 2);
	u_store(s, "ms f ", " q", "y", 1);
	s = s_new("long-get-line", 0);
	{
		size_t n = (size_t)snprintf(line, sizeof(line), "get");
		for (int i = 0; i < 300; i++)
			n += (size_t)snprintf(line + n, sizeof(line) - n, " key%05d", i);
		snprintf(line + n, sizeof(line) - n, "\r\n");
		u(s, line, 300);
	}
	u(s, "get after\r\n", 1);
	s = s_new("long-value", 0);
	memset(big, 'v', sizeof(big));
	u_store(s, "set big 0 0 ", "", big, 4900);
	u(s, "get big\r\n", 1);
	s = s_new("long-key", 0);
	memset(line, 'L', 251);
	memcpy(line + 251, " x\r\n", 5);
	{
		char l2[4200];
		snprintf(l2, sizeof(l2), "get %s", line);
		u(s, l2, 2);
	}
	s = s_new("spaces", 0);
	s->perr = 1;
	u(s, "get k \r\n", 1);
	u(s, "  get  a  \n", 1);
	u(s, "get\tx\r\n", 1);
	s = s_new("pipelined-gets", 0);
	for (int i = 0; i < 20; i++)
		u(s, "get key\r\n", 1);
	s = s_new("pipelined-sets", 0);
	for (int i = 0; i < 10; i++)
		u_store(s, "set key 0 0 ", " noreply", "0123456789", 10);
	s = s_new("gets-cas-roundtrip", 0);
	u(s, "gets k\r\n", 1);
	u_store(s, "cas k 0 0 ", " 123 noreply", "new", 3);
	u(s, "mn\r\n", 1);
	s = s_new("binary-pipeline", 0);
	for (int i = 0; i < 10; i++)
		u_breq(s, 0x11, 8, "kk", "vvvv");
	u_breq(s, 0x0a, 0, NULL, NULL);
	s = s_new("key-too-long-set", 0);
	s->perr = 1;
	{
		char l2[4200];
		memset(line, 'S', 260);
		line[260] = 0;
		snprintf(l2, sizeof(l2), "set %s 0 0 1\r\n", line);
		u(s, l2, 1);
		u(s, "x\r\n", 1);
	}
	s = s_new("delete-legacy-hold", 0);
	s->perr = 1;
	u(s, "delete k 0\r\n", 1);
	u(s, "delete k 5\r\n", 1);
	s = s_new("arith-bad-delta", 0);
	s->perr = 1;
	u(s, "incr k x\r\n", 1);
	u(s, "get k\r\n", 1);
	s = s_new("ms-invalid-mode-swallows", 0);
	s->perr = 1;
	u_store(s, "ms k ", " MX", "ab", 2);
	u(s, "mn\r\n", 1);
	s = s_new("bin-sasl", 0);
	u_breq(s, 0x20, 0, NULL, NULL);
	u_breq(s, 0x21, 0, "PLAIN", "user pass");
	s = s_new("bin-append-quiet", 0);
	u_breq(s, 0x19, 0, "a", "tail");
	u_breq(s, 0x1a, 0, "p", "head");
	u_breq(s, 0x0a, 0, NULL, NULL);
	s = s_new("meta-b-opaque", 0);
	u(s, "md YmluYXJ5 b O99 q\r\n", 1);
	u(s, "ma Zm9v b MI\r\n", 1);
}

static void build_responses(void)
{
	struct stream *s;
	char big[5000];

	s = s_new("end", 1);
	u(s, "END\r\n", 1);
	s = s_new("value-end", 1);
	u_store(s, "VALUE k 0 ", "", "hello", 5);
	u(s, "END\r\n", 1);
	s = s_new("values-cas", 1);
	u_store(s, "VALUE k 1 ", " 99", "abc", 3);
	u_store(s, "VALUE k2 0 ", " 100", "", 0);
	u(s, "END\r\n", 1);
	s = s_new("value-with-end-inside", 1);
	u_store(s, "VALUE k 0 ", "", "END\r\nSTORED\r\nVALUE x 0 1", 25);
	u(s, "END\r\n", 1);
	s = s_new("storage-replies", 1);
	u(s, "STORED\r\n", 1);
	u(s, "NOT_STORED\r\n", 1);
	u(s, "EXISTS\r\n", 1);
	u(s, "NOT_FOUND\r\n", 1);
	s = s_new("delete-touch", 1);
	u(s, "DELETED\r\n", 1);
	u(s, "TOUCHED\r\n", 1);
	s = s_new("ok-reset", 1);
	u(s, "OK\r\n", 1);
	u(s, "RESET\r\n", 1);
	s = s_new("numbers", 1);
	u(s, "42\r\n", 1);
	u(s, "7  \r\n", 1);
	s = s_new("version", 1);
	u(s, "VERSION 1.6.21\r\n", 1);
	s = s_new("stats", 1);
	u(s, "STAT pid 1\r\n", 1);
	u(s, "STAT uptime 2\r\n", 1);
	u(s, "END\r\n", 1);
	s = s_new("errors", 1);
	u(s, "ERROR\r\n", 1);
	u(s, "CLIENT_ERROR bad command line format\r\n", 1);
	u(s, "SERVER_ERROR out of memory\r\n", 1);
	s = s_new("other-line", 1);
	u(s, "BUSY x\r\n", 1);
	u(s, "\r\n", 1);
	s = s_new("hd", 1);
	u(s, "HD\r\n", 1);
	u(s, "HD O12 kfoo\r\n", 1);
	s = s_new("va", 1);
	u_store(s, "VA ", " f1", "hello", 5);
	s = s_new("va-empty-en", 1);
	u_store(s, "VA ", "", "", 0);
	u(s, "EN\r\n", 1);
	s = s_new("meta-misc", 1);
	u(s, "NF\r\n", 1);
	u(s, "NS\r\n", 1);
	u(s, "EX\r\n", 1);
	u(s, "MN\r\n", 1);
	s = s_new("me", 1);
	u(s, "ME k exp=-1 la=1 cas=2 fetch=no cls=1 size=63\r\n", 1);
	s = s_new("va-b64-key", 1);
	u_store(s, "VA ", " kZm9v b O1", "EN\r\n", 4);
	s = s_new("bin-get-hit", 1);
	u_brsp(s, 0x00, 0, 4, NULL, "value");
	s = s_new("bin-getk-miss", 1);
	u_brsp(s, 0x0c, 1, 0, "key", NULL);
	s = s_new("bin-error-body", 1);
	u_brsp(s, 0x00, 1, 0, NULL, "Not found");
	u_brsp(s, 0x01, 0x82, 0, NULL, "Out of memory");
	s = s_new("bin-stats", 1);
	u_brsp(s, 0x10, 0, 0, "pid", "1");
	u_brsp(s, 0x10, 0, 0, "uptime", "22");
	u_brsp(s, 0x10, 0, 0, NULL, NULL);
	s = s_new("bin-protocol-bytes", 1);
	u_bin(s, 0x81, 0x00, 0, 0, 4, NULL, "\x81\r\nEND\r\n\x80", 9);
	u_brsp(s, 0x0a, 0, 0, NULL, NULL);
	s = s_new("bin-version-noop", 1);
	u_brsp(s, 0x0b, 0, 0, NULL, "1.6.21");
	u_brsp(s, 0x0a, 0, 0, NULL, NULL);
	s = s_new("mixed", 1);
	u_store(s, "VALUE a 0 ", "", "\x81\x01", 2);
	u(s, "END\r\n", 1);
	u_brsp(s, 0x09, 0, 4, NULL, "END\r\n");
	u_store(s, "VA ", " Ox", "\x81", 1);
	u_brsp(s, 0x0a, 0, 0, NULL, NULL);
	u(s, "STORED\r\n", 1);
	s = s_new("big-value", 1);
	memset(big, 'b', sizeof(big));
	u_store(s, "VALUE big 0 ", "", big, 4900);
	u(s, "END\r\n", 1);
	s = s_new("many-ends", 1);
	for (int i = 0; i < 30; i++)
		u(s, "END\r\n", 1);
	s = s_new("bin-long-key", 1);
	memset(big, 'K', 300);
	big[300] = 0;
	u_brsp(s, 0x0c, 0, 4, big, "v");
	s = s_new("multiget-reply", 1);
	for (int i = 0; i < 5; i++)
		u_store(s, "VALUE key 0 ", "", "0123456789", 10);
	u(s, "END\r\n", 1);
	s = s_new("bin-getq-pipeline", 1);
	for (int i = 0; i < 5; i++)
		u_brsp(s, 0x0d, 0, 4, "kk", "vv");
	u_brsp(s, 0x0a, 0, 0, NULL, NULL);
	s = s_new("mg-replies", 1);
	u_store(s, "VA ", " f0 t-1 c5 Oab kfoo", "data", 4);
	u(s, "EN Oac\r\n", 1);
	u(s, "HD Oad\r\n", 1);
	s = s_new("bare-newline-replies", 1);
	u(s, "END\n", 1);
	u(s, "STORED\n", 1);
	s = s_new("item-lines", 1);
	u(s, "ITEM foo [5 b; 0 s]\r\n", 1);
	u(s, "END\r\n", 1);
	s = s_new("incr-bin", 1);
	u_bin(s, 0x81, 0x05, 0, 7, 0, NULL, "\0\0\0\0\0\0\0\x09", 8);
	s = s_new("flush-ok", 1);
	for (int i = 0; i < 3; i++)
		u(s, "OK\r\n", 1);
	s = s_new("bin-set-replies", 1);
	u_brsp(s, 0x01, 0, 0, NULL, NULL);
	u_brsp(s, 0x01, 2, 0, NULL, "Data exists for key.");
	u_brsp(s, 0x02, 5, 0, NULL, "Not stored.");
	s = s_new("bin-delete-replies", 1);
	u_brsp(s, 0x04, 0, 0, NULL, NULL);
	u_brsp(s, 0x04, 1, 0, NULL, "Not found");
	s = s_new("stat-items", 1);
	u(s, "STAT items:1:number 5\r\n", 1);
	u(s, "END\r\n", 1);
	s = s_new("ma-value", 1);
	u_store(s, "VA ", "", "10", 2);
	u(s, "NF\r\n", 1);
	s = s_new("sasl", 1);
	u_brsp(s, 0x21, 0x20, 0, NULL, "Auth failure.");
	u_brsp(s, 0x20, 0, 0, NULL, "PLAIN");
}

static int group_setup(void **state)
{
	(void)state;
	streams = calloc(100, sizeof(*streams));
	assert_non_null(streams);
	nstreams = 0;
	build_requests();
	build_responses();
	*state = tctx_new(4);
	return 0;
}

static int group_teardown(void **state)
{
	tctx_free(*state);
	free(streams);
	return 0;
}

struct ref {
	struct mbx_msg *v;
	size_t n;
	struct mbx_counters ctr;
	unsigned *unit_of; /* message index -> unit */
};

static void feed_chunks(struct tctx *t, const struct stream *s, const size_t *cuts, unsigned ncuts)
{
	tctx_reset(t);
	mbx_parser_init(&t->p, T_FLOW, s->dir, true);
	size_t prev = 0;
	for (unsigned i = 0; i <= ncuts; i++) {
		size_t end = i < ncuts ? cuts[i] : s->n;
		mbx_parser_data(&t->p, &t->ctx, s->b + prev, end - prev, i + 1);
		prev = end;
	}
	mbx_parser_fini(&t->p, &t->ctx);
}

static uint64_t chunk_ts(size_t off, const size_t *cuts, unsigned ncuts)
{
	unsigned i = 0;
	while (i < ncuts && off >= cuts[i])
		i++;
	return i + 1;
}

static void compare(const struct tctx *t, const struct stream *s, const struct ref *r,
		    const size_t *cuts, unsigned ncuts)
{
	if (t->cap.n != r->n)
		fail_msg("%s: %zu messages, expected %zu (cuts %zu %zu)", s->name, t->cap.n, r->n,
			 ncuts > 0 ? cuts[0] : 0, ncuts > 1 ? cuts[1] : 0);
	for (size_t i = 0; i < r->n; i++) {
		struct mbx_msg a = t->cap.v[i], b = r->v[i];
		unsigned ui = r->unit_of[i];
		uint64_t want = s->dir ? chunk_ts(s->ustart[ui], cuts, ncuts)
				       : chunk_ts(s->uend[ui] - 1, cuts, ncuts);
		if (a.ts_ns != want)
			fail_msg("%s: message %zu ts %" PRIu64 ", expected %" PRIu64
				 " (cuts %zu %zu)",
				 s->name, i, a.ts_ns, want, ncuts > 0 ? cuts[0] : 0,
				 ncuts > 1 ? cuts[1] : 0);
		a.ts_ns = b.ts_ns = 0;
		if (memcmp(&a, &b, sizeof(a)) != 0)
			fail_msg(
			    "%s: message %zu differs (op %u/%u code %u/%u flags %x/%x) cut %zu",
			    s->name, i, a.op, b.op, a.code, b.code, a.flags, b.flags,
			    ncuts > 0 ? cuts[0] : 0);
	}
	assert_int_equal(t->ctr->parse_errors, r->ctr.parse_errors);
	assert_int_equal(t->ctr->key_too_long, r->ctr.key_too_long);
	assert_int_equal(t->ctr->line_too_long, r->ctr.line_too_long);
	assert_int_equal(t->ctr->resyncs, r->ctr.resyncs);
	assert_int_equal(t->ctr->carry_exhausted, 0);
	assert_int_equal(mbx_bufpool_available(t->pool), mbx_bufpool_capacity(t->pool));
}

static void make_ref(struct tctx *t, const struct stream *s, struct ref *r)
{
	unsigned total = 0;
	for (unsigned k = 0; k < s->nunits; k++)
		total += s->unmsg[k];
	feed_chunks(t, s, NULL, 0);
	if (t->cap.n != total)
		fail_msg("%s: %zu messages unsplit, the units say %u", s->name, t->cap.n, total);
	r->n = t->cap.n;
	r->v = malloc((r->n + 1) * sizeof(*r->v));
	r->unit_of = malloc((r->n + 1) * sizeof(*r->unit_of));
	assert_non_null(r->v);
	assert_non_null(r->unit_of);
	memcpy(r->v, t->cap.v, r->n * sizeof(*r->v));
	memcpy(&r->ctr, t->ctr, sizeof(r->ctr));
	size_t m = 0;
	for (unsigned k = 0; k < s->nunits; k++)
		for (unsigned j = 0; j < s->unmsg[k]; j++)
			r->unit_of[m++] = k;
	assert_int_equal(r->ctr.resyncs, 0); /* the corpus is well-framed */
	if (r->ctr.parse_errors != s->perr)
		fail_msg("%s: %" PRIu64 " parse errors, expected %u", s->name, r->ctr.parse_errors,
			 s->perr);
}

static void free_ref(struct ref *r)
{
	free(r->v);
	free(r->unit_of);
}

static void corpus_size(void **state)
{
	(void)state;
	unsigned req = 0, rsp = 0;
	for (unsigned i = 0; i < nstreams; i++)
		if (streams[i].dir)
			rsp++;
		else
			req++;
	assert_true(req >= 40);
	assert_true(rsp >= 40);
}

static void two_chunks(void **state)
{
	struct tctx *t = *state;
	for (unsigned si = 0; si < nstreams; si++) {
		const struct stream *s = &streams[si];
		struct ref r;
		make_ref(t, s, &r);
		for (size_t c = 1; c < s->n; c++) {
			feed_chunks(t, s, &c, 1);
			compare(t, s, &r, &c, 1);
		}
		free_ref(&r);
	}
}

static void three_chunks(void **state)
{
	struct tctx *t = *state;
	unsigned tested = 0;
	for (unsigned si = 0; si < nstreams; si++) {
		const struct stream *s = &streams[si];
		if (s->n > 200)
			continue;
		tested++;
		struct ref r;
		make_ref(t, s, &r);
		for (size_t c1 = 1; c1 < s->n; c1++) {
			for (size_t c2 = c1 + 1; c2 < s->n; c2++) {
				size_t cuts[2] = {c1, c2};
				feed_chunks(t, s, cuts, 2);
				compare(t, s, &r, cuts, 2);
			}
		}
		free_ref(&r);
	}
	assert_true(tested >= 60);
}

static void byte_by_byte(void **state)
{
	struct tctx *t = *state;
	size_t *cuts = malloc(MAX_BYTES * sizeof(*cuts));
	assert_non_null(cuts);
	for (unsigned si = 0; si < nstreams; si++) {
		const struct stream *s = &streams[si];
		struct ref r;
		make_ref(t, s, &r);
		for (size_t i = 1; i < s->n; i++)
			cuts[i - 1] = i;
		feed_chunks(t, s, cuts, (unsigned)(s->n - 1));
		compare(t, s, &r, cuts, (unsigned)(s->n - 1));
		free_ref(&r);
	}
	free(cuts);
}

/* A gap of zero bytes and empty chunks change nothing. */
static void empty_inputs(void **state)
{
	struct tctx *t = *state;
	const struct stream *s = &streams[0];
	struct ref r;
	make_ref(t, s, &r);
	tctx_reset(t);
	mbx_parser_init(&t->p, T_FLOW, s->dir, true);
	for (size_t i = 0; i < s->n; i++) {
		mbx_parser_data(&t->p, &t->ctx, s->b + i, 0, 99);
		mbx_parser_gap(&t->p, &t->ctx, 0, 99);
		mbx_parser_data(&t->p, &t->ctx, s->b + i, 1, 1);
	}
	mbx_parser_fini(&t->p, &t->ctx);
	assert_int_equal(t->cap.n, r.n);
	free_ref(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(corpus_size),  cmocka_unit_test(two_chunks),
	    cmocka_unit_test(three_chunks), cmocka_unit_test(byte_by_byte),
	    cmocka_unit_test(empty_inputs),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
