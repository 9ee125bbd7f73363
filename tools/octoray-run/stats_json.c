/* SPDX-License-Identifier: MIT */
/*
 * stats_json.c - --stats-json FILE: what -v says about each input, as one JSON document
 * written when the run ends, for scripts and dashboards. FILE '-' is standard error (standard
 * output may carry the data). A regular FILE is replaced whole (written under a temporary
 * name, then renamed); anything else that exists (a FIFO, /dev/fd/N) is written to as is.
 *
 * {"tool": "octoray-run", "version": ..., "command": "gzip", "mode": "compress" | "decompress"
 *  | "test", "level", "devices" (the spec), "chunk_kib",
 *  "files": [{"name", "output" (absent for -t), "status": "ok" | "warning" | "error",
 *             "message" (when not ok), and when a job ran: "bytes_in", "bytes_out",
 *             "seconds", "mb_per_s" (uncompressed bytes / s / 10^6, as -v), "ratio"
 *             (compressed / uncompressed size), "chunks", "retries", "devices": [{"name",
 *             "kind", "chunks", "bytes_in", "failures", "retries", "timeouts", "quarantined",
 *             "reserve", "busy_seconds"}] (for -d and -t only when chunks ran on the workers:
 *             an index's chunks or groups of members; else all was read on one thread)}],
 *  "totals": {"files", "bytes_in", "bytes_out", "seconds"}, "exit_status"}
 *
 * Strings are file names and messages: valid UTF-8 passes through, control characters are
 * escaped and a byte that is not UTF-8 becomes U+FFFD.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gzip.h"

struct stats_json {
	const char *path;
	FILE *body; /* the "files" array so far, in memory */
	char *buf;
	size_t len;
	unsigned files;
	uint64_t in, out;
	double seconds;
};

/* The length of the valid UTF-8 sequence at s (at most n bytes), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	size_t len = s[0] < 0xc2 ? 0 : s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : s[0] < 0xf5 ? 4 : 0;
	if (!len || len > n)
		return 0;
	for (size_t i = 1; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	/* overlong and surrogate forms */
	if ((s[0] == 0xe0 && s[1] < 0xa0) || (s[0] == 0xed && s[1] > 0x9f) ||
	    (s[0] == 0xf0 && s[1] < 0x90) || (s[0] == 0xf4 && s[1] > 0x8f))
		return 0;
	return len;
}

static void str(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);
	fputc('"', f);
	for (size_t i = 0; i < n;) {
		if (p[i] == '"' || p[i] == '\\') {
			fprintf(f, "\\%c", p[i++]);
		} else if (p[i] < 0x20) {
			fprintf(f, "\\u%04x", p[i++]);
		} else if (p[i] < 0x80) {
			fputc(p[i++], f);
		} else {
			size_t len = utf8_len(p + i, n - i);
			if (len)
				fwrite(p + i, 1, len, f);
			else
				fputs("\\ufffd", f);
			i += len ? len : 1;
		}
	}
	fputc('"', f);
}

struct stats_json *stats_json_open(const char *path)
{
	struct stat st;
	/* A regular file is replaced through a temporary file in its directory: it must be
	 * writable now, not only once the work is done. */
	if (strcmp(path, "-") && (stat(path, &st) < 0 || S_ISREG(st.st_mode))) {
		char dir[4096];
		snprintf(dir, sizeof(dir), "%s", path);
		if (access(dirname(dir), W_OK | X_OK) < 0) {
			msg("--stats-json %s: %s", path, strerror(errno));
			return NULL;
		}
	}
	struct stats_json *j = calloc(1, sizeof(*j));
	if (!j || !(j->body = open_memstream(&j->buf, &j->len))) {
		msg("--stats-json: %s", strerror(ENOMEM));
		free(j);
		return NULL;
	}
	j->path = path;
	return j;
}

static void devices(FILE *f, struct ory_runtime *rt)
{
	fputs(", \"devices\": [", f);
	bool first = true;
	for (unsigned i = 0; i < ory_runtime_device_count(rt); i++) {
		struct ory_device_info d;
		if (cli_device_info(rt, i, &d) < 0 || (d.reserve && !d.chunks))
			continue; /* as -v: a fallback worker that did nothing is not listed */
		fprintf(f, "%s{\"name\": ", first ? "" : ", ");
		str(f, d.name);
		fputs(", \"kind\": ", f);
		str(f, d.kind);
		fprintf(f,
			", \"chunks\": %llu, \"bytes_in\": %llu, \"failures\": %llu, "
			"\"retries\": %llu, \"timeouts\": %llu, \"quarantined\": %s, "
			"\"reserve\": %s, \"busy_seconds\": %.6f}",
			(unsigned long long)d.chunks, (unsigned long long)d.bytes_in,
			(unsigned long long)d.failures, (unsigned long long)d.retries,
			(unsigned long long)d.timeouts, d.quarantined ? "true" : "false",
			d.reserve ? "true" : "false", d.busy_seconds);
		first = false;
	}
	fputc(']', f);
}

void stats_json_add(struct stats_json *j, const struct gz_result *r, struct ory_runtime *rt)
{
	static const char *const status[] = { "ok", "error", "warning" };
	FILE *f = j->body;
	fprintf(f, "%s\n    {\"name\": ", j->files++ ? "," : "");
	str(f, r->name);
	if (r->output) {
		fputs(", \"output\": ", f);
		str(f, r->output);
	}
	fprintf(f, ", \"status\": \"%s\"", status[r->status]);
	if (r->status != EXIT_OK && r->message) {
		fputs(", \"message\": ", f);
		str(f, r->message);
	}
	if (r->ran) {
		const struct ory_job_stats *s = &r->stats;
		double mbps, ratio;
		gz_rates(s, r->compressed, &mbps, &ratio);
		fprintf(f,
			", \"bytes_in\": %llu, \"bytes_out\": %llu, \"seconds\": %.6f, "
			"\"mb_per_s\": %.3f, \"ratio\": %.6f, \"chunks\": %llu, \"retries\": %llu",
			(unsigned long long)s->bytes_in, (unsigned long long)s->bytes_out,
			s->seconds, mbps, ratio, (unsigned long long)s->chunks,
			(unsigned long long)s->retries);
		if (rt && (r->compressed || s->chunks))
			devices(f, rt);
		else
			fputs(", \"devices\": []", f);
		j->in += s->bytes_in;
		j->out += s->bytes_out;
		j->seconds += s->seconds;
	}
	fputc('}', f);
}

static int put(const char *path, const char *doc, size_t len)
{
	if (!strcmp(path, "-"))
		return cli_write_all(STDERR_FILENO, doc, len);
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		int rc = cli_write_all(fd, doc, len);
		if (close(fd) < 0 && !rc)
			rc = -errno;
		return rc;
	}
	struct outfile o;
	int rc = outfile_open(&o, path, true);
	if (rc < 0)
		return rc;
	rc = cli_write_all(o.fd, doc, len);
	if (rc < 0) {
		outfile_abort(&o);
		return rc;
	}
	return outfile_commit(&o, NULL, NULL, true);
}

int stats_json_close(struct stats_json *j, const struct gz_cli *c)
{
	char *doc = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&doc, &len);
	int rc = -ENOMEM;
	if (f && fclose(j->body) == 0) {
		j->body = NULL;
		fprintf(f, "{\"tool\": \"octoray-run\", \"version\": ");
		str(f, ory_version());
		const char *mode = c->test ? "test" : c->decompress ? "decompress" : "compress";
		fprintf(f, ", \"command\": \"gzip\", \"mode\": \"%s\", \"level\": %d, ", mode,
			c->level);
		fputs("\"devices\": ", f);
		str(f, c->dev.spec);
		fprintf(f, ", \"chunk_kib\": %zu,\n  \"files\": [%s%s],\n", c->dev.chunk_kib,
			j->buf ? j->buf : "", j->files ? "\n  " : "");
		fprintf(f,
			"  \"totals\": {\"files\": %u, \"bytes_in\": %llu, \"bytes_out\": %llu, "
			"\"seconds\": %.6f},\n  \"exit_status\": %d}\n",
			j->files, (unsigned long long)j->in, (unsigned long long)j->out, j->seconds,
			c->status);
		rc = fclose(f) == 0 ? 0 : -ENOMEM;
		f = NULL;
	}
	if (f)
		fclose(f);
	if (rc == 0)
		rc = put(j->path, doc, len);
	if (rc < 0)
		msg("--stats-json %s: %s", j->path, strerror(-rc));
	if (j->body)
		fclose(j->body);
	free(j->buf);
	free(j);
	free(doc);
	return rc < 0 ? -1 : 0;
}
