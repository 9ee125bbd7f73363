/* SPDX-License-Identifier: MIT */
/* test_gunzip_header.c - gzip member headers as GNU gzip reads them: any header arriving in any
 * pieces (a pipe), of any length, with its CRC (FHCRC) checked; reserved flag bits refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "util.h"

static struct ory_runtime *rt;

static void setup(void)
{
	rt = tu_runtime("cpu:1", 0);
}

static void teardown(void)
{
	ory_runtime_destroy(rt);
}

TestSuite(gunzip_header, .init = setup, .fini = teardown, .timeout = 60);

/* A zlib member of `in` with a header CRC, a name of name_len bytes and a comment; caller
 * frees. */
static uint8_t *member_with_hcrc(const uint8_t *in, size_t len, size_t name_len, size_t *out_len)
{
	char *name = malloc(name_len + 1);
	memset(name, 'n', name_len);
	name[name_len] = '\0';
	static uint8_t extra[] = "XY\x04\x00"
				 "abcd";
	gz_header h = {.extra = extra,
		       .extra_len = 8,
		       .name = (Bytef *)name,
		       .comment = (Bytef *)"a comment",
		       .hcrc = 1,
		       .time = 42};
	size_t cap = len + name_len + 1024;
	uint8_t *out = malloc(cap);
	z_stream z;
	memset(&z, 0, sizeof(z));
	cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY), Z_OK);
	cr_assert_eq(deflateSetHeader(&z, &h), Z_OK);
	z.next_in = (uint8_t *)in;
	z.avail_in = (uInt)len;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	*out_len = z.total_out;
	deflateEnd(&z);
	free(name);
	return out;
}

/* The writer end of a pipe: `first` bytes, a pause, then the rest in `piece`-byte writes. */
struct feed {
	int fd;
	const uint8_t *data;
	size_t len, first, piece;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	struct timespec pause = {0, 20 * 1000 * 1000};
	size_t done = 0;
	while (done < f->len) {
		/* pieces while the header arrives, then the rest at once (7-byte pieces of the
		 * whole member, 20 ms apart, took a minute on a loaded host) */
		size_t n = done == 0 ? f->first : done < 256 ? f->piece : f->len;
		if (n > f->len - done)
			n = f->len - done;
		ssize_t w = write(f->fd, f->data + done, n);
		if (w <= 0)
			break;
		done += (size_t)w;
		nanosleep(&pause, NULL);
	}
	close(f->fd);
	return NULL;
}

/* Decompress gz, arriving through a pipe in pieces, into a memfd; returns the code and the
 * output in *out (caller frees). */
static int gunzip_pieces(const uint8_t *gz, size_t len, size_t first, size_t piece, uint8_t **out,
			 size_t *out_len)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct feed f = {p[1], gz, len, first, piece};
	pthread_t t;
	pthread_create(&t, NULL, feeder, &f);
	int mfd = memfd_create("out", 0);
	struct ory_gunzip_result res = {.struct_size = sizeof(res)};
	int rc = ory_gunzip_fd(rt, p[0], mfd, NULL, &res);
	pthread_join(t, NULL);
	close(p[0]);
	*out_len = res.bytes_out;
	*out = malloc(res.bytes_out + 1);
	cr_assert_eq(pread(mfd, *out, res.bytes_out, 0), (ssize_t)res.bytes_out);
	close(mfd);
	return rc;
}

static void expect_pieces_decode(size_t name_len, size_t first, size_t piece)
{
	size_t len = 100000, gz_len, out_len;
	uint8_t *in = tu_text(len, 11), *out;
	uint8_t *gz = member_with_hcrc(in, len, name_len, &gz_len);
	int rc = gunzip_pieces(gz, gz_len, first, piece, &out, &out_len);
	cr_expect_eq(rc, 0, "%s", ory_runtime_errmsg(rt));
	cr_expect(out_len == len && !memcmp(out, in, len), "%zu bytes out, want %zu", out_len, len);
	free(out);
	free(gz);
	free(in);
}

Test(gunzip_header, a_header_crc_whose_header_arrives_in_two_reads_is_accepted)
{
	/* (head -c 5 h.gz; sleep .2; tail -c +6 h.gz) | gunzip -t */
	expect_pieces_decode(20, 5, 1 << 20);
}

Test(gunzip_header, a_header_arriving_a_few_bytes_at_a_time_is_accepted)
{
	expect_pieces_decode(20, 3, 7);
}

Test(gunzip_header, a_header_of_more_than_a_mebibyte_with_a_crc_is_accepted)
{
	expect_pieces_decode((3u << 20) / 2, 11, 1 << 16);
}

static int gunzip_buf(uint8_t *gz, size_t len)
{
	int fd = memfd_create("in", 0);
	cr_assert_eq(write(fd, gz, len), (ssize_t)len);
	lseek(fd, 0, SEEK_SET);
	int rc = ory_gunzip_fd(rt, fd, -1, NULL, NULL);
	close(fd);
	return rc;
}

Test(gunzip_header, a_wrong_header_crc_is_refused)
{
	size_t len = 1000, gz_len;
	uint8_t *in = tu_text(len, 12);
	uint8_t *gz = member_with_hcrc(in, len, 20, &gz_len);
	/* 10 fixed bytes, XLEN and 8 extra bytes, the name and its NUL, the comment and its NUL */
	size_t at = 10 + 2 + 8 + 21 + 10;
	gz[at] ^= 1;
	cr_expect_eq(gunzip_buf(gz, gz_len), -EBADMSG);
	cr_expect(strstr(ory_runtime_errmsg(rt), "header checksum"), "%s", ory_runtime_errmsg(rt));
	free(gz);
	free(in);
}

Test(gunzip_header, reserved_flag_bits_are_refused)
{
	size_t len = 1000, gz_len;
	uint8_t *in = tu_text(len, 13);
	z_stream z;
	memset(&z, 0, sizeof(z));
	uint8_t gz[2000];
	deflateInit2(&z, 6, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY);
	z.next_in = in;
	z.avail_in = (uInt)len;
	z.next_out = gz;
	z.avail_out = sizeof(gz);
	cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	gz_len = z.total_out;
	deflateEnd(&z);
	cr_assert_eq(gunzip_buf(gz, gz_len), 0);
	for (int bit = 5; bit < 8; bit++) {
		gz[3] = (uint8_t)(1u << bit);
		cr_expect_eq(gunzip_buf(gz, gz_len), -EBADMSG, "FLG bit %d accepted", bit);
		cr_expect(strstr(ory_runtime_errmsg(rt), "not supported"), "%s",
			  ory_runtime_errmsg(rt));
	}
	free(in);
}
