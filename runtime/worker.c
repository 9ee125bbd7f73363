/* SPDX-License-Identifier: MIT */
/*
 * worker.c - the thread of one device, for the runtime's life: pinned to the device's core or
 * NUMA node, it attaches the device to every app it can run, then pulls chunks of those apps
 * (retries first, then new ones), keeps up to inflight_max on the device, checks each returned
 * chunk when the runtime verifies this device, and hands it back to the service thread (an
 * express chunk that succeeded it commits and completes itself, express.c). With a
 * chunk in flight and a slot free it waits for either a completion or new work (the device's
 * reap_or_work, on the group's `more` eventcount), so that a card's second slot fills as soon
 * as work comes rather than after the first chunk ends.
 *
 * A retry prefers a device that has not failed that chunk: a worker that finds such a chunk
 * puts it back if it has anything else to do, and runs it only rather than idle. Chunks that
 * failed max_tries times go to CPU workers (trusted), reserve or not; a reserve (fallback)
 * worker also runs all of an app's chunks once no other device serves it. A quarantined
 * worker takes nothing until the service thread puts it back in service.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"

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

static bool stopping(const struct ory_device *d)
{
	return atomic_load_explicit(&d->rt->stop, memory_order_acquire);
}

static bool out_of_service(const struct ory_device *d)
{
	return atomic_load_explicit(&d->quarantined, memory_order_acquire);
}

/* A reserve worker may take an app's new chunks only once no other device serves it. */
static bool may_work(const struct ory_device *d, const struct app_queues *aq)
{
	return !d->reserve || atomic_load_explicit(&aq->healthy, memory_order_acquire) == 0;
}

static struct ory_chunk_slot *try_take_app(struct ory_device *d, struct app_queues *aq)
{
	struct ory_runtime *rt = d->rt;
	if (d->reserve || d->ops->trusted) { /* chunks out of tries (failover.c: last_resort) */
		struct ory_chunk_slot *s = ory_ring_pop(aq->last);
		if (s || !may_work(d, aq))
			return s;
	}
	struct ory_chunk_slot *s = ory_ring_pop(aq->retry);
	if (s && avoids(s, d->index) &&
	    (s->strict || atomic_load_explicit(&aq->healthy, memory_order_relaxed) > 1)) {
		/* Someone else should run it: take other work if there is any, else run it rather
		 * than idle, unless this device cannot (strict). */
		struct ory_chunk_slot *other = ory_ring_pop(aq->dispatch);
		if (other || s->strict) {
			ory_ring_put(aq->retry, s);
			ory_wake(rt, aq->index, 1);
			return other;
		}
	}
	return s ? s : ory_ring_pop(aq->dispatch);
}

/* The next chunk of any app this device runs, the apps taken in turn. */
static struct ory_chunk_slot *try_take(struct ory_device *d, unsigned *turn)
{
	struct ory_runtime *rt = d->rt;
	for (unsigned k = 0; k < rt->napps; k++) {
		unsigned a = (*turn + k) % rt->napps;
		if (!ory_device_runs(d, a))
			continue;
		struct ory_chunk_slot *s = try_take_app(d, &rt->apps[a]);
		if (s) {
			*turn = a + 1;
			return s;
		}
	}
	return NULL;
}

/* An idle worker first; only when none waits, one that has a free slot beside chunks in
 * flight (reap_or_work): a chunk starts soonest on an idle device. */
void ory_wake(struct ory_runtime *rt, unsigned app, int n)
{
	for (unsigned i = 0; i < rt->ngroups; i++) {
		struct worker_group *g = &rt->groups[i];
		if ((g->apps >> app & 1) &&
		    (!g->reserve ||
		     atomic_load_explicit(&rt->apps[app].healthy, memory_order_relaxed) == 0) &&
		    !ory_evcount_notify(&g->ev, n))
			ory_evcount_notify(&g->more, n);
	}
}

void ory_wake_all(struct ory_runtime *rt)
{
	for (unsigned i = 0; i < rt->ngroups; i++) {
		ory_evcount_notify(&rt->groups[i].ev, INT_MAX);
		ory_evcount_notify(&rt->groups[i].more, INT_MAX);
	}
	ory_evcount_notify(&rt->readmit, INT_MAX);
}

/* Next chunk to run; when `block`, sleeps until there is one. NULL once the runtime stops or
 * the device is out of service. */
static struct ory_chunk_slot *take_work(struct ory_device *d, bool block, unsigned *turn)
{
	struct ory_runtime *rt = d->rt;
	for (;;) {
		if (stopping(d) || out_of_service(d))
			return NULL;
		struct ory_chunk_slot *s = try_take(d, turn);
		if (s || !block)
			return s;
		/* Its group's eventcount: whoever queues work it may take (ory_wake) rings it. */
		struct ory_evcount *ev = &rt->groups[d->group].ev;
		uint32_t key = ory_evcount_prepare(ev);
		s = try_take(d, turn);
		if (s || stopping(d) || out_of_service(d)) {
			ory_evcount_cancel(ev);
			if (!s && out_of_service(d))
				ory_evcount_notify(ev, 1); /* pass on a wakeup meant for its peers */
			return s;
		}
		ory_owed_pay(ory_owed);
		ory_evcount_wait(ev, key);
	}
}

static void finish(struct ory_device *d, struct ory_chunk_slot *s)
{
	struct ory_runtime *rt = d->rt;
	const struct ory_app *app = s->c.app;
	unsigned a = s->req->aq->index;
	if (s->c.status == 0 && d->verify_state[a]) {
		int rc = app->verify->run(d->verify_state[a], &s->c);
		if (rc < 0)
			s->c.status = rc;
	}
	if (s->c.status == 0 && app->post)
		s->c.status = app->post(&s->c);
	bool express = s->express; /* only the service thread clears it, once s is back */
	int running = SLOT_RUNNING;
	/* acq_rel: the chunk's output is published to the service thread with the state; if the
	 * watchdog already took the chunk (TIMED_OUT), it still comes back, as a late answer. */
	if (atomic_compare_exchange_strong_explicit(&s->state, &running, SLOT_DONE,
						    memory_order_acq_rel, memory_order_acquire) &&
	    express && ory_express_commit(d, s))
		return;
	/* The ring holds every chunk of the pool (ring.h: put). */
	ory_ring_put(rt->done, s);
	ory_aio_ring(&rt->aio);
}

static void note_time(struct ory_device *d, uint64_t ns)
{
	uint64_t m = atomic_load_explicit(&d->mean_ns, memory_order_relaxed);
	/* 1/8 weight for the new sample: steady enough for a timeout, quick to follow a change */
	atomic_store_explicit(&d->mean_ns, m ? m - m / 8 + ns / 8 : ns, memory_order_relaxed);
}

/* Attach the device to every app the runtime knows; the bits it gets are its apps. */
static void attach_apps(struct ory_device *d)
{
	struct ory_runtime *rt = d->rt;
	for (unsigned a = 0; a < rt->napps; a++) {
		const struct ory_app *app = rt->apps[a].app;
		int rc = d->ops->attach(d->dev, app, rt->opts.chunk_size);
		if (rc == 0 && d->verify && app->verify) {
			rc = app->verify->open(&d->verify_state[a]);
			if (rc < 0 && d->ops->detach)
				d->ops->detach(d->dev, app);
		}
		if (rc == 0)
			d->apps |= 1u << a;
		else
			ory_log(rt, rc == -ENOTSUP ? ORY_LOG_DEBUG : ORY_LOG_WARN,
				"%s does not run %s: %s", d->desc.name, app->name, ory_strerror(rc));
	}
}

static void detach_apps(struct ory_device *d)
{
	struct ory_runtime *rt = d->rt;
	for (unsigned a = 0; a < rt->napps; a++) {
		if (!ory_device_runs(d, a))
			continue;
		if (d->verify_state[a])
			rt->apps[a].app->verify->close(d->verify_state[a]);
		if (d->ops->detach)
			d->ops->detach(d->dev, rt->apps[a].app);
	}
}

void *ory_worker_main(void *arg)
{
	struct ory_device *d = arg;
	struct ory_runtime *rt = d->rt;

	if (hwloc_set_cpubind(rt->topo.topo, d->cpuset, HWLOC_CPUBIND_THREAD) < 0)
		ory_log(rt, ORY_LOG_DEBUG, "%s: cannot bind worker thread", d->desc.name);
	if (d->ops->map_input) {
		int rc = d->ops->map_input(d->dev, rt->pool.in_mem, rt->pool.in_len);
		if (rc < 0)
			ory_log(rt, ORY_LOG_INFO, "%s: copies its input (pool not mapped: %s)",
				d->desc.name, ory_strerror(rc));
	}
	attach_apps(d);
	/* release: `apps` is complete before create reads it */
	atomic_fetch_add_explicit(&rt->begun, 1, memory_order_release);
	ory_evcount_notify(&rt->started, INT_MAX);
	/* Take no chunk before create has counted every device's apps: until then `healthy` is
	 * still growing, and a reserve worker would take it for "no other device left". */
	for (;;) {
		uint32_t key = ory_evcount_prepare(&rt->started);
		if (atomic_load_explicit(&rt->go, memory_order_acquire) || stopping(d)) {
			ory_evcount_cancel(&rt->started);
			break;
		}
		ory_evcount_wait(&rt->started, key);
	}

	/* Completions this worker gives (express.c) wake their waiters once its device has its
	 * next chunk or before it waits: woken at once, a client would preempt it first. */
	struct ory_queue *owed_q[8];
	_Atomic uint32_t *owed_f[8];
	struct ory_owed owed = { .queues = owed_q, .futexes = owed_f, .cap = 8 };
	ory_owed = &owed;
	unsigned inflight = 0, turn = 0;
	uint64_t busy_since = 0;
	/* The group's word for "new work" while this device has a free slot (reap_or_work) */
	struct ory_evcount *more = &rt->groups[d->group].more;
	for (;;) {
		if (inflight == 0 && stopping(d))
			break;
		if (inflight == 0 && out_of_service(d)) {
			/* Wait to be put back in service (or for the end), not in its group: a wakeup
			 * meant for a worker that can take work must not land here. */
			struct ory_evcount *ev = &rt->readmit;
			uint32_t key = ory_evcount_prepare(ev);
			ory_owed_pay(ory_owed);
			if (out_of_service(d) && !stopping(d))
				ory_evcount_wait(ev, key);
			else
				ory_evcount_cancel(ev);
			continue;
		}
		if (inflight == 0 &&
		    atomic_exchange_explicit(&d->recovering, false, memory_order_acquire) &&
		    d->ops->recover && d->ops->recover(d->dev) < 0) {
			ory_log(rt, ORY_LOG_WARN, "%s does not recover; it stays out", d->desc.name);
			break;
		}
		struct ory_chunk_slot *s = NULL;
		struct ory_chunk *c = NULL;
		if (inflight < d->inflight_max)
			s = take_work(d, inflight == 0, &turn);
		if (!s && inflight > 0 && inflight < d->inflight_max && d->ops->reap_or_work) {
			/* Sleep until a chunk finishes or one is queued that fills the free slot;
			 * as in take_work, look again after announcing the wait. */
			uint32_t key = ory_evcount_prepare(more);
			s = take_work(d, false, &turn);
			if (!s) {
				ory_owed_pay(ory_owed);
				c = d->ops->reap_or_work(d->dev, &more->epoch, key);
			}
			ory_evcount_cancel(more);
			if (!s && !c)
				continue;
		}
		if (s) {
			c = &s->c;
			s->device = (int)d->index;
			c->status = 0;
			c->out_len = 0;
			c->check2 = 0;
			/* Only a trusted device may write into the caller's memory (service.c). */
			if (s->direct_out && d->ops->trusted) {
				c->out = s->direct_out;
				c->out_cap = s->direct_cap;
			} else {
				c->out = s->out_area;
				c->out_cap = s->out_stride;
			}
			uint64_t now = ory_now_ns();
			if (inflight == 0)
				busy_since = now;
			atomic_store_explicit(&s->started_ns, now, memory_order_relaxed);
			atomic_store_explicit(&s->deadline_ns,
					      d->ops->trusted ? 0
							      : now + ory_failover_timeout(rt, d, c->in_len),
					      memory_order_relaxed);
			/* release: device and start time are visible with the state */
			atomic_store_explicit(&s->state, SLOT_RUNNING, memory_order_release);
			struct req *r = s->req;
			bool cancelled = atomic_load_explicit(&r->abandoned, memory_order_relaxed) ||
					 (s->express && ory_req_cancelled(r));
			int rc = cancelled ? -ECANCELED : d->ops->submit(d->dev, c);
			ory_owed_pay(ory_owed); /* the device has its next chunk: now the waiters */
			if (rc < 0) {
				c->status = rc;
				finish(d, s);
			} else {
				inflight++;
			}
			if (inflight == 0)
				atomic_fetch_add_explicit(&d->busy_ns, ory_now_ns() - busy_since,
							  memory_order_relaxed);
			continue;
		}
		if (inflight == 0)
			continue; /* stopped or out of service: the loop's head decides */
		if (!c) {
			ory_owed_pay(ory_owed);
			c = d->ops->reap(d->dev);
		}
		struct ory_chunk_slot *done = ory_container_of(c, struct ory_chunk_slot, c);
		uint64_t now = ory_now_ns();
		if (c->status == 0)
			note_time(d, now - atomic_load_explicit(&done->started_ns,
								  memory_order_relaxed));
		if (--inflight == 0)
			atomic_fetch_add_explicit(&d->busy_ns, now - busy_since, memory_order_relaxed);
		finish(d, done);
	}
	ory_owed_pay(&owed);
	ory_owed = NULL;
	detach_apps(d);
	return NULL;
}
