/* SPDX-License-Identifier: MIT */
/* test_cli_names.c - file names (issue 15): names up to NAME_MAX once the suffix is added,
 * gzip's suffixes in any case, -S limits. GNU gzip 1.12 runs beside us on the same files. */
#include <sys/stat.h>

#include "gnu.h"

TestSuite(cli_names, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 60);

/* Item 13: NAME.gz fits in NAME_MAX, so NAME works, as with gzip. */
Test(cli_names, names_of_245_to_252_bytes_compress_and_decompress)
{
	size_t lens[] = { 245, 248, 252 };
	for (int i = 0; i < 3; i++) {
		char name[256];
		memset(name, 'a' + i, lens[i]);
		name[lens[i]] = 0;
		char setup[512], args[512];
		snprintf(setup, sizeof(setup), "echo hi > %s", name);
		snprintf(args, sizeof(args), "%s", name);
		expect_like_gnu("long name", setup, args);
		const char *in = tu_path(dir, name);
		tu_write_file(in, "long\n", 5);
		int rc = cli_run(dir, NULL, "gzip", in, NULL);
		cr_expect_eq(rc, 0, "%zu bytes: %s", lens[i], cli_err(dir));
		char gz[4096];
		snprintf(gz, sizeof(gz), "%s.gz", in);
		rc = cli_run(dir, NULL, "gzip", "-d", gz, NULL);
		cr_expect_eq(rc, 0, "-d, %zu bytes: %s", lens[i], cli_err(dir));
		char *back = tu_slurp(in);
		cr_expect_str_eq(back, "long\n");
		free(back);
		unlink(in);
		cr_expect_eq(tu_count_hidden(dir), 0);
	}
}

/* Item 15: gzip's suffixes, any case; -S limits. */
Test(cli_names, suffixes_are_recognised_as_gzip_does)
{
	const char *names[] = { "a.GZ", "b.z", "c.Z", "d-gz", "e-z", "f_z", "g.tgz", "h.TAZ",
				"i.Gz", "j.TGZ" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char setup[256], args[256];
		snprintf(setup, sizeof(setup), "echo hi | gzip > %s", names[i]);
		snprintf(args, sizeof(args), "-d %s", names[i]);
		expect_like_gnu(names[i], setup, args);
		snprintf(args, sizeof(args), "%s", names[i]);
		expect_like_gnu(names[i], setup, args);
	}
	expect_like_gnu("-S .foo", "echo hi > a && gzip -S .foo a", "-d -S .foo a.foo");
	expect_like_gnu("-S .FOO on a.foo", "echo hi > a && gzip -S .foo a", "-d -S .FOO a.foo");
	expect_like_gnu("-S of 30", "echo hi > a", "-S .abcdefghijabcdefghijabcdefghi a");
	expect_like_gnu("-S of 31", "echo hi > a", "-S .abcdefghijabcdefghijabcdefghij a");
	expect_like_gnu("-S ''", "echo hi > a", "-S '' a");
	expect_like_gnu("-d names the .gz it tried", "echo hi | gzip > a.gz", "-d a");
	expect_like_gnu("-d of a missing file", "true", "-d nothere");
}
