/* SPDX-License-Identifier: MIT */
/*
 * deflate_scan.c - where a raw deflate stream's final block starts and ends, found by decoding
 * its codes without writing its data.
 *
 * libdeflate writes only complete streams and a chunk must end in a non-final block
 * (deflate_sw.c), so the final block's header bit has to be found; a block's length is stored
 * nowhere, so that takes decoding every code before it. zlib's inflate with Z_BLOCK did it,
 * but it also writes every byte it decodes: a fifth of libdeflate's own level-6 time on 64 KiB
 * objects. Here codes are decoded and counted only. The scan checks what inflate checks
 * (complete codes, symbols and distances in range, stored lengths, no bit read past the end),
 * and that the data is exactly out_len bytes, so a stream it passes inflates to that length.
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "gzip_internal.h"

#define MAX_CODE_BITS 15
#define LIT_BITS 11 /* table bits: nearly every code libdeflate writes; longer ones go slow */
#define DIST_BITS 9
#define CL_BITS 7   /* every code-length code */
#define LITLEN_SYMS 288
#define DIST_SYMS 32

/* What a table entry says about the next code: its length in bits (bits 0-3; 0: no code that
 * short, see decode_slow), and
 *   E_LIT      a literal,
 *   E_END      the end of the block,
 *   E_BAD      a symbol the format does not allow (length 286-287, distance 30-31),
 *   otherwise  a length or distance: its base << 16 and its extra bits << 4, or the symbol
 *              << 16 (the code-length code).
 * So a literal, the common case, is one lookup and one test. */
#define E_LIT (1u << 8)
#define E_END (1u << 9)
#define E_BAD (1u << 10)
#define E_EXTRA(e) ((e) >> 4 & 15)
enum code_kind { CODE_LITLEN, CODE_DIST, CODE_LENGTHS };

static const uint16_t len_base[29] = { 3,  4,  5,  6,  7,  8,  9,  10,  11,  13,
				       15, 17, 19, 23, 27, 31, 35, 43,  51,  59,
				       67, 83, 99, 115, 131, 163, 195, 227, 258 };
static const uint8_t len_extra[29] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
				       2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0 };
static const uint16_t dist_base[30] = { 1,    2,    3,    4,    5,    7,     9,     13,
					17,   25,   33,   49,   65,   97,    129,   193,
					257,  385,  513,  769,  1025, 1537,  2049,  3073,
					4097, 6145, 8193, 12289, 16385, 24577 };
static const uint8_t dist_extra[30] = { 0, 0, 0, 0, 1, 1, 2, 2,	  3,  3,  4,  4,  5,  5,  6,
					6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13 };

static uint32_t entry(enum code_kind kind, unsigned sym)
{
	if (kind == CODE_LENGTHS)
		return sym << 16;
	if (kind == CODE_DIST)
		return sym < 30 ? (uint32_t)dist_base[sym] << 16 | dist_extra[sym] << 4 : E_BAD;
	if (sym < 256)
		return E_LIT;
	if (sym == 256)
		return E_END;
	return sym < 286 ? (uint32_t)len_base[sym - 257] << 16 | len_extra[sym - 257] << 4 : E_BAD;
}

/* A canonical Huffman code: the table indexed by its next `bits` bits, and the code's
 * symbols in canonical order with the number of codes of each length, for longer codes. */
struct huff {
	enum code_kind kind;
	unsigned bits;
	uint32_t fast[1 << LIT_BITS];
	uint16_t count[MAX_CODE_BITS + 1];
	uint16_t sym[LITLEN_SYMS];
};

/* Bits are taken least significant first (RFC 1951 3.1.1). buf holds n unread bits; the bits
 * above them are either 0 or the stream's next bits, so a refill may OR the same bytes again.
 * Past the end the stream reads as zeros, counted in `over`: a position beyond the end fails. */
struct bits {
	const uint8_t *start, *p, *end;
	uint64_t buf;
	unsigned n;
	size_t over;
};

/* At least 56 bits in buf. */
static inline void fill(struct bits *b)
{
	if (b->end - b->p >= 8) {
		uint64_t w;
		memcpy(&w, b->p, 8);
		b->buf |= le64toh(w) << b->n;
		b->p += (63 - b->n) >> 3;
		b->n |= 56;
		return;
	}
	for (; b->n <= 56; b->n += 8) {
		if (b->p < b->end)
			b->buf |= (uint64_t)*b->p++ << b->n;
		else
			b->over++;
	}
}

/* k <= n bits. */
static inline unsigned take(struct bits *b, unsigned k)
{
	unsigned v = (unsigned)(b->buf & ((1ull << k) - 1));
	b->buf >>= k;
	b->n -= k;
	return v;
}

static inline uint64_t bit_pos(const struct bits *b)
{
	return (uint64_t)(b->p - b->start + b->over) * 8 - b->n;
}

static bool past_end(const struct bits *b)
{
	return bit_pos(b) > (uint64_t)(b->end - b->start) * 8;
}

/* The low 15 bits of x in reverse order. */
static inline unsigned reverse15(unsigned x)
{
	x = (x & 0x5555) << 1 | (x >> 1 & 0x5555);
	x = (x & 0x3333) << 2 | (x >> 2 & 0x3333);
	x = (x & 0x0f0f) << 4 | (x >> 4 & 0x0f0f);
	x = (x & 0x00ff) << 8 | (x >> 8 & 0x00ff);
	return x >> 1;
}

/* Build h from n code lengths. Over-subscribed codes fail, and so do incomplete ones unless
 * `partial` allows a code of one symbol or none (as inflate: a distance code may be that small;
 * the code-length code may not). */
static int huff_build(struct huff *h, enum code_kind kind, const uint8_t *len, unsigned n,
		      unsigned bits, bool partial)
{
	memset(h->count, 0, sizeof(h->count));
	for (unsigned s = 0; s < n; s++)
		h->count[len[s]]++;
	h->count[0] = 0;
	int left = 1, max = 0;
	for (int l = 1; l <= MAX_CODE_BITS; l++) {
		left = (left << 1) - h->count[l];
		if (left < 0)
			return -EIO;
		if (h->count[l])
			max = l;
	}
	if (left > 0 && (!partial || max > 1))
		return -EIO;

	uint16_t offs[MAX_CODE_BITS + 2] = { 0 };
	for (int l = 1; l <= MAX_CODE_BITS; l++)
		offs[l + 1] = (uint16_t)(offs[l] + h->count[l]);
	for (unsigned s = 0; s < n; s++)
		if (len[s])
			h->sym[offs[len[s]]++] = (uint16_t)s;

	/* Codes are assigned in canonical order and sent most significant bit first: the table
	 * index of a code is its bits reversed, repeated for every value of the bits after it. */
	h->kind = kind;
	h->bits = bits;
	memset(h->fast, 0, sizeof(h->fast[0]) << bits);
	unsigned code = 0, i = 0;
	for (unsigned l = 1; l <= bits; l++, code <<= 1) {
		for (unsigned k = 0; k < h->count[l]; k++, code++, i++) {
			unsigned rev = reverse15(code) >> (MAX_CODE_BITS - l);
			uint32_t e = entry(kind, h->sym[i]) | l;
			for (unsigned at = rev; at < 1u << bits; at += 1u << l)
				h->fast[at] = e;
		}
	}
	return 0;
}

/* The entry of a code longer than the table's bits, walking the code in canonical order one
 * bit of buf at a time, with the number of bits it took as its length; E_BAD for bits that are
 * no code. buf by value: the scan's bit state stays in registers. */
static uint32_t decode_slow(const struct huff *h, uint64_t buf)
{
	int code = 0, first = 0, index = 0;
	for (unsigned l = 1; l <= MAX_CODE_BITS; l++, buf >>= 1) {
		code |= (int)(buf & 1);
		int count = h->count[l];
		if (code - first < count)
			return entry(h->kind, h->sym[index + code - first]) | l;
		index += count;
		first = (first + count) << 1;
		code <<= 1;
	}
	return E_BAD;
}

/* The code whose table entry e was looked up (a longer code's, 0, found the slow way), its
 * bits taken; needs MAX_CODE_BITS bits in b. */
static inline uint32_t decode_from(const struct huff *h, struct bits *b, uint32_t e)
{
	if (!(e & 15))
		e = decode_slow(h, b->buf);
	take(b, e & 15);
	return e;
}

/* The next code's entry, its bits taken. */
static inline uint32_t decode(const struct huff *h, struct bits *b)
{
	return decode_from(h, b, h->fast[b->buf & ((1u << h->bits) - 1)]);
}

/* One Huffman-coded block's codes, up to its end-of-block code; *out counts its bytes. A
 * refill gives 56 bits: three literals (15 bits at most), or a length and a distance with
 * their extra bits (48). */
static int scan_codes(struct bits *bp, const struct huff *lit, const struct huff *dist,
		      uint64_t *out, uint64_t out_len)
{
	/* A copy the compiler can keep in registers (bytes read through b->p could alias *bp). */
	struct bits copy = *bp, *b = &copy;
	const uint32_t *lt = lit->fast;
	uint64_t o = *out;
	for (;;) {
		if (b->over > 8) /* a byte past the end was taken: stop a run of literals there */
			return -EIO;
		fill(b);
		uint32_t e = lt[b->buf & ((1u << LIT_BITS) - 1)];
		if (e & E_LIT) {
			take(b, e & 15);
			o++;
			e = lt[b->buf & ((1u << LIT_BITS) - 1)];
			if (e & E_LIT) {
				take(b, e & 15);
				o++;
				e = lt[b->buf & ((1u << LIT_BITS) - 1)];
				if (e & E_LIT) {
					take(b, e & 15);
					o++;
					continue;
				}
			}
			fill(b); /* the bits of e stay where they are */
		}
		e = decode_from(lit, b, e);
		if (e & (E_LIT | E_END | E_BAD)) {
			if (e & E_LIT) {
				o++;
				continue;
			}
			if (e & E_END)
				break;
			return -EIO;
		}
		unsigned len = (e >> 16) + take(b, E_EXTRA(e));
		uint32_t d = decode(dist, b);
		if (d & E_BAD)
			return -EIO;
		uint64_t back = (d >> 16) + take(b, E_EXTRA(d));
		if (back > o || o + len > out_len) /* no dictionary; no more than out_len */
			return -EIO;
		o += len;
	}
	*bp = copy;
	*out = o;
	return o > out_len ? -EIO : 0;
}

/* A dynamic block's code lengths (RFC 1951 3.2.7) into lit and dist. */
static int read_codes(struct bits *b, struct huff *lit, struct huff *dist)
{
	static const uint8_t order[19] = { 16, 17, 18, 0, 8, 7, 9, 6, 10, 5,
					   11, 4,  12, 3, 13, 2, 14, 1, 15 };
	fill(b);
	unsigned nlit = take(b, 5) + 257, ndist = take(b, 5) + 1, ncode = take(b, 4) + 4;
	if (nlit > 286 || ndist > 30)
		return -EIO;
	uint8_t len[286 + 30] = { 0 };
	for (unsigned i = 0; i < ncode; i++) {
		fill(b);
		len[order[i]] = (uint8_t)take(b, 3);
	}
	struct huff *cl = dist; /* the code-length code is done with before dist is built */
	if (huff_build(cl, CODE_LENGTHS, len, 19, CL_BITS, false))
		return -EIO;
	for (unsigned i = 0; i < nlit + ndist;) {
		fill(b);
		uint32_t e = decode(cl, b);
		if (e & E_BAD)
			return -EIO;
		unsigned s = e >> 16;
		if (s < 16) {
			len[i++] = (uint8_t)s;
			continue;
		}
		unsigned rep, v = 0;
		if (s == 16) {
			if (i == 0)
				return -EIO;
			v = len[i - 1];
			rep = 3 + take(b, 2);
		} else {
			rep = s == 17 ? 3 + take(b, 3) : 11 + take(b, 7);
		}
		if (i + rep > nlit + ndist)
			return -EIO;
		while (rep--)
			len[i++] = (uint8_t)v;
	}
	if (len[256] == 0) /* no end-of-block code */
		return -EIO;
	if (huff_build(lit, CODE_LITLEN, len, nlit, LIT_BITS, true) ||
	    huff_build(dist, CODE_DIST, len + nlit, ndist, DIST_BITS, true))
		return -EIO;
	return 0;
}

static void fixed_codes(struct huff *lit, struct huff *dist)
{
	uint8_t len[LITLEN_SYMS];
	memset(len, 8, 144);
	memset(len + 144, 9, 112);
	memset(len + 256, 7, 24);
	memset(len + 280, 8, 8);
	huff_build(lit, CODE_LITLEN, len, LITLEN_SYMS, LIT_BITS, false);
	memset(len, 5, DIST_SYMS);
	huff_build(dist, CODE_DIST, len, DIST_SYMS, DIST_BITS, false);
}

int deflate_scan(const uint8_t *in, size_t in_len, uint64_t out_len, uint64_t *final_start,
		 uint64_t *end)
{
	struct bits b = { .start = in, .p = in, .end = in + in_len };
	struct huff lit, dist;
	uint64_t out = 0;
	for (;;) {
		uint64_t start = bit_pos(&b);
		fill(&b);
		unsigned last = take(&b, 1), type = take(&b, 2);
		int rc = 0;
		if (type == 0) {
			take(&b, b.n & 7); /* to the byte */
			fill(&b);
			unsigned len = take(&b, 16), nlen = take(&b, 16);
			uint64_t next = bit_pos(&b) + (uint64_t)len * 8;
			if ((len ^ 0xffff) != nlen || next > (uint64_t)in_len * 8)
				return -EIO;
			b = (struct bits){ .start = in, .p = in + next / 8, .end = in + in_len };
			out += len;
		} else if (type == 1) {
			fixed_codes(&lit, &dist);
			rc = scan_codes(&b, &lit, &dist, &out, out_len);
		} else if (type == 2) {
			rc = read_codes(&b, &lit, &dist);
			if (rc == 0)
				rc = scan_codes(&b, &lit, &dist, &out, out_len);
		} else {
			return -EIO;
		}
		if (rc || past_end(&b) || out > out_len)
			return -EIO;
		if (last) {
			*final_start = start;
			*end = bit_pos(&b);
			return out == out_len ? 0 : -EIO;
		}
	}
}
