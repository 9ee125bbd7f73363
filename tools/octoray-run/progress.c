/* SPDX-License-Identifier: MIT */
/* progress.c - the progress meter of long runs: bytes, MB/s and ETA on one tty line. */
#include <stdio.h>
#include <time.h>

#include "cli.h"

#define SHOW_AFTER_NS 1000000000ull /* a quick job stays quiet */
#define EVERY_NS 250000000ull

uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void progress_start(struct progress *p, uint64_t total)
{
	p->total = total;
	p->t0_ns = mono_ns();
	p->last_ns = 0;
	p->shown = false;
}

static void human(char *buf, size_t len, double bytes)
{
	const char *unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int u = 0;
	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", bytes, unit[u]);
}

void progress_update(void *arg, uint64_t bytes_in, uint64_t bytes_out)
{
	struct progress *p = arg;
	(void)bytes_out;
	if (!p->enabled)
		return;
	uint64_t now = mono_ns();
	if ((!p->forced && now - p->t0_ns < SHOW_AFTER_NS) || now - p->last_ns < EVERY_NS)
		return;
	p->last_ns = now;
	double secs = (double)(now - p->t0_ns) * 1e-9;
	double rate = secs > 0 ? (double)bytes_in / secs : 0;
	char done[32], all[32];
	human(done, sizeof(done), (double)bytes_in);
	if (p->total) {
		human(all, sizeof(all), (double)p->total);
		double left = rate > 0 ? (double)(p->total - (bytes_in < p->total ? bytes_in : p->total)) / rate : 0;
		unsigned eta = (unsigned)(left + 0.5);
		fprintf(stderr, "\r%s / %s  %3.0f%%  %.0f MB/s  ETA %u:%02u   ", done, all,
			100.0 * (double)bytes_in / (double)p->total, rate / 1e6, eta / 60, eta % 60);
	} else {
		fprintf(stderr, "\r%s  %.0f MB/s   ", done, rate / 1e6);
	}
	p->shown = true;
}

void progress_end(struct progress *p)
{
	if (p->shown)
		fprintf(stderr, "\r\033[K");
	p->shown = false;
}
