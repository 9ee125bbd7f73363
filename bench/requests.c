/* SPDX-License-Identifier: MIT */
/*
 * requests.c - request-bench: objects cut from a file compressed by client threads through one
 * resident runtime (ory_gzip_buf, or ory_submit + ory_queue_poll) next to the same threads
 * calling the compressor directly (ISA-L's isal_deflate at levels 1-3, libdeflate's
 * libdeflate_gzip_compress at 4-9, gzip framing both), interleaved in one process so that the
 * ratios are measured side by side. Every output is inflated (libdeflate) and compared with its
 * object, outside the timed part. bench/requests drives it and writes the report.
 *
 * Throughput (default): in each round each mode runs one batch (every thread compresses its N
 * objects, all threads released together); the modes' order rotates per round; MB/s of a
 * batch = bytes of all objects / wall time from the first thread's start to the last one's end,
 * as the threads read the clock; ratio = mode MB/s / direct MB/s of the same round, median over
 * rounds.
 * Paired (-p, one thread): every object goes through every mode in turn (order rotating), so
 * the overhead is the median of per-object differences from direct, not of two noisy series.
 * Memory (-M N): N requests from the file (in_fd, in_offset) to /dev/null, all queued at once
 * with max_requests N and inline_max 0; VmRSS/VmHWM before create, after create, after queuing
 * and at the end, each request's status and CRC-32 checked against its object.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>

#include "octoray/octoray.h"
#include "bench.h"

static const char usage[] =
	"usage: request-bench [options] FILE\n"
	"  -s BYTES   object size (suffix K or M: KiB, MiB; default 64K)\n"
	"  -t N       client threads (default 1)\n"
	"  -l LEVEL   1..9 (default 1)\n"
	"  -d SPEC    device spec (default all)\n"
	"  -n N       objects per thread per batch (default 64)\n"
	"  -r N       rounds (default 7)\n"
	"  -m MODES   comma list of direct,sync,async (default all three; without direct, for\n"
	"             a profile, no ratio)\n"
	"  -q DEPTH   async: requests in flight per thread (default 1)\n"
	"  -V         runtime verify none (the default verifies devices other than CPU workers)\n"
	"  -p         paired: one thread, every object through every mode in turn\n"
	"  -M N       memory: N file requests queued at once (to /dev/null); prints RSS\n"
	"Prints one line per mode: mode=.. mbps=.. mbps_min=.. mbps_max=.. ratio=.. p50_us=..\n"
	"p99_us=.. (paired: also overhead_us=, the median per-object difference from direct)\n";

/* ISA-L's level buffer, large enough for levels 1-3 */
#define LEVEL_BUF (ISAL_DEF_LVL1_DEFAULT > ISAL_DEF_LVL3_DEFAULT ? ISAL_DEF_LVL1_DEFAULT \
						  : ISAL_DEF_LVL3_DEFAULT)

enum mode { DIRECT, SYNC, ASYNC, NMODES };
static const char *const mode_name[NMODES] = { "direct", "sync", "async" };

static struct {
	const uint8_t *file;
	size_t file_len, size;
	unsigned threads, per_thread, rounds, depth, level;
	bool modes[NMODES];
	struct ory_runtime *rt;
	pthread_barrier_t go, end, checked;
	enum mode cur;
	unsigned round;
	_Atomic bool stop;
} B;

struct client {
	unsigned id;
	pthread_t thread;
	/* direct compressors, made once */
	struct isal_zstream zs;
	uint8_t *level_buf;
	struct libdeflate_compressor *ldc;
	struct libdeflate_decompressor *ldd;
	struct ory_queue *q;
	struct ory_request *reqs; /* depth of them */
	uint8_t **out;            /* per_thread output buffers */
	size_t *out_len, out_cap;
	uint8_t *check;           /* inflated output */
	double *lat[NMODES];      /* per_thread * rounds latencies, us */
	size_t nlat[NMODES];
	double t_start, t_end;    /* this batch's first submit and last completion */
	int failures;
	char why[256];
};

static const uint8_t *object(unsigned round, unsigned thread, unsigned j)
{
	/* Consecutive objects, wrapping: every mode of a round sees the same ones. */
	size_t span = B.file_len - B.size + 1;
	size_t k = ((size_t)round * B.threads + thread) * B.per_thread + j;
	return B.file + (k * B.size) % span;
}

static int direct(struct client *c, const uint8_t *in, uint8_t *out, size_t cap, size_t *len)
{
	if (B.level > ISAL_DEF_MAX_LEVEL) {
		*len = libdeflate_gzip_compress(c->ldc, in, B.size, out, cap);
		return *len ? 0 : -ENOSPC;
	}
	struct isal_zstream *zs = &c->zs;
	isal_deflate_reset(zs);
	zs->level = B.level;
	zs->level_buf = c->level_buf;
	zs->level_buf_size = LEVEL_BUF;
	zs->gzip_flag = IGZIP_GZIP;
	zs->flush = NO_FLUSH;
	zs->end_of_stream = 1;
	zs->next_in = (uint8_t *)in;
	zs->avail_in = (uint32_t)B.size;
	zs->next_out = out;
	zs->avail_out = (uint32_t)cap;
	if (isal_deflate(zs) != COMP_OK || zs->internal_state.state != ZSTATE_END)
		return -ENOSPC;
	*len = zs->total_out;
	return 0;
}

/* Count a failure; the first one's reason is kept. rc 0: the output was wrong. */
static void fail(struct client *c, enum mode m, int rc)
{
	if (!c->failures++)
		snprintf(c->why, sizeof(c->why), "%s: %s", mode_name[m],
			 rc ? ory_strerror(rc) : "output does not inflate to its object");
}

static void log_line(void *arg, enum ory_log_level level, const char *msg)
{
	(void)arg;
	(void)level;
	fprintf(stderr, "request-bench: %s\n", msg);
}

static bool verify(struct client *c, const uint8_t *in, const uint8_t *gz, size_t len)
{
	size_t used = 0, got = 0;
	/* _ex: our files may carry index members after the first */
	enum libdeflate_result r = libdeflate_gzip_decompress_ex(c->ldd, gz, len, c->check, B.size,
								 &used, &got);
	return r == LIBDEFLATE_SUCCESS && got == B.size && !memcmp(c->check, in, B.size);
}

/* Run object `in` through mode m into out; latency in us, <0 on failure. */
static double one_sync(struct client *c, enum mode m, const uint8_t *in, unsigned j)
{
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = (int)B.level;
	double t0 = bench_now();
	int rc;
	if (m == DIRECT) {
		rc = direct(c, in, c->out[j], c->out_cap, &c->out_len[j]);
	} else if (m == SYNC) {
		rc = ory_gzip_buf(B.rt, in, B.size, c->out[j], c->out_cap, &c->out_len[j], &g,
				  NULL);
	} else {
		struct ory_request *req = &c->reqs[0], *got;
		ory_request_init(req, ORY_OP_DEFLATE);
		req->in = in;
		req->in_len = B.size;
		req->out = c->out[j];
		req->out_cap = c->out_cap;
		req->gzip = &g;
		while ((rc = ory_submit(B.rt, c->q, req)) == -EAGAIN)
			sched_yield();
		if (rc == 0)
			rc = ory_queue_poll(c->q, &got, 1, -1) == 1 && got == req ? req->status
										  : -EPROTO;
		c->out_len[j] = req->bytes_out;
	}
	double us = (bench_now() - t0) * 1e6;
	if (rc < 0) {
		fail(c, m, rc);
		return -1;
	}
	return us;
}

/* Async batch: up to `depth` requests in flight; latency = submit to poll. */
static void batch_async(struct client *c, unsigned round)
{
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = (int)B.level;
	double t_sub[64];
	unsigned next = 0, done = 0, inflight = 0;
	unsigned free_slots[64], nfree = B.depth;
	for (unsigned i = 0; i < B.depth; i++)
		free_slots[i] = i;
	while (done < B.per_thread) {
		while (next < B.per_thread && nfree) {
			unsigned s = free_slots[--nfree];
			struct ory_request *req = &c->reqs[s];
			ory_request_init(req, ORY_OP_DEFLATE);
			req->in = object(round, c->id, next);
			req->in_len = B.size;
			req->out = c->out[next];
			req->out_cap = c->out_cap;
			req->gzip = &g;
			req->cookie = (void *)(uintptr_t)next;
			t_sub[s] = bench_now();
			int rc = ory_submit(B.rt, c->q, req);
			if (rc == -EAGAIN) {
				free_slots[nfree++] = s;
				break;
			}
			if (rc < 0) {
				fail(c, ASYNC, rc);
				free_slots[nfree++] = s;
				c->out_len[next] = 0;
				next++;
				done++;
				continue;
			}
			next++;
			inflight++;
		}
		if (!inflight)
			continue;
		struct ory_request *got[64];
		int n = ory_queue_poll(c->q, got, 64, -1);
		double now = bench_now();
		for (int i = 0; i < n; i++) {
			unsigned s = (unsigned)(got[i] - c->reqs);
			unsigned j = (unsigned)(uintptr_t)got[i]->cookie;
			c->lat[ASYNC][c->nlat[ASYNC]++] = (now - t_sub[s]) * 1e6;
			c->out_len[j] = got[i]->bytes_out;
			if (got[i]->status < 0) {
				fail(c, ASYNC, got[i]->status);
				c->out_len[j] = 0;
			}
			free_slots[nfree++] = s;
			inflight--;
			done++;
		}
	}
}

static void check_batch(struct client *c, unsigned round, enum mode m)
{
	for (unsigned j = 0; j < B.per_thread; j++)
		if (c->out_len[j] && !verify(c, object(round, c->id, j), c->out[j], c->out_len[j]))
			fail(c, m, 0);
}

static void *client_main(void *arg)
{
	struct client *c = arg;
	for (;;) {
		pthread_barrier_wait(&B.go);
		if (atomic_load(&B.stop))
			return NULL;
		enum mode m = B.cur;
		unsigned round = B.round;
		c->t_start = bench_now();
		if (m == ASYNC) {
			batch_async(c, round);
		} else {
			for (unsigned j = 0; j < B.per_thread; j++) {
				double us = one_sync(c, m, object(round, c->id, j), j);
				if (us >= 0)
					c->lat[m][c->nlat[m]++] = us;
				else
					c->out_len[j] = 0;
			}
		}
		c->t_end = bench_now();
		pthread_barrier_wait(&B.end);
		check_batch(c, round, m); /* untimed */
		pthread_barrier_wait(&B.checked);
	}
}

static int client_init(struct client *c, unsigned id)
{
	memset(c, 0, sizeof(*c));
	c->id = id;
	isal_deflate_init(&c->zs);
	c->level_buf = malloc(LEVEL_BUF);
	c->ldc = libdeflate_alloc_compressor(B.level > 3 ? (int)B.level : 1);
	c->ldd = libdeflate_alloc_decompressor();
	c->reqs = calloc(B.depth, sizeof(*c->reqs));
	c->out = calloc(B.per_thread, sizeof(*c->out));
	c->out_len = calloc(B.per_thread, sizeof(*c->out_len));
	c->check = malloc(B.size);
	size_t b = B.size + B.size / 16 + 4096; /* > ISA-L's and libdeflate's bounds */
	c->out_cap = B.rt ? ory_gzip_bound(B.rt, B.size) : b;
	if (c->out_cap < b)
		c->out_cap = b;
	if (!c->level_buf || !c->ldc || !c->ldd || !c->reqs || !c->out || !c->out_len || !c->check)
		return -ENOMEM;
	for (unsigned j = 0; j < B.per_thread; j++) {
		if (!(c->out[j] = malloc(c->out_cap)))
			return -ENOMEM;
		memset(c->out[j], 0, c->out_cap); /* faulted in now, not in a timed batch */
	}
	for (int m = 0; m < NMODES; m++)
		if (!(c->lat[m] = malloc(sizeof(double) * B.per_thread * B.rounds)))
			return -ENOMEM;
	if (B.rt && ory_queue_create(B.rt, &c->q) < 0)
		return -ENOMEM;
	return 0;
}

/* The q-th percentile (0..1) of all clients' latencies in mode m. */
static double percentile(struct client *cl, enum mode m, double q)
{
	size_t n = 0;
	for (unsigned i = 0; i < B.threads; i++)
		n += cl[i].nlat[m];
	if (!n)
		return 0;
	double *v = malloc(n * sizeof(*v));
	size_t k = 0;
	for (unsigned i = 0; i < B.threads; i++) {
		memcpy(v + k, cl[i].lat[m], cl[i].nlat[m] * sizeof(*v));
		k += cl[i].nlat[m];
	}
	qsort(v, n, sizeof(*v), bench_cmp_double);
	size_t idx = (size_t)(q * (double)(n - 1) + 0.5);
	double x = v[idx];
	free(v);
	return x;
}

static double vmsize_kib(const char *key)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	double v = -1;
	size_t kl = strlen(key);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = atof(line + kl + 1);
	if (f)
		fclose(f);
	return v;
}

/* -M: n file requests queued at once; memory bounded by the pool, not by n. */
static int memory_test(const char *path, const char *devices, unsigned n, int fd)
{
	double rss0 = vmsize_kib("VmRSS");
	struct ory_runtime_opts ro;
	ory_runtime_opts_init(&ro);
	ro.devices = devices;
	ro.max_requests = n;
	ro.inline_max = 0;
	char err[256];
	if (ory_runtime_create(&ro, &B.rt, err, sizeof(err)) < 0) {
		fprintf(stderr, "request-bench: --devices %s: %s\n", devices, err);
		return 1;
	}
	double rss1 = vmsize_kib("VmRSS");
	struct ory_request *reqs = calloc(n, sizeof(*reqs));
	uint32_t *want = calloc(n, sizeof(*want));
	struct ory_queue *q;
	int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (!reqs || !want || null_fd < 0 || ory_queue_create(B.rt, &q) < 0)
		return 1;
	size_t span = B.file_len - B.size + 1;
	for (unsigned i = 0; i < n; i++)
		want[i] = crc32_gzip_refl(0, B.file + ((size_t)i * B.size) % span, B.size);
	double rss2 = vmsize_kib("VmRSS"); /* the records above are ours, not the runtime's */
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = (int)B.level;
	double t0 = bench_now();
	unsigned submitted = 0;
	for (; submitted < n; submitted++) {
		struct ory_request *r = &reqs[submitted];
		ory_request_init(r, ORY_OP_DEFLATE);
		r->in_fd = fd;
		r->in_offset = (int64_t)(((size_t)submitted * B.size) % span);
		r->in_len = B.size;
		r->out_fd = null_fd;
		r->gzip = &g;
		int rc = ory_submit(B.rt, q, r);
		if (rc < 0) {
			fprintf(stderr, "request-bench: submit %u: %s %s\n", submitted,
				ory_strerror(rc), r->errmsg);
			break;
		}
	}
	double rss3 = vmsize_kib("VmRSS");
	unsigned done = 0, bad = 0;
	while (done < submitted) {
		struct ory_request *got[256];
		int k = ory_queue_poll(q, got, 256, -1);
		for (int i = 0; i < k; i++) {
			unsigned idx = (unsigned)(got[i] - reqs);
			if (got[i]->status < 0 || got[i]->bytes_in != B.size ||
			    got[i]->crc32 != want[idx] || got[i]->bytes_out == 0)
				bad++;
		}
		done += (unsigned)(k > 0 ? k : 0);
	}
	double secs = bench_now() - t0;
	double rss4 = vmsize_kib("VmRSS"), hwm = vmsize_kib("VmHWM");
	struct ory_job_stats st = { .struct_size = sizeof(st) };
	size_t out_len;
	uint8_t tiny[256];
	ory_gzip_buf(B.rt, "x", 1, tiny, sizeof(tiny), &out_len, &g, &st);
	printf("mode=memory requests=%u size=%zu submitted=%u bad=%u mbps=%.1f "
	       "rss_start_kib=%.0f rss_created_kib=%.0f rss_before_submit_kib=%.0f "
	       "rss_queued_kib=%.0f rss_end_kib=%.0f hwm_kib=%.0f pool_kib=%zu\n",
	       n, B.size, submitted, bad, (double)submitted * (double)B.size / 1e6 / secs, rss0,
	       rss1, rss2, rss3, rss4, hwm, st.pool_bytes >> 10);
	ory_queue_destroy(q);
	ory_runtime_destroy(B.rt);
	(void)path;
	return bad || submitted < n;
}

static size_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (*end == 'K' || *end == 'k')
		v *= 1024;
	else if (*end == 'M' || *end == 'm')
		v *= 1024 * 1024;
	return (size_t)v;
}

int main(int argc, char **argv)
{
	const char *devices = "all";
	bool paired = false, noverify = false;
	unsigned mem_n = 0;
	int opt;
	B.size = 64 * 1024;
	B.threads = 1;
	B.level = 1;
	B.per_thread = 64;
	B.rounds = 7;
	B.depth = 1;
	B.modes[DIRECT] = B.modes[SYNC] = B.modes[ASYNC] = true;
	while ((opt = getopt(argc, argv, "s:t:l:d:n:r:m:q:VpM:h")) != -1) {
		switch (opt) {
		case 's': B.size = parse_size(optarg); break;
		case 't': B.threads = (unsigned)atoi(optarg); break;
		case 'l': B.level = (unsigned)atoi(optarg); break;
		case 'd': devices = optarg; break;
		case 'n': B.per_thread = (unsigned)atoi(optarg); break;
		case 'r': B.rounds = (unsigned)atoi(optarg); break;
		case 'q': B.depth = (unsigned)atoi(optarg); break;
		case 'V': noverify = true; break;
		case 'p': paired = true; break;
		case 'M': mem_n = (unsigned)atoi(optarg); break;
		case 'm':
			for (int m = 0; m < NMODES; m++)
				B.modes[m] = false;
			for (char *save, *t = strtok_r(optarg, ",", &save); t;
			     t = strtok_r(NULL, ",", &save))
				for (int m = 0; m < NMODES; m++)
					if (!strcmp(t, mode_name[m]))
						B.modes[m] = true;
			break;
		default: fputs(usage, opt == 'h' ? stdout : stderr); return opt == 'h' ? 0 : 2;
		}
	}
	if (optind + 1 != argc || !B.size || !B.threads || B.threads > 256 || !B.per_thread ||
	    !B.rounds || B.level < 1 || B.level > 9 || !B.depth || B.depth > 64 ||
	    (paired && (B.threads != 1 || !B.modes[DIRECT]))) {
		fputs(usage, stderr);
		return 2;
	}
	const char *path = argv[optind];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || (size_t)st.st_size < B.size) {
		fprintf(stderr, "request-bench: %s: cannot open, or smaller than one object\n",
			path);
		return 1;
	}
	B.file_len = (size_t)st.st_size;
	uint8_t *file = malloc(B.file_len);
	if (!file || pread(fd, file, B.file_len, 0) != (ssize_t)B.file_len) {
		fprintf(stderr, "request-bench: %s: cannot read it into memory\n", path);
		return 1;
	}
	/* On this project's host (a PVM guest) the first read from user space of a page the kernel
	 * wrote costs an exit to the hypervisor: 340-650 MB/s for the first pass over a buffer
	 * pread() filled, 16 GB/s for the second. Objects are cut from the buffer in turn, so the
	 * first rounds (the first pass over the file) paid for it, in whichever mode ran first.
	 * Read every page once now, untimed. */
	volatile uint8_t touch = 0;
	for (size_t i = 0; i < B.file_len; i += 4096)
		touch ^= file[i];
	(void)touch;
	B.file = file;
	if (mem_n)
		return memory_test(path, devices, mem_n, fd);

	struct ory_runtime_opts ro;
	ory_runtime_opts_init(&ro);
	ro.devices = devices;
	ro.log = log_line; /* a quarantine or a timeout explains a figure */
	if (noverify)
		ro.verify = ORY_VERIFY_NONE;
	if (B.threads * B.depth > ro.max_requests)
		ro.max_requests = B.threads * B.depth;
	char err[256];
	double t0 = bench_now();
	if (ory_runtime_create(&ro, &B.rt, err, sizeof(err)) < 0) {
		fprintf(stderr, "request-bench: --devices %s: %s\n", devices, err);
		return 1;
	}
	double create_ms = (bench_now() - t0) * 1e3;
	char names[256] = "";
	for (unsigned i = 0; i < ory_runtime_device_count(B.rt); i++) {
		struct ory_device_info di = { .struct_size = sizeof(di) };
		ory_runtime_device_info(B.rt, i, &di);
		snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s", i ? "+" : "",
			 di.name);
	}

	struct client *cl = calloc(B.threads, sizeof(*cl));
	for (unsigned i = 0; i < B.threads; i++)
		if (client_init(&cl[i], i) < 0) {
			fprintf(stderr, "request-bench: out of memory\n");
			return 1;
		}
	enum mode order[NMODES];
	unsigned nm = 0;
	for (int m = 0; m < NMODES; m++)
		if (B.modes[m])
			order[nm++] = (enum mode)m;
	double mbps[NMODES][100], ratio[NMODES][100];
	unsigned rounds = B.rounds > 100 ? 100 : B.rounds;
	double *diff[NMODES] = { 0 };

	if (paired) {
		struct client *c = &cl[0];
		size_t total = (size_t)B.per_thread * rounds;
		for (unsigned m = 0; m < NMODES; m++)
			diff[m] = malloc(sizeof(double) * total);
		double lat[NMODES];
		for (size_t k = 0; k < total; k++) {
			unsigned round = (unsigned)(k / B.per_thread);
			unsigned j = (unsigned)(k % B.per_thread);
			const uint8_t *in = object(round, 0, j);
			for (unsigned i = 0; i < nm; i++) {
				enum mode m = order[(i + k) % nm];
				lat[m] = one_sync(c, m, in, j);
				if (lat[m] < 0 || !verify(c, in, c->out[j], c->out_len[j]))
					fail(c, m, 0);
				c->lat[m][c->nlat[m]++] = lat[m];
			}
			for (unsigned i = 0; i < nm; i++)
				diff[order[i]][k] = lat[order[i]] - lat[DIRECT];
		}
	} else {
		pthread_barrier_init(&B.go, NULL, B.threads + 1);
		pthread_barrier_init(&B.end, NULL, B.threads + 1);
		pthread_barrier_init(&B.checked, NULL, B.threads + 1);
		for (unsigned i = 0; i < B.threads; i++)
			pthread_create(&cl[i].thread, NULL, client_main, &cl[i]);
		for (unsigned r = 0; r < rounds; r++) {
			for (unsigned i = 0; i < nm; i++) {
				enum mode m = order[(i + r) % nm];
				B.cur = m;
				B.round = r;
				pthread_barrier_wait(&B.go);
				pthread_barrier_wait(&B.end);
				/* From the first client's start to the last one's end, as the clients
				 * saw them: this thread may wait ms for a CPU after either barrier
				 * (the clients start checking at once), which is no mode's cost. */
				double a = cl[0].t_start, b = cl[0].t_end;
				for (unsigned i = 1; i < B.threads; i++) {
					a = cl[i].t_start < a ? cl[i].t_start : a;
					b = cl[i].t_end > b ? cl[i].t_end : b;
				}
				double secs = b - a;
				pthread_barrier_wait(&B.checked);
				mbps[m][r] = (double)B.size * B.per_thread * B.threads / 1e6 / secs;
			}
			for (unsigned i = 0; i < nm; i++) /* 0 without direct (profiling) */
				ratio[order[i]][r] = B.modes[DIRECT] ? mbps[order[i]][r] /
									   mbps[DIRECT][r] : 0;
		}
		atomic_store(&B.stop, true);
		pthread_barrier_wait(&B.go);
		for (unsigned i = 0; i < B.threads; i++)
			pthread_join(cl[i].thread, NULL);
	}

	int failures = 0;
	for (unsigned i = 0; i < B.threads; i++)
		if (cl[i].failures) {
			fprintf(stderr, "request-bench: thread %u: %d failures, first: %s\n", i,
				cl[i].failures, cl[i].why);
			failures += cl[i].failures;
		}
	printf("# size=%zu threads=%u level=%u devices=%s (%s) per_thread=%u rounds=%u depth=%u "
	       "verify=%s create_ms=%.1f checked=%s\n",
	       B.size, B.threads, B.level, devices, names, B.per_thread, rounds, B.depth,
	       noverify ? "none" : "auto", create_ms, failures ? "FAILED" : "all");
	for (unsigned i = 0; i < nm; i++) {
		enum mode m = order[i];
		double p50 = percentile(cl, m, 0.5), p99 = percentile(cl, m, 0.99);
		if (paired) {
			size_t total = (size_t)B.per_thread * rounds;
			double mb = (double)B.size / 1e6 / (p50 * 1e-6);
			printf("mode=%s mbps=%.1f p50_us=%.1f p99_us=%.1f overhead_us=%.2f\n",
			       mode_name[m], mb, p50, p99, bench_median(diff[m], total));
			continue;
		}
		double lo = mbps[m][0], hi = mbps[m][0];
		for (unsigned r = 1; r < rounds; r++) {
			lo = mbps[m][r] < lo ? mbps[m][r] : lo;
			hi = mbps[m][r] > hi ? mbps[m][r] : hi;
		}
		printf("mode=%s mbps=%.1f mbps_min=%.1f mbps_max=%.1f ratio=%.3f p50_us=%.1f "
		       "p99_us=%.1f\n",
		       mode_name[m], bench_median(mbps[m], rounds), lo, hi,
		       bench_median(ratio[m], rounds), p50, p99);
	}
	for (unsigned i = 0; i < B.threads; i++)
		ory_queue_destroy(cl[i].q);
	ory_runtime_destroy(B.rt);
	return failures ? 1 : 0;
}
