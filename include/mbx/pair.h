/* SPDX-License-Identifier: Apache-2.0 */
/* Pairing: turns the request and response messages of both directions of
 * every connection (struct mbx_msg, merged into time order) into events
 * (struct mbx_event), in request-time order.
 *
 * - Connections are keyed by mbx_msg.flow; a connection id is assigned when a
 *   connection is first seen (1, 2, ...). A client SYN on a known flow starts
 *   a new connection (new id).
 * - Text requests pair FIFO; a multi-key get is a batch whose VALUE lines are
 *   matched to its keys by key hash, END closing it. Meta and binary pair in
 *   order too, using the opaque (binary, meta O) or returned key (meta k,
 *   binary GETK) when present; a quiet request that a later response shows
 *   was skipped gets the outcome its silence implies (mg q: miss; ms q:
 *   stored; md q: deleted; ma q: hit; binary GETQ: miss; SETQ: stored; ...).
 * - Events leave in the order their requests completed. A request whose
 *   response has not come holds back the ones after it, bounded by the
 *   window (`window` events) and the timeout (capture time); either bound
 *   finalises it with outcome NONE and counts it.
 *
 * Single-threaded. All memory is allocated at create time (lazily touched). */
#ifndef MBX_PAIR_H
#define MBX_PAIR_H

#include "mbx/common.h"
#include "mbx/counters.h"
#include "mbx/event.h"
#include "mbx/msg.h"

struct mbx_pair_cfg {
	uint32_t max_conns;     /* tracked connections; LRU eviction beyond. default 262144 */
	uint32_t window;        /* pending events (power of two); default 1048576 */
	uint64_t timeout_ns;    /* capture time a request may wait for its response; default 10 s */
	/* Receives finalised events in non-decreasing ts order, in batches. */
	void (*emit)(void *ctx, const struct mbx_event *ev, size_t n);
	void *emit_ctx;
	/* Optional: called as soon as a request's outcome is final (in
	 * completion order, before the in-order emit), with the flow and the
	 * cookie of its request message. Used by replay to free pipeline
	 * slots and record latency without waiting for older requests. */
	void (*on_final)(void *ctx, uint64_t flow, uint32_t cookie, const struct mbx_event *ev);
	struct mbx_counters *ctr;
};

void mbx_pair_cfg_defaults(struct mbx_pair_cfg *cfg);

struct mbx_pair;

struct mbx_pair *mbx_pair_create(const struct mbx_pair_cfg *cfg); /* NULL + errno */
void mbx_pair_destroy(struct mbx_pair *p);                          /* NULL ok */

/* One message. Messages should arrive in non-decreasing ts order; a request
 * older than the newest message seen is clamped (time_backwards). */
void mbx_pair_input(struct mbx_pair *p, const struct mbx_msg *m);

/* Capture time has reached `now` (no message): apply timeouts, emit what is
 * ready. */
void mbx_pair_advance(struct mbx_pair *p, uint64_t now);

/* End of input: finalise everything still pending and emit it. */
void mbx_pair_finish(struct mbx_pair *p);

/* Number of events waiting (pending or held behind a pending one). */
uint32_t mbx_pair_pending(const struct mbx_pair *p);

/* Sink adapter: a struct mbx_msg_sink whose ctx is a struct mbx_pair. */
void mbx_pair_sink_emit(void *pair, const struct mbx_msg *m);

#endif
