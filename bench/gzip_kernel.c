/* SPDX-License-Identifier: MIT */
/* gzip_kernel.c - the gzip software kernel with no runtime: the CPU device's kernel, level and
 * chunk size (and dictionary priming) in a plain loop on one thread, over a file held in
 * memory. bench/run divides the runtime's MB/s by N times this figure (runtime efficiency). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apps/gzip/gzip_internal.h"

static const char usage[] =
	"usage: gzip-kernel-bench [-l LEVEL] [-b KiB] [-r RUNS] [-i] [-m] FILE\n"
	"  -l  level 1..9 (default 1)\n"
	"  -b  chunk size in KiB (default 1024, as octoray-run)\n"
	"  -r  timed passes over the file; the median is printed (default 3)\n"
	"  -i  independent chunks (no 32 KiB dictionary), as octoray-run -i\n"
	"  -m  time memcpy of each chunk instead of the kernel (the cost of moving the data)\n"
	"Prints one line: mbps=<MB/s of input, 10^6 B/s> ratio=<compressed/input> runs=<n>\n";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static uint8_t *load(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	uint8_t *buf = NULL;
	size_t cap = 0, n = 0;
	for (;;) {
		if (n == cap) {
			cap = cap ? cap * 2 : 1 << 24;
			uint8_t *b = realloc(buf, cap);
			if (!b)
				break;
			buf = b;
		}
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0)
			break;
	}
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		free(buf);
		return NULL;
	}
	*len = n;
	return buf;
}

int main(int argc, char **argv)
{
	int level = 1, runs = 3, opt;
	size_t chunk = 1024 * 1024;
	bool independent = false, copy_only = false;
	while ((opt = getopt(argc, argv, "l:b:r:imh")) != -1) {
		switch (opt) {
		case 'l':
			level = atoi(optarg);
			break;
		case 'b':
			chunk = (size_t)atol(optarg) * 1024;
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 'i':
			independent = true;
			break;
		case 'm':
			copy_only = true;
			break;
		default:
			fputs(usage, opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind + 1 != argc || level < 1 || level > 9 || runs < 1 || runs > 99 ||
	    chunk < 32 * 1024 || chunk > 64 * 1024 * 1024) {
		fputs(usage, stderr);
		return 2;
	}
	size_t len;
	uint8_t *in = load(argv[optind], &len);
	if (!in || !len) {
		fprintf(stderr, "gzip-kernel-bench: %s: %s\n", argv[optind],
			in ? "empty" : strerror(errno));
		return 1;
	}
	struct gzip_params params = {.level = level, .primed = !independent && level <= 3};
	const struct ory_kernel_ops *k = ory_gzip_app.sw;
	void *state = NULL;
	size_t cap = gzip_chunk_bound(chunk);
	uint8_t *out = malloc(cap);
	if (!out || k->open(&params, &state) < 0) {
		fprintf(stderr, "gzip-kernel-bench: out of memory\n");
		return 1;
	}

	double *secs = calloc((size_t)runs, sizeof(double));
	uint64_t total_out = 0;
	for (int r = 0; r < runs; r++) {
		total_out = 10 + 10; /* gzip header and trailer, as octoray-run writes them */
		double t0 = now_s();
		for (size_t off = 0; off < len; off += chunk) {
			struct ory_chunk c = {
				.seq = off / chunk,
				.in = in + off,
				.in_len = len - off < chunk ? len - off : chunk,
				.dict_len = params.primed
						    ? (off < ORY_DICT_MAX ? off : ORY_DICT_MAX)
						    : 0,
				.out = out,
				.out_cap = cap,
			};
			if (copy_only) {
				memcpy(out, c.in, c.in_len);
				total_out += c.in_len;
				continue;
			}
			int rc = k->run(state, &c);
			if (rc < 0) {
				fprintf(stderr, "gzip-kernel-bench: chunk %zu: %s\n", off / chunk,
					strerror(-rc));
				return 1;
			}
			total_out += c.out_len;
		}
		secs[r] = now_s() - t0;
	}
	qsort(secs, (size_t)runs, sizeof(double), cmp_double);
	printf("mbps=%.1f ratio=%.4f runs=%d\n", (double)len / secs[runs / 2] / 1e6,
	       (double)total_out / (double)len, runs);
	k->close(state);
	free(secs);
	free(out);
	free(in);
	return 0;
}
