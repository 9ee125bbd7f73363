/* SPDX-License-Identifier: MIT */
/* cnv_kern_scalar.c - the portable C kernels: XNOR-popcount on 64-bit words, layer 0 as sums of
 * the +1 taps. cnv_kern_scalar_popcnt.c compiles this file again for CPUs with POPCNT. */
#include <string.h>

#include "cnv_internal.h"

#ifndef CNV_SCALAR_FORWARD
#define CNV_SCALAR_FORWARD cnv_forward_scalar
#endif

static void input_scalar(struct cnv_scratch *s, const uint8_t *img, enum cnv_layout layout)
{
	if (layout == CNV_HWC) {
		for (unsigned i = 0; i < CNV_IMAGE_BYTES; i++)
			s->u[i] = cnv_pixel_u(img[i]);
	} else {
		for (unsigned c = 0; c < 3; c++)
			for (unsigned i = 0; i < 1024; i++)
				s->u[i * 3 + c] = cnv_pixel_u(img[c * 1024 + i]);
	}
	for (unsigned y = 0; y < 30; y++)
		for (unsigned x = 0; x < 30; x++) {
			const uint8_t *b = s->u + y * 96 + (x + 2) * 3 + 2;
			s->v[y * 30 + x] =
				(uint32_t)b[0] | (uint32_t)b[96] << 8 | (uint32_t)b[192] << 16;
		}
}

/* acc = sum of w * u over the 27 taps = 2 S+ - S, with S+ the sum over the +1 taps: masked
 * 16-bit adds (at most 27 * 255), which the compiler vectorises with whatever the target has. */
static void layer0_scalar(const struct cnv_model *m, const struct cnv_scratch *s, uint64_t *out)
{
	for (unsigned y = 0; y < 30; y++)
		for (unsigned x = 0; x < 30; x++) {
			uint8_t tap[CNV_L0_TAPS];
			for (unsigned k = 0; k < 6; k++)
				memcpy(tap + 4 * k, s->u + (y + k / 2) * 96 + 3 * x + 4 * (k % 2),
				       4);
			memcpy(tap + 24, &s->v[y * 30 + x], 4);
			uint16_t sp[64] = {0};
			int sum = 0;
			for (unsigned j = 0; j < CNV_L0_TAPS - 1; j++) {
				uint16_t u = tap[j];
				const uint16_t *mask = m->w0m + j * 64;
				sum += u;
				for (unsigned ch = 0; ch < 64; ch++)
					sp[ch] += u & mask[ch];
			}
			uint64_t bits = 0;
			for (unsigned ch = 0; ch < 64; ch++)
				bits |= (uint64_t)(2 * sp[ch] - sum > m->t0[ch]) << ch;
			out[y * 30 + x] = bits;
		}
}

/* A k x k binary convolution (k = 1 and dim = 1 for the FC layers) over channel-last bit
 * vectors of cw words per pixel; groups = output channels / 8. Inlined with constant shapes so
 * the word loops unroll. */
static inline __attribute__((always_inline)) void
conv_scalar(const uint64_t *in, const unsigned dim, const unsigned k, const unsigned cw,
	    const uint64_t *wk, const int64_t *tk, const unsigned groups, uint64_t *out)
{
	const unsigned od = dim - k + 1, nw = k * k * cw, ocw = groups / 8;
	uint64_t win[36];
	for (unsigned y = 0; y < od; y++)
		for (unsigned x = 0; x < od; x++) {
			for (unsigned ky = 0; ky < k; ky++)
				memcpy(win + ky * k * cw, in + ((y + ky) * dim + x) * cw,
				       k * cw * sizeof(uint64_t));
			uint64_t *o = out + (y * od + x) * ocw;
			memset(o, 0, ocw * sizeof(uint64_t));
			for (unsigned g = 0; g < groups; g++) {
				/* 8 channels at once: each window word is loaded once, and
				 * the weights of a word are 8 consecutive words */
				const uint64_t *w = wk + g * nw * 8;
				unsigned acc[8] = {0};
				for (unsigned t = 0; t < nw; t++)
					for (unsigned l = 0; l < 8; l++)
						acc[l] += (unsigned)__builtin_popcountll(
							w[t * 8 + l] ^ win[t]);
				unsigned bits = 0;
				for (unsigned l = 0; l < 8; l++)
					bits |= (unsigned)(acc[l] < tk[g * 8 + l]) << l;
				o[g / 8] |= (uint64_t)bits << (g % 8 * 8);
			}
		}
}

static void scores_scalar(const uint64_t *in, const uint64_t *wk, uint16_t *scores)
{
	for (unsigned c = 0; c < CNV_CLASSES; c++) {
		const uint64_t *w = wk + (c / 8) * 8 * 8 + c % 8;
		unsigned acc = 0;
		for (unsigned t = 0; t < 8; t++)
			acc += (unsigned)__builtin_popcountll(w[t * 8] ^ in[t]);
		scores[c] = (uint16_t)(512 - acc);
	}
}

void CNV_SCALAR_FORWARD(const struct cnv_model *m, struct cnv_scratch *s, const uint8_t *img,
			enum cnv_layout layout, uint16_t *scores, uint64_t *prof)
{
	uint64_t t = prof ? cnv_now_ns() : 0;
	input_scalar(s, img, layout);
	cnv_stage_end(prof, CNV_STAGE_INPUT, &t);
	layer0_scalar(m, s, s->a0);
	cnv_stage_end(prof, CNV_STAGE_L0, &t);
	conv_scalar(s->a0, 30, 3, 1, m->wk[1], m->tk[1], 8, s->a1);
	cnv_pool(s->a1, 28, 1, s->p1);
	cnv_stage_end(prof, CNV_STAGE_L0 + 1, &t);
	conv_scalar(s->p1, 14, 3, 1, m->wk[2], m->tk[2], 16, s->a2);
	cnv_stage_end(prof, CNV_STAGE_L0 + 2, &t);
	conv_scalar(s->a2, 12, 3, 2, m->wk[3], m->tk[3], 16, s->a3);
	cnv_pool(s->a3, 10, 2, s->p3);
	cnv_stage_end(prof, CNV_STAGE_L0 + 3, &t);
	conv_scalar(s->p3, 5, 3, 2, m->wk[4], m->tk[4], 32, s->a4);
	cnv_stage_end(prof, CNV_STAGE_L0 + 4, &t);
	conv_scalar(s->a4, 3, 3, 4, m->wk[5], m->tk[5], 32, s->a5);
	cnv_stage_end(prof, CNV_STAGE_L0 + 5, &t);
	conv_scalar(s->a5, 1, 1, 4, m->wk[6], m->tk[6], 64, s->a6);
	cnv_stage_end(prof, CNV_STAGE_L0 + 6, &t);
	conv_scalar(s->a6, 1, 1, 8, m->wk[7], m->tk[7], 64, s->a7);
	cnv_stage_end(prof, CNV_STAGE_L0 + 7, &t);
	scores_scalar(s->a7, m->wk[8], scores);
	cnv_stage_end(prof, CNV_STAGE_L0 + 8, &t);
}
