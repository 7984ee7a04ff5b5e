/* SPDX-License-Identifier: Apache-2.0 */
/* mbx record: capture -> profile. */
#include <errno.h>
#include <signal.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "mbx/log.h"
#include "mbx/live.h"
#include "mbx/record.h"

struct record_opts {
	const char *output;
	const char *salt;
	const char *salt_file;
	const char *summary_json;
	uint16_t ports[MBX_PROFILE_MAX_PORTS];
	int nports;
	uint64_t max_flows;
	uint64_t flow_timeout;
	uint64_t ooo_segs;
	uint64_t ooo_bytes;
	uint64_t ooo_memory;
	uint64_t carry_bufs;
	uint64_t max_conns;
	uint64_t pair_window;
	uint64_t pair_timeout;
	uint64_t skew;
	uint64_t block_events;
	/* live capture */
	const char *iface;
	const char *lcores;
	const char *rotate;
	const char *filter;
	const char *user;
	uint64_t queues;
	uint64_t first_queue;
	uint64_t duration;
	uint64_t max_events;
	uint64_t status;
	uint64_t buffer;
	uint64_t snaplen;
	uint64_t ring;
	int backend;
	int xdp_mode;
	bool zero_copy;
	bool fsync;
	bool quiet;
	bool verbose;
};

static const char *const backends[] = { "pcap", "afxdp", "dpdk", NULL };
static const char *const xdp_modes[] = { "auto", "skb", "drv", NULL };

static const struct record_opts record_defaults = {
	.max_flows = 65536,
	.flow_timeout = 300 * MBX_NSEC_PER_SEC,
	.ooo_segs = 32,
	.ooo_bytes = 256ULL * 1024,
	.ooo_memory = 64ULL << 20,
	.carry_bufs = 16384,
	.max_conns = 262144,
	.pair_window = 1u << 20,
	.pair_timeout = 10 * MBX_NSEC_PER_SEC,
	.skew = MBX_NSEC_PER_MSEC,
	.block_events = MBX_PROFILE_DEFAULT_BLOCK_EVENTS,
	.queues = 1,
	.status = MBX_NSEC_PER_SEC,
	.buffer = 64ULL << 20,
	.snaplen = 262144,
	.ring = 1u << 18,
};

static int opt_port(void *o, const char *arg, char *err, size_t errlen)
{
	struct record_opts *ro = o;
	const char *p = arg;
	size_t len = strlen(arg);
	if (!len || arg[len - 1] == ',') {
		snprintf(err, errlen, "'%s' is not a TCP port (1-65535) or a comma-separated list", arg);
		return -1;
	}
	while (*p) {
		uint64_t v = 0;
		const char *start = p;
		while (*p >= '0' && *p <= '9') {
			v = v * 10 + (uint64_t)(*p - '0');
			if (v > 65535)
				break;
			p++;
		}
		if (p == start || v == 0 || v > 65535 || (*p && *p != ',')) {
			snprintf(err, errlen, "'%s' is not a TCP port (1-65535) or a comma-separated list", arg);
			return -1;
		}
		if (ro->nports >= MBX_PROFILE_MAX_PORTS) {
			snprintf(err, errlen, "at most %d ports", MBX_PROFILE_MAX_PORTS);
			return -1;
		}
		ro->ports[ro->nports++] = (uint16_t)v;
		if (*p == ',')
			p++;
	}
	return 0;
}

#define O(f) CLI_OFF(struct record_opts, f)
static const struct cli_opt record_options[] = {
	{ "output", 'o', CLI_STRING, O(output), "FILE", "profile to write (required)" },
	{ "port", 'p', CLI_CALLBACK, 0, "PORT[,PORT]", "memcache server port; repeatable, up to 16",
	  .cb = opt_port, .defhelp = "11211" },
	{ "salt", 0, CLI_STRING, O(salt), "SECRET",
	  "key-hash salt: 32 hex digits, or any passphrase; use the same salt to compare recordings",
	  .defhelp = "random per recording" },
	{ "salt-file", 0, CLI_STRING, O(salt_file), "FILE", "read the salt from the first line of FILE" },
	{ "max-flows", 0, CLI_UINT, O(max_flows), "N", "connection directions tracked at once", .min = 16,
	  .max = 1u << 26 },
	{ "flow-timeout", 0, CLI_DURATION, O(flow_timeout), "DUR", "forget a direction idle this long",
	  .min = 1000000 },
	{ "ooo-segments", 0, CLI_UINT, O(ooo_segs), "N", "out-of-order segments held per direction",
	  .min = 1, .max = 4096 },
	{ "ooo-bytes", 0, CLI_SIZE, O(ooo_bytes), "SIZE", "out-of-order bytes held per direction",
	  .min = 1024, .max = 1ULL << 30 },
	{ "ooo-memory", 0, CLI_SIZE, O(ooo_memory), "SIZE", "out-of-order bytes held in total",
	  .min = 64ULL * 1024, .max = 1ULL << 36 },
	{ "carry-buffers", 0, CLI_UINT, O(carry_bufs), "N",
	  "4 KiB buffers for messages split across packets", .min = 16, .max = 1u << 24 },
	{ "max-conns", 0, CLI_UINT, O(max_conns), "N", "connections tracked by the pairing stage",
	  .min = 16, .max = 1u << 28 },
	{ "pair-window", 0, CLI_UINT, O(pair_window), "N",
	  "requests held while waiting for responses (memory: 48 bytes each)", .min = 64, .max = 1u << 30 },
	{ "pair-timeout", 0, CLI_DURATION, O(pair_timeout), "DUR",
	  "capture time a request may wait for its response", .min = 1000 },
	{ "direction-skew", 0, CLI_DURATION, O(skew), "DUR",
	  "how much earlier a reply may be timestamped than its request (directions captured on different ports or queues)",
	  .max = 100 * MBX_NSEC_PER_MSEC },
	{ "block-events", 0, CLI_UINT, O(block_events), "N", "events per profile block", .min = 1,
	  .max = MBX_PROFILE_MAX_BLOCK_EVENTS },
	{ "fsync", 0, CLI_FLAG, O(fsync), NULL, "fdatasync the profile after every block" },
	{ "summary-json", 0, CLI_STRING, O(summary_json), "FILE",
	  "also write the summary (all counters) as JSON ('-' = stdout)" },
	{ "iface", 'i', CLI_STRING, O(iface), "IFACE",
	  "capture live from this interface instead of a file (a SPAN/TAP port or the memcached host)" },
	{ "backend", 'b', CLI_CHOICE, O(backend), "NAME", "live capture backend", .choices = backends },
	{ "queues", 0, CLI_UINT, O(queues), "N", "live: capture workers, one queue each", .min = 1,
	  .max = MBX_LIVE_MAX_WORKERS },
	{ "lcores", 'l', CLI_STRING, O(lcores), "LIST",
	  "live: pin one worker per CPU in LIST (e.g. 2-5 or 1,3); sets --queues" },
	{ "first-queue", 0, CLI_UINT, O(first_queue), "N", "live (afxdp): NIC queue of the first worker",
	  .max = 4095 },
	{ "duration", 0, CLI_DURATION, O(duration), "DUR", "live: stop after this long",
	  .defhelp = "until SIGINT/SIGTERM" },
	{ "max-events", 0, CLI_UINT, O(max_events), "N", "live: stop after N events", .defhelp = "no limit" },
	{ "rotate", 0, CLI_STRING, O(rotate), "SIZE|DUR",
	  "live: start a new profile (OUT.0001.mbx, ...) past this size (e.g. 1G) or age (e.g. 10m)" },
	{ "status", 0, CLI_DURATION, O(status), "DUR", "live: status line interval on stderr (0 = none)" },
	{ "buffer-size", 0, CLI_SIZE, O(buffer), "SIZE",
	  "live: kernel buffer (pcap), UMEM (afxdp) or mbuf memory (dpdk) per queue",
	  .min = 1 << 20, .max = 1ULL << 34 },
	{ "snaplen", 0, CLI_UINT, O(snaplen), "BYTES", "live: bytes captured per packet", .min = 128,
	  .max = 262144 },
	{ "filter", 0, CLI_STRING, O(filter), "BPF", "live (pcap): extra filter ANDed with the ports" },
	{ "xdp-mode", 0, CLI_CHOICE, O(xdp_mode), "MODE", "live (afxdp): XDP attach mode",
	  .choices = xdp_modes },
	{ "zero-copy", 0, CLI_FLAG, O(zero_copy), NULL,
	  "live (afxdp): fail instead of falling back to copy mode" },
	{ "ring-size", 0, CLI_UINT, O(ring), "N", "live: messages per worker ring", .min = 1024,
	  .max = 1u << 26 },
	{ "user", 'u', CLI_STRING, O(user), "USER",
	  "live: drop to this user once the capture is open (least privilege)" },
	{ "quiet", 'q', CLI_FLAG, O(quiet), NULL, "no summary on stdout" },
	{ "verbose", 'v', CLI_FLAG, O(verbose), NULL, "more diagnostics on stderr" },
};
#undef O

/* Returns EXIT_OK, EXIT_USAGE (bad flags) or EXIT_FAIL (unreadable or empty salt file). */
static int load_salt(const struct record_opts *o, struct mbx_record_cfg *cfg)
{
	char line[512];
	const char *s = o->salt;

	if (o->salt && o->salt_file) {
		fprintf(stderr, "mbx record: use --salt or --salt-file, not both\n");
		return EXIT_USAGE;
	}
	if (o->salt_file) {
		FILE *f = fopen(o->salt_file, "r");
		if (!f) {
			fprintf(stderr, "mbx record: cannot read salt file %s: %s\n", o->salt_file,
				strerror(errno));
			return EXIT_FAIL;
		}
		if (!fgets(line, sizeof(line), f))
			line[0] = 0;
		int rerr = ferror(f) ? errno : 0;
		fclose(f);
		if (rerr) {
			fprintf(stderr, "mbx record: cannot read salt file %s: %s\n", o->salt_file,
				strerror(rerr));
			return EXIT_FAIL;
		}
		line[strcspn(line, "\r\n")] = 0;
		if (!line[0]) {
			fprintf(stderr, "mbx record: salt file %s: the first line is empty\n",
				o->salt_file);
			return EXIT_FAIL;
		}
		s = line;
	}
	if (s && mbx_salt_from_string(s, cfg->salt) < 0) {
		fprintf(stderr, "mbx record: --salt must not be empty\n");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* Refuse outputs that cannot be meant: stdout, an empty name, the capture itself
 * (opening the profile truncates it before a byte of the capture is read). */
static int check_output(const char *in, const char *out)
{
	struct stat si, so;

	if (!out[0]) {
		fprintf(stderr, "mbx record: --output must not be empty\n");
		return -1;
	}
	if (!strcmp(out, "-")) {
		fprintf(stderr, "mbx record: --output -: a profile cannot be written to stdout; "
				"give a file name (./- for a file named '-')\n");
		return -1;
	}
	if (strcmp(in, "-") != 0 && stat(in, &si) == 0 && stat(out, &so) == 0 &&
	    si.st_dev == so.st_dev && si.st_ino == so.st_ino) {
		fprintf(stderr, "mbx record: --output %s is the capture file itself; refusing to overwrite it\n",
			out);
		return -1;
	}
	return 0;
}

static void print_summary(FILE *f, const char *in, const char *out,
			  const struct mbx_record_result *res)
{
	const uint64_t *c = (const uint64_t *)(const void *)&res->ctr;
	char b1[32], b2[32];
	double pps = res->wall_s > 0 ? (double)res->ctr.pkts / res->wall_s : 0;
	uint64_t span = res->totals.last_ts > res->totals.first_ts ?
				res->totals.last_ts - res->totals.first_ts : 0;

	fprintf(f, "mbx record: %s -> %s\n", in, out);
	fprintf(f, "  packets   %" PRIu64 " (%s) in %.2f s, %s packets/s\n", res->ctr.pkts,
		cli_fmt_bytes(res->ctr.bytes, b1, sizeof(b1)), res->wall_s,
		cli_fmt_count((uint64_t)pps, b2, sizeof(b2)));
	fprintf(f, "  memcache  %" PRIu64 " TCP segments, %" PRIu64 " connections, %" PRIu64
		   " directions (%" PRIu64 " began mid-connection)\n",
		res->ctr.dec_tcp - res->ctr.dec_other_port, res->ctr.conns, res->ctr.flows_created,
		res->ctr.flows_midstream);
	fprintf(f, "  events    %" PRIu64 " over %.3f s (requests parsed %" PRIu64
		   ", response units %" PRIu64 ")\n",
		res->totals.events, (double)span / 1e9, res->ctr.req_msgs, res->ctr.rsp_msgs);
	fprintf(f, "  skipped   %" PRIu64 " not IP, %" PRIu64 " not TCP, %" PRIu64
		   " other ports, %" PRIu64 " retransmitted segments\n",
		res->ctr.dec_not_ip, res->ctr.dec_not_tcp, res->ctr.dec_other_port,
		res->ctr.seg_retrans);
	int any = 0;
	/* losses: traffic not seen, or not turned into an exact event (counters.h kind LOSS) */
	for (unsigned i = 0; i < MBX_CTR__COUNT; i++) {
		if (!c[i] || !mbx_counter_is_loss(i))
			continue;
		if (!any++)
			fprintf(f, "  losses and anomalies:\n");
		fprintf(f, "    %-16s %12" PRIu64 "  %s\n", mbx_counter_name(i), c[i],
			mbx_counter_desc(i));
	}
	if (!any)
		fprintf(f, "  losses    none: every request and response was decoded and paired\n");
}

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20 || ch >= 0x7f)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static int write_summary_json(const char *path, const char *in, const char *out,
			      const struct mbx_record_result *res)
{
	FILE *f = strcmp(path, "-") ? fopen(path, "w") : stdout;
	const uint64_t *c = (const uint64_t *)(const void *)&res->ctr;
	if (!f) {
		fprintf(stderr, "mbx record: cannot write %s: %s\n", path, strerror(errno));
		return -1;
	}
	fprintf(f, "{\"schema\":\"mbx.record/1\",\"input\":");
	json_str(f, in);
	fprintf(f, ",\"output\":");
	json_str(f, out);
	fprintf(f, ",\"wall_s\":%.6f,\"linktype\":%d,\"events\":%" PRIu64 ",\"first_ts\":%" PRIu64
		   ",\"last_ts\":%" PRIu64 ",\"counters\":{",
		res->wall_s, res->linktype, res->totals.events, res->totals.first_ts,
		res->totals.last_ts);
	for (unsigned i = 0; i < MBX_CTR__COUNT; i++)
		fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", mbx_counter_name(i), c[i]);
	fprintf(f, "}}\n");
	if (f != stdout)
		fclose(f);
	else
		fflush(f);
	return 0;
}

static void on_stop_signal(int sig)
{
	(void)sig;
	mbx_live_request_stop();
}

static int record_live(struct record_opts *o, const struct mbx_record_cfg *rcfg, int npos, char **pos)
{
	struct mbx_live_cfg *cfg = calloc(1, sizeof(*cfg));
	struct mbx_live_result *res = calloc(1, sizeof(*res));
	struct mbx_record_result *sum = calloc(1, sizeof(*sum));
	char err[4400];
	int status = EXIT_FAIL;

	if (!cfg || !res || !sum)
		goto out;
	mbx_live_cfg_defaults(cfg);
	uint64_t hold = cfg->rec.merge_hold_ns;
	cfg->rec = *rcfg;
	cfg->rec.merge_hold_ns = hold;
	cfg->backend = mbx_live_backend_find(backends[o->backend]);
	if (!cfg->backend) {
		fprintf(stderr, "mbx record: backend '%s' is not built into this mbx (see 'meson configure': -D%s=enabled)\n",
			backends[o->backend], backends[o->backend]);
		status = EXIT_USAGE;
		goto out;
	}
	if (strlen(o->iface) >= sizeof(cfg->iface)) {
		fprintf(stderr, "mbx record: interface name too long\n");
		status = EXIT_USAGE;
		goto out;
	}
	snprintf(cfg->iface, sizeof(cfg->iface), "%s", o->iface);
	cfg->nqueues = (unsigned)o->queues;
	if (o->lcores) {
		unsigned n;
		char e2[160];
		if (cli_parse_cpu_list(o->lcores, cfg->lcores, MBX_LIVE_MAX_WORKERS, &n, e2,
				       sizeof(e2)) < 0) {
			fprintf(stderr, "mbx record: --lcores: %s\n", e2);
			status = EXIT_USAGE;
			goto out;
		}
		cfg->nqueues = n;
	}
	cfg->first_queue = (unsigned)o->first_queue;
	cfg->duration_ns = o->duration;
	cfg->max_events = o->max_events;
	cfg->status_ns = o->quiet ? 0 : o->status;
	cfg->buffer_bytes = o->buffer;
	cfg->snaplen = (uint32_t)o->snaplen;
	cfg->ring_size = (uint32_t)o->ring;
	cfg->bpf_extra = o->filter;
	cfg->xdp_mode = o->xdp_mode;
	cfg->zero_copy_required = o->zero_copy;
	cfg->user = o->user;
	if (o->rotate) {
		char e2[160];
		uint64_t v;
		size_t rl = strlen(o->rotate);
		bool is_time = rl && strchr("smhd", o->rotate[rl - 1]) && !(rl >= 2 && !strcmp(o->rotate + rl - 2, "MB"));
		if (is_time ? cli_parse_duration(o->rotate, &v, e2, sizeof(e2)) :
			      cli_parse_size(o->rotate, &v, e2, sizeof(e2))) {
			fprintf(stderr, "mbx record: --rotate: %s\n", e2);
			status = EXIT_USAGE;
			goto out;
		}
		if (is_time)
			cfg->rotate_ns = v;
		else
			cfg->rotate_bytes = v;
		if (!v) {
			fprintf(stderr, "mbx record: --rotate must be positive\n");
			status = EXIT_USAGE;
			goto out;
		}
	}
	/* EAL arguments after "--" */
	for (int i = 0; i < npos; i++) {
		if (!strcmp(pos[i], "--")) {
			cfg->eal_argv = (const char *const *)(pos + i + 1);
			cfg->eal_argc = npos - i - 1;
			break;
		}
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int r = mbx_live_run(cfg, o->output, cfg->status_ns ? stderr : NULL, res, err, sizeof(err));
	if (r < 0 && res->ctr.pkts == 0 && res->files == 0) {
		fprintf(stderr, "mbx record: %s\n", err);
		goto out;
	}
	sum->ctr = res->ctr;
	sum->totals.events = res->events;
	sum->totals.first_ts = res->first_ts;
	sum->totals.last_ts = res->last_ts;
	sum->wall_s = res->wall_s;
	sum->linktype = cfg->linktype;
	if (!o->quiet) {
		char in[128];
		snprintf(in, sizeof(in), "%s:%s (%u queue%s)", backends[o->backend], o->iface, cfg->nqueues,
			 cfg->nqueues > 1 ? "s" : "");
		print_summary(stdout, in, o->output, sum);
		if (res->files > 1)
			printf("  files     %llu profiles (rotation)\n", (unsigned long long)res->files);
	}
	if (o->summary_json && write_summary_json(o->summary_json, o->iface, o->output, sum) < 0)
		goto out;
	if (r < 0) {
		fprintf(stderr, "mbx record: %s\n", err);
		goto out;
	}
	status = EXIT_OK;
out:
	free(cfg);
	free(res);
	free(sum);
	return status;
}

static int record_run(void *opts, int npos, char **pos)
{
	struct record_opts *o = opts;
	struct mbx_record_cfg *cfg = calloc(1, sizeof(*cfg));
	struct mbx_record_result *res = calloc(1, sizeof(*res));
	char err[1024];
	int r, status = EXIT_FAIL;
	bool first = true;

	if (!cfg || !res)
		goto out;
	if (o->verbose)
		mbx_log_level = MBX_LOG_DEBUG;
	if (!o->output) {
		fprintf(stderr, "mbx record: --output FILE is required\nTry 'mbx record --help'.\n");
		status = EXIT_USAGE;
		goto out;
	}
	int nsrc = 0;
	while (nsrc < npos && strcmp(pos[nsrc], "--") != 0)
		nsrc++;
	if ((o->iface && nsrc > 0) || (!o->iface && nsrc != 1)) {
		fprintf(stderr, "mbx record: give a CAPTURE file or --iface IFACE (one of them)\n"
				"Try 'mbx record --help'.\n");
		status = EXIT_USAGE;
		goto out;
	}
	if (!o->iface && npos > nsrc) {
		fprintf(stderr, "mbx record: arguments after '--' are for live capture with --backend dpdk\n");
		status = EXIT_USAGE;
		goto out;
	}
	if (!o->iface && check_output(pos[0], o->output) < 0) {
		status = EXIT_USAGE;
		goto out;
	}
	r = mbx_record_cfg_defaults(cfg);
	if (r < 0) {
		fprintf(stderr, "mbx record: cannot get random bytes for the salt: %s\n", strerror(-r));
		goto out;
	}
	for (int i = 0; i < o->nports; i++)
		mbx_record_cfg_add_port(cfg, o->ports[i], &first);
	status = load_salt(o, cfg);
	if (status != EXIT_OK)
		goto out;
	status = EXIT_FAIL;
	cfg->max_flows = (uint32_t)o->max_flows;
	cfg->idle_timeout_ns = o->flow_timeout;
	cfg->ooo_max_segs = (uint32_t)o->ooo_segs;
	cfg->ooo_max_bytes = (uint32_t)o->ooo_bytes;
	cfg->ooo_total_bytes = o->ooo_memory;
	cfg->carry_bufs = (uint32_t)o->carry_bufs;
	cfg->max_conns = (uint32_t)o->max_conns;
	cfg->pair_window = (uint32_t)o->pair_window;
	cfg->pair_timeout_ns = o->pair_timeout;
	cfg->rsp_skew_ns = o->skew;
	cfg->block_events = (uint32_t)o->block_events;
	cfg->fsync_blocks = o->fsync;

	if (o->iface) {
		status = record_live(o, cfg, npos, pos);
		goto out;
	}
	r = mbx_record_file(cfg, pos[0], o->output, res, err, sizeof(err));
	/* No summary when nothing was recorded: the capture could not be opened, or
	 * the profile not created (-EIO before any packet or source error). A read
	 * error (src_errors) still completes a profile with what was read. */
	if (r < 0 && res->ctr.pkts == 0 && res->ctr.src_errors == 0 && res->totals.events == 0) {
		fprintf(stderr, "mbx record: %s\n", err);
		goto out;
	}
	if (!o->quiet)
		print_summary(stdout, pos[0], o->output, res);
	if (o->summary_json && write_summary_json(o->summary_json, pos[0], o->output, res) < 0)
		goto out;
	if (r < 0) {
		fprintf(stderr, "mbx record: %s\n", err);
		goto out;
	}
	status = EXIT_OK;
out:
	free(cfg);
	free(res);
	return status;
}

const struct cli_cmd cmd_record = {
	.name = "record",
	.args = "CAPTURE | --iface IFACE [-- EAL-ARGS]",
	.summary = "decode memcache traffic from a capture into a profile",
	.description =
		"Reads a pcap or pcapng file (or '-' for stdin), reassembles every TCP connection to\n"
		"the memcache ports, parses the text, meta and binary protocols, pairs each request\n"
		"with its response, and writes one 32-byte event per operation to the profile. Keys\n"
		"are replaced by a salted SipHash; no key or value byte is written.\n"
		"\n"
		"With --iface, captures live instead: one worker per queue (--queues/--lcores) with\n"
		"the libpcap, AF_XDP or DPDK backend, until --duration, --max-events or SIGINT/SIGTERM,\n"
		"which close the profile cleanly. docs/usage.md and docs/deployment.md explain each.",
	.opts = record_options,
	.nopts = sizeof(record_options) / sizeof(record_options[0]),
	.opts_size = sizeof(struct record_opts),
	.defaults = &record_defaults,
	.min_pos = 0,
	.max_pos = -1,
	.passthrough = 1,
	.run = record_run,
};
