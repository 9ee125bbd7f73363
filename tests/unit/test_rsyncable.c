/* SPDX-License-Identifier: MIT */
/* test_rsyncable.c - gzip --rsyncable (ory_gzip_opts.rsyncable): round trips through zlib, the
 * parallel reader and ranges at sizes around chunk windows; the same bytes from a buffer, a file
 * and a pipe and for any number of devices; and an insertion in the middle changes only a few
 * segments' worth of the output, where fixed chunks change everything after it. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "util.h"

#define KiB 1024u
#define RT_CHUNK (256 * KiB)

static struct ory_runtime *rt;
static char *dir;

static struct ory_runtime *runtime(const char *devices)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	o.chunk_size = RT_CHUNK;
	struct ory_runtime *r;
	char err[256];
	cr_assert_eq(ory_runtime_create(&o, &r, err, sizeof(err)), 0, "%s", err);
	return r;
}

static void setup(void)
{
	rt = runtime("cpu:2");
	dir = tu_mkdtemp();
}

static void teardown(void)
{
	ory_runtime_destroy(rt);
	tu_rmtree(dir);
	free(dir);
}

TestSuite(rsyncable, .init = setup, .fini = teardown, .timeout = 300);

static struct ory_gzip_opts opts(int level, bool rsyncable)
{
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = level;
	g.rsyncable = rsyncable;
	return g;
}

static uint8_t *gz_buf(struct ory_runtime *r, const uint8_t *in, size_t len,
		       const struct ory_gzip_opts *g, size_t *gz_len)
{
	size_t cap = ory_gzip_bound(r, len);
	uint8_t *gz = malloc(cap);
	cr_assert_eq(ory_gzip_buf(r, in, len, gz, cap, gz_len, g, NULL), 0, "%s",
		     ory_runtime_errmsg(r));
	return gz;
}

static uint8_t *gz_file(const uint8_t *in, size_t len, const struct ory_gzip_opts *g,
			size_t *gz_len)
{
	const char *ip = tu_path(dir, "plain"), *op = tu_path(dir, "plain.gz");
	cr_assert_eq(tu_write_file(ip, in, len), 0);
	int i = open(ip, O_RDONLY), o = open(op, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert(i >= 0 && o >= 0);
	cr_assert_eq(ory_gzip_fd(rt, i, o, g, NULL), 0, "%s", ory_runtime_errmsg(rt));
	close(i);
	close(o);
	return tu_read_file(op, gz_len);
}

struct feed {
	int fd;
	const uint8_t *p;
	size_t len;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	/* small writes: the reader sees short reads and must still cut at the same places */
	for (size_t off = 0; off < f->len;) {
		size_t n = f->len - off < 3000 ? f->len - off : 3000;
		cr_assert_eq(write(f->fd, f->p + off, n), (ssize_t)n);
		off += n;
	}
	close(f->fd);
	return NULL;
}

static uint8_t *gz_pipe(const uint8_t *in, size_t len, const struct ory_gzip_opts *g,
			size_t *gz_len)
{
	int p[2];
	cr_assert_eq(pipe(p), 0);
	struct feed f = { p[1], in, len };
	pthread_t t;
	cr_assert_eq(pthread_create(&t, NULL, feeder, &f), 0);
	const char *op = tu_path(dir, "pipe.gz");
	int o = open(op, O_RDWR | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(o, 0);
	cr_assert_eq(ory_gzip_fd(rt, p[0], o, g, NULL), 0, "%s", ory_runtime_errmsg(rt));
	pthread_join(t, NULL);
	close(p[0]);
	close(o);
	return tu_read_file(op, gz_len);
}

/* zlib's gunzip of every member. */
static void expect_zlib_reads(const uint8_t *gz, size_t gz_len, const uint8_t *want, size_t len)
{
	uint8_t *out = malloc(len + 1);
	z_stream z = { 0 };
	cr_assert_eq(inflateInit2(&z, 31), Z_OK);
	z.next_in = (uint8_t *)gz;
	z.avail_in = (uInt)gz_len;
	z.next_out = out;
	z.avail_out = (uInt)len + 1;
	int rc;
	while ((rc = inflate(&z, Z_NO_FLUSH)) == Z_STREAM_END && z.avail_in)
		inflateReset(&z);
	cr_expect_eq(rc, Z_STREAM_END, "zlib: %d", rc);
	cr_expect_eq((size_t)(z.next_out - out), len);
	cr_expect_eq(memcmp(out, want, len), 0, "zlib reads other bytes");
	inflateEnd(&z);
	free(out);
}

/* In_len of every index entry (the index is at the end with --rsyncable). */
static size_t index_lens(const uint8_t *gz, size_t n, uint32_t *lens, size_t cap)
{
	if (n < 38 || memcmp(gz + n - 14, "ORYX", 4))
		return 0; /* one chunk: no index */
	uint64_t bytes = 0;
	for (int i = 7; i >= 0; i--)
		bytes = bytes << 8 | gz[n - 38 + 12 + i];
	size_t k = 0;
	for (uint64_t p = n - bytes; p < n;) {
		size_t xlen = gz[p + 10] | (size_t)gz[p + 11] << 8;
		size_t ox = gz[p + 14] | (size_t)gz[p + 15] << 8;
		for (size_t e = 0; e < ox && k < cap; e += 12, k++) {
			const uint8_t *q = gz + p + 16 + e + 4;
			lens[k] = q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
				  (uint32_t)q[3] << 24;
		}
		p += 12 + xlen + 10;
	}
	return k;
}

Test(rsyncable, round_trips_through_zlib_the_parallel_reader_and_ranges_around_windows)
{
	size_t sizes[] = { 0, 1, 64 * KiB, RT_CHUNK - 1, RT_CHUNK, RT_CHUNK + 1,
			   3 * RT_CHUNK + 17, 2 << 20 };
	int levels[] = { 1, 6 };
	for (size_t li = 0; li < 2; li++) {
		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			size_t len = sizes[si];
			uint8_t *in = si & 1 ? tu_text(len, si) : tu_random(len, si);
			struct ory_gzip_opts g = opts(levels[li], true);
			size_t gz_len;
			uint8_t *gz = gz_buf(rt, in, len, &g, &gz_len);
			expect_zlib_reads(gz, gz_len, in, len);

			uint8_t *out = malloc(len + 1);
			size_t out_len = 0;
			cr_expect_eq(ory_gunzip_buf(rt, gz, gz_len, out, len + 1, &out_len, NULL, NULL),
				     0, "%s", ory_runtime_errmsg(rt));
			cr_expect(out_len == len && memcmp(out, in, len) == 0, "size %zu", len);

			const char *path = tu_path(dir, "r.gz");
			cr_assert_eq(tu_write_file(path, gz, gz_len), 0);
			int fd = open(path, O_RDONLY);
			struct ory_gzip_info info = { .struct_size = sizeof(info) };
			cr_assert_eq(ory_gzip_info(fd, &info, NULL, 0), 0);
			if (len > RT_CHUNK) {
				cr_expect(info.indexed && info.index_at_end && info.chunks > 1,
					  "size %zu", len);
				cr_expect_leq(info.chunk_size, RT_CHUNK);
				/* ranges across the cuts, wherever they are */
				uint64_t offs[] = { 0, RT_CHUNK - RT_CHUNK / 8 - 5, RT_CHUNK - 3,
						    len - 100 };
				for (int k = 0; k < 4; k++) {
					size_t got = 0;
					cr_expect_eq(ory_gunzip_range(rt, fd, offs[k], 70000, out,
								      len + 1, &got, NULL),
						     0, "%s", ory_runtime_errmsg(rt));
					size_t want = len - offs[k] < 70000 ? len - offs[k] : 70000;
					cr_expect(got == want && !memcmp(out, in + offs[k], want),
						  "range %llu of %zu",
						  (unsigned long long)offs[k], len);
				}
			}
			close(fd);
			free(out);
			free(gz);
			free(in);
		}
	}
}

Test(rsyncable, same_bytes_from_a_buffer_a_file_a_pipe_and_for_one_or_two_cpus)
{
	size_t len = 5 * RT_CHUNK + 1234;
	uint8_t *in = tu_text(len, 42);
	struct ory_gzip_opts g = opts(6, true);
	size_t a_len, b_len, c_len, d_len;
	uint8_t *a = gz_buf(rt, in, len, &g, &a_len);
	uint8_t *b = gz_file(in, len, &g, &b_len);
	uint8_t *c = gz_pipe(in, len, &g, &c_len);
	struct ory_runtime *one = runtime("cpu:1");
	uint8_t *d = gz_buf(one, in, len, &g, &d_len);
	ory_runtime_destroy(one);
	cr_expect(a_len == b_len && !memcmp(a, b, a_len), "buffer and file differ");
	cr_expect(a_len == c_len && !memcmp(a, c, a_len), "buffer and pipe differ");
	cr_expect(a_len == d_len && !memcmp(a, d, a_len), "cpu:2 and cpu:1 differ");
	uint32_t lens[64];
	cr_expect_gt(index_lens(a, a_len, lens, 64), 5);
	free(a);
	free(b);
	free(c);
	free(d);
	free(in);
}

Test(rsyncable, simulated_cards_cut_where_the_cpu_does_and_their_output_reads_back)
{
	size_t len = 4 * RT_CHUNK + 99;
	uint8_t *in = tu_text(len, 7);
	struct ory_gzip_opts g = opts(6, true);
	size_t a_len, b_len, c_len;
	uint8_t *a = gz_buf(rt, in, len, &g, &a_len);
	struct ory_runtime *s1 = runtime("sim:1"), *s3 = runtime("sim:3");
	uint8_t *b = gz_buf(s1, in, len, &g, &b_len);
	uint8_t *c = gz_buf(s3, in, len, &g, &c_len);
	ory_runtime_destroy(s1);
	ory_runtime_destroy(s3);
	/* a card's deflate is its own (stored blocks here), but one kind gives one output and
	 * every kind cuts the chunks at the same places */
	cr_expect(b_len == c_len && !memcmp(b, c, b_len), "sim:1 and sim:3 differ");
	uint32_t la[64], lb[64];
	size_t na = index_lens(a, a_len, la, 64), nb = index_lens(b, b_len, lb, 64);
	cr_expect(na > 1 && na == nb && !memcmp(la, lb, na * sizeof(*la)), "cuts differ");
	expect_zlib_reads(b, b_len, in, len);
	uint8_t *out = malloc(len);
	size_t out_len;
	cr_expect_eq(ory_gunzip_buf(rt, b, b_len, out, len, &out_len, NULL, NULL), 0);
	cr_expect(out_len == len && !memcmp(out, in, len));
	free(out);
	free(a);
	free(b);
	free(c);
	free(in);
}

/* Bytes of the data member that differ between two outputs: all but the common start and the
 * common end, the trailer and index (which name the new CRC) left out. */
static size_t changed_bytes(const uint8_t *a, size_t an, const uint8_t *b, size_t bn)
{
	uint32_t l[256];
	size_t tail_a = an, tail_b = bn;
	/* the data member ends 8 bytes (CRC, ISIZE) before the index members */
	uint64_t ia = 0, ib = 0;
	if (index_lens(a, an, l, 256) && index_lens(b, bn, l, 256))
		for (int i = 7; i >= 0; i--) {
			ia = ia << 8 | a[an - 38 + 12 + i];
			ib = ib << 8 | b[bn - 38 + 12 + i];
		}
	tail_a -= ia + 8;
	tail_b -= ib + 8;
	size_t pre = 0, suf = 0;
	while (pre < tail_a && pre < tail_b && a[pre] == b[pre])
		pre++;
	while (suf < tail_a - pre && suf < tail_b - pre && a[tail_a - 1 - suf] == b[tail_b - 1 - suf])
		suf++;
	return tail_b - pre - suf;
}

static size_t edit_cost(bool rsyncable, size_t *gz_size)
{
	size_t len = 16 * RT_CHUNK, at = len / 2 + 12345;
	uint8_t *in = tu_text(len + 100, 99);
	uint8_t *ed = malloc(len + 100);
	memcpy(ed, in, at);
	for (int i = 0; i < 100; i++)
		ed[at + i] = (uint8_t)('a' + i % 26);
	memcpy(ed + at + 100, in + at, len - at);
	struct ory_gzip_opts g = opts(6, rsyncable);
	size_t a_len, b_len;
	uint8_t *a = gz_buf(rt, in, len, &g, &a_len);
	uint8_t *b = gz_buf(rt, ed, len + 100, &g, &b_len);
	size_t n = changed_bytes(a, a_len, b, b_len);
	*gz_size = b_len;
	free(a);
	free(b);
	free(ed);
	free(in);
	return n;
}

Test(rsyncable, an_insertion_in_the_middle_changes_only_the_bytes_near_it)
{
	size_t gz_size, fixed_size;
	size_t n = edit_cost(true, &gz_size), fixed = edit_cost(false, &fixed_size);
	/* a segment holds at most 64 KiB of input: its deflate plus the next one's, should the
	 * edit move a cut */
	cr_expect_leq(n, 2 * 65536, "%zu bytes of %zu changed", n, gz_size);
	/* fixed chunks: everything after the edit moves (the test can tell) */
	cr_expect_gt(fixed, fixed_size / 3, "fixed chunks: %zu of %zu changed", fixed, fixed_size);
}

Test(rsyncable, is_refused_with_primed_chunks_a_dictionary_or_a_stream)
{
	uint8_t in[100] = { 1 }, out[4096];
	size_t out_len;
	struct ory_gzip_opts g = opts(2, true);
	g.independent = false;
	cr_expect_eq(ory_gzip_buf(rt, in, sizeof(in), out, sizeof(out), &out_len, &g, NULL),
		     -EINVAL);
	cr_expect(strstr(ory_runtime_errmsg(rt), "rsyncable"), "%s", ory_runtime_errmsg(rt));
	g = opts(2, true);
	g.framing = ORY_FRAMING_RAW;
	g.dict = in;
	g.dict_len = sizeof(in);
	cr_expect_eq(ory_gzip_buf(rt, in, sizeof(in), out, sizeof(out), &out_len, &g, NULL),
		     -EINVAL);
	g = opts(6, true);
	struct ory_stream_opts so;
	ory_stream_opts_init(&so);
	so.gzip = &g;
	struct ory_stream *s = NULL;
	cr_expect_eq(ory_stream_create(rt, &so, &s), -ENOTSUP);
	cr_expect_null(s);
}
