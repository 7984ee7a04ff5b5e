/* SPDX-License-Identifier: Apache-2.0 */
/* Opening a profile for a subcommand, with the messages users see. */
#ifndef MBX_CLI_PROFILE_OPEN_H
#define MBX_CLI_PROFILE_OPEN_H

#include "mbx/profile.h"

/* Open path; on failure print "mbx CMD: ..." and return NULL. */
struct mbx_profile_reader *cli_profile_open(const char *cmd, const char *path);

/* After the events were read (next() returned 0 or -1): print a warning for
 * an incomplete profile, an error for a corrupt one. Returns the exit status
 * contribution: 0, or EXIT_FAIL for corruption (or incompleteness when
 * strict). */
int cli_profile_check_end(const char *cmd, const char *path, struct mbx_profile_reader *r,
			  int last_rc, bool strict);

#endif
