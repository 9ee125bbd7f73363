/* SPDX-License-Identifier: MIT */
/* test_gunzip_members.c - files of many members (BGZF, concatenations) inflate member-parallel,
 * and whatever such a file holds (lying sizes, headers inside data, damage, padding, garbage),
 * the result is the streaming reader's: same bytes, same error, same counts. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "util.h"

#define CHUNK (64 * 1024)
#define LEN (3 * 1024 * 1024 + 777)

static struct ory_runtime *par; /* 2 workers, small chunks: the file is many chunks */
static struct ory_runtime *seq; /* chunks larger than the files: streaming only */
static uint8_t *data;
static char *dir;

static void setup(void)
{
	par = tu_runtime("cpu:2", CHUNK);
	seq = tu_runtime("cpu:1", 64u << 20);
	data = tu_text(LEN, 77);
	dir = tu_mkdtemp();
}

static void teardown(void)
{
	ory_runtime_destroy(par);
	ory_runtime_destroy(seq);
	free(data);
	tu_rmtree(dir);
	free(dir);
}

TestSuite(gunzip_members, .init = setup, .fini = teardown, .timeout = 120);

/* A growing file under construction. */
struct gz {
	uint8_t *p;
	size_t len, cap;
};

static uint8_t *room(struct gz *g, size_t n)
{
	if (g->len + n > g->cap) {
		g->cap = 2 * (g->len + n);
		g->p = realloc(g->p, g->cap);
		cr_assert(g->p);
	}
	return g->p + g->len;
}

/* One member of in[0, n): a BGZF header (BC subfield with the member's size) when bgzf, else
 * zlib's, with a file name when named. */
static void member(struct gz *g, const uint8_t *in, size_t n, int level, bool bgzf, bool named)
{
	size_t at = g->len, bound = compressBound((uLong)n) + 64;
	uint8_t *out = room(g, bound);
	z_stream z;
	memset(&z, 0, sizeof(z));
	if (bgzf) {
		static const uint8_t h[18] = { 0x1f, 0x8b, 8, 4, 0, 0, 0, 0, 0, 0xff, 6, 0,
					       'B', 'C', 2, 0, 0, 0 };
		memcpy(out, h, sizeof(h));
		cr_assert_eq(deflateInit2(&z, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
		z.next_out = out + 18;
		z.avail_out = (uInt)(bound - 26);
	} else {
		cr_assert_eq(deflateInit2(&z, level, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY),
			     Z_OK);
		gz_header hd;
		memset(&hd, 0, sizeof(hd));
		hd.name = (Bytef *)(named ? "member.txt" : NULL);
		deflateSetHeader(&z, &hd);
		z.next_out = out;
		z.avail_out = (uInt)bound;
	}
	z.next_in = (uint8_t *)in;
	z.avail_in = (uInt)n;
	cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
	size_t len = (size_t)(z.next_out - out);
	deflateEnd(&z);
	if (bgzf) {
		uLong crc = crc32(0, in, (uInt)n);
		uint8_t t[8] = { (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
				 (uint8_t)(crc >> 24), (uint8_t)n, (uint8_t)(n >> 8),
				 (uint8_t)(n >> 16), (uint8_t)(n >> 24) };
		memcpy(out + len, t, 8);
		len += 8;
		out[16] = (uint8_t)(len - 1);
		out[17] = (uint8_t)((len - 1) >> 8);
	}
	g->len = at + len;
}

/* data cut into members of the sizes in `sizes` (cycled) */
static struct gz members(const size_t *sizes, size_t nsizes, int level, bool bgzf)
{
	struct gz g = { 0 };
	size_t k = 0;
	for (size_t off = 0; off < LEN; k++) {
		size_t n = sizes[k % nsizes] < LEN - off ? sizes[k % nsizes] : LEN - off;
		member(&g, data + off, n, level, bgzf, k % 3 == 1);
		off += n;
	}
	if (bgzf)
		member(&g, data, 0, level, true, false); /* BGZF's end-of-file member */
	return g;
}

struct outcome {
	int rc;
	uint8_t *out;
	size_t out_len;
	struct ory_gunzip_result res;
	char msg[256];
	uint64_t chunks; /* committed by the runtime's workers */
};

static struct outcome gunzip(struct ory_runtime *rt, const struct gz *g)
{
	struct outcome o;
	memset(&o, 0, sizeof(o));
	const char *ip = tu_path(dir, "in.gz"), *op = tu_path(dir, "out");
	tu_write_file(ip, g->p, g->len);
	int in = open(ip, O_RDONLY), fd = open(op, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	uint64_t before = 0, after = 0;
	struct ory_device_info d = { .struct_size = sizeof(d) };
	for (unsigned i = 0; i < ory_runtime_device_count(rt); i++)
		before += ory_runtime_device_info(rt, i, &d) == 0 ? d.chunks : 0;
	o.res.struct_size = sizeof(o.res);
	o.rc = ory_gunzip_fd(rt, in, fd, NULL, &o.res);
	snprintf(o.msg, sizeof(o.msg), "%s", o.rc ? ory_runtime_errmsg(rt) : "");
	for (unsigned i = 0; i < ory_runtime_device_count(rt); i++)
		after += ory_runtime_device_info(rt, i, &d) == 0 ? d.chunks : 0;
	o.chunks = after - before;
	close(in);
	close(fd);
	o.out = tu_read_file(op, &o.out_len);
	return o;
}

/* ory_gunzip_buf of the same bytes, into room for cap bytes. */
static struct outcome gunzip_buf(struct ory_runtime *rt, const struct gz *g, size_t cap)
{
	struct outcome o;
	memset(&o, 0, sizeof(o));
	o.out = calloc(cap + 1, 1); /* one byte more: nothing may land there */
	o.res.struct_size = sizeof(o.res);
	o.rc = ory_gunzip_buf(rt, g->p, g->len, o.out, cap, &o.out_len, NULL, &o.res);
	snprintf(o.msg, sizeof(o.msg), "%s", o.rc ? ory_runtime_errmsg(rt) : "");
	o.chunks = o.res.chunks;
	return o;
}

/* o (the file's or the buffer's, `side`) against the streaming reader's s: the same verdict,
 * message and counts, and want_len of its bytes. */
static void expect_as_streaming(const struct outcome *o, const struct outcome *s, size_t want_len,
				const char *what, const char *side)
{
	cr_assert_eq(o->rc, s->rc, "%s%s: rc %d (%s), streaming %d (%s)", what, side, o->rc, o->msg,
		     s->rc, s->msg);
	cr_assert_str_eq(o->msg, s->msg, "%s%s", what, side);
	cr_assert_eq(o->out_len, want_len, "%s%s: %zu bytes out, want %zu", what, side, o->out_len,
		     want_len);
	cr_assert_arr_eq(o->out, s->out, want_len, "%s%s: other bytes", what, side);
	if (s->rc == 0) {
		cr_assert_eq(o->res.members, s->res.members, "%s%s", what, side);
		cr_assert_eq(o->res.bytes_in, s->res.bytes_in, "%s%s", what, side);
		cr_assert_eq(o->res.bytes_out, s->res.bytes_out, "%s%s", what, side);
		cr_assert_eq(o->res.trailing_garbage, s->res.trailing_garbage, "%s%s", what, side);
	}
}

/* The parallel reader, of the file and of the buffer, gives exactly what the streaming one
 * gives (a buffer nothing on failure, a file what was written before it); returns the file's
 * outcome. */
static struct outcome same_as_streaming(const struct gz *g, const char *what)
{
	struct outcome s = gunzip(seq, g), p = gunzip(par, g), b = gunzip_buf(par, g, LEN + 4096);
	expect_as_streaming(&b, &s, s.rc ? 0 : s.out_len, what, ", buffer");
	free(b.out);
	expect_as_streaming(&p, &s, s.out_len, what, "");
	free(s.out);
	return p;
}

static void expect_original(struct outcome *o, const char *what)
{
	cr_assert_eq(o->rc, 0, "%s: %s", what, o->msg);
	cr_assert_eq(o->out_len, (size_t)LEN, "%s", what);
	cr_assert_arr_eq(o->out, data, LEN, "%s", what);
	free(o->out);
}

Test(gunzip_members, bgzf_and_concatenated_members_inflate_in_parallel)
{
	static const size_t bgzf[] = { 65280 }, mixed[] = { 1000, 30000, 65536, 17, 50000 },
			    one[] = { CHUNK };
	struct {
		const char *what;
		const size_t *sizes;
		size_t n;
		bool bgzf;
	} cases[] = {
		{ "bgzf", bgzf, 1, true },
		{ "mixed sizes", mixed, 5, false },
		{ "one chunk each", one, 1, false },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (int level = 1; level <= 9; level += 8) {
			struct gz g = members(cases[i].sizes, cases[i].n, level, cases[i].bgzf);
			struct outcome o = same_as_streaming(&g, cases[i].what);
			cr_expect_gt(o.chunks, 8, "%s: %llu chunks on the workers: not in parallel",
				     cases[i].what, (unsigned long long)o.chunks);
			cr_expect_eq(o.res.chunks, o.chunks, "%s: the result's count", cases[i].what);
			expect_original(&o, cases[i].what);
			/* a buffer of exactly the size, and one byte short */
			o = gunzip_buf(par, &g, LEN);
			cr_expect_gt(o.chunks, 8, "%s, buffer: not in parallel", cases[i].what);
			expect_original(&o, cases[i].what);
			o = gunzip_buf(par, &g, LEN - 1);
			cr_expect_eq(o.rc, -ENOSPC, "%s, a byte short: %d", cases[i].what, o.rc);
			cr_expect_eq(o.out[LEN - 1], 0, "written past the buffer");
			free(o.out);
			/* tested only (-t): no output, the same verdict */
			int in = open(tu_path(dir, "in.gz"), O_RDONLY);
			struct ory_gunzip_result res = { .struct_size = sizeof(res) };
			cr_expect_eq(ory_gunzip_fd(par, in, -1, NULL, &res), 0, "%s -t: %s",
				     cases[i].what, ory_runtime_errmsg(par));
			cr_expect_eq(res.bytes_out, (uint64_t)LEN);
			close(in);
			free(g.p);
		}
	}
}

Test(gunzip_members, a_member_larger_than_a_chunk_is_streamed_and_the_rest_still_right)
{
	static const size_t sizes[] = { 40000, 40000, 40000, 40000, 40000, 300000 };
	struct gz g = members(sizes, 6, 6, false);
	struct outcome o = same_as_streaming(&g, "big member");
	expect_original(&o, "big member");
	free(g.p);
}

/* Members stored (level 0) around what looks like a member end and start: a trailer with a
 * plausible ISIZE, then another gzip file. */
Test(gunzip_members, a_gzip_header_inside_a_member_is_no_member_start)
{
	struct gz inner = { 0 };
	static const uint8_t trailer[8] = { 1, 2, 3, 4, 100, 0, 0, 0 };
	memcpy(room(&inner, 8), trailer, 8);
	inner.len = 8;
	member(&inner, data, 5000, 6, false, false);
	member(&inner, data, 5000, 6, true, false);
	uint8_t *payload = malloc(LEN);
	memcpy(payload, data, LEN);
	for (size_t at = 1000000; at + inner.len < LEN; at += 150000)
		memcpy(payload + at, inner.p, inner.len);
	uint8_t *keep = data;
	data = payload;
	static const size_t sizes[] = { 60000, 20000 };
	for (int level = 0; level <= 6; level += 6) {
		struct gz g = members(sizes, 2, level, false);
		struct outcome o = same_as_streaming(&g, "header in data");
		expect_original(&o, "header in data");
		free(g.p);
	}
	data = keep;
	free(payload);
	free(inner.p);
}

Test(gunzip_members, a_bgzf_size_that_lies_changes_nothing)
{
	static const size_t sizes[] = { 65280 };
	struct gz g = members(sizes, 1, 6, true);
	/* member 10's BSIZE: 100 bytes short, then past the file's end */
	size_t at = 0;
	for (int k = 0; k < 10; k++)
		at += (size_t)(g.p[at + 16] | g.p[at + 17] << 8) + 1;
	g.p[at + 16] -= 100;
	struct outcome o = same_as_streaming(&g, "short BSIZE");
	expect_original(&o, "short BSIZE");
	g.p[at + 16] += 100;
	/* then covering two members (both whole: the group holding them is right anyway) */
	size_t two = (size_t)(g.p[at + 16] | g.p[at + 17] << 8) + 1;
	two += (size_t)(g.p[at + two + 16] | g.p[at + two + 17] << 8) + 1;
	g.p[at + 16] = (uint8_t)(two - 1);
	g.p[at + 17] = (uint8_t)((two - 1) >> 8);
	o = same_as_streaming(&g, "BSIZE of two");
	expect_original(&o, "BSIZE of two");
	g.p[at + 17] = 0xff;
	o = same_as_streaming(&g, "long BSIZE");
	expect_original(&o, "long BSIZE");
	free(g.p);
}

Test(gunzip_members, damage_anywhere_gives_the_streaming_readers_error)
{
	static const size_t sizes[] = { 30000 };
	struct gz g = members(sizes, 1, 6, false);
	size_t spots[] = { g.len / 3, g.len / 2 + 17, g.len - 40, g.len - 3 };
	for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++) {
		g.p[spots[i]] ^= 0x5a;
		struct outcome o = same_as_streaming(&g, "flipped byte");
		cr_expect_neq(o.rc, 0, "byte %zu flipped: no error", spots[i]);
		free(o.out);
		g.p[spots[i]] ^= 0x5a;
	}
	size_t cut[] = { g.len - 1, g.len / 2 };
	for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		struct gz t = { g.p, cut[i], g.cap };
		struct outcome o = same_as_streaming(&t, "truncated");
		cr_expect_eq(o.rc, -EBADMSG);
		free(o.out);
	}
	free(g.p);
}

Test(gunzip_members, padding_and_garbage_after_the_members_as_gnu_gzip)
{
	static const size_t sizes[] = { 50000 };
	const char *tails[] = { "\0\0\0\0\0\0\0\0", "garbage!", "\x1f\x8b\x08\0\0\0\0\0" };
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		struct gz g = members(sizes, 1, 1, false);
		memcpy(room(&g, 8), tails[i], 8);
		g.len += 8;
		struct outcome o = same_as_streaming(&g, tails[i]);
		free(o.out);
		free(g.p);
	}
}
