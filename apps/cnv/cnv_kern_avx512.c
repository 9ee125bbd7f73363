/* SPDX-License-Identifier: MIT */
/*
 * cnv_kern_avx512.c - the AVX-512 kernels (VPOPCNTDQ for the binary layers, VNNI for layer 0).
 *
 * A zmm holds the same 64-bit fan-in word of 8 output channels (the wk layout), so XOR with one
 * broadcast activation word, VPOPCNTQ and VPADDQ accumulate 8 channels' mismatch counts in
 * their own lanes: no horizontal sums, and the threshold test is one VPCMPUQ giving the 8 output
 * bits as a mask byte. A group's 9 * cw weight vectors stay in registers while it sweeps the
 * image, P output pixels at a time, each with its own accumulator chain.
 */
#include "cnv_internal.h"
#if CNV_X86
#pragma GCC target("avx2,popcnt,avx512f,avx512bw,avx512vl,avx512vpopcntdq,avx512vnni")
#include <immintrin.h>
#include <string.h>

#define INLINE static inline __attribute__((always_inline))

/*
 * acc + popcount(w ^ broadcast(*x)) per 64-bit lane, as one asm unit. Written with intrinsics,
 * gcc notices that neighbouring pixels share input words, hoists the XOR/POPCNT of every use of
 * a broadcast together and spills dozens of results to the stack (it did: 234 stack accesses in
 * layer 1); the opaque unit keeps each triple's temporary in one register and the broadcast
 * folded into the XOR.
 */
INLINE __m512i xpa(__m512i acc, __m512i w, const uint64_t *x)
{
	__m512i t;
	__asm__("vpxorq %[x]%{1to8%}, %[w], %[t]\n\t"
		"vpopcntq %[t], %[t]\n\t"
		"vpaddq %[t], %[a], %[a]"
		: [a] "+v"(acc), [t] "=&v"(t)
		: [w] "v"(w), [x] "m"(*x));
	return acc;
}

/* popcount(w ^ broadcast(*x)): the first tap of a chain. */
INLINE __m512i xp(__m512i w, const uint64_t *x)
{
	__m512i t;
	__asm__("vpxorq %[x]%{1to8%}, %[w], %[t]\n\t"
		"vpopcntq %[t], %[t]"
		: [t] "=v"(t)
		: [w] "v"(w), [x] "m"(*x));
	return t;
}

static inline __m512i bcast32(const void *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return _mm512_set1_epi32((int)v);
}

/*
 * Layer 0: acc(ch) = sum over 28 taps of u * w with VPDPBUSD (u unsigned, w signed +-1/0), 16
 * channels per zmm. Half the channels (2 x 7 weight vectors) stay in registers while 6 pixels
 * of a row share each broadcast tap dword.
 */
static void layer0_avx512(const struct cnv_model *m, const struct cnv_scratch *s, uint64_t *out)
{
	/* 16 channels' bits go straight into the pixel's uint64_t; may_alias makes that legal */
	typedef uint16_t __attribute__((may_alias)) u16_alias;
	u16_alias *o16 = (u16_alias *)out;
	for (int h = 0; h < 2; h++) {
		__m512i w[2][CNV_L0_GROUPS], t[2];
		for (int b = 0; b < 2; b++) {
			for (int k = 0; k < CNV_L0_GROUPS; k++)
				w[b][k] = _mm512_load_si512(m->w0 + ((2 * h + b) * 7 + k) * 64);
			t[b] = _mm512_load_si512(m->t0 + (2 * h + b) * 16);
		}
		for (int y = 0; y < 30; y++)
			for (int x0 = 0; x0 < 30; x0 += 6) {
				__m512i acc[2][6];
#pragma GCC unroll 6
				for (int p = 0; p < 6; p++)
					acc[0][p] = acc[1][p] = _mm512_setzero_si512();
#pragma GCC unroll 7
				for (int k = 0; k < CNV_L0_GROUPS; k++)
#pragma GCC unroll 6
					for (int p = 0; p < 6; p++) {
						__m512i u =
							k < 6 ? bcast32(s->u + (y + k / 2) * 96 +
									3 * (x0 + p) + 4 * (k % 2))
							      : bcast32(&s->v[y * 30 + x0 + p]);
						acc[0][p] =
							_mm512_dpbusd_epi32(acc[0][p], u, w[0][k]);
						acc[1][p] =
							_mm512_dpbusd_epi32(acc[1][p], u, w[1][k]);
					}
#pragma GCC unroll 6
				for (int p = 0; p < 6; p++)
					for (int b = 0; b < 2; b++)
						o16[(y * 30 + x0 + p) * 4 + 2 * h + b] =
							_mm512_cmpgt_epi32_mask(acc[b][p], t[b]);
			}
	}
}

/*
 * 3x3 binary convolution of a dim x dim x (64 cw) bit map into groups x 8 channels, P output
 * pixels of a row per block (P divides dim - 2). All arguments but the pointers are
 * compile-time constants at every call, so the loops unroll and w[] and acc[] live in registers.
 */
INLINE void conv3_avx512(const uint64_t *restrict in, const uint64_t *restrict wk,
			 const int64_t *restrict tk, uint64_t *restrict out, const int dim,
			 const int cw, const int groups, const int P)
{
	const int od = dim - 2, nw = 9 * cw;
	uint8_t *ob = (uint8_t *)out;
	for (int g = 0; g < groups; g++) {
		__m512i w[36];
#pragma GCC unroll 36
		for (int t = 0; t < nw; t++)
			w[t] = _mm512_load_si512(wk + (g * nw + t) * 8);
		const __m512i thr = _mm512_load_si512(tk + g * 8);
		for (int y = 0; y < od; y++)
			for (int x0 = 0; x0 < od; x0 += P) {
				const uint64_t *px = in + (y * dim + x0) * cw;
				__m512i acc[14];
#pragma GCC unroll 36
				for (int t = 0; t < nw; t++) {
					const int ky = t / (3 * cw), kx = t / cw % 3, c = t % cw;
#pragma GCC unroll 14
					for (int p = 0; p < P; p++) {
						const uint64_t *x =
							px + (ky * dim + kx + p) * cw + c;
						acc[p] = t ? xpa(acc[p], w[t], x) : xp(w[t], x);
					}
				}
#pragma GCC unroll 14
				for (int p = 0; p < P; p++)
					ob[((y * od + x0 + p) * groups / 8) * 8 + g] =
						(uint8_t)_mm512_cmplt_epu64_mask(acc[p], thr);
			}
	}
}

/* a[i] += popcount(broadcast(*x) ^ w_i) for 4 weight vectors in memory: one broadcast serves 4
 * groups. One asm unit, else gcc hoists all broadcasts of a layer out of the group loop. */
INLINE void xpa4(__m512i a[4], const uint64_t *x, const uint64_t *w, const int stride)
{
	__m512i xb, t;
	__asm__("vpbroadcastq %[x], %[xb]\n\t"
		"vpxorq %[w0], %[xb], %[t]\n\t"
		"vpopcntq %[t], %[t]\n\t"
		"vpaddq %[t], %[a0], %[a0]\n\t"
		"vpxorq %[w1], %[xb], %[t]\n\t"
		"vpopcntq %[t], %[t]\n\t"
		"vpaddq %[t], %[a1], %[a1]\n\t"
		"vpxorq %[w2], %[xb], %[t]\n\t"
		"vpopcntq %[t], %[t]\n\t"
		"vpaddq %[t], %[a2], %[a2]\n\t"
		"vpxorq %[w3], %[xb], %[t]\n\t"
		"vpopcntq %[t], %[t]\n\t"
		"vpaddq %[t], %[a3], %[a3]"
		: [a0] "+v"(a[0]), [a1] "+v"(a[1]), [a2] "+v"(a[2]), [a3] "+v"(a[3]),
		  [xb] "=&v"(xb), [t] "=&v"(t)
		: [x] "m"(*x), [w0] "m"(*(const __m512i *)w),
		  [w1] "m"(*(const __m512i *)(w + stride)),
		  [w2] "m"(*(const __m512i *)(w + 2 * stride)),
		  [w3] "m"(*(const __m512i *)(w + 3 * stride)));
}

/* Fully connected (or a conv whose window is the whole input): nw input words, weights streamed
 * from memory, 4 groups per pass. */
INLINE void fc_avx512(const uint64_t *restrict in, const uint64_t *restrict wk,
		      const int64_t *restrict tk, uint64_t *restrict out, const int nw,
		      const int groups)
{
	uint8_t *ob = (uint8_t *)out;
	for (int g = 0; g < groups; g += 4) {
		__m512i a[4] = {_mm512_setzero_si512(), _mm512_setzero_si512(),
				_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 36
		for (int t = 0; t < nw; t++)
			xpa4(a, in + t, wk + (g * nw + t) * 8, nw * 8);
		for (int i = 0; i < 4; i++)
			ob[g + i] = (uint8_t)_mm512_cmplt_epu64_mask(
				a[i], _mm512_load_si512(tk + (g + i) * 8));
	}
}

static void scores_avx512(const uint64_t *in, const uint64_t *wk, uint16_t *scores)
{
	__m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512();
	for (int t = 0; t < 8; t++) {
		__m512i x = _mm512_set1_epi64((long long)in[t]);
		a0 = _mm512_add_epi64(a0, _mm512_popcnt_epi64(_mm512_xor_si512(
						  x, _mm512_load_si512(wk + t * 8))));
		a1 = _mm512_add_epi64(a1, _mm512_popcnt_epi64(_mm512_xor_si512(
						  x, _mm512_load_si512(wk + 64 + t * 8))));
	}
	const __m512i full = _mm512_set1_epi64(512);
	uint64_t s[16];
	_mm512_storeu_si512(s, _mm512_sub_epi64(full, a0));
	_mm512_storeu_si512(s + 8, _mm512_sub_epi64(full, a1));
	for (int c = 0; c < CNV_CLASSES; c++)
		scores[c] = (uint16_t)s[c];
}

static void layer1(const uint64_t *in, const struct cnv_model *m, uint64_t *out)
{
	conv3_avx512(in, m->wk[1], m->tk[1], out, 30, 1, 8, 14);
}

static void layer2(const uint64_t *in, const struct cnv_model *m, uint64_t *out)
{
	conv3_avx512(in, m->wk[2], m->tk[2], out, 14, 1, 16, 12);
}

static void layer3(const uint64_t *in, const struct cnv_model *m, uint64_t *out)
{
	conv3_avx512(in, m->wk[3], m->tk[3], out, 12, 2, 16, 5);
}

static void layer4(const uint64_t *in, const struct cnv_model *m, uint64_t *out)
{
	conv3_avx512(in, m->wk[4], m->tk[4], out, 5, 2, 32, 3);
}

void cnv_forward_avx512(const struct cnv_model *m, struct cnv_scratch *s, const uint8_t *img,
			enum cnv_layout layout, uint16_t *scores, uint64_t *prof)
{
	uint64_t t = prof ? cnv_now_ns() : 0;
	cnv_input_avx2(s, img, layout);
	cnv_stage_end(prof, CNV_STAGE_INPUT, &t);
	layer0_avx512(m, s, s->a0);
	cnv_stage_end(prof, CNV_STAGE_L0, &t);
	layer1(s->a0, m, s->a1);
	cnv_pool(s->a1, 28, 1, s->p1);
	cnv_stage_end(prof, CNV_STAGE_L0 + 1, &t);
	layer2(s->p1, m, s->a2);
	cnv_stage_end(prof, CNV_STAGE_L0 + 2, &t);
	layer3(s->a2, m, s->a3);
	cnv_pool(s->a3, 10, 2, s->p3);
	cnv_stage_end(prof, CNV_STAGE_L0 + 3, &t);
	layer4(s->p3, m, s->a4);
	cnv_stage_end(prof, CNV_STAGE_L0 + 4, &t);
	fc_avx512(s->a4, m->wk[5], m->tk[5], s->a5, 36, 32);
	cnv_stage_end(prof, CNV_STAGE_L0 + 5, &t);
	fc_avx512(s->a5, m->wk[6], m->tk[6], s->a6, 4, 64);
	cnv_stage_end(prof, CNV_STAGE_L0 + 6, &t);
	fc_avx512(s->a6, m->wk[7], m->tk[7], s->a7, 8, 64);
	cnv_stage_end(prof, CNV_STAGE_L0 + 7, &t);
	scores_avx512(s->a7, m->wk[8], scores);
	cnv_stage_end(prof, CNV_STAGE_L0 + 8, &t);
}
#endif /* CNV_X86 */
