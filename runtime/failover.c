/* SPDX-License-Identifier: MIT */
/*
 * failover.c - what happens when a device gets a chunk wrong: every decision is taken on the
 * service thread, so the bookkeeping needs no locks.
 *
 * A chunk that comes back failed (an error, or output that failed verification) still holds
 * its input, because buffers are only released after commit: it is queued again, marked to
 * avoid the device that failed it, up to max_tries runs. A device that fails quarantine_after
 * chunks in a row is quarantined: it takes no chunks for 10 s, then gets another chance (twice
 * as long out each time it is quarantined again, at most 10 minutes).
 *
 * A hang cannot come back by itself, so the watchdog looks at chunks on untrusted devices and
 * takes away one that ran past its device's timeout: the chunk is marked TIMED_OUT (a
 * compare-and-swap against its worker's RUNNING -> DONE), copied into a spare buffer kept back
 * for exactly this, and queued again; the device is quarantined and aborted. If the device
 * answers later, the answer is recognised by the TIMED_OUT state and dropped, and the buffer
 * goes back to the pool; the device returns to service only after that. So every chunk is
 * committed exactly once, and no device ever holds a buffer of a completed request.
 *
 * When no device but the reserve CPU workers is left for an app, they take over; when none at
 * all is left, the app's requests fail.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "rt.h"

#define MS 1000000ull
#define BACK_FIRST (10000 * MS)
#define BACK_MAX (600000 * MS)

static void set_avoid(struct ory_chunk_slot *s, int dev)
{
	if (dev >= 0)
		s->avoid[dev / 64] |= 1ull << (dev % 64);
}

void ory_failover_requeue(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	s->req->retries++;
	atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_relaxed);
	ory_ring_put(s->req->aq->retry, s);
	rt->owed_chunks[s->req->aq->index]++;
}

/* Devices (reserve ones included) that can take chunks of the app now. */
static unsigned usable(struct ory_runtime *rt, const struct app_queues *aq)
{
	unsigned n = 0;
	for (unsigned i = 0; i < rt->ndevices; i++) {
		struct ory_device *d = &rt->devices[i];
		n += ory_device_runs(d, aq->index) && !atomic_load(&d->quarantined);
	}
	return n;
}

/* A chunk out of tries goes to the CPU workers (reserve or not), if any is in service. */
static bool last_resort(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	struct app_queues *aq = s->req->aq;
	bool any = false;
	for (unsigned i = 0; i < rt->ndevices; i++) {
		struct ory_device *d = &rt->devices[i];
		any |= (d->reserve || d->ops->trusted) && ory_device_runs(d, aq->index) &&
		       !atomic_load(&d->quarantined);
	}
	if (!any)
		return false;
	ory_log(rt, ORY_LOG_INFO, "chunk %llu goes to the CPU workers after %u failures",
		(unsigned long long)s->c.seq, s->tries);
	s->req->retries++;
	atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_relaxed);
	ory_ring_put(aq->last, s);
	ory_wake_all(rt); /* the reserves, whatever they wait for */
	return true;
}

/* Take d out of service for a while; `fmt` has one %llu for `a`. */
static void quarantine(struct ory_runtime *rt, struct ory_device *d, const char *fmt,
		       unsigned long long a)
{
	if (atomic_exchange(&d->quarantined, true))
		return;
	uint64_t away = BACK_FIRST << ORY_MIN(d->quarantines, 6u);
	d->quarantines++;
	d->back_at_ns = ory_now_ns() + ORY_MIN(away, BACK_MAX);
	char why[128];
	snprintf(why, sizeof(why), fmt, a);
	ory_log(rt, ORY_LOG_WARN, "%s quarantined: %s", d->desc.name, why);
	for (unsigned i = 0; i < rt->napps && !d->reserve; i++) {
		struct app_queues *aq = &rt->apps[i];
		/* release: a reserve worker that sees healthy == 0 also sees the quarantine */
		if (ory_device_runs(d, i) &&
		    atomic_fetch_sub_explicit(&aq->healthy, 1, memory_order_release) == 1 &&
		    usable(rt, aq))
			ory_log(rt, ORY_LOG_WARN, "no device left for %s but the CPU: CPU workers "
				"take over", aq->app->name);
	}
	ory_wake_all(rt); /* the quarantined worker stops taking; reserves may start */
}

int ory_failover_collect(struct ory_runtime *rt, struct ory_chunk_slot *s)
{
	struct req *r = s->req;
	struct ory_device *d = &rt->devices[s->device];
	int state = atomic_load_explicit(&s->state, memory_order_acquire);

	if (state == SLOT_TIMED_OUT) { /* a late answer: its copy is (or was) run elsewhere */
		ory_log(rt, ORY_LOG_DEBUG, "late answer from %s for chunk %llu dropped",
			d->desc.name, (unsigned long long)s->c.seq);
		d->hung--;
		ory_slot_release(rt, s);
		return 2;
	}
	if (atomic_load_explicit(&r->abandoned, memory_order_relaxed) || r->error)
		return 0;
	if (s->c.status == 0 && s->c.out_len > s->c.out_cap)
		s->c.status = -EOVERFLOW; /* a device wrote past its buffer: do not trust it */
	if (s->c.status == 0) {
		d->consecutive_failures = 0;
		s->committable = true;
		return 0;
	}
	int origin = ORY_ORIGIN_INPUT;
	const char *bad = d->ops->trusted && s->c.app->final_error
				  ? s->c.app->final_error(&s->c, &origin)
				  : NULL;
	if (bad) /* the request's fault: running it again would say the same */
		return ory_req_fail(r, (enum ory_error_origin)origin, s->c.status, "%s", bad);
	set_avoid(s, s->device);
	if (s->c.status == -ENOTSUP) { /* not this device's kind of chunk: no fault of anyone's */
		s->strict = true;
		for (unsigned i = 0; i < rt->ndevices; i++) {
			struct ory_device *o = &rt->devices[i];
			if (ory_device_runs(o, r->aq->index) && !atomic_load(&o->quarantined) &&
			    !(s->avoid[i / 64] >> (i % 64) & 1)) {
				ory_failover_requeue(rt, s);
				return 1;
			}
		}
		return ory_req_fail(r, ORY_ORIGIN_DEVICE, -ENOTSUP,
				    "no device can run chunk %llu (last: %s)",
				    (unsigned long long)s->c.seq, d->desc.name);
	}
	atomic_fetch_add_explicit(&d->failures, 1, memory_order_relaxed);
	s->tries++;
	ory_log(rt, ORY_LOG_INFO, "chunk %llu failed on %s: %s", (unsigned long long)s->c.seq,
		d->desc.name, ory_strerror(s->c.status));
	char why[128] = "";
	if (++d->consecutive_failures >= rt->opts.quarantine_after) {
		snprintf(why, sizeof(why), "%u failures in a row", d->consecutive_failures);
		quarantine(rt, d, "%llu failures in a row", d->consecutive_failures);
	}
	if (!usable(rt, r->aq))
		return ory_req_fail(r, ORY_ORIGIN_DEVICE, -ENODEV, "no healthy device left (last: %s, %s)",
				    d->desc.name, why[0] ? why : ory_strerror(s->c.status));
	if (s->tries < rt->opts.max_tries) {
		ory_failover_requeue(rt, s);
		return 1;
	}
	if (last_resort(rt, s))
		return 1;
	return ory_req_fail(r, ORY_ORIGIN_DEVICE, s->c.status,
			    "chunk %llu failed %u times, last on %s: %s",
			    (unsigned long long)s->c.seq, s->tries, d->desc.name,
			    ory_strerror(s->c.status));
}

uint64_t ory_failover_timeout(struct ory_runtime *rt, struct ory_device *d, size_t bytes)
{
	if (rt->opts.watchdog_ms)
		return rt->opts.watchdog_ms * MS;
	uint64_t mean = atomic_load_explicit(&d->mean_ns, memory_order_relaxed);
	if (!mean && d->ops->expected_ns)
		mean = d->ops->expected_ns(d->dev, bytes);
	if (!mean)
		return 5000 * MS;
	return mean * 10 > 1000 * MS ? mean * 10 : 1000 * MS;
}

/* Run `s` again from a spare buffer, leaving the original to its hung device. */
static void rescue(struct ory_runtime *rt, struct ory_chunk_slot *s, struct ory_device *d)
{
	struct req *r = s->req;
	struct ory_chunk_slot *copy = ory_pool_get(&rt->pool); /* `spare` keeps one for each */
	copy->req = r;
	r->held++;
	/* Only what devices read: its device may still be writing the rest of s. */
	copy->c = (struct ory_chunk){ .seq = s->c.seq, .app = s->c.app, .params = s->c.params,
				      .in = s->c.in, .in_len = s->c.in_len, .dict = s->c.dict,
				      .dict_len = s->c.dict_len };
	copy->c.out = copy->out_area;
	copy->c.out_cap = copy->out_stride;
	copy->direct_out = NULL;
	copy->committable = false;
	if (s->c.in >= s->in_area && s->c.in < s->in_area + rt->pool.in_stride) {
		/* devices only read the input, so reading it alongside is safe */
		size_t dict = s->c.dict_len;
		memcpy(copy->in_area + ORY_DICT_MAX - dict, s->c.dict, dict);
		memcpy(copy->in_area + ORY_DICT_MAX, s->c.in, s->c.in_len);
		copy->c.in = copy->in_area + ORY_DICT_MAX;
		copy->c.dict = copy->c.in - dict;
	}
	copy->tries = s->tries + 1;
	memcpy(copy->avoid, s->avoid, sizeof(copy->avoid));
	set_avoid(copy, s->device);
	copy->device = -1;
	r->cells[s->c.seq % rt->pool.count] = copy;
	if (copy->tries >= rt->opts.max_tries && !last_resort(rt, copy)) {
		ory_req_fail(r, ORY_ORIGIN_DEVICE, -ETIMEDOUT,
			     "chunk %llu failed %u times, last on %s: timed out",
			     (unsigned long long)s->c.seq, copy->tries, d->desc.name);
		atomic_store_explicit(&copy->state, SLOT_DONE, memory_order_relaxed);
		copy->c.status = -ETIMEDOUT;
		ory_ring_put(rt->done, copy); /* collected as a chunk of a failed request */
		return;
	}
	if (copy->tries < rt->opts.max_tries)
		ory_failover_requeue(rt, copy);
}

/* An app no device can serve now: its queued chunks come back failed, so their requests end. */
static void drain_app(struct ory_runtime *rt, struct app_queues *aq)
{
	struct ory_ring *rings[] = { aq->dispatch, aq->retry, aq->last };
	for (unsigned i = 0; i < ORY_ARRAY_SIZE(rings); i++) {
		struct ory_chunk_slot *s;
		while ((s = ory_ring_pop(rings[i]))) {
			struct req *r = s->req;
			ory_req_fail(r, ORY_ORIGIN_DEVICE, -ENODEV,
				     "no device left that can run %s (all quarantined)",
				     aq->app->name);
			atomic_store_explicit(&s->state, SLOT_DONE, memory_order_relaxed);
			s->c.status = -ENODEV;
			ory_ring_put(rt->done, s);
		}
	}
}

/* Put devices whose time out of service is over back in. */
static uint64_t readmit(struct ory_runtime *rt, uint64_t now)
{
	uint64_t next = UINT64_MAX;
	for (unsigned i = 0; i < rt->ndevices; i++) {
		struct ory_device *d = &rt->devices[i];
		if (!atomic_load_explicit(&d->quarantined, memory_order_relaxed))
			continue;
		if (d->hung || now < d->back_at_ns) {
			if (!d->hung && d->back_at_ns < next)
				next = d->back_at_ns;
			continue;
		}
		ory_log(rt, ORY_LOG_INFO, "%s back in service", d->desc.name);
		d->consecutive_failures = 0;
		atomic_store_explicit(&d->recovering, true, memory_order_relaxed);
		for (unsigned a = 0; a < rt->napps && !d->reserve; a++)
			if (ory_device_runs(d, a))
				atomic_fetch_add_explicit(&rt->apps[a].healthy, 1, memory_order_release);
		/* release: its worker sees `recovering` when it sees the device back */
		atomic_store_explicit(&d->quarantined, false, memory_order_release);
		ory_wake_all(rt);
	}
	return next;
}

uint64_t ory_failover_watch(struct ory_runtime *rt)
{
	uint64_t now = ory_now_ns();
	uint64_t next = readmit(rt, now);
	for (unsigned a = 0; a < rt->napps; a++)
		if (rt->apps[a].attached && !usable(rt, &rt->apps[a]))
			drain_app(rt, &rt->apps[a]);
	if (!rt->watched)
		return next;
	uint64_t shortest = UINT64_MAX;
	for (unsigned i = 0; i < rt->ndevices; i++) {
		struct ory_device *d = &rt->devices[i];
		if (!d->ops->trusted && d->apps && !atomic_load(&d->quarantined)) {
			uint64_t t = ory_failover_timeout(rt, d, rt->opts.chunk_size);
			shortest = t < shortest ? t : shortest;
		}
	}
	/* Express chunks start without telling us: while any is in flight, look again within a
	 * timeout, as for a queued chunk below. (seq_cst: see ory_express_start.) */
	bool express = atomic_load(&rt->express_inflight) > 0;
	atomic_store(&rt->express_watched, express);
	if (express && shortest != UINT64_MAX && now + shortest < next)
		next = now + shortest;
	for (unsigned i = 0; i < rt->pool.count; i++) {
		struct ory_chunk_slot *s = &rt->pool.slots[i];
		int state = atomic_load_explicit(&s->state, memory_order_acquire);
		/* A queued chunk may start on a watched device at any moment, without telling us:
		 * its deadline is at least one timeout away, so look again by then. */
		if (state == SLOT_QUEUED && shortest != UINT64_MAX && now + shortest < next)
			next = now + shortest;
		if (state != SLOT_RUNNING)
			continue;
		/* Only atomics before the compare-and-swap: an express slot is reused by other
		 * threads, and its other fields may be a newer run's, being written. */
		uint64_t deadline = atomic_load_explicit(&s->deadline_ns, memory_order_relaxed);
		if (!deadline) /* a trusted device's: not watched */
			continue;
		if (now < deadline) {
			next = deadline < next ? deadline : next;
			continue;
		}
		int running = SLOT_RUNNING;
		if (!atomic_compare_exchange_strong_explicit(&s->state, &running, SLOT_TIMED_OUT,
							     memory_order_acq_rel,
							     memory_order_acquire))
			continue; /* it finished just now */
		/* An express slot may have finished and started again since we looked: a run that
		 * is not late goes back to its worker (unless that worker has just finished it and
		 * took it for late: then it is timed out after all, which is only early). */
		running = SLOT_TIMED_OUT;
		if (atomic_load_explicit(&s->deadline_ns, memory_order_relaxed) != deadline &&
		    atomic_compare_exchange_strong_explicit(&s->state, &running, SLOT_RUNNING,
							    memory_order_acq_rel,
							    memory_order_relaxed))
			continue;
		struct ory_device *d = &rt->devices[s->device];
		uint64_t limit = deadline - atomic_load_explicit(&s->started_ns, memory_order_relaxed);
		if (s->express)
			ory_adopt(rt, s);
		atomic_fetch_add_explicit(&d->timeouts, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->failures, 1, memory_order_relaxed);
		d->hung++;
		ory_log(rt, ORY_LOG_WARN, "chunk %llu timed out on %s after %llu ms",
			(unsigned long long)s->c.seq, d->desc.name, (unsigned long long)(limit / MS));
		quarantine(rt, d, "a chunk timed out after %llu ms", (unsigned long long)(limit / MS));
		/* Let its worker go now: the late answer comes back and returns its buffer. */
		if (d->ops->abort)
			d->ops->abort(d->dev);
		if (atomic_load_explicit(&s->req->abandoned, memory_order_relaxed))
			continue; /* nothing to rescue: its request is over */
		rescue(rt, s, d);
	}
	return next;
}
