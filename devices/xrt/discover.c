/* SPDX-License-Identifier: MIT */
/*
 * discover.c - which cards a spec names, and whether XRT may be called at all.
 *
 * Real cards are found without XRT, through hwloc's PCI objects (vendor:device of the user
 * function, [xrt] pci_ids), which also gives their NUMA node. Under XCL_EMULATION_MODE=noop no
 * card exists: XRT's noop shim opens any device index, so the spec alone decides the count.
 *
 * XRT 2.13 throws an uncaught exception, aborting the process, on its first call when
 * XILINX_XRT is unset or $XILINX_XRT/lib lacks the shim it wants (libxrt_core.so.2 for cards,
 * libxrt_noop.so.2 for noop). So nothing calls XRT before xrt_env_ready() has checked that
 * file; when no card is found, XRT is never called.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "xrt_internal.h"

bool xrt_noop_mode(void)
{
	const char *m = getenv("XCL_EMULATION_MODE");
	return m && !strcmp(m, "noop");
}

void xrt_card_location(const struct xrt_card_id *id, char *buf, size_t len)
{
	if (id->noop)
		snprintf(buf, len, "noop:%u", id->noop_index);
	else
		snprintf(buf, len, "%s", id->bdf);
}

int xrt_card_parse_location(const char *loc, struct xrt_card_id *id)
{
	memset(id, 0, sizeof(*id));
	id->numa_node = -1;
	if (!strncmp(loc, "noop:", 5)) {
		char *end;
		id->noop = true;
		id->noop_index = (unsigned)strtoul(loc + 5, &end, 10);
		return end != loc + 5 && !*end ? 0 : -EINVAL;
	}
	if (strlen(loc) >= sizeof(id->bdf))
		return -EINVAL;
	snprintf(id->bdf, sizeof(id->bdf), "%s", loc);
	return 0;
}

static bool wanted(const struct xrt_cfg *cfg, const struct ory_pci_info *p)
{
	for (unsigned i = 0; i < cfg->npci_ids; i++)
		if (cfg->pci_ids[i] == (p->vendor_id << 16 | p->device_id))
			return true;
	return false;
}

static int discover_noop(const struct ory_topo *t, const struct xrt_sel *sel,
			 struct xrt_card_id *ids, unsigned max)
{
	unsigned n = sel->n ? sel->n : 1;
	if (n > max)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		if (sel->n && sel->item[i].bdf) {
			xrt_log(t, ORY_LOG_WARN,
				"xrt: noop emulation has no PCI addresses: name "
				"cards by index (xrt:0,1)");
			return -EINVAL;
		}
		memset(&ids[i], 0, sizeof(ids[i]));
		ids[i].noop = true;
		ids[i].noop_index = sel->n ? sel->item[i].index : 0;
		ids[i].numa_node = -1;
	}
	return (int)n;
}

static int discover_pci(const struct ory_topo *t, const struct xrt_cfg *cfg,
			const struct xrt_sel *sel, struct xrt_card_id *ids, unsigned max)
{
	struct ory_pci_info found[XRT_MAX_CARDS];
	unsigned nfound = 0;
	for (unsigned i = 0; i < ory_topo_pci_count(t) && nfound < XRT_MAX_CARDS; i++) {
		struct ory_pci_info p;
		if (ory_topo_pci(t, i, &p) == 0 && wanted(cfg, &p))
			found[nfound++] = p;
	}
	if (!nfound) {
		xrt_log(t, ORY_LOG_INFO,
			"xrt: no Xilinx card found (looked for %u PCI ids, e.g. %04x:%04x)",
			cfg->npci_ids, cfg->pci_ids[0] >> 16, cfg->pci_ids[0] & 0xffff);
		return -ENODEV;
	}

	unsigned n = sel->n ? sel->n : nfound;
	if (n > max)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		const struct ory_pci_info *p = NULL;
		if (!sel->n) {
			p = &found[i];
		} else if (!sel->item[i].bdf) {
			if (sel->item[i].index < nfound)
				p = &found[sel->item[i].index];
		} else {
			for (unsigned j = 0; j < nfound && !p; j++)
				if (found[j].domain == sel->item[i].domain &&
				    found[j].bus == sel->item[i].bus &&
				    found[j].dev == sel->item[i].dev &&
				    found[j].func == sel->item[i].func)
					p = &found[j];
		}
		if (!p) {
			xrt_log(t, ORY_LOG_WARN,
				"xrt: card %u of the spec is not present (%u found)", i, nfound);
			return -ENODEV;
		}
		memset(&ids[i], 0, sizeof(ids[i]));
		snprintf(ids[i].bdf, sizeof(ids[i].bdf), "%04x:%02x:%02x.%x", p->domain, p->bus,
			 p->dev, p->func);
		ids[i].numa_node = p->numa_node;
	}
	return (int)n;
}

int xrt_discover(const struct ory_topo *t, const struct xrt_cfg *cfg, const struct xrt_sel *sel,
		 struct xrt_card_id *ids, unsigned max)
{
	const char *mode = getenv("XCL_EMULATION_MODE");
	if (mode && mode[0] && strcmp(mode, "noop")) {
		xrt_log(t, ORY_LOG_WARN, "xrt: XCL_EMULATION_MODE=%s is not supported (only noop)",
			mode);
		return -ENODEV;
	}
	return mode && mode[0] ? discover_noop(t, sel, ids, max)
			       : discover_pci(t, cfg, sel, ids, max);
}

static bool has_shim(const char *root, const char *shim)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/lib/%s", root, shim);
	return access(path, R_OK) == 0;
}

int xrt_env_ready(const struct ory_topo *t, const struct xrt_cfg *cfg, bool noop)
{
	const char *shim = noop ? "libxrt_noop.so.2" : "libxrt_core.so.2";
	const char *root = getenv("XILINX_XRT");

	if (root && root[0]) {
		if (has_shim(root, shim))
			return 0;
		xrt_log(t, ORY_LOG_WARN,
			"xrt: XILINX_XRT=%s has no lib/%s, and XRT would abort the "
			"process without it",
			root, shim);
		return -ENODEV;
	}
	if (noop) {
		xrt_log(t, ORY_LOG_WARN,
			"xrt: XCL_EMULATION_MODE=noop needs XILINX_XRT: a directory "
			"whose lib/libxrt_noop.so.2 links to XRT's noop shim");
		return -ENODEV;
	}
	/* Real cards and no XILINX_XRT: the configured root, else where XRT's own packages put it.
	 * Debian's packages have the shim in the multiarch directory instead, which XRT 2.13
	 * does not search: there a root with a lib/ symlink must be configured. */
	const char *candidates[] = {cfg->root, "/opt/xilinx/xrt", "/usr"};
	for (size_t i = 0; i < ORY_ARRAY_SIZE(candidates); i++) {
		if (!candidates[i][0] || !has_shim(candidates[i], shim))
			continue;
		/* setenv is not thread-safe against getenv elsewhere; we are on the thread that
		 * creates the runtime, before XRT (which reads it) has started any thread. */
		if (setenv("XILINX_XRT", candidates[i], 0) < 0)
			return -errno;
		xrt_log(t, ORY_LOG_INFO, "xrt: XILINX_XRT was unset; using %s", candidates[i]);
		return 0;
	}
	xrt_log(t, ORY_LOG_WARN,
		"xrt: XILINX_XRT is unset and no XRT root with lib/%s was found "
		"(/opt/xilinx/xrt, /usr): set XILINX_XRT or [xrt] root to a directory "
		"whose lib/%s links to the installed one",
		shim, shim);
	return -ENODEV;
}
