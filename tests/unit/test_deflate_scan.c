/* SPDX-License-Identifier: MIT */
/* test_deflate_scan.c - deflate_scan against zlib's inflate with Z_BLOCK (what it replaced):
 * the same final block, and the same verdict, on libdeflate's and zlib's streams of every kind
 * of block and on damaged ones. */
#include <criterion/criterion.h>
#include <errno.h>
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "apps/gzip/gzip_internal.h"
#include "tests/zlib_walk.h"
#include "util.h"

struct walk {
	int rc;
	uint64_t final_start, end;
};

/* zlib's answer, into exactly out_len bytes. */
static struct walk zlib_answer(const uint8_t *in, size_t n, size_t out_len)
{
	struct walk w = { .rc = -EIO };
	uint8_t *scratch = malloc(out_len + 1);
	uint64_t total;
	if (zlib_walk(in, n, scratch, out_len, &w.final_start, &w.end, &total) == 0 &&
	    total == out_len)
		w.rc = 0;
	free(scratch);
	return w;
}

static struct walk scan(const uint8_t *in, size_t n, size_t out_len)
{
	struct walk w;
	w.rc = deflate_scan(in, n, out_len, &w.final_start, &w.end);
	return w;
}

static void expect_same(const uint8_t *in, size_t n, size_t out_len, const char *what)
{
	struct walk z = zlib_answer(in, n, out_len), s = scan(in, n, out_len);
	cr_expect_eq(s.rc, z.rc, "%s: scan %d, zlib %d", what, s.rc, z.rc);
	if (s.rc == 0 && z.rc == 0)
		cr_expect(s.final_start == z.final_start && s.end == z.end,
			  "%s: scan %llu..%llu, zlib %llu..%llu", what,
			  (unsigned long long)s.final_start, (unsigned long long)s.end,
			  (unsigned long long)z.final_start, (unsigned long long)z.end);
}

/* Text, random bytes, zeros, and text with random runs in it. */
static uint8_t *sample(int kind, size_t len, uint64_t seed)
{
	if (kind == 0)
		return tu_text(len, seed);
	if (kind == 1)
		return tu_random(len, seed);
	if (kind == 2)
		return calloc(1, len + 1);
	uint8_t *t = tu_text(len, seed), *r = tu_random(len, seed + 1);
	for (size_t i = 0; i < len; i += 20000)
		memcpy(t + i, r + i, len - i < 3000 ? len - i : 3000);
	free(r);
	return t;
}

static const char *kinds[] = { "text", "random", "zeros", "mixed" };

Test(deflate_scan, finds_the_final_block_where_zlib_does_in_libdeflate_streams)
{
	const size_t sizes[] = { 0, 1, 37, 4096, 65536, 300000, 1u << 20 };
	for (int kind = 0; kind < 4; kind++)
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			size_t len = sizes[i];
			uint8_t *in = sample(kind, len, 7 + i);
			size_t cap = len + len / 8 + 64;
			uint8_t *out = malloc(cap);
			for (int level = 0; level <= 12; level++) {
				if (len == 1u << 20 && level > 9 && kind != 2)
					continue; /* 10-12 are slow, and the same blocks */
				struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
				size_t n = libdeflate_deflate_compress(c, in, len, out, cap);
				libdeflate_free_compressor(c);
				cr_assert_gt(n, 0);
				char what[64];
				snprintf(what, sizeof(what), "%s %zu level %d", kinds[kind], len, level);
				cr_assert_eq(scan(out, n, len).rc, 0, "%s", what);
				expect_same(out, n, len, what);
			}
			free(out);
			free(in);
		}
}

/* zlib writes the kinds libdeflate rarely does: fixed-code and stored blocks, empty stored
 * blocks (full flushes), and many blocks per stream. */
Test(deflate_scan, finds_the_final_block_where_zlib_does_in_zlib_streams_of_every_block_kind)
{
	const int strategies[] = { Z_DEFAULT_STRATEGY, Z_FIXED, Z_HUFFMAN_ONLY, Z_RLE, Z_FILTERED };
	size_t len = 200000;
	for (int kind = 0; kind < 4; kind++) {
		uint8_t *in = sample(kind, len, 99);
		size_t cap = len * 2 + 1024;
		uint8_t *out = malloc(cap);
		for (int level = 0; level <= 9; level += 3)
			for (size_t s = 0; s < sizeof(strategies) / sizeof(strategies[0]); s++)
				for (size_t flush_every = 0; flush_every <= 7000; flush_every += 3500) {
					z_stream z = { 0 };
					cr_assert_eq(deflateInit2(&z, level, Z_DEFLATED, -15, 8,
								  strategies[s]), Z_OK);
					z.next_out = out;
					z.avail_out = (uInt)cap;
					for (size_t off = 0; off < len;) {
						size_t step = flush_every ? flush_every : len;
						step = step < len - off ? step : len - off;
						z.next_in = in + off;
						z.avail_in = (uInt)step;
						off += step;
						int f = off == len ? Z_FINISH
							: off / step % 2 ? Z_FULL_FLUSH : Z_SYNC_FLUSH;
						cr_assert_neq(deflate(&z, f), Z_STREAM_ERROR);
					}
					size_t n = z.total_out;
					deflateEnd(&z);
					char what[80];
					snprintf(what, sizeof(what), "%s level %d strategy %zu flush %zu",
						 kinds[kind], level, s, flush_every);
					cr_assert_eq(scan(out, n, len).rc, 0, "%s", what);
					expect_same(out, n, len, what);
				}
		free(out);
		free(in);
	}
}

Test(deflate_scan, refuses_a_stream_cut_short_or_of_another_length)
{
	size_t len = 65536;
	uint8_t *in = sample(3, len, 5), *out = malloc(len * 2);
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
	size_t n = libdeflate_deflate_compress(c, in, len, out, len * 2);
	libdeflate_free_compressor(c);
	for (size_t cut = 0; cut < n; cut += 1 + cut / 64)
		cr_expect_eq(scan(out, cut, len).rc, -EIO, "cut to %zu of %zu", cut, n);
	cr_expect_eq(scan(out, n, len - 1).rc, -EIO);
	cr_expect_eq(scan(out, n, len + 1).rc, -EIO);
	cr_expect_eq(scan(out, n, 0).rc, -EIO);
	free(out);
	free(in);
}

/* Flipped bits in headers and codes: zlib's verdict, whatever it is. */
Test(deflate_scan, agrees_with_zlib_on_damaged_streams)
{
	size_t len = 20000;
	uint8_t *in = sample(3, len, 11), *out = malloc(len * 2), *bad = malloc(len * 2);
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(6);
	size_t n = libdeflate_deflate_compress(c, in, len, out, len * 2);
	libdeflate_free_compressor(c);
	uint64_t x = 0x9e3779b97f4a7c15u;
	int accepted = 0;
	for (int t = 0; t < 3000; t++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		memcpy(bad, out, n);
		/* most flips in the first bytes, where the header and code lengths are */
		size_t bit = (size_t)(x % (t % 2 ? n * 8 : 600));
		bad[bit / 8] ^= (uint8_t)(1u << bit % 8);
		if ((x >> 40) % 4 == 0) { /* sometimes a second flip */
			size_t b2 = (size_t)((x >> 20) % (n * 8));
			bad[b2 / 8] ^= (uint8_t)(1u << b2 % 8);
		}
		char what[48];
		snprintf(what, sizeof(what), "trial %d bit %zu", t, bit);
		expect_same(bad, n, len, what);
		accepted += scan(bad, n, len).rc == 0;
	}
	cr_expect_lt(accepted, 3000, "some flips must be refused");
	free(bad);
	free(out);
	free(in);
}

/* A stream made with a preset dictionary reaches back before its start: without the
 * dictionary it is not valid (the chunk's own stream never has one). */
Test(deflate_scan, refuses_a_distance_before_the_start)
{
	uint8_t *text = tu_text(40000, 3), out[60000];
	uint8_t runs[100];
	memset(runs, text[32767], sizeof(runs)); /* distance 1 from the very first byte */
	const struct {
		const uint8_t *in;
		size_t len;
	} cases[] = { { runs, sizeof(runs) }, { text + 32768, 40000 - 32768 } };
	for (size_t i = 0; i < 2; i++) {
		z_stream z = { 0 };
		cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
		cr_assert_eq(deflateSetDictionary(&z, text, 32768), Z_OK);
		z.next_in = (uint8_t *)cases[i].in;
		z.avail_in = (uInt)cases[i].len;
		z.next_out = out;
		z.avail_out = sizeof(out);
		cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
		size_t n = z.total_out;
		deflateEnd(&z);
		cr_expect_eq(scan(out, n, cases[i].len).rc, -EIO, "case %zu", i);
		expect_same(out, n, cases[i].len, "dictionary");
	}
	free(text);
}
