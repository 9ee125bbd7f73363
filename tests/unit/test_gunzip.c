/* SPDX-License-Identifier: MIT */
/* test_gunzip.c - decompression and testing of any gzip data: other tools' headers, several
 * members, padding, garbage, and every kind of corruption GNU gzip reports. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "util.h"

static struct ory_runtime *rt;
static char *dir;

static void setup(void)
{
	rt = tu_runtime("cpu:1", 0);
	dir = tu_mkdtemp();
}

static void teardown(void)
{
	ory_runtime_destroy(rt);
	tu_rmtree(dir);
	free(dir);
}

TestSuite(gunzip, .init = setup, .fini = teardown);

/* gzip member made by zlib, with every optional header field when `fancy`. */
static size_t zlib_member(const uint8_t *in, size_t len, int level, bool fancy, uint8_t *out,
			  size_t cap)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	deflateInit2(&z, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
	gz_header h;
	memset(&h, 0, sizeof(h));
	if (fancy) {
		static uint8_t extra[] = "XYextra-field";
		h.extra = extra;
		h.extra_len = sizeof(extra);
		h.name = (Bytef *)"a-rather-long-original-file-name.txt";
		h.comment = (Bytef *)"a comment";
		h.hcrc = 1;
		h.time = 42;
		deflateSetHeader(&z, &h);
	}
	z.next_in = (uint8_t *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t n = z.total_out;
	deflateEnd(&z);
	return n;
}

/* Decompress `data` (or test it when !to_file); *out gets the output when to_file. */
static int gunzip(const uint8_t *data, size_t len, bool to_file, uint8_t **out, size_t *out_len,
		  struct ory_gunzip_result *res)
{
	const char *ip = tu_path(dir, "in.gz"), *op = tu_path(dir, "out");
	tu_write_file(ip, data, len);
	int in = open(ip, O_RDONLY);
	int fd = to_file ? open(op, O_WRONLY | O_CREAT | O_TRUNC, 0644) : -1;
	res->struct_size = sizeof(*res);
	int rc = ory_gunzip_fd(rt, in, fd, NULL, res);
	close(in);
	if (fd >= 0)
		close(fd);
	if (to_file && out)
		*out = tu_read_file(op, out_len);
	return rc;
}

static void expect_roundtrip(const uint8_t *gzdata, size_t gzlen, const uint8_t *want,
			     size_t want_len, unsigned members)
{
	uint8_t *out = NULL;
	size_t n = 0;
	struct ory_gunzip_result res;
	int rc = gunzip(gzdata, gzlen, true, &out, &n, &res);
	cr_assert_eq(rc, 0, "gunzip: %s", ory_runtime_errmsg(rt));
	cr_expect_eq(n, want_len);
	cr_expect_eq(memcmp(out, want, want_len), 0);
	cr_expect_eq(res.members, members);
	cr_expect_not(res.trailing_garbage);
	cr_expect_eq(res.bytes_out, want_len);
	free(out);
}

Test(gunzip, reads_zlib_members_with_extra_name_comment_and_header_crc)
{
	size_t len = 3 * 1000 * 1000;
	uint8_t *in = tu_text(len, 1);
	uint8_t *gz = malloc(len + 1000);
	for (int fancy = 0; fancy < 2; fancy++) {
		size_t n = zlib_member(in, len, fancy ? 9 : 1, fancy, gz, len + 1000);
		expect_roundtrip(gz, n, in, len, 1);
	}
	free(gz);
	free(in);
}

Test(gunzip, concatenated_members_and_empty_members_decompress_in_order)
{
	uint8_t *a = tu_random(100000, 2), *b = tu_text(2000000, 3);
	uint8_t *gz = malloc(3000000);
	size_t n = zlib_member(a, 100000, 6, false, gz, 3000000);
	n += zlib_member(b, 0, 6, true, gz + n, 3000000 - n);
	n += zlib_member(b, 2000000, 1, true, gz + n, 3000000 - n);
	uint8_t *want = malloc(2100000);
	memcpy(want, a, 100000);
	memcpy(want + 100000, b, 2000000);
	expect_roundtrip(gz, n, want, 2100000, 3);
	free(want);
	free(gz);
	free(a);
	free(b);
}

Test(gunzip, reads_its_own_output_member_by_member_with_many_chunks)
{
	struct ory_runtime *c = tu_runtime("cpu:2", 32 * 1024);
	size_t len = 5 * 1000 * 1000 + 3;
	uint8_t *in = tu_text(len, 9);
	size_t cap = 2 * ory_gzip_bound(c, len), n1, n2;
	uint8_t *gz = malloc(cap);
	struct ory_gzip_opts go;
	ory_gzip_opts_init(&go);
	go.level = 1;
	cr_assert_eq(ory_gzip_buf(c, in, len, gz, cap, &n1, &go, NULL), 0);
	go.level = 9;
	cr_assert_eq(ory_gzip_buf(c, in, 1000, gz + n1, cap - n1, &n2, &go, NULL), 0);
	uint8_t *want = malloc(len + 1000);
	memcpy(want, in, len);
	memcpy(want + len, in, 1000);
	expect_roundtrip(gz, n1 + n2, want, len + 1000, 2);
	free(want);
	free(gz);
	free(in);
	ory_runtime_destroy(c);
}

Test(gunzip, zero_padding_is_accepted_silently_and_other_trailing_bytes_are_flagged)
{
	uint8_t in[5000];
	memset(in, 'q', sizeof(in));
	uint8_t gz[20000];
	size_t n = zlib_member(in, sizeof(in), 6, false, gz, sizeof(gz));
	memset(gz + n, 0, 3000);
	struct ory_gunzip_result res;
	cr_expect_eq(gunzip(gz, n + 3000, false, NULL, NULL, &res), 0);
	cr_expect_not(res.trailing_garbage);
	memcpy(gz + n + 100, "junk", 4);
	cr_expect_eq(gunzip(gz, n + 3000, false, NULL, NULL, &res), 0);
	cr_expect(res.trailing_garbage);
	cr_expect_eq(res.members, 1);
}

static void expect_bad(const uint8_t *data, size_t len, const char *why)
{
	struct ory_gunzip_result res;
	int rc = gunzip(data, len, false, NULL, NULL, &res);
	cr_expect_eq(rc, -EBADMSG, "rc %d for '%s'", rc, why);
	cr_expect(strstr(ory_runtime_errmsg(rt), why), "message '%s', expected '%s'",
		  ory_runtime_errmsg(rt), why);
	cr_expect_eq(ory_runtime_error_origin(rt), ORY_ORIGIN_INPUT);
}

Test(gunzip, empty_input_and_non_gzip_data_are_rejected_like_gnu_gzip_does)
{
	expect_bad((const uint8_t *)"", 0, "unexpected end of file");
	expect_bad((const uint8_t *)"hello world, not gzip", 21, "not in gzip format");
	expect_bad((const uint8_t *)"\x1f\x8b\x07\x00\x00\x00\x00\x00\x00\x03xx", 12,
		   "unknown compression method");
}

Test(gunzip, a_flipped_crc_or_length_byte_is_reported)
{
	uint8_t *in = tu_text(100000, 4);
	uint8_t gz[120000];
	size_t n = zlib_member(in, 100000, 6, false, gz, sizeof(gz));
	for (size_t k = 8; k >= 1; k--) {
		gz[n - k] ^= 0x10;
		expect_bad(gz, n, "crc or length error");
		gz[n - k] ^= 0x10;
	}
	free(in);
}

Test(gunzip, truncation_anywhere_is_an_unexpected_end_of_file)
{
	uint8_t *in = tu_random(3000, 5);
	uint8_t gz[8000];
	size_t n = zlib_member(in, 3000, 6, true, gz, sizeof(gz));
	for (size_t cut = 1; cut < n; cut += (cut < 80 || n - cut < 20) ? 1 : 97) {
		struct ory_gunzip_result res;
		int rc = gunzip(gz, cut, false, NULL, NULL, &res);
		cr_expect_eq(rc, -EBADMSG, "cut at %zu of %zu: rc %d", cut, n, rc);
		cr_expect(strstr(ory_runtime_errmsg(rt), "unexpected end of file"),
			  "cut at %zu of %zu: %s", cut, n, ory_runtime_errmsg(rt));
	}
	free(in);
}

Test(gunzip, corrupt_deflate_data_is_reported_not_looped_on)
{
	uint8_t *in = tu_text(200000, 6);
	uint8_t gz[250000];
	size_t n = zlib_member(in, 200000, 6, false, gz, sizeof(gz));
	unsigned bad = 0;
	for (size_t pos = 10; pos < n - 8; pos += 4099) {
		uint8_t save = gz[pos];
		gz[pos] ^= 0xff;
		struct ory_gunzip_result res;
		bad += gunzip(gz, n, false, NULL, NULL, &res) == -EBADMSG;
		gz[pos] = save;
	}
	cr_expect_eq(bad, (n - 18 + 4098) / 4099, "every corrupted stream must fail");
	free(in);
}

Test(gunzip, a_write_error_is_reported_on_the_output_side)
{
	uint8_t *in = tu_text(3000000, 7);
	uint8_t *gz = malloc(3000000);
	size_t n = zlib_member(in, 3000000, 1, false, gz, 3000000);
	const char *ip = tu_path(dir, "x.gz");
	tu_write_file(ip, gz, n);
	int fd = open(ip, O_RDONLY), full = open("/dev/full", O_WRONLY);
	cr_expect_eq(ory_gunzip_fd(rt, fd, full, NULL, NULL), -ENOSPC);
	cr_expect_eq(ory_runtime_error_origin(rt), ORY_ORIGIN_OUTPUT);
	close(fd);
	close(full);
	free(gz);
	free(in);
}
