/* SPDX-License-Identifier: Apache-2.0 */
/* Time ordering of messages before pairing.
 *
 * Messages reach the pairing stage out of time order for two reasons: data
 * held by reassembly behind a hole is delivered later with its own capture
 * time, and in live capture every worker produces its own stream. The merge
 * stage holds each message until no earlier one can still arrive -- until
 * the watermark (a time no producer will emit anything older than: see
 * mbx_cworker_watermark) is `hold_ns` past it --
 * and releases messages in (time, arrival) order.
 *
 * Each producer's messages of one direction arrive almost in order: they go
 * into that lane's FIFO (O(1)); only stragglers go into a binary heap.
 * Release takes the oldest of the lane heads and the heap top. Lanes are
 * (worker, direction) pairs. FIFOs and heap are bounded (`capacity`
 * messages each); when one is full, the oldest message is released early
 * (merge_forced). A message older
 * than one already released is passed on at once (merge_late): the pairing
 * stage tolerates it (a response is paired normally; a request's event time
 * is clamped). Single-threaded. */
#ifndef MBX_MERGE_H
#define MBX_MERGE_H

#include "mbx/counters.h"
#include "mbx/msg.h"

struct mbx_merge_cfg {
	uint32_t capacity; /* messages in the FIFO, and in the heap; default 1M */
	/* Margin behind the watermark. Producers report a watermark that
	 * already accounts for data held by reassembly; this covers replies
	 * whose first byte was seen a few packets before they could be parsed.
	 * Default 5 ms. */
	uint64_t hold_ns;
	/* Messages of the response direction are ordered as if this much later
	 * than their timestamp (the timestamp itself is not changed). The two
	 * directions of a connection are often timestamped on different paths
	 * (TAP ports, mirror queues, NIC queues): a reply can appear a little
	 * before the end of its request. Pairing does not mind a reply that is
	 * handled after later requests; it cannot pair one handled before its
	 * own request. Default 1 ms. */
	uint64_t rsp_skew_ns;
	uint32_t workers;  /* producers (mbx_msg.worker < workers); default 1 */
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
