/* SPDX-License-Identifier: MIT */
/*
 * service.c - how requests run: the runtime's service thread.
 *
 * A request's input is cut into chunks of a fixed size (the last one may be short). Chunk
 * boundaries depend on the chunk size alone, and every chunk is transformed on its own (with at
 * most the 32 KiB of input before it as a dictionary), so the output is the same whichever
 * device ran which chunk and however many devices there were. This is pigz's scheme, with
 * "threads" replaced by devices, and many requests sharing them.
 *
 * Threads. Each device has one worker thread for the runtime's life, pinned to the device's
 * core or NUMA node, that pulls chunks of the apps it runs from their dispatch rings (a free
 * device takes the next chunk, so a faster device takes more), runs them on its device and
 * pushes them to the done ring (worker.c). One service thread does everything else, alone, so
 * none of it needs a lock: it takes submitted requests, starts their reads (io_uring, aio.c),
 * hands their chunks to the dispatch rings in input order (priming each with the 32 KiB before
 * it when the app asks), collects finished chunks, decides every failover (failover.c), and
 * commits each request's chunks in its input order: header before the first chunk, each
 * chunk's output, trailer after the last, into the caller's buffer or, through io_uring, its
 * file (sink.c). Then the request completes (request.c). The thread sleeps in io_uring_enter; read and
 * write completions, and a doorbell eventfd that submitters and workers write only when it said
 * it would sleep (aio.h), wake it. Whom it wakes (workers, queues, synchronous callers) it
 * wakes at the end of each turn (ory_pay_wakes). A request of one chunk in memory passes it
 * by (express.c) unless something goes wrong with it; then this thread adopts it.
 *
 * Memory. All chunk buffers come from one pool made at create: each device's slots, the reads
 * in flight, and a spare buffer per chunk a watched device can hold. A buffer goes back to the
 * pool only after its chunk's output has been written, so a chunk whose device failed still
 * has its input and is simply queued again. A request's chunks are found by sequence number
 * modulo the pool size, which cannot collide: each one in flight holds a pool buffer. Requests
 * waiting for buffers are served round-robin, a buffer at a time, and none may hold more than
 * its share while others wait, so a large job cannot starve small requests. One buffer more is
 * kept for a request whose first chunk waits for its second (a pipe's first chunk was full: its
 * header, and gzip's end of that chunk, depend on whether it is the only one): it holds the
 * first until then, and such requests could otherwise hold every buffer and wait for one
 * another. Nothing grows with the input or with the number of requests.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/futex.h>

#include "rt.h"

static void feed_push(struct ory_runtime *rt, struct req *r)
{
	if (r->feeding)
		return;
	r->feeding = true;
	r->next_feed = NULL;
	if (rt->feed_tail)
		rt->feed_tail->next_feed = r;
	else
		rt->feed_head = r;
	rt->feed_tail = r;
}

static struct req *feed_pop(struct ory_runtime *rt)
{
	struct req *r = rt->feed_head;
	if (!r)
		return NULL;
	rt->feed_head = r->next_feed;
	if (!rt->feed_head)
		rt->feed_tail = NULL;
	r->feeding = false;
	return r;
}

void ory_dispatch(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_relaxed);
	/* Every ring holds the whole pool: a put waits at most for a preempted consumer. */
	ory_ring_put(s->req->aq->dispatch, s);
	rt->owed_chunks[s->req->aq->index]++;
}

/* Chunks queued for workers, completions for queues and synchronous callers: the wake-ups are
 * given together at the end of a turn. Given one by one, each woken thread could preempt this
 * one in the middle of its batch on a busy host (sim:8, 8 clients x 4 requests of 64 KiB:
 * 1,500-1,900 -> 1,800-2,180 MB/s), and a chunk's worker needs no wake-up sooner than the
 * turn's end. */
void ory_pay_wakes(struct ory_runtime *rt)
{
	for (unsigned a = 0; a < rt->napps; a++)
		if (rt->owed_chunks[a]) {
			ory_wake(rt, a, (int)rt->owed_chunks[a]);
			rt->owed_chunks[a] = 0;
		}
	ory_owed_pay(&rt->owed);
}

/* Hand every fully read chunk that is next in input order to the devices. */
static void dispatch_ready(struct req *r)
{
	struct ory_chunk_slot *s;
	while (!ory_abandoned(r) && (s = ory_reader_next(r)))
		ory_dispatch(r->rt, s);
}

/* Return s's buffer to the pool. Its request may be complete after this: whoever calls it must
 * end with ory_check_done(r) and not touch r after that (the record may be someone else's then). */
void ory_slot_put(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	struct req *r = s->req;
	if (r->cells[s->c.seq % rt->pool.count] == s)
		r->cells[s->c.seq % rt->pool.count] = NULL;
	if (s->express_home)
		ory_express_put(rt, s);
	else
		ory_pool_put(&rt->pool, s);
	r->held--;
	if (!r->feeding && !ory_abandoned(r) && ory_reader_wants(r))
		feed_push(rt, r);
}

void ory_slot_release(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	struct req *r = s->req;
	ory_slot_put(rt, s);
	ory_check_done(r);
}

/* Stop everything a failed or cancelled request still has going and release what no device and
 * no kernel holds: a buffer read and not dispatched, or finished and not yet written. The
 * others come back (reads and writes complete, devices answer) and are released then; the last
 * one completes the request. */
static void abandon(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	if (!ory_abandoned(r) && r->in_service) {
		atomic_store_explicit(&r->abandoned, true, memory_order_relaxed);
		ory_reader_cancel(r);
		if (r->writing)
			ory_aio_cancel(&rt->aio, r);
		for (unsigned i = 0; i < rt->pool.count; i++) {
			struct ory_chunk_slot *s = r->cells[i];
			if (!s)
				continue;
			int st = atomic_load_explicit(&s->state, memory_order_relaxed);
			bool being_written = r->writing && r->header_done && s->c.seq == r->next_write;
			if ((st == SLOT_READ || (st == SLOT_DONE && s->committable)) && !being_written)
				ory_slot_put(rt, s);
		}
	}
	ory_check_done(r);
}

/* Fail r with rc (the message is set unless a failure was recorded before). */
void ory_req_abort(struct req *r, int rc)
{
	ory_req_fail(r, ORY_ORIGIN_NONE, rc, "%s", ory_strerror(rc));
	abandon(r);
}

/* ---- request life ------------------------------------------------------------------------ */

static void active_remove(struct ory_runtime *rt, struct req *r)
{
	if (r->prev_active)
		r->prev_active->next_active = r->next_active;
	else
		rt->active = r->next_active;
	if (r->next_active)
		r->next_active->prev_active = r->prev_active;
	r->prev_active = r->next_active = NULL;
}

/* Complete r if nothing of it is left anywhere: no buffer held, no read or write in flight,
 * and either everything written or the request abandoned. */
void ory_check_done(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	if (!r->in_service || r->held || r->writing || r->reader.inflight)
		return;
	if (!ory_abandoned(r)) {
		if (!ory_reader_done(r) || r->next_commit < r->reader.eof_seq)
			return;
		/* Everything committed: the trailer (and the header again), then done. */
		if (!r->tail_known) {
			r->tail_known = true;
			r->tail = r->spec.trailer ? r->spec.trailer(r, &r->tail_len, &r->rehead,
								    &r->rehead_len)
						  : (const uint8_t *)"";
			if (!r->tail)
				return ory_req_abort(r, ory_req_fail(r, ORY_ORIGIN_NONE, -ENOMEM, "out of memory"));
			r->trailer_done = r->sink.fd < 0 && !r->sink.mem;
			r->rehead_done = !r->rehead;
		}
		if (r->sink.fd >= 0) {
			if (!r->header_done || !r->trailer_done || !r->rehead_done)
				return ory_sink_pump(r);
		} else if (r->sink.mem && !r->trailer_done) {
			int rc = r->header_done ? 0 : ory_sink_mem_header(r, r->reader.eof_seq); /* no chunks */
			if (rc == 0)
				rc = ory_sink_put(r, r->tail, r->tail_len);
			if (rc < 0)
				return ory_req_abort(r, rc);
			r->trailer_done = true;
			if (r->rehead) /* over the first header, of the same length */
				memcpy(r->sink.mem, r->rehead, r->rehead_len);
		}
		r->bytes_out += r->tail_len;
	}
	if (ory_req_cancelled(r))
		ory_req_fail(r, ORY_ORIGIN_NONE, -ECANCELED, "cancelled");
	/* Leave the output file's position after what we wrote, as write(2) would have. */
	if (r->sink.fd >= 0 && r->out_pos >= 0)
		lseek(r->sink.fd, r->out_pos, SEEK_SET);
	r->in_service = false;
	ory_reader_close(r);
	active_remove(rt, r);
	ory_req_deliver(r);
}

/* r joins the requests this thread holds, with nothing of it done yet, and opens its input. */
static int enter_service(struct ory_runtime *rt, struct req *r)
{
	r->bytes_in = r->chunks = r->retries = 0;
	r->bytes_out = r->spec.header_len;
	r->next_commit = r->next_write = 0;
	r->held = 0;
	r->writing = r->header_done = r->trailer_done = r->rehead_done = r->tail_known = false;
	r->write_off = r->tail_len = r->rehead_len = 0;
	r->tail = r->rehead = NULL;
	memset(r->cells, 0, rt->pool.count * sizeof(*r->cells));
	atomic_store_explicit(&r->abandoned, false, memory_order_relaxed);
	r->in_service = true;
	r->prev_active = NULL;
	r->next_active = rt->active;
	if (rt->active)
		rt->active->prev_active = r;
	rt->active = r;
	/* A file is written at offsets we keep: io_uring's "current position" (-1) is not
	 * advanced reliably between writes. Pipes and sockets have none. */
	r->out_pos = r->sink.fd >= 0 ? lseek(r->sink.fd, 0, SEEK_CUR) : -1;
	r->out_start = r->out_pos;
	return ory_reader_open(r);
}

/* As if this thread had read, dispatched and run s, the request's only chunk, and written the
 * header (express.c did): what follows (collect, the watchdog's rescue) is the usual path. */
void ory_adopt(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	struct req *r = s->req;
	atomic_fetch_sub_explicit(&rt->express_inflight, 1, memory_order_relaxed);
	enter_service(rt, r); /* memory: cannot fail */
	r->reader.next_seq = r->reader.next_out = r->reader.data_end = 1;
	r->cells[0] = s;
	r->held = 1;
	r->header_done = true;
	if (ory_req_cancelled(r) || atomic_load(&rt->closing))
		ory_req_abort(r, -ECANCELED);
}

/* A submitted request starts: its input is opened and it queues for buffers. */
static void activate(struct ory_runtime *rt, struct req *r)
{
	int rc = enter_service(rt, r);
	if (rc == 0 && r->sink.fd < 0 && ory_sink_header_known(r)) /* the input's size is known */
		rc = ory_sink_mem_header(r, r->reader.eof_seq);
	if (rc < 0 || ory_req_cancelled(r) || atomic_load(&rt->closing))
		return ory_req_abort(r, rc < 0 ? rc : -ECANCELED);
	feed_push(rt, r);
	ory_check_done(r); /* an empty input is done at once */
}

/* Give waiting requests buffers, round-robin, one at a time. */
static bool feed(struct ory_runtime *rt)
{
	bool moved = false;
	unsigned waiting = 0;
	for (struct req *r = rt->feed_head; r; r = r->next_feed)
		waiting++;
	unsigned usable = rt->pool.count - rt->nexpress - rt->spare - 1;
	unsigned share = waiting > 1 ? ORY_MAX(1u, usable / waiting) : usable;
	for (unsigned turns = 0; rt->pool.nfree > rt->spare && turns < 2 * waiting + 1; turns++) {
		struct req *r = feed_pop(rt);
		if (!r)
			break;
		if (ory_abandoned(r) || !ory_reader_wants(r))
			continue;
		/* The kept buffer, beyond its share, for a request whose first chunk waits (top). */
		bool first_waits = r->reader.next_seq == 1 && !ory_reader_count_known(&r->reader);
		if (!first_waits &&
		    (rt->pool.nfree <= rt->spare + 1 || (r->held >= share && waiting > 1))) {
			feed_push(rt, r);
			continue;
		}
		struct ory_chunk_slot *s = ory_pool_get(&rt->pool);
		s->req = r;
		s->c.app = r->spec.app;
		s->c.params = r->spec.params;
		s->c.out = s->out_area;
		s->c.out_cap = s->out_stride;
		s->direct_out = NULL;
		r->held++;
		bool copied = r->reader.fd >= 0 || r->reader.iov;
		size_t bound = r->spec.out_bound;
		/* A request of one chunk into memory: trusted devices write into the caller's
		 * buffer, after the header, leaving room for the trailer. */
		size_t room = r->spec.header_len + (r->spec.trailer ? TRAILER_ROOM : 0);
		if (r->sink.fd < 0 && r->sink.mem && !r->spec.emit && r->reader.eof_seq == 1 &&
		    r->sink.mem_cap >= room + bound) {
			s->direct_out = r->sink.mem + r->spec.header_len;
			s->direct_cap = r->sink.mem_cap - room;
		} else if (r->sink.fd < 0 && r->sink.mem && r->spec.place) {
			/* its place is known: the app checked that every chunk fits */
			size_t len;
			uint64_t at = r->spec.place(r, r->reader.next_seq, &len);
			s->direct_out = r->sink.mem + at;
			s->direct_cap = len;
		}
		/* Locked for what the chunk is expected to hold, and its output for as much
		 * (plus the bound's overhead); the rest of the buffer faults in if used. */
		size_t in = ory_reader_expected(r), chunk = r->reader.chunk_size;
		size_t out = in >= chunk ? bound
			     : bound > chunk ? in + (bound - chunk)
			     : (size_t)((double)bound * (double)in / (double)chunk) + 4096;
		ory_pool_prepare(rt, &rt->pool, s, copied ? in : 0, s->direct_out ? 0 : out);
		ory_reader_start(r, s);
		dispatch_ready(r);
		if (ory_reader_wants(r))
			feed_push(rt, r);
		moved = true;
	}
	return moved;
}

static bool in_pool(struct ory_runtime *rt, void *tag)
{
	uintptr_t p = (uintptr_t)tag, lo = (uintptr_t)rt->pool.slots;
	return p >= lo && p < lo + rt->pool.count * sizeof(*rt->pool.slots);
}

/* io_uring told us: a read into a slot, or a request's write. */
static void on_io(void *arg, void *tag, int res)
{
	struct ory_runtime *rt = arg;
	if (!in_pool(rt, tag))
		return ory_sink_write_done(tag, res);
	struct ory_chunk_slot *s = tag;
	struct req *r = s->req;
	ory_reader_complete(r, s, res);
	if (s->reading)
		return;
	if (r->error || ory_abandoned(r)) {
		/* its read is over: nothing else holds the buffer */
		ory_slot_put(rt, s);
		return ory_req_abort(r, r->error ? r->error : -ECANCELED);
	}
	if (s->c.seq >= r->reader.eof_seq) { /* read past the end: nothing in it */
		ory_slot_put(rt, s);
		dispatch_ready(r);
	} else {
		dispatch_ready(r);
		if (ory_reader_wants(r))
			feed_push(rt, r);
	}
	/* A header waiting for the input's length may go out now. */
	if (r->sink.fd >= 0)
		return ory_sink_pump(r);
	if (!r->header_done)
		return ory_sink_commit(r);
	ory_check_done(r);
}

static void collect(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	struct req *r = s->req;
	/* An express chunk that failed or was cancelled (a timed-out one was adopted already,
	 * and its late answer still comes back marked express: its worker may read the mark) */
	if (s->express && atomic_load_explicit(&s->state, memory_order_relaxed) != SLOT_TIMED_OUT) {
		s->express = false; /* a retry runs on the usual path */
		ory_adopt(rt, s);
	}
	int rc = ory_failover_collect(rt, s);
	if (rc == 2 || rc == 1) /* a late answer recycled, or queued again */
		return;
	if (rc < 0 || r->error)
		ory_req_abort(r, rc < 0 ? rc : r->error);
	if (ory_abandoned(r)) {
		ory_slot_release(rt, s);
		return;
	}
	ory_sink_commit(r);
}

static void take_cancels(struct ory_runtime *rt)
{
	struct req *r;
	while ((r = ory_ring_pop(rt->cancels)))
		if (r->in_service && ory_req_cancelled(r))
			ory_req_abort(r, -ECANCELED);
}

void *ory_service_main(void *arg)
{
	struct ory_runtime *rt = arg;
	bool closing = false;
	ory_owed = &rt->owed;
	for (;;) {
		bool moved = false;
		struct req *r;
		while ((r = ory_ring_pop(rt->submitted))) {
			activate(rt, r);
			moved = true;
		}
		take_cancels(rt);
		if (!closing && atomic_load_explicit(&rt->closing, memory_order_acquire)) {
			closing = true; /* destroy: every request still here ends now */
			for (struct req *a = rt->active, *next; a; a = next) {
				next = a->next_active;
				ory_req_abort(a, -ECANCELED);
			}
			/* and what devices hold comes back now, failed, rather than when done */
			for (unsigned i = 0; i < rt->ndevices; i++)
				if (rt->devices[i].ops->abort)
					rt->devices[i].ops->abort(rt->devices[i].dev);
		}
		moved |= feed(rt);
		struct ory_chunk_slot *s;
		while ((s = ory_ring_pop(rt->done))) {
			collect(rt, s);
			moved = true;
		}
		uint64_t deadline = ory_failover_watch(rt);
		ory_pay_wakes(rt);
		/* Express requests fail to this thread, until the last has completed. */
		if (closing && !rt->active && ory_ring_empty(rt->submitted) &&
		    !atomic_load(&rt->express_inflight))
			break;
		int rc;
		if (moved) {
			rc = ory_aio_run(&rt->aio, false, 0, on_io, rt);
		} else {
			ory_aio_will_sleep(&rt->aio);
			if (!ory_ring_empty(rt->submitted) || !ory_ring_empty(rt->done) ||
			    !ory_ring_empty(rt->cancels) ||
			    (!closing && atomic_load(&rt->closing)) ||
			    (closing && !atomic_load(&rt->express_inflight)) ||
			    (rt->watched && !atomic_load(&rt->express_watched) &&
			     atomic_load(&rt->express_inflight))) {
				ory_aio_wont_sleep(&rt->aio);
				continue;
			}
			rc = ory_aio_run(&rt->aio, true, deadline, on_io, rt);
		}
		if (rc < 0) /* the ring itself failed; say so rather than spin silently */
			ory_log(rt, ORY_LOG_WARN, "io_uring: %s", strerror(-rc));
	}
	return NULL;
}
