/* SPDX-License-Identifier: Apache-2.0 */
/* Recording: packets -> messages -> events -> profile.
 *
 * A capture worker owns the per-core half of the pipeline: decode, flow table
 * + reassembly, protocol parsing. It emits struct mbx_msg into a sink: the
 * pairing stage directly (offline, one thread) or its SPSC ring (live, one
 * worker per core; the writer thread merges the rings in time order and
 * pairs). The event stage (pairing + profile writer) is struct mbx_evsink. */
#ifndef MBX_RECORD_H
#define MBX_RECORD_H

#include "mbx/counters.h"
#include "mbx/flow.h"
#include "mbx/hash.h"
#include "mbx/msg.h"
#include "mbx/pair.h"
#include "mbx/profile.h"
#include "mbx/source.h"

/* Everything the pipeline can be tuned with; defaults in
 * mbx_record_cfg_defaults(), documented in docs/usage.md. */
struct mbx_record_cfg {
	uint8_t port_map[8192];          /* memcache server ports */
	uint16_t ports[MBX_PROFILE_MAX_PORTS];
	uint16_t nports;
	uint8_t salt[MBX_SALT_LEN];      /* key-hash salt (never written) */
	uint8_t flow_key[MBX_SALT_LEN];  /* connection-hash key (random per run) */
	uint32_t max_flows;              /* per worker, directional */
	uint64_t idle_timeout_ns;
	uint32_t ooo_max_segs;
	uint32_t ooo_max_bytes;
	uint64_t ooo_total_bytes;        /* per worker */
	uint32_t carry_bufs;             /* per worker */
	uint32_t max_conns;              /* pairing */
	uint32_t pair_window;
	uint64_t pair_timeout_ns;
	uint32_t merge_capacity;         /* messages held for time ordering */
	uint64_t merge_hold_ns;          /* extra margin behind the watermark */
	uint64_t rsp_skew_ns;            /* response direction ordered this much later */
	uint32_t merge_workers;          /* producers feeding the merge (live: workers) */
	uint32_t block_events;
	bool fsync_blocks;
};

/* Defaults, with port 11211, a random salt and flow key. Returns 0 or -errno. */
int mbx_record_cfg_defaults(struct mbx_record_cfg *cfg);
/* Add a server port (the first call replaces the default 11211). -EINVAL on 0
 * or too many ports. */
int mbx_record_cfg_add_port(struct mbx_record_cfg *cfg, uint16_t port, bool *first);

/* ---- capture worker ---------------------------------------------------- */

struct mbx_cworker;

struct mbx_cworker *mbx_cworker_create(const struct mbx_record_cfg *cfg, unsigned worker_id,
				       const struct mbx_msg_sink *sink, struct mbx_counters *ctr);
void mbx_cworker_destroy(struct mbx_cworker *w); /* NULL ok; call flush first */

/* One captured frame of the given link type. */
void mbx_cworker_packet(struct mbx_cworker *w, const struct mbx_pkt *pkt, int linktype);
/* The same for n packets at once, all valid during the call: decodes the
 * burst and prefetches each flow's index slot and entry before feeding the
 * segments in order (same results as n calls of mbx_cworker_packet). */
void mbx_cworker_burst(struct mbx_cworker *w, const struct mbx_pkt *pkts, unsigned n, int linktype);
/* Periodic housekeeping (idle flows); cheap, call once per burst. */
void mbx_cworker_tick(struct mbx_cworker *w, uint64_t now);
/* The time every message this worker emits from now on will be at or after
 * (its watermark): now, or earlier while reassembly holds out-of-order data. */
uint64_t mbx_cworker_watermark(const struct mbx_cworker *w, uint64_t now);
/* End of input: close every flow (held data delivered, holes as gaps). */
void mbx_cworker_flush(struct mbx_cworker *w, uint64_t now);

/* ---- event stage: pairing -> profile ----------------------------------- */

struct mbx_evsink;

/* Open the profile at path and create the pairing stage in front of it. */
struct mbx_evsink *mbx_evsink_create(const struct mbx_record_cfg *cfg, const char *path,
				     const struct mbx_profile_meta *meta, struct mbx_counters *ctr,
				     char *err, size_t errlen);
/* The message sink feeding the pairing stage. */
struct mbx_msg_sink mbx_evsink_msg_sink(struct mbx_evsink *s);
void mbx_evsink_advance(struct mbx_evsink *s, uint64_t now);
/* Write a stats block with these totals (live capture, once per interval). */
int mbx_evsink_stats(struct mbx_evsink *s, const struct mbx_counters *totals);
/* Close the current profile (footer with these counters) and continue in a
 * new one at path: requests still waiting for replies stay in the pairing
 * stage and their events go to the new file. 0 or -errno. */
int mbx_evsink_rotate(struct mbx_evsink *s, const char *path, const struct mbx_profile_meta *meta,
		      const struct mbx_counters *totals, const struct mbx_profile_writer_opts *opts);
/* Bytes written to the current profile. */
uint64_t mbx_evsink_bytes(const struct mbx_evsink *s);
/* Write the events buffered in the current block now. */
int mbx_evsink_flush(struct mbx_evsink *s);
/* First write error (-errno), 0 if none. */
int mbx_evsink_error(const struct mbx_evsink *s);
/* Release everything still merged or pending pairing (end of capture), so
 * that counters summed afterwards include it; close may follow. */
void mbx_evsink_finish(struct mbx_evsink *s);
/* Finish pairing, write the footer with the counters, close. The profile's
 * final totals go to *out (if not NULL). Returns 0 or -errno. Frees s. */
int mbx_evsink_close(struct mbx_evsink *s, const struct mbx_counters *totals,
		     struct mbx_profile_totals *out);
/* Abandon on an error path: drop what is still being paired, close the
 * profile with what was written. Frees s. NULL ok. */
void mbx_evsink_abort(struct mbx_evsink *s);
const struct mbx_profile_totals *mbx_evsink_totals(const struct mbx_evsink *s);

/* ---- offline recording ------------------------------------------------- */

struct mbx_record_result {
	struct mbx_counters ctr;
	struct mbx_profile_totals totals;
	int linktype;
	double wall_s;
};

/* Record a capture file into a profile. Returns 0, or -errno with a message
 * in err. On a capture read error after some packets, the profile is still
 * completed with what was read and -EIO is returned. */
int mbx_record_file(const struct mbx_record_cfg *cfg, const char *input, const char *output,
		    struct mbx_record_result *res, char *err, size_t errlen);

/* Fill meta for a new profile. */
void mbx_record_meta(const struct mbx_record_cfg *cfg, const char *source, int linktype,
		     uint32_t snaplen, struct mbx_profile_meta *meta);

#endif
