/* SPDX-License-Identifier: MIT */
/* gzip_internal.h - what the gzip app's files share: parameters, framing, the software kernel. */
#ifndef ORY_GZIP_INTERNAL_H
#define ORY_GZIP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "octoray/device.h"
#include "octoray/octoray.h"

/* Parameters of one compression request, as every device sees them (chunk->params). */
struct gzip_params {
	int level;      /* 1..9 */
	bool primed;    /* chunks carry their dictionary (levels 1-3 unless independent) */
	bool adler;     /* zlib framing: each chunk's Adler-32 too (the app's post hook) */
	bool rsync;     /* --rsyncable: the chunk is independent segments (rsync.c) */
	/* The first chunk ends the stream (gzip_chunk_ends): set before it leaves. */
	bool first_ends;
};

/* A request whose input is one chunk: at levels 4-9, not --rsyncable, and when the request
 * itself ends the stream (gzip, zlib, raw without `unterminated`), that chunk's data ends in
 * the final block and the framing adds none. The software kernel then keeps libdeflate's
 * stream as it is (no scan, 7 bytes less; the bytes of libdeflate-gzip); a card, which writes
 * non-final blocks, appends the empty final block. Whether the input is one chunk depends on
 * the data alone (a pipe's full first chunk waits for the next read to say), so every path
 * gives the same bytes. */
static inline bool gzip_chunk_ends(const struct ory_chunk *c)
{
	const struct gzip_params *p = c->params;
	return c->seq == 0 && p->first_ends;
}

/* Whether a request with options o ends its one chunk that way (gzip_chunk_ends). */
static inline bool gzip_may_end(const struct ory_gzip_opts *o)
{
	return o->level > 3 && !o->rsyncable && !(o->framing == ORY_FRAMING_RAW && o->unterminated);
}

/* Parameters of one decompression request (chunk->params of ory_inflate_app). */
struct inflate_params {
	enum ory_framing framing;
	bool chunk;     /* one chunk of an indexed file: raw, exact, non-final */
	bool members;   /* whole gzip members filling the input exactly; anything else is no
			 * error but out_len 0 with INFLATE_WHY set (gunzip_members.c) */
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

/* rsync.c: --rsyncable's content-defined cuts (see there and docs/format.md). Hits of the
 * segment hash every 2^GZIP_SEG_BITS bytes on average, a cut at one with no other in the
 * GZIP_SEG_GAP bytes before it: segments of ~28 KiB, an edit costs about one segment's
 * compressed bytes, and deflate without history loses ~3% on them (bench/rsyncable). At most
 * 65535 bytes, so a segment that does not compress is one stored block. */
#ifndef GZIP_SEG_BITS
#define GZIP_SEG_BITS 13
#define GZIP_SEG_GAP (10u << 10)
#endif
#define GZIP_SEG_MAX 65535u
/* Where a chunk ends in a full window of n bytes (n - n/8 < cut <= n). */
size_t gzip_rsync_cut(const uint8_t *p, size_t n);
/* End of the segment of chunk p[0..n) that starts at start. *last_hit: where the last hit
 * was, carried from segment to segment (-GZIP_SEG_GAP at the chunk's start). */
size_t gzip_rsync_segment(const uint8_t *p, size_t n, size_t start, int64_t *last_hit);

/* isal_stream.c: an initialised ISA-L deflate stream, placed where ISA-L's output does not
 * depend on its address (see there); NULL on ENOMEM. */
struct isal_zstream;
struct isal_zstream *gzip_isal_stream_new(void);
void gzip_isal_stream_free(struct isal_zstream *zs);

/* deflate_scan.c: the final block of raw deflate in[0..in_len) starts at bit *final_start
 * and ends before bit *end (bit i is bit i % 8 of byte i / 8). 0, or -EIO unless the stream
 * is valid deflate, without a dictionary, of exactly out_len bytes, ending within in_len. */
int deflate_scan(const uint8_t *in, size_t in_len, uint64_t out_len, uint64_t *final_start,
		 uint64_t *end);

/* framer.c: header, trailer and index (docs/format.md). rewritable: the header can be written
 * again at the end (the index may go there); in_len UINT64_MAX when not known. */
struct ory_gzip_framer;
int gzip_framer_new(const struct ory_gzip_opts *o, size_t chunk_size, uint64_t in_len,
		    bool rewritable, struct ory_gzip_framer **out);
const uint8_t *gzip_framer_header(const struct ory_gzip_framer *f, size_t *len);
/* The input turned out to be one chunk (before the header was used): no index. */
void gzip_framer_one_chunk(struct ory_gzip_framer *f);
/* The data already ends in the final block (gzip_chunk_ends): the end adds none. Internal
 * framers only: the public one frames pieces that never end. */
void gzip_framer_ended(struct ory_gzip_framer *f);
/* The next chunk's results; adler: its Adler-32, for zlib framing. 0 or -ENOMEM. */
int gzip_framer_add(struct ory_gzip_framer *f, const struct ory_chunk_info *c, uint32_t adler);
uint32_t gzip_framer_crc(const struct ory_gzip_framer *f);
uint32_t gzip_framer_adler(const struct ory_gzip_framer *f);
/* The bytes after the data, and the header to write again (NULL if none). NULL on ENOMEM. */
const uint8_t *gzip_framer_finish(struct ory_gzip_framer *f, size_t *len, const uint8_t **header,
				  size_t *header_len);
void gzip_framer_free(struct ory_gzip_framer *f);
/* Most bytes an index of `chunks` entries takes (header room or members at the end). */
size_t gzip_index_bound(uint64_t chunks);
/* CRC-32 of entries as the format stores them. */
uint32_t gzip_index_crc(const struct ory_chunk_info *e, size_t n);

/* index.c: the index of one of our files, checked against the data member. */
struct gzip_index {
	uint64_t header_len;    /* of the data member */
	uint32_t chunk_size;    /* no chunk holds more input */
	size_t n;
	struct ory_chunk_info *e;
	uint64_t *coff;         /* where chunk i's deflate data starts in the source */
	uint64_t *uoff;         /* where chunk i's output starts in the original */
	uint64_t total;         /* bytes of the original */
	uint32_t crc;           /* the data member's CRC-32 */
	uint64_t data_end;      /* first byte after the data member */
	uint64_t rest;          /* bytes after it that are not index members */
};
/* Load and check the index of the member at `base` of a source of `size` bytes: a file (fd) or
 * memory (fd < 0). 0; -ENOENT: no index (not ours, or plain); -EBADMSG with why: damaged;
 * -EIO, -ENOMEM. */
int gzip_index_load(struct gzip_index *x, int fd, const uint8_t *mem, uint64_t base,
		    uint64_t size, char *why, size_t wlen);
void gzip_index_free(struct gzip_index *x);
/* The chunk that holds byte pos of the original (pos < total). */
size_t gzip_index_chunk_at(const struct gzip_index *x, uint64_t pos);

/* gunzip_index.c: decompression through the index, when the input has a usable one;
 * -ENOENT when it has none (the caller then reads it sequentially). */
int gunzip_indexed_fd(struct ory_runtime *rt, int in_fd, int out_fd,
		      const struct ory_gunzip_opts *o, struct ory_gunzip_result *res);
int gunzip_indexed_buf(struct ory_runtime *rt, const uint8_t *in, size_t in_len, uint8_t *out,
		       size_t out_cap, size_t *out_len, const struct ory_gunzip_opts *o,
		       struct ory_gunzip_result *res);

/* Give `from` to a caller's result (NULL, or as large as its struct_size says: a program built
 * with an older header gets the fields it knows). */
static inline void gunzip_result_give(struct ory_gunzip_result *to,
				      struct ory_gunzip_result *from)
{
	if (!to || to->struct_size < sizeof(to->struct_size))
		return;
	from->struct_size = to->struct_size < sizeof(*from) ? to->struct_size : sizeof(*from);
	memcpy(to, from, from->struct_size);
}

/* gunzip_members.c: the members of a regular file from `pos` (a member start) on, inflated
 * member-parallel into out_fd (-1: tested only) as far as that goes; *resume is where the
 * streaming reader goes on (pos: nothing done). The bytes written, members and groups are
 * added to *done's bytes_out, members and chunks. 0 or a negative errno (message set) for what
 * the streaming reader would not recover from. */
int gunzip_members_fd(struct ory_runtime *rt, int in_fd, uint64_t pos, int out_fd,
		      uint64_t *resume, struct ory_gunzip_result *done);
/* The same for a buffer, from its start, into out[0..out_cap); *resume: where the rest
 * starts, after done->bytes_out bytes of output. */
int gunzip_members_buf(struct ory_runtime *rt, const uint8_t *in, size_t in_len, uint8_t *out,
		       size_t out_cap, uint64_t *resume, struct ory_gunzip_result *done);

/* Largest output a chunk of in_len bytes may produce: stored blocks plus a little slack. Every
 * kernel falls back to stored blocks rather than exceed it, which makes it a hard bound. */
static inline size_t gzip_chunk_bound(size_t in_len)
{
	return in_len + 5 * ((in_len + 65534) / 65535) + 8;
}

/* Write in[0..len) as non-final stored blocks (byte-aligned in and out); returns bytes written
 * (gzip_chunk_bound(len) - 8 at most). */
size_t gzip_store(const uint8_t *in, size_t len, uint8_t *out);

/* Little-endian fields of the gzip format and of our index. */
static inline uint32_t gz_get16(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline uint32_t gz_get32(const uint8_t *p)
{
	return gz_get16(p) | gz_get16(p + 2) << 16;
}

static inline uint64_t gz_get64(const uint8_t *p)
{
	return (uint64_t)gz_get32(p) | (uint64_t)gz_get32(p + 4) << 32;
}

static inline void gz_put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void gz_put32(uint8_t *p, uint32_t v)
{
	gz_put16(p, v);
	gz_put16(p + 2, v >> 16);
}

static inline void gz_put64(uint8_t *p, uint64_t v)
{
	gz_put32(p, (uint32_t)v);
	gz_put32(p + 4, (uint32_t)(v >> 32));
}

/* gzip_format.c: the data of the first subfield si1 si2 of an extra field of xlen bytes (RFC
 * 1952 2.3.1.1), *len bytes of it; NULL if there is none before one that runs past the end. */
const uint8_t *gzip_extra_find(const uint8_t *extra, size_t xlen, uint8_t si1, uint8_t si2,
			       size_t *len);

/* RFC 1952 header into buf (10 bytes + name + NUL); returns its length. */
size_t gzip_header(uint8_t *buf, size_t cap, int level, const char *name, uint32_t mtime);
/* RFC 1950 header into buf (2 bytes, + DICTID when dict_len); returns its length. */
size_t zlib_header(uint8_t *buf, int level, const void *dict, size_t dict_len);

/* Deflate ends with an empty final fixed-Huffman block (03 00): chunks are non-final (but
 * gzip_chunk_ends), so the end of the stream does not depend on knowing which chunk is last. */
#define GZIP_FINAL_BLOCK "\x03\x00"
#define GZIP_FINAL_BLOCK_LEN 2
/* Append the final block to a chunk's non-final output when gzip_chunk_ends says so (cards:
 * the room is in gzip_chunk_bound). */
static inline void gzip_chunk_end(struct ory_chunk *c)
{
	if (gzip_chunk_ends(c)) {
		memcpy(c->out + c->out_len, GZIP_FINAL_BLOCK, GZIP_FINAL_BLOCK_LEN);
		c->out_len += GZIP_FINAL_BLOCK_LEN;
	}
}
/* gzip's CRC-32 and ISIZE after the deflate data (8 bytes). */
size_t gzip_trailer(uint8_t *buf, uint32_t crc, uint64_t total);
/* zlib's big-endian Adler-32 (4 bytes). */
size_t zlib_trailer(uint8_t *buf, uint32_t adler);

#endif /* ORY_GZIP_INTERNAL_H */
