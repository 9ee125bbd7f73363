/* SPDX-License-Identifier: MIT */
/*
 * fuzz_gunzip.c - ory_gunzip_fd (ISA-L inflate behind our own header parser), differential
 * against zlib's inflate driven member by member as GNU gzip reads a file.
 *
 * The rule. The input is VALID when, from its first byte:
 *   1. a gzip member decodes completely (zlib, windowBits 16 + 15: header with its optional
 *      fields, FHCRC checked, reserved FLG bits refused, deflate data, CRC-32 and ISIZE);
 *   2. after it, either the input ends; or "1f 8b" starts another member (back to 1); or what
 *      is left is all zero bytes (padding, accepted silently); or it is anything else
 *      (trailing garbage: accepted, with result.trailing_garbage set, as GNU's warning);
 *   3. except one lone 1f as the very last byte: GNU gzip reads the second magic byte, hits
 *      the end of the file and fails ("unexpected end of file"), so that input is INVALID.
 * Otherwise it is INVALID (no member at the start, a damaged or truncated member, a bad
 * member after "1f 8b"). ory_gunzip_fd must give the same verdict (0 or -EBADMSG), the same
 * bytes, the same member count and the same trailing_garbage flag; a mismatch aborts.
 * Inputs whose output exceeds OUT_MAX are skipped (a deflate bomb only costs memory here).
 *
 * ory_gunzip_buf must give the same verdict and bytes. And an input that is whole members and
 * nothing else is also read as many copies of itself, enough for a runtime of small chunks to
 * cut them into groups and inflate them member-parallel (gunzip_members.c), from a file and
 * from a buffer: the output must be that many copies of zlib's.
 */
#include <errno.h>
#include <zlib.h>

#include "fuzz.h"

#define OUT_MAX ((size_t)64 << 20)
#define COPIES_IN (160u << 10)  /* > 4 chunks of 32 KiB: the parallel reader's threshold */
#define COPIES_OUT ((size_t)8 << 20)

static struct ory_runtime *rt, *par;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rt = fz_runtime("cpu:1", 0, 0);
	par = fz_runtime("cpu:2", 32u << 10, 0);
	return 0;
}

struct verdict {
	bool valid, garbage;
	bool exact;     /* members and nothing after them */
	unsigned members;
	uint8_t *out;
	size_t len;
	bool too_big;
};

static bool append(struct verdict *v, const uint8_t *b, size_t n)
{
	if (v->len + n > OUT_MAX) {
		v->too_big = true;
		return false;
	}
	uint8_t *o = realloc(v->out, v->len + n + 1);
	FZ_CHECK(o, "out of memory");
	memcpy(o + v->len, b, n);
	v->out = o;
	v->len += n;
	return true;
}

static void reference(const uint8_t *d, size_t n, struct verdict *v)
{
	static uint8_t buf[1 << 16];
	z_stream z;
	memset(&z, 0, sizeof(z));
	FZ_CHECK(inflateInit2(&z, 16 + 15) == Z_OK, "inflateInit2");
	size_t pos = 0;
	for (;;) {
		inflateReset(&z);
		z.next_in = (uint8_t *)d + pos;
		z.avail_in = (uInt)(n - pos);
		int rc;
		do {
			z.next_out = buf;
			z.avail_out = sizeof(buf);
			rc = inflate(&z, Z_NO_FLUSH);
			if (!append(v, buf, sizeof(buf) - z.avail_out))
				goto out;
		} while (rc == Z_OK);
		if (rc != Z_STREAM_END)
			goto out; /* invalid: damaged, or the input ended inside the member */
		v->members++;
		pos = n - z.avail_in;
		size_t left = n - pos;
		v->exact = left == 0;
		if (left == 0)
			break;
		if (left >= 2 && d[pos] == 0x1f && d[pos + 1] == 0x8b)
			continue;
		if (left == 1 && d[pos] == 0x1f)
			goto out; /* rule 3 */
		for (size_t i = pos; i < n; i++)
			v->garbage |= d[i] != 0;
		break;
	}
	v->valid = true;
out:
	inflateEnd(&z);
}

/* ory_gunzip_buf of d[0..n) into room for cap bytes: the verdict and bytes of `want`. */
static void check_buf(struct ory_runtime *r, const uint8_t *d, size_t n, const uint8_t *want,
		      size_t want_len, bool valid, size_t cap)
{
	uint8_t *got = malloc(cap + 1);
	FZ_CHECK(got, "out of memory");
	size_t len = 0;
	int rc = ory_gunzip_buf(r, d, n, got, cap, &len, NULL, NULL);
	if (rc == -ENOSPC && !valid && cap < OUT_MAX) {
		/* ours may get further than zlib into a damaged member: room to find the damage */
		free(got);
		check_buf(r, d, n, want, want_len, valid, OUT_MAX);
		return;
	}
	FZ_CHECK(rc == 0 || rc == -EBADMSG, "buffer: rc %d (%s)", rc, ory_runtime_errmsg(r));
	FZ_CHECK((rc == 0) == valid, "buffer: ours %s, zlib %s",
		 rc ? ory_runtime_errmsg(r) : "valid", valid ? "valid" : "invalid");
	if (rc == 0)
		FZ_CHECK(len == want_len && !memcmp(got, want, len), "buffer: other bytes");
	free(got);
}

/* Whole members only: enough copies of them for the parallel reader, from a file and from a
 * buffer, must give that many copies of the output. */
static void check_copies(const uint8_t *d, size_t n, const struct verdict *ref)
{
	size_t k = COPIES_IN / n + 1;
	if (!ref->len || ref->len > COPIES_OUT / k)
		return;
	uint8_t *in = malloc(k * n), *want = malloc(k * ref->len);
	FZ_CHECK(in && want, "out of memory");
	for (size_t i = 0; i < k; i++) {
		memcpy(in + i * n, d, n);
		memcpy(want + i * ref->len, ref->out, ref->len);
	}
	int fd = fz_memfd(in, k * n), out = memfd_create("out", MFD_CLOEXEC);
	struct ory_gunzip_result res = {.struct_size = sizeof(res)};
	int rc = ory_gunzip_fd(par, fd, out, NULL, &res);
	close(fd);
	FZ_CHECK(rc == 0, "%zu copies: %s", k, ory_runtime_errmsg(par));
	FZ_CHECK(res.members == k * ref->members && res.bytes_out == k * ref->len,
		 "%zu copies: %u members, %llu bytes", k, res.members,
		 (unsigned long long)res.bytes_out);
	uint8_t *got = malloc(k * ref->len + 1);
	FZ_CHECK(got, "out of memory");
	FZ_CHECK(pread(out, got, k * ref->len, 0) == (ssize_t)(k * ref->len), "reading the output");
	FZ_CHECK(!memcmp(got, want, k * ref->len), "%zu copies: other bytes", k);
	close(out);
	free(got);
	check_buf(par, in, k * n, want, k * ref->len, true, k * ref->len);
	free(in);
	free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	struct verdict ref = {0};
	reference(d, n, &ref);
	if (ref.too_big) {
		free(ref.out);
		return 0;
	}
	int in = fz_memfd(d, n), out = memfd_create("out", MFD_CLOEXEC);
	struct ory_gunzip_result res = {.struct_size = sizeof(res)};
	int rc = ory_gunzip_fd(rt, in, out, NULL, &res);
	close(in);

	FZ_CHECK(rc == 0 || rc == -EBADMSG, "rc %d (%s)", rc, ory_runtime_errmsg(rt));
	FZ_CHECK((rc == 0) == ref.valid, "ours: %s, zlib: %s",
		 rc ? ory_runtime_errmsg(rt) : "valid", ref.valid ? "valid" : "invalid");
	if (rc == 0) {
		FZ_CHECK(res.members == ref.members, "%u members, zlib %u", res.members,
			 ref.members);
		FZ_CHECK(res.trailing_garbage == ref.garbage, "trailing garbage %d, zlib %d",
			 res.trailing_garbage, ref.garbage);
		FZ_CHECK(res.bytes_out == ref.len, "%llu bytes, zlib %zu",
			 (unsigned long long)res.bytes_out, ref.len);
		uint8_t *got = malloc(ref.len + 1);
		FZ_CHECK(pread(out, got, ref.len, 0) == (ssize_t)ref.len, "reading the output");
		FZ_CHECK(!memcmp(got, ref.out, ref.len), "the bytes differ from zlib's");
		free(got);
	} else {
		fz_check_message(ory_runtime_errmsg(rt));
		FZ_CHECK(ory_runtime_error_origin(rt) == ORY_ORIGIN_INPUT, "origin %d",
			 ory_runtime_error_origin(rt));
	}
	close(out);
	check_buf(rt, d, n, ref.out, ref.len, ref.valid, ref.len + 64);
	if (ref.valid && ref.exact)
		check_copies(d, n, &ref);
	free(ref.out);
	return 0;
}
