/* SPDX-License-Identifier: MIT */
/* cpu.c - the CPU device: runs an app's software kernel on its worker thread, which the
 * runtime pins to one physical core. The lowest-priority kind, so it is what "all" falls back
 * to when no accelerator is found. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../runtime/rt.h"

/* The kernel state of each app it attached, found by the chunk's app. */
struct cpu_dev {
	struct {
		const struct ory_app *app;
		void *state;
	} k[ORY_MAX_APPS];
	unsigned nk;
	struct ory_chunk *pending;
};

static int cpu_probe(const struct ory_topo *t, const char *args, struct ory_device_desc *d,
		     unsigned max)
{
	unsigned ncores = ory_topo_core_count(t);
	unsigned long n = ncores ? ncores : 1;

	if (args) {
		char *end;
		errno = 0;
		n = strtoul(args, &end, 10);
		if (errno || end == args || *end || n < 1)
			return -EINVAL;
	}
	if (n > max)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		unsigned core = ncores ? i % ncores : 0;
		d[i].core = ncores ? (int)core : -1;
		d[i].numa_node = ory_topo_core_numa(t, core);
		d[i].index = i;
		snprintf(d[i].location, sizeof(d[i].location), "core %u", core);
	}
	return (int)n;
}

static int cpu_open(const struct ory_device_desc *desc, void **dev)
{
	(void)desc;
	*dev = calloc(1, sizeof(struct cpu_dev));
	return *dev ? 0 : -ENOMEM;
}

static void cpu_close(void *dev)
{
	free(dev);
}

static unsigned cpu_max_inflight(void *dev)
{
	(void)dev;
	return 1;
}

static int cpu_attach(void *dev, const struct ory_app *app, size_t chunk_size)
{
	struct cpu_dev *c = dev;
	(void)chunk_size;
	if (!app->sw)
		return -ENOTSUP;
	if (c->nk == ORY_MAX_APPS)
		return -ENOSPC;
	int rc = app->sw->open(&c->k[c->nk].state);
	if (rc == 0)
		c->k[c->nk++].app = app;
	return rc;
}

static void cpu_detach(void *dev, const struct ory_app *app)
{
	struct cpu_dev *c = dev;
	for (unsigned i = 0; i < c->nk; i++) {
		if (c->k[i].app == app) {
			app->sw->close(c->k[i].state);
			c->k[i] = c->k[--c->nk];
			return;
		}
	}
}

static int cpu_submit(void *dev, struct ory_chunk *ch)
{
	((struct cpu_dev *)dev)->pending = ch;
	return 0;
}

/* The work happens here rather than in submit so that the runtime's time accounting and the
 * worker loop are the same for synchronous and asynchronous devices. */
static struct ory_chunk *cpu_reap(void *dev)
{
	struct cpu_dev *c = dev;
	struct ory_chunk *ch = c->pending;
	c->pending = NULL;
	unsigned i = 0;
	while (i < c->nk && c->k[i].app != ch->app)
		i++;
	/* The runtime sends only apps we attached; the check is for a broken caller, cheaply. */
	ch->status = i < c->nk ? ch->app->sw->run(c->k[i].state, ch) : -ENOTSUP;
	return ch;
}

const struct ory_device_ops ory_cpu_device_ops = {
	.kind = "cpu",
	.priority = 0,
	.trusted = true,
	.probe = cpu_probe,
	.open = cpu_open,
	.close = cpu_close,
	.max_inflight = cpu_max_inflight,
	.attach = cpu_attach,
	.detach = cpu_detach,
	.submit = cpu_submit,
	.reap = cpu_reap,
};
