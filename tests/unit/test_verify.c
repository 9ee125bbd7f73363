/* SPDX-License-Identifier: MIT */
/* The gzip verifier (--verify): every way a device can lie about a chunk is caught, and an
 * honest chunk from either kernel (deflate or stored blocks, primed or not) passes. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <zlib.h>

#include "apps/gzip/gzip_internal.h"
#include "util.h"

#define DICT (32u << 10)
#define LEN ((1u << 20) + 17) /* not a multiple of the verifier's piece */

static uint8_t *area; /* dictionary, then the chunk's input */
static uint8_t *out;
static void *sw, *ver;
static struct ory_chunk c;
static const struct gzip_params params = { .level = 1, .primed = true };

static void setup(void)
{
	area = tu_text(DICT + LEN, 11);
	out = malloc(gzip_chunk_bound(LEN));
	cr_assert(area && out);
	cr_assert_eq(ory_gzip_app.sw->open(&sw), 0);
	cr_assert_eq(ory_gzip_app.verify->open(&ver), 0);
}

static void teardown(void)
{
	ory_gzip_app.sw->close(sw);
	ory_gzip_app.verify->close(ver);
	free(area);
	free(out);
}

/* An honest chunk: compressed by the software kernel, or stored blocks as a card may send. */
static void honest(bool stored, size_t dict_len)
{
	c = (struct ory_chunk){ .params = &params, .in = area + DICT, .in_len = LEN,
				.dict = area + DICT - dict_len, .dict_len = dict_len,
				.out = out, .out_cap = gzip_chunk_bound(LEN) };
	if (stored) {
		c.out_len = gzip_store(c.in, c.in_len, c.out);
		c.check = crc32_gzip_refl(0, c.in, c.in_len);
	} else {
		cr_assert_eq(ory_gzip_app.sw->run(sw, &c), 0);
	}
}

static int verify(void)
{
	return ory_gzip_app.verify->run(ver, &c);
}

TestSuite(verify, .init = setup, .fini = teardown);

Test(verify, honest_chunks_pass)
{
	honest(false, DICT);
	cr_expect_eq(verify(), 0, "primed deflate");
	honest(false, 0);
	cr_expect_eq(verify(), 0, "independent deflate");
	honest(true, 0);
	cr_expect_eq(verify(), 0, "stored blocks");
}

Test(verify, a_wrong_crc_is_caught)
{
	honest(false, DICT);
	c.check ^= 1;
	cr_expect_eq(verify(), -EBADMSG);
	honest(true, 0);
	c.check = 0;
	cr_expect_eq(verify(), -EBADMSG);
}

Test(verify, a_damaged_byte_is_caught_wherever_it_is)
{
	/* stored blocks carry the input verbatim: a flipped byte still inflates, to other data */
	const size_t at[] = { 0, 16 << 10, 65535, LEN / 2, LEN - 1 };
	for (size_t i = 0; i < sizeof(at) / sizeof(at[0]); i++) {
		honest(true, 0);
		c.out[at[i] + 5 * (at[i] / 65535 + 1)] ^= 0x20; /* past each 5-byte block header */
		cr_expect_eq(verify(), -EBADMSG, "byte %zu", at[i]);
	}
}

Test(verify, short_long_or_final_output_is_caught)
{
	honest(false, DICT);
	c.out_len /= 2;
	cr_expect_eq(verify(), -EBADMSG, "truncated");

	honest(true, 0);
	c.out_len -= 1;
	cr_expect_eq(verify(), -EBADMSG, "one byte short");

	/* one more stored block: inflates to more than the input */
	honest(true, 0);
	c.out_len += gzip_store((const uint8_t *)"x", 1, c.out + c.out_len);
	cr_expect_eq(verify(), -EBADMSG, "too long");

	/* the first stored block marked final: the chunk would end the stream */
	honest(true, 0);
	c.out[0] |= 1;
	cr_expect_eq(verify(), -EBADMSG, "final block");
}

/* A chunk the verifier passes, followed by the stream's final empty block (03 00), must
 * inflate to its input: it ends byte-aligned between blocks, as the next chunk needs. */
static bool ends_cleanly(const struct ory_chunk *k)
{
	uint8_t *b = malloc(k->out_len + 2), *back = malloc(k->in_len + 1);
	memcpy(b, k->out, k->out_len);
	b[k->out_len] = 0x03;
	b[k->out_len + 1] = 0x00;
	z_stream z;
	memset(&z, 0, sizeof(z));
	inflateInit2(&z, -15);
	z.next_in = b;
	z.avail_in = (uInt)k->out_len + 2;
	z.next_out = back;
	z.avail_out = (uInt)k->in_len + 1;
	bool ok = inflate(&z, Z_FINISH) == Z_STREAM_END && z.avail_in == 0 &&
		  z.total_out == k->in_len && !memcmp(back, k->in, k->in_len);
	inflateEnd(&z);
	free(b);
	free(back);
	return ok;
}

/* Found by tests/fuzz/fuzz_gzip (a fault device halving chunks): a small chunk's deflate data
 * is one Huffman-coded block and the empty stored block of the sync flush; cut in half, it
 * kept every symbol of the block but not its end, inflated to the whole input and passed, and
 * the next chunk's bits were read as part of its block. */
Test(verify, a_chunk_cut_short_passes_only_if_it_still_ends_between_blocks)
{
	for (size_t len = 1; len <= 300; len++) {
		for (int level = 1; level <= 9; level++) {
			struct gzip_params p = { .level = level, .primed = false };
			void *k;
			cr_assert_eq(ory_gzip_app.sw->open(&k), 0);
			c = (struct ory_chunk){ .params = &p, .in = area + DICT, .in_len = len,
						.dict = area + DICT, .out = out,
						.out_cap = gzip_chunk_bound(len) };
			cr_assert_eq(ory_gzip_app.sw->run(k, &c), 0);
			ory_gzip_app.sw->close(k);
			cr_expect_eq(verify(), 0, "level %d, %zu bytes: honest", level, len);
			size_t full = c.out_len;
			for (c.out_len = 1; c.out_len < full; c.out_len++)
				if (verify() == 0)
					cr_expect(ends_cleanly(&c), "level %d, %zu bytes: cut to %zu of "
						  "%zu passed", level, len, c.out_len, full);
			c.out_len = full;
		}
	}
}

Test(verify, output_made_without_the_dictionary_it_claims_is_caught)
{
	/* compressed against the previous 32 KiB, then checked as if independent */
	honest(false, DICT);
	c.dict_len = 0;
	cr_expect_eq(verify(), -EBADMSG);
}

/* gzip_chunk_ends: a request's only chunk ends in the final block. Whole, it passes,
 * from the software kernel (libdeflate's stream as it is) or as a card sends it (non-final
 * blocks, then 03 00); cut, extended or not final, it fails; and elsewhere a final block
 * still fails. */
Test(verify, a_chunk_that_ends_the_stream_passes_whole_and_final_only)
{
	for (size_t len = 1; len <= 3000; len += 137) {
		for (int level = 4; level <= 9; level++) {
			struct gzip_params p = { .level = level, .first_ends = true };
			void *k;
			cr_assert_eq(ory_gzip_app.sw->open(&k), 0);
			c = (struct ory_chunk){ .params = &p, .in = area + DICT, .in_len = len,
						.out = out, .out_cap = gzip_chunk_bound(len) };
			cr_assert_eq(ory_gzip_app.sw->run(k, &c), 0);
			ory_gzip_app.sw->close(k);
			cr_expect_eq(verify(), 0, "level %d, %zu bytes: honest", level, len);
			size_t full = c.out_len;
			for (c.out_len = 1; c.out_len < full; c.out_len++)
				cr_expect_neq(verify(), 0, "level %d, %zu bytes: cut to %zu passed",
					      level, len, c.out_len);
			out[full] = 0;
			c.out_len = full + 1;
			cr_expect_neq(verify(), 0, "level %d, %zu bytes: a byte after it", level, len);
			c.out_len = full;
			p.first_ends = false; /* the same bytes where the chunk must not end */
			cr_expect_neq(verify(), 0, "level %d, %zu bytes: final elsewhere", level, len);
			p.first_ends = true;
			c.seq = 1; /* ...nor after the first chunk */
			cr_expect_neq(verify(), 0, "level %d, %zu bytes: final, chunk 1", level, len);
			c.seq = 0;

			/* a card's: stored blocks and the final block; without it, not ended */
			size_t stored = gzip_store(c.in, len, c.out);
			c.out_len = stored;
			cr_expect_neq(verify(), 0, "level %d, %zu bytes: not ended", level, len);
			gzip_chunk_end(&c);
			cr_expect_eq(c.out_len, stored + 2);
			cr_expect_eq(verify(), 0, "level %d, %zu bytes: a card's, ended", level, len);
		}
	}
}
