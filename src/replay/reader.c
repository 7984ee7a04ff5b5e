/* SPDX-License-Identifier: Apache-2.0 */
/* Replay reader: streams the profile (constant memory), computes each
 * event's intended send time, and hands it to the worker that owns its
 * recorded connection. The items of one multi-key request are enqueued at
 * once so a worker never sees half a batch. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <time.h>

#include "engine_int.h"
#include "mbx/profile.h"

struct stage {
	struct rp_item items[MBX_BATCH_MAX];
	uint32_t n;
};

static bool stopped(struct rp_engine *e)
{
	return __atomic_load_n(&e->stop, __ATOMIC_ACQUIRE) != 0;
}

/* Enqueue a worker's staged items, waiting while its ring is full. */
static bool flush_stage(struct rp_engine *e, unsigned wi, struct stage *st)
{
	uint32_t done = 0;
	struct rp_worker *w = &e->workers[wi];
	while (done < st->n) {
		uint32_t k = mbx_ring_enqueue_burst(w->ring, st->items + done, st->n - done);
		done += k;
		if (k == 0) {
			/* Full: wait until a quarter of it is free, napping
			 * longer and longer (200 us .. 10 ms). Waking every
			 * 200 us to add a few items cost the worker, which
			 * often shares this CPU, a preemption each time:
			 * send-lag tails at high rates. */
			uint32_t cap = mbx_ring_capacity(w->ring);
			long nap = 200000;
			do {
				if (stopped(e) || __atomic_load_n(&w->finished, __ATOMIC_ACQUIRE))
					return false;
				struct timespec ts = { 0, nap };
				nanosleep(&ts, NULL);
				nap = MBX_MIN(nap * 2, 10000000L);
			} while (cap - mbx_ring_count(w->ring) < cap / 4);
		}
	}
	st->n = 0;
	return true;
}

/* Uniform (0, 1] from a splitmix64 stream. */
static double unit_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	z ^= z >> 31;
	return ((double)(z >> 11) + 1.0) / 9007199254740993.0;
}

void *rp_reader_main(void *arg)
{
	struct rp_reader_args *a = arg;
	struct rp_engine *e = a->eng;
	const struct mbx_replay_cfg *cfg = e->cfg;
	unsigned nw = e->nworkers;
	struct stage *stages = calloc(nw, sizeof(*stages));
	int open_worker = -1;
	uint64_t n = 0;             /* events scheduled */
	double offset_ns = 0;       /* schedule offset of the current event, before speed */
	uint64_t prev_ts = 0;
	bool have_prev = false;
	uint64_t rng = cfg->seed ? cfg->seed : 0x6d62782d72706c79ULL;
	double rate_t = 0;
	bool done = false;

	if (!stages) {
		snprintf(e->reader_err, sizeof(e->reader_err), "out of memory");
		e->reader_failed = 1;
		goto out;
	}
	for (uint64_t loop = 0; !done && (cfg->loops == 0 || loop < cfg->loops); loop++) {
		char err[400];
		struct mbx_profile_reader *r = mbx_profile_reader_open(a->profile, err, sizeof(err));
		const struct mbx_event *ev;
		size_t cnt;
		int rc;
		uint64_t loop_events = 0;

		if (!r) {
			snprintf(e->reader_err, sizeof(e->reader_err), "%s: %s", a->profile, err);
			e->reader_failed = 1;
			break;
		}
		while (!done && (rc = mbx_profile_reader_next(r, &ev, &cnt)) == 1) {
			for (size_t i = 0; i < cnt && !done; i++) {
				const struct mbx_event *x = &ev[i];
				struct rp_item it;
				uint64_t due = 0;

				/* schedule */
				switch (cfg->timing) {
				case MBX_TIMING_ORIGINAL: {
					if (have_prev) {
						uint64_t gap = x->ts_ns > prev_ts ? x->ts_ns - prev_ts : 0;
						if (cfg->max_gap_ns && gap > cfg->max_gap_ns)
							gap = cfg->max_gap_ns;
						offset_ns += (double)gap;
					}
					prev_ts = x->ts_ns;
					have_prev = true;
					due = e->t_start + (uint64_t)(offset_ns / cfg->speed);
					break;
				}
				case MBX_TIMING_RATE:
					if (x->flags & MBX_EV_F_BATCH_CONT) {
						/* keys of one request leave together */
					} else if (cfg->arrivals == MBX_ARRIVALS_POISSON) {
						rate_t += -log(unit_rand(&rng)) * 1e9 / cfg->rate;
					} else {
						rate_t = (double)n * 1e9 / cfg->rate;
					}
					due = e->t_start + (uint64_t)rate_t;
					break;
				case MBX_TIMING_NONE:
					due = 0;
					break;
				}
				if (cfg->duration_ns && due && due - e->t_start >= cfg->duration_ns) {
					e->reader_cut = 1; /* read by the main thread after the join */
					done = true;
					break;
				}
				/* recorded connection -> worker and pool slot */
				uint32_t cid = x->conn_id ? x->conn_id - 1 : 0;
				unsigned wi = cid % nw;
				it.ev = *x;
				it.t_due = due;
				it.pool = (cid / nw) % e->workers[wi].npool;
				it.flags = 0;
				/* a batch stays together: flush the open one first */
				if (open_worker >= 0 && !(x->flags & MBX_EV_F_BATCH_CONT)) {
					if (!flush_stage(e, (unsigned)open_worker, &stages[open_worker])) {
						done = true;
						break;
					}
					open_worker = -1;
				}
				struct stage *st = &stages[wi];
				if (st->n == MBX_BATCH_MAX && !flush_stage(e, wi, st)) {
					done = true;
					break;
				}
				st->items[st->n++] = it;
				if (open_worker >= 0 && open_worker != (int)wi &&
				    !flush_stage(e, (unsigned)open_worker, &stages[open_worker])) {
					done = true;
					break;
				}
				open_worker = (int)wi;
				n++;
				loop_events++;
				__atomic_store_n(&e->reader_events, n, __ATOMIC_RELAXED);
				__atomic_store_n(&e->reader_sched_last, due, __ATOMIC_RELAXED);
				if (stopped(e))
					done = true;
			}
		}
		if (!done && rc < 0) {
			snprintf(e->reader_err, sizeof(e->reader_err), "%s: %s", a->profile,
				 mbx_profile_reader_error(r));
			e->reader_failed = 1;
			done = true;
		}
		mbx_profile_reader_close(r);
		if (loop_events == 0)
			break; /* an empty profile: looping forever would spin */
		/* the next loop starts one mean gap after this one's last event */
		if (cfg->timing == MBX_TIMING_ORIGINAL && n > 1)
			offset_ns += offset_ns / (double)(n - 1);
		have_prev = false;
	}
	for (unsigned i = 0; i < nw; i++)
		if (stages && stages[i].n)
			flush_stage(e, i, &stages[i]);
out:
	for (unsigned i = 0; i < nw; i++)
		mbx_ring_close(e->workers[i].ring);
	free(stages);
	__atomic_store_n(&e->reader_done, 1, __ATOMIC_RELEASE);
	return NULL;
}
