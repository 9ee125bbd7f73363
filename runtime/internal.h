/* SPDX-License-Identifier: MIT */
/* internal.h - the runtime's private types: runtime, device, app queues, chunk, request spec. */
#ifndef ORY_INTERNAL_H
#define ORY_INTERNAL_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <hwloc.h>

#include "octoray/octoray.h"
#include "octoray/device.h"
#include "ring.h"

#define ORY_MAX_DEVICES 256
#define ORY_MAX_APPS 8
#define ORY_ERRMSG_LEN 256

#define ORY_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define ORY_MIN(a, b) ((a) < (b) ? (a) : (b))
#define ORY_MAX(a, b) ((a) > (b) ? (a) : (b))
#define ory_container_of(p, type, member) ((type *)((char *)(p) - offsetof(type, member)))

/* Copy a caller's options struct (struct_size first, as every public options struct) over the
 * defaults already in *dst: fields an older, shorter struct lacks keep their defaults. False
 * when it is too short to hold even the first `need` bytes. */
static inline bool ory_take_struct(void *dst, size_t dst_size, const void *src, size_t need)
{
	size_t n = *(const size_t *)src;
	if (n < need)
		return false;
	memcpy(dst, src, ORY_MIN(n, dst_size));
	return true;
}

uint64_t ory_now_ns(void);

/* runtime/topology.c */
struct ory_topo {
	hwloc_topology_t topo;
	unsigned ncores;
	hwloc_obj_t *cores;     /* physical cores in logical order (inside opts.cpus, if set) */
	unsigned npci;
	struct ory_pci_info *pci;
};
int ory_topo_load(struct ory_topo *t);
/* Keep only the cores with a CPU in `list` ("2-5,8"). -EINVAL if none is left. */
int ory_topo_restrict(struct ory_topo *t, const char *list);
void ory_topo_free(struct ory_topo *t);
/* CPUs a worker of `desc` is bound to (core, else NUMA node, else all); caller frees. */
hwloc_bitmap_t ory_topo_device_cpuset(const struct ory_topo *t, const struct ory_device_desc *d);
/* NUMA nodes near `cpuset`; caller frees. */
hwloc_bitmap_t ory_topo_nodeset(const struct ory_topo *t, hwloc_const_bitmap_t cpuset);
size_t ory_topo_describe(const struct ory_topo *t, char *buf, size_t len);

/* One opened device and its worker. Counters are atomics: the service thread (and the worker,
 * for busy_ns) adds to them while any thread may read them (ory_runtime_device_info). */
struct ory_device {
	const struct ory_device_ops *ops;
	void *dev;
	struct ory_device_desc desc;
	char kind[16];
	hwloc_bitmap_t cpuset;
	unsigned index;
	unsigned inflight_max;
	bool reserve;           /* fallback CPU worker: fed an app only once no other device is */
	bool verify;            /* its chunks are checked before commit */
	/* Apps it attached (bit = app index): written by its worker before the runtime's start
	 * barrier, read-only afterwards. */
	uint32_t apps;
	unsigned group;         /* index of the worker group it sleeps in (rt.h) */
	pthread_t thread;
	bool started;
	void *verify_state[ORY_MAX_APPS]; /* worker's verifier per app */
	/* Service-thread state. */
	_Atomic bool quarantined;
	_Atomic bool recovering; /* re-admitted: its worker calls ops->recover first */
	struct ory_runtime *rt;
	_Atomic unsigned consecutive_failures; /* and the worker's express successes reset it */
	unsigned quarantines;   /* how often; doubles the time out of service */
	uint64_t back_at_ns;    /* when a quarantined device gets chunks again */
	unsigned hung;          /* chunks the watchdog took from it that it still holds */
	_Atomic uint64_t mean_ns; /* worker: moving average of its time per chunk (0: none yet) */
	_Atomic uint64_t chunks, bytes_in, failures, retries, timeouts, busy_ns;
};

/* The queues of one app: devices attached to the app pull its chunks from here. */
struct app_queues {
	const struct ory_app *app;
	unsigned index;
	/* `dispatch` in submission order; `retry` holds chunks that failed somewhere and is
	 * looked at first; `last` holds chunks out of tries, for the reserve CPU workers. */
	struct ory_ring *dispatch, *retry, *last;
	_Atomic unsigned healthy;     /* non-reserve devices attached and not quarantined */
	unsigned attached;            /* devices attached, reserves included */
	bool cpu_only;                /* every non-reserve device attached is a CPU worker */
	bool has_reserve;             /* some reserve worker attached */
	struct ory_ring *kcache;      /* idle CPU kernel states for inline requests */
	struct ory_ring *vcache;      /* idle verifier states for inline requests */
};

/* Where a chunk is in its life. Only RUNNING -> DONE (its worker) and RUNNING -> TIMED_OUT
 * (the watchdog) can race; both are a compare-and-swap. */
enum slot_state { SLOT_FREE, SLOT_READING, SLOT_READ, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE,
		  SLOT_TIMED_OUT };

#define ORY_AVOID_WORDS (ORY_MAX_DEVICES / 64)

struct req;

/* A chunk as the runtime keeps it: the public part devices see, plus its place in the pool,
 * its request, and the failover bookkeeping. */
struct ory_chunk_slot {
	struct ory_chunk c;
	struct req *req;
	unsigned index;         /* position in the pool (and io_uring buffer index) */
	uint8_t *in_area;       /* ORY_DICT_MAX bytes of dictionary room, then the chunk */
	uint8_t *out_area;      /* the pool's output buffer of this slot */
	size_t out_stride;
	/* Where the output goes when a trusted (CPU) device runs the chunk: the caller's own
	 * buffer for a request of one chunk; NULL: out_area. An untrusted device always writes
	 * out_area, so a late answer can never land in caller memory. */
	uint8_t *direct_out;
	size_t direct_cap;
	unsigned tries;         /* failed runs so far */
	int device;             /* device that ran it last (set by the worker) */
	bool committable;       /* succeeded and filed by the service thread */
	bool strict;            /* a device it avoids must not run it (it cannot: -ENOTSUP) */
	/* One of the slots set aside for express requests (express.c), and whether the chunk in
	 * it is on the express path now (its worker completes the request) or was adopted by
	 * the service thread. Written only by whoever holds the slot. */
	bool express_home;
	bool express;
	_Atomic int state;      /* enum slot_state */
	_Atomic uint64_t started_ns; /* when its device took it (published by `state`) */
	_Atomic uint64_t deadline_ns; /* when the watchdog takes it away; 0: a trusted device's */
	/* Devices that failed it, so a retry prefers another one. Written by the service thread
	 * before the chunk is queued; the ring's release/acquire publishes it to workers. */
	uint64_t avoid[ORY_AVOID_WORDS];
	/* reader state */
	uint64_t file_off;
	size_t fill;
	size_t want;            /* bytes this chunk is to hold */
	bool reading;
	/* Lazy locking: how much of each area is locked (pool.c). */
	size_t locked_in, locked_out;
	size_t registered;      /* bytes of in_area registered with io_uring */
};

/* Where a request's input comes from. */
struct ory_source {
	int fd;                 /* -1: memory or iovec */
	const uint8_t *mem;
	size_t mem_len;
	const struct iovec *iov;
	unsigned iovcnt;
	bool has_offset;        /* fd: read from `offset`, else from the current offset/position */
	uint64_t offset;
	uint64_t len;           /* fd: bytes to read, 0: to the end */
};

/* Where a request's output goes. */
struct ory_sink {
	int fd;                 /* -1: memory (or nothing, with mem NULL) */
	uint8_t *mem;
	size_t mem_cap;
	size_t mem_len;
};

/* What an app asks of the runtime for one request. Every hook runs on the service thread, except
 * for a request of one chunk that runs inline (the submitting thread) or express (the worker
 * of the device that ran it): one thread at a time either way. */
struct ory_job_spec {
	const struct ory_app *app;
	const void *params;     /* stays valid until the request completes */
	size_t chunk_size;      /* input bytes per chunk; 0: the runtime's chunk size */
	size_t dict_size;       /* 0, or bytes of preceding input primed before each chunk */
	const uint8_t *dict;    /* preset dictionary of the first chunk (dict_len <= dict_size) */
	size_t dict_len;
	size_t out_bound;       /* output capacity a chunk of chunk_size needs */
	/* One memory chunk holding the whole input, whatever its size (decompression of a
	 * buffer): the source is not cut. */
	bool whole;
	/* Optional: the app cuts the source itself (decompression by an index): chunk seq is
	 * *len bytes at absolute offset *off of the source, cut_n chunks in all. */
	void (*cut)(struct req *r, uint64_t seq, uint64_t *off, size_t *len);
	uint64_t cut_n;
	/* Optional: the app ends each chunk where the content says (gzip --rsyncable). Given a
	 * full window of chunk_size bytes starting where the chunk starts, returns the chunk's
	 * length (1..n); a window cut short by the end of the input is the last chunk, whole.
	 * Called on the service thread; not with cut, whole or dict_size. */
	size_t (*boundary)(const uint8_t *p, size_t n);
	/* Optional: where chunk seq's output lands in a memory sink, when known in advance
	 * (decompression by an index): trusted devices write it there directly; *len exact. */
	uint64_t (*place)(struct req *r, uint64_t seq, size_t *len);
	/* Framing: header before the first chunk, a hook after each committed chunk (in order),
	 * trailer after the last one. header stays valid until the request completes. */
	const uint8_t *header;
	size_t header_len;
	/* Optional: called once before the header is used, with the number of chunks when the
	 * input's end is known by then (UINT64_MAX if not): the app may change header and
	 * header_len (gzip leaves the index out of a one-chunk file read from a pipe). */
	void (*before_header)(struct req *r, uint64_t chunks);
	/* Optional: called once on the service thread before the first chunk leaves for a device,
	 * with whether it is the whole input; the chunk waits for that as the header does (gzip
	 * ends such a chunk in the final block). */
	void (*first_chunk)(struct req *r, bool alone);
	/* The bytes a finished chunk (its input still readable) contributes to the output, in
	 * input order. NULL: c->out as it is. Must point into the chunk's buffers (out_area,
	 * out_cap bytes are the app's to use) or stay valid until the request completes. Returns
	 * 0 or a negative errno that fails the request (message set with ory_req_fail). */
	int (*emit)(struct req *r, struct ory_chunk *c, const uint8_t **data, size_t *len);
	/* Returns 0 or a negative errno that fails the request (message set). */
	int (*committed)(struct req *r, const struct ory_chunk *c);
	/* After the last chunk: the bytes that end the output (*len of them; NULL: out of memory),
	 * and the header to write again over the first (*head NULL: nothing). Both stay valid
	 * until the request completes. */
	const uint8_t *(*trailer)(struct req *r, size_t *len, const uint8_t **head,
				  size_t *head_len);
	/* Before completion, on success or failure: results into the public request. */
	void (*finish)(struct req *r);
	void *frame;            /* the app's per-request state */
};

/* runtime/request.c: the public request as the runtime tracks it. */
struct req_frame_store {
	_Alignas(16) uint8_t bytes[1280];
};

/* runtime/errors.c */
/* Record a request's failure (the first one wins: later ones are consequences) and return rc,
 * for `return ory_req_fail(...)`. */
int ory_req_fail(struct req *r, enum ory_error_origin origin, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The calling thread's last synchronous failure on rt (ory_runtime_errmsg). */
void ory_tls_set_error(const struct ory_runtime *rt, enum ory_error_origin origin,
		       const char *msg);
int ory_tls_fail(const struct ory_runtime *rt, enum ory_error_origin origin, int rc,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void ory_log(const struct ory_runtime *rt, enum ory_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* runtime/devices.c: the device kinds this build knows (NULL-terminated), lookup by name, and
 * registration of further kinds (tests). Registering must not overlap ory_runtime_create. */
const struct ory_device_ops *const *ory_device_kinds(void);
const struct ory_device_ops *ory_device_kind(const char *name, size_t len);
int ory_register_device_kind(const struct ory_device_ops *ops);
/* ory_device_log with a va_list (what a module's ory_device_log calls, module.h). */
void ory_device_vlog(const struct ory_topo *t, int level, const char *fmt, va_list ap);

/* runtime/module.c: make a kind that lives in a module (xrt) ready: load its shared object the
 * first time. 0 (also for built-in kinds), or -ENODEV with a one-line reason naming the file
 * and dlerror() in why. Thread-safe. */
int ory_module_load(const struct ory_device_ops *kind, char *why, size_t why_len);

/* runtime/apps.c: the apps every runtime serves (NULL-terminated), and registration of further
 * apps (tests); a runtime serves the apps registered when it was created. */
const struct ory_app *const *ory_apps(void);
int ory_register_app(const struct ory_app *app);
/* The runtime's queues for app, NULL if the runtime does not know it. */
struct app_queues *ory_app_queues(struct ory_runtime *rt, const struct ory_app *app);

/* runtime/fileio.c: all of len bytes, or a negative errno (-EIO for a file that ends early or
 * takes no more). ory_pread_full reads at `off`, not moving the file position. */
int ory_pread_full(int fd, void *buf, size_t len, uint64_t off);
int ory_write_full(int fd, const void *buf, size_t len);
/* Open path for reading if it is a regular file of at most max bytes (never waiting on a FIFO):
 * the descriptor (O_CLOEXEC; the caller closes it) with its size in *size, or a negative errno
 * with a one-line reason "PATH: ..." in why: open's error, -EISDIR, -EINVAL (FIFO, device,
 * socket: "not a regular file") or -EFBIG (larger than max). */
int ory_open_regular(const char *path, uint64_t max, uint64_t *size, char *why, size_t why_len);
/* The whole of such a file into a malloc'd, NUL-terminated buffer (*buf, the caller frees;
 * *len excludes the NUL). 0 or a negative errno as above (-ENOMEM, read errors). */
int ory_read_small_file(const char *path, size_t max, char **buf, size_t *len, char *why,
			size_t why_len);

/* runtime/config_file.c: an INI file through libinih's handler, refusing special files, NUL
 * bytes and lines longer than ORY_INI_LINE_MAX characters (inih would split them). Returns 0,
 * the first line the handler refused or inih could not parse (> 0, as ini_parse), or a
 * negative errno with "PATH: ..." or "PATH:LINE: ..." in why. */
#define ORY_INI_LINE_MAX 198 /* inih's 200-byte buffer holds the line, its '\n' and a NUL */
typedef int (*ory_ini_handler)(void *arg, const char *section, const char *key,
			       const char *value);
int ory_ini_parse_file(const char *path, ory_ini_handler handler, void *arg, char *why,
		       size_t why_len);

/* runtime/request.c: run a spec as one request from the calling thread and wait for it (the
 * synchronous calls). The request's results, errmsg and origin are left in *pub; on failure
 * the calling thread's error is set. pub->struct_size must be set; its op is not used. */
int ory_run_spec(struct ory_runtime *rt, struct ory_request *pub, const struct ory_job_spec *spec,
		 const struct ory_source *src, struct ory_sink *sink, ory_progress_fn progress,
		 void *progress_arg, struct ory_job_stats *stats);

#endif /* ORY_INTERNAL_H */
