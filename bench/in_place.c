/* SPDX-License-Identifier: MIT */
/* in_place.c - what reading input in place costs on this host, no Octoray code: ISA-L level 1
 * deflates a file 1 MiB at a time (and takes its CRC, as a gzip chunk does), on one thread,
 * with its input
 *   copy    read into one reused 1 MiB buffer (what the pool does: a kernel copy per byte)
 *   map     read in place through a mapping of the page cache (map_files, --mmap)
 *   anon4k  the whole file copied beforehand into anonymous memory on 4 KiB pages
 *   anon2m  the same on 2 MiB pages (MADV_HUGEPAGE; the THP setting must allow it)
 * The four ways take turns for ROUNDS rounds; prints each one's median milliseconds (the
 * copies made beforehand are not timed). Whether map_files should be the default depends on
 * it: a mapping saves the copy but touches every page of the file once.
 *
 *   in-place-bench FILE [ROUNDS]
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>

#include "bench.h"

#define CHUNK (1u << 20)
#define HUGE (2u << 20)
#define MAX_ROUNDS 64

enum way { COPY, MAP, ANON4K, ANON2M, NWAYS };
static const char *const way_name[NWAYS] = { "copy", "map", "anon4k", "anon2m" };

static struct isal_zstream zs;
static uint8_t level_buf[ISAL_DEF_LVL1_DEFAULT];
static uint8_t out[2 * CHUNK];
static volatile uint32_t crc_sink;

/* One chunk as deflate_sw.c makes it: ends in a sync flush, then its CRC. */
static void deflate_chunk(const uint8_t *in, size_t n)
{
	isal_deflate_reset(&zs);
	zs.level = 1;
	zs.level_buf = level_buf;
	zs.level_buf_size = sizeof(level_buf);
	zs.gzip_flag = IGZIP_DEFLATE;
	zs.next_in = (uint8_t *)in;
	zs.avail_in = (uint32_t)n;
	zs.next_out = out;
	zs.avail_out = sizeof(out);
	zs.flush = SYNC_FLUSH;
	zs.end_of_stream = 0;
	if (isal_deflate(&zs) != COMP_OK || zs.avail_in) {
		fprintf(stderr, "in-place-bench: isal_deflate failed\n");
		exit(1);
	}
	crc_sink = crc32_gzip_refl(0, in, n);
}

static void deflate_all(const uint8_t *in, size_t size)
{
	for (size_t off = 0; off < size; off += CHUNK)
		deflate_chunk(in + off, size - off < CHUNK ? size - off : CHUNK);
}

static void read_all(int fd, uint8_t *buf, size_t len, off_t off, const char *path)
{
	while (len) {
		ssize_t n = pread(fd, buf, len, off);
		if (n <= 0) {
			fprintf(stderr, "in-place-bench: %s: cannot read\n", path);
			exit(1);
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
}

/* The file copied into anonymous memory, on huge pages or not. */
static uint8_t *anon_copy(int fd, size_t size, bool huge, const char *path)
{
	size_t len = (size + HUGE - 1) / HUGE * HUGE;
	uint8_t *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("in-place-bench: mmap");
		exit(1);
	}
	(void)madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	read_all(fd, p, size, 0, path);
	return p;
}

static double run(enum way w, int fd, size_t size, const uint8_t *anon, const char *path)
{
	static uint8_t *buf;
	double t = bench_now();
	if (w == COPY) {
		if (!buf && !(buf = aligned_alloc(4096, CHUNK)))
			exit(1);
		for (size_t off = 0; off < size; off += CHUNK) {
			size_t n = size - off < CHUNK ? size - off : CHUNK;
			read_all(fd, buf, n, (off_t)off, path);
			deflate_chunk(buf, n);
		}
	} else if (w == MAP) {
		uint8_t *p = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED) {
			perror("in-place-bench: mmap");
			exit(1);
		}
		(void)madvise(p, size, MADV_SEQUENTIAL);
		deflate_all(p, size);
		munmap(p, size);
	} else {
		deflate_all(anon, size);
	}
	return (bench_now() - t) * 1e3;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: in-place-bench FILE [ROUNDS]\n");
		return 2;
	}
	const char *path = argv[1];
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	if (rounds < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "in-place-bench: ROUNDS must be 1..%d\n", MAX_ROUNDS);
		return 2;
	}
	int fd = open(path, O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		fprintf(stderr, "in-place-bench: %s: not a non-empty regular file\n", path);
		return 1;
	}
	size_t size = (size_t)st.st_size;
	isal_deflate_init(&zs);
	const uint8_t *anon[NWAYS] = { [ANON4K] = anon_copy(fd, size, false, path),
				       [ANON2M] = anon_copy(fd, size, true, path) };
	double ms[NWAYS][MAX_ROUNDS];
	for (int r = 0; r < rounds; r++)
		for (int w = 0; w < NWAYS; w++)
			ms[w][r] = run((enum way)w, fd, size, anon[w], path);
	for (int w = 0; w < NWAYS; w++) {
		double m = bench_median(ms[w], (size_t)rounds);
		printf("%-7s %8.1f ms  %7.1f MB/s\n", way_name[w], m, (double)size / 1e3 / m);
	}
	return 0;
}
