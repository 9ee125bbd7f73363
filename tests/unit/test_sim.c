/* SPDX-License-Identifier: MIT */
/* test_sim.c - the simulated U50 (devices/sim): its output round-trips through gunzip and does
 * not depend on the card count, it takes at least the modelled time, and bad specs and configs
 * are refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <zlib.h>

#include "octoray/octoray.h"
#include "octoray/device.h"
#include "util.h"

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)
/* No modelled time at all: the tests that check output should not wait for a "card". */
#define FAST "mbps=0,dma_mbps=0,latency_us=0"

extern const struct ory_device_ops ory_sim_device_ops;

struct sim_job {
	int rc;
	uint8_t *out;
	size_t len;
	double seconds;
	struct ory_job_stats st;
	struct ory_device_info dev0;
	char err[256];
};

/* gzip `in` with `devices` at `chunk` bytes per chunk; rc is the runtime's or the job's. */
static struct sim_job run(const char *devices, const uint8_t *in, size_t len, size_t chunk)
{
	struct sim_job j;
	memset(&j, 0, sizeof(j));
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	o.chunk_size = chunk;
	o.fallback_cpu = false;
	struct ory_runtime *rt;
	j.rc = ory_runtime_create(&o, &rt, j.err, sizeof(j.err));
	if (j.rc < 0)
		return j;
	size_t cap = ory_gzip_bound(rt, len);
	j.out = malloc(cap);
	cr_assert(j.out);
	struct ory_gzip_opts g;
	ory_gzip_opts_init(&g);
	g.level = 1;
	j.st.struct_size = sizeof(j.st);
	double t0 = tu_now_s();
	j.rc = ory_gzip_buf(rt, in, len, j.out, cap, &j.len, &g, &j.st);
	j.seconds = tu_now_s() - t0;
	snprintf(j.err, sizeof(j.err), "%s", ory_runtime_errmsg(rt));
	j.dev0.struct_size = sizeof(j.dev0);
	ory_runtime_device_info(rt, 0, &j.dev0);
	ory_runtime_destroy(rt);
	return j;
}

/* Inflate gzip data with zlib (an independent decoder); caller frees. */
static uint8_t *gunzip(const uint8_t *gz, size_t gz_len, size_t expect, size_t *out_len)
{
	uint8_t *out = malloc(expect + 1);
	z_stream z;
	memset(&z, 0, sizeof(z));
	cr_assert_eq(inflateInit2(&z, 31), Z_OK);
	z.next_in = (uint8_t *)gz;
	z.avail_in = (uInt)gz_len;
	z.next_out = out;
	z.avail_out = (uInt)(expect + 1);
	int rc = inflate(&z, Z_FINISH);
	cr_assert_eq(rc, Z_STREAM_END, "zlib: %d (%s)", rc, z.msg ? z.msg : "");
	cr_assert_eq(z.avail_in, 0, "bytes after the gzip member");
	*out_len = z.total_out;
	inflateEnd(&z);
	return out;
}

Test(sim, output_gunzips_to_the_input)
{
	size_t len = 3 * MiB + 12345;
	uint8_t *in = tu_text(len, 1);
	struct sim_job j = run("sim:2?" FAST, in, len, 256 * KiB);
	cr_assert_eq(j.rc, 0, "%s", j.err);
	size_t n;
	uint8_t *back = gunzip(j.out, j.len, len, &n);
	cr_assert_eq(n, len);
	cr_assert(!memcmp(back, in, len));
	cr_expect_eq(j.st.retries, 0, "the runtime's verifier rejected sim output");
	free(back);
	free(j.out);
	free(in);
}

Test(sim, eight_cards_write_the_same_bytes_as_one)
{
	size_t len = 5 * MiB + 777;
	uint8_t *in = tu_random(len, 2);
	struct sim_job one = run("sim:1?" FAST, in, len, 64 * KiB);
	struct sim_job eight = run("sim:8?" FAST, in, len, 64 * KiB);
	cr_assert_eq(one.rc, 0, "%s", one.err);
	cr_assert_eq(eight.rc, 0, "%s", eight.err);
	cr_assert_eq(one.len, eight.len);
	cr_assert(!memcmp(one.out, eight.out, one.len));
	free(one.out);
	free(eight.out);
	free(in);
}

Test(sim, a_job_takes_at_least_the_modelled_kernel_time)
{
	/* 4 MiB at 100 MB/s: 41.9 ms of kernel time on one card, whatever the host does. */
	size_t len = 4 * MiB;
	uint8_t *in = tu_text(len, 3);
	struct sim_job j = run("sim:1?mbps=100,dma_mbps=0,latency_us=0", in, len, MiB);
	cr_assert_eq(j.rc, 0, "%s", j.err);
	double model = (double)len / 100e6;
	cr_expect_geq(j.seconds, model * 0.99, "%.4f s, model %.4f s", j.seconds, model);
	/* generous: a loaded CI host may wake the worker late */
	cr_expect_leq(j.seconds, model * 3 + 0.2, "%.4f s, model %.4f s", j.seconds, model);
	cr_expect_geq(j.dev0.busy_seconds, model * 0.99);
	free(j.out);
	free(in);
}

Test(sim, two_slots_overlap_dma_with_the_kernel)
{
	/* DMA and kernel each take 40 ms per chunk: one slot serialises them (4 x 80 ms), two
	 * slots pipeline them (about 4 x 40 ms + 40 ms). Long enough that late wake-ups on a
	 * host busy with other tests (each a few ms) do not hide the overlap. */
	size_t len = 4 * MiB;
	uint8_t *in = tu_text(len, 4);
	const char *base = "mbps=26.2144,dma_mbps=26.2144,ratio=0.0001,latency_us=0";
	char one[128], two[128];
	snprintf(one, sizeof(one), "sim:1?%s,slots=1", base);
	snprintf(two, sizeof(two), "sim:1?%s,slots=2", base);
	/* The model's time is the device's behaviour under test, but on a shared host another
	 * process can starve one run: the overlap must show in one of three tries. */
	struct sim_job a, b;
	for (int try = 0; try < 3; try++) {
		a = run(one, in, len, MiB);
		b = run(two, in, len, MiB);
		cr_assert_eq(a.rc, 0, "%s", a.err);
		cr_assert_eq(b.rc, 0, "%s", b.err);
		cr_expect_geq(a.seconds, 0.320 * 0.99, "one slot: %.4f s", a.seconds);
		cr_expect_geq(b.seconds, 0.200 * 0.99, "two slots: %.4f s", b.seconds);
		if (b.seconds < a.seconds * 0.8)
			break;
		free(a.out);
		free(b.out);
		a.out = b.out = NULL;
	}
	cr_expect_lt(b.seconds, a.seconds * 0.8, "two slots %.4f s, one slot %.4f s", b.seconds,
		     a.seconds);
	free(a.out);
	free(b.out);
	free(in);
}

/* abort ends a reap_or_work as it ends reap: the watchdog relies on it. */
Test(sim, abort_ends_a_wait_for_work_or_a_chunk)
{
	const char *args = "1?mbps=0,dma_mbps=0,latency_us=5000000";
	struct ory_device_desc d;
	memset(&d, 0, sizeof(d));
	cr_assert_eq(ory_sim_device_ops.probe(NULL, args, &d, 1), 1);
	d.args = args;
	void *dev;
	cr_assert_eq(ory_sim_device_ops.open(&d, &dev), 0);
	/* too little room: the card says so at the end, and needs no gzip parameters */
	uint8_t in[100] = {1}, out[16];
	struct ory_chunk c = {.in = in, .in_len = sizeof(in), .out = out, .out_cap = sizeof(out)};
	cr_assert_eq(ory_sim_device_ops.submit(dev, &c), 0);
	_Atomic uint32_t word = 7;
	/* the word moved before the wait: back at once, no chunk */
	cr_expect_null(ory_sim_device_ops.reap_or_work(dev, &word, 6));
	double t0 = tu_now_s();
	ory_sim_device_ops.abort(dev);
	struct ory_chunk *got = ory_sim_device_ops.reap_or_work(dev, &word, 7);
	cr_expect_lt(tu_now_s() - t0, 1.0, "abort did not end the 5 s wait");
	cr_expect_eq(got, &c);
	cr_expect_eq(c.status, -ECANCELED);
	ory_sim_device_ops.close(dev);
}

Test(sim, latency_is_paid_once_per_chunk)
{
	/* 3 chunks, 20 ms each, one at a time: at least 60 ms. */
	size_t len = 3 * 64 * KiB;
	uint8_t *in = tu_text(len, 5);
	struct sim_job j =
		run("sim:1?mbps=0,dma_mbps=0,latency_us=20000,slots=1", in, len, 64 * KiB);
	cr_assert_eq(j.rc, 0, "%s", j.err);
	cr_expect_geq(j.seconds, 0.060 * 0.99, "%.4f s", j.seconds);
	cr_expect_leq(j.seconds, 0.060 * 3 + 0.2, "%.4f s", j.seconds);
	free(j.out);
	free(in);
}

Test(sim, options_need_no_device_count)
{
	/* "sim?opts" is one card with those options, as "sim:1?opts": 2 chunks of 20 ms */
	size_t len = 2 * 64 * KiB;
	uint8_t *in = tu_text(len, 6);
	struct sim_job j = run("sim?mbps=0,dma_mbps=0,latency_us=20000,slots=1", in, len, 64 * KiB);
	cr_assert_eq(j.rc, 0, "%s", j.err);
	cr_expect_eq(j.dev0.chunks, 2);
	cr_expect_geq(j.seconds, 0.040 * 0.99, "%.4f s: the options were not applied", j.seconds);
	free(j.out);
	free(in);
}

Test(sim, bad_specs_are_refused_with_einval)
{
	const char *bad[] = {
		"sim:0",
		"sim:x",
		"sim:2x",
		"sim:-1",
		"sim:1?mbps=-1",
		"sim:1?mbps=fast",
		"sim:1?bogus=1",
		"sim:1?mbps",
		"sim:1?slots=0",
		"sim:1?slots=17",
		"sim:1?slots=1.5",
		"sim:1?ratio=0",
		"sim:1?config=/nonexistent/sim.ini",
		"sim:1000",
		"sim?bogus=1",
	};
	uint8_t in[16] = {0};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sim_job j = run(bad[i], in, sizeof(in), 64 * KiB);
		cr_expect_eq(j.rc, -EINVAL, "%s: %d (%s)", bad[i], j.rc, j.err);
		free(j.out);
	}
}

Test(sim, all_never_picks_the_simulator)
{
	cr_expect_leq(ory_sim_device_ops.priority, 0, "\"all\" takes kinds with priority above 0");
	cr_expect_not(ory_sim_device_ops.trusted, "its output must be verified like a card's");
}

static uint64_t expected_ns(const char *args)
{
	struct ory_device_desc d;
	memset(&d, 0, sizeof(d));
	cr_assert_eq(ory_sim_device_ops.probe(NULL, args, &d, 1), 1, "probe %s", args);
	d.args = args;
	void *dev;
	cr_assert_eq(ory_sim_device_ops.open(&d, &dev), 0, "open %s", args);
	uint64_t ns = ory_sim_device_ops.expected_ns(dev, MiB);
	cr_expect_eq(ory_sim_device_ops.max_inflight(dev), 2);
	ory_sim_device_ops.close(dev);
	return ns;
}

Test(sim, the_shipped_config_matches_the_built_in_defaults)
{
	char args[512];
	snprintf(args, sizeof(args), "1?config=%s/configs/sim-u50.ini", ORY_SOURCE_DIR);
	uint64_t from_file = expected_ns(args), built_in = expected_ns(NULL);
	cr_expect_eq(from_file, built_in, "%llu ns vs %llu ns", (unsigned long long)from_file,
		     (unsigned long long)built_in);
	/* 1 MiB: 87 us DMA in + 2996 us kernel + 31 us DMA out + 50 us latency */
	cr_expect(built_in > 3100000 && built_in < 3200000, "%llu ns",
		  (unsigned long long)built_in);
}

Test(sim, spec_keys_override_the_config_file)
{
	char *dir = tu_mkdtemp();
	const char *ini = tu_path(dir, "fast.ini");
	const char text[] = "[sim]\nmbps = 0\ndma_mbps = 0\nlatency_us = 0\n";
	cr_assert_eq(tu_write_file(ini, text, sizeof(text) - 1), 0);
	char args[512];
	snprintf(args, sizeof(args), "1?config=%s", ini);
	cr_expect_eq(expected_ns(args), 0);
	snprintf(args, sizeof(args), "1?latency_us=7,config=%s", ini);
	cr_expect_eq(expected_ns(args), 7000, "a key before config= still wins over the file");
	tu_rmtree(dir);
	free(dir);
}

Test(sim, a_config_with_an_unknown_key_is_refused)
{
	char *dir = tu_mkdtemp();
	const char *ini = tu_path(dir, "bad.ini");
	const char text[] = "[sim]\nmbps = 350\nturbo = 1\n";
	cr_assert_eq(tu_write_file(ini, text, sizeof(text) - 1), 0);
	char spec[512];
	snprintf(spec, sizeof(spec), "sim:1?config=%s", ini);
	uint8_t in[16] = {0};
	struct sim_job j = run(spec, in, sizeof(in), 64 * KiB);
	cr_expect_eq(j.rc, -EINVAL, "%d (%s)", j.rc, j.err);
	free(j.out);
	tu_rmtree(dir);
	free(dir);
}
