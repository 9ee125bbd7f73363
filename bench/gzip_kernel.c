/* SPDX-License-Identifier: MIT */
/* gzip_kernel.c - the gzip software kernel with no runtime: the CPU device's kernel, level and
 * chunk size (and dictionary priming) in a plain loop on one thread, over a file held in
 * memory. bench/run divides the runtime's MB/s by N times this figure (runtime efficiency), and
 * with -t N compares it with N such loops at once (what N cores of the host can really do).
 *
 * -s says where the input is, which decides whether map_files should be the default
 * (docs/architecture.md, I/O): a mapping saves the runtime's copy out of the page cache but
 * reads every page of the file through a new mapping. Several sources take turns, a pass each.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "apps/gzip/gzip_internal.h"
#include "bench.h"

static const char usage[] =
	"usage: gzip-kernel-bench [-l LEVEL] [-b KiB] [-r RUNS] [-t THREADS] [-i] [-m] [-s SRC] FILE\n"
	"  -l  level 1..9 (default 1)\n"
	"  -b  chunk size in KiB (default 1024, as octoray-run)\n"
	"  -r  timed passes over the file; the median is printed (default 3)\n"
	"  -t  run the loop on THREADS threads at once, each over the whole file, started\n"
	"      together; mbps is their sum (default 1)\n"
	"  -i  independent chunks (no 32 KiB dictionary), as octoray-run -i\n"
	"  -m  time memcpy of each chunk instead of the kernel (the cost of moving the data)\n"
	"  -s  where the input is, a comma list taking turns (default mem):\n"
	"      mem   the file read into memory beforehand (4 KiB pages)\n"
	"      huge  the same on 2 MiB pages (MADV_HUGEPAGE; THP must allow it)\n"
	"      copy  each chunk read from the file into one reused buffer, as the pool does\n"
	"      map   the file mapped for each pass and read in place, as map_files does\n"
	"Prints one line per source: [src=<source>] mbps=<MB/s of input, 10^6 B/s>\n"
	"ratio=<compressed/input> runs=<n> threads=<n> (src= only with -s)\n";

#define HUGE_PAGE ((size_t)2 << 20)

enum source { SRC_MEM, SRC_HUGE, SRC_COPY, SRC_MAP, NSOURCES };
static const char *const source_name[NSOURCES] = { "mem", "huge", "copy", "map" };

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
	const uint8_t *in; /* mem, huge; NULL: copy, map */
	int fd;            /* copy, map */
	enum source src;
	size_t len, chunk;
	struct gzip_params params;
	bool copy_only;
	pthread_barrier_t *start;
	double secs;
	uint64_t out_bytes;
	int rc;
};

static int read_at(int fd, uint8_t *dst, size_t len, size_t off)
{
	while (len) {
		ssize_t n = pread(fd, dst, len, (off_t)off);
		if (n <= 0)
			return n < 0 ? -errno : -EIO; /* the file shrank */
		dst += n;
		len -= (size_t)n;
		off += (size_t)n;
	}
	return 0;
}

/* One timed pass over the file, chunk by chunk, as a CPU device would run it. */
static void *timed_pass(void *arg)
{
	struct pass *p = arg;
	const struct ory_kernel_ops *k = ory_gzip_app.sw;
	void *state = NULL;
	size_t cap = gzip_chunk_bound(p->chunk);
	uint8_t *out = malloc(cap);
	/* copy: dictionary room, then the chunk, as a pool buffer */
	uint8_t *buf = p->src == SRC_COPY ? malloc(ORY_DICT_MAX + p->chunk) : NULL;
	p->rc = out && (buf || p->src != SRC_COPY) ? k->open(&state) : -ENOMEM;
	pthread_barrier_wait(p->start);
	if (p->rc < 0) {
		free(out);
		free(buf);
		return NULL;
	}
	p->out_bytes = 10 + 10; /* gzip header and trailer, as octoray-run writes them */
	double t0 = bench_now();
	const uint8_t *in = p->in;
	if (p->src == SRC_MAP) {
		void *m = mmap(NULL, p->len, PROT_READ, MAP_SHARED, p->fd, 0);
		if (m == MAP_FAILED) {
			p->rc = -errno;
		} else {
			(void)madvise(m, p->len, MADV_SEQUENTIAL); /* as the runtime's mapping */
			in = m;
		}
	}
	for (size_t off = 0; off < p->len && p->rc == 0; off += p->chunk) {
		size_t dict = p->params.primed ? (off < ORY_DICT_MAX ? off : ORY_DICT_MAX) : 0;
		size_t n = p->len - off < p->chunk ? p->len - off : p->chunk;
		const uint8_t *at;
		if (p->src == SRC_COPY) {
			/* the chunk before is whole: its tail becomes the dictionary, as reader.c
			 * primes a chunk read into the pool */
			memcpy(buf + ORY_DICT_MAX - dict, buf + ORY_DICT_MAX + p->chunk - dict, dict);
			if ((p->rc = read_at(p->fd, buf + ORY_DICT_MAX, n, off)) < 0)
				break;
			at = buf + ORY_DICT_MAX;
		} else {
			at = in + off;
		}
		struct ory_chunk c = {
			.seq = off / p->chunk,
			.params = &p->params,
			.in = at,
			.in_len = n,
			.dict = at - dict,
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
	if (p->src == SRC_MAP && in)
		munmap((void *)in, p->len);
	p->secs = bench_now() - t0;
	k->close(state);
	free(out);
	free(buf);
	return NULL;
}

/* The file's bytes again, in `size` bytes of 2 MiB pages. */
static uint8_t *on_huge_pages(const uint8_t *in, size_t len, size_t size)
{
	uint8_t *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	(void)madvise(p, size, MADV_HUGEPAGE);
	memcpy(p, in, len);
	return p;
}

/* -s: a comma list of sources into srcs; returns how many, 0 if one is unknown. */
static unsigned parse_sources(char *list, enum source *srcs)
{
	unsigned n = 0;
	for (char *save, *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned i = 0;
		while (i < NSOURCES && strcmp(t, source_name[i]))
			i++;
		if (i == NSOURCES || n == NSOURCES)
			return 0;
		srcs[n++] = (enum source)i;
	}
	return n;
}

int main(int argc, char **argv)
{
	int level = 1, runs = 3, threads = 1, opt;
	size_t chunk = 1024 * 1024;
	bool independent = false, copy_only = false, named = false;
	enum source srcs[NSOURCES] = { SRC_MEM };
	unsigned nsrcs = 1;
	while ((opt = getopt(argc, argv, "l:b:r:t:ims:h")) != -1) {
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
		case 's':
			named = true;
			nsrcs = parse_sources(optarg, srcs);
			break;
		default:
			fputs(usage, opt == 'h' ? stdout : stderr);
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind + 1 != argc || level < 1 || level > 9 || runs < 1 || runs > 99 || threads < 1 ||
	    threads > 256 || chunk < 32 * 1024 || chunk > 64 * 1024 * 1024 || nsrcs == 0) {
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
	int fd = open(argv[optind], O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "gzip-kernel-bench: %s: %s\n", argv[optind], strerror(errno));
		return 1;
	}
	uint8_t *huge = NULL;
	size_t huge_len = (len + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
	for (unsigned s = 0; s < nsrcs; s++)
		if (srcs[s] == SRC_HUGE && !huge && !(huge = on_huge_pages(in, len, huge_len))) {
			fprintf(stderr, "gzip-kernel-bench: out of memory\n");
			return 1;
		}
	struct gzip_params params = {.level = level, .primed = !independent && level <= 3};
	double *mbps = calloc((size_t)runs * nsrcs, sizeof(double));
	uint64_t out_bytes[NSOURCES] = { 0 };
	struct pass *ps = calloc((size_t)threads, sizeof(*ps));
	pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
	pthread_barrier_t start;
	if (!mbps || !ps || !tids || pthread_barrier_init(&start, NULL, (unsigned)threads)) {
		fprintf(stderr, "gzip-kernel-bench: out of memory\n");
		return 1;
	}
	for (int r = 0; r < runs; r++) {
		for (unsigned s = 0; s < nsrcs; s++) {
			for (int t = 0; t < threads; t++) {
				ps[t] = (struct pass){.in = srcs[s] == SRC_HUGE  ? huge
							    : srcs[s] == SRC_MEM ? in
										 : NULL,
						      .fd = fd,
						      .src = srcs[s],
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
					fprintf(stderr, "gzip-kernel-bench: %s: %s\n", argv[optind],
						strerror(-ps[t].rc));
					return 1;
				}
				slowest = ps[t].secs > slowest ? ps[t].secs : slowest;
			}
			/* all threads did the same work; the slowest one bounds what they did
			 * together */
			mbps[s * (size_t)runs + r] = (double)len * threads / slowest / 1e6;
			out_bytes[s] = ps[0].out_bytes;
		}
	}
	for (unsigned s = 0; s < nsrcs; s++)
		printf("%s%s%smbps=%.1f ratio=%.4f runs=%d threads=%d\n", named ? "src=" : "",
		       named ? source_name[srcs[s]] : "", named ? " " : "",
		       bench_median(mbps + s * (size_t)runs, (size_t)runs),
		       (double)out_bytes[s] / (double)len, runs, threads);
	pthread_barrier_destroy(&start);
	if (huge)
		munmap(huge, huge_len);
	close(fd);
	free(tids);
	free(ps);
	free(mbps);
	free(in);
	return 0;
}
