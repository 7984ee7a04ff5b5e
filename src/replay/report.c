/* SPDX-License-Identifier: Apache-2.0 */
/* Replay reports: the progress line, the final table and the JSON document
 * "mbx.replay/1" (docs/replay.md, sections "Report" and "JSON schema"). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>

#include "mbx/fmt.h"
#include "mbx/rstats.h"
#include "mbx_config.h"

static const double lat_ps[] = {50, 90, 99, 99.9};
static const char *const lat_pnames[] = {"p50_ns", "p90_ns", "p99_ns", "p999_ns"};

struct buf {
	char s[48];
};

/* ---- compact formats for the progress line ---- */

/* Two or three digits and a unit: "850ns", "4.1us", "41us", "310us", "1.2ms", "25ms", "2.5s". */
static const char *short_ns(struct buf *b, uint64_t ns)
{
	static const char *const units[] = {"us", "ms", "s"};
	double x = (double)ns;
	unsigned u = 0;

	if (ns < 1000) {
		snprintf(b->s, sizeof(b->s), "%" PRIu64 "ns", ns);
		return b->s;
	}
	x /= 1e3;
	while (x >= 999.5 && u + 1 < MBX_ARRAY_SIZE(units)) {
		x /= 1e3;
		u++;
	}
	if (x < 9.95)
		snprintf(b->s, sizeof(b->s), "%.1f%s", x, units[u]);
	else
		snprintf(b->s, sizeof(b->s), "%.0f%s", x, units[u]);
	return b->s;
}

/* "950", "98.2k", "1.25M" */
static const char *short_rate(struct buf *b, double r)
{
	static const char *const units[] = {"", "k", "M", "G"};
	unsigned u = 0;

	if (!(r >= 0) || isinf(r)) {
		snprintf(b->s, sizeof(b->s), "-");
		return b->s;
	}
	if (r < 999.5) {
		snprintf(b->s, sizeof(b->s), "%.0f", r);
		return b->s;
	}
	while (r >= 999.5 && u + 1 < MBX_ARRAY_SIZE(units)) {
		r /= 1e3;
		u++;
	}
	return mbx_fmt_sig3(b->s, sizeof(b->s), r, "", units[u]);
}

void mbx_rreport_progress_line(FILE *f, const struct mbx_rinterval_sum *s)
{
	const struct mbx_rinterval *d = &s->d;
	struct buf b[5];
	double rate = s->dur_ns ? (double)d->done * 1e9 / (double)s->dur_ns : NAN;
	uint64_t err =
	    d->errors + d->ctr[MBX_RSTAT_PROTOCOL_ERRORS] + d->ctr[MBX_RSTAT_CONNECT_ERRORS];

	fprintf(f, "[%3" PRIu64 "s] %s ops/s", (uint64_t)(s->elapsed_ns / MBX_NSEC_PER_SEC),
		short_rate(&b[0], rate));
	if (d->lat.count)
		fprintf(f, "  p50 %s p99 %s", short_ns(&b[1], mbx_hist_percentile(&d->lat, 50)),
			short_ns(&b[2], mbx_hist_percentile(&d->lat, 99)));
	else
		fprintf(f, "  p50 - p99 -");
	fprintf(f, "  err %" PRIu64 "  timeouts %" PRIu64, err, d->timeouts);
	if (d->lag.count)
		fprintf(f, "  lag p99 %s  behind %.1fs",
			short_ns(&b[3], mbx_hist_percentile(&d->lag, 99)),
			(double)d->lag_last / 1e9);
	else
		fprintf(f, "  lag p99 -  behind -");
	if (s->slow)
		fprintf(f, "  slow %u", s->slow);
	fputc('\n', f);
}

/* ---- sums over rows ---- */

struct rsum {
	uint64_t sent, skipped, timeouts, aborted, completed;
	uint64_t hits, misses, errors; /* replayed, by the op's class */
	uint64_t rhits, rmisses;       /* recorded, same events */
	uint64_t hit2miss, miss2hit;   /* recorded hit -> replayed miss, and back */
	uint64_t out[MBX_RSTATS_OUTS]; /* replayed outcomes */
	uint64_t rec[MBX_RSTATS_OUTS]; /* recorded outcomes */
};

static bool is_hit(unsigned op, unsigned o)
{
	return o < MBX_OUT__COUNT && mbx_outcome_is_hit(op, o);
}

static bool is_miss(unsigned op, unsigned o)
{
	return o < MBX_OUT__COUNT && mbx_outcome_is_miss(op, o);
}

static void row_sum(unsigned op, const struct mbx_rrow *r, struct rsum *s)
{
	memset(s, 0, sizeof(*s));
	s->sent = r->sent;
	s->skipped = r->skipped;
	s->timeouts = r->timeouts;
	s->aborted = r->aborted;
	for (unsigned ro = 0; ro < MBX_RSTATS_OUTS; ro++) {
		for (unsigned o = 0; o < MBX_RSTATS_OUTS; o++) {
			uint64_t c = r->joint[ro][o];
			if (!c)
				continue;
			s->completed += c;
			s->out[o] += c;
			s->rec[ro] += c;
			if (is_hit(op, o))
				s->hits += c;
			if (is_miss(op, o))
				s->misses += c;
			if (o < MBX_OUT__COUNT && mbx_outcome_is_error(o))
				s->errors += c;
			if (is_hit(op, ro))
				s->rhits += c;
			if (is_miss(op, ro))
				s->rmisses += c;
			if (is_hit(op, ro) && is_miss(op, o))
				s->hit2miss += c;
			if (is_miss(op, ro) && is_hit(op, o))
				s->miss2hit += c;
		}
	}
}

/* Totals: counts over all rows; hits, misses and transitions over retrieval
 * ops only (a storage "hit" is not a cache hit). */
static void total_sum(const struct mbx_rtotals *t, struct rsum *s)
{
	struct rsum r;

	memset(s, 0, sizeof(*s));
	for (unsigned p = 0; p < MBX_RSTATS_PROTOS; p++) {
		for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
			row_sum(op, &t->rows[p][op], &r);
			s->sent += r.sent;
			s->skipped += r.skipped;
			s->timeouts += r.timeouts;
			s->aborted += r.aborted;
			s->completed += r.completed;
			s->errors += r.errors;
			for (unsigned o = 0; o < MBX_RSTATS_OUTS; o++) {
				s->out[o] += r.out[o];
				s->rec[o] += r.rec[o];
			}
			if (mbx_op_class(op) != MBX_OPC_RETR)
				continue;
			s->hits += r.hits;
			s->misses += r.misses;
			s->rhits += r.rhits;
			s->rmisses += r.rmisses;
			s->hit2miss += r.hit2miss;
			s->miss2hit += r.miss2hit;
		}
	}
}

static uint64_t unfinished(const struct rsum *s)
{
	uint64_t fin = s->completed + s->timeouts + s->aborted;
	return s->sent > fin ? s->sent - fin : 0;
}

static bool row_used(const struct mbx_rrow *r, const struct rsum *s)
{
	return r->sent || r->skipped || s->completed || r->timeouts || r->aborted;
}

static double ratio(uint64_t num, uint64_t den)
{
	return den ? (double)num / (double)den : NAN;
}

static uint64_t run_ns(const struct mbx_rtotals *t, const struct mbx_rreport_info *info)
{
	if (info && info->end_ns > info->start_ns)
		return info->end_ns - info->start_ns;
	return t->requests ? t->send_last - t->send_first : 0;
}

/* Rates from first to last timestamp: n events span n - 1 gaps, so a
 * schedule of one event per ms is exactly 1000/s. */
static double requested_rate(const struct mbx_rtotals *t)
{
	uint64_t span = t->intended_last - t->intended_first;
	return t->intended_count > 1 && span ? (double)(t->intended_count - 1) * 1e9 / (double)span
					     : NAN;
}

static double sent_rate(const struct mbx_rtotals *t, const struct rsum *s)
{
	uint64_t span = t->send_last - t->send_first;
	return s->sent > 1 && span ? (double)(s->sent - 1) * 1e9 / (double)span : NAN;
}

static double completed_rate(const struct mbx_rtotals *t, const struct rsum *s,
			     const struct mbx_rreport_info *info)
{
	uint64_t d = run_ns(t, info);
	return d ? (double)s->completed * 1e9 / (double)d : NAN;
}

static const char *class_name(unsigned op)
{
	static const char *const names[] = {"other",  "retrieval", "storage",
					    "delete", "arith",	   "touch"};
	unsigned c = mbx_op_class(op);
	return c < MBX_ARRAY_SIZE(names) ? names[c] : "other";
}

static const char *outcome_name(unsigned o)
{
	return o < MBX_OUT__COUNT ? mbx_outcome_name(o) : "invalid";
}

/* ---- text ---- */

static const char *fmt_ns(struct buf *b, uint64_t ns)
{
	return mbx_fmt_ns(b->s, sizeof(b->s), ns);
}

static const char *fmt_pct(struct buf *b, uint64_t num, uint64_t den)
{
	return mbx_fmt_pct(b->s, sizeof(b->s), num, den);
}

static const char *fmt_rate(struct buf *b, double r)
{
	if (isnan(r) || isinf(r))
		snprintf(b->s, sizeof(b->s), "-");
	else if (r < 100)
		snprintf(b->s, sizeof(b->s), "%.2f", r);
	else
		snprintf(b->s, sizeof(b->s), "%.0f", r);
	return b->s;
}

static const char *fmt_secs(struct buf *b, uint64_t ns)
{
	snprintf(b->s, sizeof(b->s), "%.2f s", (double)ns / 1e9);
	return b->s;
}

static const char *fmt_bytes(struct buf *b, uint64_t v)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double x = (double)v;
	unsigned u = 0;

	while (x >= 1023.5 && u + 1 < MBX_ARRAY_SIZE(units)) {
		x /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(b->s, sizeof(b->s), "%" PRIu64 " B", v);
	else
		snprintf(b->s, sizeof(b->s), "%.1f %s", x, units[u]);
	return b->s;
}

static void text_lat_cols(FILE *f, const struct mbx_hist *h)
{
	struct buf b;

	if (!h || !h->count) {
		fprintf(f, " %9s %9s %9s %9s %9s\n", "-", "-", "-", "-", "-");
		return;
	}
	for (unsigned i = 0; i < MBX_ARRAY_SIZE(lat_ps); i++)
		fprintf(f, " %9s", fmt_ns(&b, mbx_hist_percentile(h, lat_ps[i])));
	fprintf(f, " %9s\n", fmt_ns(&b, h->max));
}

static int name_width(const struct mbx_rtotals *t)
{
	struct rsum s;
	int w = 3; /* "all" */

	for (unsigned p = 0; p < MBX_RSTATS_PROTOS; p++)
		for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
			row_sum(op, &t->rows[p][op], &s);
			if (row_used(&t->rows[p][op], &s))
				w = MBX_MAX(w, (int)strlen(mbx_op_name(op)));
		}
	return w;
}

static void text_ops(FILE *f, const struct mbx_rtotals *t, const struct rsum *tot)
{
	struct buf b[2];
	struct rsum s;
	int w = name_width(t);
	bool incomplete = false;

	fprintf(f, "\nOPERATIONS (hit%% = hits / (hits + misses) for the op's class; rec = the "
		   "same events as recorded)\n");
	fprintf(f, "  %-*s %-6s %11s %11s %8s %8s %8s %8s %9s %9s %9s %9s %9s\n", w, "op", "proto",
		"sent", "completed", "hit%", "rec hit%", "errors", "timeouts", "p50", "p90", "p99",
		"p99.9", "max");
	for (unsigned p = 0; p < MBX_RSTATS_PROTOS; p++) {
		for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
			const struct mbx_rrow *r = &t->rows[p][op];
			row_sum(op, r, &s);
			if (!row_used(r, &s))
				continue;
			if (s.skipped || s.aborted || s.timeouts || unfinished(&s))
				incomplete = true;
			fprintf(f,
				"  %-*s %-6s %11" PRIu64 " %11" PRIu64 " %8s %8s %8" PRIu64
				" %8" PRIu64,
				w, mbx_op_name(op), mbx_proto_name(p), s.sent, s.completed,
				fmt_pct(&b[0], s.hits, s.hits + s.misses),
				fmt_pct(&b[1], s.rhits, s.rhits + s.rmisses), s.errors, s.timeouts);
			text_lat_cols(f, r->lat);
		}
	}
	fprintf(f, "  %-*s %-6s %11" PRIu64 " %11" PRIu64 " %8s %8s %8" PRIu64 " %8" PRIu64, w,
		"all", "", tot->sent, tot->completed,
		fmt_pct(&b[0], tot->hits, tot->hits + tot->misses),
		fmt_pct(&b[1], tot->rhits, tot->rhits + tot->rmisses), tot->errors, tot->timeouts);
	text_lat_cols(f, &t->lat);
	fprintf(f, "  (hit%% of \"all\": retrieval ops only)\n");

	if (!incomplete)
		return;
	fprintf(f, "\nNOT COMPLETED\n  %-*s %-6s %11s %11s %11s %11s\n", w, "op", "proto",
		"skipped", "timeouts", "aborted", "unfinished");
	for (unsigned p = 0; p < MBX_RSTATS_PROTOS; p++) {
		for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
			row_sum(op, &t->rows[p][op], &s);
			if (!(s.skipped || s.aborted || s.timeouts || unfinished(&s)))
				continue;
			fprintf(f,
				"  %-*s %-6s %11" PRIu64 " %11" PRIu64 " %11" PRIu64 " %11" PRIu64
				"\n",
				w, mbx_op_name(op), mbx_proto_name(p), s.skipped, s.timeouts,
				s.aborted, unfinished(&s));
		}
	}
}

int mbx_rreport_text(FILE *f, const struct mbx_rtotals *t, const struct mbx_rreport_info *info)
{
	static const struct mbx_rreport_info none;
	struct buf b[6];
	struct rsum s;
	const struct mbx_hist *lag = &t->lag;
	double req;

	if (!info)
		info = &none;
	total_sum(t, &s);
	req = requested_rate(t);

	fprintf(f, "mbx replay: %s -> %s\n", info->profile ? info->profile : "(profile)",
		info->target ? info->target : "(target)");
	fprintf(f, "  run        %u worker%s, %s%s\n", t->workers, t->workers == 1 ? "" : "s",
		fmt_secs(&b[0], run_ns(t, info)),
		info->interrupted ? ", INTERRUPTED before the end of the profile" : "");
	if (info->closed_loop)
		fprintf(f, "  latency    actual send -> first response byte (closed loop)\n");
	else
		fprintf(f, "  latency    intended send time -> first response byte (includes send "
			   "lag: no coordinated omission)\n");

	text_ops(f, t, &s);

	fprintf(f, "\nTOTALS\n");
	fprintf(f, "  events     %" PRIu64 " sent, %" PRIu64 " skipped (not sendable)\n", s.sent,
		s.skipped);
	fprintf(f,
		"  finished   %" PRIu64 " completed, %" PRIu64 " timeouts, %" PRIu64
		" aborted (connection lost), %" PRIu64 " unfinished\n",
		s.completed, s.timeouts, s.aborted, unfinished(&s));
	fprintf(f,
		"  hit ratio  replayed %s, recorded %s (retrieval; recorded hit -> replayed miss "
		"%" PRIu64 ", miss -> hit %" PRIu64 ")\n",
		fmt_pct(&b[0], s.hits, s.hits + s.misses),
		fmt_pct(&b[1], s.rhits, s.rhits + s.rmisses), s.hit2miss, s.miss2hit);
	fprintf(f,
		"  errors     %" PRIu64 " error replies, %" PRIu64 " protocol errors, %" PRIu64
		" connect errors, %" PRIu64 " reconnects\n",
		s.errors, t->ctr[MBX_RSTAT_PROTOCOL_ERRORS], t->ctr[MBX_RSTAT_CONNECT_ERRORS],
		t->ctr[MBX_RSTAT_RECONNECTS]);
	fprintf(f, "  bytes      %s out, %s in\n", fmt_bytes(&b[0], t->ctr[MBX_RSTAT_BYTES_OUT]),
		fmt_bytes(&b[1], t->ctr[MBX_RSTAT_BYTES_IN]));
	if (t->slow_collects)
		fprintf(f,
			"  progress   %" PRIu64
			" interval collects waited too long for a worker (its numbers moved to "
			"the next second)\n",
			t->slow_collects);

	fprintf(f, "\nRATE (ops/s)\n");
	if (isnan(req))
		fprintf(f, "  requested  - (%s)\n",
			t->intended_count ? "schedule shorter than 1 ns"
					  : "closed loop: as fast as "
					    "replies come");
	else
		fprintf(f, "  requested  %s  (%" PRIu64 " scheduled events over %s)\n",
			fmt_rate(&b[0], req), t->intended_count,
			fmt_secs(&b[1], t->intended_last - t->intended_first));
	fprintf(f, "  sent       %s", fmt_rate(&b[0], sent_rate(t, &s)));
	if (!isnan(req) && !isnan(sent_rate(t, &s)))
		fprintf(f, "  (%.1f%% of requested)", 100.0 * sent_rate(t, &s) / req);
	fprintf(f, "\n  completed  %s  (over the %s run)\n",
		fmt_rate(&b[0], completed_rate(t, &s, info)), fmt_secs(&b[1], run_ns(t, info)));

	fprintf(f, "\nSEND LAG (actual - intended send time, per request)\n");
	if (!lag->count)
		fprintf(f, "  none (no timed sends)\n");
	else
		fprintf(f, "  p50 %s  p90 %s  p99 %s  p99.9 %s  max %s  (%" PRIu64 " requests)\n",
			fmt_ns(&b[0], mbx_hist_percentile(lag, 50)),
			fmt_ns(&b[1], mbx_hist_percentile(lag, 90)),
			fmt_ns(&b[2], mbx_hist_percentile(lag, 99)),
			fmt_ns(&b[3], mbx_hist_percentile(lag, 99.9)), fmt_ns(&b[4], lag->max),
			lag->count);
	fflush(f);
	return ferror(f) ? -EIO : 0;
}

/* ---- JSON ---- */

static void j_ratio(struct mbx_json *j, const char *key, uint64_t num, uint64_t den)
{
	mbx_json_kv_double(j, key, ratio(num, den));
}

static void j_rate(struct mbx_json *j, const char *key, double r)
{
	if (isnan(r) || isinf(r))
		mbx_json_kv_null(j, key);
	else
		mbx_json_kv_double(j, key, r);
}

static void j_latency(struct mbx_json *j, const char *key, const struct mbx_hist *h)
{
	bool any = h && h->count;

	mbx_json_key(j, key);
	mbx_json_begin_object(j);
	mbx_json_kv_uint(j, "count", any ? h->count : 0);
	if (any) {
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
	mbx_json_kv_uint(j, "saturated", any ? h->saturated : 0);
	mbx_json_end_object(j);
}

static void j_outcomes(struct mbx_json *j, const char *key, const uint64_t *out)
{
	mbx_json_key(j, key);
	mbx_json_begin_object(j);
	for (unsigned o = 0; o < MBX_OUT__COUNT; o++)
		mbx_json_kv_uint(j, mbx_outcome_name(o), out[o]);
	if (out[MBX_RSTATS_OUT_INVALID])
		mbx_json_kv_uint(j, "invalid", out[MBX_RSTATS_OUT_INVALID]);
	mbx_json_end_object(j);
}

static void j_hits(struct mbx_json *j, const struct rsum *s)
{
	mbx_json_kv_uint(j, "hits", s->hits);
	mbx_json_kv_uint(j, "misses", s->misses);
	j_ratio(j, "hit_ratio", s->hits, s->hits + s->misses);
	mbx_json_kv_uint(j, "recorded_hits", s->rhits);
	mbx_json_kv_uint(j, "recorded_misses", s->rmisses);
	j_ratio(j, "recorded_hit_ratio", s->rhits, s->rhits + s->rmisses);
	mbx_json_kv_uint(j, "recorded_hit_replayed_miss", s->hit2miss);
	mbx_json_kv_uint(j, "recorded_miss_replayed_hit", s->miss2hit);
}

static void j_counts(struct mbx_json *j, const struct rsum *s)
{
	mbx_json_kv_uint(j, "sent", s->sent);
	mbx_json_kv_uint(j, "skipped", s->skipped);
	mbx_json_kv_uint(j, "completed", s->completed);
	mbx_json_kv_uint(j, "timeouts", s->timeouts);
	mbx_json_kv_uint(j, "aborted", s->aborted);
	mbx_json_kv_uint(j, "unfinished", unfinished(s));
	mbx_json_kv_uint(j, "errors", s->errors);
}

static void j_run(struct mbx_json *j, const struct mbx_rtotals *t,
		  const struct mbx_rreport_info *info)
{
	mbx_json_key(j, "run");
	mbx_json_begin_object(j);
	mbx_json_kv_str(j, "profile", info->profile);
	mbx_json_kv_str(j, "target", info->target);
	mbx_json_kv_uint(j, "workers", t->workers);
	mbx_json_kv_str(j, "latency_from", info->closed_loop ? "actual_send" : "intended_send");
	if (info->start_unix_ns)
		mbx_json_kv_uint(j, "start_unix_ns", info->start_unix_ns);
	else
		mbx_json_kv_null(j, "start_unix_ns");
	mbx_json_kv_uint(j, "duration_ns", run_ns(t, info));
	mbx_json_kv_bool(j, "interrupted", info->interrupted);
	mbx_json_end_object(j);
}

static void j_totals(struct mbx_json *j, const struct mbx_rtotals *t, const struct rsum *s)
{
	mbx_json_key(j, "totals");
	mbx_json_begin_object(j);
	j_counts(j, s);
	j_hits(j, s);
	mbx_json_kv_uint(j, "requests", t->requests);
	for (unsigned i = 0; i < MBX_RSTAT__COUNT; i++)
		mbx_json_kv_uint(j, mbx_rstat_ctr_name(i), t->ctr[i]);
	mbx_json_kv_uint(j, "slow_collects", t->slow_collects);
	j_outcomes(j, "outcomes", s->out);
	j_outcomes(j, "recorded_outcomes", s->rec);
	j_latency(j, "latency", &t->lat);
	mbx_json_end_object(j);
}

static void j_rates(struct mbx_json *j, const struct mbx_rtotals *t, const struct rsum *s,
		    const struct mbx_rreport_info *info)
{
	double req = requested_rate(t), sent = sent_rate(t, s);

	mbx_json_key(j, "rate");
	mbx_json_begin_object(j);
	j_rate(j, "requested_ops_per_sec", req);
	mbx_json_kv_uint(j, "scheduled_events", t->intended_count);
	mbx_json_kv_uint(j, "schedule_span_ns",
			 t->intended_count ? t->intended_last - t->intended_first : 0);
	j_rate(j, "sent_ops_per_sec", sent);
	mbx_json_kv_uint(j, "send_span_ns", t->requests ? t->send_last - t->send_first : 0);
	j_rate(j, "sent_vs_requested", sent / req);
	j_rate(j, "completed_ops_per_sec", completed_rate(t, s, info));
	mbx_json_end_object(j);
}

static void j_transitions(struct mbx_json *j, const struct mbx_rrow *r)
{
	mbx_json_key(j, "transitions");
	mbx_json_begin_array(j);
	for (unsigned ro = 0; ro < MBX_RSTATS_OUTS; ro++) {
		for (unsigned o = 0; o < MBX_RSTATS_OUTS; o++) {
			if (!r->joint[ro][o])
				continue;
			mbx_json_begin_object(j);
			mbx_json_kv_str(j, "recorded", outcome_name(ro));
			mbx_json_kv_str(j, "replayed", outcome_name(o));
			mbx_json_kv_uint(j, "count", r->joint[ro][o]);
			mbx_json_end_object(j);
		}
	}
	mbx_json_end_array(j);
}

static void j_ops(struct mbx_json *j, const struct mbx_rtotals *t)
{
	struct rsum s;

	mbx_json_key(j, "ops");
	mbx_json_begin_array(j);
	for (unsigned p = 0; p < MBX_RSTATS_PROTOS; p++) {
		for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
			const struct mbx_rrow *r = &t->rows[p][op];
			row_sum(op, r, &s);
			if (!row_used(r, &s))
				continue;
			mbx_json_begin_object(j);
			mbx_json_kv_str(j, "op", mbx_op_name(op));
			mbx_json_kv_str(j, "proto", mbx_proto_name(p));
			mbx_json_kv_str(j, "class", class_name(op));
			j_counts(j, &s);
			j_hits(j, &s);
			j_outcomes(j, "outcomes", s.out);
			j_outcomes(j, "recorded_outcomes", s.rec);
			j_transitions(j, r);
			j_latency(j, "latency", r->lat);
			mbx_json_end_object(j);
		}
	}
	mbx_json_end_array(j);
}

static void j_series(struct mbx_json *j, const struct mbx_rseries *ts)
{
	mbx_json_key(j, "time_series");
	if (!ts) {
		mbx_json_null(j);
		return;
	}
	mbx_json_begin_object(j);
	mbx_json_kv_uint(j, "collects_per_point", mbx_rseries_collects_per_point(ts));
	mbx_json_kv_uint(j, "slow_collects", mbx_rseries_slow_collects(ts));
	mbx_json_key(j, "points");
	mbx_json_begin_array(j);
	for (size_t i = 0; i < mbx_rseries_count(ts); i++) {
		const struct mbx_rpoint *p = mbx_rseries_point(ts, i);
		mbx_json_begin_object(j);
		mbx_json_kv_uint(j, "t_ns", p->t_ns);
		mbx_json_kv_uint(j, "dur_ns", p->dur_ns);
		mbx_json_kv_uint(j, "sent", p->sent);
		mbx_json_kv_uint(j, "ops", p->ops);
		mbx_json_kv_uint(j, "hits", p->hits);
		mbx_json_kv_uint(j, "misses", p->misses);
		mbx_json_kv_uint(j, "errors", p->errors);
		mbx_json_kv_uint(j, "timeouts", p->timeouts);
		mbx_json_kv_uint(j, "latency_count", p->lat_count);
		if (p->lat_count) {
			mbx_json_kv_uint(j, "p50_ns", p->p50_ns);
			mbx_json_kv_uint(j, "p99_ns", p->p99_ns);
			mbx_json_kv_uint(j, "max_ns", p->max_ns);
		} else {
			mbx_json_kv_null(j, "p50_ns");
			mbx_json_kv_null(j, "p99_ns");
			mbx_json_kv_null(j, "max_ns");
		}
		mbx_json_kv_uint(j, "lag_max_ns", p->lag_max_ns);
		mbx_json_kv_bool(j, "merged", p->merged);
		mbx_json_end_object(j);
	}
	mbx_json_end_array(j);
	mbx_json_end_object(j);
}

int mbx_rreport_json(FILE *f, const struct mbx_rtotals *t, const struct mbx_rseries *ts,
		     const struct mbx_rreport_info *info, unsigned flags)
{
	static const struct mbx_rreport_info none;
	struct mbx_json j;
	struct rsum s;

	if (!info)
		info = &none;
	total_sum(t, &s);
	mbx_json_init(&j, f, flags);
	mbx_json_begin_object(&j);
	mbx_json_kv_str(&j, "schema", "mbx.replay/1");
	mbx_json_kv_str(&j, "mbx_version", MBX_VERSION);
	mbx_json_key(&j, "config");
	mbx_json_begin_object(&j);
	if (info->config_json)
		info->config_json(&j, info->config_arg);
	mbx_json_end_object(&j);
	j_run(&j, t, info);
	j_totals(&j, t, &s);
	j_rates(&j, t, &s, info);
	j_latency(&j, "lag", &t->lag);
	j_ops(&j, t);
	j_series(&j, ts);
	mbx_json_end_object(&j);
	return mbx_json_finish(&j);
}
