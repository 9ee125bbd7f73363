/* SPDX-License-Identifier: MIT */
/* common.c - what every octoray-run command shares: the device options and the runtime. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	case CLI_OPT_MMAP:
		d->mmap = true;
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
	/* Copied into the chunk buffers unless --mmap: touching a mapped page-cache page cost 4x
	 * copying it on the CI host (a PVM guest). Mapped, a file truncated under the mapping
	 * raises SIGBUS, which signals.c turns into a one-line error and a removed temporary. */
	o.map_files = d->mmap;
	char err[256];
	int rc = ory_runtime_create(&o, rt, err, sizeof(err));
	if (rc < 0) {
		msg("--devices %s: %s", d->spec, err[0] ? err : ory_strerror(rc));
		return -1;
	}
	return 0;
}

/* The runtime counts since it was created; a report is about one job: the counters at its
 * start, by device. */
static struct ory_device_info *marks;
static unsigned nmarks;

void cli_devices_mark(struct ory_runtime *rt)
{
	unsigned n = ory_runtime_device_count(rt);
	if (n > nmarks) {
		struct ory_device_info *m = realloc(marks, n * sizeof(*m));
		if (!m)
			return; /* the report then counts from the start: not worth failing for */
		marks = m;
		nmarks = n;
	}
	for (unsigned i = 0; i < n; i++) {
		marks[i].struct_size = sizeof(marks[i]);
		ory_runtime_device_info(rt, i, &marks[i]);
	}
}

int cli_device_info(struct ory_runtime *rt, unsigned i, struct ory_device_info *d)
{
	d->struct_size = sizeof(*d);
	int rc = ory_runtime_device_info(rt, i, d);
	if (rc < 0 || i >= nmarks)
		return rc;
	d->chunks -= marks[i].chunks;
	d->bytes_in -= marks[i].bytes_in;
	d->failures -= marks[i].failures;
	d->retries -= marks[i].retries;
	d->timeouts -= marks[i].timeouts;
	d->busy_seconds -= marks[i].busy_seconds;
	return 0;
}

void cli_device_report(struct ory_runtime *rt)
{
	for (unsigned i = 0; i < ory_runtime_device_count(rt); i++) {
		struct ory_device_info d;
		cli_device_info(rt, i, &d);
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

int cli_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
