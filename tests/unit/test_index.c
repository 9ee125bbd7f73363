/* SPDX-License-Identifier: MIT */
/* test_index.c - our indexed gzip files (docs/format.md): round trips through the parallel
 * reader for sizes around chunk boundaries, chunk sizes and levels, with the index in the header
 * and at the end; zlib reads the same bytes; ranges equal the original's bytes; a flipped byte
 * or a lying index gives an error, never other bytes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "util.h"

#define KiB 1024u
#define RT_CHUNK (256 * KiB)

static struct ory_runtime *rt;
static char *dir;

static void setup(void)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "cpu:2";
	o.chunk_size = RT_CHUNK;
	char err[256];
	cr_assert_eq(ory_runtime_create(&o, &rt, err, sizeof(err)), 0, "%s", err);
	dir = tu_mkdtemp();
}

static void teardown(void)
{
	ory_runtime_destroy(rt);
	tu_rmtree(dir);
	free(dir);
}

TestSuite(index, .init = setup, .fini = teardown, .timeout = 300);

/* ---- writing -------------------------------------------------------------------------- */

static uint8_t *gz_buf(const uint8_t *in, size_t len, int level, size_t chunk, size_t *gz_len)
{
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = level;
	g.chunk_size = chunk;
	size_t cap = len + len / 8 + 64 * KiB;
	uint8_t *gz = malloc(cap);
	cr_assert_eq(ory_gzip_buf(rt, in, len, gz, cap, gz_len, &g, NULL), 0, "%s",
		     ory_runtime_errmsg(rt));
	return gz;
}

struct feed {
	int fd;
	const uint8_t *p;
	size_t len;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	cr_assert_eq(write(f->fd, f->p, f->len), (ssize_t)f->len);
	close(f->fd);
	return NULL;
}

/* From a pipe: the size is unknown, so the index goes in members at the end. */
static uint8_t *gz_pipe(const uint8_t *in, size_t len, int level, size_t chunk, size_t *gz_len)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	struct feed f = { p[1], in, len };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, feeder, &f), 0);
	const char *path = tu_path(dir, "pipe.gz");
	int out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(out, 0);
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = level;
	g.chunk_size = chunk;
	cr_assert_eq(ory_gzip_fd(rt, p[0], out, &g, NULL), 0, "%s", ory_runtime_errmsg(rt));
	pthread_join(t, NULL);
	close(p[0]);
	close(out);
	uint8_t *gz = tu_read_file(path, gz_len);
	cr_assert_not_null(gz);
	return gz;
}

/* ---- reading -------------------------------------------------------------------------- */

/* ory_gunzip_buf: 0 and *out (malloc'd, *out_len bytes), or the error (*out NULL). */
static int gunzip_buf(const uint8_t *gz, size_t gz_len, size_t cap, uint8_t **out,
		      size_t *out_len)
{
	*out = malloc(cap + 1);
	int rc = ory_gunzip_buf(rt, gz, gz_len, *out, cap, out_len, NULL, NULL);
	if (rc < 0) {
		free(*out);
		*out = NULL;
	}
	return rc;
}

/* ory_gunzip_fd from a file to a file. */
static int gunzip_file(const uint8_t *gz, size_t gz_len, uint8_t **got, size_t *got_len)
{
	const char *in_path = tu_path(dir, "in.gz"), *out_path = tu_path(dir, "out");
	cr_assert_eq(tu_write_file(in_path, gz, gz_len), 0);
	int in = open(in_path, O_RDONLY), out = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(in >= 0 && out >= 0);
	int rc = ory_gunzip_fd(rt, in, out, NULL, NULL);
	close(in);
	close(out);
	*got = rc == 0 ? tu_read_file(out_path, got_len) : NULL;
	return rc;
}

static void expect_same(const uint8_t *got, size_t got_len, const uint8_t *want, size_t want_len,
			const char *what)
{
	cr_assert_eq(got_len, want_len, "%s: %zu bytes, want %zu", what, got_len, want_len);
	cr_assert(!want_len || !memcmp(got, want, want_len), "%s: other bytes", what);
}

static void expect_info(const uint8_t *gz, size_t gz_len, size_t len, size_t chunk, bool at_end)
{
	const char *path = tu_path(dir, "info.gz");
	cr_assert_eq(tu_write_file(path, gz, gz_len), 0);
	int fd = open(path, O_RDONLY);
	struct ory_gzip_info info = { .struct_size = sizeof(info) };
	char why[160];
	cr_assert_eq(ory_gzip_info(fd, &info, why, sizeof(why)), 0, "%s", why);
	close(fd);
	size_t chunks = (len + chunk - 1) / chunk;
	cr_assert_eq(info.indexed, chunks > 1, "%zu bytes in %zu-byte chunks", len, chunk);
	if (!info.indexed)
		return;
	cr_assert_eq(info.index_at_end, at_end);
	cr_assert_eq(info.chunks, chunks);
	cr_assert_eq(info.chunk_size, chunk);
	cr_assert_eq(info.size, len);
}

static void round_trip(const uint8_t *data, size_t len, int level, size_t chunk, bool pipe)
{
	size_t gz_len, n;
	uint8_t *gz = (pipe ? gz_pipe : gz_buf)(data, len, level, chunk, &gz_len);
	char why[256], what[96];
	snprintf(what, sizeof(what), "%zu bytes, -%d, %zu KiB chunks, %s", len, level, chunk / KiB,
		 pipe ? "index at the end" : "index in the header");
	cr_assert(tu_gzip_is_member_of(gz, gz_len, data, len, why, sizeof(why)), "%s: %s", what,
		  why);
	expect_info(gz, gz_len, len, chunk, pipe);
	uint8_t *out;
	cr_assert_eq(gunzip_buf(gz, gz_len, len, &out, &n), 0, "%s: %s", what,
		     ory_runtime_errmsg(rt));
	expect_same(out, n, data, len, what);
	free(out);
	cr_assert_eq(gunzip_file(gz, gz_len, &out, &n), 0, "%s: %s", what, ory_runtime_errmsg(rt));
	expect_same(out, n, data, len, what);
	free(out);
	free(gz);
}

Test(index, round_trips_around_chunk_boundaries)
{
	static const size_t chunks[] = { 32 * KiB, 100 * KiB, RT_CHUNK };
	static const int levels[] = { 1, 6, 9 };
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
		size_t k = chunks[c];
		size_t sizes[] = { 0, 1, k - 1, k, k + 1, 2 * k, 3 * k + 7 };
		uint8_t *data = tu_text(3 * k + 7, c);
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
			for (size_t l = 0; l < sizeof(levels) / sizeof(levels[0]); l++)
				for (int pipe = 0; pipe < 2; pipe++)
					round_trip(data, sizes[s], levels[l], k, pipe);
		free(data);
	}
}

Test(index, incompressible_chunks)
{
	uint8_t *data = tu_random(5 * 32 * KiB + 3, 7);
	round_trip(data, 5 * 32 * KiB + 3, 1, 32 * KiB, false);
	round_trip(data, 5 * 32 * KiB + 3, 9, 32 * KiB, true);
	free(data);
}

/* A runtime whose chunks are smaller than the file's reads it sequentially: same bytes. */
Test(index, chunks_larger_than_the_runtimes)
{
	size_t len = 3 * RT_CHUNK + 5, gz_len, n;
	uint8_t *data = tu_text(len, 3);
	uint8_t *gz = gz_buf(data, len, 6, RT_CHUNK, &gz_len);
	struct ory_runtime *small;
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "cpu:1";
	o.chunk_size = 64 * KiB;
	cr_assert_eq(ory_runtime_create(&o, &small, NULL, 0), 0);
	uint8_t *out = malloc(len);
	cr_assert_eq(ory_gunzip_buf(small, gz, gz_len, out, len, &n, NULL, NULL), 0);
	expect_same(out, n, data, len, "read by 64 KiB chunks");
	const char *path = tu_path(dir, "big.gz");
	cr_assert_eq(tu_write_file(path, gz, gz_len), 0);
	int fd = open(path, O_RDONLY);
	cr_assert_eq(ory_gunzip_range(small, fd, 0, 10, out, len, &n, NULL), -ENOTSUP);
	close(fd);
	ory_runtime_destroy(small);
	free(out);
	free(gz);
	free(data);
}

/* ---- random access -------------------------------------------------------------------- */

static int range(const char *path, uint64_t off, uint64_t len, uint8_t *out, size_t cap,
		 size_t *n)
{
	int fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0);
	int rc = ory_gunzip_range(rt, fd, off, len, out, cap, n, NULL);
	close(fd);
	return rc;
}

Test(index, ranges_equal_the_originals_bytes)
{
	size_t chunk = 32 * KiB, len = 20 * chunk + 1234, gz_len, n;
	uint8_t *data = tu_text(len, 11);
	uint8_t *out = malloc(len);
	for (int pipe = 0; pipe < 2; pipe++) {
		uint8_t *gz = (pipe ? gz_pipe : gz_buf)(data, len, 6, chunk, &gz_len);
		const char *path = tu_path(dir, pipe ? "end.gz" : "head.gz");
		cr_assert_eq(tu_write_file(path, gz, gz_len), 0);
		uint64_t seed = 42;
		for (int i = 0; i < 200; i++) {
			seed = seed * 6364136223846793005ull + 1442695040888963407ull;
			uint64_t off = (seed >> 11) % (len + 10);
			uint64_t want = (seed >> 40) % (i < 100 ? 3 * chunk : len + 1);
			int rc = range(path, off, want, out, len, &n);
			cr_assert_eq(rc, 0, "[%lu, +%lu): %s", off, want, ory_runtime_errmsg(rt));
			size_t expect = off >= len ? 0 : (size_t)(want < len - off ? want : len - off);
			cr_assert_eq(n, expect, "[%lu, +%lu)", off, want);
			cr_assert(!n || !memcmp(out, data + off, n), "[%lu, +%lu): other bytes", off,
				  want);
		}
		/* every chunk boundary, from one byte before to one after */
		for (size_t k = 1; k < 20; k++) {
			cr_assert_eq(range(path, k * chunk - 1, 2, out, len, &n), 0);
			cr_assert(n == 2 && !memcmp(out, data + k * chunk - 1, 2));
		}
		cr_assert_eq(range(path, 0, len, out, len - 1, &n), -ENOSPC);
		free(gz);
	}
	free(out);
	free(data);
}

Test(index, no_random_access_without_an_index)
{
	const char *path = tu_path(dir, "plain.gz");
	size_t len = 100 * KiB;
	uint8_t *data = tu_text(len, 5), out[16];
	cr_assert_eq(tu_sh("gzip -c < /dev/null > %s", path), 0);
	size_t n;
	cr_assert_eq(range(path, 0, 1, out, sizeof(out), &n), -ENOTSUP);
	cr_assert(strstr(ory_runtime_errmsg(rt), "random access is not available"), "%s",
		  ory_runtime_errmsg(rt));
	/* --primed output has no index either */
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = 1;
	g.independent = false;
	g.index = false;
	g.chunk_size = 32 * KiB;
	uint8_t *gz = malloc(2 * len);
	size_t gz_len;
	cr_assert_eq(ory_gzip_buf(rt, data, len, gz, 2 * len, &gz_len, &g, NULL), 0);
	cr_assert_eq(tu_write_file(path, gz, gz_len), 0);
	cr_assert_eq(range(path, 0, 1, out, sizeof(out), &n), -ENOTSUP);
	int fd = open(path, O_RDONLY);
	struct ory_gzip_info info = { .struct_size = sizeof(info) };
	cr_assert_eq(ory_gzip_info(fd, &info, NULL, 0), 0);
	cr_assert(!info.indexed);
	close(fd);
	int p[2];
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(ory_gunzip_range(rt, p[0], 0, 1, out, sizeof(out), &n, NULL), -ESPIPE);
	close(p[0]);
	close(p[1]);
	free(gz);
	free(data);
}

/* ---- damage --------------------------------------------------------------------------- */

/* Every byte of a small indexed file flipped in turn: an error, or exactly the original. */
Test(index, every_byte_flipped_gives_an_error_or_the_original)
{
	size_t chunk = 32 * KiB, len = 3 * chunk + 100, gz_len, n;
	uint8_t *data = malloc(len);
	for (size_t i = 0; i < len; i++) /* compressible, so the file is small */
		data[i] = (uint8_t)("octoray "[i % 8] + (i % 977 == 0));
	uint8_t *out = malloc(len + 1);
	for (int pipe = 0; pipe < 2; pipe++) {
		uint8_t *gz = (pipe ? gz_pipe : gz_buf)(data, len, 6, chunk, &gz_len);
		size_t wrong = 0, errors = 0;
		for (size_t i = 0; i < gz_len; i++) {
			gz[i] ^= 0xff;
			int rc = ory_gunzip_buf(rt, gz, gz_len, out, len + 1, &n, NULL, NULL);
			gz[i] ^= 0xff;
			if (rc < 0)
				errors++;
			else if (n != len || memcmp(out, data, len))
				wrong++, cr_log_error("byte %zu of %zu flipped: wrong output", i, gz_len);
		}
		cr_assert_eq(wrong, 0);
		cr_assert_gt(errors, gz_len / 2, "only %zu of %zu flips noticed", errors, gz_len);
		free(gz);
	}
	free(out);
	free(data);
}

/* The OC subfield of a file from gz_buf (no name): its offset, and the index CRC rewritten
 * after a lie so that only the entries' consistency with the data can catch it. */
enum { OC = 10 + 2 + 4, OC_COUNT = OC + 6, OC_CRC = OC + 10, OC_ENTRIES = OC + 14 };

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8), p[2] = (uint8_t)(v >> 16), p[3] = (uint8_t)(v >> 24);
}

static void reseal(uint8_t *gz)
{
	uint32_t count = get32(gz + OC_COUNT);
	put32(gz + OC_CRC, (uint32_t)crc32(0, gz + OC_ENTRIES, 12 * count));
}

/* A lying index: the whole file and every range read through it fail, or give the original. */
static void expect_caught(uint8_t *gz, size_t gz_len, const uint8_t *data, size_t len,
			  const char *lie)
{
	size_t n;
	uint8_t *out = malloc(len + 1);
	int rc = ory_gunzip_buf(rt, gz, gz_len, out, len + 1, &n, NULL, NULL);
	cr_assert(rc < 0 || (n == len && !memcmp(out, data, len)), "%s: wrong output", lie);
	cr_assert(rc == 0 || (rc == -EBADMSG && ory_runtime_errmsg(rt)[0]),
		  "%s: error %d '%s', want -EBADMSG with a reason", lie, rc, ory_runtime_errmsg(rt));
	rc = gunzip_file(gz, gz_len, &out, &n);
	cr_assert(rc < 0 || (n == len && !memcmp(out, data, len)), "%s: wrong file", lie);
	free(out);
	const char *path = tu_path(dir, "lie.gz");
	cr_assert_eq(tu_write_file(path, gz, gz_len), 0);
	out = malloc(len);
	for (uint64_t off = 0; off < len; off += len / 7) {
		rc = range(path, off, len / 5, out, len, &n);
		cr_assert(rc < 0 || (n <= len - off && !memcmp(out, data + off, n)),
			  "%s: range at %lu gave other bytes", lie, off);
	}
	free(out);
}

Test(index, a_lying_index_is_caught)
{
	size_t chunk = 32 * KiB, len = 6 * chunk + 999, gz_len;
	uint8_t *data = tu_text(len, 9);
	uint8_t *gz = gz_buf(data, len, 6, chunk, &gz_len);
	cr_assert_eq(gz[OC - 4], 'O');
	cr_assert_eq(gz[OC - 3], 'C');
	cr_assert_eq(get32(gz + OC_COUNT), 7);
	uint8_t *lie = malloc(gz_len);
	uint8_t *e = lie + OC_ENTRIES;
#define LIE(what, ...)                                                                        \
	do {                                                                                  \
		memcpy(lie, gz, gz_len);                                                      \
		__VA_ARGS__;                                                                  \
		reseal(lie);                                                                  \
		expect_caught(lie, gz_len, data, len, what);                                  \
	} while (0)
	/* compressed lengths that still add up: chunk 2 said to end 1 byte late */
	LIE("boundary moved", put32(e + 24, get32(e + 24) + 1), put32(e + 36, get32(e + 36) - 1));
	/* original lengths that still add up */
	LIE("lengths swapped", put32(e + 4, get32(e + 4) - 10), put32(e + 16, get32(e + 16) + 10));
	LIE("wrong crc", put32(e + 32, get32(e + 32) ^ 1));
	LIE("crcs swapped", put32(e + 8, get32(e + 20)), put32(e + 20, get32(gz + OC_ENTRIES + 8)));
	LIE("fewer chunks", put32(lie + OC_COUNT, 6));
	LIE("more chunks", put32(lie + OC_COUNT, 8));
	LIE("overflowing length", put32(e + 4, UINT32_MAX));
	LIE("overflowing chunk size", put32(lie + OC + 2, UINT32_MAX));
	LIE("zero chunk size", put32(lie + OC + 2, 0));
	LIE("every length huge", for (int i = 0; i < 7; i++) put32(e + 12 * i + 4, 0x80000000u));
	LIE("compressed length zero", put32(e + 12, 0));
	/* more entries than the subfield holds (found by fuzz_index: it was taken for -ENOMEM) */
	memcpy(lie, gz, gz_len);
	put32(lie + OC_COUNT, 0x10000000);
	expect_caught(lie, gz_len, data, len, "count past the subfield");
	/* the index CRC itself wrong: not trusted, the data still read sequentially */
	memcpy(lie, gz, gz_len);
	lie[OC_CRC] ^= 1;
	expect_caught(lie, gz_len, data, len, "index crc");
	free(lie);
	free(gz);
	free(data);
}
