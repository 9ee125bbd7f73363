/* SPDX-License-Identifier: MIT */
/*
 * fuzz_ini.c - the devices' INI configs: byte 0 picks the reader, the rest is the file.
 * Even: the sim device's (its probe with config=FILE, as a device spec names it); odd: the
 * XRT device's (xrt_cfg_load, every section and key of configs/u50.ini). A file that loads
 * must leave every setting in its range; one that does not gets a one-line reason.
 */
#include <errno.h>

#include "octoray/device.h"
#include "fuzz.h"
#ifdef ORY_WITH_XRT
#include "devices/xrt/xrt_internal.h"
#endif

extern const struct ory_device_ops ory_sim_device_ops;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	unsetenv("ORY_SIM_CONFIG");
	return 0;
}

static void sim(const char *path)
{
	char args[256];
	snprintf(args, sizeof(args), "2?config=%s", path);
	struct ory_device_desc descs[4];
	memset(descs, 0, sizeof(descs));
	/* Without a topology the probe's log goes nowhere; its code is what matters. */
	int rc = ory_sim_device_ops.probe(NULL, args, descs, 4);
	FZ_CHECK(rc == 2 || rc == -EINVAL || rc == -ENOMEM, "probe: %d", rc);
}

#ifdef ORY_WITH_XRT
static void xrt(const char *path)
{
	static struct xrt_cfg cfg;
	char why[512] = "";
	xrt_cfg_defaults(&cfg);
	int rc = xrt_cfg_load(path, &cfg, why, sizeof(why));
	if (rc < 0) {
		fz_check_message(why);
		return;
	}
	const struct xrt_gzip_cfg *g = &cfg.gzip;
	FZ_CHECK(g->engines >= 1 && g->engines <= XRT_MAX_ENGINES, "engines %u", g->engines);
	FZ_CHECK(g->slots >= 1 && g->slots <= XRT_MAX_SLOTS, "slots %u", g->slots);
	FZ_CHECK(g->block_kb >= 32 && g->block_kb <= 4096, "block_kb %u", g->block_kb);
	FZ_CHECK(cfg.cnv.slots >= 1 && cfg.cnv.slots <= XRT_MAX_SLOTS, "cnv slots %u",
		 cfg.cnv.slots);
	FZ_CHECK(cfg.npci_ids >= 1 && cfg.npci_ids <= 8, "%u pci ids", cfg.npci_ids);
	FZ_CHECK(cfg.timeout_ms >= 1, "timeout 0");
	for (unsigned b = 0; b < GZ_NBUF; b++)
		for (unsigned e = 0; e < XRT_MAX_ENGINES; e++)
			FZ_CHECK(g->bank[b][e] == XRT_BANK_AUTO ||
					 (g->bank[b][e] >= 0 && g->bank[b][e] <= 255),
				 "bank %d", g->bank[b][e]);
	FZ_CHECK(!strcmp(cfg.app, "gzip") || !strcmp(cfg.app, "cnv"), "app %s", cfg.app);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	if (n < 1)
		return 0;
	const char *path = fz_file("cfg.ini", d + 1, n - 1);
#ifdef ORY_WITH_XRT
	if (d[0] & 1) {
		xrt(path);
		return 0;
	}
#endif
	sim(path);
	return 0;
}
