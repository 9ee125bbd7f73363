/* SPDX-License-Identifier: MIT */
/* test_cnv_app.c - CNV classification through the engine (ory_cnv_*): batches over several
 * devices come back in order and equal the kernel's own answers; labels are counted; bad input
 * and bad models are refused with a reason. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "apps/cnv/cnv_app.h"
#include "octoray/octoray.h"
#include "util.h"

static struct ory_runtime *rt_for(const char *devices)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	struct ory_runtime *rt;
	cr_assert_eq(ory_runtime_create(&o, &rt, NULL, 0), 0);
	return rt;
}

/* n CIFAR-10 records with random pixels and labels i % 10. */
static uint8_t *random_records(size_t n, uint64_t seed)
{
	uint8_t *r = tu_random(n * CNV_CIFAR_RECORD, seed);
	for (size_t i = 0; i < n; i++)
		r[i * CNV_CIFAR_RECORD] = (uint8_t)(i % 10);
	return r;
}

/* The kernel's own answer, one thread, no runtime. */
static void direct(const uint8_t *rec, size_t n, uint8_t *classes, uint16_t *scores)
{
	struct cnv_model *m;
	struct cnv_ctx *ctx;
	cr_assert_eq(cnv_model_load_default(&m, NULL, 0), 0);
	cr_assert_eq(cnv_ctx_create(m, CNV_ISA_SCALAR, &ctx), 0);
	cr_assert_eq(cnv_classify(ctx, rec + 1, CNV_CIFAR_RECORD, CNV_CHW, n, classes, scores), 0);
	cnv_ctx_free(ctx);
	cnv_model_free(m);
}

Test(cnv_app, batches_on_several_devices_come_back_in_order_with_the_kernels_answers)
{
	size_t n = 301; /* batches of 7 leave a short last one */
	uint8_t *rec = random_records(n, 1);
	uint8_t *want = malloc(n), *got = malloc(n);
	uint16_t *want_s = malloc(n * 20), *got_s = malloc(n * 20);
	direct(rec, n, want, want_s);
	const char *specs[] = { "cpu:1", "cpu:3" };
	for (int i = 0; i < 2; i++) {
		struct ory_runtime *rt = rt_for(specs[i]);
		struct ory_cnv_opts o;
		ory_cnv_opts_init(&o);
		o.batch = 7;
		memset(got, 0xee, n);
		struct ory_cnv_result res = { .struct_size = sizeof(res) };
		int rc = ory_cnv_classify(rt, rec, n, &o, got, got_s, &res);
		cr_assert_eq(rc, 0, "%s: %s", specs[i], ory_runtime_errmsg(rt));
		cr_expect_eq(memcmp(got, want, n), 0, "%s: classes differ", specs[i]);
		cr_expect_eq(memcmp(got_s, want_s, n * 20), 0, "%s: scores differ", specs[i]);
		cr_expect_eq(res.images, n);
		cr_expect_eq(res.labelled, n);
		uint64_t sum = 0, diag = 0;
		for (int l = 0; l < 10; l++)
			for (int p = 0; p < 10; p++) {
				sum += res.confusion[l][p];
				diag += l == p ? res.confusion[l][p] : 0;
			}
		cr_expect_eq(sum, n);
		cr_expect_eq(diag, res.correct);
		ory_runtime_destroy(rt);
	}
	free(rec);
	free(want);
	free(got);
	free(want_s);
	free(got_s);
}

Test(cnv_app, raw_nhwc_input_gives_the_same_classes_as_cifar_records)
{
	size_t n = 50;
	uint8_t *rec = random_records(n, 2);
	uint8_t *raw = malloc(n * CNV_IMAGE_BYTES);
	struct cnv_params p = { .stride = CNV_CIFAR_RECORD, .offset = 1, .layout = CNV_CHW };
	cnv_pack_hwc(raw, rec, n, &p);
	uint8_t *a = malloc(n), *b = malloc(n);
	struct ory_runtime *rt = rt_for("cpu:2");
	struct ory_cnv_opts o;
	ory_cnv_opts_init(&o);
	o.batch = 16;
	cr_assert_eq(ory_cnv_classify(rt, rec, n, &o, a, NULL, NULL), 0);
	o.input = ORY_CNV_RAW;
	cr_assert_eq(ory_cnv_classify(rt, raw, n, &o, b, NULL, NULL), 0);
	cr_expect_eq(memcmp(a, b, n), 0);
	ory_runtime_destroy(rt);
	free(rec);
	free(raw);
	free(a);
	free(b);
}

Test(cnv_app, golden_predictions_through_a_file_and_several_devices)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/data/cnv/test_batch.bin", ORY_SHARED_DIR);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		cr_skip_test("%s not present (a clone without ../shared)", path);
	char *dir = tu_mkdtemp();
	int out = open(tu_path(dir, "lines"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct ory_runtime *rt = rt_for("cpu:2");
	struct ory_cnv_opts o;
	ory_cnv_opts_init(&o);
	o.batch = 100;
	o.format = ORY_CNV_CSV;
	struct ory_cnv_result res = { .struct_size = sizeof(res) };
	cr_assert_eq(ory_cnv_fd(rt, fd, out, &o, &res), 0, "%s", ory_runtime_errmsg(rt));
	close(out);
	cr_expect_eq(res.images, 846);
	cr_expect_eq(res.correct, 678, "80.14%% on the 846 images, as the reference");
	char golden[4096];
	snprintf(golden, sizeof(golden), "%s/data/cnv/golden_first846.txt", ORY_SHARED_DIR);
	cr_expect_eq(tu_sh("tail -n +2 '%s/lines' | cut -d, -f2 | cmp -s - '%s'", dir, golden), 0,
		     "classes differ from %s", golden);
	cr_expect_eq(tu_sh("head -1 '%s/lines' | grep -qx 'index,class,name,label'", dir), 0);
	ory_runtime_destroy(rt);
	close(fd);
	tu_rmtree(dir);
	free(dir);
}

Test(cnv_app, a_file_that_is_not_whole_records_is_refused_before_any_output)
{
	char *dir = tu_mkdtemp();
	uint8_t *rec = random_records(3, 3);
	tu_write_file(tu_path(dir, "bad.bin"), rec, 2 * CNV_CIFAR_RECORD + 5);
	int fd = open(tu_path(dir, "bad.bin"), O_RDONLY);
	int out = open(tu_path(dir, "lines"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct ory_runtime *rt = rt_for("cpu:1");
	int rc = ory_cnv_fd(rt, fd, out, NULL, NULL);
	cr_expect_eq(rc, -EINVAL);
	cr_expect_eq(ory_runtime_error_origin(rt), ORY_ORIGIN_INPUT);
	cr_expect(strstr(ory_runtime_errmsg(rt), "not a whole number of 3073-byte CIFAR-10 records"),
		  "%s", ory_runtime_errmsg(rt));
	size_t n;
	free(tu_read_file(tu_path(dir, "lines"), &n));
	cr_expect_eq(n, 0, "%zu bytes written before the error", n);
	ory_runtime_destroy(rt);
	close(fd);
	close(out);
	free(rec);
	tu_rmtree(dir);
	free(dir);
}

Test(cnv_app, a_broken_model_file_is_named_in_the_error)
{
	char *dir = tu_mkdtemp();
	tu_write_file(tu_path(dir, "m.orym"), "ORYMODEL but not really", 23);
	uint8_t *rec = random_records(1, 4);
	uint8_t cls;
	struct ory_runtime *rt = rt_for("cpu:1");
	struct ory_cnv_opts o;
	ory_cnv_opts_init(&o);
	o.model_path = tu_path(dir, "m.orym");
	int rc = ory_cnv_classify(rt, rec, 1, &o, &cls, NULL, NULL);
	cr_expect_lt(rc, 0);
	cr_expect(strstr(ory_runtime_errmsg(rt), "m.orym"), "%s", ory_runtime_errmsg(rt));
	ory_runtime_destroy(rt);
	free(rec);
	tu_rmtree(dir);
	free(dir);
}

Test(cnv_app, class_names_follow_cifar10_order)
{
	cr_expect_str_eq(ory_cnv_class_name(0), "airplane");
	cr_expect_str_eq(ory_cnv_class_name(4), "deer");
	cr_expect_str_eq(ory_cnv_class_name(9), "truck");
	cr_expect_null(ory_cnv_class_name(10));
}
