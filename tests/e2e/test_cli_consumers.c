/* SPDX-License-Identifier: MIT */
/* test_cli_consumers.c - programs of one's own built against an installed copy (cmake
 * --install) the ways the README says: pkg-config (shared, and liboctoray.a through --static),
 * and a CMake project with octoray::octoray and octoray::octoray_static (examples/); each
 * runs examples/appliance.c, and the installed programs find the installed XRT module. */
#include "cli.h"

/* Install the build into dir/prefix; the shell words that set $pc (octoray.pc's directory)
 * and $lib (the libdir) follow in every command. */
#define FIND_PC                                                                               \
	"pc=$(dirname \"$(find \"$PWD/prefix\" -name octoray.pc)\") && lib=$(dirname \"$pc\") && "

static void setup(void)
{
	cli_scratch_make();
	int rc = tu_sh("cmake --install '%s' --prefix '%s/prefix' >'%s/install.log' 2>&1",
		       ORY_BUILD_DIR, dir, dir);
	cr_assert_eq(rc, 0, "cmake --install failed: %s", tu_slurp(tu_path(dir, "install.log")));
}

TestSuite(cli_consumers, .init = setup, .fini = cli_scratch_remove, .timeout = 240);

/* liboctoray.a by name, and the rest of what --static lists (Libs.private, and the
 * Requires.private modules' own): any library missing there fails this link. */
static int build_static_with_pkg_config(void)
{
	return tu_sh("cd '%s' && " FIND_PC "export PKG_CONFIG_PATH=$pc && "
		     "cc -Wall -Werror '%s/examples/appliance.c' -o app-static "
		     "$(pkg-config --cflags octoray) -l:liboctoray.a "
		     "$(pkg-config --static --libs octoray | sed 's/-loctoray //') 2>build.err",
		     dir, ORY_SOURCE_DIR);
}

Test(cli_consumers, the_appliance_links_liboctoray_a_through_pkg_config_static_and_runs)
{
	cr_assert_eq(build_static_with_pkg_config(), 0, "%s",
		     tu_slurp(tu_path(dir, "build.err")));
	int rc = tu_sh("cd '%s' && ! readelf -d app-static | grep -q 'NEEDED.*liboctoray'", dir);
	cr_expect_eq(rc, 0, "the static build still needs liboctoray.so");
	rc = tu_sh("cd '%s' && ./app-static 8 cpu:2 >out 2>err && grep -q ', 0 errors$' out", dir);
	cr_expect_eq(rc, 0, "appliance: %s%s", tu_slurp(tu_path(dir, "out")),
		     tu_slurp(tu_path(dir, "err")));
}

Test(cli_consumers, a_cmake_project_links_octoray_and_octoray_static_and_both_run)
{
	int rc = tu_sh("cd '%s' && cmake -S '%s/examples' -B ex -DCMAKE_BUILD_TYPE=Release "
		       "-DCMAKE_PREFIX_PATH=\"$PWD/prefix\" >build.err 2>&1 && "
		       "cmake --build ex >>build.err 2>&1",
		       dir, ORY_SOURCE_DIR);
	cr_assert_eq(rc, 0, "%s", tu_slurp(tu_path(dir, "build.err")));
	rc = tu_sh("cd '%s' && readelf -d ex/appliance | grep -q 'NEEDED.*liboctoray.so.0' && "
		   "! readelf -d ex/appliance-static | grep -q 'NEEDED.*liboctoray'", dir);
	cr_expect_eq(rc, 0, "appliance should need liboctoray.so.0, appliance-static not");
	/* appliance finds the installed library through the RUNPATH CMake gave the build */
	rc = tu_sh("cd '%s' && ex/appliance 8 cpu:2 >out 2>err && grep -q ', 0 errors$' out && "
		   "ex/appliance-static 8 cpu:2 >>out 2>>err && test $(grep -c ', 0 errors$' out) = 2",
		   dir);
	cr_expect_eq(rc, 0, "appliance: %s%s", tu_slurp(tu_path(dir, "out")),
		     tu_slurp(tu_path(dir, "err")));
}

#ifdef ORY_WITH_XRT
/* The installed library finds the installed module in octoray/ next to itself; a static
 * program is told where it is (its own place says nothing). Both run on emulated cards. */
Test(cli_consumers, installed_programs_load_the_installed_xrt_module)
{
	if (!ORY_XRT_NOOP_ROOT[0])
		cr_skip_test("XRT's libxrt_noop.so.2 was not found at configure time");
	cr_assert_eq(build_static_with_pkg_config(), 0, "%s",
		     tu_slurp(tu_path(dir, "build.err")));
	int rc = tu_sh("cd '%s' && " FIND_PC "cc '%s/examples/appliance.c' -o app "
		       "$(PKG_CONFIG_PATH=$pc pkg-config --cflags --libs octoray) 2>build.err",
		       dir, ORY_SOURCE_DIR);
	cr_assert_eq(rc, 0, "%s", tu_slurp(tu_path(dir, "build.err")));
	const char *spec = "xrt:0?xclbin=" ORY_XCLBIN_DIR "/gzip.xclbin";
	rc = tu_sh("cd '%s' && " FIND_PC "unset ORY_MODULE_DIR && "
		   "export XILINX_XRT='%s' XCL_EMULATION_MODE=noop && "
		   "LD_LIBRARY_PATH=$lib ./app 4 '%s' >out 2>err && "
		   "ORY_MODULE_DIR=$lib/octoray ./app-static 4 '%s' >>out 2>>err && "
		   "test $(grep -c ', 0 errors$' out) = 2",
		   dir, ORY_XRT_NOOP_ROOT, spec, spec);
	cr_expect_eq(rc, 0, "appliance on xrt: %s%s", tu_slurp(tu_path(dir, "out")),
		     tu_slurp(tu_path(dir, "err")));
}
#endif
