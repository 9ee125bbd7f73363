/* SPDX-License-Identifier: MIT */
/* cnv_ref.h - test helpers for CNV: a naive reference network written straight from
 * docs/cnv.md (+-1 ints, plain loops, no shared code with the kernels), a BNN-PYNQ folder
 * writer, and test data access. */
#ifndef ORY_TEST_CNV_REF_H
#define ORY_TEST_CNV_REF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "apps/cnv/cnv.h"

struct cnv_ref;

/* Copy m's parameters (through the introspection API) into the reference's own arrays. */
struct cnv_ref *cnv_ref_create(const struct cnv_model *m);
void cnv_ref_free(struct cnv_ref *r);

/* Classify one image (3072 bytes in layout); returns the class, fills scores[10]. */
int cnv_ref_classify(const struct cnv_ref *r, const uint8_t *img, enum cnv_layout layout,
		     uint16_t *scores);

/* Write m as a BNN-PYNQ cnvW1A1 folder (L-P-weights.bin, L-P-thres.bin, classes.txt) into the
 * existing directory dir, with the PE/SIMD tiling of docs/cnv.md section 3. Returns 0 or -1. */
int cnv_ref_write_bnnpynq(const struct cnv_model *m, const char *dir);

/* A fresh empty directory under /tmp (path into buf), and its recursive removal. */
int cnv_ref_tmpdir(char *buf, size_t len);
void cnv_ref_rmdir(const char *dir);

/* n pseudo-random CHW images from seed; every 5th image has only the extreme pixel values 0,
 * 1, 127, 128, 254 and 255 (where the Q1.7 rounding and saturation act). malloc'ed. */
uint8_t *cnv_ref_random_images(size_t n, uint64_t seed);

/* CHW -> HWC copy of one image. */
void cnv_ref_chw_to_hwc(const uint8_t *chw, uint8_t *hwc);

/* The shared CNV data folder (ORY_SHARED_DIR/data/cnv) if it exists, else NULL. */
const char *cnv_ref_shared_dir(void);

#endif /* ORY_TEST_CNV_REF_H */
