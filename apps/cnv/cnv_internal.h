/* SPDX-License-Identifier: MIT */
/* cnv_internal.h - what the CNV files share: the fixed topology, the model's canonical and
 * kernel-ready parameter layouts, per-thread scratch and the per-ISA forward functions. */
#ifndef ORY_CNV_INTERNAL_H
#define ORY_CNV_INTERNAL_H

#include <stdint.h>
#include <time.h>

#include "cnv.h"

/* One layer as the BNN-PYNQ files describe it (docs/cnv.md section 1). */
struct cnv_topo {
	uint8_t in_dim, out_dim, k, pool;
	uint16_t in_ch, out_ch; /* out_ch: real rows (layer 8: 10) */
	uint16_t fanin;		/* k * k * in_ch */
	uint16_t words;		/* 64-bit words per canonical weight row: ceil(fanin / 64) */
	uint8_t pe, simd;	/* the files' folding */
	uint16_t file_rows;	/* rows in the files (layer 8 is padded to 64) */
};
extern const struct cnv_topo cnv_topo[CNV_LAYERS];

/* Activations between layers are channel-last bit vectors: channel c of a pixel is bit c % 64 of
 * word c / 64 (bit set = +1), so a 3x3 window of a binary layer is 9 runs of words and the
 * canonical weight columns (ky, kx, c) line up with it word for word. */
#define CNV_L0_TAPS   28 /* 27 real taps + 1 zero-weight pad: 7 groups of 4 bytes */
#define CNV_L0_GROUPS 7

/* Layer 0 kernel tap j = 4 * k + i reads byte i of dword group k of a pixel's window: groups
 * 0..5 are bytes 0..7 of the 9-byte row segments (ky = k / 2) of the HWC input, group 6 is byte
 * 8 (B of kx = 2) of rows ky = 0, 1, 2, gathered into one dword (the V buffer). Returns the
 * canonical column of tap j, or -1 for the pad tap. */
static inline int cnv_l0_tap_col(int j)
{
	int k = j / 4, i = j % 4;
	if (k < 6)
		return 9 * (k / 2) + 4 * (k % 2) + i;
	return i < 3 ? 9 * i + 8 : -1;
}

struct cnv_model {
	/* Unique for the process's life: kernel states recognise a model they prepared for by
	 * this, not by an address malloc may hand out again. */
	uint64_t id;
	/* Canonical parameters, what .orym stores: row r's column col is bit col % 64 of
	 * w[l][r * words + col / 64] (1 = +1); unused bits are 0. thr[l][r] in file units. */
	uint64_t *w[CNV_LAYERS];
	int32_t *thr[CNV_LAYERS - 1];

	/* Kernel layouts, derived by cnv_model_prepare. Binary layers 1..8: rows in groups of 8,
	 * wk[l][(g * words + t) * 8 + lane] = word t of row 8 g + lane (rows past out_ch are 0),
	 * so one 512-bit load is the same word of 8 output channels. tk[l][r]: the channel fires
	 * when its XOR mismatch count m (= fanin - XNOR popcount) is below tk, i.e. fanin - thr
	 * clamped to [0, fanin + 1]. */
	uint64_t *wk[CNV_LAYERS];
	int64_t *tk[CNV_LAYERS - 1];
	/* Layer 0 works on u = q + 128 (unsigned) with +-1 weights: acc = sum w * u = A + 128 *
	 * sum(w), so thr < 2A becomes acc > t0 = floor((thr + 256 * sum(w)) / 2), clamped into
	 * the accumulator's reach so it also fits 16 bits. w0[((b * 7 + k) * 16 + c) * 4 + i] is
	 * the weight of tap 4k + i for channel 16 b + c (0 for the pad tap). w0p holds the same
	 * weights as tap pairs, [((b * 14 + p) * 16 + c) * 2 + i], for 16-bit multiply-add.
	 * w0m[j * 64 + ch] is 0xffff where tap j of channel ch is +1 (else 0), for the portable
	 * path's sum of the +1 taps, S+ (then acc = 2 S+ - sum of all taps). */
	int8_t *w0, *w0p;
	uint16_t *w0m;
	int32_t *t0;
	int16_t *t0s;
};

/* Build the kernel layouts from the canonical parameters. Returns 0 or -ENOMEM. */
int cnv_model_prepare(struct cnv_model *m);
/* An empty model with every canonical array allocated (zeroed). Returns NULL on ENOMEM. */
struct cnv_model *cnv_model_alloc(void);
/* Check every threshold against the hardware type of its layer; on failure write a message
 * (prefixed by what) and return -ERANGE. */
int cnv_model_check_thresholds(const struct cnv_model *m, const char *what, char *err,
			       size_t errlen);

/* Per-thread scratch: the input as u = q + 128 in HWC order, the layer-0 V dwords, and every
 * intermediate activation. 64-byte aligned so vector loads never split a line needlessly. */
struct cnv_scratch {
	uint8_t u[CNV_IMAGE_BYTES + 64] __attribute__((aligned(64)));
	uint32_t v[30 * 30 + 16] __attribute__((aligned(64)));
	uint8_t b[1024 + 64] __attribute__((aligned(64))); /* SIMD input: u of the B plane */
	uint64_t a0[30 * 30] __attribute__((aligned(64)));
	uint64_t a1[28 * 28] __attribute__((aligned(64)));
	uint64_t p1[14 * 14] __attribute__((aligned(64)));
	uint64_t a2[12 * 12 * 2] __attribute__((aligned(64)));
	uint64_t a3[10 * 10 * 2] __attribute__((aligned(64)));
	uint64_t p3[5 * 5 * 2] __attribute__((aligned(64)));
	uint64_t a4[3 * 3 * 4] __attribute__((aligned(64)));
	uint64_t a5[4] __attribute__((aligned(64)));
	uint64_t a6[8] __attribute__((aligned(64)));
	uint64_t a7[8] __attribute__((aligned(64)));
};

/* The SIMD paths (and the POPCNT build of the portable one) exist on x86 only. */
#if defined(__x86_64__) || defined(__i386__)
#define CNV_X86 1
#else
#define CNV_X86 0
#endif

/* One image through the whole network: img (3072 bytes in layout) to scores[0..10). prof, when
 * not NULL, accumulates nanoseconds per stage (CNV_STAGES). */
typedef void (*cnv_forward_fn)(const struct cnv_model *m, struct cnv_scratch *s, const uint8_t *img,
			       enum cnv_layout layout, uint16_t *scores, uint64_t *prof);
void cnv_forward_scalar(const struct cnv_model *, struct cnv_scratch *, const uint8_t *,
			enum cnv_layout, uint16_t *, uint64_t *);
void cnv_forward_scalar_popcnt(const struct cnv_model *, struct cnv_scratch *, const uint8_t *,
			       enum cnv_layout, uint16_t *, uint64_t *);
void cnv_forward_avx2(const struct cnv_model *, struct cnv_scratch *, const uint8_t *,
		      enum cnv_layout, uint16_t *, uint64_t *);
void cnv_forward_avx512(const struct cnv_model *, struct cnv_scratch *, const uint8_t *,
			enum cnv_layout, uint16_t *, uint64_t *);
/* Shared by the AVX2 and AVX-512 paths: fill s->u and s->v from one image. */
void cnv_input_avx2(struct cnv_scratch *s, const uint8_t *img, enum cnv_layout layout);

/* u = q + 128 for pixel value p: q = clamp(floor((512 p - 65025) / 510), -128, 127) works out
 * to p for p < 128 and p + 1 above, saturating at 255 (docs/cnv.md section 5). */
static inline uint8_t cnv_pixel_u(uint8_t p)
{
	return (uint8_t)(p == 255 ? 255 : p + (p >> 7));
}

/* 2x2 stride-2 max-pool of bits: the OR of the four pixels' words. */
static inline void cnv_pool(const uint64_t *in, unsigned dim, unsigned cw, uint64_t *out)
{
	unsigned od = dim / 2;
	for (unsigned y = 0; y < od; y++)
		for (unsigned x = 0; x < od; x++)
			for (unsigned c = 0; c < cw; c++) {
				const uint64_t *a = in + ((2 * y) * dim + 2 * x) * cw + c;
				out[(y * od + x) * cw + c] =
					a[0] | a[cw] | a[dim * cw] | a[dim * cw + cw];
			}
}

/* BNN-PYNQ's host argmax: start at class 0 with value 0, move only on a strictly greater score,
 * so the first of equal maxima wins. */
static inline uint8_t cnv_argmax(const uint16_t *scores)
{
	unsigned best = 0, bestv = 0;
	for (unsigned c = 0; c < CNV_CLASSES; c++)
		if (scores[c] > bestv) {
			best = c;
			bestv = scores[c];
		}
	return (uint8_t)best;
}

static inline uint64_t cnv_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Close stage st of a profiled run: charge the time since *t to prof[st]. */
static inline void cnv_stage_end(uint64_t *prof, int st, uint64_t *t)
{
	if (prof) {
		uint64_t now = cnv_now_ns();
		prof[st] += now - *t;
		*t = now;
	}
}

/* Error text into err (may be NULL); returns rc. */
int cnv_err(char *err, size_t errlen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* ORY_CNV_INTERNAL_H */
