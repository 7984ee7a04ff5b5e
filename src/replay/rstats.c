/* SPDX-License-Identifier: Apache-2.0 */
/* Replay statistics: per-worker recording, the lock-free interval flip, the
 * time series and the final merge. Protocol and threading rules: mbx/rstats.h. */
#include "mbx/rstats.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

/* ---- worker side ---- */

static size_t page_round(size_t n)
{
	return (n + 4095) & ~(size_t)4095;
}

static size_t rstats_map_size(void)
{
	return page_round(sizeof(struct mbx_rstats)) +
	       page_round((size_t)MBX_RSTATS_PROTOS * MBX_OP__COUNT * sizeof(struct mbx_hist));
}

static void iv_clear(struct mbx_rinterval *iv)
{
	memset(iv, 0, offsetof(struct mbx_rinterval, lat));
	mbx_hist_init(&iv->lat);
	mbx_hist_init(&iv->lag);
}

/* Everything is in one anonymous mapping: pages of rows and latency slots
 * that are never written are never resident. */
struct mbx_rstats *mbx_rstats_create(void)
{
	size_t size = rstats_map_size();
	struct mbx_rstats *st;

	st = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		  -1, 0);
	if (st == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	/* zero-filled by mmap: only what is not zero is set */
	st->lat_slots =
	    (struct mbx_hist *)(void *)((char *)st + page_round(sizeof(struct mbx_rstats)));
	mbx_hist_init(&st->lag);
	iv_clear(&st->ivl[0]);
	iv_clear(&st->ivl[1]);
	st->cur = &st->ivl[0];
	for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
		bool retr = mbx_op_class(op) == MBX_OPC_RETR;
		for (unsigned o = 0; o < MBX_RSTATS_OUTS; o++) {
			uint8_t k = 0;
			if (retr && mbx_outcome_is_hit(op, o))
				k |= 1;
			if (retr && mbx_outcome_is_miss(op, o))
				k |= 2;
			if (o < MBX_OUT__COUNT && mbx_outcome_is_error(o))
				k |= 4;
			st->kind[op][o] = k;
		}
	}
	return st;
}

void mbx_rstats_destroy(struct mbx_rstats *st)
{
	if (st)
		munmap(st, rstats_map_size());
}

uint64_t mbx_rstats_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * MBX_NSEC_PER_SEC + (uint64_t)ts.tv_nsec;
}

void mbx_rstats_lat_slot(struct mbx_rstats *st, struct mbx_rrow *row)
{
	size_t i = (size_t)(row - &st->rows[0][0]);
	mbx_hist_init(&st->lat_slots[i]);
	row->lat = &st->lat_slots[i];
}

/* The main thread asked for epoch req (== epoch + 1: it never asks again
 * before the answer). The acquire pairs with its release store: its reads of
 * buffer req & 1 (two flips ago) happened before, so it may be cleared. */
void mbx_rstats_flip(struct mbx_rstats *st)
{
	uint64_t req = __atomic_load_n(&st->epoch_req, __ATOMIC_ACQUIRE);
	struct mbx_rinterval *next = &st->ivl[req & 1];

	iv_clear(next);
	st->cur = next;
	st->epoch = req;
	/* publishes every write to the retired buffer */
	__atomic_store_n(&st->epoch_pub, req, __ATOMIC_RELEASE);
}

const char *mbx_rstat_ctr_name(unsigned id)
{
	static const char *const names[] = {
#define MBX_X_NAME(e, n, d) n,
	    MBX_RSTAT_COUNTERS(MBX_X_NAME)
#undef MBX_X_NAME
	};
	return id < MBX_ARRAY_SIZE(names) ? names[id] : "?";
}

/* ---- main thread: intervals ---- */

static void iv_add(struct mbx_rinterval *dst, const struct mbx_rinterval *src)
{
	dst->sent += src->sent;
	dst->done += src->done;
	dst->hits += src->hits;
	dst->misses += src->misses;
	dst->errors += src->errors;
	dst->timeouts += src->timeouts;
	dst->aborted += src->aborted;
	dst->skipped += src->skipped;
	for (unsigned i = 0; i < MBX_RSTAT__COUNT; i++)
		dst->ctr[i] += src->ctr[i];
	dst->lag_max = MBX_MAX(dst->lag_max, src->lag_max);
	dst->lag_last = MBX_MAX(dst->lag_last, src->lag_last);
	mbx_hist_merge(&dst->lat, &src->lat);
	mbx_hist_merge(&dst->lag, &src->lag);
}

void mbx_rinterval_sum_init(struct mbx_rinterval_sum *s, uint64_t start_ns)
{
	memset(s, 0, offsetof(struct mbx_rinterval_sum, d));
	s->start_ns = start_ns;
	s->wait_ns = MBX_RSTATS_WAIT_NS;
	iv_clear(&s->d);
}

static void sum_begin(struct mbx_rinterval_sum *out, unsigned n)
{
	iv_clear(&out->d);
	out->workers = n;
	out->slow = 0;
	out->final = false;
}

static void sum_end(struct mbx_rinterval_sum *out)
{
	uint64_t prev = out->t_ns ? out->t_ns : out->start_ns;
	out->t_ns = mbx_rstats_now();
	out->dur_ns = out->t_ns > prev ? out->t_ns - prev : 0;
	out->elapsed_ns = out->t_ns > out->start_ns ? out->t_ns - out->start_ns : 0;
}

static bool pending(const struct mbx_rstats *s)
{
	return s->m_want != s->m_consumed;
}

/* The worker answered request m_want: buffer m_want - 1 is retired for good. */
static bool try_consume(struct mbx_rstats *s, struct mbx_rinterval *dst)
{
	if (__atomic_load_n(&s->epoch_pub, __ATOMIC_ACQUIRE) != s->m_want)
		return false;
	iv_add(dst, &s->ivl[(s->m_want - 1) & 1]);
	s->m_consumed = s->m_want;
	return true;
}

unsigned mbx_rstats_interval_collect(struct mbx_rstats *const st[], unsigned n,
				     struct mbx_rinterval_sum *out)
{
	unsigned left = n;
	uint64_t deadline;

	sum_begin(out, n);
	/* Ask everyone first, so that the waits overlap. A worker still owing
	 * the previous answer is not asked again (one request outstanding at a
	 * time); if it answered since, take that buffer and ask anew. */
	for (unsigned i = 0; i < n; i++) {
		struct mbx_rstats *s = st[i];
		if (pending(s))
			try_consume(s, &out->d);
		if (!pending(s)) {
			s->m_want = s->m_consumed + 1;
			/* our reads of the buffer it will clear happened before */
			__atomic_store_n(&s->epoch_req, s->m_want, __ATOMIC_RELEASE);
		}
	}
	deadline = mbx_rstats_now() + out->wait_ns;
	for (;;) {
		for (unsigned i = 0; i < n; i++)
			if (pending(st[i]) && try_consume(st[i], &out->d))
				left--;
		if (!left || mbx_rstats_now() >= deadline)
			break;
		struct timespec ts = {0, 20000};
		nanosleep(&ts, NULL);
	}
	for (unsigned i = 0; i < n; i++) {
		if (pending(st[i])) {
			st[i]->m_slow++;
			out->slow++;
		}
	}
	sum_end(out);
	return out->slow;
}

void mbx_rstats_interval_final(struct mbx_rstats *const st[], unsigned n,
			       struct mbx_rinterval_sum *out)
{
	sum_begin(out, n);
	for (unsigned i = 0; i < n; i++) {
		struct mbx_rstats *s = st[i];
		uint64_t p = __atomic_load_n(&s->epoch_pub, __ATOMIC_ACQUIRE);
		/* answered after the last collect gave up: its retired buffer too */
		if (p != s->m_consumed)
			iv_add(&out->d, &s->ivl[(p - 1) & 1]);
		iv_add(&out->d, &s->ivl[p & 1]);
		s->m_consumed = s->m_want = p;
	}
	out->final = true;
	sum_end(out);
}

/* ---- main thread: time series ---- */

struct mbx_rseries {
	struct mbx_rpoint *pts;
	size_t n, alloc;
	uint32_t max_points;
	uint32_t per_point; /* collects per point */
	uint64_t slow;
	/* the point being filled */
	uint32_t open_collects;
	uint64_t open_t, open_dur;
	struct mbx_rinterval acc;
};

struct mbx_rseries *mbx_rseries_create(uint32_t max_points)
{
	struct mbx_rseries *ts;

	if (max_points == 0)
		max_points = MBX_RSERIES_MAX_POINTS;
	if (max_points < 2)
		max_points = 2;
	if (max_points > (1u << 30)) {
		errno = EINVAL;
		return NULL;
	}
	max_points += max_points & 1;
	if (posix_memalign((void **)&ts, MBX_CACHE_LINE, sizeof(*ts)) != 0) {
		errno = ENOMEM;
		return NULL;
	}
	memset(ts, 0, sizeof(*ts));
	ts->max_points = max_points;
	ts->per_point = 1;
	iv_clear(&ts->acc);
	return ts;
}

void mbx_rseries_destroy(struct mbx_rseries *ts)
{
	if (!ts)
		return;
	free(ts->pts);
	free(ts);
}

/* p-th percentile of the union of a and b is between theirs: the larger one
 * is an upper bound. */
static void point_merge(struct mbx_rpoint *a, const struct mbx_rpoint *b)
{
	uint64_t end = b->t_ns + b->dur_ns;

	a->dur_ns = end > a->t_ns ? end - a->t_ns : a->dur_ns + b->dur_ns;
	a->sent += b->sent;
	a->ops += b->ops;
	a->hits += b->hits;
	a->misses += b->misses;
	a->errors += b->errors;
	a->timeouts += b->timeouts;
	if (b->lat_count) {
		if (!a->lat_count) {
			a->p50_ns = b->p50_ns;
			a->p99_ns = b->p99_ns;
		} else {
			a->p50_ns = MBX_MAX(a->p50_ns, b->p50_ns);
			a->p99_ns = MBX_MAX(a->p99_ns, b->p99_ns);
		}
		a->max_ns = MBX_MAX(a->max_ns, b->max_ns);
		a->lat_count += b->lat_count;
	}
	a->lag_max_ns = MBX_MAX(a->lag_max_ns, b->lag_max_ns);
	a->collects += b->collects;
	a->merged = true;
}

static int series_close(struct mbx_rseries *ts)
{
	const struct mbx_rinterval *a = &ts->acc;
	struct mbx_rpoint *p;

	if (ts->n == ts->alloc) {
		size_t na = ts->alloc ? ts->alloc * 2 : 256;
		if (na > ts->max_points)
			na = ts->max_points;
		void *np = realloc(ts->pts, na * sizeof(*ts->pts));
		if (!np)
			goto out_nomem;
		ts->pts = np;
		ts->alloc = na;
	}
	p = &ts->pts[ts->n++];
	memset(p, 0, sizeof(*p));
	p->t_ns = ts->open_t;
	p->dur_ns = ts->open_dur;
	p->sent = a->sent;
	p->ops = a->done;
	p->hits = a->hits;
	p->misses = a->misses;
	p->errors =
	    a->errors + a->ctr[MBX_RSTAT_PROTOCOL_ERRORS] + a->ctr[MBX_RSTAT_CONNECT_ERRORS];
	p->timeouts = a->timeouts;
	p->lat_count = a->lat.count;
	if (a->lat.count) {
		p->p50_ns = mbx_hist_percentile(&a->lat, 50);
		p->p99_ns = mbx_hist_percentile(&a->lat, 99);
		p->max_ns = a->lat.max;
	}
	p->lag_max_ns = a->lag_max;
	p->collects = ts->open_collects;
	if (ts->n == ts->max_points) {
		for (size_t i = 0; i < ts->n / 2; i++) {
			ts->pts[i] = ts->pts[2 * i];
			point_merge(&ts->pts[i], &ts->pts[2 * i + 1]);
		}
		ts->n /= 2;
		ts->per_point *= 2;
	}
	ts->open_collects = 0;
	iv_clear(&ts->acc);
	return 0;
out_nomem:
	ts->open_collects = 0;
	iv_clear(&ts->acc);
	return -ENOMEM;
}

int mbx_rseries_add(struct mbx_rseries *ts, const struct mbx_rinterval_sum *s)
{
	if (ts->open_collects == 0) {
		ts->open_t = s->elapsed_ns > s->dur_ns ? s->elapsed_ns - s->dur_ns : 0;
		ts->open_dur = 0;
	}
	ts->open_dur += s->dur_ns;
	ts->slow += s->slow;
	iv_add(&ts->acc, &s->d);
	if (++ts->open_collects < ts->per_point)
		return 0;
	return series_close(ts);
}

int mbx_rseries_finish(struct mbx_rseries *ts)
{
	return ts->open_collects ? series_close(ts) : 0;
}

size_t mbx_rseries_count(const struct mbx_rseries *ts)
{
	return ts->n;
}

const struct mbx_rpoint *mbx_rseries_point(const struct mbx_rseries *ts, size_t i)
{
	return i < ts->n ? &ts->pts[i] : NULL;
}

uint32_t mbx_rseries_collects_per_point(const struct mbx_rseries *ts)
{
	return ts->per_point;
}

uint64_t mbx_rseries_slow_collects(const struct mbx_rseries *ts)
{
	return ts->slow;
}

/* ---- main thread: final totals ---- */

struct mbx_rtotals *mbx_rtotals_create(void)
{
	struct mbx_rtotals *t = calloc(1, sizeof(*t));
	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	mbx_hist_init(&t->lag);
	mbx_hist_init(&t->lat);
	return t;
}

void mbx_rtotals_destroy(struct mbx_rtotals *t)
{
	if (!t)
		return;
	for (unsigned p = 0; p < MBX_RSTATS_PROTOS; p++)
		for (unsigned op = 0; op < MBX_OP__COUNT; op++)
			free(t->rows[p][op].lat);
	free(t);
}

static int row_add(struct mbx_rtotals *t, struct mbx_rrow *d, const struct mbx_rrow *s)
{
	d->sent += s->sent;
	d->skipped += s->skipped;
	d->timeouts += s->timeouts;
	d->aborted += s->aborted;
	for (unsigned r = 0; r < MBX_RSTATS_OUTS; r++)
		for (unsigned o = 0; o < MBX_RSTATS_OUTS; o++)
			d->joint[r][o] += s->joint[r][o];
	if (!s->lat || !s->lat->count)
		return 0;
	if (!d->lat) {
		d->lat = malloc(sizeof(*d->lat));
		if (!d->lat)
			return -ENOMEM;
		mbx_hist_init(d->lat);
	}
	mbx_hist_merge(d->lat, s->lat);
	mbx_hist_merge(&t->lat, s->lat);
	return 0;
}

int mbx_rtotals_add(struct mbx_rtotals *t, const struct mbx_rstats *st)
{
	int err = 0;

	for (unsigned p = 0; p < MBX_RSTATS_PROTOS; p++)
		for (unsigned op = 0; op < MBX_OP__COUNT; op++)
			if (row_add(t, &t->rows[p][op], &st->rows[p][op]) < 0)
				err = -ENOMEM; /* counts merged; that row's latency lost */
	for (unsigned i = 0; i < MBX_RSTAT__COUNT; i++)
		t->ctr[i] += st->ctr[i];
	mbx_hist_merge(&t->lag, &st->lag);
	if (st->intended_count) {
		if (!t->intended_count || st->intended_first < t->intended_first)
			t->intended_first = st->intended_first;
		t->intended_last = MBX_MAX(t->intended_last, st->intended_last);
		t->intended_count += st->intended_count;
	}
	if (st->requests) {
		if (!t->requests || st->send_first < t->send_first)
			t->send_first = st->send_first;
		t->send_last = MBX_MAX(t->send_last, st->send_last);
		t->requests += st->requests;
	}
	t->slow_collects += st->m_slow;
	t->workers++;
	return err;
}
