/* SPDX-License-Identifier: MIT */
/* zlib_walk.h - the oracle deflate_scan is held to (unit test and fuzz harness): zlib's inflate
 * with Z_BLOCK, the walk deflate_scan replaced, over a raw deflate stream. */
#ifndef ORY_TEST_ZLIB_WALK_H
#define ORY_TEST_ZLIB_WALK_H

#include <errno.h>
#include <stdint.h>
#include <zlib.h>

/* Inflate in[0..n) into scratch[0..cap) block by block: 0 with where the final block starts
 * and ends (in bits) and the bytes it all inflated to, or -EIO (not valid, cut short, over
 * cap, or zlib could not start). */
static inline int zlib_walk(const uint8_t *in, size_t n, uint8_t *scratch, size_t cap,
			    uint64_t *final_start, uint64_t *end, uint64_t *total)
{
	z_stream z = { 0 };
	if (inflateInit2(&z, -15) != Z_OK)
		return -EIO;
	z.next_in = (uint8_t *)in;
	z.avail_in = (uInt)n;
	z.next_out = scratch;
	z.avail_out = (uInt)cap;
	int rc = -EIO;
	uint64_t start = 0;
	for (;;) {
		if (inflate(&z, Z_BLOCK) != Z_OK)
			break;
		if (z.data_type & 128) {
			/* at a block boundary: bits taken = bytes taken - bits unused in the last */
			uint64_t pos = (uint64_t)(z.next_in - in) * 8 - (uint64_t)(z.data_type & 7);
			if (z.data_type & 64) {
				*final_start = start;
				*end = pos;
				*total = z.total_out;
				rc = 0;
				break;
			}
			start = pos;
		} else if (z.avail_in == 0) {
			break;
		}
	}
	inflateEnd(&z);
	return rc;
}

#endif /* ORY_TEST_ZLIB_WALK_H */
