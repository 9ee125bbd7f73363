/* SPDX-License-Identifier: MIT */
/* test_xrt_cnv.c - FINN's CNV through the XRT device on the noop shim (idma0/odma0 by instance,
 * banks, BOs, runs), with a stand-in "cnv" app whose software kernel classifies an image by its
 * byte sum: the card's noop model runs that kernel, so the classes are checkable. */
#include <criterion/criterion.h>

#ifdef ORY_WITH_XRT
#include <errno.h>

#include "runtime/internal.h"
#include "xrt_noop.h"

#define IMAGE 3072
#define CHUNK_IMAGES 100
#define CNV_XCLBIN ORY_XCLBIN_DIR "/cnv.xclbin"

static uint8_t classify(const uint8_t *img)
{
	unsigned sum = 0;
	for (unsigned i = 0; i < IMAGE; i++)
		sum += img[i];
	return (uint8_t)(sum % 10);
}

static int cls_open(void **state)
{
	*state = NULL;
	return 0;
}

static int cls_run(void *state, struct ory_chunk *c)
{
	(void)state;
	size_t n = c->in_len / IMAGE;
	if (c->in_len % IMAGE || n > c->out_cap)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		c->out[i] = classify(c->in + i * IMAGE);
	c->out_len = n;
	c->check = 0;
	return 0;
}

static void cls_close(void *state)
{
	(void)state;
}

static const struct ory_kernel_ops cls_ops = {cls_open, cls_run, cls_close};
static size_t cls_bound(size_t chunk)
{
	return chunk / IMAGE;
}

static const struct ory_app cnv_app = { .name = "cnv", .sw = &cls_ops, .out_bound = cls_bound };

/* The stand-in is an app the runtime serves beside the real one (same name: the card runs
 * both). */
static void setup(void)
{
	xrt_noop_env();
	ory_register_app(&cnv_app);
}

TestSuite(xrt_cnv, .init = setup, .fini = xrt_rt_destroy, .timeout = 120);

/* Classify n images with xrt_rt; every class must be the stand-in's. Returns the job's code. */
static int run_cnv(size_t n, struct ory_job_stats *st)
{
	uint8_t *in = tu_random(n * IMAGE, n);
	uint8_t *out = malloc(n + 1);
	struct ory_source src = {.fd = -1, .mem = in, .mem_len = n * IMAGE};
	struct ory_sink sink = {.fd = -1, .mem = out, .mem_cap = n + 1};
	/* An empty header, not NULL: the sink memcpy()s it. */
	struct ory_job_spec spec = {.app = &cnv_app, .out_bound = CHUNK_IMAGES};
	struct ory_request req;
	ory_request_init(&req, ORY_OP_CNV);
	int rc = ory_run_spec(xrt_rt, &req, &spec, &src, &sink, NULL, NULL, st);
	if (rc == 0) {
		cr_expect_eq(sink.mem_len, n);
		for (size_t i = 0; i < n && i < sink.mem_len; i++)
			if (out[i] != classify(in + i * IMAGE)) {
				cr_expect_fail("image %zu: class %u, want %u", i, out[i],
					       classify(in + i * IMAGE));
				break;
			}
	}
	free(in);
	free(out);
	return rc;
}

Test(xrt_cnv, two_simulated_cards_classify_every_image_in_order)
{
	xrt_rt_make("xrt:0,1?app=cnv&xclbin=" CNV_XCLBIN, CHUNK_IMAGES * IMAGE, 0);
	cr_assert_eq(ory_runtime_device_count(xrt_rt), 2, "one device per card");
	struct ory_job_stats st = {.struct_size = sizeof(st)};
	cr_assert_eq(run_cnv(1234, &st), 0, "%s\nlog:\n%s", ory_runtime_errmsg(xrt_rt), xrt_logbuf);
	cr_expect_eq(st.chunks, 13);
	cr_expect_eq(xrt_dev_info("xrt0").chunks + xrt_dev_info("xrt1").chunks, 13);
	cr_expect(xrt_log_has("xrt1: card noop:1: CNV through idma0/odma0, banks 0/0"), "log:\n%s",
		  xrt_logbuf);
}

Test(xrt_cnv, cards_with_different_designs_each_take_their_own_jobs)
{
	xrt_rt_make("xrt:0?xclbin=" GZ_XCLBIN "+xrt:1?app=cnv&xclbin=" CNV_XCLBIN,
		    CHUNK_IMAGES * IMAGE, 0);
	cr_assert_eq(ory_runtime_device_count(xrt_rt), 3, "two gzip engines and one CNV");
	cr_assert_eq(run_cnv(450, NULL), 0, "%s", ory_runtime_errmsg(xrt_rt));
	cr_expect_eq(xrt_dev_info("xrt2").chunks, 5);
	cr_expect(xrt_log_has("xrt0: its card runs gzip, not cnv"), "log:\n%s", xrt_logbuf);

	size_t gz_len, len = 3 * CHUNK_IMAGES * IMAGE;
	uint8_t *in = tu_text(len, 1);
	uint8_t *gz = xrt_gzip(in, len, &gz_len, NULL);
	xrt_expect_member(gz, gz_len, in, len);
	cr_expect_eq(xrt_dev_info("xrt2").chunks, 5, "the CNV card took no gzip chunk");
	cr_expect(xrt_log_has("xrt2: its card runs cnv, not gzip"), "log:\n%s", xrt_logbuf);
	free(gz);
	free(in);
}

Test(xrt_cnv, classes_out_of_range_are_caught_and_redone_on_the_cpu)
{
	/* max_tries 100 and repeated jobs for the reason given in test_xrt_errors.c */
	xrt_rt_make("xrt:0?app=cnv&model=garbage&xclbin=" CNV_XCLBIN "+cpu:1", CHUNK_IMAGES * IMAGE,
		    100);
	uint64_t failures = 0;
	for (int job = 0; job < 20 && !failures; job++) {
		struct ory_job_stats st = {.struct_size = sizeof(st)};
		cr_assert_eq(run_cnv(2 * CHUNK_IMAGES, &st), 0, "%s", ory_runtime_errmsg(xrt_rt));
		cr_expect_eq(xrt_dev_info("xrt0").chunks, 0);
		failures = xrt_dev_info("xrt0").failures;
	}
	cr_expect_geq(failures, 1, "the card never got a chunk in 20 jobs");
	cr_expect(xrt_log_has("card output rejected: image 0 has class"), "log:\n%s", xrt_logbuf);
}

Test(xrt_cnv, a_gzip_xclbin_is_not_a_cnv_design)
{
	char err[256];
	int rc = xrt_rt_try("xrt:0?app=cnv&xclbin=" GZ_XCLBIN, 0, 0, err, sizeof(err));
	cr_expect_eq(rc, -ENODEV);
	cr_expect(xrt_log_has("has no compute unit idma0 for CNV"), "log:\n%s", xrt_logbuf);
}

Test(xrt_cnv, chunks_that_are_not_whole_images_leave_the_card_out)
{
	xrt_rt_make("xrt:0?app=cnv&xclbin=" CNV_XCLBIN, 64 * 1024, 0);
	cr_expect_eq(run_cnv(100, NULL), -ENOTSUP);
	cr_expect(xrt_log_has("is not whole records"), "log:\n%s", xrt_logbuf);
}

#else
Test(xrt_cnv, needs_the_xrt_device)
{
	cr_skip_test("built without ORY_WITH_XRT");
}
#endif
