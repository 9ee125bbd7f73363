/* SPDX-License-Identifier: MIT */
/*
 * fuzz_cnv_input.c - the CNV input readers: CIFAR-10 records and raw images through
 * ory_cnv_fd (the job's record framing, labels, batches), and P6 PPM images through the CLI's
 * parser (tools/octoray-run/ppm.c), whose pixels are then classified.
 *
 * Byte 0: bits 0-1 the input (CIFAR, raw, PPM), bits 2-3 the output format, bit 4 scores;
 * byte 1: the batch (1..4 images). The rest is the input. A whole number of records (with
 * labels 0..9 for CIFAR) must classify, image for image; anything else must be -EINVAL with
 * a message.
 */
#include <errno.h>

#include "tools/octoray-run/ppm.h"
#include "fuzz.h"

static struct ory_runtime *rt;
static int devnull;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	rt = fz_runtime("cpu:1", 0, 0);
	devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	return 0;
}

static void ppm(const uint8_t *d, size_t n, struct ory_cnv_opts *o)
{
	long off = ppm_cnv_pixels(d, n);
	if (off < 0)
		return;
	FZ_CHECK(n - (size_t)off == PPM_CNV_PIXELS, "PPM pixels at %ld of %zu bytes", off, n);
	o->input = ORY_CNV_RAW;
	uint8_t cls;
	int rc = ory_cnv_classify(rt, d + off, 1, o, &cls, NULL, NULL);
	FZ_CHECK(rc == 0 && cls < 10, "rc %d class %u: %s", rc, cls, ory_runtime_errmsg(rt));
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 2)
		return 0;
	struct ory_cnv_opts o;
	ory_cnv_opts_init(&o);
	unsigned mode = d[0] & 3;
	o.format = (enum ory_cnv_format)((d[0] >> 2) & 3);
	o.scores = d[0] & 0x10;
	o.batch = d[1] % 4 + 1;
	d += 2;
	n -= 2;
	if (mode >= 2) {
		ppm(d, n, &o);
		return 0;
	}
	o.input = mode == 0 ? ORY_CNV_CIFAR : ORY_CNV_RAW;
	size_t stride = mode == 0 ? 3073 : 3072;
	bool labels_ok = true;
	for (size_t i = 0; mode == 0 && i + stride <= n; i += stride)
		labels_ok &= d[i] < 10;
	int in = fz_memfd(d, n);
	struct ory_cnv_result res = {.struct_size = sizeof(res)};
	int rc = ory_cnv_fd(rt, in, devnull, &o, &res);
	close(in);
	if (n % stride == 0 && labels_ok) {
		FZ_CHECK(rc == 0, "%zu bytes: %s", n, ory_runtime_errmsg(rt));
		FZ_CHECK(res.images == n / stride, "%llu images of %zu bytes",
			 (unsigned long long)res.images, n);
		FZ_CHECK(res.labelled == (mode == 0 ? res.images : 0), "%llu labelled",
			 (unsigned long long)res.labelled);
	} else {
		FZ_CHECK(rc == -EINVAL, "rc %d for %zu bytes: %s", rc, n, ory_runtime_errmsg(rt));
		fz_check_message(ory_runtime_errmsg(rt));
	}
	return 0;
}
