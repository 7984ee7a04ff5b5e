/* SPDX-License-Identifier: Apache-2.0 */
/* mbx analyze: what the traffic was. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mbx/analyze.h"
#include "mbx/log.h"
#include "profile_open.h"

struct analyze_opts {
	const char *json;
	uint64_t top;
	uint64_t interval;
	uint64_t key_cap;
	uint64_t rows;
	bool pretty;
	bool no_text;
	bool strict;
};

static const struct analyze_opts analyze_defaults = {
	.top = 20,
	.interval = MBX_NSEC_PER_SEC,
	.key_cap = 6291456,
	.rows = 30,
};

#define O(f) CLI_OFF(struct analyze_opts, f)
static const struct cli_opt analyze_options[] = {
	{ "json", 'j', CLI_STRING, O(json), "FILE",
	  "write the analysis as JSON (schema mbx.analyze/1, docs/analyze.md); '-' = stdout" },
	{ "pretty", 0, CLI_FLAG, O(pretty), NULL, "indent the JSON" },
	{ "no-text", 0, CLI_FLAG, O(no_text), NULL, "do not print the text report" },
	{ "top", 't', CLI_UINT, O(top), "N", "top keys and connections to report", .min = 1,
	  .max = 100000 },
	{ "interval", 'i', CLI_DURATION, O(interval), "DUR",
	  "time-series interval (coarsened to at most 10000 points)", .min = 1000 },
	{ "rows", 0, CLI_UINT, O(rows), "N", "rows of the time series in the text report", .min = 1,
	  .max = 100000 },
	{ "key-cap", 0, CLI_UINT, O(key_cap), "N",
	  "distinct keys counted exactly (16 bytes each); beyond, estimates are used and marked",
	  .min = 1024, .max = 1ULL << 31 },
	{ "strict", 0, CLI_FLAG, O(strict), NULL,
	  "fail (exit 1) on an incomplete profile instead of warning" },
};
#undef O

static int analyze_run(void *opts, int npos, char **pos)
{
	struct analyze_opts *o = opts;
	const char *path = pos[0];
	struct mbx_analysis_opts ao = { 0 };
	struct mbx_analysis *a = NULL;
	struct mbx_profile_reader *r;
	const struct mbx_event *ev;
	size_t n;
	int rc, status;

	(void)npos;
	r = cli_profile_open("analyze", path);
	if (!r)
		return EXIT_FAIL;
	ao.top_keys = (uint32_t)o->top;
	ao.top_conns = (uint32_t)(o->top < 10 ? o->top : 10);
	ao.interval_ns = o->interval;
	ao.key_cap = (uint32_t)o->key_cap;
	ao.text_rows = (uint32_t)o->rows;
	a = mbx_analysis_new(&ao);
	if (!a) {
		fprintf(stderr, "mbx analyze: cannot allocate the analysis: %s\n", strerror(errno));
		mbx_profile_reader_close(r);
		return EXIT_FAIL;
	}
	while ((rc = mbx_profile_reader_next(r, &ev, &n)) == 1)
		mbx_analysis_add(a, ev, n);
	status = cli_profile_check_end("analyze", path, r, rc, o->strict);

	struct mbx_analysis_source src = { 0 };
	enum mbx_profile_state st = mbx_profile_reader_state(r, &src.ignored_bytes);
	src.path = path;
	src.meta = mbx_profile_reader_meta(r);
	src.totals = (rc == 0 && st == MBX_PROFILE_OK) ? mbx_profile_reader_totals(r) : NULL;
	src.counters = mbx_profile_reader_counters(r, &src.ncounters);
	src.state = st;
	src.error = rc < 0 ? mbx_profile_reader_error(r) : NULL;
	mbx_analysis_finish(a, &src);

	bool json_stdout = o->json && !strcmp(o->json, "-");
	if (!o->no_text && !json_stdout && mbx_analysis_write_text(a, stdout) < 0) {
		fprintf(stderr, "mbx analyze: writing the report failed\n");
		status = EXIT_FAIL;
	}
	if (o->json) {
		FILE *f = json_stdout ? stdout : fopen(o->json, "w");
		if (!f) {
			fprintf(stderr, "mbx analyze: cannot write %s: %s\n", o->json, strerror(errno));
			status = EXIT_FAIL;
		} else {
			if (mbx_analysis_write_json(a, f, o->pretty) < 0) {
				fprintf(stderr, "mbx analyze: writing %s failed\n", o->json);
				status = EXIT_FAIL;
			}
			if (f != stdout && fclose(f) != 0) {
				fprintf(stderr, "mbx analyze: writing %s: %s\n", o->json, strerror(errno));
				status = EXIT_FAIL;
			}
		}
	}
	mbx_analysis_destroy(a);
	mbx_profile_reader_close(r);
	return status;
}

const struct cli_cmd cmd_analyze = {
	.name = "analyze",
	.args = "PROFILE",
	.summary = "report what the recorded traffic was (text and JSON)",
	.description =
		"Streams the profile once, in constant memory apart from the key table, and reports:\n"
		"duration and rates; operations per op and protocol with hits, misses, errors and\n"
		"every outcome; hit ratios; key and value sizes; server latency percentiles per op;\n"
		"connections and operations per connection; hot keys (by hashed id); unique keys;\n"
		"multi-key requests; a time series; and the recorder's counters, losses first.",
	.opts = analyze_options,
	.nopts = sizeof(analyze_options) / sizeof(analyze_options[0]),
	.opts_size = sizeof(struct analyze_opts),
	.defaults = &analyze_defaults,
	.min_pos = 1,
	.max_pos = 1,
	.run = analyze_run,
};
