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
 * file. Then the request completes (request.c). The thread sleeps in io_uring_enter; read and
 * write completions, and a doorbell eventfd that submitters and workers write only when it said
 * it would sleep (aio.h), wake it.
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

#include "rt.h"

#define TRAILER_ROOM 16 /* the longest trailer a direct output must leave room for */

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

static bool abandoned(const struct req *r)
{
	return atomic_load_explicit(&r->abandoned, memory_order_relaxed);
}

void ory_dispatch(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_relaxed);
	/* Every ring holds the whole pool: a put waits at most for a preempted consumer. */
	ory_ring_put(s->req->aq->dispatch, s);
	ory_wake(rt, s->req->aq->index, 1);
}

/* Hand every fully read chunk that is next in input order to the devices. */
static void dispatch_ready(struct req *r)
{
	struct ory_chunk_slot *s;
	while (!abandoned(r) && (s = ory_reader_next(r)))
		ory_dispatch(r->rt, s);
}

static void check_done(struct req *r);

/* Return s's buffer to the pool. Its request may be complete after this: whoever calls it must
 * end with check_done(r) and not touch r after that (the record may be someone else's then). */
static void slot_put(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	struct req *r = s->req;
	if (r->cells[s->c.seq % rt->pool.count] == s)
		r->cells[s->c.seq % rt->pool.count] = NULL;
	ory_pool_put(&rt->pool, s);
	r->held--;
	if (!r->feeding && !abandoned(r) && ory_reader_wants(r))
		feed_push(rt, r);
}

void ory_slot_release(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	struct req *r = s->req;
	slot_put(rt, s);
	check_done(r);
}

/* Stop everything a failed or cancelled request still has going and release what no device and
 * no kernel holds: a buffer read and not dispatched, or finished and not yet written. The
 * others come back (reads and writes complete, devices answer) and are released then; the last
 * one completes the request. */
static void abandon(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	if (!abandoned(r) && r->in_service) {
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
				slot_put(rt, s);
		}
	}
	check_done(r);
}

/* Fail r with rc (the message is set unless a failure was recorded before). */
static void fail(struct req *r, int rc)
{
	ory_req_fail(r, ORY_ORIGIN_NONE, rc, "%s", ory_strerror(rc));
	abandon(r);
}

/* ---- output ------------------------------------------------------------------------------ */

static int mem_put(struct req *r, const uint8_t *data, size_t len)
{
	struct ory_sink *k = &r->sink;
	if (data == k->mem + k->mem_len) { /* written in place by the device */
		k->mem_len += len;
		return 0;
	}
	if (len > k->mem_cap - k->mem_len)
		return ory_req_fail(r, ORY_ORIGIN_OUTPUT, -ENOSPC, "output buffer too small");
	if (len)
		memcpy(k->mem + k->mem_len, data, len);
	k->mem_len += len;
	return 0;
}

/* The header depends on whether there is more than one chunk: it waits until the input says
 * (a pipe of exactly one chunk ends only with the next read), so that the bytes never depend
 * on timing. */
static bool header_known(const struct req *r)
{
	return !r->spec.before_header || ory_reader_count_known(&r->reader);
}

static void header_fix(struct req *r)
{
	if (!r->spec.before_header)
		return;
	size_t was = r->spec.header_len;
	r->spec.before_header(r, r->reader.eof_seq);
	r->spec.before_header = NULL;
	r->bytes_out = r->bytes_out - was + r->spec.header_len;
}

/* A memory sink (or none) takes the header once it is known. */
static int mem_header(struct req *r)
{
	header_fix(r);
	r->header_done = true;
	return r->sink.mem ? mem_put(r, r->spec.header, r->spec.header_len) : 0;
}

/* The next piece an fd sink must write: header, committed chunks in order, trailer, and last
 * the header again when the app asks for it (it holds the index). *off: where it goes (-1: a
 * pipe's position). */
static bool next_piece(struct req *r, const uint8_t **data, size_t *len, int64_t *off)
{
	*off = r->out_pos < 0 ? -1 : r->out_pos;
	if (!r->header_done && r->write_off == 0) {
		if (!header_known(r))
			return false;
		header_fix(r);
	}
	if (!r->header_done) {
		*data = r->spec.header;
		*len = r->spec.header_len;
		r->piece = PIECE_HEADER;
		return true;
	}
	if (r->next_write < r->next_commit) {
		struct ory_chunk_slot *s = r->cells[r->next_write % r->rt->pool.count];
		*data = s->c.out;
		*len = s->c.out_len;
		r->piece = PIECE_CHUNK;
		return true;
	}
	if (!r->tail_known)
		return false;
	if (!r->trailer_done) {
		*data = r->tail;
		*len = r->tail_len;
		r->piece = PIECE_TRAILER;
		return true;
	}
	if (r->rehead && !r->rehead_done && r->out_start >= 0) {
		*data = r->rehead;
		*len = r->rehead_len;
		*off = r->out_start + (int64_t)r->write_off;
		r->piece = PIECE_REHEAD;
		return true;
	}
	return false;
}

static void pump_writes(struct req *r)
{
	const uint8_t *data;
	size_t len;
	int64_t off;
	while (!r->writing && !abandoned(r) && next_piece(r, &data, &len, &off)) {
		if (r->write_off < len) {
			size_t n = ORY_MIN(len - r->write_off, (size_t)1 << 30);
			ory_aio_write(&r->rt->aio, r->sink.fd, data + r->write_off, (unsigned)n, off, r);
			r->writing = true;
			return;
		}
		/* the piece is out (or empty) */
		r->write_off = 0;
		switch (r->piece) {
		case PIECE_HEADER:
			r->header_done = true;
			break;
		case PIECE_CHUNK: {
			struct ory_chunk_slot *s = r->cells[r->next_write % r->rt->pool.count];
			r->next_write++;
			slot_put(r->rt, s);
			break;
		}
		case PIECE_TRAILER:
			r->trailer_done = true;
			break;
		case PIECE_REHEAD:
			r->rehead_done = true;
			break;
		}
	}
	check_done(r);
}

static void write_done(struct req *r, int res)
{
	r->writing = false;
	if (res < 0) {
		int e = -res;
		/* Keep the errno the caller can act on (ENOSPC, EPIPE); the rest is I/O. */
		int rc = (e == ENOSPC || e == EPIPE || e == EDQUOT || e == EFBIG || e == EBADF)
				 ? -e
				 : -EIO;
		if (e != ECANCELED)
			ory_req_fail(r, ORY_ORIGIN_OUTPUT, rc, "write error: %s", strerror(e));
		fail(r, e == ECANCELED ? -ECANCELED : rc);
	} else if (res == 0) {
		fail(r, ory_req_fail(r, ORY_ORIGIN_OUTPUT, -EIO,
				     "write error: device accepts no more data"));
	} else {
		r->write_off += (size_t)res;
		if (r->out_pos >= 0 && r->piece != PIECE_REHEAD)
			r->out_pos += res;
	}
	/* The piece being written when the request failed is no longer held by the kernel. */
	if (abandoned(r)) {
		struct ory_chunk_slot *s = r->cells[r->next_write % r->rt->pool.count];
		if (r->piece == PIECE_CHUNK && s && s->c.seq == r->next_write &&
		    r->next_write < r->next_commit)
			slot_put(r->rt, s);
		check_done(r);
		return;
	}
	pump_writes(r);
}

/* Write every finished chunk that is next in input order. */
static void commit(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	const struct ory_job_spec *spec = &r->spec;
	while (!abandoned(r)) {
		struct ory_chunk_slot *s = r->cells[r->next_commit % rt->pool.count];
		if (!s || s->c.seq != r->next_commit || !s->committable)
			break;
		if (r->sink.fd < 0 && !r->header_done) {
			int rc = header_known(r) ? mem_header(r) : 0;
			if (rc < 0)
				return fail(r, rc);
			if (!r->header_done)
				break; /* on_io commits when the input says */
		}
		struct ory_chunk *c = &s->c;
		const uint8_t *data = c->out;
		size_t len = c->out_len;
		int rc = spec->emit ? spec->emit(r, c, &data, &len) : 0;
		if (rc == 0 && r->sink.fd < 0 && r->sink.mem)
			rc = mem_put(r, data, len);
		if (rc < 0)
			return fail(r, rc);
		/* An fd sink writes from the chunk: keep what emit chose there. */
		c->out = (uint8_t *)data;
		c->out_len = len;
		if (spec->committed && (rc = spec->committed(r, c)) < 0)
			return fail(r, rc);
		struct ory_device *d = &rt->devices[s->device];
		atomic_fetch_add_explicit(&d->chunks, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->bytes_in, c->in_len, memory_order_relaxed);
		if (s->tries)
			atomic_fetch_add_explicit(&d->retries, 1, memory_order_relaxed);
		r->chunks++;
		r->bytes_in += c->in_len;
		r->bytes_out += len;
		__atomic_store_n(&r->pub->bytes_in, r->bytes_in, __ATOMIC_RELAXED);
		__atomic_store_n(&r->pub->bytes_out, r->bytes_out, __ATOMIC_RELAXED);
		r->next_commit++;
		if (r->sink.fd < 0) {
			r->next_write = r->next_commit;
			slot_put(rt, s);
		}
	}
	if (r->sink.fd >= 0)
		pump_writes(r);
	else
		check_done(r);
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
static void check_done(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	if (!r->in_service || r->held || r->writing || r->reader.inflight)
		return;
	if (!abandoned(r)) {
		if (!ory_reader_done(r) || r->next_commit < r->reader.eof_seq)
			return;
		/* Everything committed: the trailer (and the header again), then done. */
		if (!r->tail_known) {
			r->tail_known = true;
			r->tail = r->spec.trailer ? r->spec.trailer(r, &r->tail_len, &r->rehead,
								    &r->rehead_len)
						  : (const uint8_t *)"";
			if (!r->tail)
				return fail(r, ory_req_fail(r, ORY_ORIGIN_NONE, -ENOMEM, "out of memory"));
			r->trailer_done = r->sink.fd < 0 && !r->sink.mem;
			r->rehead_done = !r->rehead;
		}
		if (r->sink.fd >= 0) {
			if (!r->header_done || !r->trailer_done || !r->rehead_done)
				return pump_writes(r);
		} else if (r->sink.mem && !r->trailer_done) {
			int rc = r->header_done ? 0 : mem_header(r); /* no chunks */
			if (rc == 0)
				rc = mem_put(r, r->tail, r->tail_len);
			if (rc < 0)
				return fail(r, rc);
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
	struct ory_request *pub = r->pub;
	pub->bytes_in = r->bytes_in;
	pub->bytes_out = r->bytes_out;
	pub->chunks = r->chunks;
	pub->retries = r->retries;
	if (r->spec.finish)
		r->spec.finish(r);
	ory_reader_close(r);
	active_remove(rt, r);
	ory_req_complete(r);
}

/* A submitted request starts: its input is opened and it queues for buffers. */
static void activate(struct ory_runtime *rt, struct req *r)
{
	r->t0 = ory_now_ns();
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

	int rc = ory_reader_open(r);
	/* A file is written at offsets we keep: io_uring's "current position" (-1) is not
	 * advanced reliably between writes. Pipes and sockets have none. */
	r->out_pos = r->sink.fd >= 0 ? lseek(r->sink.fd, 0, SEEK_CUR) : -1;
	r->out_start = r->out_pos;
	if (rc == 0 && r->sink.fd < 0 && header_known(r)) /* the input's size is known */
		rc = mem_header(r);
	if (rc < 0 || ory_req_cancelled(r) || atomic_load(&rt->closing))
		return fail(r, rc < 0 ? rc : -ECANCELED);
	feed_push(rt, r);
	check_done(r); /* an empty input is done at once */
}

/* Give waiting requests buffers, round-robin, one at a time. */
static bool feed(struct ory_runtime *rt)
{
	bool moved = false;
	unsigned waiting = 0;
	for (struct req *r = rt->feed_head; r; r = r->next_feed)
		waiting++;
	unsigned usable = rt->pool.count - rt->spare - 1;
	unsigned share = waiting > 1 ? ORY_MAX(1u, usable / waiting) : usable;
	for (unsigned turns = 0; rt->pool.nfree > rt->spare && turns < 2 * waiting + 1; turns++) {
		struct req *r = feed_pop(rt);
		if (!r)
			break;
		if (abandoned(r) || !ory_reader_wants(r))
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
		ory_pool_prepare(rt, &rt->pool, s, copied ? r->reader.chunk_size : 0,
				 s->direct_out ? 0 : bound);
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
		return write_done(tag, res);
	struct ory_chunk_slot *s = tag;
	struct req *r = s->req;
	ory_reader_complete(r, s, res);
	if (s->reading)
		return;
	if (r->error || abandoned(r)) {
		/* its read is over: nothing else holds the buffer */
		slot_put(rt, s);
		return fail(r, r->error ? r->error : -ECANCELED);
	}
	if (s->c.seq >= r->reader.eof_seq) { /* read past the end: nothing in it */
		slot_put(rt, s);
		dispatch_ready(r);
	} else {
		dispatch_ready(r);
		if (ory_reader_wants(r))
			feed_push(rt, r);
	}
	/* A header waiting for the input's length may go out now. */
	if (r->sink.fd >= 0)
		return pump_writes(r);
	if (!r->header_done)
		return commit(r);
	check_done(r);
}

static void collect(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	struct req *r = s->req;
	int rc = ory_failover_collect(rt, s);
	if (rc == 2 || rc == 1) /* a late answer recycled, or queued again */
		return;
	if (rc < 0 || r->error)
		fail(r, rc < 0 ? rc : r->error);
	if (abandoned(r)) {
		ory_slot_release(rt, s);
		return;
	}
	commit(r);
}

static void take_cancels(struct ory_runtime *rt)
{
	struct req *r;
	while ((r = ory_ring_pop(rt->cancels)))
		if (r->in_service && ory_req_cancelled(r))
			fail(r, -ECANCELED);
}

void *ory_service_main(void *arg)
{
	struct ory_runtime *rt = arg;
	bool closing = false;
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
				fail(a, -ECANCELED);
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
		if (closing && !rt->active && ory_ring_empty(rt->submitted))
			break;
		int rc;
		if (moved) {
			rc = ory_aio_run(&rt->aio, false, 0, on_io, rt);
		} else {
			ory_aio_will_sleep(&rt->aio);
			if (!ory_ring_empty(rt->submitted) || !ory_ring_empty(rt->done) ||
			    !ory_ring_empty(rt->cancels) ||
			    (!closing && atomic_load(&rt->closing))) {
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
