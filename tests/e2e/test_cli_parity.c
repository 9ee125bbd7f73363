/* SPDX-License-Identifier: MIT */
/* test_cli_parity.c - octoray-run gzip beside GNU gzip 1.12 and pigz on the same inputs
 * (issue 14): what the header stores (-n, -N, -T), what -d restores (-N), and the messages and
 * exit statuses of everyday mistakes. */
#include <sys/stat.h>

#include "gnu.h"

TestSuite(cli_parity, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 120);

/* FLG, MTIME and the stored name of cmd's output (XFL and OS are each tool's own). */
static char *header_of(const char *cmd)
{
	cr_assert_eq(tu_sh("cd '%s' && %s > hdr.gz", dir, cmd), 0, "%s", cmd);
	size_t n;
	uint8_t *b = tu_read_file(tu_path(dir, "hdr.gz"), &n);
	cr_assert(b && n >= 18, "%s: no gzip output", cmd);
	char *h = malloc(1200);
	int len = sprintf(h, "flags %02x mtime %02x%02x%02x%02x", b[3], b[7], b[6], b[5], b[4]);
	if (b[3] & 0x08) { /* FNAME right after the fixed part in all three tools' output */
		int name_len = (int)strnlen((char *)b + 10, n - 10);
		snprintf(h + len, 1200 - (size_t)len, " name '%.*s'", name_len, (char *)b + 10);
	}
	free(b);
	return h;
}

static void expect_same_header(const char *ref_cmd, const char *ours_cmd)
{
	char *ref = header_of(ref_cmd), *ours = header_of(ours_cmd);
	cr_expect_str_eq(ours, ref, "'%s' stores what '%s' does not", ours_cmd, ref_cmd);
	free(ref);
	free(ours);
}

Test(cli_parity, the_header_stores_name_and_time_as_gzip_and_pigz_do)
{
	cr_assert_eq(tu_sh("cd '%s' && echo hello > t && touch -d @1500000000 t", dir), 0);
	const char *opts[] = { "", "-n", "-N", "-m", "-n -M", "-N -m" };
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		char ref[256], ours[4096];
		snprintf(ref, sizeof(ref), "gzip -c %s t", opts[i]);
		snprintf(ours, sizeof(ours), "'%s' gzip -c %s t", ORY_CLI, opts[i]);
		expect_same_header(ref, ours);
	}
	char ours[4096];
	snprintf(ours, sizeof(ours), "'%s' gzip -c -T t", ORY_CLI);
	expect_same_header("pigz -c -T t", ours);
	snprintf(ours, sizeof(ours), "'%s' gzip -c --no-time t", ORY_CLI);
	expect_same_header("pigz -c --no-time t", ours);
	/* standard input: no name; the time only of a regular file (gzip 1.10 and later) */
	snprintf(ours, sizeof(ours), "'%s' gzip < t", ORY_CLI);
	expect_same_header("gzip < t", ours);
	snprintf(ours, sizeof(ours), "cat t | '%s' gzip", ORY_CLI);
	expect_same_header("cat t | gzip", ours);
}

static long mtime_of(const char *sub, const char *name)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", sub, name);
	struct stat st;
	return stat(tu_path(dir, p), &st) == 0 ? (long)st.st_mtim.tv_sec : -1;
}

Test(cli_parity, d_with_N_restores_the_stored_name_and_time_as_gzip_does)
{
	const char *setup = "echo hi > orig && touch -d @1500000000 orig && gzip orig && "
			    "mv orig.gz renamed.gz && touch -d @1600000000 renamed.gz";
	/* each comparison runs in fresh directories gnuN/oryN, N counting from 0 in this test */
	expect_like_gnu("-dN", setup, "-dN renamed.gz");
	cr_expect_eq(mtime_of("ory0", "orig"), 1500000000, "-dN did not restore the time");
	expect_like_gnu("-d", setup, "-d renamed.gz");
	cr_expect_eq(mtime_of("ory1", "renamed"), 1600000000, "-d must keep the file's time");
	expect_like_gnu("-dN -m (the name only)", setup, "-dN -m renamed.gz");
	cr_expect_eq(mtime_of("ory2", "orig"), 1600000000, "-dN -m restored the time");
	expect_like_gnu("-dN onto an existing file",
			"echo hi > a && gzip a && mv a.gz b.gz && echo other > a", "-dN b.gz");
	expect_like_gnu("-dN -k", setup, "-dN -k renamed.gz");
	expect_like_gnu("-dN of a nameless member", "echo hi | gzip > s.gz", "-dN s.gz");
}

Test(cli_parity, everyday_mistakes_get_gzips_messages_and_status)
{
	expect_like_gnu("missing file", "true", "nothere");
	expect_like_gnu("directory", "mkdir d", "d");
	expect_like_gnu("existing output", "echo a > a && echo old > a.gz", "a");
	expect_like_gnu("existing output, -q", "echo a > a && echo old > a.gz", "-q a");
	expect_like_gnu("existing output, -f", "echo a > a && echo old > a.gz", "-f a");
	expect_like_gnu("already .gz", "echo hi | gzip > a.gz", "a.gz");
	expect_like_gnu("already .gz, -q", "echo hi | gzip > a.gz", "-q a.gz");
	expect_like_gnu("already .gz, -f", "echo hi | gzip > a.gz", "-f a.gz");
	expect_like_gnu("-d unknown suffix", "echo hi > plain", "-d plain");
	expect_like_gnu("-d unknown suffix, -q", "echo hi > plain", "-dq plain");
	expect_like_gnu("-d not gzip", "echo hello there > x.gz", "-d x.gz");
	expect_like_gnu("-t not gzip", "echo hello there > x.gz", "-t x.gz");
	/* Shorter than a gzip header, the library says "unexpected end of file" where gzip looks
	 * at the magic first ("not in gzip format"): apps/gzip/gunzip.c's, not the CLI's. */
	side_compare("-d not gzip, 3 bytes", "echo hi > x.gz", "-d x.gz", SAME_STATUS | SAME_FILES);
	expect_like_gnu("-t trailing garbage", "echo hi | gzip > g.gz && printf XYZ >> g.gz",
			"-t g.gz");
	expect_like_gnu("-d truncated", "head -c 30000 /dev/urandom | gzip | head -c 9000 > t.gz",
			"-d t.gz");
	expect_like_gnu("-k, -v off", "echo hi > a", "-k a");
	expect_like_gnu("several files, one missing", "echo a > a && echo b > b", "a nothere b");
	expect_like_gnu("-c to a file", "echo a > a", "-c a");
	/* the library words corrupt data its own way: the status and files must still be gzip's */
	side_compare("-d bad CRC",
		     "echo some text to check | gzip > c.gz && size=$(stat -c %s c.gz) && "
		     "printf '\\377' | dd of=c.gz bs=1 seek=$((size-8)) conv=notrunc",
		     "-d c.gz", SAME_STATUS | SAME_FILES);
}

Test(cli_parity, rsyncable_output_reads_with_gzip_and_pigz_and_is_the_same_for_any_cpus)
{
	uint8_t *d = tu_text(3 << 20, 14);
	cr_assert_eq(tu_write_file(tu_path(dir, "a"), d, 3 << 20), 0);
	free(d);
	const char *specs[] = { "cpu:1", "cpu:2" };
	for (int i = 0; i < 2; i++) {
		char out[16];
		snprintf(out, sizeof(out), "a%d.gz", i);
		cr_assert_eq(cli_run(dir, tu_path(dir, "a"), "gzip", "-R", "-b", "64", "--devices",
				     specs[i], NULL), 0, "%s", cli_err(dir));
		rename(tu_path(dir, "out"), tu_path(dir, out));
	}
	cr_expect(files_equal(tu_path(dir, "a0.gz"), tu_path(dir, "a1.gz")), "cpu:1 and cpu:2");
	cr_expect_eq(tu_sh("cd '%s' && gzip -dc a0.gz | cmp -s - a && pigz -dc a0.gz | cmp -s - a",
			   dir), 0, "gzip or pigz reads other bytes");
	/* as gzip: ignored when decompressing */
	cr_expect_eq(cli_run(dir, tu_path(dir, "a0.gz"), "gzip", "-d", "-R", NULL), 0);
	cr_expect(files_equal(tu_path(dir, "out"), tu_path(dir, "a")));
}

Test(cli_parity, rsyncable_with_primed_chunks_is_refused_with_a_reason)
{
	tu_write_file(tu_path(dir, "a"), "abc", 3);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-R", "--primed", tu_path(dir, "a"), NULL), 1);
	expect_err_contains(dir, "--rsyncable needs independent chunks");
	expect_one_line(dir);
	cr_expect(tu_exists(tu_path(dir, "a")));
	cr_expect_not(tu_exists(tu_path(dir, "a.gz")));
}

Test(cli_parity, decompressed_bytes_match_gzip_and_pigz_on_each_others_output)
{
	cr_assert_eq(tu_sh("cd '%s' && head -c 3000000 /dev/urandom | base64 > t && "
			   "'%s' gzip -c -1 t > o1.gz && '%s' gzip -c -9 t > o9.gz && "
			   "gzip -dc o1.gz | cmp -s - t && gzip -dc o9.gz | cmp -s - t && "
			   "pigz -dc o1.gz | cmp -s - t && pigz -dc o9.gz | cmp -s - t && "
			   "pigz -c t > p.gz && gzip -c t > g.gz && "
			   "'%s' gzip -dc p.gz | cmp -s - t && '%s' gzip -dc g.gz | cmp -s - t",
			   dir, ORY_CLI, ORY_CLI, ORY_CLI, ORY_CLI),
		     0);
}
