/* SPDX-License-Identifier: MIT */
/*
 * cnv_engine.c - FINN's CNV-W1A1 CIFAR-10 classifier on a card (idma0 -> dataflow -> odma0) as
 * one Octoray device.
 *
 * A chunk is N images of image_bytes (32x32x3 uint8, NHWC: FINN's packing is the identity for
 * uint8, and Octoray's driver skips it too); its output is N bytes, one class per image. Per
 * chunk: copy the images into the input BO, sync, start idma0 (addr, numReps = N) and then
 * odma0 (addr, N), which stream through the dataflow partition concurrently as FINN's driver
 * runs them, wait for odma0 and then idma0 (to reuse its run), sync the N classes back and
 * check each is below `classes`. The DMA kernels' names are not fixed (they are FINN's
 * partition names), so both CUs are found by instance in the xclbin.
 *
 * On noop, after the runs, the app's own software kernel (the chunk's app->sw: the CPU classifier)
 * classifies the images in the mapped input BO into the mapped output BO, so the card's host
 * path runs end to end with real classes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xrt_internal.h"
#include "../../apps/cnv/cnv_app.h"

struct cnv_slot {
	xrtBufferHandle bo[CNV_NBUF];
	uint8_t *map[CNV_NBUF];
	xrtRunHandle in_run, out_run;
	struct ory_chunk *c;
	unsigned n;
	struct cnv_params hwc; /* the chunk's images as the card takes them (noop's model) */
};

struct cnv_engine {
	xrtKernelHandle idma, odma;
	int group[CNV_NBUF];
	size_t len[CNV_NBUF];
	unsigned nslots, head, busy;
	bool broken; /* a run timed out: its buffers may still be in use */
	struct cnv_slot slot[XRT_MAX_SLOTS];
	/* noop: the software classifier standing in for the dataflow, per app attached (the CNV
	 * app, and a test's stand-in of the same name) */
	struct {
		const struct ory_app *app;
		void *state;
	} sw[2];
	unsigned nsw;
	uint64_t rng;
};

static unsigned cnv_units(const struct xrt_cfg *cfg)
{
	(void)cfg;
	return 1;
}

static const char *cnv_xclbin(const struct xrt_cfg *cfg)
{
	return cfg->cnv.xclbin;
}

static int cnv_check(const struct xrt_cfg *cfg, const struct xrt_xclbin *xb, unsigned u, char *why,
		     size_t why_len)
{
	char kernel[XRT_NAME_LEN];
	(void)u;
	const char *missing = NULL;
	if (xrt_xclbin_find_instance(xb, cfg->cnv.idma, kernel, sizeof(kernel)) < 0)
		missing = cfg->cnv.idma;
	else if (xrt_xclbin_find_instance(xb, cfg->cnv.odma, kernel, sizeof(kernel)) < 0)
		missing = cfg->cnv.odma;
	if (!missing)
		return 0;
	char have[256];
	xrt_xclbin_cu_list(xb, have, sizeof(have));
	snprintf(why, why_len, "has no compute unit %s for CNV (it has: %s)", missing, have);
	return -ENOENT;
}

static void cnv_close(struct xrt_dev *d)
{
	struct cnv_engine *g = d->priv;
	if (!g)
		return;
	for (unsigned i = 0; i < XRT_MAX_SLOTS; i++) {
		struct cnv_slot *s = &g->slot[i];
		if (s->in_run)
			xrtRunClose(s->in_run);
		if (s->out_run)
			xrtRunClose(s->out_run);
		for (int b = 0; b < CNV_NBUF; b++)
			if (s->bo[b])
				xrtBOFree(s->bo[b]);
	}
	if (g->odma)
		xrtKernelClose(g->odma);
	if (g->idma)
		xrtKernelClose(g->idma);
	free(g);
	d->priv = NULL;
}

static xrtKernelHandle open_dma(struct xrt_dev *d, const struct xrt_xclbin *xb, const char *inst)
{
	char kernel[XRT_NAME_LEN], name[2 * XRT_NAME_LEN + 4];
	if (xrt_xclbin_find_instance(xb, inst, kernel, sizeof(kernel)) < 0)
		return NULL;
	snprintf(name, sizeof(name), "%s:{%s}", kernel, inst);
	xrtKernelHandle k = xrtPLKernelOpen(xrt_card_handle(d->card), xrt_card_uuid(d->card), name);
	if (!k)
		xrt_log(d->t, ORY_LOG_WARN, "%s: XRT cannot open compute unit %s on card %s",
			d->desc->name, name, d->location);
	return k;
}

static int open_slot(struct xrt_dev *d, struct cnv_engine *g, struct cnv_slot *s)
{
	for (int b = 0; b < CNV_NBUF; b++) {
		s->bo[b] = xrtBOAlloc(xrt_card_handle(d->card), g->len[b], 0,
				      (xrtMemoryGroup)g->group[b]);
		if (!s->bo[b])
			return -ENOMEM;
		if (!(s->map[b] = xrtBOMap(s->bo[b])))
			return -EIO;
	}
	s->in_run = xrtRunOpen(g->idma);
	s->out_run = xrtRunOpen(g->odma);
	if (!s->in_run || !s->out_run || xrtRunSetArg(s->in_run, 0, s->bo[CNV_IN]) ||
	    xrtRunSetArg(s->out_run, 0, s->bo[CNV_OUT]))
		return -EIO;
	return 0;
}

static int cnv_open(struct xrt_dev *d, const struct xrt_xclbin *xb)
{
	const struct xrt_cnv_cfg *c = &d->cfg.cnv;
	struct cnv_engine *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	d->priv = g;
	g->len[CNV_IN] = xrt_bo_len((size_t)c->max_images * c->image_bytes);
	g->len[CNV_OUT] = xrt_bo_len(c->max_images);
	g->nslots = c->slots;
	g->rng = 0x9e3779b97f4a7c15ull;
	int rc = 0;
	if (!(g->idma = open_dma(d, xb, c->idma)) || !(g->odma = open_dma(d, xb, c->odma)))
		rc = -EIO;
	xrtKernelHandle k[CNV_NBUF] = {g->idma, g->odma};
	for (int b = 0; b < CNV_NBUF && !rc; b++) {
		g->group[b] =
			c->bank[b] == XRT_BANK_AUTO ? xrtKernelArgGroupId(k[b], 0) : c->bank[b];
		if (g->group[b] < 0) {
			xrt_log(d->t, ORY_LOG_WARN, "%s: no memory bank for %s's addr",
				d->desc->name, b ? c->odma : c->idma);
			rc = -EIO;
		}
	}
	for (unsigned i = 0; i < g->nslots && !rc; i++)
		if ((rc = open_slot(d, g, &g->slot[i])) < 0)
			xrt_log(d->t, ORY_LOG_WARN,
				"%s: cannot allocate buffers of slot %u on card %s (%s)",
				d->desc->name, i, d->location, ory_strerror(rc));
	if (rc) {
		cnv_close(d);
		return rc;
	}
	xrt_log(d->t, ORY_LOG_INFO,
		"%s: card %s: CNV through %s/%s, banks %d/%d, %u slots of %u images%s%s",
		d->desc->name, d->location, c->idma, c->odma, g->group[CNV_IN], g->group[CNV_OUT],
		g->nslots, c->max_images, d->noop ? ", noop model " : "",
		d->noop ? xrt_model_name(d->cfg.model) : "");
	return 0;
}

static unsigned cnv_max_inflight(struct xrt_dev *d)
{
	return ((struct cnv_engine *)d->priv)->nslots;
}

static int cnv_attach(struct xrt_dev *d, const struct ory_app *app, size_t chunk_size)
{
	struct cnv_engine *g = d->priv;
	(void)chunk_size; /* batches larger than max_images go elsewhere, chunk by chunk */
	if (app == xrt_cnv_app_of_runtime() && d->cfg.cnv.image_bytes != CNV_IMAGE_BYTES) {
		xrt_log(d->t, ORY_LOG_INFO, "%s: [cnv] image_bytes %u is not CNV-W1A1's %u",
			d->desc->name, d->cfg.cnv.image_bytes, CNV_IMAGE_BYTES);
		return -ENOTSUP;
	}
	if (g->broken)
		return -EIO;
	g->head = g->busy = 0;
	if (d->noop && d->cfg.model != XRT_MODEL_NONE && d->cfg.model != XRT_MODEL_GARBAGE) {
		if (!app->sw || g->nsw == ORY_ARRAY_SIZE(g->sw)) {
			xrt_log(d->t, ORY_LOG_INFO,
				"%s: no software kernel to stand in for the card", d->desc->name);
			return -ENOTSUP;
		}
		int rc = app->sw->open(&g->sw[g->nsw].state);
		if (rc < 0)
			return rc;
		g->sw[g->nsw++].app = app;
	}
	return 0;
}

static void cnv_detach(struct xrt_dev *d)
{
	struct cnv_engine *g = d->priv;
	while (g->nsw) {
		g->nsw--;
		g->sw[g->nsw].app->sw->close(g->sw[g->nsw].state);
	}
}

static int cnv_submit(struct xrt_dev *d, struct ory_chunk *c)
{
	struct cnv_engine *g = d->priv;
	size_t ib = d->cfg.cnv.image_bytes;
	/* The CNV app says how its records hold images (CIFAR-10: label + planes); any other app
	 * named "cnv" (a test's stand-in) hands over the card's own NHWC images. */
	struct cnv_params rec = c->app == xrt_cnv_app_of_runtime()
					? *(const struct cnv_params *)c->params
					: (struct cnv_params){ .stride = ib, .layout = CNV_HWC };
	size_t rs = rec.stride;
	if (g->broken)
		return -EIO;
	if (g->busy == g->nslots || !c->in_len || c->in_len % rs ||
	    c->in_len / rs > d->cfg.cnv.max_images) {
		xrt_log(d->t, ORY_LOG_INFO, "%s: chunk %llu of %zu bytes is not whole records, or "
			"more than %u ([cnv] max_images)", d->desc->name,
			(unsigned long long)c->seq, c->in_len, d->cfg.cnv.max_images);
		return -ENOTSUP;
	}
	struct cnv_slot *s = &g->slot[(g->head + g->busy) % g->nslots];
	unsigned n = (unsigned)(c->in_len / rs);
	s->hwc = rec;
	s->hwc.stride = CNV_IMAGE_BYTES;
	s->hwc.offset = 0;
	s->hwc.layout = CNV_HWC;
	s->hwc.scores = false; /* the card gives classes only */
	if (rs == ib && rec.layout == CNV_HWC)
		memcpy(s->map[CNV_IN], c->in, c->in_len);
	else /* the copy into the buffer is also the repacking into the card's NHWC */
		cnv_pack_hwc(s->map[CNV_IN], c->in, n, &rec);
	/* 0xff is no class: an output the dataflow did not write shows. */
	memset(s->map[CNV_OUT], 0xff, n);
	if (xrtBOSync(s->bo[CNV_IN], XCL_BO_SYNC_BO_TO_DEVICE, (size_t)n * ib, 0) ||
	    xrtBOSync(s->bo[CNV_OUT], XCL_BO_SYNC_BO_TO_DEVICE, n, 0) ||
	    xrtRunSetArg(s->in_run, 1, n) || xrtRunSetArg(s->out_run, 1, n) ||
	    xrtRunStart(s->in_run)) {
		xrt_log(d->t, ORY_LOG_INFO, "%s: chunk %llu: cannot start %s on card %s",
			d->desc->name, (unsigned long long)c->seq, d->cfg.cnv.idma, d->location);
		return -EIO;
	}
	if (xrtRunStart(s->out_run)) {
		/* idma is running: this slot's buffers stay in use until it ends. */
		g->broken = true;
		return -EIO;
	}
	c->check = 0; /* classification has no check value */
	s->c = c;
	s->n = n;
	g->busy++;
	return 0;
}

/* A run still going after the timeout may yet write its buffers: none is used again. */
static int wait_run(struct cnv_engine *g, xrtRunHandle r, unsigned timeout_ms)
{
	int rc = xrt_run_wait(r, timeout_ms);
	g->broken |= rc == -ETIMEDOUT;
	return rc;
}

/* What the card would have written into the output BO, for noop. */
static void model(struct xrt_dev *d, struct cnv_engine *g, struct cnv_slot *s)
{
	enum xrt_model kind = d->cfg.model;
	uint8_t *out = s->map[CNV_OUT];
	if (kind == XRT_MODEL_GARBAGE) {
		for (unsigned i = 0; i < s->n; i++) {
			g->rng ^= g->rng << 13;
			g->rng ^= g->rng >> 7;
			g->rng ^= g->rng << 17;
			out[i] = (uint8_t)(g->rng | 0x80);
		}
		return;
	}
	unsigned k = 0;
	while (k < g->nsw && g->sw[k].app != s->c->app)
		k++;
	if (k == g->nsw)
		return;
	bool real_cnv = s->c->app == xrt_cnv_app_of_runtime();
	struct ory_chunk mc = {
		.seq = s->c->seq,
		.app = s->c->app,
		.params = real_cnv ? (const void *)&s->hwc : s->c->params,
		.in = s->map[CNV_IN],
		.in_len = (size_t)s->n * d->cfg.cnv.image_bytes,
		.out = out,
		.out_cap = g->len[CNV_OUT],
	};
	if (g->sw[k].app->sw->run(g->sw[k].state, &mc) < 0 || mc.out_len != s->n)
		memset(out, 0xff, s->n);
	else if (kind == XRT_MODEL_CORRUPT) /* plausible and wrong: no device check sees it */
		for (unsigned i = 0; i < s->n; i++)
			out[i] = (uint8_t)((out[i] + 1) % d->cfg.cnv.classes);
}

static int finish_chunk(struct xrt_dev *d, struct cnv_engine *g, struct cnv_slot *s,
			struct ory_chunk *c)
{
	unsigned tmo = d->cfg.timeout_ms;
	int rc = wait_run(g, s->out_run, tmo);
	int rc_in = wait_run(g, s->in_run, tmo);
	if (!rc)
		rc = rc_in;
	if (!rc && d->noop)
		model(d, g, s);
	if (!rc && xrtBOSync(s->bo[CNV_OUT], XCL_BO_SYNC_BO_FROM_DEVICE, s->n, 0))
		rc = -EIO;
	if (rc) {
		xrt_log(d->t, ORY_LOG_INFO, "%s: chunk %llu on card %s: %s", d->desc->name,
			(unsigned long long)c->seq, d->location,
			rc == -ETIMEDOUT ? "timed out; the engine is out of service" : "failed");
		return rc;
	}
	const uint8_t *out = s->map[CNV_OUT];
	for (unsigned i = 0; i < s->n; i++) {
		if (out[i] >= d->cfg.cnv.classes) {
			xrt_log(d->t, ORY_LOG_INFO,
				"%s: chunk %llu: card output rejected: image %u has class %u of %u",
				d->desc->name, (unsigned long long)c->seq, i, out[i],
				d->cfg.cnv.classes);
			return -EIO;
		}
	}
	if (s->n > c->out_cap)
		return -EOVERFLOW;
	memcpy(c->out, out, s->n);
	c->out_len = s->n;
	return 0;
}

static struct ory_chunk *cnv_reap(struct xrt_dev *d)
{
	struct cnv_engine *g = d->priv;
	struct cnv_slot *s = &g->slot[g->head];
	g->head = (g->head + 1) % g->nslots;
	g->busy--;
	struct ory_chunk *c = s->c;
	c->status = finish_chunk(d, g, s, c);
	s->c = NULL;
	return c;
}

const struct xrt_app xrt_cnv_app = {
	.name = "cnv",
	.units = cnv_units,
	.xclbin = cnv_xclbin,
	.check = cnv_check,
	.open = cnv_open,
	.close = cnv_close,
	.max_inflight = cnv_max_inflight,
	.attach = cnv_attach,
	.detach = cnv_detach,
	.submit = cnv_submit,
	.reap = cnv_reap,
};
