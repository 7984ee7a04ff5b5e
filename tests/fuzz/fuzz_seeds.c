/* SPDX-License-Identifier: Apache-2.0 */
/* mbx-fuzz-seeds: build seed corpora for the libFuzzer harnesses.
 *
 *   mbx-fuzz-seeds OUTDIR [CAPTURE...]
 *
 * writes OUTDIR/<harness>/<name> for every harness of tests/fuzz/, in each
 * harness's input format (see the comment at the top of each fuzz_*.c):
 * - fuzz_capture: memcache conversations built with tests/lib/pktbuild
 *   (every link type, IPv6, VLAN, loss, reordering, duplicates, mid-stream
 *   starts) and the packets of each CAPTURE file, cut into pieces;
 * - fuzz_request / fuzz_response: the request and reply streams of the same
 *   conversations (text, meta, binary), whole and per protocol;
 * - fuzz_profile: profiles written by the profile writer (complete,
 *   incomplete, with stats blocks) and recorded from the first CAPTURE;
 * - fuzz_replay: requests in each protocol with the replies memcached 1.6
 *   would send.
 * Deterministic: the same inputs give the same files. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mbx/decode.h"
#include "mbx/event.h"
#include "mbx/hash.h"
#include "mbx/profile.h"
#include "mbx/record.h"
#include "mbx/replay_proto.h"
#include "mbx/source.h"
#include "pktbuild.h"

static const char *outdir;
static unsigned nwritten;

/* ---- output ---------------------------------------------------------------- */

struct buf {
	uint8_t *p;
	size_t n, cap;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 256;
		b->p = realloc(b->p, b->cap);
		if (!b->p) {
			perror("realloc");
			exit(1);
		}
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

static void put8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put16le(struct buf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };
	put(b, x, 2);
}

static void put32le(struct buf *b, uint32_t v)
{
	put16le(b, (uint16_t)v);
	put16le(b, (uint16_t)(v >> 16));
}

static void puts_(struct buf *b, const char *s)
{
	put(b, s, strlen(s));
}

static void write_seed(const char *harness, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", outdir, harness);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, harness, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "mbx-fuzz-seeds: cannot write %s: %s\n", path, strerror(errno));
		exit(1);
	}
	nwritten++;
}

/* ---- conversations ------------------------------------------------------------ */

/* A binary packet (request magic 0x80, response 0x81). */
static void bin_v(struct buf *b, uint8_t magic, uint8_t opc, uint16_t status, uint32_t opaque,
		  const char *extras, size_t elen, const char *key, const void *val, size_t vlen)
{
	uint8_t h[24] = { 0 };
	size_t klen = key ? strlen(key) : 0;
	h[0] = magic;
	h[1] = opc;
	mbx_wr16be(h + 2, (uint16_t)klen);
	h[4] = (uint8_t)elen;
	mbx_wr16be(h + 6, status);
	mbx_wr32be(h + 8, (uint32_t)(elen + klen + vlen));
	mbx_wr32be(h + 12, opaque);
	put(b, h, sizeof(h));
	put(b, extras, elen);
	put(b, key, klen);
	put(b, val, vlen);
}

static void bin(struct buf *b, uint8_t magic, uint8_t opc, uint16_t status, uint32_t opaque,
		const char *extras, size_t elen, const char *key, const char *val)
{
	bin_v(b, magic, opc, status, opaque, extras, elen, key, val, val ? strlen(val) : 0);
}

struct exch {
	const char *name;
	const char *req, *rsp; /* text and meta; NULL: binary, built by bin_exch */
};

static const struct exch text_exch[] = {
	{ "get-hit", "get foo\r\n", "VALUE foo 0 3\r\nbar\r\nEND\r\n" },
	{ "get-miss", "get nope\r\n", "END\r\n" },
	{ "get-multi", "get a b c\r\n", "VALUE a 0 1\r\nx\r\nVALUE c 5 2\r\nyy\r\nEND\r\n" },
	{ "gets", "gets foo\r\n", "VALUE foo 0 3 42\r\nbar\r\nEND\r\n" },
	{ "gat", "gat 10 foo bar\r\n", "VALUE bar 0 1\r\nz\r\nEND\r\n" },
	{ "gats", "gats 0 foo\r\n", "VALUE foo 1 3 9\r\nbar\r\nEND\r\n" },
	{ "set", "set foo 0 0 3\r\nbar\r\n", "STORED\r\n" },
	{ "set-noreply", "set k 1 60 2 noreply\r\nhi\r\n", "" },
	{ "add", "add foo 0 0 1\r\nx\r\n", "NOT_STORED\r\n" },
	{ "replace", "replace foo 0 0 1\r\nx\r\n", "STORED\r\n" },
	{ "append", "append foo 0 0 2\r\nzz\r\n", "STORED\r\n" },
	{ "prepend", "prepend foo 0 0 2\r\nzz\r\n", "NOT_STORED\r\n" },
	{ "cas", "cas foo 0 0 1 99\r\nx\r\n", "EXISTS\r\n" },
	{ "delete", "delete foo\r\n", "DELETED\r\n" },
	{ "delete-miss", "delete foo noreply\r\ndelete bar\r\n", "NOT_FOUND\r\n" },
	{ "incr", "incr n 5\r\n", "15\r\n" },
	{ "decr", "decr n 1\r\n", "NOT_FOUND\r\n" },
	{ "touch", "touch foo 10\r\n", "TOUCHED\r\n" },
	{ "version", "version\r\n", "VERSION 1.6.21\r\n" },
	{ "stats", "stats\r\n", "STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n" },
	{ "flush", "flush_all\r\n", "OK\r\n" },
	{ "verbosity", "verbosity 1\r\n", "OK\r\n" },
	{ "error", "bogus\r\n", "ERROR\r\n" },
	{ "client-error", "set k 0 0 -1\r\n", "CLIENT_ERROR bad data chunk\r\n" },
	{ "server-error", "get k\r\n", "SERVER_ERROR out of memory\r\n" },
	{ "pipeline", "get a\r\nset b 0 0 1\r\n1\r\nget c d\r\ndelete e\r\n",
	  "END\r\nSTORED\r\nVALUE d 0 2\r\nok\r\nEND\r\nDELETED\r\n" },
};

static const struct exch meta_exch[] = {
	{ "mg-hit", "mg foo v k t\r\n", "VA 3 kfoo t-1\r\nbar\r\n" },
	{ "mg-miss", "mg foo v\r\n", "EN\r\n" },
	{ "mg-quiet", "mg foo v q O123\r\nmg bar v q k O124\r\nmn\r\n",
	  "VA 2 kbar O124\r\nhi\r\nMN\r\n" },
	{ "mg-hd", "mg foo s c f\r\n", "HD s3 c7 f0\r\n" },
	{ "mg-base64", "mg Zm9v b v k\r\n", "VA 3 b kZm9v\r\nbar\r\n" },
	{ "ms", "ms foo 3 T0 F5\r\nbar\r\n", "HD\r\n" },
	{ "ms-modes", "ms foo 2 MA q\r\nhi\r\nms foo 2 ME\r\nhi\r\nmn\r\n", "NS\r\nMN\r\n" },
	{ "ms-cas", "ms foo 3 C99\r\nbar\r\n", "EX\r\n" },
	{ "ms-invalid", "ms foo 3 I\r\nbar\r\n", "NS\r\n" },
	{ "md", "md foo\r\n", "NF\r\n" },
	{ "md-quiet", "md foo q\r\nmn\r\n", "MN\r\n" },
	{ "ma", "ma cnt D5 MD v\r\n", "VA 2\r\n10\r\n" },
	{ "ma-miss", "ma cnt\r\n", "NF\r\n" },
	{ "me", "me foo\r\n", "ME foo exp=-1 la=1 cas=2 fetch=no cls=1 size=63\r\n" },
	{ "mn", "mn\r\n", "MN\r\n" },
	{ "mixed-text", "mg a v\r\nget b\r\nms c 1\r\nx\r\n", "EN\r\nEND\r\nHD\r\n" },
	{ "errors", "mg\r\nms foo bad\r\n", "CLIENT_ERROR bad command line format\r\nCLIENT_ERROR bad data chunk\r\n" },
};

enum { BIN_GET, BIN_GETK, BIN_GETQ, BIN_SET, BIN_DEL, BIN_INCR, BIN_VERSION, BIN_STAT,
       BIN_NOOP, BIN_TOUCH, BIN_ERR, BIN__N };
static const char *const bin_names[BIN__N] = { "get",	"getk", "getq-noop", "set",  "delete", "incr",
					       "version", "stat", "noop",	     "touch", "unknown" };

static void bin_exch(unsigned which, struct buf *req, struct buf *rsp)
{
	static const char fl[4] = { 0, 0, 0, 5 };
	static const char store[8] = { 0, 0, 0, 1, 0, 0, 0, 0 };
	static const char arith[20] = { 0, 0, 0, 0, 0, 0, 0, 2, 0 };
	static const char ttl[4] = { 0, 0, 0, 9 };
	static const char num[8] = { 0, 0, 0, 0, 0, 0, 0, 7 };
	switch (which) {
	case BIN_GET:
		bin(req, 0x80, 0x00, 0, 1, NULL, 0, "foo", NULL);
		bin(rsp, 0x81, 0x00, 0, 1, fl, 4, NULL, "bar");
		break;
	case BIN_GETK:
		bin(req, 0x80, 0x0c, 0, 2, NULL, 0, "foo", NULL);
		bin(rsp, 0x81, 0x0c, 0, 2, fl, 4, "foo", "bar");
		break;
	case BIN_GETQ:
		bin(req, 0x80, 0x09, 0, 3, NULL, 0, "miss", NULL);
		bin(req, 0x80, 0x0d, 0, 4, NULL, 0, "hit", NULL);
		bin(req, 0x80, 0x0a, 0, 5, NULL, 0, NULL, NULL);
		bin(rsp, 0x81, 0x0d, 0, 4, fl, 4, "hit", "v");
		bin(rsp, 0x81, 0x0a, 0, 5, NULL, 0, NULL, NULL);
		break;
	case BIN_SET:
		bin(req, 0x80, 0x01, 0, 6, store, 8, "foo", "value");
		bin(rsp, 0x81, 0x01, 0, 6, NULL, 0, NULL, NULL);
		break;
	case BIN_DEL:
		bin(req, 0x80, 0x04, 0, 7, NULL, 0, "foo", NULL);
		bin(rsp, 0x81, 0x04, 1, 7, NULL, 0, NULL, "Not found");
		break;
	case BIN_INCR:
		bin(req, 0x80, 0x05, 0, 8, arith, 20, "n", NULL);
		bin_v(rsp, 0x81, 0x05, 0, 8, NULL, 0, NULL, num, sizeof(num));
		break;
	case BIN_VERSION:
		bin(req, 0x80, 0x0b, 0, 9, NULL, 0, NULL, NULL);
		bin(rsp, 0x81, 0x0b, 0, 9, NULL, 0, NULL, "1.6.21");
		break;
	case BIN_STAT:
		bin(req, 0x80, 0x10, 0, 10, NULL, 0, NULL, NULL);
		bin(rsp, 0x81, 0x10, 0, 10, NULL, 0, "pid", "1");
		bin(rsp, 0x81, 0x10, 0, 10, NULL, 0, NULL, NULL);
		break;
	case BIN_NOOP:
		bin(req, 0x80, 0x0a, 0, 11, NULL, 0, NULL, NULL);
		bin(rsp, 0x81, 0x0a, 0, 11, NULL, 0, NULL, NULL);
		break;
	case BIN_TOUCH:
		bin(req, 0x80, 0x1c, 0, 12, ttl, 4, "foo", NULL);
		bin(rsp, 0x81, 0x1c, 0, 12, NULL, 0, NULL, NULL);
		break;
	default:
		bin(req, 0x80, 0x42, 0, 13, NULL, 0, NULL, NULL);
		bin(rsp, 0x81, 0x42, 0x81, 13, NULL, 0, NULL, "Unknown command");
		break;
	}
}

/* ---- fuzz_request / fuzz_response ------------------------------------------ */

static void parser_seed(const char *harness, const char *name, uint8_t flags, uint32_t seed,
			const void *p, size_t n)
{
	struct buf b = { 0 };
	put8(&b, flags);
	put32le(&b, seed);
	put(&b, p, n);
	write_seed(harness, name, b.p, b.n);
	free(b.p);
}

static void stream_seeds(const char *proto, const struct buf *req, const struct buf *rsp,
			 unsigned idx)
{
	char name[128];
	snprintf(name, sizeof(name), "%s-%u", proto, idx);
	parser_seed("fuzz_request", name, 0, 1 + idx, req->p, req->n);
	parser_seed("fuzz_response", name, 0, 1 + idx, rsp->p, rsp->n);
}

/* ---- fuzz_capture ------------------------------------------------------------ */

static const enum pb_link cap_links[8] = { PB_ETH, PB_SLL, PB_SLL2, PB_RAW, PB_NULL, PB_LOOP,
					   PB_RAW, PB_RAW };

/* fuzz_capture format: config byte, then (u16 caplen, u16 step us, frame). */
static void frames_seed(const char *name, uint8_t conf, const struct pb_frames *fl)
{
	struct buf b = { 0 };
	uint64_t prev = fl->n ? fl->v[0].ts_ns : 0;
	put8(&b, conf);
	for (size_t i = 0; i < fl->n; i++) {
		uint32_t len = MBX_MIN(fl->v[i].len, 0xffffu);
		uint64_t step = (fl->v[i].ts_ns - prev) / 1000;
		prev = fl->v[i].ts_ns;
		put16le(&b, (uint16_t)len);
		put16le(&b, (uint16_t)MBX_MIN(step, 0xfffeu));
		put(&b, fl->v[i].data, len);
	}
	write_seed("fuzz_capture", name, b.p, b.n);
	free(b.p);
}

struct conv_opts {
	unsigned link;	/* index into cap_links (6: IPv4 DLT, 7: IPv6 DLT) */
	bool v6;
	uint8_t nvlan;
	bool midstream;
	uint32_t mss;
	double drop, dup, swap;
	uint8_t conf_extra; /* tiny bounds / no merge bits */
};

static void conv_seed(const char *name, const struct buf *req, const struct buf *rsp,
		      const struct conv_opts *o)
{
	struct pb_frames fl = { 0 };
	struct pb_conn c;
	bool v6 = o->v6 || o->link == 7;
	pb_conn_init_emit(&c, cap_links[o->link], pb_frames_emit, &fl, v6 ? "fd00::1" : "10.0.0.1",
			  40000, v6 ? "fd00::2" : "10.0.0.2", 11211);
	c.tmpl.nvlan = o->nvlan;
	if (o->mss)
		c.mss = o->mss;
	c.drop_rate = o->drop;
	c.dup_rate = o->dup;
	c.swap_rate = o->swap;
	c.rng = 7;
	c.acks = true;
	if (o->midstream)
		pb_conn_midstream(&c);
	else
		pb_conn_open(&c, 1 * PB_S);
	pb_conn_send(&c, PB_C2S, req->p, req->n, 1 * PB_S + 1 * PB_MS);
	if (rsp->n)
		pb_conn_send(&c, PB_S2C, rsp->p, rsp->n, 1 * PB_S + 2 * PB_MS);
	pb_conn_close(&c, 1 * PB_S + 3 * PB_MS);
	if (c.err)
		fprintf(stderr, "mbx-fuzz-seeds: %s: pktbuild error %d\n", name, c.err);
	else
		frames_seed(name, (uint8_t)(o->link | o->conf_extra), &fl);
	pb_frames_free(&fl);
	free(fl.v);
}

/* A capture file, cut into pieces of at most max_frames frames. */
static void capture_seeds(const char *path, unsigned max_seeds, unsigned max_frames)
{
	char err[512];
	struct mbx_pcap_file *f = mbx_pcap_file_open(path, err, sizeof(err));
	struct pb_frames fl = { 0 };
	struct mbx_pkt pkt;
	unsigned nseeds = 0;
	int conf = -1;

	if (!f) {
		fprintf(stderr, "mbx-fuzz-seeds: %s\n", err);
		return;
	}
	switch (mbx_pcap_file_linktype(f)) {
	case MBX_LINK_ETHERNET: conf = 0; break;
	case MBX_LINK_SLL: conf = 1; break;
	case MBX_LINK_SLL2: conf = 2; break;
	case MBX_LINK_RAW: case MBX_LINK_RAW_DLT: conf = 3; break;
	case MBX_LINK_NULL: conf = 4; break;
	case MBX_LINK_LOOP: conf = 5; break;
	case MBX_LINK_IPV4: conf = 6; break;
	case MBX_LINK_IPV6: conf = 7; break;
	default: break;
	}
	if (conf < 0) {
		fprintf(stderr, "mbx-fuzz-seeds: %s: link type %d not in fuzz_capture's table\n", path,
			mbx_pcap_file_linktype(f));
		mbx_pcap_file_close(f);
		return;
	}
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	while (nseeds < max_seeds && mbx_pcap_file_next(f, &pkt) == 1) {
		pb_frames_add(&fl, pkt.ts_ns, pkt.data, pkt.caplen);
		if (fl.n == max_frames) {
			char name[300];
			snprintf(name, sizeof(name), "cap-%s-%u", base, nseeds++);
			frames_seed(name, (uint8_t)conf, &fl);
			pb_frames_free(&fl);
		}
	}
	if (fl.n && nseeds < max_seeds) {
		char name[300];
		snprintf(name, sizeof(name), "cap-%s-%u", base, nseeds);
		frames_seed(name, (uint8_t)conf, &fl);
	}
	pb_frames_free(&fl);
	free(fl.v);
	mbx_pcap_file_close(f);
}

/* ---- fuzz_profile ------------------------------------------------------------- */

static void profile_seed_from(const char *name, const char *path, size_t cut)
{
	FILE *f = fopen(path, "rb");
	struct buf b = { 0 };
	uint8_t tmp[65536];
	size_t n;

	if (!f)
		return;
	put8(&b, 1); /* fix checksums after mutation */
	while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0)
		put(&b, tmp, n);
	fclose(f);
	if (cut && cut < b.n)
		b.n = cut;
	write_seed("fuzz_profile", name, b.p, b.n);
	free(b.p);
}

static void profile_seeds(const char *tmpdir, const char *capture)
{
	char path[4096];
	struct mbx_profile_meta meta;
	struct mbx_profile_writer_opts wo = { .block_events = 8 };
	struct mbx_event ev[40];
	struct mbx_counter_kv kv[3] = { { "pkts", 100 }, { "gaps", 2 }, { "from_the_future", 7 } };

	memset(&meta, 0, sizeof(meta));
	meta.created_ns = 1700000000ULL * PB_S;
	meta.nports = 1;
	meta.ports[0] = 11211;
	snprintf(meta.source, sizeof(meta.source), "file:seed.pcap");
	snprintf(meta.hostname, sizeof(meta.hostname), "seedhost");
	snprintf(meta.mbx_version, sizeof(meta.mbx_version), "0.1.0");
	for (unsigned i = 0; i < MBX_ARRAY_SIZE(ev); i++) {
		memset(&ev[i], 0, sizeof(ev[i]));
		ev[i].ts_ns = 1700000000ULL * PB_S + i * 1000;
		ev[i].key_hash = 0x1111ULL * (i % 7);
		ev[i].conn_id = 1 + i % 3;
		ev[i].latency_ns = i % 5 ? 1000 * i : MBX_LAT_NONE;
		ev[i].value_len = i * 10;
		ev[i].op = (uint8_t)(1 + i % (MBX_OP__COUNT - 1));
		ev[i].key_len = (uint8_t)(3 + i % 20);
		ev[i].outcome = (uint8_t)(i % MBX_OUT__COUNT);
		ev[i].flags = (uint8_t)(i % 3);
	}
	snprintf(path, sizeof(path), "%s/p.mbx", tmpdir);
	struct mbx_profile_writer *w = mbx_profile_writer_open(path, &meta, &wo);
	if (!w) {
		perror("mbx_profile_writer_open");
		exit(1);
	}
	mbx_profile_writer_append(w, ev, 20);
	mbx_profile_writer_stats(w, kv, 2);
	mbx_profile_writer_append(w, ev + 20, 20);
	mbx_profile_writer_close(w, kv, 3);
	profile_seed_from("complete", path, 0);
	profile_seed_from("incomplete", path, 1 + 440 + 3 * (48 + 8 * 32) + 17);

	w = mbx_profile_writer_open(path, &meta, NULL);
	mbx_profile_writer_close(w, NULL, 0);
	profile_seed_from("empty", path, 0);

	if (capture) {
		struct mbx_record_cfg cfg;
		struct mbx_record_result res;
		char err[512];
		mbx_record_cfg_defaults(&cfg);
		cfg.block_events = 64;
		if (mbx_record_file(&cfg, capture, path, &res, err, sizeof(err)) == 0) {
			struct stat st;
			/* the head of a real recording: blocks of real events */
			if (stat(path, &st) == 0)
				profile_seed_from("recorded-head", path, MBX_MIN((size_t)st.st_size, 16384));
		} else {
			fprintf(stderr, "mbx-fuzz-seeds: recording %s: %s\n", capture, err);
		}
	}
	unlink(path);
}

/* ---- fuzz_replay -------------------------------------------------------------- */

struct rspec {
	uint8_t rec_op, rec_proto, quiet, nk, variant, klen, vlen3;
};

/* A reply as memcached 1.6 would send it (hit for even keys). Must derive
 * keys exactly as fuzz_replay.c does. */
static void replay_reply(struct buf *r, const struct mbx_rreq *rq, const uint8_t *hdr,
			 unsigned op, unsigned idx)
{
	char line[600];
	unsigned cls = mbx_op_class(op);

	if (rq->proto == MBX_PROTO_TEXT) {
		if (cls == MBX_OPC_RETR) {
			for (unsigned k = 0; k < rq->nkeys; k++) {
				if ((k + idx) & 1)
					continue;
				bool cas = op == MBX_OP_GETS || op == MBX_OP_GATS;
				snprintf(line, sizeof(line), "VALUE %.*s 0 3%s\r\nabc\r\n", rq->key_lens[k],
					 rq->keys[k], cas ? " 77" : "");
				puts_(r, line);
			}
			puts_(r, "END\r\n");
		} else if (rq->quiet) {
			return;
		} else if (cls == MBX_OPC_STORE) {
			puts_(r, op == MBX_OP_CAS ? "EXISTS\r\n" : "STORED\r\n");
		} else if (cls == MBX_OPC_DEL) {
			puts_(r, idx & 1 ? "NOT_FOUND\r\n" : "DELETED\r\n");
		} else if (cls == MBX_OPC_ARITH) {
			puts_(r, idx & 1 ? "NOT_FOUND\r\n" : "6\r\n");
		} else if (cls == MBX_OPC_TOUCH) {
			puts_(r, "TOUCHED\r\n");
		} else if (op == MBX_OP_VERSION) {
			puts_(r, "VERSION 1.6.21\r\n");
		} else if (op == MBX_OP_STATS) {
			puts_(r, "STAT pid 1\r\nSTAT uptime 9\r\nEND\r\n");
		}
		return;
	}
	if (rq->proto == MBX_PROTO_META) {
		char o[24] = "";
		if (rq->opaque)
			snprintf(o, sizeof(o), " O%u", rq->opaque);
		bool hit = !(idx & 1);
		switch (op) {
		case MBX_OP_MG:
			if (!hit) {
				if (!rq->quiet) {
					snprintf(line, sizeof(line), "EN%s\r\n", o);
					puts_(r, line);
				}
				return;
			}
			snprintf(line, sizeof(line), "%s%s%s%.*s%s%s\r\n%s",
				 rq->variant & MBX_MG_V ? "VA 3" : "HD",
				 (rq->variant & MBX_RREQ_MG_C) ? " c77" : "",
				 (rq->variant & MBX_MG_K) ? " k" : "",
				 (rq->variant & MBX_MG_K) ? rq->key_lens[0] : 0, rq->keys[0], o, "",
				 rq->variant & MBX_MG_V ? "abc\r\n" : "");
			puts_(r, line);
			return;
		case MBX_OP_MS:
		case MBX_OP_MD:
			if (rq->quiet && hit)
				return;
			snprintf(line, sizeof(line), "%s%s\r\n",
				 hit ? "HD" : (op == MBX_OP_MS ? "NS" : "NF"), o);
			puts_(r, line);
			return;
		case MBX_OP_MA:
			if (rq->quiet && hit)
				return;
			if (!hit)
				snprintf(line, sizeof(line), "NF%s\r\n", o);
			else if (rq->variant & MBX_RREQ_MA_V)
				snprintf(line, sizeof(line), "VA 1%s\r\n6\r\n", o);
			else
				snprintf(line, sizeof(line), "HD%s\r\n", o);
			puts_(r, line);
			return;
		case MBX_OP_MN:
			puts_(r, "MN\r\n");
			return;
		case MBX_OP_ME:
			snprintf(line, sizeof(line), "ME %.*s exp=-1 la=1 cas=2 fetch=no cls=1 size=63\r\n",
				 rq->key_lens[0], rq->keys[0]);
			puts_(r, line);
			return;
		case MBX_OP_VERSION:
			puts_(r, "VERSION 1.6.21\r\n");
			return;
		case MBX_OP_STATS:
			puts_(r, "STAT pid 1\r\nEND\r\n");
			return;
		default:
			return;
		}
	}
	/* binary: echo opcode and opaque */
	uint8_t opc = hdr[1];
	bool quiet = rq->quiet;
	bool hit = !(idx & 1);
	static const char fl[4] = { 0 };
	static const char num[8] = { 0, 0, 0, 0, 0, 0, 0, 6 };
	char key[256];
	snprintf(key, sizeof(key), "%.*s", rq->nkeys ? rq->key_lens[0] : 0, rq->nkeys ? rq->keys[0] : "");
	if (cls == MBX_OPC_RETR) {
		if (!hit) {
			if (!quiet)
				bin(r, 0x81, opc, 1, rq->opaque, NULL, 0, NULL, "Not found");
			return;
		}
		bool k = op == MBX_OP_GETK || op == MBX_OP_GETKQ || op == MBX_OP_GATK ||
			 op == MBX_OP_GATKQ;
		bin(r, 0x81, opc, 0, rq->opaque, fl, 4, k ? key : NULL, "abc");
	} else if (op == MBX_OP_VERSION) {
		bin(r, 0x81, opc, 0, rq->opaque, NULL, 0, NULL, "1.6.21");
	} else if (op == MBX_OP_STATS) {
		bin(r, 0x81, opc, 0, rq->opaque, NULL, 0, "pid", "1");
		bin(r, 0x81, opc, 0, rq->opaque, NULL, 0, NULL, NULL);
	} else if (quiet && hit) {
		return;
	} else if (!hit) {
		bin(r, 0x81, opc, cls == MBX_OPC_STORE ? 5 : 1, rq->opaque, NULL, 0, NULL, "Not found");
	} else if (cls == MBX_OPC_ARITH) {
		bin_v(r, 0x81, opc, 0, rq->opaque, NULL, 0, NULL, num, sizeof(num));
	} else {
		bin(r, 0x81, opc, 0, rq->opaque, NULL, 0, NULL, NULL);
	}
}

static void replay_seed(const char *name, unsigned proto, const struct rspec *rs, unsigned n)
{
	static struct mbx_valbuf *vb;
	static uint8_t scratch[MBX_RREQ_SCRATCH];
	struct buf in = { 0 }, reply = { 0 };
	struct mbx_keygen kg;
	char keys[MBX_BATCH_MAX][MBX_KEY_MAX];
	uint32_t opaque_ctr = 0;

	if (!vb)
		vb = mbx_valbuf_create(4096);
	mbx_keygen_init(&kg, NULL);
	put8(&in, (uint8_t)proto);
	put8(&in, (uint8_t)(n - 1));
	for (unsigned i = 0; i < n; i++) {
		const struct rspec *s = &rs[i];
		put8(&in, s->rec_op);
		put8(&in, (uint8_t)(s->rec_proto | s->quiet << 2 | (s->nk - 1) << 3 | s->variant << 6));
		put8(&in, (uint8_t)(s->klen - 1));
		put8(&in, s->vlen3);

		/* what fuzz_replay.c will send, to answer it */
		uint8_t variant = s->variant, quiet = s->quiet;
		unsigned op = mbx_rreq_translate(s->rec_op, s->rec_proto, proto, &variant, &quiet);
		if (op == MBX_OP_NONE || mbx_rreq_skipped_op(op))
			continue;
		bool multi = proto == MBX_PROTO_TEXT && mbx_op_class(op) == MBX_OPC_RETR;
		bool keyed = mbx_op_class(op) != MBX_OPC_OTHER || op == MBX_OP_ME;
		struct mbx_rreq rq;
		memset(&rq, 0, sizeof(rq));
		rq.op = (uint8_t)op;
		rq.proto = (uint8_t)proto;
		rq.variant = variant;
		rq.quiet = quiet;
		rq.nkeys = keyed ? (multi ? s->nk : 1) : 0;
		for (unsigned k = 0; k < rq.nkeys; k++) {
			size_t kl = mbx_keygen_key(&kg, 0x1234 + i * 64 + k, s->klen + k, keys[k]);
			rq.keys[k] = keys[k];
			rq.key_lens[k] = (uint8_t)kl;
		}
		rq.value_len = s->vlen3 * 3u;
		if (proto == MBX_PROTO_BINARY || (proto == MBX_PROTO_META && quiet))
			rq.opaque = ++opaque_ctr;
		struct mbx_rreq_wire wire;
		if (mbx_rreq_encode(&rq, vb, scratch, sizeof(scratch), &wire) < 0)
			continue;
		replay_reply(&reply, &rq, wire.hdr, op, i);
	}
	put32le(&in, 12345);
	put(&in, reply.p, reply.n);
	write_seed("fuzz_replay", name, in.p, in.n);
	free(in.p);
	free(reply.p);
}

static void replay_seeds(void)
{
	static const struct rspec text[] = {
		{ MBX_OP_GET, 0, 0, 3, 0, 5, 0 },    { MBX_OP_SET, 0, 0, 1, 0, 8, 4 },
		{ MBX_OP_SET, 0, 1, 1, 0, 8, 4 },    { MBX_OP_DELETE, 0, 0, 1, 0, 4, 0 },
		{ MBX_OP_INCR, 0, 0, 1, 0, 4, 0 },   { MBX_OP_GETS, 0, 0, 2, 0, 6, 0 },
		{ MBX_OP_TOUCH, 0, 0, 1, 0, 6, 0 },  { MBX_OP_VERSION, 0, 0, 1, 0, 1, 0 },
	};
	static const struct rspec meta[] = {
		{ MBX_OP_MG, 1, 0, 1, 1, 5, 0 },     { MBX_OP_MG, 1, 1, 1, 5, 5, 0 },
		{ MBX_OP_MS, 1, 0, 1, 0, 5, 2 },     { MBX_OP_MS, 1, 1, 1, 2, 5, 2 },
		{ MBX_OP_MD, 1, 1, 1, 0, 5, 0 },     { MBX_OP_MA, 1, 0, 1, 1, 5, 0 },
		{ MBX_OP_MN, 1, 0, 1, 0, 1, 0 },     { MBX_OP_GET, 0, 0, 1, 0, 7, 0 },
	};
	static const struct rspec binary[] = {
		{ MBX_OP_GET, 2, 0, 1, 0, 5, 0 },    { MBX_OP_GETKQ, 2, 1, 1, 0, 5, 0 },
		{ MBX_OP_SET, 2, 0, 1, 0, 5, 3 },    { MBX_OP_SETQ, 2, 1, 1, 0, 5, 3 },
		{ MBX_OP_DELETE, 2, 0, 1, 0, 5, 0 }, { MBX_OP_INCR, 2, 0, 1, 0, 5, 0 },
		{ MBX_OP_NOOP, 2, 0, 1, 0, 1, 0 },   { MBX_OP_VERSION, 2, 0, 1, 0, 1, 0 },
	};
	replay_seed("text", MBX_PROTO_TEXT, text, MBX_ARRAY_SIZE(text));
	replay_seed("meta", MBX_PROTO_META, meta, MBX_ARRAY_SIZE(meta));
	replay_seed("binary", MBX_PROTO_BINARY, binary, MBX_ARRAY_SIZE(binary));
	/* recorded text replayed as meta and binary, and the reverse */
	replay_seed("text-as-meta", MBX_PROTO_META, text, MBX_ARRAY_SIZE(text));
	replay_seed("text-as-binary", MBX_PROTO_BINARY, text, MBX_ARRAY_SIZE(text));
	replay_seed("binary-as-text", MBX_PROTO_TEXT, binary, MBX_ARRAY_SIZE(binary));
	replay_seed("meta-as-binary", MBX_PROTO_BINARY, meta, MBX_ARRAY_SIZE(meta));
}

/* ---- main --------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	char tmpdir[4096];

	if (argc < 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: mbx-fuzz-seeds OUTDIR [CAPTURE...]\n");
		return 2;
	}
	outdir = argv[1];
	if (mkdir(outdir, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "mbx-fuzz-seeds: %s: %s\n", outdir, strerror(errno));
		return 1;
	}
	if (pb_tmpdir(tmpdir, sizeof(tmpdir)) < 0) {
		perror("mbx-fuzz-seeds: temporary directory");
		return 1;
	}

	/* protocol streams: one per exchange, and one per protocol with all of them */
	struct buf all_req[3] = { 0 }, all_rsp[3] = { 0 };
	for (unsigned i = 0; i < MBX_ARRAY_SIZE(text_exch); i++) {
		struct buf q = { 0 }, r = { 0 };
		puts_(&q, text_exch[i].req);
		puts_(&r, text_exch[i].rsp);
		stream_seeds("text", &q, &r, i);
		put(&all_req[0], q.p, q.n);
		put(&all_rsp[0], r.p, r.n);
		struct conv_opts o = { .link = i % 8, .nvlan = (uint8_t)(i % 3), .mss = i % 4 ? 0 : 5 };
		char name[128];
		snprintf(name, sizeof(name), "text-%s", text_exch[i].name);
		conv_seed(name, &q, &r, &o);
		free(q.p);
		free(r.p);
	}
	for (unsigned i = 0; i < MBX_ARRAY_SIZE(meta_exch); i++) {
		struct buf q = { 0 }, r = { 0 };
		puts_(&q, meta_exch[i].req);
		puts_(&r, meta_exch[i].rsp);
		stream_seeds("meta", &q, &r, i);
		put(&all_req[1], q.p, q.n);
		put(&all_rsp[1], r.p, r.n);
		struct conv_opts o = { .link = (i + 3) % 8, .v6 = i & 1, .mss = i % 3 ? 0 : 7 };
		char name[128];
		snprintf(name, sizeof(name), "meta-%s", meta_exch[i].name);
		conv_seed(name, &q, &r, &o);
		free(q.p);
		free(r.p);
	}
	for (unsigned i = 0; i < BIN__N; i++) {
		struct buf q = { 0 }, r = { 0 };
		bin_exch(i, &q, &r);
		stream_seeds("binary", &q, &r, i);
		put(&all_req[2], q.p, q.n);
		put(&all_rsp[2], r.p, r.n);
		struct conv_opts o = { .link = (i + 5) % 8, .mss = i % 2 ? 0 : 11 };
		char name[128];
		snprintf(name, sizeof(name), "binary-%s", bin_names[i]);
		conv_seed(name, &q, &r, &o);
		free(q.p);
		free(r.p);
	}
	static const char *const pnames[3] = { "text", "meta", "binary" };
	for (unsigned p = 0; p < 3; p++) {
		char name[64];
		snprintf(name, sizeof(name), "%s-all", pnames[p]);
		parser_seed("fuzz_request", name, 0, 99, all_req[p].p, all_req[p].n);
		parser_seed("fuzz_response", name, 0, 99, all_rsp[p].p, all_rsp[p].n);
		snprintf(name, sizeof(name), "%s-all-midstream-gaps", pnames[p]);
		parser_seed("fuzz_request", name, 3, 7, all_req[p].p + 3, all_req[p].n - 3);
		parser_seed("fuzz_response", name, 3, 7, all_rsp[p].p + 3, all_rsp[p].n - 3);
		snprintf(name, sizeof(name), "%s-all-scarce", pnames[p]);
		parser_seed("fuzz_request", name, 4, 5, all_req[p].p, all_req[p].n);
		parser_seed("fuzz_response", name, 4, 5, all_rsp[p].p, all_rsp[p].n);

		/* the whole protocol as conversations under faults */
		static const struct conv_opts faults[] = {
			{ .link = 0, .mss = 13, .swap = 0.3, .dup = 0.2 },
			{ .link = 0, .mss = 17, .drop = 0.1 },
			{ .link = 7, .mss = 9, .swap = 0.2 },
			{ .link = 1, .midstream = true },
			{ .link = 0, .mss = 5, .swap = 0.3, .conf_extra = 0x08 }, /* tiny bounds */
			{ .link = 2, .mss = 23, .dup = 0.3, .conf_extra = 0x10 }, /* no merge */
		};
		for (unsigned f = 0; f < MBX_ARRAY_SIZE(faults); f++) {
			snprintf(name, sizeof(name), "%s-all-faults-%u", pnames[p], f);
			conv_seed(name, &all_req[p], &all_rsp[p], &faults[f]);
		}
		free(all_req[p].p);
		free(all_rsp[p].p);
	}

	for (int i = 2; i < argc; i++)
		capture_seeds(argv[i], 40, 48);
	profile_seeds(tmpdir, argc > 2 ? argv[2] : NULL);
	replay_seeds();
	pb_tmpdir_remove(tmpdir);
	printf("mbx-fuzz-seeds: %u files in %s\n", nwritten, outdir);
	return 0;
}
