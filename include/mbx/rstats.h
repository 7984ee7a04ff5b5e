/* SPDX-License-Identifier: Apache-2.0 */
/* Replay statistics: what each replay worker records, how the main thread
 * reads it while the workers run, and the reports (progress line, final
 * table, JSON "mbx.replay/1"). docs/replay.md, sections "Report" and
 * "JSON schema", describe every number.
 *
 * Threads. Each worker owns one struct mbx_rstats and is its only writer; the
 * recording functions below are inline, take no lock and make no call except
 * on the once-a-second interval flip. While the workers run, the main thread
 * reads only the *interval* buffers, through a lock-free flip:
 *
 *   main                                    worker (loop, every iteration)
 *   epoch_req = E + 1      (release) ──►    mbx_rstats_poll(): sees E + 1,
 *                                           clears buffer (E + 1) & 1, writes
 *   waits for epoch_pub == E + 1 ◄──        there from now on, epoch_pub = E + 1
 *   (acquire, bounded), reads                (release)
 *   buffer E & 1, which the worker
 *   no longer touches
 *
 * A worker that does not answer within the wait (default 50 ms) is reported
 * as slow; its data stays in its buffer and is read at the next collect, so
 * nothing is lost or counted twice. Everything else in struct mbx_rstats
 * (per-op rows, latency histograms, counters) is read only by
 * mbx_rtotals_add(), after the worker thread has been joined.
 *
 * Time. Every time is CLOCK_MONOTONIC in ns (mbx_rstats_now()); the engine
 * passes the times it already has, the recording functions never read the
 * clock. */
#ifndef MBX_RSTATS_H
#define MBX_RSTATS_H

#include <stdio.h>

#include "mbx/common.h"
#include "mbx/event.h"
#include "mbx/hist.h"
#include "mbx/json.h"

/* Row index space: protocols x ops; out-of-range arguments are clamped to
 * (text, unknown) so that a caller's bug cannot write out of bounds. */
#define MBX_RSTATS_PROTOS      3
#define MBX_RSTATS_OUTS	       (MBX_OUT__COUNT + 1) /* + "invalid" (recorded byte out of range) */
#define MBX_RSTATS_OUT_INVALID MBX_OUT__COUNT

#define MBX_RSTATS_UNTIMED  UINT64_MAX /* no intended send time (closed loop) */
#define MBX_RSTATS_LAT_NONE UINT64_MAX /* latency unknown (e.g. implied by a later reply) */

#define MBX_RSTATS_WAIT_NS     (50 * MBX_NSEC_PER_MSEC) /* default bound of a collect */
#define MBX_RSERIES_MAX_POINTS 86400			/* default time-series cap */

/* Counters without an op. X(ENUM, "json name", "meaning") */
#define MBX_RSTAT_COUNTERS(X)                                                                      \
	X(RECONNECTS, "reconnects", "connections opened again after a close or an error")          \
	X(CONNECT_ERRORS, "connect_errors", "connection attempts that failed")                     \
	X(PROTOCOL_ERRORS, "protocol_errors",                                                      \
	  "replies that could not be parsed or did not match a request")                           \
	X(BYTES_OUT, "bytes_out", "bytes written to the target")                                   \
	X(BYTES_IN, "bytes_in", "bytes read from the target")

enum mbx_rstat_ctr {
#define MBX_X_ENUM(e, n, d) MBX_RSTAT_##e,
	MBX_RSTAT_COUNTERS(MBX_X_ENUM)
#undef MBX_X_ENUM
	MBX_RSTAT__COUNT
};

const char *mbx_rstat_ctr_name(unsigned id); /* "?" if out of range */

/* One (protocol, op): the replayed events of that op as sent. */
struct mbx_rrow {
	uint64_t sent;	      /* events written (a multi-key get counts its keys) */
	uint64_t skipped;     /* events not sendable (e.g. no encoding in the protocol) */
	uint64_t timeouts;    /* sent, no reply within the timeout */
	uint64_t aborted;     /* sent, connection closed or failed before the reply */
	struct mbx_hist *lat; /* NULL until the first latency of this row */
	/* completed events: [recorded outcome][replayed outcome] */
	uint64_t joint[MBX_RSTATS_OUTS][MBX_RSTATS_OUTS];
};

/* The part of the statistics the main thread reads while the worker runs. */
struct mbx_rinterval {
	uint64_t sent;	   /* events sent */
	uint64_t done;	   /* events completed (any outcome) */
	uint64_t hits;	   /* retrieval hits among them */
	uint64_t misses;   /* retrieval misses */
	uint64_t errors;   /* outcomes error, client_error, server_error */
	uint64_t timeouts; /* events timed out */
	uint64_t aborted;  /* events lost with their connection */
	uint64_t skipped;  /* events not sendable */
	uint64_t ctr[MBX_RSTAT__COUNT];
	uint64_t lag_max;    /* largest send lag (timed sends) */
	uint64_t lag_last;   /* lag of the last timed send: how far behind the worker is */
	struct mbx_hist lat; /* latency of completed events */
	struct mbx_hist lag; /* send lag of timed sends */
};

struct mbx_rstats {
	/* written by the main thread, read by the worker in mbx_rstats_poll() */
	uint64_t epoch_req MBX_CACHE_ALIGNED;
	/* main-thread private collect state */
	uint64_t m_want;     /* epoch requested by the last collect */
	uint64_t m_consumed; /* epoch whose retired buffer was read last */
	uint64_t m_slow;     /* collects this worker did not answer in time */

	/* written by the worker (release), read by the main thread (acquire) */
	uint64_t epoch_pub MBX_CACHE_ALIGNED;

	/* worker private */
	uint64_t epoch MBX_CACHE_ALIGNED; /* == epoch_pub, without the atomic load */
	struct mbx_rinterval *cur;
	struct mbx_hist *lat_slots; /* MBX_RSTATS_PROTOS x MBX_OP__COUNT, zero pages */
	uint64_t ctr[MBX_RSTAT__COUNT];
	uint64_t intended_first, intended_last, intended_count; /* timed sends */
	uint64_t requests, send_first, send_last;		/* all sends */
	/* kind[op][outcome]: 1 retrieval hit, 2 retrieval miss, 4 error */
	uint8_t kind[MBX_OP__COUNT][MBX_RSTATS_OUTS];
	struct mbx_hist lag; /* all timed sends */
	struct mbx_rinterval ivl[2] MBX_CACHE_ALIGNED;
	struct mbx_rrow rows[MBX_RSTATS_PROTOS][MBX_OP__COUNT];
};

/* ---- worker side ---- */

/* One per worker, created before the worker thread starts. The memory is
 * mapped untouched: resident size is ~260 KiB plus ~40 KiB per (protocol,
 * op) the worker actually completes with a latency (see docs/replay.md).
 * NULL + errno (ENOMEM). */
struct mbx_rstats *mbx_rstats_create(void);
void mbx_rstats_destroy(struct mbx_rstats *st);

uint64_t mbx_rstats_now(void); /* CLOCK_MONOTONIC, ns */

void mbx_rstats_flip(struct mbx_rstats *st); /* internal: use mbx_rstats_poll() */

/* Answer a pending interval flip. Call it in every iteration of the worker
 * loop, and keep each iteration short (epoll timeout <= 10 ms): the main
 * thread waits at most 50 ms for the answer. One relaxed load. */
static inline void mbx_rstats_poll(struct mbx_rstats *st)
{
	if (MBX_UNLIKELY(__atomic_load_n(&st->epoch_req, __ATOMIC_RELAXED) != st->epoch))
		mbx_rstats_flip(st);
}

static inline struct mbx_rrow *mbx_rstats_row(struct mbx_rstats *st, unsigned op, unsigned proto)
{
	if (MBX_UNLIKELY(op >= MBX_OP__COUNT))
		op = MBX_OP_UNKNOWN;
	if (MBX_UNLIKELY(proto >= MBX_RSTATS_PROTOS))
		proto = MBX_PROTO_TEXT;
	return &st->rows[proto][op];
}

/* A request was queued for sending: nkeys events of op (a multi-key get is
 * one request of nkeys events). intended_ns is its scheduled send time, or
 * MBX_RSTATS_UNTIMED in closed-loop mode; now_ns the time it was queued. Its
 * send lag is recorded separately, when its first byte is written
 * (mbx_rstats_lag). */
static inline void mbx_rstats_sent_count(struct mbx_rstats *st, unsigned op, unsigned proto,
					 unsigned nkeys, uint64_t intended_ns, uint64_t now_ns)
{
	struct mbx_rinterval *iv = st->cur;

	mbx_rstats_row(st, op, proto)->sent += nkeys;
	iv->sent += nkeys;
	if (st->requests++ == 0)
		st->send_first = now_ns;
	st->send_last = now_ns;
	if (intended_ns != MBX_RSTATS_UNTIMED) {
		if (st->intended_count == 0 || intended_ns < st->intended_first)
			st->intended_first = intended_ns;
		if (intended_ns > st->intended_last)
			st->intended_last = intended_ns;
		st->intended_count += nkeys;
	}
}

/* The send lag of one timed request: written at sent_ns, due at
 * intended_ns (0 if early). */
static inline void mbx_rstats_lag(struct mbx_rstats *st, uint64_t intended_ns, uint64_t sent_ns)
{
	struct mbx_rinterval *iv = st->cur;
	uint64_t lag = sent_ns > intended_ns ? sent_ns - intended_ns : 0;

	mbx_hist_record(&st->lag, lag);
	mbx_hist_record(&iv->lag, lag);
	if (lag > iv->lag_max)
		iv->lag_max = lag;
	iv->lag_last = lag;
}

void mbx_rstats_lat_slot(struct mbx_rstats *st, struct mbx_rrow *row); /* internal */

/* An event completed: the reply (or the outcome a quiet request's silence
 * implies) was parsed. outcome: enum mbx_outcome as replayed; lat_ns: from
 * the intended send time (timed modes) or the actual send time (closed
 * loop), or MBX_RSTATS_LAT_NONE; rec_outcome: the outcome in the profile. */
static inline void mbx_rstats_done(struct mbx_rstats *st, unsigned op, unsigned proto,
				   unsigned outcome, uint64_t lat_ns, unsigned rec_outcome)
{
	struct mbx_rinterval *iv = st->cur;
	struct mbx_rrow *row = mbx_rstats_row(st, op, proto);
	unsigned o = outcome < MBX_OUT__COUNT ? outcome : MBX_RSTATS_OUT_INVALID;
	unsigned r = rec_outcome < MBX_OUT__COUNT ? rec_outcome : MBX_RSTATS_OUT_INVALID;
	unsigned k = st->kind[op < MBX_OP__COUNT ? op : MBX_OP_UNKNOWN][o];

	row->joint[r][o]++;
	iv->done++;
	iv->hits += k & 1u;
	iv->misses += (k >> 1) & 1u;
	iv->errors += (k >> 2) & 1u;
	if (lat_ns != MBX_RSTATS_LAT_NONE) {
		if (MBX_UNLIKELY(!row->lat))
			mbx_rstats_lat_slot(st, row);
		mbx_hist_record(row->lat, lat_ns);
		mbx_hist_record(&iv->lat, lat_ns);
	}
}

/* n sent events of op got no reply within the timeout. */
static inline void mbx_rstats_timeout(struct mbx_rstats *st, unsigned op, unsigned proto,
				      unsigned n)
{
	mbx_rstats_row(st, op, proto)->timeouts += n;
	st->cur->timeouts += n;
}

/* n sent events of op were lost: their connection closed or failed first. */
static inline void mbx_rstats_abort(struct mbx_rstats *st, unsigned op, unsigned proto, unsigned n)
{
	mbx_rstats_row(st, op, proto)->aborted += n;
	st->cur->aborted += n;
}

/* n events of op were not sent (cannot be encoded in proto, ...). */
static inline void mbx_rstats_skip(struct mbx_rstats *st, unsigned op, unsigned proto, unsigned n)
{
	mbx_rstats_row(st, op, proto)->skipped += n;
	st->cur->skipped += n;
}

/* Counters without an op: reconnects, connect errors, protocol errors, bytes. */
static inline void mbx_rstats_add(struct mbx_rstats *st, enum mbx_rstat_ctr c, uint64_t n)
{
	if (MBX_UNLIKELY((unsigned)c >= MBX_RSTAT__COUNT))
		return;
	st->ctr[c] += n;
	st->cur->ctr[c] += n;
}

/* ---- main thread: intervals while the workers run ---- */

/* The sum over all workers of one interval. Large (two histograms): keep one
 * per run and pass it to every collect. */
struct mbx_rinterval_sum {
	uint64_t start_ns;   /* run start (set by init) */
	uint64_t wait_ns;    /* bound of a collect's wait (init: MBX_RSTATS_WAIT_NS) */
	uint64_t t_ns;	     /* when this interval was collected */
	uint64_t dur_ns;     /* since the previous collect (or the start) */
	uint64_t elapsed_ns; /* t_ns - start_ns */
	unsigned workers;    /* workers summed */
	unsigned slow;	     /* of which did not answer in time: their data comes later */
	bool final;	     /* the last, partial interval (mbx_rstats_interval_final) */
	struct mbx_rinterval d;
};

void mbx_rinterval_sum_init(struct mbx_rinterval_sum *s, uint64_t start_ns);

/* Flip every worker's interval buffer and sum the retired ones into out
 * (replacing its previous content). Waits up to out->wait_ns in total for
 * the workers to answer. Returns the number of slow workers (0..n). */
unsigned mbx_rstats_interval_collect(struct mbx_rstats *const st[], unsigned n,
				     struct mbx_rinterval_sum *out);

/* After the workers have been joined: sum everything not yet collected (the
 * last partial interval) into out. Call once. */
void mbx_rstats_interval_final(struct mbx_rstats *const st[], unsigned n,
			       struct mbx_rinterval_sum *out);

/* "[  3s] 98.2k ops/s  p50 41us p99 310us  err 0  timeouts 0  lag p99 12us  behind 0.0s"
 * and a newline. ops/s = completed events / dur; err = error replies +
 * protocol errors + connect errors; behind = largest lag of a worker's last
 * send. "slow N" is appended when workers did not answer. */
void mbx_rreport_progress_line(FILE *f, const struct mbx_rinterval_sum *s);

/* ---- main thread: time series ---- */

struct mbx_rpoint {
	uint64_t t_ns;	 /* start, relative to the run start */
	uint64_t dur_ns; /* covered time */
	uint64_t sent, ops, hits, misses, errors, timeouts;
	uint64_t lat_count;		 /* completed events with a latency */
	uint64_t p50_ns, p99_ns, max_ns; /* 0 when lat_count is 0 */
	uint64_t lag_max_ns;
	uint32_t collects; /* intervals summed into this point */
	bool merged;	   /* formed by merging points: p50/p99 are upper bounds */
};

struct mbx_rseries;

/* One point per `collects_per_point` collects (1 at first). When the series
 * holds max_points points (0: MBX_RSERIES_MAX_POINTS; rounded up to even),
 * adjacent points merge pairwise and collects_per_point doubles. NULL + errno. */
struct mbx_rseries *mbx_rseries_create(uint32_t max_points);
void mbx_rseries_destroy(struct mbx_rseries *ts);
/* Add an interval; -ENOMEM if the point array cannot grow (point dropped). */
int mbx_rseries_add(struct mbx_rseries *ts, const struct mbx_rinterval_sum *s);
/* Close the partly filled point, if any (call after the final interval). */
int mbx_rseries_finish(struct mbx_rseries *ts);
size_t mbx_rseries_count(const struct mbx_rseries *ts);
const struct mbx_rpoint *mbx_rseries_point(const struct mbx_rseries *ts, size_t i);
uint32_t mbx_rseries_collects_per_point(const struct mbx_rseries *ts);
uint64_t mbx_rseries_slow_collects(const struct mbx_rseries *ts);

/* ---- main thread: final totals and reports ---- */

struct mbx_rtotals {
	unsigned workers;
	uint64_t ctr[MBX_RSTAT__COUNT];
	uint64_t intended_first, intended_last, intended_count;
	uint64_t requests, send_first, send_last;
	uint64_t slow_collects; /* sum of the workers' late answers */
	struct mbx_hist lag;
	struct mbx_hist lat; /* all completed events with a latency */
	struct mbx_rrow rows[MBX_RSTATS_PROTOS][MBX_OP__COUNT];
};

struct mbx_rtotals *mbx_rtotals_create(void); /* NULL + errno */
void mbx_rtotals_destroy(struct mbx_rtotals *t);
/* Merge one worker's statistics exactly (histograms by bucket). Only after
 * the worker thread has been joined. 0 or -ENOMEM. */
int mbx_rtotals_add(struct mbx_rtotals *t, const struct mbx_rstats *st);

struct mbx_rreport_info {
	const char *profile;	   /* may be NULL */
	const char *target;	   /* may be NULL */
	bool closed_loop;	   /* latency from the actual send; else from the intended send */
	bool interrupted;	   /* the run was stopped before the end of the profile */
	uint64_t start_ns, end_ns; /* monotonic run start and end (0: unknown) */
	uint64_t start_unix_ns;	   /* wall-clock start, for the JSON (0: unknown) */
	/* writes the members of the JSON "config" object (may be NULL) */
	void (*config_json)(struct mbx_json *j, void *arg);
	void *config_arg;
};

/* Final table (stdout). 0 or -EIO. */
int mbx_rreport_text(FILE *f, const struct mbx_rtotals *t, const struct mbx_rreport_info *info);
/* JSON document, schema "mbx.replay/1". ts may be NULL. flags: MBX_JSON_*.
 * 0, -EINVAL (writer misuse: a bug, e.g. in config_json) or -EIO. */
int mbx_rreport_json(FILE *f, const struct mbx_rtotals *t, const struct mbx_rseries *ts,
		     const struct mbx_rreport_info *info, unsigned flags);

#endif
