/* SPDX-License-Identifier: MIT */
/* test_stream.c - compression streams: without flushes the bytes of ory_gzip_fd on the same data,
 * a flush makes everything written so far decodable, pulling gives the callback's bytes, and
 * failures end the stream with a reason. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "util.h"

#define KiB 1024u

static struct ory_runtime *rt;

static void setup(void)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "cpu:2";
	o.chunk_size = 64 * KiB;
	char err[256];
	cr_assert_eq(ory_runtime_create(&o, &rt, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	ory_runtime_destroy(rt);
}

TestSuite(stream, .init = setup, .fini = teardown, .timeout = 120);

struct sink {
	uint8_t *buf;
	size_t len, cap;
	int fail_after; /* calls before the callback fails; -1: never */
};

static int collect(void *arg, const void *data, size_t len)
{
	struct sink *k = arg;
	if (k->fail_after == 0)
		return -ENOSPC;
	if (k->fail_after > 0)
		k->fail_after--;
	if (k->len + len > k->cap) {
		k->cap = (k->len + len) * 2;
		k->buf = realloc(k->buf, k->cap);
	}
	memcpy(k->buf + k->len, data, len);
	k->len += len;
	return 0;
}

/* What ory_gzip_fd writes for in[0..len) under g, read from a pipe: a stream, too, does not
 * know the input's size, so the index goes at the end in both (docs/format.md). */
static uint8_t *via_fd(const uint8_t *in, size_t len, const struct ory_gzip_opts *g, size_t *n)
{
	struct tu_pipe p;
	int fd = tu_pipe_open(&p, in, len), ofd = memfd_create("out", 0);
	cr_assert(ofd >= 0);
	cr_assert_eq(ory_gzip_fd(rt, fd, ofd, g, NULL), 0, "%s", ory_runtime_errmsg(rt));
	tu_pipe_join(&p);
	close(fd);
	*n = (size_t)lseek(ofd, 0, SEEK_END);
	uint8_t *out = malloc(*n + 1);
	cr_assert_eq(pread(ofd, out, *n, 0), (ssize_t)*n);
	close(ofd);
	return out;
}

/* Write in[] in pieces of random sizes through a callback stream. */
static struct sink stream_all(const uint8_t *in, size_t len, const struct ory_gzip_opts *g,
			      unsigned seed, struct ory_job_stats *st)
{
	struct sink k = { .fail_after = -1 };
	struct ory_stream_opts so;
	ory_stream_opts_init(&so);
	so.gzip = g;
	so.out = collect;
	so.out_arg = &k;
	so.depth = 3;
	struct ory_stream *s;
	cr_assert_eq(ory_stream_create(rt, &so, &s), 0);
	for (size_t off = 0; off < len;) {
		size_t n = 1 + (size_t)rand_r(&seed) % (90 * KiB);
		n = n > len - off ? len - off : n;
		cr_assert_eq(ory_stream_write(s, in + off, n), (long)n, "%s", ory_stream_errmsg(s));
		off += n;
	}
	cr_assert_eq(ory_stream_finish(s, st), 0, "%s", ory_stream_errmsg(s));
	ory_stream_destroy(s);
	return k;
}

/* Sizes: several chunks; one short chunk and exactly one chunk (at level 6 they end in
 * libdeflate's final block, gzip_chunk_ends: a stream holds its full first chunk to know). */
Test(stream, without_flushes_the_bytes_equal_gzip_fd_of_a_pipe_for_every_framing_and_level)
{
	size_t lens[] = { 700 * KiB + 77, 1000, 64 * KiB };
	uint8_t *in = tu_text(lens[0], 3);
	int levels[] = { 1, 3, 6 };
	enum ory_framing framings[] = { ORY_FRAMING_GZIP, ORY_FRAMING_ZLIB, ORY_FRAMING_RAW };
	for (int f = 0; f < 3 * 3; f++) {
		size_t len = lens[f / 3];
		for (int l = 0; l < 3; l++) {
			struct ory_gzip_opts g;
			ory_gzip_opts_init(&g);
			g.level = levels[l];
			g.framing = framings[f % 3];
			g.name = f % 3 == 0 ? "name.txt" : NULL;
			g.mtime = 12345;
			size_t want_len;
			uint8_t *want = via_fd(in, len, &g, &want_len);
			struct ory_job_stats st = { .struct_size = sizeof(st) };
			struct sink k = stream_all(in, len, &g, (unsigned)(f * 3 + l), &st);
			cr_expect_eq(k.len, want_len, "framing %d level %d, %zu bytes", f % 3,
				     levels[l], len);
			cr_expect(k.len == want_len && !memcmp(k.buf, want, want_len),
				  "framing %d level %d, %zu bytes: stream bytes differ from "
				  "ory_gzip_fd's", f % 3, levels[l], len);
			cr_expect_eq(st.bytes_in, len);
			cr_expect_eq(st.bytes_out, want_len);
			free(k.buf);
			free(want);
		}
	}
	free(in);
}

Test(stream, a_flush_makes_everything_written_so_far_decodable)
{
	struct sink k = { .fail_after = -1 };
	struct ory_stream_opts so;
	ory_stream_opts_init(&so);
	so.out = collect;
	so.out_arg = &k;
	struct ory_stream *s;
	cr_assert_eq(ory_stream_create(rt, &so, &s), 0);
	uint8_t *in = tu_text(100 * KiB, 9);
	cr_assert_eq(ory_stream_write(s, in, 5000), 5000);
	cr_assert_eq(ory_stream_flush(s), 0);
	/* zlib decodes the 5000 bytes from what came out so far, without the trailer */
	z_stream z = { 0 };
	cr_assert_eq(inflateInit2(&z, 16 + 15), Z_OK);
	uint8_t got[8000];
	z.next_in = k.buf;
	z.avail_in = (uInt)k.len;
	z.next_out = got;
	z.avail_out = sizeof(got);
	int rc = inflate(&z, Z_SYNC_FLUSH);
	cr_expect(rc == Z_OK || rc == Z_BUF_ERROR, "inflate: %d", rc);
	cr_expect_eq(z.total_out, 5000);
	cr_expect_eq(memcmp(got, in, 5000), 0);
	inflateEnd(&z);
	cr_assert_eq(ory_stream_write(s, in + 5000, 100 * KiB - 5000), 100 * KiB - 5000);
	cr_assert_eq(ory_stream_finish(s, NULL), 0);
	char why[256];
	cr_expect(tu_gzip_is_member_of(k.buf, k.len, in, 100 * KiB, why, sizeof(why)), "%s", why);
	ory_stream_destroy(s);
	free(in);
	free(k.buf);
}

/* A flushed chunk cannot end the stream (more may follow): with nothing after it, the
 * trailer still ends it, though the input was one short chunk. */
Test(stream, a_short_stream_flushed_then_finished_is_one_member)
{
	uint8_t *in = tu_text(5000, 10);
	for (int level = 1; level <= 9; level += 4) {
		struct sink k = { .fail_after = -1 };
		struct ory_gzip_opts g;
		ory_gzip_opts_init(&g);
		g.level = level;
		struct ory_stream_opts so;
		ory_stream_opts_init(&so);
		so.gzip = &g;
		so.out = collect;
		so.out_arg = &k;
		struct ory_stream *s;
		cr_assert_eq(ory_stream_create(rt, &so, &s), 0);
		cr_assert_eq(ory_stream_write(s, in, 5000), 5000);
		cr_assert_eq(ory_stream_flush(s), 0);
		cr_assert_eq(ory_stream_finish(s, NULL), 0);
		char why[256];
		cr_expect(tu_gzip_is_member_of(k.buf, k.len, in, 5000, why, sizeof(why)),
			  "level %d: %s", level, why);
		ory_stream_destroy(s);
		free(k.buf);
	}
	free(in);
}

Test(stream, pulling_gives_the_bytes_the_callback_gets)
{
	size_t len = 500 * KiB;
	uint8_t *in = tu_random(len, 4);
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = 1;
	struct sink want = stream_all(in, len, &g, 1, NULL);
	struct ory_stream_opts so;
	ory_stream_opts_init(&so);
	so.gzip = &g;
	so.depth = 2;
	struct ory_stream *s;
	cr_assert_eq(ory_stream_create(rt, &so, &s), 0);
	uint8_t *out = malloc(2 * len);
	size_t got = 0, off = 0;
	while (off < len) {
		long n = ory_stream_write(s, in + off, len - off < 40 * KiB ? len - off : 40 * KiB);
		cr_assert_geq(n, 0, "%s", ory_stream_errmsg(s));
		off += (size_t)n;
		if (n == 0) { /* full: read what is ready */
			long r = ory_stream_read(s, out + got, 2 * len - got);
			cr_assert_gt(r, 0, "a full stream must have output to read");
			got += (size_t)r;
		}
	}
	cr_assert_eq(ory_stream_finish(s, NULL), 0);
	long r;
	while ((r = ory_stream_read(s, out + got, 2 * len - got)) > 0)
		got += (size_t)r;
	cr_expect_eq(r, 0);
	cr_expect_eq(got, want.len);
	cr_expect(got == want.len && !memcmp(out, want.buf, got), "pulled bytes differ");
	ory_stream_destroy(s);
	free(out);
	free(in);
	free(want.buf);
}

Test(stream, an_empty_stream_is_an_empty_member)
{
	struct sink k = stream_all(NULL, 0, NULL, 0, NULL);
	char why[256];
	cr_expect(tu_gzip_is_member_of(k.buf, k.len, (const uint8_t *)"", 0, why, sizeof(why)),
		  "%s", why);
	free(k.buf);
}

Test(stream, a_failing_output_callback_fails_the_stream)
{
	struct sink k = { .fail_after = 1 };
	struct ory_stream_opts so;
	ory_stream_opts_init(&so);
	so.out = collect;
	so.out_arg = &k;
	struct ory_stream *s;
	cr_assert_eq(ory_stream_create(rt, &so, &s), 0);
	uint8_t *in = tu_text(300 * KiB, 2);
	long n = ory_stream_write(s, in, 300 * KiB);
	int rc = n < 0 ? (int)n : ory_stream_finish(s, NULL);
	cr_expect_eq(rc, -ENOSPC);
	cr_expect(strstr(ory_stream_errmsg(s), "output"), "%s", ory_stream_errmsg(s));
	ory_stream_destroy(s);
	free(in);
	free(k.buf);
}

Test(stream, bad_options_are_einval)
{
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = 0;
	struct ory_stream_opts so;
	ory_stream_opts_init(&so);
	so.gzip = &g;
	struct ory_stream *s = (void *)1;
	cr_expect_eq(ory_stream_create(rt, &so, &s), -EINVAL);
	cr_expect_null(s);
	g.level = 1;
	g.chunk_size = 2 << 20; /* more than the runtime's */
	cr_expect_eq(ory_stream_create(rt, &so, &s), -EINVAL);
}
