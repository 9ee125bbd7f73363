/* SPDX-License-Identifier: MIT */
/* xrt_internal.h - what the XRT device's files share: configuration, card selection, the card
 * table, xclbin reading, and the per-app engine interface (gzip now, CNV next). */
#ifndef ORY_XRT_INTERNAL_H
#define ORY_XRT_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <xrt/xrt_bo.h>
#include <xrt/xrt_device.h>
#include <xrt/xrt_kernel.h>

#include "../../runtime/rt.h"

#define XRT_MAX_CARDS	16
#define XRT_MAX_ENGINES 8 /* compute-unit pairs per card we address; the U50 design has 2 */
#define XRT_MAX_SLOTS	4
#define XRT_NAME_LEN	64

#define xrt_log(t, lvl, ...) ory_device_log(t, lvl, __VA_ARGS__)

/* What runs after a kernel on the noop shim, which executes nothing (see model_gzip.c). */
enum xrt_model {
	XRT_MODEL_KERNEL,  /* a software twin of each kernel: the default on noop */
	XRT_MODEL_NONE,	   /* nothing, like the shim: output buffers keep what the host left */
	XRT_MODEL_GARBAGE, /* random bytes and out-of-range sizes */
	XRT_MODEL_CORRUPT, /* plausible sizes and headers, damaged payload */
};

/* The gzip engine's buffers; each is an argument of lz77 and/or huffman (gzip_engine.c). */
enum gz_buf { GZ_IN, GZ_LZ, GZ_SIZES, GZ_BLOCKS, GZ_LTREE, GZ_DTREE, GZ_OUT, GZ_NBUF };
/* Their names, as in the design's kernels and the [gzip] bank.NAME keys (config.c). */
extern const char *const xrt_gz_buf_name[GZ_NBUF];
#define XRT_BANK_AUTO -1

struct xrt_gzip_cfg {
	char xclbin[PATH_MAX];
	char lz77[XRT_NAME_LEN]; /* kernel names; CU k of engine k-1 is <name>_<k> */
	char huffman[XRT_NAME_LEN];
	unsigned engines;
	unsigned block_kb;		    /* deflate block per kernel engine: the design's 1024 */
	size_t max_chunk;		    /* bytes per kernel call: the design's 8 x 1 MiB */
	unsigned slots;			    /* chunks in flight per engine (BO sets) */
	int bank[GZ_NBUF][XRT_MAX_ENGINES]; /* XRT_BANK_AUTO: the argument's group id */
	bool verify;			    /* inflate every block the card returns */
};

/* The CNV engine's buffers: images in, classes out. */
enum cnv_buf { CNV_IN, CNV_OUT, CNV_NBUF };

struct xrt_cnv_cfg {
	char xclbin[PATH_MAX];
	char idma[XRT_NAME_LEN]; /* instance names of the DMA kernels */
	char odma[XRT_NAME_LEN];
	unsigned image_bytes; /* 32 x 32 x 3 uint8, NHWC */
	unsigned classes;     /* outputs are 0 .. classes - 1 */
	unsigned max_images;  /* per kernel call: sizes the buffers */
	unsigned slots;
	int bank[CNV_NBUF]; /* XRT_BANK_AUTO: the argument's group id */
};

struct xrt_cfg {
	char file[PATH_MAX]; /* the config file read, "" for built-in defaults */
	char root[PATH_MAX]; /* XILINX_XRT to set when unset (real cards) */
	unsigned npci_ids;
	uint32_t pci_ids[8]; /* vendor << 16 | device of the cards' user functions */
	char cards[128];     /* default card list when the spec has none */
	char app[16];	     /* the design loaded on the cards: "gzip" */
	unsigned timeout_ms; /* longest wait for one kernel run */
	enum xrt_model model;
	bool model_set;
	struct xrt_gzip_cfg gzip;
	struct xrt_cnv_cfg cnv;
};

/* args.c + config.c: the spec's args and the INI file into cfg and a card list. */
struct xrt_sel {
	unsigned n;
	struct {
		bool bdf;
		unsigned index; /* n-th card found; noop: XRT device index */
		unsigned domain, bus, dev, func;
	} item[XRT_MAX_CARDS];
};
int xrt_parse(const struct ory_topo *t, const char *args, struct xrt_cfg *cfg, struct xrt_sel *sel);
int xrt_parse_cards(const char *list, struct xrt_sel *sel);
void xrt_cfg_defaults(struct xrt_cfg *cfg);
int xrt_cfg_set(struct xrt_cfg *cfg, const char *section, const char *key, const char *value,
		const char *base_dir, char *why, size_t why_len);
int xrt_cfg_load(const char *path, struct xrt_cfg *cfg, char *why, size_t why_len);

/* discover.c: which cards the selection names, and whether XRT may be called at all. */
struct xrt_card_id {
	bool noop;
	unsigned noop_index;
	char bdf[16]; /* "0000:3b:00.1" */
	int numa_node;
};
bool xrt_noop_mode(void);
int xrt_discover(const struct ory_topo *t, const struct xrt_cfg *cfg, const struct xrt_sel *sel,
		 struct xrt_card_id *ids, unsigned max);
int xrt_env_ready(const struct ory_topo *t, const struct xrt_cfg *cfg, bool noop);
void xrt_card_location(const struct xrt_card_id *id, char *buf, size_t len);
int xrt_card_parse_location(const char *loc, struct xrt_card_id *id);

/* xclbin.c: the parts of an xclbin (struct axlf) we check before handing it to XRT. */
struct ip_layout;
struct connectivity;
struct mem_topology;
struct xrt_xclbin {
	uint8_t uuid[16];
	struct ip_layout *ip;
	struct connectivity *cn;
	struct mem_topology *mt;
	size_t ip_len, cn_len, mt_len;
};
int xrt_xclbin_read(const char *path, struct xrt_xclbin *xb, char *why, size_t why_len);
void xrt_xclbin_free(struct xrt_xclbin *xb);
/* Index of compute unit "kernel:instance" in IP_LAYOUT, or -1. */
int xrt_xclbin_find_cu(const struct xrt_xclbin *xb, const char *kernel, const char *instance);
/* Index of the compute unit whose instance is `instance` (any kernel), its kernel name into
 * kernel[0..kernel_len); -1 if none. FINN's kernel names vary, its instance names do not. */
int xrt_xclbin_find_instance(const struct xrt_xclbin *xb, const char *instance, char *kernel,
			     size_t kernel_len);
/* "k:i, k:i, ..." of every compute unit, for messages. */
void xrt_xclbin_cu_list(const struct xrt_xclbin *xb, char *buf, size_t len);
/* Tag ("HBM[1]") of the bank argument `arg` of compute unit `cu` is wired to, or "?". */
const char *xrt_xclbin_bank_tag(const struct xrt_xclbin *xb, int cu, int arg);

/* card.c: cards opened once per process, shared by their engines (and runtimes). */
struct xrt_card;
int xrt_card_get(const struct ory_topo *t, const struct xrt_card_id *id, const char *xclbin,
		 const struct xrt_xclbin *xb, unsigned unit, struct xrt_card **out);
void xrt_card_put(struct xrt_card *c, unsigned unit);
xrtDeviceHandle xrt_card_handle(const struct xrt_card *c);
const uint8_t *xrt_card_uuid(const struct xrt_card *c);
/* Wait up to timeout_ms for a run: 0 when it completed, -EIO when it ended otherwise, and
 * -ETIMEDOUT while it is still queued or running; then the card may still be using the run's
 * buffers, and the engine must not hand them out again. */
int xrt_run_wait(xrtRunHandle r, unsigned timeout_ms);
/* BO sizes in whole pages: XRT maps BOs page by page anyway, and the noop shim's
 * aligned_alloc(4096, size) wants a multiple of the alignment. */
static inline size_t xrt_bo_len(size_t len)
{
	return (len + 4095) & ~(size_t)4095;
}

/* One opened device: an engine (gzip: an lz77 + huffman CU pair) of one card. */
struct xrt_dev {
	const struct ory_device_desc *desc; /* the runtime's copy: stable until close */
	const struct ory_topo *t;
	struct xrt_cfg cfg;
	struct xrt_card_id id;
	char location[64];
	struct xrt_card *card;
	unsigned unit; /* engine index on the card */
	bool noop;
	const struct xrt_app *app;
	void *priv; /* the app engine's state */
};

/* An application as the card runs it. Every XRT object is created in open and destroyed in
 * close (on the runtime's creating thread); the other ops only sync, run and wait. */
struct xrt_app {
	const char *name;
	unsigned (*units)(const struct xrt_cfg *cfg);
	const char *(*xclbin)(const struct xrt_cfg *cfg);
	/* Does the xclbin hold unit u's compute units? 0, or -ENOENT with a reason in why. */
	int (*check)(const struct xrt_cfg *cfg, const struct xrt_xclbin *xb, unsigned u, char *why,
		     size_t why_len);
	int (*open)(struct xrt_dev *d, const struct xrt_xclbin *xb);
	void (*close)(struct xrt_dev *d);
	unsigned (*max_inflight)(struct xrt_dev *d);
	int (*attach)(struct xrt_dev *d, const struct ory_app *app, size_t chunk_size);
	void (*detach)(struct xrt_dev *d);
	int (*submit)(struct xrt_dev *d, struct ory_chunk *c);
	struct ory_chunk *(*reap)(struct xrt_dev *d);
	int (*map_input)(struct xrt_dev *d, void *base, size_t len); /* optional */
};

extern const struct xrt_app xrt_gzip_app;
extern const struct xrt_app xrt_cnv_app;

/* xrt.c: the device kind's ops, which module.c hands to the runtime. */
extern const struct ory_device_ops xrt_device_ops;
/* module.c: the runtime's CNV app object, whose chunks carry struct cnv_params; an app a test
 * registers under the same name is another object and carries none. */
const struct ory_app *xrt_cnv_app_of_runtime(void);

/* model_gzip.c: software twins of the gzip kernels, run on the mapped buffers after each
 * kernel on the noop shim. Arguments by index, exactly as the kernel sees them. */
struct xrt_call {
	uint8_t *arg[8]; /* mapped buffer of each pointer argument */
	size_t len[8];	 /* its size */
	uint32_t u32[8]; /* value of each scalar argument */
};
struct gz_model;
struct gz_model *gz_model_new(enum xrt_model kind, uint64_t seed);
void gz_model_free(struct gz_model *m);
void gz_model_lz77(struct gz_model *m, const struct xrt_call *k);
void gz_model_huffman(struct gz_model *m, const struct xrt_call *k);
const char *xrt_model_name(enum xrt_model m);

/* gzip_check.c: decide what the card's blocks are worth and assemble the chunk. */
struct gz_result {
	const uint8_t *out; /* the deflate output buffer (block b at b * stride) */
	size_t out_cap;
	const uint32_t *sizes; /* compressed bytes per block, as the card reported them */
	unsigned nblocks;
	size_t stride; /* block bytes */
};
struct gz_verifier;
struct gz_verifier *gz_verifier_new(size_t block_bytes);
void gz_verifier_free(struct gz_verifier *v);
/* Fill c->out/out_len from the card's blocks, or with stored blocks when the card signalled
 * that a block did not fit. 0, or -EIO with the reason in why (the chunk is then retried). */
int gz_assemble(struct gz_verifier *v, const struct gz_result *r, struct ory_chunk *c, char *why,
		size_t why_len);

#endif /* ORY_XRT_INTERNAL_H */
