/* SPDX-License-Identifier: MIT */
/* gzip_kernel.c - the gzip software kernel with no runtime: the CPU device's kernel, level and
 * chunk size (and dictionary priming) in a plain loop on one thread, over a file held in
 * memory. bench/run divides the runtime's MB/s by N times this figure (runtime efficiency), and
 * with -t N compares it with N such loops at once (what N cores of the host can really do). */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apps/gzip/gzip_internal.h"
#include "bench.h"

static const char usage[] =
	"usage: gzip-kernel-bench [-l LEVEL] [-b KiB] [-r RUNS] [-t THREADS] [-i] [-m] FILE\n"
	"  -l  level 1..9 (default 1)\n"
	"  -b  chunk size in KiB (default 1024, as octoray-run)\n"
	"  -r  timed passes over the file; the median is printed (default 3)\n"
	"  -t  run the loop on THREADS threads at once, each over the whole file, started\n"
	"      together; mbps is their sum (default 1)\n"
	"  -i  independent chunks (no 32 KiB dictionary), as octoray-run -i\n"
	"  -m  time memcpy of each chunk instead of the kernel (the cost of moving the data)\n"
	"Prints one line: mbps=<MB/s of input, 10^6 B/s> ratio=<compressed/input> runs=<n>\n";

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

struct pass {
	const uint8_t *in;
	size_t len, chunk;
	struct gzip_params params;
	bool copy_only;
	pthread_barrier_t *start;
	double secs;
	uint64_t out_bytes;
	int rc;
};

/* One timed pass over the file, chunk by chunk, as a CPU device would run it. */
static void *timed_pass(void *arg)
{
	struct pass *p = arg;
	const struct ory_kernel_ops *k = ory_gzip_app.sw;
	void *state = NULL;
	size_t cap = gzip_chunk_bound(p->chunk);
	uint8_t *out = malloc(cap);
	p->rc = out ? k->open(&state) : -ENOMEM;
	pthread_barrier_wait(p->start);
	if (p->rc < 0) {
		free(out);
		return NULL;
	}
	p->out_bytes = 10 + 10; /* gzip header and trailer, as octoray-run writes them */
	double t0 = bench_now();
	for (size_t off = 0; off < p->len && p->rc == 0; off += p->chunk) {
		size_t dict = p->params.primed ? (off < ORY_DICT_MAX ? off : ORY_DICT_MAX) : 0;
		struct ory_chunk c = {
			.seq = off / p->chunk,
			.params = &p->params,
			.in = p->in + off,
			.in_len = p->len - off < p->chunk ? p->len - off : p->chunk,
			.dict = p->in + off - dict,
			.dict_len = dict,
			.out = out,
			.out_cap = cap,
		};
		if (p->copy_only) {
			memcpy(out, c.in, c.in_len);
			p->out_bytes += c.in_len;
			continue;
		}
		p->rc = k->run(state, &c);
		p->out_bytes += c.out_len;
	}
	p->secs = bench_now() - t0;
	k->close(state);
	free(out);
	return NULL;
}

int main(int argc, char **argv)
{
	int level = 1, runs = 3, threads = 1, opt;
	size_t chunk = 1024 * 1024;
	bool independent = false, copy_only = false;
	while ((opt = getopt(argc, argv, "l:b:r:t:imh")) != -1) {
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
		case 't':
			threads = atoi(optarg);
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
	if (optind + 1 != argc || level < 1 || level > 9 || runs < 1 || runs > 99 || threads < 1 ||
	    threads > 256 || chunk < 32 * 1024 || chunk > 64 * 1024 * 1024) {
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
	double *mbps = calloc((size_t)runs, sizeof(double));
	struct pass *ps = calloc((size_t)threads, sizeof(*ps));
	pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
	pthread_barrier_t start;
	if (!mbps || !ps || !tids || pthread_barrier_init(&start, NULL, (unsigned)threads)) {
		fprintf(stderr, "gzip-kernel-bench: out of memory\n");
		return 1;
	}
	uint64_t out_bytes = 0;
	for (int r = 0; r < runs; r++) {
		for (int t = 0; t < threads; t++) {
			ps[t] = (struct pass){.in = in,
					      .len = len,
					      .chunk = chunk,
					      .params = params,
					      .copy_only = copy_only,
					      .start = &start};
			if (pthread_create(&tids[t], NULL, timed_pass, &ps[t])) {
				fprintf(stderr, "gzip-kernel-bench: cannot start a thread\n");
				return 1;
			}
		}
		double slowest = 0;
		for (int t = 0; t < threads; t++) {
			pthread_join(tids[t], NULL);
			if (ps[t].rc < 0) {
				fprintf(stderr, "gzip-kernel-bench: %s\n", strerror(-ps[t].rc));
				return 1;
			}
			slowest = ps[t].secs > slowest ? ps[t].secs : slowest;
		}
		/* all threads did the same work; the slowest one bounds what they did together */
		mbps[r] = (double)len * threads / slowest / 1e6;
		out_bytes = ps[0].out_bytes;
	}
	printf("mbps=%.1f ratio=%.4f runs=%d threads=%d\n", bench_median(mbps, (size_t)runs),
	       (double)out_bytes / (double)len, runs, threads);
	pthread_barrier_destroy(&start);
	free(tids);
	free(ps);
	free(mbps);
	free(in);
	return 0;
}
