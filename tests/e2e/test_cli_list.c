/* SPDX-License-Identifier: MIT */
/* test_cli_list.c - gzip -l (issue 14): columns, header, totals, -v and -q, -N, several members,
 * errors, and a member over 4 GiB (where the trailer's ISIZE wraps), beside GNU gzip 1.12. */
#include <sys/stat.h>
#include <zlib.h>

#include "gnu.h"

TestSuite(cli_list, .init = cli_scratch_make, .fini = cli_scratch_remove, .timeout = 120);

/* Files for -l: ours, gzip's and pigz's, several members, an empty one, a renamed one; fixed
 * times, since -l -v shows them. */
static char setup[4096];

static void make_setup(void)
{
	snprintf(setup, sizeof(setup),
		 "seq 60000 > t && touch -d '2021-03-04 05:06:07' t && "
		 "'%s' gzip -k t && mv t.gz ours.gz && gzip -9 -k t && pigz -c t > pigz.gz && "
		 "cat t.gz ours.gz > multi.gz && : > e && gzip e && cp t.gz renamed.gz && "
		 "cp t.gz noext && head -c 1000 t.gz > cut.gz && : > z.gz && "
		 "touch -d '2022-01-02 03:04:05' ours.gz pigz.gz multi.gz renamed.gz e.gz noext",
		 ORY_CLI);
}

#define expect_list_like_gnu(what, args)                                                       \
	side_compare(what, setup, args, SAME_STATUS | SAME_MESSAGES | SAME_FILES | SAME_STDOUT)

Test(cli_list, columns_totals_and_names_are_gzips)
{
	make_setup();
	expect_list_like_gnu("ours", "-l ours.gz");
	expect_list_like_gnu("gzip's", "-l t.gz");
	expect_list_like_gnu("pigz's", "-l pigz.gz");
	expect_list_like_gnu("several files: totals", "-l t.gz ours.gz pigz.gz e.gz");
	expect_list_like_gnu("two members: the last one's length", "-l multi.gz");
	expect_list_like_gnu("empty", "-l e.gz");
	expect_list_like_gnu("-q: no header, no totals", "-lq t.gz ours.gz");
	expect_list_like_gnu("a name without suffix", "-l noext");
}

Test(cli_list, v_adds_method_crc_and_date_and_N_the_stored_name_and_time)
{
	make_setup();
	expect_list_like_gnu("-v", "-lv t.gz ours.gz pigz.gz multi.gz");
	expect_list_like_gnu("-v, renamed: the file's name and time", "-lv renamed.gz");
	expect_list_like_gnu("-vN, renamed: the stored name and time", "-lvN renamed.gz");
	expect_list_like_gnu("-N", "-lN renamed.gz ours.gz");
}

Test(cli_list, errors_are_gzips_and_the_rest_is_listed)
{
	make_setup();
	expect_list_like_gnu("missing: gzip tries NAME.gz", "-l nothere");
	expect_list_like_gnu("missing beside a good file", "-l t.gz nothere");
	expect_list_like_gnu("not gzip", "-l t");
	expect_list_like_gnu("not gzip, then a good one", "-l t ours.gz");
	expect_list_like_gnu("truncated", "-l cut.gz");
	expect_list_like_gnu("empty file", "-l z.gz");
}

Test(cli_list, standard_input_is_listed_as_gzip_does)
{
	make_setup();
	cr_assert_eq(tu_sh("mkdir -p '%s/s' && cd '%s/s' && { %s; } >/dev/null 2>&1", dir, dir,
			   setup),
		     0);
	cr_assert_eq(tu_sh("cd '%s/s' && gzip -lv < ours.gz > g1 && "
			   "'%s' gzip -lv < ours.gz > o1 && "
			   "cat pigz.gz | gzip -l > g2 && cat pigz.gz | '%s' gzip -l > o2",
			   dir, ORY_CLI, ORY_CLI),
		     0);
	cr_expect_eq(tu_sh("cd '%s/s' && cmp -s g1 o1 && cmp -s g2 o2", dir), 0,
		     "-l of standard input differs from gzip's");
}

/* A gzip member of `total` = 259 + 258 * k zero bytes, made directly: one dynamic block whose
 * codes are a literal 0, a length 258 and distances 1 and 259, so each further 258 bytes cost
 * 9 bits (4 GiB: 18 MB, 0.1 s) where zlib would take seconds to find the same matches. */
struct bits {
	FILE *f;
	uint64_t acc;
	int n;
};

static void put(struct bits *b, uint32_t v, int n)
{
	b->acc |= (uint64_t)v << b->n;
	for (b->n += n; b->n >= 8; b->n -= 8, b->acc >>= 8)
		fputc((int)(b->acc & 0xff), b->f);
}

static void put_code(struct bits *b, uint32_t code, int len) /* Huffman codes: MSB first */
{
	uint32_t r = 0;
	for (int i = 0; i < len; i++)
		r |= ((code >> i) & 1) << (len - 1 - i);
	put(b, r, len);
}

static uint64_t write_zeros_member(const char *path, uint64_t k)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	static const uint8_t hdr[10] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3 };
	fwrite(hdr, 1, sizeof(hdr), f);
	struct bits b = { f, 0, 0 };
	put(&b, 1, 1); /* BFINAL */
	put(&b, 2, 2); /* dynamic Huffman */
	put(&b, 286 - 257, 5);
	put(&b, 17 - 1, 5);
	put(&b, 18 - 4, 4);
	/* code length code: 18 (runs of zeros) 1 bit, lengths 1 and 2 two bits each */
	static const int order[19] = { 16, 17, 18, 0, 8,  7, 9,  6, 10, 5,
				       11, 4,  12, 3, 13, 2, 14, 1, 15 };
	int cl[19] = { 0 };
	cl[18] = 1;
	cl[1] = 2;
	cl[2] = 2;
	for (int i = 0; i < 18; i++)
		put(&b, (uint32_t)cl[order[i]], 3);
	/* literal/length lengths: 0 -> 2, 256 -> 2, 285 -> 1; the rest 0 */
	static const struct {
		uint32_t code;
		int len;
		uint32_t extra; /* 7 bits after an 18: zeros - 11 */
	} lengths[] = {
		{ 3, 2, 0 }, { 0, 1, 138 - 11 }, { 0, 1, 117 - 11 }, /* 0: 2, 1..255: 0 */
		{ 3, 2, 0 }, { 0, 1, 28 - 11 }, { 2, 2, 0 },         /* 256: 2, ..284: 0, 285: 1 */
		{ 2, 2, 0 }, { 0, 1, 15 - 11 }, { 2, 2, 0 },         /* distances 0 and 16: 1 */
	};
	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		put_code(&b, lengths[i].code, lengths[i].len);
		if (lengths[i].len == 1)
			put(&b, lengths[i].extra, 7);
	}
	/* codes: 285 = 0, literal 0 = 10, end = 11; distance 1 = 0, 259 = 1 + 7 extra bits (2) */
	put_code(&b, 2, 2); /* one zero, then 258 more at distance 1 */
	put_code(&b, 0, 1);
	put_code(&b, 0, 1);
	for (uint64_t i = 0; i < k; i++) /* 258 at distance 259: a memcpy for any inflater */
		put(&b, 0u | 1u << 1 | 2u << 2, 9); /* length 285: 0, distance 16: 1, extra: 2 */
	put_code(&b, 3, 2);
	if (b.n)
		put(&b, 0, 8 - b.n);
	uint64_t total = 259 + 258 * k;
	/* CRC-32 of `total` zeros by doubling */
	uLong crc = 0, unit = crc32(0, (const Bytef *)"", 1);
	uint64_t len = 1;
	for (uint64_t t = total; t; t >>= 1, len *= 2) {
		if (t & 1)
			crc = crc32_combine(crc, unit, (z_off_t)len);
		unit = crc32_combine(unit, unit, (z_off_t)len);
	}
	uint8_t tr[8];
	for (int i = 0; i < 4; i++) {
		tr[i] = (uint8_t)(crc >> (8 * i));
		tr[4 + i] = (uint8_t)((uint32_t)total >> (8 * i));
	}
	fwrite(tr, 1, sizeof(tr), f);
	fclose(f);
	return total;
}

Test(cli_list, a_member_over_4_gib_shows_its_true_length_as_gzip_1_12_does)
{
	const char *gz = tu_path(dir, "big.gz");
	uint64_t total = write_zeros_member(gz, 16650000);
	cr_assert_gt(total, 1ull << 32);
	struct stat st;
	cr_assert_eq(stat(gz, &st), 0);
	/* What gzip 1.12 prints for this file (checked by hand: `gzip -l` decompresses it, which
	 * takes 11 to 21 s on the shared CI machine, too long to run here): the true length, not
	 * the trailer's ISIZE (total mod 2^32), and the ratio with the 18 bytes of header and
	 * trailer counted as overhead. */
	char want[512];
	uint64_t packed = (uint64_t)st.st_size - 18;
	snprintf(want, sizeof(want),
		 "%19s %19s  ratio uncompressed_name\n%19llu %19llu %5.1f%% %s/big\n", "compressed",
		 "uncompressed", (unsigned long long)st.st_size, (unsigned long long)total,
		 100.0 * (double)(total - packed) / (double)total, dir);
	cr_assert_eq(cli_run(dir, NULL, "gzip", "-l", gz, NULL), 0, "%s", cli_err(dir));
	char *out = tu_slurp(tu_path(dir, "out"));
	cr_expect_str_eq(out, want);
	free(out);
	/* and the file is a real gzip member of that many zeros */
	cr_expect_eq(tu_sh("gzip -dc '%s' | head -c 100000000 | cmp -s -n 100000000 - /dev/zero",
			   gz),
		     0);
}

/* Where gzip 1.12 slips, -l does not copy it: after trailing garbage gzip prints a stray
 * "(totals)" line instead of the file's, and a zero-padded file is not listed at all. We warn
 * (exit 2) and list the file, and list the padded one. */
Test(cli_list, trailing_garbage_warns_and_zero_padding_is_listed)
{
	cr_assert_eq(tu_sh("cd '%s' && printf hello > g && gzip g && cp g.gz z.gz && "
			   "printf XYZ >> g.gz && head -c 512 /dev/zero >> z.gz",
			   dir),
		     0);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-l", tu_path(dir, "g.gz"), NULL), 2);
	expect_err_contains(dir, "g.gz: decompression OK, trailing garbage ignored");
	char *out = tu_slurp(tu_path(dir, "out"));
	cr_expect(strstr(out, " 5 ") && strstr(out, "/g\n"), "g.gz not listed: '%s'", out);
	free(out);
	cr_expect_eq(cli_run(dir, NULL, "gzip", "-lq", tu_path(dir, "z.gz"), NULL), 0);
	out = tu_slurp(tu_path(dir, "out"));
	cr_expect(strstr(out, " 5 ") && strstr(out, "/z\n"), "z.gz not listed: '%s'", out);
	free(out);
}

/* Our files of several chunks (docs/format.md): -v adds a line on the index; with the index at
 * the end (written to a pipe) the data's length and CRC are shown, not the empty index member's
 * (gzip 1.12 shows 0 and 00000000 there), the same as for the same data with the index in the
 * header. */
Test(cli_list, our_index_is_shown_and_an_index_at_the_end_is_not_the_last_member)
{
	cr_assert_eq(tu_sh("cd '%s' && seq 400000 > s && touch -d '2021-03-04 05:06:07' s && "
			   "'%s' gzip -c -b 64 s > head.gz && cat s | '%s' gzip -c -b 64 | cat > "
			   "tail.gz && touch -d '2022-01-02 03:04:05' head.gz tail.gz",
			   dir, ORY_CLI, ORY_CLI),
		     0);
	cr_assert_eq(cli_run(dir, NULL, "gzip", "-lv", tu_path(dir, "head.gz"), NULL), 0);
	char *head = tu_slurp(tu_path(dir, "out"));
	cr_expect(strstr(head, "(42 chunks of 64 KiB, index in the header: parallel -d, --range)"),
		  "%s", head);
	cr_assert_eq(cli_run(dir, NULL, "gzip", "-lv", tu_path(dir, "tail.gz"), NULL), 0);
	char *tail = tu_slurp(tu_path(dir, "out"));
	cr_expect(strstr(tail, "(42 chunks of 64 KiB, index at the end: parallel -d, --range)"),
		  "%s", tail);
	/* the same method, CRC and date (the lines after the header agree up to the sizes) */
	const char *h = strchr(head, '\n'), *t = strchr(tail, '\n');
	cr_assert(h && t);
	cr_expect_eq(strncmp(h, t, 28), 0, "'%.28s' vs '%.28s'", h, t);
	cr_expect(strstr(tail, " 2688895 "), "the original's length: %s", tail);
	/* without -v: gzip's columns only */
	cr_assert_eq(cli_run(dir, NULL, "gzip", "-lq", tu_path(dir, "head.gz"), NULL), 0);
	char *plain = tu_slurp(tu_path(dir, "out"));
	cr_expect_null(strstr(plain, "chunks"), "%s", plain);
	free(plain);
	free(head);
	free(tail);
}
