/* SPDX-License-Identifier: MIT */
/*
 * octoray.h - the Octoray engine for embedders: spread a data-parallel job over every
 * accelerator (and CPU core) of one host and write the results back in input order.
 *
 * Conventions, stated once for the whole header:
 * - Every function that can fail returns 0 (or a count) on success and a negative
 *   errno-style code on failure; none sets errno. ory_strerror() turns a code into text and
 *   ory_runtime_errmsg() gives the message of the last failed job, which names the cause.
 * - Objects are opaque and created by ory_<x>_create(&opts, &out), ended by
 *   ory_<x>_destroy(x); destroy(NULL) is a no-op.
 * - Options structs start with struct_size so they can grow without breaking the ABI: call
 *   the matching *_opts_init() first, then set the fields you need.
 * - Threads: a runtime runs one job at a time. Calls on one runtime must not overlap (an
 *   overlapping call fails with -EBUSY); different runtimes are independent. Callbacks run on
 *   the thread that called the job function.
 * - The library never exits, aborts or asserts on anything input or hardware can cause, and
 *   never writes to stdout/stderr: diagnostics go to the log callback.
 */
#ifndef OCTORAY_H
#define OCTORAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ORY_VERSION_MAJOR 0
#define ORY_VERSION_MINOR 1
#define ORY_VERSION_PATCH 0

/* "0.1.0"; the version of the library actually loaded, which may differ from the macros. */
const char *ory_version(void);

/* Text for a code returned by this library ("Success" for 0). Never NULL; static storage. */
const char *ory_strerror(int rc);

struct ory_runtime;

/* Verbosity of a log line: errors are also returned, so ORY_LOG_INFO is what -v shows. */
enum ory_log_level { ORY_LOG_WARN = 0, ORY_LOG_INFO = 1, ORY_LOG_DEBUG = 2 };
/* Log sink: may be called from any thread of the runtime, so it must be thread-safe. `msg` is
 * one line without a newline, valid only during the call. */
typedef void (*ory_log_fn)(void *arg, enum ory_log_level level, const char *msg);

struct ory_runtime_opts {
	size_t struct_size;
	/* Which devices to use; NULL means "all". Grammar: "all" (every accelerator found, else one
	 * CPU worker per physical core) or items joined with '+': "cpu" (one worker per physical
	 * core), "cpu:N" (N workers, spread over the cores), "xrt[:CARDS][?opts]" (Alveo cards,
	 * devices/xrt/README.md), "sim:N[?opts]" (modelled cards), "fault:KIND[:N]?opts" (fault
	 * injection, devices/fault/fault.c). An unknown kind or malformed args is -EINVAL, a kind
	 * with no device present is -ENODEV. */
	const char *devices;
	/* Bytes of input per chunk. Output never depends on the device count because chunk
	 * boundaries depend on this alone. Default 1 MiB, range 32 KiB .. 64 MiB. */
	size_t chunk_size;
	/* Input reads kept in flight. Default 4, range 1 .. 64. */
	unsigned read_depth;
	/* Chunks each device may hold (queued + running). Default 2, range 1 .. 16. */
	unsigned slots;
	/* How many times a chunk is tried before the job fails. A failed chunk goes to another
	 * device when there is one. Default 4, range 1 .. 100. */
	unsigned max_tries;
	/* Consecutive failures after which a device is quarantined for the rest of the job (a
	 * hang quarantines at once). Default 3. */
	unsigned quarantine_after;
	/* Check every chunk's output before committing it (gzip: inflate and compare CRC and
	 * length): ORY_VERIFY_AUTO (default) for devices other than CPU workers, ORY_VERIFY_ALL,
	 * or ORY_VERIFY_NONE. */
	enum ory_verify { ORY_VERIFY_AUTO = 0, ORY_VERIFY_ALL, ORY_VERIFY_NONE } verify;
	/* Watchdog: a chunk running longer than this on a device other than a CPU worker is
	 * treated as failed and run elsewhere; its device is quarantined and a late answer is
	 * discarded. 0 (default): 10x the device's observed (or modelled) time per chunk, at
	 * least 1 s; 5 s before the device has any history. */
	unsigned watchdog_ms;
	/* When no device other than CPU workers is left (all quarantined): true (default) lets
	 * CPU workers, one per core, finish the job even if the spec named none; false fails the
	 * job with ORY_ORIGIN_DEVICE. */
	bool fallback_cpu;
	ory_log_fn log;       /* NULL: no logging */
	void *log_arg;        /* passed to log unchanged */
	enum ory_log_level log_level; /* lines above this level are not formatted. Default WARN. */
};

void ory_runtime_opts_init(struct ory_runtime_opts *opts);

/* Discover the topology (hwloc), resolve opts->devices and open the devices. Does not start any
 * thread: worker threads live for the duration of one job. `opts` is read during the call only;
 * *out is owned by the caller until ory_runtime_destroy(). Blocks while devices open (an
 * accelerator may take seconds). Returns 0, -EINVAL (bad option), -ENODEV (no such device),
 * -ENOMEM, or a device's open error; on failure *out is NULL and, when the failure was not
 * -ENOMEM, `errmsg` (if not NULL, of errmsg_len bytes) receives a one-line reason. */
int ory_runtime_create(const struct ory_runtime_opts *opts, struct ory_runtime **out,
		       char *errmsg, size_t errmsg_len);

/* Close every device and free the runtime. Must not overlap a job on the same runtime. */
void ory_runtime_destroy(struct ory_runtime *rt);

/* The message of the last failed call on `rt` ("" if none). Valid until the next call on rt. */
const char *ory_runtime_errmsg(const struct ory_runtime *rt);

/* Which side the last failure came from, so a caller can name the right file. */
enum ory_error_origin {
	ORY_ORIGIN_NONE = 0,  /* no failure, or not tied to a side (bad option, out of memory) */
	ORY_ORIGIN_INPUT,     /* reading the input, or the input's content (corrupt gzip data) */
	ORY_ORIGIN_OUTPUT,    /* writing the output */
	ORY_ORIGIN_DEVICE,    /* a device failed a chunk too often */
};
enum ory_error_origin ory_runtime_error_origin(const struct ory_runtime *rt);

/* What one device is and what it did in the last job. Strings are NUL-terminated. */
struct ory_device_info {
	size_t struct_size;
	char name[32];        /* "cpu0", "xrt1", ... unique within the runtime */
	char kind[16];        /* "cpu", "xrt", "sim", "fault" */
	char location[64];    /* PCI address for cards, "core N" for CPU workers */
	int numa_node;        /* -1 when unknown */
	char cpuset[64];      /* CPUs its worker thread is bound to, as a list ("0-3,8") */
	/* Counters of the last job (reset at each job start). */
	uint64_t chunks;      /* chunks this device completed and the job committed */
	uint64_t bytes_in;    /* input bytes of those chunks */
	uint64_t failures;    /* chunks this device failed (errors, failed verification, hangs) */
	uint64_t retries;     /* chunks it completed that had failed on a device before */
	uint64_t timeouts;    /* chunks the watchdog took away from it */
	bool quarantined;     /* taken out of the job after failures (or a hang) */
	bool reserve;         /* a fallback CPU worker, used only once no other device is left */
	double busy_seconds;  /* wall time with at least one chunk on the device */
};

/* Number of devices the runtime opened (>= 1). Thread-safe. */
unsigned ory_runtime_device_count(const struct ory_runtime *rt);

/* Copy device `index`'s description and counters into *info (whose struct_size must be set).
 * Returns 0 or -EINVAL (index out of range). Must not overlap a job on rt. */
int ory_runtime_device_info(const struct ory_runtime *rt, unsigned index,
			    struct ory_device_info *info);

/* Host topology as hwloc saw it: one line per item into buf (NUL-terminated, truncated to
 * buf_len). PCI functions are discovered, and listed, only on hosts with a Xilinx card. Returns the length the full text needs, excluding the NUL. Thread-safe. */
size_t ory_runtime_describe(const struct ory_runtime *rt, char *buf, size_t buf_len);

/* Progress: called on the job's calling thread after each committed chunk with the totals so
 * far. It must return quickly; it cannot cancel the job. */
typedef void (*ory_progress_fn)(void *arg, uint64_t bytes_in, uint64_t bytes_out);

/* Statistics of one job. */
struct ory_job_stats {
	size_t struct_size;
	uint64_t bytes_in;
	uint64_t bytes_out;   /* including framing (gzip header and trailer) */
	uint64_t chunks;
	uint64_t retries;     /* chunks that had to be tried again after a device failed */
	double seconds;       /* wall time of the job */
	size_t pool_bytes;    /* memory held by the chunk pool: bounds the job's working set */
};

/* ---- gzip ---------------------------------------------------------------------------------
 * Output is ONE gzip member (RFC 1952): header, then each chunk's deflate data ending on a byte
 * boundary in a non-final block, then an empty final block, CRC-32 and ISIZE. A chunk's bytes
 * depend only on its input and the device kind that compressed it, so the output is identical
 * for any number of CPU workers (or any number of cards); a card's deflate encoder differs from
 * the CPU's, so when cards and CPU workers share a job (or a card's chunk is retried on the
 * CPU) the bytes depend on who ran what, and stay a valid member with the same content.
 * Levels: 1-3 use ISA-L (levels 1-3), 4-9 use libdeflate at the same level.
 * At levels 1-3 each chunk is primed with the last 32 KiB of the input before it, as pigz
 * does, unless `independent` is set; libdeflate has no dictionary, so levels 4-9 are always
 * independent. */
struct ory_gzip_opts {
	size_t struct_size;
	int level;            /* 1..9, default 6 */
	bool independent;     /* do not prime chunks with the previous 32 KiB (pigz -i) */
	const char *name;     /* FNAME stored in the header; NULL stores none. Read during the call. */
	uint32_t mtime;       /* MTIME stored in the header (0: none) */
	ory_progress_fn progress; /* may be NULL */
	void *progress_arg;
};

void ory_gzip_opts_init(struct ory_gzip_opts *opts);

/* Compress everything readable from in_fd (a file, pipe, socket or tty) and write one gzip
 * member to out_fd. Neither descriptor is closed; reads use the current file position of
 * in_fd for non-seekable input and start at its current offset for regular files. Blocks
 * until the input is exhausted and all output written. `stats` may be NULL. On failure the
 * output written so far is incomplete: the caller removes it (the CLI writes to a temporary
 * file). Returns 0, -EINVAL, -EBUSY, -ENOMEM, -EIO (read or write failed; errmsg says which
 * and why), -ENOSPC, -EPIPE, or the error of a device that failed max_tries times. */
int ory_gzip_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_gzip_opts *opts,
		struct ory_job_stats *stats);

/* Worst-case size of ory_gzip_buf's output for in_len bytes of input under rt's chunk size
 * (name excluded: add strlen(name) + 1 when a name is stored). */
size_t ory_gzip_bound(const struct ory_runtime *rt, size_t in_len);

/* Compress in[0..in_len) into out[0..out_cap), setting *out_len. `in` must stay valid and
 * unchanged during the call (it is read in place, not copied). Returns 0, -ENOSPC when out_cap
 * is too small (use ory_gzip_bound), or as ory_gzip_fd. */
int ory_gzip_buf(struct ory_runtime *rt, const void *in, size_t in_len, void *out,
		 size_t out_cap, size_t *out_len, const struct ory_gzip_opts *opts,
		 struct ory_job_stats *stats);

/* Decompression (-d) and integrity test (-t) of any gzip data: several members, other tools'
 * output, concatenations. Single-threaded (ISA-L inflate) on the calling thread. */
struct ory_gunzip_opts {
	size_t struct_size;
	ory_progress_fn progress; /* may be NULL; bytes_in = compressed bytes consumed */
	void *progress_arg;
};

void ory_gunzip_opts_init(struct ory_gunzip_opts *opts);

/* What ory_gunzip_fd found besides the data. */
struct ory_gunzip_result {
	size_t struct_size;
	uint64_t bytes_in;
	uint64_t bytes_out;
	unsigned members;
	bool trailing_garbage;    /* non-zero bytes after the last member were ignored (warn) */
};

/* Decompress in_fd to out_fd; out_fd < 0 tests only. Stops at the first error: -EBADMSG
 * (not gzip, bad header, corrupt data, CRC or length mismatch; errmsg says which), -EIO, and
 * the write errors of ory_gzip_fd. As GNU gzip: zero bytes after the last member are accepted
 * silently and other trailing bytes set result->trailing_garbage. Does not use the runtime's
 * devices; rt carries the error message and the one-job-at-a-time rule. `result` may be NULL. */
int ory_gunzip_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_gunzip_opts *opts,
		  struct ory_gunzip_result *result);

/* ---- cnv: CNV-W1A1, a binarized CIFAR-10 classifier ----------------------------------------
 * Bit-exact with BNN-PYNQ's CNV-W1A1 (79% on CIFAR-10). A chunk is a batch of images; results
 * come out in input order whatever device classified which batch. */

/* How the input holds its images. */
enum ory_cnv_input {
	ORY_CNV_CIFAR = 0,  /* CIFAR-10 binary records: 1 label byte + 3072 bytes (R, G, B planes) */
	ORY_CNV_RAW,        /* FINN's uint8 NHWC: 3072 bytes per image (R, G, B per pixel), no label */
};

/* How results are written: one line per image. */
enum ory_cnv_format {
	ORY_CNV_TEXT = 0,   /* "INDEX CLASS NAME" (+ " label LABEL", + " scores S0,..,S9") */
	ORY_CNV_CSV,        /* header line, then index,class,name[,label][,s0..s9] */
	ORY_CNV_JSON,       /* JSON Lines: {"index":..,"class":..,"name":..,...} */
	ORY_CNV_NONE,       /* no per-image output (counts and accuracy only) */
};

struct ory_cnv_opts {
	size_t struct_size;
	const char *model_path;   /* .orym file; NULL with weights_dir NULL: the built-in model */
	const char *weights_dir;  /* a BNN-PYNQ cnvW1A1 parameter folder instead */
	enum ory_cnv_input input;
	enum ory_cnv_format format;
	bool scores;              /* add the 10 class scores (popcounts, 0..512) to each line */
	bool header;              /* CSV: write the header line (default true) */
	unsigned batch;           /* images per chunk; default 256, range 1 .. 65536 */
	uint64_t first_index;     /* index of the first image in the output */
	ory_progress_fn progress; /* may be NULL; bytes are input bytes and output bytes */
	void *progress_arg;
};

void ory_cnv_opts_init(struct ory_cnv_opts *opts);

/* What a classification job found. Accumulates: the caller zeroes it (besides struct_size)
 * before the first job and may pass it to several jobs (one per input file). */
struct ory_cnv_result {
	size_t struct_size;
	uint64_t images;
	uint64_t labelled;            /* images that carried a label (CIFAR input) */
	uint64_t correct;             /* of those, classified as labelled */
	uint64_t confusion[10][10];   /* [label][predicted], labelled images only */
	double seconds;
};

/* Class names in class order (CIFAR-10: "airplane" .. "truck"); NULL for a bad index. */
const char *ory_cnv_class_name(unsigned cls);

/* Classify the images readable from in_fd and write one line per image to out_fd (format in
 * opts; out_fd may be -1 with ORY_CNV_NONE). Neither descriptor is closed. The model is loaded
 * for the job (the built-in one costs ~1 ms). Blocks until the input is exhausted. Returns 0,
 * -EINVAL (bad option; input size not a whole number of images: errmsg says so), -ENOENT or
 * -EBADMSG (model file missing or broken: errmsg names it), -EBUSY, -ENOMEM, or the errors of
 * ory_gzip_fd. `result` (may be NULL) accumulates the counts. */
int ory_cnv_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_cnv_opts *opts,
	       struct ory_cnv_result *result);

/* Classify n images at `images` (read in place; layout per opts->input) into classes[0..n)
 * and, if scores is not NULL, scores[10 * i + c]. No text is written. Otherwise as ory_cnv_fd. */
int ory_cnv_classify(struct ory_runtime *rt, const void *images, size_t n,
		     const struct ory_cnv_opts *opts, uint8_t *classes, uint16_t *scores,
		     struct ory_cnv_result *result);

#ifdef __cplusplus
}
#endif

#endif /* OCTORAY_H */
