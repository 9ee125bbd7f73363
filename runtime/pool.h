/* SPDX-License-Identifier: MIT */
/* pool.h - the runtime's fixed set of chunk buffers, shared by all requests. Its size, fixed at
 * create, bounds the memory in use: nothing grows with the input or the number of requests. */
#ifndef ORY_POOL_H
#define ORY_POOL_H

#include "internal.h"

struct ory_pool {
	unsigned count;
	struct ory_chunk_slot *slots;
	hwloc_topology_t topo;
	void *in_mem, *out_mem;     /* one NUMA-bound mapping each, faulted in as used */
	size_t in_len, out_len;
	size_t in_stride, out_stride;
	bool lock_ok;               /* mlock has not failed yet */
	size_t locked;              /* bytes locked so far */
	/* Free list: only the service thread takes and returns buffers, so a plain stack. */
	unsigned *free;
	unsigned nfree;
};

/* Reserve `count` chunks: an input area of ORY_DICT_MAX + chunk_size bytes each and an output
 * area of out_size bytes, bound to rt's NUMA nodes. No page is touched or locked here. */
int ory_pool_create(struct ory_pool *p, hwloc_topology_t topo, hwloc_const_bitmap_t nodeset,
		    unsigned count, size_t chunk_size, size_t out_size);
void ory_pool_destroy(struct ory_pool *p);
/* Free every slot but the last n, which the caller hands out itself. */
void ory_pool_set_aside(struct ory_pool *p, unsigned n);

/* Lock the parts of slot s a chunk is about to use (in: dictionary room plus in_bytes, 0 for a
 * chunk read in place; out: out_bytes), the first time each is used, as far as RLIMIT_MEMLOCK
 * allows (logged once when it stops). Service thread. */
void ory_pool_prepare(struct ory_runtime *rt, struct ory_pool *p, struct ory_chunk_slot *s,
		      size_t in_bytes, size_t out_bytes);

static inline struct ory_chunk_slot *ory_pool_get(struct ory_pool *p)
{
	return p->nfree ? &p->slots[p->free[--p->nfree]] : NULL;
}

static inline void ory_pool_put(struct ory_pool *p, struct ory_chunk_slot *s)
{
	atomic_store_explicit(&s->state, SLOT_FREE, memory_order_relaxed);
	s->req = NULL;
	p->free[p->nfree++] = s->index;
}

static inline size_t ory_pool_bytes(const struct ory_pool *p)
{
	return p->in_len + p->out_len;
}

#endif /* ORY_POOL_H */
