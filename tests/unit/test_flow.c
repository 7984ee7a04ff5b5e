/* SPDX-License-Identifier: Apache-2.0 */
/* Flow table and TCP reassembly. Segments are built directly as struct
 * mbx_tcpseg; a recording consumer keeps, per stream, a text log of what was
 * delivered ("bytes", "[gap N]", "<FIN>") or, for the stress tests, an image
 * of the stream with the position of every delivered and gapped byte.
 *
 * MBX_FLOW_BENCH=1 adds a timing run of the in-order fast path (prints
 * ns/segment; asserts nothing about speed). */
/* cmocka.h needs the headers before it */
// clang-format off
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>
#include <pcap/pcap.h>

#include "mbx/decode.h"
#include "mbx/flow.h"
// clang-format on

#define MS  MBX_NSEC_PER_MSEC
#define SEC MBX_NSEC_PER_SEC

static const uint8_t fkey[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
static uint8_t portmap[8192];

/* ---- recording consumer ---- */

#define MAX_STREAMS 512
#define LOG_MAX	    32768
#define USER_SIZE   40

struct rstream {
	uint64_t flow;
	int dir, syn, closed, why;
	char log[LOG_MAX];
	size_t len;
	bool last_gap;
	uint64_t last_gap_n;
	size_t last_gap_at;
	uint64_t data_ts[16];
	int nts;
	/* image mode (stress) */
	uint8_t *img, *cov; /* cov: 1 = delivered, 2 = gap */
	uint64_t cap, pos, gap_bytes, data_bytes;
};

struct rec {
	struct rstream st[MAX_STREAMS];
	int n, opens, closes;
	int why_count[8];
	void (*on_open)(struct rec *r, struct rstream *rs);
	void *arg;
};

struct user {
	int idx;
	uint8_t junk[USER_SIZE - sizeof(int)];
};

static void r_append(struct rstream *rs, const char *s, size_t n)
{
	assert_true(rs->len + n < LOG_MAX);
	memcpy(rs->log + rs->len, s, n);
	rs->len += n;
	rs->log[rs->len] = 0;
}

static void r_open(void *ctx, struct mbx_stream *s, uint64_t ts)
{
	struct rec *r = ctx;
	struct user *u = mbx_stream_user(s);
	(void)ts;
	/* the user area is zeroed before open (close() scribbles on it) */
	for (size_t i = 0; i < sizeof(*u); i++)
		assert_int_equal(((uint8_t *)u)[i], 0);
	assert_true(((uintptr_t)u & 15) == 0);
	assert_true(r->n < MAX_STREAMS);
	u->idx = r->n;
	struct rstream *rs = &r->st[r->n++];
	memset(rs, 0, sizeof(*rs));
	rs->flow = s->flow;
	rs->dir = s->dir;
	rs->syn = s->syn_seen;
	assert_int_equal(s->closing, 0);
	r->opens++;
	if (r->on_open)
		r->on_open(r, rs);
}

static struct rstream *r_of(struct rec *r, struct mbx_stream *s)
{
	struct user *u = mbx_stream_user(s);
	assert_true(u->idx >= 0 && u->idx < r->n);
	struct rstream *rs = &r->st[u->idx];
	assert_int_equal(rs->flow, s->flow);
	assert_false(rs->closed);
	return rs;
}

static void r_data(void *ctx, struct mbx_stream *s, const uint8_t *p, uint32_t n, uint64_t ts)
{
	struct rstream *rs = r_of(ctx, s);
	assert_true(n > 0);
	rs->last_gap = false;
	if (rs->nts < 16)
		rs->data_ts[rs->nts++] = ts;
	if (rs->img) {
		assert_true(rs->pos + n <= rs->cap);
		memcpy(rs->img + rs->pos, p, n);
		memset(rs->cov + rs->pos, 1, n);
		rs->pos += n;
		rs->data_bytes += n;
		return;
	}
	r_append(rs, (const char *)p, n);
}

static void r_gap(void *ctx, struct mbx_stream *s, uint64_t n, uint64_t ts)
{
	struct rstream *rs = r_of(ctx, s);
	char buf[64];
	(void)ts;
	assert_true(n > 0);
	rs->gap_bytes += n;
	if (rs->img) {
		assert_true(rs->pos + n <= rs->cap);
		memset(rs->cov + rs->pos, 2, n);
		rs->pos += n;
		return;
	}
	/* adjacent gaps are one gap to the consumer: merge them in the log */
	if (rs->last_gap) {
		rs->len = rs->last_gap_at;
		n += rs->last_gap_n;
	}
	rs->last_gap = true;
	rs->last_gap_at = rs->len;
	rs->last_gap_n = n;
	int k = snprintf(buf, sizeof(buf), "[gap %llu]", (unsigned long long)n);
	r_append(rs, buf, (size_t)k);
}

static void r_close(void *ctx, struct mbx_stream *s, enum mbx_close_why why, uint64_t ts)
{
	struct rec *r = ctx;
	struct rstream *rs = r_of(r, s);
	static const char *const names[] = {"?", "<FIN>", "<RST>", "<IDLE>", "<EVICT>", "<END>",
					     "<REUSED>"};
	(void)ts;
	assert_true(why >= 1 && why <= 6);
	if (!rs->img)
		r_append(rs, names[why], strlen(names[why]));
	rs->closed = 1;
	rs->why = why;
	r->closes++;
	r->why_count[why]++;
	memset(mbx_stream_user(s), 0xa5, USER_SIZE);
}

static const struct mbx_stream_ops rec_ops = {
    .open = r_open,
    .data = r_data,
    .gap = r_gap,
    .close = r_close,
};

/* ---- segments ---- */

struct conn {
	uint8_t cli[16], srv[16];
	uint16_t cport, sport;
	uint32_t cisn, sisn;
};

static void addr4(uint8_t a[16], uint32_t ip)
{
	memset(a, 0, 10);
	a[10] = a[11] = 0xff;
	mbx_wr32be(a + 12, ip);
}

static struct conn conn4(uint16_t cport, uint32_t cisn)
{
	struct conn c = {.cport = cport, .sport = 11211, .cisn = cisn, .sisn = 90000};
	addr4(c.cli, 0x0a000002);
	addr4(c.srv, 0x0a000001);
	return c;
}

static struct conn conn6(uint16_t cport, uint32_t cisn)
{
	struct conn c = {.cport = cport, .sport = 11211, .cisn = cisn, .sisn = 77};
	c.cli[0] = 0x20;
	c.cli[1] = 0x01;
	c.cli[15] = 2;
	c.srv[0] = 0x20;
	c.srv[1] = 0x01;
	c.srv[15] = 1;
	return c;
}

static struct mbx_tcpseg mk(const struct conn *c, bool c2s, uint32_t seq, uint8_t flags,
			    const void *p, uint32_t len)
{
	struct mbx_tcpseg g = {0};
	memcpy(g.saddr, c2s ? c->cli : c->srv, 16);
	memcpy(g.daddr, c2s ? c->srv : c->cli, 16);
	g.sport = c2s ? c->cport : c->sport;
	g.dport = c2s ? c->sport : c->cport;
	g.seq = seq;
	g.ack = 1;
	g.tcp_flags = (uint8_t)(flags | MBX_TCP_ACK);
	g.ip_version = c->cli[10] == 0xff ? 4 : 6;
	g.payload = p;
	g.payload_len = len;
	g.payload_wire = len;
	return g;
}

/* Client bytes at stream offset off (0 = first byte after the SYN). */
static void cs(struct mbx_flowtab *ft, const struct conn *c, uint32_t off, uint8_t flags,
	       const char *s, uint64_t ts)
{
	struct mbx_tcpseg g = mk(c, true, c->cisn + 1 + off, flags, s, (uint32_t)strlen(s));
	mbx_flowtab_input(ft, &g, ts);
}

static void sc(struct mbx_flowtab *ft, const struct conn *c, uint32_t off, uint8_t flags,
	       const char *s, uint64_t ts)
{
	struct mbx_tcpseg g = mk(c, false, c->sisn + 1 + off, flags, s, (uint32_t)strlen(s));
	mbx_flowtab_input(ft, &g, ts);
}

static void syn(struct mbx_flowtab *ft, const struct conn *c, uint64_t ts)
{
	struct mbx_tcpseg g = mk(c, true, c->cisn, MBX_TCP_SYN, NULL, 0);
	g.tcp_flags = MBX_TCP_SYN; /* no ACK on a client SYN */
	mbx_flowtab_input(ft, &g, ts);
}

static void synack(struct mbx_flowtab *ft, const struct conn *c, uint64_t ts)
{
	struct mbx_tcpseg g = mk(c, false, c->sisn, MBX_TCP_SYN, NULL, 0);
	mbx_flowtab_input(ft, &g, ts);
}

/* ---- table ---- */

struct fx {
	struct rec *r;
	struct mbx_counters ctr;
	struct mbx_flowtab_cfg cfg;
	struct mbx_flowtab *ft;
};

static void fx_cfg(struct fx *f)
{
	mbx_flowtab_cfg_defaults(&f->cfg);
	f->cfg.max_flows = 64;
	f->cfg.ooo_total_bytes = 4 << 20;
	f->cfg.port_map = portmap;
	f->cfg.flow_key = fkey;
	f->cfg.user_size = USER_SIZE;
	f->cfg.ops = &rec_ops;
	f->cfg.ctr = &f->ctr;
}

/* Create with f->cfg as already adjusted. */
static void fx_start(struct fx *f)
{
	if (!f->r)
		f->r = calloc(1, sizeof(*f->r));
	assert_non_null(f->r);
	memset(&f->ctr, 0, sizeof(f->ctr));
	f->cfg.ops_ctx = f->r;
	f->ft = mbx_flowtab_create(&f->cfg);
	assert_non_null(f->ft);
}

static void fx_init(struct fx *f)
{
	memset(f, 0, sizeof(*f));
	fx_cfg(f);
	fx_start(f);
}

static void fx_fini(struct fx *f)
{
	mbx_flowtab_destroy(f->ft);
	f->ft = NULL;
	free(f->r);
	f->r = NULL;
}

static const char *LOG(struct fx *f, int i)
{
	assert_true(i < f->r->n);
	return f->r->st[i].log;
}

/* ---- tests ---- */

static void in_order_both_directions(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct conn c = conn4(40000, 1000);

	syn(f.ft, &c, 1);
	synack(f.ft, &c, 2);
	assert_int_equal(f.r->n, 2);
	assert_int_equal(f.r->st[0].dir, MBX_DIR_REQ);
	assert_int_equal(f.r->st[1].dir, MBX_DIR_RSP);
	assert_int_equal(f.r->st[0].syn, 1);
	assert_int_equal(f.r->st[1].syn, 1);
	cs(f.ft, &c, 0, 0, "get ", 3);
	cs(f.ft, &c, 4, MBX_TCP_PSH, "foo\r\n", 4);
	sc(f.ft, &c, 0, 0, "END\r\n", 5);
	cs(f.ft, &c, 9, 0, "", 6); /* pure ACK */
	assert_string_equal(LOG(&f, 0), "get foo\r\n");
	assert_string_equal(LOG(&f, 1), "END\r\n");
	assert_int_equal(f.ctr.flows_created, 2);
	assert_int_equal(f.ctr.flows_midstream, 0);
	assert_int_equal(f.ctr.seg_payload, 3);
	assert_int_equal(f.ctr.gaps, 0);
	assert_int_equal(mbx_flowtab_count(f.ft), 2);
	mbx_flowtab_flush(f.ft, 10);
	assert_string_equal(LOG(&f, 0), "get foo\r\n<END>");
	assert_string_equal(LOG(&f, 1), "END\r\n<END>");
	assert_int_equal(mbx_flowtab_count(f.ft), 0);
	assert_int_equal(f.ctr.flows_closed + f.ctr.flows_idle + f.ctr.flows_evicted, 0);
	fx_fini(&f);
}

/* Every order of five segments (FIN on the last one), at an ordinary ISN
 * and at one where the stream crosses 2^32 in its middle. */
static void reorder_all_permutations(void **state)
{
	(void)state;
	static const char *const segs[5] = {"ab", "cde", "f", "ghij", "klm"};
	static const uint32_t offs[5] = {0, 2, 5, 6, 10};
	static const uint32_t isns[2] = {1000, 0xfffffff8u}; /* 0xfffffff9 + 7 wraps */
	int perm[5];
	struct fx f;

	for (int iv = 0; iv < 2; iv++) {
		memset(&f, 0, sizeof(f));
		fx_cfg(&f);
		f.cfg.max_flows = 256;
		fx_start(&f);
		uint64_t expect_ooo = 0;
		int nperm = 0;
		/* Heap's algorithm would do; nested loops are clearer */
		for (int a = 0; a < 5; a++)
			for (int b = 0; b < 5; b++)
				for (int cc = 0; cc < 5; cc++)
					for (int d = 0; d < 5; d++)
						for (int e = 0; e < 5; e++) {
							int p[5] = {a, b, cc, d, e}, seen = 0;
							for (int i = 0; i < 5; i++)
								seen |= 1 << p[i];
							if (seen != 31)
								continue;
							memcpy(perm, p, sizeof(perm));
							struct conn c = conn4(
							    (uint16_t)(1000 + nperm), isns[iv]);
							syn(f.ft, &c, 1);
							int arrived = 0;
							for (int i = 0; i < 5; i++) {
								int s = perm[i];
								/* ahead if an earlier segment is
								 * missing */
								if ((arrived & ((1 << s) - 1)) !=
								    (1 << s) - 1)
									expect_ooo++;
								arrived |= 1 << s;
								cs(f.ft, &c, offs[s],
								   s == 4 ? MBX_TCP_FIN : 0,
								   segs[s], (uint64_t)(2 + i));
							}
							assert_string_equal(LOG(&f, nperm),
									    "abcdefghijklm<FIN>");
							nperm++;
						}
		assert_int_equal(nperm, 120);
		assert_int_equal(f.ctr.seg_ooo, expect_ooo);
		assert_int_equal(f.ctr.flows_closed, 120);
		assert_int_equal(f.ctr.gaps, 0);
		assert_int_equal(f.ctr.seg_retrans + f.ctr.seg_overlap, 0);
		assert_int_equal(mbx_flowtab_count(f.ft), 0);
		fx_fini(&f);
	}
}

static void retransmissions(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct conn c = conn4(40001, 5);

	syn(f.ft, &c, 1);
	syn(f.ft, &c, 2); /* SYN retransmitted: same stream */
	cs(f.ft, &c, 0, 0, "abc", 3);
	cs(f.ft, &c, 3, 0, "def", 4);
	cs(f.ft, &c, 0, 0, "abc", 5); /* old */
	cs(f.ft, &c, 9, 0, "jkl", 6); /* held */
	cs(f.ft, &c, 9, 0, "JKL", 7); /* duplicate of held data: first copy wins */
	cs(f.ft, &c, 3, 0, "def", 8); /* old */
	assert_string_equal(LOG(&f, 0), "abcdef");
	cs(f.ft, &c, 6, 0, "ghi", 9);
	assert_string_equal(LOG(&f, 0), "abcdefghijkl");
	assert_int_equal(f.ctr.seg_retrans, 3);
	assert_int_equal(f.ctr.seg_ooo, 1);
	assert_int_equal(f.ctr.seg_overlap, 0);
	assert_int_equal(f.r->opens, 1);
	assert_int_equal(f.ctr.gaps, 0);
	fx_fini(&f);
}

static void overlaps(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);

	/* left overlap on the in-order path: only the new part is delivered */
	struct conn c = conn4(1, 100);
	syn(f.ft, &c, 1);
	cs(f.ft, &c, 0, 0, "abcdef", 2);
	cs(f.ft, &c, 3, 0, "DEFghi", 3);
	assert_string_equal(LOG(&f, 0), "abcdefghi");
	assert_int_equal(f.ctr.seg_overlap, 1);

	/* right overlap with held data: held bytes win */
	c = conn4(2, 100);
	syn(f.ft, &c, 1);
	cs(f.ft, &c, 4, 0, "eeff", 2);
	cs(f.ft, &c, 2, 0, "CCEE", 3);
	assert_string_equal(LOG(&f, 1), "");
	cs(f.ft, &c, 0, 0, "aa", 4);
	assert_string_equal(LOG(&f, 1), "aaCCeeff");
	assert_int_equal(f.ctr.seg_overlap, 2);

	/* a segment inside held data */
	c = conn4(3, 100);
	syn(f.ft, &c, 1);
	cs(f.ft, &c, 2, 0, "xxxxxxxx", 2);
	cs(f.ft, &c, 4, 0, "YY", 3);
	cs(f.ft, &c, 0, 0, "ab", 4);
	assert_string_equal(LOG(&f, 2), "abxxxxxxxx");
	assert_int_equal(f.ctr.seg_retrans, 1);

	/* one segment across several held pieces fills only the holes */
	c = conn4(4, 0xfffffffa); /* and across the wrap */
	syn(f.ft, &c, 1);
	cs(f.ft, &c, 2, 0, "bb", 2);
	cs(f.ft, &c, 6, 0, "dd", 3);
	cs(f.ft, &c, 10, 0, "ff", 4);
	cs(f.ft, &c, 1, 0, "ABBCCDDEEFFG", 5);
	assert_string_equal(LOG(&f, 3), "");
	cs(f.ft, &c, 0, 0, "z", 6);
	assert_string_equal(LOG(&f, 3), "zAbbCCddEEffG");

	/* an in-order segment that covers held data: held bytes still win */
	c = conn4(5, 100);
	syn(f.ft, &c, 1);
	cs(f.ft, &c, 4, 0, "XX", 2);
	cs(f.ft, &c, 9, 0, "YY", 3);
	cs(f.ft, &c, 0, 0, "abcdefgh", 4);
	assert_string_equal(LOG(&f, 4), "abcdXXgh");
	cs(f.ft, &c, 6, 0, "ghiZZ", 5); /* ends inside held "YY" */
	assert_string_equal(LOG(&f, 4), "abcdXXghiYY");
	assert_int_equal(f.ctr.gaps, 0);
	mbx_flowtab_flush(f.ft, 10);
	fx_fini(&f);
}

/* Held data is delivered when the hole fills, at the time the bytes became
 * available in order: the running maximum of the capture times, so a
 * stream's deliveries never go back in time (regression: two swapped
 * segments made two requests of one connection change order downstream). */
static void late_fill_time_is_running_max(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct conn c = conn4(7, 7);

	syn(f.ft, &c, 1);
	cs(f.ft, &c, 0, 0, "aaa", 10);
	cs(f.ft, &c, 6, 0, "ccc", 30);
	cs(f.ft, &c, 9, 0, "ddd", 40);
	assert_string_equal(LOG(&f, 0), "aaa");
	cs(f.ft, &c, 3, 0, "bbb", 50);
	assert_string_equal(LOG(&f, 0), "aaabbbcccddd");
	struct rstream *rs = &f.r->st[0];
	assert_int_equal(rs->nts, 4);
	assert_int_equal(rs->data_ts[0], 10);
	assert_int_equal(rs->data_ts[1], 50);
	assert_int_equal(rs->data_ts[2], 50);
	assert_int_equal(rs->data_ts[3], 50);
	cs(f.ft, &c, 12, 0, "eee", 60);
	assert_int_equal(rs->data_ts[4], 60);
	fx_fini(&f);
}

static void hole_never_fills_segment_bound(void **state)
{
	(void)state;
	struct fx f;
	memset(&f, 0, sizeof(f));
	fx_cfg(&f);
	f.cfg.ooo_max_segs = 3;
	fx_start(&f);
	struct conn c = conn4(8, 0xfffffffc); /* the hole straddles 2^32 */

	syn(f.ft, &c, 1);
	cs(f.ft, &c, 0, 0, "aa", 2);
	cs(f.ft, &c, 4, 0, "cc", 3);
	cs(f.ft, &c, 6, 0, "dd", 4);
	cs(f.ft, &c, 8, 0, "ee", 5);
	assert_string_equal(LOG(&f, 0), "aa");
	cs(f.ft, &c, 10, 0, "ff", 6); /* a 4th held segment: give up the hole */
	assert_string_equal(LOG(&f, 0), "aa[gap 2]ccddeeff");
	cs(f.ft, &c, 12, 0, "gg", 7);
	cs(f.ft, &c, 2, 0, "bb", 8); /* the lost bytes, too late */
	assert_string_equal(LOG(&f, 0), "aa[gap 2]ccddeeffgg");
	assert_int_equal(f.ctr.gaps, 1);
	assert_int_equal(f.ctr.gap_bytes, 2);
	assert_int_equal(f.ctr.seg_ooo_drop, 1);
	assert_int_equal(f.ctr.seg_retrans, 1);

	/* bound reached by a segment that lies inside the first hole: only the
	 * bytes before it are lost */
	c = conn4(9, 50);
	syn(f.ft, &c, 1);
	cs(f.ft, &c, 10, 0, "kk", 2);
	cs(f.ft, &c, 12, 0, "ll", 3);
	cs(f.ft, &c, 14, 0, "mm", 4);
	cs(f.ft, &c, 4, 0, "ee", 5);
	assert_string_equal(LOG(&f, 1), "[gap 4]ee");
	cs(f.ft, &c, 6, 0, "ffggHH", 6); /* "HH" overlaps held "kk": first copy wins */
	assert_string_equal(LOG(&f, 1), "[gap 4]eeffggkkllmm");
	fx_fini(&f);
}

static void hole_never_fills_byte_bounds(void **state)
{
	(void)state;
	struct fx f;
	memset(&f, 0, sizeof(f));
	fx_cfg(&f);
	f.cfg.ooo_max_bytes = 10;
	f.cfg.ooo_total_bytes = 2 * 512; /* two chunks for the whole table */
	fx_start(&f);
	struct conn c = conn4(10, 1);

	/* per stream: 4 + 4 bytes held, the next 4 do not fit */
	syn(f.ft, &c, 1);
	cs(f.ft, &c, 0, 0, "a", 2);
	cs(f.ft, &c, 3, 0, "dddd", 3);
	cs(f.ft, &c, 7, 0, "hhhh", 4);
	cs(f.ft, &c, 11, 0, "llll", 5);
	assert_string_equal(LOG(&f, 0), "a[gap 2]ddddhhhhllll");
	assert_int_equal(f.ctr.gap_bytes, 2);

	assert_int_equal(f.ctr.gaps, 1);
	assert_int_equal(f.ctr.gap_bytes, 2);
	fx_fini(&f);

	/* per table: two chunks in all, stream b holds them, d cannot hold */
	memset(&f, 0, sizeof(f));
	fx_cfg(&f);
	f.cfg.ooo_total_bytes = 2 * 512;
	fx_start(&f);
	struct conn b = conn4(11, 1), d = conn4(12, 1);
	char big[700];
	memset(big, 'B', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	syn(f.ft, &b, 1);
	syn(f.ft, &d, 1);
	cs(f.ft, &b, 5, 0, "xx", 2);
	cs(f.ft, &b, 10, 0, "yy", 2);
	cs(f.ft, &d, 3, 0, "zz", 3); /* no chunk left */
	assert_string_equal(LOG(&f, 1), "[gap 3]zz");
	cs(f.ft, &b, 0, 0, "01234", 4);
	cs(f.ft, &b, 7, 0, "abc", 4);
	assert_string_equal(LOG(&f, 0), "01234xxabcyy");
	/* chunks are back; 699 bytes take both */
	cs(f.ft, &b, 14, 0, big, 5);
	cs(f.ft, &d, 7, 0, "ww", 6);
	assert_string_equal(LOG(&f, 1), "[gap 3]zz[gap 2]ww");
	cs(f.ft, &b, 12, 0, "HH", 7);
	assert_memory_equal(LOG(&f, 0) + 12, "HH", 2);
	assert_int_equal(strlen(LOG(&f, 0)), 14 + strlen(big));
	assert_memory_equal(LOG(&f, 0) + 14, big, strlen(big));
	assert_int_equal(f.ctr.gaps, 2);
	assert_int_equal(f.ctr.gap_bytes, 5);
	assert_int_equal(f.ctr.seg_ooo_drop, 2);
	fx_fini(&f);
}

static void too_far_resynchronises(void **state)
{
	(void)state;
	struct fx f;
	memset(&f, 0, sizeof(f));
	fx_cfg(&f);
	f.cfg.max_window = 1000;
	fx_start(&f);
	struct conn c = conn4(13, 0xffffff00);

	syn(f.ft, &c, 1);
	cs(f.ft, &c, 0, 0, "ab", 2);
	cs(f.ft, &c, 600, 0, "held", 3); /* within the window: held */
	cs(f.ft, &c, 5002, 0, "far", 4); /* 5000 past next_seq: resync */
	assert_string_equal(LOG(&f, 0), "ab[gap 598]held[gap 4398]far");
	cs(f.ft, &c, 5005, 0, "x", 5);
	/* far behind is not a retransmission either: the gap is the forward
	 * distance in sequence space */
	cs(f.ft, &c, 5006 - 3000, 0, "back", 6);
	char expect[128];
	snprintf(expect, sizeof(expect), "ab[gap 598]held[gap 4398]farx[gap %u]back",
		 (unsigned)(UINT32_C(0) - 3000));
	assert_string_equal(LOG(&f, 0), expect);
	assert_int_equal(f.ctr.seg_ooo_drop, 2);
	fx_fini(&f);
}

static void hole_wait_timeout(void **state)
{
	(void)state;
	struct fx f;
	memset(&f, 0, sizeof(f));
	fx_cfg(&f);
	f.cfg.ooo_max_wait_ns = 1 * SEC;
	fx_start(&f);
	struct conn c = conn4(14, 9);

	syn(f.ft, &c, 0);
	cs(f.ft, &c, 0, 0, "aa", 10 * MS);
	cs(f.ft, &c, 4, 0, "cc", 100 * MS);
	cs(f.ft, &c, 8, 0, "ee", 800 * MS);
	mbx_flowtab_expire(f.ft, 500 * MS);
	assert_string_equal(LOG(&f, 0), "aa");
	mbx_flowtab_expire(f.ft, 1200 * MS); /* "cc" waited 1.1 s, "ee" 0.4 s */
	assert_string_equal(LOG(&f, 0), "aa[gap 2]cc");
	mbx_flowtab_expire(f.ft, 1900 * MS);
	assert_string_equal(LOG(&f, 0), "aa[gap 2]cc[gap 2]ee");
	/* a FIN beyond a hole, with nothing held: closes after the wait */
	cs(f.ft, &c, 12, MBX_TCP_FIN, "", 2000 * MS);
	mbx_flowtab_expire(f.ft, 2500 * MS);
	assert_int_equal(f.r->closes, 0);
	mbx_flowtab_expire(f.ft, 3100 * MS);
	assert_string_equal(LOG(&f, 0), "aa[gap 2]cc[gap 2]ee[gap 2]<FIN>");
	assert_int_equal(f.ctr.flows_closed, 1);
	assert_int_equal(f.ctr.seg_ooo_drop, 3);
	fx_fini(&f);
}

static void wraparound_in_order(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct conn c = conn4(15, 0xfffffff9);

	syn(f.ft, &c, 1);
	for (uint32_t i = 0; i < 10; i++) {
		char s[3] = {(char)('a' + i), (char)('A' + i), 0};
		cs(f.ft, &c, 2 * i, 0, s, 2 + i);
	}
	assert_string_equal(LOG(&f, 0), "aAbBcCdDeEfFgGhHiIjJ");
	cs(f.ft, &c, 18, MBX_TCP_FIN, "jJ", 20);
	assert_string_equal(LOG(&f, 0), "aAbBcCdDeEfFgGhHiIjJ<FIN>");
	assert_int_equal(f.ctr.seg_retrans, 1);
	assert_int_equal(f.ctr.gaps, 0);
	fx_fini(&f);
}

static void midstream_and_pure_acks(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct conn c = conn4(16, 777);

	cs(f.ft, &c, 0, 0, "", 1);	     /* pure ACK: no entry */
	cs(f.ft, &c, 0, MBX_TCP_FIN, "", 2); /* empty FIN: no entry */
	assert_int_equal(mbx_flowtab_count(f.ft), 0);
	assert_int_equal(f.ctr.flows_created, 0);
	cs(f.ft, &c, 100, 0, "lue\r\n", 3);
	assert_int_equal(f.r->n, 1);
	assert_int_equal(f.r->st[0].syn, 0);
	assert_int_equal(f.ctr.flows_midstream, 1);
	cs(f.ft, &c, 105, 0, "get x\r\n", 4);
	cs(f.ft, &c, 95, 0, "ue\r\nX", 5); /* before the start: old */
	assert_string_equal(LOG(&f, 0), "lue\r\nget x\r\n");
	/* a SYN whose ISN is just before the first byte seen is this
	 * connection's: it does not restart the stream */
	c.cisn += 100;
	syn(f.ft, &c, 6);
	assert_int_equal(f.r->opens, 1);
	assert_int_equal(f.r->st[0].syn, 0);
	cs(f.ft, &c, 12, 0, "\r\n", 7);
	assert_string_equal(LOG(&f, 0), "lue\r\nget x\r\n\r\n");
	/* any other ISN is a new connection on this tuple */
	c.cisn += 5;
	syn(f.ft, &c, 8);
	assert_int_equal(f.r->opens, 2);
	assert_string_equal(LOG(&f, 0), "lue\r\nget x\r\n\r\n<REUSED>");
	assert_int_equal(f.ctr.flows_reused, 1);
	assert_int_equal(f.ctr.seg_payload, 4);
	fx_fini(&f);
}

static void syn_isn_and_reuse(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct conn c = conn4(17, 1000);

	/* a SYN with a new ISN before any data: the new ISN counts */
	syn(f.ft, &c, 1);
	c.cisn = 2000;
	syn(f.ft, &c, 2);
	cs(f.ft, &c, 0, 0, "one", 3);
	assert_int_equal(f.r->opens, 1);
	assert_string_equal(LOG(&f, 0), "one");

	/* FIN, then the tuple is reused by a new connection */
	cs(f.ft, &c, 3, MBX_TCP_FIN, "", 4);
	assert_string_equal(LOG(&f, 0), "one<FIN>");
	cs(f.ft, &c, 0, 0, "one", 5); /* retransmission after close */
	assert_int_equal(f.ctr.seg_after_close, 1);
	syn(f.ft, &c, 6); /* the old SYN, late: ignored */
	assert_int_equal(f.r->opens, 1);
	c.cisn = 50000;
	syn(f.ft, &c, 7);
	cs(f.ft, &c, 0, 0, "two", 8);
	assert_int_equal(f.r->opens, 2);
	assert_int_equal(f.r->st[1].syn, 1);
	assert_int_equal(f.r->st[0].flow, f.r->st[1].flow);
	assert_string_equal(LOG(&f, 1), "two");

	/* a SYN with another ISN on a stream with data: new connection, the old
	 * one is closed first (held data and holes delivered) */
	cs(f.ft, &c, 5, 0, "held", 9);
	c.cisn = 7;
	syn(f.ft, &c, 10);
	cs(f.ft, &c, 0, 0, "three", 11);
	assert_string_equal(LOG(&f, 1), "two[gap 2]held<REUSED>");
	assert_string_equal(LOG(&f, 2), "three");
	assert_int_equal(f.ctr.flows_reused, 1);
	assert_int_equal(f.ctr.flows_evicted, 0);

	/* closed by FIN with a hole pending: a new SYN closes it as FIN */
	cs(f.ft, &c, 8, MBX_TCP_FIN, "x", 12);
	c.cisn = 9999;
	syn(f.ft, &c, 13);
	assert_string_equal(LOG(&f, 2), "three[gap 3]x<FIN>");
	assert_int_equal(f.r->opens, 4);

	/* after a close, data far from the old stream is a new connection whose
	 * SYN we missed */
	cs(f.ft, &c, 0, MBX_TCP_FIN, "", 14);
	assert_string_equal(LOG(&f, 3), "<FIN>");
	c.cisn += 0x80000000u;
	cs(f.ft, &c, 0, 0, "four", 15);
	assert_int_equal(f.r->opens, 5);
	assert_int_equal(f.r->st[4].syn, 0);
	assert_string_equal(LOG(&f, 4), "four");
	assert_int_equal(mbx_flowtab_count(f.ft), 1);
	assert_int_equal(f.ctr.flows_created, 5);
	assert_int_equal(f.ctr.flows_closed, 3);
	fx_fini(&f);
}

static void fin_cases(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);

	/* no hole: closes at once */
	struct conn c = conn4(20, 1);
	syn(f.ft, &c, 1);
	cs(f.ft, &c, 0, MBX_TCP_FIN, "abc", 2);
	assert_string_equal(LOG(&f, 0), "abc<FIN>");
	assert_int_equal(mbx_flowtab_count(f.ft), 0);
	cs(f.ft, &c, 3, 0, "zzz", 3); /* after the FIN */
	cs(f.ft, &c, 3, MBX_TCP_FIN, "", 4);
	assert_int_equal(f.ctr.seg_after_close, 1);
	assert_int_equal(f.r->closes, 1);

	/* FIN ahead of a hole: waits, closes when the hole fills */
	c = conn4(21, 1);
	syn(f.ft, &c, 1);
	cs(f.ft, &c, 0, 0, "abc", 2);
	cs(f.ft, &c, 6, MBX_TCP_FIN, "ghi", 3);
	assert_string_equal(LOG(&f, 1), "abc");
	assert_int_equal(f.r->closes, 1);
	cs(f.ft, &c, 3, 0, "defXX", 4); /* runs past the FIN: clipped */
	assert_string_equal(LOG(&f, 1), "abcdefghi<FIN>");

	/* data beyond a pending FIN is not delivered */
	c = conn4(22, 1);
	syn(f.ft, &c, 1);
	cs(f.ft, &c, 0, 0, "abc", 2);
	cs(f.ft, &c, 6, MBX_TCP_FIN, "", 3);
	cs(f.ft, &c, 6, 0, "late", 4);
	assert_int_equal(f.ctr.seg_after_close, 2);

	/* FIN with a hole that never fills: end of capture */
	struct conn d = conn4(23, 1);
	syn(f.ft, &d, 1);
	cs(f.ft, &d, 0, 0, "abc", 2);
	cs(f.ft, &d, 6, MBX_TCP_FIN, "ghi", 3);
	cs(f.ft, &c, 3, 0, "def", 4);
	assert_string_equal(LOG(&f, 2), "abcdef<FIN>");
	mbx_flowtab_flush(f.ft, 100);
	assert_string_equal(LOG(&f, 3), "abc[gap 3]ghi<END>");

	/* ... or idle: closed as FIN (it did end), counted in flows_closed */
	struct conn e = conn4(24, 1);
	syn(f.ft, &e, 1 * SEC);
	cs(f.ft, &e, 0, 0, "abc", 1 * SEC);
	cs(f.ft, &e, 10, MBX_TCP_FIN, "", 1 * SEC);
	uint64_t closed = f.ctr.flows_closed;
	mbx_flowtab_expire(f.ft, 1000 * SEC);
	assert_string_equal(LOG(&f, 4), "abc[gap 7]<FIN>");
	assert_int_equal(f.ctr.flows_closed, closed + 1);
	assert_int_equal(f.ctr.flows_idle, 0);
	fx_fini(&f);
}

static void rst_closes_both_directions(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct conn c = conn6(30, 1);

	syn(f.ft, &c, 1);
	synack(f.ft, &c, 2);
	cs(f.ft, &c, 0, 0, "abc", 3);
	cs(f.ft, &c, 6, 0, "ghi", 4);
	sc(f.ft, &c, 0, 0, "xyz", 5);
	sc(f.ft, &c, 3, MBX_TCP_RST, "", 6);
	assert_string_equal(LOG(&f, 0), "abc[gap 3]ghi<RST>");
	assert_string_equal(LOG(&f, 1), "xyz<RST>");
	assert_int_equal(f.ctr.flows_closed, 2);
	assert_int_equal(mbx_flowtab_count(f.ft), 0);
	cs(f.ft, &c, 9, 0, "more", 7);
	assert_int_equal(f.ctr.seg_after_close, 1);

	/* a RST from a direction we never tracked closes the other one */
	struct conn d = conn4(31, 1);
	cs(f.ft, &d, 0, 0, "req", 8);
	sc(f.ft, &d, 0, MBX_TCP_RST, "", 9);
	assert_string_equal(LOG(&f, 2), "req<RST>");
	assert_int_equal(f.r->opens, 3);
	fx_fini(&f);
}

static void idle_expiry(void **state)
{
	(void)state;
	struct fx f;
	memset(&f, 0, sizeof(f));
	fx_cfg(&f);
	f.cfg.idle_timeout_ns = 1 * SEC;
	fx_start(&f);
	struct conn a = conn4(40, 1), b = conn4(41, 1);

	cs(f.ft, &a, 0, 0, "a", 50 * MS);
	cs(f.ft, &b, 0, 0, "b", 60 * MS);
	cs(f.ft, &a, 1, 0, "", 100 * MS); /* an ACK keeps a alive */
	cs(f.ft, &b, 1, 0, "B", 200 * MS);
	mbx_flowtab_expire(f.ft, 1150 * MS);
	assert_string_equal(LOG(&f, 0), "a<IDLE>");
	assert_string_equal(LOG(&f, 1), "bB");
	mbx_flowtab_expire(f.ft, 1210 * MS); /* b is due, but < 100 ms since last run */
	assert_string_equal(LOG(&f, 1), "bB");
	mbx_flowtab_expire(f.ft, 1260 * MS);
	assert_string_equal(LOG(&f, 1), "bB<IDLE>");
	assert_int_equal(f.ctr.flows_idle, 2);
	assert_int_equal(mbx_flowtab_count(f.ft), 0);
	/* an idle-closed connection that speaks again is a new midstream one */
	cs(f.ft, &a, 1, 0, "again", 2 * SEC);
	assert_string_equal(LOG(&f, 2), "again");
	assert_int_equal(f.ctr.seg_after_close, 0);
	assert_int_equal(f.ctr.flows_midstream, 3);
	fx_fini(&f);
}

static void eviction_lru(void **state)
{
	(void)state;
	struct fx f;
	memset(&f, 0, sizeof(f));
	fx_cfg(&f);
	f.cfg.max_flows = 3;
	fx_start(&f);
	struct conn a = conn4(50, 1), b = conn4(51, 1), c = conn4(52, 1), d = conn4(53, 1),
		    e = conn4(54, 1), g = conn4(55, 1);

	cs(f.ft, &a, 0, 0, "a", 1 * SEC);
	cs(f.ft, &b, 0, 0, "b", 2 * SEC);
	cs(f.ft, &b, 4, 0, "held", 2 * SEC);
	cs(f.ft, &c, 0, 0, "c", 3 * SEC);
	cs(f.ft, &a, 1, 0, "", 3200 * MS); /* a used again: b is now the oldest */
	/* c used 0.5 s after it was last moved to the head: within the LRU
	 * grain (1 s), it keeps its place behind a */
	cs(f.ft, &c, 1, 0, "", 3500 * MS);
	cs(f.ft, &d, 0, 0, "d", 5 * SEC);
	assert_string_equal(LOG(&f, 1), "b[gap 3]held<EVICT>");
	assert_int_equal(f.ctr.flows_evicted, 1);
	cs(f.ft, &e, 0, 0, "e", 6 * SEC);
	assert_string_equal(LOG(&f, 2), "c<EVICT>"); /* last moved at 3 s */
	assert_string_equal(LOG(&f, 0), "a");
	assert_int_equal(f.ctr.flows_evicted, 2);
	assert_int_equal(mbx_flowtab_count(f.ft), 3);
	/* a closed stream goes before any live one, silently */
	cs(f.ft, &d, 1, MBX_TCP_FIN, "", 7 * SEC);
	cs(f.ft, &a, 1, 0, "A", 8 * SEC);
	cs(f.ft, &g, 0, 0, "g", 9 * SEC);
	assert_string_equal(LOG(&f, 3), "d<FIN>");
	assert_int_equal(f.ctr.flows_evicted, 2);
	assert_int_equal(f.r->closes, 3);
	/* b's entry was reused: its user area was zeroed (r_open checks) and
	 * the evicted stream's late data starts a new one */
	cs(f.ft, &b, 8, 0, "late", 10 * SEC);
	assert_string_equal(LOG(&f, 4), "e<EVICT>");
	assert_string_equal(LOG(&f, 6), "late");
	assert_int_equal(f.ctr.flows_evicted, 3);
	mbx_flowtab_flush(f.ft, 11 * SEC);
	assert_int_equal(f.r->closes, f.r->opens);
	assert_int_equal(f.ctr.flows_created, 7);
	fx_fini(&f);
}

static void flow_hash_both_directions(void **state)
{
	(void)state;
	struct conn c4 = conn4(60000, 1), c6 = conn6(60000, 1);
	struct mbx_tcpseg a = mk(&c4, true, 0, 0, NULL, 0), b = mk(&c4, false, 0, 0, NULL, 0);
	struct mbx_tcpseg x = mk(&c6, true, 0, 0, NULL, 0), y = mk(&c6, false, 0, 0, NULL, 0);
	uint8_t k2[16] = {0};

	assert_int_equal(mbx_flow_hash(fkey, &a), mbx_flow_hash(fkey, &b));
	assert_int_equal(mbx_flow_hash(fkey, &x), mbx_flow_hash(fkey, &y));
	assert_true(mbx_flow_hash(fkey, &a) != mbx_flow_hash(fkey, &x));
	assert_true(mbx_flow_hash(fkey, &a) != 0);
	assert_true(mbx_flow_hash(fkey, &a) != mbx_flow_hash(k2, &a));
	/* ports matter, and swapping only the ports is another connection */
	struct mbx_tcpseg p = a;
	p.sport = a.dport;
	p.dport = a.sport;
	assert_true(mbx_flow_hash(fkey, &p) != mbx_flow_hash(fkey, &a));
	/* equal addresses (loopback): the ports decide the order */
	struct mbx_tcpseg l = a, m;
	memcpy(l.daddr, l.saddr, 16);
	m = l;
	m.sport = l.dport;
	m.dport = l.sport;
	assert_int_equal(mbx_flow_hash(fkey, &l), mbx_flow_hash(fkey, &m));

	/* through the table: both directions, v4 and v6 */
	struct fx f;
	fx_init(&f);
	syn(f.ft, &c4, 1);
	synack(f.ft, &c4, 2);
	syn(f.ft, &c6, 3);
	synack(f.ft, &c6, 4);
	assert_int_equal(f.r->n, 4);
	assert_int_equal(f.r->st[0].flow, f.r->st[1].flow);
	assert_int_equal(f.r->st[2].flow, f.r->st[3].flow);
	assert_int_equal(f.r->st[0].flow, mbx_flow_hash(fkey, &a));
	assert_true(f.r->st[0].flow != f.r->st[2].flow);
	assert_int_equal(f.r->st[0].dir, MBX_DIR_REQ);
	assert_int_equal(f.r->st[1].dir, MBX_DIR_RSP);
	assert_int_equal(f.r->st[2].dir, MBX_DIR_REQ);
	assert_int_equal(f.r->st[3].dir, MBX_DIR_RSP);
	/* same ports, one v4 and one v6 address pair: separate streams */
	cs(f.ft, &c4, 0, 0, "four", 5);
	cs(f.ft, &c6, 0, 0, "six", 6);
	assert_string_equal(LOG(&f, 0), "four");
	assert_string_equal(LOG(&f, 2), "six");
	fx_fini(&f);
}

static void ports(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct conn c = conn4(40000, 1);

	c.sport = 80;
	cs(f.ft, &c, 0, 0, "GET /", 1);
	assert_int_equal(f.ctr.dec_other_port, 1);
	assert_int_equal(f.r->n, 0);
	/* both ports memcache ports: the destination decides (request) */
	c = conn4(11211, 1);
	cs(f.ft, &c, 0, 0, "x", 2);
	assert_int_equal(f.r->st[0].dir, MBX_DIR_REQ);
	fx_fini(&f);
}

static void snapped_segments(void **state)
{
	(void)state;
	struct fx f;
	fx_init(&f);
	struct conn c = conn4(70, 1);
	struct mbx_tcpseg g;

	syn(f.ft, &c, 1);
	g = mk(&c, true, c.cisn + 1, 0, "abcdefXXXX", 10);
	g.payload_len = 6;
	mbx_flowtab_input(f.ft, &g, 2);
	assert_string_equal(LOG(&f, 0), "abcdef[gap 4]");
	cs(f.ft, &c, 10, 0, "xyz", 3);
	/* held, snapped: captured part, then the rest as a gap, in place */
	g = mk(&c, true, c.cisn + 1 + 17, 0, "CCdddd", 6);
	g.payload_len = 2;
	mbx_flowtab_input(f.ft, &g, 4);
	cs(f.ft, &c, 23, 0, "ee", 5);
	cs(f.ft, &c, 13, 0, "wwww", 6);
	assert_string_equal(LOG(&f, 0), "abcdef[gap 4]xyzwwwwCC[gap 4]ee");
	/* a full copy of the snapped bytes, later: old */
	cs(f.ft, &c, 19, 0, "DDDD", 7);
	assert_string_equal(LOG(&f, 0), "abcdef[gap 4]xyzwwwwCC[gap 4]ee");
	/* a segment whose captured part is all old, its new part all snapped */
	g = mk(&c, true, c.cisn + 1 + 23, 0, "eeFFF", 5);
	g.payload_len = 2;
	mbx_flowtab_input(f.ft, &g, 8);
	assert_string_equal(LOG(&f, 0), "abcdef[gap 4]xyzwwwwCC[gap 4]ee[gap 3]");
	assert_int_equal(f.ctr.gap_bytes, 11);
	fx_fini(&f);
}

/* A consumer with only a data callback and no user area. */
static void d_only(void *ctx, struct mbx_stream *s, const uint8_t *p, uint32_t n, uint64_t ts)
{
	(void)s;
	(void)p;
	(void)ts;
	*(uint64_t *)ctx += n;
}

static void minimal_consumer(void **state)
{
	(void)state;
	static const struct mbx_stream_ops ops = {.data = d_only};
	struct mbx_flowtab_cfg cfg;
	struct mbx_counters ctr = {0};
	uint64_t bytes = 0;

	mbx_flowtab_cfg_defaults(&cfg);
	cfg.max_flows = 2;
	cfg.ooo_max_segs = 2;
	cfg.port_map = portmap;
	cfg.flow_key = fkey;
	cfg.ops = &ops;
	cfg.ops_ctx = &bytes;
	cfg.ctr = &ctr;
	struct mbx_flowtab *ft = mbx_flowtab_create(&cfg);
	assert_non_null(ft);
	for (uint16_t i = 0; i < 10; i++) {
		struct conn c = conn4((uint16_t)(100 + i), i);
		syn(ft, &c, i);
		cs(ft, &c, 0, 0, "abc", i);
		cs(ft, &c, 5, 0, "fg", i);
		cs(ft, &c, 9, 0, "jk", i);
		cs(ft, &c, 12, 0, "mn", i); /* bound: gap */
		if (i % 3 == 0)
			cs(ft, &c, 14, MBX_TCP_FIN, "", i);
		if (i % 3 == 1)
			sc(ft, &c, 0, MBX_TCP_RST, "", i);
	}
	mbx_flowtab_expire(ft, 10 * SEC);
	mbx_flowtab_expire(ft, 1000 * SEC);
	mbx_flowtab_flush(ft, 1001 * SEC);
	assert_int_equal(bytes, 10 * 9);
	assert_int_equal(ctr.gap_bytes, 10 * 5);
	assert_int_equal(mbx_flowtab_count(ft), 0);
	mbx_flowtab_destroy(ft);

	/* no counters given: the table keeps its own */
	cfg.ctr = NULL;
	ft = mbx_flowtab_create(&cfg);
	assert_non_null(ft);
	struct conn c = conn4(99, 1);
	cs(ft, &c, 0, 0, "x", 1);
	mbx_flowtab_flush(ft, 2);
	mbx_flowtab_destroy(ft);
}

static void bad_config(void **state)
{
	(void)state;
	struct mbx_flowtab_cfg cfg, bad;
	mbx_flowtab_cfg_defaults(&cfg);
	assert_int_equal(cfg.max_flows, 65536);
	assert_int_equal(cfg.ooo_max_segs, 32);
	assert_int_equal(cfg.ooo_max_bytes, 256 * 1024);
	assert_int_equal(cfg.ooo_total_bytes, 64 << 20);
	assert_int_equal(cfg.idle_timeout_ns, 300 * SEC);
	cfg.port_map = portmap;
	cfg.flow_key = fkey;
	cfg.ops = &rec_ops;

	bad = cfg;
	bad.port_map = NULL;
	errno = 0;
	assert_null(mbx_flowtab_create(&bad));
	assert_int_equal(errno, EINVAL);
	bad = cfg;
	bad.max_flows = 0;
	assert_null(mbx_flowtab_create(&bad));
	bad = cfg;
	bad.flow_key = NULL;
	assert_null(mbx_flowtab_create(&bad));
	bad = cfg;
	bad.ops = &(struct mbx_stream_ops){.open = r_open};
	assert_null(mbx_flowtab_create(&bad));
	bad = cfg;
	bad.max_window = (1u << 30) + 1;
	assert_null(mbx_flowtab_create(&bad));
	assert_null(mbx_flowtab_create(NULL));
	mbx_flowtab_destroy(NULL);
	/* no out-of-order memory at all is a valid choice: holes become gaps */
	bad = cfg;
	bad.ooo_total_bytes = 0;
	bad.max_flows = 4;
	struct rec *r = calloc(1, sizeof(*r));
	bad.ops_ctx = r;
	bad.user_size = USER_SIZE;
	struct mbx_flowtab *ft = mbx_flowtab_create(&bad);
	assert_non_null(ft);
	struct conn c = conn4(1, 1);
	cs(ft, &c, 0, 0, "a", 1);
	cs(ft, &c, 3, 0, "d", 2);
	assert_string_equal(r->st[0].log, "a[gap 2]d");
	mbx_flowtab_destroy(ft);
	free(r);
}

/* ---- stress ---- */

static uint64_t rng_state;

static uint64_t rnd(void)
{
	/* splitmix64 */
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rndn(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

#define ST_CONNS 6
#define ST_LEN	 (200 * 1024)

struct st_pkt {
	int conn;
	uint32_t off, len;
	bool fin;
	uint64_t key; /* sort key of the reordering */
};

static int st_cmp(const void *a, const void *b)
{
	const struct st_pkt *x = a, *y = b;
	return x->key < y->key ? -1 : x->key > y->key;
}

struct stress {
	struct conn c[ST_CONNS];
	uint8_t *data[ST_CONNS];
	uint8_t *sent[ST_CONNS]; /* byte covered by a sent segment */
	bool fin_sent[ST_CONNS];
	uint32_t wire_end[ST_CONNS]; /* end of the furthest segment sent */
	uint64_t flow[ST_CONNS];
	struct st_pkt *pk;
	size_t npk, cap;
};

static void st_open(struct rec *r, struct rstream *rs)
{
	struct stress *s = r->arg;
	for (int i = 0; i < ST_CONNS; i++) {
		if (s->flow[i] == rs->flow) {
			rs->cap = ST_LEN;
			rs->img = s->data[i] + ST_LEN; /* second half: the image */
			rs->cov = s->sent[i] + ST_LEN;
			return;
		}
	}
	fail_msg("unknown stream opened");
}

static void st_push(struct stress *s, int conn, uint32_t off, uint32_t len, bool fin)
{
	if (s->npk == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 1024;
		s->pk = realloc(s->pk, s->cap * sizeof(*s->pk));
		assert_non_null(s->pk);
	}
	s->pk[s->npk++] = (struct st_pkt){conn, off, len, fin, 0};
}

/* drop_pct: segments never sent; snap_pct: segments cut short by the snap
 * length; tight: small out-of-order bounds, so that holes are given up. */
/* Segments go in one by one, or (g_burst) in runs of 8 through the burst
 * API: hash + slot prefetch when queued, entry prefetch and input with that
 * hash when the run is fed (the way mbx_cworker_burst does it). */
static bool g_burst;
static struct {
	struct mbx_tcpseg g;
	uint64_t ts;
	uint32_t h;
} g_pend[8];
static int g_npend;

static void feed_flush(struct mbx_flowtab *ft)
{
	for (int i = 0; i < g_npend; i++)
		mbx_flowtab_prefetch_entry(ft, g_pend[i].h);
	for (int i = 0; i < g_npend; i++)
		mbx_flowtab_input_hashed(ft, &g_pend[i].g, g_pend[i].ts, g_pend[i].h);
	g_npend = 0;
}

static void feed(struct mbx_flowtab *ft, const struct mbx_tcpseg *g, uint64_t ts)
{
	if (!g_burst) {
		mbx_flowtab_input(ft, g, ts);
		return;
	}
	g_pend[g_npend].g = *g;
	g_pend[g_npend].ts = ts;
	g_pend[g_npend].h = mbx_flowtab_prefetch(ft, g);
	if (++g_npend == 8)
		feed_flush(ft);
}

static void run_stress(uint64_t seed, int drop_pct, bool tight, int snap_pct)
{
	struct stress s;
	struct fx f;

	memset(&s, 0, sizeof(s));
	rng_state = seed;
	memset(&f, 0, sizeof(f));
	fx_cfg(&f);
	if (tight) {
		f.cfg.ooo_max_segs = 4;
		f.cfg.ooo_max_bytes = 6000;
		f.cfg.ooo_total_bytes = 16 * 1024;
		f.cfg.ooo_max_wait_ns = 50 * MS;
	} else {
		f.cfg.ooo_max_segs = 1u << 16;
		f.cfg.ooo_max_bytes = 1u << 30;
		f.cfg.ooo_total_bytes = 64u << 20;
		f.cfg.ooo_max_wait_ns = 0;
	}
	fx_start(&f);
	f.r->on_open = st_open;
	f.r->arg = &s;

	for (int i = 0; i < ST_CONNS; i++) {
		/* some ISNs put the wrap inside the stream */
		uint32_t isn = i % 2 ? (uint32_t)rnd() : (uint32_t)(0u - 1 - rndn(ST_LEN));
		s.c[i] =
		    i % 3 ? conn4((uint16_t)(2000 + i), isn) : conn6((uint16_t)(2000 + i), isn);
		s.data[i] = malloc(2 * ST_LEN);
		s.sent[i] = calloc(2, ST_LEN);
		assert_non_null(s.data[i]);
		assert_non_null(s.sent[i]);
		for (size_t k = 0; k < ST_LEN; k++)
			s.data[i][k] = (uint8_t)rnd();
		struct mbx_tcpseg g = mk(&s.c[i], true, 0, 0, NULL, 0);
		s.flow[i] = mbx_flow_hash(fkey, &g);
		/* cut into segments of 1..3000 bytes (some span several chunks) */
		uint32_t off = 0;
		while (off < ST_LEN) {
			uint32_t len = 1 + rndn(rnd() % 4 ? 1460 : 3000);
			if (len > ST_LEN - off)
				len = ST_LEN - off;
			st_push(&s, i, off, len, off + len == ST_LEN);
			/* now and then a retransmission, cut differently */
			if (rndn(10) == 0) {
				uint32_t a = off > 2000 ? off - rndn(2000) : rndn(off + 1);
				uint32_t b = off + len + rndn(500);
				b = MBX_MIN(b, ST_LEN);
				st_push(&s, i, a, b - a, b == ST_LEN);
			}
			off += len;
		}
	}
	/* Interleave the connections: a random merge that keeps each one's
	 * order... */
	struct st_pkt *merged = malloc(s.npk * sizeof(*merged));
	size_t next[ST_CONNS], left[ST_CONNS] = {0}, nleft = s.npk;
	assert_non_null(merged);
	for (size_t k = 0; k < s.npk; k++)
		left[s.pk[k].conn]++;
	for (int i = 0, at = 0; i < ST_CONNS; i++) {
		next[i] = (size_t)at;
		at += (int)left[i];
	}
	for (size_t k = 0; k < s.npk; k++) {
		uint32_t pick = rndn((uint32_t)nleft);
		int i = 0;
		while (pick >= left[i])
			pick -= (uint32_t)left[i++];
		merged[k] = s.pk[next[i]++];
		merged[k].key = k * 4 + rndn(4 * 24); /* ...then displace by < 24 */
		left[i]--;
		nleft--;
	}
	qsort(merged, s.npk, sizeof(*merged), st_cmp);
	free(s.pk);
	s.pk = merged;
	for (int i = 0; i < ST_CONNS; i++) {
		syn(f.ft, &s.c[i], 1);
	}
	uint64_t ts = 2;
	for (size_t k = 0; k < s.npk; k++) {
		struct st_pkt *p = &s.pk[k];
		if (drop_pct && (int)rndn(100) < drop_pct)
			continue;
		struct conn *c = &s.c[p->conn];
		struct mbx_tcpseg g = mk(c, true, c->cisn + 1 + p->off, p->fin ? MBX_TCP_FIN : 0,
					 s.data[p->conn] + p->off, p->len);
		if (snap_pct && (int)rndn(100) < snap_pct)
			g.payload_len = rndn(p->len);
		memset(s.sent[p->conn] + p->off, 1, g.payload_len);
		if (p->fin)
			s.fin_sent[p->conn] = true;
		s.wire_end[p->conn] = MBX_MAX(s.wire_end[p->conn], p->off + p->len);
		ts += tight ? 1 * MS : 1000;
		feed(f.ft, &g, ts);
		if (k % 64 == 0) {
			feed_flush(f.ft);
			mbx_flowtab_expire(f.ft, ts);
		}
	}
	feed_flush(f.ft);
	mbx_flowtab_flush(f.ft, ts + 1);

	uint64_t gap_total = 0;
	assert_int_equal(f.r->n, ST_CONNS);
	for (int r = 0; r < f.r->n; r++) {
		struct rstream *rs = &f.r->st[r];
		int i;
		for (i = 0; i < ST_CONNS; i++)
			if (rs->img == s.data[i] + ST_LEN)
				break;
		assert_true(i < ST_CONNS);
		assert_true(rs->closed);
		/* where the stream must end: at its FIN, or after the last byte
		 * that was sent */
		uint64_t end = 0;
		if (s.fin_sent[i]) {
			end = ST_LEN;
			/* END if a hole before the FIN was still open at flush */
			if (rs->gap_bytes == 0)
				assert_int_equal(rs->why, MBX_CLOSE_FIN);
			else
				assert_true(rs->why == MBX_CLOSE_FIN || rs->why == MBX_CLOSE_END);
		} else {
			assert_int_equal(rs->why, MBX_CLOSE_END);
			end = s.wire_end[i];
		}
		assert_int_equal(rs->pos, end);
		assert_int_equal(rs->data_bytes + rs->gap_bytes, end);
		uint64_t gapped = 0;
		for (uint64_t k = 0; k < end; k++) {
			if (rs->cov[k] == 1) {
				if (rs->img[k] != s.data[i][k])
					fail_msg("conn %d byte %llu differs", i,
						 (unsigned long long)k);
			} else {
				assert_int_equal(rs->cov[k], 2);
				gapped++;
				/* without bound pressure, only bytes never sent are gaps
				 * (with snapping, a snapped copy held first wins) */
				if (!tight && !snap_pct && s.sent[i][k])
					fail_msg("conn %d byte %llu sent but gapped", i,
						 (unsigned long long)k);
			}
			if (!tight && !s.sent[i][k] && rs->cov[k] != 2)
				fail_msg("conn %d byte %llu never sent but delivered", i,
					 (unsigned long long)k);
		}
		assert_int_equal(gapped, rs->gap_bytes);
		gap_total += gapped;
	}
	assert_int_equal(f.ctr.gap_bytes, gap_total);
	if (getenv("MBX_FLOW_VERBOSE"))
		fprintf(stderr,
			"stress seed %llx drop %d%% tight %d: pkts %zu ooo %llu retrans %llu "
			"overlap %llu ooo_drop %llu gaps %llu gap_bytes %llu\n",
			(unsigned long long)seed, drop_pct, tight, s.npk,
			(unsigned long long)f.ctr.seg_ooo, (unsigned long long)f.ctr.seg_retrans,
			(unsigned long long)f.ctr.seg_overlap,
			(unsigned long long)f.ctr.seg_ooo_drop, (unsigned long long)f.ctr.gaps,
			(unsigned long long)f.ctr.gap_bytes);
	if (drop_pct == 0 && !tight && !snap_pct)
		assert_int_equal(gap_total, 0);
	if (drop_pct)
		assert_true(gap_total > 0);
	assert_true(f.ctr.seg_ooo > 0);
	assert_true(f.ctr.seg_retrans + f.ctr.seg_overlap > 0);
	if (tight)
		assert_true(f.ctr.seg_ooo_drop > 0);
	for (int i = 0; i < ST_CONNS; i++) {
		free(s.data[i]);
		free(s.sent[i]);
	}
	free(s.pk);
	fx_fini(&f);
}

static void stress_reorder_duplicate(void **state)
{
	(void)state;
	run_stress(0x5eed1234, 0, false, 0);
	/* tight bounds: reordering alone can force holes to be given up; every
	 * byte must still be accounted for */
	run_stress(0xabcdef01, 0, true, 0);
}

static void stress_with_drops(void **state)
{
	(void)state;
	run_stress(0x12345678, 3, false, 0);
	run_stress(0x87654321, 10, false, 0);
	run_stress(0x0badcafe, 5, true, 0);
	run_stress(0xfeedface, 20, true, 0);
	run_stress(0x51a9, 3, false, 5);
	run_stress(0x51aa, 5, true, 5);
	/* MBX_FLOW_STRESS_SEEDS=n: n more seeds over every mode */
	const char *env = getenv("MBX_FLOW_STRESS_SEEDS");
	for (long n = env ? atol(env) : 0, k = 0; k < n; k++)
		run_stress(0x1000 + (uint64_t)k, (int)(k % 4) * 5, k % 2, (int)(k % 3) * 3);
}

/* The burst API (prefetch, prefetch_entry, input_hashed) gives the same
 * streams: the stress runs again with segments fed in runs of 8. A hash
 * that differed from the table's own would open a second stream per flow. */
static void stress_burst_api(void **state)
{
	(void)state;
	g_burst = true;
	run_stress(0x5eed1234, 0, false, 0);
	run_stress(0x0badcafe, 5, true, 0);
	run_stress(0x51aa, 5, true, 5);
	g_burst = false;
}

/* ---- real captures (skipped when ../shared/data is absent) ---- */

/* Feed every packet of a capture to the table; false if it cannot be read. */
static bool feed_pcap(struct fx *f, const char *name)
{
	const char *dir = getenv("MBX_SHARED_DATA");
	char path[4096], err[PCAP_ERRBUF_SIZE];
	struct pcap_pkthdr *h;
	const u_char *data;
	uint64_t ts = 0;

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : MBX_SHARED_DATA_DIR, name);
	pcap_t *p = pcap_open_offline(path, err);
	if (!p) {
		fprintf(stderr, "skipping: cannot read %s: %s\n", path, err);
		return false;
	}
	while (pcap_next_ex(p, &h, &data) == 1) {
		struct mbx_tcpseg seg;
		ts = (uint64_t)h->ts.tv_sec * SEC + (uint64_t)h->ts.tv_usec * 1000;
		if (mbx_decode(data, h->caplen, pcap_datalink(p), &seg) == MBX_DEC_OK)
			mbx_flowtab_input(f->ft, &seg, ts);
		mbx_flowtab_expire(f->ft, ts);
	}
	pcap_close(p);
	mbx_flowtab_flush(f->ft, ts);
	return true;
}

static void real_captures(void **state)
{
	(void)state;
	struct fx f;

	/* a set whose data block comes in its own segment; full handshake
	 * and FIN close */
	fx_init(&f);
	if (!feed_pcap(&f, "deepflow-memcached-split-set.pcap")) {
		fx_fini(&f);
		skip();
	}
	assert_int_equal(f.r->n, 2);
	assert_string_equal(LOG(&f, 0), "set foo 0 0 3\r\nbar\r\nget foo\r\nquit\r\n<FIN>");
	assert_string_equal(LOG(&f, 1), "STORED\r\nVALUE foo 0 3\r\nbar\r\nEND\r\n<FIN>");
	assert_int_equal(f.r->st[0].syn, 1);
	assert_int_equal(f.r->st[1].syn, 1);
	assert_int_equal(f.ctr.gaps, 0);
	fx_fini(&f);

	/* a 17946-byte value in three segments (the capture starts after the
	 * handshake): the VALUE line's length must match what was delivered */
	fx_init(&f);
	if (!feed_pcap(&f, "percona/percona_memc_006.pcap")) {
		fx_fini(&f);
		skip();
	}
	assert_int_equal(f.r->n, 2);
	assert_string_equal(LOG(&f, 0), "get my_key \r\n<FIN>");
	const char *rsp = LOG(&f, 1);
	unsigned vlen = 0;
	int hdr = 0;
	assert_int_equal(sscanf(rsp, "VALUE my_key 0 %u\r\n%n", &vlen, &hdr), 1);
	assert_int_equal(vlen, 17946);
	assert_int_equal(strlen(rsp), (size_t)hdr + vlen + strlen("\r\nEND\r\n<FIN>"));
	assert_string_equal(rsp + hdr + vlen, "\r\nEND\r\n<FIN>");
	assert_int_equal(f.r->st[1].syn, 0);
	assert_int_equal(f.ctr.flows_midstream, 2);
	assert_int_equal(f.ctr.gaps, 0);
	fx_fini(&f);
}

/* ---- timing (MBX_FLOW_BENCH=1) ---- */

static void b_data(void *ctx, struct mbx_stream *s, const uint8_t *p, uint32_t n, uint64_t ts)
{
	(void)s;
	(void)ts;
	*(uint64_t *)ctx += n + p[0];
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * SEC + (uint64_t)t.tv_nsec;
}

static void bench_in_order(void **state)
{
	(void)state;
	if (!getenv("MBX_FLOW_BENCH")) {
		fprintf(stderr, "bench_in_order: set MBX_FLOW_BENCH=1 to run\n");
		skip();
	}
	static const struct mbx_stream_ops ops = {.data = b_data};
	static const uint32_t nflows[] = {1, 1000, 60000};
	static uint8_t payload[100];
	uint64_t sink = 0;

	for (size_t t = 0; t < MBX_ARRAY_SIZE(nflows); t++) {
		struct mbx_flowtab_cfg cfg;
		mbx_flowtab_cfg_defaults(&cfg);
		cfg.port_map = portmap;
		cfg.flow_key = fkey;
		cfg.ops = &ops;
		cfg.ops_ctx = &sink;
		cfg.user_size = 256; /* about a parser's state */
		struct mbx_flowtab *ft = mbx_flowtab_create(&cfg);
		assert_non_null(ft);
		uint32_t n = nflows[t];
		struct mbx_tcpseg *segs = calloc(n, sizeof(*segs));
		assert_non_null(segs);
		for (uint32_t i = 0; i < n; i++) {
			struct conn c = conn4((uint16_t)(1024 + i % 60000), 1);
			mbx_wr32be(c.cli + 12, 0x0a000000u + i / 60000 + 2);
			segs[i] = mk(&c, true, 2, 0, payload, sizeof(payload));
			mbx_flowtab_input(ft, &segs[i], 1);
		}
		/* round-robin, then a random flow per segment (no locality) */
		for (int mode = 0; mode < 2; mode++) {
			uint64_t total = 20000000, t0;
			uint32_t *order = malloc((1u << 20) * sizeof(*order));
			assert_non_null(order);
			rng_state = 42;
			for (uint32_t i = 0; i < (1u << 20); i++)
				order[i] = mode ? rndn(n) : i % n;
			t0 = now_ns();
			for (uint64_t k = 0; k < total; k++) {
				struct mbx_tcpseg *g = &segs[order[k & ((1u << 20) - 1)]];
				g->seq += sizeof(payload);
				mbx_flowtab_input(ft, g, 2 + k);
			}
			uint64_t dt = now_ns() - t0;
			printf("flow bench: %5u flows, %s, 100-byte in-order segments: %.1f "
			       "ns/segment\n",
			       n, mode ? "random order" : "round-robin ",
			       (double)dt / (double)total);
			free(order);
		}
		mbx_flowtab_flush(ft, 1ull << 40);
		mbx_flowtab_destroy(ft);
		free(segs);
	}
	assert_true(sink > 0);
}

static int group_setup(void **state)
{
	(void)state;
	mbx_port_set(portmap, 11211);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(in_order_both_directions),
	    cmocka_unit_test(reorder_all_permutations),
	    cmocka_unit_test(retransmissions),
	    cmocka_unit_test(overlaps),
	    cmocka_unit_test(late_fill_time_is_running_max),
	    cmocka_unit_test(hole_never_fills_segment_bound),
	    cmocka_unit_test(hole_never_fills_byte_bounds),
	    cmocka_unit_test(too_far_resynchronises),
	    cmocka_unit_test(hole_wait_timeout),
	    cmocka_unit_test(wraparound_in_order),
	    cmocka_unit_test(midstream_and_pure_acks),
	    cmocka_unit_test(syn_isn_and_reuse),
	    cmocka_unit_test(fin_cases),
	    cmocka_unit_test(rst_closes_both_directions),
	    cmocka_unit_test(idle_expiry),
	    cmocka_unit_test(eviction_lru),
	    cmocka_unit_test(flow_hash_both_directions),
	    cmocka_unit_test(ports),
	    cmocka_unit_test(snapped_segments),
	    cmocka_unit_test(minimal_consumer),
	    cmocka_unit_test(bad_config),
	    cmocka_unit_test(stress_reorder_duplicate),
	    cmocka_unit_test(stress_with_drops),
	    cmocka_unit_test(stress_burst_api),
	    cmocka_unit_test(real_captures),
	    cmocka_unit_test(bench_in_order),
	};
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
