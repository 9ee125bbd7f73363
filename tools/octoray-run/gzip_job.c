/* SPDX-License-Identifier: MIT */
/* gzip_job.c - the job of one input (compress, decompress or test through liboctoray) and what
 * is said about it: the error naming the side that failed, -v's lines, the record that
 * --stats-json keeps of it. */
#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gzip.h"

void gz_note(struct gz_cli *c, int severity)
{
	if (severity == EXIT_ERR)
		c->status = EXIT_ERR;
	else if (severity == EXIT_WARN && c->status == EXIT_OK)
		c->status = EXIT_WARN;
	struct gz_result *r = c->cur;
	if (!r || severity == EXIT_OK)
		return;
	if (severity == EXIT_ERR || r->status == EXIT_OK)
		r->status = severity;
	if (!r->message && msg_last()[0]) /* what was just said about it */
		r->message = strdup(msg_last());
}

void gz_warn(struct gz_cli *c, const char *fmt, ...)
{
	char text[4096 + 256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (!c->quiet)
		msg("%s", text);
	else if (c->cur && !c->cur->message) /* unsaid, but --stats-json still says why */
		c->cur->message = strdup(text);
	gz_note(c, EXIT_WARN);
}

struct gz_result *gz_result_begin(struct gz_cli *c, struct gz_result *r, const char *name)
{
	memset(r, 0, sizeof(*r));
	r->name = name;
	msg_forget();
	struct gz_result *up = c->cur;
	c->cur = r;
	return up;
}

void gz_result_end(struct gz_cli *c, struct gz_result *r, struct gz_result *up)
{
	/* a directory -r walked has no record of its own, unless something went wrong with it */
	if (c->json && (!r->walked || r->status != EXIT_OK))
		stats_json_add(c->json, r, c->rt);
	free(r->output);
	free(r->message);
	c->cur = up;
}

/* --range: the bytes asked for, a piece at a time (memory stays bounded whatever the range). */
static int run_range(struct gz_cli *c, int in_fd, int out_fd, struct ory_job_stats *stats)
{
	const size_t piece = 16u << 20;
	uint8_t *buf = malloc(piece);
	if (!buf)
		return -ENOMEM;
	int rc = 0;
	uint64_t off = c->range_off, left = c->range_len;
	while (left && rc == 0) {
		size_t n = 0;
		rc = ory_gunzip_range(c->rt, in_fd, off, left < piece ? left : piece, buf, piece, &n,
				      NULL);
		if (rc < 0 || n == 0)
			break; /* an error, or the end of the original */
		if (out_fd >= 0)
			rc = cli_write_all(out_fd, buf, n);
		stats->bytes_out += n;
		off += n;
		left -= n;
	}
	free(buf);
	return rc;
}

int gz_run_job(struct gz_cli *c, int in_fd, int out_fd, const char *name, const struct stat *st,
	       struct ory_job_stats *stats, bool *garbage)
{
	struct progress prog_meter = {
		.enabled = c->progress || (!c->quiet && isatty(STDERR_FILENO)),
		.forced = c->progress,
	};
	progress_start(&prog_meter, st && S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0);
	signals_track_input(name ? name : "stdin");
	cli_devices_mark(c->rt);
	int rc;
	*garbage = false;
	memset(stats, 0, sizeof(*stats));
	stats->struct_size = sizeof(*stats);
	if (c->has_range) {
		uint64_t t0 = mono_ns();
		rc = run_range(c, in_fd, out_fd, stats);
		stats->seconds = (double)(mono_ns() - t0) * 1e-9;
	} else if (c->decompress || c->test) {
		struct ory_gunzip_opts o;
		ory_gunzip_opts_init(&o);
		o.progress = progress_update;
		o.progress_arg = &prog_meter;
		struct ory_gunzip_result res = { .struct_size = sizeof(res) };
		uint64_t t0 = mono_ns();
		rc = ory_gunzip_fd(c->rt, in_fd, out_fd, &o, &res);
		stats->seconds = (double)(mono_ns() - t0) * 1e-9;
		*garbage = res.trailing_garbage;
		stats->bytes_in = res.bytes_in;
		stats->bytes_out = res.bytes_out;
		stats->chunks = res.chunks;
	} else {
		struct ory_gzip_opts o;
		ory_gzip_opts_init(&o);
		o.level = c->level;
		o.independent = c->independent;
		o.rsyncable = c->rsyncable;
		char base[4096];
		if (name && !c->no_name) {
			snprintf(base, sizeof(base), "%s", name);
			o.name = basename(base);
		}
		/* as gzip since 1.10: a pipe or device has no time worth keeping */
		if (!c->no_time && st && S_ISREG(st->st_mode))
			o.mtime = (uint32_t)st->st_mtim.tv_sec;
		o.progress = progress_update;
		o.progress_arg = &prog_meter;
		rc = ory_gzip_fd(c->rt, in_fd, out_fd, &o, stats);
	}
	signals_track_input(NULL);
	progress_end(&prog_meter);
	if (c->cur) {
		c->cur->ran = true;
		c->cur->compressed = !c->decompress && !c->test;
		c->cur->stats = *stats;
	}
	return rc;
}

void gz_job_error(struct gz_cli *c, const char *in_name, const char *out_name, int rc)
{
	const char *why = ory_runtime_errmsg(c->rt);
	if (!why[0])
		why = ory_strerror(rc);
	const char *who = ory_runtime_error_origin(c->rt) == ORY_ORIGIN_OUTPUT ? out_name : in_name;
	msg("%s: %s", who, why);
	gz_note(c, EXIT_ERR);
}

void gz_rates(const struct ory_job_stats *st, bool compressed, double *mb_per_s, double *ratio)
{
	uint64_t plain = compressed ? st->bytes_in : st->bytes_out;
	uint64_t packed = compressed ? st->bytes_out : st->bytes_in;
	*mb_per_s = st->seconds > 0 ? (double)plain / st->seconds / 1e6 : 0.0;
	*ratio = plain ? (double)packed / (double)plain : 0.0;
}

void gz_report(struct gz_cli *c, const char *name, const struct ory_job_stats *st)
{
	bool dec = c->decompress;
	double mbps, ratio;
	gz_rates(st, !dec, &mbps, &ratio);
	fprintf(stderr, "%s: %.1f MB/s, ratio %.4f (%llu -> %llu bytes), %.3f s, %u device%s:",
		name, mbps, ratio,
		(unsigned long long)st->bytes_in, (unsigned long long)st->bytes_out, st->seconds,
		ory_runtime_device_count(c->rt), ory_runtime_device_count(c->rt) == 1 ? "" : "s");
	if (dec && !st->chunks)
		fprintf(stderr, " none used (read on one thread: no index, one member)");
	else
		cli_device_report(c->rt);
	if (st->retries)
		fprintf(stderr, ", %llu retries", (unsigned long long)st->retries);
	fputc('\n', stderr);
}
