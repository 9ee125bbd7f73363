/* SPDX-License-Identifier: MIT */
/* gzip_internal.h - what the gzip app's files share: parameters, framing, the software kernel. */
#ifndef ORY_GZIP_INTERNAL_H
#define ORY_GZIP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "octoray/device.h"

/* Parameters of one compression job, as every device sees them. */
struct gzip_params {
	int level;      /* 1..9 */
	bool primed;    /* chunks carry their dictionary (levels 1-3 unless independent) */
};

extern const struct ory_app ory_gzip_app;

/* Largest output a chunk of in_len bytes may produce: stored blocks plus a little slack. Every
 * kernel falls back to stored blocks rather than exceed it, which makes it a hard bound. */
static inline size_t gzip_chunk_bound(size_t in_len)
{
	return in_len + 5 * ((in_len + 65534) / 65535) + 8;
}

/* Write in[0..len) as non-final stored blocks (byte-aligned in and out); returns bytes written
 * (gzip_chunk_bound(len) - 8 at most). */
size_t gzip_store(const uint8_t *in, size_t len, uint8_t *out);

/* RFC 1952 header into buf (10 bytes + name + NUL); returns its length. */
size_t gzip_header(uint8_t *buf, size_t cap, int level, const char *name, uint32_t mtime);

/* Deflate ends with an empty final fixed-Huffman block (03 00): chunks are all non-final, so
 * the end of the stream does not depend on knowing which chunk is last. */
#define GZIP_FINAL_BLOCK_LEN 2
size_t gzip_trailer(uint8_t *buf, uint32_t crc, uint64_t total);

#endif /* ORY_GZIP_INTERNAL_H */
