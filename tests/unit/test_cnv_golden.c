/* SPDX-License-Identifier: MIT */
/* test_cnv_golden.c - the built-in model on real CIFAR-10 test images against the golden
 * predictions and scores (checked against BNN-PYNQ's own code, docs/cnv.md section 11), on
 * every kernel path the CPU has. Needs ORY_SHARED_DIR/data/cnv; skips without it. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnv_ref.h"
#include "util.h"

struct golden {
	uint8_t *batch; /* test_batch.bin: CIFAR records */
	size_t n;
	int cls[846];
	int scored; /* images with golden scores */
	uint16_t scores[100][10];
};

/* Load the data or skip the test (with the reason). */
static void load_golden(struct golden *g)
{
	const char *dir = cnv_ref_shared_dir();
	if (!dir)
		cr_skip_test("no CNV test data at " ORY_SHARED_DIR "/data/cnv");
	char path[512];
	size_t len;
	snprintf(path, sizeof(path), "%s/test_batch.bin", dir);
	g->batch = tu_read_file(path, &len);
	cr_assert_not_null(g->batch, "%s", path);
	g->n = len / CNV_CIFAR_RECORD;
	cr_assert_eq(g->n, 846);
	snprintf(path, sizeof(path), "%s/golden_first846.txt", dir);
	FILE *f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	for (size_t i = 0; i < g->n; i++)
		cr_assert_eq(fscanf(f, "%d", &g->cls[i]), 1, "%s line %zu", path, i + 1);
	fclose(f);
	snprintf(path, sizeof(path), "%s/golden_first100_scores.txt", dir);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	char line[256];
	g->scored = 0;
	while (fgets(line, sizeof(line), f)) {
		int idx, label, pred, s[10];
		if (line[0] == '#')
			continue;
		cr_assert_eq(sscanf(line, "%d %d %d %d %d %d %d %d %d %d %d %d %d", &idx, &label,
				    &pred, &s[0], &s[1], &s[2], &s[3], &s[4], &s[5], &s[6], &s[7],
				    &s[8], &s[9]),
			     13, "%s: %s", path, line);
		cr_assert_eq(idx, g->scored);
		for (int k = 0; k < 10; k++)
			g->scores[idx][k] = (uint16_t)s[k];
		g->scored++;
	}
	fclose(f);
	cr_assert_eq(g->scored, 100);
}

static void check_golden(enum cnv_isa isa)
{
	if (!cnv_isa_supported(isa))
		cr_skip_test("this CPU lacks %s", cnv_isa_name(isa));
	static struct golden g;
	load_golden(&g);
	struct cnv_model *m;
	struct cnv_ctx *ctx;
	char err[256];
	cr_assert_eq(cnv_model_load_default(&m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cnv_ctx_create(m, isa, &ctx), 0);
	uint8_t *cls = malloc(g.n);
	uint16_t *sc = malloc(g.n * 10 * sizeof(uint16_t));
	cr_assert_eq(cnv_classify(ctx, g.batch + 1, CNV_CIFAR_RECORD, CNV_CHW, g.n, cls, sc), 0);
	int wrong = 0;
	for (size_t i = 0; i < g.n; i++) {
		wrong += cls[i] != g.cls[i];
		cr_expect_eq(cls[i], g.cls[i], "%s image %zu", cnv_isa_name(isa), i);
	}
	cr_expect_eq(wrong, 0, "%s: %d of %zu images differ", cnv_isa_name(isa), wrong, g.n);
	for (int i = 0; i < g.scored; i++)
		for (int k = 0; k < 10; k++)
			cr_expect_eq(sc[i * 10 + k], g.scores[i][k], "%s image %d score %d",
				     cnv_isa_name(isa), i, k);
	free(cls);
	free(sc);
	free(g.batch);
	cnv_ctx_free(ctx);
	cnv_model_free(m);
}

Test(cnv_golden, scalar_predicts_the_golden_classes_and_scores)
{
	check_golden(CNV_ISA_SCALAR);
}

Test(cnv_golden, avx2_predicts_the_golden_classes_and_scores)
{
	check_golden(CNV_ISA_AVX2);
}

Test(cnv_golden, avx512_predicts_the_golden_classes_and_scores)
{
	check_golden(CNV_ISA_AVX512);
}

Test(cnv_golden, finn_hwc_input_gives_the_same_classes)
{
	static struct golden g;
	load_golden(&g);
	struct cnv_model *m;
	struct cnv_ctx *ctx;
	char err[256];
	cr_assert_eq(cnv_model_load_default(&m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cnv_ctx_create(m, CNV_ISA_AUTO, &ctx), 0);
	uint8_t *hwc = malloc(g.n * CNV_IMAGE_BYTES), *cls = malloc(g.n);
	for (size_t i = 0; i < g.n; i++)
		cnv_ref_chw_to_hwc(g.batch + i * CNV_CIFAR_RECORD + 1, hwc + i * CNV_IMAGE_BYTES);
	cr_assert_eq(cnv_classify(ctx, hwc, CNV_IMAGE_BYTES, CNV_HWC, g.n, cls, NULL), 0);
	for (size_t i = 0; i < g.n; i++)
		cr_expect_eq(cls[i], g.cls[i], "image %zu", i);
	free(hwc);
	free(cls);
	free(g.batch);
	cnv_ctx_free(ctx);
	cnv_model_free(m);
}

Test(cnv_golden, tied_top_scores_go_to_the_first_class)
{
	static struct golden g;
	load_golden(&g);
	struct cnv_model *m;
	struct cnv_ctx *ctx;
	char err[256];
	cr_assert_eq(cnv_model_load_default(&m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cnv_ctx_create(m, CNV_ISA_AUTO, &ctx), 0);
	/* docs/cnv.md section 11: image 253 ties classes 1 and 9, image 282 classes 3 and 6 */
	static const int img[2] = {253, 282}, lo[2] = {1, 3}, hi[2] = {9, 6};
	for (int t = 0; t < 2; t++) {
		uint8_t cls;
		uint16_t sc[10];
		cr_assert_eq(cnv_classify(ctx, g.batch + img[t] * CNV_CIFAR_RECORD + 1, 0, CNV_CHW,
					  1, &cls, sc),
			     0);
		cr_expect_eq(sc[lo[t]], sc[hi[t]], "image %d is a tie", img[t]);
		cr_expect_eq(cls, lo[t], "image %d", img[t]);
		cr_expect_eq(cls, g.cls[img[t]]);
	}
	free(g.batch);
	cnv_ctx_free(ctx);
	cnv_model_free(m);
}

Test(cnv_golden, the_bnn_pynq_deer_is_a_deer)
{
	const char *dir = cnv_ref_shared_dir();
	if (!dir)
		cr_skip_test("no CNV test data at " ORY_SHARED_DIR "/data/cnv");
	char path[512];
	size_t len;
	snprintf(path, sizeof(path), "%s/deer.bin", dir);
	uint8_t *rec = tu_read_file(path, &len);
	if (!rec || len != CNV_CIFAR_RECORD) {
		free(rec);
		cr_skip_test("no usable %s", path);
	}
	struct cnv_model *m;
	struct cnv_ctx *ctx;
	char err[256];
	cr_assert_eq(cnv_model_load_default(&m, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cnv_ctx_create(m, CNV_ISA_AUTO, &ctx), 0);
	uint8_t cls;
	cr_assert_eq(cnv_classify(ctx, rec + 1, CNV_CIFAR_RECORD, CNV_CHW, 1, &cls, NULL), 0);
	cr_expect_eq(cls, 4, "BNN-PYNQ's tests/test_qnn.py expects class 4 (Deer)");
	free(rec);
	cnv_ctx_free(ctx);
	cnv_model_free(m);
}
