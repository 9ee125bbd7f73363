/* SPDX-License-Identifier: MIT */
/* test_cli_readers.c - every gzip reader Debian has reads our files as ordinary gzip files
 * (docs/format.md, issue 13): GNU gzip, pigz, igzip, libdeflate-gunzip, busybox, 7-Zip,
 * Python's gzip and zlib, Java's GZIPInputStream and Node's zlib, on files with the index in
 * the header, with the index in members at the end (written to a pipe), of one chunk and empty;
 * and GNU gzip -d gives exactly what our parallel -d gives. scripts/bootstrap installs every
 * reader; one that is missing fails the test rather than passing unchecked. */
#include "cli.h"

TestSuite(cli_readers, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 240);

/* Each reader writes the original of the gzip file $f to standard output. */
static const struct reader {
	const char *name, *cmd;
} readers[] = {
	{ "gzip", "gzip -dc \"$f\"" },
	{ "pigz", "pigz -dc \"$f\"" },
	{ "igzip", "igzip -dc \"$f\"" },
	{ "libdeflate-gunzip", "libdeflate-gunzip -c \"$f\"" },
	{ "busybox", "busybox gunzip -c \"$f\"" },
	{ "7z", "7z e -so -tgzip \"$f\" 2>/dev/null" },
	{ "python gzip", "/usr/bin/python3 -c 'import gzip, sys; "
			 "sys.stdout.buffer.write(gzip.open(sys.argv[1]).read())' \"$f\"" },
	/* zlib reads one member: the index members after it hold nothing */
	{ "python zlib", "/usr/bin/python3 -c 'import zlib, sys; "
			 "sys.stdout.buffer.write(zlib.decompressobj(31).decompress("
			 "open(sys.argv[1], \"rb\").read()))' \"$f\"" },
	{ "java", "java -cp \"$classes\" GzRead \"$f\"" },
	{ "node", "node -e 'process.stdout.write(require(\"zlib\").gunzipSync("
		  "require(\"fs\").readFileSync(process.argv[1])))' \"$f\"" },
};

static const char java_src[] =
	"import java.io.*; import java.util.zip.GZIPInputStream;\n"
	"public class GzRead { public static void main(String[] a) throws IOException {\n"
	"  try (InputStream in = new GZIPInputStream(new FileInputStream(a[0]), 65536)) {\n"
	"    in.transferTo(System.out); } System.out.flush(); } }\n";

/* The inputs, and our files of them: *.h.gz (index in the header, written to a file),
 * *.t.gz (index at the end, written to a pipe). */
static void make_files(void)
{
	cr_assert_eq(tu_sh("cd '%s' && seq 300000 > text && head -c 700000 /dev/urandom > rand && "
			   "cat text rand text > mix && printf x > one && : > empty && "
			   "for f in text mix one empty; do for l in 1 9; do "
			   "'%s' gzip -$l -b 64 -c $f > $f.$l.h.gz && "
			   "cat $f | '%s' gzip -$l -b 64 -c | cat > $f.$l.t.gz || exit 1; "
			   "done; done",
			   dir, ORY_CLI, ORY_CLI),
		     0);
	/* they are what we think they are: indexed, at the place we think */
	cr_assert_eq(tu_sh("cd '%s' && '%s' gzip -lv mix.1.h.gz | grep -q 'index in the header' &&"
			   " '%s' gzip -lv mix.9.t.gz | grep -q 'index at the end'",
			   dir, ORY_CLI, ORY_CLI),
		     0, "the files have no index");
}

Test(cli_readers, every_reader_gets_the_original)
{
	make_files();
	FILE *j = fopen(tu_path(dir, "GzRead.java"), "w");
	cr_assert_not_null(j);
	fputs(java_src, j);
	fclose(j);
	cr_assert_eq(tu_sh("cd '%s' && mkdir classes && javac -d classes GzRead.java", dir), 0,
		     "javac");
	for (size_t r = 0; r < sizeof(readers) / sizeof(readers[0]); r++) {
		const char *tool = readers[r].cmd;
		char first[32];
		sscanf(tool, "%31s", first);
		if (!strcmp(first, "java"))
			snprintf(first, sizeof(first), "java");
		cr_assert_eq(tu_sh("command -v %s >/dev/null", first), 0,
			     "%s is not installed (scripts/bootstrap installs it)", readers[r].name);
		int bad = tu_sh("cd '%s' && classes='%s/classes' && for f in *.gz; do "
				"o=${f%%%%.*}; ( %s ) > got || { echo \"$f: failed\" >&2; exit 1; }; "
				"cmp -s got $o || { echo \"$f: other bytes\" >&2; exit 1; }; done",
				dir, dir, tool);
		cr_expect_eq(bad, 0, "%s does not read our files", readers[r].name);
	}
}

/* GNU gzip -d and our parallel -d (and -t) agree on every file, and the index is used. */
Test(cli_readers, gnu_gzip_d_equals_ours)
{
	make_files();
	int bad = tu_sh("cd '%s' && for f in *.gz; do gzip -dc $f > gnu && "
			"'%s' gzip -dc $f > ours && cmp -s gnu ours && '%s' gzip -t $f || "
			"{ echo \"$f\" >&2; exit 1; }; done",
			dir, ORY_CLI, ORY_CLI);
	cr_expect_eq(bad, 0);
}

/* Files of many members, which our -d reads member-parallel (bgzip's BGZF, gzip outputs
 * concatenated, members with names and garbage after them): GNU gzip's bytes and verdict. */
Test(cli_readers, multi_member_files_read_as_gnu_gzip_reads_them)
{
	cr_assert_eq(tu_sh("command -v bgzip >/dev/null"), 0,
		     "bgzip is not installed (scripts/bootstrap installs tabix)");
	int bad = tu_sh("cd '%s' && seq 400000 > text && head -c 300000 /dev/urandom > rand && "
			"cat text rand text > mix && bgzip -c mix > bgzf.gz && "
			"bgzip -l 9 -c text > bgzf9.gz && "
			"split -b 50000 mix part. && for p in part.*; do gzip -c $p; done > cat.gz && "
			"for p in part.*; do gzip -1 -N -c $p; done > named.gz && "
			"cp cat.gz garbage.gz && printf 'trailing' >> garbage.gz && "
			"cp bgzf.gz zeros.gz && head -c 1000 /dev/zero >> zeros.gz && "
			"for f in bgzf bgzf9 cat named garbage zeros; do "
			"  gzip -dc $f.gz > gnu 2>/dev/null; g=$?; "
			"  '%s' gzip -dc -q -b 64 $f.gz > ours; o=$?; "
			"  [ $g -eq $o ] && cmp -s gnu ours && '%s' gzip -t -q -b 64 $f.gz; t=$?; "
			"  [ $t -eq $g ] || { echo \"$f: exit $o/$t, gzip $g\" >&2; exit 1; }; "
			"done",
			dir, ORY_CLI, ORY_CLI);
	cr_expect_eq(bad, 0);
}
