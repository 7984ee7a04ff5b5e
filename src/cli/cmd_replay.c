/* SPDX-License-Identifier: Apache-2.0 */
/* mbx replay: drive memcached targets with a recorded profile. */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mbx/log.h"
#include "mbx/replay.h"

static const char *const timings[] = { "original", "rate", "none", NULL };
static const char *const arrivals[] = { "uniform", "poisson", NULL };
static const char *const protocols[] = { "text", "meta", "binary", "recorded", NULL };

struct replay_opts {
	struct mbx_replay_cfg cfg;
	const char *lcores;
	const char *loop;
	const char *key_prefix;
	const char *json;
	uint64_t workers;
	uint64_t connections;
	uint64_t pipeline;
	uint64_t refill_at;
	uint64_t batch_wait;
	uint64_t max_gap;
	uint64_t timeout;
	uint64_t duration;
	uint64_t progress;
	uint64_t seed;
	uint64_t ring;
	double speed;
	double rate;
	double max_errors;
	int timing;
	int arrivals;
	int protocol;
	bool timing_given;
	bool prefill;
	bool dry_run;
	bool quiet;
	bool verbose;
};

static struct replay_opts replay_defaults;

static int opt_target(void *o, const char *arg, char *err, size_t errlen)
{
	struct replay_opts *ro = o;
	if (ro->cfg.ntargets >= MBX_REPLAY_MAX_TARGETS) {
		snprintf(err, errlen, "at most %d targets", MBX_REPLAY_MAX_TARGETS);
		return -1;
	}
	if (mbx_replay_target_parse(arg, &ro->cfg.targets[ro->cfg.ntargets], err, errlen) < 0)
		return -1;
	ro->cfg.ntargets++;
	return 0;
}

static int opt_timing(void *o, const char *arg, char *err, size_t errlen)
{
	struct replay_opts *ro = o;
	for (int i = 0; timings[i]; i++) {
		if (!strcmp(arg, timings[i])) {
			ro->timing = i;
			ro->timing_given = true;
			return 0;
		}
	}
	snprintf(err, errlen, "'%s' is not one of: original rate none", arg);
	return -1;
}

#define O(f) CLI_OFF(struct replay_opts, f)
static const struct cli_opt replay_options[] = {
	{ "target", 't', CLI_CALLBACK, 0, "HOST:PORT",
	  "memcached to drive (required); repeatable: keys are spread by jump consistent hash",
	  .cb = opt_target },
	{ "timing", 0, CLI_CALLBACK, 0, "MODE",
	  "original (recorded offsets / --speed), rate (open loop, see --rate), none (closed loop)",
	  .cb = opt_timing, .defhelp = "original, or rate with --rate" },
	{ "speed", 's', CLI_DOUBLE, O(speed), "X", "original timing: replay X times faster",
	  .min = 0, .max = 1000000 },
	{ "max-gap", 0, CLI_DURATION, O(max_gap), "DUR",
	  "original timing: cut idle gaps longer than this", .defhelp = "keep" },
	{ "rate", 'r', CLI_DOUBLE, O(rate), "OPS", "open loop at OPS operations per second (sets --timing rate)",
	  .max = 100000000 },
	{ "arrivals", 0, CLI_CHOICE, O(arrivals), "KIND", "rate timing: spacing of sends",
	  .choices = arrivals },
	{ "seed", 0, CLI_UINT, O(seed), "N", "seed for Poisson arrivals" },
	{ "pipeline", 'd', CLI_UINT, O(pipeline), "D",
	  "closed loop: requests outstanding per connection", .min = 1, .max = 4096 },
	{ "refill-at", 0, CLI_UINT, O(refill_at), "N",
	  "closed loop: a connection with D outstanding sends again once N or fewer remain, "
	  "a batch per write", .max = 4095, .defhelp = "D-1: as each reply comes" },
	{ "batch-wait", 0, CLI_DURATION, O(batch_wait), "DUR",
	  "closed loop: when every connection waits for replies, wait DUR before reading them "
	  "(fewer wake-ups and reads per operation; adds up to DUR to latencies)",
	  .max = 10 * MBX_NSEC_PER_MSEC, .defhelp = "0: read replies as they come" },
	{ "workers", 'w', CLI_UINT, O(workers), "N", "worker threads", .min = 1,
	  .max = MBX_REPLAY_MAX_WORKERS, .defhelp = "CPUs, at most 8" },
	{ "lcores", 'l', CLI_STRING, O(lcores), "LIST",
	  "pin workers to these CPUs (e.g. 2-5 or 1,3); sets --workers" },
	{ "connections", 'c', CLI_UINT, O(connections), "N",
	  "connections per target; recorded connections beyond are folded",
	  .min = 1, .max = 65536, .defhelp = "one per recorded connection, at most 1024" },
	{ "protocol", 'P', CLI_CHOICE, O(protocol), "PROTO", "send in this protocol",
	  .choices = protocols },
	{ "key-prefix", 0, CLI_STRING, O(key_prefix), "STR", "namespace every key of the run" },
	{ "timeout", 0, CLI_DURATION, O(timeout), "DUR",
	  "a request without a reply for this long is a timeout (the connection is reopened)",
	  .min = MBX_NSEC_PER_MSEC },
	{ "loop", 0, CLI_STRING, O(loop), "N|inf", "replay the profile N times", .defhelp = "1" },
	{ "duration", 0, CLI_DURATION, O(duration), "DUR", "stop after this long",
	  .defhelp = "end of the profile" },
	{ "prefill", 0, CLI_FLAG, O(prefill), NULL,
	  "first store every key the recording saw hit before it was written" },
	{ "dry-run", 'n', CLI_FLAG, O(dry_run), NULL, "print what the run would do and exit" },
	{ "json", 'j', CLI_STRING, O(json), "FILE",
	  "write the report as JSON (schema mbx.replay/1, docs/replay.md); '-' = stdout" },
	{ "max-errors", 0, CLI_DOUBLE, O(max_errors), "FRACTION",
	  "exit 1 when more than this fraction of requests failed", .max = 1 },
	{ "progress", 0, CLI_DURATION, O(progress), "DUR", "progress line interval on stderr (0 = none)" },
	{ "ring-size", 0, CLI_UINT, O(ring), "N", "events queued per worker", .min = 64,
	  .max = 1u << 24 },
	{ "quiet", 'q', CLI_FLAG, O(quiet), NULL, "no progress lines" },
	{ "verbose", 'v', CLI_FLAG, O(verbose), NULL, "more diagnostics on stderr" },
};
#undef O

static int parse_lcores(const char *s, struct mbx_replay_cfg *cfg, char *err, size_t errlen)
{
	unsigned n;
	char e2[160];

	if (cli_parse_cpu_list(s, cfg->lcores, MBX_REPLAY_MAX_WORKERS, &n, e2, sizeof(e2)) < 0) {
		snprintf(err, errlen, "--lcores: %s", e2);
		return -1;
	}
	cfg->workers = n;
	return 0;
}

static void on_signal(int sig)
{
	(void)sig;
	mbx_replay_request_stop();
}

static int replay_run(void *opts, int npos, char **pos)
{
	struct replay_opts *o = opts;
	struct mbx_replay_cfg *cfg = &o->cfg;
	char err[1024];

	(void)npos;
	if (o->verbose)
		mbx_log_level = MBX_LOG_DEBUG;
	if (cfg->ntargets == 0) {
		fprintf(stderr, "mbx replay: --target HOST:PORT is required\nTry 'mbx replay --help'.\n");
		return EXIT_USAGE;
	}
	cfg->workers = (unsigned)o->workers;
	if (o->lcores && parse_lcores(o->lcores, cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "mbx replay: %s\n", err);
		return EXIT_USAGE;
	}
	cfg->connections = (unsigned)o->connections;
	cfg->timing = o->rate > 0 && !o->timing_given ? MBX_TIMING_RATE : (enum mbx_timing)o->timing;
	if (cfg->timing == MBX_TIMING_RATE && o->rate <= 0) {
		fprintf(stderr, "mbx replay: --timing rate needs --rate OPS\n");
		return EXIT_USAGE;
	}
	if (o->speed <= 0) {
		fprintf(stderr, "mbx replay: --speed must be positive\n");
		return EXIT_USAGE;
	}
	cfg->speed = o->speed;
	cfg->max_gap_ns = o->max_gap;
	cfg->rate = o->rate;
	cfg->arrivals = (enum mbx_arrivals)o->arrivals;
	cfg->seed = o->seed;
	cfg->pipeline = (unsigned)o->pipeline;
	if (o->refill_at != UINT64_MAX) {
		if (o->refill_at >= o->pipeline) {
			fprintf(stderr, "mbx replay: --refill-at must be below --pipeline (%llu)\n",
				(unsigned long long)o->pipeline);
			return EXIT_USAGE;
		}
		cfg->refill_at = (unsigned)o->refill_at;
	}
	cfg->batch_wait_ns = o->batch_wait;
	cfg->protocol = o->protocol == 3 ? -1 : o->protocol;
	if (o->key_prefix) {
		if (strlen(o->key_prefix) > 64) {
			fprintf(stderr, "mbx replay: --key-prefix is at most 64 characters\n");
			return EXIT_USAGE;
		}
		snprintf(cfg->key_prefix, sizeof(cfg->key_prefix), "%s", o->key_prefix);
	}
	cfg->timeout_ns = o->timeout;
	if (o->loop) {
		if (!strcmp(o->loop, "inf") || !strcmp(o->loop, "infinite")) {
			cfg->loops = 0;
		} else {
			uint64_t v;
			if (cli_parse_uint(o->loop, &v, err, sizeof(err)) < 0 || v == 0) {
				fprintf(stderr, "mbx replay: --loop: a positive count or 'inf'\n");
				return EXIT_USAGE;
			}
			cfg->loops = v;
		}
	}
	if (cfg->loops == 0 && !o->duration && !o->dry_run)
		pr_warn("--loop inf without --duration runs until interrupted (Ctrl-C prints the report)");
	cfg->duration_ns = o->duration;
	cfg->prefill = o->prefill;
	cfg->json_path = o->json;
	cfg->max_error_rate = o->max_errors;
	cfg->progress_ns = o->quiet ? 0 : o->progress;
	cfg->ring_size = (uint32_t)o->ring;

	if (o->dry_run) {
		if (mbx_replay_dry_run(cfg, pos[0], stdout, err, sizeof(err)) != 0) {
			fprintf(stderr, "mbx replay: %s\n", err);
			return EXIT_FAIL;
		}
		return EXIT_OK;
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* with --json -, stdout carries only the JSON: the table goes to stderr */
	FILE *table = (o->json && !strcmp(o->json, "-")) ? stderr : stdout;
	int r = mbx_replay_run(cfg, pos[0], table, cfg->progress_ns ? stderr : NULL, err, sizeof(err));
	fflush(stdout);
	if (r != 0) {
		fprintf(stderr, "mbx replay: %s\n", err[0] ? err : "failed");
		return EXIT_FAIL;
	}
	return EXIT_OK;
}

static void __attribute__((constructor)) replay_defaults_init(void)
{
	mbx_replay_cfg_defaults(&replay_defaults.cfg);
	replay_defaults.workers = replay_defaults.cfg.workers;
	replay_defaults.pipeline = replay_defaults.cfg.pipeline;
	replay_defaults.refill_at = UINT64_MAX;
	replay_defaults.timeout = replay_defaults.cfg.timeout_ns;
	replay_defaults.progress = replay_defaults.cfg.progress_ns;
	replay_defaults.ring = replay_defaults.cfg.ring_size;
	replay_defaults.speed = 1.0;
	replay_defaults.max_errors = replay_defaults.cfg.max_error_rate;
	replay_defaults.protocol = 3;
	replay_defaults.timing = MBX_TIMING_ORIGINAL;
	replay_defaults.arrivals = MBX_ARRIVALS_UNIFORM;
}

const struct cli_cmd cmd_replay = {
	.name = "replay",
	.args = "PROFILE",
	.summary = "drive memcached with a recorded profile, faithfully or at line rate",
	.description =
		"Replays every operation of the profile against the targets: with the recorded\n"
		"timing (optionally faster), at a fixed open-loop rate, or as fast as the target\n"
		"answers. Each recorded connection keeps its order on its own pool connection.\n"
		"Keys are derived from the recorded key hashes (same key every run), values have\n"
		"the recorded sizes. Latency is measured from the intended send time in timed\n"
		"modes, so a slow target cannot hide queueing (no coordinated omission).\n"
		"Ctrl-C stops cleanly and still prints and writes the report.",
	.opts = replay_options,
	.nopts = sizeof(replay_options) / sizeof(replay_options[0]),
	.opts_size = sizeof(struct replay_opts),
	.defaults = &replay_defaults,
	.min_pos = 1,
	.max_pos = 1,
	.run = replay_run,
};
