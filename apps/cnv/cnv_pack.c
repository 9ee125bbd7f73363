/* SPDX-License-Identifier: MIT */
/* cnv_pack.c - records of either layout into FINN's NHWC, the card's input. A file of its own:
 * the XRT module compiles it in (it cannot call into liboctoray, runtime/module.h). */
#include <string.h>

#include "cnv_app.h"

void cnv_pack_hwc(uint8_t *dst, const uint8_t *records, size_t n, const struct cnv_params *p)
{
	for (size_t i = 0; i < n; i++, dst += CNV_IMAGE_BYTES) {
		const uint8_t *img = records + i * p->stride + p->offset;
		if (p->layout == CNV_HWC) {
			memcpy(dst, img, CNV_IMAGE_BYTES);
			continue;
		}
		for (unsigned px = 0; px < 1024; px++)
			for (unsigned ch = 0; ch < 3; ch++)
				dst[3 * px + ch] = img[1024 * ch + px];
	}
}
