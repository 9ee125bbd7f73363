/* SPDX-License-Identifier: MIT */
/* test_cli_stdfds.c - closed or full standard descriptors (issue 15): a closed stdin or stdout
 * is "Bad file descriptor" as with gzip, never one of the CLI's own files; a full stdout fails. */
#include <signal.h>
#include <sys/stat.h>

#include "cli.h"

TestSuite(cli_stdfds, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 60);

/* Item 5: closed standard descriptors are not the CLI's own files. */
Test(cli_stdfds, a_closed_stdin_is_a_bad_file_descriptor_not_our_own_descriptors)
{
	int rc = tu_sh("cd '%s' && timeout 20 '%s' gzip <&- >c.gz 2>err", dir, ORY_CLI);
	cr_expect_eq(rc, 1, "gzip <&-: status %d (124: it hung)", rc);
	expect_err_contains(dir, "standard input: Bad file descriptor");
	expect_one_line(dir);
	rc = tu_sh("cd '%s' && timeout 20 '%s' gzip -o x.gz <&- 2>err", dir, ORY_CLI);
	cr_expect_eq(rc, 1, "gzip -o x.gz <&-: status %d", rc);
	expect_err_contains(dir, "standard input: Bad file descriptor");
	cr_expect_not(tu_exists(tu_path(dir, "x.gz")), "compressed something from a closed stdin");
	cr_expect_eq(tu_count_hidden(dir), 0);
	rc = tu_sh("cd '%s' && timeout 20 '%s' gzip -d <&- >x 2>err", dir, ORY_CLI);
	cr_expect_eq(rc, 1);
	expect_err_contains(dir, "standard input: Bad file descriptor");
}

Test(cli_stdfds, a_closed_stdout_is_a_bad_file_descriptor)
{
	tu_write_file(tu_path(dir, "in"), "hello\n", 6);
	int rc = tu_sh("cd '%s' && timeout 20 '%s' gzip -c in >&- 2>err", dir, ORY_CLI);
	cr_expect_eq(rc, 1, "gzip -c in >&-: status %d", rc);
	expect_err_contains(dir, "stdout: Bad file descriptor");
	expect_one_line(dir);
	rc = tu_sh("cd '%s' && timeout 20 '%s' gzip <in >&- 2>err", dir, ORY_CLI);
	cr_expect_eq(rc, 1);
	expect_err_contains(dir, "stdout: Bad file descriptor");
	rc = tu_sh("cd '%s' && '%s' version >&- 2>err", dir, ORY_CLI);
	cr_expect_eq(rc, 1, "version >&-: status %d", rc);
	expect_err_contains(dir, "stdout");
	/* a closed stderr loses the messages, not the work */
	rc = tu_sh("cd '%s' && '%s' gzip -k in 2>&-", dir, ORY_CLI);
	cr_expect_eq(rc, 0);
	cr_expect_eq(tu_sh("gunzip -c '%s/in.gz' | grep -qx hello", dir), 0);
}

/* Item 15: writing help or the version to a full disk is an error. */
Test(cli_stdfds, help_version_and_devices_fail_on_a_full_stdout)
{
	const char *cmds[] = { "version", "--help", "gzip --help", "cnv --help",
			       "devices --devices cpu:1" };
	for (int i = 0; i < 5; i++) {
		int rc = tu_sh("'%s' %s >/dev/full 2>'%s/err'", ORY_CLI, cmds[i], dir);
		cr_expect_eq(rc, 1, "%s >/dev/full: status %d", cmds[i], rc);
		expect_err_contains(dir, "No space left on device");
		expect_one_line(dir);
	}
}
