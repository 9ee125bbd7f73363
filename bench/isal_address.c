/* SPDX-License-Identifier: MIT */
/* isal_address.c - ISA-L alone (no Octoray code) shows that its level-1/2 output depends on
 * where its isal_zstream lives: the x86 body hashes a stream's position 2 from the stream's
 * address (apps/gzip/isal_stream.c has the details and Octoray's way around it). Two streams at
 * addresses in different 64 KiB windows deflate the same small inputs, one per hash bucket
 * (bytes 1..4 a word b, repeated at offset 100); some come out different, and inflate to the
 * same bytes. For a report upstream.
 *
 *   isal-address        prints the first input that differs; exit 1 if one does
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/igzip_lib.h>

#define IN 256

static size_t deflate_at(struct isal_zstream *zs, uint8_t *level_buf, const uint8_t *in,
			 uint8_t *out)
{
	isal_deflate_init(zs);
	zs->level = 1;
	zs->level_buf = level_buf;
	zs->level_buf_size = ISAL_DEF_LVL1_DEFAULT;
	zs->next_in = (uint8_t *)in;
	zs->avail_in = IN;
	zs->next_out = out;
	zs->avail_out = 2 * IN;
	zs->end_of_stream = 1;
	zs->flush = NO_FLUSH;
	if (isal_deflate(zs) != COMP_OK) {
		fprintf(stderr, "isal-address: isal_deflate failed\n");
		exit(2);
	}
	return zs->total_out;
}

int main(void)
{
	/* A 64 KiB window apart: ISA-L uses address bits 16 and up. */
	uint8_t *area = aligned_alloc(1 << 16, 4 << 16); /* two streams of 80 KiB */
	uint8_t *level_buf = malloc(ISAL_DEF_LVL1_DEFAULT);
	if (!area || !level_buf)
		return 2;
	struct isal_zstream *a = (void *)area, *b = (void *)(area + (1 << 17));
	uint8_t in[IN], out_a[2 * IN], out_b[2 * IN];
	for (uint32_t w = 0; w < 1u << 15; w++) {
		memset(in, 'z', IN);
		in[0] = 0x80;
		memcpy(in + 1, &w, 4);
		memcpy(in + 100, &w, 4);
		size_t na = deflate_at(a, level_buf, in, out_a);
		size_t nb = deflate_at(b, level_buf, in, out_b);
		if (na != nb || memcmp(out_a, out_b, na)) {
			printf("input %u: stream at %p wrote %zu bytes, stream at %p %zu\n", w,
			       (void *)a, na, (void *)b, nb);
			return 1;
		}
	}
	printf("no input differed between streams at %p and %p\n", (void *)a, (void *)b);
	return 0;
}
