/* SPDX-License-Identifier: MIT */
/* test_cnv_kernels.c - every CNV kernel path the CPU has against the naive reference on
 * synthetic models and random images, the paths against each other, and the API contract. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "apps/cnv/cnv_internal.h"
#include "cnv_ref.h"

#define REF_IMAGES 5

/* Classify REF_IMAGES random images of two synthetic models with isa, as CIFAR records (CHW,
 * stride 3073) and as FINN input (HWC, stride 3072), and compare with the reference. */
static void check_against_reference(enum cnv_isa isa)
{
	if (!cnv_isa_supported(isa))
		cr_skip_test("this CPU lacks %s", cnv_isa_name(isa));
	for (uint64_t seed = 1; seed <= 2; seed++) {
		struct cnv_model *m;
		struct cnv_ctx *ctx;
		cr_assert_eq(cnv_model_synthetic(seed, &m), 0);
		cr_assert_eq(cnv_ctx_create(m, isa, &ctx), 0);
		cr_assert_eq(cnv_ctx_isa(ctx), isa);
		struct cnv_ref *ref = cnv_ref_create(m);
		uint8_t *img = cnv_ref_random_images(REF_IMAGES, seed);
		uint8_t *rec = calloc(REF_IMAGES, CNV_CIFAR_RECORD);
		uint8_t *hwc = malloc(REF_IMAGES * CNV_IMAGE_BYTES);
		for (int i = 0; i < REF_IMAGES; i++) {
			memcpy(rec + i * CNV_CIFAR_RECORD + 1, img + i * CNV_IMAGE_BYTES,
			       CNV_IMAGE_BYTES);
			cnv_ref_chw_to_hwc(img + i * CNV_IMAGE_BYTES, hwc + i * CNV_IMAGE_BYTES);
		}
		uint8_t cls[REF_IMAGES], cls2[REF_IMAGES];
		uint16_t sc[REF_IMAGES * 10], sc2[REF_IMAGES * 10];
		cr_assert_eq(
			cnv_classify(ctx, rec + 1, CNV_CIFAR_RECORD, CNV_CHW, REF_IMAGES, cls, sc),
			0);
		cr_assert_eq(
			cnv_classify(ctx, hwc, CNV_IMAGE_BYTES, CNV_HWC, REF_IMAGES, cls2, sc2), 0);
		for (int i = 0; i < REF_IMAGES; i++) {
			uint16_t want[10];
			int c = cnv_ref_classify(ref, img + i * CNV_IMAGE_BYTES, CNV_CHW, want);
			for (int k = 0; k < 10; k++) {
				cr_expect_eq(sc[i * 10 + k], want[k],
					     "%s seed %d image %d score %d", cnv_isa_name(isa),
					     (int)seed, i, k);
				cr_expect_eq(sc2[i * 10 + k], want[k], "%s HWC image %d score %d",
					     cnv_isa_name(isa), i, k);
			}
			cr_expect_eq(cls[i], c, "%s seed %d image %d", cnv_isa_name(isa), (int)seed,
				     i);
			cr_expect_eq(cls2[i], c);
		}
		free(img);
		free(rec);
		free(hwc);
		cnv_ref_free(ref);
		cnv_ctx_free(ctx);
		cnv_model_free(m);
	}
}

Test(cnv_kernels, the_scalar_path_matches_the_reference)
{
	check_against_reference(CNV_ISA_SCALAR);
}

Test(cnv_kernels, the_avx2_path_matches_the_reference)
{
	check_against_reference(CNV_ISA_AVX2);
}

Test(cnv_kernels, the_avx512_path_matches_the_reference)
{
	check_against_reference(CNV_ISA_AVX512);
}

Test(cnv_kernels, the_reference_sees_both_bit_values_in_the_synthetic_scores)
{
	/* Guards the test above: if the synthetic model saturated, equal scores would prove
	 * little. Scores must spread over several values. */
	struct cnv_model *m;
	cr_assert_eq(cnv_model_synthetic(1, &m), 0);
	struct cnv_ref *ref = cnv_ref_create(m);
	uint8_t *img = cnv_ref_random_images(1, 9);
	uint16_t sc[10];
	cnv_ref_classify(ref, img, CNV_CHW, sc);
	int distinct = 0;
	for (int i = 0; i < 10; i++) {
		int seen = 0;
		for (int j = 0; j < i; j++)
			seen |= sc[j] == sc[i];
		distinct += !seen;
		cr_expect(sc[i] > 0 && sc[i] < 512, "score %d = %d", i, sc[i]);
	}
	cr_expect_geq(distinct, 5);
	free(img);
	cnv_ref_free(ref);
	cnv_model_free(m);
}

Test(cnv_kernels, all_paths_agree_on_many_random_images)
{
	enum { N = 150 };
	struct cnv_model *m;
	cr_assert_eq(cnv_model_synthetic(99, &m), 0);
	uint8_t *img = cnv_ref_random_images(N, 77);
	uint8_t cls[3][N];
	uint16_t *sc = malloc(3 * N * 10 * sizeof(uint16_t));
	int ran = 0;
	for (enum cnv_isa isa = CNV_ISA_SCALAR; isa <= CNV_ISA_AVX512; isa++) {
		struct cnv_ctx *ctx;
		if (!cnv_isa_supported(isa))
			continue;
		cr_assert_eq(cnv_ctx_create(m, isa, &ctx), 0);
		int k = isa - CNV_ISA_SCALAR;
		cr_assert_eq(cnv_classify(ctx, img, CNV_IMAGE_BYTES, CNV_CHW, N, cls[k],
					  sc + k * N * 10),
			     0);
		if (k > 0) {
			cr_expect_arr_eq(cls[k], cls[0], N, "%s classes", cnv_isa_name(isa));
			cr_expect_arr_eq(sc + k * N * 10, sc, N * 10 * sizeof(uint16_t),
					 "%s scores", cnv_isa_name(isa));
		}
		cnv_ctx_free(ctx);
		ran++;
	}
	cr_expect_geq(ran, 1);
	free(sc);
	free(img);
	cnv_model_free(m);
}

Test(cnv_kernels, the_first_of_equal_top_scores_wins)
{
	uint16_t a[10] = {3, 9, 2, 9, 1, 0, 9, 0, 0, 0};
	cr_expect_eq(cnv_argmax(a), 1);
	uint16_t b[10] = {0};
	cr_expect_eq(cnv_argmax(b), 0);
	uint16_t c[10] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 7};
	cr_expect_eq(cnv_argmax(c), 9);
}

Test(cnv_kernels, pixels_quantise_to_q1_7_as_the_host_code_does)
{
	for (int p = 0; p < 256; p++) {
		int num = 512 * p - 65025, q = num / 510;
		if (num % 510 && num < 0)
			q--; /* floor division */
		q = q < -128 ? -128 : q > 127 ? 127 : q;
		cr_expect_eq(cnv_pixel_u((uint8_t)p), q + 128, "pixel %d", p);
	}
}

Test(cnv_kernels, asking_for_a_missing_isa_is_an_error)
{
	struct cnv_model *m;
	cr_assert_eq(cnv_model_synthetic(1, &m), 0);
	for (enum cnv_isa isa = CNV_ISA_AUTO; isa <= CNV_ISA_AVX512; isa++) {
		struct cnv_ctx *ctx = NULL;
		int rc = cnv_ctx_create(m, isa, &ctx);
		cr_expect_eq(rc, cnv_isa_supported(isa) ? 0 : -ENOTSUP, "%s", cnv_isa_name(isa));
		if (isa == CNV_ISA_AUTO)
			cr_expect_eq(cnv_ctx_isa(ctx), cnv_isa_best());
		cnv_ctx_free(ctx);
	}
	struct cnv_ctx *ctx = NULL;
	cr_expect_eq(cnv_ctx_create(m, (enum cnv_isa)42, &ctx), -EINVAL);
	cr_expect_eq(cnv_ctx_create(NULL, CNV_ISA_SCALAR, &ctx), -EINVAL);
	cr_expect_null(ctx);
	cnv_model_free(m);
}

Test(cnv_kernels, classify_refuses_bad_arguments)
{
	struct cnv_model *m;
	struct cnv_ctx *ctx;
	cr_assert_eq(cnv_model_synthetic(1, &m), 0);
	cr_assert_eq(cnv_ctx_create(m, CNV_ISA_AUTO, &ctx), 0);
	uint8_t img[2 * CNV_IMAGE_BYTES] = {0}, cls[2] = {0xff, 0xff};
	cr_expect_eq(cnv_classify(ctx, img, CNV_IMAGE_BYTES, CNV_CHW, 0, NULL, NULL), 0);
	cr_expect_eq(cnv_classify(NULL, img, CNV_IMAGE_BYTES, CNV_CHW, 1, cls, NULL), -EINVAL);
	cr_expect_eq(cnv_classify(ctx, NULL, CNV_IMAGE_BYTES, CNV_CHW, 1, cls, NULL), -EINVAL);
	cr_expect_eq(cnv_classify(ctx, img, CNV_IMAGE_BYTES, CNV_CHW, 1, NULL, NULL), -EINVAL);
	cr_expect_eq(cnv_classify(ctx, img, 100, CNV_CHW, 2, cls, NULL), -EINVAL);
	cr_expect_eq(cnv_classify(ctx, img, CNV_IMAGE_BYTES, (enum cnv_layout)7, 1, cls, NULL),
		     -EINVAL);
	cr_expect_eq(cls[0], 0xff, "nothing is written on error");
	cr_expect_eq(cnv_classify(ctx, img, CNV_IMAGE_BYTES, CNV_HWC, 2, cls, NULL), 0);
	cr_expect_lt(cls[0], 10);
	cr_expect_eq(cls[0], cls[1]);
	cnv_ctx_free(ctx);
	cnv_model_free(m);
}

Test(cnv_kernels, profiling_charges_time_to_every_stage)
{
	struct cnv_model *m;
	struct cnv_ctx *ctx;
	cr_assert_eq(cnv_model_synthetic(1, &m), 0);
	cr_assert_eq(cnv_ctx_create(m, CNV_ISA_AUTO, &ctx), 0);
	uint8_t *img = cnv_ref_random_images(4, 1), cls[4];
	uint64_t ns[CNV_STAGES] = {0};
	cnv_ctx_profile(ctx, ns);
	cr_assert_eq(cnv_classify(ctx, img, CNV_IMAGE_BYTES, CNV_CHW, 4, cls, NULL), 0);
	cnv_ctx_profile(ctx, NULL);
	uint64_t total = 0;
	for (int i = 0; i < CNV_STAGES; i++)
		total += ns[i];
	cr_expect_gt(ns[CNV_STAGE_L0 + 1], 0);
	cr_expect_gt(total, 0);
	uint64_t before = ns[CNV_STAGE_L0 + 1];
	cr_assert_eq(cnv_classify(ctx, img, CNV_IMAGE_BYTES, CNV_CHW, 4, cls, NULL), 0);
	cr_expect_eq(ns[CNV_STAGE_L0 + 1], before, "no timing after profiling stops");
	free(img);
	cnv_ctx_free(ctx);
	cnv_model_free(m);
}

Test(cnv_kernels, the_portable_build_without_popcnt_matches_the_reference)
{
	/* On a CPU with POPCNT, CNV_ISA_SCALAR runs the POPCNT build; call the plain one directly
	 * so it is not left untested. */
	struct cnv_model *m;
	cr_assert_eq(cnv_model_synthetic(4, &m), 0);
	struct cnv_ref *ref = cnv_ref_create(m);
	struct cnv_scratch *s = aligned_alloc(64, sizeof(*s));
	cr_assert_not_null(s);
	uint8_t *img = cnv_ref_random_images(3, 4);
	for (int i = 0; i < 3; i++) {
		uint16_t got[10], want[10];
		cnv_forward_scalar(m, s, img + i * CNV_IMAGE_BYTES, CNV_CHW, got, NULL);
		cnv_ref_classify(ref, img + i * CNV_IMAGE_BYTES, CNV_CHW, want);
		cr_expect_arr_eq(got, want, sizeof(got), "image %d", i);
	}
	free(img);
	free(s);
	cnv_ref_free(ref);
	cnv_model_free(m);
}
