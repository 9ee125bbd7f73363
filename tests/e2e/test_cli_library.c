/* SPDX-License-Identifier: MIT */
/* test_cli_library.c - the library as an embedder gets it: installed headers, pkg-config file,
 * exported symbols limited to the public API, and the example built against them. */
#include "cli.h"
#include "octoray/octoray.h"


TestSuite(cli_library, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 120);

Test(cli_library, the_installed_library_builds_and_runs_the_example_through_pkg_config)
{
	int rc = tu_sh("cmake --install '%s' --prefix '%s/prefix' >'%s/install.log' 2>&1", ORY_BUILD_DIR,
		       dir, dir);
	cr_assert_eq(rc, 0, "cmake --install failed");
	rc = tu_sh("cd '%s' && pc=$(dirname \"$(find prefix -name octoray.pc)\") && "
		   "PKG_CONFIG_PATH=$pc cc -Wall -Werror '%s/examples/gzip_file.c' -o ex "
		   "$(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs octoray) 2>build.err",
		   dir, ORY_SOURCE_DIR);
	cr_assert_eq(rc, 0, "example does not build against the installed library: %s",
		     tu_slurp(tu_path(dir, "build.err")));
	rc = tu_sh("cd '%s' && head -c 3000000 /dev/urandom | base64 > in && "
		   "lib=$(dirname \"$(find prefix -name liboctoray.so)\") && "
		   "LD_LIBRARY_PATH=$lib ./ex in in.gz >/dev/null && gunzip -c in.gz | cmp -s - in",
		   dir);
	cr_expect_eq(rc, 0, "the example's output does not round-trip");
}

Test(cli_library, only_the_public_api_is_exported)
{
	/* exactly the functions declared in octoray.h are exported */
	int rc = tu_sh("nm -D --defined-only '%s/liboctoray.so' | awk '$2 == \"T\" {print $3}' | "
		       "sed 's/@.*//' | sort > '%s/exported' && "
		       "grep -o 'ory_[a-z_0-9]*(' '%s/include/octoray/octoray.h' | tr -d '(' | "
		       "sort -u > '%s/declared' && "
		       "test -s '%s/exported' && comm -3 '%s/exported' '%s/declared' > '%s/diff' && "
		       "test ! -s '%s/diff'",
		       ORY_BUILD_DIR, dir, ORY_SOURCE_DIR, dir, dir, dir, dir, dir, dir);
	cr_expect_eq(rc, 0, "exported xor declared (left: not public, right: not exported): %s",
		     tu_slurp(tu_path(dir, "diff")));
}

/* XRT is C++ (boost, libstdc++): liboctoray links none of it; the XRT device is a module that
 * the library loads only for a spec that can use a card (runtime/module.c). */
Test(cli_library, the_library_needs_neither_xrt_nor_boost_nor_libstdcxx)
{
	int rc = tu_sh("readelf -d '%s/liboctoray.so' > '%s/dyn' && grep -q NEEDED '%s/dyn' && "
		       "! grep NEEDED '%s/dyn' | grep -Ei 'xrt|boost|stdc' > '%s/bad'",
		       ORY_BUILD_DIR, dir, dir, dir, dir);
	cr_expect_eq(rc, 0, "liboctoray.so needs: %s", tu_slurp(tu_path(dir, "bad")));
}

Test(cli_library, gzip_on_a_host_without_a_card_loads_no_cxx_library)
{
	if (tu_sh("grep -qs 0x10ee /sys/bus/pci/devices/*/vendor") == 0)
		cr_skip_test("this host has a Xilinx PCI function");
	unsetenv("XCL_EMULATION_MODE");
	/* The dynamic loader lists every object it loads, dlopen's included. */
	int rc = tu_sh("cd '%s' && echo hello > f && LD_DEBUG=files '%s' gzip -k f 2>trace && "
		       "grep -q 'file=liboctoray.so' trace && "
		       "! grep -Eo 'file=[^ ]*(xrt|boost|stdc)[^ ]*' trace > bad",
		       dir, ORY_CLI);
	cr_expect_eq(rc, 0, "loaded: %s", tu_slurp(tu_path(dir, "bad")));
}

#ifdef ORY_WITH_XRT
Test(cli_library, the_xrt_module_exports_its_entry_point_only)
{
	int rc = tu_sh("nm -D --defined-only '%s/liboctoray-xrt.so' | awk '{print $3}' > '%s/exp' "
		       "&& test \"$(cat '%s/exp')\" = ory_xrt_module_init",
		       ORY_BUILD_DIR, dir, dir);
	cr_expect_eq(rc, 0, "exported: %s", tu_slurp(tu_path(dir, "exp")));
}
#endif

/* One version everywhere: the library's own word, its header, the CMake project (which
 * versions the .so, octoray.pc, the CMake package and the Debian packages) and the man page. */
Test(cli_library, every_version_number_is_the_same)
{
	char want[32];
	snprintf(want, sizeof(want), "%d.%d.%d", ORY_VERSION_MAJOR, ORY_VERSION_MINOR,
		 ORY_VERSION_PATCH);
	cr_expect_str_eq(ory_version(), want);
	cr_expect_str_eq(ORY_PROJECT_VERSION, want, "CMakeLists.txt's project() version");
	cr_expect_eq(tu_sh("grep -q '^\\.TH .*\"Octoray %s\"' '%s/man/octoray-run.1'", want,
			   ORY_SOURCE_DIR), 0, "the man page's .TH line");
}
