/* SPDX-License-Identifier: MIT */
/* gzip_internal.h - what the gzip app's files share: parameters, framing, the software kernel. */
#ifndef ORY_GZIP_INTERNAL_H
#define ORY_GZIP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "octoray/device.h"
#include "octoray/octoray.h"

/* Parameters of one compression request, as every device sees them (chunk->params). */
struct gzip_params {
	int level;      /* 1..9 */
	bool primed;    /* chunks carry their dictionary (levels 1-3 unless independent) */
	bool adler;     /* zlib framing: each chunk's Adler-32 too (the app's post hook) */
};

/* Parameters of one decompression request (chunk->params of ory_inflate_app). */
struct inflate_params {
	enum ory_framing framing;
};

/* What an inflate chunk reports beside its output, in c->check2: members decoded, whether
 * non-zero bytes followed the last one, and why it failed (enum inflate_why). */
#define INFLATE_MEMBERS(v) ((v) & 0xffffffu)
#define INFLATE_GARBAGE (1u << 31)
#define INFLATE_WHY(v) ((v) >> 24 & 0x7f)
enum inflate_why { WHY_NONE, WHY_NOT_GZIP, WHY_METHOD, WHY_CHECK, WHY_FORMAT, WHY_EOF, WHY_FLAGS };
/* GNU gzip's words for each reason. */
const char *inflate_why_text(unsigned why);

extern const struct ory_app ory_gzip_app, ory_inflate_app, ory_crc_app;

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
/* RFC 1950 header into buf (2 bytes, + DICTID when dict_len); returns its length. */
size_t zlib_header(uint8_t *buf, int level, const void *dict, size_t dict_len);

/* Deflate ends with an empty final fixed-Huffman block (03 00): chunks are all non-final, so
 * the end of the stream does not depend on knowing which chunk is last. */
#define GZIP_FINAL_BLOCK_LEN 2
size_t gzip_trailer(uint8_t *buf, uint32_t crc, uint64_t total);
/* The final block and zlib's big-endian Adler-32. */
size_t zlib_trailer(uint8_t *buf, uint32_t adler);

#endif /* ORY_GZIP_INTERNAL_H */
