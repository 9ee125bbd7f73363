/* SPDX-License-Identifier: MIT */
/*
 * gzip_check.c - what the card's compressed blocks are worth, and the chunk made of them.
 *
 * A card is not trusted blindly: a size of 0 (the kernel wrote nothing), a size beyond what
 * any deflate encoder produces from the block, a block marked final or of the reserved type
 * fails the chunk with -EIO, and the runtime runs it again on another device. With [gzip]
 * verify, every block is also inflated and compared with its input. A size above the block
 * stride is the design's "did not fit" (its host code stores such a block raw): the block may
 * have run into the next one's space, so both are stored from the input. (The design's host
 * writes one stored block with a 16-bit LEN of 1 MiB, i.e. 0: corrupt; gzip_store splits.)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "../../apps/gzip/gzip_internal.h"
#include "xrt_internal.h"

struct gz_verifier {
	z_stream z;
	uint8_t *scratch;
	size_t cap;
};

struct gz_verifier *gz_verifier_new(size_t block_bytes)
{
	struct gz_verifier *v = calloc(1, sizeof(*v));
	if (!v)
		return NULL;
	v->cap = block_bytes + 1;
	v->scratch = malloc(v->cap);
	if (!v->scratch || inflateInit2(&v->z, -15) != Z_OK) {
		free(v->scratch);
		free(v);
		return NULL;
	}
	return v;
}

void gz_verifier_free(struct gz_verifier *v)
{
	if (!v)
		return;
	inflateEnd(&v->z);
	free(v->scratch);
	free(v);
}

/* Does def[0..n) inflate, on its own, to exactly raw[0..raw_len), ending on a block boundary
 * at a byte boundary without a final block? */
static int verify_block(struct gz_verifier *v, const uint8_t *def, size_t n, const uint8_t *raw,
			size_t raw_len, const char **why)
{
	z_stream *z = &v->z;
	inflateReset(z);
	z->next_in = (uint8_t *)def;
	z->avail_in = (uInt)n;
	z->next_out = v->scratch;
	z->avail_out = (uInt)ORY_MIN(v->cap, raw_len + 1);
	while (z->avail_in) {
		int rc = inflate(z, Z_BLOCK);
		if (rc == Z_STREAM_END) {
			*why = "contains a final block";
			return -EIO;
		}
		if (rc != Z_OK) {
			*why = z->avail_out ? "does not inflate"
					    : "inflates to more than its input";
			return -EIO;
		}
	}
	/* data_type: 128 = between blocks, low 3 bits = unused bits of the last byte. */
	if (!(z->data_type & 128) || (z->data_type & 7)) {
		*why = "does not end on a byte-aligned block boundary";
		return -EIO;
	}
	if (z->total_out != raw_len || memcmp(v->scratch, raw, raw_len)) {
		*why = "inflates to other data than its input";
		return -EIO;
	}
	return 0;
}

/* What gzip_store writes for len bytes. */
static size_t stored_len(size_t len)
{
	return len + 5 * (len ? (len + 65534) / 65535 : 1);
}

int gz_assemble(struct gz_verifier *v, const struct gz_result *r, struct ory_chunk *c, char *why,
		size_t why_len)
{
	uint64_t store = 0; /* blocks taken from the input instead of the card, one bit each */
	size_t total = 0;
	for (unsigned b = 0; b < r->nblocks; b++) {
		size_t off = b * r->stride, raw = ORY_MIN(r->stride, c->in_len - off);
		size_t n = r->sizes[b];
		const char *bad = NULL;
		/* No encoder expands data by more than its 15-bit codes allow (< 2x). */
		if (n == 0)
			bad = "is empty: the kernel wrote no size";
		else if (n > 2 * raw + 1024 || n > r->out_cap - off)
			bad = "has an impossible size";
		if (!bad && n > r->stride) {
			/* It may have run into the next block's space (at most all of it). */
			store |= 3ull << b;
			continue;
		}
		const uint8_t *blk = r->out + off;
		if (!bad && (blk[0] & 1))
			bad = "is marked final";
		else if (!bad && ((blk[0] >> 1) & 3) == 3)
			bad = "has the reserved block type";
		if (!bad && v)
			verify_block(v, blk, n, c->in + off, raw, &bad);
		if (bad) {
			snprintf(why, why_len, "block %u of %u (%zu bytes) %s (size %zu)", b,
				 r->nblocks, raw, bad, n);
			return -EIO;
		}
	}
	for (unsigned b = 0; b < r->nblocks; b++) {
		size_t raw = ORY_MIN(r->stride, c->in_len - b * r->stride);
		total += store >> b & 1 ? stored_len(raw) : r->sizes[b];
	}
	/* The CPU kernel's promise holds for the card too: never more than stored blocks. */
	if (total > ORY_MIN(gzip_chunk_bound(c->in_len) - 8, c->out_cap)) {
		c->out_len = gzip_store(c->in, c->in_len, c->out);
		gzip_chunk_end(c);
		return 1;
	}
	size_t pos = 0;
	for (unsigned b = 0; b < r->nblocks; b++) {
		size_t off = b * r->stride, raw = ORY_MIN(r->stride, c->in_len - off);
		if (store >> b & 1) {
			pos += gzip_store(c->in + off, raw, c->out + pos);
		} else {
			memcpy(c->out + pos, r->out + off, r->sizes[b]);
			pos += r->sizes[b];
		}
	}
	c->out_len = pos;
	gzip_chunk_end(c); /* the card's blocks are non-final: the end of a one-chunk request */
	return store ? 1 : 0;
}
