/* SPDX-License-Identifier: MIT */
/*
 * octoray.h - the Octoray engine for embedders: spread data-parallel work over every
 * accelerator (and CPU core) of one host and write the results back in input order.
 *
 * A runtime is resident: ory_runtime_create() opens the devices and starts their worker threads
 * and the runtime's own service thread, which live until ory_runtime_destroy(). Work is
 * submitted as requests (compress, decompress, checksum, classify), many at once from any
 * thread; the synchronous calls (ory_gzip_fd, ory_gzip_buf, ...) submit one request and wait.
 *
 * Conventions, stated once for the whole header:
 * - Every function that can fail returns 0 (or a count) on success and a negative errno-style
 *   code on failure; none sets errno. ory_strerror() turns a code into text. A failed request
 *   carries a one-line message naming the cause (ory_request.errmsg); a failed synchronous call
 *   leaves it in ory_runtime_errmsg() for the calling thread.
 * - Objects are opaque and created by ory_<x>_create(&opts, &out), ended by
 *   ory_<x>_destroy(x); destroy(NULL) is a no-op.
 * - Options structs start with struct_size so they can grow without breaking the ABI: call
 *   the matching *_init() first, then set the fields you need.
 * - Threads: every function taking a runtime may be called from any thread at the same time
 *   as any other, except ory_runtime_destroy(), which must not overlap any other call on that
 *   runtime. Requests from many threads share the devices; none waits for another's whole job
 *   (chunks of all requests go to the devices in turn). Library threads never call user code
 *   except: request `done` callbacks and stream output callbacks where documented, and the log
 *   callback.
 * - Memory: the runtime's chunk buffers (its pool) are allocated once at create and bound the
 *   memory in use whatever the number of requests; they are locked in memory page by page as
 *   they are first used, as far as RLIMIT_MEMLOCK allows (the runtime works unlocked beyond).
 * - The library never exits, aborts or asserts on anything input or hardware can cause, and
 *   never writes to stdout/stderr: diagnostics go to the log callback.
 */
#ifndef OCTORAY_H
#define OCTORAY_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ORY_VERSION_MAJOR 0
#define ORY_VERSION_MINOR 2
#define ORY_VERSION_PATCH 0

/* "0.2.0"; the version of the library actually loaded, which may differ from the macros. */
const char *ory_version(void);

/* Text for a code returned by this library ("Success" for 0). Never NULL; static storage. */
const char *ory_strerror(int rc);

struct ory_runtime;

/* Verbosity of a log line: errors are also returned, so ORY_LOG_INFO is what -v shows. */
enum ory_log_level { ORY_LOG_WARN = 0, ORY_LOG_INFO = 1, ORY_LOG_DEBUG = 2 };
/* Log sink: may be called from any thread of the runtime, so it must be thread-safe. `msg` is
 * one line without a newline, valid only during the call. */
typedef void (*ory_log_fn)(void *arg, enum ory_log_level level, const char *msg);

/* inline_max's default: see ory_runtime_opts.inline_max. */
#define ORY_INLINE_AUTO ((size_t)-1)

struct ory_runtime_opts {
	size_t struct_size;
	/* Which devices to use; NULL means "all". Grammar: "all" (every accelerator found, else one
	 * CPU worker per physical core) or items joined with '+': "cpu" (one worker per physical
	 * core), "cpu:N" (N workers, spread over the cores), "xrt[:CARDS][?opts]" (Alveo cards,
	 * devices/xrt/README.md), "sim[:N][?opts]" (modelled cards), "fault:KIND[:N]?opts" (fault
	 * injection, devices/fault/fault.c). An unknown kind or malformed args is -EINVAL, a kind
	 * with no device present is -ENODEV. */
	const char *devices;
	/* Largest chunk, in input bytes: the size of the pool's buffers and the default chunk of
	 * every request (a request may ask for smaller ones). Output never depends on the device
	 * count because chunk boundaries depend on the chunk size alone. Default 1 MiB, range
	 * 32 KiB .. 64 MiB. */
	size_t chunk_size;
	/* File reads kept in flight. Default 4, range 1 .. 64. */
	unsigned read_depth;
	/* Chunks each device may hold (queued + running). Default 2, range 1 .. 16. */
	unsigned slots;
	/* How many times a chunk is tried on the devices before it goes to the CPU workers (its
	 * request fails if none is in service). A failed chunk goes to another device when there
	 * is one. Default 4, range 1 .. 100. */
	unsigned max_tries;
	/* Consecutive failures after which a device is quarantined (a hang quarantines at once).
	 * A quarantined device gets a chunk again after 10 s, then after twice as long each time
	 * it fails again (at most 10 minutes); a hung one only once its late answer came back.
	 * Default 3. */
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
	/* When no device other than CPU workers is left for an app (all quarantined, or none can
	 * run it): true (default) lets reserve CPU workers, one per core, do the work even if the
	 * spec named none; false fails the request with ORY_ORIGIN_DEVICE. */
	bool fallback_cpu;
	ory_log_fn log;       /* NULL: no logging */
	void *log_arg;        /* passed to log unchanged */
	enum ory_log_level log_level; /* lines above this level are not formatted. Default WARN. */
	/* ---- 0.2 ---- */
	/* CPUs the CPU workers (and reserve workers) may run on, as a list ("2-5,8"); NULL: all.
	 * "cpu" then means one worker per physical core inside the list. An appliance keeps its
	 * own cores free this way. A list with no CPU of this host is -EINVAL. */
	const char *cpus;
	/* Requests submitted and not yet given back, at most: a request with a queue is given
	 * back when ory_queue_poll takes it, one without when its callback has run. ory_submit()
	 * returns -EAGAIN beyond (synchronous calls wait for room instead). Default 256, range
	 * 1 .. 65536. */
	unsigned max_requests;
	/* A request with at most this many input bytes, memory in and memory out, runs on the
	 * thread that submits it with the app's CPU kernel, instead of paying two thread hand-offs
	 * (tens of microseconds) for a few microseconds of work. 0: never. ORY_INLINE_AUTO
	 * (default), for apps that only CPU workers run: 64 KiB for ory_submit, and one chunk for
	 * the synchronous calls (their caller would only sleep while a worker ran it); 0 where a
	 * card runs the app (the output would be the CPU kernel's, not the card's: bytes must not
	 * depend on request size). Inline work runs on the caller's CPU, not on `cpus`. */
	size_t inline_max;
	/* Read a regular file's input through a read-only mapping instead of copying it into the
	 * pool, when only CPU workers run the app: saves one copy of every byte. The price is
	 * mmap's: if another process truncates the file while it is being read, the process gets
	 * SIGBUS (octoray-run catches it and reports the file). Default false. */
	bool map_files;
};

void ory_runtime_opts_init(struct ory_runtime_opts *opts);

/* Discover the topology (hwloc), resolve opts->devices, open the devices, allocate the pool and
 * start one worker thread per device plus the service thread (named "ory:<device>", e.g.
 * "ory:cpu0", and "ory:service", as top -H and perf show them). `opts` is read during the call
 * only; *out is owned by the caller until ory_runtime_destroy(). Blocks while devices open (an
 * accelerator may take seconds). Returns 0, -EINVAL (bad option), -ENODEV (no such device),
 * -ENOMEM, -EAGAIN (a thread could not be created), or a device's open error; on failure *out
 * is NULL and, when the failure was not -ENOMEM, `errmsg` (if not NULL, of errmsg_len bytes)
 * receives a one-line reason. */
int ory_runtime_create(const struct ory_runtime_opts *opts, struct ory_runtime **out,
		       char *errmsg, size_t errmsg_len);

/* Cancel every request still in flight (each completes with -ECANCELED: callbacks run, queue
 * entries are posted, synchronous callers return), stop the threads, close every device and
 * free the runtime. Blocks until all of that is done. Must not overlap any other call on rt.
 * Queues outlive it: what they hold is still taken with ory_queue_poll, and each is freed with
 * ory_queue_destroy, before or after. */
void ory_runtime_destroy(struct ory_runtime *rt);

/* The message of the last synchronous call on rt that failed on the calling thread ("" if
 * none). Valid until this thread's next call on rt. */
const char *ory_runtime_errmsg(const struct ory_runtime *rt);

/* Which side a failure came from, so a caller can name the right file. */
enum ory_error_origin {
	ORY_ORIGIN_NONE = 0,  /* no failure, or not tied to a side (bad option, out of memory) */
	ORY_ORIGIN_INPUT,     /* reading the input, or the input's content (corrupt gzip data) */
	ORY_ORIGIN_OUTPUT,    /* writing the output */
	ORY_ORIGIN_DEVICE,    /* a device failed a chunk too often */
};
/* The origin of the calling thread's last failed synchronous call on rt. */
enum ory_error_origin ory_runtime_error_origin(const struct ory_runtime *rt);

/* What one device is and what it has done. Strings are NUL-terminated. */
struct ory_device_info {
	size_t struct_size;
	char name[32];        /* "cpu0", "xrt1", ... unique within the runtime */
	char kind[16];        /* "cpu", "xrt", "sim", "fault" */
	char location[64];    /* PCI address for cards, "core N" for CPU workers */
	int numa_node;        /* -1 when unknown */
	char cpuset[64];      /* CPUs its worker thread is bound to, as a list ("0-3,8") */
	/* Counters since the runtime was created (take differences around a request). */
	uint64_t chunks;      /* chunks this device completed that were committed */
	uint64_t bytes_in;    /* input bytes of those chunks */
	uint64_t failures;    /* chunks this device failed (errors, failed verification, hangs) */
	uint64_t retries;     /* chunks it completed that had failed on a device before */
	uint64_t timeouts;    /* chunks the watchdog took away from it */
	bool quarantined;     /* taken out of service now, after failures (or a hang) */
	bool reserve;         /* a fallback CPU worker, used only once no other device is left */
	double busy_seconds;  /* wall time with at least one chunk on the device */
};

/* Number of devices the runtime opened (>= 1). Thread-safe. */
unsigned ory_runtime_device_count(const struct ory_runtime *rt);

/* Copy device `index`'s description and counters into *info (whose struct_size must be set).
 * Returns 0 or -EINVAL (index out of range). Thread-safe; counters of requests in flight may
 * be partly counted. */
int ory_runtime_device_info(const struct ory_runtime *rt, unsigned index,
			    struct ory_device_info *info);

/* Host topology as hwloc saw it: one line per item into buf (NUL-terminated, truncated to
 * buf_len). PCI functions are discovered, and listed, only on hosts with a Xilinx card. Returns
 * the length the full text needs, excluding the NUL. Thread-safe. */
size_t ory_runtime_describe(const struct ory_runtime *rt, char *buf, size_t buf_len);

/* Progress of a synchronous call, on the calling thread, at most ten times a second and once
 * at the end, with the totals so far. It must return quickly; it cannot cancel the call. */
typedef void (*ory_progress_fn)(void *arg, uint64_t bytes_in, uint64_t bytes_out);

/* Statistics of one synchronous job. */
struct ory_job_stats {
	size_t struct_size;
	uint64_t bytes_in;
	uint64_t bytes_out;   /* including framing (gzip header and trailer) */
	uint64_t chunks;
	uint64_t retries;     /* chunks that had to be tried again after a device failed */
	double seconds;       /* wall time of the job */
	size_t pool_bytes;    /* memory held by the runtime's chunk pool: bounds the working set */
};

/* ---- gzip ---------------------------------------------------------------------------------
 * Output is ONE gzip member (RFC 1952): header, then each chunk's deflate data ending on a byte
 * boundary in a non-final block, then an empty final block, CRC-32 and ISIZE (zlib framing,
 * RFC 1950: the same deflate data between a 2-byte header and the Adler-32; raw: the deflate
 * data alone). An input of one chunk (at most chunk_size bytes), at levels 4-9 and not
 * rsyncable, is instead
 * libdeflate's own deflate stream, final block included, and no empty block follows (raw
 * `unterminated` keeps the rule above). A chunk's bytes depend only on its input and the
 * device kind that compressed it, so the output is identical for any number of CPU workers (or any number of cards); a
 * card's deflate encoder differs from the CPU's, so when cards and CPU workers share a request
 * (or a card's chunk is retried on the CPU) the bytes depend on who ran what, and stay valid
 * with the same content. Levels: 1-3 use ISA-L (levels 1-3), 4-9 use libdeflate at the same
 * level. Chunks are independent by default: with `index` (the default), a gzip member of more
 * than one chunk carries an index (docs/format.md: in the header, or in empty members after
 * it), from which ory_gunzip_* inflate the chunks in parallel and ory_gunzip_range reads any
 * part; every gzip reader still reads the file as usual. With `independent` false, levels 1-3
 * prime each chunk with the last 32 KiB of the input before it, as pigz does (smaller, but
 * not decodable in parallel: no index then). */
enum ory_framing {
	ORY_FRAMING_GZIP = 0, /* RFC 1952, one member */
	ORY_FRAMING_ZLIB,     /* RFC 1950 */
	ORY_FRAMING_RAW,      /* RFC 1951 deflate data only */
};

struct ory_gzip_opts {
	size_t struct_size;
	int level;            /* 1..9, default 6 */
	bool independent;     /* do not prime chunks with the previous 32 KiB: default true */
	const char *name;     /* FNAME stored in the gzip header (at most 1023 bytes); NULL stores
			       * none. Read when the request is submitted. */
	uint32_t mtime;       /* MTIME stored in the header (0: none) */
	ory_progress_fn progress; /* synchronous calls only; may be NULL */
	void *progress_arg;
	/* ---- 0.2 ---- */
	enum ory_framing framing;
	/* Preset dictionary (at most 32 KiB; only its last 32 KiB would matter), for raw and zlib
	 * framing at levels 1-3 and not with `independent`: the first chunk is primed with it as
	 * later chunks are with the input before them. A request that continues a larger input
	 * passes the 32 KiB before its start and gets the bytes the whole input would have had.
	 * Read when the request is submitted. */
	const void *dict;
	size_t dict_len;
	/* Raw framing: leave out the empty final block, so that pieces compressed separately
	 * concatenate into one deflate stream (the caller ends it with the bytes 03 00). */
	bool unterminated;
	/* Input bytes per chunk for this request; 0: the runtime's chunk size, which is also the
	 * largest allowed; at least 32 KiB. */
	size_t chunk_size;
	/* gzip framing with independent chunks: write the chunk index (docs/format.md). Default
	 * true. */
	bool index;
	/* ---- 0.3 ---- */
	/* Content-defined chunks and segments (gzip/pigz --rsyncable, docs/format.md): an edit of
	 * the input changes the output only near it, and the bytes still do not depend on the
	 * devices. Chunks then hold at most chunk_size bytes (7/8 of it or more but the last); the
	 * index follows the data. Needs independent chunks and no preset dictionary; requests
	 * only (a stream refuses it). Default false. */
	bool rsyncable;
};

void ory_gzip_opts_init(struct ory_gzip_opts *opts);

/* Compress everything readable from in_fd (a file, pipe, socket or tty) and write the framed
 * stream to out_fd. Neither descriptor is closed; a regular file is read from its current
 * offset, anything else from its current position. Blocks until the input is exhausted and all
 * output written. `stats` may be NULL. On failure the output written so far is incomplete: the
 * caller removes it (the CLI writes to a temporary file). Returns 0, -EINVAL, -ENOMEM, -EIO
 * (read or write failed; the message says which and why), -EBADF (a descriptor is not open),
 * -EISDIR (in_fd is a directory), -ENOSPC, -EPIPE, or the error of a device that failed
 * max_tries times. */
int ory_gzip_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_gzip_opts *opts,
		struct ory_job_stats *stats);

/* Worst-case size of a compressed buffer of in_len bytes under rt's chunk size, any framing,
 * without the name (add strlen(name) + 1 when a name is stored). */
size_t ory_gzip_bound(const struct ory_runtime *rt, size_t in_len);

/* Compress in[0..in_len) into out[0..out_cap), setting *out_len. `in` must stay valid and
 * unchanged during the call (it is read in place, not copied). Returns 0, -ENOSPC when out_cap
 * is too small (use ory_gzip_bound), or as ory_gzip_fd. */
int ory_gzip_buf(struct ory_runtime *rt, const void *in, size_t in_len, void *out,
		 size_t out_cap, size_t *out_len, const struct ory_gzip_opts *opts,
		 struct ory_job_stats *stats);

/* Decompression (-d) and integrity test (-t) of any gzip data: several members, other tools'
 * output, concatenations. */
struct ory_gunzip_opts {
	size_t struct_size;
	ory_progress_fn progress; /* may be NULL; bytes_in = compressed bytes consumed */
	void *progress_arg;
	/* ---- 0.2 ---- */
	enum ory_framing framing; /* of the input; default gzip (any number of members) */
};

void ory_gunzip_opts_init(struct ory_gunzip_opts *opts);

/* What decompression found besides the data. */
struct ory_gunzip_result {
	size_t struct_size;
	uint64_t bytes_in;
	uint64_t bytes_out;
	unsigned members;
	bool trailing_garbage;    /* non-zero bytes after the last member were ignored (warn) */
	/* ---- 0.2 ---- */
	/* Pieces inflated on the CPU workers in parallel: an index's chunks, groups of whole
	 * members. 0: all of it was read on the calling thread. */
	uint64_t chunks;
};

/* Decompress in_fd to out_fd; out_fd < 0 tests only. A regular file that carries our chunk
 * index (docs/format.md) is inflated chunk by chunk on the runtime's CPU workers, in parallel,
 * each chunk checked against the index; anything else by ISA-L's inflate on the calling thread,
 * streaming (memory stays small whatever the sizes). Stops at the first error:
 * -EBADMSG (not gzip, bad header, corrupt data, CRC or length mismatch; the message says
 * which), -EIO, and the write errors of ory_gzip_fd. As GNU gzip: zero bytes after the last
 * member are accepted silently and other trailing bytes set result->trailing_garbage. gzip
 * framing only. `result` may be NULL. */
int ory_gunzip_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_gunzip_opts *opts,
		  struct ory_gunzip_result *result);

/* Decompress in[0..in_len) into out[0..out_cap), setting *out_len; as ory_gunzip_fd otherwise
 * (gzip, zlib or raw framing as opts->framing says; indexed gzip in parallel, and gzip of many
 * members member-parallel, each piece inflated into its place), plus -ENOSPC when the output
 * does not fit (nothing beyond out_cap is written; on any failure out[0..out_cap) holds no
 * promised content). */
int ory_gunzip_buf(struct ory_runtime *rt, const void *in, size_t in_len, void *out,
		   size_t out_cap, size_t *out_len, const struct ory_gunzip_opts *opts,
		   struct ory_gunzip_result *result);

/* What a gzip file of ours says about itself through its chunk index (docs/format.md). */
struct ory_gzip_info {
	size_t struct_size;
	bool indexed;         /* a chunk index: parallel decompression and random access */
	bool index_at_end;    /* in index members after the data, else in the header */
	uint64_t chunks;
	uint32_t chunk_size;  /* no chunk holds more input */
	uint64_t size;        /* bytes of the original */
	uint32_t crc32;       /* of the original */
};

/* Read and check the index of the gzip file at fd (a regular file; from its start) into *info
 * (struct_size set by the caller). Returns 0 (info->indexed false when there is none: other
 * tools' files, one chunk, --primed), -EBADMSG (the header promises an index and it is damaged
 * or does not match the data; errmsg, if not NULL, says how), -EIO, -ENOMEM. Needs no
 * runtime; thread-safe. */
int ory_gzip_info(int fd, struct ory_gzip_info *info, char *errmsg, size_t errmsg_len);

/* Extract bytes [offset, offset + len) of the original from an indexed gzip file (ours,
 * docs/format.md) at in_fd (a regular file; read from its start) into out[0..out_cap),
 * inflating only the chunks that cover them, in parallel; *out_len gets the bytes written (fewer
 * than len at the end of the original, 0 past it). Each chunk read is checked against the
 * index. Returns 0, -ENOTSUP (no index: a file of other tools, one chunk, or --primed; or chunks
 * larger than the runtime's), -ESPIPE (not a regular file), -EBADMSG (damaged), -ENOSPC (out_cap
 * < the bytes to write), -EIO. */
int ory_gunzip_range(struct ory_runtime *rt, int in_fd, uint64_t offset, uint64_t len,
		     void *out, size_t out_cap, size_t *out_len, const struct ory_gunzip_opts *opts);

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
	/* Images per chunk; default 256, range 1 .. 65536, and a batch must fit the runtime's
	 * chunk size (1 MiB holds 341 CIFAR-10 records): -EINVAL otherwise. */
	unsigned batch;
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
 * -EINVAL (bad option; input size not a whole number of images: the message says so), -ENOENT
 * or -EBADMSG (model file missing or broken: the message names it), -ENOMEM, or the errors of
 * ory_gzip_fd. `result` (may be NULL) accumulates the counts. */
int ory_cnv_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_cnv_opts *opts,
	       struct ory_cnv_result *result);

/* Classify n images at `images` (read in place; layout per opts->input) into classes[0..n)
 * and, if scores is not NULL, scores[10 * i + c]. No text is written. Otherwise as ory_cnv_fd. */
int ory_cnv_classify(struct ory_runtime *rt, const void *images, size_t n,
		     const struct ory_cnv_opts *opts, uint8_t *classes, uint16_t *scores,
		     struct ory_cnv_result *result);

/* ---- requests: asynchronous work -----------------------------------------------------------
 * A request is caller memory describing one piece of work: its input, its output, the
 * operation and its options. ory_submit() hands it to the runtime and returns at once; the
 * request then belongs to the runtime until it completes, exactly once, whatever happens
 * (success, failure, ory_cancel(), ory_runtime_destroy()): the caller must neither change nor
 * free it, nor its input and output buffers, until then. A request bigger than a chunk is cut
 * into chunks that run on any devices and are put back together in order, with the same bytes
 * as the synchronous call would give.
 *
 * Completion: a request submitted with a queue (ory_queue_create) is posted to that queue, and
 * its `done` callback, if any, runs on the thread that takes it with ory_queue_poll(). A
 * request submitted without a queue must have a `done` callback, which runs on a runtime
 * thread (the service thread, or for a request of one chunk the worker of the device that ran
 * it), or on the submitting thread before ory_submit returns, for a request run inline: it
 * must return quickly (a device waits meanwhile), may submit requests, and must not call the
 * synchronous functions or ory_runtime_destroy. Once `done` runs (or the request is returned by ory_queue_poll), the
 * request is the caller's again and may be reused. */

enum ory_op {
	ORY_OP_DEFLATE = 1, /* compress (gzip, zlib or raw framing per `gzip`) */
	ORY_OP_INFLATE,     /* decompress (framing per `gunzip`); memory input and output only */
	ORY_OP_CRC32,       /* CRC-32 of the input into `crc32`, no output (memory or file input) */
	ORY_OP_CNV,         /* classify images (per `cnv`): text lines, or classes into arrays */
};

/* One chunk of compressed output: its size, its input's size and the input's CRC-32. */
struct ory_chunk_info {
	uint32_t out_len;
	uint32_t in_len;
	uint32_t crc32;
};

struct ory_request {
	size_t struct_size;
	enum ory_op op;
	/* Input, exactly one of: `in` (in_len bytes, read in place), `in_iov` (in_iovcnt pieces,
	 * gathered into the pool), or `in_fd` >= 0: a file read from in_offset (-1: a regular
	 * file's current offset, or the current position of anything else) for in_len bytes
	 * (0: to the end). */
	const void *in;
	size_t in_len;
	const struct iovec *in_iov;
	unsigned in_iovcnt;
	int in_fd;
	int64_t in_offset;
	/* Output, one of: `out` (out_cap bytes) or out_fd >= 0 (written at its current position).
	 * Neither for ORY_OP_CRC32, nor for ORY_OP_CNV into cnv_classes. */
	void *out;
	size_t out_cap;
	int out_fd;
	/* Options of the operation; NULL: defaults. Copied when the request is submitted. */
	const struct ory_gzip_opts *gzip;
	const struct ory_gunzip_opts *gunzip;
	const struct ory_cnv_opts *cnv;
	/* ORY_OP_CNV without text output: classes[i] (and scores[10 * i + c] if not NULL) for
	 * image i of the input; cnv_result (may be NULL) accumulates the counts. */
	uint8_t *cnv_classes;
	uint16_t *cnv_scores;
	struct ory_cnv_result *cnv_result;
	void (*done)(struct ory_request *req);
	void *cookie;                 /* the caller's, never touched */
	/* Results, valid once the request has completed. */
	int status;                   /* 0 or a negative errno */
	enum ory_error_origin origin; /* which side failed */
	uint64_t bytes_in;            /* input bytes consumed */
	uint64_t bytes_out;           /* output bytes written, framing included */
	uint32_t crc32;               /* CRC-32 of the input (deflate, crc32) or output (inflate) */
	uint32_t adler32;             /* Adler-32 of the same, zlib framing only */
	uint64_t chunks;
	uint64_t retries;
	char errmsg[256];             /* one line naming the cause when status < 0 */
	/* ORY_OP_DEFLATE: if not NULL, what each chunk became, in order (chunk_info_cap entries
	 * at most, else the request fails with -ENOSPC): pieces compressed by several processes
	 * are framed with it (ory_gzip_framer). */
	struct ory_chunk_info *chunk_info;
	uint64_t chunk_info_cap;
	/* Private to the runtime while the request is in flight. */
	void *priv;
};

/* Zero *req, set struct_size and op, in_fd and out_fd to -1 and in_offset to -1. */
void ory_request_init(struct ory_request *req, enum ory_op op);

/* A completion queue: where requests submitted with it are posted when they complete. Each
 * queue has an eventfd that is readable while completions wait, for the caller's own
 * epoll/poll/io_uring loop. A queue may be polled by one thread at a time and used for
 * submitting by any number of threads. */
struct ory_queue;

/* Create a queue on rt. Returns 0, -ENOMEM or -EMFILE (no eventfd). */
int ory_queue_create(struct ory_runtime *rt, struct ory_queue **out);
/* Free a queue. Requests submitted with it must all have completed and been polled (or its
 * runtime destroyed). */
void ory_queue_destroy(struct ory_queue *q);
/* The queue's eventfd (owned by the queue; do not close it). */
int ory_queue_fd(const struct ory_queue *q);
/* Take up to `max` completed requests into reqs[] (oldest first), running each one's `done`
 * callback (if any) on this thread first, and reset the eventfd when the queue is found empty.
 * timeout_ms: 0 returns at once, -1 waits until at least one completes, else waits at most so
 * long. Returns the number taken (0 on timeout). */
int ory_queue_poll(struct ory_queue *q, struct ory_request **reqs, unsigned max, int timeout_ms);

/* Hand req to the runtime; q may be NULL when req->done is set. Never blocks (a small request
 * may run inline, see inline_max). Returns 0 (req will complete exactly once), -EAGAIN
 * (max_requests in flight: take a completion from the queue, then try again), -EINVAL
 * (malformed request: nothing will complete, and req->errmsg says why), or -ESHUTDOWN (the
 * runtime is being destroyed). Failures of the work itself are reported in req->status at
 * completion, not here. */
int ory_submit(struct ory_runtime *rt, struct ory_queue *q, struct ory_request *req);

/* Ask for req to complete early with -ECANCELED. Chunks already on a device finish first; a
 * request that completes anyway (it was nearly done) completes with its real status. Returns 0,
 * or -ENOENT if req is not in flight on rt. Any thread. */
int ory_cancel(struct ory_runtime *rt, struct ory_request *req);

/* ---- framing of pieces compressed elsewhere ------------------------------------------------
 * The header, trailer and index of a gzip file whose chunks were compressed by several
 * processes or hosts (octoray-dask): the raw deflate pieces (unterminated, of the same chunks
 * and options) concatenated in order between this header and this trailer give the file
 * ory_gzip_fd writes for the same input, except an input of one chunk at levels 4-9 (see gzip
 * above: compress that one whole). One thread at a time per framer. */
struct ory_gzip_framer;

/* A framer for a file of in_len input bytes (UINT64_MAX: not known, the index then goes at the
 * end) compressed with opts (gzip framing; chunk_size must be set: that of the pieces). Returns
 * 0, -EINVAL or -ENOMEM. */
int ory_gzip_framer_create(const struct ory_gzip_opts *opts, uint64_t in_len,
			   struct ory_gzip_framer **out);
/* The header, to write first. Valid until destroy. */
const void *ory_gzip_framer_header(struct ory_gzip_framer *f, size_t *len);
/* Record the next chunks' results (ory_request.chunk_info), in input order. 0 or -ENOMEM. */
int ory_gzip_framer_add(struct ory_gzip_framer *f, const struct ory_chunk_info *chunks, size_t n);
/* After the last piece: the bytes that follow it (final block, CRC-32, ISIZE, index members),
 * and the header to write again over the first one when it holds the index (*header_len 0:
 * nothing to rewrite). Both valid until destroy. */
const void *ory_gzip_framer_finish(struct ory_gzip_framer *f, size_t *len, const void **header,
				   size_t *header_len);
void ory_gzip_framer_destroy(struct ory_gzip_framer *f);

/* ---- streams: compression of data that arrives in pieces -----------------------------------
 * A stream cuts what is written into chunks, submits each as a request and delivers the
 * compressed bytes in order. Without ory_stream_flush the bytes equal ory_gzip_fd's on the same
 * data and options; a flush ends the current chunk early (all input so far can then be
 * decompressed from the output), which moves later chunk boundaries. Output starts once more
 * than one chunk has been written, or at a flush or the finish: as with a pipe, the header
 * depends on whether the input is one chunk. One thread at a time may use a stream. */
struct ory_stream;

/* Output callback: called on the thread calling ory_stream_write/flush/finish, in order, with
 * the next piece of output (valid during the call only). Returns 0, or a negative errno that
 * fails the stream with that code. */
typedef int (*ory_stream_out_fn)(void *arg, const void *data, size_t len);

struct ory_stream_opts {
	size_t struct_size;
	const struct ory_gzip_opts *gzip; /* level, framing, name, ...; NULL: defaults */
	/* Output by callback; NULL: pull it with ory_stream_read. */
	ory_stream_out_fn out;
	void *out_arg;
	/* Chunks in flight at most (memory: depth x 2 chunks). Default 4, range 1 .. 64. */
	unsigned depth;
};

void ory_stream_opts_init(struct ory_stream_opts *opts);

/* Create a compression stream on rt. Returns 0, -EINVAL, -ENOMEM, or -ENOTSUP when the gzip
 * options ask for rsyncable (a stream cuts its chunks where its buffers end). */
int ory_stream_create(struct ory_runtime *rt, const struct ory_stream_opts *opts,
		      struct ory_stream **out);
/* Take data[0..len): with an output callback, blocks until all of it is taken (delivering
 * output on the way) and returns len; without one, takes what fits without waiting for output
 * to be read and returns that count (0 when nothing fits: read first). Negative errno on
 * failure; after one, only ory_stream_destroy may be called. */
long ory_stream_write(struct ory_stream *s, const void *data, size_t len);
/* End the current chunk, and (callback) deliver all output for what was written so far. */
int ory_stream_flush(struct ory_stream *s);
/* Without an output callback: copy up to cap bytes of output into buf; blocks until some is
 * ready when chunks are in flight. Returns the count, 0 when nothing is pending. */
long ory_stream_read(struct ory_stream *s, void *buf, size_t cap);
/* End the stream: the last chunk and the trailer. With a callback all output has been
 * delivered when it returns; without one, read until ory_stream_read returns 0. `stats` may be
 * NULL. */
int ory_stream_finish(struct ory_stream *s, struct ory_job_stats *stats);
/* The message of the stream's failure ("" if none). */
const char *ory_stream_errmsg(const struct ory_stream *s);
/* Free the stream (unfinished: its requests are cancelled and waited for). */
void ory_stream_destroy(struct ory_stream *s);

#ifdef __cplusplus
}
#endif

#endif /* OCTORAY_H */
