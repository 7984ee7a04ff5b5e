/* SPDX-License-Identifier: Apache-2.0 */
/* Subcommands of the mbx binary. */
#ifndef MBX_CLI_H
#define MBX_CLI_H

#include "opts.h"

extern const struct cli_cmd cmd_record;
extern const struct cli_cmd cmd_analyze;
extern const struct cli_cmd cmd_inspect;
extern const struct cli_cmd cmd_replay;

/* Exit statuses */
#define EXIT_OK 0
#define EXIT_FAIL 1  /* the command ran and failed (I/O, bad input data) */
#define EXIT_USAGE 2 /* bad command line */

#endif
