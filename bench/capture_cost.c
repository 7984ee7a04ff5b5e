/* SPDX-License-Identifier: Apache-2.0 */
/* mbx-capture-cost: the per-packet cost of the capture worker (decode, flow
 * table, reassembly, parsers, key hashing, staging into an SPSC ring) on a
 * capture held in memory, without a PMD or a second thread. It is the
 * DPDK path's "mbx" figure (bench/capture-dpdk-cost) with the noise of
 * libpcap reading the file taken out, for A/B comparisons of code changes.
 * Not a test: it asserts nothing about speed.
 *
 * Each pass feeds every packet, in bursts of 32 copied first into a
 * 32-slot "mbuf" area (as a PMD would, untimed), to a fresh capture worker
 * whose messages go through a 64-message stage into a ring that is drained
 * at once (same thread). Only the worker's calls and the ring enqueue are
 * timed. Prints the median over passes of ns per packet, and of the
 * median per-burst cost per packet (the DPDK path's "mbx median").
 *
 *   mbx-capture-cost [--passes N] CAPTURE.pcap */
#include <inttypes.h>
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mbx/decode.h"
#include "mbx/record.h"
#include "mbx/ring.h"

#define BURST 32
#define STAGE 64
#define SNAP  2048

struct pkt_rec {
	uint64_t off;
	uint32_t caplen, wirelen;
	uint64_t ts_ns;
};

struct sink {
	struct mbx_msg stage[STAGE];
	unsigned n;
	struct mbx_msg *next;
	struct mbx_ring *ring;
	struct mbx_msg drain[4096];
	uint64_t msgs, x;
};

static void flush(struct sink *s)
{
	uint32_t n = mbx_ring_enqueue_burst(s->ring, s->stage, s->n);
	if (n < s->n) { /* cannot happen: drained after every burst */
		fprintf(stderr, "mbx-capture-cost: ring full\n");
		exit(1);
	}
	s->n = 0;
	s->next = s->stage;
}

/* The capture worker's sink as src/record/live.c's worker_emit builds it
 * (messages built in place in a 64-message stage, flushed into the ring when
 * full and at the end of each burst), minus its waits and drop counting,
 * which a ring drained after every burst never needs. */
static void emit(void *ctx, const struct mbx_msg *m)
{
	struct sink *s = ctx;
	if (m != s->next)
		*s->next = *m;
	s->next = &s->stage[++s->n];
	if (s->n == STAGE)
		flush(s);
}

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int passes = 5;
	const char *path = NULL;
	char err[PCAP_ERRBUF_SIZE];

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--passes") && i + 1 < argc)
			passes = atoi(argv[++i]);
		else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			fprintf(stderr, "usage: mbx-capture-cost [--passes N] CAPTURE.pcap\n");
			return 2;
		}
	}
	if (!path || passes < 1 || passes > 1000) {
		fprintf(stderr, "usage: mbx-capture-cost [--passes N] CAPTURE.pcap\n");
		return 2;
	}
	pcap_t *pc = pcap_open_offline_with_tstamp_precision(path, PCAP_TSTAMP_PRECISION_NANO, err);
	if (!pc) {
		fprintf(stderr, "mbx-capture-cost: %s\n", err);
		return 2;
	}
	int linktype = pcap_datalink(pc);
	size_t np = 0, cap = 1 << 16, dlen = 0, dcap = 1 << 26;
	struct pkt_rec *pk = malloc(cap * sizeof(*pk));
	uint8_t *data = malloc(dcap);
	struct pcap_pkthdr *h;
	const u_char *d;
	int r;
	if (!pk || !data)
		return 2;
	while ((r = pcap_next_ex(pc, &h, &d)) == 1) {
		uint32_t cl = h->caplen < SNAP ? h->caplen : SNAP;
		if (np == cap && !(pk = realloc(pk, (cap *= 2) * sizeof(*pk))))
			return 2;
		if (dlen + cl > dcap && !(data = realloc(data, dcap *= 2)))
			return 2;
		memcpy(data + dlen, d, cl);
		pk[np++] = (struct pkt_rec){ dlen, cl, h->len,
					     (uint64_t)h->ts.tv_sec * 1000000000ull +
						 (uint64_t)h->ts.tv_usec };
		dlen += cl;
	}
	pcap_close(pc);
	if (r != PCAP_ERROR_BREAK || np == 0) {
		fprintf(stderr, "mbx-capture-cost: %s: no packets read\n", path);
		return 2;
	}

	struct mbx_record_cfg cfg;
	if (mbx_record_cfg_defaults(&cfg) < 0)
		return 2;
	memset(cfg.salt, 0x11, sizeof(cfg.salt));
	static uint8_t mbuf[BURST][SNAP] __attribute__((aligned(64)));
	static struct sink s;
	s.ring = mbx_ring_create(1u << 16, sizeof(struct mbx_msg));
	if (!s.ring)
		return 2;
	size_t nb = (np + BURST - 1) / BURST;
	double *tot = calloc((size_t)passes, sizeof(double));
	double *med = calloc((size_t)passes, sizeof(double));
	double *per = malloc(nb * sizeof(double));
	if (!tot || !med || !per)
		return 2;

	for (int pass = 0; pass < passes; pass++) {
		struct mbx_counters ctr;
		memset(&ctr, 0, sizeof(ctr));
		s.next = s.stage;
		s.n = 0;
		struct mbx_msg_sink sk = { emit, &s, &s.next };
		struct mbx_cworker *w = mbx_cworker_create(&cfg, 0, &sk, &ctr);
		if (!w) {
			fprintf(stderr, "mbx-capture-cost: cannot create a capture worker\n");
			return 2;
		}
		uint64_t busy = 0;
		size_t b = 0;
		for (size_t i = 0; i < np; i += BURST, b++) {
			struct mbx_pkt burst[BURST];
			unsigned n = np - i < BURST ? (unsigned)(np - i) : BURST;
			for (unsigned j = 0; j < n; j++) { /* the "PMD" */
				const struct pkt_rec *p = &pk[i + j];
				memcpy(mbuf[j], data + p->off, p->caplen);
				burst[j] = (struct mbx_pkt){ .data = mbuf[j], .caplen = p->caplen,
							     .wirelen = p->wirelen, .ts_ns = p->ts_ns };
			}
			uint64_t t0 = now_ns();
			mbx_cworker_burst(w, burst, n, linktype);
			flush(&s);
			uint64_t t1 = now_ns();
			busy += t1 - t0;
			per[b] = (double)(t1 - t0) / n;
			uint32_t got;
			while ((got = mbx_ring_dequeue_burst(s.ring, s.drain, 4096)) > 0) {
				s.msgs += got;
				s.x ^= s.drain[got - 1].key_hash;
			}
		}
		mbx_cworker_flush(w, pk[np - 1].ts_ns + 1);
		flush(&s);
		while ((r = (int)mbx_ring_dequeue_burst(s.ring, s.drain, 4096)) > 0)
			s.msgs += (unsigned)r;
		mbx_cworker_destroy(w);
		qsort(per, nb, sizeof(double), cmp_d);
		tot[pass] = (double)busy / (double)np;
		med[pass] = per[nb / 2];
		if (pass == 0)
			fprintf(stderr, "mbx-capture-cost: %zu packets, %" PRIu64 " requests, %" PRIu64
				" responses parsed\n", np, ctr.req_msgs, ctr.rsp_msgs);
	}
	qsort(tot, (size_t)passes, sizeof(double), cmp_d);
	qsort(med, (size_t)passes, sizeof(double), cmp_d);
	printf("mbx-capture-cost: %d passes: per packet mean %.1f ns (median of passes; min %.1f "
	       "max %.1f), per-burst median %.1f ns; %" PRIu64 " messages (x %016" PRIx64 ")\n",
	       passes, tot[passes / 2], tot[0], tot[passes - 1], med[passes / 2], s.msgs, s.x);
	mbx_ring_destroy(s.ring);
	free(tot);
	free(med);
	free(per);
	free(pk);
	free(data);
	return 0;
}
