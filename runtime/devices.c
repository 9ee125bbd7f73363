/* SPDX-License-Identifier: MIT */
/* devices.c - the device kinds compiled into this build, highest priority first. */
#include <string.h>

#include "internal.h"

extern const struct ory_device_ops ory_cpu_device_ops;

const struct ory_device_ops *const ory_device_kinds[] = {
	&ory_cpu_device_ops,
	NULL,
};

const struct ory_device_ops *ory_device_kind(const char *name, size_t len)
{
	for (const struct ory_device_ops *const *k = ory_device_kinds; *k; k++)
		if (strlen((*k)->kind) == len && !memcmp((*k)->kind, name, len))
			return *k;
	return NULL;
}
