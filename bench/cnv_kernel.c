/* SPDX-License-Identifier: MIT */
/* cnv_kernel.c - CNV-W1A1 kernel microbenchmark: images/s per core for every ISA path the CPU
 * has, per-layer time shares, and the aggregate on several threads. Outputs are checked against
 * the scalar path before anything is timed. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "apps/cnv/cnv.h"
#include "bench.h"

static const char usage[] =
	"usage: cnv-kernel-bench [-n IMAGES] [-r RUNS] [-t THREADS] [-m MODEL.orym | -s SEED]\n"
	"  -n  batch size (default 4096 random images)\n"
	"  -r  timed runs per path (1..64); the best is reported (default 5)\n"
	"  -t  threads for the multi-core figure, one per core (default 2; 0 = skip)\n"
	"  -m  model file (default: the built-in BNN-PYNQ model); -s: synthetic model seed\n";

static pthread_barrier_t start_line;

#define MAX_RUNS 64

struct job {
	const struct cnv_model *m;
	enum cnv_isa isa;
	const uint8_t *img;
	size_t n;
	int cpu;
	int runs;
	int rc;
	double secs[MAX_RUNS];
};

/* One thread: pinned to its core, classify the batch once to warm up, then `runs` times timed,
 * each run starting when every thread is ready. */
static void *thread_main(void *arg)
{
	struct job *j = arg;
	if (j->cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(j->cpu, &set);
		pthread_setaffinity_np(pthread_self(), sizeof(set), &set); /* best effort */
	}
	struct cnv_ctx *ctx = NULL;
	uint8_t *cls = malloc(j->n);
	j->rc = cls ? cnv_ctx_create(j->m, j->isa, &ctx) : -ENOMEM;
	if (!j->rc)
		cnv_classify(ctx, j->img, CNV_IMAGE_BYTES, CNV_CHW, j->n, cls, NULL);
	for (int r = 0; r < j->runs; r++) {
		pthread_barrier_wait(&start_line);
		double t0 = bench_now();
		if (!j->rc)
			j->rc = cnv_classify(ctx, j->img, CNV_IMAGE_BYTES, CNV_CHW, j->n, cls,
					     NULL);
		j->secs[r] = bench_now() - t0;
	}
	cnv_ctx_free(ctx);
	free(cls);
	return NULL;
}

int main(int argc, char **argv)
{
	size_t n = 4096;
	int runs = 5, threads = 2, opt;
	const char *model_path = NULL;
	long long seed = -1;
	while ((opt = getopt(argc, argv, "n:r:t:m:s:h")) != -1) {
		switch (opt) {
		case 'n':
			n = strtoul(optarg, NULL, 0);
			break;
		case 'r':
			runs = atoi(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'm':
			model_path = optarg;
			break;
		case 's':
			seed = strtoll(optarg, NULL, 0);
			break;
		default:
			fputs(usage, opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 1;
		}
	}
	if (n == 0 || runs < 1 || runs > MAX_RUNS || threads < 0) {
		fputs(usage, stderr);
		return 1;
	}
	char err[512] = "";
	struct cnv_model *m;
	int rc = model_path  ? cnv_model_load_file(model_path, &m, err, sizeof(err))
		 : seed >= 0 ? cnv_model_synthetic((uint64_t)seed, &m)
			     : cnv_model_load_default(&m, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "cnv-kernel-bench: %s\n", err[0] ? err : strerror(-rc));
		return 1;
	}
	uint8_t *img = malloc(n * CNV_IMAGE_BYTES), *ref = malloc(n), *cls = malloc(n);
	uint16_t *ref_sc = malloc(n * 20 * sizeof(uint16_t)), *sc = ref_sc + n * 10;
	if (!img || !ref || !cls || !ref_sc) {
		fputs("cnv-kernel-bench: out of memory\n", stderr);
		return 1;
	}
	uint64_t s = 0x2545f4914f6cdd1dull;
	for (size_t i = 0; i < n * CNV_IMAGE_BYTES; i++) {
		s ^= s << 13, s ^= s >> 7, s ^= s << 17;
		img[i] = (uint8_t)(s >> 24);
	}
	printf("cnv-kernel-bench: %zu random CHW images, %s model, best of %d runs, 1 thread\n", n,
	       model_path  ? model_path
	       : seed >= 0 ? "synthetic"
			   : "built-in",
	       runs);

	static const char *stage[CNV_STAGES] = {"input", "L0", "L1+pool", "L2", "L3+pool",
						"L4",	 "L5", "L6",	  "L7", "L8+argmax"};
	enum cnv_isa best = CNV_ISA_SCALAR;
	for (enum cnv_isa isa = CNV_ISA_SCALAR; isa <= CNV_ISA_AVX512; isa++) {
		if (!cnv_isa_supported(isa)) {
			printf("%-7s not supported by this CPU\n", cnv_isa_name(isa));
			continue;
		}
		struct cnv_ctx *ctx;
		if ((rc = cnv_ctx_create(m, isa, &ctx))) {
			fprintf(stderr, "cnv-kernel-bench: %s: %s\n", cnv_isa_name(isa),
				strerror(-rc));
			return 1;
		}
		uint8_t *out = isa == CNV_ISA_SCALAR ? ref : cls;
		uint16_t *osc = isa == CNV_ISA_SCALAR ? ref_sc : sc;
		cnv_classify(ctx, img, CNV_IMAGE_BYTES, CNV_CHW, n, out, osc);
		if (isa != CNV_ISA_SCALAR &&
		    (memcmp(cls, ref, n) || memcmp(sc, ref_sc, n * 10 * sizeof(uint16_t)))) {
			fprintf(stderr, "cnv-kernel-bench: %s differs from scalar\n",
				cnv_isa_name(isa));
			return 1;
		}
		double bestt = 1e30;
		for (int r = 0; r < runs; r++) {
			double t0 = bench_now();
			cnv_classify(ctx, img, CNV_IMAGE_BYTES, CNV_CHW, n, cls, NULL);
			double t = bench_now() - t0;
			bestt = t < bestt ? t : bestt;
		}
		uint64_t ns[CNV_STAGES] = {0}, total = 0;
		cnv_ctx_profile(ctx, ns);
		cnv_classify(ctx, img, CNV_IMAGE_BYTES, CNV_CHW, n, cls, NULL);
		cnv_ctx_profile(ctx, NULL);
		for (int i = 0; i < CNV_STAGES; i++)
			total += ns[i];
		printf("%-7s %9.0f images/s per core  %7.2f us/image  (%s)\n", cnv_isa_name(isa),
		       (double)n / bestt, bestt * 1e6 / (double)n,
		       isa == CNV_ISA_SCALAR ? "reference" : "matches scalar");
		printf("        shares:");
		for (int i = 0; i < CNV_STAGES; i++)
			printf(" %s %.1f%%", stage[i], 100.0 * (double)ns[i] / (double)total);
		printf("\n");
		cnv_ctx_free(ctx);
		best = isa;
	}

	if (threads > 0) {
		struct job *j = calloc((size_t)threads, sizeof(*j));
		pthread_t *tid = calloc((size_t)threads, sizeof(*tid));
		if (!j || !tid)
			return 1;
		pthread_barrier_init(&start_line, NULL, (unsigned)threads);
		for (int i = 0; i < threads; i++) {
			j[i] = (struct job){
				.m = m, .isa = best, .img = img, .n = n, .cpu = i, .runs = runs};
			pthread_create(&tid[i], NULL, thread_main, &j[i]);
		}
		for (int i = 0; i < threads; i++)
			pthread_join(tid[i], NULL);
		double bestrate = 0;
		for (int r = 0; r < runs; r++) {
			double slowest = 0;
			for (int i = 0; i < threads; i++)
				slowest = j[i].secs[r] > slowest ? j[i].secs[r] : slowest;
			double rate = (double)n * threads / slowest;
			bestrate = rate > bestrate ? rate : bestrate;
		}
		for (int i = 0; i < threads; i++)
			if (j[i].rc) {
				fprintf(stderr, "cnv-kernel-bench: thread %d: %s\n", i,
					strerror(-j[i].rc));
				return 1;
			}
		printf("%-7s %d threads: %.0f images/s together (%zu images per thread, threads "
		       "pinned to cores 0..%d, best of %d runs)\n",
		       cnv_isa_name(best), threads, bestrate, n, threads - 1, runs);
		pthread_barrier_destroy(&start_line);
		free(j);
		free(tid);
	}
	free(img);
	free(ref);
	free(cls);
	free(ref_sc);
	cnv_model_free(m);
	return 0;
}
