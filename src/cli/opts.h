/* SPDX-License-Identifier: Apache-2.0 */
/* Table-driven command-line options: each subcommand declares its options
 * once (name, type, offset into its options struct, help); parsing, default
 * display and --help all come from that table. */
#ifndef MBX_CLI_OPTS_H
#define MBX_CLI_OPTS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum cli_type {
	CLI_FLAG,     /* bool, no argument */
	CLI_STRING,   /* const char * */
	CLI_UINT,     /* uint64_t, decimal, within [min, max] */
	CLI_SIZE,     /* uint64_t bytes: 4096, 64k, 16M, 1G (powers of 1024) */
	CLI_DURATION, /* uint64_t ns: 10s, 250ms, 100us, 5m, 1h; a bare number is seconds */
	CLI_DOUBLE,   /* double */
	CLI_CHOICE,   /* int index into choices[] */
	CLI_CALLBACK, /* cb(opts, arg) for repeatable or structured options */
};

struct cli_opt {
	const char *name;   /* long name, without "--" */
	char shortname;     /* 0 if none */
	enum cli_type type;
	size_t off;         /* offset of the field in the command's options struct */
	const char *metavar;
	const char *help;
	const char *const *choices; /* CLI_CHOICE: NULL-terminated */
	uint64_t min, max;  /* CLI_UINT/CLI_SIZE/CLI_DURATION bounds (max 0 = none) */
	int (*cb)(void *opts, const char *arg, char *err, size_t errlen);
	const char *defhelp; /* default shown in help when it is not the field's value */
};

struct cli_cmd {
	const char *name;
	const char *args;        /* positional arguments in usage, e.g. "CAPTURE" */
	const char *summary;     /* one line */
	const char *description; /* paragraph(s) printed by --help */
	const struct cli_opt *opts;
	size_t nopts;
	size_t opts_size;
	const void *defaults;
	int min_pos, max_pos;    /* positional argument count bounds (max -1 = any) */
	/* Runs the command; returns the process exit status. */
	int (*run)(void *opts, int npos, char **pos);
	int passthrough;         /* arguments after "--" are kept as positionals */
};

#define CLI_OFF(type, field) offsetof(type, field)

/* Parse argv (argv[0] = command name). On success returns 0 and sets
 * npos and pos to the positional arguments (pointers into argv). On error
 * writes a message and returns -1. --help is reported as 1. */
int cli_parse(const struct cli_cmd *cmd, int argc, char **argv, void *opts, int *npos,
	      char ***pos, char *err, size_t errlen);

void cli_help(const struct cli_cmd *cmd, FILE *f);

/* Value parsers, shared with callbacks. 0 or -1 with a message in err. */
int cli_parse_uint(const char *s, uint64_t *v, char *err, size_t errlen);
int cli_parse_size(const char *s, uint64_t *v, char *err, size_t errlen);
int cli_parse_duration(const char *s, uint64_t *ns, char *err, size_t errlen);
/* A CPU list ("2-5", "1,3,5", "0,2-3") into cpus[0..*n), at most max CPUs. */
int cli_parse_cpu_list(const char *s, int *cpus, unsigned max, unsigned *n, char *err,
		       size_t errlen);

/* Human formatting helpers for reports. Return buf. */
const char *cli_fmt_count(uint64_t v, char *buf, size_t len);   /* 1234567 -> "1.23M" */
const char *cli_fmt_bytes(uint64_t v, char *buf, size_t len);   /* -> "1.2 MiB" */
const char *cli_fmt_duration(uint64_t ns, char *buf, size_t len); /* -> "1.50 s" */

#endif
