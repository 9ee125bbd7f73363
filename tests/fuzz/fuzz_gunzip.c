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
 */
#include <errno.h>
#include <zlib.h>

#include "fuzz.h"

#define OUT_MAX ((size_t)64 << 20)

static struct ory_runtime *rt;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rt = fz_runtime("cpu:1", 0, 0);
	return 0;
}

struct verdict {
	bool valid, garbage;
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
	free(ref.out);
	return 0;
}
