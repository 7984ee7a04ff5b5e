/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "cli.h"
#include "profile_open.h"

struct mbx_profile_reader *cli_profile_open(const char *cmd, const char *path)
{
	char err[512];
	struct mbx_profile_reader *r = mbx_profile_reader_open(path, err, sizeof(err));
	if (!r)
		fprintf(stderr, "mbx %s: %s: %s\n", cmd, path, err);
	return r;
}

int cli_profile_check_end(const char *cmd, const char *path, struct mbx_profile_reader *r,
			  int last_rc, bool strict)
{
	uint64_t ignored = 0;

	if (last_rc < 0) {
		fprintf(stderr, "mbx %s: %s: %s\n", cmd, path, mbx_profile_reader_error(r));
		fprintf(stderr, "mbx %s: the profile is corrupt; the output covers only the events before the damage\n",
			cmd);
		return EXIT_FAIL;
	}
	if (mbx_profile_reader_state(r, &ignored) == MBX_PROFILE_INCOMPLETE) {
		const struct mbx_profile_totals *t = mbx_profile_reader_totals(r);
		fprintf(stderr,
			"mbx %s: %s: %s is incomplete (no footer: the recorder did not finish, e.g. it was killed); "
			"read %" PRIu64 " events in %" PRIu64 " complete block%s, ignored %" PRIu64 " trailing bytes%s\n",
			cmd, strict ? "error" : "warning", path, t->events, t->blocks,
			t->blocks == 1 ? "" : "s", ignored, strict ? " (--strict)" : "");
		return strict ? EXIT_FAIL : EXIT_OK;
	}
	return EXIT_OK;
}
