/* SPDX-License-Identifier: MIT */
/* test_xrt.c - the XRT device's gzip path end to end on XRT's noop shim (open, load, CUs by
 * instance, banks, BOs, sync, runs, sizes, assembly), with the kernels' software twins standing
 * in for the card: 1, 2 and 4 simulated cards. No FPGA is involved or claimed. */
#include <criterion/criterion.h>

#ifdef ORY_WITH_XRT
#include <fcntl.h>
#include <unistd.h>

#include "xrt_noop.h"

#define MiB ((size_t)1 << 20)

TestSuite(xrt_gzip, .init = xrt_noop_env, .fini = xrt_rt_destroy, .timeout = 120);

Test(xrt_gzip, one_card_writes_one_gzip_member_that_inflates_to_the_input)
{
	size_t len = 3 * MiB + 12345, gz_len;
	uint8_t *in = tu_text(len, 1);
	struct ory_job_stats st = { .struct_size = sizeof(st) };
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN, 0, 0);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, &st);
	xrt_expect_member(gz, gz_len, in, len);
	cr_expect_lt(gz_len, len / 2, "text should compress: %zu of %zu", gz_len, len);
	cr_expect_eq(st.retries, 0);
	struct ory_device_info a = xrt_dev_info("xrt0"), b = xrt_dev_info("xrt1");
	cr_expect_eq(a.chunks + b.chunks, 4, "the card's two engines ran %llu + %llu chunks",
		     (unsigned long long)a.chunks, (unsigned long long)b.chunks);
	cr_expect_eq(a.failures + b.failures, 0);
	free(gz);
	free(in);
}

Test(xrt_gzip, two_and_four_cards_write_the_same_bytes_as_one)
{
	size_t len = 6 * MiB + 777, one_len, n_len;
	uint8_t *in = tu_text(len, 2);
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN, 0, 0);
	uint8_t *one = xrt_gzip(in, len, &one_len, NULL);
	xrt_expect_member(one, one_len, in, len);
	const char *specs[] = { "xrt:0,1?xclbin=" GZ_XCLBIN, "xrt:0-3?xclbin=" GZ_XCLBIN };
	for (int i = 0; i < 2; i++) {
		xrt_rt_make(specs[i], 0, 0);
		cr_assert_eq(ory_runtime_device_count(xrt_rt), 4u << i);
		uint8_t *many = xrt_gzip(in, len, &n_len, NULL);
		cr_expect(n_len == one_len && !memcmp(many, one, one_len), "%s differs from xrt:0",
			  specs[i]);
		free(many);
	}
	free(one);
	free(in);
}

Test(xrt_gzip, every_engine_is_a_device_located_on_its_card)
{
	xrt_rt_make("xrt:0,1?xclbin=" GZ_XCLBIN, 0, 0);
	cr_assert_eq(ory_runtime_device_count(xrt_rt), 4);
	const char *loc[] = { "noop:0", "noop:0", "noop:1", "noop:1" };
	for (unsigned i = 0; i < 4; i++) {
		struct ory_device_info d = { .struct_size = sizeof(d) };
		cr_assert_eq(ory_runtime_device_info(xrt_rt, i, &d), 0);
		char name[8];
		snprintf(name, sizeof(name), "xrt%u", i);
		cr_expect_str_eq(d.name, name);
		cr_expect_str_eq(d.kind, "xrt");
		cr_expect_str_eq(d.location, loc[i]);
	}
	/* Engine 1 of each card opens instance _2 with its buffers in HBM[1]. */
	cr_expect(xrt_log_has("xrt3: card noop:1 engine 1: xilLz77Compress_2 + xilHuffmanKernel_2, "
			      "buffers in bank 1 (HBM[1])"),
		  "log:\n%s", xrt_logbuf);
}

Test(xrt_gzip, eight_mib_chunks_fill_all_eight_blocks_of_a_kernel_call)
{
	size_t len = 8 * MiB * 2 + 3 * MiB + 5, gz_len;
	uint8_t *in = tu_text(len, 3);
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN, 8 * MiB, 0);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, NULL);
	xrt_expect_member(gz, gz_len, in, len);
	free(gz);
	free(in);
}

Test(xrt_gzip, short_chunks_and_boundary_sizes_round_trip)
{
	size_t lens[] = { 1, 2, 65535, 65536, 65537, 1048575, 1048577 };
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN, 64 * 1024, 0);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t gz_len;
		uint8_t *in = i % 2 ? tu_random(lens[i], i) : tu_text(lens[i], i);
		uint8_t *gz = xrt_gzip(in, lens[i], &gz_len, NULL);
		xrt_expect_member(gz, gz_len, in, lens[i]);
		/* The card has one level. At 6 a short chunk ends the stream (gzip_chunk_ends): the
		 * card appends the 03 00 the trailer leaves out, so only the XFL hint differs. */
		size_t gz6_len;
		uint8_t *gz6 = xrt_gzip_level(in, lens[i], 6, &gz6_len, NULL);
		cr_expect(gz6_len == gz_len && !memcmp(gz6 + 9, gz + 9, gz_len - 9),
			  "%zu bytes: level 6 is not level 1's card output", lens[i]);
		free(gz6);
		free(gz);
		free(in);
	}
}

Test(xrt_gzip, blocks_the_card_cannot_shrink_are_stored_within_the_bound)
{
	/* Random bytes deflate to more than the 1 MiB stride: the card's "did not fit". */
	size_t len = 4 * MiB, gz_len;
	uint8_t *in = tu_random(len, 4);
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN "&verify=1", 8 * MiB, 0);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, NULL);
	xrt_expect_member(gz, gz_len, in, len);
	cr_expect_leq(gz_len, ory_gzip_bound(xrt_rt, len));
	cr_expect(xrt_log_has("could not compress; those were stored"), "log:\n%s", xrt_logbuf);
	free(gz);
	free(in);
}

Test(xrt_gzip, a_mix_stores_only_the_blocks_that_did_not_fit)
{
	/* 3 MiB of text, 1 MiB of random bytes, 4 MiB of text: one 8-block kernel call. */
	size_t len = 8 * MiB, gz_len;
	uint8_t *in = tu_text(len, 5), *rnd = tu_random(MiB, 5);
	memcpy(in + 3 * MiB, rnd, MiB);
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN "&verify=1", 8 * MiB, 0);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, NULL);
	xrt_expect_member(gz, gz_len, in, len);
	/* The random block and the one after it are stored; the other six compress (to about a
	 * third), where storing the whole call would take all 8 MiB. */
	cr_expect_lt(gz_len, 5 * MiB, "%zu bytes", gz_len);
	cr_expect_gt(gz_len, 2 * MiB, "%zu bytes: the random block cannot shrink", gz_len);
	free(gz);
	free(rnd);
	free(in);
}

Test(xrt_gzip, verify_accepts_the_blocks_of_a_working_card)
{
	size_t len = 5 * MiB, gz_len;
	uint8_t *in = tu_text(len, 6);
	struct ory_job_stats st = { .struct_size = sizeof(st) };
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN "&verify=1&gzip.slots=1", 0, 0);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, &st);
	xrt_expect_member(gz, gz_len, in, len);
	cr_expect_eq(st.retries, 0, "log:\n%s", xrt_logbuf);
	free(gz);
	free(in);
}

/* dir/in through ory_gzip_fd with xrt_rt at level 1 into dir/in.gz; its bytes (caller frees). */
static uint8_t *gzip_file(const char *dir, size_t *len)
{
	int ifd = open(tu_path(dir, "in"), O_RDONLY);
	int ofd = open(tu_path(dir, "in.gz"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	o.level = 1;
	cr_assert_eq(ory_gzip_fd(xrt_rt, ifd, ofd, &o, NULL), 0, "%s", ory_runtime_errmsg(xrt_rt));
	close(ifd);
	close(ofd);
	return tu_read_file(tu_path(dir, "in.gz"), len);
}

Test(xrt_gzip, gzip_fd_writes_what_gzip_buf_writes)
{
	char *dir = tu_mkdtemp();
	size_t len = 2 * MiB + 99, buf_len, fd_len;
	uint8_t *in = tu_text(len, 7);
	cr_assert_eq(tu_write_file(tu_path(dir, "in"), in, len), 0);
	xrt_rt_make("xrt:0,1?xclbin=" GZ_XCLBIN, 0, 0);
	uint8_t *gz = xrt_gzip(in, len, &buf_len, NULL);
	uint8_t *file = gzip_file(dir, &fd_len);
	cr_expect(fd_len == buf_len && !memcmp(file, gz, buf_len), "fd and buf outputs differ");
	free(file);
	free(gz);
	free(in);
	tu_rmtree(dir);
	free(dir);
}

/* Sum the engines' "input of N chunks sent from the pool, M copied" lines (at detach). */
static void pool_counts(unsigned long *from_pool, unsigned long *copied)
{
	*from_pool = *copied = 0;
	for (const char *p = xrt_logbuf; (p = strstr(p, ": input of ")); p++) {
		unsigned long a, b;
		if (sscanf(p, ": input of %lu chunks sent from the pool, %lu copied", &a, &b) == 2) {
			*from_pool += a;
			*copied += b;
		}
	}
}

Test(xrt_gzip, a_file_goes_to_the_card_from_the_pool_and_a_callers_buffer_is_copied)
{
	char *dir = tu_mkdtemp();
	size_t len = 3 * MiB + 5, buf_len, fd_len;
	uint8_t *in = tu_text(len, 8), *other = tu_text(len, 9);
	cr_assert_eq(tu_write_file(tu_path(dir, "in"), in, len), 0);
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN, 0, 0);
	/* 4 chunks read in place, copied into the slots' own input buffers, which then hold
	 * other bytes than the file's */
	uint8_t *gz = xrt_gzip(other, len, &buf_len, NULL);
	xrt_expect_member(gz, buf_len, other, len);
	/* The model read the card's input through the pool's view. */
	uint8_t *file = gzip_file(dir, &fd_len);
	xrt_expect_member(file, fd_len, in, len);
	xrt_rt_destroy();
	unsigned long from_pool, copied;
	pool_counts(&from_pool, &copied);
	cr_expect_eq(from_pool, 4, "file chunks sent from the pool: %lu\nlog:\n%s", from_pool,
		     xrt_logbuf);
	cr_expect_eq(copied, 4, "buffer chunks copied: %lu", copied);
	free(file);
	free(gz);
	free(other);
	free(in);
	tu_rmtree(dir);
	free(dir);
}

Test(xrt_gzip, the_shipped_u50_configs_describe_the_generated_design)
{
	const char *cfgs[] = { "u50.ini", "u50x2.ini" };
	for (int i = 0; i < 2; i++) {
		char spec[1024];
		snprintf(spec, sizeof(spec), "xrt:?config=%s/configs/%s&xclbin=%s", ORY_SOURCE_DIR,
			 cfgs[i], GZ_XCLBIN);
		xrt_rt_make(spec, 0, 0);
		cr_expect_eq(ory_runtime_device_count(xrt_rt), 2u << i, "%s", cfgs[i]);
		size_t gz_len, len = MiB + 3;
		uint8_t *in = tu_text(len, 8);
		uint8_t *gz = xrt_gzip(in, len, &gz_len, NULL);
		xrt_expect_member(gz, gz_len, in, len);
		free(gz);
		free(in);
	}
}

Test(xrt_gzip, a_config_file_from_the_environment_is_read)
{
	char *dir = tu_mkdtemp();
	char text[1024];
	/* A relative xclbin path is relative to the config file. */
	cr_assert_eq(symlink(GZ_XCLBIN, tu_path(dir, "design.xclbin")), 0);
	int n = snprintf(text, sizeof(text), "[xrt]\ncards = 0-2\n[gzip]\nxclbin = design.xclbin\n"
					     "slots = 1\nengines = 1\n");
	cr_assert_eq(tu_write_file(tu_path(dir, "cfg.ini"), text, (size_t)n), 0);
	setenv("ORY_XRT_CONFIG", tu_path(dir, "cfg.ini"), 1);
	xrt_rt_make("xrt", 0, 0);
	cr_expect_eq(ory_runtime_device_count(xrt_rt), 3, "one engine on each of 3 cards");
	size_t gz_len, len = 2 * MiB;
	uint8_t *in = tu_text(len, 9);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, NULL);
	xrt_expect_member(gz, gz_len, in, len);
	free(gz);
	free(in);
	xrt_rt_destroy();
	tu_rmtree(dir);
	free(dir);
}

#else
Test(xrt_gzip, needs_the_xrt_device)
{
	cr_skip_test("built without ORY_WITH_XRT");
}
#endif
