/* SPDX-License-Identifier: Apache-2.0 */
/* Replay statistics: merged percentiles against sorted arrays, outcome and
 * hit-ratio accounting, the lock-free interval flip with real threads (no
 * record lost or counted twice), the slow-worker path, time-series
 * coarsening, the progress line, the text report and the JSON document
 * (parsed back by /usr/bin/python3 when present). */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h> /* after setjmp.h, stdarg.h, stddef.h */

#include "mbx/rstats.h"

/* A request queued and written at the same moment, now_ns: what the replay
 * worker records in two steps (count when queued, lag when written). */
static void sent_now(struct mbx_rstats *st, unsigned op, unsigned proto, unsigned nkeys,
			    uint64_t intended_ns, uint64_t now_ns)
{
	mbx_rstats_sent_count(st, op, proto, nkeys, intended_ns, now_ns);
	if (intended_ns != MBX_RSTATS_UNTIMED)
		mbx_rstats_lag(st, intended_ns, now_ns);
}

static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

/* log-uniform in [lo, hi) */
static uint64_t rnd_log(uint64_t *s, double lo, double hi)
{
	double u = (double)(rnd(s) >> 11) / 9007199254740992.0;
	return (uint64_t)exp(log(lo) + u * (log(hi) - log(lo)));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* nearest-rank percentile of a sorted array */
static uint64_t exact_pct(const uint64_t *v, size_t n, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)n);
	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

static void check_pcts(const struct mbx_hist *h, uint64_t *v, size_t n)
{
	static const double ps[] = {0.1, 1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};

	qsort(v, n, sizeof(*v), cmp_u64);
	assert_int_equal(h->count, n);
	assert_int_equal(h->min, v[0]);
	assert_int_equal(h->max, v[n - 1]);
	assert_int_equal(mbx_hist_percentile(h, 100), v[n - 1]);
	for (size_t i = 0; i < MBX_ARRAY_SIZE(ps); i++) {
		uint64_t want = exact_pct(v, n, ps[i]), got = mbx_hist_percentile(h, ps[i]);
		if (got < want || (double)got > (double)want * 1.01)
			fail_msg("p%g: histogram %llu, exact %llu", ps[i], (unsigned long long)got,
				 (unsigned long long)want);
	}
}

/* ---- merged percentiles ---- */

static void merged_percentiles_match_sorted(void **state)
{
	(void)state;
	/* very different workers: an average of their percentiles is far off */
	static const struct {
		size_t n;
		double lo, hi;
	} w[4] = {
	    {20000, 1e3, 1e6},	 /* 1 us .. 1 ms */
	    {5000, 50e6, 200e6}, /* slow worker: 50 .. 200 ms */
	    {30000, 1e4, 2e4},	 /* narrow: 10 .. 20 us */
	    {1000, 1, 256},	 /* exact range of the histogram */
	};
	size_t total = 0, ng = 0, nm = 0;
	struct mbx_rstats *st[4];
	struct mbx_hist ref;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;

	for (unsigned i = 0; i < 4; i++)
		total += w[i].n;
	uint64_t *all = malloc(total * sizeof(*all));
	uint64_t *get = malloc(total * sizeof(*get));
	uint64_t *mg = malloc(total * sizeof(*mg));
	assert_non_null(all);
	assert_non_null(get);
	assert_non_null(mg);
	mbx_hist_init(&ref);

	size_t k = 0;
	for (unsigned i = 0; i < 4; i++) {
		st[i] = mbx_rstats_create();
		assert_non_null(st[i]);
		for (size_t j = 0; j < w[i].n; j++) {
			uint64_t v = rnd_log(&seed, w[i].lo, w[i].hi);
			bool is_get = rnd(&seed) & 1;
			all[k++] = v;
			mbx_hist_record(&ref, v);
			if (is_get) {
				get[ng++] = v;
				mbx_rstats_done(st[i], MBX_OP_GET, MBX_PROTO_TEXT, MBX_OUT_HIT, v,
						MBX_OUT_HIT);
			} else {
				mg[nm++] = v;
				mbx_rstats_done(st[i], MBX_OP_MG, MBX_PROTO_META, MBX_OUT_MISS, v,
						MBX_OUT_HIT);
			}
		}
		/* completions without a latency must not reach any histogram */
		mbx_rstats_done(st[i], MBX_OP_GET, MBX_PROTO_TEXT, MBX_OUT_HIT, MBX_RSTATS_LAT_NONE,
				MBX_OUT_HIT);
	}

	struct mbx_rtotals *t = mbx_rtotals_create();
	assert_non_null(t);
	for (unsigned i = 0; i < 4; i++)
		assert_int_equal(mbx_rtotals_add(t, st[i]), 0);
	assert_int_equal(t->workers, 4);

	/* the merge is exact: same buckets as one histogram fed everything */
	assert_int_equal(t->lat.count, ref.count);
	assert_int_equal(t->lat.sum, ref.sum);
	assert_memory_equal(t->lat.counts, ref.counts, sizeof(ref.counts));

	check_pcts(&t->lat, all, total);
	check_pcts(t->rows[MBX_PROTO_TEXT][MBX_OP_GET].lat, get, ng);
	check_pcts(t->rows[MBX_PROTO_META][MBX_OP_MG].lat, mg, nm);
	assert_null(t->rows[MBX_PROTO_BINARY][MBX_OP_GET].lat);

	/* the completion without latency is counted as completed */
	uint64_t done = 0;
	for (unsigned o = 0; o < MBX_RSTATS_OUTS; o++)
		done += t->rows[MBX_PROTO_TEXT][MBX_OP_GET].joint[MBX_OUT_HIT][o];
	assert_int_equal(done, ng + 4);

	mbx_rtotals_destroy(t);
	for (unsigned i = 0; i < 4; i++)
		mbx_rstats_destroy(st[i]);
	free(all);
	free(get);
	free(mg);
}

/* ---- outcome accounting ---- */

/* get/text: recorded hit -> hit 50, hit -> miss 10, miss -> hit 30,
 * miss -> miss 10, hit -> server_error 3; 4 timeouts, 2 aborted, 1 sent
 * without an answer. set/text: stored -> stored 8, stored -> not_stored 2.
 * delete/binary: deleted -> not_found 5. ms/meta: 7 skipped. Split over two
 * workers. Replayed get hit ratio 80/100, recorded 63/103. */
static void fill_outcomes(struct mbx_rstats *st[2])
{
	static const struct {
		unsigned op, proto, rec, out, n;
	} sets[] = {
	    {MBX_OP_GET, MBX_PROTO_TEXT, MBX_OUT_HIT, MBX_OUT_HIT, 50},
	    {MBX_OP_GET, MBX_PROTO_TEXT, MBX_OUT_HIT, MBX_OUT_MISS, 10},
	    {MBX_OP_GET, MBX_PROTO_TEXT, MBX_OUT_MISS, MBX_OUT_HIT, 30},
	    {MBX_OP_GET, MBX_PROTO_TEXT, MBX_OUT_MISS, MBX_OUT_MISS, 10},
	    {MBX_OP_GET, MBX_PROTO_TEXT, MBX_OUT_HIT, MBX_OUT_SERVER_ERROR, 3},
	    {MBX_OP_SET, MBX_PROTO_TEXT, MBX_OUT_STORED, MBX_OUT_STORED, 8},
	    {MBX_OP_SET, MBX_PROTO_TEXT, MBX_OUT_STORED, MBX_OUT_NOT_STORED, 2},
	    {MBX_OP_DELETE, MBX_PROTO_BINARY, MBX_OUT_DELETED, MBX_OUT_NOT_FOUND, 5},
	};
	uint64_t now = 1000 * MBX_NSEC_PER_SEC, k = 0;

	for (size_t i = 0; i < MBX_ARRAY_SIZE(sets); i++) {
		for (unsigned j = 0; j < sets[i].n; j++, k++) {
			struct mbx_rstats *s = st[k & 1];
			/* intended every 10 ms, sent 1 ms late */
			uint64_t due = now + k * 10 * MBX_NSEC_PER_MSEC;
			sent_now(s, sets[i].op, sets[i].proto, 1, due,
					due + MBX_NSEC_PER_MSEC);
			mbx_rstats_done(s, sets[i].op, sets[i].proto, sets[i].out,
					(20 + k % 7) * MBX_NSEC_PER_USEC, sets[i].rec);
		}
	}
	for (unsigned j = 0; j < 7; j++, k++) {
		uint64_t due = now + k * 10 * MBX_NSEC_PER_MSEC;
		sent_now(st[k & 1], MBX_OP_GET, MBX_PROTO_TEXT, 1, due,
				due + MBX_NSEC_PER_MSEC);
	}
	mbx_rstats_timeout(st[0], MBX_OP_GET, MBX_PROTO_TEXT, 3);
	mbx_rstats_timeout(st[1], MBX_OP_GET, MBX_PROTO_TEXT, 1);
	mbx_rstats_abort(st[1], MBX_OP_GET, MBX_PROTO_TEXT, 2);
	mbx_rstats_skip(st[0], MBX_OP_MS, MBX_PROTO_META, 7);
	mbx_rstats_add(st[0], MBX_RSTAT_PROTOCOL_ERRORS, 1);
	mbx_rstats_add(st[1], MBX_RSTAT_RECONNECTS, 2);
	mbx_rstats_add(st[0], MBX_RSTAT_BYTES_OUT, 5000);
	mbx_rstats_add(st[1], MBX_RSTAT_BYTES_IN, 3 << 20);
}

static char *capture_text(const struct mbx_rtotals *t, const struct mbx_rreport_info *info)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(mbx_rreport_text(f, t, info), 0);
	fclose(f);
	return buf;
}

static void assert_contains(const char *hay, const char *needle)
{
	if (!strstr(hay, needle))
		fail_msg("missing \"%s\" in:\n%s", needle, hay);
}

static void outcome_and_hit_accounting(void **state)
{
	(void)state;
	struct mbx_rstats *st[2] = {mbx_rstats_create(), mbx_rstats_create()};
	struct mbx_rinterval_sum *iv = malloc(sizeof(*iv));
	struct mbx_rtotals *t = mbx_rtotals_create();

	assert_non_null(st[0]);
	assert_non_null(st[1]);
	assert_non_null(iv);
	assert_non_null(t);
	fill_outcomes(st);

	/* the interval view (live counters) */
	mbx_rinterval_sum_init(iv, mbx_rstats_now());
	mbx_rstats_interval_final(st, 2, iv);
	assert_true(iv->final);
	assert_int_equal(iv->d.done, 103 + 10 + 5);
	assert_int_equal(iv->d.hits, 80);   /* retrieval only: not set's stored */
	assert_int_equal(iv->d.misses, 20); /* nor delete's not_found */
	assert_int_equal(iv->d.errors, 3);
	assert_int_equal(iv->d.timeouts, 4);
	assert_int_equal(iv->d.aborted, 2);
	assert_int_equal(iv->d.skipped, 7);
	assert_int_equal(iv->d.sent, 118 + 7);
	assert_int_equal(iv->d.lat.count, 118);
	assert_int_equal(iv->d.lag.count, 125);
	assert_int_equal(iv->d.lag.min, MBX_NSEC_PER_MSEC);
	assert_int_equal(iv->d.ctr[MBX_RSTAT_PROTOCOL_ERRORS], 1);

	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(mbx_rtotals_add(t, st[i]), 0);
	const struct mbx_rrow *g = &t->rows[MBX_PROTO_TEXT][MBX_OP_GET];
	assert_int_equal(g->sent, 110);
	assert_int_equal(g->joint[MBX_OUT_HIT][MBX_OUT_MISS], 10);
	assert_int_equal(g->joint[MBX_OUT_MISS][MBX_OUT_HIT], 30);
	assert_int_equal(g->timeouts, 4);
	assert_int_equal(t->requests, 125);
	assert_int_equal(t->intended_count, 125);
	assert_int_equal(t->intended_last - t->intended_first, 124 * 10 * MBX_NSEC_PER_MSEC);

	struct mbx_rreport_info info = {.profile = "p.mbx", .target = "127.0.0.1:11211"};
	char *txt = capture_text(t, &info);
	/* hit ratios: replayed 80 / 100, recorded 63 / 103 */
	assert_contains(txt, "hit ratio  replayed 80.00%, recorded 61.17% (retrieval; recorded "
			     "hit -> replayed miss 10, miss -> hit 30)");
	assert_contains(txt,
			"118 completed, 4 timeouts, 2 aborted (connection lost), 1 unfinished");
	assert_contains(txt, "125 sent, 7 skipped");
	assert_contains(txt, "3 error replies, 1 protocol errors, 0 connect errors, 2 reconnects");
	assert_contains(txt, "4.9 KiB out, 3.0 MiB in");
	assert_contains(txt, "intended send time -> first response byte");
	assert_contains(txt, "NOT COMPLETED");
	/* set: 8 stored of 10 (storage "hit"), recorded all stored */
	assert_contains(txt, "80.00%  100.00%");
	/* every send was 1 ms late */
	assert_contains(txt, "p50 1.00 ms  p90 1.00 ms");
	/* 125 events scheduled 10 ms apart: 100/s; sent on the same grid */
	assert_contains(txt, "requested  100");
	assert_contains(txt, "  (125 scheduled events over 1.24 s)");
	assert_contains(txt, "sent       100");
	assert_contains(txt, "  (100.0% of requested)");
	free(txt);

	info.closed_loop = true;
	txt = capture_text(t, &info);
	assert_contains(txt, "actual send -> first response byte (closed loop)");
	free(txt);

	mbx_rtotals_destroy(t);
	mbx_rstats_destroy(st[0]);
	mbx_rstats_destroy(st[1]);
	free(iv);
}

/* Out-of-range arguments land in the (text, unknown) row and the invalid
 * outcome slot instead of outside the arrays (ASan would notice). */
static void out_of_range_arguments_are_clamped(void **state)
{
	(void)state;
	struct mbx_rstats *st = mbx_rstats_create();
	struct mbx_rtotals *t = mbx_rtotals_create();

	assert_non_null(st);
	assert_non_null(t);
	sent_now(st, 250, 7, 1, MBX_RSTATS_UNTIMED, 5);
	mbx_rstats_done(st, 250, 7, 99, 1000, 200);
	mbx_rstats_skip(st, MBX_OP__COUNT, MBX_RSTATS_PROTOS, 1);
	mbx_rstats_add(st, (enum mbx_rstat_ctr)MBX_RSTAT__COUNT, 1);
	assert_int_equal(mbx_rtotals_add(t, st), 0);
	const struct mbx_rrow *r = &t->rows[MBX_PROTO_TEXT][MBX_OP_UNKNOWN];
	assert_int_equal(r->sent, 1);
	assert_int_equal(r->skipped, 1);
	assert_int_equal(r->joint[MBX_RSTATS_OUT_INVALID][MBX_RSTATS_OUT_INVALID], 1);
	assert_int_equal(r->lat->count, 1);
	assert_int_equal(t->lag.count, 0); /* untimed */
	mbx_rtotals_destroy(t);
	mbx_rstats_destroy(st);
}

/* ---- the interval flip with real threads ---- */

#define NWRITERS  4
#define NCOLLECTS 200

struct writer {
	pthread_t th;
	struct mbx_rstats *st;
	int *stop;
	uint64_t seed;
	/* what the writer recorded, read after the join */
	uint64_t done, sent, hits, misses, timeouts, bytes;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	uint64_t t = 1000 * MBX_NSEC_PER_SEC;

	while (!__atomic_load_n(w->stop, __ATOMIC_RELAXED)) {
		for (unsigned i = 0; i < 64; i++) {
			uint64_t r = rnd(&w->seed);
			unsigned out = r & 1 ? MBX_OUT_HIT : MBX_OUT_MISS;
			mbx_rstats_poll(w->st);
			t += 1000;
			sent_now(w->st, MBX_OP_GET, MBX_PROTO_TEXT, 1, t,
					t + (r >> 40) % 50000);
			w->sent++;
			mbx_rstats_done(w->st, MBX_OP_GET, MBX_PROTO_TEXT, out,
					rnd_log(&w->seed, 1e3, 1e7), MBX_OUT_HIT);
			w->done++;
			w->hits += out == MBX_OUT_HIT;
			w->misses += out == MBX_OUT_MISS;
			if ((r & 0xff) == 0) {
				mbx_rstats_timeout(w->st, MBX_OP_GET, MBX_PROTO_TEXT, 1);
				w->timeouts++;
			}
			mbx_rstats_add(w->st, MBX_RSTAT_BYTES_OUT, 30);
			w->bytes += 30;
		}
	}
	mbx_rstats_poll(w->st);
	return NULL;
}

static void flip_with_threads_loses_nothing(void **state)
{
	(void)state;
	struct writer w[NWRITERS];
	struct mbx_rstats *st[NWRITERS];
	struct mbx_rinterval_sum *iv = malloc(sizeof(*iv));
	struct mbx_rinterval *acc = malloc(sizeof(*acc));
	int stop = 0;
	unsigned slow = 0, nonempty = 0;

	assert_non_null(iv);
	assert_non_null(acc);
	memset(acc, 0, sizeof(*acc));
	mbx_hist_init(&acc->lat);
	mbx_hist_init(&acc->lag);
	for (unsigned i = 0; i < NWRITERS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].st = st[i] = mbx_rstats_create();
		assert_non_null(st[i]);
		w[i].stop = &stop;
		w[i].seed = 0x1234567ULL * (i + 1);
	}
	mbx_rinterval_sum_init(iv, mbx_rstats_now());
	for (unsigned i = 0; i < NWRITERS; i++)
		assert_int_equal(pthread_create(&w[i].th, NULL, writer_main, &w[i]), 0);

	uint64_t last_t = iv->start_ns;
	for (unsigned c = 0; c < NCOLLECTS; c++) {
		usleep(500);
		slow += mbx_rstats_interval_collect(st, NWRITERS, iv);
		assert_int_equal(iv->workers, NWRITERS);
		assert_true(iv->t_ns >= last_t);
		assert_int_equal(iv->dur_ns, iv->t_ns - last_t);
		last_t = iv->t_ns;
		nonempty += iv->d.done > 0;
		acc->done += iv->d.done;
		acc->sent += iv->d.sent;
		acc->hits += iv->d.hits;
		acc->misses += iv->d.misses;
		acc->timeouts += iv->d.timeouts;
		acc->ctr[MBX_RSTAT_BYTES_OUT] += iv->d.ctr[MBX_RSTAT_BYTES_OUT];
		mbx_hist_merge(&acc->lat, &iv->d.lat);
		mbx_hist_merge(&acc->lag, &iv->d.lag);
	}
	__atomic_store_n(&stop, 1, __ATOMIC_RELAXED);
	for (unsigned i = 0; i < NWRITERS; i++)
		pthread_join(w[i].th, NULL);
	mbx_rstats_interval_final(st, NWRITERS, iv);
	acc->done += iv->d.done;
	acc->sent += iv->d.sent;
	acc->hits += iv->d.hits;
	acc->misses += iv->d.misses;
	acc->timeouts += iv->d.timeouts;
	acc->ctr[MBX_RSTAT_BYTES_OUT] += iv->d.ctr[MBX_RSTAT_BYTES_OUT];
	mbx_hist_merge(&acc->lat, &iv->d.lat);
	mbx_hist_merge(&acc->lag, &iv->d.lag);

	uint64_t done = 0, sent = 0, hits = 0, misses = 0, timeouts = 0, bytes = 0;
	for (unsigned i = 0; i < NWRITERS; i++) {
		done += w[i].done;
		sent += w[i].sent;
		hits += w[i].hits;
		misses += w[i].misses;
		timeouts += w[i].timeouts;
		bytes += w[i].bytes;
	}
	fprintf(stderr, "  %llu records, %u of %u intervals non-empty, %u slow answers\n",
		(unsigned long long)done, nonempty, NCOLLECTS, slow);
	assert_true(nonempty > NCOLLECTS / 4); /* the flips really ran during the writes */
	assert_int_equal(acc->done, done);
	assert_int_equal(acc->sent, sent);
	assert_int_equal(acc->hits, hits);
	assert_int_equal(acc->misses, misses);
	assert_int_equal(acc->timeouts, timeouts);
	assert_int_equal(acc->ctr[MBX_RSTAT_BYTES_OUT], bytes);
	assert_int_equal(acc->lat.count, done);
	assert_int_equal(acc->lag.count, sent);

	/* intervals and the final totals saw exactly the same latencies */
	struct mbx_rtotals *t = mbx_rtotals_create();
	assert_non_null(t);
	for (unsigned i = 0; i < NWRITERS; i++)
		assert_int_equal(mbx_rtotals_add(t, st[i]), 0);
	assert_int_equal(t->lat.count, done);
	assert_memory_equal(t->lat.counts, acc->lat.counts, sizeof(acc->lat.counts));
	assert_memory_equal(t->lag.counts, acc->lag.counts, sizeof(acc->lag.counts));
	assert_int_equal(t->lat.sum, acc->lat.sum);
	assert_int_equal(t->slow_collects, slow);

	mbx_rtotals_destroy(t);
	for (unsigned i = 0; i < NWRITERS; i++)
		mbx_rstats_destroy(st[i]);
	free(iv);
	free(acc);
}

/* A worker that does not answer: the collect gives up after wait_ns, reports
 * it, does not ask again, and the data arrives with a later collect. */
static void slow_worker_data_comes_later(void **state)
{
	(void)state;
	struct mbx_rstats *st[2] = {mbx_rstats_create(), mbx_rstats_create()};
	struct mbx_rinterval_sum *iv = malloc(sizeof(*iv));
	uint64_t total = 0;

	assert_non_null(st[0]);
	assert_non_null(st[1]);
	assert_non_null(iv);
	mbx_rinterval_sum_init(iv, mbx_rstats_now());
	iv->wait_ns = 2 * MBX_NSEC_PER_MSEC;

#define DONE(s, n)                                                                                 \
	for (unsigned _i = 0; _i < (n); _i++)                                                      \
	mbx_rstats_done(s, MBX_OP_GET, MBX_PROTO_TEXT, MBX_OUT_HIT, 1000, MBX_OUT_HIT)

	DONE(st[0], 5);
	DONE(st[1], 100);
	uint64_t t0 = mbx_rstats_now();
	assert_int_equal(mbx_rstats_interval_collect(st, 2, iv), 2); /* nobody polls */
	assert_true(mbx_rstats_now() - t0 >= 2 * MBX_NSEC_PER_MSEC);
	assert_int_equal(iv->slow, 2);
	assert_int_equal(iv->d.done, 0);
	/* asked twice, still one request outstanding */
	assert_int_equal(mbx_rstats_interval_collect(st, 2, iv), 2);
	assert_int_equal(st[0]->epoch_req, 1);
	assert_int_equal(st[1]->epoch_req, 1);

	DONE(st[0], 3);
	mbx_rstats_poll(st[0]); /* answers: its retired buffer holds 5 + 3 */
	mbx_rstats_poll(st[0]); /* nothing new asked: no second flip */
	assert_int_equal(st[0]->epoch, 1);
	DONE(st[0], 2);
	/* st[0]'s late answer is taken and it is asked again (no answer) */
	assert_int_equal(mbx_rstats_interval_collect(st, 2, iv), 2);
	assert_int_equal(iv->d.done, 8);
	assert_int_equal(st[0]->epoch_req, 2);
	assert_int_equal(st[1]->epoch_req, 1);
	total += iv->d.done;

	mbx_rstats_poll(st[1]); /* answers request 1: 100 */
	mbx_rstats_poll(st[0]); /* answers request 2: 2 */
	DONE(st[1], 7);
	assert_int_equal(mbx_rstats_interval_collect(st, 2, iv), 2);
	assert_int_equal(iv->d.done, 102);
	total += iv->d.done;
	DONE(st[1], 1);
	DONE(st[0], 4);
	mbx_rstats_interval_final(st, 2, iv);
	assert_int_equal(iv->d.done, 7 + 1 + 4);
	total += iv->d.done;
	assert_int_equal(total, 5 + 100 + 3 + 2 + 7 + 1 + 4);
	assert_int_equal(st[0]->m_slow, 4);
	assert_int_equal(st[1]->m_slow, 4);
#undef DONE
	mbx_rstats_destroy(st[0]);
	mbx_rstats_destroy(st[1]);
	free(iv);
}

/* ---- time series ---- */

/* Interval i (1-based) of 1 s: i ops with latency i us each, lag i ms. */
static void synth_interval(struct mbx_rinterval_sum *s, unsigned i)
{
	memset(&s->d, 0, offsetof(struct mbx_rinterval, lat));
	mbx_hist_init(&s->d.lat);
	mbx_hist_init(&s->d.lag);
	s->dur_ns = MBX_NSEC_PER_SEC;
	s->elapsed_ns = (uint64_t)i * MBX_NSEC_PER_SEC;
	s->t_ns = s->start_ns + s->elapsed_ns;
	s->d.done = i;
	s->d.sent = i + 1;
	s->d.hits = i / 2;
	s->d.errors = 1;
	s->d.ctr[MBX_RSTAT_PROTOCOL_ERRORS] = 1;
	mbx_hist_record_n(&s->d.lat, (uint64_t)i * 1000, i);
	s->d.lag_max = (uint64_t)i * MBX_NSEC_PER_MSEC;
	s->slow = i == 7;
}

static void series_coarsens(void **state)
{
	(void)state;
	struct mbx_rinterval_sum *s = malloc(sizeof(*s));
	struct mbx_rseries *ts = mbx_rseries_create(7); /* rounded up to 8 */

	assert_non_null(s);
	assert_non_null(ts);
	mbx_rinterval_sum_init(s, 1000);
	for (unsigned i = 1; i <= 21; i++) {
		synth_interval(s, i);
		assert_int_equal(mbx_rseries_add(ts, s), 0);
	}
	/* 8 points of 1 -> 4 of 2; 4 more of 2 -> 4 of 4; then 17..20 one
	 * point of 4, and 21 waits in the open point */
	assert_int_equal(mbx_rseries_collects_per_point(ts), 4);
	assert_int_equal(mbx_rseries_count(ts), 5);
	assert_int_equal(mbx_rseries_finish(ts), 0);
	assert_int_equal(mbx_rseries_count(ts), 6);
	assert_int_equal(mbx_rseries_slow_collects(ts), 1);

	uint64_t ops = 0, t = 0;
	for (size_t i = 0; i < mbx_rseries_count(ts); i++) {
		const struct mbx_rpoint *p = mbx_rseries_point(ts, i);
		assert_int_equal(p->t_ns, t); /* contiguous from the start */
		t += p->dur_ns;
		ops += p->ops;
		assert_int_equal(p->lat_count, p->ops);
		assert_int_equal(p->errors, 2 * p->collects); /* replies + protocol */
		assert_int_equal(p->sent, p->ops + p->collects);
		assert_int_equal(p->merged, i < 4);
		assert_int_equal(p->collects, i < 5 ? 4 : 1);
	}
	assert_null(mbx_rseries_point(ts, 6));
	assert_int_equal(t, 21 * MBX_NSEC_PER_SEC);
	assert_int_equal(ops, 21 * 22 / 2);

	/* point 0 = intervals 1..4 merged twice: percentiles are upper bounds
	 * (exact p50 of 1,2,2,3,3,3,4,4,4,4 us is 3 us), max exact */
	const struct mbx_rpoint *p0 = mbx_rseries_point(ts, 0);
	assert_int_equal(p0->max_ns, 4000);
	assert_true(p0->p50_ns >= 3000 && p0->p50_ns <= 4000);
	assert_int_equal(p0->lag_max_ns, 4 * MBX_NSEC_PER_MSEC);
	/* point 4 = intervals 17..20 accumulated at 4 per point: exact
	 * p50 of 17x17, 18x18, 19x19, 20x20 us (74 values, rank 37) = 19 us */
	const struct mbx_rpoint *p4 = mbx_rseries_point(ts, 4);
	assert_int_equal(p4->ops, 17 + 18 + 19 + 20);
	assert_true(p4->p50_ns >= 19000 && p4->p50_ns <= 19000 * 1.01);
	assert_int_equal(p4->max_ns, 20000);
	assert_int_equal(p4->t_ns, 16 * MBX_NSEC_PER_SEC);
	assert_int_equal(p4->dur_ns, 4 * MBX_NSEC_PER_SEC);

	mbx_rseries_destroy(ts);
	free(s);
}

/* ---- progress line ---- */

static char *progress(const struct mbx_rinterval_sum *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	mbx_rreport_progress_line(f, s);
	fclose(f);
	return buf;
}

static void progress_line_format(void **state)
{
	(void)state;
	struct mbx_rstats *st[2] = {mbx_rstats_create(), mbx_rstats_create()};
	struct mbx_rinterval_sum *s = malloc(sizeof(*s));
	char *line;

	assert_non_null(st[0]);
	assert_non_null(st[1]);
	assert_non_null(s);
	mbx_rinterval_sum_init(s, 0);
	mbx_rstats_interval_final(st, 2, s);
	s->elapsed_ns = 0;
	s->dur_ns = MBX_NSEC_PER_SEC;
	line = progress(s);
	assert_string_equal(line, "[  0s] 0 ops/s  p50 - p99 -  err 0  timeouts 0  lag p99 -  "
				  "behind -\n");
	free(line);

	/* 98,200 completions over both workers: 97,000 at 41 us, 1,200 at
	 * 120 us (p99 is rank 97,218); 99 sends 12 us late then one 500 ms late */
	for (unsigned i = 0; i < 98200; i++)
		mbx_rstats_done(st[i & 1], MBX_OP_GET, MBX_PROTO_TEXT, MBX_OUT_HIT,
				i < 97000 ? 41000 : 120000, MBX_OUT_HIT);
	for (unsigned i = 0; i < 100; i++)
		sent_now(st[0], MBX_OP_GET, MBX_PROTO_TEXT, 1, 1000000,
				1000000 + (i < 99 ? 12000 : 500 * MBX_NSEC_PER_MSEC));
	mbx_rstats_done(st[1], MBX_OP_GET, MBX_PROTO_TEXT, MBX_OUT_SERVER_ERROR,
			MBX_RSTATS_LAT_NONE, MBX_OUT_HIT);
	mbx_rstats_add(st[0], MBX_RSTAT_PROTOCOL_ERRORS, 1);
	mbx_rstats_timeout(st[1], MBX_OP_GET, MBX_PROTO_TEXT, 1);
	mbx_rstats_interval_final(st, 2, s);
	s->elapsed_ns = 3 * MBX_NSEC_PER_SEC + 400 * MBX_NSEC_PER_MSEC;
	s->dur_ns = MBX_NSEC_PER_SEC + MBX_NSEC_PER_SEC / 98201; /* 98,200 / s */
	line = progress(s);
	assert_string_equal(line, "[  3s] 98.2k ops/s  p50 41us p99 120us  err 2  timeouts 1  "
				  "lag p99 12us  behind 0.5s\n");
	free(line);

	s->slow = 1;
	s->elapsed_ns = 1234 * MBX_NSEC_PER_SEC;
	s->dur_ns = 2 * MBX_NSEC_PER_SEC;
	line = progress(s);
	assert_non_null(strstr(line, "[1234s] 49.1k ops/s"));
	assert_non_null(strstr(line, "behind 0.5s  slow 1\n"));
	free(line);

	mbx_rstats_destroy(st[0]);
	mbx_rstats_destroy(st[1]);
	free(s);
}

/* ---- JSON ---- */

static void config_cb(struct mbx_json *j, void *arg)
{
	mbx_json_kv_double(j, "speed", *(double *)arg);
	mbx_json_kv_str(j, "timing", "timed");
}

/* Run python on the document and return "path=json" lines for the paths. */
static char *py_query(const char *json_path, const char *paths)
{
	static const char script[] =
	    "import json,sys\n"
	    "d=json.load(open(sys.argv[1]))\n"
	    "for p in sys.argv[2:]:\n"
	    "    v=d\n"
	    "    for k in p.split('.'):\n"
	    "        v=len(v) if k=='len' else (v[int(k)] if isinstance(v,list) else v[k])\n"
	    "    if isinstance(v,float): v=round(v,4)\n"
	    "    print(p+'='+json.dumps(v))\n";
	char spath[] = "/tmp/mbx_rstats_py_XXXXXX";
	char cmd[4096];
	int fd = mkstemp(spath);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, script, sizeof(script) - 1), (ssize_t)(sizeof(script) - 1));
	close(fd);
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 %s %s %s 2>&1", spath, json_path, paths);
	FILE *p = popen(cmd, "r");
	assert_non_null(p);
	char *out = calloc(1, 65536);
	assert_non_null(out);
	size_t n = fread(out, 1, 65535, p);
	out[n] = 0;
	int rc = pclose(p);
	unlink(spath);
	if (rc != 0)
		fail_msg("python failed (%d):\n%s", rc, out);
	return out;
}

static void json_report_parses(void **state)
{
	(void)state;
	if (access("/usr/bin/python3", X_OK) != 0) {
		fprintf(stderr, "  /usr/bin/python3 not found: JSON not parsed back\n");
		skip();
	}
	struct mbx_rstats *st[2] = {mbx_rstats_create(), mbx_rstats_create()};
	struct mbx_rinterval_sum *iv = malloc(sizeof(*iv));
	struct mbx_rseries *ts = mbx_rseries_create(0);
	struct mbx_rtotals *t = mbx_rtotals_create();
	double speed = 2.5;
	char jpath[] = "/tmp/mbx_rstats_json_XXXXXX";
	/* from the design of fill_outcomes(), not from the code */
	static const char expect[] = "schema=\"mbx.replay/1\"\n"
				     "config.speed=2.5\n"
				     "config.timing=\"timed\"\n"
				     "run.profile=\"caf\\u00e9.mbx\"\n"
				     "run.workers=2\n"
				     "run.latency_from=\"intended_send\"\n"
				     "run.duration_ns=2000000000\n"
				     "run.interrupted=false\n"
				     "totals.sent=125\n"
				     "totals.skipped=7\n"
				     "totals.completed=118\n"
				     "totals.timeouts=4\n"
				     "totals.aborted=2\n"
				     "totals.unfinished=1\n"
				     "totals.errors=3\n"
				     "totals.hits=80\n"
				     "totals.misses=20\n"
				     "totals.hit_ratio=0.8\n"
				     "totals.recorded_hit_ratio=0.6117\n"
				     "totals.recorded_hit_replayed_miss=10\n"
				     "totals.recorded_miss_replayed_hit=30\n"
				     "totals.protocol_errors=1\n"
				     "totals.reconnects=2\n"
				     "totals.bytes_in=3145728\n"
				     "totals.outcomes.server_error=3\n"
				     "totals.recorded_outcomes.hit=63\n"
				     "totals.latency.count=118\n"
				     "rate.completed_ops_per_sec=59\n" /* the writer drops ".0" */
				     "rate.scheduled_events=125\n"
				     "lag.p50_ns=1000000\n"
				     "ops.len=4\n"
				     "ops.0.op=\"get\"\n"
				     "ops.0.proto=\"text\"\n"
				     "ops.0.class=\"retrieval\"\n"
				     "ops.0.sent=110\n"
				     "ops.0.transitions.len=5\n"
				     "ops.1.op=\"set\"\n"
				     "ops.1.hit_ratio=0.8\n"
				     "ops.1.recorded_hit_ratio=1\n"
				     "ops.2.op=\"ms\"\n"
				     "ops.2.proto=\"meta\"\n"
				     "ops.2.skipped=7\n"
				     "ops.2.latency.p50_ns=null\n"
				     "ops.2.hit_ratio=null\n"
				     "ops.3.op=\"delete\"\n"
				     "ops.3.proto=\"binary\"\n"
				     "ops.3.class=\"delete\"\n"
				     "ops.3.outcomes.not_found=5\n"
				     "time_series.collects_per_point=1\n"
				     "time_series.points.len=1\n"
				     "time_series.points.0.ops=118\n"
				     "time_series.points.0.errors=4\n";

	assert_non_null(st[0]);
	assert_non_null(st[1]);
	assert_non_null(iv);
	assert_non_null(ts);
	assert_non_null(t);
	fill_outcomes(st);
	mbx_rinterval_sum_init(iv, mbx_rstats_now());
	mbx_rstats_interval_final(st, 2, iv);
	assert_int_equal(mbx_rseries_add(ts, iv), 0);
	assert_int_equal(mbx_rseries_finish(ts), 0);
	for (unsigned i = 0; i < 2; i++)
		assert_int_equal(mbx_rtotals_add(t, st[i]), 0);

	struct mbx_rreport_info info = {
	    .profile = "caf\xe9.mbx",
	    .target = "10.0.0.1:11211",
	    .start_ns = 1000,
	    .end_ns = 1000 + 2 * MBX_NSEC_PER_SEC,
	    .start_unix_ns = 1700000000ULL * MBX_NSEC_PER_SEC,
	    .config_json = config_cb,
	    .config_arg = &speed,
	};
	for (unsigned pretty = 0; pretty < 2; pretty++) {
		int fd = mkstemp(jpath);
		assert_true(fd >= 0);
		FILE *f = fdopen(fd, "w");
		assert_non_null(f);
		assert_int_equal(
		    mbx_rreport_json(f, t, ts, &info, pretty ? MBX_JSON_PRETTY : MBX_JSON_COMPACT),
		    0);
		fclose(f);
		char *out = py_query(
		    jpath,
		    "schema config.speed config.timing run.profile run.workers run.latency_from "
		    "run.duration_ns run.interrupted "
		    "totals.sent totals.skipped totals.completed totals.timeouts totals.aborted "
		    "totals.unfinished totals.errors totals.hits totals.misses totals.hit_ratio "
		    "totals.recorded_hit_ratio totals.recorded_hit_replayed_miss "
		    "totals.recorded_miss_replayed_hit totals.protocol_errors totals.reconnects "
		    "totals.bytes_in totals.outcomes.server_error totals.recorded_outcomes.hit "
		    "totals.latency.count rate.completed_ops_per_sec rate.scheduled_events "
		    "lag.p50_ns ops.len ops.0.op ops.0.proto ops.0.class ops.0.sent "
		    "ops.0.transitions.len ops.1.op ops.1.hit_ratio ops.1.recorded_hit_ratio "
		    "ops.2.op ops.2.proto ops.2.skipped ops.2.latency.p50_ns ops.2.hit_ratio "
		    "ops.3.op ops.3.proto ops.3.class ops.3.outcomes.not_found "
		    "time_series.collects_per_point time_series.points.len "
		    "time_series.points.0.ops time_series.points.0.errors");
		assert_string_equal(out, expect);
		free(out);
		unlink(jpath);
		strcpy(jpath, "/tmp/mbx_rstats_json_XXXXXX");
	}
	mbx_rtotals_destroy(t);
	mbx_rseries_destroy(ts);
	mbx_rstats_destroy(st[0]);
	mbx_rstats_destroy(st[1]);
	free(iv);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(merged_percentiles_match_sorted),
	    cmocka_unit_test(outcome_and_hit_accounting),
	    cmocka_unit_test(out_of_range_arguments_are_clamped),
	    cmocka_unit_test(flip_with_threads_loses_nothing),
	    cmocka_unit_test(slow_worker_data_comes_later),
	    cmocka_unit_test(series_coarsens),
	    cmocka_unit_test(progress_line_format),
	    cmocka_unit_test(json_report_parses),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
