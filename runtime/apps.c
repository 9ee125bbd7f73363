/* SPDX-License-Identifier: MIT */
/* apps.c - the apps every runtime serves, plus apps registered at run time (tests). Each gets
 * its own queues in a runtime, so a device only ever sees chunks of apps it attached. */
#include <errno.h>

#include "rt.h"

extern const struct ory_app ory_gzip_app, ory_inflate_app, ory_crc_app, ory_cnv_app;

/* NULL-terminated. Only changed by ory_register_app, which must not overlap runtime creation. */
static const struct ory_app *apps[ORY_MAX_APPS + 1] = {
	&ory_gzip_app,
	&ory_inflate_app,
	&ory_crc_app,
	&ory_cnv_app,
};

const struct ory_app *const *ory_apps(void)
{
	return apps;
}

int ory_register_app(const struct ory_app *app)
{
	unsigned n = 0;
	while (apps[n]) {
		if (apps[n] == app)
			return -EEXIST;
		n++;
	}
	if (n == ORY_MAX_APPS)
		return -ENOSPC;
	apps[n] = app;
	return 0;
}

struct app_queues *ory_app_queues(struct ory_runtime *rt, const struct ory_app *app)
{
	for (unsigned i = 0; i < rt->napps; i++)
		if (rt->apps[i].app == app)
			return &rt->apps[i];
	return NULL;
}
