/* SPDX-License-Identifier: MIT */
/* test_gzip.c - the gzip app through the library API: one member any inflater reads, identical
 * bytes for any device count, framing, CRC combining, stored fallback, chunk surgery. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <libdeflate.h>
#include <zlib.h>

#include "apps/gzip/gzip_internal.h"
#include "octoray/octoray.h"
#include "util.h"

#define KiB 1024u

/* Compress with the buffer API; caller frees. */
static uint8_t *gz(struct ory_runtime *rt, const uint8_t *in, size_t len, int level, bool indep,
		   const char *name, size_t *out_len)
{
	size_t cap = ory_gzip_bound(rt, len) + (name ? strlen(name) + 1 : 0);
	uint8_t *out = malloc(cap);
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	o.level = level;
	o.independent = indep;
	o.name = name;
	o.mtime = 1234567890;
	int rc = ory_gzip_buf(rt, in, len, out, cap, out_len, &o, NULL);
	cr_assert_eq(rc, 0, "gzip_buf: %s", ory_runtime_errmsg(rt));
	return out;
}

/* One request of `framing` (raw: unterminated or not) into out; returns its length. */
static size_t framed(struct ory_runtime *rt, const uint8_t *in, size_t len, int level,
		     enum ory_framing framing, bool unterminated, uint8_t *out, size_t cap)
{
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	o.level = level;
	o.framing = framing;
	o.unterminated = unterminated;
	o.mtime = 1234567890;
	size_t n;
	cr_assert_eq(ory_gzip_buf(rt, in, len, out, cap, &n, &o, NULL), 0, "%s",
		     ory_runtime_errmsg(rt));
	return n;
}

/* The whole output must be one gzip member holding want. */
static void expect_one_member(const uint8_t *gz, size_t gz_len, const uint8_t *want,
			      size_t want_len)
{
	char why[256];
	cr_assert(tu_gzip_is_member_of(gz, gz_len, want, want_len, why, sizeof(why)), "%s", why);
}

struct case_ {
	int level;
	size_t len;
	bool text;
};

ParameterizedTestParameters(gzip, every_level_and_boundary_size_inflates_to_the_input)
{
	static struct case_ c[9 * 6];
	size_t lens[] = { 0, 1, 65535, 65536, 65537, 300000 };
	int n = 0;
	for (int l = 1; l <= 9; l++)
		for (int i = 0; i < 6; i++)
			c[n++] = (struct case_){ l, lens[i], (i + l) % 2 == 0 };
	return cr_make_param_array(struct case_, c, n);
}

ParameterizedTest(struct case_ *c, gzip, every_level_and_boundary_size_inflates_to_the_input)
{
	struct ory_runtime *rt = tu_runtime("cpu:2", 65536);
	uint8_t *in = c->text ? tu_text(c->len, c->len) : tu_random(c->len, c->len);
	size_t n;
	uint8_t *out = gz(rt, in, c->len, c->level, false, "x.txt", &n);
	expect_one_member(out, n, in, c->len);
	free(out);
	free(in);
	ory_runtime_destroy(rt);
}

Test(gzip, output_bytes_do_not_depend_on_the_device_count)
{
	size_t len = 3 * 1024 * 1024 + 12345;
	uint8_t *in = tu_text(len, 42);
	const char *specs[] = { "cpu:1", "cpu:2", "cpu:8" };
	for (int level = 1; level <= 9; level += 4) {
		uint8_t *ref = NULL;
		size_t ref_len = 0;
		for (int i = 0; i < 3; i++) {
			struct ory_runtime *rt = tu_runtime(specs[i], 128 * 1024);
			size_t n;
			uint8_t *out = gz(rt, in, len, level, false, NULL, &n);
			if (!ref) {
				ref = out;
				ref_len = n;
				expect_one_member(out, n, in, len);
			} else {
				cr_expect_eq(n, ref_len, "level %d %s: %zu bytes vs %zu", level,
					     specs[i], n, ref_len);
				cr_expect_eq(memcmp(out, ref, n < ref_len ? n : ref_len), 0,
					     "level %d %s differs from cpu:1", level, specs[i]);
				free(out);
			}
			ory_runtime_destroy(rt);
		}
		free(ref);
	}
	free(in);
}

/* ISA-L's x86 body of levels 1-2 hashes a stream's third byte from the address of its
 * isal_zstream (deflate_sw.c: zs_map): a chunk whose bytes 1..4 hash to that bucket lost its
 * match against them on a kernel state that lived elsewhere, i.e. on another thread. Here one
 * input per bucket, each with such a match: every state must encode every input alike. */
Test(gzip, the_software_kernel_encodes_alike_whichever_state_runs_it)
{
	enum { STATES = 3, IN = 256 };
	void *k[STATES];
	for (int i = 0; i < STATES; i++)
		cr_assert_eq(ory_gzip_app.sw->open(&k[i]), 0);
	uint8_t in[IN], out[STATES][gzip_chunk_bound(IN)];
	for (int level = 1; level <= 2; level++) {
		struct gzip_params p = { .level = level };
		/* bytes 1..4 are b, then z's (compressible: not stored), b again at 100. The hash
		 * is the CRC-32C of the word masked to 13 (level 1) or 15 bits, and the CRC of the
		 * words below 2^15 ends in every 15-bit value once: every bucket is some input's. */
		for (uint32_t b = 0; b < 1u << 15; b++) {
			memset(in, 'z', IN);
			in[0] = 0x80;
			memcpy(in + 1, &b, 4);
			memcpy(in + 100, &b, 4);
			size_t len[STATES];
			for (int i = 0; i < STATES; i++) {
				struct ory_chunk c = { .params = &p, .in = in, .in_len = IN, .dict = in,
						       .out = out[i], .out_cap = sizeof(out[i]) };
				cr_assert_eq(ory_gzip_app.sw->run(k[i], &c), 0);
				len[i] = c.out_len;
			}
			for (int i = 1; i < STATES; i++)
				cr_assert(len[i] == len[0] && !memcmp(out[i], out[0], len[0]),
					  "level %d, input %u: state %d wrote %zu bytes, state 0 %zu",
					  level, b, i, len[i], len[0]);
		}
	}
	for (int i = 0; i < STATES; i++)
		ory_gzip_app.sw->close(k[i]);
}

Test(gzip, header_carries_name_mtime_and_level_hints)
{
	uint8_t h[64];
	size_t n = gzip_header(h, sizeof(h), 9, "a.txt", 0x01020304);
	cr_assert_eq(n, 16);
	uint8_t want[] = { 0x1f, 0x8b, 8, 0x08, 4, 3, 2, 1, 2, 3, 'a', '.', 't', 'x', 't', 0 };
	cr_expect_eq(memcmp(h, want, n), 0);
	cr_expect_eq(gzip_header(h, sizeof(h), 1, NULL, 0), 10);
	cr_expect_eq(h[3], 0, "no FNAME flag without a name");
	cr_expect_eq(h[8], 4, "XFL 4 at level 1");
	gzip_header(h, sizeof(h), 6, NULL, 0);
	cr_expect_eq(h[8], 0);
}

Test(gzip, trailer_is_crc_and_length_mod_2_32)
{
	uint8_t t[16];
	size_t n = gzip_trailer(t, 0xdeadbeef, 0x100000005ull);
	cr_assert_eq(n, 8);
	uint8_t want[] = { 0xef, 0xbe, 0xad, 0xde, 5, 0, 0, 0 };
	cr_expect_eq(memcmp(t, want, 8), 0);
}

Test(gzip, stored_blocks_are_non_final_and_inflate_to_the_input)
{
	size_t len = 200000;
	uint8_t *in = tu_random(len, 5);
	uint8_t *out = malloc(gzip_chunk_bound(len) + 2);
	size_t n = gzip_store(in, len, out);
	cr_expect_leq(n + 8, gzip_chunk_bound(len));
	memcpy(out + n, "\x03\x00", 2); /* terminate, as the trailer does */
	z_stream z;
	memset(&z, 0, sizeof(z));
	inflateInit2(&z, -15);
	uint8_t *back = malloc(len);
	z.next_in = out;
	z.avail_in = (uInt)n + 2;
	z.next_out = back;
	z.avail_out = (uInt)len;
	cr_expect_eq(inflate(&z, Z_FINISH), Z_STREAM_END);
	cr_expect_eq(z.total_out, len);
	cr_expect_eq(memcmp(back, in, len), 0);
	inflateEnd(&z);
	free(back);
	free(out);
	free(in);
}

/* Each chunk's deflate data must end on a byte boundary in a non-final block, so that a raw
 * inflate of the first chunk's bytes alone consumes them all without reaching a stream end. */
Test(gzip, every_chunk_ends_byte_aligned_and_non_final)
{
	size_t chunk = 64 * 1024;
	for (int level = 1; level <= 9; level++) {
		struct ory_runtime *rt = tu_runtime("cpu:1", chunk);
		uint8_t *in = tu_text(chunk, level);
		/* raw and unterminated: the chunk alone (one that is the whole input of a terminated
		 * request ends the stream at levels 4-9, see below) */
		size_t cap = ory_gzip_bound(rt, chunk);
		uint8_t *out = malloc(cap);
		const uint8_t *body = out;
		size_t blen = framed(rt, in, chunk, level, ORY_FRAMING_RAW, true, out, cap);
		cr_assert_eq(memcmp(body + blen - 4, "\x00\x00\xff\xff", 4), 0,
			     "level %d: chunk does not end in a sync marker", level);
		z_stream z;
		memset(&z, 0, sizeof(z));
		inflateInit2(&z, -15);
		uint8_t *back = malloc(chunk);
		z.next_in = (uint8_t *)body;
		z.avail_in = (uInt)blen;
		z.next_out = back;
		z.avail_out = (uInt)chunk;
		int rc = inflate(&z, Z_SYNC_FLUSH);
		cr_expect_eq(rc, Z_OK, "level %d: %d, a final block inside a chunk?", level, rc);
		cr_expect_eq(z.avail_in, 0);
		cr_expect_eq(z.total_out, chunk);
		cr_expect_eq(memcmp(back, in, chunk), 0);
		inflateEnd(&z);
		free(back);
		free(out);
		free(in);
		ory_runtime_destroy(rt);
	}
}

Test(gzip, crc_of_the_whole_input_is_the_combination_of_the_chunks)
{
	struct ory_runtime *rt = tu_runtime("cpu:3", 32 * 1024);
	size_t len = 32 * 1024 * 10 + 777;
	uint8_t *in = tu_random(len, 8);
	size_t n;
	uint8_t *out = gz(rt, in, len, 1, false, NULL, &n);
	uint32_t crc = (uint32_t)crc32(0, in, (uInt)len);
	uint8_t want[8] = { (uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
			    (uint8_t)(crc >> 24), (uint8_t)len, (uint8_t)(len >> 8),
			    (uint8_t)(len >> 16), (uint8_t)(len >> 24) };
	cr_expect_eq(memcmp(out + n - 8, want, 8), 0);
	free(out);
	free(in);
	ory_runtime_destroy(rt);
}

Test(gzip, dictionary_priming_shrinks_repetitive_input_and_independent_does_not)
{
	/* Random data with a period of 24 KiB in 32 KiB chunks: the start of each chunk repeats
	 * bytes 24 KiB back, which only a chunk primed with its predecessor can reference. */
	size_t chunk = 32 * 1024, period = 24 * 1024, len = 8 * chunk;
	uint8_t *in = malloc(len);
	uint8_t *blk = tu_random(period, 77);
	for (size_t i = 0; i < len; i++)
		in[i] = blk[i % period];
	struct ory_runtime *rt = tu_runtime("cpu:2", chunk);
	size_t primed, indep;
	uint8_t *a = gz(rt, in, len, 1, false, NULL, &primed);
	uint8_t *b = gz(rt, in, len, 1, true, NULL, &indep);
	expect_one_member(a, primed, in, len);
	expect_one_member(b, indep, in, len);
	cr_expect_lt(primed * 2, indep, "primed %zu, independent %zu", primed, indep);
	free(a);
	free(b);
	free(blk);
	free(in);
	ory_runtime_destroy(rt);
}

Test(gzip, a_too_small_output_buffer_is_enospc_and_bad_levels_are_einval)
{
	struct ory_runtime *rt = tu_runtime("cpu:1", 65536);
	uint8_t in[1000] = { 0 }, out[16];
	size_t n;
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	cr_expect_eq(ory_gzip_buf(rt, in, sizeof(in), out, sizeof(out), &n, &o, NULL), -ENOSPC);
	o.level = 10;
	uint8_t big[4096];
	cr_expect_eq(ory_gzip_buf(rt, in, sizeof(in), big, sizeof(big), &n, &o, NULL), -EINVAL);
	cr_expect(strstr(ory_runtime_errmsg(rt), "level 10"));
	ory_runtime_destroy(rt);
}

Test(gzip, options_from_an_older_shorter_struct_keep_defaults_and_too_short_ones_are_einval)
{
	/* runtime options: a struct that ends before chunk_size gets the 1 MiB default */
	struct ory_runtime_opts ro;
	ory_runtime_opts_init(&ro);
	ro.devices = "cpu:1";
	ro.chunk_size = 77; /* beyond the caller's struct: must not be read */
	ro.struct_size = offsetof(struct ory_runtime_opts, chunk_size);
	struct ory_runtime *rt;
	char err[256];
	cr_assert_eq(ory_runtime_create(&ro, &rt, err, sizeof(err)), 0, "%s", err);
	uint8_t in[3000], out[4096];
	memset(in, 'a', sizeof(in));
	size_t n;
	/* gzip options: a struct that ends at `independent` still compresses at its level */
	struct ory_gzip_opts go;
	ory_gzip_opts_init(&go);
	go.level = 1;
	go.independent = true;
	go.struct_size = offsetof(struct ory_gzip_opts, independent);
	cr_expect_eq(ory_gzip_buf(rt, in, sizeof(in), out, sizeof(out), &n, &go, NULL), 0, "%s",
		     ory_runtime_errmsg(rt));
	cr_expect_eq(out[8], 4, "XFL says level 1 (fastest)");
	go.struct_size = sizeof(size_t);
	cr_expect_eq(ory_gzip_buf(rt, in, sizeof(in), out, sizeof(out), &n, &go, NULL), -EINVAL);
	cr_expect(strstr(ory_runtime_errmsg(rt), "too small"));
	ory_runtime_destroy(rt);

	ro.struct_size = sizeof(size_t);
	cr_expect_eq(ory_runtime_create(&ro, &rt, err, sizeof(err)), -EINVAL);
}

Test(gzip, the_member_check_these_tests_rely_on_rejects_what_it_should)
{
	struct ory_runtime *rt = tu_runtime("cpu:1", 65536);
	size_t len = 100000, n;
	uint8_t *in = tu_text(len, 3);
	uint8_t *out = gz(rt, in, len, 1, false, NULL, &n);
	char why[256];
	cr_expect(tu_gzip_is_member_of(out, n, in, len, why, sizeof(why)), "%s", why);
	cr_expect_not(tu_gzip_is_member_of(out, n, in, len - 1, why, sizeof(why)), "length");
	in[len / 2] ^= 1;
	cr_expect_not(tu_gzip_is_member_of(out, n, in, len, why, sizeof(why)), "data");
	in[len / 2] ^= 1;
	uint8_t *two = malloc(2 * n);
	memcpy(two, out, n);
	memcpy(two + n, out, n);
	cr_expect_not(tu_gzip_is_member_of(two, 2 * n, in, len, why, sizeof(why)), "2 members");
	out[n - 1] ^= 1; /* ISIZE */
	cr_expect_not(tu_gzip_is_member_of(out, n, in, len, why, sizeof(why)), "trailer");
	out[0] = 0;
	cr_expect_not(tu_gzip_is_member_of(out, n, in, len, why, sizeof(why)), "header");
	free(two);
	free(out);
	free(in);
	ory_runtime_destroy(rt);
}

/* gzip_chunk_ends: an input of one chunk, at levels 4-9, is libdeflate's own stream between
 * the framing's header and trailer (gzip, zlib, raw). At levels 1-3, with more than a chunk,
 * or raw unterminated, the data ends in the sync marker as before. */
Test(gzip, an_input_of_one_chunk_is_libdeflates_own_stream_at_levels_4_to_9)
{
	size_t chunk = 64 * 1024, lens[] = { 1, 1000, 64 * 1024, 65 * 1024 };
	struct ory_runtime *rt = tu_runtime("cpu:2", chunk);
	uint8_t *in = tu_text(65 * 1024, 5);
	size_t cap = ory_gzip_bound(rt, 65 * 1024);
	uint8_t *out = malloc(cap), *ref = malloc(cap);
	for (int level = 1; level <= 9; level++) {
		struct libdeflate_compressor *ld = libdeflate_alloc_compressor(level);
		for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			size_t len = lens[i], rn = libdeflate_deflate_compress(ld, in, len, ref, cap);
			bool ends = level >= 4 && len <= chunk;
			/* framing, header and trailer bytes around the data */
			const struct { enum ory_framing f; bool unterminated; size_t head, tail; } fr[] = {
				{ ORY_FRAMING_GZIP, false, 10, 8 },
				{ ORY_FRAMING_ZLIB, false, 2, 4 },
				{ ORY_FRAMING_RAW, false, 0, 0 },
				{ ORY_FRAMING_RAW, true, 0, 0 },
			};
			for (size_t k = 0; k < 4; k++) {
				size_t n = framed(rt, in, len, level, fr[k].f, fr[k].unterminated, out, cap);
				size_t dn = n - fr[k].head - fr[k].tail;
				const uint8_t *d = out + fr[k].head;
				if (ends && !fr[k].unterminated) {
					/* the same in every framing as libdeflate's */
					cr_expect(dn == rn && !memcmp(d, ref, rn),
						  "level %d, %zu bytes, framing %zu: %zu bytes, not "
						  "libdeflate's %zu", level, len, k, dn, rn);
				} else if (len > 1) { /* 1 byte: a stored block, no marker */
					const char *end = fr[k].unterminated ? "\0\0\xff\xff" :
									       "\0\0\xff\xff\x03";
					size_t el = fr[k].unterminated ? 4 : 6;
					cr_expect(dn > el && !memcmp(d + dn - el, end, el),
						  "level %d, %zu bytes, framing %zu: no sync marker "
						  "(and final block) at the end", level, len, k);
				}
				if (k == 0)
					expect_one_member(out, n, in, len);
			}
		}
		libdeflate_free_compressor(ld);
	}
	ory_runtime_destroy(rt);

	/* A card (sim: stored blocks, verified) ends a one-chunk input with 03 00 itself. */
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "sim:1";
	o.chunk_size = chunk;
	o.verify = ORY_VERIFY_ALL;
	char err[256];
	cr_assert_eq(ory_runtime_create(&o, &rt, err, sizeof(err)), 0, "%s", err);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t n = framed(rt, in, lens[i], 6, ORY_FRAMING_GZIP, false, out, cap);
		expect_one_member(out, n, in, lens[i]);
		size_t stored = 0;
		for (size_t off = 0; off < lens[i]; off += chunk)
			stored += gzip_store(in + off, lens[i] - off < chunk ? lens[i] - off : chunk, ref);
		if (lens[i] <= chunk) /* (two chunks carry an index) */
			cr_expect_eq(n, 10 + stored + 2 + 8, "sim, %zu bytes: %zu, not %zu", lens[i],
				     n, 10 + stored + 2 + 8);
	}
	struct ory_device_info di = { .struct_size = sizeof(di) };
	cr_assert_eq(ory_runtime_device_info(rt, 0, &di), 0);
	cr_expect(!strcmp(di.kind, "sim") && di.chunks == 5 && di.failures == 0,
		  "%s: %llu chunks, %llu failed: the card's chunks did not all pass", di.kind,
		  (unsigned long long)di.chunks, (unsigned long long)di.failures);
	ory_runtime_destroy(rt);
	free(in);
	free(out);
	free(ref);
}

/* ory_gzip_fd from path, at offset `from`, into out: the output, read back. */
static uint8_t *gz_file(struct ory_runtime *rt, const char *path, off_t from, const char *out,
			int level, bool primed, size_t *out_len, int *rc)
{
	int ifd = open(path, O_RDONLY), ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert(ifd >= 0 && ofd >= 0, "%s, %s: %s", path, out, strerror(errno));
	cr_assert_eq(lseek(ifd, from, SEEK_SET), from);
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	o.level = level;
	o.independent = !primed;
	o.mtime = 1234567890;
	*rc = ory_gzip_fd(rt, ifd, ofd, &o, NULL);
	close(ifd);
	close(ofd);
	return tu_read_file(out, out_len);
}

/* A file is read into the pool, memory in place (reader.c): from any offset, at any level,
 * primed or not, the bytes are the same. */
Test(gzip, a_file_gives_the_bytes_of_the_same_data_in_memory, .timeout = 60)
{
	const size_t chunk = 64 * KiB, len = 5 * chunk + 777;
	struct ory_runtime *rt = tu_runtime("cpu:2", chunk);
	uint8_t *data = tu_text(len, 21);
	char *dir = tu_mkdtemp();
	char *in = strdup(tu_path(dir, "in")); /* tu_path's buffers are reused */
	tu_write_file(in, data, len);
	const size_t offsets[] = { 0, 1000, chunk, len - chunk };
	for (int level = 1; level <= 9; level += 5)
		for (int primed = 0; primed < 2; primed++)
			for (unsigned i = 0; i < sizeof(offsets) / sizeof(*offsets); i++) {
				size_t off = offsets[i], want_len, got_len;
				uint8_t *want = gz(rt, data + off, len - off, level, !primed, NULL,
						   &want_len);
				int rc;
				uint8_t *got = gz_file(rt, in, (off_t)off, tu_path(dir, "out.gz"),
						       level, primed, &got_len, &rc);
				cr_assert_eq(rc, 0, "%s", ory_runtime_errmsg(rt));
				cr_expect(got_len == want_len && !memcmp(got, want, want_len),
					  "level %d, primed %d, from %zu: %zu bytes, memory gave %zu",
					  level, primed, off, got_len, want_len);
				free(want);
				free(got);
			}
	ory_runtime_destroy(rt);
	free(data);
	free(in);
	tu_rmtree(dir);
	free(dir);
}

struct shrink {
	const char *path;
	off_t to;
	unsigned delay_ms;
};

static void *shrink_later(void *arg)
{
	struct shrink *s = arg;
	usleep(s->delay_ms * 1000);
	cr_assert_eq(truncate(s->path, s->to), 0);
	return NULL;
}

/* Whether gz is one gzip member of a prefix of want; *n: that prefix's length. */
static bool prefix_of(const uint8_t *gz, size_t gz_len, const uint8_t *want, size_t want_len,
		      size_t *n)
{
	uint8_t *out = malloc(want_len + 1);
	z_stream z = { .next_in = (uint8_t *)gz, .avail_in = (uInt)gz_len, .next_out = out,
		       .avail_out = (uInt)want_len + 1 };
	cr_assert_eq(inflateInit2(&z, 16 + MAX_WBITS), Z_OK);
	int rc = inflate(&z, Z_FINISH);
	*n = z.total_out;
	bool whole = rc == Z_STREAM_END && z.avail_in == 0 && *n <= want_len &&
		     !memcmp(out, want, *n);
	inflateEnd(&z);
	free(out);
	return whole;
}

/* A file cut short while it is read: either the request fails as the input's fault (no device
 * is blamed, nothing is retried), or its output is one member of what was there when each
 * chunk was read: a prefix of the file at least as long as the cut. Never a chunk of zeros or
 * of half-read bytes. One slow worker (level 9) keeps most chunks waiting for it. */
Test(gzip, a_file_cut_short_while_it_is_read_gives_a_prefix_or_an_input_error, .timeout = 60)
{
	const size_t chunk = 256 * KiB, len = 24 * chunk;
	struct ory_runtime *rt = tu_runtime("cpu:1", chunk);
	uint8_t *data = tu_random(len, 22);
	char *dir = tu_mkdtemp();
	char *in = strdup(tu_path(dir, "in")); /* tu_path's buffers are reused */
	const off_t cuts[] = { 0, (off_t)(chunk / 2), (off_t)(5 * chunk / 2), (off_t)(20 * chunk) };
	for (unsigned delay = 1; delay <= 16; delay *= 4)
		for (unsigned i = 0; i < sizeof(cuts) / sizeof(*cuts); i++) {
			tu_write_file(in, data, len);
			struct shrink s = { .path = in, .to = cuts[i], .delay_ms = delay };
			pthread_t t;
			cr_assert_eq(pthread_create(&t, NULL, shrink_later, &s), 0);
			size_t n;
			int rc;
			uint8_t *out = gz_file(rt, in, 0, tu_path(dir, "in.gz"), 9, false, &n, &rc);
			pthread_join(t, NULL);
			if (rc < 0) {
				cr_expect_eq(rc, -EIO);
				cr_expect_eq(ory_runtime_error_origin(rt), ORY_ORIGIN_INPUT, "%s",
					     ory_runtime_errmsg(rt));
			} else {
				size_t got;
				bool ok = prefix_of(out, n, data, len, &got);
				cr_expect(ok && got >= (size_t)s.to,
					  "cut to %lld after %u ms: %zu bytes inflated, %s",
					  (long long)s.to, delay, got,
					  ok ? "a prefix of the file" : "not one member of its prefix");
			}
			free(out);
		}
	struct ory_device_info info = { .struct_size = sizeof(info) };
	cr_assert_eq(ory_runtime_device_info(rt, 0, &info), 0);
	cr_expect_eq(info.failures, 0, "the worker was blamed for the file");
	ory_runtime_destroy(rt);
	free(data);
	free(in);
	tu_rmtree(dir);
	free(dir);
}
