/* SPDX-License-Identifier: MIT */
/* test_cli_cnv.c - octoray-run cnv end to end: golden classes, formats, PPM and raw inputs,
 * and the errors a user can make. */
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static char batch[4096], golden[4096];

static void setup(void)
{
	cli_scratch_make();
	snprintf(batch, sizeof(batch), "%s/data/cnv/test_batch.bin", ORY_SHARED_DIR);
	snprintf(golden, sizeof(golden), "%s/data/cnv/golden_first846.txt", ORY_SHARED_DIR);
}

TestSuite(cli_cnv, .init = setup, .fini = cli_scratch_remove, .timeout = 120);

static void need_data(void)
{
	if (!tu_exists(batch))
		cr_skip_test("%s not present (a clone without ../shared)", batch);
}

Test(cli_cnv, classifies_the_cifar10_test_images_as_the_reference_does)
{
	need_data();
	int rc = cli_run(dir, NULL, "cnv", "--devices", "cpu:2", batch, NULL);
	cr_assert_eq(rc, 0, "%s", cli_err(dir));
	cr_expect_eq(tu_sh("head -n 846 '%s/out' | cut -d' ' -f2 | cmp -s - '%s'", dir, golden), 0);
	cr_expect_eq(tu_sh("tail -n 1 '%s/out' | grep -qx 'accuracy 80.14%% (678 of 846)'", dir), 0);
	cr_expect_eq(tu_sh("sed -n 4p '%s/out' | grep -qx '3 0 airplane label 0'", dir), 0);
}

Test(cli_cnv, csv_and_json_lines_carry_one_record_per_image)
{
	need_data();
	cr_assert_eq(cli_run(dir, NULL, "cnv", "--format", "csv", "-v", batch, NULL), 0);
	cr_expect_eq(tu_sh("test $(wc -l < '%s/out') -eq 847 && head -1 '%s/out' | grep -qx "
			   "'index,class,name,label,s0,s1,s2,s3,s4,s5,s6,s7,s8,s9'",
			   dir, dir),
		     0);
	cr_expect_eq(tu_sh("sed -n 2p '%s/out' | grep -Eq '^0,3,cat,3(,[0-9]+){10}$'", dir), 0);
	expect_err_contains(dir, "accuracy 80.14% (678 of 846)");
	cr_assert_eq(cli_run(dir, NULL, "cnv", "--format", "json", batch, NULL), 0);
	cr_expect_eq(tu_sh("test $(wc -l < '%s/out') -eq 846 && head -1 '%s/out' | grep -qx "
			   "'{\"index\":0,\"class\":3,\"name\":\"cat\",\"label\":3}'",
			   dir, dir),
		     0);
}

/* The first images of the batch as PPM files and as one raw NHWC file. */
static void write_images(int n)
{
	cr_assert_eq(tu_sh("cd '%s' && /usr/bin/python3 - '%s' %d <<'EOF'\n"
			   "import sys\n"
			   "d = open(sys.argv[1], 'rb').read()\n"
			   "raw = bytearray()\n"
			   "for i in range(int(sys.argv[2])):\n"
			   "    r = d[i * 3073 + 1:(i + 1) * 3073]\n"
			   "    px = bytes(r[c * 1024 + p] for p in range(1024) for c in range(3))\n"
			   "    open('img%%02d.ppm' %% i, 'wb').write(b'P6\\n# test\\n32 32\\n255\\n' + px)\n"
			   "    raw += px\n"
			   "open('images.raw', 'wb').write(raw)\n"
			   "EOF",
			   dir, batch, n),
		     0);
}

Test(cli_cnv, ppm_images_and_raw_nhwc_give_the_same_classes_as_cifar_records)
{
	need_data();
	write_images(12);
	cr_assert_eq(tu_sh("cd '%s' && '%s' cnv img*.ppm > ppm.out && "
			   "'%s' cnv --raw images.raw > raw.out",
			   dir, ORY_CLI, ORY_CLI),
		     0);
	cr_expect_eq(tu_sh("cd '%s' && head -n 12 '%s' > want && cut -d' ' -f2 ppm.out | "
			   "cmp -s - want && cut -d' ' -f2 raw.out | cmp -s - want",
			   dir, golden),
		     0);
	cr_expect_eq(tu_sh("grep -q accuracy '%s/ppm.out'", dir), 1, "PPM images have no labels");
}

Test(cli_cnv, a_wrong_ppm_is_refused_naming_the_file)
{
	tu_write_file(tu_path(dir, "small.ppm"), "P6\n16 16\n255\n", 13);
	cr_expect_eq(cli_run(dir, NULL, "cnv", tu_path(dir, "small.ppm"), NULL), 1);
	expect_err_contains(dir, "small.ppm: not a 32x32 P6 PPM image with maxval 255");
	expect_one_line(dir);
}

Test(cli_cnv, an_input_of_partial_records_fails_with_nothing_written)
{
	uint8_t *d = tu_random(3073 * 3 + 100, 1);
	tu_write_file(tu_path(dir, "odd.bin"), d, 3073 * 3 + 100);
	free(d);
	int rc = cli_run(dir, NULL, "cnv", "-o", tu_path(dir, "res.txt"), tu_path(dir, "odd.bin"),
			 NULL);
	cr_expect_eq(rc, 1);
	expect_err_contains(dir, "odd.bin: input size 9319 is not a whole number of 3073-byte "
				 "CIFAR-10 records");
	expect_one_line(dir);
	cr_expect_not(tu_exists(tu_path(dir, "res.txt")));
	cr_expect_eq(tu_count_hidden(dir), 0);
}

Test(cli_cnv, missing_inputs_and_broken_models_are_named)
{
	cr_expect_eq(cli_run(dir, NULL, "cnv", tu_path(dir, "none.bin"), NULL), 1);
	expect_err_contains(dir, "none.bin: No such file or directory");
	tu_write_file(tu_path(dir, "x.orym"), "junk", 4);
	uint8_t *d = tu_random(3073, 2);
	tu_write_file(tu_path(dir, "one.bin"), d, 3073);
	free(d);
	cr_expect_eq(cli_run(dir, NULL, "cnv", "--model", tu_path(dir, "x.orym"),
			     tu_path(dir, "one.bin"), NULL),
		     1);
	expect_err_contains(dir, "x.orym");
	expect_one_line(dir);
	cr_expect_eq(cli_run(dir, NULL, "cnv", "--weights", tu_path(dir, "nowhere"),
			     tu_path(dir, "one.bin"), NULL),
		     1);
	expect_err_contains(dir, "nowhere");
}

Test(cli_cnv, the_bnn_pynq_folder_and_the_built_in_model_agree)
{
	need_data();
	char w[4096];
	snprintf(w, sizeof(w), "%s/data/cnv/cnvW1A1", ORY_SHARED_DIR);
	cr_assert_eq(cli_run(dir, NULL, "cnv", "--weights", w, "--format", "csv", batch, NULL), 0);
	rename(tu_path(dir, "out"), tu_path(dir, "a"));
	cr_assert_eq(cli_run(dir, NULL, "cnv", "--format", "csv", batch, NULL), 0);
	cr_expect(files_equal(tu_path(dir, "a"), tu_path(dir, "out")));
}
