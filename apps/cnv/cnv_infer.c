/* SPDX-License-Identifier: MIT */
/*
 * cnv_infer.c - picking a kernel path from the CPU's features, per-thread contexts, and the
 * batch loop of cnv_classify.
 *
 * How an image goes through (each ISA file has its own cnv_forward_*):
 *   input   3072 bytes (CHW or HWC) -> u = q + 128 in HWC order, plus the "V" dwords that give
 *           layer 0 its 7th group of 4 taps (docs/cnv.md's Q1.7 rounding is p + (p >= 128));
 *   L0      byte dot products of u with +-1 weights, thresholds pre-shifted by the +128 offset;
 *   L1..L7  XOR/popcount over channel-last bit maps, 8 output channels per 512-bit vector,
 *           "mismatches < fanin - thr", OR max-pool after L1 and L3;
 *   L8      512 - mismatches = the 10 scores; argmax keeps the first maximum.
 * Images go one at a time: every activation of one image (about 20 KB) stays in L1/L2, and
 * the weights of the big layers (L1-L4) are reloaded only once per channel group and image.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cnv_internal.h"

struct cnv_ctx {
	struct cnv_scratch s; /* first: it needs the 64-byte alignment of the allocation */
	const struct cnv_model *m;
	enum cnv_isa isa;
	cnv_forward_fn forward;
	uint64_t *prof;
};

bool cnv_isa_supported(enum cnv_isa isa)
{
	if (isa == CNV_ISA_AUTO || isa == CNV_ISA_SCALAR)
		return true;
#if CNV_X86
	__builtin_cpu_init();
	switch (isa) {
	case CNV_ISA_AUTO:
	case CNV_ISA_SCALAR:
		return true;
	case CNV_ISA_AVX2:
		return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
	case CNV_ISA_AVX512:
		/* libgcc also checks that the OS saves the AVX-512 state (XCR0). */
		return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		       __builtin_cpu_supports("avx512vl") &&
		       __builtin_cpu_supports("avx512vpopcntdq") &&
		       __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx2") &&
		       __builtin_cpu_supports("popcnt");
	}
#endif
	return false;
}

enum cnv_isa cnv_isa_best(void)
{
	if (cnv_isa_supported(CNV_ISA_AVX512))
		return CNV_ISA_AVX512;
	if (cnv_isa_supported(CNV_ISA_AVX2))
		return CNV_ISA_AVX2;
	return CNV_ISA_SCALAR;
}

const char *cnv_isa_name(enum cnv_isa isa)
{
	switch (isa) {
	case CNV_ISA_AUTO:
		return "auto";
	case CNV_ISA_SCALAR:
		return "scalar";
	case CNV_ISA_AVX2:
		return "avx2";
	case CNV_ISA_AVX512:
		return "avx512";
	}
	return "?";
}

int cnv_ctx_create(const struct cnv_model *m, enum cnv_isa isa, struct cnv_ctx **out)
{
	if (!m || !out || (unsigned)isa > CNV_ISA_AVX512)
		return -EINVAL;
	if (isa == CNV_ISA_AUTO)
		isa = cnv_isa_best();
	if (!cnv_isa_supported(isa))
		return -ENOTSUP;
	struct cnv_ctx *c = aligned_alloc(64, (sizeof(*c) + 63) / 64 * 64);
	if (!c)
		return -ENOMEM;
	memset(c, 0, sizeof(*c));
	c->m = m;
	c->isa = isa;
#if CNV_X86
	switch (isa) {
	case CNV_ISA_AVX512:
		c->forward = cnv_forward_avx512;
		break;
	case CNV_ISA_AVX2:
		c->forward = cnv_forward_avx2;
		break;
	default:
		c->forward = __builtin_cpu_supports("popcnt") ? cnv_forward_scalar_popcnt
							      : cnv_forward_scalar;
		break;
	}
#else
	c->forward = cnv_forward_scalar;
#endif
	*out = c;
	return 0;
}

void cnv_ctx_free(struct cnv_ctx *ctx)
{
	free(ctx);
}

enum cnv_isa cnv_ctx_isa(const struct cnv_ctx *ctx)
{
	return ctx ? ctx->isa : CNV_ISA_AUTO;
}

void cnv_ctx_profile(struct cnv_ctx *ctx, uint64_t *ns)
{
	if (ctx)
		ctx->prof = ns;
}

int cnv_classify(struct cnv_ctx *ctx, const uint8_t *first_image, size_t record_stride,
		 enum cnv_layout layout, size_t n, uint8_t *classes, uint16_t *scores)
{
	if (!ctx || (layout != CNV_CHW && layout != CNV_HWC))
		return -EINVAL;
	if (n == 0)
		return 0;
	if (!first_image || !classes || (n > 1 && record_stride < CNV_IMAGE_BYTES))
		return -EINVAL;
	uint16_t sc[CNV_CLASSES];
	for (size_t i = 0; i < n; i++) {
		uint16_t *s = scores ? scores + i * CNV_CLASSES : sc;
		ctx->forward(ctx->m, &ctx->s, first_image + i * record_stride, layout, s,
			     ctx->prof);
		classes[i] = cnv_argmax(s);
	}
	return 0;
}
