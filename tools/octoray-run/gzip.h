/* SPDX-License-Identifier: MIT */
/* gzip.h - what the files of `octoray-run gzip` share: the options and the run's state. */
#ifndef ORY_CLI_GZIP_H
#define ORY_CLI_GZIP_H

#include "cli.h"

struct gz_cli {
	struct cli_devices dev;
	int level;
	bool to_stdout, decompress, test, force, keep, verbose, quiet, progress, independent;
	bool no_name;
	const char *output;
	const char *suffix;
	struct ory_runtime *rt;
	int status;
};

/* Raise the exit status to severity (EXIT_WARN or EXIT_ERR). */
void gz_note(struct gz_cli *c, int severity);
/* A warning: printed unless -q; status 2. */
void gz_warn(struct gz_cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* gzip_file.c: one input. */
void gz_do_stdin(struct gz_cli *c);
void gz_do_file(struct gz_cli *c, const char *path);

#endif /* ORY_CLI_GZIP_H */
