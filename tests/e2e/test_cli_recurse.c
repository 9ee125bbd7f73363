/* SPDX-License-Identifier: MIT */
/* test_cli_recurse.c - gzip -r (issue 14): directories walked as gzip walks them, symlinks
 * followed only with -f, special and unreadable entries reported in gzip's words, gzip's exit
 * statuses. GNU gzip 1.12 runs beside us on the same trees. */
#include <sys/stat.h>

#include "gnu.h"

TestSuite(cli_recurse, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 120);

/* A tree with what -r meets: files, a .gz already, a subdirectory, symlinks to a file (outside,
 * so that the result does not depend on the order) and to a directory, a FIFO, an empty
 * directory. */
#define TREE                                                                                   \
	"mkdir -p d/sub/deeper d/empty && seq 5000 > d/a && seq 7 > d/sub/c && "               \
	"seq 9 > d/sub/deeper/e && echo hi | gzip > d/b.gz && seq 3 > outside && "             \
	"ln -s ../outside d/lnk && "                                                           \
	"ln -s sub d/dlnk && mkfifo d/fifo"

#define expect_walk_like_gnu(what, setup, args)                                                \
	side_compare(what, setup, args, SAME_STATUS | SAME_MESSAGE_SET | SAME_FILES)

Test(cli_recurse, a_tree_is_compressed_and_decompressed_as_gzip_does)
{
	expect_walk_like_gnu("-r", TREE, "-r d");
	expect_walk_like_gnu("-r, two arguments", TREE, "-r d/sub d/a");
	expect_walk_like_gnu("-r on a file", TREE, "-r d/a");
	expect_walk_like_gnu("-rk", TREE, "-rk d");
	expect_walk_like_gnu("-rq", TREE, "-rq d");
	expect_walk_like_gnu("-rd: plain files skipped quietly", TREE " && gzip -r d/sub",
			     "-rd d");
	expect_walk_like_gnu("-rt", TREE " && gzip -r d/sub", "-rt d");
	expect_walk_like_gnu("-r on a path ending in /", TREE, "-r d/");
	side_compare("-rl", TREE " && gzip -r d/sub", "-rl d",
		     SAME_STATUS | SAME_MESSAGE_SET | SAME_STDOUT_SET);
}

Test(cli_recurse, symlinks_are_followed_only_with_force)
{
	expect_walk_like_gnu("-rf", TREE " && rm d/fifo", "-rf d");
	/* a link back up: gzip -rf would walk d/loop/loop/... until the path is too long */
	cr_assert_eq(tu_sh("cd '%s' && mkdir -p t/s && seq 100 > t/s/f && ln -s .. t/s/up", dir),
		     0);
	int rc = cli_run(dir, NULL, "gzip", "-rfk", tu_path(dir, "t"), NULL);
	cr_expect_eq(rc, 2, "status %d: %s", rc, cli_err(dir));
	expect_err_contains(dir, "t/s/up: directory already being walked -- ignored");
	cr_expect(tu_exists(tu_path(dir, "t/s/f.gz")));
}

Test(cli_recurse, an_unreadable_directory_is_an_error_and_the_rest_is_done)
{
	const char *setup = "mkdir -p d/locked d/open && seq 10 > d/open/f && seq 10 > d/locked/g "
			    "&& chmod 0 d/locked && chmod 777 . d d/open";
	const char *runner = geteuid() == 0 ? "setpriv --reuid=nobody --regid=nogroup "
					      "--clear-groups "
					    : "";
	/* as a user the directory really refuses (root reads anything) */
	cr_assert_eq(tu_sh("chmod 755 '%s' && mkdir -p '%s/g' '%s/o' && cd '%s/g' && { %s; } && "
			   "cd ../o && { %s; }",
			   dir, dir, dir, dir, setup, setup),
		     0);
	int g = tu_sh("cd '%s/g' && %s gzip -r d 2>../g.err", dir, runner);
	int o = tu_sh("cd '%s/o' && %s '%s' gzip -r d 2>../o.err", dir, runner, ORY_CLI);
	cr_expect_eq(o, g, "exit %d, gzip's %d", o, g);
	char *ge = tu_slurp(tu_path(dir, "g.err")), *oe = tu_slurp(tu_path(dir, "o.err"));
	char *gn = side_normalize(ge), *on = side_normalize(oe);
	cr_expect_str_eq(on, gn);
	cr_expect(tu_exists(tu_path(dir, "o/d/open/f.gz")), "the readable part was not done");
	tu_sh("chmod -R 755 '%s'", dir);
	free(ge);
	free(oe);
	free(gn);
	free(on);
}
