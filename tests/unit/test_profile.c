/* SPDX-License-Identifier: Apache-2.0 */
/* Profile writer and reader: round trips, truncation at every byte, every
 * single-bit flip, random corruption, versioning rules, hostile headers, a
 * recorder killed at random moments, and a throughput report.
 *
 * Files that the writer cannot produce (newer minor versions, unknown block
 * types, hostile counts) are built by a small second implementation of the
 * format (emit_block, rebuild), written from docs/profile-format.md rather than from
 * format.h, so the test also checks that the document is right. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* after setjmp.h, stdarg.h, stddef.h */
#include <cmocka.h>

#include "mbx/hash.h"
#include "mbx/profile.h"

static char tmpdir[256];

static const char *tpath(const char *name)
{
	static char p[2][512];
	static int k;

	k ^= 1;
	snprintf(p[k], sizeof(p[k]), "%s/%s", tmpdir, name);
	return p[k];
}

static int setup(void **state)
{
	const char *t = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/mbx-profile-XXXXXX", t && *t ? t : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	DIR *d = opendir(tmpdir);
	struct dirent *de;

	(void)state;
	while (d && (de = readdir(d)))
		if (de->d_name[0] != '.')
			unlink(tpath(de->d_name));
	if (d)
		closedir(d);
	return rmdir(tmpdir);
}

/* ---- deterministic events ---- */

#define TS_BASE 1700000000000000000ULL

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Event i: every field depends on i; pairs share a timestamp. */
static void make_event(uint64_t i, struct mbx_event *e)
{
	memset(e, 0, sizeof(*e));
	e->ts_ns = TS_BASE + (i / 2) * 1000;
	e->key_hash = mix(i);
	e->conn_id = (uint32_t)(mix(i ^ 0x55) % 100 + 1);
	e->latency_ns = (uint32_t)mix(i + 7);
	e->value_len = (uint32_t)(i * 13);
	e->op = (uint8_t)(i % MBX_OP__COUNT);
	e->key_len = (uint8_t)i;
	e->outcome = (uint8_t)(i % MBX_OUT__COUNT);
	e->flags = (uint8_t)mix(i + 1);
}

static void check_prefix(const struct mbx_event *ev, size_t n)
{
	struct mbx_event want;

	for (size_t i = 0; i < n; i++) {
		make_event(i, &want);
		if (memcmp(&ev[i], &want, sizeof(want)) != 0)
			fail_msg("event %zu differs", i);
	}
}

static void make_kv(struct mbx_counter_kv *kv, size_t n, uint64_t salt)
{
	for (size_t i = 0; i < n; i++) {
		memset(kv[i].name, 0, sizeof(kv[i].name));
		snprintf(kv[i].name, sizeof(kv[i].name), "ctr_%zu", i);
		kv[i].value = mix(salt + i);
	}
}

/* ---- reading a whole file ---- */

enum { RD_END = 0, RD_OPEN_FAIL = -1, RD_NEXT_FAIL = -2 };

struct rd {
	int rc;
	int err_no;
	size_t n;
	enum mbx_profile_state state;
	uint64_t ignored;
	size_t nkv;
	struct mbx_counter_kv kv[16];
	struct mbx_profile_totals totals;
	unsigned major, minor;
	struct mbx_profile_meta meta;
	char err[512];
};

static void read_file(const char *path, struct mbx_event *out, size_t cap, struct rd *res)
{
	struct mbx_profile_reader *r;
	const struct mbx_event *ev;
	const struct mbx_counter_kv *kv;
	size_t n;
	int rc;

	memset(res, 0, sizeof(*res));
	r = mbx_profile_reader_open(path, res->err, sizeof(res->err));
	if (!r) {
		res->rc = RD_OPEN_FAIL;
		res->err_no = errno;
		assert_true(res->err[0] != '\0');
		return;
	}
	mbx_profile_reader_version(r, &res->major, &res->minor);
	res->meta = *mbx_profile_reader_meta(r);
	while ((rc = mbx_profile_reader_next(r, &ev, &n)) == 1) {
		assert_true(n > 0);
		if (res->n + n > cap)
			fail_msg("reader returned more events than were written (%zu > %zu)",
				 res->n + n, cap);
		memcpy(out + res->n, ev, n * sizeof(*ev));
		res->n += n;
	}
	if (rc < 0) {
		res->rc = RD_NEXT_FAIL;
		res->err_no = errno;
		snprintf(res->err, sizeof(res->err), "%s", mbx_profile_reader_error(r));
		assert_true(res->err[0] != '\0');
		/* sticky */
		assert_int_equal(mbx_profile_reader_next(r, &ev, &n), -1);
	} else {
		assert_int_equal(rc, 0);
		assert_int_equal(mbx_profile_reader_next(r, &ev, &n), 0);
		res->state = mbx_profile_reader_state(r, &res->ignored);
		kv = mbx_profile_reader_counters(r, &res->nkv);
		assert_true(res->nkv <= 16);
		if (res->nkv)
			memcpy(res->kv, kv, res->nkv * sizeof(*kv));
		else
			assert_null(kv);
		res->totals = *mbx_profile_reader_totals(r);
	}
	mbx_profile_reader_close(r);
}

/* ---- raw file helpers ---- */

static uint8_t *slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

static void spit(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* Per docs/profile-format.md: header CRC is the last 4 bytes of the header. */
static void fix_header_crc(uint8_t *b)
{
	uint32_t hlen = get32(b + 12);

	put32(b + hlen - 4, mbx_crc32c(0, b, hlen - 4));
}

/* Append one block (48-byte header + payload) to out at *len. */
static void emit_block(uint8_t *out, size_t *len, uint16_t type, uint64_t seq, uint32_t count,
		       uint64_t first, uint64_t last, const uint8_t *payload, uint32_t plen)
{
	uint8_t *h = out + *len;

	memcpy(h, "MBXB", 4);
	put16(h + 4, type);
	put16(h + 6, 0);
	put64(h + 8, seq);
	put32(h + 16, count);
	put32(h + 20, plen);
	put64(h + 24, first);
	put64(h + 32, last);
	memcpy(h + 48, payload, plen);
	put32(h + 40, mbx_crc32c(0, payload, plen));
	put32(h + 44, mbx_crc32c(0, h, 44));
	*len += 48 + plen;
}

/* Re-serialise a complete profile: header grown by `extra` bytes with minor
 * version `minor`; an unknown block (type 77) inserted before block number
 * `insert_at` (-1: none); blocks renumbered, footer index and trailer
 * recomputed with valid CRCs. index_delta / events_delta falsify the last
 * index entry / the footer's event total (CRCs still valid). Returns the new
 * file in a malloc'd buffer. */
struct rebuild_opts {
	uint32_t extra;
	uint16_t minor;
	int insert_at;
	uint64_t index_delta, events_delta;
};

static uint8_t *rebuild(const uint8_t *in, size_t inlen, const struct rebuild_opts *o,
			size_t *outlen)
{
	uint32_t extra = o->extra;
	uint16_t minor = o->minor;
	int insert_at = o->insert_at;
	uint32_t hlen = get32(in + 12);
	uint8_t *out = calloc(1, inlen + extra + 4096 + 8);
	uint64_t offsets[256], nidx = 0, seq = 0;
	size_t len, pos = hlen;
	uint8_t unknown[40];

	assert_non_null(out);
	memcpy(out, in, hlen - 4);
	put16(out + 10, minor);
	put32(out + 12, hlen + extra);
	for (uint32_t i = 0; i < extra; i++)
		out[hlen - 4 + i] = (uint8_t)(0xa5 ^ i);
	fix_header_crc(out);
	len = hlen + extra;
	for (size_t i = 0; i < sizeof(unknown); i++)
		unknown[i] = (uint8_t)i;

	for (int blk = 0;; blk++) {
		const uint8_t *h = in + pos;
		uint16_t type = (uint16_t)(h[4] | h[5] << 8);
		uint32_t count = get32(h + 16), plen = get32(h + 20);

		assert_memory_equal(h, "MBXB", 4);
		if (blk == insert_at)
			emit_block(out, &len, 77, seq++, 5, 0, 0, unknown, sizeof(unknown));
		if (type == 3) {
			/* footer: 48 fixed bytes, counters, index */
			uint8_t fp[8192];
			uint64_t nc = get64(h + 48 + 40);
			size_t fixed = 48 + nc * 40;

			assert_true(fixed + nidx * 8 <= sizeof(fp));
			assert_int_equal(get64(h + 48 + 8), nidx);
			memcpy(fp, h + 48, fixed);
			for (uint64_t k = 0; k < nidx; k++)
				put64(fp + fixed + 8 * k,
				      offsets[k] + (k == nidx - 1 ? o->index_delta : 0));
			put64(fp, get64(fp) + o->events_delta);
			uint64_t foff = len;
			emit_block(out, &len, 3, seq++, count, get64(h + 24), get64(h + 32), fp,
				   (uint32_t)(fixed + nidx * 8));
			put64(out + len, foff);
			put64(out + len + 8, len - foff);
			memcpy(out + len + 16, "MBXT", 4);
			put32(out + len + 20, mbx_crc32c(0, out + len, 20));
			len += 24;
			break;
		}
		if (type == 1) {
			assert_true(nidx < 256);
			offsets[nidx++] = len;
		}
		emit_block(out, &len, type, seq++, count, get64(h + 24), get64(h + 32), h + 48,
			   plen);
		pos += 48 + plen;
	}
	*outlen = len;
	return out;
}

/* ---- writing ---- */

static struct mbx_profile_meta test_meta(void)
{
	struct mbx_profile_meta m;

	memset(&m, 0, sizeof(m));
	m.created_ns = 1712345678901234567ULL;
	m.salt_fingerprint = 0x0123456789abcdefULL;
	m.linktype = 1;
	m.snaplen = 262144;
	m.nports = 3;
	m.ports[0] = 11211;
	m.ports[1] = 11212;
	m.ports[2] = 65535;
	/* a string using its whole field (255 chars + NUL) */
	memset(m.source, 'x', sizeof(m.source) - 1);
	memcpy(m.source, "file:", 5);
	snprintf(m.hostname, sizeof(m.hostname), "cache-01.example");
	snprintf(m.mbx_version, sizeof(m.mbx_version), "0.1.0");
	return m;
}

static void meta_equal(const struct mbx_profile_meta *a, const struct mbx_profile_meta *b)
{
	assert_int_equal(a->created_ns, b->created_ns);
	assert_int_equal(a->salt_fingerprint, b->salt_fingerprint);
	assert_int_equal(a->linktype, b->linktype);
	assert_int_equal(a->snaplen, b->snaplen);
	assert_int_equal(a->nports, b->nports);
	assert_memory_equal(a->ports, b->ports, sizeof(a->ports));
	assert_string_equal(a->source, b->source);
	assert_string_equal(a->hostname, b->hostname);
	assert_string_equal(a->mbx_version, b->mbx_version);
}

/* Write events [0, n) in batches of `batch`; close with nkv counters. */
static void write_profile(const char *path, uint32_t be, size_t n, size_t batch,
			  const struct mbx_counter_kv *kv, size_t nkv)
{
	struct mbx_profile_meta m = test_meta();
	struct mbx_profile_writer_opts o = {.block_events = be};
	struct mbx_profile_writer *w = mbx_profile_writer_open(path, &m, &o);
	struct mbx_event ev[128];

	assert_non_null(w);
	assert_true(batch > 0 && batch <= 128);
	for (size_t i = 0; i < n;) {
		size_t k = MBX_MIN(batch, n - i);
		for (size_t j = 0; j < k; j++)
			make_event(i + j, &ev[j]);
		assert_int_equal(mbx_profile_writer_append(w, ev, k), 0);
		i += k;
	}
	assert_int_equal(mbx_profile_writer_totals(w)->events, n);
	assert_int_equal(mbx_profile_writer_close(w, kv, nkv), 0);
}

/* ---- tests ---- */

static void round_trip(void **state)
{
	static const struct {
		uint32_t be;
		size_t n, batch;
	} cases[] = {
	    {0, 0, 1}, /* default block size, empty */
	    {0, 1, 1},	   {64, 64, 64},      {64, 64 * 5 + 17, 3}, {1, 5, 2},
	    {7, 100, 100}, {4096, 4096, 128}, {65536, 70000, 128},  {10, 1000, 1},
	};
	struct mbx_counter_kv kv[5];
	struct mbx_profile_meta m = test_meta();
	struct mbx_event *out = malloc(70000 * sizeof(*out));
	struct rd res;

	(void)state;
	assert_non_null(out);
	for (size_t c = 0; c < MBX_ARRAY_SIZE(cases); c++) {
		uint32_t be = cases[c].be ? cases[c].be : MBX_PROFILE_DEFAULT_BLOCK_EVENTS;
		size_t n = cases[c].n;
		struct mbx_event e;

		make_kv(kv, 5, c);
		write_profile(tpath("rt"), cases[c].be, n, cases[c].batch, kv, 5);
		read_file(tpath("rt"), out, n, &res);
		if (res.rc != RD_END)
			fail_msg("case %zu: %s", c, res.err);
		assert_int_equal(res.state, MBX_PROFILE_OK);
		assert_int_equal(res.ignored, 0);
		assert_int_equal(res.n, n);
		check_prefix(out, n);
		assert_int_equal(res.major, 1);
		assert_int_equal(res.minor, 0);
		assert_int_equal(res.totals.events, n);
		assert_int_equal(res.totals.blocks, (n + be - 1) / be);
		make_event(0, &e);
		assert_int_equal(res.totals.first_ts, n ? e.ts_ns : 0);
		make_event(n ? n - 1 : 0, &e);
		assert_int_equal(res.totals.last_ts, n ? e.ts_ns : 0);
		assert_int_equal(res.nkv, 5);
		assert_memory_equal(res.kv, kv, sizeof(kv));
		meta_equal(&res.meta, &m);
	}
	free(out);
}

static void meta_null_and_no_counters(void **state)
{
	struct mbx_profile_writer *w = mbx_profile_writer_open(tpath("nometa"), NULL, NULL);
	struct mbx_profile_meta zero;
	struct mbx_event ev[3];
	struct rd res;

	(void)state;
	assert_non_null(w);
	for (int i = 0; i < 3; i++)
		make_event((uint64_t)i, &ev[i]);
	assert_int_equal(mbx_profile_writer_append(w, ev, 3), 0);
	assert_int_equal(mbx_profile_writer_close(w, NULL, 0), 0);
	read_file(tpath("nometa"), ev, 3, &res);
	assert_int_equal(res.rc, RD_END);
	assert_int_equal(res.state, MBX_PROFILE_OK);
	assert_int_equal(res.n, 3);
	assert_int_equal(res.nkv, 0);
	memset(&zero, 0, sizeof(zero));
	meta_equal(&res.meta, &zero);
}

/* Builds a file mixing full blocks, flushed partial blocks and stats blocks,
 * recording after each step where complete data ends. */
struct layout {
	size_t nb;
	uint64_t end[64];    /* file offset where complete data ends */
	size_t events[64];   /* events complete at that offset */
	size_t nstats[64];   /* stats blocks complete at that offset */
	uint64_t footer_off; /* = last end */
	size_t total;
};

static struct mbx_counter_kv stats_kv[3][4];

static void mark(struct layout *l, struct mbx_profile_writer *w, size_t events, size_t nstats)
{
	l->end[l->nb] = mbx_profile_writer_bytes(w);
	l->events[l->nb] = events;
	l->nstats[l->nb] = nstats;
	l->nb++;
}

static void append_range(struct mbx_profile_writer *w, size_t from, size_t to)
{
	struct mbx_event e;

	for (size_t i = from; i < to; i++) {
		make_event(i, &e);
		assert_int_equal(mbx_profile_writer_append(w, &e, 1), 0);
	}
}

/* stats, 2 full blocks, a flushed partial block, 2 events flushed by a
 * stats block, a full block, stats, a flushed partial block; close. */
static void build_mixed(const char *path, uint32_t be, struct layout *l)
{
	struct mbx_profile_writer_opts o = {.block_events = be};
	struct mbx_profile_meta m = test_meta();
	struct mbx_profile_writer *w;
	size_t i = 0, ns = 0;

	memset(l, 0, sizeof(*l));
	for (int s = 0; s < 3; s++)
		make_kv(stats_kv[s], 4, 100 * (uint64_t)s);
	w = mbx_profile_writer_open(path, &m, &o);
	assert_non_null(w);
	mark(l, w, 0, 0);
	/* stats before any event */
	assert_int_equal(mbx_profile_writer_stats(w, stats_kv[0], 4), 0);
	mark(l, w, i, ++ns);
	for (int b = 0; b < 2; b++) {
		append_range(w, i, i + be);
		i += be;
		mark(l, w, i, ns);
	}
	append_range(w, i, i + 3);
	i += 3;
	assert_int_equal(mbx_profile_writer_flush(w), 0);
	mark(l, w, i, ns);
	assert_int_equal(mbx_profile_writer_flush(w), 0); /* nothing buffered: no block */
	assert_int_equal(mbx_profile_writer_bytes(w), l->end[l->nb - 1]);
	append_range(w, i, i + 2);
	i += 2;
	/* stats flushes the 2 buffered events first: a 2-event block, then
	 * the stats block */
	assert_int_equal(mbx_profile_writer_stats(w, stats_kv[1], 4), 0);
	mark(l, w, i, ++ns);
	l->end[l->nb] = l->end[l->nb - 1];
	l->events[l->nb] = i;
	l->nstats[l->nb] = ns;
	l->end[l->nb - 1] -= 48 + 4 * 40;
	l->nstats[l->nb - 1] = ns - 1;
	l->nb++;
	append_range(w, i, i + be);
	i += be;
	mark(l, w, i, ns);
	assert_int_equal(mbx_profile_writer_stats(w, stats_kv[2], 3), 0);
	mark(l, w, i, ++ns);
	append_range(w, i, i + 5);
	i += 5;
	assert_int_equal(mbx_profile_writer_flush(w), 0);
	mark(l, w, i, ns);
	l->footer_off = mbx_profile_writer_bytes(w);
	l->total = i;
	assert_int_equal(mbx_profile_writer_totals(w)->blocks, 6);
	{
		struct mbx_counter_kv fk[2];
		make_kv(fk, 2, 999);
		assert_int_equal(mbx_profile_writer_close(w, fk, 2), 0);
	}
}

static void stats_interleaved(void **state)
{
	struct mbx_event out[64];
	struct mbx_counter_kv fk[2];
	struct layout l;
	struct rd res;
	uint8_t *b;
	size_t len;

	(void)state;
	build_mixed(tpath("mixed"), 8, &l);
	read_file(tpath("mixed"), out, 64, &res);
	if (res.rc != RD_END)
		fail_msg("%s", res.err);
	assert_int_equal(res.state, MBX_PROFILE_OK);
	assert_int_equal(res.n, l.total);
	check_prefix(out, res.n);
	make_kv(fk, 2, 999);
	assert_int_equal(res.nkv, 2); /* footer counters win */
	assert_memory_equal(res.kv, fk, sizeof(fk));

	/* Same file cut right at the footer: counters of the last stats block. */
	b = slurp(tpath("mixed"), &len);
	spit(tpath("mixed-cut"), b, l.footer_off);
	read_file(tpath("mixed-cut"), out, 64, &res);
	assert_int_equal(res.rc, RD_END);
	assert_int_equal(res.state, MBX_PROFILE_INCOMPLETE);
	assert_int_equal(res.ignored, 0);
	assert_int_equal(res.n, l.total);
	assert_int_equal(res.nkv, 3);
	assert_memory_equal(res.kv, stats_kv[2], 3 * sizeof(stats_kv[2][0]));
	free(b);

	/* Closed without counters: the last stats block's remain visible. */
	{
		/* fdatasync after every block must not change the bytes */
		struct mbx_profile_writer_opts o = {.block_events = 4, .fsync_blocks = true};
		struct mbx_profile_writer *w = mbx_profile_writer_open(tpath("s2"), NULL, &o);
		assert_non_null(w);
		append_range(w, 0, 10);
		assert_int_equal(mbx_profile_writer_stats(w, stats_kv[1], 4), 0);
		append_range(w, 10, 12);
		assert_int_equal(mbx_profile_writer_close(w, NULL, 0), 0);
		read_file(tpath("s2"), out, 64, &res);
		assert_int_equal(res.state, MBX_PROFILE_OK);
		assert_int_equal(res.n, 12);
		check_prefix(out, 12);
		assert_int_equal(res.nkv, 4);
		assert_memory_equal(res.kv, stats_kv[1], sizeof(stats_kv[1]));
	}
}

static void truncate_at_every_length(void **state)
{
	struct mbx_event out[64];
	struct mbx_counter_kv fk[2];
	struct layout l;
	struct rd res;
	uint8_t *b;
	size_t size;

	(void)state;
	build_mixed(tpath("full"), 8, &l);
	b = slurp(tpath("full"), &size);
	make_kv(fk, 2, 999);
	assert_true(size > l.footer_off + 24 + 48 + 48);
	for (size_t cut = 0; cut <= size; cut++) {
		spit(tpath("cut"), b, cut);
		read_file(tpath("cut"), out, l.total, &res);
		if (cut < l.end[0]) {
			/* inside the header */
			if (res.rc != RD_OPEN_FAIL)
				fail_msg("cut %zu: header truncated but opened", cut);
			assert_int_equal(res.err_no, EBADMSG);
			assert_true(strstr(res.err, "truncated") || strstr(res.err, "empty"));
			continue;
		}
		if (res.rc != RD_END)
			fail_msg("cut %zu: %s", cut, res.err);
		check_prefix(out, res.n);
		if (cut == size) {
			assert_int_equal(res.state, MBX_PROFILE_OK);
			assert_int_equal(res.n, l.total);
			continue;
		}
		assert_int_equal(res.state, MBX_PROFILE_INCOMPLETE);
		if (cut < l.footer_off) {
			size_t k = 0;
			while (k + 1 < l.nb && l.end[k + 1] <= cut)
				k++;
			if (res.n != l.events[k] || res.ignored != cut - l.end[k])
				fail_msg("cut %zu: %zu events, %" PRIu64
					 " ignored; want %zu, %" PRIu64,
					 cut, res.n, res.ignored, l.events[k], cut - l.end[k]);
			if (l.nstats[k] == 0) {
				assert_int_equal(res.nkv, 0);
			} else {
				size_t s = l.nstats[k] - 1;
				assert_int_equal(res.nkv, s == 2 ? 3 : 4);
				assert_memory_equal(res.kv, stats_kv[s], res.nkv * sizeof(fk[0]));
			}
		} else if (cut < size - 24) {
			/* inside the footer block */
			assert_int_equal(res.n, l.total);
			assert_int_equal(res.ignored, cut - l.footer_off);
			assert_int_equal(res.nkv, 3);
			assert_memory_equal(res.kv, stats_kv[2], 3 * sizeof(fk[0]));
		} else {
			/* footer complete, trailer cut: footer counters are valid */
			assert_int_equal(res.n, l.total);
			assert_int_equal(res.ignored, cut - (size - 24));
			assert_int_equal(res.nkv, 2);
			assert_memory_equal(res.kv, fk, sizeof(fk));
		}
	}
	free(b);
}

/* A small multi-block file: 440 header + 3 event blocks + stats + footer. */
static void small_file(const char *path, struct mbx_event *ev, size_t *n)
{
	struct mbx_profile_writer_opts o = {.block_events = 4};
	struct mbx_profile_meta m = test_meta();
	struct mbx_profile_writer *w = mbx_profile_writer_open(path, &m, &o);
	struct mbx_counter_kv kv[3];

	assert_non_null(w);
	make_kv(kv, 3, 42);
	append_range(w, 0, 6);
	assert_int_equal(mbx_profile_writer_stats(w, kv, 2), 0);
	append_range(w, 6, 10);
	assert_int_equal(mbx_profile_writer_close(w, kv, 3), 0);
	*n = 10;
	for (size_t i = 0; i < 10; i++)
		make_event(i, &ev[i]);
}

static void flip_every_bit(void **state)
{
	struct mbx_event want[16], out[16];
	size_t n, size, undetected = 0, tested = 0;
	struct rd res;
	uint8_t *b;
	int fd;

	(void)state;
	small_file(tpath("flip"), want, &n);
	b = slurp(tpath("flip"), &size);
	fd = open(tpath("flip"), O_WRONLY);
	assert_true(fd >= 0);
	for (size_t pos = 0; pos < size; pos++) {
		for (int bit = 0; bit < 8; bit++) {
			uint8_t c = (uint8_t)(b[pos] ^ (1u << bit));
			assert_int_equal(pwrite(fd, &c, 1, (off_t)pos), 1);
			read_file(tpath("flip"), out, 16, &res);
			tested++;
			if (res.rc == RD_END) {
				/* only acceptable if nothing changed; we claim no
				 * byte is meaningless, so count it as a failure too */
				if (res.n != n || memcmp(out, want, n * sizeof(*out)) != 0)
					fail_msg("flip at byte %zu bit %d: different events "
						 "returned silently",
						 pos, bit);
				undetected++;
				print_error("flip at byte %zu bit %d undetected\n", pos, bit);
			} else if (res.rc == RD_NEXT_FAIL) {
				assert_int_equal(res.err_no, EBADMSG);
			} else {
				assert_true(res.err_no == EBADMSG || res.err_no == EINVAL ||
					    res.err_no == ENOTSUP);
			}
		}
		assert_int_equal(pwrite(fd, &b[pos], 1, (off_t)pos), 1);
	}
	close(fd);
	free(b);
	assert_int_equal(tested, size * 8);
	assert_int_equal(undetected, 0);
}

static uint64_t rng_state;

static uint64_t rng(void)
{
	rng_state = mix(rng_state);
	return rng_state;
}

static void random_corruption(void **state)
{
	struct mbx_event want[16], out[16];
	size_t n, size, detected = 0;
	struct rd res;
	uint8_t *b, *c;

	(void)state;
	small_file(tpath("rnd"), want, &n);
	b = slurp(tpath("rnd"), &size);
	c = malloc(size);
	assert_non_null(c);
	rng_state = 12345;
	for (int iter = 0; iter < 3000; iter++) {
		memcpy(c, b, size);
		if (iter % 3 == 2) {
			/* a run of random bytes (a torn sector) */
			size_t at = rng() % size, len = 1 + rng() % 64;
			for (size_t k = at; k < MBX_MIN(size, at + len); k++)
				c[k] = (uint8_t)rng();
		} else {
			int k = 1 + (int)(rng() % 16);
			while (k--)
				c[rng() % size] ^= (uint8_t)(1 + rng() % 255);
		}
		if (memcmp(c, b, size) == 0)
			continue;
		spit(tpath("rnd-c"), c, size);
		read_file(tpath("rnd-c"), out, 16, &res);
		if (res.rc == RD_END) {
			if (res.n != n || memcmp(out, want, n * sizeof(*out)) != 0)
				fail_msg("iteration %d: different events returned silently", iter);
		} else {
			detected++;
		}
	}
	/* CRC32C misses random damage with probability ~2^-32 */
	print_message("random corruption: %zu detected\n", detected);
	free(c);
	free(b);
}

/* A valid small file (b, size) and a scratch buffer (c) to damage. */
struct fx {
	struct mbx_event want[16], out[16];
	size_t n, size;
	uint8_t *b, *c;
	struct rd res;
};

static void fx_init(struct fx *f)
{
	small_file(tpath("v"), f->want, &f->n);
	f->b = slurp(tpath("v"), &f->size);
	f->c = malloc(f->size + 4096);
	assert_non_null(f->c);
	memcpy(f->c, f->b, f->size);
}

static void fx_fini(struct fx *f)
{
	free(f->b);
	free(f->c);
}

/* Write buf and read it: expect rc (RD_OPEN_FAIL / RD_NEXT_FAIL) and msg. */
static void expect_fail(struct fx *f, const uint8_t *buf, size_t len, int rc, const char *msg)
{
	spit(tpath("v2"), buf, len);
	read_file(tpath("v2"), f->out, 16, &f->res);
	if (f->res.rc != rc || !strstr(f->res.err, msg))
		fail_msg("want rc %d and \"%s\", got rc %d: %s", rc, msg, f->res.rc, f->res.err);
}

static void expect_same_events(struct fx *f, const uint8_t *buf, size_t len)
{
	spit(tpath("v2"), buf, len);
	read_file(tpath("v2"), f->out, 16, &f->res);
	if (f->res.rc != RD_END)
		fail_msg("%s", f->res.err);
	assert_int_equal(f->res.state, MBX_PROFILE_OK);
	assert_int_equal(f->res.n, f->n);
	assert_memory_equal(f->out, f->want, f->n * sizeof(f->want[0]));
}

static void header_rules(void **state)
{
	struct fx f;

	(void)state;
	fx_init(&f);
	memcpy(f.c, "GIF89a\0\0", 8);
	expect_fail(&f, f.c, f.size, RD_OPEN_FAIL, "not an mbx profile");
	expect_fail(&f, (const uint8_t *)"MBY", 3, RD_OPEN_FAIL, "not an mbx profile");
	/* a prefix of the magic is a truncated profile, not a stranger */
	expect_fail(&f, (const uint8_t *)"MBX", 3, RD_OPEN_FAIL, "truncated header");
	expect_fail(&f, f.b, 0, RD_OPEN_FAIL, "empty file");

	/* another major version (CRC fixed so only the version is wrong) */
	memcpy(f.c, f.b, f.size);
	put16(f.c + 8, 2);
	put16(f.c + 10, 3);
	fix_header_crc(f.c);
	expect_fail(&f, f.c, f.size, RD_OPEN_FAIL,
		    "unsupported profile version 2.3 (this mbx reads 1.x)");
	assert_int_equal(f.res.err_no, ENOTSUP);

	memcpy(f.c, f.b, f.size);
	put32(f.c + 16, 40);
	fix_header_crc(f.c);
	expect_fail(&f, f.c, f.size, RD_OPEN_FAIL, "event size 40 is not supported");

	memcpy(f.c, f.b, f.size);
	f.c[300] ^= 1;
	expect_fail(&f, f.c, f.size, RD_OPEN_FAIL, "header checksum mismatch");
	assert_int_equal(f.res.err_no, EBADMSG);

	/* block size beyond the maximum, valid CRC: refused before allocating */
	memcpy(f.c, f.b, f.size);
	put32(f.c + 20, 0xffffffffu);
	fix_header_crc(f.c);
	expect_fail(&f, f.c, f.size, RD_OPEN_FAIL, "block size 4294967295");

	memcpy(f.c, f.b, f.size);
	put32(f.c + 12, 0x7fffffffu);
	expect_fail(&f, f.c, f.size, RD_OPEN_FAIL, "corrupt header: length 2147483647");
	fx_fini(&f);
}

static void minor_version_compatibility(void **state)
{
	struct fx f;
	uint8_t *d;
	size_t len;

	(void)state;
	fx_init(&f);
	/* rebuild with no change reproduces the writer's file byte for byte:
	 * the second implementation agrees with the first */
	d = rebuild(f.b, f.size, &(struct rebuild_opts){.insert_at = -1}, &len);
	assert_int_equal(len, f.size);
	assert_memory_equal(d, f.b, f.size);
	free(d);

	/* newer minor version with a longer header: accepted, same events */
	d = rebuild(f.b, f.size, &(struct rebuild_opts){.extra = 16, .minor = 7, .insert_at = -1},
		    &len);
	expect_same_events(&f, d, len);
	assert_int_equal(f.res.major, 1);
	assert_int_equal(f.res.minor, 7);
	{
		struct mbx_profile_meta m = test_meta();
		meta_equal(&f.res.meta, &m);
	}
	free(d);

	/* a block type from a newer minor version is checked and skipped */
	d = rebuild(f.b, f.size, &(struct rebuild_opts){.minor = 1, .insert_at = 2}, &len);
	expect_same_events(&f, d, len);
	free(d);
	fx_fini(&f);
}

/* Counts and lengths in block headers with valid CRCs must never size an
 * allocation (run under ASan to see it). */
static void hostile_block_headers(void **state)
{
	uint8_t pl[48] = {0};
	struct fx f;
	size_t len;

	(void)state;
	fx_init(&f);
	len = 440;
	emit_block(f.c, &len, 1, 0, 0xffffffffu, TS_BASE, TS_BASE, pl, 32);
	put32(f.c + 440 + 20, 0xffffffe0u);
	put32(f.c + 440 + 44, mbx_crc32c(0, f.c + 440, 44));
	expect_fail(&f, f.c, len, RD_NEXT_FAIL, "block 0 at offset 440: claims 4294967295 events");

	len = 440;
	emit_block(f.c, &len, 2, 0, 0x10000000u, 0, 0, pl, 32);
	expect_fail(&f, f.c, len, RD_NEXT_FAIL, "claims 268435456 counters");

	/* unknown block type claiming 4 GiB, then the file ends: incomplete;
	 * the reader streams the payload rather than allocating it */
	len = 440;
	emit_block(f.c, &len, 99, 0, 1, 0, 0, pl, 32);
	put32(f.c + 440 + 20, 0xffffffffu);
	put32(f.c + 440 + 44, mbx_crc32c(0, f.c + 440, 44));
	spit(tpath("v2"), f.c, len);
	read_file(tpath("v2"), f.out, 16, &f.res);
	assert_int_equal(f.res.rc, RD_END);
	assert_int_equal(f.res.state, MBX_PROFILE_INCOMPLETE);
	assert_int_equal(f.res.ignored, 48 + 32);

	/* a footer claiming 2^60 counters */
	len = 440;
	put64(pl + 40, 1ULL << 60);
	emit_block(f.c, &len, 3, 0, 0, 0, 0, pl, 48);
	expect_fail(&f, f.c, len, RD_NEXT_FAIL, "footer sizes are inconsistent");
	fx_fini(&f);
}

/* Damage that keeps every CRC valid: only the structural checks catch it. */
static void structural_checks(void **state)
{
	struct mbx_event e0, e1, e2;
	uint8_t ev[96], *d;
	struct fx f;
	size_t len;

	(void)state;
	fx_init(&f);
	make_event(0, &e0);
	make_event(3, &e1);
	make_event(6, &e2);
	assert_true(e0.ts_ns < e1.ts_ns && e1.ts_ns < e2.ts_ns);

	/* a block cut out: sequence skips */
	memcpy(ev, &e0, 32);
	memcpy(ev + 32, &e1, 32);
	len = 440;
	emit_block(f.c, &len, 1, 0, 2, e0.ts_ns, e1.ts_ns, ev, 64);
	emit_block(f.c, &len, 1, 2, 2, e0.ts_ns, e1.ts_ns, ev, 64);
	expect_fail(&f, f.c, len, RD_NEXT_FAIL,
		    "block 1 at offset 552: sequence number 2 where 1 was expected");
	assert_int_equal(f.res.n, 2);

	/* time going backwards between blocks */
	len = 440;
	emit_block(f.c, &len, 1, 0, 1, e1.ts_ns, e1.ts_ns, ev + 32, 32);
	emit_block(f.c, &len, 1, 1, 1, e0.ts_ns, e0.ts_ns, ev, 32);
	expect_fail(&f, f.c, len, RD_NEXT_FAIL, "block 1 at offset 520: time goes backwards");
	assert_int_equal(f.res.n, 1);

	/* and inside a block */
	memcpy(ev + 32, &e2, 32);
	memcpy(ev + 64, &e1, 32);
	len = 440;
	emit_block(f.c, &len, 1, 0, 3, e0.ts_ns, e1.ts_ns, ev, 96);
	expect_fail(&f, f.c, len, RD_NEXT_FAIL, "event 2 goes back in time");
	assert_int_equal(f.res.n, 0);

	/* header times that do not match the events */
	len = 440;
	emit_block(f.c, &len, 1, 0, 2, e0.ts_ns, e1.ts_ns, ev, 64);
	expect_fail(&f, f.c, len, RD_NEXT_FAIL, "event times disagree with the block header");

	/* footers whose content disagrees with the blocks */
	d = rebuild(f.b, f.size, &(struct rebuild_opts){.insert_at = -1, .index_delta = 8}, &len);
	expect_fail(&f, d, len, RD_NEXT_FAIL, "the block index does not match the blocks");
	assert_int_equal(f.res.n, f.n);
	free(d);
	d = rebuild(f.b, f.size, &(struct rebuild_opts){.insert_at = -1, .events_delta = 1}, &len);
	expect_fail(&f, d, len, RD_NEXT_FAIL,
		    "says the number of events is 11 but the blocks give 10");
	free(d);

	/* data after the trailer */
	memcpy(f.c, f.b, f.size);
	f.c[f.size] = 0;
	expect_fail(&f, f.c, f.size + 1, RD_NEXT_FAIL, "unexpected data after the end");
	assert_int_equal(f.res.n, f.n);
	fx_fini(&f);
}

static void writer_errors(void **state)
{
	struct mbx_profile_meta m = test_meta();
	struct mbx_profile_writer_opts o = {.block_events = MBX_PROFILE_MAX_BLOCK_EVENTS + 1};
	struct mbx_profile_writer *w;
	struct mbx_counter_kv kv[2];
	struct mbx_event ev[4], out[8];
	struct rd res;
	struct stat st;
	mode_t old;

	(void)state;
	errno = 0;
	assert_null(mbx_profile_writer_open("/nonexistent-mbx-dir/x.mbxp", NULL, NULL));
	assert_int_equal(errno, ENOENT);
	assert_null(mbx_profile_writer_open(tmpdir, NULL, NULL));
	assert_int_equal(errno, EISDIR);
	assert_null(mbx_profile_writer_open("/dev/full", NULL, NULL)); /* header write fails */
	assert_int_equal(errno, ENOSPC);
	assert_null(mbx_profile_writer_open(tpath("w"), NULL, &o));
	assert_int_equal(errno, EINVAL);
	memset(m.hostname, 'h', sizeof(m.hostname)); /* unterminated */
	assert_null(mbx_profile_writer_open(tpath("w"), &m, NULL));
	assert_int_equal(errno, EINVAL);
	m = test_meta();
	m.nports = MBX_PROFILE_MAX_PORTS + 1;
	assert_null(mbx_profile_writer_open(tpath("w"), &m, NULL));
	assert_int_equal(errno, EINVAL);

	/* mode 0644 minus umask */
	old = umask(027);
	w = mbx_profile_writer_open(tpath("mode"), NULL, NULL);
	umask(old);
	assert_non_null(w);
	assert_int_equal(stat(tpath("mode"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);

	/* decreasing timestamps: the whole batch is refused */
	for (int i = 0; i < 4; i++)
		memset(&ev[i], 0, sizeof(ev[i]));
	ev[0].ts_ns = 10;
	ev[1].ts_ns = 20;
	assert_int_equal(mbx_profile_writer_append(w, ev, 2), 0);
	ev[0].ts_ns = 30;
	ev[1].ts_ns = 15;
	assert_int_equal(mbx_profile_writer_append(w, ev, 2), -EINVAL);
	ev[0].ts_ns = 19;
	assert_int_equal(mbx_profile_writer_append(w, ev, 1), -EINVAL);
	ev[0].ts_ns = 20;
	ev[1].ts_ns = 25;
	assert_int_equal(mbx_profile_writer_append(w, ev, 2), 0);
	assert_int_equal(mbx_profile_writer_totals(w)->events, 4);
	/* bad counters */
	make_kv(kv, 2, 1);
	memset(kv[1].name, 'n', sizeof(kv[1].name));
	assert_int_equal(mbx_profile_writer_stats(w, kv, 2), -EINVAL);
	assert_int_equal(mbx_profile_writer_stats(w, kv, MBX_PROFILE_MAX_COUNTERS + 1), -EINVAL);
	assert_int_equal(mbx_profile_writer_stats(w, kv, 1), 0);
	assert_int_equal(mbx_profile_writer_close(w, kv, 1), 0);
	read_file(tpath("mode"), out, 8, &res);
	assert_int_equal(res.state, MBX_PROFILE_OK);
	assert_int_equal(res.n, 4);
	assert_int_equal(out[0].ts_ns, 10);
	assert_int_equal(out[1].ts_ns, 20);
	assert_int_equal(out[2].ts_ns, 20);
	assert_int_equal(out[3].ts_ns, 25);
	assert_int_equal(mbx_profile_writer_close(NULL, NULL, 0), 0);
	mbx_profile_reader_close(NULL);
}

/* A file size limit makes a block write fail halfway (short write, then
 * EFBIG): the writer must stay failed, and the file must read back as the
 * complete blocks before the torn one. */
static void writer_disk_full(void **state)
{
	struct mbx_event out[256];
	struct rd res;
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = {440 + 3 * (48 + 16 * 32) + 100, RLIM_INFINITY};
		struct mbx_profile_writer_opts o = {.block_events = 16};
		struct mbx_profile_writer *w;
		struct mbx_event e;
		int rc = 0;
		size_t i;

		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(10);
		w = mbx_profile_writer_open(tpath("full2"), NULL, &o);
		if (!w)
			_exit(11);
		for (i = 0; i < 1000 && rc == 0; i++) {
			make_event(i, &e);
			rc = mbx_profile_writer_append(w, &e, 1);
		}
		if (rc != -EFBIG || i != 64)
			_exit(12);
		make_event(i, &e);
		if (mbx_profile_writer_append(w, &e, 1) != -EFBIG ||
		    mbx_profile_writer_flush(w) != -EFBIG)
			_exit(13);
		_exit(mbx_profile_writer_close(w, NULL, 0) == -EFBIG ? 0 : 14);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	read_file(tpath("full2"), out, 256, &res);
	assert_int_equal(res.rc, RD_END);
	assert_int_equal(res.state, MBX_PROFILE_INCOMPLETE);
	assert_int_equal(res.n, 48);
	check_prefix(out, 48);
	assert_int_equal(res.ignored, 100);
}

/* ---- crash safety: SIGKILL a recorder at random moments ---- */

struct shm_progress {
	volatile uint64_t appended; /* events appended (append returned) */
	volatile uint64_t flushed;  /* events written (flush returned) */
	volatile uint64_t ready;
};

#define KILL_RUNS  20
#define KILL_BLOCK 16
#define KILL_FLUSH 37
#define KILL_STATS 200
#define KILL_MAX   (4u << 20)

static void recorder_child(const char *path, struct shm_progress *sh, int ready_fd)
{
	struct mbx_profile_writer_opts o = {.block_events = KILL_BLOCK};
	struct mbx_profile_meta m = test_meta();
	struct mbx_profile_writer *w = mbx_profile_writer_open(path, &m, &o);
	struct mbx_counter_kv kv[1];
	struct mbx_event e;
	char c = 1;

	if (!w)
		_exit(20);
	if (write(ready_fd, &c, 1) != 1)
		_exit(21);
	memset(kv, 0, sizeof(kv));
	strcpy(kv[0].name, "events");
	for (uint64_t i = 0; i < KILL_MAX; i++) {
		make_event(i, &e);
		if (mbx_profile_writer_append(w, &e, 1))
			_exit(22);
		__atomic_store_n(&sh->appended, i + 1, __ATOMIC_SEQ_CST);
		if ((i + 1) % KILL_FLUSH == 0) {
			if (mbx_profile_writer_flush(w))
				_exit(23);
			__atomic_store_n(&sh->flushed, i + 1, __ATOMIC_SEQ_CST);
		}
		if ((i + 1) % KILL_STATS == 0) {
			kv[0].value = i + 1;
			if (mbx_profile_writer_stats(w, kv, 1))
				_exit(24);
			__atomic_store_n(&sh->flushed, i + 1, __ATOMIC_SEQ_CST);
		}
	}
	_exit(25); /* never closes: a recorder that dies without a footer */
}

static void crash_kill_recorder(void **state)
{
	struct shm_progress *sh;
	struct mbx_event *out;
	uint64_t seed = 20240601;

	(void)state;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	assert_true(sh != MAP_FAILED);
	out = malloc((size_t)KILL_MAX * sizeof(*out));
	assert_non_null(out);
	for (int run = 0; run < KILL_RUNS; run++) {
		struct rd res;
		int pfd[2], status;
		char c;
		pid_t pid;
		uint64_t delay_us, appended, flushed;

		seed = mix(seed);
		delay_us = seed % 30000; /* 0-30 ms */
		memset(sh, 0, sizeof(*sh));
		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			recorder_child(tpath("killed"), sh, pfd[1]);
		}
		close(pfd[1]);
		assert_int_equal(read(pfd[0], &c, 1), 1); /* header written */
		close(pfd[0]);
		usleep((useconds_t)delay_us);
		kill(pid, SIGKILL);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status))
			fail_msg("run %d: recorder exited with %d before the kill", run,
				 WEXITSTATUS(status));
		appended = __atomic_load_n(&sh->appended, __ATOMIC_SEQ_CST);
		flushed = __atomic_load_n(&sh->flushed, __ATOMIC_SEQ_CST);

		read_file(tpath("killed"), out, KILL_MAX, &res);
		if (res.rc != RD_END)
			fail_msg("run %d: %s", run, res.err);
		assert_int_equal(res.state, MBX_PROFILE_INCOMPLETE);
		check_prefix(out, res.n);
		/* Everything flushed is there; at most one block's worth of
		 * appended events is missing (plus one for the race between
		 * the child's write and its progress update). */
		if (res.n < flushed || res.n > appended + 1 ||
		    appended - MBX_MIN(appended, res.n) >= KILL_BLOCK)
			fail_msg("run %d: read %zu, child had appended %" PRIu64
				 " and flushed %" PRIu64,
				 run, res.n, appended, flushed);
		if (res.nkv) {
			assert_string_equal(res.kv[0].name, "events");
			assert_true(res.kv[0].value <= res.n);
			assert_int_equal(res.kv[0].value % KILL_STATS, 0);
		}
		print_message("kill run %2d after %5" PRIu64 " us: %8zu events read, %3" PRIu64
			      " bytes of a partial block ignored\n",
			      run, delay_us, res.n, res.ignored);
	}
	free(out);
	munmap(sh, sizeof(*sh));
}

/* ---- throughput (a report, not an assertion) ---- */

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void throughput_report(void **state)
{
	const char *env = getenv("MBX_PROFILE_BENCH_EVENTS");
	size_t total = env ? (size_t)strtoull(env, NULL, 10) : (size_t)2 << 20;
	size_t batch = 256, seen = 0, n;
	struct mbx_event *ev = malloc(batch * sizeof(*ev));
	struct mbx_profile_writer *w;
	struct mbx_profile_reader *r;
	const struct mbx_event *rev;
	uint64_t sum = 0;
	double t0, t1, t2;
	char err[256];

	(void)state;
	assert_non_null(ev);
	for (size_t j = 0; j < batch; j++)
		make_event(j, &ev[j]);
	/* one event per call, as a recorder without batching would */
	w = mbx_profile_writer_open(tpath("bench"), NULL, NULL);
	assert_non_null(w);
	t0 = now_s();
	for (size_t i = 0; i < total; i++) {
		ev[0].ts_ns = TS_BASE + i;
		assert_int_equal(mbx_profile_writer_append(w, ev, 1), 0);
	}
	assert_int_equal(mbx_profile_writer_close(w, NULL, 0), 0);
	t1 = now_s();
	print_message("profile append, 1 event per call: %.1f Mev/s\n", total / (t1 - t0) / 1e6);

	w = mbx_profile_writer_open(tpath("bench"), NULL, NULL);
	assert_non_null(w);
	t0 = now_s();
	for (size_t i = 0; i < total; i += batch) {
		for (size_t j = 0; j < batch; j++)
			ev[j].ts_ns = TS_BASE + i + j;
		assert_int_equal(mbx_profile_writer_append(w, ev, batch), 0);
	}
	assert_int_equal(mbx_profile_writer_close(w, NULL, 0), 0);
	t1 = now_s();
	r = mbx_profile_reader_open(tpath("bench"), err, sizeof(err));
	assert_non_null(r);
	while (mbx_profile_reader_next(r, &rev, &n) == 1) {
		seen += n;
		sum += rev[n - 1].key_hash;
	}
	t2 = now_s();
	assert_int_equal(mbx_profile_reader_state(r, NULL), MBX_PROFILE_OK);
	mbx_profile_reader_close(r);
	assert_int_equal(seen, (total + batch - 1) / batch * batch);
	print_message("profile throughput, %zu events (%.0f MiB), page cache: "
		      "append (256 per call)+close %.1f Mev/s (%.0f MiB/s), read %.1f Mev/s (%.0f "
		      "MiB/s) [%" PRIx64 "]\n",
		      seen, seen * 32.0 / 1048576, seen / (t1 - t0) / 1e6,
		      seen * 32.0 / 1048576 / (t1 - t0), seen / (t2 - t1) / 1e6,
		      seen * 32.0 / 1048576 / (t2 - t1), sum & 0xf);
	unlink(tpath("bench"));
	free(ev);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(round_trip),
	    cmocka_unit_test(meta_null_and_no_counters),
	    cmocka_unit_test(stats_interleaved),
	    cmocka_unit_test(truncate_at_every_length),
	    cmocka_unit_test(flip_every_bit),
	    cmocka_unit_test(random_corruption),
	    cmocka_unit_test(header_rules),
	    cmocka_unit_test(minor_version_compatibility),
	    cmocka_unit_test(hostile_block_headers),
	    cmocka_unit_test(structural_checks),
	    cmocka_unit_test(writer_errors),
	    cmocka_unit_test(writer_disk_full),
	    cmocka_unit_test(crash_kill_recorder),
	    cmocka_unit_test(throughput_report),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
