/* SPDX-License-Identifier: Apache-2.0 */
/* Live capture: per-core capture workers, lock-free rings, one writer.
 *
 *   queue 0 ─► worker 0 (decode, flows, parse) ─► SPSC ring ─┐
 *   queue 1 ─► worker 1                        ─► SPSC ring ─┼─► writer thread: merge by
 *   ...                                                      ┘   watermark, pair, profile,
 *                                                                stats blocks, status line
 *
 * A backend (libpcap, AF_XDP, DPDK) supplies one queue per worker; nothing
 * else knows which backend it is. Workers never block: a full ring drops
 * the message and counts it (ring_full). Each worker publishes a watermark
 * (no message it emits later will be older); the writer releases messages
 * in time order up to the smallest watermark, so the two directions of a
 * connection may be captured by different workers (no symmetric RSS
 * needed). */
#ifndef MBX_LIVE_H
#define MBX_LIVE_H

#include <stdio.h>

#include "mbx/counters.h"
#include "mbx/record.h"
#include "mbx/source.h"

#define MBX_LIVE_MAX_WORKERS 64
#define MBX_LIVE_BURST 64

struct mbx_live_cfg;

/* A backend queue, polled by exactly one worker thread. */
struct mbx_live_queue;

struct mbx_live_backend {
	const char *name;
	/* Set up everything shared (interface, program, EAL, ...). Called once
	 * in the main thread before the workers start. */
	int (*setup)(struct mbx_live_cfg *cfg, char *err, size_t errlen);
	/* Open queue i of cfg->nqueues; called in the main thread. */
	struct mbx_live_queue *(*open)(struct mbx_live_cfg *cfg, unsigned i, char *err,
				       size_t errlen);
	/* Hand up to max packets to fn, each valid only during its call (no
	 * copy: libpcap's ring, AF_XDP's UMEM, DPDK's mbufs). Returns the
	 * number of packets (0 = none right now) or -errno on a fatal error.
	 * Called in the worker thread; must not block longer than ~10 ms. */
	int (*poll)(struct mbx_live_queue *q, void (*fn)(void *arg, const struct mbx_pkt *p),
		    void *arg, unsigned max);
	/* A backend sets poll or poll_burst (used when set): the same, but the
	 * packets are handed over in runs (fnb(arg, pkts, n), each packet valid during
	 * that call), so that the worker can prefetch flow state for a whole
	 * burst (mbx_cworker_burst). */
	int (*poll_burst)(struct mbx_live_queue *q,
			  void (*fnb)(void *arg, const struct mbx_pkt *pkts, unsigned n), void *arg,
			  unsigned max);
	/* Packets dropped before mbx saw them, since open (kernel / NIC or
	 * ring, and interface). Called in the worker thread. */
	void (*drops)(struct mbx_live_queue *q, uint64_t *kernel, uint64_t *iface);
	/* How far behind the wall clock a packet's timestamp can be when the
	 * worker sees it (buffering in the kernel/NIC), in ns. */
	uint64_t (*delay_ns)(struct mbx_live_queue *q);
	void (*close)(struct mbx_live_queue *q);
	/* Undo setup (detach programs, close ports). Called on every exit path. */
	void (*teardown)(struct mbx_live_cfg *cfg);
	int linktype;
};

struct mbx_live_cfg {
	struct mbx_record_cfg rec;      /* ports, salt, bounds (as for files) */
	const struct mbx_live_backend *backend;
	char iface[64];
	unsigned nqueues;               /* = workers */
	int lcores[MBX_LIVE_MAX_WORKERS]; /* CPU of each worker, -1 = not pinned */
	unsigned first_queue;           /* NIC queue of worker 0 */
	uint64_t duration_ns;           /* 0 = until stopped */
	uint64_t max_events;            /* 0 = unlimited */
	uint64_t rotate_bytes;          /* start a new profile past this size; 0 = never */
	uint64_t rotate_ns;             /* ... or after this long; 0 = never */
	uint64_t status_ns;             /* status line interval; 0 = none */
	uint64_t stats_block_ns;        /* stats block into the profile; default 1 s */
	uint32_t ring_size;             /* messages per worker ring */
	uint32_t snaplen;
	uint64_t buffer_bytes;          /* pcap: kernel buffer; AF_XDP: UMEM; DPDK: mbufs */
	const char *bpf_extra;          /* pcap: extra filter ANDed with the port filter */
	int xdp_mode;                   /* AF_XDP: 0 auto, 1 skb, 2 drv */
	bool zero_copy_required;        /* AF_XDP: fail instead of falling back to copy */
	const char *const *eal_argv;    /* DPDK: EAL arguments after "--" */
	int eal_argc;
	const char *user;               /* drop privileges to this user after setup */
	void *backend_state;            /* owned by the backend */
	int linktype;                   /* set by the backend's setup/open */
	bool source_waits;              /* set by setup: packets come from files, so a
					 * full worker ring waits for the writer
					 * instead of dropping (DPDK net_pcap rx_pcap=) */
	char source[256];               /* for the profile header */
};

struct mbx_live_result {
	struct mbx_counters ctr;        /* summed over workers and writer */
	uint64_t files;                 /* profiles written (rotation) */
	uint64_t events;
	uint64_t first_ts, last_ts;     /* of the last profile's events */
	double wall_s;
	bool stopped_by_signal;
};

void mbx_live_cfg_defaults(struct mbx_live_cfg *cfg);

/* Capture until the duration, the event limit or a stop request; profiles
 * are written to output (with rotation: output.1, output.2, ... see
 * docs/usage.md). Status lines go to status (NULL = none). Returns 0, or
 * -errno with a message in err. */
int mbx_live_run(struct mbx_live_cfg *cfg, const char *output, FILE *status,
		 struct mbx_live_result *res, char *err, size_t errlen);

/* Become user (no supplementary groups), keeping only the capabilities in
 * the keep mask (bit n = capability n). 0 or -errno with a message. */
int mbx_drop_privileges(const char *user, uint64_t keep, char *err, size_t errlen);

/* Async-signal-safe stop request. */
void mbx_live_request_stop(void);

/* Backends (NULL when not built). */
extern const struct mbx_live_backend mbx_backend_pcap;
const struct mbx_live_backend *mbx_live_backend_find(const char *name);

#endif
