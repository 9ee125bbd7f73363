/* SPDX-License-Identifier: MIT */
/*
 * module.h - the boundary between liboctoray and a device kind built as a shared object of its
 * own (the XRT device: liboctoray-xrt.so), which the runtime loads with dlopen the first time a
 * device spec needs it, so that programs that never use a card do not load XRT (and with it
 * boost and libstdc++).
 *
 * The module does not resolve any symbol of liboctoray: the core may be a static library inside
 * the program, whose symbols a dlopen'd object cannot see, or a shared one that exports only
 * octoray.h. Everything with identity or state comes through the host table below (device.h's
 * runtime services, the runtime's own app objects) or through the ops' arguments; pure helpers
 * (file reading, the INI reader, gzip framing) are compiled into the module.
 *
 * A module and the library it is loaded by must come from the same build: chunks carry the
 * apps' internal parameter structs, which have no ABI of their own. The module refuses a host
 * of another ORY_MODULE_ABI or version.
 */
#ifndef ORY_MODULE_H
#define ORY_MODULE_H

#include <stdarg.h>
#include <stddef.h>

#include "octoray/device.h"

/* Bumped whenever this table, device.h or a params struct a module reads changes. */
#define ORY_MODULE_ABI 2

/* What the core gives a module. Valid for the life of the process. */
struct ory_module_host {
	size_t struct_size;
	unsigned abi;	     /* ORY_MODULE_ABI of the core */
	const char *version; /* ory_version() of the core */
	/* device.h's runtime services, with the same contracts */
	void (*vlog)(const struct ory_topo *t, int level, const char *fmt, va_list ap);
	unsigned (*topo_core_count)(const struct ory_topo *t);
	int (*topo_core_numa)(const struct ory_topo *t, unsigned core);
	unsigned (*topo_pci_count)(const struct ory_topo *t);
	int (*topo_pci)(const struct ory_topo *t, unsigned i, struct ory_pci_info *out);
	const char *(*strerror)(int rc);
	/* The runtime's CNV app: its chunks carry a struct cnv_params (apps/cnv/cnv_app.h). An app
	 * of the same name registered by a test is another object and carries none. */
	const struct ory_app *cnv_app;
};

/* A module's one entry point: check that it can serve this host and give its ops table
 * (static, valid for the life of the process; the module is never unloaded). Returns 0, or a
 * negative errno with a one-line reason in why. Called once, under the loader's lock. */
typedef int (*ory_module_init_fn)(const struct ory_module_host *host,
				  const struct ory_device_ops **ops, char *why, size_t why_len);

/* The entry point's name in liboctoray-xrt.so. */
#define ORY_XRT_MODULE_INIT "ory_xrt_module_init"
int ory_xrt_module_init(const struct ory_module_host *host, const struct ory_device_ops **ops,
			char *why, size_t why_len);

#endif /* ORY_MODULE_H */
