/* SPDX-License-Identifier: Apache-2.0 */
/* Text report and JSON document of an analysis (docs/analyze.md). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include "mbx/fmt.h"
#include "mbx/json.h"
#include "mbx_config.h"

#include "analyze_impl.h"

/* Percentiles reported for latencies. */
static const double lat_ps[] = {50, 90, 99, 99.9};
static const char *const lat_pnames[] = {"p50_ns", "p90_ns", "p99_ns", "p999_ns"};

/* ---- shared helpers ---- */

static double ratio(uint64_t num, uint64_t den)
{
	return den ? (double)num / (double)den : NAN;
}

static uint64_t duration_ns(const struct mbx_analysis *a)
{
	return a->events ? a->last_ts - a->first_ts : 0;
}

static double ops_per_sec(const struct mbx_analysis *a)
{
	uint64_t d = duration_ns(a);
	return d ? (double)a->events * 1e9 / (double)d : NAN;
}

static const char *state_name(const struct mbx_analysis *a)
{
	if (a->error[0])
		return "corrupt";
	return a->state == MBX_PROFILE_OK ? "complete" : "incomplete";
}

/* Power-of-two bins: bin 0 holds value 0, bin k >= 1 holds [2^(k-1), 2^k). */
#define POW2_BINS (MBX_HIST_MAX_BITS + 1)

static void pow2_bins(const struct mbx_hist *h, uint64_t bins[POW2_BINS])
{
	memset(bins, 0, POW2_BINS * sizeof(bins[0]));
	for (unsigned i = 0; i < MBX_HIST_LEN; i++) {
		uint64_t lo = mbx_hist_bucket_low(i);
		unsigned k = lo ? 64u - (unsigned)__builtin_clzll(lo) : 0;
		bins[k] += h->counts[i];
	}
}

static uint64_t bin_low(unsigned k)
{
	return k ? 1ULL << (k - 1) : 0;
}

static uint64_t bin_high(unsigned k)
{
	return k ? (1ULL << k) - 1 : 0;
}

/* ---- text formatting ---- */

struct buf {
	char s[64];
};

static const char *fmt_ns(struct buf *b, uint64_t ns)
{
	return mbx_fmt_ns(b->s, sizeof(b->s), ns);
}

static const char *fmt_bytes(struct buf *b, uint64_t v)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
	if (v < 1024) {
		snprintf(b->s, sizeof(b->s), "%" PRIu64 " B", v);
		return b->s;
	}
	double x = (double)v;
	unsigned u = 0;
	x /= 1024;
	while (x >= 1023.5 && u + 1 < MBX_ARRAY_SIZE(units)) {
		x /= 1024;
		u++;
	}
	/* exact multiples (histogram bounds) print without decimals */
	if (v % (1ULL << (10 * (u + 1))) == 0)
		snprintf(b->s, sizeof(b->s), "%.0f %s", x, units[u]);
	else
		mbx_fmt_sig3(b->s, sizeof(b->s), x, " ", units[u]);
	return b->s;
}

static const char *fmt_plain(struct buf *b, uint64_t v)
{
	snprintf(b->s, sizeof(b->s), "%" PRIu64, v);
	return b->s;
}

static const char *fmt_pct(struct buf *b, uint64_t num, uint64_t den)
{
	return mbx_fmt_pct(b->s, sizeof(b->s), num, den);
}

static const char *fmt_rate(struct buf *b, double r)
{
	if (isnan(r))
		snprintf(b->s, sizeof(b->s), "-");
	else if (r < 100)
		snprintf(b->s, sizeof(b->s), "%.2f", r);
	else
		snprintf(b->s, sizeof(b->s), "%.0f", r);
	return b->s;
}

static const char *fmt_time(struct buf *b, uint64_t ts_ns)
{
	time_t t = (time_t)(ts_ns / MBX_NSEC_PER_SEC);
	struct tm tm;
	if (!gmtime_r(&t, &tm)) {
		snprintf(b->s, sizeof(b->s), "%" PRIu64 " ns", ts_ns);
		return b->s;
	}
	size_t n = strftime(b->s, sizeof(b->s), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(b->s + n, sizeof(b->s) - n, ".%03uZ",
		 (unsigned)(ts_ns % MBX_NSEC_PER_SEC / MBX_NSEC_PER_MSEC));
	return b->s;
}

static const char *fmt_duration(struct buf *b, uint64_t ns)
{
	uint64_t s = ns / MBX_NSEC_PER_SEC;
	unsigned ms = (unsigned)(ns % MBX_NSEC_PER_SEC / MBX_NSEC_PER_MSEC);
	if (s < 60)
		snprintf(b->s, sizeof(b->s), "%" PRIu64 ".%03u s", s, ms);
	else if (s < 3600)
		snprintf(b->s, sizeof(b->s), "%" PRIu64 "m%02" PRIu64 ".%03us", s / 60, s % 60, ms);
	else
		snprintf(b->s, sizeof(b->s), "%" PRIu64 "h%02" PRIu64 "m%02" PRIu64 "s", s / 3600,
			 s / 60 % 60, s % 60);
	return b->s;
}

typedef const char *(*fmt_fn)(struct buf *, uint64_t);

static void text_bar(FILE *f, uint64_t c, uint64_t max)
{
	unsigned w = max ? (unsigned)((c * 40 + max - 1) / max) : 0;
	for (unsigned i = 0; i < w; i++)
		putc('#', f);
}

/* Percentile line and power-of-two histogram of a distribution. */
static void text_dist(FILE *f, const char *title, const char *what, const struct mbx_hist *h,
		      fmt_fn fmt)
{
	struct buf b[6];
	uint64_t bins[POW2_BINS], max = 0;
	int first = -1, last = -1;

	fprintf(f, "\n%s\n", title);
	if (!h->count) {
		fprintf(f, "  no %s\n", what);
		return;
	}
	if (fmt == fmt_plain) /* counts: a mean of 2.25 keys says more than 2 */
		/* cppcheck-suppress legacyUninitvar ; false positive: snprintf writes b[0] */
		snprintf(b[0].s, sizeof(b[0].s), "%.2f", mbx_hist_mean(h));
	else
		fmt(&b[0], (uint64_t)llround(mbx_hist_mean(h)));
	fprintf(f, "  %" PRIu64 " %s   mean %s  min %s  p50 %s  p90 %s  p99 %s  max %s\n", h->count,
		what, b[0].s, fmt(&b[1], h->min), fmt(&b[2], mbx_hist_percentile(h, 50)),
		fmt(&b[3], mbx_hist_percentile(h, 90)), fmt(&b[4], mbx_hist_percentile(h, 99)),
		fmt(&b[5], h->max));
	pow2_bins(h, bins);
	for (unsigned k = 0; k < POW2_BINS; k++) {
		if (!bins[k])
			continue;
		if (first < 0)
			first = (int)k;
		last = (int)k;
		max = MBX_MAX(max, bins[k]);
	}
	for (int k = first; k >= 0 && k <= last; k++) {
		char range[2 * sizeof(b[0]) + 8];
		if (k == 0) {
			snprintf(range, sizeof(range), "%s", fmt(&b[0], 0));
		} else {
			/* [low, 2*low): the upper bound printed is exclusive */
			snprintf(range, sizeof(range), "[%s, %s)", fmt(&b[0], bin_low((unsigned)k)),
				 fmt(&b[1], bin_high((unsigned)k) + 1));
		}
		fprintf(f, "    %-22s %12" PRIu64 " %7s  ", range, bins[k],
			fmt_pct(&b[2], bins[k], h->count));
		text_bar(f, bins[k], max);
		putc('\n', f);
	}
	if (h->saturated)
		fprintf(f, "    (%" PRIu64 " values above %s counted at the top)\n", h->saturated,
			fmt(&b[0], MBX_HIST_MAX_VALUE));
}

static void text_header(const struct mbx_analysis *a, FILE *f)
{
	struct buf b[3];

	fprintf(f, "mbx analyze: %s\n", a->path[0] ? a->path : "(events)");
	if (a->error[0])
		fprintf(f, "  profile   CORRUPT: reading stopped at damaged data (see below)\n");
	else if (a->state == MBX_PROFILE_OK)
		fprintf(f, "  profile   complete\n");
	else
		fprintf(f,
			"  profile   INCOMPLETE: the recorder did not finish; %" PRIu64
			" trailing bytes ignored\n",
			a->ignored_bytes);
	if (a->error[0])
		fprintf(f,
			"  ERROR     reading stopped early: %s (results cover the events before)\n",
			a->error);
	if (a->have_meta) {
		const struct mbx_profile_meta *m = &a->meta;
		fprintf(f, "  source    %s", m->source[0] ? m->source : "?");
		if (m->nports) {
			fprintf(f, "  ports");
			for (unsigned i = 0; i < m->nports; i++)
				fprintf(f, "%s%u", i ? "," : " ", m->ports[i]);
		}
		fprintf(f, "\n  recorded  %s",
			m->created_ns ? fmt_time(&b[0], m->created_ns) : "?");
		if (m->hostname[0])
			fprintf(f, " on %s", m->hostname);
		if (m->mbx_version[0])
			fprintf(f, " by mbx %s", m->mbx_version);
		fprintf(f, ", salt fingerprint %016" PRIx64 "\n", m->salt_fingerprint);
	}
	fprintf(f, "  events    %" PRIu64, a->events);
	if (a->have_totals && a->totals.events != a->events)
		fprintf(f, "  (WARNING: the footer says %" PRIu64 ")", a->totals.events);
	fputc('\n', f);
	if (a->events)
		fprintf(f, "  time      %s .. %s  (%s)\n", fmt_time(&b[0], a->first_ts),
			fmt_time(&b[1], a->last_ts), fmt_duration(&b[2], duration_ns(a)));
	if (a->ts_backwards)
		fprintf(f, "  WARNING   %" PRIu64 " events earlier than their predecessor\n",
			a->ts_backwards);
}

static void text_latency_line(FILE *f, const struct mbx_hist *h)
{
	struct buf b[6];
	if (!h->count) {
		fprintf(f, "no paired responses\n");
		return;
	}
	fprintf(
	    f, "p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  mean %s  (%" PRIu64 " paired)\n",
	    fmt_ns(&b[0], mbx_hist_percentile(h, 50)), fmt_ns(&b[1], mbx_hist_percentile(h, 90)),
	    fmt_ns(&b[2], mbx_hist_percentile(h, 99)), fmt_ns(&b[3], mbx_hist_percentile(h, 99.9)),
	    fmt_ns(&b[4], h->max), fmt_ns(&b[5], (uint64_t)llround(mbx_hist_mean(h))), h->count);
}

static void text_summary(const struct mbx_analysis *a, FILE *f)
{
	struct buf b[4];

	fprintf(f, "\nSUMMARY\n");
	if (a->events > 1 && duration_ns(a))
		fprintf(f, "  events       %" PRIu64 " in %s = %s ops/s\n", a->events,
			fmt_duration(&b[0], duration_ns(a)), fmt_rate(&b[1], ops_per_sec(a)));
	else
		fprintf(f, "  events       %" PRIu64 "\n", a->events);
	fprintf(f, "  retrieval    hit ratio %s  (hits %" PRIu64 ", misses %" PRIu64 ")\n",
		fmt_pct(&b[0], a->retr_hits, a->retr_hits + a->retr_misses), a->retr_hits,
		a->retr_misses);
	fprintf(f,
		"  errors       %" PRIu64 " (%s)   unanswered %" PRIu64 "   noreply %" PRIu64
		"   quiet %" PRIu64 "\n",
		a->errors, fmt_pct(&b[1], a->errors, a->events), a->out_total[MBX_OUT_NONE],
		a->out_total[MBX_OUT_NOREPLY], a->quiet);
	fprintf(f, "  latency      ");
	text_latency_line(f, &a->lat_all);
}

static int ops_name_width(const struct mbx_analysis *a)
{
	int w = 2;
	for (unsigned p = 0; p < AN_PROTOS; p++)
		for (unsigned op = 0; op < AN_OPS; op++)
			if (a->rows[p][op].count)
				w = MBX_MAX(w, (int)strlen(an_op_name(op)));
	return w;
}

static void text_ops(const struct mbx_analysis *a, FILE *f)
{
	struct buf b[2];
	int w = ops_name_width(a);

	fprintf(f, "\nOPERATIONS (hit%% = hits / (hits + misses); storage: stored / not stored)\n");
	if (!a->events) {
		fprintf(f, "  none\n");
		return;
	}
	fprintf(f, "  %-*s %-7s %12s %7s %11s %11s %9s %7s\n", w, "op", "proto", "count", "share",
		"hits", "misses", "errors", "hit%");
	for (unsigned p = 0; p < AN_PROTOS; p++) {
		for (unsigned op = 0; op < AN_OPS; op++) {
			const struct an_row *r = &a->rows[p][op];
			if (!r->count)
				continue;
			fprintf(f,
				"  %-*s %-7s %12" PRIu64 " %7s %11" PRIu64 " %11" PRIu64
				" %9" PRIu64 " %7s\n",
				w, an_op_name(op), an_proto_name(p), r->count,
				fmt_pct(&b[0], r->count, a->events), r->hits, r->misses, r->errors,
				fmt_pct(&b[1], r->hits, r->hits + r->misses));
		}
	}
	fprintf(f, "  outcomes:\n");
	for (unsigned p = 0; p < AN_PROTOS; p++) {
		for (unsigned op = 0; op < AN_OPS; op++) {
			const struct an_row *r = &a->rows[p][op];
			if (!r->count)
				continue;
			fprintf(f, "    %-*s %-7s", w, an_op_name(op), an_proto_name(p));
			for (unsigned o = 0; o < AN_OUTS; o++)
				if (r->outcomes[o])
					fprintf(f, " %s %" PRIu64, an_outcome_name(o),
						r->outcomes[o]);
			if (r->quiet)
				fprintf(f, "  (quiet %" PRIu64 ")", r->quiet);
			fputc('\n', f);
		}
	}
}

static void text_latency(const struct mbx_analysis *a, FILE *f)
{
	struct buf b[6];
	int w = ops_name_width(a);

	fprintf(
	    f,
	    "\nLATENCY (server: last request byte -> first response byte; paired events only)\n");
	if (!a->events) {
		fprintf(f, "  none\n");
		return;
	}
	fprintf(f, "  %-*s %-7s %12s %9s %9s %9s %9s %9s %9s\n", w, "op", "proto", "paired", "p50",
		"p90", "p99", "p99.9", "max", "mean");
	for (unsigned p = 0; p < AN_PROTOS; p++) {
		for (unsigned op = 0; op < AN_OPS; op++) {
			const struct an_row *r = &a->rows[p][op];
			const struct mbx_hist *h = r->lat;
			if (!r->count)
				continue;
			fprintf(f, "  %-*s %-7s %12" PRIu64, w, an_op_name(op), an_proto_name(p),
				h ? h->count : 0);
			if (!h || !h->count) {
				fprintf(f, " %9s %9s %9s %9s %9s %9s\n", "-", "-", "-", "-", "-",
					"-");
				continue;
			}
			for (unsigned i = 0; i < MBX_ARRAY_SIZE(lat_ps); i++)
				fprintf(f, " %9s",
					fmt_ns(&b[i], mbx_hist_percentile(h, lat_ps[i])));
			fprintf(f, " %9s %9s\n", fmt_ns(&b[4], h->max),
				fmt_ns(&b[5], (uint64_t)llround(mbx_hist_mean(h))));
		}
	}
}

static void text_protos(const struct mbx_analysis *a, FILE *f)
{
	struct buf b[3];

	fprintf(f, "\nPROTOCOLS\n");
	if (!a->events) {
		fprintf(f, "  none\n");
		return;
	}
	fprintf(f, "  %-7s %12s %7s %11s %9s\n", "proto", "events", "share", "retr hit%", "errors");
	for (unsigned p = 0; p < AN_PROTOS; p++) {
		const struct an_proto *pr = &a->protos[p];
		if (!pr->events)
			continue;
		fprintf(f, "  %-7s %12" PRIu64 " %7s %11s %9" PRIu64 "\n", an_proto_name(p),
			pr->events, fmt_pct(&b[0], pr->events, a->events),
			fmt_pct(&b[1], pr->retr_hits, pr->retr_hits + pr->retr_misses), pr->errors);
	}
}

static void text_conns(const struct mbx_analysis *a, FILE *f)
{
	struct buf b[6];
	const struct mbx_hist *h = &a->ops_per_conn;

	fprintf(f, "\nCONNECTIONS\n");
	fprintf(f, "  distinct     %" PRIu64, a->conns_distinct);
	if (a->conns_approx)
		fprintf(f,
			" (approximate: %" PRIu64 " events on conn ids above %" PRIu64
			" not tracked one by one)",
			a->conn_untracked_events, a->conn_limit - 1);
	fputc('\n', f);
	if (!h->count)
		return;
	fprintf(f, "  ops/conn     min %s  p50 %s  p99 %s  max %s  mean %.1f\n",
		fmt_plain(&b[0], h->min), fmt_plain(&b[1], mbx_hist_percentile(h, 50)),
		fmt_plain(&b[2], mbx_hist_percentile(h, 99)), fmt_plain(&b[3], h->max),
		mbx_hist_mean(h));
	fprintf(f, "  top %u by ops:\n    %10s %12s %7s\n", a->n_top_conns, "conn", "ops", "share");
	for (uint32_t i = 0; i < a->n_top_conns; i++)
		fprintf(f, "    %10" PRIu64 " %12" PRIu64 " %7s\n", a->top_conns[i].id,
			a->top_conns[i].ops, fmt_pct(&b[0], a->top_conns[i].ops, a->events));
}

static void text_keys(const struct mbx_analysis *a, FILE *f)
{
	struct buf b[6];

	fprintf(f, "\nKEYS (keyed ops: key_hash != 0, op class not other)\n");
	fprintf(f, "  keyed ops    %" PRIu64 "\n", a->keyed);
	if (a->key_mode == KM_EXACT)
		fprintf(f, "  unique       %" PRIu64 " (exact)\n", a->unique_keys);
	else if (a->key_mode == KM_APPROX)
		fprintf(f,
			"  unique       ~%" PRIu64 " (approximate: more than %u keys; HyperLogLog, "
			"standard error 0.81%%)\n",
			a->unique_keys, a->o.key_cap);
	else
		fprintf(f,
			"  unique       >= %" PRIu64 " (out of memory: %" PRIu64
			" keyed ops not counted)\n",
			a->unique_keys, a->keys_uncounted);
	if (a->key_mode != KM_APPROX && a->acc_per_key.count) {
		const struct mbx_hist *h = &a->acc_per_key;
		fprintf(f,
			"  ops/key      p50 %s  p90 %s  p99 %s  max %s;  keys seen once %" PRIu64
			" (%s)\n",
			fmt_plain(&b[0], mbx_hist_percentile(h, 50)),
			fmt_plain(&b[1], mbx_hist_percentile(h, 90)),
			fmt_plain(&b[2], mbx_hist_percentile(h, 99)), fmt_plain(&b[3], h->max),
			a->keys_once, fmt_pct(&b[4], a->keys_once, a->unique_keys));
	}
	if (!a->n_top_keys)
		return;
	if (a->key_mode == KM_APPROX)
		fprintf(f,
			"  top %u keys (Space-Saving: true count in [count - error, count]; "
			"keys not listed occurred at most %" PRIu64 " times):\n",
			a->n_top_keys, a->keys_floor);
	else
		fprintf(f, "  top %u keys (exact):\n", a->n_top_keys);
	fprintf(f, "    %4s  %-16s %4s %12s %7s%s\n", "#", "key_hash", "len", "count", "share",
		a->key_mode == KM_APPROX ? "        error" : "");
	for (uint32_t i = 0; i < a->n_top_keys; i++) {
		const struct top_key *k = &a->top_keys[i];
		fprintf(f, "    %4u  %016" PRIx64 " %4u %12" PRIu64 " %7s", i + 1, k->hash,
			k->key_len, k->count, fmt_pct(&b[0], k->count, a->keyed));
		if (a->key_mode == KM_APPROX)
			fprintf(f, " %12" PRIu64, k->err);
		fputc('\n', f);
	}
}

static void text_requests(const struct mbx_analysis *a, FILE *f)
{
	struct buf b[2];

	fprintf(f, "\nREQUESTS (a multi-key request is an event followed by batch_cont events)\n");
	fprintf(f,
		"  requests     %" PRIu64 "   multi-key %" PRIu64 " (%s) carrying %" PRIu64
		" keys\n",
		a->requests, a->multi_requests, fmt_pct(&b[0], a->multi_requests, a->requests),
		a->multi_keys);
	if (a->conn_untracked_events)
		fprintf(f,
			"  (%" PRIu64 " events on untracked connections: their batches are not "
			"measured)\n",
			a->conn_untracked_events);
	if (a->batch_keys.count)
		text_dist(f, "KEYS PER MULTI-KEY REQUEST", "multi-key requests", &a->batch_keys,
			  fmt_plain);
}

static void text_series(const struct mbx_analysis *a, FILE *f)
{
	struct buf b[8];
	uint32_t group, rows;
	uint64_t width;

	if (!a->ts_n)
		return;
	group = (a->ts_n + a->o.text_rows - 1) / a->o.text_rows;
	rows = (a->ts_n + group - 1) / group;
	width = a->ts_interval * group;
	fprintf(f, "\nTIME SERIES (%u points of %s", a->ts_n, fmt_ns(&b[0], a->ts_interval));
	if (group > 1)
		fprintf(f, ", shown %u per row", group);
	fprintf(f, "; latency percentiles within 6.25%%; the last row may be partial)\n");
	fprintf(f, "  %10s %11s %8s %8s %8s %8s %8s %9s %9s\n", "start", "ops/s", "retr%", "store%",
		"del%", "other%", "hit%", "p50", "p99");
	for (uint32_t r = 0; r < rows; r++) {
		struct ts_point p;
		memset(&p, 0, sizeof(p));
		for (uint32_t i = r * group; i < MBX_MIN((r + 1) * group, a->ts_n); i++) {
			const struct ts_point *s = &a->ts[i];
			p.ops += s->ops;
			for (unsigned c = 0; c < AN_CLASSES; c++)
				p.cls[c] += s->cls[c];
			p.hits += s->hits;
			p.misses += s->misses;
			p.lat_n += s->lat_n;
			for (unsigned k = 0; k < TS_LEN; k++)
				p.lat[k] = mbx_sat_u32((uint64_t)p.lat[k] + s->lat[k]);
		}
		uint64_t other = p.cls[MBX_OPC_OTHER] + p.cls[MBX_OPC_ARITH] + p.cls[MBX_OPC_TOUCH];
		char start[sizeof(b[0]) + 2];
		snprintf(start, sizeof(start), "+%s", fmt_duration(&b[0], (uint64_t)r * width));
		fprintf(f, "  %10s %11s %8s %8s %8s %8s %8s", start,
			fmt_rate(&b[1], (double)p.ops * 1e9 / (double)width),
			fmt_pct(&b[2], p.cls[MBX_OPC_RETR], p.ops),
			fmt_pct(&b[3], p.cls[MBX_OPC_STORE], p.ops),
			fmt_pct(&b[4], p.cls[MBX_OPC_DEL], p.ops), fmt_pct(&b[5], other, p.ops),
			fmt_pct(&b[6], p.hits, p.hits + p.misses));
		if (p.lat_n)
			fprintf(f, " %9s", fmt_ns(&b[7], ts_lat_percentile(p.lat, p.lat_n, 50)));
		else
			fprintf(f, " %9s", "-");
		if (p.lat_n)
			fprintf(f, " %9s\n", fmt_ns(&b[7], ts_lat_percentile(p.lat, p.lat_n, 99)));
		else
			fprintf(f, " %9s\n", "-");
	}
}

static const char *counter_desc(const char *name)
{
	int id = mbx_counter_lookup(name);
	return id >= 0 ? mbx_counter_desc((unsigned)id) : "";
}

static void text_capture(const struct mbx_analysis *a, FILE *f)
{
	bool any = false;

	fprintf(f, "\nCAPTURE\n");
	if (!a->ncounters) {
		fprintf(f, "  no counters in the profile\n");
		return;
	}
	for (size_t i = 0; i < a->ncounters; i++) {
		const struct mbx_counter_kv *c = &a->counters[i];
		if (!c->value || !an_counter_is_loss(c->name))
			continue;
		if (!any)
			fprintf(f, "  LOSSES (traffic not seen or not turned into events):\n");
		any = true;
		fprintf(f, "    %-18s %14" PRIu64 "  %s\n", c->name, c->value,
			counter_desc(c->name));
	}
	if (!any)
		fprintf(f, "  losses       none recorded\n");
	fprintf(f, "  counters (non-zero):\n");
	for (size_t i = 0; i < a->ncounters; i++) {
		const struct mbx_counter_kv *c = &a->counters[i];
		if (c->value)
			fprintf(f, "    %-18s %14" PRIu64 "  %s\n", c->name, c->value,
				counter_desc(c->name));
	}
}

int mbx_analysis_write_text(const struct mbx_analysis *a, FILE *f)
{
	if (!a->finished)
		return -EINVAL;
	text_header(a, f);
	text_summary(a, f);
	text_ops(a, f);
	text_latency(a, f);
	text_protos(a, f);
	text_dist(f, "KEY SIZES (per keyed op)", "keyed ops", &a->key_len, fmt_bytes);
	text_dist(f, "VALUE SIZES SENT (storage ops)", "storage ops", &a->val_sent, fmt_bytes);
	text_dist(f, "VALUE SIZES RETURNED (retrieval hits)", "retrieval hits", &a->val_ret,
		  fmt_bytes);
	text_conns(a, f);
	text_keys(a, f);
	text_requests(a, f);
	text_series(a, f);
	text_capture(a, f);
	if (fflush(f) != 0 || ferror(f))
		return -EIO;
	return 0;
}

/* ---- JSON ---- */

static void json_ratio(struct mbx_json *j, const char *key, uint64_t num, uint64_t den)
{
	if (den)
		mbx_json_kv_double(j, key, ratio(num, den));
	else
		mbx_json_kv_null(j, key);
}

static void json_latency(struct mbx_json *j, const char *key, const struct mbx_hist *h)
{
	mbx_json_key(j, key);
	mbx_json_begin_object(j);
	mbx_json_kv_uint(j, "count", h ? h->count : 0);
	if (h && h->count) {
		mbx_json_kv_uint(j, "min_ns", h->min);
		for (unsigned i = 0; i < MBX_ARRAY_SIZE(lat_ps); i++)
			mbx_json_kv_uint(j, lat_pnames[i], mbx_hist_percentile(h, lat_ps[i]));
		mbx_json_kv_uint(j, "max_ns", h->max);
		mbx_json_kv_double(j, "mean_ns", mbx_hist_mean(h));
	} else {
		mbx_json_kv_null(j, "min_ns");
		for (unsigned i = 0; i < MBX_ARRAY_SIZE(lat_pnames); i++)
			mbx_json_kv_null(j, lat_pnames[i]);
		mbx_json_kv_null(j, "max_ns");
		mbx_json_kv_null(j, "mean_ns");
	}
	mbx_json_end_object(j);
}

/* {count, mean, min, p50, p90, p99, max, buckets: [{low, high, count}]} */
static void json_dist(struct mbx_json *j, const char *key, const struct mbx_hist *h)
{
	uint64_t bins[POW2_BINS];

	mbx_json_key(j, key);
	mbx_json_begin_object(j);
	mbx_json_kv_uint(j, "count", h->count);
	if (h->count) {
		mbx_json_kv_double(j, "mean", mbx_hist_mean(h));
		mbx_json_kv_uint(j, "min", h->min);
		mbx_json_kv_uint(j, "p50", mbx_hist_percentile(h, 50));
		mbx_json_kv_uint(j, "p90", mbx_hist_percentile(h, 90));
		mbx_json_kv_uint(j, "p99", mbx_hist_percentile(h, 99));
		mbx_json_kv_uint(j, "max", h->max);
	} else {
		static const char *const names[] = {"mean", "min", "p50", "p90", "p99", "max"};
		for (unsigned i = 0; i < MBX_ARRAY_SIZE(names); i++)
			mbx_json_kv_null(j, names[i]);
	}
	mbx_json_kv_uint(j, "saturated", h->saturated);
	mbx_json_key(j, "buckets");
	mbx_json_begin_array(j);
	pow2_bins(h, bins);
	for (unsigned k = 0; k < POW2_BINS; k++) {
		if (!bins[k])
			continue;
		mbx_json_begin_object(j);
		mbx_json_kv_uint(j, "low", bin_low(k));
		mbx_json_kv_uint(j, "high", bin_high(k));
		mbx_json_kv_uint(j, "count", bins[k]);
		mbx_json_end_object(j);
	}
	mbx_json_end_array(j);
	mbx_json_end_object(j);
}

static void json_profile(const struct mbx_analysis *a, struct mbx_json *j)
{
	char hex[24];

	mbx_json_key(j, "profile");
	mbx_json_begin_object(j);
	mbx_json_kv_str(j, "path", a->path[0] ? a->path : NULL);
	mbx_json_kv_str(j, "state", state_name(a));
	mbx_json_kv_uint(j, "ignored_bytes", a->ignored_bytes);
	mbx_json_kv_str(j, "error", a->error[0] ? a->error : NULL);
	if (a->have_meta) {
		const struct mbx_profile_meta *m = &a->meta;
		mbx_json_kv_str(j, "source", m->source);
		mbx_json_kv_str(j, "hostname", m->hostname);
		mbx_json_kv_str(j, "recorder_version", m->mbx_version);
		mbx_json_kv_uint(j, "created_ns", m->created_ns);
		snprintf(hex, sizeof(hex), "%016" PRIx64, m->salt_fingerprint);
		mbx_json_kv_str(j, "salt_fingerprint", hex);
		mbx_json_kv_uint(j, "linktype", m->linktype);
		mbx_json_kv_uint(j, "snaplen", m->snaplen);
		mbx_json_key(j, "ports");
		mbx_json_begin_array(j);
		for (unsigned i = 0; i < m->nports; i++)
			mbx_json_uint(j, m->ports[i]);
		mbx_json_end_array(j);
	} else {
		static const char *const names[] = {
		    "source",		"hostname", "recorder_version", "created_ns",
		    "salt_fingerprint", "linktype", "snaplen",		"ports"};
		for (unsigned i = 0; i < MBX_ARRAY_SIZE(names); i++)
			mbx_json_kv_null(j, names[i]);
	}
	if (a->have_totals) {
		mbx_json_key(j, "footer");
		mbx_json_begin_object(j);
		mbx_json_kv_uint(j, "events", a->totals.events);
		mbx_json_kv_uint(j, "blocks", a->totals.blocks);
		mbx_json_kv_uint(j, "first_ts_ns", a->totals.first_ts);
		mbx_json_kv_uint(j, "last_ts_ns", a->totals.last_ts);
		mbx_json_end_object(j);
	} else {
		mbx_json_kv_null(j, "footer");
	}
	mbx_json_end_object(j);
}

static void json_summary(const struct mbx_analysis *a, struct mbx_json *j)
{
	mbx_json_key(j, "summary");
	mbx_json_begin_object(j);
	mbx_json_kv_uint(j, "events", a->events);
	mbx_json_kv_uint(j, "first_ts_ns", a->first_ts);
	mbx_json_kv_uint(j, "last_ts_ns", a->last_ts);
	mbx_json_kv_uint(j, "duration_ns", duration_ns(a));
	mbx_json_kv_double(j, "ops_per_sec", ops_per_sec(a));
	mbx_json_kv_uint(j, "keyed_ops", a->keyed);
	mbx_json_kv_uint(j, "retrieval_hits", a->retr_hits);
	mbx_json_kv_uint(j, "retrieval_misses", a->retr_misses);
	json_ratio(j, "hit_ratio", a->retr_hits, a->retr_hits + a->retr_misses);
	mbx_json_kv_uint(j, "errors", a->errors);
	mbx_json_kv_uint(j, "unanswered", a->out_total[MBX_OUT_NONE]);
	mbx_json_kv_uint(j, "noreply", a->out_total[MBX_OUT_NOREPLY]);
	mbx_json_kv_uint(j, "quiet", a->quiet);
	mbx_json_kv_uint(j, "time_backwards", a->ts_backwards);
	mbx_json_key(j, "outcomes");
	mbx_json_begin_object(j);
	for (unsigned o = 0; o < AN_OUTS; o++)
		if (o < MBX_OUT__COUNT || a->out_total[o])
			mbx_json_kv_uint(j, an_outcome_name(o), a->out_total[o]);
	mbx_json_end_object(j);
	json_latency(j, "latency", &a->lat_all);
	mbx_json_end_object(j);
}

static void json_ops(const struct mbx_analysis *a, struct mbx_json *j)
{
	mbx_json_key(j, "ops");
	mbx_json_begin_array(j);
	for (unsigned p = 0; p < AN_PROTOS; p++) {
		for (unsigned op = 0; op < AN_OPS; op++) {
			const struct an_row *r = &a->rows[p][op];
			if (!r->count)
				continue;
			mbx_json_begin_object(j);
			mbx_json_kv_str(j, "op", an_op_name(op));
			mbx_json_kv_str(j, "proto", an_proto_name(p));
			mbx_json_kv_str(j, "class", an_class_name(a->op_cls[op]));
			mbx_json_kv_uint(j, "count", r->count);
			json_ratio(j, "share", r->count, a->events);
			mbx_json_kv_uint(j, "hits", r->hits);
			mbx_json_kv_uint(j, "misses", r->misses);
			mbx_json_kv_uint(j, "errors", r->errors);
			json_ratio(j, "hit_ratio", r->hits, r->hits + r->misses);
			mbx_json_kv_uint(j, "quiet", r->quiet);
			mbx_json_kv_uint(j, "value_bytes", r->value_bytes);
			mbx_json_key(j, "outcomes");
			mbx_json_begin_object(j);
			for (unsigned o = 0; o < AN_OUTS; o++)
				if (o < MBX_OUT__COUNT || r->outcomes[o])
					mbx_json_kv_uint(j, an_outcome_name(o), r->outcomes[o]);
			mbx_json_end_object(j);
			json_latency(j, "latency", r->lat);
			mbx_json_end_object(j);
		}
	}
	mbx_json_end_array(j);

	mbx_json_key(j, "protocols");
	mbx_json_begin_array(j);
	for (unsigned p = 0; p < AN_PROTOS; p++) {
		const struct an_proto *pr = &a->protos[p];
		if (!pr->events)
			continue;
		mbx_json_begin_object(j);
		mbx_json_kv_str(j, "proto", an_proto_name(p));
		mbx_json_kv_uint(j, "events", pr->events);
		json_ratio(j, "share", pr->events, a->events);
		mbx_json_kv_uint(j, "retrieval_hits", pr->retr_hits);
		mbx_json_kv_uint(j, "retrieval_misses", pr->retr_misses);
		json_ratio(j, "hit_ratio", pr->retr_hits, pr->retr_hits + pr->retr_misses);
		mbx_json_kv_uint(j, "errors", pr->errors);
		mbx_json_end_object(j);
	}
	mbx_json_end_array(j);
}

static void json_conns(const struct mbx_analysis *a, struct mbx_json *j)
{
	const struct mbx_hist *h = &a->ops_per_conn;

	mbx_json_key(j, "connections");
	mbx_json_begin_object(j);
	mbx_json_kv_uint(j, "distinct", a->conns_distinct);
	mbx_json_kv_bool(j, "approximate", a->conns_approx);
	mbx_json_kv_uint(j, "max_conn_id", a->conn_max_id);
	mbx_json_kv_uint(j, "tracked_cap", a->conn_limit - 1);
	mbx_json_kv_uint(j, "untracked_events", a->conn_untracked_events);
	mbx_json_key(j, "ops_per_conn");
	mbx_json_begin_object(j);
	mbx_json_kv_uint(j, "count", h->count);
	if (h->count) {
		mbx_json_kv_uint(j, "min", h->min);
		mbx_json_kv_uint(j, "p50", mbx_hist_percentile(h, 50));
		mbx_json_kv_uint(j, "p99", mbx_hist_percentile(h, 99));
		mbx_json_kv_uint(j, "max", h->max);
		mbx_json_kv_double(j, "mean", mbx_hist_mean(h));
	} else {
		mbx_json_kv_null(j, "min");
		mbx_json_kv_null(j, "p50");
		mbx_json_kv_null(j, "p99");
		mbx_json_kv_null(j, "max");
		mbx_json_kv_null(j, "mean");
	}
	mbx_json_end_object(j);
	mbx_json_key(j, "top");
	mbx_json_begin_array(j);
	for (uint32_t i = 0; i < a->n_top_conns; i++) {
		mbx_json_begin_object(j);
		mbx_json_kv_uint(j, "conn_id", a->top_conns[i].id);
		mbx_json_kv_uint(j, "ops", a->top_conns[i].ops);
		json_ratio(j, "share", a->top_conns[i].ops, a->events);
		mbx_json_end_object(j);
	}
	mbx_json_end_array(j);
	mbx_json_end_object(j);
}

static void json_keys(const struct mbx_analysis *a, struct mbx_json *j)
{
	char hex[24];
	bool exact = a->key_mode == KM_EXACT;

	mbx_json_key(j, "keys");
	mbx_json_begin_object(j);
	mbx_json_kv_uint(j, "keyed_ops", a->keyed);
	mbx_json_kv_uint(j, "unique", a->unique_keys);
	mbx_json_kv_bool(j, "approximate", !exact);
	mbx_json_kv_str(j, "unique_method",
			a->key_mode == KM_APPROX ? "hyperloglog"
			: exact			 ? "exact"
						 : "partial");
	if (a->key_mode == KM_APPROX)
		mbx_json_kv_double(j, "unique_rel_std_error", 1.04 / sqrt((double)HLL_M));
	else
		mbx_json_kv_null(j, "unique_rel_std_error");
	mbx_json_kv_uint(j, "exact_cap", a->o.key_cap);
	mbx_json_kv_uint(j, "uncounted_ops", a->keys_uncounted);
	if (a->key_mode != KM_APPROX) {
		mbx_json_kv_uint(j, "seen_once", a->keys_once);
		json_dist(j, "ops_per_key", &a->acc_per_key);
	} else {
		mbx_json_kv_null(j, "seen_once");
		mbx_json_kv_null(j, "ops_per_key");
	}
	mbx_json_kv_str(j, "top_method", a->key_mode == KM_APPROX ? "space_saving" : "exact");
	if (a->key_mode == KM_APPROX) {
		mbx_json_kv_uint(j, "top_capacity", a->ss.cap);
		mbx_json_kv_uint(j, "unlisted_max_count", a->keys_floor);
	} else {
		mbx_json_kv_null(j, "top_capacity");
		mbx_json_kv_null(j, "unlisted_max_count");
	}
	mbx_json_key(j, "top");
	mbx_json_begin_array(j);
	for (uint32_t i = 0; i < a->n_top_keys; i++) {
		const struct top_key *k = &a->top_keys[i];
		mbx_json_begin_object(j);
		snprintf(hex, sizeof(hex), "%016" PRIx64, k->hash);
		mbx_json_kv_str(j, "key_hash", hex);
		mbx_json_kv_uint(j, "key_len", k->key_len);
		mbx_json_kv_uint(j, "count", k->count);
		mbx_json_kv_uint(j, "error", k->err);
		json_ratio(j, "share", k->count, a->keyed);
		mbx_json_end_object(j);
	}
	mbx_json_end_array(j);
	mbx_json_end_object(j);
}

static void json_requests(const struct mbx_analysis *a, struct mbx_json *j)
{
	mbx_json_key(j, "requests");
	mbx_json_begin_object(j);
	mbx_json_kv_uint(j, "requests", a->requests);
	mbx_json_kv_uint(j, "multi_key_requests", a->multi_requests);
	mbx_json_kv_uint(j, "multi_key_keys", a->multi_keys);
	mbx_json_kv_uint(j, "untracked_events", a->conn_untracked_events);
	json_dist(j, "keys_per_multi_key_request", &a->batch_keys);
	mbx_json_end_object(j);
}

static void json_series(const struct mbx_analysis *a, struct mbx_json *j)
{
	mbx_json_key(j, "time_series");
	mbx_json_begin_object(j);
	mbx_json_kv_uint(j, "start_ns", a->ts_n ? a->ts_base : 0);
	mbx_json_kv_uint(j, "interval_ns", a->ts_interval);
	mbx_json_kv_double(j, "latency_rel_error", 1.0 / (2 * TS_HALF));
	mbx_json_kv_uint(j, "before_start", a->ts_before_start);
	mbx_json_key(j, "points");
	mbx_json_begin_array(j);
	for (uint32_t i = 0; i < a->ts_n; i++) {
		const struct ts_point *p = &a->ts[i];
		mbx_json_begin_object(j);
		mbx_json_kv_uint(j, "t_ns", a->ts_base + (uint64_t)i * a->ts_interval);
		mbx_json_kv_uint(j, "ops", p->ops);
		for (unsigned c = 0; c < AN_CLASSES; c++) {
			static const unsigned order[AN_CLASSES] = {MBX_OPC_RETR,  MBX_OPC_STORE,
								   MBX_OPC_DEL,	  MBX_OPC_ARITH,
								   MBX_OPC_TOUCH, MBX_OPC_OTHER};
			mbx_json_kv_uint(j, an_class_name(order[c]), p->cls[order[c]]);
		}
		mbx_json_kv_uint(j, "hits", p->hits);
		mbx_json_kv_uint(j, "misses", p->misses);
		json_ratio(j, "hit_ratio", p->hits, p->hits + p->misses);
		mbx_json_kv_uint(j, "errors", p->errors);
		mbx_json_kv_uint(j, "latency_count", p->lat_n);
		if (p->lat_n) {
			mbx_json_kv_uint(j, "p50_ns", ts_lat_percentile(p->lat, p->lat_n, 50));
			mbx_json_kv_uint(j, "p99_ns", ts_lat_percentile(p->lat, p->lat_n, 99));
		} else {
			mbx_json_kv_null(j, "p50_ns");
			mbx_json_kv_null(j, "p99_ns");
		}
		mbx_json_end_object(j);
	}
	mbx_json_end_array(j);
	mbx_json_end_object(j);
}

static void json_capture(const struct mbx_analysis *a, struct mbx_json *j)
{
	bool any = false;

	mbx_json_key(j, "capture");
	mbx_json_begin_object(j);
	mbx_json_key(j, "counters");
	mbx_json_begin_object(j);
	for (size_t i = 0; i < a->ncounters; i++)
		mbx_json_kv_uint(j, a->counters[i].name, a->counters[i].value);
	mbx_json_end_object(j);
	mbx_json_key(j, "losses");
	mbx_json_begin_object(j);
	for (size_t i = 0; i < a->ncounters; i++) {
		if (!an_counter_is_loss(a->counters[i].name))
			continue;
		mbx_json_kv_uint(j, a->counters[i].name, a->counters[i].value);
		any |= a->counters[i].value != 0;
	}
	mbx_json_end_object(j);
	mbx_json_kv_bool(j, "any_loss", any);
	mbx_json_end_object(j);
}

int mbx_analysis_write_json(const struct mbx_analysis *a, FILE *f, bool pretty)
{
	struct mbx_json j;

	if (!a->finished)
		return -EINVAL;
	mbx_json_init(&j, f, pretty ? MBX_JSON_PRETTY : MBX_JSON_COMPACT);
	mbx_json_begin_object(&j);
	mbx_json_kv_str(&j, "schema", AN_SCHEMA);
	mbx_json_kv_str(&j, "mbx_version", MBX_VERSION);
	mbx_json_key(&j, "options");
	mbx_json_begin_object(&j);
	mbx_json_kv_uint(&j, "top_keys", a->o.top_keys);
	mbx_json_kv_uint(&j, "top_conns", a->o.top_conns);
	mbx_json_kv_uint(&j, "interval_ns", a->o.interval_ns);
	mbx_json_kv_uint(&j, "max_points", a->o.max_points);
	mbx_json_kv_uint(&j, "key_cap", a->o.key_cap);
	mbx_json_kv_uint(&j, "conn_cap", a->o.conn_cap);
	mbx_json_kv_uint(&j, "topk_capacity", a->o.topk_capacity);
	mbx_json_end_object(&j);
	json_profile(a, &j);
	json_summary(a, &j);
	json_ops(a, &j);
	mbx_json_key(&j, "sizes");
	mbx_json_begin_object(&j);
	json_dist(&j, "key", &a->key_len);
	json_dist(&j, "value_sent", &a->val_sent);
	json_dist(&j, "value_returned", &a->val_ret);
	mbx_json_end_object(&j);
	json_conns(a, &j);
	json_keys(a, &j);
	json_requests(a, &j);
	json_series(a, &j);
	json_capture(a, &j);
	mbx_json_end_object(&j);
	return mbx_json_finish(&j);
}
