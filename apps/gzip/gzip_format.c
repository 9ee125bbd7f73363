/* SPDX-License-Identifier: MIT */
/* gzip_format.c - the bytes around the deflate data: header, stored blocks, final block and
 * trailer (RFC 1951 §3.2.4, RFC 1952 §2.3). */
#include <string.h>

#include <zlib.h>

#include "gzip_internal.h"

const uint8_t *gzip_extra_find(const uint8_t *extra, size_t xlen, uint8_t si1, uint8_t si2,
			       size_t *len)
{
	for (size_t p = 0; p + 4 <= xlen;) {
		size_t l = gz_get16(extra + p + 2);
		if (p + 4 + l > xlen)
			break;
		if (extra[p] == si1 && extra[p + 1] == si2) {
			*len = l;
			return extra + p + 4;
		}
		p += 4 + l;
	}
	return NULL;
}

size_t gzip_store(const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t *o = out;
	do {
		size_t n = len < 65535 ? len : 65535;
		/* BFINAL=0, BTYPE=00, then padding to the byte: one zero byte. */
		o[0] = 0;
		o[1] = (uint8_t)n;
		o[2] = (uint8_t)(n >> 8);
		o[3] = (uint8_t)~n;
		o[4] = (uint8_t)(~n >> 8);
		memcpy(o + 5, in, n);
		o += 5 + n;
		in += n;
		len -= n;
	} while (len);
	return (size_t)(o - out);
}

size_t gzip_header(uint8_t *buf, size_t cap, int level, const char *name, uint32_t mtime)
{
	size_t nlen = name ? strlen(name) + 1 : 0;
	if (cap < 10 + nlen)
		return 0;
	buf[0] = 0x1f;
	buf[1] = 0x8b;
	buf[2] = 8;                     /* CM = deflate */
	buf[3] = name ? 0x08 : 0;       /* FNAME */
	gz_put32(buf + 4, mtime);
	buf[8] = level == 1 ? 4 : level == 9 ? 2 : 0; /* XFL: fastest / maximum */
	buf[9] = 3;                     /* OS = Unix */
	if (nlen)
		memcpy(buf + 10, name, nlen);
	return 10 + nlen;
}

size_t gzip_trailer(uint8_t *buf, uint32_t crc, uint64_t total)
{
	gz_put32(buf, crc);
	gz_put32(buf + 4, (uint32_t)total); /* ISIZE is the length mod 2^32 */
	return 8;
}

size_t zlib_header(uint8_t *buf, int level, const void *dict, size_t dict_len)
{
	unsigned cmf = 0x78; /* deflate, 32 KiB window */
	unsigned flevel = level == 1 ? 0 : level <= 5 ? 1 : level == 6 ? 2 : 3;
	unsigned flg = flevel << 6 | (dict_len ? 0x20 : 0);
	unsigned rem = (cmf * 256 + flg) % 31;
	flg += rem ? 31 - rem : 0; /* FCHECK: the header is a multiple of 31 */
	buf[0] = (uint8_t)cmf;
	buf[1] = (uint8_t)flg;
	if (!dict_len)
		return 2;
	uint32_t id = (uint32_t)adler32(1, dict, (uInt)dict_len);
	buf[2] = (uint8_t)(id >> 24);
	buf[3] = (uint8_t)(id >> 16);
	buf[4] = (uint8_t)(id >> 8);
	buf[5] = (uint8_t)id;
	return 6;
}

size_t zlib_trailer(uint8_t *buf, uint32_t adler)
{
	buf[0] = (uint8_t)(adler >> 24);
	buf[1] = (uint8_t)(adler >> 16);
	buf[2] = (uint8_t)(adler >> 8);
	buf[3] = (uint8_t)adler;
	return 4;
}
