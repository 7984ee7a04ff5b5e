/* SPDX-License-Identifier: Apache-2.0 */
/* The analysis pass: one loop over blocks of events that updates fixed
 * tables, plus the cold paths (table growth, switch to approximate key
 * counting, time-series coarsening) and the summaries computed at finish.
 * The reports are in report.c. */
#include <errno.h>
#include <stdlib.h>

#include "mbx/log.h"

#include "analyze_impl.h"

/* Events looked ahead for prefetching their key slot and connection word:
 * a profile with millions of keys misses the cache on nearly every insert. */
#define PREFETCH_AHEAD 12

const char *an_proto_name(unsigned p)
{
	return p < 3 ? mbx_proto_name(p) : "invalid";
}

const char *an_op_name(unsigned op)
{
	return op < MBX_OP__COUNT ? mbx_op_name(op) : "invalid";
}

const char *an_outcome_name(unsigned o)
{
	return o < MBX_OUT__COUNT ? mbx_outcome_name(o) : "invalid";
}

const char *an_class_name(unsigned c)
{
	static const char *const names[AN_CLASSES] = {
	    [MBX_OPC_OTHER] = "other", [MBX_OPC_RETR] = "retrieval", [MBX_OPC_STORE] = "storage",
	    [MBX_OPC_DEL] = "delete",  [MBX_OPC_ARITH] = "arith",    [MBX_OPC_TOUCH] = "touch",
	};
	return c < AN_CLASSES ? names[c] : "?";
}

bool an_counter_is_loss(const char *name)
{
	/* counters.h marks each counter LOSS or INFO; names from a newer
	 * recorder that this build does not know are not flagged */
	int id = mbx_counter_lookup(name);
	return id >= 0 && mbx_counter_is_loss((unsigned)id);
}

uint64_t ts_lat_percentile(const uint32_t *lat, uint64_t n, double p)
{
	if (n == 0)
		return 0;
	double r = p * (double)n / 100.0;
	uint64_t rank = (uint64_t)r, seen = 0;
	if ((double)rank < r * (1.0 - 1e-12))
		rank++;
	rank = MBX_MAX(rank, 1);
	for (unsigned i = 0; i < TS_LEN; i++) {
		seen += lat[i];
		if (seen < rank)
			continue;
		if (i < 2 * TS_HALF)
			return i;
		unsigned b = i / TS_HALF - 1;
		uint64_t low = (uint64_t)(TS_HALF + i % TS_HALF) << b;
		return low + ((1ULL << b) - 1) / 2;
	}
	return 0;
}

/* ---- create / destroy ---- */

static void apply_defaults(struct mbx_analysis_opts *o)
{
	if (!o->top_keys)
		o->top_keys = AN_DEF_TOP_KEYS;
	if (!o->top_conns)
		o->top_conns = AN_DEF_TOP_CONNS;
	if (!o->interval_ns)
		o->interval_ns = AN_DEF_INTERVAL_NS;
	if (!o->max_points)
		o->max_points = AN_DEF_MAX_POINTS;
	if (!o->text_rows)
		o->text_rows = AN_DEF_TEXT_ROWS;
	if (!o->key_cap)
		o->key_cap = AN_DEF_KEY_CAP;
	if (!o->conn_cap)
		o->conn_cap = AN_DEF_CONN_CAP;
	if (!o->topk_capacity)
		o->topk_capacity = AN_DEF_TOPK_CAP;
	o->topk_capacity = MBX_MAX(o->topk_capacity, o->top_keys);
}

struct mbx_analysis *mbx_analysis_new(const struct mbx_analysis_opts *opts)
{
	struct mbx_analysis *a = calloc(1, sizeof(*a));
	int err = -ENOMEM;

	if (!a)
		goto fail;
	if (opts)
		a->o = *opts;
	apply_defaults(&a->o);
	if (a->o.max_points < 2 || a->o.top_keys > (1u << 20) || a->o.top_conns > (1u << 20) ||
	    a->o.topk_capacity > (1u << 24) || a->o.max_points > (1u << 24)) {
		err = -EINVAL;
		goto fail;
	}

	a->first_ts = UINT64_MAX;
	mbx_hist_init(&a->key_len);
	mbx_hist_init(&a->val_sent);
	mbx_hist_init(&a->val_ret);
	mbx_hist_init(&a->batch_keys);
	mbx_hist_init(&a->lat_all);
	mbx_hist_init(&a->ops_per_conn);
	mbx_hist_init(&a->acc_per_key);

	a->key_mode = KM_EXACT;
	for (unsigned op = 0; op < AN_OPS; op++)
		a->op_cls[op] = (uint8_t)mbx_op_class(op);
	/* a table for key_cap keys at <= 3/4 load, but start small */
	err = keyset_init(&a->ks, MBX_MIN(1u << 16, (uint64_t)a->o.key_cap * 4 / 3 + 1));
	if (err)
		goto fail;
	a->key_check_at = MBX_MIN(a->ks.grow_at, (uint64_t)a->o.key_cap) + 1;

	a->conn_limit = (uint64_t)a->o.conn_cap + 1;
	a->conn_size = MBX_MIN(4096, a->conn_limit);
	a->conns = calloc(a->conn_size, sizeof(*a->conns));
	a->ts = calloc(a->o.max_points, sizeof(*a->ts));
	if (!a->conns || !a->ts) {
		err = -ENOMEM;
		goto fail;
	}
	a->ts_interval = a->o.interval_ns;
	return a;
fail:
	mbx_analysis_destroy(a);
	errno = -err;
	return NULL;
}

void mbx_analysis_destroy(struct mbx_analysis *a)
{
	if (!a)
		return;
	for (unsigned p = 0; p < AN_PROTOS; p++)
		for (unsigned o = 0; o < AN_OPS; o++)
			free(a->rows[p][o].lat);
	keyset_free(&a->ks);
	free(a->hll);
	ss_free(&a->ss);
	free(a->conns);
	free(a->ts);
	free(a->top_conns);
	free(a->top_keys);
	free(a->counters);
	free(a);
}

uint64_t mbx_analysis_events(const struct mbx_analysis *a)
{
	return a->events;
}

/* ---- cold paths ---- */

static bool key_weaker(const struct top_key *x, const struct top_key *y)
{
	return x->count != y->count ? x->count < y->count : x->hash > y->hash;
}

static void key_heap_down(struct top_key *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && key_weaker(&h[c + 1], &h[c]))
			c++;
		if (!key_weaker(&h[c], &h[i]))
			return;
		struct top_key t = h[i];
		h[i] = h[c];
		h[c] = t;
		i = c;
	}
}

static void key_offer(struct top_key *h, uint32_t k, uint32_t *n, const struct top_key *t)
{
	if (*n < k) {
		h[(*n)++] = *t;
		for (uint32_t i = *n / 2 + 1; i-- > 0;)
			key_heap_down(h, *n, i);
	} else if (key_weaker(&h[0], t)) {
		h[0] = *t;
		key_heap_down(h, *n, 0);
	}
}

static int cmp_key_desc(const void *x, const void *y)
{
	const struct top_key *a = x, *b = y;
	if (a->count != b->count)
		return a->count < b->count ? 1 : -1;
	return a->hash < b->hash ? -1 : a->hash > b->hash;
}

/* Drop the exact table: distinct count continues in a HyperLogLog, top keys
 * in Space-Saving seeded with the largest exact counts. */
static void keys_go_approximate(struct mbx_analysis *a)
{
	a->hll = calloc(1, sizeof(*a->hll));
	if (!a->hll || ss_init(&a->ss, a->o.topk_capacity) != 0) {
		/* Cannot even afford the sketches: keep the table as it is and
		 * stop counting keys (reported as approximate). */
		free(a->hll);
		a->hll = NULL;
		a->key_check_at = UINT64_MAX;
		a->key_mode = KM_OFF;
		a->add_err = -ENOMEM;
		return;
	}
	/* Seed Space-Saving with the largest exact counts, smallest first; the
	 * keys left out occurred at most as often as the smallest seed. */
	struct top_key *top = calloc(a->o.topk_capacity, sizeof(*top));
	uint32_t ntop = 0;
	for (uint64_t i = 0; i < a->ks.size; i++) {
		const struct key_slot *s = &a->ks.slots[i];
		if (!s->hash)
			continue;
		hll_add(a->hll, s->hash);
		struct top_key t = {
		    .hash = s->hash, .count = s->meta >> 8, .key_len = (unsigned)(s->meta & 0xff)};
		if (top)
			key_offer(top, a->o.topk_capacity, &ntop, &t);
	}
	if (top) {
		qsort(top, ntop, sizeof(*top), cmp_key_desc);
		for (uint32_t i = ntop; i-- > 0;)
			ss_seed(&a->ss, top[i].hash, top[i].key_len, top[i].count);
		free(top);
	} else {
		a->add_err = -ENOMEM; /* top keys start from empty: still valid bounds */
	}
	a->keys_at_switch = a->ks.n;
	keyset_free(&a->ks);
	a->key_mode = KM_APPROX;
	pr_debug("analyze: more than %u distinct keys, switching to approximate counting",
		 a->o.key_cap);
}

static __attribute__((noinline)) void keys_check(struct mbx_analysis *a)
{
	if (a->ks.n > a->o.key_cap) {
		keys_go_approximate(a);
		return;
	}
	if (a->ks.n > a->ks.grow_at) {
		if (keyset_grow(&a->ks) != 0) {
			a->add_err = -ENOMEM;
			keys_go_approximate(a);
			return;
		}
	}
	/* a table that cannot fill (load would pass 3/4) never happens: cap first */
	a->key_check_at = MBX_MIN(a->ks.grow_at, (uint64_t)a->o.key_cap) + 1;
}

/* Make conn id c addressable if it is within the cap. */
static __attribute__((noinline)) bool conn_grow(struct mbx_analysis *a, uint64_t c)
{
	if (c >= a->conn_limit)
		return false;
	uint64_t size = a->conn_size;
	while (size <= c)
		size *= 2;
	size = MBX_MIN(size, a->conn_limit);
	uint64_t *n = realloc(a->conns, size * sizeof(*n));
	if (!n) {
		a->add_err = -ENOMEM;
		a->conn_limit = a->conn_size; /* track what we have, approximate beyond */
		return false;
	}
	memset(n + a->conn_size, 0, (size - a->conn_size) * sizeof(*n));
	a->conns = n;
	a->conn_size = size;
	return true;
}

static void ts_merge_point(struct ts_point *d, const struct ts_point *s)
{
	d->ops += s->ops;
	for (unsigned c = 0; c < AN_CLASSES; c++)
		d->cls[c] += s->cls[c];
	d->hits += s->hits;
	d->misses += s->misses;
	d->errors += s->errors;
	d->lat_n += s->lat_n;
	for (unsigned i = 0; i < TS_LEN; i++) {
		uint64_t v = (uint64_t)d->lat[i] + s->lat[i];
		d->lat[i] = mbx_sat_u32(v);
	}
}

/* Double the interval: point i becomes points 2i and 2i+1 merged. */
static void ts_coarsen(struct mbx_analysis *a)
{
	uint32_t n = (a->ts_n + 1) / 2;
	for (size_t i = 0; i < n; i++) {
		struct ts_point p = a->ts[2 * i];
		if (2 * i + 1 < a->ts_n)
			ts_merge_point(&p, &a->ts[2 * i + 1]);
		a->ts[i] = p;
	}
	memset(&a->ts[n], 0, (size_t)(a->ts_n - n) * sizeof(*a->ts));
	a->ts_n = n;
	a->ts_interval *= 2;
}

/* The point of a timestamp outside the current one. */
static __attribute__((noinline)) struct ts_point *ts_locate(struct mbx_analysis *a, uint64_t ts)
{
	if (a->ts_n == 0) {
		a->ts_base = ts;
		a->ts_n = 1;
	}
	if (ts < a->ts_base) {
		a->ts_before_start++;
		return &a->ts[0]; /* current range unchanged: stays on the slow path */
	}
	uint64_t idx = (ts - a->ts_base) / a->ts_interval;
	while (idx >= a->o.max_points) {
		ts_coarsen(a);
		idx = (ts - a->ts_base) / a->ts_interval;
	}
	if (idx >= a->ts_n)
		a->ts_n = (uint32_t)idx + 1;
	a->ts_cur_start = a->ts_base + idx * a->ts_interval;
	a->ts_cur_end = a->ts_cur_start + a->ts_interval;
	if (a->ts_cur_end < a->ts_cur_start)
		a->ts_cur_end = UINT64_MAX;
	a->ts_cur = &a->ts[idx];
	return a->ts_cur;
}

static __attribute__((noinline)) struct mbx_hist *row_lat_alloc(struct mbx_analysis *a,
								struct an_row *r)
{
	r->lat = malloc(sizeof(*r->lat));
	if (!r->lat) {
		a->add_err = -ENOMEM;
		return NULL;
	}
	mbx_hist_init(r->lat);
	return r->lat;
}

/* ---- the pass ---- */

static inline void conn_account(struct mbx_analysis *a, const struct mbx_event *e)
{
	uint64_t c = e->conn_id;

	if (c > a->conn_max_id)
		a->conn_max_id = c;
	if (MBX_UNLIKELY(c >= a->conn_size) && !conn_grow(a, c)) {
		/* untracked: count requests, not their keys */
		a->conn_untracked_events++;
		if (!(e->flags & MBX_EV_F_BATCH_CONT))
			a->requests++;
		return;
	}
	uint64_t v = a->conns[c];
	uint64_t batch = v >> AN_CONN_BATCH_SHIFT;
	if ((e->flags & MBX_EV_F_BATCH_CONT) && batch != 0) {
		if (batch < AN_CONN_BATCH_MAX)
			batch++;
	} else {
		if (MBX_UNLIKELY(batch >= 2)) {
			a->multi_requests++;
			a->multi_keys += batch;
			mbx_hist_record(&a->batch_keys, batch);
		}
		batch = 1;
		a->requests++;
	}
	a->conns[c] =
	    (((v & AN_CONN_OPS_MASK) + 1) & AN_CONN_OPS_MASK) | batch << AN_CONN_BATCH_SHIFT;
}

/* always_inline: GCC 12 finds a separate function made only of prefetches
 * free of side effects (ipa pure-const) and deletes the calls to it. */
static inline __attribute__((always_inline)) void prefetch_event(const struct mbx_analysis *a,
								 const struct mbx_event *e)
{
	if (e->key_hash && a->key_mode == KM_EXACT)
		__builtin_prefetch(keyset_slot_addr(&a->ks, e->key_hash), 0, 3);
	if (e->conn_id < a->conn_size)
		__builtin_prefetch(&a->conns[e->conn_id], 0, 3);
}

static inline void account(struct mbx_analysis *a, const struct mbx_event *e)
{
	unsigned op = e->op < MBX_OP__COUNT ? e->op : AN_OP_INVALID;
	unsigned out = e->outcome < MBX_OUT__COUNT ? e->outcome : AN_OUT_INVALID;
	unsigned cls = a->op_cls[op];
	struct an_row *r = &a->rows[e->flags & MBX_EV_F_PROTO_MASK][op];
	uint64_t ts = e->ts_ns;

	a->events++;
	if (ts < a->first_ts)
		a->first_ts = ts;
	if (ts > a->last_ts)
		a->last_ts = ts;
	if (MBX_UNLIKELY(ts < a->prev_ts))
		a->ts_backwards++;
	a->prev_ts = ts;

	r->count++;
	r->outcomes[out]++;
	r->quiet += (e->flags & MBX_EV_F_QUIET) != 0;
	r->value_bytes += e->value_len;

	struct ts_point *pt = a->ts_cur;
	if (MBX_UNLIKELY(ts < a->ts_cur_start || ts >= a->ts_cur_end || !pt))
		pt = ts_locate(a, ts);
	pt->ops++;
	pt->cls[cls]++;
	pt->errors +=
	    out == MBX_OUT_ERROR || out == MBX_OUT_CLIENT_ERROR || out == MBX_OUT_SERVER_ERROR;

	if (e->latency_ns != MBX_LAT_NONE) {
		struct mbx_hist *h = r->lat;
		if (MBX_UNLIKELY(!h) && !(h = row_lat_alloc(a, r)))
			a->lat_unrecorded++;
		else
			mbx_hist_record(h, e->latency_ns);
		pt->lat[ts_lat_index(e->latency_ns)]++;
		pt->lat_n++;
	}

	if (cls == MBX_OPC_RETR) {
		pt->hits += out == MBX_OUT_HIT;
		pt->misses += out == MBX_OUT_MISS;
		/* cppcheck-suppress knownConditionTrueFalse ; false positive: out is any outcome */
		if (out == MBX_OUT_HIT)
			mbx_hist_record(&a->val_ret, e->value_len);
	} else if (cls == MBX_OPC_STORE) {
		mbx_hist_record(&a->val_sent, e->value_len);
	}

	if (e->key_hash && cls != MBX_OPC_OTHER) {
		a->keyed++;
		mbx_hist_record(&a->key_len, e->key_len);
		if (MBX_LIKELY(a->key_mode == KM_EXACT)) {
			keyset_add(&a->ks, e->key_hash, e->key_len);
			if (MBX_UNLIKELY(a->ks.n >= a->key_check_at))
				keys_check(a);
		} else if (a->key_mode == KM_APPROX) {
			hll_add(a->hll, e->key_hash);
			ss_add(&a->ss, e->key_hash, e->key_len);
		} else {
			a->keys_uncounted++;
		}
	}

	conn_account(a, e);
}

int mbx_analysis_add(struct mbx_analysis *a, const struct mbx_event *ev, size_t n)
{
	size_t i = 0;

	if (a->finished)
		return -EINVAL;
	for (size_t k = 0; k < MBX_MIN(n, (size_t)PREFETCH_AHEAD); k++)
		prefetch_event(a, &ev[k]);
	for (; i + PREFETCH_AHEAD < n; i++) {
		prefetch_event(a, &ev[i + PREFETCH_AHEAD]);
		account(a, &ev[i]);
	}
	for (; i < n; i++)
		account(a, &ev[i]);
	return a->add_err;
}

/* ---- finish ---- */

static void finish_rows(struct mbx_analysis *a)
{
	for (unsigned p = 0; p < AN_PROTOS; p++) {
		struct an_proto *pr = &a->protos[p];
		for (unsigned op = 0; op < AN_OPS; op++) {
			struct an_row *r = &a->rows[p][op];
			if (!r->count)
				continue;
			for (unsigned o = 0; o < AN_OUTS; o++) {
				uint64_t c = r->outcomes[o];
				if (o < MBX_OUT__COUNT && mbx_outcome_is_hit(op, o))
					r->hits += c;
				if (o < MBX_OUT__COUNT && mbx_outcome_is_miss(op, o))
					r->misses += c;
				if (mbx_outcome_is_error(o))
					r->errors += c;
				a->out_total[o] += c;
			}
			pr->events += r->count;
			pr->hits += r->hits;
			pr->misses += r->misses;
			pr->errors += r->errors;
			a->errors += r->errors;
			if (mbx_op_class(op) == MBX_OPC_RETR) {
				pr->retr_hits += r->hits;
				pr->retr_misses += r->misses;
				a->retr_hits += r->hits;
				a->retr_misses += r->misses;
			}
			a->quiet += r->quiet;
			if (r->lat)
				mbx_hist_merge(&a->lat_all, r->lat);
		}
	}
}

/* Min-heap helpers on a small array ordered by "weaker first": lower count,
 * then higher id (so that among equals the lower id wins a place). */
static bool conn_weaker(const struct top_conn *x, const struct top_conn *y)
{
	return x->ops != y->ops ? x->ops < y->ops : x->id > y->id;
}

static void conn_heap_down(struct top_conn *h, uint32_t n, uint32_t i)
{
	for (;;) {
		uint32_t c = 2 * i + 1;
		if (c >= n)
			return;
		if (c + 1 < n && conn_weaker(&h[c + 1], &h[c]))
			c++;
		if (!conn_weaker(&h[c], &h[i]))
			return;
		struct top_conn t = h[i];
		h[i] = h[c];
		h[c] = t;
		i = c;
	}
}

static int cmp_conn_desc(const void *x, const void *y)
{
	const struct top_conn *a = x, *b = y;
	if (a->ops != b->ops)
		return a->ops < b->ops ? 1 : -1;
	return a->id < b->id ? -1 : a->id > b->id;
}

static void finish_conns(struct mbx_analysis *a)
{
	uint32_t k = a->o.top_conns, n = 0;
	struct top_conn *h = calloc(k, sizeof(*h));

	for (uint64_t c = 0; c < a->conn_size; c++) {
		uint64_t v = a->conns[c];
		uint64_t ops = v & AN_CONN_OPS_MASK, batch = v >> AN_CONN_BATCH_SHIFT;
		if (batch >= 2) { /* request still open at the end */
			a->multi_requests++;
			a->multi_keys += batch;
			mbx_hist_record(&a->batch_keys, batch);
		}
		if (!ops)
			continue;
		a->conns_distinct++;
		mbx_hist_record(&a->ops_per_conn, ops);
		if (!h)
			continue;
		struct top_conn t = {.id = c, .ops = ops};
		if (n < k) {
			h[n++] = t;
			for (uint32_t i = n / 2 + 1; i-- > 0;)
				conn_heap_down(h, n, i);
		} else if (conn_weaker(&h[0], &t)) {
			h[0] = t;
			conn_heap_down(h, n, 0);
		}
	}
	if (a->conn_untracked_events) {
		/* ids are dense in order of appearance: those above the tracked
		 * range are (about) conn_limit..conn_max_id */
		a->conns_approx = true;
		if (a->conn_max_id >= a->conn_limit)
			a->conns_distinct += a->conn_max_id - a->conn_limit + 1;
	}
	if (h)
		qsort(h, n, sizeof(*h), cmp_conn_desc);
	else
		a->add_err = -ENOMEM;
	a->top_conns = h;
	a->n_top_conns = h ? n : 0;
}

static void finish_keys(struct mbx_analysis *a)
{
	uint32_t k = a->o.top_keys, n = 0;
	struct top_key *h = calloc(k, sizeof(*h));

	if (!h) {
		a->add_err = -ENOMEM;
		k = 0;
	}
	if (a->key_mode != KM_APPROX) {
		a->unique_keys = a->ks.n;
		for (uint64_t i = 0; i < a->ks.size; i++) {
			const struct key_slot *s = &a->ks.slots[i];
			if (!s->hash)
				continue;
			uint64_t cnt = s->meta >> 8;
			mbx_hist_record(&a->acc_per_key, cnt);
			a->keys_once += cnt == 1;
			struct top_key t = {
			    .hash = s->hash, .count = cnt, .key_len = (unsigned)(s->meta & 0xff)};
			if (k)
				key_offer(h, k, &n, &t);
		}
	} else {
		double est = hll_estimate(a->hll);
		a->unique_keys = MBX_MAX((uint64_t)(est + 0.5), a->keys_at_switch);
		a->keys_floor = ss_floor(&a->ss);
		for (uint32_t i = 0; i < a->ss.n; i++) {
			const struct ss_entry *e = &a->ss.e[i];
			struct top_key t = {.hash = e->hash,
					    .count = ss_count(&a->ss, i),
					    .err = e->err,
					    .key_len = e->key_len};
			if (k)
				key_offer(h, k, &n, &t);
		}
	}
	if (h)
		qsort(h, n, sizeof(*h), cmp_key_desc);
	a->top_keys = h;
	a->n_top_keys = n;
}

static void copy_str(char *dst, size_t size, const char *src)
{
	size_t n = src ? strnlen(src, size - 1) : 0;
	if (n)
		memcpy(dst, src, n);
	dst[n] = '\0';
}

static void finish_source(struct mbx_analysis *a, const struct mbx_analysis_source *src)
{
	if (!src)
		return;
	copy_str(a->path, sizeof(a->path), src->path);
	copy_str(a->error, sizeof(a->error), src->error);
	a->state = src->state;
	a->ignored_bytes = src->ignored_bytes;
	if (src->meta) {
		a->meta = *src->meta;
		a->meta.source[sizeof(a->meta.source) - 1] = '\0';
		a->meta.hostname[sizeof(a->meta.hostname) - 1] = '\0';
		a->meta.mbx_version[sizeof(a->meta.mbx_version) - 1] = '\0';
		if (a->meta.nports > MBX_PROFILE_MAX_PORTS)
			a->meta.nports = MBX_PROFILE_MAX_PORTS;
		a->have_meta = true;
	}
	if (src->totals) {
		a->totals = *src->totals;
		a->have_totals = true;
	}
	size_t n = MBX_MIN(src->ncounters, (size_t)AN_MAX_COUNTERS);
	if (n && src->counters) {
		a->counters = calloc(n, sizeof(*a->counters));
		if (!a->counters) {
			a->add_err = -ENOMEM;
			return;
		}
		/* cppcheck-suppress knownConditionTrueFalse ; false positive: n > 0 here */
		for (size_t i = 0; i < n; i++) {
			a->counters[i] = src->counters[i];
			a->counters[i].name[MBX_COUNTER_NAME_MAX - 1] = '\0';
		}
		a->ncounters = n;
	}
}

int mbx_analysis_finish(struct mbx_analysis *a, const struct mbx_analysis_source *src)
{
	if (a->finished)
		return -EINVAL;
	a->finished = true;
	if (a->events == 0)
		a->first_ts = 0;
	finish_rows(a);
	finish_conns(a);
	finish_keys(a);
	finish_source(a, src);
	return 0;
}
