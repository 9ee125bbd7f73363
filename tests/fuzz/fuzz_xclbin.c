/* SPDX-License-Identifier: MIT */
/*
 * fuzz_xclbin.c - the xclbin pre-check (devices/xrt/xclbin.c): the input as an xclbin file.
 * What it accepts is then read the way the device reads it (compute units by name and by
 * instance, the list of compute units, the bank of every connection), so an index the check
 * let through shows up as an out-of-bounds read. XRT itself is not called.
 */
#include <errno.h>

#include <xclbin.h>

#include "devices/xrt/xrt_internal.h"
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	const char *path = fz_file("x.xclbin", d, n);
	struct xrt_xclbin xb;
	char why[1024] = "";
	int rc = xrt_xclbin_read(path, &xb, why, sizeof(why));
	if (rc < 0) {
		FZ_CHECK(rc == -EINVAL || rc == -ENOMEM || rc == -EFBIG, "rc %d: %s", rc, why);
		fz_check_message(why);
		return 0;
	}
	char list[4096], kernel[80];
	xrt_xclbin_cu_list(&xb, list, sizeof(list));
	xrt_xclbin_find_cu(&xb, "xilLz77Compress", "xilLz77Compress_1");
	xrt_xclbin_find_instance(&xb, "idma0", kernel, sizeof(kernel));
	for (int c = 0; c < xb.cn->m_count; c++) {
		const struct connection *k = &xb.cn->m_connection[c];
		const char *tag = xrt_xclbin_bank_tag(&xb, k->m_ip_layout_index, k->arg_index);
		FZ_CHECK(strlen(tag) < 16, "tag");
	}
	xrt_xclbin_free(&xb);
	return 0;
}
