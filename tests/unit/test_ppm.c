/* SPDX-License-Identifier: MIT */
/* test_ppm.c - P6 PPM input (tools/octoray-run/ppm.c): whitespace and comments as netpbm's
 * ppm(5) defines them, and a file that arrives in pieces (a slow FIFO) read to its end. The
 * CLI cases run `octoray-run cnv`, the only reader of PPM files. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "tools/octoray-run/ppm.h"
#include "util.h"

static char *dir;

static void setup(void)
{
	dir = tu_mkdtemp();
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

TestSuite(ppm, .init = setup, .fini = teardown, .timeout = 60);

/* header + 3072 pixel bytes; *len gets the size. Caller frees. */
static uint8_t *image(const char *header, size_t *len)
{
	size_t h = strlen(header);
	uint8_t *b = malloc(h + PPM_CNV_PIXELS);
	memcpy(b, header, h);
	for (size_t i = 0; i < PPM_CNV_PIXELS; i++)
		b[h + i] = (uint8_t)(i * 7);
	*len = h + PPM_CNV_PIXELS;
	return b;
}

static long pixels_of(const char *header)
{
	size_t len;
	uint8_t *b = image(header, &len);
	long off = ppm_cnv_pixels(b, len);
	free(b);
	return off;
}

Test(ppm, whitespace_and_comments_separate_the_header_fields)
{
	cr_expect_eq(pixels_of("P6 32 32 255\n"), 13);
	cr_expect_eq(pixels_of("P6\t32\r32\n255 "), 13);
	cr_expect_eq(pixels_of("P6 # made by hand\n32 32 # size\n255\n"), 35);
	cr_expect_eq(pixels_of("P6\n32 32\n255#comment\n"), 21);
}

Test(ppm, anything_else_between_the_header_fields_is_refused)
{
	cr_expect_eq(pixels_of("P632 32 255\n"), -1);
	cr_expect_eq(pixels_of("P6 32x32 255\n"), -1);
	cr_expect_eq(pixels_of("P6 32 32 255x"), -1);
	cr_expect_eq(pixels_of("P6 32,32 255\n"), -1);
	cr_expect_eq(pixels_of("P6 32 32 +255\n"), -1);
	cr_expect_eq(pixels_of("P6 32 32 255"), -1); /* no delimiter: pixels one byte short */
}

Test(ppm, other_sizes_and_maxvals_are_refused)
{
	cr_expect_eq(pixels_of("P6 32 31 255\n"), -1);
	cr_expect_eq(pixels_of("P6 32 32 65535\n"), -1);
	cr_expect_eq(pixels_of("P3 32 32 255\n"), -1);
	cr_expect_eq(pixels_of("P6 99999999999999999999 32 255\n"), -1);
}

static int cli_cnv(const char *file)
{
	return tu_sh("'%s' cnv --devices cpu:1 --format none '%s' 2>/dev/null", ORY_CLI, file);
}

Test(ppm, the_cli_refuses_a_header_with_a_non_whitespace_separator)
{
	size_t len;
	uint8_t *b = image("P6 32 32 255x", &len);
	cr_assert_eq(tu_write_file(tu_path(dir, "x.ppm"), b, len), 0);
	cr_expect_eq(cli_cnv(tu_path(dir, "x.ppm")), 1);
	free(b);
}

Test(ppm, the_cli_reads_a_ppm_arriving_in_pieces_to_its_end)
{
	size_t len;
	uint8_t *b = image("P6 32 32 255\n", &len);
	const char *src = tu_path(dir, "src.ppm"), *fifo = tu_path(dir, "slow.ppm");
	cr_assert_eq(tu_write_file(src, b, len), 0);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	int rc = tu_sh("(head -c 20 '%s'; sleep 0.2; tail -c +21 '%s') > '%s' & "
		       "'%s' cnv --devices cpu:1 --format none '%s'",
		       src, src, fifo, ORY_CLI, fifo);
	cr_expect_eq(rc, 0);
	free(b);
}
