/* SPDX-License-Identifier: MIT */
/* test_cnv_model.c - CNV model loading: the BNN-PYNQ folder reader and its error messages, the
 * .orym round trip and its corruption checks, and the built-in model. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zlib.h>

#include "cnv_ref.h"

static void orym_of(const struct cnv_model *m, uint8_t **buf, size_t *len)
{
	void *b;
	cr_assert_eq(cnv_model_to_orym(m, &b, len), 0);
	*buf = b;
}

/* Re-seal a hand-edited .orym so only the edit, not the CRC, is what the loader sees. */
static void reseal(uint8_t *buf, size_t len)
{
	uint32_t crc = (uint32_t)crc32(0, buf + 48, (uInt)(len - 48));
	for (int i = 0; i < 4; i++)
		buf[40 + i] = (uint8_t)(crc >> 8 * i);
}

static bool same_model(const struct cnv_model *a, const struct cnv_model *b)
{
	uint8_t *x, *y;
	size_t xl, yl;
	orym_of(a, &x, &xl);
	orym_of(b, &y, &yl);
	bool same = xl == yl && !memcmp(x, y, xl);
	free(x);
	free(y);
	return same;
}

Test(cnv_model, synthetic_models_depend_only_on_the_seed)
{
	struct cnv_model *a, *b, *c;
	cr_assert_eq(cnv_model_synthetic(7, &a), 0);
	cr_assert_eq(cnv_model_synthetic(7, &b), 0);
	cr_assert_eq(cnv_model_synthetic(8, &c), 0);
	cr_expect(same_model(a, b));
	cr_expect_not(same_model(a, c));
	cnv_model_free(a);
	cnv_model_free(b);
	cnv_model_free(c);
}

Test(cnv_model, orym_round_trip_keeps_every_weight_and_threshold)
{
	struct cnv_model *m, *back;
	uint8_t *buf;
	size_t len;
	char err[256];
	cr_assert_eq(cnv_model_synthetic(11, &m), 0);
	orym_of(m, &buf, &len);
	cr_expect_eq(len, 201024, "an .orym of CNV is %zu bytes", len);
	cr_assert_eq(cnv_model_load_mem(buf, len, &back, err, sizeof(err)), 0, "%s", err);
	for (unsigned l = 0; l < CNV_LAYERS; l++) {
		struct cnv_layer_shape s;
		cr_assert_eq(cnv_layer_shape(l, &s), 0);
		for (unsigned r = 0; r < s.out_ch; r++) {
			cr_assert_eq(cnv_model_threshold(m, l, r), cnv_model_threshold(back, l, r));
			for (unsigned c = 0; c < s.fanin; c++)
				cr_assert_eq(cnv_model_weight(m, l, r, c),
					     cnv_model_weight(back, l, r, c),
					     "layer %u row %u col %u", l, r, c);
		}
	}
	free(buf);
	cnv_model_free(m);
	cnv_model_free(back);
}

Test(cnv_model, save_and_load_file_give_the_same_model)
{
	char dir[64], path[128], err[256];
	struct cnv_model *m, *back;
	cr_assert_eq(cnv_ref_tmpdir(dir, sizeof(dir)), 0);
	snprintf(path, sizeof(path), "%s/m.orym", dir);
	cr_assert_eq(cnv_model_synthetic(3, &m), 0);
	cr_assert_eq(cnv_model_save(m, path), 0);
	int rc = cnv_model_load_file(path, &back, err, sizeof(err));
	cr_assert_eq(rc, 0, "%s", err);
	cr_expect(same_model(m, back));
	cnv_model_free(m);
	cnv_model_free(back);
	cnv_ref_rmdir(dir);
}

Test(cnv_model, a_flipped_payload_bit_fails_the_crc)
{
	struct cnv_model *m, *back = NULL;
	uint8_t *buf;
	size_t len;
	char err[256] = "";
	cr_assert_eq(cnv_model_synthetic(5, &m), 0);
	orym_of(m, &buf, &len);
	for (size_t off = 48; off < len; off += len / 7) {
		buf[off] ^= 0x10;
		cr_expect_eq(cnv_model_load_mem(buf, len, &back, err, sizeof(err)), -EBADMSG,
			     "offset %zu", off);
		cr_expect(strstr(err, "CRC"), "message: %s", err);
		buf[off] ^= 0x10;
	}
	cr_expect_null(back);
	free(buf);
	cnv_model_free(m);
}

Test(cnv_model, truncated_or_foreign_files_are_refused)
{
	struct cnv_model *m, *back = NULL;
	uint8_t *buf;
	size_t len;
	char err[256];
	cr_assert_eq(cnv_model_synthetic(5, &m), 0);
	orym_of(m, &buf, &len);
	cr_expect_eq(cnv_model_load_mem(buf, len - 1, &back, err, sizeof(err)), -EINVAL);
	cr_expect_eq(cnv_model_load_mem(buf, 20, &back, err, sizeof(err)), -EINVAL);
	cr_expect_eq(cnv_model_load_mem(buf, 0, &back, err, sizeof(err)), -EINVAL);
	buf[0] = 'X';
	cr_expect_eq(cnv_model_load_mem(buf, len, &back, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "not an .orym"), "message: %s", err);
	buf[0] = 'O';
	buf[8] = 2; /* a future format version */
	cr_expect_eq(cnv_model_load_mem(buf, len, &back, err, sizeof(err)), -ENOTSUP);
	buf[8] = 1;
	buf[48] = 31; /* layer 0 in_dim: another topology, correctly sealed */
	reseal(buf, len);
	cr_expect_eq(cnv_model_load_mem(buf, len, &back, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "topology"), "message: %s", err);
	cr_expect_null(back);
	free(buf);
	cnv_model_free(m);
}

Test(cnv_model, out_of_range_thresholds_in_an_orym_are_refused)
{
	struct cnv_model *m, *back = NULL;
	uint8_t *buf;
	size_t len;
	char err[256];
	cr_assert_eq(cnv_model_synthetic(5, &m), 0);
	orym_of(m, &buf, &len);
	/* layer 0 weights (64 words) follow the 9-entry table; then its 64 thresholds */
	size_t thr0 = 48 + 9 * 16 + 64 * 8;
	uint32_t big = 1u << 23;
	memcpy(buf + thr0, &big, 4);
	reseal(buf, len);
	cr_expect_eq(cnv_model_load_mem(buf, len, &back, err, sizeof(err)), -ERANGE);
	cr_expect(strstr(err, "layer 0 threshold 0"), "message: %s", err);
	cr_expect_null(back);
	free(buf);
	cnv_model_free(m);
}

Test(cnv_model, a_missing_model_file_is_reported_by_name)
{
	struct cnv_model *m = NULL;
	char err[256] = "";
	cr_expect_eq(cnv_model_load_file("/nonexistent/cnv.orym", &m, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "/nonexistent/cnv.orym"), "message: %s", err);
	cr_expect_null(m);
}

/* A BNN-PYNQ folder written from a synthetic model, so the folder reader is tested anywhere. */
static struct cnv_model *folder_model;
static char folder[64];

static void make_folder(void)
{
	cr_assert_eq(cnv_model_synthetic(21, &folder_model), 0);
	cr_assert_eq(cnv_ref_tmpdir(folder, sizeof(folder)), 0);
	cr_assert_eq(cnv_ref_write_bnnpynq(folder_model, folder), 0);
}

static void drop_folder(void)
{
	cnv_model_free(folder_model);
	cnv_ref_rmdir(folder);
}

static int load_folder(char *err, size_t errlen)
{
	struct cnv_model *m = NULL;
	int rc = cnv_model_load_dir(folder, &m, err, errlen);
	cr_expect(rc || m);
	cnv_model_free(m);
	return rc;
}

static void path_in_folder(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", folder, name);
}

Test(cnv_model, a_bnn_pynq_folder_loads_to_the_model_it_came_from, .init = make_folder,
     .fini = drop_folder)
{
	struct cnv_model *m;
	char err[256];
	cr_assert_eq(cnv_model_load_dir(folder, &m, err, sizeof(err)), 0, "%s", err);
	cr_expect(same_model(m, folder_model));
	cnv_model_free(m);
}

Test(cnv_model, a_missing_parameter_file_is_named, .init = make_folder, .fini = drop_folder)
{
	char path[128], err[256] = "";
	path_in_folder(path, sizeof(path), "3-7-weights.bin");
	cr_assert_eq(unlink(path), 0);
	cr_expect_eq(load_folder(err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "3-7-weights.bin"), "message: %s", err);
}

Test(cnv_model, a_parameter_file_of_the_wrong_size_is_named, .init = make_folder,
     .fini = drop_folder)
{
	char path[128], err[256] = "";
	path_in_folder(path, sizeof(path), "5-0-thres.bin");
	cr_assert_eq(truncate(path, 8 * 255), 0);
	cr_expect_eq(load_folder(err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "5-0-thres.bin"), "message: %s", err);
	cr_expect(strstr(err, "2040 bytes, expected 2048"), "message: %s", err);
}

Test(cnv_model, a_stray_parameter_file_is_named, .init = make_folder, .fini = drop_folder)
{
	char path[128], err[256] = "";
	path_in_folder(path, sizeof(path), "4-4-weights.bin"); /* layer 4 has PE = 4 */
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	fclose(f);
	cr_expect_eq(load_folder(err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "4-4-weights.bin"), "message: %s", err);
}

Test(cnv_model, weight_bits_above_simd_are_refused, .init = make_folder, .fini = drop_folder)
{
	char path[128], err[256] = "";
	path_in_folder(path, sizeof(path), "0-2-weights.bin"); /* layer 0 has SIMD = 3 */
	FILE *f = fopen(path, "r+b");
	cr_assert_not_null(f);
	fputc(0x08, f);
	fclose(f);
	cr_expect_eq(load_folder(err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "0-2-weights.bin"), "message: %s", err);
}

Test(cnv_model, a_threshold_beyond_ap_int16_is_named, .init = make_folder, .fini = drop_folder)
{
	char path[128], err[256] = "";
	path_in_folder(path, sizeof(path), "6-0-thres.bin");
	FILE *f = fopen(path, "r+b");
	cr_assert_not_null(f);
	const uint8_t v[8] = {0x00, 0x80, 0, 0, 0, 0, 0, 0}; /* 32768 */
	fwrite(v, 1, 8, f);
	fclose(f);
	cr_expect_eq(load_folder(err, sizeof(err)), -ERANGE);
	cr_expect(strstr(err, "6-0-thres.bin"), "message: %s", err);
}

Test(cnv_model, a_missing_folder_is_reported)
{
	struct cnv_model *m = NULL;
	char err[256] = "";
	cr_expect_eq(cnv_model_load_dir("/nonexistent/cnvW1A1", &m, err, sizeof(err)), -ENOENT);
	cr_expect(strstr(err, "/nonexistent/cnvW1A1"), "message: %s", err);
	cr_expect_null(m);
}

Test(cnv_model, the_built_in_model_loads)
{
	const void *buf;
	size_t len;
	struct cnv_model *m;
	char err[256];
	cnv_default_model(&buf, &len);
	cr_expect_eq(len, 201024);
	cr_assert_eq(cnv_model_load_default(&m, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(cnv_model_threshold(m, 1, 0), 318); /* docs/cnv.md: 1-0-thres.bin [318, 302] */
	cr_expect_eq(cnv_model_threshold(m, 0, 16), -909); /* 0-0-thres.bin word 1 is row 16 */
	cnv_model_free(m);
}

Test(cnv_model, the_built_in_model_is_the_bnn_pynq_folder_converted)
{
	const char *shared = cnv_ref_shared_dir();
	if (!shared)
		cr_skip_test("no BNN-PYNQ parameters at " ORY_SHARED_DIR "/data/cnv/cnvW1A1");
	char dir[512], err[256];
	snprintf(dir, sizeof(dir), "%s/cnvW1A1", shared);
	struct cnv_model *a, *b;
	cr_assert_eq(cnv_model_load_dir(dir, &a, err, sizeof(err)), 0, "%s", err);
	cr_assert_eq(cnv_model_load_default(&b, err, sizeof(err)), 0, "%s", err);
	cr_expect(same_model(a, b), "models/cnv-w1a1.orym is stale: rebuild it with cnv-model");
	cnv_model_free(a);
	cnv_model_free(b);
}
