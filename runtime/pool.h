/* SPDX-License-Identifier: MIT */
/* pool.h - the fixed set of chunk buffers one job runs in. Its size, fixed at job start, is
 * the job's whole working set: memory does not grow with the input. */
#ifndef ORY_POOL_H
#define ORY_POOL_H

#include "internal.h"

struct ory_pool {
	unsigned count;
	struct ory_chunk_slot *slots;
	hwloc_topology_t topo;
	void *in_mem, *out_mem;     /* one NUMA-bound mapping each */
	size_t in_len, out_len;
	size_t in_stride, out_stride;
	bool locked;                /* mlock succeeded */
	/* Free list: the job's calling thread is the only one that takes and returns buffers (it
	 * reads and commits), so this is a plain stack. */
	unsigned *free;
	unsigned nfree;
};

/* Allocate `count` chunks: an input area of ORY_DICT_MAX + chunk_size bytes each (none if
 * chunk_size is 0: the input is read in place) and an output area of out_size bytes, bound to
 * rt's NUMA nodes and locked in memory when the limits allow. */
int ory_pool_create(struct ory_runtime *rt, struct ory_pool *p, unsigned count, size_t chunk_size,
		    size_t out_size);
void ory_pool_destroy(struct ory_pool *p);

static inline struct ory_chunk_slot *ory_pool_get(struct ory_pool *p)
{
	return p->nfree ? &p->slots[p->free[--p->nfree]] : NULL;
}

static inline void ory_pool_put(struct ory_pool *p, struct ory_chunk_slot *s)
{
	p->free[p->nfree++] = s->index;
}

static inline size_t ory_pool_bytes(const struct ory_pool *p)
{
	return p->in_len + p->out_len;
}

#endif /* ORY_POOL_H */
