/* SPDX-License-Identifier: MIT */
/* range.c - random access into an indexed gzip file (issue 13): on a runtime created once, the
 * time ory_gunzip_range takes for LEN bytes at random offsets (and from the middle), each
 * checked against the original. Prints key=value for bench/decompress.
 *
 *   range-bench FILE.gz ORIGINAL LEN [RUNS [DEVICES]]
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "octoray/octoray.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: range-bench FILE.gz ORIGINAL LEN [RUNS [DEVICES]]\n");
		return 2;
	}
	size_t len = strtoull(argv[3], NULL, 0);
	int runs = argc > 4 ? atoi(argv[4]) : 21;
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = argc > 5 ? argv[5] : "cpu";
	struct ory_runtime *rt;
	char err[256];
	if (ory_runtime_create(&o, &rt, err, sizeof(err)) < 0) {
		fprintf(stderr, "range-bench: %s\n", err);
		return 1;
	}
	int gz = open(argv[1], O_RDONLY), orig = open(argv[2], O_RDONLY);
	struct stat st;
	if (gz < 0 || orig < 0 || fstat(orig, &st) < 0 || (uint64_t)st.st_size < len) {
		fprintf(stderr, "range-bench: cannot open the files, or LEN is too large\n");
		return 1;
	}
	uint8_t *out = malloc(len), *want = malloc(len);
	double *t = malloc(sizeof(double) * (size_t)runs);
	srand(1);
	double middle = 0;
	size_t n0;
	for (int i = 0; i < 3; i++) /* the pool's first uses */
		ory_gunzip_range(rt, gz, 0, len, out, len, &n0, NULL);
	for (int i = 0; i <= runs; i++) {
		/* run 0: from the middle; then random offsets */
		uint64_t off = i == 0 ? (uint64_t)st.st_size / 2
				      : ((uint64_t)rand() << 31 ^ (uint64_t)rand()) %
						(uint64_t)(st.st_size - (off_t)len + 1);
		size_t n = 0;
		double t0 = now();
		int rc = ory_gunzip_range(rt, gz, off, len, out, len, &n, NULL);
		double dt = now() - t0;
		if (rc < 0 || n != len || pread(orig, want, len, (off_t)off) != (ssize_t)len ||
		    memcmp(out, want, len)) {
			fprintf(stderr, "range-bench: %s at %llu: %s\n", argv[1],
				(unsigned long long)off, rc < 0 ? ory_runtime_errmsg(rt) : "other bytes");
			return 1;
		}
		if (i == 0)
			middle = dt;
		else
			t[i - 1] = dt;
	}
	qsort(t, (size_t)runs, sizeof(double), cmp_double);
	printf("middle_ms=%.3f p50_ms=%.3f max_ms=%.3f runs=%d len=%zu\n", middle * 1e3,
	       t[runs / 2] * 1e3, t[runs - 1] * 1e3, runs, len);
	ory_runtime_destroy(rt);
	return 0;
}
