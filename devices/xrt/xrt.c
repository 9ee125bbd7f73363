/* SPDX-License-Identifier: MIT */
/*
 * xrt.c - the XRT device kind: Xilinx Alveo cards through XRT's native C API.
 *
 * One Octoray device is one engine of a card (a U50 with the gzip_hbm design has two), so the
 * runtime's scheduling spreads chunks over engines and cards alike. Probe checks everything it
 * can without XRT (spec, config, card presence, the xclbin's compute units, the XRT root) and
 * answers -ENODEV with a logged reason when anything is missing, so "all" then goes on without
 * the cards. Open, on the runtime's creating thread, opens the card and loads its xclbin once
 * (card.c) and creates the engine's XRT objects; the job ops run on the worker thread and only
 * sync, run and wait. Spec syntax: args.c; settings: config.c and configs/u50.ini.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xrt_internal.h"

static const struct xrt_app *const apps[] = {&xrt_gzip_app, &xrt_cnv_app};

static const struct xrt_app *find_app(const char *name)
{
	for (size_t i = 0; i < ORY_ARRAY_SIZE(apps); i++)
		if (!strcmp(apps[i]->name, name))
			return apps[i];
	return NULL;
}

/* Is the app's xclbin there, an xclbin, and does it hold every engine's compute units? */
static int check_xclbin(const struct ory_topo *t, const struct xrt_cfg *cfg,
			const struct xrt_app *app, struct xrt_xclbin *xb)
{
	const char *path = app->xclbin(cfg);
	char why[512];
	if (!path[0]) {
		xrt_log(t, ORY_LOG_WARN,
			"xrt: no %s xclbin configured: set [%s] xclbin in a config "
			"file (ORY_XRT_CONFIG or xrt:...?config=FILE) or xrt:...?xclbin=FILE",
			app->name, app->name);
		return -ENODEV;
	}
	if (xrt_xclbin_read(path, xb, why, sizeof(why)) < 0) {
		xrt_log(t, ORY_LOG_WARN, "xrt: %s", why);
		return -ENODEV;
	}
	for (unsigned u = 0; u < app->units(cfg); u++) {
		if (app->check(cfg, xb, u, why, sizeof(why)) < 0) {
			xrt_log(t, ORY_LOG_WARN, "xrt: xclbin %s %s", path, why);
			xrt_xclbin_free(xb);
			return -ENODEV;
		}
	}
	return 0;
}

static int xrt_probe(const struct ory_topo *t, const char *args, struct ory_device_desc *descs,
		     unsigned max)
{
	struct xrt_cfg *cfg = malloc(sizeof(*cfg));
	struct xrt_card_id ids[XRT_MAX_CARDS];
	struct xrt_sel sel;
	struct xrt_xclbin xb;
	if (!cfg)
		return -ENOMEM;
	int rc = xrt_parse(t, args, cfg, &sel);
	bool noop = xrt_noop_mode();
	const struct xrt_app *app = rc ? NULL : find_app(cfg->app);
	if (!rc && !app)
		rc = -EINVAL;
	if (!rc && cfg->model_set && !noop) {
		xrt_log(t, ORY_LOG_WARN, "xrt: model= needs XCL_EMULATION_MODE=noop");
		rc = -EINVAL;
	}
	/* Without args ("all", or a bare "xrt") nothing was asked of us: absent or misconfigured
	 * cards are only a reason to go on without them. */
	if (rc < 0)
		rc = args ? -EINVAL : -ENODEV;
	int ncards = rc ? rc : xrt_discover(t, cfg, &sel, ids, XRT_MAX_CARDS);
	if (ncards > 0)
		rc = check_xclbin(t, cfg, app, &xb);
	else
		rc = ncards;
	if (!rc) {
		xrt_xclbin_free(&xb);
		rc = xrt_env_ready(t, cfg, noop);
	}
	if (rc) {
		free(cfg);
		return rc;
	}

	unsigned units = app->units(cfg), n = 0;
	if ((unsigned)ncards * units > max) {
		free(cfg);
		return -EINVAL;
	}
	for (int i = 0; i < ncards; i++) {
		for (unsigned u = 0; u < units; u++, n++) {
			xrt_card_location(&ids[i], descs[n].location, sizeof(descs[n].location));
			descs[n].numa_node = ids[i].numa_node;
			descs[n].core = -1;
			descs[n].index = (unsigned)i * XRT_MAX_ENGINES + u;
		}
		xrt_log(t, ORY_LOG_INFO, "xrt: card %s (numa %d): %u %s engine%s, xclbin %s",
			descs[n - 1].location, ids[i].numa_node, units, app->name,
			units == 1 ? "" : "s", app->xclbin(cfg));
	}
	free(cfg);
	return (int)n;
}

static void xrt_close(void *dev)
{
	struct xrt_dev *d = dev;
	if (!d)
		return;
	if (d->app)
		d->app->close(d);
	xrt_card_put(d->card, d->unit);
	free(d);
}

static int xrt_open(const struct ory_device_desc *desc, void **dev)
{
	struct xrt_dev *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->desc = desc;
	d->t = desc->topo;
	d->unit = desc->index % XRT_MAX_ENGINES;
	d->noop = xrt_noop_mode();
	snprintf(d->location, sizeof(d->location), "%s", desc->location);

	/* The spec and config as probe read them a moment ago. */
	struct xrt_sel sel;
	struct xrt_xclbin xb = {0};
	int rc = xrt_parse(d->t, desc->args, &d->cfg, &sel);
	const struct xrt_app *app = rc ? NULL : find_app(d->cfg.app);
	if (!rc && (!app || xrt_card_parse_location(desc->location, &d->id) < 0))
		rc = -EINVAL;
	if (!rc)
		rc = check_xclbin(d->t, &d->cfg, app, &xb) < 0 ? -ENOENT : 0;
	d->id.numa_node = desc->numa_node;
	if (!rc)
		rc = xrt_card_get(d->t, &d->id, app->xclbin(&d->cfg), &xb, d->unit, &d->card);
	if (!rc) {
		rc = app->open(d, &xb);
		if (!rc)
			d->app = app;
	}
	xrt_xclbin_free(&xb);
	if (rc) {
		xrt_close(d);
		return rc;
	}
	*dev = d;
	return 0;
}

static unsigned xrt_max_inflight(void *dev)
{
	struct xrt_dev *d = dev;
	return d->app->max_inflight(d);
}

static int xrt_attach(void *dev, const struct ory_app *app, size_t chunk_size)
{
	struct xrt_dev *d = dev;
	if (strcmp(app->name, d->app->name)) {
		xrt_log(d->t, ORY_LOG_DEBUG, "%s: its card runs %s, not %s", d->desc->name,
			d->app->name, app->name);
		return -ENOTSUP;
	}
	return d->app->attach(d, app, chunk_size);
}

static void xrt_detach(void *dev, const struct ory_app *app)
{
	struct xrt_dev *d = dev;
	(void)app;
	d->app->detach(d);
}

static int xrt_submit(void *dev, struct ory_chunk *c)
{
	struct xrt_dev *d = dev;
	return d->app->submit(d, c);
}

static struct ory_chunk *xrt_reap(void *dev)
{
	struct xrt_dev *d = dev;
	return d->app->reap(d);
}

static int xrt_map_input(void *dev, void *base, size_t len)
{
	struct xrt_dev *d = dev;
	return d->app->map_input ? d->app->map_input(d, base, len) : 0;
}

const struct ory_device_ops xrt_device_ops = {
	.kind = "xrt",
	.priority = 10,
	.probe = xrt_probe,
	.open = xrt_open,
	.close = xrt_close,
	.max_inflight = xrt_max_inflight,
	.attach = xrt_attach,
	.detach = xrt_detach,
	.submit = xrt_submit,
	.reap = xrt_reap,
	.map_input = xrt_map_input,
};
