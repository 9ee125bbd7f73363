/* SPDX-License-Identifier: MIT */
/* ppm.h - P6 PPM images as CNV takes them (32x32, maxval 255): the header grammar of netpbm's
 * ppm(5), shared by `octoray-run cnv` and the fuzz harness of the CNV input readers. */
#ifndef ORY_PPM_H
#define ORY_PPM_H

#include <stddef.h>
#include <stdint.h>

#define PPM_CNV_PIXELS 3072u /* 32 x 32 x RGB */
/* Largest file read: the image and a header with room for comments. */
#define PPM_FILE_MAX (64u << 10)

/* Parse "P6 WIDTH HEIGHT MAXVAL" (whitespace is blank, TAB, CR or LF; '#' starts a comment that
 * runs to the next CR or LF) and the single whitespace byte after MAXVAL. Returns the offset of
 * the first pixel byte, or -1 when b[0..len) does not start with such a header. */
long ppm_header(const uint8_t *b, size_t len, unsigned *width, unsigned *height, unsigned *maxval);

/* Check that b[0..len) is exactly one 32x32 P6 image with maxval 255 and return the offset of
 * its 3072 pixel bytes, or -1. */
long ppm_cnv_pixels(const uint8_t *b, size_t len);

/* Read all of fd (until EOF, however the reads come) into buf[0..cap); the byte count, or -1
 * with errno set (EFBIG when there is more than cap). */
long ppm_read_all(int fd, uint8_t *buf, size_t cap);

#endif
