/* SPDX-License-Identifier: Apache-2.0 */
/* Replay orchestration: targets, the pre-pass, prefill, threads, progress,
 * stop handling, the report. */
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "engine_int.h"
#include "mbx/log.h"
#include "mbx/profile.h"
#include "mbx_config.h"

static int g_stop_requests;

void mbx_replay_request_stop(void)
{
	/* async-signal-safe: a lock-free atomic add */
	__atomic_add_fetch(&g_stop_requests, 1, __ATOMIC_RELAXED);
}

void mbx_replay_cfg_defaults(struct mbx_replay_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	cfg->workers = ncpu > 1 ? (unsigned)MBX_MIN(ncpu, 8) : 1;
	for (unsigned i = 0; i < MBX_REPLAY_MAX_WORKERS; i++)
		cfg->lcores[i] = -1;
	cfg->connections = 0; /* as recorded, capped (see engine) */
	cfg->timing = MBX_TIMING_ORIGINAL;
	cfg->speed = 1.0;
	cfg->pipeline = 1;
	cfg->refill_at = UINT_MAX;
	cfg->protocol = -1;
	cfg->timeout_ns = MBX_NSEC_PER_SEC;
	cfg->loops = 1;
	cfg->max_error_rate = 0.01;
	cfg->progress_ns = MBX_NSEC_PER_SEC;
	cfg->ring_size = 65536;
}

int mbx_replay_target_parse(const char *s, struct mbx_target *t, char *err, size_t errlen)
{
	char host[256], port[16] = "11211";
	const char *colon;
	struct addrinfo hints = { 0 }, *res = NULL;

	memset(t, 0, sizeof(*t));
	if (!*s || strlen(s) >= sizeof(host)) {
		snprintf(err, errlen, "'%s' is not HOST:PORT", s);
		return -1;
	}
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || (end[1] && end[1] != ':')) {
			snprintf(err, errlen, "'%s' is not [IPv6]:PORT", s);
			return -1;
		}
		snprintf(host, sizeof(host), "%.*s", (int)(end - s - 1), s + 1);
		if (end[1] == ':')
			snprintf(port, sizeof(port), "%s", end + 2);
	} else if ((colon = strrchr(s, ':')) && colon == strchr(s, ':')) {
		snprintf(host, sizeof(host), "%.*s", (int)(colon - s), s);
		snprintf(port, sizeof(port), "%s", colon + 1);
	} else {
		snprintf(host, sizeof(host), "%s", s);
	}
	char *end;
	long p = strtol(port, &end, 10);
	if (!*port || *end || p < 1 || p > 65535) {
		snprintf(err, errlen, "'%s': bad port '%s'", s, port);
		return -1;
	}
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	int r = getaddrinfo(host, port, &hints, &res);
	if (r != 0 || !res) {
		snprintf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(r));
		return -1;
	}
	memcpy(&t->addr, res->ai_addr, res->ai_addrlen);
	t->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(t->name, sizeof(t->name), "%s", s);
	return 0;
}

/* One pass over the profile: what a run will do. */
struct scan {
	uint64_t events, requests, max_conn, first_ts, last_ts, capped_ns;
	uint64_t per_op[MBX_OP__COUNT];
	uint64_t unsendable;
	bool has_binary, has_textmeta; /* protocols sent */
	bool incomplete;
};

static int scan_profile(const struct mbx_replay_cfg *cfg, const char *path, struct scan *sc,
			char *err, size_t errlen)
{
	struct mbx_profile_reader *r = mbx_profile_reader_open(path, err, errlen);
	const struct mbx_event *ev;
	size_t n;
	int rc;
	uint64_t prev = 0;

	memset(sc, 0, sizeof(*sc));
	if (!r)
		return -1;
	while ((rc = mbx_profile_reader_next(r, &ev, &n)) == 1) {
		for (size_t i = 0; i < n; i++) {
			const struct mbx_event *x = &ev[i];
			if (sc->events == 0)
				sc->first_ts = x->ts_ns;
			else {
				uint64_t gap = x->ts_ns - prev;
				if (cfg->max_gap_ns && gap > cfg->max_gap_ns)
					gap = cfg->max_gap_ns;
				sc->capped_ns += gap;
			}
			prev = x->ts_ns;
			sc->last_ts = x->ts_ns;
			sc->events++;
			if (!(x->flags & MBX_EV_F_BATCH_CONT))
				sc->requests++;
			if (x->conn_id > sc->max_conn)
				sc->max_conn = x->conn_id;
			if (x->op < MBX_OP__COUNT)
				sc->per_op[x->op]++;
			uint8_t var = (uint8_t)mbx_ev_variant(x), q = (x->flags & MBX_EV_F_QUIET) ? 1 : 0;
			unsigned rp = mbx_ev_proto(x);
			unsigned to = cfg->protocol >= 0 ? (unsigned)cfg->protocol : rp;
			unsigned op = mbx_rreq_translate(x->op, rp, to, &var, &q);
			if (op == MBX_OP_NONE || mbx_rreq_skipped_op(op))
				sc->unsendable++;
			else if (to == MBX_PROTO_BINARY)
				sc->has_binary = true;
			else
				sc->has_textmeta = true;
		}
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: %s", path, mbx_profile_reader_error(r));
		mbx_profile_reader_close(r);
		return -1;
	}
	uint64_t ign;
	sc->incomplete = mbx_profile_reader_state(r, &ign) == MBX_PROFILE_INCOMPLETE;
	mbx_profile_reader_close(r);
	return 0;
}

static unsigned pool_total(const struct mbx_replay_cfg *cfg, const struct scan *sc)
{
	if (cfg->connections)
		return cfg->connections;
	uint64_t c = sc->max_conn ? sc->max_conn : 1;
	return (unsigned)MBX_MIN(c, 1024);
}

static double expected_s(const struct mbx_replay_cfg *cfg, const struct scan *sc)
{
	uint64_t loops = cfg->loops ? cfg->loops : 1;
	double one;
	switch (cfg->timing) {
	case MBX_TIMING_ORIGINAL: one = (double)sc->capped_ns / 1e9 / cfg->speed; break;
	case MBX_TIMING_RATE: one = (double)sc->events / cfg->rate; break;
	default: return -1;
	}
	double d = one * (double)loops;
	if (cfg->duration_ns && d > (double)cfg->duration_ns / 1e9)
		d = (double)cfg->duration_ns / 1e9;
	return d;
}

static const char *timing_name(const struct mbx_replay_cfg *cfg)
{
	return cfg->timing == MBX_TIMING_ORIGINAL ? "original" :
	       cfg->timing == MBX_TIMING_RATE	  ? "rate" :
							    "none";
}

int mbx_replay_dry_run(const struct mbx_replay_cfg *cfg, const char *profile, FILE *out,
		       char *err, size_t errlen)
{
	struct scan sc;
	if (scan_profile(cfg, profile, &sc, err, errlen) < 0)
		return 1;
	unsigned conns = pool_total(cfg, &sc);
	fprintf(out, "mbx replay (dry run): %s\n", profile);
	fprintf(out, "  profile     %llu events (%llu requests), %llu connections, %.3f s recorded%s\n",
		(unsigned long long)sc.events, (unsigned long long)sc.requests,
		(unsigned long long)sc.max_conn,
		sc.events ? (double)(sc.last_ts - sc.first_ts) / 1e9 : 0.0,
		sc.incomplete ? " (incomplete profile)" : "");
	fprintf(out, "  targets    ");
	for (unsigned t = 0; t < cfg->ntargets; t++)
		fprintf(out, " %s", cfg->targets[t].name);
	fprintf(out, "%s\n", cfg->ntargets > 1 ? "  (keys spread by jump consistent hash)" : "");
	fprintf(out, "  engine      %u workers, %u connections per target (%s)\n", MBX_MIN(cfg->workers, conns), conns,
		sc.max_conn > conns ? "recorded connections folded onto the pool" : "one per recorded connection");
	fprintf(out, "  timing      %s", timing_name(cfg));
	if (cfg->timing == MBX_TIMING_ORIGINAL)
		fprintf(out, ", speed x%g%s", cfg->speed, cfg->max_gap_ns ? ", idle gaps capped" : "");
	else if (cfg->timing == MBX_TIMING_RATE)
		fprintf(out, ", %g ops/s %s", cfg->rate,
			cfg->arrivals == MBX_ARRIVALS_POISSON ? "Poisson" : "uniform");
	else {
		fprintf(out, ", pipeline %u per connection", cfg->pipeline);
		if (cfg->refill_at < cfg->pipeline - 1) /* default UINT_MAX: as each reply comes */
			fprintf(out, ", refilled at %u", cfg->refill_at);
		if (cfg->batch_wait_ns)
			fprintf(out, ", replies read in batches (waits of %.0f us)",
				(double)cfg->batch_wait_ns / 1e3);
	}
	fprintf(out, ", loops %llu\n", (unsigned long long)cfg->loops);
	double d = expected_s(cfg, &sc);
	if (d >= 0)
		fprintf(out, "  duration    %.3f s expected\n", d);
	else
		fprintf(out, "  duration    as fast as the target answers%s\n",
			cfg->duration_ns ? " (bounded by --duration)" : "");
	fprintf(out, "  protocol    %s\n", cfg->protocol < 0 ? "as recorded" : mbx_proto_name((unsigned)cfg->protocol));
	fprintf(out, "  operations ");
	for (unsigned op = 0; op < MBX_OP__COUNT; op++)
		if (sc.per_op[op])
			fprintf(out, " %s=%llu", mbx_op_name(op), (unsigned long long)sc.per_op[op]);
	fprintf(out, "\n  not sent    %llu events (ops replay never sends, or with no equivalent in the protocol)\n",
		(unsigned long long)sc.unsendable);
	if (cfg->prefill)
		fprintf(out, "  prefill     keys first seen as a hit are stored before the run\n");
	return 0;
}

struct cfg_json_arg {
	const struct mbx_replay_cfg *cfg;
	const char *profile;
	unsigned conns;
};

static void config_json(struct mbx_json *j, void *arg)
{
	const struct cfg_json_arg *a = arg;
	const struct mbx_replay_cfg *c = a->cfg;
	mbx_json_key(j, "targets");
	mbx_json_begin_array(j);
	for (unsigned t = 0; t < c->ntargets; t++)
		mbx_json_str(j, c->targets[t].name);
	mbx_json_end_array(j);
	mbx_json_kv_str(j, "profile", a->profile);
	mbx_json_kv_uint(j, "workers", c->workers);
	mbx_json_kv_uint(j, "connections", a->conns);
	mbx_json_kv_str(j, "timing", timing_name(c));
	mbx_json_kv_double(j, "speed", c->speed);
	mbx_json_kv_uint(j, "max_gap_ns", c->max_gap_ns);
	mbx_json_kv_double(j, "rate", c->rate);
	mbx_json_kv_str(j, "arrivals", c->arrivals == MBX_ARRIVALS_POISSON ? "poisson" : "uniform");
	mbx_json_kv_uint(j, "pipeline", c->pipeline);
	mbx_json_kv_uint(j, "refill_at", MBX_MIN(c->refill_at, c->pipeline ? c->pipeline - 1 : 0));
	mbx_json_kv_uint(j, "batch_wait_ns", c->timing == MBX_TIMING_NONE ? c->batch_wait_ns : 0);
	mbx_json_kv_str(j, "protocol", c->protocol < 0 ? "recorded" : mbx_proto_name((unsigned)c->protocol));
	mbx_json_kv_str(j, "key_prefix", c->key_prefix);
	mbx_json_kv_uint(j, "timeout_ns", c->timeout_ns);
	mbx_json_kv_uint(j, "loops", c->loops);
	mbx_json_kv_uint(j, "duration_ns", c->duration_ns);
	mbx_json_kv_bool(j, "prefill", c->prefill);
}

static void sleep_ns(uint64_t ns)
{
	struct timespec ts = { (time_t)(ns / MBX_NSEC_PER_SEC), (long)(ns % MBX_NSEC_PER_SEC) };
	nanosleep(&ts, NULL);
}

int mbx_replay_run(const struct mbx_replay_cfg *cfg, const char *profile, FILE *out,
		   FILE *progress, char *err, size_t errlen)
{
	struct rp_engine e;
	struct scan sc;
	struct mbx_rstats *stats[MBX_REPLAY_MAX_WORKERS];
	struct mbx_rinterval_sum *iv = NULL;
	struct mbx_rseries *series = NULL;
	struct mbx_rtotals *tot = NULL;
	pthread_t reader;
	struct rp_reader_args ra = { .eng = &e, .profile = profile };
	bool reader_started = false;
	unsigned started = 0;
	int status = 1;
	bool interrupted = false;

	memset(&e, 0, sizeof(e));
	err[0] = 0;
	e.cfg = cfg;
	__atomic_store_n(&g_stop_requests, 0, __ATOMIC_RELAXED);
	if (cfg->workers == 0 || cfg->workers > MBX_REPLAY_MAX_WORKERS || cfg->ntargets == 0) {
		snprintf(err, errlen, "bad configuration (workers %u, targets %u)", cfg->workers, cfg->ntargets);
		return 1;
	}
	if (scan_profile(cfg, profile, &sc, err, errlen) < 0)
		return 1;
	if (mbx_keygen_init(&e.kg, cfg->key_prefix[0] ? cfg->key_prefix : NULL) < 0) {
		snprintf(err, errlen, "--key-prefix: only printable characters without spaces, at most %d",
			 MBX_KEY_PREFIX_MAX);
		return 1;
	}
	e.vb = mbx_valbuf_create(2u << 20);
	iv = calloc(1, sizeof(*iv));
	series = mbx_rseries_create(0);
	tot = mbx_rtotals_create();
	if (!e.vb || !iv || !series || !tot) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (cfg->prefill && rp_prefill(&e, profile, progress ? progress : stderr, err, errlen) < 0)
		goto out;

	unsigned conns = pool_total(cfg, &sc);
	/* no more workers than connections: a worker without a recorded
	 * connection would only hold an idle connection to every target */
	e.nworkers = MBX_MIN(cfg->workers, conns);
	e.nfam = (sc.has_binary && sc.has_textmeta) ? 2 : 1;
	e.workers = calloc(e.nworkers, sizeof(*e.workers));
	if (!e.workers) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (unsigned i = 0; i < e.nworkers; i++) {
		uint32_t npool = (conns + e.nworkers - 1 - i) / e.nworkers;
		if (npool == 0)
			npool = 1;
		if (rp_worker_init(&e, &e.workers[i], i, npool) < 0) {
			snprintf(err, errlen, "cannot set up worker %u: %s", i, strerror(ENOMEM));
			goto out;
		}
		stats[i] = e.workers[i].stats;
	}

	e.t_start = rp_now() + 100 * MBX_NSEC_PER_MSEC; /* time to connect */
	mbx_rinterval_sum_init(iv, e.t_start);
	uint64_t wall_start = (uint64_t)time(NULL) * MBX_NSEC_PER_SEC;
	for (; started < e.nworkers; started++)
		if (pthread_create(&e.workers[started].thread, NULL, rp_worker_main, &e.workers[started]) != 0) {
			snprintf(err, errlen, "cannot start worker threads");
			__atomic_store_n(&e.stop, 2, __ATOMIC_RELEASE);
			goto join;
		}
	if (pthread_create(&reader, NULL, rp_reader_main, &ra) != 0) {
		snprintf(err, errlen, "cannot start the reader thread");
		__atomic_store_n(&e.stop, 2, __ATOMIC_RELEASE);
		goto join;
	}
	reader_started = true;

	uint64_t next_progress = e.t_start + cfg->progress_ns;
	int seen_stops = 0;
	for (;;) {
		sleep_ns(10 * MBX_NSEC_PER_MSEC);
		uint64_t now = rp_now();
		int stops = __atomic_load_n(&g_stop_requests, __ATOMIC_RELAXED);
		if (stops != seen_stops) {
			seen_stops = stops;
			interrupted = true;
			__atomic_store_n(&e.stop, stops > 1 ? 2 : 1, __ATOMIC_RELEASE);
			if (progress)
				fprintf(progress, stops > 1 ? "mbx replay: aborting\n" :
				"mbx replay: stopping (waiting up to the timeout for replies; again to abort)\n");
		}
		if (cfg->duration_ns && now > e.t_start + cfg->duration_ns && !__atomic_load_n(&e.stop, __ATOMIC_ACQUIRE))
			__atomic_store_n(&e.stop, 1, __ATOMIC_RELEASE);
		bool all_done = true;
		for (unsigned i = 0; i < e.nworkers; i++) {
			const struct rp_worker *w = &e.workers[i];
			/* a worker's fields are read once it has finished (the
			 * release store of finished publishes them) */
			if (!__atomic_load_n(&w->finished, __ATOMIC_ACQUIRE)) {
				all_done = false;
				continue;
			}
			if (w->error && !err[0]) {
				if (w->error == -ENOTCONN)
					snprintf(err, errlen, "cannot reach the target%s (no connection for %llu s): %s: %s",
						 cfg->ntargets > 1 ? "s" : "",
						 (unsigned long long)(MBX_MAX(5 * MBX_NSEC_PER_SEC, 3 * cfg->timeout_ns) / MBX_NSEC_PER_SEC),
						 cfg->targets[w->connect_target].name,
						 strerror(w->connect_errno ? w->connect_errno : ECONNREFUSED));
				else
					snprintf(err, errlen, "worker %u failed: %s", i, strerror(-w->error));
				__atomic_store_n(&e.stop, 2, __ATOMIC_RELEASE);
			}
		}
		if (e.reader_failed && !err[0]) {
			snprintf(err, errlen, "%s", e.reader_err);
			__atomic_store_n(&e.stop, 2, __ATOMIC_RELEASE);
		}
		if (all_done)
			break;
		if (cfg->progress_ns && now >= next_progress) {
			next_progress += cfg->progress_ns;
			if (next_progress < now)
				next_progress = now + cfg->progress_ns;
			mbx_rstats_interval_collect(stats, e.nworkers, iv);
			mbx_rseries_add(series, iv);
			if (progress) {
				mbx_rreport_progress_line(progress, iv);
				fflush(progress);
			}
		}
	}
join:
	if (reader_started)
		pthread_join(reader, NULL);
	for (unsigned i = 0; i < started; i++)
		pthread_join(e.workers[i].thread, NULL);
	if (started == e.nworkers && e.nworkers) {
		mbx_rstats_interval_final(stats, e.nworkers, iv);
		mbx_rseries_add(series, iv);
		mbx_rseries_finish(series);
		for (unsigned i = 0; i < e.nworkers; i++)
			mbx_rtotals_add(tot, stats[i]);

		struct cfg_json_arg ca = { .cfg = cfg, .profile = profile, .conns = conns };
		struct mbx_rreport_info info = {
			.profile = profile,
			.target = cfg->targets[0].name,
			.closed_loop = cfg->timing == MBX_TIMING_NONE,
			/* --duration: the reader may have stopped scheduling and the
			 * workers finished before the main thread saw the time */
			.interrupted = interrupted || e.stop || e.reader_cut,
			.start_ns = e.t_start,
			.end_ns = rp_now(),
			.start_unix_ns = wall_start,
			.config_json = config_json,
			.config_arg = &ca,
		};
		mbx_rreport_text(out, tot, &info);
		if (cfg->json_path) {
			FILE *jf = strcmp(cfg->json_path, "-") ? fopen(cfg->json_path, "w") : stdout;
			if (!jf) {
				if (!err[0])
					snprintf(err, errlen, "cannot write %s: %s", cfg->json_path, strerror(errno));
			} else {
				if (mbx_rreport_json(jf, tot, series, &info, 0) < 0 && !err[0])
					snprintf(err, errlen, "writing %s failed", cfg->json_path);
				if (jf != stdout)
					fclose(jf);
			}
		}
		/* never connected at all: say so rather than count failures */
		bool ever_up = false;
		int cerr = 0;
		unsigned ctg = 0;
		for (unsigned i = 0; i < e.nworkers; i++) {
			ever_up |= e.workers[i].ever_up;
			if (e.workers[i].connect_errno) {
				cerr = e.workers[i].connect_errno;
				ctg = e.workers[i].connect_target;
			}
		}
		if (!err[0] && !ever_up && cerr)
			snprintf(err, errlen, "cannot connect to %s: %s (nothing was sent)",
				 cfg->targets[ctg].name, strerror(cerr));
		/* error rate over what was attempted: the events sent, and the
		 * events due that could not be sent (their connection was down;
		 * counted as aborted) */
		uint64_t sent = 0, failed = 0;
		for (unsigned i = 0; i < e.nworkers; i++)
			sent += e.workers[i].unsent_failed;
		for (unsigned p = 0; p < MBX_RSTATS_PROTOS; p++) {
			for (unsigned op = 0; op < MBX_OP__COUNT; op++) {
				const struct mbx_rrow *row = &tot->rows[p][op];
				sent += row->sent;
				failed += row->timeouts + row->aborted;
				for (unsigned r = 0; r < MBX_RSTATS_OUTS; r++)
					for (unsigned o = 0; o < MBX_OUT__COUNT; o++)
						if (mbx_outcome_is_error(o))
							failed += row->joint[r][o];
			}
		}
		if (!err[0] && sent && (double)failed / (double)sent > cfg->max_error_rate)
			snprintf(err, errlen,
				 "%llu of %llu events failed (%.2f%% > --max-errors %.2f%%): timeouts, lost connections or error replies",
				 (unsigned long long)failed, (unsigned long long)sent,
				 100.0 * (double)failed / (double)sent, 100.0 * cfg->max_error_rate);
		if (!err[0] && sent == 0 && sc.events > sc.unsendable && !interrupted)
			snprintf(err, errlen, "nothing was sent");
		status = err[0] ? 1 : 0;
	}
out:
	for (unsigned i = 0; e.workers && i < e.nworkers; i++)
		rp_worker_fini(&e.workers[i]);
	free(e.workers);
	mbx_valbuf_destroy(e.vb);
	mbx_rseries_destroy(series);
	mbx_rtotals_destroy(tot);
	free(iv);
	return status;
}
