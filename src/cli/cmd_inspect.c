/* SPDX-License-Identifier: Apache-2.0 */
/* mbx inspect: print events, for debugging and pipes. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mbx/analyze.h"
#include "profile_open.h"

static const char *const formats[] = { "text", "csv", NULL };

struct inspect_opts {
	int format;
	uint64_t limit;
	uint64_t skip;
	uint64_t conn;
	const char *op;
	bool relative;
	bool no_header;
	bool strict;
};

static const struct inspect_opts inspect_defaults = { 0 };

#define O(f) CLI_OFF(struct inspect_opts, f)
static const struct cli_opt inspect_options[] = {
	{ "format", 'f', CLI_CHOICE, O(format), "FMT", "output format", .choices = formats },
	{ "relative", 'r', CLI_FLAG, O(relative), NULL, "times relative to the first event" },
	{ "limit", 'n', CLI_UINT, O(limit), "N", "print at most N events (0 = all)" },
	{ "skip", 0, CLI_UINT, O(skip), "N", "skip the first N matching events" },
	{ "conn", 'c', CLI_UINT, O(conn), "ID", "only this connection id (0 = all)", .max = UINT32_MAX },
	{ "op", 0, CLI_STRING, O(op), "NAME", "only this op (get, set, mg, getkq, ...)" },
	{ "no-header", 0, CLI_FLAG, O(no_header), NULL, "omit the header line" },
	{ "strict", 0, CLI_FLAG, O(strict), NULL, "fail (exit 1) on an incomplete profile" },
};
#undef O

static int inspect_run(void *opts, int npos, char **pos)
{
	struct inspect_opts *o = opts;
	const char *path = pos[0];
	struct mbx_inspect in;
	const struct mbx_event *ev;
	size_t n;
	int rc, status, op = -1;
	uint64_t seen = 0, printed = 0;
	bool done = false;

	(void)npos;
	if (o->op) {
		op = mbx_op_from_name(o->op, strlen(o->op));
		if (op == MBX_OP_NONE) {
			fprintf(stderr,
				"mbx inspect: --op: unknown op '%s' "
				"(names as printed by mbx inspect: get, set, mg, getkq, ...)\n",
				o->op);
			return EXIT_USAGE;
		}
	}
	struct mbx_profile_reader *r = cli_profile_open("inspect", path);
	if (!r)
		return EXIT_FAIL;
	mbx_inspect_init(&in, o->format == 1 ? MBX_INSPECT_CSV : MBX_INSPECT_TEXT, o->relative);
	if (!o->no_header)
		mbx_inspect_write_header(&in, stdout);
	while (!done && (rc = mbx_profile_reader_next(r, &ev, &n)) == 1) {
		for (size_t i = 0; i < n; i++) {
			if (o->relative && !in.have_t0) {
				in.have_t0 = true;
				in.t0_ns = ev[i].ts_ns;
			}
			if (o->conn && ev[i].conn_id != o->conn)
				continue;
			if (op >= 0 && ev[i].op != op)
				continue;
			if (seen++ < o->skip)
				continue;
			if (mbx_inspect_write_event(&in, stdout, &ev[i]) < 0) {
				/* e.g. a closed pipe: stop quietly */
				done = true;
				break;
			}
			if (o->limit && ++printed >= o->limit) {
				done = true;
				break;
			}
		}
	}
	if (done)
		rc = 0;
	fflush(stdout);
	status = done ? EXIT_OK : cli_profile_check_end("inspect", path, r, rc, o->strict);
	mbx_profile_reader_close(r);
	return status;
}

const struct cli_cmd cmd_inspect = {
	.name = "inspect",
	.args = "PROFILE",
	.summary = "print the events of a profile as text or CSV",
	.description = "One line per event: time, connection, protocol, op, key hash, key length, value\n"
		       "length, outcome, latency and flags. CSV columns are documented in docs/analyze.md.",
	.opts = inspect_options,
	.nopts = sizeof(inspect_options) / sizeof(inspect_options[0]),
	.opts_size = sizeof(struct inspect_opts),
	.defaults = &inspect_defaults,
	.min_pos = 1,
	.max_pos = 1,
	.run = inspect_run,
};
