/* SPDX-License-Identifier: MIT */
/*
 * deflate_sw.c - the software gzip kernel: one chunk in, byte-aligned non-final deflate blocks
 * out, plus the chunk's CRC-32.
 *
 * Library per level (measured on this project's 2-core host, 1 MiB chunks, see bench/):
 * ISA-L is 5-20x faster than zlib at levels 1-3 and primes a dictionary cheaply; libdeflate
 * gives smaller output than zlib at levels 4-9 and is 3x faster, but it only writes complete
 * streams. So a libdeflate stream is made non-final the way zlib's examples/gzappend.c does it:
 * zlib's inflate with Z_BLOCK walks the block boundaries, the last block's BFINAL bit is
 * cleared, and an empty stored block byte-aligns the end (a sync-flush marker). The walk also
 * proves the data inflates back to its full length.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <libdeflate.h>
#include <zlib.h>

#include "gzip_internal.h"

struct deflate_sw {
	struct gzip_params p;
	struct isal_zstream zs;
	uint8_t *level_buf;
	uint32_t level_buf_size;
	struct libdeflate_compressor *ldc;
	z_stream walk;
	bool walk_ok;
	uint8_t *scratch;   /* inflated data of the walk, discarded */
	size_t scratch_cap;
};

static const uint32_t isal_level_buf[] = {
	0, ISAL_DEF_LVL1_DEFAULT, ISAL_DEF_LVL2_DEFAULT, ISAL_DEF_LVL3_DEFAULT,
};

static void sw_close(void *state)
{
	struct deflate_sw *s = state;
	if (!s)
		return;
	free(s->level_buf);
	if (s->ldc)
		libdeflate_free_compressor(s->ldc);
	if (s->walk_ok)
		inflateEnd(&s->walk);
	free(s->scratch);
	free(s);
}

static int sw_open(const void *params, void **state)
{
	const struct gzip_params *p = params;
	struct deflate_sw *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->p = *p;
	if (p->level <= ISAL_DEF_MAX_LEVEL) {
		s->level_buf_size = isal_level_buf[p->level];
		s->level_buf = malloc(s->level_buf_size);
		if (!s->level_buf)
			goto nomem;
		isal_deflate_init(&s->zs);
	} else {
		s->ldc = libdeflate_alloc_compressor(p->level);
		if (!s->ldc)
			goto nomem;
		if (inflateInit2(&s->walk, -15) != Z_OK)
			goto nomem;
		s->walk_ok = true;
	}
	*state = s;
	return 0;
nomem:
	sw_close(s);
	return -ENOMEM;
}

/* ISA-L: stateful deflate of one chunk ending in a sync flush. Returns bytes, 0 if over cap. */
static size_t isal_chunk(struct deflate_sw *s, const struct ory_chunk *c, size_t cap)
{
	struct isal_zstream *zs = &s->zs;

	isal_deflate_reset(zs);
	zs->level = (uint32_t)s->p.level;
	zs->level_buf = s->level_buf;
	zs->level_buf_size = s->level_buf_size;
	zs->gzip_flag = IGZIP_DEFLATE;
	if (c->dict_len &&
	    isal_deflate_set_dict(zs, (uint8_t *)c->in - c->dict_len, (uint32_t)c->dict_len))
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
	return zs->total_out;
}

/* libdeflate, then make its stream non-final and byte-aligned (see top). Returns bytes, 0 if
 * over cap, or -EIO if the stream does not walk (a libdeflate bug we refuse to pass on). */
static long libdeflate_chunk(struct deflate_sw *s, const struct ory_chunk *c, size_t cap)
{
	uint8_t *out = c->out;
	size_t n = libdeflate_deflate_compress(s->ldc, c->in, c->in_len, out, cap - 5);
	if (n == 0)
		return 0;

	if (s->scratch_cap < c->in_len) {
		free(s->scratch);
		s->scratch = malloc(c->in_len);
		s->scratch_cap = s->scratch ? c->in_len : 0;
		if (!s->scratch)
			return -ENOMEM;
	}
	z_stream *z = &s->walk;
	inflateReset(z);
	z->next_in = out;
	z->avail_in = (uInt)n;
	z->next_out = s->scratch;
	z->avail_out = (uInt)c->in_len;
	uint64_t last_start = 0, end = 0;
	for (;;) {
		int rc = inflate(z, Z_BLOCK);
		if (rc != Z_OK)
			return -EIO;
		if (z->data_type & 128) {
			/* At a block boundary: bits consumed = bytes taken - bits unused in the last. */
			uint64_t pos = (uint64_t)(z->next_in - out) * 8 - (uint64_t)(z->data_type & 7);
			if (z->data_type & 64) {
				end = pos; /* the final block ends here */
				break;
			}
			last_start = pos;
		} else if (z->avail_in == 0) {
			return -EIO;
		}
	}
	if (z->total_out != c->in_len)
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

static int sw_run(void *state, struct ory_chunk *c)
{
	struct deflate_sw *s = state;
	size_t cap = gzip_chunk_bound(c->in_len);
	if (cap > c->out_cap)
		return -EOVERFLOW;
	/* Keep the stored fallback's room: compressors work in cap - 8. */
	long n = s->ldc ? libdeflate_chunk(s, c, cap - 8) : (long)isal_chunk(s, c, cap - 8);
	if (n < 0)
		return (int)n;
	if (n == 0) /* incompressible (or over the bound): stored blocks, still deterministic */
		n = (long)gzip_store(c->in, c->in_len, c->out);
	c->out_len = (size_t)n;
	c->check = crc32_gzip_refl(0, c->in, c->in_len);
	return 0;
}

static const struct ory_kernel_ops deflate_sw_ops = {
	.open = sw_open,
	.run = sw_run,
	.close = sw_close,
};

extern const struct ory_kernel_ops ory_gzip_verify_ops;

const struct ory_app ory_gzip_app = {
	.name = "gzip",
	.sw = &deflate_sw_ops,
	.verify = &ory_gzip_verify_ops,
};
