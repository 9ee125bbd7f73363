/* SPDX-License-Identifier: MIT */
/* test_cli_errors.c - every bad input: one line naming the file and the reason, gzip's exit
 * status, no partial or temporary output left, the input untouched. */
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"


TestSuite(cli_errors, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 60);

static void expect_untouched(const char *name, const char *content)
{
	char *now = tu_slurp(tu_path(dir, name));
	cr_expect_str_eq(now, content, "%s was changed", name);
	free(now);
}

Test(cli_errors, a_missing_file_is_an_error_naming_it)
{
	int rc = cli_run(dir, NULL, "gzip", tu_path(dir, "nofile"), NULL);
	cr_expect_eq(rc, 1);
	expect_err_contains(dir, "nofile: No such file or directory");
	expect_one_line(dir);
	cr_expect_not(tu_exists(tu_path(dir, "nofile.gz")));
	cr_expect_eq(tu_count_hidden(dir), 0);
}

Test(cli_errors, a_directory_is_skipped_with_a_warning)
{
	mkdir(tu_path(dir, "sub"), 0755);
	cr_expect_eq(cli_run(dir, NULL, "gzip", tu_path(dir, "sub"), NULL), 2);
	expect_err_contains(dir, "sub is a directory -- ignored");
	expect_one_line(dir);
	cr_expect_not(tu_exists(tu_path(dir, "sub.gz")));
}

Test(cli_errors, an_unreadable_file_is_an_error_and_stays)
{
	tu_write_file(tu_path(dir, "secret"), "data", 4);
	chmod(tu_path(dir, "secret"), 0);
	chmod(dir, 0777);
	int rc;
	if (geteuid() == 0) {
		/* root reads anything: run the CLI as nobody, who may write the dir, not the file */
		rc = tu_sh("setpriv --reuid=nobody --regid=nogroup --clear-groups '%s' gzip '%s' "
			   "2>'%s/err'",
			   ORY_CLI, tu_path(dir, "secret"), dir);
	} else {
		rc = cli_run(dir, NULL, "gzip", tu_path(dir, "secret"), NULL);
	}
	cr_expect_eq(rc, 1);
	expect_err_contains(dir, "secret: Permission denied");
	expect_one_line(dir);
	chmod(tu_path(dir, "secret"), 0644);
	expect_untouched("secret", "data");
	cr_expect_not(tu_exists(tu_path(dir, "secret.gz")));
	cr_expect_eq(tu_count_hidden(dir), 0);
}

Test(cli_errors, an_existing_output_is_not_overwritten_without_force)
{
	tu_write_file(tu_path(dir, "a"), "new data", 8);
	tu_write_file(tu_path(dir, "a.gz"), "old", 3);
	cr_expect_eq(cli_run(dir, NULL, "gzip", tu_path(dir, "a"), NULL), 2);
	expect_err_contains(dir, "a.gz already exists;\tnot overwritten"); /* gzip's tab */
	expect_one_line(dir);
	expect_untouched("a", "new data");
	expect_untouched("a.gz", "old");
	cr_expect_eq(tu_count_hidden(dir), 0);

	cr_expect_eq(cli_run(dir, NULL, "gzip", "-f", tu_path(dir, "a"), NULL), 0);
	cr_expect_not(tu_exists(tu_path(dir, "a")));
	cr_expect_eq(tu_sh("gunzip -c '%s/a.gz' | grep -qx 'new data'", dir), 0);
}

static void make_gz(const char *name, const char *text)
{
	cr_assert_eq(tu_sh("cd '%s' && printf '%%s' '%s' | gzip -c > '%s'", dir, text, name), 0);
}

Test(cli_errors, corrupt_gzip_data_fails_without_leaving_output)
{
	make_gz("c.gz", "some text that will be checked");
	/* flip a bit of the stored CRC-32 */
	cr_assert_eq(tu_sh("cd '%s' && size=$(stat -c %%s c.gz) && "
			   "printf '\\377' | dd of=c.gz bs=1 seek=$((size-8)) conv=notrunc 2>/dev/null",
			   dir),
		     0);
	size_t n;
	uint8_t *before = tu_read_file(tu_path(dir, "c.gz"), &n);
	for (int t = 0; t < 2; t++) {
		int rc = cli_run(dir, NULL, "gzip", t ? "-t" : "-d", tu_path(dir, "c.gz"), NULL);
		cr_expect_eq(rc, 1);
		expect_err_contains(dir, "c.gz: invalid compressed data--crc or length error");
		expect_one_line(dir);
		cr_expect_not(tu_exists(tu_path(dir, "c")), "no partial output");
		cr_expect_eq(tu_count_hidden(dir), 0);
	}
	size_t m;
	uint8_t *after = tu_read_file(tu_path(dir, "c.gz"), &m);
	cr_expect(m == n && !memcmp(before, after, n), "input changed");
	free(before);
	free(after);
}

Test(cli_errors, truncated_and_non_gzip_inputs_are_named)
{
	tu_write_file(tu_path(dir, "x.gz"), "not gzip at all", 15);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-d", tu_path(dir, "x.gz"), NULL), 1);
	expect_err_contains(dir, "x.gz: not in gzip format");
	expect_one_line(dir);
	cr_expect_not(tu_exists(tu_path(dir, "x")));

	tu_write_file(tu_path(dir, "p"), "", 0);
	cr_assert_eq(tu_sh("cd '%s' && head -c 100000 /dev/urandom | gzip | head -c 5000 > t.gz",
			   dir),
		     0);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-t", tu_path(dir, "t.gz"), NULL), 1);
	expect_err_contains(dir, "t.gz: unexpected end of file");
	expect_one_line(dir);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-d", tu_path(dir, "t.gz"), NULL), 1);
	cr_expect_not(tu_exists(tu_path(dir, "t")));
	cr_expect(tu_exists(tu_path(dir, "t.gz")));
	cr_expect_eq(tu_count_hidden(dir), 0);
}

Test(cli_errors, trailing_garbage_is_a_warning_and_zero_padding_is_fine)
{
	cr_assert_eq(tu_sh("cd '%s' && echo hello | gzip > g.gz && printf 'XYZ' >> g.gz && "
			   "echo hello | gzip > z.gz && head -c 512 /dev/zero >> z.gz",
			   dir),
		     0);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-t", tu_path(dir, "g.gz"), NULL), 2);
	expect_err_contains(dir, "g.gz: decompression OK, trailing garbage ignored");
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-t", tu_path(dir, "z.gz"), NULL), 0);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-dc", tu_path(dir, "g.gz"), NULL), 2);
	char *out = tu_slurp(tu_path(dir, "out"));
	cr_expect_str_eq(out, "hello\n");
	free(out);
}

Test(cli_errors, a_write_error_on_stdout_names_stdout)
{
	tu_write_file(tu_path(dir, "in"), "abcdefgh", 8);
	int rc = tu_sh("'%s' gzip -c '%s/in' > /dev/full 2>'%s/err'", ORY_CLI, dir, dir);
	cr_expect_eq(rc, 1);
	expect_err_contains(dir, "stdout: write error: No space left on device");
	expect_one_line(dir);
	expect_untouched("in", "abcdefgh");
}

Test(cli_errors, an_unknown_device_spec_is_rejected_before_any_work)
{
	tu_write_file(tu_path(dir, "in"), "abc", 3);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "--devices", "gpu:3", tu_path(dir, "in"), NULL), 1);
	expect_err_contains(dir, "--devices gpu:3: unknown device kind 'gpu'");
	expect_one_line(dir);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "--devices", "cpu:x", tu_path(dir, "in"), NULL), 1);
	expect_err_contains(dir, "bad cpu device spec 'x'");
	expect_untouched("in", "abc");
	cr_expect_not(tu_exists(tu_path(dir, "in.gz")));
}

Test(cli_errors, suffixes_are_checked_as_gzip_does)
{
	tu_write_file(tu_path(dir, "a.gz"), "abc", 3);
	/* gzip 1.12 says so but exits 0: the file is simply left as it is */
	cr_expect_eq(cli_run(dir, NULL, "gzip", tu_path(dir, "a.gz"), NULL), 0);
	expect_err_contains(dir, "a.gz already has .gz suffix -- unchanged");
	tu_write_file(tu_path(dir, "plain"), "abc", 3);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-d", tu_path(dir, "plain"), NULL), 2);
	expect_err_contains(dir, "plain: unknown suffix -- ignored");
	expect_untouched("plain", "abc");
}

Test(cli_errors, bad_options_are_refused)
{
	cr_expect_eq(cli_run(dir, NULL, "gzip", "--frobnicate", NULL), 1);
	expect_err_contains(dir, "invalid option");
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-b", "7", NULL), 1);
	expect_err_contains(dir, "invalid block size '7'");
	cr_expect_eq(cli_run(dir, NULL, "frob", NULL), 1);
	expect_err_contains(dir, "unknown command 'frob'");
}

/* A newline in a file name or a device spec does not break the one-line rule: control
 * characters show as '?' in messages. */
Test(cli_errors, control_characters_in_names_and_specs_stay_on_one_line)
{
	const char *name = tu_path(dir, "a\nb");
	cr_assert_eq(tu_write_file(name, "xy", 2), 0);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-dc", name, NULL), 1);
	expect_one_line(dir);
	expect_err_contains(dir, "a?b: not in gzip format");
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-c", "--devices", "cpu\nfoo", name, NULL), 1);
	expect_one_line(dir);
	expect_err_contains(dir, "unknown device kind 'cpu?foo'");
}
