/* SPDX-License-Identifier: Apache-2.0 */
/* Every counter of the recording pipeline, in one X-macro table. Each worker
 * owns a cache-aligned struct mbx_counters and increments its own fields with
 * plain adds; a reader (writer thread, stats line) sums them with relaxed
 * atomic loads. The same names are written to the profile footer and shown
 * by `mbx record` and `mbx analyze`, so a number the user cannot see does not
 * exist. Add new counters at the end of a stage's group. */
#ifndef MBX_COUNTERS_H
#define MBX_COUNTERS_H

#include "mbx/common.h"

/* X(name, kind, "what it counts"). kind LOSS: traffic that was not seen, or
 * not turned into an exact event (shown as losses by record and analyze);
 * INFO: everything else. */
#define MBX_COUNTERS(X)                                                                            \
	/* source */                                                                               \
	X(pkts, INFO, "packets read from the source")                                                    \
	X(bytes, INFO, "bytes read from the source (captured length)")                                   \
	X(src_drop_kernel, LOSS, "packets dropped by the kernel/NIC before mbx saw them (pcap ps_drop, NIC imissed, XDP ring full)") \
	X(src_drop_iface, LOSS, "packets dropped by the interface (pcap ps_ifdrop)")                     \
	X(src_errors, LOSS, "source read errors")                                                        \
	/* decode */                                                                               \
	X(dec_bad_link, LOSS, "packets with an unsupported link type")                                   \
	X(dec_truncated, LOSS, "packets too short for their headers")                                    \
	X(dec_not_ip, INFO, "non-IP packets (ARP, LLDP, ...)")                                           \
	X(dec_not_tcp, INFO, "IP packets that are not TCP")                                              \
	X(dec_fragment, LOSS, "IP fragments (skipped)")                                                  \
	X(dec_malformed, LOSS, "packets with inconsistent IP/TCP headers")                               \
	X(dec_other_port, INFO, "TCP packets not on a memcache port")                                    \
	X(dec_snap_short, LOSS, "TCP segments cut by the capture snap length (the missing bytes are gaps)") \
	X(dec_tcp, INFO, "TCP segments decoded (any port)")                                                \
	/* flows and reassembly */                                                                 \
	X(flows_created, INFO, "connection directions tracked")                                          \
	X(flows_closed, INFO, "directions closed by FIN/RST")                                            \
	X(flows_idle, INFO, "directions expired after the idle timeout")                                 \
	X(flows_evicted, LOSS, "directions evicted because the flow table was full")                     \
	X(flows_midstream, INFO, "directions first seen without SYN (capture began mid-connection)")     \
	X(flows_reused, INFO, "directions closed because their 5-tuple started a new connection")        \
	X(seg_payload, INFO, "segments carrying payload")                                                \
	X(seg_retrans, INFO, "segments entirely retransmitted (ignored)")                                \
	X(seg_overlap, INFO, "segments partly overlapping data already seen (overlap ignored)")          \
	X(seg_ooo, INFO, "out-of-order segments held for reassembly")                                    \
	X(seg_ooo_drop, LOSS, "holes given up early because an out-of-order bound was reached")           \
	X(seg_after_close, INFO, "payload segments after FIN/RST (ignored)")                             \
	X(gaps, LOSS, "holes in a TCP stream (data never seen)")                                         \
	X(gap_bytes, LOSS, "bytes lost in holes")                                                        \
	/* protocol parsing */                                                                     \
	X(req_msgs, INFO, "requests parsed (one per key of a multi-key get)")                            \
	X(rsp_msgs, INFO, "response units parsed")                                                       \
	X(parse_errors, LOSS, "malformed or unknown input (parser resynchronised)")                      \
	X(resyncs, INFO, "times a parser searched for the next message boundary")                        \
	X(resync_bytes, LOSS, "bytes skipped while resynchronising")                                     \
	X(line_too_long, LOSS, "text lines over the line limit")                                         \
	X(key_too_long, INFO, "keys over 250 bytes")                                                     \
	X(carry_exhausted, LOSS, "partial messages dropped: carry buffer pool exhausted")                \
	/* hand-off */                                                                             \
	X(ring_full, LOSS, "messages dropped because a worker ring was full")                            \
	/* pairing */                                                                              \
	X(events, INFO, "events written")                                                                \
	X(conns, INFO, "connections seen")                                                               \
	X(conn_table_full, LOSS, "connections not tracked: connection table full")                       \
	X(rsp_orphan, LOSS, "responses with no matching request (capture started mid-request, or loss)") \
	X(req_unanswered, LOSS, "requests that expected a reply and got none before close/end")          \
	X(pair_timeouts, LOSS, "requests finalised by the pairing timeout")                              \
	X(pair_overflow, LOSS, "requests finalised early: pairing window full")                          \
	X(pair_mismatch, LOSS, "responses that did not fit the pending request (resynchronised)")        \
	X(lat_saturated, INFO, "latencies above 4.29 s (stored saturated)")                              \
	X(time_backwards, INFO, "records whose timestamp went backwards (clamped)")                      \
	X(merge_late, INFO, "records that arrived after the merge window had passed their time")          \
	X(merge_forced, LOSS, "records released before the merge window passed: merge buffer full")

struct mbx_counters {
#define MBX_X_FIELD(n, k, d) uint64_t n;
	MBX_COUNTERS(MBX_X_FIELD)
#undef MBX_X_FIELD
} MBX_CACHE_ALIGNED;

enum mbx_counter_id {
#define MBX_X_ID(n, k, d) MBX_CTR_##n,
	MBX_COUNTERS(MBX_X_ID)
#undef MBX_X_ID
	MBX_CTR__COUNT
};

#define MBX_COUNTER_NAME_MAX 32

/* A named counter value as stored in the profile (footer and stats blocks). */
struct mbx_counter_kv {
	char name[MBX_COUNTER_NAME_MAX]; /* NUL-terminated */
	uint64_t value;
};

const char *mbx_counter_name(unsigned id);
const char *mbx_counter_desc(unsigned id);
/* Is this counter a loss (kind LOSS)? False for unknown ids. */
bool mbx_counter_is_loss(unsigned id);
/* Counter id for a name; -1 if unknown (profiles from newer versions). */
int mbx_counter_lookup(const char *name);

/* Single-writer increment: the owning worker is the only writer, other threads
 * only read. A relaxed atomic store compiles to a plain store on x86-64 and
 * keeps ThreadSanitizer and the C memory model happy. */
#define MBX_CTR_ADD(c, field, n)                                                                   \
	__atomic_store_n(&(c)->field, (c)->field + (uint64_t)(n), __ATOMIC_RELAXED)
#define MBX_CTR_INC(c, field) MBX_CTR_ADD(c, field, 1)

static inline uint64_t *mbx_counters_array(struct mbx_counters *c)
{
	return (uint64_t *)(void *)c;
}

/* dst += src, field by field, reading src with relaxed atomic loads so that
 * another thread may be incrementing it. */
void mbx_counters_add(struct mbx_counters *dst, const struct mbx_counters *src);

/* Fill kv[0..MBX_CTR__COUNT) from c; returns MBX_CTR__COUNT. */
size_t mbx_counters_to_kv(const struct mbx_counters *c, struct mbx_counter_kv *kv);

#endif
