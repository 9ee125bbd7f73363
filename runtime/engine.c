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
 * Memory. All chunk buffers come from one pool sized at the start: each device's slots plus
 * the reads in flight. A buffer goes back to the pool only after its chunk's output has been
 * written (committed), so a chunk whose device failed still has its input and is simply
 * queued again, for any device, up to max_tries times. The reorder window is an array indexed
 * by sequence number modulo the pool size: it cannot overflow, because every chunk in it holds
 * one of the pool's buffers. Nothing grows with the input.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "reader.h"
#include "ring.h"

#define EVENTFD_TAG ((void *)1)

struct worker {
	struct job *job;
	struct ory_device *d;
	unsigned index;
	pthread_t thread;
	bool started;
};

struct job {
	struct ory_runtime *rt;
	const struct ory_job_spec *spec;
	struct ory_job_desc desc;
	struct ory_pool pool;
	struct ory_ring *dispatch;  /* filled chunks, in input order, to any device */
	struct ory_ring *done;      /* finished (or failed) chunks, in any order */
	struct ory_evcount work;    /* workers sleep here while `dispatch` is empty */
	_Atomic bool stop;          /* set once, after which workers drain and exit */
	struct ory_evcount started; /* the calling thread waits here for workers' job_begin */
	_Atomic unsigned begun, active;
	int efd;                    /* workers -> calling thread: "something finished" */
	uint64_t efd_buf;
	bool efd_armed;
	struct io_uring ring;
	bool ring_ok;
	struct ory_reader reader;
	struct ory_chunk_slot **window; /* finished chunks by seq % pool count */
	uint64_t next_commit;
	struct worker *workers;
	int error;
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- worker side -------------------------------------------------------------------------- */

/* Next chunk to run; when `block`, sleeps until there is one. NULL once the job stops: what
 * is still queued then belongs to a job that has already failed. */
static struct ory_chunk_slot *take_work(struct job *j, bool block)
{
	for (;;) {
		if (atomic_load_explicit(&j->stop, memory_order_acquire))
			return NULL;
		struct ory_chunk_slot *s = ory_ring_pop(j->dispatch);
		if (s || !block)
			return s;
		uint32_t key = ory_evcount_prepare(&j->work);
		s = ory_ring_pop(j->dispatch);
		if (s || atomic_load_explicit(&j->stop, memory_order_acquire)) {
			ory_evcount_cancel(&j->work);
			return s;
		}
		ory_evcount_wait(&j->work, key);
	}
}

static void finish(struct job *j, struct ory_chunk_slot *s)
{
	/* Never fails: the ring holds every chunk of the pool. */
	ory_ring_push(j->done, s);
	uint64_t one = 1;
	/* The calling thread re-reads the ring after every wakeup, so a lost write (EAGAIN at
	 * counter overflow) cannot lose a chunk. */
	ssize_t n = write(j->efd, &one, sizeof(one));
	(void)n;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct job *j = w->job;
	struct ory_device *d = w->d;

	if (hwloc_set_cpubind(j->rt->topo.topo, d->cpuset, HWLOC_CPUBIND_THREAD) < 0)
		ory_log(j->rt, ORY_LOG_DEBUG, "%s: cannot bind worker thread", d->desc.name);
	int rc = d->ops->job_begin(d->dev, &j->desc);
	if (rc == 0)
		atomic_fetch_add_explicit(&j->active, 1, memory_order_relaxed);
	else
		ory_log(j->rt, rc == -ENOTSUP ? ORY_LOG_INFO : ORY_LOG_WARN,
			"%s sits this job out: %s", d->desc.name, ory_strerror(rc));
	/* release: `active` is complete before the calling thread sees `begun` move. */
	atomic_fetch_add_explicit(&j->begun, 1, memory_order_release);
	ory_evcount_notify(&j->started, INT_MAX);
	if (rc < 0)
		return NULL;

	unsigned inflight = 0;
	uint64_t busy_since = 0;
	for (;;) {
		struct ory_chunk_slot *s = NULL;
		if (inflight < d->inflight_max)
			s = take_work(j, inflight == 0);
		if (s) {
			s->device = (int)w->index;
			s->c.status = 0;
			s->c.out_len = 0;
			if (inflight == 0)
				busy_since = now_ns();
			rc = d->ops->submit(d->dev, &s->c);
			if (rc < 0) {
				s->c.status = rc;
				finish(j, s);
			} else {
				inflight++;
			}
			if (inflight == 0)
				d->busy_ns += now_ns() - busy_since;
			continue;
		}
		if (inflight == 0)
			break; /* stopped */
		struct ory_chunk *c = d->ops->reap(d->dev);
		if (--inflight == 0)
			d->busy_ns += now_ns() - busy_since;
		finish(j, ory_container_of(c, struct ory_chunk_slot, c));
	}
	d->ops->job_end(d->dev);
	return NULL;
}

/* ---- calling-thread side ------------------------------------------------------------------ */

static void dispatch(struct job *j, struct ory_chunk_slot *s)
{
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

/* A chunk came back from a device: file it in the window, or give it another try. */
static int collect(struct job *j, struct ory_chunk_slot *s)
{
	struct ory_runtime *rt = j->rt;
	struct ory_device *d = &rt->devices[s->device];

	if (s->c.status == 0 && s->c.out_len > s->c.out_cap)
		s->c.status = -EOVERFLOW; /* a device wrote past its buffer: do not trust it */
	if (s->c.status == 0) {
		j->window[s->c.seq % j->pool.count] = s;
		return 0;
	}
	d->failures++;
	if (++s->tries >= rt->opts.max_tries)
		return ory_fail_at(rt, ORY_ORIGIN_DEVICE, s->c.status, "chunk %llu failed %u times, last on %s: %s",
				(unsigned long long)s->c.seq, s->tries, d->desc.name,
				ory_strerror(s->c.status));
	ory_log(rt, ORY_LOG_INFO, "chunk %llu failed on %s (%s); trying again",
		(unsigned long long)s->c.seq, d->desc.name, ory_strerror(s->c.status));
	dispatch(j, s);
	return 1; /* a retry */
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
		int rc = ory_sink_write(j->rt, sink, s->c.out, s->c.out_len);
		if (rc < 0)
			return rc;
		if (spec->committed)
			spec->committed(spec->frame_arg, &s->c);
		struct ory_device *d = &j->rt->devices[s->device];
		d->chunks++;
		d->bytes_in += s->c.in_len;
		st->chunks++;
		st->bytes_in += s->c.in_len;
		st->bytes_out += s->c.out_len;
		*cell = NULL;
		j->next_commit++;
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

static int event_loop(struct job *j, struct ory_sink *sink, struct ory_job_stats *st)
{
	struct ory_reader *r = &j->reader;
	struct ory_chunk_slot *s;
	int rc;

	for (;;) {
		/* Sleep only after a round in which nothing moved: a commit frees buffers for reads,
		 * a memory source "reads" without any completion to wake us. */
		bool moved = false;
		while (ory_reader_wants(r) && (s = ory_pool_get(&j->pool))) {
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
			rc = collect(j, s);
			if (rc < 0)
				return rc;
			st->retries += (uint64_t)rc;
			moved = true;
		}
		rc = commit(j, sink, st);
		if (rc < 0)
			return rc;
		if (ory_reader_done(r) && j->next_commit == r->eof_seq)
			return 0;
		if (moved || rc > 0) {
			/* Pass queued reads to the kernel and take finished ones, without waiting. */
			io_uring_submit(&j->ring);
			reap_cqes(j);
			continue;
		}
		arm_eventfd(j);
		rc = io_uring_submit_and_wait(&j->ring, 1);
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
		int rc = pthread_create(&w->thread, NULL, worker_main, w);
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
	return 0;
}

static void stop_workers(struct job *j)
{
	atomic_store_explicit(&j->stop, true, memory_order_release);
	ory_evcount_notify(&j->work, INT_MAX);
	for (unsigned i = 0; i < j->rt->ndevices; i++)
		if (j->workers[i].started)
			pthread_join(j->workers[i].thread, NULL);
}

static int job_setup(struct job *j, const struct ory_source *src)
{
	struct ory_runtime *rt = j->rt;
	unsigned inflight = 0;
	for (unsigned i = 0; i < rt->ndevices; i++)
		inflight += ORY_MAX(rt->devices[i].inflight_max, rt->opts.slots);
	unsigned count = inflight + rt->opts.read_depth;

	int rc = ory_pool_create(rt, &j->pool, count, src->fd >= 0 ? rt->opts.chunk_size : 0,
				 j->spec->out_bound);
	if (rc < 0)
		return ory_fail(rt, rc, "cannot allocate %u chunk buffers", count);
	j->dispatch = ring_new(count);
	j->done = ring_new(count);
	j->window = calloc(count, sizeof(*j->window));
	j->workers = calloc(rt->ndevices, sizeof(*j->workers));
	if (!j->dispatch || !j->done || !j->window || !j->workers)
		return ory_fail(rt, -ENOMEM, "out of memory");
	ory_evcount_init(&j->work);
	ory_evcount_init(&j->started);

	j->efd = eventfd(0, EFD_CLOEXEC);
	if (j->efd < 0)
		return ory_fail(rt, -errno, "eventfd: %s", strerror(errno));
	rc = io_uring_queue_init(2 * rt->opts.read_depth + 8, &j->ring, 0);
	if (rc < 0)
		return ory_fail(rt, rc, "io_uring: %s", strerror(-rc));
	j->ring_ok = true;
	return ory_reader_init(&j->reader, rt, &j->ring, &j->pool, src, j->spec->dict_size);
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
	uint64_t t0 = now_ns();

	for (unsigned i = 0; i < rt->ndevices; i++) {
		struct ory_device *d = &rt->devices[i];
		d->chunks = d->bytes_in = d->failures = d->busy_ns = 0;
	}
	struct job *j = calloc(1, sizeof(*j));
	if (!j)
		return ory_fail(rt, -ENOMEM, "out of memory");
	j->rt = rt;
	j->spec = spec;
	j->efd = -1;
	j->desc.app = spec->app;
	j->desc.params = spec->params;
	j->desc.chunk_size = rt->opts.chunk_size;

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
	st.pool_bytes = ory_pool_bytes(&j->pool);
	job_teardown(j);
	free(j);

	st.seconds = (double)(now_ns() - t0) * 1e-9;
	if (stats) {
		size_t n = ORY_MIN(stats->struct_size, sizeof(st));
		st.struct_size = n;
		memcpy(stats, &st, n);
	}
	return rc;
}
