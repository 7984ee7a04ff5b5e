/* SPDX-License-Identifier: Apache-2.0 */
/* The replay engine: drive memcached targets with a recorded profile.
 *
 *  reader thread ──► SPSC ring per worker ──► worker (epoll loop, connection
 *  (profile, schedule,                        pool, encoder, response parser,
 *   conn -> worker)                           pairing, statistics)
 *
 * The reader streams the profile in constant memory, computes each event's
 * intended send time and hands it to the worker that owns its recorded
 * connection (a recorded connection belongs to exactly one worker, which
 * keeps its order). Workers map recorded connections onto their pool
 * (1:1 up to the pool size, folded beyond), send at the intended time,
 * and pair replies with the same parser and pairing stage the recorder
 * uses, so replayed outcomes and latencies mean exactly what recorded ones
 * mean. Latency is measured from the intended send time in timed modes (no
 * coordinated omission), from the actual send time in closed loop. */
#ifndef MBX_REPLAY_H
#define MBX_REPLAY_H

#include <stdio.h>
#include <sys/socket.h>

#include "mbx/common.h"
#include "mbx/event.h"

#define MBX_REPLAY_MAX_TARGETS 16
#define MBX_REPLAY_MAX_WORKERS 64

enum mbx_timing {
	MBX_TIMING_ORIGINAL = 0, /* recorded offsets / speed */
	MBX_TIMING_RATE = 1,     /* open loop at a fixed rate */
	MBX_TIMING_NONE = 2,     /* closed loop, as fast as replies come */
};

enum mbx_arrivals {
	MBX_ARRIVALS_UNIFORM = 0,
	MBX_ARRIVALS_POISSON = 1,
};

struct mbx_target {
	char name[300]; /* as given: host:port */
	struct sockaddr_storage addr;
	socklen_t addrlen;
};

struct mbx_replay_cfg {
	struct mbx_target targets[MBX_REPLAY_MAX_TARGETS];
	unsigned ntargets;
	unsigned workers;
	int lcores[MBX_REPLAY_MAX_WORKERS]; /* CPU per worker, -1 = not pinned */
	unsigned connections;  /* pool connections per target, over all workers */
	enum mbx_timing timing;
	double speed;          /* original timing: offsets divided by speed */
	uint64_t max_gap_ns;   /* original timing: longer idle gaps are cut to this; 0 = keep */
	double rate;           /* rate timing: ops/s */
	enum mbx_arrivals arrivals;
	uint64_t seed;         /* Poisson arrivals */
	unsigned pipeline;     /* closed loop: requests outstanding per connection */
	unsigned refill_at;    /* closed loop: a connection that reached pipeline
				* sends again once at most this many remain;
				* >= pipeline - 1 (default) = as each reply comes */
	uint64_t batch_wait_ns;/* closed loop: when no connection can send (all
				* wait for replies), wait this long before reading,
				* so replies are read in batches; 0 = as they come */
	int protocol;          /* -1 = as recorded, else enum mbx_proto */
	char key_prefix[65];
	uint64_t timeout_ns;   /* a request without a reply for this long: timeout */
	uint64_t loops;        /* times through the profile; 0 = forever */
	uint64_t duration_ns;  /* stop after this long; 0 = when the profile ends */
	bool prefill;          /* store every key the recording saw hit first */
	double max_error_rate; /* exit 1 if a larger fraction of requests failed */
	uint64_t progress_ns;  /* progress line interval; 0 = none */
	const char *json_path; /* report as JSON (NULL = none, "-" = stdout) */
	uint32_t ring_size;    /* reader -> worker ring, items */
};

void mbx_replay_cfg_defaults(struct mbx_replay_cfg *cfg);

/* Resolve "host:port" (IPv4, [IPv6]:port, or a name) into t. 0 or -1 with a
 * message in err. */
int mbx_replay_target_parse(const char *s, struct mbx_target *t, char *err, size_t errlen);

/* Print what a run would do (operations, connections, expected duration). */
int mbx_replay_dry_run(const struct mbx_replay_cfg *cfg, const char *profile, FILE *out,
		       char *err, size_t errlen);

/* Run. The final table goes to out, progress lines to progress (NULL =
 * none). Returns 0 (completed), 1 (completed with more errors than
 * max_error_rate, or aborted: targets unreachable, profile corrupt), with a
 * message in err when not 0. The report is written in every case. */
int mbx_replay_run(const struct mbx_replay_cfg *cfg, const char *profile, FILE *out,
		   FILE *progress, char *err, size_t errlen);

/* Ask a running replay to stop cleanly (async-signal-safe). */
void mbx_replay_request_stop(void);

#endif
