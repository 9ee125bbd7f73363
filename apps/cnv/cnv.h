/* SPDX-License-Identifier: MIT */
/*
 * cnv.h - the CNV-W1A1 app's API: load the binarized CIFAR-10 network (BNN-PYNQ parameters or
 * a compact .orym file) and classify 32x32 RGB images with a bit-exact CPU kernel.
 *
 * Objects: a struct cnv_model is immutable after load and may be shared by any number of
 * threads; a struct cnv_ctx holds one thread's scratch memory and must be used by one thread at
 * a time. Every function returns 0 (or a count) on success and a negative errno on failure; none
 * of them sets errno, aborts or exits on bad input.
 */
#ifndef ORY_CNV_H
#define ORY_CNV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CNV_CLASSES	 10
#define CNV_IMAGE_DIM	 32
#define CNV_IMAGE_BYTES	 3072 /* 32 x 32 x 3 uint8 */
#define CNV_LAYERS	 9
#define CNV_CIFAR_RECORD 3073 /* CIFAR-10 binary record: label byte + CHW image */

struct cnv_model;
struct cnv_ctx;

/* Code paths of the kernels. All give identical results; AUTO picks the fastest the CPU has. */
enum cnv_isa {
	CNV_ISA_AUTO = 0,
	CNV_ISA_SCALAR, /* portable C (uses the popcnt instruction when the CPU has it) */
	CNV_ISA_AVX2,	/* AVX2 + POPCNT */
	CNV_ISA_AVX512, /* AVX-512 F, BW, VL, VPOPCNTDQ and VNNI (Ice Lake, Zen 4 and later) */
};

/* Byte order of one image. */
enum cnv_layout {
	CNV_CHW = 0, /* CIFAR-10 binary: 1024 R, then 1024 G, then 1024 B, each row-major */
	CNV_HWC = 1, /* FINN's NHWC uint8: R, G, B of pixel 0, then pixel 1, ... */
};

/*
 * Load the BNN-PYNQ parameter folder (bnn/params/cifar10/cnvW1A1: 91 L-P-weights.bin and 87
 * L-P-thres.bin files). Checks the file set, every file's size, that unused weight bits are 0 and
 * that thresholds fit the hardware's types (ap_fixed<24,16> for layer 0, ap_int<16> otherwise).
 * On success *out owns a new model (free with cnv_model_free). On failure *out is untouched and,
 * if err is not NULL, err[0..errlen) holds a message that names the offending file. Blocks on
 * file I/O; thread-safe. Returns 0, -ENOENT (missing file or folder), -EINVAL (bad size, stray
 * file, stray bits), -ERANGE (threshold out of range), -ENOMEM or another -errno from I/O.
 */
int cnv_model_load_dir(const char *bnn_pynq_dir, struct cnv_model **out, char *err, size_t errlen);

/*
 * Load a model from an .orym image in memory (see cnv_orym.c for the format). buf is only read
 * during the call. Same ownership and error conventions as cnv_model_load_dir. Returns 0,
 * -EINVAL (not an .orym, truncated, wrong topology), -ENOTSUP (newer format version),
 * -EBADMSG (CRC mismatch: the file is corrupt), -ERANGE (threshold out of range) or -ENOMEM.
 */
int cnv_model_load_mem(const void *buf, size_t len, struct cnv_model **out, char *err,
		       size_t errlen);

/* cnv_model_load_mem on the contents of the file at path; messages name the path. Also returns
 * -errno of open/read. Blocks on file I/O; thread-safe. */
int cnv_model_load_file(const char *path, struct cnv_model **out, char *err, size_t errlen);

/* The .orym built into the library (BNN-PYNQ cnvW1A1, BSD-3-Clause, see models/LICENSE-BNN-PYNQ).
 * *buf points to static read-only memory, valid for the life of the process. Thread-safe. */
void cnv_default_model(const void **buf, size_t *len);

/* cnv_model_load_mem(cnv_default_model). */
int cnv_model_load_default(struct cnv_model **out, char *err, size_t errlen);

/* Write m as an .orym file at path (replaced if it exists). Blocks; thread-safe. Returns 0,
 * -EINVAL (NULL argument) or -errno of open/write/close. */
int cnv_model_save(const struct cnv_model *m, const char *path);

/* Serialise m into an .orym image: *buf is malloc'ed and owned by the caller. Returns 0, -EINVAL
 * or -ENOMEM. Thread-safe. */
int cnv_model_to_orym(const struct cnv_model *m, void **buf, size_t *len);

/*
 * A random model with the CNV topology, reproducible from seed (same seed, same model on every
 * machine). Thresholds sit where random activations cross them, plus a few channels with
 * out-of-reach thresholds (always or never active), so every layer's output has both bit values.
 * For tests and benchmarks that must run without the BNN-PYNQ files. Returns 0 or -ENOMEM.
 */
int cnv_model_synthetic(uint64_t seed, struct cnv_model **out);

/* Free a model. NULL is a no-op. Every ctx made from m must be freed first. */
void cnv_model_free(struct cnv_model *m);

/* Shape of layer l (0..8) as the reference describes it (docs/cnv.md section 1). */
struct cnv_layer_shape {
	unsigned in_dim;  /* input height = width (1 for the FC layers) */
	unsigned in_ch;	  /* input channels (FC: inputs) */
	unsigned out_dim; /* output height = width before pooling (1 for FC) */
	unsigned out_ch;  /* output channels (FC: neurons; 10 for layer 8) */
	unsigned k;	  /* kernel size (3 for conv, 1 for FC) */
	unsigned fanin;	  /* k * k * in_ch */
	bool pool;	  /* a 2x2 OR max-pool follows */
	bool thresholds;  /* false for layer 8 (raw popcount scores) */
};
int cnv_layer_shape(unsigned layer, struct cnv_layer_shape *out);

/* Introspection for tests and tools (slow: one parameter per call). Weight of (row, col) in the
 * BNN-PYNQ column order (col = (ky * 3 + kx) * in_ch + c): +1 or -1, 0 for out-of-range
 * arguments. Threshold of row in the file's units (layer 0: value * 256; layers 1..7: popcount
 * of XNOR matches); 0 for out-of-range arguments or layer 8. Thread-safe. */
int cnv_model_weight(const struct cnv_model *m, unsigned layer, unsigned row, unsigned col);
int64_t cnv_model_threshold(const struct cnv_model *m, unsigned layer, unsigned row);

/* Whether this CPU (and OS) can run isa. AUTO and SCALAR are always supported. Thread-safe. */
bool cnv_isa_supported(enum cnv_isa isa);
/* The best supported ISA (never AUTO). */
enum cnv_isa cnv_isa_best(void);
/* "auto", "scalar", "avx2", "avx512", or "?" for anything else. */
const char *cnv_isa_name(enum cnv_isa isa);

/*
 * Make a per-thread inference context for m with the kernels of isa (AUTO: cnv_isa_best()).
 * The ctx borrows m, which must outlive it. Returns 0, -EINVAL (bad argument), -ENOTSUP (this CPU
 * lacks isa) or -ENOMEM. Thread-safe; the ctx itself is not (one thread at a time).
 */
int cnv_ctx_create(const struct cnv_model *m, enum cnv_isa isa, struct cnv_ctx **out);
void cnv_ctx_free(struct cnv_ctx *ctx); /* NULL is a no-op */
enum cnv_isa cnv_ctx_isa(const struct cnv_ctx *ctx);

/*
 * Classify n images. Image i starts at first_image + i * record_stride and holds 3072 bytes in
 * layout (for a CIFAR-10 .bin file: first_image = data + 1, stride 3073, CNV_CHW; for FINN's raw
 * input: stride 3072, CNV_HWC). Writes classes[i] (0..9, the first of equal top scores wins) and,
 * if scores is not NULL, scores[10 * i + c] = popcount score of class c (0..512). Inputs are only
 * read and outputs only written during the call. Blocks (pure computation, about 60 us per image
 * with AVX-512). Not thread-safe for one ctx; use one ctx per thread. Returns 0 or -EINVAL (NULL
 * pointer with n > 0, unknown layout, stride < 3072 with n > 1).
 */
int cnv_classify(struct cnv_ctx *ctx, const uint8_t *first_image, size_t record_stride,
		 enum cnv_layout layout, size_t n, uint8_t *classes, uint16_t *scores);

/* Stages of cnv_ctx_profile: input conversion, then one per layer (pools count with the conv
 * before them, the argmax with layer 8). */
enum { CNV_STAGE_INPUT = 0, CNV_STAGE_L0 = 1, CNV_STAGES = 1 + CNV_LAYERS };

/* Add the nanoseconds each stage takes to ns[0..CNV_STAGES) during later cnv_classify calls
 * (NULL: stop). The array is borrowed until the next call with NULL or cnv_ctx_free. Timing costs
 * about 1 % of the throughput. */
void cnv_ctx_profile(struct cnv_ctx *ctx, uint64_t *ns);

#endif /* ORY_CNV_H */
