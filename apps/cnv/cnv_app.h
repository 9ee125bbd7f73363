/* SPDX-License-Identifier: MIT */
/* cnv_app.h - the CNV app as devices see it: job parameters, and the output contract every
 * device (CPU kernel, card) follows for a chunk of n images. */
#ifndef ORY_CNV_APP_H
#define ORY_CNV_APP_H

#include "octoray/device.h"
#include "cnv.h"

/* One classification job, as every device sees it (job->params). Immutable during the job. */
struct cnv_params {
	const struct cnv_model *model;
	size_t stride;          /* bytes per record: 3073 (CIFAR-10) or 3072 (raw NHWC) */
	size_t offset;          /* where the 3072 image bytes start in a record: 1 or 0 */
	enum cnv_layout layout; /* CNV_CHW (CIFAR-10) or CNV_HWC (raw) */
	bool scores;            /* devices that can also write the 10 scores should */
};

/*
 * Output of a chunk of n images: classes at out[0..n) (one byte each, 0..9); a device that can
 * also writes the scores, n * 10 little-endian uint16, at out + cnv_scores_offset(n). out_len is
 * then n or cnv_out_bound(n). c->check is unused (0).
 */
static inline size_t cnv_scores_offset(size_t n)
{
	return (n + 7) & ~(size_t)7;
}

static inline size_t cnv_out_bound(size_t n)
{
	return cnv_scores_offset(n) + 20 * n;
}

/* The longest line of text an image gets: JSON with a label and ten scores. */
#define CNV_LINE_MAX 160

/* Copy n records of p's layout into n * 3072 bytes of FINN's NHWC (a card's input). */
void cnv_pack_hwc(uint8_t *dst, const uint8_t *records, size_t n, const struct cnv_params *p);

extern const struct ory_app ory_cnv_app;

#endif /* ORY_CNV_APP_H */
