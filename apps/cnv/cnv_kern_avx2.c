/* SPDX-License-Identifier: MIT */
/*
 * cnv_kern_avx2.c - the AVX2 kernels, and the input conversion the AVX-512 path shares.
 *
 * Same lanes-are-channels scheme as AVX-512 on half the width: a ymm is one fan-in word of 4
 * output channels. AVX2 has no vector popcount, so XOR results go through the nibble table
 * (VPSHUFB) into per-byte counts; a byte gains at most 8 per word, so counts fold into 64-bit
 * lanes (VPSADBW) at the end, or after 18 words for layer 5's 36-word rows. Layer 0 is VPMADDUBSW
 * on tap pairs, 16 channels of 16-bit sums per ymm.
 */
#include "cnv_internal.h"
#if CNV_X86
#pragma GCC target("avx2,popcnt")
#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

#define Z 0x80 /* VPSHUFB: zero this byte */
/* 16 pixels' R, G, B bytes -> 48 HWC bytes: chunk k byte i (q = 16 k + i) takes byte q / 3 of
 * channel q % 3. */
static const uint8_t interleave[3][3][16] = {
	{{0, Z, Z, 1, Z, Z, 2, Z, Z, 3, Z, Z, 4, Z, Z, 5},
	 {Z, 0, Z, Z, 1, Z, Z, 2, Z, Z, 3, Z, Z, 4, Z, Z},
	 {Z, Z, 0, Z, Z, 1, Z, Z, 2, Z, Z, 3, Z, Z, 4, Z}},
	{{Z, Z, 6, Z, Z, 7, Z, Z, 8, Z, Z, 9, Z, Z, 10, Z},
	 {5, Z, Z, 6, Z, Z, 7, Z, Z, 8, Z, Z, 9, Z, Z, 10},
	 {Z, 5, Z, Z, 6, Z, Z, 7, Z, Z, 8, Z, Z, 9, Z, Z}},
	{{Z, 11, Z, Z, 12, Z, Z, 13, Z, Z, 14, Z, Z, 15, Z, Z},
	 {Z, Z, 11, Z, Z, 12, Z, Z, 13, Z, Z, 14, Z, Z, 15, Z},
	 {10, Z, Z, 11, Z, Z, 12, Z, Z, 13, Z, Z, 14, Z, Z, 15}}};
/* 48 HWC bytes -> the 16 B bytes: byte i is byte 3 i + 2, found in chunk (3 i + 2) / 16. */
static const uint8_t deinterleave_b[3][16] = {{2, 5, 8, 11, 14, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, Z},
					      {Z, Z, Z, Z, Z, 1, 4, 7, 10, 13, Z, Z, Z, Z, Z, Z},
					      {Z, Z, Z, Z, Z, Z, Z, Z, Z, Z, 0, 3, 6, 9, 12, 15}};
#undef Z

/* u = q + 128 for 32 pixels: p + (p >= 128), saturating (cnv_pixel_u). */
static inline __m256i pixel_u32(__m256i p)
{
	__m256i hi = _mm256_and_si256(_mm256_srli_epi16(p, 7), _mm256_set1_epi8(1));
	return _mm256_adds_epu8(p, hi);
}

static inline __m256i lanes2(const uint8_t *m16)
{
	return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)m16));
}

/* The V dwords: {B(y, x + 2), B(y + 1, x + 2), B(y + 2, x + 2), 0} from the B plane. Rows are
 * written 32 wide; the 2 extra dwords land in the next row, which is written after. */
static void build_v(struct cnv_scratch *s)
{
	const __m128i zero = _mm_setzero_si128();
	for (int y = 0; y < 30; y++)
		for (int h = 0; h < 2; h++) {
			const uint8_t *b = s->b + y * 32 + 2 + 16 * h;
			__m128i r0 = _mm_loadu_si128((const __m128i *)b);
			__m128i r1 = _mm_loadu_si128((const __m128i *)(b + 32));
			__m128i r2 = _mm_loadu_si128((const __m128i *)(b + 64));
			__m128i lo = _mm_unpacklo_epi8(r0, r1), hi = _mm_unpackhi_epi8(r0, r1);
			__m128i z0 = _mm_unpacklo_epi8(r2, zero), z1 = _mm_unpackhi_epi8(r2, zero);
			__m128i *v = (__m128i *)(s->v + y * 30 + 16 * h);
			_mm_storeu_si128(v, _mm_unpacklo_epi16(lo, z0));
			_mm_storeu_si128(v + 1, _mm_unpackhi_epi16(lo, z0));
			_mm_storeu_si128(v + 2, _mm_unpacklo_epi16(hi, z1));
			_mm_storeu_si128(v + 3, _mm_unpackhi_epi16(hi, z1));
		}
}

void cnv_input_avx2(struct cnv_scratch *s, const uint8_t *img, enum cnv_layout layout)
{
	if (layout == CNV_HWC) {
		for (int i = 0; i < CNV_IMAGE_BYTES; i += 32)
			_mm256_store_si256(
				(__m256i *)(s->u + i),
				pixel_u32(_mm256_loadu_si256((const __m256i *)(img + i))));
		const __m128i d0 = _mm_loadu_si128((const __m128i *)deinterleave_b[0]),
			      d1 = _mm_loadu_si128((const __m128i *)deinterleave_b[1]),
			      d2 = _mm_loadu_si128((const __m128i *)deinterleave_b[2]);
		for (int i = 0; i < 1024; i += 16) {
			const __m128i *u = (const __m128i *)(s->u + 3 * i);
			__m128i b = _mm_or_si128(_mm_shuffle_epi8(_mm_load_si128(u), d0),
						 _mm_shuffle_epi8(_mm_load_si128(u + 1), d1));
			b = _mm_or_si128(b, _mm_shuffle_epi8(_mm_load_si128(u + 2), d2));
			_mm_store_si128((__m128i *)(s->b + i), b);
		}
	} else {
		__m256i m[3][3];
		for (int k = 0; k < 3; k++)
			for (int c = 0; c < 3; c++)
				m[k][c] = lanes2(interleave[k][c]);
		/* the two 128-bit lanes interleave pixels 0-15 and 16-31 independently */
		for (int i = 0; i < 1024; i += 32) {
			__m256i r = pixel_u32(_mm256_loadu_si256((const __m256i *)(img + i)));
			__m256i g =
				pixel_u32(_mm256_loadu_si256((const __m256i *)(img + 1024 + i)));
			__m256i b =
				pixel_u32(_mm256_loadu_si256((const __m256i *)(img + 2048 + i)));
			_mm256_store_si256((__m256i *)(s->b + i), b);
			__m256i o[3];
			for (int k = 0; k < 3; k++)
				o[k] = _mm256_or_si256(
					_mm256_or_si256(_mm256_shuffle_epi8(r, m[k][0]),
							_mm256_shuffle_epi8(g, m[k][1])),
					_mm256_shuffle_epi8(b, m[k][2]));
			__m256i *u = (__m256i *)(s->u + 3 * i);
			_mm256_store_si256(u, _mm256_permute2x128_si256(o[0], o[1], 0x20));
			_mm256_store_si256(u + 1, _mm256_permute2x128_si256(o[2], o[0], 0x30));
			_mm256_store_si256(u + 2, _mm256_permute2x128_si256(o[1], o[2], 0x31));
		}
	}
	build_v(s);
}

/*
 * acc[b] += maddubs(broadcast tap pair *u2, weights of channel block b) for the 4 blocks, as one
 * asm unit: with intrinsics gcc reassociates the 56 products of a pixel into a tree and spills
 * them.
 */
static inline __attribute__((always_inline)) void madd4(__m256i acc[4], const uint8_t *u2,
							const int8_t *w)
{
	__m256i t, p;
	__asm__("vpbroadcastw %[u], %[t]\n\t"
		"vpmaddubsw %[w0], %[t], %[p]\n\t"
		"vpaddw %[p], %[a0], %[a0]\n\t"
		"vpmaddubsw %[w1], %[t], %[p]\n\t"
		"vpaddw %[p], %[a1], %[a1]\n\t"
		"vpmaddubsw %[w2], %[t], %[p]\n\t"
		"vpaddw %[p], %[a2], %[a2]\n\t"
		"vpmaddubsw %[w3], %[t], %[p]\n\t"
		"vpaddw %[p], %[a3], %[a3]"
		: [a0] "+x"(acc[0]), [a1] "+x"(acc[1]), [a2] "+x"(acc[2]), [a3] "+x"(acc[3]),
		  [t] "=&x"(t), [p] "=&x"(p)
		: [u] "m"(*(const uint16_t *)u2), [w0] "m"(*(const __m256i *)w),
		  [w1] "m"(*(const __m256i *)(w + 14 * 32)),
		  [w2] "m"(*(const __m256i *)(w + 28 * 32)),
		  [w3] "m"(*(const __m256i *)(w + 42 * 32)));
}

/* 32 compare results (two ymm of 16-bit all-ones/zero) as a 32-bit mask in channel order. */
static inline uint32_t mask16x2(__m256i c0, __m256i c1)
{
	__m256i b = _mm256_permute4x64_epi64(_mm256_packs_epi16(c0, c1), 0xd8);
	return (uint32_t)_mm256_movemask_epi8(b);
}

static void layer0_avx2(const struct cnv_model *m, const struct cnv_scratch *s, uint64_t *out)
{
	for (int y = 0; y < 30; y++)
		for (int x = 0; x < 30; x++) {
			__m256i acc[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(),
					  _mm256_setzero_si256(), _mm256_setzero_si256()};
#pragma GCC unroll 14
			for (int p = 0; p < CNV_L0_TAPS / 2; p++) {
				const int k = p / 2;
				const uint8_t *u2 =
					k < 6 ? s->u + (y + k / 2) * 96 + 3 * x + 4 * (k % 2) +
							2 * (p % 2)
					      : (const uint8_t *)&s->v[y * 30 + x] + 2 * (p % 2);
				madd4(acc, u2, m->w0p + p * 32);
			}
			uint64_t lo = mask16x2(
				_mm256_cmpgt_epi16(acc[0],
						   _mm256_load_si256((const __m256i *)m->t0s)),
				_mm256_cmpgt_epi16(
					acc[1], _mm256_load_si256((const __m256i *)(m->t0s + 16))));
			uint64_t hi = mask16x2(
				_mm256_cmpgt_epi16(
					acc[2], _mm256_load_si256((const __m256i *)(m->t0s + 32))),
				_mm256_cmpgt_epi16(
					acc[3], _mm256_load_si256((const __m256i *)(m->t0s + 48))));
			out[y * 30 + x] = lo | hi << 32;
		}
}

/* Per-byte popcount of a ^ b, added to acc. */
INLINE __m256i popadd(__m256i acc, __m256i a, __m256i b)
{
	const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1,
					     1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
	const __m256i low = _mm256_set1_epi8(0x0f);
	__m256i v = _mm256_xor_si256(a, b);
	__m256i lo = _mm256_shuffle_epi8(lut, _mm256_and_si256(v, low));
	__m256i hi = _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low));
	return _mm256_add_epi8(acc, _mm256_add_epi8(lo, hi));
}

/*
 * Both halves of a group for one input word: *b0 += bytecount(w0 ^ bcast(*x)), same for w1.
 * One asm unit for the reason given in cnv_kern_avx512.c (xpa): with intrinsics gcc shares the
 * broadcasts between neighbouring pixels, runs far ahead and spills (2237 stack accesses).
 */
INLINE void popadd2(__m256i *b0, __m256i *b1, __m256i w0, __m256i w1, __m256i lut, __m256i low,
		    const uint64_t *x)
{
	__m256i t0, t1, t2;
	__asm__("vpbroadcastq %[x], %[t0]\n\t"
		"vpxor %[w0], %[t0], %[t1]\n\t"
		"vpxor %[w1], %[t0], %[t0]\n\t"
		"vpand %[low], %[t1], %[t2]\n\t"
		"vpsrlw $4, %[t1], %[t1]\n\t"
		"vpand %[low], %[t1], %[t1]\n\t"
		"vpshufb %[t2], %[lut], %[t2]\n\t"
		"vpshufb %[t1], %[lut], %[t1]\n\t"
		"vpaddb %[t2], %[a0], %[a0]\n\t"
		"vpaddb %[t1], %[a0], %[a0]\n\t"
		"vpand %[low], %[t0], %[t2]\n\t"
		"vpsrlw $4, %[t0], %[t0]\n\t"
		"vpand %[low], %[t0], %[t0]\n\t"
		"vpshufb %[t2], %[lut], %[t2]\n\t"
		"vpshufb %[t0], %[lut], %[t0]\n\t"
		"vpaddb %[t2], %[a1], %[a1]\n\t"
		"vpaddb %[t0], %[a1], %[a1]"
		: [a0] "+x"(*b0), [a1] "+x"(*b1), [t0] "=&x"(t0), [t1] "=&x"(t1), [t2] "=&x"(t2)
		: [w0] "x"(w0), [w1] "x"(w1), [lut] "x"(lut), [low] "x"(low), [x] "m"(*x));
}

/* 4 output bits: four 64-bit mismatch counts below their thresholds. */
INLINE unsigned fire4(__m256i cnt, const int64_t *tk)
{
	__m256i lt = _mm256_cmpgt_epi64(_mm256_load_si256((const __m256i *)tk), cnt);
	return (unsigned)_mm256_movemask_pd(_mm256_castsi256_pd(lt));
}

/* k x k binary conv (k = 1, dim = 1 for FC) over cw words per pixel into groups x 8 channels;
 * at most 36 fan-in words, counted in bytes in two runs of at most 18. P pixels per block. */
INLINE void conv_avx2(const uint64_t *restrict in, const uint64_t *restrict wk,
		      const int64_t *restrict tk, uint64_t *restrict out, const int dim,
		      const int k, const int cw, const int groups, const int P)
{
	const int od = dim - k + 1, nw = k * k * cw;
	const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1,
					     1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
	const __m256i low = _mm256_set1_epi8(0x0f);
	uint8_t *ob = (uint8_t *)out;
	for (int g = 0; g < groups; g++) {
		const uint64_t *wg = wk + g * nw * 8;
		for (int y = 0; y < od; y++)
			for (int x0 = 0; x0 < od; x0 += P) {
				const uint64_t *px = in + (y * dim + x0) * cw;
				__m256i c64[4][2], b8[4][2];
#pragma GCC unroll 4
				for (int p = 0; p < P; p++)
					for (int h = 0; h < 2; h++)
						c64[p][h] = b8[p][h] = _mm256_setzero_si256();
#pragma GCC unroll 36
				for (int t = 0; t < nw; t++) {
					const int ky = t / (k * cw), kx = t / cw % k, c = t % cw;
					__m256i w0 =
						_mm256_load_si256((const __m256i *)(wg + t * 8));
					__m256i w1 = _mm256_load_si256(
						(const __m256i *)(wg + t * 8 + 4));
#pragma GCC unroll 4
					for (int p = 0; p < P; p++) {
						popadd2(&b8[p][0], &b8[p][1], w0, w1, lut, low,
							px + (ky * dim + kx + p) * cw + c);
						if (t == 17 && nw > 18) {
							for (int h = 0; h < 2; h++) {
								c64[p][h] = _mm256_sad_epu8(
									b8[p][h],
									_mm256_setzero_si256());
								b8[p][h] = _mm256_setzero_si256();
							}
						}
					}
				}
#pragma GCC unroll 4
				for (int p = 0; p < P; p++) {
					unsigned bits = 0;
					for (int h = 0; h < 2; h++) {
						__m256i cnt = _mm256_sad_epu8(
							b8[p][h], _mm256_setzero_si256());
						if (nw > 18)
							cnt = _mm256_add_epi64(cnt, c64[p][h]);
						bits |= fire4(cnt, tk + g * 8 + 4 * h) << 4 * h;
					}
					ob[(y * od + x0 + p) * groups + g] = (uint8_t)bits;
				}
			}
	}
}

static void scores_avx2(const uint64_t *in, const uint64_t *wk, uint16_t *scores)
{
	__m256i b[4] = {_mm256_setzero_si256(), _mm256_setzero_si256(), _mm256_setzero_si256(),
			_mm256_setzero_si256()};
	for (int t = 0; t < 8; t++) {
		__m256i x = _mm256_set1_epi64x((long long)in[t]);
		for (int q = 0; q < 4; q++)
			b[q] = popadd(b[q], x,
				      _mm256_load_si256((const __m256i *)(wk + (q / 2) * 64 +
									  t * 8 + (q % 2) * 4)));
	}
	uint64_t s[16];
#pragma GCC unroll 4
	for (int q = 0; q < 4; q++)
		_mm256_storeu_si256((__m256i *)(s + 4 * q),
				    _mm256_sad_epu8(b[q], _mm256_setzero_si256()));
	for (int c = 0; c < CNV_CLASSES; c++)
		scores[c] = (uint16_t)(512 - s[c]);
}

void cnv_forward_avx2(const struct cnv_model *m, struct cnv_scratch *s, const uint8_t *img,
		      enum cnv_layout layout, uint16_t *scores, uint64_t *prof)
{
	uint64_t t = prof ? cnv_now_ns() : 0;
	cnv_input_avx2(s, img, layout);
	cnv_stage_end(prof, CNV_STAGE_INPUT, &t);
	layer0_avx2(m, s, s->a0);
	cnv_stage_end(prof, CNV_STAGE_L0, &t);
	conv_avx2(s->a0, m->wk[1], m->tk[1], s->a1, 30, 3, 1, 8, 4);
	cnv_pool(s->a1, 28, 1, s->p1);
	cnv_stage_end(prof, CNV_STAGE_L0 + 1, &t);
	conv_avx2(s->p1, m->wk[2], m->tk[2], s->a2, 14, 3, 1, 16, 4);
	cnv_stage_end(prof, CNV_STAGE_L0 + 2, &t);
	conv_avx2(s->a2, m->wk[3], m->tk[3], s->a3, 12, 3, 2, 16, 2);
	cnv_pool(s->a3, 10, 2, s->p3);
	cnv_stage_end(prof, CNV_STAGE_L0 + 3, &t);
	conv_avx2(s->p3, m->wk[4], m->tk[4], s->a4, 5, 3, 2, 32, 3);
	cnv_stage_end(prof, CNV_STAGE_L0 + 4, &t);
	conv_avx2(s->a4, m->wk[5], m->tk[5], s->a5, 3, 3, 4, 32, 1);
	cnv_stage_end(prof, CNV_STAGE_L0 + 5, &t);
	conv_avx2(s->a5, m->wk[6], m->tk[6], s->a6, 1, 1, 4, 64, 1);
	cnv_stage_end(prof, CNV_STAGE_L0 + 6, &t);
	conv_avx2(s->a6, m->wk[7], m->tk[7], s->a7, 1, 1, 8, 64, 1);
	cnv_stage_end(prof, CNV_STAGE_L0 + 7, &t);
	scores_avx2(s->a7, m->wk[8], scores);
	cnv_stage_end(prof, CNV_STAGE_L0 + 8, &t);
}
#endif /* CNV_X86 */
