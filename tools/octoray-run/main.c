/* SPDX-License-Identifier: MIT */
/* main.c - octoray-run: the command line of the Octoray engine. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

const char *prog = "octoray-run";

static char last[4096 + 256];

void msg(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(last, sizeof(last), fmt, ap);
	va_end(ap);
	/* One line whatever a name or spec holds (a file name may contain a newline); gzip's
	 * tab stays. */
	for (char *c = last; *c; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
			*c = '?';
	fprintf(stderr, "%s: %s\n", prog, last);
}

const char *msg_last(void)
{
	return last;
}

void msg_forget(void)
{
	last[0] = 0;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: %s COMMAND [OPTIONS] [FILE...]\n"
		   "\n"
		   "commands:\n"
		   "  gzip      compress FILEs (or decompress with -d, test with -t) like gzip/pigz,\n"
		   "            spreading the work over every device: gzip --help for options\n"
		   "  cnv       classify CIFAR-10 images with CNV-W1A1: cnv --help for options\n"
		   "  devices   show the host topology and the devices --devices SPEC selects\n"
		   "  version   print the version\n",
		prog);
}

static void devices_usage(FILE *f)
{
	fprintf(f, "usage: %s devices [--devices SPEC]\n"
		   "Show the host topology as hwloc sees it and the devices SPEC selects.\n"
		   "\n"
		   "      --devices SPEC   as for gzip and cnv (default: all)\n"
		   "  -h, --help\n",
		prog);
}

static int cmd_devices(int argc, char **argv)
{
	const char *spec = "all";
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--devices") && i + 1 < argc) {
			spec = argv[++i];
		} else if (!strncmp(argv[i], "--devices=", 10)) {
			spec = argv[i] + 10;
		} else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			devices_usage(stdout);
			return EXIT_OK;
		} else {
			msg("devices: unknown argument '%s' (usage: devices [--devices SPEC])",
			    argv[i]);
			return EXIT_ERR;
		}
	}
	/* Verbose: what was looked for and why it was not used is what this command is for. */
	struct cli_devices dev = { .spec = spec };
	struct ory_runtime *rt;
	if (cli_open_runtime(&dev, true, false, &rt) < 0)
		return EXIT_ERR;
	size_t need = ory_runtime_describe(rt, NULL, 0);
	char *text = malloc(need + 1);
	if (text) {
		ory_runtime_describe(rt, text, need + 1);
		fputs(text, stdout);
		free(text);
	}
	printf("devices (%s):\n", spec);
	for (unsigned i = 0; i < ory_runtime_device_count(rt); i++) {
		struct ory_device_info d = { .struct_size = sizeof(d) };
		ory_runtime_device_info(rt, i, &d);
		printf("  %-8s %-5s %-14s numa %-2d cpus %s%s\n", d.name, d.kind, d.location,
		       d.numa_node, d.cpuset, d.reserve ? " (reserve: used when no other is left)" : "");
	}
	ory_runtime_destroy(rt);
	return EXIT_OK;
}

static int run(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_ERR;
	}
	const char *cmd = argv[1];
	if (!strcmp(cmd, "gzip"))
		return cmd_gzip(argc - 1, argv + 1);
	if (!strcmp(cmd, "cnv"))
		return cmd_cnv(argc - 1, argv + 1);
	if (!strcmp(cmd, "devices"))
		return cmd_devices(argc - 1, argv + 1);
	if (!strcmp(cmd, "version") || !strcmp(cmd, "--version")) {
		printf("octoray-run %s\n", ory_version());
		return EXIT_OK;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
		usage(stdout);
		return EXIT_OK;
	}
	msg("unknown command '%s'", cmd);
	usage(stderr);
	return EXIT_ERR;
}

int main(int argc, char **argv)
{
	stdfds_guard();
	return stdout_finish(run(argc, argv));
}
