/* SPDX-License-Identifier: MIT */
/*
 * fuzz_deflate_scan.c - deflate_scan (apps/gzip/deflate_scan.c) against zlib's inflate with
 * Z_BLOCK, the walk it replaced: on the fuzzer's bytes as a raw deflate stream (the length
 * zlib inflates them to, and that length plus one), and on libdeflate's stream of them at a
 * level the first byte picks, where it must also succeed. Same verdict, same final block.
 */
#include <errno.h>
#include <libdeflate.h>
#include <zlib.h>

#include "apps/gzip/gzip_internal.h"
#include "fuzz.h"
#include "tests/zlib_walk.h"

#define MAX_OUT (1u << 20)

static uint8_t *scratch;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	scratch = malloc(MAX_OUT);
	return 0;
}

static void compare(const uint8_t *in, size_t n, uint64_t out_len, const char *what)
{
	uint64_t zs = 0, ze = 0, total = 0, ss = 0, se = 0;
	int zrc = zlib_walk(in, n, scratch, (size_t)out_len, &zs, &ze, &total);
	if (zrc == 0 && total != out_len)
		zrc = -EIO;
	int src = deflate_scan(in, n, out_len, &ss, &se);
	FZ_CHECK(src == zrc, "%s: scan %d, zlib %d (%zu bytes in, %llu out)", what, src, zrc, n,
		 (unsigned long long)out_len);
	FZ_CHECK(src || (ss == zs && se == ze), "%s: scan %llu..%llu, zlib %llu..%llu", what,
		 (unsigned long long)ss, (unsigned long long)se, (unsigned long long)zs,
		 (unsigned long long)ze);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 1)
		return 0;
	/* The bytes as a stream: the length zlib finds (if it finds one), then one more. */
	uint64_t s, e, total;
	if (zlib_walk(d + 1, n - 1, scratch, MAX_OUT - 1, &s, &e, &total) == 0) {
		compare(d + 1, n - 1, total, "as deflate");
		compare(d + 1, n - 1, total + 1, "as deflate, one byte more");
	} else {
		compare(d + 1, n - 1, 0, "as deflate, not valid");
	}

	/* libdeflate's stream of them: always valid. */
	int level = d[0] % 13;
	size_t cap = n * 2 + 64;
	uint8_t *out = malloc(cap);
	struct libdeflate_compressor *c = libdeflate_alloc_compressor(level);
	size_t m = libdeflate_deflate_compress(c, d + 1, n - 1, out, cap);
	libdeflate_free_compressor(c);
	FZ_CHECK(m > 0, "libdeflate level %d", level);
	FZ_CHECK(deflate_scan(out, m, n - 1, &s, &e) == 0, "libdeflate level %d", level);
	compare(out, m, n - 1, "libdeflate");
	free(out);
	return 0;
}
