/* SPDX-License-Identifier: MIT */
/* test_pool.c - the chunk pool: fixed size, page-aligned areas, LIFO reuse, exhaustion. */
#include <criterion/criterion.h>

#include "runtime/pool.h"

static struct ory_runtime *rt;

static void setup(void)
{
	struct ory_runtime_opts o;
	ory_runtime_opts_init(&o);
	o.devices = "cpu:1";
	cr_assert_eq(ory_runtime_create(&o, &rt, NULL, 0), 0);
}

static void teardown(void)
{
	ory_runtime_destroy(rt);
}

TestSuite(pool, .init = setup, .fini = teardown);

Test(pool, hands_out_each_buffer_once_then_runs_dry)
{
	struct ory_pool p;
	cr_assert_eq(ory_pool_create(rt, &p, 5, 64 * 1024, 70 * 1024), 0);
	struct ory_chunk_slot *got[5];
	for (int i = 0; i < 5; i++) {
		got[i] = ory_pool_get(&p);
		cr_assert_not_null(got[i]);
		for (int j = 0; j < i; j++)
			cr_assert_neq(got[i], got[j]);
	}
	cr_expect_null(ory_pool_get(&p), "a sixth buffer from a pool of five");
	ory_pool_put(&p, got[2]);
	cr_expect_eq(ory_pool_get(&p), got[2]);
	ory_pool_destroy(&p);
}

Test(pool, areas_are_page_aligned_disjoint_and_sized_for_dictionary_and_chunk)
{
	struct ory_pool p;
	size_t chunk = 100 * 1000, out = 123457;
	cr_assert_eq(ory_pool_create(rt, &p, 3, chunk, out), 0);
	for (unsigned i = 0; i < 3; i++) {
		struct ory_chunk_slot *s = &p.slots[i];
		cr_expect_eq((uintptr_t)s->in_area % 4096, 0);
		cr_expect_eq((uintptr_t)s->c.out % 4096, 0);
		cr_expect_geq(p.in_stride, ORY_DICT_MAX + chunk);
		cr_expect_geq(s->c.out_cap, out);
		/* every byte writable without touching a neighbour */
		memset(s->in_area, (int)i + 1, ORY_DICT_MAX + chunk);
		memset(s->c.out, (int)i + 1, out);
	}
	for (unsigned i = 0; i < 3; i++) {
		cr_expect_eq(p.slots[i].in_area[ORY_DICT_MAX + chunk - 1], i + 1);
		cr_expect_eq(p.slots[i].c.out[out - 1], i + 1);
	}
	cr_expect_eq(ory_pool_bytes(&p), p.in_len + p.out_len);
	ory_pool_destroy(&p);
}

Test(pool, reads_in_place_need_no_input_area)
{
	struct ory_pool p;
	cr_assert_eq(ory_pool_create(rt, &p, 2, 0, 4096), 0);
	cr_expect_null(p.slots[0].in_area);
	cr_expect_eq(p.in_len, 0);
	ory_pool_destroy(&p);
}
