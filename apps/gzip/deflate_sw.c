/* SPDX-License-Identifier: MIT */
/*
 * deflate_sw.c - the software gzip kernel: one chunk in, byte-aligned non-final deflate blocks
 * out, plus the chunk's CRC-32.
 *
 * Library per level (measured on this project's 2-core host, 1 MiB chunks, see bench/):
 * ISA-L is 5-20x faster than zlib at levels 1-3 and primes a dictionary cheaply; libdeflate
 * gives smaller output than zlib at levels 4-9 and is 3x faster, but it only writes complete
 * streams. So a libdeflate stream is made non-final the way zlib's examples/gzappend.c does it:
 * the final block is found (deflate_scan.c), its BFINAL bit cleared, and an empty stored block
 * byte-aligns the end (a sync-flush marker). The scan also proves the data decodes to its full
 * length. A chunk that ends its request's stream (gzip_chunk_ends) keeps libdeflate's stream
 * as it is: a request of one chunk costs what libdeflate alone costs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>

#include "gzip_internal.h"

#define ORY_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Per thread; serves any level, each level's buffers made the first time it is asked for. */
struct deflate_sw {
	struct isal_zstream *zs; /* placed by isal_stream.c */
	uint8_t *level_buf[ISAL_DEF_MAX_LEVEL + 1];
	struct libdeflate_compressor *ldc[10];
};

static const uint32_t isal_level_buf[] = {
	0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT,
};

static void sw_close(void *state)
{
	struct deflate_sw *s = state;
	if (!s)
		return;
	gzip_isal_stream_free(s->zs);
	for (unsigned i = 0; i < ORY_ARRAY_LEN(s->level_buf); i++)
		free(s->level_buf[i]);
	for (unsigned i = 0; i < ORY_ARRAY_LEN(s->ldc); i++)
		if (s->ldc[i])
			libdeflate_free_compressor(s->ldc[i]);
	free(s);
}

static int sw_open(void **state)
{
	struct deflate_sw *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (!(s->zs = gzip_isal_stream_new())) {
		free(s);
		return -ENOMEM;
	}
	*state = s;
	return 0;
}

/* ISA-L: stateful deflate of one chunk ending in a sync flush. Returns bytes, 0 if over cap. */
static long isal_chunk(struct deflate_sw *s, const struct ory_chunk *c, int level, size_t cap)
{
	struct isal_zstream *zs = s->zs;
	if (!s->level_buf[level] && !(s->level_buf[level] = malloc(isal_level_buf[level])))
		return -ENOMEM;

	isal_deflate_reset(zs);
	zs->level = (uint32_t)level;
	zs->level_buf = s->level_buf[level];
	zs->level_buf_size = isal_level_buf[level];
	zs->gzip_flag = IGZIP_DEFLATE;
	if (c->dict_len &&
	    isal_deflate_set_dict(zs, (uint8_t *)c->dict, (uint32_t)c->dict_len))
		return 0;
	zs->next_in = (uint8_t *)c->in;
	zs->avail_in = (uint32_t)c->in_len;
	zs->next_out = c->out;
	zs->avail_out = (uint32_t)cap;
	zs->flush = SYNC_FLUSH;
	zs->end_of_stream = 0;
	if (isal_deflate(zs) != COMP_OK)
		return 0;
	/* With output room left, ISA-L has flushed everything including the sync marker. */
	if (zs->avail_in || zs->avail_out == 0)
		return 0;
	return (long)zs->total_out;
}

/* libdeflate, then make its stream non-final and byte-aligned (see top) unless it ends the
 * request's stream (ends). Returns bytes, 0 if over cap, or -EIO if the stream does not scan
 * (a libdeflate bug we refuse to pass on). */
static long libdeflate_chunk(struct deflate_sw *s, const struct ory_chunk *c, int level, size_t cap,
			     bool ends)
{
	if (!s->ldc[level] && !(s->ldc[level] = libdeflate_alloc_compressor(level)))
		return -ENOMEM;
	uint8_t *out = c->out;
	/* the stored block after it needs 5 bytes, unless it ends the stream */
	size_t n = libdeflate_deflate_compress(s->ldc[level], c->in, c->in_len, out,
					       ends ? cap : cap - 5);
	if (n == 0 || ends)
		return (long)n;
	uint64_t last_start, end;
	if (deflate_scan(out, n, c->in_len, &last_start, &end))
		return -EIO;

	out[last_start >> 3] &= (uint8_t)~(1u << (last_start & 7)); /* clear BFINAL */
	/* Keep the bits before `end`, add a 3-bit stored-block header (000), pad to the byte and
	 * write LEN = 0, NLEN = 0xffff. */
	if (end & 7)
		out[end >> 3] &= (uint8_t)((1u << (end & 7)) - 1);
	size_t nbytes = (size_t)((end + 3 + 7) >> 3);
	for (size_t i = (size_t)((end + 7) >> 3); i < nbytes; i++)
		out[i] = 0;
	memcpy(out + nbytes, "\x00\x00\xff\xff", 4);
	return (long)(nbytes + 4);
}

/* --rsyncable: each segment deflated on its own (no history: an edit changes its segment and
 * nothing after it) and byte-aligned like a chunk, so the segments simply concatenate; one
 * that does not shrink is stored. Returns bytes, or 0 when the segments' stored bytes could
 * overflow cap (the caller then stores the whole chunk). */
static long rsync_chunk(struct deflate_sw *s, const struct ory_chunk *c, int level, size_t cap)
{
	size_t used = 0;
	int64_t last_hit = -(int64_t)GZIP_SEG_GAP;
	for (size_t off = 0; off < c->in_len;) {
		size_t len = gzip_rsync_segment(c->in, c->in_len, off, &last_hit) - off;
		if (used + len + 5 > cap) /* GZIP_SEG_MAX keeps a stored segment at one block */
			return 0;
		struct ory_chunk seg = { .in = c->in + off, .in_len = len, .out = c->out + used };
		long n = level > ISAL_DEF_MAX_LEVEL ? libdeflate_chunk(s, &seg, level, len + 4, false)
						    : isal_chunk(s, &seg, level, len + 4);
		if (n < 0)
			return n;
		if (n == 0)
			n = (long)gzip_store(seg.in, len, seg.out);
		used += (size_t)n;
		off += len;
	}
	return (long)used;
}

static int sw_run(void *state, struct ory_chunk *c)
{
	struct deflate_sw *s = state;
	const struct gzip_params *p = c->params;
	size_t cap = gzip_chunk_bound(c->in_len);
	if (cap > c->out_cap)
		return -EOVERFLOW;
	/* Keep the stored fallback's room: compressors work in cap - 8. */
	bool ends = gzip_chunk_ends(c); /* libdeflate's levels only (gzip.c) */
	long n = p->rsync			 ? rsync_chunk(s, c, p->level, cap - 8)
		 : p->level > ISAL_DEF_MAX_LEVEL ? libdeflate_chunk(s, c, p->level, cap - 8, ends)
						 : isal_chunk(s, c, p->level, cap - 8);
	if (n < 0)
		return (int)n;
	if (n > 0) {
		c->out_len = (size_t)n;
	} else { /* incompressible (or over the bound): stored blocks, still deterministic */
		c->out_len = gzip_store(c->in, c->in_len, c->out);
		gzip_chunk_end(c);
	}
	c->check = crc32_gzip_refl(0, c->in, c->in_len);
	return 0;
}

static const struct ory_kernel_ops deflate_sw_ops = {
	.open = sw_open,
	.run = sw_run,
	.close = sw_close,
};

/* zlib framing needs each chunk's Adler-32, which no card computes: the worker takes it. */
static int gzip_post(struct ory_chunk *c)
{
	const struct gzip_params *p = c->params;
	if (p->adler)
		c->check2 = isal_adler32(1, c->in, c->in_len);
	return 0;
}

extern const struct ory_kernel_ops ory_gzip_verify_ops;

const struct ory_app ory_gzip_app = {
	.name = "gzip",
	.sw = &deflate_sw_ops,
	.verify = &ory_gzip_verify_ops,
	.post = gzip_post,
	.out_bound = gzip_chunk_bound,
};
