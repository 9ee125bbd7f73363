/* SPDX-License-Identifier: MIT */
/* runtime.c - create and destroy a runtime: options, the device spec, opening devices, the
 * pool, the request records, and the threads that live as long as the runtime. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "rt.h"

#define KiB ((size_t)1024)
#define MiB (KiB * 1024)

void ory_runtime_opts_init(struct ory_runtime_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->struct_size = sizeof(*o);
	o->devices = "all";
	o->chunk_size = 1 * MiB;
	o->read_depth = 4;
	o->slots = 2;
	o->max_tries = 4;
	o->quarantine_after = 3;
	o->verify = ORY_VERIFY_AUTO;
	o->watchdog_ms = 0;
	o->fallback_cpu = true;
	o->log_level = ORY_LOG_WARN;
	o->max_requests = 256;
	o->inline_max = ORY_INLINE_AUTO;
}

/* Copy the caller's options over our defaults, honouring an older (shorter) struct. */
static int take_opts(struct ory_runtime_opts *o, const struct ory_runtime_opts *in, char *err,
		     size_t errlen)
{
	ory_runtime_opts_init(o);
	if (in) {
		if (!ory_take_struct(o, sizeof(*o), in, offsetof(struct ory_runtime_opts, chunk_size)))
			goto bad_size;
		o->struct_size = sizeof(*o);
	}
	if (!o->devices)
		o->devices = "all";
	if (o->chunk_size < 32 * KiB || o->chunk_size > 64 * MiB) {
		snprintf(err, errlen, "chunk size %zu out of range (32 KiB .. 64 MiB)", o->chunk_size);
		return -EINVAL;
	}
	if (o->read_depth < 1 || o->read_depth > 64 || o->slots < 1 || o->slots > 16 ||
	    o->max_tries < 1 || o->max_tries > 100 || o->quarantine_after < 1 ||
	    o->verify > ORY_VERIFY_NONE) {
		snprintf(err, errlen, "read depth, slots, tries, quarantine or verify out of range");
		return -EINVAL;
	}
	if (o->max_requests < 1 || o->max_requests > 65536) {
		snprintf(err, errlen, "max_requests %u out of range (1 .. 65536)", o->max_requests);
		return -EINVAL;
	}
	return 0;
bad_size:
	snprintf(err, errlen, "options struct too small");
	return -EINVAL;
}

static int add_devices(struct ory_runtime *rt, const struct ory_device_ops *ops, const char *args,
		       bool reserve, char *err, size_t errlen)
{
	struct ory_device_desc descs[64];
	memset(descs, 0, sizeof(descs));
	int n = ops->probe(&rt->topo, args, descs, ORY_ARRAY_SIZE(descs));
	if (n < 0) {
		if (n == -ENODEV)
			snprintf(err, errlen, "no %s device found", ops->kind);
		else
			snprintf(err, errlen, "bad %s device spec '%s'", ops->kind, args ? args : "");
		return n;
	}
	for (int i = 0; i < n; i++) {
		if (rt->ndevices == ORY_MAX_DEVICES) {
			snprintf(err, errlen, "more than %d devices", ORY_MAX_DEVICES);
			return -EINVAL;
		}
		struct ory_device *d = &rt->devices[rt->ndevices];
		unsigned same = 0;
		for (unsigned j = 0; j < rt->ndevices; j++)
			same += rt->devices[j].ops == ops;
		d->ops = ops;
		d->rt = rt;
		d->index = rt->ndevices;
		d->reserve = reserve;
		d->desc = descs[i];
		d->desc.args = args;
		d->desc.topo = &rt->topo;
		snprintf(d->desc.name, sizeof(d->desc.name), "%s%u", ops->kind, same);
		snprintf(d->kind, sizeof(d->kind), "%s", ops->kind);
		d->cpuset = ory_topo_device_cpuset(&rt->topo, &d->desc);
		if (!d->cpuset)
			return -ENOMEM;
		int rc = ops->open(&d->desc, &d->dev);
		if (rc < 0) {
			hwloc_bitmap_free(d->cpuset);
			snprintf(err, errlen, "cannot open %s: %s", d->desc.name, ory_strerror(rc));
			return rc;
		}
		d->inflight_max = ops->max_inflight ? ops->max_inflight(d->dev) : 1;
		if (d->inflight_max < 1)
			d->inflight_max = 1;
		rt->ndevices++;
	}
	return 0;
}

/* "all" | item ('+' item)*, item = kind [':' args]. */
static int parse_devices(struct ory_runtime *rt, const char *spec, char *err, size_t errlen)
{
	if (!strcmp(spec, "all")) {
		for (const struct ory_device_ops *const *k = ory_device_kinds(); *k; k++) {
			if ((*k)->priority <= 0)
				continue;
			int rc = add_devices(rt, *k, NULL, false, err, errlen);
			if (rc < 0 && rc != -ENODEV)
				return rc;
		}
		if (rt->ndevices == 0) {
			ory_log(rt, ORY_LOG_INFO, "no accelerator found; using CPU workers");
			return add_devices(rt, ory_device_kind("cpu", 3), NULL, false, err, errlen);
		}
		return 0;
	}

	char *copy = strdup(spec), *save = NULL;
	if (!copy)
		return -ENOMEM;
	int rc = 0;
	/* Device args may keep pointing into the copy, so it lives as long as the runtime. */
	for (char *item = strtok_r(copy, "+", &save); item && !rc;
	     item = strtok_r(NULL, "+", &save)) {
		/* KIND, KIND:ARGS or KIND?OPTS: a kind takes its options with or without a count */
		size_t klen = strcspn(item, ":?");
		const char *args = item[klen] == ':' ? item + klen + 1 : item[klen] ? item + klen : NULL;
		const struct ory_device_ops *ops = ory_device_kind(item, klen);
		if (!ops) {
			char known[128] = "";
			for (const struct ory_device_ops *const *k = ory_device_kinds(); *k; k++)
				snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s",
					 known[0] ? ", " : "", (*k)->kind);
			snprintf(err, errlen, "unknown device kind '%.*s' (known: %s)", (int)klen, item,
				 known);
			rc = -EINVAL;
			break;
		}
		/* A kind named in the spec whose module cannot load says which file and why. */
		rc = ory_module_load(ops, err, errlen);
		if (!rc)
			rc = add_devices(rt, ops, args, false, err, errlen);
	}
	if (!rc && rt->ndevices == 0) {
		snprintf(err, errlen, "empty device spec '%s'", spec);
		rc = -EINVAL;
	}
	rt->spec_copy = copy;
	return rc;
}

static struct ory_ring *ring_new(size_t n)
{
	size_t cap = 2;
	while (cap < n)
		cap <<= 1;
	struct ory_ring *r = aligned_alloc(ORY_CACHELINE, (ory_ring_memsize(cap) + 63) & ~63ul);
	if (r)
		ory_ring_init(r, cap);
	return r;
}

/* Queues for every registered app; the pool's output buffers hold the largest chunk output. */
static int make_apps(struct ory_runtime *rt, unsigned count)
{
	for (const struct ory_app *const *a = ory_apps(); *a; a++) {
		struct app_queues *aq = &rt->apps[rt->napps];
		aq->app = *a;
		aq->index = rt->napps++;
		aq->dispatch = ring_new(count);
		aq->retry = ring_new(count);
		aq->last = ring_new(count);
		aq->kcache = ring_new(64);
		aq->vcache = ring_new(64);
		if (!aq->dispatch || !aq->retry || !aq->last || !aq->kcache || !aq->vcache)
			return -ENOMEM;
		size_t need = (*a)->out_bound ? (*a)->out_bound(rt->opts.chunk_size) : 0;
		rt->out_stride_need = ORY_MAX(rt->out_stride_need, need);
	}
	return 0;
}

static void free_apps(struct ory_runtime *rt)
{
	for (unsigned i = 0; i < rt->napps; i++) {
		struct app_queues *aq = &rt->apps[i];
		const struct ory_app *app = aq->app;
		void *st;
		while (aq->kcache && (st = ory_ring_pop(aq->kcache)))
			app->sw->close(st);
		while (aq->vcache && (st = ory_ring_pop(aq->vcache)))
			app->verify->close(st);
		free(aq->dispatch);
		free(aq->retry);
		free(aq->last);
		free(aq->kcache);
		free(aq->vcache);
	}
}

/* The pool: each device's slots, the reads in flight, a spare buffer per chunk a watched
 * device can hold (failover.c), one for a request whose header waits (service.c), and, set
 * aside, the express requests' (express.c): twice the devices' slots, so that the next chunk
 * is queued when one ends. */
static int make_pool(struct ory_runtime *rt)
{
	unsigned inflight = 0;
	for (unsigned i = 0; i < rt->ndevices; i++) {
		struct ory_device *d = &rt->devices[i];
		enum ory_verify v = rt->opts.verify;
		d->verify = v == ORY_VERIFY_ALL || (v == ORY_VERIFY_AUTO && !d->ops->trusted);
		unsigned slots = ORY_MAX(d->inflight_max, rt->opts.slots);
		inflight += d->reserve ? d->inflight_max : slots;
		rt->nexpress += d->reserve ? 0 : 2 * slots;
		if (!d->ops->trusted) {
			rt->watched++;
			rt->spare += d->inflight_max;
		}
	}
	unsigned usual = inflight + rt->opts.read_depth + rt->spare + 1;
	unsigned count = usual + rt->nexpress;
	int rc = make_apps(rt, count);
	if (rc == 0)
		rc = ory_pool_create(&rt->pool, rt->topo.topo, rt->nodeset, count, rt->opts.chunk_size,
				     rt->out_stride_need);
	if (rc == 0 && !(rt->express = ring_new(ORY_MAX(rt->nexpress, 1u))))
		rc = -ENOMEM;
	if (rc < 0)
		return rc;
	ory_pool_set_aside(&rt->pool, rt->nexpress);
	for (unsigned i = usual; i < count; i++) {
		rt->pool.slots[i].express_home = true;
		ory_ring_put(rt->express, &rt->pool.slots[i]);
	}
	return 0;
}

static int make_requests(struct ory_runtime *rt)
{
	unsigned n = rt->opts.max_requests, count = rt->pool.count;
	rt->reqs = calloc(n, sizeof(*rt->reqs));
	rt->cells = calloc((size_t)n * count, sizeof(*rt->cells));
	rt->free_reqs = ring_new(n);
	rt->submitted = ring_new(n);
	rt->cancels = ring_new(2 * (size_t)n); /* a record may be cancelled, reused, cancelled */
	rt->done = ring_new(count);
	rt->groups = calloc(rt->ndevices, sizeof(*rt->groups));
	rt->owed.queues = calloc(n, sizeof(*rt->owed.queues));
	rt->owed.futexes = calloc(n, sizeof(*rt->owed.futexes));
	rt->owed.cap = n;
	for (unsigned i = 0; rt->groups && i < rt->ndevices; i++) {
		ory_evcount_init(&rt->groups[i].ev);
		ory_evcount_init(&rt->groups[i].more);
	}
	if (!rt->groups || !rt->owed.queues || !rt->owed.futexes || !rt->reqs || !rt->cells ||
	    !rt->free_reqs || !rt->submitted || !rt->cancels || !rt->done)
		return -ENOMEM;
	/* Only their addresses: a record's memory is first touched when it is first taken (a
	 * page fault per 2 records is most of a short process's start-up on some hosts). */
	for (unsigned i = 0; i < n; i++)
		ory_ring_put(rt->free_reqs, &rt->reqs[i]);
	ory_evcount_init(&rt->started);
	ory_evcount_init(&rt->readmit);
	ory_evcount_init(&rt->room);
	return ory_aio_init(&rt->aio, rt, 2 * count + n + 16, count);
}

/* What create learns once every worker has attached its device: who serves which app. */
static void count_apps(struct ory_runtime *rt)
{
	for (unsigned a = 0; a < rt->napps; a++) {
		struct app_queues *aq = &rt->apps[a];
		unsigned healthy = 0;
		aq->cpu_only = true;
		for (unsigned i = 0; i < rt->ndevices; i++) {
			struct ory_device *d = &rt->devices[i];
			if (!ory_device_runs(d, a))
				continue;
			aq->attached++;
			aq->has_reserve |= d->reserve;
			if (!d->reserve) {
				healthy++;
				aq->cpu_only &= d->ops->trusted;
			}
		}
		aq->cpu_only &= aq->attached > 0;
		atomic_store_explicit(&aq->healthy, healthy, memory_order_relaxed);
	}
	/* Workers that take the same work sleep together. */
	for (unsigned i = 0; i < rt->ndevices; i++) {
		struct ory_device *d = &rt->devices[i];
		unsigned g = 0;
		while (g < rt->ngroups &&
		       (rt->groups[g].apps != d->apps || rt->groups[g].reserve != d->reserve))
			g++;
		if (g == rt->ngroups) {
			rt->groups[g].apps = d->apps;
			rt->groups[g].reserve = d->reserve;
			rt->ngroups++;
		}
		d->group = g;
	}
}

/* "ory:cpu0", "ory:service": what top -H, perf and gdb show an embedder (15 bytes at most). */
static void name_thread(pthread_t t, const char *name)
{
	char buf[16];
	snprintf(buf, sizeof(buf), "ory:%.11s", name);
	(void)pthread_setname_np(t, buf);
}

static int start_threads(struct ory_runtime *rt, char *errmsg, size_t errmsg_len)
{
	unsigned started = 0;
	int rc = 0;
	for (unsigned i = 0; i < rt->ndevices && rc == 0; i++) {
		struct ory_device *d = &rt->devices[i];
		rc = -pthread_create(&d->thread, NULL, ory_worker_main, d);
		d->started = rc == 0;
		started += d->started;
		if (d->started)
			name_thread(d->thread, d->desc.name);
	}
	/* Wait for the workers that did start, even on failure: they attach their devices. */
	for (;;) {
		uint32_t key = ory_evcount_prepare(&rt->started);
		if (atomic_load_explicit(&rt->begun, memory_order_acquire) == started) {
			ory_evcount_cancel(&rt->started);
			break;
		}
		ory_evcount_wait(&rt->started, key);
	}
	if (rc == 0) {
		count_apps(rt);
		rc = -pthread_create(&rt->service, NULL, ory_service_main, rt);
		rt->service_started = rc == 0;
		if (rt->service_started)
			name_thread(rt->service, "service");
	}
	if (rc < 0) {
		snprintf(errmsg, errmsg_len, "cannot start a thread: %s (process or memory limits?)",
			 ory_strerror(rc));
		return -EAGAIN;
	}
	/* release: the app counts are published with `go` */
	atomic_store_explicit(&rt->go, true, memory_order_release);
	ory_evcount_notify(&rt->started, INT_MAX);
	return 0;
}

int ory_runtime_create(const struct ory_runtime_opts *opts, struct ory_runtime **out, char *errmsg,
		       size_t errmsg_len)
{
	char scratch[1];
	if (!errmsg) {
		errmsg = scratch;
		errmsg_len = sizeof(scratch);
	}
	if (errmsg_len)
		errmsg[0] = '\0';
	if (!out)
		return -EINVAL;
	*out = NULL;

	struct ory_runtime *rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	int rc = take_opts(&rt->opts, opts, errmsg, errmsg_len);
	if (rc < 0)
		goto fail;
	rc = ory_topo_load(&rt->topo);
	if (rc < 0) {
		snprintf(errmsg, errmsg_len, "cannot read the host topology (hwloc)");
		goto fail;
	}
	if (rt->opts.cpus) {
		rt->cpus_copy = strdup(rt->opts.cpus);
		rt->opts.cpus = rt->cpus_copy;
		rc = rt->cpus_copy ? ory_topo_restrict(&rt->topo, rt->cpus_copy) : -ENOMEM;
		if (rc < 0) {
			snprintf(errmsg, errmsg_len, "cpus '%s': not a list of this host's CPUs",
				 opts->cpus);
			goto fail;
		}
	}
	rt->devices = calloc(ORY_MAX_DEVICES, sizeof(*rt->devices));
	if (!rt->devices) {
		rc = -ENOMEM;
		goto fail;
	}
	rc = parse_devices(rt, rt->opts.devices, errmsg, errmsg_len);
	if (rc < 0)
		goto fail;
	/* Fallback: when the set has no CPU worker, keep one per core in reserve. */
	bool has_trusted = false;
	for (unsigned i = 0; i < rt->ndevices; i++)
		has_trusted |= rt->devices[i].ops->trusted;
	if (rt->opts.fallback_cpu && !has_trusted) {
		rc = add_devices(rt, ory_device_kind("cpu", 3), NULL, true, errmsg, errmsg_len);
		if (rc < 0)
			goto fail;
	}
	rt->opts.devices = NULL; /* the caller's string is not ours to keep */

	hwloc_bitmap_t cpus = hwloc_bitmap_alloc();
	if (!cpus) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < rt->ndevices; i++)
		hwloc_bitmap_or(cpus, cpus, rt->devices[i].cpuset);
	rt->nodeset = ory_topo_nodeset(&rt->topo, cpus);
	hwloc_bitmap_free(cpus);
	if (!rt->nodeset) {
		rc = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < rt->ndevices; i++) {
		char set[64];
		hwloc_bitmap_list_snprintf(set, sizeof(set), rt->devices[i].cpuset);
		ory_log(rt, ORY_LOG_DEBUG, "device %s (%s) on cpus %s", rt->devices[i].desc.name,
			rt->devices[i].desc.location, set);
	}
	if ((rc = make_pool(rt)) < 0 || (rc = make_requests(rt)) < 0) {
		snprintf(errmsg, errmsg_len, "cannot allocate the runtime's buffers: %s",
			 ory_strerror(rc));
		goto fail;
	}
	rc = start_threads(rt, errmsg, errmsg_len);
	if (rc < 0)
		goto fail;
	*out = rt;
	return 0;
fail:
	ory_runtime_destroy(rt);
	/* The message quotes what the caller gave (a spec, a path): keep it one line. */
	for (char *c = errmsg; *c; c++)
		if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
			*c = '?';
	return rc;
}

void ory_runtime_destroy(struct ory_runtime *rt)
{
	if (!rt)
		return;
	/* Requests end first (each completes with -ECANCELED), while the workers still run and
	 * return the chunks they hold; a hung device is aborted so that its chunks come back. */
	atomic_store_explicit(&rt->closing, true, memory_order_release);
	if (rt->service_started) {
		ory_aio_ring_doorbell(&rt->aio);
		pthread_join(rt->service, NULL);
	}
	atomic_store_explicit(&rt->stop, true, memory_order_release);
	if (rt->groups)
		ory_wake_all(rt);
	ory_evcount_notify(&rt->started, INT_MAX);
	for (unsigned i = 0; rt->devices && i < rt->ndevices; i++)
		if (rt->devices[i].started)
			pthread_join(rt->devices[i].thread, NULL);
	if (rt->reqs && rt->free_reqs)
		ory_queues_detach(rt);
	if (rt->reqs)
		for (unsigned i = 0; i < atomic_load(&rt->reqs_touched); i++) {
			free(rt->reqs[i].reader.tail);
			free(rt->reqs[i].reader.carry);
		}
	if (rt->free_reqs)
		ory_aio_fini(&rt->aio);
	free(rt->reqs);
	free(rt->cells);
	free(rt->free_reqs);
	free(rt->submitted);
	free(rt->cancels);
	free(rt->done);
	free(rt->express);
	free(rt->groups);
	free(rt->owed.queues);
	free(rt->owed.futexes);
	free_apps(rt);
	ory_pool_destroy(&rt->pool);
	for (unsigned i = 0; rt->devices && i < rt->ndevices; i++) {
		struct ory_device *d = &rt->devices[i];
		d->ops->close(d->dev);
		hwloc_bitmap_free(d->cpuset);
	}
	free(rt->devices);
	if (rt->nodeset)
		hwloc_bitmap_free(rt->nodeset);
	if (rt->topo.topo)
		ory_topo_free(&rt->topo);
	free(rt->spec_copy);
	free(rt->cpus_copy);
	free(rt);
}

unsigned ory_runtime_device_count(const struct ory_runtime *rt)
{
	return rt->ndevices;
}

int ory_runtime_device_info(const struct ory_runtime *rt, unsigned index,
			    struct ory_device_info *info)
{
	if (!info || index >= rt->ndevices || info->struct_size < sizeof(info->struct_size))
		return -EINVAL;
	const struct ory_device *d = &rt->devices[index];
	struct ory_device_info full;
	memset(&full, 0, sizeof(full));
	full.struct_size = sizeof(full);
	snprintf(full.name, sizeof(full.name), "%s", d->desc.name);
	snprintf(full.kind, sizeof(full.kind), "%s", d->kind);
	snprintf(full.location, sizeof(full.location), "%s", d->desc.location);
	full.numa_node = d->desc.numa_node;
	hwloc_bitmap_list_snprintf(full.cpuset, sizeof(full.cpuset), d->cpuset);
	full.chunks = atomic_load_explicit(&d->chunks, memory_order_relaxed);
	full.bytes_in = atomic_load_explicit(&d->bytes_in, memory_order_relaxed);
	full.failures = atomic_load_explicit(&d->failures, memory_order_relaxed);
	full.retries = atomic_load_explicit(&d->retries, memory_order_relaxed);
	full.timeouts = atomic_load_explicit(&d->timeouts, memory_order_relaxed);
	full.quarantined = atomic_load(&d->quarantined);
	full.reserve = d->reserve;
	full.busy_seconds =
		(double)atomic_load_explicit(&d->busy_ns, memory_order_relaxed) * 1e-9;
	size_t n = ORY_MIN(info->struct_size, sizeof(full));
	memcpy(info, &full, n);
	info->struct_size = n;
	return 0;
}

size_t ory_runtime_describe(const struct ory_runtime *rt, char *buf, size_t len)
{
	return ory_topo_describe(&rt->topo, buf, len);
}
