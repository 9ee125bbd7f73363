/* SPDX-License-Identifier: MIT */
/*
 * gzip_engine.c - one compression engine of the Vitis gzip_hbm design (an xilLz77Compress CU
 * and its xilHuffmanKernel CU) as one Octoray device.
 *
 * Per chunk (at most max_chunk bytes = up to 8 deflate blocks of 1 MiB): find the input's BO
 * (below), write each block's raw size, sync both to the card, run lz77, then huffman, sync
 * the per-block compressed sizes back, and gather each block's bytes from offset b * 1 MiB of
 * the output BO. The card's blocks are byte-aligned and never final, so they append to the
 * stream like the CPU kernel's chunks do. The CRC is the host's (the design computes none).
 *
 * Slots: each of the `slots` BO sets holds one chunk in flight, so while the worker waits for
 * chunk n's huffman run, chunk n+1's lz77 run is already queued on the card (the design's
 * host code double-buffers the same way). lz77 must finish before huffman starts, and the
 * XRT C API has no in-order queue, so huffman is started in reap, after lz77's wait.
 *
 * Input the runtime read lies in its pool, which lives as long as the engine (map_input): one
 * user-pointer BO over the pool, registered (and on a card pinned) once, and a sub-buffer view
 * of it per chunk address, made the first time that address comes (a pool has few), are what
 * lz77 reads, so the sync DMAs straight from the pool. Input anywhere else (ory_gzip_buf reads
 * the caller's buffer in place; CPU-only files are mapped) is copied into the slot's own input
 * BO, as every chunk was before: its address is new each time, and pinning a caller's pages
 * per chunk would cost more than the copy.
 *
 * On the noop shim the kernels do nothing; a software twin of each (model_gzip.c) then runs on
 * the same buffers, addressed through the same argument wiring, so a wiring mistake shows.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <isa-l/crc.h>
#include <xrt/xrt_bo.h>

#include "../../apps/gzip/gzip_internal.h"
#include "xrt_internal.h"

/* Host wiring of xfZlib::compress (docs/xrt.md): the buffer each pointer argument gets. It is
 * crosswise on purpose: huffman's in_block_size (arg 4) is lz77's compressd_size, which huffman
 * overwrites with the final sizes, and huffman's compressd_size (arg 5) gets the raw sizes. */
static const enum gz_buf lz77_wiring[6] = {GZ_IN, GZ_LZ, GZ_SIZES, GZ_BLOCKS, GZ_LTREE, GZ_DTREE};
static const enum gz_buf huff_wiring[6] = {GZ_LZ, GZ_LTREE, GZ_DTREE, GZ_OUT, GZ_SIZES, GZ_BLOCKS};
#define ARG_BLOCK_KB   6
#define ARG_INPUT_SIZE 7
#define GZ_MAX_VIEWS   256 /* chunk addresses in the pool; a pool has one per buffer */

struct gz_slot {
	xrtBufferHandle bo[GZ_NBUF];
	uint8_t *map[GZ_NBUF]; /* NULL for device-only buffers */
	xrtBufferHandle in_bo; /* lz77's input now: bo[GZ_IN] or a view of the pool */
	const uint8_t *in;     /* its bytes, for the noop model */
	size_t in_cap;
	xrtRunHandle lz, hf;
	struct ory_chunk *c;
	unsigned nblocks;
};

struct gz_engine {
	xrtKernelHandle lz, hf;
	int group[GZ_NBUF];
	size_t len[GZ_NBUF];
	size_t stride; /* deflate block: block_kb KiB */
	unsigned max_blocks;
	unsigned nslots;
	struct gz_slot slot[XRT_MAX_SLOTS];
	unsigned head, busy; /* slots in flight, oldest first */
	bool broken;	     /* a run timed out: its buffers may still be in use */
	unsigned timeout_ms;
	struct gz_model *model; /* noop only */
	struct gz_verifier *ver;
	uint64_t stored; /* chunks with blocks the card could not shrink */
	/* The runtime's pool (map_input) and views of it, one per chunk address seen. */
	xrtBufferHandle pool_bo;
	const uint8_t *pool;
	size_t pool_len;
	struct gz_view {
		size_t off;
		xrtBufferHandle bo;
	} view[GZ_MAX_VIEWS];
	unsigned nviews;
	uint64_t in_place, copied;
};

static unsigned gz_units(const struct xrt_cfg *cfg)
{
	return cfg->gzip.engines;
}

static const char *gz_xclbin(const struct xrt_cfg *cfg)
{
	return cfg->gzip.xclbin;
}

/* Instance k of kernel K is "K_k", k from 1; XRT opens exactly it as "K:{K_k}". */
struct cu_name {
	char inst[XRT_NAME_LEN + 8];
	char open[2 * XRT_NAME_LEN + 16];
};

static void cu_name(const char *kernel, unsigned u, struct cu_name *n)
{
	snprintf(n->inst, sizeof(n->inst), "%.*s_%u", XRT_NAME_LEN - 1, kernel, (u + 1) % 100);
	snprintf(n->open, sizeof(n->open), "%.*s:{%s}", XRT_NAME_LEN - 1, kernel, n->inst);
}

static int gz_check(const struct xrt_cfg *cfg, const struct xrt_xclbin *xb, unsigned u, char *why,
		    size_t why_len)
{
	struct cu_name lz, hf;
	cu_name(cfg->gzip.lz77, u, &lz);
	cu_name(cfg->gzip.huffman, u, &hf);
	const char *missing = NULL;
	if (xrt_xclbin_find_cu(xb, cfg->gzip.lz77, lz.inst) < 0)
		missing = lz.inst;
	else if (xrt_xclbin_find_cu(xb, cfg->gzip.huffman, hf.inst) < 0)
		missing = hf.inst;
	if (!missing)
		return 0;
	char have[256];
	xrt_xclbin_cu_list(xb, have, sizeof(have));
	snprintf(why, why_len, "has no compute unit %s for gzip engine %u (it has: %s)", missing, u,
		 have);
	return -ENOENT;
}

/* The bank of buffer b: the configured one, else the group id XRT gives every argument wired
 * to it, which must agree (one BO cannot live in two banks). */
static int resolve_bank(struct xrt_dev *d, struct gz_engine *g, enum gz_buf b)
{
	int want = d->cfg.gzip.bank[b][d->unit], seen = XRT_BANK_AUTO;
	for (int k = 0; k < 2; k++) {
		const enum gz_buf *w = k ? huff_wiring : lz77_wiring;
		for (int a = 0; a < 6; a++) {
			if (w[a] != b)
				continue;
			int grp = xrtKernelArgGroupId(k ? g->hf : g->lz, a);
			if (grp < 0 && want == XRT_BANK_AUTO) {
				xrt_log(d->t, ORY_LOG_WARN, "%s: no memory bank for %s argument %d",
					d->desc->name, k ? "huffman" : "lz77", a);
				return -EIO;
			}
			if (seen != XRT_BANK_AUTO && grp != seen && want == XRT_BANK_AUTO) {
				xrt_log(d->t, ORY_LOG_WARN,
					"%s: buffer %s is wired to banks %d and %d; "
					"set [gzip] bank.%s",
					d->desc->name, xrt_gz_buf_name[b], seen, grp,
					xrt_gz_buf_name[b]);
				return -EIO;
			}
			seen = grp;
		}
	}
	g->group[b] = want == XRT_BANK_AUTO ? seen : want;
	return 0;
}

static int open_slot(struct xrt_dev *d, struct gz_engine *g, struct gz_slot *s)
{
	xrtDeviceHandle dev = xrt_card_handle(d->card);
	for (int b = 0; b < GZ_NBUF; b++) {
		/* The host never touches lz77's packets and the frequency tables on a card; on
		 * noop the model carries data through them as the card would. */
		bool dev_only = !d->noop && (b == GZ_LZ || b == GZ_LTREE || b == GZ_DTREE);
		s->bo[b] = xrtBOAlloc(dev, g->len[b], dev_only ? XRT_BO_FLAGS_DEV_ONLY : 0,
				      (xrtMemoryGroup)g->group[b]);
		if (!s->bo[b])
			return -ENOMEM;
		if (!dev_only && !(s->map[b] = xrtBOMap(s->bo[b])))
			return -EIO;
	}
	s->in_bo = s->bo[GZ_IN];
	s->in = s->map[GZ_IN];
	s->in_cap = g->len[GZ_IN];
	s->lz = xrtRunOpen(g->lz);
	s->hf = xrtRunOpen(g->hf);
	if (!s->lz || !s->hf)
		return -EIO;
	unsigned block_kb = d->cfg.gzip.block_kb;
	for (int a = 0; a < 6; a++)
		if (xrtRunSetArg(s->lz, a, s->bo[lz77_wiring[a]]) ||
		    xrtRunSetArg(s->hf, a, s->bo[huff_wiring[a]]))
			return -EIO;
	if (xrtRunSetArg(s->lz, ARG_BLOCK_KB, block_kb) ||
	    xrtRunSetArg(s->hf, ARG_BLOCK_KB, block_kb))
		return -EIO;
	return 0;
}

static void gz_close(struct xrt_dev *d)
{
	struct gz_engine *g = d->priv;
	if (!g)
		return;
	/* Runs before buffers before kernels: XRT 2.13 crashes at exit over any handle left. */
	for (unsigned i = 0; i < XRT_MAX_SLOTS; i++) {
		struct gz_slot *s = &g->slot[i];
		if (s->lz)
			xrtRunClose(s->lz);
		if (s->hf)
			xrtRunClose(s->hf);
		for (int b = 0; b < GZ_NBUF; b++)
			if (s->bo[b])
				xrtBOFree(s->bo[b]);
	}
	for (unsigned i = 0; i < g->nviews; i++)
		xrtBOFree(g->view[i].bo);
	if (g->pool_bo)
		xrtBOFree(g->pool_bo);
	if (g->hf)
		xrtKernelClose(g->hf);
	if (g->lz)
		xrtKernelClose(g->lz);
	gz_model_free(g->model);
	gz_verifier_free(g->ver);
	free(g);
	d->priv = NULL;
}

static int gz_open(struct xrt_dev *d, const struct xrt_xclbin *xb)
{
	const struct xrt_gzip_cfg *c = &d->cfg.gzip;
	struct gz_engine *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	d->priv = g;
	g->stride = (size_t)c->block_kb << 10;
	g->max_blocks = (unsigned)((c->max_chunk + g->stride - 1) / g->stride);
	if (g->max_blocks < 1 || g->max_blocks > 64) {
		xrt_log(d->t, ORY_LOG_WARN, "%s: max_chunk %zu is not 1..64 blocks of %u KiB",
			d->desc->name, c->max_chunk, c->block_kb);
		gz_close(d);
		return -EINVAL;
	}
	size_t cap = g->max_blocks * g->stride;
	g->len[GZ_IN] = cap;
	g->len[GZ_LZ] = 4 * cap;  /* one 32-bit LZ77 packet per input byte at most */
	g->len[GZ_OUT] = 2 * cap; /* as the design's host: a block may overrun its 1 MiB */
	g->len[GZ_SIZES] = g->len[GZ_BLOCKS] = g->max_blocks * sizeof(uint32_t);
	g->len[GZ_LTREE] = g->max_blocks * 1024 * sizeof(uint32_t);
	g->len[GZ_DTREE] = g->max_blocks * 64 * sizeof(uint32_t);
	/* (ASan aborts on the noop shim's aligned_alloc of the 32-byte size arrays otherwise) */
	for (int b = 0; b < GZ_NBUF; b++)
		g->len[b] = xrt_bo_len(g->len[b]);
	g->nslots = c->slots;
	g->timeout_ms = d->cfg.timeout_ms;

	struct cu_name lz, hf;
	cu_name(c->lz77, d->unit, &lz);
	cu_name(c->huffman, d->unit, &hf);
	const uint8_t *uuid = xrt_card_uuid(d->card);
	xrtDeviceHandle dev = xrt_card_handle(d->card);
	g->lz = xrtPLKernelOpen(dev, uuid, lz.open);
	g->hf = g->lz ? xrtPLKernelOpen(dev, uuid, hf.open) : NULL;
	int rc = 0;
	if (!g->lz || !g->hf) {
		xrt_log(d->t, ORY_LOG_WARN, "%s: XRT cannot open compute unit %s on card %s",
			d->desc->name, g->lz ? hf.open : lz.open, d->location);
		rc = -EIO;
	}
	for (int b = 0; b < GZ_NBUF && !rc; b++)
		rc = resolve_bank(d, g, (enum gz_buf)b);
	for (unsigned i = 0; i < g->nslots && !rc; i++) {
		rc = open_slot(d, g, &g->slot[i]);
		if (rc)
			xrt_log(d->t, ORY_LOG_WARN,
				"%s: cannot allocate buffers of slot %u on card %s (%s)",
				d->desc->name, i, d->location, ory_strerror(rc));
	}
	if (!rc && d->noop && !(g->model = gz_model_new(d->cfg.model, d->unit + 1)))
		rc = -ENOMEM;
	if (!rc && c->verify && !(g->ver = gz_verifier_new(g->stride)))
		rc = -ENOMEM;
	if (rc) {
		gz_close(d);
		return rc;
	}
	int cu = xrt_xclbin_find_cu(xb, c->lz77, lz.inst);
	xrt_log(d->t, ORY_LOG_INFO,
		"%s: card %s engine %u: %s + %s, buffers in bank %d (%s), "
		"%u slots of %zu KiB%s%s%s",
		d->desc->name, d->location, d->unit, lz.inst, hf.inst, g->group[GZ_IN],
		xrt_xclbin_bank_tag(xb, cu, 0), g->nslots, cap >> 10, c->verify ? ", verify" : "",
		d->noop ? ", noop model " : "", d->noop ? xrt_model_name(d->cfg.model) : "");
	return 0;
}

static unsigned gz_max_inflight(struct xrt_dev *d)
{
	return ((struct gz_engine *)d->priv)->nslots;
}

static int gz_attach(struct xrt_dev *d, const struct ory_app *app, size_t chunk_size)
{
	struct gz_engine *g = d->priv;
	size_t cap = g->max_blocks * g->stride;
	(void)app;
	if (chunk_size > cap) {
		xrt_log(d->t, ORY_LOG_INFO,
			"%s: chunks of %zu KiB exceed its %zu KiB buffers ([gzip] max_chunk)",
			d->desc->name, chunk_size >> 10, cap >> 10);
		return -ENOTSUP;
	}
	if (g->broken)
		return -EIO;
	/* The card compresses at its one built-in level, without dictionaries: its output is
	 * valid deflate whatever -1..-9 or priming asked for. */
	g->head = g->busy = 0;
	g->stored = 0;
	return 0;
}

static int gz_map_input(struct xrt_dev *d, void *base, size_t len)
{
	struct gz_engine *g = d->priv;
	g->pool_bo = xrtBOAllocUserPtr(xrt_card_handle(d->card), base, len, XRT_BO_FLAGS_NONE,
				       (xrtMemoryGroup)g->group[GZ_IN]);
	if (!g->pool_bo)
		return -ENOMEM;
	g->pool = base;
	g->pool_len = len;
	return 0;
}

/* The BO that holds c->in for lz77: a view of the pool when c->in lies in it (made the first
 * time), else NULL (copy). Views start on a page, as a card's DMA wants. */
static xrtBufferHandle pool_view(struct gz_engine *g, const struct ory_chunk *c, size_t *cap)
{
	if (!g->pool_bo || c->in < g->pool || c->in >= g->pool + g->pool_len)
		return NULL;
	size_t off = (size_t)(c->in - g->pool);
	*cap = ORY_MIN(g->len[GZ_IN], g->pool_len - off);
	if (off % 4096 || c->in_len > *cap)
		return NULL;
	for (unsigned i = 0; i < g->nviews; i++)
		if (g->view[i].off == off)
			return g->view[i].bo;
	if (g->nviews == GZ_MAX_VIEWS)
		return NULL;
	xrtBufferHandle bo = xrtBOSubAlloc(g->pool_bo, *cap, off);
	if (bo)
		g->view[g->nviews++] = (struct gz_view){ off, bo };
	return bo;
}

static void gz_detach(struct xrt_dev *d)
{
	struct gz_engine *g = d->priv;
	if (g->in_place || g->copied)
		xrt_log(d->t, ORY_LOG_INFO, "%s: input of %llu chunks sent from the pool, %llu copied",
			d->desc->name, (unsigned long long)g->in_place,
			(unsigned long long)g->copied);
	if (g->stored)
		xrt_log(d->t, ORY_LOG_INFO,
			"%s: %llu chunks had blocks the card could not compress; those were stored",
			d->desc->name, (unsigned long long)g->stored);
}

static int sync_to(xrtBufferHandle bo, size_t len)
{
	return xrtBOSync(bo, XCL_BO_SYNC_BO_TO_DEVICE, len, 0) ? -EIO : 0;
}

static int gz_submit(struct xrt_dev *d, struct ory_chunk *c)
{
	struct gz_engine *g = d->priv;
	if (g->broken)
		return -EIO;
	if (g->busy == g->nslots || c->in_len > g->max_blocks * g->stride || !c->in_len)
		return -EINVAL;
	struct gz_slot *s = &g->slot[(g->head + g->busy) % g->nslots];
	unsigned nblocks = (unsigned)((c->in_len + g->stride - 1) / g->stride);
	uint32_t *blocks = (uint32_t *)s->map[GZ_BLOCKS];
	for (unsigned b = 0; b < nblocks; b++)
		blocks[b] = (uint32_t)ORY_MIN(g->stride, c->in_len - b * g->stride);
	size_t cap = 0;
	const uint8_t *in = c->in;
	xrtBufferHandle in_bo = pool_view(g, c, &cap);
	if (in_bo) {
		g->in_place++;
	} else {
		memcpy(s->map[GZ_IN], c->in, c->in_len);
		in_bo = s->bo[GZ_IN];
		in = s->map[GZ_IN];
		cap = g->len[GZ_IN];
		g->copied++;
	}
	int rc = 0;
	if (in_bo != s->in_bo && xrtRunSetArg(s->lz, 0, in_bo)) /* lz77_wiring[0] */
		rc = -EIO;
	s->in_bo = in_bo;
	s->in = in;
	s->in_cap = cap;
	/* Zero sizes: a kernel that wrote nothing then shows as empty blocks, not stale ones. */
	memset(s->map[GZ_SIZES], 0, nblocks * sizeof(uint32_t));
	size_t nsz = nblocks * sizeof(uint32_t);
	if (!rc)
		rc = sync_to(in_bo, c->in_len);
	if (!rc)
		rc = sync_to(s->bo[GZ_BLOCKS], nsz);
	if (!rc)
		rc = sync_to(s->bo[GZ_SIZES], nsz);
	unsigned in_len = (unsigned)c->in_len;
	if (!rc && (xrtRunSetArg(s->lz, ARG_INPUT_SIZE, in_len) ||
		    xrtRunSetArg(s->hf, ARG_INPUT_SIZE, in_len) || xrtRunStart(s->lz)))
		rc = -EIO;
	if (rc) {
		xrt_log(d->t, ORY_LOG_INFO, "%s: chunk %llu: cannot start lz77 on card %s",
			d->desc->name, (unsigned long long)c->seq, d->location);
		return rc;
	}
	/* While lz77 runs. */
	c->check = crc32_gzip_refl(0, c->in, c->in_len);
	s->c = c;
	s->nblocks = nblocks;
	g->busy++;
	return 0;
}

/* A run still going after the timeout may yet write its buffers: none is used again. */
static int wait_run(struct gz_engine *g, xrtRunHandle r)
{
	int rc = xrt_run_wait(r, g->timeout_ms);
	g->broken |= rc == -ETIMEDOUT;
	return rc;
}

static void call_of(const struct gz_engine *g, const struct gz_slot *s, const enum gz_buf *wiring,
		    uint32_t block_kb, uint32_t in_len, struct xrt_call *k)
{
	memset(k, 0, sizeof(*k));
	for (int a = 0; a < 6; a++) {
		bool in = wiring[a] == GZ_IN;
		k->arg[a] = in ? (uint8_t *)s->in : s->map[wiring[a]];
		k->len[a] = in ? s->in_cap : g->len[wiring[a]];
	}
	k->u32[ARG_BLOCK_KB] = block_kb;
	k->u32[ARG_INPUT_SIZE] = in_len;
}

/* lz77 has been started by submit: wait for it, run huffman, collect. */
static int finish_chunk(struct xrt_dev *d, struct gz_engine *g, struct gz_slot *s,
			struct ory_chunk *c)
{
	uint32_t block_kb = d->cfg.gzip.block_kb, in_len = (uint32_t)c->in_len;
	struct xrt_call k;
	const char *what = "lz77";
	int rc = wait_run(g, s->lz);
	if (!rc && g->model) {
		call_of(g, s, lz77_wiring, block_kb, in_len, &k);
		gz_model_lz77(g->model, &k);
	}
	if (!rc) {
		what = "huffman";
		rc = xrtRunStart(s->hf) ? -EIO : wait_run(g, s->hf);
	}
	if (!rc && g->model) {
		call_of(g, s, huff_wiring, block_kb, in_len, &k);
		gz_model_huffman(g->model, &k);
	}
	size_t nsz = s->nblocks * sizeof(uint32_t);
	if (!rc) {
		what = "the sizes";
		rc = xrtBOSync(s->bo[GZ_SIZES], XCL_BO_SYNC_BO_FROM_DEVICE, nsz, 0) ? -EIO : 0;
	}
	const uint32_t *sizes = (const uint32_t *)s->map[GZ_SIZES];
	/* Only what will be read crosses the bus: each block's reported bytes. */
	for (unsigned b = 0; b < s->nblocks && !rc; b++) {
		what = "the output";
		if (sizes[b] && sizes[b] <= g->stride &&
		    xrtBOSync(s->bo[GZ_OUT], XCL_BO_SYNC_BO_FROM_DEVICE, sizes[b], b * g->stride))
			rc = -EIO;
	}
	if (rc) {
		xrt_log(d->t, ORY_LOG_INFO, "%s: chunk %llu: %s on card %s: %s", d->desc->name,
			(unsigned long long)c->seq, what, d->location,
			rc == -ETIMEDOUT ? "timed out; the engine is out of service" : "failed");
		return rc;
	}
	struct gz_result r = {
		.out = s->map[GZ_OUT],
		.out_cap = g->len[GZ_OUT],
		.sizes = sizes,
		.nblocks = s->nblocks,
		.stride = g->stride,
	};
	char why[160];
	rc = gz_assemble(g->ver, &r, c, why, sizeof(why));
	if (rc < 0) {
		xrt_log(d->t, ORY_LOG_INFO, "%s: chunk %llu: card output rejected: %s",
			d->desc->name, (unsigned long long)c->seq, why);
		return rc;
	}
	if (rc > 0 && g->stored++ == 0) /* once; the count comes at detach */
		xrt_log(d->t, ORY_LOG_INFO,
			"%s: chunk %llu had blocks the card could not compress; those were stored",
			d->desc->name, (unsigned long long)c->seq);
	return 0;
}

static struct ory_chunk *gz_reap(struct xrt_dev *d)
{
	struct gz_engine *g = d->priv;
	struct gz_slot *s = &g->slot[g->head];
	g->head = (g->head + 1) % g->nslots;
	g->busy--;
	struct ory_chunk *c = s->c;
	s->c = NULL;
	c->status = finish_chunk(d, g, s, c);
	return c;
}

const struct xrt_app xrt_gzip_app = {
	.name = "gzip",
	.units = gz_units,
	.xclbin = gz_xclbin,
	.check = gz_check,
	.open = gz_open,
	.close = gz_close,
	.max_inflight = gz_max_inflight,
	.attach = gz_attach,
	.detach = gz_detach,
	.submit = gz_submit,
	.reap = gz_reap,
	.map_input = gz_map_input,
};
