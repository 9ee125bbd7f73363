/* SPDX-License-Identifier: MIT */
/*
 * model_gzip.c - software twins of xilLz77Compress and xilHuffmanKernel for XRT's noop shim,
 * which completes every run without doing anything.
 *
 * Each twin reads and writes only its own arguments, by index, with the meaning the kernel
 * gives them (docs/xrt.md), so the host's wiring is what gets tested: lz77 turns each block
 * into 32-bit literal packets at b * stride * 4 of its `out`, writes their byte count to
 * compressd_size[b] and the literal frequencies to dyn_ltree_freq; huffman reads the packet
 * counts from its in_block_size argument, checks them against the frequencies, deflates each
 * block on its own (zlib, sync flush: byte-aligned, not final) to b * stride of its `out`, and
 * overwrites in_block_size[b] with the compressed size. A block that does not fit its stride
 * is written past it with its true size, as a card would report it. Inputs that disagree
 * (a miswired argument) yield size 0, which the host rejects.
 */
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "xrt_internal.h"

/* lz77 arguments */
enum { LZ_IN, LZ_OUT, LZ_CSIZE, LZ_BLOCKS, LZ_LTREE, LZ_DTREE, LZ_BLOCK_KB, LZ_INPUT_SIZE };
/* huffman arguments */
enum { HF_IN, HF_LTREE, HF_DTREE, HF_OUT, HF_BLOCKS, HF_CSIZE, HF_BLOCK_KB, HF_INPUT_SIZE };

#define LTREE_WORDS 1024
#define DTREE_WORDS 64
#define EOB	    256

struct gz_model {
	enum xrt_model kind;
	uint64_t rng;
	z_stream z;
	uint8_t *raw, *def;
	size_t raw_cap, def_cap;
};

const char *xrt_model_name(enum xrt_model m)
{
	static const char *const names[] = {"kernel", "none", "garbage", "corrupt"};
	return (unsigned)m < ORY_ARRAY_SIZE(names) ? names[m] : "?";
}

struct gz_model *gz_model_new(enum xrt_model kind, uint64_t seed)
{
	struct gz_model *m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->kind = kind;
	m->rng = seed * 0x9e3779b97f4a7c15ull + 1;
	/* Level 1: a hardware LZ77 searches a small window, much like zlib's fastest level. */
	if (deflateInit2(&m->z, 1, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		free(m);
		return NULL;
	}
	return m;
}

void gz_model_free(struct gz_model *m)
{
	if (!m)
		return;
	deflateEnd(&m->z);
	free(m->raw);
	free(m->def);
	free(m);
}

static uint64_t next_rand(struct gz_model *m)
{
	m->rng ^= m->rng << 13;
	m->rng ^= m->rng >> 7;
	m->rng ^= m->rng << 17;
	return m->rng;
}

static bool grow(uint8_t **buf, size_t *cap, size_t need)
{
	if (*cap >= need)
		return true;
	uint8_t *p = realloc(*buf, need);
	if (!p)
		return false;
	*buf = p;
	*cap = need;
	return true;
}

/* Blocks of this call, bounded by both size arrays; 0 if the scalars are nonsense. */
static unsigned call_blocks(const struct xrt_call *k, int sizes_a, int sizes_b, int kb_arg,
			    int input_arg, size_t *stride)
{
	*stride = (size_t)k->u32[kb_arg] << 10;
	if (!*stride || !k->u32[input_arg])
		return 0;
	size_t n = (k->u32[input_arg] + *stride - 1) / *stride;
	if (n * sizeof(uint32_t) > k->len[sizes_a] || n * sizeof(uint32_t) > k->len[sizes_b])
		return 0;
	return (unsigned)n;
}

void gz_model_lz77(struct gz_model *m, const struct xrt_call *k)
{
	size_t stride;
	unsigned n = call_blocks(k, LZ_BLOCKS, LZ_CSIZE, LZ_BLOCK_KB, LZ_INPUT_SIZE, &stride);
	if (m->kind == XRT_MODEL_NONE || !n)
		return;
	const uint32_t *blocks = (const uint32_t *)k->arg[LZ_BLOCKS];
	uint32_t *csize = (uint32_t *)k->arg[LZ_CSIZE];
	size_t pos = 0;
	for (unsigned b = 0; b < n; b++) {
		size_t raw = blocks[b];
		uint32_t *pk = (uint32_t *)(k->arg[LZ_OUT] + b * stride * 4);
		uint32_t *lt = (uint32_t *)k->arg[LZ_LTREE] + b * LTREE_WORDS;
		uint32_t *dt = (uint32_t *)k->arg[LZ_DTREE] + b * DTREE_WORDS;
		if (raw > stride || pos + raw > k->len[LZ_IN] ||
		    (b + 1) * stride * 4 > k->len[LZ_OUT] ||
		    (b + 1) * LTREE_WORDS * 4 > k->len[LZ_LTREE] ||
		    (b + 1) * DTREE_WORDS * 4 > k->len[LZ_DTREE]) {
			csize[b] = 0;
			continue;
		}
		memset(lt, 0, LTREE_WORDS * sizeof(*lt));
		memset(dt, 0, DTREE_WORDS * sizeof(*dt));
		for (size_t i = 0; i < raw; i++) {
			uint8_t byte = k->arg[LZ_IN][pos + i];
			pk[i] = byte;
			lt[byte]++;
		}
		lt[EOB] = 1;
		csize[b] = (uint32_t)(raw * 4);
		pos += raw;
	}
}

/* Deflate m->raw[0..len) alone; returns the byte count in m->def (0 on failure). */
static size_t deflate_block(struct gz_model *m, size_t len)
{
	size_t need = deflateBound(&m->z, len) + 16;
	if (!grow(&m->def, &m->def_cap, need) || deflateReset(&m->z) != Z_OK)
		return 0;
	m->z.next_in = m->raw;
	m->z.avail_in = (uInt)len;
	m->z.next_out = m->def;
	m->z.avail_out = (uInt)need;
	if (deflate(&m->z, Z_SYNC_FLUSH) != Z_OK || m->z.avail_in)
		return 0;
	return need - m->z.avail_out;
}

static bool freq_matches(const uint32_t *lt, size_t literals)
{
	uint64_t sum = 0;
	for (int i = 0; i < 256; i++)
		sum += lt[i];
	return sum == literals && lt[EOB] == 1;
}

void gz_model_huffman(struct gz_model *m, const struct xrt_call *k)
{
	size_t stride;
	unsigned n = call_blocks(k, HF_BLOCKS, HF_CSIZE, HF_BLOCK_KB, HF_INPUT_SIZE, &stride);
	if (m->kind == XRT_MODEL_NONE || !n || !grow(&m->raw, &m->raw_cap, stride))
		return;
	uint32_t *sizes = (uint32_t *)k->arg[HF_BLOCKS];
	uint8_t *out = k->arg[HF_OUT];
	for (unsigned b = 0; b < n; b++) {
		size_t off = b * stride, lz = sizes[b], lits = lz / 4;
		const uint32_t *pk = (const uint32_t *)(k->arg[HF_IN] + off * 4);
		const uint32_t *lt = (const uint32_t *)k->arg[HF_LTREE] + b * LTREE_WORDS;
		sizes[b] = 0;
		if (lz % 4 || lits > stride || off * 4 + lz > k->len[HF_IN] ||
		    (b + 1) * LTREE_WORDS * 4 > k->len[HF_LTREE] || off >= k->len[HF_OUT] ||
		    !freq_matches(lt, lits))
			continue;
		if (m->kind == XRT_MODEL_GARBAGE) {
			size_t len = ORY_MIN(stride, k->len[HF_OUT] - off);
			for (size_t i = 0; i < len; i++)
				out[off + i] = (uint8_t)next_rand(m);
			sizes[b] = 0xfffffff0u | (uint32_t)(next_rand(m) & 15);
			continue;
		}
		for (size_t i = 0; i < lits; i++)
			m->raw[i] = (uint8_t)pk[i];
		size_t len = deflate_block(m, lits);
		if (!len)
			continue;
		memcpy(out + off, m->def, ORY_MIN(len, k->len[HF_OUT] - off));
		/* Damage the middle of the payload but keep the block header plausible. */
		if (m->kind == XRT_MODEL_CORRUPT && len > 2 && len <= stride)
			out[off + ORY_MAX(1, len / 2)] ^= 0x5a;
		sizes[b] = (uint32_t)len;
	}
}
