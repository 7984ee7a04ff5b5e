/* SPDX-License-Identifier: Apache-2.0 */
/* Internals of struct mbx_analysis, shared by the pass (analyze.c) and the
 * reports (report.c). Private to src/analyze. */
#ifndef MBX_ANALYZE_IMPL_H
#define MBX_ANALYZE_IMPL_H

#include "mbx/analyze.h"
#include "mbx/hist.h"

#include "sketch.h"

#define AN_SCHEMA "mbx.analyze/1"

#define AN_PROTOS      4		   /* text, meta, binary, and the invalid value 3 */
#define AN_OPS	       (MBX_OP__COUNT + 1) /* last row: op byte out of range */
#define AN_OP_INVALID  MBX_OP__COUNT
#define AN_OUTS	       (MBX_OUT__COUNT + 1) /* last: outcome byte out of range */
#define AN_OUT_INVALID MBX_OUT__COUNT
#define AN_CLASSES     6 /* enum mbx_op_class */

#define AN_DEF_TOP_KEYS	   20u
#define AN_DEF_TOP_CONNS   10u
#define AN_DEF_INTERVAL_NS MBX_NSEC_PER_SEC
#define AN_DEF_MAX_POINTS  10000u
#define AN_DEF_TEXT_ROWS   30u
#define AN_DEF_KEY_CAP	   6291456u /* 3/4 of 8M slots: the table stops at 128 MiB */
#define AN_DEF_CONN_CAP	   16777216u
#define AN_DEF_TOPK_CAP	   4096u
#define AN_MAX_COUNTERS	   512u

/* Per-connection word: ops in the low 48 bits, keys of the request in
 * progress in the high 16 (saturating). */
#define AN_CONN_OPS_MASK    ((1ULL << 48) - 1)
#define AN_CONN_BATCH_SHIFT 48
#define AN_CONN_BATCH_MAX   0xffffu

/* Time-series latency buckets: log-linear with 8 sub-buckets per power of
 * two, for 32-bit latencies: 240 uint32 counters (960 B) per point. A
 * percentile is reported as its bucket's midpoint: within 1/16 (6.25%). */
#define TS_SUB_BITS 4
#define TS_HALF	    (1u << (TS_SUB_BITS - 1))
#define TS_LEN	    ((32 - TS_SUB_BITS + 2) * TS_HALF)

static inline unsigned ts_lat_index(uint32_t v)
{
	unsigned pow2 = 31u - (unsigned)__builtin_clz(v | ((1u << TS_SUB_BITS) - 1));
	unsigned bucket = pow2 - (TS_SUB_BITS - 1);
	unsigned sub = v >> bucket;
	return ((bucket + 1) << (TS_SUB_BITS - 1)) + sub - TS_HALF;
}

struct ts_point {
	uint64_t ops;
	uint64_t cls[AN_CLASSES];
	uint64_t hits, misses; /* retrieval ops */
	uint64_t errors;
	uint64_t lat_n;
	uint32_t lat[TS_LEN];
};

struct an_row {
	uint64_t count;
	uint64_t quiet;
	uint64_t value_bytes;
	uint64_t outcomes[AN_OUTS];
	struct mbx_hist *lat; /* allocated on the row's first paired event */
	/* filled by finish */
	uint64_t hits, misses, errors;
};

struct an_proto {
	uint64_t events, hits, misses, errors, retr_hits, retr_misses;
};

struct top_key {
	uint64_t hash, count, err;
	unsigned key_len;
};

struct top_conn {
	uint64_t id, ops;
};

struct mbx_analysis {
	struct mbx_analysis_opts o;
	bool finished;
	int add_err;

	uint64_t events;
	uint64_t first_ts, last_ts; /* min and max seen */
	uint64_t prev_ts;
	uint64_t ts_backwards; /* events earlier than their predecessor */
	uint64_t keyed, quiet;
	uint64_t lat_unrecorded; /* latency hist allocation failed */

	struct an_row rows[AN_PROTOS][AN_OPS];

	struct mbx_hist key_len, val_sent, val_ret;

	/* keys */
	enum { KM_EXACT, KM_APPROX, KM_OFF } key_mode;
	uint64_t keys_uncounted; /* KM_OFF: keyed events not counted (no memory) */
	uint8_t op_cls[AN_OPS];
	struct keyset ks;
	uint64_t key_check_at;	 /* ks.n at which to grow or go approximate */
	uint64_t keys_at_switch; /* exact count when the table was dropped */
	struct hll *hll;
	struct spacesaving ss;

	/* connections and requests */
	uint64_t *conns;
	uint64_t conn_size;  /* ids [0, conn_size) have a word */
	uint64_t conn_limit; /* conn_cap + 1: ids >= this are untracked */
	uint64_t conn_max_id;
	uint64_t conn_untracked_events;
	uint64_t requests, multi_requests, multi_keys;
	struct mbx_hist batch_keys; /* keys per multi-key request */

	/* time series */
	struct ts_point *ts;
	uint32_t ts_n; /* points used */
	uint64_t ts_base, ts_interval;
	uint64_t ts_cur_start, ts_cur_end;
	struct ts_point *ts_cur;
	uint64_t ts_before_start;

	/* results (finish) */
	struct mbx_hist lat_all;
	struct an_proto protos[AN_PROTOS];
	uint64_t out_total[AN_OUTS];
	uint64_t retr_hits, retr_misses, errors;
	uint64_t conns_distinct;
	bool conns_approx;
	struct mbx_hist ops_per_conn;
	struct top_conn *top_conns;
	uint32_t n_top_conns;
	uint64_t unique_keys;
	struct top_key *top_keys;
	uint32_t n_top_keys;
	uint64_t keys_floor;	     /* approximate: unlisted keys occurred at most this often */
	struct mbx_hist acc_per_key; /* exact mode only */
	uint64_t keys_once;

	/* source */
	char path[1024];
	bool have_meta, have_totals;
	struct mbx_profile_meta meta;
	struct mbx_profile_totals totals;
	struct mbx_counter_kv *counters;
	size_t ncounters;
	enum mbx_profile_state state;
	uint64_t ignored_bytes;
	char error[512];
};

/* Names used by both reports. */
const char *an_proto_name(unsigned p);
const char *an_op_name(unsigned op);
const char *an_outcome_name(unsigned o);
const char *an_class_name(unsigned c);
bool an_counter_is_loss(const char *name);
uint64_t ts_lat_percentile(const uint32_t *lat, uint64_t n, double p);

#endif
