/* SPDX-License-Identifier: MIT */
/* common.c - what every octoray-run command shares: the device options and the runtime. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void log_line(void *arg, enum ory_log_level level, const char *line)
{
	(void)arg;
	(void)level;
	fprintf(stderr, "%s: %s\n", prog, line);
}

int cli_device_option(struct cli_devices *d, int opt, const char *arg)
{
	static char cpu_spec[32];
	char *end;
	switch (opt) {
	case CLI_OPT_DEVICES:
		d->spec = arg;
		return 1;
	case 'p':
		snprintf(cpu_spec, sizeof(cpu_spec), "cpu:%s", arg);
		d->spec = cpu_spec;
		return 1;
	case CLI_OPT_VERIFY:
		d->verify = ORY_VERIFY_ALL;
		return 1;
	case CLI_OPT_NO_VERIFY:
		d->verify = ORY_VERIFY_NONE;
		return 1;
	case CLI_OPT_FALLBACK:
		if (strcmp(arg, "cpu") && strcmp(arg, "none")) {
			msg("--fallback takes cpu or none, not '%s'", arg);
			return -1;
		}
		d->no_fallback = !strcmp(arg, "none");
		return 1;
	case CLI_OPT_XCLBIN:
		/* read by the XRT device (devices/xrt/args.c) when it opens the cards */
		setenv("ORY_XRT_XCLBIN", arg, 1);
		return 1;
	case CLI_OPT_WATCHDOG:
		errno = 0;
		d->watchdog_ms = (unsigned)strtoul(arg, &end, 10);
		if (errno || *end || !d->watchdog_ms) {
			msg("invalid watchdog '%s' (milliseconds, > 0)", arg);
			return -1;
		}
		return 1;
	default:
		return 0;
	}
}

int cli_open_runtime(const struct cli_devices *d, bool verbose, bool quiet, struct ory_runtime **rt)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = d->spec;
	if (d->chunk_kib)
		o.chunk_size = d->chunk_kib * 1024;
	o.verify = (enum ory_verify)d->verify;
	o.fallback_cpu = !d->no_fallback;
	o.watchdog_ms = d->watchdog_ms;
	o.log = quiet ? NULL : log_line;
	o.log_level = verbose ? ORY_LOG_INFO : ORY_LOG_WARN;
	char err[256];
	int rc = ory_runtime_create(&o, rt, err, sizeof(err));
	if (rc < 0) {
		msg("--devices %s: %s", d->spec, err[0] ? err : ory_strerror(rc));
		return -1;
	}
	return 0;
}

void cli_device_report(struct ory_runtime *rt)
{
	for (unsigned i = 0; i < ory_runtime_device_count(rt); i++) {
		struct ory_device_info d = { .struct_size = sizeof(d) };
		ory_runtime_device_info(rt, i, &d);
		if (d.reserve && !d.chunks)
			continue;
		fprintf(stderr, " %s=%llu", d.name, (unsigned long long)d.chunks);
		if (d.failures || d.retries || d.quarantined)
			fprintf(stderr, "(failed %llu, retried %llu, timed out %llu%s)",
				(unsigned long long)d.failures, (unsigned long long)d.retries,
				(unsigned long long)d.timeouts, d.quarantined ? ", quarantined" : "");
	}
	fprintf(stderr, " chunks");
}
