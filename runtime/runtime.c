/* SPDX-License-Identifier: MIT */
/* runtime.c - create and destroy a runtime: options, the device spec, opening devices. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

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
		rc = add_devices(rt, ops, args, false, err, errlen);
	}
	if (!rc && rt->ndevices == 0) {
		snprintf(err, errlen, "empty device spec '%s'", spec);
		rc = -EINVAL;
	}
	rt->spec_copy = copy;
	return rc;
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
	atomic_flag_clear(&rt->busy);
	int rc = take_opts(&rt->opts, opts, errmsg, errmsg_len);
	if (rc < 0)
		goto fail;
	rc = ory_topo_load(&rt->topo);
	if (rc < 0) {
		snprintf(errmsg, errmsg_len, "cannot read the host topology (hwloc)");
		goto fail;
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
	*out = rt;
	return 0;
fail:
	ory_runtime_destroy(rt);
	return rc;
}

void ory_runtime_destroy(struct ory_runtime *rt)
{
	if (!rt)
		return;
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
	full.chunks = d->chunks;
	full.bytes_in = d->bytes_in;
	full.failures = d->failures;
	full.retries = d->retries;
	full.timeouts = d->timeouts;
	full.quarantined = atomic_load(&d->quarantined);
	full.reserve = d->reserve;
	full.busy_seconds = (double)d->busy_ns * 1e-9;
	size_t n = ORY_MIN(info->struct_size, sizeof(full));
	memcpy(info, &full, n);
	info->struct_size = n;
	return 0;
}

size_t ory_runtime_describe(const struct ory_runtime *rt, char *buf, size_t len)
{
	return ory_topo_describe(&rt->topo, buf, len);
}
