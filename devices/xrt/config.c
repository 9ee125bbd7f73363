/* SPDX-License-Identifier: MIT */
/* config.c - the XRT device's settings: built-in defaults (the U50 gzip_hbm design), an INI file
 * (configs/u50.ini documents every key), and single keys set from the device spec. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xrt_internal.h"

#define MiB ((size_t)1 << 20)

const char *const xrt_gz_buf_name[GZ_NBUF] = {
	[GZ_IN] = "in",
	[GZ_LZ] = "lz77_out",
	[GZ_SIZES] = "sizes",
	[GZ_BLOCKS] = "block_sizes",
	[GZ_LTREE] = "ltree_freq",
	[GZ_DTREE] = "dtree_freq",
	[GZ_OUT] = "out",
};

void xrt_cfg_defaults(struct xrt_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->npci_ids = 1;
	cfg->pci_ids[0] = 0x10ee5021; /* Alveo U50 user function (xocl); 0x5020 is management */
	snprintf(cfg->app, sizeof(cfg->app), "gzip");
	cfg->timeout_ms = 10000;
	cfg->model = XRT_MODEL_KERNEL;

	struct xrt_gzip_cfg *g = &cfg->gzip;
	snprintf(g->lz77, sizeof(g->lz77), "xilLz77Compress");
	snprintf(g->huffman, sizeof(g->huffman), "xilHuffmanKernel");
	g->engines = 2;
	g->block_kb = 1024;
	g->max_chunk = 8 * MiB; /* PARALLEL_BLOCK (8) blocks per kernel call */
	g->slots = 2;		/* double buffering, as the design's host code does */
	for (unsigned b = 0; b < GZ_NBUF; b++)
		for (unsigned e = 0; e < XRT_MAX_ENGINES; e++)
			g->bank[b][e] = XRT_BANK_AUTO;

	struct xrt_cnv_cfg *n = &cfg->cnv;
	snprintf(n->idma, sizeof(n->idma), "idma0");
	snprintf(n->odma, sizeof(n->odma), "odma0");
	n->image_bytes = 32 * 32 * 3;
	n->classes = 10;
	n->max_images = 2048;
	n->slots = 2;
	n->bank[CNV_IN] = n->bank[CNV_OUT] = XRT_BANK_AUTO;
}

static int parse_uint(const char *v, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(v, &end, 0);
	if (errno || end == v || *end || n < lo || n > hi || v[0] == '-')
		return -EINVAL;
	*out = n;
	return 0;
}

/* "8M", "1024K", "8388608" */
static int parse_size(const char *v, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || v[0] == '-')
		return -EINVAL;
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	if (shift)
		end++;
	if (*end || n > (SIZE_MAX >> shift))
		return -EINVAL;
	*out = (size_t)(n << shift);
	return 0;
}

static int parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "1") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "on"))
		*out = true;
	else if (!strcmp(v, "0") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "off"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

/* "auto", one bank for every engine, or one per engine: "0,1". */
static int parse_banks(const char *v, int *bank)
{
	if (!strcmp(v, "auto")) {
		for (unsigned e = 0; e < XRT_MAX_ENGINES; e++)
			bank[e] = XRT_BANK_AUTO;
		return 0;
	}
	int vals[XRT_MAX_ENGINES];
	unsigned n = 0;
	const char *p = v;
	for (;;) {
		char *end;
		errno = 0;
		long b = strtol(p, &end, 10);
		if (errno || end == p || b < 0 || b > 255 || n == XRT_MAX_ENGINES)
			return -EINVAL;
		vals[n++] = (int)b;
		if (*end == '\0')
			break;
		if (*end != ',')
			return -EINVAL;
		p = end + 1;
	}
	for (unsigned e = 0; e < XRT_MAX_ENGINES; e++)
		bank[e] = vals[n == 1 ? 0 : (e < n ? e : n - 1)];
	return 0;
}

static int set_path(char *dst, const char *v, const char *base_dir)
{
	int n;
	if (v[0] == '/' || !base_dir || !base_dir[0])
		n = snprintf(dst, PATH_MAX, "%s", v);
	else
		n = snprintf(dst, PATH_MAX, "%s/%s", base_dir, v);
	return n < PATH_MAX ? 0 : -ENAMETOOLONG;
}

static int set_name(char *dst, const char *v)
{
	if (!v[0] || strlen(v) >= XRT_NAME_LEN || strpbrk(v, ":{},"))
		return -EINVAL;
	snprintf(dst, XRT_NAME_LEN, "%s", v);
	return 0;
}

static int set_pci_ids(struct xrt_cfg *cfg, const char *v)
{
	unsigned n = 0;
	const char *p = v;
	while (*p) {
		unsigned ven, dev;
		int used;
		/* Xilinx functions only: XRT drives nothing else, and the topology looks for PCI
		 * functions only when one with this vendor is on the bus (runtime/topology.c). */
		if (n == 8 || sscanf(p, "%x:%x%n", &ven, &dev, &used) != 2 || ven != 0x10ee ||
		    dev > 0xffff)
			return -EINVAL;
		cfg->pci_ids[n++] = ven << 16 | dev;
		p += used;
		if (*p == ',')
			p++;
		else if (*p)
			return -EINVAL;
	}
	if (!n)
		return -EINVAL;
	cfg->npci_ids = n;
	return 0;
}

static int set_model(struct xrt_cfg *cfg, const char *v)
{
	for (int m = XRT_MODEL_KERNEL; m <= XRT_MODEL_CORRUPT; m++)
		if (!strcmp(v, xrt_model_name((enum xrt_model)m))) {
			cfg->model = (enum xrt_model)m;
			cfg->model_set = true;
			return 0;
		}
	return -EINVAL;
}

static int set_xrt(struct xrt_cfg *cfg, const char *key, const char *v, const char *base_dir)
{
	unsigned long n;
	if (!strcmp(key, "root"))
		return set_path(cfg->root, v, base_dir);
	if (!strcmp(key, "pci_ids"))
		return set_pci_ids(cfg, v);
	if (!strcmp(key, "cards")) {
		struct xrt_sel sel;
		if (strlen(v) >= sizeof(cfg->cards) || xrt_parse_cards(v, &sel) < 0)
			return -EINVAL;
		snprintf(cfg->cards, sizeof(cfg->cards), "%s", v);
		return 0;
	}
	if (!strcmp(key, "app")) {
		if (strcmp(v, "gzip") && strcmp(v, "cnv"))
			return -EINVAL;
		snprintf(cfg->app, sizeof(cfg->app), "%s", v);
		return 0;
	}
	if (!strcmp(key, "timeout_ms")) {
		if (parse_uint(v, 1, 3600000, &n))
			return -EINVAL;
		cfg->timeout_ms = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "model"))
		return set_model(cfg, v);
	return -ENOENT;
}

static int set_gzip(struct xrt_gzip_cfg *g, const char *key, const char *v, const char *base_dir)
{
	unsigned long n;
	if (!strcmp(key, "xclbin"))
		return set_path(g->xclbin, v, base_dir);
	if (!strcmp(key, "lz77"))
		return set_name(g->lz77, v);
	if (!strcmp(key, "huffman"))
		return set_name(g->huffman, v);
	if (!strcmp(key, "engines")) {
		if (parse_uint(v, 1, XRT_MAX_ENGINES, &n))
			return -EINVAL;
		g->engines = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "block_kb")) {
		if (parse_uint(v, 32, 4096, &n))
			return -EINVAL;
		g->block_kb = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "max_chunk"))
		return parse_size(v, &g->max_chunk);
	if (!strcmp(key, "slots")) {
		if (parse_uint(v, 1, XRT_MAX_SLOTS, &n))
			return -EINVAL;
		g->slots = (unsigned)n;
		return 0;
	}
	if (!strcmp(key, "verify"))
		return parse_bool(v, &g->verify);
	if (!strcmp(key, "bank")) {
		for (unsigned b = 0; b < GZ_NBUF; b++)
			if (parse_banks(v, g->bank[b]))
				return -EINVAL;
		return 0;
	}
	if (!strncmp(key, "bank.", 5))
		for (unsigned b = 0; b < GZ_NBUF; b++)
			if (!strcmp(key + 5, xrt_gz_buf_name[b]))
				return parse_banks(v, g->bank[b]);
	return -ENOENT;
}

static int set_cnv(struct xrt_cnv_cfg *n, const char *key, const char *v, const char *base_dir)
{
	const struct {
		const char *key;
		unsigned *dst;
		unsigned long max;
	} nums[] = {
		{"image_bytes", &n->image_bytes, 1u << 24},
		{"classes", &n->classes, 256}, /* one byte per result */
		{"max_images", &n->max_images, 1u << 20},
		{"slots", &n->slots, XRT_MAX_SLOTS},
	};
	unsigned long x;
	if (!strcmp(key, "xclbin"))
		return set_path(n->xclbin, v, base_dir);
	if (!strcmp(key, "idma"))
		return set_name(n->idma, v);
	if (!strcmp(key, "odma"))
		return set_name(n->odma, v);
	for (size_t i = 0; i < ORY_ARRAY_SIZE(nums); i++) {
		if (strcmp(key, nums[i].key))
			continue;
		if (parse_uint(v, 1, nums[i].max, &x))
			return -EINVAL;
		*nums[i].dst = (unsigned)x;
		return 0;
	}
	bool all = !strcmp(key, "bank");
	if (all || !strcmp(key, "bank.in") || !strcmp(key, "bank.out")) {
		int b[XRT_MAX_ENGINES];
		if (parse_banks(v, b))
			return -EINVAL;
		if (all || !strcmp(key, "bank.in"))
			n->bank[CNV_IN] = b[0];
		if (all || !strcmp(key, "bank.out"))
			n->bank[CNV_OUT] = b[0];
		return 0;
	}
	return -ENOENT;
}

int xrt_cfg_set(struct xrt_cfg *cfg, const char *section, const char *key, const char *value,
		const char *base_dir, char *why, size_t why_len)
{
	int rc = -ENOENT;
	if (!strcmp(section, "xrt"))
		rc = set_xrt(cfg, key, value, base_dir);
	else if (!strcmp(section, "gzip"))
		rc = set_gzip(&cfg->gzip, key, value, base_dir);
	else if (!strcmp(section, "cnv"))
		rc = set_cnv(&cfg->cnv, key, value, base_dir);
	if (rc == -ENOENT)
		snprintf(why, why_len, "unknown key '%s' in [%s]", key, section);
	else if (rc < 0)
		snprintf(why, why_len, "bad value '%s' for %s.%s", value, section, key);
	return rc < 0 ? -EINVAL : 0;
}

struct load_ctx {
	struct xrt_cfg *cfg;
	char dir[PATH_MAX];
	char why[256];
};

static int on_ini(void *arg, const char *section, const char *key, const char *value)
{
	struct load_ctx *l = arg;
	if (l->why[0])
		return 0;
	return xrt_cfg_set(l->cfg, section, key, value, l->dir, l->why, sizeof(l->why)) == 0;
}

/* Read the INI file over cfg; relative paths in it are relative to the file. */
int xrt_cfg_load(const char *path, struct xrt_cfg *cfg, char *why, size_t why_len)
{
	struct load_ctx *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->cfg = cfg;
	snprintf(l->dir, sizeof(l->dir), "%s", path);
	char *slash = strrchr(l->dir, '/');
	if (slash)
		slash[slash == l->dir] = '\0'; /* "/x.ini" keeps its "/" */
	else
		l->dir[0] = '\0';

	char err[PATH_MAX + 96];
	int rc = 0;
	int line = ory_ini_parse_file(path, on_ini, l, err, sizeof(err));
	if (line < 0) {
		snprintf(why, why_len, "config %s", err);
		rc = line == -ENOENT || line == -ENOMEM ? line : -EINVAL;
	} else if (line > 0) {
		snprintf(why, why_len, "config %s:%d: %s", path, line,
			 l->why[0] ? l->why : "syntax error");
		rc = -EINVAL;
	} else {
		snprintf(cfg->file, sizeof(cfg->file), "%s", path);
	}
	free(l);
	return rc;
}
