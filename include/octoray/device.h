/* SPDX-License-Identifier: MIT */
/*
 * device.h - the provider API: what a device backend (devices/<kind>/) implements and what the
 * runtime gives it. Embedders use octoray.h only; this header may change between minor versions.
 *
 * A device kind is a static ops table. The runtime probes every kind named by the device spec,
 * opens each device once per runtime and gives it one worker thread for the runtime's life,
 * pinned to the device's NUMA node (or core). All ops except probe/open/close/abort run on that
 * worker thread, so a backend needs no locking of its own state. Chunks of many requests, and
 * of several apps, reach the same device: each chunk says which app and parameters it needs.
 */
#ifndef OCTORAY_DEVICE_H
#define OCTORAY_DEVICE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Longest dictionary (preceding input) a chunk carries: deflate's window. */
#define ORY_DICT_MAX 32768u

struct ory_app;

/* One unit of work. The runtime owns the memory; a device may read `in` and `dict`, and write
 * out[0..out_cap), between submit and the reap that returns the chunk. */
struct ory_chunk {
	uint64_t seq;          /* position in its request's input, from 0 */
	const struct ory_app *app;
	const void *params;    /* the request's parameters for the app (e.g. struct gzip_params) */
	const uint8_t *in;     /* input bytes */
	size_t in_len;         /* 1 .. chunk size (an app may send one larger chunk of memory) */
	const uint8_t *dict;   /* dict_len bytes of the input before `in` (or a preset dictionary) */
	size_t dict_len;       /* 0 = none */
	uint8_t *out;          /* output buffer */
	size_t out_cap;
	/* Set by the device before reap returns the chunk: */
	size_t out_len;
	uint32_t check;        /* the app's check value of the input (gzip: CRC-32) */
	uint32_t check2;       /* a second one if the app needs it (set by its `post` hook) */
	int status;            /* 0, or a negative errno: this device failed the chunk */
};

/* A software kernel: how a CPU-class device runs one app. state is per thread and serves any
 * parameters (each chunk carries its own). */
struct ory_kernel_ops {
	/* Allocate per-thread state. Returns 0 or a negative errno. */
	int (*open)(void **state);
	/* Turn c->in into c->out by c->params, set out_len and check. Returns 0 or a negative
	 * errno. */
	int (*run)(void *state, struct ory_chunk *c);
	void (*close)(void *state);
};

/* An application as devices see it. */
struct ory_app {
	const char *name;                 /* "gzip", "cnv", ... */
	const struct ory_kernel_ops *sw;  /* software kernel (cpu device); NULL: none */
	/* Output check run on the worker thread after a device returns a chunk (--verify): run
	 * returns 0 when c->out really is the app's transform of c->in and c->check is right,
	 * else -EBADMSG. NULL: the app cannot verify. */
	const struct ory_kernel_ops *verify;
	/* Optional, on the worker thread after a chunk succeeded (and was verified), whatever
	 * device ran it: host work the app needs for every chunk (gzip's zlib framing takes the
	 * Adler-32 here, which no card computes). Returns 0 or a negative errno. */
	int (*post)(struct ory_chunk *c);
	/* Optional: whether a status the software kernel returned is final, the fault of the
	 * request rather than the device (corrupt input, output too small), and why, in one line;
	 * NULL if not. *origin gets the side at fault (an enum ory_error_origin of octoray.h).
	 * Such a chunk is not retried: its request fails at once with the message. */
	const char *(*final_error)(const struct ory_chunk *c, int *origin);
	/* Output bytes a chunk of chunk_size input bytes may need at most (the pool's output
	 * buffers hold the largest of every app's). */
	size_t (*out_bound)(size_t chunk_size);
};

/* What probe tells the runtime about one device it found. */
struct ory_device_desc {
	char name[32];          /* set by the runtime: kind + index among devices of that kind */
	char location[64];      /* PCI address or "core N" */
	int numa_node;          /* -1: unknown */
	int core;               /* logical index of the physical core to pin to; -1: the NUMA node */
	unsigned index;         /* kind-local index passed back to open */
	const char *args;       /* the spec's text after "kind:" (NULL if none); valid during open */
	const struct ory_topo *topo; /* set by the runtime before open: for ory_device_log */
};

struct ory_topo; /* the host as hwloc saw it; accessors below */

/* Physical cores, and the NUMA node of core i (-1 if unknown). */
unsigned ory_topo_core_count(const struct ory_topo *t);
int ory_topo_core_numa(const struct ory_topo *t, unsigned core);

/* PCI functions: count, and the description of function i. */
struct ory_pci_info {
	unsigned domain, bus, dev, func;
	unsigned vendor_id, device_id;
	int numa_node;
};
unsigned ory_topo_pci_count(const struct ory_topo *t);
int ory_topo_pci(const struct ory_topo *t, unsigned i, struct ory_pci_info *out);

/* Write one line (printf-style, no newline) to the log of the runtime that owns `t` (probe's t,
 * or desc->topo), at `level`, an enum ory_log_level of octoray.h. An op's return code only says
 * that something failed; this says what and why ("xrt0: /x/gzip.xclbin: no such file"), and
 * is how a device speaks when probe returns -ENODEV under "all". Thread-safe. */
void ory_device_log(const struct ory_topo *t, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

struct ory_device_ops {
	const char *kind;       /* the spec's name for it: "cpu", "xrt", ... */
	/* Higher is preferred. "all" takes every kind above 0; cpu is 0 and is the fallback. */
	int priority;
	/* Software on a host core: neither watched for hangs nor verified by default. Hardware
	 * and anything that can fail in ways software cannot see leaves this false. */
	bool trusted;
	/* Fill up to max descriptions of the devices `args` selects (args: text after "kind:",
	 * NULL for the default set). Returns the count, -ENODEV when the hardware is absent (not
	 * an error for "all"), or -EINVAL when args are malformed. Runs on the creating thread. */
	int (*probe)(const struct ory_topo *t, const char *args, struct ory_device_desc *descs,
		     unsigned max);
	/* Open one device. Runs on the creating thread; devices are opened one at a time. */
	int (*open)(const struct ory_device_desc *desc, void **dev);
	void (*close)(void *dev);
	/* Chunks a device runs at once (1 for a CPU worker, 2 for a double-buffered card). */
	unsigned (*max_inflight)(void *dev);
	/* Prepare to run chunks of `app` of up to chunk_size bytes for the runtime's life. Called
	 * once per app the runtime knows, on the worker thread, before any chunk. -ENOTSUP: the
	 * device cannot run this app and never gets its chunks; any other error is logged and has
	 * the same effect. */
	int (*attach)(void *dev, const struct ory_app *app, size_t chunk_size);
	/* Undo attach (runtime destroy). Optional. */
	void (*detach)(void *dev, const struct ory_app *app);
	/* Optional. Called on the worker thread before a device that was quarantined (or aborted)
	 * gets chunks again: clear what abort or the failures left behind. Returns 0, or an error
	 * that keeps it out of service. */
	int (*recover)(void *dev);
	/* Start a chunk. Returns 0 (the chunk comes back from reap) or a negative errno (the chunk
	 * failed and is not reaped; -ENOTSUP: this device cannot run this chunk, which then runs
	 * elsewhere without counting as a failure). */
	int (*submit)(void *dev, struct ory_chunk *c);
	/* Wait for one submitted chunk (any of them: completion order is free) to finish and
	 * return it with status set. Only called with at least one chunk submitted. */
	struct ory_chunk *(*reap)(void *dev);
	/* Optional. Called from another thread when the runtime has given up on the device's
	 * chunks in flight (its watchdog saw a hang, or the runtime is being destroyed): make a
	 * blocked reap return soon, those chunks failed with -ECANCELED, until recover. Without
	 * it, a request whose chunk a device never returns cannot complete. Must be safe to call
	 * at any time, also twice. */
	void (*abort)(void *dev);
	/* Optional. Modelled time for a chunk of `bytes` (ns), which sizes the watchdog before
	 * the device has any history. */
	uint64_t (*expected_ns)(void *dev, size_t bytes);
	/* Optional. Where chunks' input lies when the runtime read it (files, pipes, streams):
	 * base[0..len), page-aligned, unmoved until close. A card may register it once (XRT: one
	 * user-pointer buffer) and then transfer a chunk whose c->in lies in it without copying
	 * it first; input elsewhere (a caller's buffer, a mapped file) it copies as before. Called
	 * on the worker thread before attach. An error is logged and only means copies. */
	int (*map_input)(void *dev, void *base, size_t len);
	/* Optional. reap that also returns NULL, with no chunk, as soon as *work != seen: the
	 * worker's word for "a chunk you may take was queued", which the runtime changes and
	 * wakes (FUTEX_WAKE, private). The worker calls it instead of reap while the device has a
	 * free slot and chunks in flight, so that a chunk queued then starts at once instead of
	 * after the next completion (a card's second slot stays full: DMA and launch overlap the
	 * other chunk's kernel). abort must end this wait as it ends reap. */
	struct ory_chunk *(*reap_or_work)(void *dev, _Atomic uint32_t *work, uint32_t seen);
};

#ifdef __cplusplus
}
#endif

#endif /* OCTORAY_DEVICE_H */
