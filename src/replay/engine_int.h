/* SPDX-License-Identifier: Apache-2.0 */
/* Replay engine internals shared by reader, worker and connection code. */
#ifndef MBX_REPLAY_ENGINE_INT_H
#define MBX_REPLAY_ENGINE_INT_H

#include <pthread.h>
#include <sys/uio.h>

#include "mbx/bufpool.h"
#include "mbx/hash.h"
#include "mbx/pair.h"
#include "mbx/parser.h"
#include "mbx/replay.h"
#include "mbx/replay_proto.h"
#include "mbx/ring.h"
#include "mbx/rstats.h"

/* One scheduled event, reader -> worker. */
struct rp_item {
	struct mbx_event ev;
	uint64_t t_due;   /* intended send time, CLOCK_MONOTONIC ns; 0 = as soon as possible */
	uint32_t pool;    /* pool index within the worker (recorded connection folded) */
	uint32_t flags;
};
_Static_assert(sizeof(struct rp_item) == 48, "rp_item");

#define RP_NIL UINT32_MAX

enum rp_conn_state {
	RP_DOWN = 0,     /* not connected; retry at retry_at */
	RP_CONNECTING,
	RP_UP,
};

#define RP_SEGS 512          /* output segments queued per connection */
#define RP_ARENA ((size_t)64 * 1024) /* bytes of headers/small values queued per connection */
#define RP_PARK 256          /* items parked per connection */

struct rp_seg {
	const uint8_t *p;
	uint32_t len;
	uint32_t arena_end; /* arena offset released when this segment is sent (0 = none) */
};

/* A pool connection (one per pool index and target). */
struct rp_conn {
	int fd;
	uint8_t state;
	uint8_t dirty;     /* on the worker's flush list */
	uint8_t want_out;  /* EPOLLOUT armed */
	uint8_t wanted;    /* connect it (lazily, on first use, when protocols are split) */
	uint16_t target;
	uint32_t index;    /* position in the worker's conns[] */
	uint64_t flow;     /* pairing flow id of the current incarnation */
	uint32_t incarnation;
	uint32_t outstanding;   /* replies expected */
	uint8_t draining;       /* closed loop: hit the pipeline depth, refill at the low mark */
	uint64_t last_progress; /* last reply, or when outstanding went 0 -> 1 */
	uint64_t retry_at;
	uint64_t backoff_ns;
	uint64_t connected_at;
	/* output: segments referencing the arena (copied bytes) or the value buffer */
	struct rp_seg seg[RP_SEGS];
	uint32_t seg_head, seg_tail; /* free-running */
	uint32_t seg_off;            /* bytes of seg[head] already written */
	uint8_t *arena;
	uint32_t arena_head, arena_tail; /* [head, tail) in use; reset when empty */
	/* timed requests queued but not yet written: their send lag is taken
	 * when the write that carries their first byte is made */
	struct rp_lagq {
		uint64_t due;
		uint32_t seg; /* their first segment (free-running index) */
	} lagq[RP_SEGS];
	uint32_t lq_head, lq_tail;
	/* parked items, sent in order when the connection can take them */
	struct rp_item park[RP_PARK];
	uint32_t park_head, park_tail;
	struct mbx_parser parser;
};

/* What a worker remembers about each request message it handed to pairing,
 * found again through the message cookie when the outcome is final. */
struct rp_req_info {
	uint8_t rec_op;      /* as recorded */
	uint8_t rec_proto;
	uint8_t rec_outcome;
	uint8_t unit_last;   /* last key of its request line: completes one outstanding */
	uint32_t conn;       /* index into conns[] */
	uint32_t incarnation;
	uint64_t t_sent;     /* actual send time (lag = t_sent - t_due) */
};

struct rp_engine;

struct rp_worker {
	uint32_t refill_low;   /* closed loop: cfg->refill_at, at most pipeline - 1 */
	struct rp_engine *eng;
	unsigned id;
	pthread_t thread;
	struct mbx_ring *ring;
	struct mbx_rstats *stats;
	struct mbx_pair *pair;
	struct mbx_counters pctr; /* pairing + parser counters */
	struct mbx_bufpool *carry;
	struct mbx_parse_ctx pctx;
	uint8_t salt[MBX_SALT_LEN];
	int epfd;
	struct rp_conn *conns;  /* npool * ntargets, index = pool * ntargets + target */
	uint32_t npool;
	uint32_t per_pool;      /* connections per pool slot: ntargets * nfam */
	uint32_t nconns;
	uint32_t *dirty;        /* connections with queued output */
	uint32_t ndirty;
	/* local queue of items from the ring, in intended-time order */
	struct rp_item *q;
	uint32_t q_head, q_tail, q_cap;
	/* request infos, indexed by cookie % info_cap */
	struct rp_req_info *info;
	uint32_t info_cap;
	uint32_t cookie;
	uint32_t inflight;      /* request messages handed to pairing, not yet final */
	uint64_t next_flow;
	uint32_t last_target_of_pool_cap;
	uint16_t *last_target; /* per pool index: target of the last keyed request */
	uint32_t opaque;
	uint8_t scratch[MBX_RREQ_SCRATCH];
	char keybuf[MBX_BATCH_MAX][MBX_KEY_MAX + 1];
	uint64_t up_conns;     /* connections up (for give-up detection) */
	uint64_t last_up_ns;   /* last time any connection was up */
	bool finished;         /* ring drained and nothing outstanding */
	bool failing_timeout;  /* conn_fail in progress because of a timeout */
	uint64_t proto_errs_seen;
	uint64_t unsent_failed; /* due, never sent, counted as aborted (connection down) */
	bool ever_up;          /* some connection of this worker was established */
	int connect_errno;     /* why the last connection attempt failed */
	uint16_t connect_target;
	int error;             /* fatal (e.g. epoll) */
};

struct rp_engine {
	const struct mbx_replay_cfg *cfg;
	struct mbx_keygen kg;
	struct mbx_valbuf *vb;
	struct rp_worker *workers;
	unsigned nworkers;
	unsigned nfam;           /* 2: binary and text/meta requests need separate connections */
	uint64_t t_start;        /* schedule origin (CLOCK_MONOTONIC) */
	volatile int dummy_;
	int stop;                /* atomic: 1 = stop sending, 2 = abort now */
	int reader_done;         /* atomic */
	uint64_t reader_events;  /* events read */
	uint64_t reader_sched_last; /* last intended time scheduled */
	char reader_err[1024];
	int reader_failed;
	int reader_cut;          /* stopped by --duration before the end of the profile */
};

static inline uint64_t rp_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * MBX_NSEC_PER_SEC + (uint64_t)t.tv_nsec;
}

/* Jump consistent hash (Lamping & Veach, "A Fast, Minimal Memory, Consistent
 * Hash Algorithm", 2014): a key hash -> target in [0, buckets). Adding a
 * target moves only 1/(n+1) of the keys. */
static inline uint32_t rp_jump_hash(uint64_t key, uint32_t buckets)
{
	int64_t b = -1, j = 0;
	while (j < (int64_t)buckets) {
		b = j;
		key = key * 2862933555777941757ULL + 1;
		j = (int64_t)((double)(b + 1) * ((double)(1LL << 31) / (double)((key >> 33) + 1)));
	}
	return (uint32_t)b;
}

/* rworker.c */
int rp_worker_init(struct rp_engine *e, struct rp_worker *w, unsigned id, uint32_t npool);
void rp_worker_fini(struct rp_worker *w);
void *rp_worker_main(void *arg);

/* reader.c */
void *rp_reader_main(void *arg);
struct rp_reader_args {
	struct rp_engine *eng;
	const char *profile;
};

/* prefill.c */
int rp_prefill(struct rp_engine *e, const char *profile, FILE *out, char *err, size_t errlen);

#endif
