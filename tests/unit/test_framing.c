/* SPDX-License-Identifier: MIT */
/* test_framing.c - what requests produce besides gzip: zlib and raw framing (read back by zlib),
 * preset dictionaries, pieces that concatenate into the whole's bytes (what a Dask worker
 * sends), CRC-32 only, iovec and file-range inputs, buffers decompressed by ory_gunzip_buf,
 * cpu placement. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "util.h"

#define KiB 1024u
#define CHUNK (64 * KiB)

static struct ory_runtime *rt;

static void setup(void)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "cpu:2";
	o.chunk_size = CHUNK;
	char err[256];
	cr_assert_eq(ory_runtime_create(&o, &rt, err, sizeof(err)), 0, "%s", err);
}

static void teardown(void)
{
	ory_runtime_destroy(rt);
}

TestSuite(framing, .init = setup, .fini = teardown, .timeout = 120);

/* One request, synchronously, through a queue. */
static int run(struct ory_request *req)
{
	struct ory_queue *q;
	cr_assert_eq(ory_queue_create(rt, &q), 0);
	int rc = ory_submit(rt, q, req);
	if (rc == 0) {
		struct ory_request *got;
		cr_assert_eq(ory_queue_poll(q, &got, 1, -1), 1);
		rc = req->status;
	}
	ory_queue_destroy(q);
	return rc;
}

static size_t squeeze(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
		       const struct ory_gzip_opts *g)
{
	struct ory_request req;
	ory_request_init(&req, ORY_OP_DEFLATE);
	req.in = in;
	req.in_len = len;
	req.out = out;
	req.out_cap = cap;
	req.gzip = g;
	cr_assert_eq(run(&req), 0, "%s", req.errmsg);
	return req.bytes_out;
}

/* zlib's inflate with windowBits wbits (and dict) must give back exactly want. */
static void expect_inflates(const uint8_t *z, size_t zlen, int wbits, const uint8_t *dict,
			    size_t dict_len, const uint8_t *want, size_t want_len)
{
	z_stream s = { 0 };
	cr_assert_eq(inflateInit2(&s, wbits), Z_OK);
	uint8_t *out = malloc(want_len + 16);
	s.next_in = (uint8_t *)z;
	s.avail_in = (uInt)zlen;
	s.next_out = out;
	s.avail_out = (uInt)want_len + 16;
	if (dict_len && wbits < 0)
		inflateSetDictionary(&s, dict, (uInt)dict_len);
	int rc = inflate(&s, Z_FINISH);
	if (rc == Z_NEED_DICT) {
		inflateSetDictionary(&s, dict, (uInt)dict_len);
		rc = inflate(&s, Z_FINISH);
	}
	cr_expect_eq(rc, Z_STREAM_END, "inflate: %d (%s)", rc, s.msg ? s.msg : "");
	cr_expect_eq(s.avail_in, 0, "bytes after the end");
	cr_expect_eq(s.total_out, want_len);
	cr_expect(s.total_out == want_len && !memcmp(out, want, want_len), "content differs");
	inflateEnd(&s);
	free(out);
}

Test(framing, zlib_and_raw_framing_read_back_with_zlib_at_every_level)
{
	size_t len = 5 * CHUNK + 99, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_text(len, 1), *out = malloc(cap);
	for (int level = 1; level <= 9; level += 4) {
		struct ory_gzip_opts g;
		ory_gzip_opts_init(&g);
		g.level = level;
		g.framing = ORY_FRAMING_ZLIB;
		size_t n = squeeze(in, len, out, cap, &g);
		expect_inflates(out, n, 15, NULL, 0, in, len);
		g.framing = ORY_FRAMING_RAW;
		n = squeeze(in, len, out, cap, &g);
		expect_inflates(out, n, -15, NULL, 0, in, len);
	}
	free(in);
	free(out);
}

Test(framing, a_preset_dictionary_is_used_and_declared)
{
	size_t len = 3 * CHUNK, cap = ory_gzip_bound(rt, len);
	uint8_t *dict = tu_text(40 * KiB, 7), *out = malloc(cap);
	uint8_t *in = malloc(len);
	for (size_t i = 0; i < len; i++) /* made of the dictionary's text */
		in[i] = dict[(i * 7) % (40 * KiB)];
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = 1;
	g.framing = ORY_FRAMING_RAW;
	g.dict = dict;
	g.dict_len = 40 * KiB; /* only its last 32 KiB count */
	size_t n = squeeze(in, len, out, cap, &g);
	expect_inflates(out, n, -15, dict + 8 * KiB, 32 * KiB, in, len);
	g.framing = ORY_FRAMING_ZLIB;
	n = squeeze(in, len, out, cap, &g);
	cr_expect(out[1] & 0x20, "FDICT");
	expect_inflates(out, n, 15, dict + 8 * KiB, 32 * KiB, in, len);
	free(dict);
	free(in);
	free(out);
}

/* A worker compresses chunks [k, n) with the 32 KiB before them as dictionary, unterminated:
 * concatenated after chunks [0, k), and closed with the final block, it is the whole. */
Test(framing, pieces_primed_with_the_preceding_32k_concatenate_into_the_whole)
{
	size_t len = 9 * CHUNK + 5, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_text(len, 5), *whole = malloc(cap), *pieces = malloc(2 * cap);
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = 1;
	g.independent = false; /* primed, as pigz: the dictionary is what joins the pieces */
	g.framing = ORY_FRAMING_RAW;
	size_t wlen = squeeze(in, len, whole, cap, &g);
	g.unterminated = true;
	size_t cut = 4 * CHUNK, plen = squeeze(in, cut, pieces, cap, &g);
	g.dict = in + cut - 32 * KiB;
	g.dict_len = 32 * KiB;
	plen += squeeze(in + cut, len - cut, pieces + plen, cap, &g);
	memcpy(pieces + plen, "\x03\x00", 2);
	plen += 2;
	cr_expect_eq(plen, wlen);
	cr_expect(plen == wlen && !memcmp(pieces, whole, wlen), "pieces differ from the whole");
	free(in);
	free(whole);
	free(pieces);
}

Test(framing, crc32_of_memory_and_of_a_file_range_match_zlib)
{
	size_t len = 7 * CHUNK + 3;
	uint8_t *in = tu_random(len, 2);
	struct ory_request req;
	ory_request_init(&req, ORY_OP_CRC32);
	req.in = in;
	req.in_len = len;
	cr_assert_eq(run(&req), 0, "%s", req.errmsg);
	cr_expect_eq(req.crc32, (uint32_t)crc32(0, in, (uInt)len));
	cr_expect_eq(req.bytes_out, 0);

	int fd = memfd_create("crc", 0);
	cr_assert_eq(write(fd, in, len), (ssize_t)len);
	ory_request_init(&req, ORY_OP_CRC32);
	req.in_fd = fd;
	req.in_offset = 1000;
	req.in_len = 3 * CHUNK;
	cr_assert_eq(run(&req), 0, "%s", req.errmsg);
	cr_expect_eq(req.crc32, (uint32_t)crc32(0, in + 1000, 3 * CHUNK));
	cr_expect_eq(req.bytes_in, 3 * CHUNK);
	close(fd);
	free(in);
}

Test(framing, an_iovec_input_gives_the_bytes_of_the_flat_buffer)
{
	size_t len = 4 * CHUNK + 11, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_text(len, 8), *a = malloc(cap), *b = malloc(cap);
	size_t na = squeeze(in, len, a, cap, NULL);
	struct iovec iov[5];
	size_t cuts[] = { 0, 1, 70000, 70001, 200000, len };
	for (int i = 0; i < 5; i++)
		iov[i] = (struct iovec){ in + cuts[i], cuts[i + 1] - cuts[i] };
	struct ory_request req;
	ory_request_init(&req, ORY_OP_DEFLATE);
	req.in_iov = iov;
	req.in_iovcnt = 5;
	req.out = b;
	req.out_cap = cap;
	cr_assert_eq(run(&req), 0, "%s", req.errmsg);
	cr_expect_eq(req.bytes_out, na);
	cr_expect(req.bytes_out == na && !memcmp(a, b, na));
	free(in);
	free(a);
	free(b);
}

/* A pipe says how long it is only at its end: the header (no index for one chunk) waits for
 * that also when the output is a buffer, which then holds what a file would. */
Test(framing, a_pipe_into_a_buffer_gives_the_bytes_of_a_pipe_into_a_file)
{
	size_t lens[] = { 0, 1000, CHUNK, CHUNK + 1, 3 * CHUNK }, cap = ory_gzip_bound(rt, 3 * CHUNK);
	uint8_t *in = tu_text(3 * CHUNK, 12), *a = malloc(cap), *b = malloc(cap);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct tu_pipe p;
		int fd = tu_pipe_open(&p, in, lens[i]), ofd = memfd_create("out", 0);
		cr_assert_eq(ory_gzip_fd(rt, fd, ofd, NULL, NULL), 0, "%s", ory_runtime_errmsg(rt));
		close(fd);
		tu_pipe_join(&p);
		size_t na = (size_t)pread(ofd, a, cap, 0);
		close(ofd);

		struct ory_request req;
		ory_request_init(&req, ORY_OP_DEFLATE);
		req.in_fd = tu_pipe_open(&p, in, lens[i]);
		req.out = b;
		req.out_cap = cap;
		cr_assert_eq(run(&req), 0, "%s", req.errmsg);
		close(req.in_fd);
		tu_pipe_join(&p);
		cr_expect(req.bytes_out == na && !memcmp(a, b, na),
			  "%zu bytes: %llu into the buffer, %zu into the file", lens[i],
			  (unsigned long long)req.bytes_out, na);
	}
	free(in);
	free(a);
	free(b);
}

/* A pipe's full first chunk waits for the second before its header can go. Many such requests
 * at once, more than the pool has buffers, once held every buffer and waited for one another
 * for ever; one buffer is kept for them now (service.c). */
Test(framing, more_pipes_at_once_than_the_pool_has_buffers_all_complete)
{
	enum { N = 48 };
	size_t len = 2 * CHUNK + 1, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_text(len, 13), *out = malloc(N * cap), *file = malloc(cap);
	struct ory_request req[N];
	struct tu_pipe feed[N];
	struct ory_queue *q;
	cr_assert_eq(ory_queue_create(rt, &q), 0);
	int done = 0;
	struct ory_request *got[N];
	for (int i = 0; i < N; i++) {
		ory_request_init(&req[i], ORY_OP_DEFLATE);
		req[i].in_fd = tu_pipe_open(&feed[i], in, len);
		if (i % 2) { /* into a file, or into a buffer */
			req[i].out_fd = memfd_create("out", 0);
		} else {
			req[i].out = out + i * cap;
			req[i].out_cap = cap;
		}
		int rc;
		while ((rc = ory_submit(rt, q, &req[i])) == -EAGAIN) {
			int n = ory_queue_poll(q, got, N, 30000);
			cr_assert_gt(n, 0, "nothing completed in 30 s with %d submitted", i);
			done += n;
		}
		cr_assert_eq(rc, 0, "%s", req[i].errmsg);
	}
	while (done < N) {
		int n = ory_queue_poll(q, got, N, 30000);
		cr_assert_gt(n, 0, "%d of %d requests stuck for 30 s", N - done, N);
		done += n;
	}
	for (int i = 0; i < N; i++) {
		cr_expect_eq(req[i].status, 0, "%d: %s", i, req[i].errmsg);
		const uint8_t *gz = out + i * cap;
		size_t n = req[i].bytes_out;
		if (i % 2) {
			cr_assert_eq(pread(req[i].out_fd, file, cap, 0), (ssize_t)n);
			gz = file;
			close(req[i].out_fd);
		}
		char why[256];
		cr_expect(tu_gzip_is_member_of(gz, n, in, len, why, sizeof(why)), "%d: %s", i, why);
		close(req[i].in_fd);
		tu_pipe_join(&feed[i]);
	}
	ory_queue_destroy(q);
	free(in);
	free(out);
	free(file);
}

Test(framing, gunzip_buf_reads_every_framing_and_reports_members_and_garbage)
{
	size_t len = 3 * CHUNK + 1, cap = ory_gzip_bound(rt, len);
	uint8_t *in = tu_text(len, 4), *z = malloc(2 * cap + 16), *out = malloc(2 * len);
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	size_t n = squeeze(in, len, z, cap, &g);
	n += squeeze(in, len, z + n, cap, &g); /* two members */
	memcpy(z + n, "\0\0junk", 6);
	struct ory_gunzip_result res = { .struct_size = sizeof(res) };
	size_t got;
	cr_assert_eq(ory_gunzip_buf(rt, z, n + 6, out, 2 * len, &got, NULL, &res), 0, "%s",
		     ory_runtime_errmsg(rt));
	cr_expect_eq(got, 2 * len);
	cr_expect(!memcmp(out, in, len) && !memcmp(out + len, in, len));
	cr_expect_eq(res.members, 2);
	cr_expect(res.trailing_garbage);
	cr_expect_eq(ory_gunzip_buf(rt, z, n, out, len, &got, NULL, NULL), -ENOSPC,
		     "two members into room for one");
	z[n / 3] ^= 0x40;
	cr_expect_eq(ory_gunzip_buf(rt, z, n, out, 2 * len, &got, NULL, NULL), -EBADMSG);
	cr_expect(strstr(ory_runtime_errmsg(rt), "invalid compressed data"), "%s",
		  ory_runtime_errmsg(rt));
	cr_expect_eq(ory_runtime_error_origin(rt), ORY_ORIGIN_INPUT);

	struct ory_gunzip_opts u;
	ory_gunzip_opts_init(&u);
	enum ory_framing fr[] = { ORY_FRAMING_ZLIB, ORY_FRAMING_RAW };
	for (int i = 0; i < 2; i++) {
		g.framing = u.framing = fr[i];
		n = squeeze(in, len, z, cap, &g);
		cr_assert_eq(ory_gunzip_buf(rt, z, n, out, len, &got, &u, NULL), 0, "%s",
			     ory_runtime_errmsg(rt));
		cr_expect(got == len && !memcmp(out, in, len), "framing %d", (int)fr[i]);
	}
	free(in);
	free(z);
	free(out);
}

Test(framing, small_buffers_decompress_inline_and_large_ones_on_a_worker_alike)
{
	uint8_t *in = tu_text(2 << 20, 6), *z = malloc(3 << 20), *out = malloc(2 << 20);
	size_t sizes[] = { 0, 1, 4096, 70000, 2 << 20 };
	for (int i = 0; i < 5; i++) {
		size_t n = squeeze(in, sizes[i], z, 3 << 20, NULL), got = 1;
		cr_assert_eq(ory_gunzip_buf(rt, z, n, out, 2 << 20, &got, NULL, NULL), 0, "%s",
			     ory_runtime_errmsg(rt));
		cr_expect(got == sizes[i] && !memcmp(out, in, got), "size %zu", sizes[i]);
	}
	free(in);
	free(z);
	free(out);
}

Test(framing, cpu_workers_stay_inside_the_cpus_option)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "cpu";
	o.cpus = "1";
	struct ory_runtime *r1;
	char err[256];
	int rc = ory_runtime_create(&o, &r1, err, sizeof(err));
	if (rc == -EINVAL && sysconf(_SC_NPROCESSORS_ONLN) < 2)
		cr_skip_test("one CPU: no CPU 1 to place workers on");
	cr_assert_eq(rc, 0, "%s", err);
	cr_expect_eq(ory_runtime_device_count(r1), 1, "one physical core in the list");
	struct ory_device_info d = { .struct_size = sizeof(d) };
	ory_runtime_device_info(r1, 0, &d);
	cr_expect_str_eq(d.cpuset, "1");
	ory_runtime_destroy(r1);
	o.cpus = "4096";
	cr_expect_eq(ory_runtime_create(&o, &r1, err, sizeof(err)), -EINVAL);
	cr_expect(strstr(err, "cpus"), "%s", err);
}
