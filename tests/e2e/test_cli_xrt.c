/* SPDX-License-Identifier: MIT */
/* test_cli_xrt.c - octoray-run with simulated Alveo cards (XRT's noop shim and the kernels'
 * software twins): gzip round trips through the system's gunzip, the devices listing, errors. */
#include "cli.h"

#ifdef ORY_WITH_XRT

/* The child inherits this environment: noop shim, and a config file naming the xclbin. */
static void setup(void)
{
	if (!ORY_XRT_NOOP_ROOT[0])
		cr_skip_test("XRT's libxrt_noop.so.2 was not found at configure time");
	cli_scratch_make();
	char text[1024];
	int n = snprintf(text, sizeof(text), "[gzip]\nxclbin = %s/gzip.xclbin\n", ORY_XCLBIN_DIR);
	cr_assert_eq(tu_write_file(tu_path(dir, "xrt.ini"), text, (size_t)n), 0);
	setenv("ORY_XRT_CONFIG", tu_path(dir, "xrt.ini"), 1);
	setenv("XILINX_XRT", ORY_XRT_NOOP_ROOT, 1);
	setenv("XCL_EMULATION_MODE", "noop", 1);
}

TestSuite(cli_xrt, .init = setup, .fini = cli_scratch_remove, .timeout = 120);

Test(cli_xrt, gzip_on_two_simulated_cards_round_trips_through_gunzip)
{
	size_t len = (5 << 20) + 4321;
	uint8_t *data = tu_text(len, 11);
	const char *in = tu_path(dir, "f");
	cr_assert_eq(tu_write_file(in, data, len), 0);
	free(data);
	int rc = cli_run(dir, NULL, "gzip", "-v", "-k", "--devices", "xrt:0,1", in, NULL);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, cli_err(dir));
	char gz[4096];
	snprintf(gz, sizeof(gz), "%s.gz", in);
	cr_expect_eq(tu_sh("gzip -t '%s'", gz), 0, "gzip -t rejects %s", gz);
	cr_expect_eq(tu_sh("gunzip -c '%s' | cmp -s - '%s'", gz, in), 0, "round trip differs");
	/* -v names the devices: all four engines of the two cards were there. */
	expect_err_contains(dir, "xrt3=");
}

/* The FINN design's host path (idma0/odma0, NHWC buffers) on two cards, against the CPU. */
Test(cli_xrt, cnv_on_two_simulated_cards_matches_the_cpu_classifier)
{
	char batch[4096], spec[4096];
	snprintf(batch, sizeof(batch), "%s/data/cnv/test_batch.bin", ORY_SHARED_DIR);
	if (!tu_exists(batch))
		cr_skip_test("%s not present (a clone without ../shared)", batch);
	snprintf(spec, sizeof(spec), "xrt:0,1?app=cnv&xclbin=%s/cnv.xclbin", ORY_XCLBIN_DIR);
	int rc = cli_run(dir, NULL, "cnv", "-v", "--fallback", "none", "--devices", spec, batch,
			 NULL);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, cli_err(dir));
	expect_err_contains(dir, "xrt0=");
	expect_err_contains(dir, "xrt1=");
	rename(tu_path(dir, "out"), tu_path(dir, "cards"));
	cr_assert_eq(cli_run(dir, NULL, "cnv", "--devices", "cpu:2", batch, NULL), 0);
	/* -v adds scores on CPU lines only (the card gives classes): compare the classes */
	cr_expect_eq(tu_sh("cd '%s' && head -n 846 out > cpu && "
			   "head -n 846 cards | cut -d' ' -f1-5 | cmp -s - cpu", dir), 0,
		     "the cards' classes differ from the CPU's");
}

Test(cli_xrt, devices_lists_each_engine_with_its_card)
{
	int rc = cli_run(dir, NULL, "devices", "--devices", "xrt:0,1", NULL);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, cli_err(dir));
	char *out = tu_slurp(tu_path(dir, "out"));
	const char *want[] = { "xrt0     xrt   noop:0", "xrt1     xrt   noop:0",
			       "xrt2     xrt   noop:1", "xrt3     xrt   noop:1" };
	for (int i = 0; i < 4; i++)
		cr_expect(strstr(out, want[i]), "'%s' lacks '%s'", out, want[i]);
	free(out);
}

Test(cli_xrt, a_missing_xclbin_fails_with_its_name)
{
	const char *in = tu_path(dir, "g");
	cr_assert_eq(tu_write_file(in, "hello\n", 6), 0);
	int rc = cli_run(dir, NULL, "gzip", "-k", "--devices", "xrt:0?xclbin=/nonexistent.xclbin",
			 in, NULL);
	cr_expect_eq(rc, 1);
	expect_err_contains(dir, "xclbin /nonexistent.xclbin: No such file or directory");
	expect_err_contains(dir, "no xrt device found");
}

/* The CLI links liboctoray.so, which finds the module beside itself (the build tree) or in
 * octoray/ next to it (installed) without being told. */
Test(cli_xrt, the_library_finds_the_module_beside_itself)
{
	unsetenv("ORY_MODULE_DIR");
	int rc = cli_run(dir, NULL, "devices", "--devices", "xrt:0", NULL);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, cli_err(dir));
	char *out = tu_slurp(tu_path(dir, "out"));
	cr_expect(strstr(out, "xrt1     xrt   noop:0"), "%s", out);
	free(out);
}

Test(cli_xrt, a_missing_module_is_a_one_line_error_naming_it)
{
	setenv("ORY_MODULE_DIR", dir, 1);
	int rc = cli_run(dir, NULL, "devices", "--devices", "xrt:0", NULL);
	cr_expect_eq(rc, 1);
	expect_err_contains(dir, "xrt device: its module liboctoray-xrt.so is not in ");
	expect_one_line(dir);
}

#else
Test(cli_xrt, needs_the_xrt_device)
{
	cr_skip_test("built without ORY_WITH_XRT");
}
#endif
