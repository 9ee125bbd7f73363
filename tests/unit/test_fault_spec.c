/* SPDX-License-Identifier: MIT */
/* test_fault_spec.c - the fault device's options: values a double holds but the option's type
 * does not (found by tests/fuzz/fuzz_spec under UBSan), and NaN, are refused. */
#include <criterion/criterion.h>
#include <errno.h>

#include "octoray/octoray.h"

static int create(const char *devices)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = devices;
	struct ory_runtime *rt = NULL;
	int rc = ory_runtime_create(&o, &rt, NULL, 0);
	ory_runtime_destroy(rt);
	return rc;
}

Test(fault_spec, counts_beyond_their_type_are_refused)
{
	cr_expect_eq(create("fault:cpu:1?slow_ms=1e308"), -EINVAL);
	cr_expect_eq(create("fault:cpu:1?slow_ms=4294967296"), -EINVAL);
	cr_expect_eq(create("fault:cpu:1?die_after=1e300"), -EINVAL);
	cr_expect_eq(create("fault:cpu:1?seed=1e300"), -EINVAL);
	cr_expect_eq(create("fault:cpu:1?seed=1.5"), -EINVAL);
}

Test(fault_spec, nan_is_not_a_probability)
{
	cr_expect_eq(create("fault:cpu:1?fail=nan"), -EINVAL);
}

Test(fault_spec, ordinary_options_still_work)
{
	cr_expect_eq(create("fault:cpu:1?fail=0.1,slow=0.2,slow_ms=50,die_after=7,seed=42"), 0);
}
