/* SPDX-License-Identifier: Apache-2.0 */
/* mbx record: capture -> profile. */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "mbx/log.h"
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
	bool fsync;
	bool quiet;
	bool verbose;
};

static const struct record_opts record_defaults = {
	.max_flows = 65536,
	.flow_timeout = 300 * MBX_NSEC_PER_SEC,
	.ooo_segs = 32,
	.ooo_bytes = 256 * 1024,
	.ooo_memory = 64ULL << 20,
	.carry_bufs = 16384,
	.max_conns = 262144,
	.pair_window = 1u << 20,
	.pair_timeout = 10 * MBX_NSEC_PER_SEC,
	.skew = MBX_NSEC_PER_MSEC,
	.block_events = MBX_PROFILE_DEFAULT_BLOCK_EVENTS,
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
	  .min = 64 * 1024, .max = 1ULL << 36 },
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
	if (strcmp(in, "-") && stat(in, &si) == 0 && stat(out, &so) == 0 &&
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

static int record_run(void *opts, int npos, char **pos)
{
	struct record_opts *o = opts;
	struct mbx_record_cfg *cfg = calloc(1, sizeof(*cfg));
	struct mbx_record_result *res = calloc(1, sizeof(*res));
	char err[1024];
	int r, status = EXIT_FAIL;
	bool first = true;

	(void)npos;
	if (!cfg || !res)
		goto out;
	if (o->verbose)
		mbx_log_level = MBX_LOG_DEBUG;
	if (!o->output) {
		fprintf(stderr, "mbx record: --output FILE is required\nTry 'mbx record --help'.\n");
		status = EXIT_USAGE;
		goto out;
	}
	if (check_output(pos[0], o->output) < 0) {
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
	.args = "CAPTURE",
	.summary = "decode memcache traffic from a capture into a profile",
	.description =
		"Reads a pcap or pcapng file (or '-' for stdin), reassembles every TCP connection to\n"
		"the memcache ports, parses the text, meta and binary protocols, pairs each request\n"
		"with its response, and writes one 32-byte event per operation to the profile. Keys\n"
		"are replaced by a salted SipHash; no key or value byte is written.",
	.opts = record_options,
	.nopts = sizeof(record_options) / sizeof(record_options[0]),
	.opts_size = sizeof(struct record_opts),
	.defaults = &record_defaults,
	.min_pos = 1,
	.max_pos = 1,
	.run = record_run,
};
