/* SPDX-License-Identifier: MIT */
/* test_pool.c - the chunk pool: fixed size, page-aligned areas, LIFO reuse, exhaustion, memory
 * locked only as it is used. */
#include <criterion/criterion.h>

#include "runtime/rt.h"

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
	cr_assert_eq(ory_pool_create(&p, rt->topo.topo, rt->nodeset, 5, 64 * 1024, 70 * 1024), 0);
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
	cr_assert_eq(ory_pool_create(&p, rt->topo.topo, rt->nodeset, 3, chunk, out), 0);
	for (unsigned i = 0; i < 3; i++) {
		struct ory_chunk_slot *s = &p.slots[i];
		cr_expect_eq((uintptr_t)s->in_area % 4096, 0);
		cr_expect_eq((uintptr_t)s->out_area % 4096, 0);
		cr_expect_geq(p.in_stride, ORY_DICT_MAX + chunk);
		cr_expect_geq(s->out_stride, out);
		/* every byte writable without touching a neighbour */
		memset(s->in_area, (int)i + 1, ORY_DICT_MAX + chunk);
		memset(s->out_area, (int)i + 1, out);
	}
	for (unsigned i = 0; i < 3; i++) {
		cr_expect_eq(p.slots[i].in_area[ORY_DICT_MAX + chunk - 1], i + 1);
		cr_expect_eq(p.slots[i].out_area[out - 1], i + 1);
	}
	cr_expect_eq(ory_pool_bytes(&p), p.in_len + p.out_len);
	ory_pool_destroy(&p);
}

Test(pool, memory_is_locked_only_as_far_as_chunks_use_it)
{
	struct ory_pool p;
	size_t chunk = 64 << 20; /* a huge chunk size must not cost memory up front */
	cr_assert_eq(ory_pool_create(&p, rt->topo.topo, rt->nodeset, 4, chunk, chunk + 4096), 0);
	cr_expect_eq(p.locked, 0, "nothing locked before use");
	struct ory_chunk_slot *s = ory_pool_get(&p);
	ory_pool_prepare(rt, &p, s, 6, 4096); /* a 6-byte chunk read into the pool */
	cr_expect_leq(p.locked, ORY_DICT_MAX + 2 * 4096, "locked %zu bytes for 6", p.locked);
	ory_pool_prepare(rt, &p, s, 6, 4096); /* again: nothing more */
	size_t once = p.locked;
	cr_expect_eq(p.locked, once);
	ory_pool_prepare(rt, &p, s, 1 << 20, 0);
	cr_expect_geq(p.locked, once + (1 << 20) - 4096, "a larger chunk locks more");
	ory_pool_destroy(&p);
}
