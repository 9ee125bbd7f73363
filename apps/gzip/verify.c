/* SPDX-License-Identifier: MIT */
/* verify.c - check a chunk's deflate output before it is committed (--verify): it must inflate
 * (with the chunk's dictionary) to exactly the input, end on a byte boundary without a final
 * block (or in it, with gzip_chunk_ends), and carry the input's CRC-32. ISA-L's inflate makes this cheap next to deflate. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>

#include "gzip_internal.h"

#define VERIFY_PIECE (16u << 10)

struct verifier {
	struct inflate_state st;
	uint8_t *scratch;
	size_t cap;
};

static int v_open(void **state)
{
	struct verifier *v = calloc(1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	*state = v;
	return 0;
}

static void v_close(void *state)
{
	struct verifier *v = state;
	if (v)
		free(v->scratch);
	free(v);
}

static int v_run(void *state, struct ory_chunk *c)
{
	struct verifier *v = state;
	/* one byte of room more than the input, so output that is too long shows */
	if (v->cap < c->in_len + 1) {
		free(v->scratch);
		v->cap = c->in_len + 1;
		v->scratch = malloc(v->cap);
		if (!v->scratch) {
			v->cap = 0;
			return -ENOMEM;
		}
	}
	struct inflate_state *st = &v->st;
	isal_inflate_init(st);
	if (c->dict_len &&
	    isal_inflate_set_dict(st, (uint8_t *)c->dict, (uint32_t)c->dict_len))
		return -EBADMSG;
	st->next_in = c->out;
	st->avail_in = (uint32_t)c->out_len;
	st->next_out = v->scratch;
	st->avail_out = (uint32_t)(c->in_len + 1);
	if (isal_inflate(st) != ISAL_DECOMP_OK)
		return -EBADMSG;
	/* All bytes used, no final block seen, and the data ends where the next chunk's may
	 * start: between blocks with no bit left over, i.e. byte-aligned, as the empty stored
	 * block of a sync flush leaves it (ISA-L is then waiting for a block header: NEW_HDR, or
	 * HDR with nothing read of it). A chunk cut right after its last Huffman-coded symbol
	 * inflates to all of its input, yet without that end the next chunk's bits would be read
	 * as part of its block. */
	if (st->avail_in || st->tmp_in_size)
		return -EBADMSG;
	if (gzip_chunk_ends(c)) { /* the final block, and nothing after its last byte */
		if (st->block_state != ISAL_BLOCK_FINISH || st->read_in_length >= 8)
			return -EBADMSG;
	} else if (st->read_in_length || st->bfinal ||
		   (st->block_state != ISAL_BLOCK_NEW_HDR && st->block_state != ISAL_BLOCK_HDR)) {
		return -EBADMSG;
	}
	if (st->total_out != c->in_len)
		return -EBADMSG;
	/* Equal to the input, so the CRC of what we inflated is the input's: take it piece by
	 * piece right after comparing, while the piece is in L1, not as another pass over memory. */
	uint32_t crc = 0;
	for (size_t off = 0; off < c->in_len; off += VERIFY_PIECE) {
		size_t n = c->in_len - off < VERIFY_PIECE ? c->in_len - off : VERIFY_PIECE;
		if (memcmp(v->scratch + off, c->in + off, n))
			return -EBADMSG;
		crc = crc32_gzip_refl(crc, v->scratch + off, n);
	}
	return crc == c->check ? 0 : -EBADMSG;
}

const struct ory_kernel_ops ory_gzip_verify_ops = {
	.open = v_open,
	.run = v_run,
	.close = v_close,
};
