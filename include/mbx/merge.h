/* SPDX-License-Identifier: Apache-2.0 */
/* Time ordering of messages before pairing.
 *
 * Messages reach the pairing stage out of time order for two reasons: data
 * held by reassembly behind a hole is delivered later with its own capture
 * time, and in live capture every worker produces its own stream. The merge
 * stage holds each message until no earlier one can still arrive -- until
 * the watermark (the time every producer has reached) is `hold_ns` past it --
 * and releases messages in (time, arrival) order.
 *
 * Most messages arrive in order: they go into a FIFO (O(1)); only the others
 * go into a binary heap. Both are bounded (`capacity` messages each); when
 * full, the oldest message is released early (merge_forced). A message older
 * than one already released is passed on at once (merge_late): the pairing
 * stage tolerates it (a response is paired normally; a request's event time
 * is clamped). Single-threaded. */
#ifndef MBX_MERGE_H
#define MBX_MERGE_H

#include "mbx/counters.h"
#include "mbx/msg.h"

struct mbx_merge_cfg {
	uint32_t capacity; /* messages in the FIFO, and in the heap; default 1M */
	uint64_t hold_ns;  /* default 1.1 s: reassembly's hole wait + 100 ms */
	/* Messages of the response direction are ordered as if this much later
	 * than their timestamp (the timestamp itself is not changed). The two
	 * directions of a connection are often timestamped on different paths
	 * (TAP ports, mirror queues, NIC queues): a reply can appear a little
	 * before the end of its request. Pairing does not mind a reply that is
	 * handled after later requests; it cannot pair one handled before its
	 * own request. Default 1 ms. */
	uint64_t rsp_skew_ns;
	struct mbx_msg_sink out;
	struct mbx_counters *ctr;
};

void mbx_merge_cfg_defaults(struct mbx_merge_cfg *cfg);

struct mbx_merge;

struct mbx_merge *mbx_merge_create(const struct mbx_merge_cfg *cfg); /* NULL + errno */
void mbx_merge_destroy(struct mbx_merge *mm);                          /* NULL ok */

void mbx_merge_push(struct mbx_merge *mm, const struct mbx_msg *m);
/* Release every message with ts + hold_ns <= watermark. */
void mbx_merge_release(struct mbx_merge *mm, uint64_t watermark);
/* Release everything (end of input). */
void mbx_merge_flush(struct mbx_merge *mm);
uint32_t mbx_merge_held(const struct mbx_merge *mm);

/* Sink adapter (ctx = struct mbx_merge *). */
void mbx_merge_sink_emit(void *mm, const struct mbx_msg *m);

#endif
