/* SPDX-License-Identifier: MIT */
/* test_cli_refuse.c - files gzip will not replace (issue 15): device nodes, FIFOs, set-id,
 * sticky and hard-linked files, symlinks (also one swapped in after the check). GNU gzip 1.12
 * runs beside us on the same files. */
#include <signal.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "gnu.h"

TestSuite(cli_refuse, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 60);

/* Item 1: -f must not compress (and then delete) a device node or a FIFO. */
Test(cli_refuse, device_nodes_and_fifos_are_refused_even_with_force_as_gzip_does)
{
	if (mknod(tu_path(dir, "probe"), S_IFCHR | 0644, makedev(1, 3)) < 0)
		cr_skip_test("cannot make device nodes here (%s)", strerror(errno));
	expect_like_gnu("-f on a device node", "mknod null c 1 3", "-f null");
	expect_like_gnu("on a device node", "mknod null c 1 3", "null");
	expect_like_gnu("-f on a FIFO", "mkfifo ff", "-f ff");
	expect_like_gnu("-d -f on a FIFO", "mkfifo x.gz", "-d -f x.gz");
	expect_like_gnu("-k on a FIFO", "mkfifo ff", "-k ff");
	/* -c reads them, as gzip does: a FIFO nobody writes is empty, not a hang */
	expect_like_gnu("-c on a FIFO", "mkfifo ff", "-c ff");
	expect_like_gnu("-c on a device node", "mknod null c 1 3", "-c null");
	cr_assert_eq(cli_run(dir, NULL, "gzip", "-c", tu_path(dir, "probe"), NULL), 0);
	cr_expect_eq(tu_sh("gzip -t < '%s/out'", dir), 0, "-c on /dev/null's twin: not gzip");
}

/* Item 6: what gzip refuses to replace, we refuse too, with gzip's words. */
Test(cli_refuse, set_id_sticky_and_linked_files_are_refused_as_gzip_does)
{
	expect_like_gnu("setuid", "echo hi > f && chmod 4755 f", "f");
	expect_like_gnu("setuid -f", "echo hi > f && chmod 4755 f", "-f f");
	expect_like_gnu("setgid", "echo hi > f && chmod 2755 f", "f");
	expect_like_gnu("setgid -f", "echo hi > f && chmod 2755 f", "-f f");
	expect_like_gnu("sticky", "echo hi > f && chmod 1755 f", "f");
	expect_like_gnu("sticky -f (output drops the bit)", "echo hi > f && chmod 1755 f", "-f f");
	expect_like_gnu("one other link", "echo hi > f && ln f g", "f");
	expect_like_gnu("two other links", "echo hi > f && ln f g && ln f h", "f");
	expect_like_gnu("links with -k", "echo hi > f && ln f g", "-k f");
	expect_like_gnu("links with -f", "echo hi > f && ln f g", "-f f");
	expect_like_gnu("setuid with -c", "echo hi > f && chmod 4755 f", "-c f");
	expect_like_gnu("setuid .gz on -d",
			"echo hi | gzip > f.gz && chmod 4755 f.gz", "-d f.gz");
	expect_like_gnu("linked .gz on -d", "echo hi | gzip > f.gz && ln f.gz g.gz", "-d f.gz");
}

/* Item 15: a symlink gzip refuses is refused with gzip's words; -f follows it. */
Test(cli_refuse, symlinks_are_refused_without_force_as_gzip_does)
{
	expect_like_gnu("symlink", "echo hi > t && ln -s t l", "l");
	expect_like_gnu("symlink -f", "echo hi > t && ln -s t l", "-f l");
	expect_like_gnu("symlink -c", "echo hi > t && ln -s t l", "-c l");
	expect_like_gnu("dangling symlink", "ln -s nowhere l", "l");
	expect_like_gnu("symlink to a directory", "mkdir d && ln -s d l", "l");
}

/* Item 15: a symlink swapped in between the check and the open is not followed. The swap is
 * made deterministic by a preloaded open() that renames the link over the file first. */
Test(cli_refuse, a_symlink_swapped_in_after_the_check_is_not_followed)
{
	const char *src = "#define _GNU_SOURCE\n"
			  "#include <dlfcn.h>\n#include <stdarg.h>\n#include <stdio.h>\n"
			  "#include <stdlib.h>\n#include <string.h>\n#include <fcntl.h>\n"
			  "static void swap(const char *p) {\n"
			  "  static int done; const char *b = strrchr(p, '/');\n"
			  "  if (!done && !strcmp(b ? b + 1 : p, \"victim\")) {\n"
			  "    done = 1; rename(getenv(\"SWAP_FROM\"), p); } }\n"
			  "#define WRAP(name) int name(const char *p, int f, ...) { \\\n"
			  "  va_list ap; va_start(ap, f); int m = va_arg(ap, int); va_end(ap); \\\n"
			  "  swap(p); int (*real)(const char *, int, ...) = \\\n"
			  "    (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, #name); \\\n"
			  "  return real(p, f, m); }\n"
			  "WRAP(open) WRAP(open64)\n"
			  "int __open_2(const char *p, int f) { return open(p, f); }\n"
			  "int __open64_2(const char *p, int f) { return open(p, f); }\n"
			  "#define WRAPAT(name) int name(int d, const char *p, int f, ...) { \\\n"
			  "  va_list ap; va_start(ap, f); int m = va_arg(ap, int); va_end(ap); \\\n"
			  "  swap(p); int (*real)(int, const char *, int, ...) = \\\n"
			  "    (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, #name); \\\n"
			  "  return real(d, p, f, m); }\n"
			  "WRAPAT(openat) WRAPAT(openat64)\n";
	cr_assert_eq(tu_write_file(tu_path(dir, "swap.c"), src, strlen(src)), 0);
	cr_assert_eq(tu_sh("cd '%s' && cc -shared -fPIC -o swap.so swap.c -ldl 2>cc.err", dir), 0,
		     "cannot build the preload shim: %s", tu_slurp(tu_path(dir, "cc.err")));
	tu_write_file(tu_path(dir, "victim"), "harmless\n", 9);
	tu_write_file(tu_path(dir, "secret"), "the secret\n", 11);
	cr_assert_eq(symlink("secret", tu_path(dir, "evil")), 0);
	int rc = tu_sh("cd '%s' && SWAP_FROM=evil LD_PRELOAD=./swap.so '%s' gzip victim 2>err",
		       dir, ORY_CLI);
	cr_expect(tu_exists(tu_path(dir, "secret")), "the link's target was removed");
	cr_expect_not(tu_exists(tu_path(dir, "evil")), "the shim did not swap the link in");
	cr_expect_eq(rc, 1, "status %d", rc);
	expect_err_contains(dir, "victim: Too many levels of symbolic links");
	cr_expect_not(tu_exists(tu_path(dir, "victim.gz")), "the swapped-in link was followed");
	cr_expect_eq(tu_count_hidden(dir), 0);
}
