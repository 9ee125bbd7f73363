/* SPDX-License-Identifier: MIT */
/* test_cli_gzip.c - octoray-run gzip end to end: round trips through the system's gzip, file
 * handling as gzip does it, identical output across device counts. */
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"


TestSuite(cli_gzip, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 120);

static void write_data(const char *name, size_t len, bool text, uint64_t seed)
{
	uint8_t *d = text ? tu_text(len, seed) : tu_random(len, seed);
	cr_assert_eq(tu_write_file(tu_path(dir, name), d, len), 0);
	free(d);
}

/* Compress `name` with the given chunk size (KiB), check with gzip -t and gunzip -c. */
static void roundtrip(const char *name, const char *kib)
{
	const char *in = tu_path(dir, name);
	char gz[4096];
	snprintf(gz, sizeof(gz), "%s.gz", in);
	int rc = cli_run(dir, NULL, "gzip", "-k", "-b", kib, in, NULL);
	cr_assert_eq(rc, 0, "exit %d: %s", rc, cli_err(dir));
	cr_expect_eq(tu_sh("gzip -t '%s'", gz), 0, "gzip -t rejects %s", gz);
	cr_expect_eq(tu_sh("gunzip -c '%s' | cmp -s - '%s'", gz, in), 0, "%s differs", name);
	unlink(gz);
}

Test(cli_gzip, round_trips_through_system_gunzip_at_every_boundary_size)
{
	struct {
		size_t len;
		bool text;
	} cases[] = { { 0, 0 }, { 1, 0 }, { 65535, 1 }, { 65536, 0 }, { 65537, 1 },
		      { 3 << 20, 0 }, { 3 << 20, 1 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[32];
		snprintf(name, sizeof(name), "f%zu", i);
		write_data(name, cases[i].len, cases[i].text, i);
		roundtrip(name, "64");
	}
}

Test(cli_gzip, round_trips_at_the_default_chunk_size_edges)
{
	size_t lens[] = { (1 << 20) - 1, 1 << 20, (1 << 20) + 1 };
	for (int i = 0; i < 3; i++) {
		char name[32];
		snprintf(name, sizeof(name), "g%d", i);
		write_data(name, lens[i], i == 1, 100 + i);
		roundtrip(name, "1024");
	}
}

Test(cli_gzip, output_is_byte_identical_for_1_2_and_8_cpu_devices)
{
	write_data("in", (5 << 20) + 333, true, 7);
	const char *specs[] = { "cpu:1", "cpu:2", "cpu:8" };
	for (int level = 1; level <= 9; level += 8) {
		char lv[4];
		snprintf(lv, sizeof(lv), "-%d", level);
		for (int i = 0; i < 3; i++) {
			char out[32];
			snprintf(out, sizeof(out), "out%d", i);
			cr_assert_eq(cli_run(dir, tu_path(dir, "in"), "gzip", lv, "--devices",
					     specs[i], NULL),
				     0);
			rename(tu_path(dir, "out"), tu_path(dir, out));
		}
		cr_expect(files_equal(tu_path(dir, "out0"), tu_path(dir, "out1")), "%s: cpu:2", lv);
		cr_expect(files_equal(tu_path(dir, "out0"), tu_path(dir, "out2")), "%s: cpu:8", lv);
	}
}

Test(cli_gzip, stdin_to_stdout_both_ways)
{
	write_data("in", 2000000, true, 9);
	cr_assert_eq(cli_run(dir, tu_path(dir, "in"), "gzip", NULL), 0);
	rename(tu_path(dir, "out"), tu_path(dir, "in.gz"));
	cr_expect_eq(tu_sh("gunzip -c '%s/in.gz' | cmp -s - '%s/in'", dir, dir), 0);
	cr_assert_eq(cli_run(dir, tu_path(dir, "in.gz"), "gzip", "-d", NULL), 0);
	cr_expect(files_equal(tu_path(dir, "out"), tu_path(dir, "in")));
	cr_assert_eq(cli_run(dir, tu_path(dir, "in"), "gzip", "-c", "-", NULL), 0);
	cr_expect_eq(tu_sh("gunzip -c < '%s/out' | cmp -s - '%s/in'", dir, dir), 0);
}

Test(cli_gzip, replaces_the_input_keeping_mode_and_mtime_and_d_restores_it)
{
	write_data("doc", 300000, true, 1);
	const char *in = tu_path(dir, "doc");
	chmod(in, 0640);
	struct timespec ts[2] = { { 1000000000, 0 }, { 1200000000, 0 } };
	utimensat(AT_FDCWD, in, ts, 0);
	size_t n;
	uint8_t *orig = tu_read_file(in, &n);

	cr_assert_eq(cli_run(dir, NULL, "gzip", in, NULL), 0, "%s", cli_err(dir));
	cr_expect_not(tu_exists(in), "the input must go once the output is complete");
	struct stat st;
	cr_assert_eq(stat(tu_path(dir, "doc.gz"), &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0640);
	cr_expect_eq(st.st_mtim.tv_sec, 1200000000);

	cr_assert_eq(cli_run(dir, NULL, "gzip", "-d", tu_path(dir, "doc.gz"), NULL), 0);
	cr_expect_not(tu_exists(tu_path(dir, "doc.gz")));
	size_t m;
	uint8_t *back = tu_read_file(in, &m);
	cr_assert_eq(m, n);
	cr_expect_eq(memcmp(back, orig, n), 0);
	cr_assert_eq(stat(in, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0640);
	cr_expect_eq(st.st_mtim.tv_sec, 1200000000);
	cr_expect_eq(tu_count_hidden(dir), 0, "no temporary files left");
	free(orig);
	free(back);
}

Test(cli_gzip, keep_and_output_options_leave_the_input_in_place)
{
	write_data("a", 10000, true, 2);
	cr_assert_eq(cli_run(dir, NULL, "gzip", "-k", tu_path(dir, "a"), NULL), 0);
	cr_expect(tu_exists(tu_path(dir, "a")));
	cr_expect(tu_exists(tu_path(dir, "a.gz")));
	cr_assert_eq(cli_run(dir, NULL, "gzip", "-o", tu_path(dir, "other.gz"), tu_path(dir, "a"),
			     NULL),
		     0);
	cr_expect(tu_exists(tu_path(dir, "a")));
	cr_expect_eq(tu_sh("gunzip -c '%s/other.gz' | cmp -s - '%s/a'", dir, dir), 0);
}

Test(cli_gzip, decompresses_what_gzip_and_pigz_write_and_their_concatenation)
{
	write_data("t", 1500000, true, 3);
	cr_assert_eq(tu_sh("cd '%s' && gzip -9 -c t > a.gz && pigz -1 -c t > b.gz && "
			   "cat a.gz b.gz > ab.gz && cat t t > tt",
			   dir),
		     0);
	const char *names[] = { "a.gz", "b.gz" };
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(cli_run(dir, NULL, "gzip", "-dc", tu_path(dir, names[i]), NULL), 0);
		cr_expect(files_equal(tu_path(dir, "out"), tu_path(dir, "t")), "%s", names[i]);
	}
	cr_assert_eq(cli_run(dir, NULL, "gzip", "-dc", tu_path(dir, "ab.gz"), NULL), 0);
	cr_expect(files_equal(tu_path(dir, "out"), tu_path(dir, "tt")));
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-t", tu_path(dir, "ab.gz"), NULL), 0);
}

Test(cli_gzip, every_level_round_trips_and_higher_levels_are_not_larger)
{
	write_data("t", 1 << 20, true, 4);
	size_t prev = (size_t)-1;
	for (int level = 1; level <= 9; level++) {
		char lv[4];
		snprintf(lv, sizeof(lv), "-%d", level);
		cr_assert_eq(cli_run(dir, tu_path(dir, "t"), "gzip", lv, NULL), 0);
		cr_expect_eq(tu_sh("gunzip -c < '%s/out' | cmp -s - '%s/t'", dir, dir), 0, "%s", lv);
		struct stat st;
		stat(tu_path(dir, "out"), &st);
		if (level == 4 || level == 9) /* library boundaries: ISA-L 1-3, libdeflate 4-9 */
			cr_expect_leq((size_t)st.st_size, prev, "%s grew", lv);
		prev = (size_t)st.st_size;
	}
}

Test(cli_gzip, a_large_stream_through_pipes_round_trips)
{
	cr_assert_eq(tu_sh("cd '%s' && head -c 40000000 /dev/urandom | base64 > big && "
			   "cat big | '%s' gzip -1 | gunzip -c | cmp -s - big",
			   dir, ORY_CLI),
		     0);
}

/* A file of one chunk at -6 is libdeflate-gzip's own deflate stream between header and
 * trailer (docs/format.md), whether octoray-run reads the file or a pipe (whose full first
 * chunk waits for the next read to say it is the only one). Two chunks still round-trip. */
Test(cli_gzip, one_chunk_at_level_6_is_libdeflates_stream_from_a_file_or_a_pipe)
{
	const size_t lens[] = { 1000, 64 * 1024, 64 * 1024 + 1 };
	for (size_t i = 0; i < 3; i++) {
		write_data("one", lens[i], true, 17 + i);
		const char *in = tu_path(dir, "one");
		cr_assert_eq(tu_sh("'%s' gzip -6 -n -c -b 64 --devices cpu:2 '%s' > '%s/a.gz'", ORY_CLI,
				   in, dir), 0);
		cr_assert_eq(tu_sh("cat '%s' | '%s' gzip -6 -n -c -b 64 --devices cpu:2 > '%s/b.gz'", in,
				   ORY_CLI, dir), 0);
		cr_assert_eq(tu_sh("libdeflate-gzip -6 -n -c '%s' > '%s/l.gz'", in, dir), 0);
		cr_expect_eq(tu_sh("gunzip -c '%s/b.gz' | cmp -s - '%s'", dir, in), 0, "%zu bytes",
			     lens[i]);
		if (lens[i] > 64 * 1024)
			continue; /* two chunks: the pipe's index goes at the end */
		cr_expect(files_equal(tu_path(dir, "a.gz"), tu_path(dir, "b.gz")),
			  "%zu bytes: the pipe's output differs from the file's", lens[i]);
		cr_expect_eq(tu_sh("cd '%s' && tail -c +11 a.gz > a.t && tail -c +11 l.gz > l.t && "
				   "cmp -s a.t l.t", dir),
			     0, "%zu bytes: not libdeflate-gzip's deflate stream and trailer", lens[i]);
	}
}
