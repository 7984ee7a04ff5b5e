/* SPDX-License-Identifier: Apache-2.0 */
/* mbx: memcache traffic capture, analysis and replay. main() only dispatches
 * to a subcommand; the work is in libmbx. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mbx/log.h"
#include "mbx_config.h"

static const struct cli_cmd *const commands[] = {
	&cmd_record,
	&cmd_analyze,
	&cmd_inspect,
	&cmd_replay,
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: mbx COMMAND [OPTIONS] [ARGS]\n\n"
		   "Capture, analyse and replay memcache traffic.\n\nCommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "  %-10s %s\n", "version", "print the version");
	fprintf(f, "  %-10s %s\n", "help", "help for a command (mbx help COMMAND, or mbx COMMAND --help)");
	fprintf(f, "\nDocumentation: docs/usage.md\n");
}

static const struct cli_cmd *find(const char *name)
{
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(commands[i]->name, name))
			return commands[i];
	return NULL;
}

int main(int argc, char **argv)
{
	char err[512];
	const struct cli_cmd *cmd;

	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
		printf("mbx %s\n", MBX_VERSION);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "help")) {
		if (argc < 3) {
			usage(stdout);
			return EXIT_OK;
		}
		cmd = find(argv[2]);
		if (!cmd) {
			fprintf(stderr, "mbx: unknown command '%s'\n", argv[2]);
			return EXIT_USAGE;
		}
		cli_help(cmd, stdout);
		return EXIT_OK;
	}
	cmd = find(argv[1]);
	if (!cmd) {
		fprintf(stderr, "mbx: unknown command '%s' (see mbx --help)\n", argv[1]);
		return EXIT_USAGE;
	}

	void *opts = calloc(1, cmd->opts_size);
	int npos = 0;
	char **pos = NULL;
	if (!opts) {
		fprintf(stderr, "mbx: out of memory\n");
		return EXIT_FAIL;
	}
	int r = cli_parse(cmd, argc - 1, argv + 1, opts, &npos, &pos, err, sizeof(err));
	if (r == 1) {
		cli_help(cmd, stdout);
		free(opts);
		return EXIT_OK;
	}
	if (r < 0) {
		fprintf(stderr, "mbx %s: %s\nTry 'mbx %s --help'.\n", cmd->name, err, cmd->name);
		free(opts);
		return EXIT_USAGE;
	}
	r = cmd->run(opts, npos, pos);
	free(opts);
	return r;
}
