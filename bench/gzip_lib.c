/* SPDX-License-Identifier: MIT */
/* gzip_lib.c - liboctoray's gzip job timed inside one process, with one runtime reused: what
 * octoray-run's MB/s would be without process start-up and runtime creation, file to
 * /dev/null through io_uring (fd), and memory to memory (buf: chunks point into the caller's
 * buffer, so the input is not copied, but every chunk's output is copied into the caller's).
 * Against gzip-kernel-bench -t N, this says whether the data path or the host limits a run. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "octoray/octoray.h"
#include "bench.h"

static const char usage[] =
	"usage: gzip-lib-bench [-l LEVEL] [-r RUNS] [-d SPEC] FILE\n"
	"  -l  level 1..9 (default 1)\n"
	"  -r  runs of each job; the median is printed (default 3)\n"
	"  -d  device spec (default cpu, one worker per core)\n"
	"Prints: fd_mbps=<file to /dev/null> buf_mbps=<memory to memory> create_ms=<runtime>\n";

int main(int argc, char **argv)
{
	int level = 1, runs = 3, opt;
	const char *devices = "cpu";
	while ((opt = getopt(argc, argv, "l:r:d:h")) != -1) {
		switch (opt) {
		case 'l': level = atoi(optarg); break;
		case 'r': runs = atoi(optarg); break;
		case 'd': devices = optarg; break;
		default: fputs(usage, opt == 'h' ? stdout : stderr); return opt == 'h' ? 0 : 2;
		}
	}
	if (optind + 1 != argc || runs < 1 || runs > 100) {
		fputs(usage, stderr);
		return 2;
	}
	const char *path = argv[optind];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || null_fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "gzip-lib-bench: %s: cannot open a regular file\n", path);
		return 1;
	}
	size_t len = (size_t)st.st_size;
	uint8_t *in = malloc(len ? len : 1);
	if (!in || pread(fd, in, len, 0) != (ssize_t)len) {
		fprintf(stderr, "gzip-lib-bench: %s: cannot read it into memory\n", path);
		return 1;
	}

	double t0 = bench_now();
	struct ory_runtime_opts ro;
	ory_runtime_opts_init(&ro);
	ro.devices = devices;
	struct ory_runtime *rt;
	char err[256];
	int rc = ory_runtime_create(&ro, &rt, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "gzip-lib-bench: --devices %s: %s\n", devices, err);
		return 1;
	}
	double create_ms = (bench_now() - t0) * 1e3;

	size_t cap = ory_gzip_bound(rt, len);
	uint8_t *out = malloc(cap);
	if (!out) {
		fprintf(stderr, "gzip-lib-bench: out of memory\n");
		return 1;
	}
	memset(out, 0, cap); /* fault it in now, not inside the first timed run */
	struct ory_gzip_opts go;
	ory_gzip_opts_init(&go);
	go.level = level;

	double fd_s[100], buf_s[100];
	for (int r = 0; r < runs && rc == 0; r++) { /* interleaved, as bench/run does */
		double a = bench_now();
		rc = ory_gzip_fd(rt, fd, null_fd, &go, NULL);
		double b = bench_now();
		size_t out_len;
		if (rc == 0)
			rc = ory_gzip_buf(rt, in, len, out, cap, &out_len, &go, NULL);
		double c = bench_now();
		fd_s[r] = b - a;
		buf_s[r] = c - b;
		if (lseek(fd, 0, SEEK_SET) < 0)
			rc = -1;
	}
	if (rc != 0) {
		fprintf(stderr, "gzip-lib-bench: %s: %s\n", path, ory_strerror(rc));
		return 1;
	}
	printf("fd_mbps=%.1f buf_mbps=%.1f create_ms=%.1f runs=%d\n",
	       (double)len / 1e6 / bench_median(fd_s, (size_t)runs),
	       (double)len / 1e6 / bench_median(buf_s, (size_t)runs),
	       create_ms, runs);
	ory_runtime_destroy(rt);
	free(in);
	free(out);
	return 0;
}
