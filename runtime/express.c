/* SPDX-License-Identifier: MIT */
/*
 * express.c - requests of one chunk, memory to memory, that go from the submitting thread to a
 * device's worker and back without the service thread.
 *
 * Through the service thread a request costs four thread hand-offs (submitter, service thread,
 * worker, service thread, submitter). For one chunk in memory the service thread has nothing
 * to do but hand it on: the input needs no read and the output no ordering. So the submitter
 * takes one of a few pool slots set aside for this (a lock-free ring of them), writes the
 * header, and queues the chunk on its app's dispatch ring as the service thread would; the
 * worker whose device runs it commits it into the caller's buffer, writes the trailer and
 * completes the request. Two hand-offs; on 8 simulated cards serving 64 KiB requests the
 * service thread's share of the CPU was the limit.
 *
 * Anything out of the ordinary goes back to the usual path: a chunk that fails (or fails
 * verification), a request cancelled before its device finished, a chunk the watchdog takes
 * away. The service thread then adopts the request (ory_adopt) as if it had read, dispatched and
 * run that chunk itself, and its failover goes on from there, unchanged. The watchdog watches
 * express chunks as any other: they are in the pool. When no slot is free the request simply
 * takes the usual path, so the set's size bounds only how many go this way at once.
 */
#include <errno.h>
#include <string.h>

#include "rt.h"

void ory_express_put(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	atomic_store_explicit(&s->state, SLOT_FREE, memory_order_relaxed);
	s->req = NULL;
	s->express = false;
	ory_ring_put(rt->express, s);
}

bool ory_express_start(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	struct ory_job_spec *spec = &r->spec;
	struct ory_sink *k = &r->sink;
	size_t room = spec->header_len + spec->out_bound + (spec->trailer ? TRAILER_ROOM : 0);
	if (!rt->nexpress || r->src.fd >= 0 || r->src.iov || r->src.mem_len == 0 ||
	    r->src.mem_len > spec->chunk_size || spec->whole || spec->cut || spec->boundary ||
	    spec->emit || spec->place || k->fd >= 0 || !k->mem || k->mem_cap < room)
		return false;
	struct ory_chunk_slot *s = ory_ring_pop(rt->express);
	if (!s)
		return false;
	if (spec->first_chunk)
		spec->first_chunk(r, true);
	ory_sink_mem_header(r, 1); /* fits: checked above */
	s->req = r;
	s->express = true;
	s->c = (struct ory_chunk){
		.app = spec->app,
		.params = spec->params,
		.in = r->src.mem,
		.in_len = r->src.mem_len,
		.dict = spec->dict_len ? spec->dict : r->src.mem,
		.dict_len = spec->dict_len,
	};
	/* A trusted device writes into the caller's buffer, an untrusted one never (service.c) */
	s->direct_out = k->mem + spec->header_len;
	s->direct_cap = k->mem_cap - spec->header_len - (spec->trailer ? TRAILER_ROOM : 0);
	s->tries = 0;
	s->device = -1;
	s->committable = s->strict = false;
	memset(s->avoid, 0, sizeof(s->avoid));
	/* seq_cst, with destroy's `closing`: the service thread stays until this drops to 0 */
	atomic_fetch_add(&rt->express_inflight, 1);
	atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_relaxed);
	/* Neither r nor s is ours once queued: the request may be over before the wake-up. */
	struct app_queues *aq = r->aq;
	ory_ring_put(aq->dispatch, s);
	ory_wake(rt, aq->index, 1);
	/* A watchdog asleep with no deadline must learn of it: either this sees the service
	 * thread's last scan find express requests in flight (it wakes within a timeout), or the
	 * thread, before it sleeps, sees our count (service.c) or our ring. */
	if (rt->watched && !atomic_load(&rt->express_watched))
		ory_aio_ring(&rt->aio);
	return true;
}

bool ory_express_commit(struct ory_device *d, struct ory_chunk_slot *s)
{
	struct req *r = s->req;
	struct ory_runtime *rt = r->rt;
	const struct ory_job_spec *spec = &r->spec;
	struct ory_chunk *c = &s->c;
	if (c->status < 0 || c->out_len > c->out_cap || ory_req_cancelled(r))
		return false;
	if (atomic_load_explicit(&d->consecutive_failures, memory_order_relaxed))
		atomic_store_explicit(&d->consecutive_failures, 0, memory_order_relaxed);
	int rc = ory_sink_put(r, c->out, c->out_len);
	if (rc == 0 && spec->committed)
		rc = spec->committed(r, c); /* a failure sets r->error and the message */
	atomic_fetch_add_explicit(&d->chunks, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&d->bytes_in, c->in_len, memory_order_relaxed);
	size_t tl = 0, hl = 0;
	const uint8_t *head = NULL, *tail = NULL;
	if (rc == 0 && spec->trailer &&
	    !(tail = spec->trailer(r, &tl, &head, &hl)))
		rc = ory_req_fail(r, ORY_ORIGIN_NONE, -ENOMEM, "out of memory");
	if (rc == 0 && tail)
		rc = ory_sink_put(r, tail, tl);
	if (rc == 0 && head) /* over the first header, of the same length */
		memcpy(r->sink.mem, head, hl);
	r->bytes_in = c->in_len;
	r->bytes_out = r->sink.mem_len;
	r->chunks = 1;
	r->retries = 0;
	/* The slot first: a callback may submit again. */
	ory_express_put(rt, s);
	ory_req_deliver(r);
	/* The service thread may be waiting for the last express request to end (destroy). */
	if (atomic_fetch_sub(&rt->express_inflight, 1) == 1 && atomic_load(&rt->closing))
		ory_aio_ring(&rt->aio);
	return true;
}
