/* SPDX-License-Identifier: MIT */
/*
 * fuzz_index.c - our chunk index (docs/format.md) under attack: a valid indexed file of
 * known content, with the index in the header or at the end, then damaged where the fuzzer
 * says (mostly in the header and the index members, where a blind mutation rarely lands), and
 * read every way: ory_gzip_info, ory_gunzip_buf, ory_gunzip_fd, ory_gunzip_range.
 *
 * The oracle is the original: whatever a reader returns with success must be exactly the
 * original's bytes (or the range's); an error is always allowed, with a one-line message. A
 * damaged byte that no reader needs (the header's MTIME, an unused reserved entry) may go
 * unnoticed, and a damage that goes unnoticed must not change a single byte of output.
 *
 * Input: byte 0 level, byte 1 chunk size (32 or 64 KiB) and where the index goes, bytes 2-3
 * the original's length / 64, bytes 4-7 a seed for its content, then up to 32 damages of 4
 * bytes each: where (u16, scaled over the header, the end or the whole file) and an XOR mask.
 */
#include <errno.h>
#include <pthread.h>

#include "fuzz.h"

#define KiB 1024u

static struct ory_runtime *rt;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rt = fz_runtime("cpu:2", 64 * KiB, 0);
	return 0;
}

/* Text-like bytes from a seed: words from a small vocabulary and runs, so chunks compress. */
static void content(uint8_t *d, size_t n, uint32_t seed)
{
	static const char *const words[] = { "octoray ", "chunk ", "index ", "deflate ", "\n",
					     "0123456789", "gzip ", "the ", "a ", "random " };
	uint32_t x = seed | 1;
	for (size_t i = 0; i < n;) {
		x ^= x << 13, x ^= x >> 17, x ^= x << 5;
		if ((x & 15) == 0) { /* a run of random bytes */
			for (unsigned k = 0; k < (x >> 8 & 63) && i < n; k++, i++)
				d[i] = (uint8_t)(x >> (k & 15));
			continue;
		}
		const char *w = words[(x >> 4) % 10];
		for (; *w && i < n; w++)
			d[i++] = (uint8_t)*w;
	}
}

struct feed {
	int fd;
	const uint8_t *p;
	size_t n;
};

static void *feeder(void *arg)
{
	struct feed *f = arg;
	for (size_t done = 0; done < f->n;) {
		ssize_t w = write(f->fd, f->p + done, f->n - done);
		FZ_CHECK(w > 0, "pipe write");
		done += (size_t)w;
	}
	close(f->fd);
	return NULL;
}

/* The original compressed: into a buffer (index in the header), or from a pipe (at the end). */
static uint8_t *compress(const uint8_t *d, size_t n, int level, size_t chunk, bool at_end,
			 size_t *gz_len)
{
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = level;
	g.chunk_size = chunk;
	size_t cap = n + n / 8 + 64 * KiB;
	uint8_t *gz = malloc(cap);
	FZ_CHECK(gz, "out of memory");
	if (!at_end) {
		FZ_CHECK(ory_gzip_buf(rt, d, n, gz, cap, gz_len, &g, NULL) == 0, "%s",
			 ory_runtime_errmsg(rt));
		return gz;
	}
	int p[2];
	FZ_CHECK(pipe(p) == 0, "pipe");
	struct feed f = { p[1], d, n };
	pthread_t t;
	FZ_CHECK(pthread_create(&t, NULL, feeder, &f) == 0, "thread");
	int out = fz_memfd(NULL, 0);
	FZ_CHECK(ory_gzip_fd(rt, p[0], out, &g, NULL) == 0, "%s", ory_runtime_errmsg(rt));
	pthread_join(t, NULL);
	close(p[0]);
	*gz_len = (size_t)lseek(out, 0, SEEK_END);
	FZ_CHECK(*gz_len <= cap && pread(out, gz, *gz_len, 0) == (ssize_t)*gz_len, "read back");
	close(out);
	return gz;
}

static void expect(int rc, const uint8_t *got, size_t got_len, const uint8_t *want,
		   size_t want_len, const char *how)
{
	if (rc < 0) {
		const char *m = ory_runtime_errmsg(rt);
		FZ_CHECK(m[0] && !strchr(m, '\n'), "%s: %d, message '%s'", how, rc, m);
		return;
	}
	FZ_CHECK(got_len == want_len && !memcmp(got, want, want_len),
		 "%s succeeded with other bytes (%zu, want %zu)", how, got_len, want_len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 8)
		return 0;
	int level = 1 + data[0] % 9;
	size_t chunk = (data[1] & 1) ? 64 * KiB : 32 * KiB;
	bool at_end = data[1] & 2;
	size_t n = (size_t)(data[2] | data[3] << 8) % 4096 * 64; /* up to 256 KiB */
	uint32_t seed = (uint32_t)data[4] | (uint32_t)data[5] << 8 | (uint32_t)data[6] << 16 |
			(uint32_t)data[7] << 24;
	uint8_t *orig = malloc(n + 1);
	FZ_CHECK(orig, "out of memory");
	content(orig, n, seed);
	size_t gz_len;
	uint8_t *gz = compress(orig, n, level, chunk, at_end, &gz_len);

	/* the damages: mostly where the index lives (the first 256 bytes, the last 512) */
	for (size_t i = 8; i + 4 <= size && i < 8 + 32 * 4; i += 4) {
		unsigned where = (unsigned)(data[i] | data[i + 1] << 8);
		size_t pos;
		switch (where >> 14) {
		case 0:
			pos = where % 256;
			break;
		case 1:
			pos = gz_len - 1 - where % 512;
			break;
		default:
			pos = (size_t)((uint64_t)(where & 0x7fff) * gz_len >> 15);
		}
		if (pos < gz_len)
			gz[pos] ^= data[i + 2] ? data[i + 2] : data[i + 3];
	}

	uint8_t *out = malloc(n + 1);
	FZ_CHECK(out, "out of memory");
	size_t got = 0;
	int rc = ory_gunzip_buf(rt, gz, gz_len, out, n, &got, NULL, NULL);
	expect(rc, out, got, orig, n, "ory_gunzip_buf");

	int fd = fz_memfd(gz, gz_len);
	struct ory_gzip_info info = { .struct_size = sizeof(info) };
	char why[160];
	rc = ory_gzip_info(fd, &info, why, sizeof(why));
	FZ_CHECK(rc == 0 || rc == -EBADMSG, "ory_gzip_info: %d", rc);
	if (rc == 0 && info.indexed)
		FZ_CHECK(info.size == n, "ory_gzip_info accepted an index of %llu bytes, want %zu",
			 (unsigned long long)info.size, n);
	else if (rc == -EBADMSG)
		FZ_CHECK(why[0] && !strchr(why, '\n'), "ory_gzip_info: %d '%s'", rc, why);

	/* ranges: the start, the middle across a chunk boundary, the end */
	uint64_t offs[3] = { 0, chunk > n ? n / 2 : chunk - 7, n > 100 ? n - 100 : 0 };
	for (int k = 0; k < 3; k++) {
		uint64_t off = offs[k], len = n - off < 200 ? n - off : 200;
		rc = ory_gunzip_range(rt, fd, off, len, out, n, &got, NULL);
		if (rc == -ENOTSUP)
			continue; /* no index (left): not random access */
		expect(rc, out, got, orig + off, len, "ory_gunzip_range");
	}

	int sink = fz_memfd(NULL, 0);
	lseek(fd, 0, SEEK_SET);
	rc = ory_gunzip_fd(rt, fd, sink, NULL, NULL);
	if (rc == 0) {
		got = (size_t)lseek(sink, 0, SEEK_END);
		FZ_CHECK(got == n && pread(sink, out, n, 0) == (ssize_t)n, "ory_gunzip_fd: %zu bytes, want %zu",
			 got, n);
	}
	expect(rc, out, rc == 0 ? n : 0, orig, n, "ory_gunzip_fd");
	close(sink);
	close(fd);
	free(out);
	free(gz);
	free(orig);
	return 0;
}
