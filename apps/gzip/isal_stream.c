/* SPDX-License-Identifier: MIT */
/*
 * isal_stream.c - ISA-L deflate streams placed where ISA-L's output does not depend on them.
 *
 * ISA-L's x86 body for levels 1 and 2 (igzip_icf_body_h1_gr_bt.asm, .write_first_byte, in 2.30
 * and still in its master branch) starts a stream without history by hashing "the third input
 * byte" from a register that still holds the isal_zstream's address: position 2 goes into the
 * hash bucket of address bits 16..47 instead of its data's. The output stays valid, but a chunk
 * whose first bytes hash to that bucket gains or loses a match (a byte or two of output) against
 * a stream that lives elsewhere: on another worker thread (another malloc arena), in another
 * process (ASLR). Chunks without a dictionary take that path (the first, independent ones,
 * --rsyncable's segments), and their bytes must not depend on which thread ran them. So every
 * stream starts a 64 KiB window whose bucket is 0: the same bucket, the same output, wherever
 * it runs. Without SSE4.2, ISA-L's C body hashes the data; where no window can be reserved (a
 * small RLIMIT_AS) the stream goes anywhere, and the output is valid as before. docs/upstream.md
 * has the report for ISA-L.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include <isa-l/igzip_lib.h>

#include "gzip_internal.h"

#define WINDOW_BITS 16 /* the address bits ISA-L drops */
#define HASH_MASK 0x7fffu /* level 2's hash; level 1's (0x1fff) is its low bits */
/* The buckets of 2^15 aligned consecutive windows are every value once (the CRC is linear and
 * this part of it invertible): 4 GiB of address space, reserved and not committed, holds such a
 * run and so a window of bucket 0. */
#define RESERVE ((size_t)4 << 30)

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t bucket(uintptr_t addr)
{
	return __builtin_ia32_crc32si(0, (uint32_t)(addr >> WINDOW_BITS)) & HASH_MASK; /* ISA-L's */
}

static void *place(size_t len)
{
	if (!__builtin_cpu_supports("sse4.2"))
		return MAP_FAILED;
	uint8_t *res = mmap(NULL, RESERVE + len, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (res == MAP_FAILED)
		return MAP_FAILED;
	uintptr_t step = (uintptr_t)1 << WINDOW_BITS, start = (uintptr_t)res;
	uintptr_t end = start + RESERVE + len, w = (start + step - 1) & ~(step - 1);
	while (w < start + RESERVE && bucket(w) != 0)
		w += step;
	void *zs = w < start + RESERVE ? mmap((void *)w, len, PROT_READ | PROT_WRITE,
					      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0)
				       : MAP_FAILED;
	if (zs == MAP_FAILED) {
		munmap(res, RESERVE + len);
		return MAP_FAILED;
	}
	/* Give back the reservation around the stream's pages. */
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t after = (w + len + page - 1) & ~(page - 1);
	if (w > start)
		munmap(res, w - start);
	if (end > after)
		munmap((void *)after, end - after);
	return zs;
}
#else
static void *place(size_t len)
{
	(void)len;
	return MAP_FAILED;
}
#endif

struct isal_zstream *gzip_isal_stream_new(void)
{
	size_t len = sizeof(struct isal_zstream);
	void *zs = place(len);
	if (zs == MAP_FAILED)
		zs = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zs == MAP_FAILED)
		return NULL;
	isal_deflate_init(zs);
	return zs;
}

void gzip_isal_stream_free(struct isal_zstream *zs)
{
	if (zs)
		munmap(zs, sizeof(*zs));
}
