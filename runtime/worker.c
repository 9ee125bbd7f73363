/* SPDX-License-Identifier: MIT */
/*
 * worker.c - the thread of one device during a job: pinned to the device's core or NUMA node,
 * it pulls chunks (retries first, then new ones), keeps up to inflight_max on the device,
 * checks each returned chunk when the job verifies this device, and hands it back.
 *
 * A retry prefers a device that has not failed that chunk: a worker that finds such a chunk
 * puts it back if it has anything else to do, and runs it only rather than idle. A reserve
 * (fallback) worker runs only chunks that failed max_tries times elsewhere, until no other
 * device is healthy; then everything. A quarantined worker stops taking chunks and passes on
 * the wakeup it may have consumed.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "job.h"

uint64_t ory_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool avoids(const struct ory_chunk_slot *s, unsigned dev)
{
	return s->avoid[dev / 64] >> (dev % 64) & 1;
}

static bool should_stop(struct worker *w)
{
	return atomic_load_explicit(&w->job->stop, memory_order_acquire) ||
	       atomic_load_explicit(&w->d->quarantined, memory_order_acquire);
}

/* A reserve worker may take chunks only once no other device is healthy. */
static bool may_work(struct worker *w)
{
	return !w->d->reserve ||
	       atomic_load_explicit(&w->job->healthy, memory_order_acquire) == 0;
}

static struct ory_chunk_slot *try_take(struct worker *w)
{
	struct job *j = w->job;
	if (w->d->reserve) {
		struct ory_chunk_slot *s = ory_ring_pop(j->last);
		if (s || !may_work(w))
			return s;
	}
	struct ory_chunk_slot *s = ory_ring_pop(j->retry);
	if (s && avoids(s, w->index) &&
	    atomic_load_explicit(&j->healthy, memory_order_relaxed) > 1) {
		struct ory_chunk_slot *other = ory_ring_pop(j->dispatch);
		if (other) {
			ory_ring_push(j->retry, s);
			ory_evcount_notify(&j->work, 1);
			return other;
		}
	}
	return s ? s : ory_ring_pop(j->dispatch);
}

/* Next chunk to run; when `block`, sleeps until there is one. NULL once the job stops or the
 * device is quarantined. */
static struct ory_chunk_slot *take_work(struct worker *w, bool block)
{
	struct job *j = w->job;
	for (;;) {
		if (should_stop(w))
			return NULL;
		struct ory_chunk_slot *s = try_take(w);
		if (s || !block)
			return s;
		/* A reserve worker waits for its turn (or a last-resort chunk), then for chunks like
		 * everyone else (once no other device is healthy, none becomes healthy again). */
		struct ory_evcount *ev = may_work(w) ? &j->work : &j->fallback;
		uint32_t key = ory_evcount_prepare(ev);
		if (ev == &j->fallback && may_work(w)) {
			ory_evcount_cancel(ev);
			continue;
		}
		s = try_take(w);
		if (s || should_stop(w)) {
			ory_evcount_cancel(ev);
			if (!s && atomic_load(&w->d->quarantined))
				ory_evcount_notify(&j->work, 1); /* pass on a wakeup meant for others */
			return s;
		}
		ory_evcount_wait(ev, key);
	}
}

static void finish(struct worker *w, struct ory_chunk_slot *s)
{
	struct job *j = w->job;
	if (s->c.status == 0 && w->verify_state) {
		int rc = j->spec->app->verify->run(w->verify_state, &s->c);
		if (rc < 0)
			s->c.status = rc;
	}
	int running = SLOT_RUNNING;
	/* acq_rel: the chunk's output is published to the calling thread with the state; if the
	 * watchdog already took the chunk (TIMED_OUT), it still comes back, as a late answer. */
	atomic_compare_exchange_strong_explicit(&s->state, &running, SLOT_DONE,
						memory_order_acq_rel, memory_order_acquire);
	/* Never fails: the ring holds every chunk of the pool. */
	ory_ring_push(j->done, s);
	uint64_t one = 1;
	/* The calling thread re-reads the ring after every wakeup, so a lost write (EAGAIN at
	 * counter overflow) cannot lose a chunk. */
	ssize_t n = write(j->efd, &one, sizeof(one));
	(void)n;
}

static void note_time(struct ory_device *d, uint64_t ns)
{
	uint64_t m = atomic_load_explicit(&d->mean_ns, memory_order_relaxed);
	/* 1/8 weight for the new sample: steady enough for a timeout, quick to follow a change */
	atomic_store_explicit(&d->mean_ns, m ? m - m / 8 + ns / 8 : ns, memory_order_relaxed);
}

void *ory_worker_main(void *arg)
{
	struct worker *w = arg;
	struct job *j = w->job;
	struct ory_device *d = w->d;

	if (hwloc_set_cpubind(j->rt->topo.topo, d->cpuset, HWLOC_CPUBIND_THREAD) < 0)
		ory_log(j->rt, ORY_LOG_DEBUG, "%s: cannot bind worker thread", d->desc.name);
	int rc = d->ops->job_begin(d->dev, &j->desc);
	if (rc == 0 && d->verify) {
		rc = j->spec->app->verify->open(j->spec->params, &w->verify_state);
		if (rc < 0)
			d->ops->job_end(d->dev);
	}
	if (rc == 0) {
		d->active = true;
		atomic_fetch_add_explicit(&j->active, 1, memory_order_relaxed);
		if (!d->reserve)
			atomic_fetch_add_explicit(&j->healthy, 1, memory_order_relaxed);
	} else {
		ory_log(j->rt, rc == -ENOTSUP ? ORY_LOG_INFO : ORY_LOG_WARN,
			"%s sits this job out: %s", d->desc.name, ory_strerror(rc));
	}
	/* release: `active` and `healthy` are complete before the calling thread sees `begun`. */
	atomic_fetch_add_explicit(&j->begun, 1, memory_order_release);
	ory_evcount_notify(&j->started, INT_MAX);
	if (rc < 0)
		return NULL;
	/* Take no chunk before every device has begun: until then `healthy` is still growing,
	 * and a reserve worker would take it for "no other device left". */
	for (;;) {
		uint32_t key = ory_evcount_prepare(&j->started);
		if (atomic_load_explicit(&j->begun, memory_order_acquire) == j->rt->ndevices) {
			ory_evcount_cancel(&j->started);
			break;
		}
		ory_evcount_wait(&j->started, key);
	}

	unsigned inflight = 0;
	uint64_t busy_since = 0;
	for (;;) {
		struct ory_chunk_slot *s = NULL;
		if (inflight < d->inflight_max)
			s = take_work(w, inflight == 0);
		if (s) {
			s->device = (int)w->index;
			s->c.status = 0;
			s->c.out_len = 0;
			uint64_t now = ory_now_ns();
			if (inflight == 0)
				busy_since = now;
			atomic_store_explicit(&s->started_ns, now, memory_order_relaxed);
			/* release: device and start time are visible with the state */
			atomic_store_explicit(&s->state, SLOT_RUNNING, memory_order_release);
			rc = d->ops->submit(d->dev, &s->c);
			if (rc < 0) {
				s->c.status = rc;
				finish(w, s);
			} else {
				inflight++;
			}
			if (inflight == 0)
				d->busy_ns += ory_now_ns() - busy_since;
			continue;
		}
		if (inflight == 0)
			break; /* stopped or quarantined */
		struct ory_chunk *c = d->ops->reap(d->dev);
		struct ory_chunk_slot *done = ory_container_of(c, struct ory_chunk_slot, c);
		uint64_t now = ory_now_ns();
		if (c->status == 0)
			note_time(d, now - atomic_load_explicit(&done->started_ns,
								  memory_order_relaxed));
		if (--inflight == 0)
			d->busy_ns += now - busy_since;
		finish(w, done);
	}
	if (w->verify_state)
		j->spec->app->verify->close(w->verify_state);
	d->ops->job_end(d->dev);
	return NULL;
}
