/* SPDX-License-Identifier: MIT */
/*
 * module.c - the XRT device as a shared object of its own (liboctoray-xrt.so): its one entry
 * point, and device.h's runtime services, which the device's files call as any backend does,
 * forwarded to the table of the library that loaded it (runtime/module.h). These definitions
 * are the module's own: its version script exports the entry point only, so they neither bind
 * to nor replace the functions of a liboctoray in the same process.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xrt_internal.h"
#include "../../runtime/module.h"

#define STR_(x) #x
#define STR(x)	STR_(x)
/* The core's ory_version() this module was built with. */
#define BUILT_FOR STR(ORY_VERSION_MAJOR) "." STR(ORY_VERSION_MINOR) "." STR(ORY_VERSION_PATCH)

static const struct ory_module_host *host;

int ory_xrt_module_init(const struct ory_module_host *h, const struct ory_device_ops **ops,
			char *why, size_t why_len)
{
	if (h->struct_size < sizeof(*h) || h->abi != ORY_MODULE_ABI) {
		snprintf(why, why_len, "module ABI %d, the library's is another (%u)",
			 ORY_MODULE_ABI, h->abi);
		return -EPROTO;
	}
	if (strcmp(h->version, BUILT_FOR)) {
		snprintf(why, why_len, "built for octoray %s, loaded by octoray %s", BUILT_FOR,
			 h->version);
		return -EPROTO;
	}
	host = h;
	*ops = &xrt_device_ops;
	return 0;
}

void ory_device_log(const struct ory_topo *t, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	host->vlog(t, level, fmt, ap);
	va_end(ap);
}

unsigned ory_topo_core_count(const struct ory_topo *t)
{
	return host->topo_core_count(t);
}

int ory_topo_core_numa(const struct ory_topo *t, unsigned core)
{
	return host->topo_core_numa(t, core);
}

unsigned ory_topo_pci_count(const struct ory_topo *t)
{
	return host->topo_pci_count(t);
}

int ory_topo_pci(const struct ory_topo *t, unsigned i, struct ory_pci_info *out)
{
	return host->topo_pci(t, i, out);
}

const char *ory_strerror(int rc)
{
	return host->strerror(rc);
}

const struct ory_app *xrt_cnv_app_of_runtime(void)
{
	return host->cnv_app;
}
