/* SPDX-License-Identifier: MIT */
/* test_xrt_module.c - the XRT device as a module loaded on demand (runtime/module.c): not
 * loaded when no card can be there, loaded for a spec that names xrt or when "all" may find
 * cards, and a module that is missing or does not load named with the reason (dlerror). Each
 * test runs in a process of its own, so each starts with nothing loaded. */
#include <criterion/criterion.h>

#ifdef ORY_WITH_XRT
#include <errno.h>

#include "xrt_noop.h"

static char *dir;

static void setup(void)
{
	dir = tu_mkdtemp();
	cr_assert_not_null(dir);
	unsetenv("XCL_EMULATION_MODE");
	unsetenv("ORY_XRT_CONFIG");
}

static void teardown(void)
{
	xrt_rt_destroy();
	tu_rmtree(dir);
	free(dir);
}

TestSuite(xrt_module, .init = setup, .fini = teardown, .timeout = 60);

static bool module_mapped(void)
{
	char *maps = tu_slurp("/proc/self/maps");
	bool yes = strstr(maps, "liboctoray-xrt.so") != NULL;
	free(maps);
	return yes;
}

static bool host_has_xilinx_card(void)
{
	return tu_sh("grep -qs 0x10ee /sys/bus/pci/devices/*/vendor") == 0;
}

/* The kinds of xrt_rt's devices, space-separated. */
static void kinds(char *buf, size_t len)
{
	buf[0] = '\0';
	for (unsigned i = 0; i < ory_runtime_device_count(xrt_rt); i++) {
		struct ory_device_info d = {.struct_size = sizeof(d)};
		ory_runtime_device_info(xrt_rt, i, &d);
		snprintf(buf + strlen(buf), len - strlen(buf), "%s ", d.kind);
	}
}

/* Make dir/liboctoray-xrt.so from C source `src` (with extra cc arguments); its path. */
static const char *fake_module(const char *src, const char *cc_args)
{
	cr_assert_eq(tu_write_file(tu_path(dir, "m.c"), src, strlen(src)), 0);
	int rc = tu_sh("cd '%s' && cc -shared -fPIC -o liboctoray-xrt.so m.c %s 2>cc.err", dir,
		       cc_args);
	cr_assert_eq(rc, 0, "cc: %s", tu_slurp(tu_path(dir, "cc.err")));
	setenv("ORY_MODULE_DIR", dir, 1);
	return tu_path(dir, "liboctoray-xrt.so");
}

/* Noop cards whose config names the test gzip xclbin, for specs that cannot name it. */
static void noop_cards_with_gzip(void)
{
	xrt_noop_env();
	const char *ini = tu_path(dir, "xrt.ini");
	const char text[] = "[gzip]\nxclbin = " GZ_XCLBIN "\n";
	cr_assert_eq(tu_write_file(ini, text, sizeof(text) - 1), 0);
	setenv("ORY_XRT_CONFIG", ini, 1);
}

Test(xrt_module, all_on_a_host_without_a_card_does_not_load_it)
{
	if (host_has_xilinx_card())
		cr_skip_test("this host has a Xilinx PCI function");
	xrt_rt_make("all", 0, 0);
	cr_expect_not(module_mapped(), "liboctoray-xrt.so was loaded for nothing");
	cr_expect(xrt_log_has("xrt: no card found: its module is not loaded"), "log:\n%s",
		  xrt_logbuf);
}

Test(xrt_module, all_with_the_noop_shim_loads_it_and_takes_the_emulated_card)
{
	noop_cards_with_gzip();
	xrt_rt_make("all", 0, 0);
	cr_expect(module_mapped());
	char k[256];
	kinds(k, sizeof(k));
	cr_expect_str_eq(k, "xrt xrt ", "log:\n%s", xrt_logbuf);
}

Test(xrt_module, a_spec_naming_xrt_loads_it_even_without_a_card)
{
	/* ... so that what is wrong with the spec or the card is said by the device itself. */
	char err[256];
	cr_expect_eq(xrt_rt_try("xrt:0?gzip.slots=9", 0, 0, err, sizeof(err)), -EINVAL);
	cr_expect(module_mapped());
	cr_expect(xrt_log_has("bad value '9' for gzip.slots"), "log:\n%s", xrt_logbuf);
}

Test(xrt_module, a_missing_module_is_named_with_where_it_was_looked_for)
{
	setenv("ORY_MODULE_DIR", dir, 1);
	char err[256], want[512];
	cr_expect_eq(xrt_rt_try("xrt:0", 0, 0, err, sizeof(err)), -ENODEV);
	snprintf(want, sizeof(want),
		 "xrt device: its module liboctoray-xrt.so is not in %s "
		 "(ORY_MODULE_DIR)",
		 dir);
	cr_expect_str_eq(err, want);
}

Test(xrt_module, a_module_needing_a_missing_library_is_named_with_dlerror)
{
	/* As the real module on a host without XRT's libxrt_coreutil.so.2. */
	cr_assert_eq(tu_sh("cd '%s' && echo 'int f(void) { return 0; }' >x.c && "
			   "cc -shared -fPIC -o libgone.so x.c",
			   dir),
		     0);
	const char *path = fake_module("int f(void);\nint g(void) { return f(); }\n", "-L. -lgone");
	unlink(tu_path(dir, "libgone.so"));
	char err[256], want[512];
	cr_expect_eq(xrt_rt_try("xrt", 0, 0, err, sizeof(err)), -ENODEV);
	snprintf(want, sizeof(want),
		 "xrt device: cannot load its module %s: libgone.so: cannot "
		 "open shared object file: No such file or directory",
		 path);
	cr_expect_str_eq(err, want);
}

Test(xrt_module, a_file_that_is_no_module_is_refused)
{
	const char *path = fake_module("int ory_xrt_module_ini(void) { return 0; }\n", "");
	char err[256], want[512];
	cr_expect_eq(xrt_rt_try("xrt", 0, 0, err, sizeof(err)), -ENODEV);
	snprintf(want, sizeof(want),
		 "xrt device: module %s: no ory_xrt_module_init: not an "
		 "Octoray module",
		 path);
	cr_expect_str_eq(err, want);
}

Test(xrt_module, a_module_that_refuses_the_library_says_why)
{
	const char *path = fake_module(
		"#include <stdio.h>\n"
		"int ory_xrt_module_init(const void *h, const void **ops, char *why, size_t n)\n"
		"{ (void)h; (void)ops; snprintf(why, n, \"built for octoray 9.9.9\"); return -71; "
		"}\n",
		"");
	char err[256], want[512];
	cr_expect_eq(xrt_rt_try("xrt", 0, 0, err, sizeof(err)), -ENODEV);
	snprintf(want, sizeof(want), "xrt device: module %s: built for octoray 9.9.9", path);
	cr_expect_str_eq(err, want);
}

Test(xrt_module, under_all_a_module_that_does_not_load_is_logged_and_cpu_workers_run)
{
	xrt_noop_env();
	const char *path = fake_module("int g(void) { return 0; }\n", "");
	xrt_rt_make("all", 0, 0);
	char k[256], want[512];
	kinds(k, sizeof(k));
	cr_expect_str_eq(k, "cpu cpu ");
	snprintf(want, sizeof(want), "xrt device: module %s: no ory_xrt_module_init", path);
	cr_expect(xrt_log_has(want), "log:\n%s", xrt_logbuf);
}

Test(xrt_module, a_fault_device_around_xrt_loads_it_too)
{
	noop_cards_with_gzip();
	xrt_rt_make("fault:xrt:0?fail=0", 0, 0);
	cr_expect(module_mapped());
	size_t gz_len, len = 3 << 20;
	uint8_t *in = tu_text(len, 5);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, NULL);
	xrt_expect_member(gz, gz_len, in, len);
	free(gz);
	free(in);
}

#else
Test(xrt_module, needs_the_xrt_device)
{
	cr_skip_test("built without ORY_WITH_XRT");
}
#endif
