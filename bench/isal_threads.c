/* SPDX-License-Identifier: MIT */
/* isal_threads.c - is ISA-L's deflate deterministic across threads? No Octoray code: the file is
 * cut into 32 KiB chunks, one thread deflates each (level 1, sync flush, as deflate_sw.c does)
 * for the reference, then THREADS threads, each with its own stream and level buffer, deflate
 * random chunks and compare every output with the reference. On this project's CI host (a
 * 2-core PVM guest) a run now and then finds chunks encoded differently (valid deflate of the
 * same bytes) under heavy CPU contention, e.g. `nice -n 19 isal-threads 4` beside three busy
 * loops; the failover tests retry such a schedule (tests/unit/test_failover.c).
 *
 *   isal-threads [THREADS [ITERATIONS [FILE]]]     exit 1 if any output differed
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/igzip_lib.h>

#define CHUNK (32 * 1024)
#define CAP (CHUNK + 64)
#define MAX_CHUNKS 64

static uint8_t *data;
static size_t len, nchunks, iterations;
static uint8_t ref[MAX_CHUNKS][CAP];
static size_t ref_len[MAX_CHUNKS];
static long differed[MAX_CHUNKS];

struct deflater {
	struct isal_zstream zs;
	uint8_t *level_buf;
};

static size_t deflate_chunk(struct deflater *d, size_t k, uint8_t *out)
{
	struct isal_zstream *zs = &d->zs;
	isal_deflate_reset(zs);
	zs->level = 1;
	zs->level_buf = d->level_buf;
	zs->level_buf_size = ISAL_DEF_LVL1_DEFAULT;
	zs->gzip_flag = IGZIP_DEFLATE;
	zs->next_in = data + k * CHUNK;
	zs->avail_in = (uint32_t)(k + 1 < nchunks ? CHUNK : len - k * CHUNK);
	zs->next_out = out;
	zs->avail_out = CAP;
	zs->flush = SYNC_FLUSH;
	zs->end_of_stream = 0;
	return isal_deflate(zs) == COMP_OK && !zs->avail_in ? zs->total_out : 0;
}

static int deflater_init(struct deflater *d)
{
	isal_deflate_init(&d->zs);
	d->level_buf = malloc(ISAL_DEF_LVL1_DEFAULT);
	return d->level_buf ? 0 : -1;
}

static void *thread_main(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	struct deflater d;
	uint8_t out[CAP];
	if (deflater_init(&d) < 0)
		return NULL;
	for (size_t i = 0; i < iterations; i++) {
		size_t k = (size_t)rand_r(&seed) % nchunks;
		size_t n = deflate_chunk(&d, k, out);
		if (n != ref_len[k] || memcmp(out, ref[k], n))
			__atomic_fetch_add(&differed[k], 1, __ATOMIC_RELAXED);
	}
	free(d.level_buf);
	return NULL;
}

static void make_text(void)
{
	static const char *words[] = { "the ", "chunk ", "of ", "data ", "and ", "a ", "device ",
				       "runtime ", "is ", "in ", "order ", "octoray ", "\n" };
	len = 24 * CHUNK + 1000;
	data = malloc(len);
	uint64_t x = 2024;
	for (size_t i = 0; i < len;) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		const char *w = words[(x >> 33) % (sizeof(words) / sizeof(words[0]))];
		for (; *w && i < len; w++)
			data[i++] = (uint8_t)*w;
	}
}

int main(int argc, char **argv)
{
	unsigned threads = argc > 1 ? (unsigned)atoi(argv[1]) : 4;
	iterations = argc > 2 ? (size_t)atol(argv[2]) : 50000;
	if (argc > 3) {
		FILE *f = fopen(argv[3], "rb");
		data = malloc((size_t)MAX_CHUNKS * CHUNK);
		len = f && data ? fread(data, 1, (size_t)MAX_CHUNKS * CHUNK, f) : 0;
		if (f)
			fclose(f);
		if (!len) {
			fprintf(stderr, "isal-threads: %s: cannot read it\n", argv[3]);
			return 2;
		}
	} else {
		make_text();
	}
	if (threads < 1 || threads > 64) {
		fprintf(stderr, "isal-threads: 1 to 64 threads\n");
		return 2;
	}
	nchunks = (len + CHUNK - 1) / CHUNK;
	struct deflater d;
	if (deflater_init(&d) < 0)
		return 2;
	for (size_t k = 0; k < nchunks; k++)
		ref_len[k] = deflate_chunk(&d, k, ref[k]);
	free(d.level_buf);
	pthread_t t[64];
	for (unsigned i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, thread_main, (void *)(uintptr_t)(i + 1));
	for (unsigned i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	long total = 0;
	for (size_t k = 0; k < nchunks; k++) {
		if (differed[k])
			printf("chunk %zu: %ld outputs differed from the reference\n", k, differed[k]);
		total += differed[k];
	}
	printf("%ld of %zu outputs differed (%u threads, %zu chunks)\n", total,
	       iterations * threads, threads, nchunks);
	return total ? 1 : 0;
}
