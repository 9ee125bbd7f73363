/* SPDX-License-Identifier: MIT */
/* internal.h - the runtime's private types: runtime, device slot, chunk, job spec. */
#ifndef ORY_INTERNAL_H
#define ORY_INTERNAL_H

#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <hwloc.h>

#include "octoray/octoray.h"
#include "octoray/device.h"

#define ORY_MAX_DEVICES 256
#define ORY_ERRMSG_LEN 512

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

/* runtime/topology.c */
struct ory_topo {
	hwloc_topology_t topo;
	unsigned ncores;
	hwloc_obj_t *cores;     /* physical cores in logical order */
	unsigned npci;
	struct ory_pci_info *pci;
};
int ory_topo_load(struct ory_topo *t);
void ory_topo_free(struct ory_topo *t);
/* CPUs a worker of `desc` is bound to (core, else NUMA node, else all); caller frees. */
hwloc_bitmap_t ory_topo_device_cpuset(const struct ory_topo *t, const struct ory_device_desc *d);
/* NUMA nodes near `cpuset`; caller frees. */
hwloc_bitmap_t ory_topo_nodeset(const struct ory_topo *t, hwloc_const_bitmap_t cpuset);
size_t ory_topo_describe(const struct ory_topo *t, char *buf, size_t len);

/* One opened device. The counters are written by the job's calling thread (or by the device's
 * worker where marked) during a job and read after it. */
struct ory_device {
	const struct ory_device_ops *ops;
	void *dev;
	struct ory_device_desc desc;
	char kind[16];
	hwloc_bitmap_t cpuset;
	unsigned inflight_max;
	bool reserve;           /* fallback CPU worker: fed only once no other device is healthy */
	bool verify;            /* this job checks its output (decided at job start) */
	/* state of the current job */
	bool active;            /* job_begin succeeded (worker, published by job->begun) */
	bool hung;              /* the watchdog took a chunk away from it */
	_Atomic bool quarantined;
	unsigned consecutive_failures;
	_Atomic uint64_t mean_ns; /* worker: moving average of its time per chunk (0: none yet) */
	/* counters of the current/last job */
	uint64_t chunks, bytes_in, failures, retries, timeouts;
	uint64_t busy_ns;       /* worker */
};

struct ory_runtime {
	struct ory_topo topo;
	struct ory_runtime_opts opts;
	unsigned ndevices;
	struct ory_device *devices;
	hwloc_bitmap_t nodeset;        /* NUMA nodes of all devices: where the pool lives */
	atomic_flag busy;              /* one job at a time */
	char *spec_copy;               /* parsed device spec; devices' args point into it */
	char errmsg[ORY_ERRMSG_LEN];
	enum ory_error_origin origin;
};

/* Record the job's error message (printf-style) and return rc, for `return ory_fail(...)`.
 * ory_fail_at also records which side failed. */
int ory_fail(struct ory_runtime *rt, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int ory_fail_at(struct ory_runtime *rt, enum ory_error_origin origin, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
void ory_log(const struct ory_runtime *rt, enum ory_log_level lvl, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* runtime/devices.c: the device kinds this build knows (NULL-terminated), lookup by name, and
 * registration of further kinds (tests). Registering must not overlap ory_runtime_create. */
const struct ory_device_ops *const *ory_device_kinds(void);
const struct ory_device_ops *ory_device_kind(const char *name, size_t len);
int ory_register_device_kind(const struct ory_device_ops *ops);

/* Where a chunk is in its life. Only RUNNING -> DONE (its worker) and RUNNING -> TIMED_OUT
 * (the watchdog) can race; both are a compare-and-swap. */
enum slot_state { SLOT_FREE, SLOT_READING, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE, SLOT_TIMED_OUT };

#define ORY_AVOID_WORDS (ORY_MAX_DEVICES / 64)

/* A chunk as the runtime keeps it: the public part devices see, plus its place in the pool,
 * in the reader and in the failover bookkeeping. */
struct ory_chunk_slot {
	struct ory_chunk c;
	unsigned index;         /* position in the pool (and io_uring buffer index) */
	uint8_t *in_area;       /* ORY_DICT_MAX bytes of dictionary room, then chunk_size */
	unsigned tries;         /* failed runs so far */
	int device;             /* device that ran it last (set by the worker) */
	_Atomic int state;      /* enum slot_state */
	_Atomic uint64_t started_ns; /* when its device took it (published by `state`) */
	/* Devices that failed it, so a retry prefers another one. Written by the calling thread
	 * before the chunk is queued; the ring's release/acquire publishes it to workers. */
	uint64_t avoid[ORY_AVOID_WORDS];
	/* reader state */
	uint64_t file_off;
	size_t fill;
	bool reading;
};

/* Where a job's input comes from. */
struct ory_source {
	int fd;                 /* -1: memory */
	const uint8_t *mem;
	size_t mem_len;
};

/* Where a job's output goes. */
struct ory_sink {
	int fd;                 /* -1: memory */
	uint8_t *mem;
	size_t mem_cap;
	size_t mem_len;
};

/* What an app asks of the engine for one job. */
struct ory_job_spec {
	const struct ory_app *app;
	const void *params;
	size_t chunk_size;      /* input bytes per chunk; 0: the runtime's chunk size */
	size_t dict_size;       /* 0, or bytes of preceding input primed before each chunk */
	size_t out_bound;       /* output capacity each chunk needs */
	/* Framing, all on the calling thread: header before the first chunk, a hook after each
	 * committed chunk (in order), trailer after the last one. */
	const uint8_t *header;
	size_t header_len;
	/* Write a finished chunk's results (in input order; its input is still readable). NULL:
	 * write c->out as it is. Returns 0 or a negative errno that ends the job (with rt's
	 * message set). */
	int (*emit)(void *arg, struct ory_runtime *rt, struct ory_sink *sink,
		    const struct ory_chunk *c);
	void (*committed)(void *arg, const struct ory_chunk *c);
	size_t (*trailer)(void *arg, uint8_t *buf, size_t cap);
	void *frame_arg;
	ory_progress_fn progress;
	void *progress_arg;
};

/* runtime/engine.c: run one job. Returns 0 or a negative errno with rt->errmsg set. */
int ory_engine_run(struct ory_runtime *rt, const struct ory_job_spec *spec,
		   const struct ory_source *src, struct ory_sink *sink, struct ory_job_stats *stats);

/* runtime/sink.c */
int ory_sink_write(struct ory_runtime *rt, struct ory_sink *s, const void *buf, size_t len);

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

/* Claim/release the runtime for one job: -EBUSY if a job is running. */
int ory_job_enter(struct ory_runtime *rt);
void ory_job_leave(struct ory_runtime *rt);

#endif /* ORY_INTERNAL_H */
