/* SPDX-License-Identifier: Apache-2.0 */
/* The event stage: pairing in front of the profile writer. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "mbx/merge.h"
#include "mbx/record.h"

struct mbx_evsink {
	struct mbx_merge *merge;
	struct mbx_pair *pair;
	struct mbx_profile_writer *w;
	struct mbx_counters *ctr;
	uint64_t hold_ns;
	int err;
};

static void on_events(void *ctx, const struct mbx_event *ev, size_t n)
{
	struct mbx_evsink *s = ctx;
	if (s->err)
		return;
	int r = mbx_profile_writer_append(s->w, ev, n);
	if (r < 0)
		s->err = r;
}

struct mbx_evsink *mbx_evsink_create(const struct mbx_record_cfg *cfg, const char *path,
				     const struct mbx_profile_meta *meta, struct mbx_counters *ctr,
				     char *err, size_t errlen)
{
	struct mbx_evsink *s = calloc(1, sizeof(*s));
	struct mbx_profile_writer_opts wo = { .block_events = cfg->block_events,
					      .fsync_blocks = cfg->fsync_blocks };
	struct mbx_pair_cfg pc;

	if (!s) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->ctr = ctr;
	s->w = mbx_profile_writer_open(path, meta, &wo);
	if (!s->w) {
		snprintf(err, errlen, "cannot create profile %s: %s", path, strerror(errno));
		free(s);
		return NULL;
	}
	mbx_pair_cfg_defaults(&pc);
	if (cfg->max_conns)
		pc.max_conns = cfg->max_conns;
	if (cfg->pair_window)
		pc.window = cfg->pair_window;
	if (cfg->pair_timeout_ns)
		pc.timeout_ns = cfg->pair_timeout_ns;
	pc.emit = on_events;
	pc.emit_ctx = s;
	pc.ctr = ctr;
	s->pair = mbx_pair_create(&pc);
	if (!s->pair) {
		snprintf(err, errlen, "cannot allocate the pairing stage (%u connections, window %u): %s",
			 pc.max_conns, pc.window, strerror(errno));
		mbx_profile_writer_close(s->w, NULL, 0);
		free(s);
		return NULL;
	}
	struct mbx_merge_cfg mc;
	mbx_merge_cfg_defaults(&mc);
	if (cfg->merge_workers)
		mc.workers = cfg->merge_workers;
	if (cfg->merge_capacity)
		mc.capacity = cfg->merge_capacity;
	if (cfg->merge_hold_ns)
		mc.hold_ns = cfg->merge_hold_ns;
	mc.rsp_skew_ns = cfg->rsp_skew_ns;
	mc.out.emit = mbx_pair_sink_emit;
	mc.out.ctx = s->pair;
	mc.ctr = ctr;
	s->merge = mbx_merge_create(&mc);
	if (!s->merge) {
		snprintf(err, errlen, "cannot allocate the merge stage (%u messages): %s", mc.capacity,
			 strerror(errno));
		mbx_pair_destroy(s->pair);
		mbx_profile_writer_close(s->w, NULL, 0);
		free(s);
		return NULL;
	}
	s->hold_ns = mc.hold_ns;
	return s;
}

struct mbx_msg_sink mbx_evsink_msg_sink(struct mbx_evsink *s)
{
	struct mbx_msg_sink k = { .emit = mbx_merge_sink_emit, .ctx = s->merge };
	return k;
}

void mbx_evsink_advance(struct mbx_evsink *s, uint64_t now)
{
	mbx_merge_release(s->merge, now);
	if (now > s->hold_ns)
		mbx_pair_advance(s->pair, now - s->hold_ns);
}

int mbx_evsink_stats(struct mbx_evsink *s, const struct mbx_counters *totals)
{
	struct mbx_counter_kv kv[MBX_CTR__COUNT];
	size_t n = mbx_counters_to_kv(totals, kv);
	int r = mbx_profile_writer_stats(s->w, kv, n);
	if (r < 0 && !s->err)
		s->err = r;
	return r;
}

int mbx_evsink_rotate(struct mbx_evsink *s, const char *path, const struct mbx_profile_meta *meta,
		      const struct mbx_counters *totals, const struct mbx_profile_writer_opts *opts)
{
	struct mbx_counter_kv kv[MBX_CTR__COUNT];
	size_t n = mbx_counters_to_kv(totals, kv);
	struct mbx_profile_writer *nw = mbx_profile_writer_open(path, meta, opts);
	if (!nw)
		return -errno;
	int r = mbx_profile_writer_close(s->w, kv, n);
	s->w = nw;
	if (r < 0 && !s->err)
		s->err = r;
	return r;
}

uint64_t mbx_evsink_bytes(const struct mbx_evsink *s)
{
	return mbx_profile_writer_bytes(s->w);
}

int mbx_evsink_flush(struct mbx_evsink *s)
{
	int r = mbx_profile_writer_flush(s->w);
	if (r < 0 && !s->err)
		s->err = r;
	return r;
}

int mbx_evsink_error(const struct mbx_evsink *s)
{
	return s->err;
}

const struct mbx_profile_totals *mbx_evsink_totals(const struct mbx_evsink *s)
{
	return mbx_profile_writer_totals(s->w);
}

void mbx_evsink_finish(struct mbx_evsink *s)
{
	mbx_merge_flush(s->merge);
	mbx_pair_finish(s->pair);
}

int mbx_evsink_close(struct mbx_evsink *s, const struct mbx_counters *totals,
		     struct mbx_profile_totals *out)
{
	struct mbx_counter_kv kv[MBX_CTR__COUNT];
	int r;

	mbx_merge_flush(s->merge);
	mbx_merge_destroy(s->merge);
	mbx_pair_finish(s->pair);
	mbx_pair_destroy(s->pair);
	if (out)
		*out = *mbx_profile_writer_totals(s->w);
	size_t n = mbx_counters_to_kv(totals, kv);
	r = mbx_profile_writer_close(s->w, kv, n);
	if (s->err)
		r = s->err;
	free(s);
	return r;
}

void mbx_evsink_abort(struct mbx_evsink *s)
{
	if (!s)
		return;
	mbx_merge_destroy(s->merge);
	mbx_pair_destroy(s->pair);
	/* events still in the pairing window are dropped; what was written
	 * stays a valid profile */
	mbx_profile_writer_close(s->w, NULL, 0);
	free(s);
}
