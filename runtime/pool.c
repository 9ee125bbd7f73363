/* SPDX-License-Identifier: MIT */
/* pool.c - chunk buffers NUMA-local to the devices that use them, locked as they are first used
 * so io_uring and DMA engines never wait on a page fault, while a small input costs little
 * memory whatever the chunk size (nothing is touched until a chunk needs it). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "pool.h"

#define PAGE 4096u

static size_t round_page(size_t n)
{
	return (n + PAGE - 1) & ~(size_t)(PAGE - 1);
}

static void *alloc_bound(hwloc_topology_t topo, hwloc_const_bitmap_t nodeset, size_t len)
{
	hwloc_membind_policy_t pol = hwloc_bitmap_weight(nodeset) > 1 ? HWLOC_MEMBIND_INTERLEAVE
								       : HWLOC_MEMBIND_BIND;
	void *p = hwloc_alloc_membind(topo, len, nodeset, pol, HWLOC_MEMBIND_BYNODESET);
	if (!p) /* no NUMA support (or an empty nodeset): plain pages are still correct */
		p = hwloc_alloc(topo, len);
	/* Advice only. mlock splits the mapping where each locked range ends, so what is locked
	 * page by page stays in small pages; only memory touched unlocked (beyond RLIMIT_MEMLOCK)
	 * can be huge. Locking whole 2 MiB granules instead was tried (2026-12-01): ISA-L spent
	 * ~6% less CPU on huge pages, but in this project's VM a fresh huge page costs the host's
	 * faults on first touch, and a lone `octoray-run gzip -1` of 256 MB took 201 instead of
	 * 183 ms (sys 86 vs 54 ms); it paid only when runs followed each other within a second. */
	if (p)
		(void)madvise(p, len, MADV_HUGEPAGE);
	return p;
}

int ory_pool_create(struct ory_pool *p, hwloc_topology_t topo, hwloc_const_bitmap_t nodeset,
		    unsigned count, size_t chunk_size, size_t out_size)
{
	memset(p, 0, sizeof(*p));
	p->topo = topo;
	p->count = count;
	p->lock_ok = true;
	p->slots = calloc(count, sizeof(*p->slots));
	p->free = calloc(count, sizeof(*p->free));
	if (!p->slots || !p->free)
		goto nomem;
	/* Room for the dictionary and a chunk, or a compressed chunk (a little more than one:
	 * stored blocks' headers) read for decompression. */
	p->in_stride = round_page(ORY_DICT_MAX + chunk_size + chunk_size / 8192 + 64);
	p->out_stride = round_page(out_size);
	p->in_len = p->in_stride * count;
	p->out_len = p->out_stride * count;
	if (!(p->in_mem = alloc_bound(topo, nodeset, p->in_len)) ||
	    !(p->out_mem = alloc_bound(topo, nodeset, p->out_len)))
		goto nomem;
	for (unsigned i = 0; i < count; i++) {
		struct ory_chunk_slot *s = &p->slots[i];
		s->index = i;
		s->in_area = (uint8_t *)p->in_mem + i * p->in_stride;
		s->out_area = (uint8_t *)p->out_mem + i * p->out_stride;
		s->out_stride = p->out_stride;
	}
	ory_pool_set_aside(p, 0);
	return 0;
nomem:
	ory_pool_destroy(p);
	return -ENOMEM;
}

void ory_pool_set_aside(struct ory_pool *p, unsigned n)
{
	p->nfree = p->count - n;
	for (unsigned i = 0; i < p->nfree; i++)
		p->free[i] = p->nfree - 1 - i; /* hand out slot 0 first */
}

void ory_pool_destroy(struct ory_pool *p)
{
	if (p->in_mem)
		hwloc_free(p->topo, p->in_mem, p->in_len);
	if (p->out_mem)
		hwloc_free(p->topo, p->out_mem, p->out_len);
	free(p->slots);
	free(p->free);
	memset(p, 0, sizeof(*p));
}

/* Lock [base + *done, base + want), rounded to pages; false once the limit is reached. */
static bool lock_more(struct ory_runtime *rt, struct ory_pool *p, uint8_t *base, size_t *done,
		      size_t want)
{
	want = round_page(want);
	if (want <= *done)
		return true;
	if (mlock(base + *done, want - *done) < 0) {
		ory_log(rt, ORY_LOG_INFO, "chunk buffers not locked beyond %zu KiB (%s); raise "
			"RLIMIT_MEMLOCK to lock them all", p->locked >> 10, strerror(errno));
		p->lock_ok = false;
		return false;
	}
	p->locked += want - *done;
	*done = want;
	return true;
}

void ory_pool_prepare(struct ory_runtime *rt, struct ory_pool *p, struct ory_chunk_slot *s,
		      size_t in_bytes, size_t out_bytes)
{
	if (!p->lock_ok)
		return;
	if (in_bytes && !lock_more(rt, p, s->in_area, &s->locked_in, ORY_DICT_MAX + in_bytes))
		return;
	if (out_bytes)
		lock_more(rt, p, s->out_area, &s->locked_out, ORY_MIN(out_bytes, s->out_stride));
}
