/* SPDX-License-Identifier: Apache-2.0 */
/* Live capture pipeline: capture workers (one per queue/core) hand messages
 * through SPSC rings to one writer thread that merges them in time order,
 * pairs, writes the profile (with periodic stats blocks and rotation). The
 * main thread prints the status line and watches duration and signals. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "mbx/live.h"
#include "mbx/log.h"
#include "mbx/ring.h"

#define STAGE 64

static int g_stop;

void mbx_live_request_stop(void)
{
	__atomic_store_n(&g_stop, 1, __ATOMIC_RELAXED);
}

static uint64_t realtime_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * MBX_NSEC_PER_SEC + (uint64_t)t.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * MBX_NSEC_PER_SEC + (uint64_t)t.tv_nsec;
}

struct lworker {
	struct mbx_counters ctr; /* written by this worker only (cache-aligned) */
	uint64_t watermark MBX_CACHE_ALIGNED; /* atomic: no later message is older */
	int done;                /* atomic */
	int error;
	unsigned id;
	pthread_t th;
	struct mbx_live_cfg *cfg;
	struct mbx_live_queue *q;
	struct mbx_cworker *cw;
	struct mbx_ring *ring;
	uint64_t last_ts;        /* newest packet time processed */
	struct mbx_msg stage[STAGE];
	unsigned nstage;
	struct mbx_msg *next;    /* &stage[nstage]: the parsers build messages there */
	uint64_t ring_waits, ring_wait_ns; /* source_waits: full ring waited out */
	const int *no_writer;    /* atomic: the writer could not start; do not wait for it */
};

struct live {
	struct mbx_live_cfg *cfg;
	struct lworker *w;
	unsigned nw;
	struct mbx_evsink *es;
	struct mbx_counters wctr; /* writer: merge, pairing */
	struct mbx_profile_meta meta;
	const char *output;
	uint64_t files;
	uint64_t file_start_ns;
	int writer_done;          /* atomic */
	int writer_error;
	int no_writer;            /* atomic: the writer thread could not be started */
	char errmsg[4200];
};

/* ---- workers ------------------------------------------------------------ */

/* Wait until the ring took stage[n..nstage): where nothing is lost by
 * waiting (a file source, cfg->source_waits; the end of a capture), rather
 * than drop. The writer drains every ring until all are closed, even after
 * an error; only a writer that never started does not (no_writer). */
static uint32_t stage_wait(struct lworker *w, uint32_t n)
{
	for (unsigned spins = 0; n < w->nstage; spins++) {
		if (__atomic_load_n(w->no_writer, __ATOMIC_ACQUIRE))
			break; /* nobody drains the ring: drop and count */
		if (spins < 16) {
			sched_yield();
		} else {
			struct timespec ts = { 0, 50000 };
			nanosleep(&ts, NULL);
		}
		n += mbx_ring_enqueue_burst(w->ring, w->stage + n, w->nstage - n);
	}
	return n;
}

/* final: the end of the capture, which always waits; during the capture
 * only a file source does, and those waits are counted (they fall inside
 * the backend's per-packet timing) */
static void stage_flush_wait(struct lworker *w, bool final)
{
	if (!w->nstage)
		return;
	uint32_t n = mbx_ring_enqueue_burst(w->ring, w->stage, w->nstage);
	if (MBX_UNLIKELY(n < w->nstage) && final) {
		n = stage_wait(w, n);
	} else if (MBX_UNLIKELY(n < w->nstage) && w->cfg->source_waits) {
		uint64_t t0 = realtime_ns();
		n = stage_wait(w, n);
		w->ring_waits++;
		w->ring_wait_ns += realtime_ns() - t0;
	}
	if (n < w->nstage)
		MBX_CTR_ADD(&w->ctr, ring_full, w->nstage - n); /* never block live capture */
	w->nstage = 0;
	w->next = w->stage;
}

static void stage_flush(struct lworker *w)
{
	stage_flush_wait(w, false);
}

static void worker_emit(void *ctx, const struct mbx_msg *m)
{
	struct lworker *w = ctx;
	/* the parsers build in place (sink.slot); control messages come from
	 * the stack */
	if (m != w->next)
		*w->next = *m;
	w->next = &w->stage[++w->nstage];
	if (w->nstage == STAGE)
		stage_flush(w);
}

static void worker_pkt(void *arg, const struct mbx_pkt *p)
{
	struct lworker *w = arg;
	mbx_cworker_packet(w->cw, p, w->cfg->linktype);
	if (p->ts_ns > w->last_ts)
		w->last_ts = p->ts_ns;
}

static void worker_burst(void *arg, const struct mbx_pkt *pkts, unsigned n)
{
	struct lworker *w = arg;
	mbx_cworker_burst(w->cw, pkts, n, w->cfg->linktype);
	for (unsigned i = 0; i < n; i++)
		if (pkts[i].ts_ns > w->last_ts)
			w->last_ts = pkts[i].ts_ns;
	/* into the ring here, inside the backend's per-packet timing (the
	 * ring is part of the cost it reports), not after the poll returns */
	stage_flush(w);
}

static void worker_drops(struct lworker *w)
{
	uint64_t k = 0, i = 0;
	if (w->cfg->backend->drops)
		w->cfg->backend->drops(w->q, &k, &i);
	__atomic_store_n(&w->ctr.src_drop_kernel, k, __ATOMIC_RELAXED);
	__atomic_store_n(&w->ctr.src_drop_iface, i, __ATOMIC_RELAXED);
}

static void *worker_main(void *arg)
{
	struct lworker *w = arg;
	const struct mbx_live_backend *be = w->cfg->backend;
	uint64_t next_tick = 0, next_drops = 0;
	uint64_t delay = be->delay_ns ? be->delay_ns(w->q) : 50 * MBX_NSEC_PER_MSEC;

	if (w->cfg->lcores[w->id] >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(w->cfg->lcores[w->id], &set);
		if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0)
			pr_warn("capture worker %u: cannot pin to CPU %d", w->id, w->cfg->lcores[w->id]);
	}
	while (!__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
		/* The clock is read BEFORE the poll: any packet the queue still
		 * holds after a poll that did not fill its burst arrived after
		 * `before`, so its timestamp is at least before - delay. Read
		 * after the poll, a worker preempted between the two (100-285 ms
		 * seen) would move its watermark past packets still queued. */
		uint64_t before = realtime_ns();
		int n = be->poll_burst ? be->poll_burst(w->q, worker_burst, w, MBX_LIVE_BURST) :
					 be->poll(w->q, worker_pkt, w, MBX_LIVE_BURST);
		if (n < 0) {
			w->error = n;
			break;
		}
		uint64_t now = realtime_ns();
		stage_flush(w);
		/* every message from now on is at or after base (or is held by
		 * reassembly, which mbx_cworker_watermark accounts for) */
		uint64_t base = n ? w->last_ts : (before > delay ? before - delay : 0);
		if (n && n < MBX_LIVE_BURST && before > delay && before - delay > base)
			base = before - delay; /* an old packet does not hold the others back */
		if (now >= next_tick) {
			mbx_cworker_tick(w->cw, base);
			next_tick = now + 10 * MBX_NSEC_PER_MSEC;
		}
		if (now >= next_drops) {
			worker_drops(w);
			next_drops = now + 200 * MBX_NSEC_PER_MSEC;
		}
		stage_flush(w);
		__atomic_store_n(&w->watermark, mbx_cworker_watermark(w->cw, base), __ATOMIC_RELEASE);
	}
	worker_drops(w);
	uint64_t end = realtime_ns();
	mbx_cworker_flush(w->cw, end > w->last_ts ? end : w->last_ts);
	stage_flush_wait(w, true); /* end of capture: wait for room rather than drop */
	if (w->ring_waits) /* inside the backend's per-packet timing */
		pr_info("capture worker %u: waited for the writer %llu times, %.3f ms in all (file "
			"replay, ring full)",
			w->id, (unsigned long long)w->ring_waits, (double)w->ring_wait_ns / 1e6);
	__atomic_store_n(&w->watermark, UINT64_MAX, __ATOMIC_RELEASE);
	mbx_ring_close(w->ring);
	__atomic_store_n(&w->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- writer ------------------------------------------------------------- */

static void sum_counters(struct live *lv, struct mbx_counters *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned i = 0; i < lv->nw; i++)
		mbx_counters_add(out, &lv->w[i].ctr);
	mbx_counters_add(out, &lv->wctr);
}

static void rotated_name(const char *output, uint64_t n, char *buf, size_t len)
{
	size_t ol = strlen(output);
	if (ol > 4 && !strcmp(output + ol - 4, ".mbx"))
		snprintf(buf, len, "%.*s.%04llu.mbx", (int)(ol - 4), output, (unsigned long long)n);
	else
		snprintf(buf, len, "%s.%04llu", output, (unsigned long long)n);
}

static void *writer_main(void *arg)
{
	struct live *lv = arg;
	struct mbx_live_cfg *cfg = lv->cfg;
	struct mbx_msg buf[256];
	struct mbx_msg_sink sink = mbx_evsink_msg_sink(lv->es);
	uint64_t next_stats = mono_ns() + cfg->stats_block_ns;
	struct mbx_profile_writer_opts wo = { .block_events = cfg->rec.block_events,
					      .fsync_blocks = cfg->rec.fsync_blocks };

	for (;;) {
		uint32_t got = 0;
		bool all_done = true, drained = true;
		/* the watermarks first: every message a worker enqueued before
		 * publishing its watermark is then in the ring and is drained
		 * below, before the merge is advanced to it */
		uint64_t wm = UINT64_MAX;
		for (unsigned i = 0; i < lv->nw; i++) {
			uint64_t x = __atomic_load_n(&lv->w[i].watermark, __ATOMIC_ACQUIRE);
			if (x < wm)
				wm = x;
		}
		for (unsigned i = 0; i < lv->nw; i++) {
			struct lworker *w = &lv->w[i];
			uint32_t n;
			while ((n = mbx_ring_dequeue_burst(w->ring, buf, 256)) > 0) {
				for (uint32_t k = 0; k < n; k++)
					sink.emit(sink.ctx, &buf[k]);
				got += n;
				if (got > 65536) {
					drained = false; /* not up to wm yet: no advance */
					break; /* let the other rings and the release run */
				}
			}
			if (!mbx_ring_done(w->ring))
				all_done = false;
		}
		if (drained && wm != UINT64_MAX && wm)
			mbx_evsink_advance(lv->es, wm);
		if (mbx_evsink_error(lv->es)) {
			lv->writer_error = mbx_evsink_error(lv->es);
			mbx_live_request_stop();
		}
		if (cfg->max_events && lv->wctr.events >= cfg->max_events)
			mbx_live_request_stop();
		uint64_t now = mono_ns();
		if (now >= next_stats) {
			struct mbx_counters tot;
			next_stats = now + cfg->stats_block_ns;
			sum_counters(lv, &tot);
			/* the block with the events so far, then the counters: a
			 * killed recorder leaves both */
			mbx_evsink_flush(lv->es);
			mbx_evsink_stats(lv->es, &tot);
		}
		bool rot = (cfg->rotate_bytes && mbx_evsink_bytes(lv->es) >= cfg->rotate_bytes) ||
			   (cfg->rotate_ns && now - lv->file_start_ns >= cfg->rotate_ns);
		if (rot && !all_done) {
			char path[4096];
			struct mbx_counters tot;
			sum_counters(lv, &tot);
			rotated_name(lv->output, ++lv->files, path, sizeof(path));
			if (mbx_evsink_rotate(lv->es, path, &lv->meta, &tot, &wo) < 0) {
				snprintf(lv->errmsg, sizeof(lv->errmsg), "cannot start %s: %s", path,
					 strerror(errno));
				lv->writer_error = -EIO;
				mbx_live_request_stop();
			}
			lv->file_start_ns = now;
		}
		if (all_done)
			break;
		if (!got) {
			struct timespec ts = { 0, 100000 };
			nanosleep(&ts, NULL);
		}
	}
	__atomic_store_n(&lv->writer_done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* ---- status ------------------------------------------------------------- */

static void status_line(FILE *f, struct live *lv, const struct mbx_counters *c,
			const struct mbx_counters *prev, double dt, uint64_t elapsed_ns)
{
	uint64_t fill = 0, cap = 0;
	for (unsigned i = 0; i < lv->nw; i++) {
		fill += mbx_ring_count(lv->w[i].ring);
		cap += mbx_ring_capacity(lv->w[i].ring);
	}
	fprintf(f,
		"[%4llus] %8.0f pkt/s %8.0f ev/s | drops kernel %llu if %llu ring %llu | gaps %llu parse %llu orphan %llu | ring %.0f%% | events %llu\n",
		(unsigned long long)(elapsed_ns / MBX_NSEC_PER_SEC), (double)(c->pkts - prev->pkts) / dt,
		(double)(c->events - prev->events) / dt, (unsigned long long)c->src_drop_kernel,
		(unsigned long long)c->src_drop_iface, (unsigned long long)c->ring_full,
		(unsigned long long)c->gaps, (unsigned long long)c->parse_errors,
		(unsigned long long)c->rsp_orphan, cap ? 100.0 * (double)fill / (double)cap : 0.0,
		(unsigned long long)c->events);
	fflush(f);
}

/* ---- run ---------------------------------------------------------------- */

void mbx_live_cfg_defaults(struct mbx_live_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	mbx_record_cfg_defaults(&cfg->rec);
	cfg->rec.merge_hold_ns = 50 * MBX_NSEC_PER_MSEC;
	cfg->nqueues = 1;
	for (unsigned i = 0; i < MBX_LIVE_MAX_WORKERS; i++)
		cfg->lcores[i] = -1;
	cfg->status_ns = MBX_NSEC_PER_SEC;
	cfg->stats_block_ns = MBX_NSEC_PER_SEC;
	cfg->ring_size = 1u << 18;
	cfg->snaplen = 262144;
	cfg->buffer_bytes = 64ULL << 20;
}

int mbx_live_run(struct mbx_live_cfg *cfg, const char *output, FILE *status,
		 struct mbx_live_result *res, char *err, size_t errlen)
{
	const struct mbx_live_backend *be = cfg->backend;
	struct live lv;
	pthread_t writer;
	unsigned started = 0;
	bool writer_started = false, setup_done = false;
	int ret = -1;
	char path[4096];

	memset(&lv, 0, sizeof(lv));
	memset(res, 0, sizeof(*res));
	err[0] = 0;
	/* g_stop is not cleared here: a SIGINT that arrived after the caller
	 * installed its handler must not be lost (one capture per process) */
	lv.cfg = cfg;
	lv.output = output;
	lv.nw = cfg->nqueues;
	if (!be || lv.nw == 0 || lv.nw > MBX_LIVE_MAX_WORKERS) {
		snprintf(err, errlen, "bad configuration (backend %s, %u queues)", be ? be->name : "none",
			 lv.nw);
		return -EINVAL;
	}
	uint64_t t0 = mono_ns();
	if (be->setup && be->setup(cfg, err, errlen) < 0)
		return -EIO;
	setup_done = true;
	lv.w = calloc(lv.nw, sizeof(*lv.w));
	if (!lv.w) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < lv.nw; i++) {
		struct lworker *w = &lv.w[i];
		w->id = i;
		w->cfg = cfg;
		w->q = be->open(cfg, i, err, errlen);
		if (!w->q)
			goto out;
		w->ring = mbx_ring_create(cfg->ring_size, sizeof(struct mbx_msg));
		w->no_writer = &lv.no_writer;
		w->next = w->stage;
		struct mbx_msg_sink sk = { .emit = worker_emit, .ctx = w, .slot = &w->next };
		w->cw = mbx_cworker_create(&cfg->rec, i, &sk, &w->ctr);
		if (!w->ring || !w->cw) {
			snprintf(err, errlen, "cannot allocate capture worker %u: %s", i, strerror(errno));
			goto out;
		}
	}
	if (cfg->rotate_bytes || cfg->rotate_ns)
		rotated_name(output, 0, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "%s", output);
	if (!cfg->linktype)
		cfg->linktype = be->linktype;
	mbx_record_meta(&cfg->rec, cfg->source, cfg->linktype, cfg->snaplen, &lv.meta);
	cfg->rec.merge_workers = lv.nw;
	lv.es = mbx_evsink_create(&cfg->rec, path, &lv.meta, &lv.wctr, err, errlen);
	if (!lv.es)
		goto out;
	lv.files = 1;
	lv.file_start_ns = mono_ns();
	if (cfg->user) {
		/* Capture sockets, queues and the profile are open: nothing else
		 * needs privileges, except detaching an XDP program at exit. A
		 * rotated profile is created as the user. */
		uint64_t keep = !strcmp(be->name, "afxdp") ? (1ULL << 12) /* CAP_NET_ADMIN */ : 0;
		if (mbx_drop_privileges(cfg->user, keep, err, errlen) < 0)
			goto out;
	}
	for (; started < lv.nw; started++) {
		if (pthread_create(&lv.w[started].th, NULL, worker_main, &lv.w[started]) != 0) {
			snprintf(err, errlen, "cannot start capture threads");
			mbx_live_request_stop();
			goto join;
		}
	}
	if (pthread_create(&writer, NULL, writer_main, &lv) != 0) {
		snprintf(err, errlen, "cannot start the writer thread");
		__atomic_store_n(&lv.no_writer, 1, __ATOMIC_RELEASE); /* workers must not wait */
		mbx_live_request_stop();
		goto join;
	}
	writer_started = true;
	if (status) {
		/* tests and scripts wait for this line before sending traffic */
		fprintf(status, "mbx record: capturing on %s (%s, %u queue%s)\n", cfg->iface,
			cfg->source[0] ? cfg->source : be->name, lv.nw, lv.nw > 1 ? "s" : "");
		fflush(status);
	}

	/* main thread: status line, duration */
	struct mbx_counters prev = { 0 }, cur;
	uint64_t start = mono_ns(), last = start, next_status = start + cfg->status_ns;
	for (;;) {
		struct timespec ts = { 0, 20L * 1000000 };
		nanosleep(&ts, NULL);
		uint64_t now = mono_ns();
		if (cfg->duration_ns && now - start >= cfg->duration_ns)
			mbx_live_request_stop();
		for (unsigned i = 0; i < lv.nw; i++)
			if (lv.w[i].error && !__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
				snprintf(err, errlen, "capture queue %u failed: %s", i, strerror(-lv.w[i].error));
				mbx_live_request_stop();
			}
		if (status && cfg->status_ns && now >= next_status) {
			sum_counters(&lv, &cur);
			status_line(status, &lv, &cur, &prev, (double)(now - last) / 1e9, now - start);
			prev = cur;
			last = now;
			next_status += cfg->status_ns;
		}
		if (__atomic_load_n(&lv.writer_done, __ATOMIC_ACQUIRE))
			break;
		if (__atomic_load_n(&g_stop, __ATOMIC_RELAXED)) {
			/* workers finish their bursts, flush, close their rings */
			bool done = true;
			for (unsigned i = 0; i < lv.nw; i++)
				if (!__atomic_load_n(&lv.w[i].done, __ATOMIC_ACQUIRE))
					done = false;
			if (done && __atomic_load_n(&lv.writer_done, __ATOMIC_ACQUIRE))
				break;
		}
	}
join:
	mbx_live_request_stop();
	for (unsigned i = 0; i < started; i++)
		pthread_join(lv.w[i].th, NULL);
	if (writer_started)
		pthread_join(writer, NULL);
	if (lv.es) {
		struct mbx_profile_totals tot;
		mbx_evsink_finish(lv.es); /* the last events and connections count */
		sum_counters(&lv, &res->ctr);
		int r = mbx_evsink_close(lv.es, &res->ctr, &tot);
		lv.es = NULL;
		res->events = res->ctr.events;
		res->first_ts = tot.first_ts;
		res->last_ts = tot.last_ts;
		res->files = lv.files;
		if (r < 0 || lv.writer_error) {
			if (!err[0])
				snprintf(err, errlen, "writing the profile: %s",
					 lv.errmsg[0] ? lv.errmsg : strerror(-(r < 0 ? r : lv.writer_error)));
			goto out;
		}
	}
	ret = err[0] ? -EIO : 0;
out:
	if (lv.es)
		mbx_evsink_abort(lv.es);
	for (unsigned i = 0; lv.w && i < lv.nw; i++) {
		mbx_cworker_destroy(lv.w[i].cw);
		mbx_ring_destroy(lv.w[i].ring);
		if (lv.w[i].q)
			be->close(lv.w[i].q);
	}
	free(lv.w);
	if (setup_done && be->teardown)
		be->teardown(cfg);
	res->wall_s = (double)(mono_ns() - t0) / 1e9;
	return ret;
}

/* Backends built into this binary (weak: the AF_XDP and DPDK backends live
 * in their own libraries, linked only when built). */
extern const struct mbx_live_backend mbx_backend_afxdp __attribute__((weak));
extern const struct mbx_live_backend mbx_backend_dpdk __attribute__((weak));

const struct mbx_live_backend *mbx_live_backend_find(const char *name)
{
	if (!strcmp(name, "pcap"))
		return &mbx_backend_pcap;
	if (!strcmp(name, "afxdp"))
		return &mbx_backend_afxdp ? &mbx_backend_afxdp : NULL;
	if (!strcmp(name, "dpdk"))
		return &mbx_backend_dpdk ? &mbx_backend_dpdk : NULL;
	return NULL;
}
