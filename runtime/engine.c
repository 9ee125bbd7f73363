/* SPDX-License-Identifier: MIT */
/*
 * engine.c - how one job runs.
 *
 * The input is cut into chunks of a fixed size (the last one may be short). Chunk boundaries
 * depend on the chunk size alone, and every chunk is transformed on its own (with at most the
 * 32 KiB of input before it as a dictionary), so the output is the same whichever device ran
 * which chunk and however many devices there were. This is pigz's scheme, with "threads"
 * replaced by devices.
 *
 * Threads. The calling thread runs the job's event loop: it starts reads (reader.c), hands
 * chunks that are fully read, in input order, to the dispatch ring, collects finished chunks
 * from the completion ring, and commits them in input order: it writes the header before the
 * first chunk, each chunk's output, and the trailer after the last. Each device has one worker
 * thread, pinned to the device's core or NUMA node, that pulls chunks from the dispatch ring
 * (a free device takes the next chunk, so a faster device takes more of them), runs them on
 * its device, and pushes them to the completion ring. Both rings are lock-free MPMC rings
 * (ring.h). An idle worker sleeps on an eventcount; the calling thread sleeps in io_uring,
 * where a read on an eventfd that workers write after each completion wakes it.
 *
 * Memory. All chunk buffers come from one pool sized at the start: each device's slots, the
 * reads in flight, and a spare buffer per chunk a watched device can hold (failover.c). A
 * buffer goes back to the pool only after its chunk's output has been written (committed), so
 * a chunk whose device failed still has its input and is simply queued again. The reorder
 * window is an array indexed by sequence number modulo the pool size: it cannot overflow,
 * because every chunk in it holds one of the pool's buffers. Nothing grows with the input.
 *
 * Failures (failover.c) and device threads (worker.c) have files of their own.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "job.h"

static void dispatch(struct job *j, struct ory_chunk_slot *s)
{
	atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_relaxed);
	memset(s->avoid, 0, sizeof(s->avoid));
	ory_ring_push(j->dispatch, s);
	ory_evcount_notify(&j->work, 1);
}

static void arm_eventfd(struct job *j)
{
	if (j->efd_armed)
		return;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&j->ring);
	if (!sqe) {
		io_uring_submit(&j->ring);
		sqe = io_uring_get_sqe(&j->ring);
	}
	io_uring_prep_read(sqe, j->efd, &j->efd_buf, sizeof(j->efd_buf), 0);
	io_uring_sqe_set_data(sqe, EVENTFD_TAG);
	j->efd_armed = true;
}

/* Write every finished chunk that is next in input order; returns how many, or an error. */
static int commit(struct job *j, struct ory_sink *sink, struct ory_job_stats *st)
{
	const struct ory_job_spec *spec = j->spec;
	for (int n = 0;; n++) {
		struct ory_chunk_slot **cell = &j->window[j->next_commit % j->pool.count];
		struct ory_chunk_slot *s = *cell;
		if (!s || s->c.seq != j->next_commit)
			return n;
		int rc = spec->emit ? spec->emit(spec->frame_arg, j->rt, sink, &s->c)
				    : ory_sink_write(j->rt, sink, s->c.out, s->c.out_len);
		if (rc < 0)
			return rc;
		if (spec->committed)
			spec->committed(spec->frame_arg, &s->c);
		struct ory_device *d = &j->rt->devices[s->device];
		d->chunks++;
		d->bytes_in += s->c.in_len;
		d->retries += s->tries > 0;
		st->chunks++;
		st->bytes_in += s->c.in_len;
		st->bytes_out += s->c.out_len;
		*cell = NULL;
		j->next_commit++;
		atomic_store_explicit(&s->state, SLOT_FREE, memory_order_relaxed);
		ory_pool_put(&j->pool, s);
		if (spec->progress)
			spec->progress(spec->progress_arg, st->bytes_in, st->bytes_out);
	}
}

/* Handle what io_uring finished: reads and the workers' doorbell. */
static void reap_cqes(struct job *j)
{
	struct io_uring_cqe *cqe;
	unsigned head, n = 0;

	io_uring_for_each_cqe(&j->ring, head, cqe) {
		void *data = io_uring_cqe_get_data(cqe);
		n++;
		if (data == EVENTFD_TAG)
			j->efd_armed = false;
		else if (data)
			ory_reader_complete(&j->reader, data, cqe->res);
	}
	io_uring_cq_advance(&j->ring, n);
}

/* A buffer for the reader, keeping the watchdog's spares back. */
static struct ory_chunk_slot *read_buffer(struct job *j)
{
	return j->pool.nfree > j->spare ? ory_pool_get(&j->pool) : NULL;
}

static int event_loop(struct job *j, struct ory_sink *sink, struct ory_job_stats *st)
{
	struct ory_reader *r = &j->reader;
	struct ory_chunk_slot *s;
	int rc;

	for (;;) {
		/* Sleep only after a round in which nothing moved: a commit frees buffers for reads,
		 * a memory source "reads" without any completion to wake us. */
		bool moved = false;
		while (ory_reader_wants(r) && (s = read_buffer(j))) {
			atomic_store_explicit(&s->state, SLOT_READING, memory_order_relaxed);
			ory_reader_start(r, s);
			moved = true;
		}
		while ((s = ory_reader_next(r))) {
			dispatch(j, s);
			moved = true;
		}
		if (r->error)
			return r->error;
		while ((s = ory_ring_pop(j->done))) {
			rc = ory_failover_collect(j, s);
			if (rc < 0)
				return rc;
			moved = true;
		}
		int committed = commit(j, sink, st);
		if (committed < 0)
			return committed;
		if (ory_reader_done(r) && j->next_commit == r->eof_seq)
			return 0;
		rc = 0;
		uint64_t deadline = ory_failover_watch(j, &rc);
		if (rc < 0)
			return rc;
		if (moved || committed > 0) {
			/* Pass queued reads to the kernel and take finished ones, without waiting. */
			io_uring_submit(&j->ring);
			reap_cqes(j);
			continue;
		}
		arm_eventfd(j);
		if (deadline == UINT64_MAX) {
			rc = io_uring_submit_and_wait(&j->ring, 1);
		} else {
			uint64_t now = ory_now_ns(), wait = deadline > now ? deadline - now : 0;
			struct __kernel_timespec ts = { .tv_sec = (long long)(wait / 1000000000u),
							.tv_nsec = (long long)(wait % 1000000000u) };
			struct io_uring_cqe *cqe;
			rc = io_uring_submit_and_wait_timeout(&j->ring, &cqe, 1, &ts, NULL);
			if (rc == -ETIME)
				rc = 0;
		}
		if (rc < 0 && rc != -EINTR)
			return ory_fail(j->rt, rc, "io_uring: %s", strerror(-rc));
		reap_cqes(j);
	}
}

static size_t pow2_at_least(size_t n)
{
	size_t p = 2;
	while (p < n)
		p <<= 1;
	return p;
}

static struct ory_ring *ring_new(size_t n)
{
	size_t cap = pow2_at_least(n);
	struct ory_ring *r = aligned_alloc(ORY_CACHELINE, (ory_ring_memsize(cap) + 63) & ~63ul);
	if (r)
		ory_ring_init(r, cap);
	return r;
}

static int start_workers(struct job *j)
{
	struct ory_runtime *rt = j->rt;
	unsigned n = rt->ndevices;

	for (unsigned i = 0; i < n; i++) {
		struct worker *w = &j->workers[i];
		w->job = j;
		w->d = &rt->devices[i];
		w->index = i;
		int rc = pthread_create(&w->thread, NULL, ory_worker_main, w);
		if (rc)
			return ory_fail(rt, -rc, "cannot start a worker thread: %s", strerror(rc));
		w->started = true;
	}
	/* Wait for every device's job_begin: with none able to run the app, nothing would ever
	 * take a chunk. */
	for (;;) {
		uint32_t key = ory_evcount_prepare(&j->started);
		if (atomic_load_explicit(&j->begun, memory_order_acquire) == n) {
			ory_evcount_cancel(&j->started);
			break;
		}
		ory_evcount_wait(&j->started, key);
	}
	if (atomic_load_explicit(&j->active, memory_order_relaxed) == 0)
		return ory_fail(rt, -ENODEV, "no device can run %s", j->spec->app->name);
	j->reserves = atomic_load_explicit(&j->active, memory_order_relaxed) -
		      atomic_load_explicit(&j->healthy, memory_order_relaxed);
	if (atomic_load_explicit(&j->healthy, memory_order_relaxed) == 0)
		ory_evcount_notify(&j->fallback, INT_MAX); /* only reserves could start */
	return 0;
}

static void stop_workers(struct job *j)
{
	struct ory_runtime *rt = j->rt;
	atomic_store_explicit(&j->stop, true, memory_order_release);
	ory_evcount_notify(&j->work, INT_MAX);
	ory_evcount_notify(&j->fallback, INT_MAX);
	/* Whatever a device still holds now belongs to a finished (or failed) job; a hung one
	 * would never let its worker return. */
	for (unsigned i = 0; i < rt->ndevices; i++)
		if (rt->devices[i].ops->abort)
			rt->devices[i].ops->abort(rt->devices[i].dev);
	for (unsigned i = 0; i < rt->ndevices; i++)
		if (j->workers[i].started)
			pthread_join(j->workers[i].thread, NULL);
}

static int job_setup(struct job *j, const struct ory_source *src)
{
	struct ory_runtime *rt = j->rt;
	unsigned inflight = 0;
	for (unsigned i = 0; i < rt->ndevices; i++) {
		struct ory_device *d = &rt->devices[i];
		enum ory_verify v = rt->opts.verify;
		d->verify = j->spec->app->verify &&
			    (v == ORY_VERIFY_ALL || (v == ORY_VERIFY_AUTO && !d->ops->trusted));
		if (d->reserve)
			inflight += d->inflight_max;
		else
			inflight += ORY_MAX(d->inflight_max, rt->opts.slots);
		if (!d->ops->trusted) {
			j->watched++;
			j->spare += d->inflight_max;
		}
	}
	unsigned count = inflight + rt->opts.read_depth + j->spare;

	int rc = ory_pool_create(rt, &j->pool, count, src->fd >= 0 ? j->desc.chunk_size : 0,
				 j->spec->out_bound);
	if (rc < 0)
		return ory_fail(rt, rc, "cannot allocate %u chunk buffers", count);
	j->dispatch = ring_new(count);
	j->retry = ring_new(count);
	j->last = ring_new(count);
	j->done = ring_new(count);
	j->window = calloc(count, sizeof(*j->window));
	j->workers = calloc(rt->ndevices, sizeof(*j->workers));
	if (!j->dispatch || !j->retry || !j->last || !j->done || !j->window || !j->workers)
		return ory_fail(rt, -ENOMEM, "out of memory");
	ory_evcount_init(&j->work);
	ory_evcount_init(&j->fallback);
	ory_evcount_init(&j->started);

	j->efd = eventfd(0, EFD_CLOEXEC);
	if (j->efd < 0)
		return ory_fail(rt, -errno, "eventfd: %s", strerror(errno));
	rc = io_uring_queue_init(2 * rt->opts.read_depth + 8, &j->ring, 0);
	if (rc < 0)
		return ory_fail(rt, rc, "io_uring: %s", strerror(-rc));
	j->ring_ok = true;
	return ory_reader_init(&j->reader, rt, &j->ring, &j->pool, src, j->desc.chunk_size,
			       j->spec->dict_size);
}

static void job_teardown(struct job *j)
{
	if (j->ring_ok) {
		ory_reader_cancel(&j->reader);
		ory_reader_fini(&j->reader);
		io_uring_queue_exit(&j->ring);
	}
	if (j->efd >= 0)
		close(j->efd);
	free(j->dispatch);
	free(j->retry);
	free(j->last);
	free(j->done);
	free(j->window);
	free(j->workers);
	ory_pool_destroy(&j->pool);
}

int ory_engine_run(struct ory_runtime *rt, const struct ory_job_spec *spec,
		   const struct ory_source *src, struct ory_sink *sink, struct ory_job_stats *stats)
{
	struct ory_job_stats st;
	memset(&st, 0, sizeof(st));
	uint64_t t0 = ory_now_ns();

	for (unsigned i = 0; i < rt->ndevices; i++) {
		struct ory_device *d = &rt->devices[i];
		d->chunks = d->bytes_in = d->failures = d->retries = d->timeouts = d->busy_ns = 0;
		d->consecutive_failures = 0;
		d->active = d->hung = false;
		atomic_store(&d->quarantined, false);
		atomic_store(&d->mean_ns, 0);
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return ory_fail(rt, -ENOMEM, "out of memory");
	j->rt = rt;
	j->spec = spec;
	j->efd = -1;
	j->desc.app = spec->app;
	j->desc.params = spec->params;
	j->desc.chunk_size = spec->chunk_size ? spec->chunk_size : rt->opts.chunk_size;

	int rc = job_setup(j, src);
	if (rc == 0)
		rc = start_workers(j);
	if (rc == 0)
		rc = ory_sink_write(rt, sink, spec->header, spec->header_len);
	if (rc == 0) {
		st.bytes_out = spec->header_len;
		rc = event_loop(j, sink, &st);
	}
	if (rc == 0 && spec->trailer) {
		uint8_t tr[64];
		size_t n = spec->trailer(spec->frame_arg, tr, sizeof(tr));
		rc = ory_sink_write(rt, sink, tr, n);
		st.bytes_out += n;
	}
	if (j->workers)
		stop_workers(j);
	st.retries = j->retries;
	st.pool_bytes = ory_pool_bytes(&j->pool);
	job_teardown(j);
	free(j);

	st.seconds = (double)(ory_now_ns() - t0) * 1e-9;
	if (stats) {
		size_t n = ORY_MIN(stats->struct_size, sizeof(st));
		st.struct_size = n;
		memcpy(stats, &st, n);
	}
	return rc;
}
