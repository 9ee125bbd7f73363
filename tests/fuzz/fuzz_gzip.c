/* SPDX-License-Identifier: MIT */
/*
 * fuzz_gzip.c - compression round trip: ory_gzip_buf on any bytes, at any level, chunk size,
 * independence and device set, must give one gzip member that zlib inflates to the input.
 *
 * Input: byte 0 the level (1..9) and `independent`; byte 1 the device set; byte 2 the chunk
 * size (32 KiB .. 256 KiB); byte 3 how many times the rest is repeated (1..64, so small inputs
 * still span chunks); byte 4 the fault schedule's seed. The rest is the data.
 * Device sets: CPU workers; a sim card with no modelled time (stored blocks, verified); a
 * fault device failing, corrupting and truncating chunks on a seeded schedule next to a CPU
 * worker, which must catch and redo every bad chunk (--verify is on for it). Runtimes are
 * expensive, so a few are kept, keyed by (device set, chunk size, seed).
 */
#include <errno.h>
#include <zlib.h>

#include "fuzz.h"

#define CACHE 8

static const char *const sets[] = {
	"cpu:1",
	"cpu:2",
	"sim:1?mbps=0,dma_mbps=0,latency_us=0+cpu:1",
	"fault:cpu:1?fail=0.2,corrupt=0.2,truncate=0.2,seed=%u+cpu:1",
};

static struct {
	char spec[128];
	size_t chunk;
	struct ory_runtime *rt;
} cache[CACHE];
static unsigned next_slot;

static struct ory_runtime *runtime(const char *spec, size_t chunk)
{
	for (unsigned i = 0; i < CACHE; i++)
		if (cache[i].rt && cache[i].chunk == chunk && !strcmp(cache[i].spec, spec))
			return cache[i].rt;
	unsigned i = next_slot++ % CACHE;
	ory_runtime_destroy(cache[i].rt);
	snprintf(cache[i].spec, sizeof(cache[i].spec), "%s", spec);
	cache[i].chunk = chunk;
	/* A chunk may fail on the fault device many times before the CPU worker takes it. */
	cache[i].rt = fz_runtime(spec, chunk, 100);
	return cache[i].rt;
}

static void release(void)
{
	for (unsigned i = 0; i < CACHE; i++)
		ory_runtime_destroy(cache[i].rt);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	atexit(release);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 5)
		return 0;
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	o.level = d[0] % 9 + 1;
	o.independent = d[0] & 0x80;
	char spec[128];
	snprintf(spec, sizeof(spec), sets[d[1] % 4], d[4] % 4);
	size_t chunk = (size_t)32768 << (d[2] % 4);
	unsigned reps = d[3] % 64 + 1;
	size_t part = n - 5, len = part * reps;
	uint8_t *in = malloc(len + 1);
	for (unsigned r = 0; r < reps; r++)
		memcpy(in + (size_t)r * part, d + 5, part);

	struct ory_runtime *rt = runtime(spec, chunk);
	size_t cap = ory_gzip_bound(rt, len), out_len;
	uint8_t *out = malloc(cap), *back = malloc(len + 1);
	int rc = ory_gzip_buf(rt, in, len, out, cap, &out_len, &o, NULL);
	FZ_CHECK(rc == 0, "%s, level %d, chunk %zu: %s", spec, o.level, chunk,
		 ory_runtime_errmsg(rt));

	z_stream z;
	memset(&z, 0, sizeof(z));
	FZ_CHECK(inflateInit2(&z, 16 + 15) == Z_OK, "inflateInit2");
	z.next_in = out;
	z.avail_in = (uInt)out_len;
	z.next_out = back;
	z.avail_out = (uInt)len + 1;
	int zrc = inflate(&z, Z_FINISH);
	FZ_CHECK(zrc == Z_STREAM_END, "%s, level %d: zlib %d (%s)", spec, o.level, zrc,
		 z.msg ? z.msg : "");
	FZ_CHECK(z.avail_in == 0, "%u bytes after the member", z.avail_in);
	FZ_CHECK(z.total_out == len, "%lu bytes back, %zu in", z.total_out, len);
	FZ_CHECK(!memcmp(back, in, len), "%s, level %d: the data differs", spec, o.level);
	inflateEnd(&z);
	free(back);
	free(out);
	free(in);
	return 0;
}
