/* SPDX-License-Identifier: MIT */
/* devices.c - the device kinds this build knows, highest priority first, plus kinds registered
 * at run time (test devices). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "rt.h"

extern const struct ory_device_ops ory_cpu_device_ops, ory_fault_device_ops;
extern const struct ory_device_ops ory_sim_device_ops;
/* A stand-in until its module is loaded (module.c). */
extern struct ory_device_ops ory_xrt_device_ops;

#define MAX_KINDS 16

/* NULL-terminated; built-in kinds first. Only changed by ory_register_device_kind, which must
 * not overlap runtime creation. */
static const struct ory_device_ops *kinds[MAX_KINDS + 1] = {
#ifdef ORY_WITH_XRT
	&ory_xrt_device_ops,
#endif
	&ory_cpu_device_ops,
	&ory_fault_device_ops,
	&ory_sim_device_ops,
};

const struct ory_device_ops *const *ory_device_kinds(void)
{
	return kinds;
}

const struct ory_device_ops *ory_device_kind(const char *name, size_t len)
{
	for (const struct ory_device_ops *const *k = kinds; *k; k++)
		if (strlen((*k)->kind) == len && !memcmp((*k)->kind, name, len))
			return *k;
	return NULL;
}

int ory_register_device_kind(const struct ory_device_ops *ops)
{
	unsigned n = 0;
	while (kinds[n]) {
		if (!strcmp(kinds[n]->kind, ops->kind))
			return -EEXIST;
		n++;
	}
	if (n == MAX_KINDS)
		return -ENOSPC;
	kinds[n] = ops;
	return 0;
}

void ory_device_vlog(const struct ory_topo *t, int level, const char *fmt, va_list ap)
{
	if (!t)
		return;
	/* Every topology a device sees is the one inside its runtime. */
	const struct ory_runtime *rt = ory_container_of(t, struct ory_runtime, topo);
	char line[512];

	if (!rt->opts.log || level > (int)rt->opts.log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	rt->opts.log(rt->opts.log_arg, (enum ory_log_level)level, line);
}

void ory_device_log(const struct ory_topo *t, int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	ory_device_vlog(t, level, fmt, ap);
	va_end(ap);
}
