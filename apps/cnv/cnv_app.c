/* SPDX-License-Identifier: MIT */
/*
 * cnv_app.c - CNV-W1A1 classification as an Octoray job: a chunk is a batch of whole image
 * records, the CPU kernel classifies it on a pinned core, and the calling thread turns each
 * batch's classes into lines (text, CSV or JSON Lines) in input order while it counts accuracy
 * against the CIFAR-10 labels, which are still in the chunk's input buffer at that point.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../runtime/internal.h"
#include "cnv_app.h"
#include "cnv_internal.h"

static const char *const class_names[CNV_CLASSES] = {
	"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
};

const char *ory_cnv_class_name(unsigned cls)
{
	return cls < CNV_CLASSES ? class_names[cls] : NULL;
}

void ory_cnv_opts_init(struct ory_cnv_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->struct_size = sizeof(*o);
	o->batch = 256;
	o->header = true;
}

/* ---- the CPU kernel ------------------------------------------------------------------------ */

/* Per thread: a context for the model of the last chunk (most requests share one). */
struct kernel {
	struct cnv_ctx *ctx;
	uint64_t model_id;
};

static int k_open(void **state)
{
	struct kernel *k = calloc(1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	*state = k;
	return 0;
}

static int k_run(void *state, struct ory_chunk *c)
{
	struct kernel *k = state;
	const struct cnv_params *p = c->params;
	if (!k->ctx || k->model_id != p->model->id) {
		cnv_ctx_free(k->ctx);
		k->ctx = NULL;
		int rc = cnv_ctx_create(p->model, CNV_ISA_AUTO, &k->ctx);
		if (rc < 0)
			return rc;
		k->model_id = p->model->id;
	}
	size_t n = c->in_len / p->stride; /* a trailing partial record is the caller's error */
	if ((p->scores ? cnv_out_bound(n) : n) > c->out_cap)
		return -EOVERFLOW;
	uint16_t *scores = p->scores ? (uint16_t *)(c->out + cnv_scores_offset(n)) : NULL;
	int rc = cnv_classify(k->ctx, c->in + p->offset, p->stride, p->layout, n, c->out, scores);
	if (rc < 0)
		return rc;
	c->out_len = scores ? cnv_out_bound(n) : n;
	c->check = 0;
	return 0;
}

static void k_close(void *state)
{
	struct kernel *k = state;
	if (k)
		cnv_ctx_free(k->ctx);
	free(k);
}

static const struct ory_kernel_ops cnv_sw_ops = {
	.open = k_open,
	.run = k_run,
	.close = k_close,
};

/* Classes, scores, and the text lines the service thread writes behind them (cnv_job.c). */
static size_t cnv_app_bound(size_t chunk_size)
{
	size_t n = chunk_size / CNV_IMAGE_BYTES;
	return cnv_out_bound(n) + n * CNV_LINE_MAX;
}

const struct ory_app ory_cnv_app = {
	.name = "cnv",
	.sw = &cnv_sw_ops,
	.verify = NULL, /* checking a class means classifying again: nothing cheaper exists */
	.out_bound = cnv_app_bound,
};
