/* SPDX-License-Identifier: Apache-2.0 */
/* Streaming analysis of a profile (`mbx analyze`) and the event formatter of
 * `mbx inspect`.
 *
 * Analysis is one pass in bounded memory: create, feed blocks of events in
 * time order with mbx_analysis_add(), then mbx_analysis_finish() with what the
 * profile reader knows (metadata, footer totals, counters, state), then write
 * the text report and/or the JSON document (schema "mbx.analyze/1",
 * docs/analyze.md). Nothing is printed before the write functions.
 *
 * Memory bounds with the defaults: the exact key table grows to at most
 * 8M slots x 16 B = 128 MiB (key_cap 6M keys), the connection array to
 * conn_cap x 8 B = 128 MiB (only as far as the highest conn id seen), the
 * time series to max_points x ~1 KiB = 10 MiB, plus ~35 KiB per (protocol,
 * op) pair seen. Beyond key_cap the unique-key count becomes a HyperLogLog
 * estimate and the top keys a Space-Saving summary, both marked approximate. */
#ifndef MBX_ANALYZE_H
#define MBX_ANALYZE_H

#include <stdio.h>

#include "mbx/common.h"
#include "mbx/counters.h"
#include "mbx/event.h"
#include "mbx/profile.h"

/* Options; a zero field takes the default shown. */
struct mbx_analysis_opts {
	uint32_t top_keys;	/* 20: keys listed by access count */
	uint32_t top_conns;	/* 10: connections listed by op count */
	uint64_t interval_ns;	/* 1 s: time-series interval, doubled as needed
				 * so that the series has at most max_points */
	uint32_t max_points;	/* 10000 */
	uint32_t text_rows;	/* 30: time-series rows in the text report
				 * (adjacent points are merged to fit) */
	uint32_t key_cap;	/* 6291456: distinct keys counted exactly */
	uint32_t conn_cap;	/* 16777216: highest conn id tracked exactly */
	uint32_t topk_capacity; /* 4096: Space-Saving counters once over key_cap
				 * (at least top_keys) */
};

/* What the profile reader knows; every field may be 0/NULL (e.g. for events
 * fed from elsewhere). Strings are copied. */
struct mbx_analysis_source {
	const char *path;			 /* profile file name */
	const struct mbx_profile_meta *meta;	 /* header */
	const struct mbx_profile_totals *totals; /* footer (NULL if incomplete) */
	const struct mbx_counter_kv *counters;	 /* footer or last stats block */
	size_t ncounters;
	enum mbx_profile_state state;
	uint64_t ignored_bytes; /* incomplete: trailing bytes ignored */
	const char *error;	/* reading stopped early: why (corruption) */
};

struct mbx_analysis;

/* Create an analysis; opts may be NULL. NULL + errno (ENOMEM, EINVAL) on
 * failure. */
struct mbx_analysis *mbx_analysis_new(const struct mbx_analysis_opts *opts);
void mbx_analysis_destroy(struct mbx_analysis *a); /* NULL ok */

/* Account n events (any block size). Events should come in non-decreasing
 * time order (as a profile stores them); earlier ones are counted in the
 * time-series bucket they would belong to, or the first. Returns 0, or
 * -ENOMEM if a growable table could not grow: the analysis then continues
 * with that table's approximate fallback (never loses events). */
int mbx_analysis_add(struct mbx_analysis *a, const struct mbx_event *ev, size_t n);

/* Close the pass: flush per-connection state, compute the summaries, copy
 * src. Call once, after the last add(). Returns 0 or -EINVAL (called twice). */
int mbx_analysis_finish(struct mbx_analysis *a, const struct mbx_analysis_source *src);

/* Reports (after finish). Return 0, -EINVAL (not finished) or -EIO. */
int mbx_analysis_write_text(const struct mbx_analysis *a, FILE *f);
int mbx_analysis_write_json(const struct mbx_analysis *a, FILE *f, bool pretty);

/* Total events added (progress display). */
uint64_t mbx_analysis_events(const struct mbx_analysis *a);

/* ---- mbx inspect: one line per event ---- */

enum mbx_inspect_format {
	MBX_INSPECT_TEXT = 0, /* aligned columns for people */
	MBX_INSPECT_CSV = 1,  /* RFC 4180 (CRLF), header row, raw integers */
};

/* Formatter state. Set t0_ns/have_t0 yourself to make relative times start
 * at a given instant (e.g. the profile's first_ts); otherwise the first event
 * written sets it. */
struct mbx_inspect {
	enum mbx_inspect_format format;
	bool relative; /* time as seconds (text) / ns (CSV) since t0 */
	bool have_t0;
	uint64_t t0_ns;
};

void mbx_inspect_init(struct mbx_inspect *in, enum mbx_inspect_format format, bool relative);
/* Column header line. Returns 0 or -EIO. */
int mbx_inspect_write_header(const struct mbx_inspect *in, FILE *f);
/* One event line. Returns 0 or -EIO. */
int mbx_inspect_write_event(struct mbx_inspect *in, FILE *f, const struct mbx_event *ev);

#endif
