/* SPDX-License-Identifier: MIT */
/*
 * failover.c - what happens when a device gets a chunk wrong: every decision is taken on the
 * job's calling thread, so the bookkeeping needs no locks.
 *
 * A chunk that comes back failed (an error, or output that failed verification) still holds
 * its input, because buffers are only released after commit: it is queued again, marked to
 * avoid the device that failed it, up to max_tries runs. A device that fails quarantine_after
 * chunks in a row is quarantined: it takes no more chunks this job.
 *
 * A hang cannot come back by itself, so the watchdog looks at chunks on untrusted devices and
 * takes away one that ran past its device's timeout: the chunk is marked TIMED_OUT (a
 * compare-and-swap against its worker's RUNNING -> DONE), copied into a spare buffer kept
 * back from the reader for exactly this, and queued again; the device is quarantined. If the
 * device answers later, the answer is recognised by the TIMED_OUT state and dropped, and the
 * buffer goes back to the pool. So every chunk is committed exactly once.
 *
 * When no device but the reserve CPU workers is left, they take over; when none at all is
 * left, the job fails.
 */
#include <errno.h>
#include <limits.h>
#include <string.h>

#include "job.h"

#define MS 1000000ull

static void set_avoid(struct ory_chunk_slot *s, int dev)
{
	if (dev >= 0)
		s->avoid[dev / 64] |= 1ull << (dev % 64);
}

void ory_failover_requeue(struct job *j, struct ory_chunk_slot *s)
{
	atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_relaxed);
	ory_ring_push(j->retry, s);
	ory_evcount_notify(&j->work, 1);
	j->retries++;
}

/* A chunk out of tries goes to the reserve CPU workers, if there are any left. */
static bool last_resort(struct job *j, struct ory_chunk_slot *s)
{
	if (!j->reserves)
		return false;
	bool any = false;
	for (unsigned i = 0; i < j->rt->ndevices; i++) {
		struct ory_device *d = &j->rt->devices[i];
		any |= d->reserve && d->active && !atomic_load(&d->quarantined);
	}
	if (!any)
		return false;
	ory_log(j->rt, ORY_LOG_INFO, "chunk %llu goes to the CPU workers after %u failures",
		(unsigned long long)s->c.seq, s->tries);
	atomic_store_explicit(&s->state, SLOT_QUEUED, memory_order_relaxed);
	ory_ring_push(j->last, s);
	ory_evcount_notify(&j->fallback, INT_MAX);
	ory_evcount_notify(&j->work, INT_MAX); /* reserves already at work wait there */
	j->retries++;
	return true;
}

/* Devices (reserve ones included) that can still take chunks. */
static unsigned usable(struct job *j)
{
	unsigned n = 0;
	for (unsigned i = 0; i < j->rt->ndevices; i++) {
		struct ory_device *d = &j->rt->devices[i];
		n += j->workers[i].started && d->active && !atomic_load(&d->quarantined);
	}
	return n;
}

/* Take d out of the job; `fmt` has one %llu for `a`. Fails the job when nothing is left. */
static int quarantine(struct job *j, struct ory_device *d, const char *fmt, unsigned long long a)
{
	struct ory_runtime *rt = j->rt;
	if (atomic_exchange(&d->quarantined, true))
		return 0;
	char why[128];
	snprintf(why, sizeof(why), fmt, a);
	ory_log(rt, ORY_LOG_WARN, "%s quarantined: %s", d->desc.name, why);
	/* release: a reserve worker that sees healthy == 0 also sees the quarantine */
	if (!d->reserve && atomic_fetch_sub_explicit(&j->healthy, 1, memory_order_release) == 1 &&
	    usable(j)) {
		ory_log(rt, ORY_LOG_WARN, "no device left but the CPU: CPU workers finish the job");
		ory_evcount_notify(&j->fallback, INT_MAX);
	}
	ory_evcount_notify(&j->work, INT_MAX); /* the quarantined worker wakes up and leaves */
	if (!usable(j))
		return ory_fail_at(rt, ORY_ORIGIN_DEVICE, -ENODEV,
				   "no healthy device left (last: %s, %s)", d->desc.name, why);
	return 0;
}

int ory_failover_collect(struct job *j, struct ory_chunk_slot *s)
{
	struct ory_runtime *rt = j->rt;
	struct ory_device *d = &rt->devices[s->device];
	int state = atomic_load_explicit(&s->state, memory_order_acquire);

	if (state == SLOT_TIMED_OUT) { /* a late answer: its copy is (or was) run elsewhere */
		ory_log(rt, ORY_LOG_DEBUG, "late answer from %s for chunk %llu dropped",
			d->desc.name, (unsigned long long)s->c.seq);
		atomic_store_explicit(&s->state, SLOT_FREE, memory_order_relaxed);
		ory_pool_put(&j->pool, s);
		return 0;
	}
	if (s->c.status == 0 && s->c.out_len > s->c.out_cap)
		s->c.status = -EOVERFLOW; /* a device wrote past its buffer: do not trust it */
	if (s->c.status == 0) {
		d->consecutive_failures = 0;
		j->window[s->c.seq % j->pool.count] = s;
		return 0;
	}

	d->failures++;
	s->tries++;
	ory_log(rt, ORY_LOG_INFO, "chunk %llu failed on %s: %s", (unsigned long long)s->c.seq,
		d->desc.name, ory_strerror(s->c.status));
	set_avoid(s, s->device);
	if (++d->consecutive_failures >= rt->opts.quarantine_after) {
		int rc = quarantine(j, d, "%llu failures in a row",
				    (unsigned long long)d->consecutive_failures);
		if (rc < 0)
			return rc;
	}
	if (s->tries < rt->opts.max_tries)
		ory_failover_requeue(j, s);
	else if (!last_resort(j, s))
		return ory_fail_at(rt, ORY_ORIGIN_DEVICE, s->c.status,
				   "chunk %llu failed %u times, last on %s: %s",
				   (unsigned long long)s->c.seq, s->tries, d->desc.name,
				   ory_strerror(s->c.status));
	return 1;
}

static uint64_t timeout_ns(struct job *j, struct ory_device *d)
{
	if (j->rt->opts.watchdog_ms)
		return j->rt->opts.watchdog_ms * MS;
	uint64_t mean = atomic_load_explicit(&d->mean_ns, memory_order_relaxed);
	if (!mean && d->ops->expected_ns)
		mean = d->ops->expected_ns(d->dev, j->desc.chunk_size);
	if (!mean)
		return 5000 * MS;
	return mean * 10 > 1000 * MS ? mean * 10 : 1000 * MS;
}

/* Run `s` again from a spare buffer, leaving the original to its hung device. */
static int rescue(struct job *j, struct ory_chunk_slot *s, struct ory_device *d)
{
	struct ory_runtime *rt = j->rt;
	struct ory_chunk_slot *copy = ory_pool_get(&j->pool);
	if (!copy) /* cannot happen while `spare` covers every watched slot */
		return ory_fail_at(rt, ORY_ORIGIN_DEVICE, -ENOBUFS,
				   "no buffer left to rescue chunk %llu from %s",
				   (unsigned long long)s->c.seq, d->desc.name);
	copy->c.seq = s->c.seq;
	copy->c.in_len = s->c.in_len;
	copy->c.dict_len = s->c.dict_len;
	if (s->in_area) { /* devices only read the input, so reading it alongside is safe */
		size_t dict = s->c.dict_len;
		memcpy(copy->in_area + ORY_DICT_MAX - dict, s->in_area + ORY_DICT_MAX - dict,
		       dict + s->c.in_len);
		copy->c.in = copy->in_area + ORY_DICT_MAX;
	} else {
		copy->c.in = s->c.in;
	}
	copy->tries = s->tries + 1;
	memcpy(copy->avoid, s->avoid, sizeof(copy->avoid));
	set_avoid(copy, s->device);
	copy->device = -1;
	if (copy->tries >= rt->opts.max_tries) {
		if (last_resort(j, copy))
			return 0;
		atomic_store_explicit(&copy->state, SLOT_FREE, memory_order_relaxed);
		ory_pool_put(&j->pool, copy);
		return ory_fail_at(rt, ORY_ORIGIN_DEVICE, -ETIMEDOUT,
				   "chunk %llu failed %u times, last on %s: timed out",
				   (unsigned long long)s->c.seq, copy->tries, d->desc.name);
	}
	ory_failover_requeue(j, copy);
	return 0;
}

uint64_t ory_failover_watch(struct job *j, int *err)
{
	uint64_t next = UINT64_MAX;
	if (!j->watched)
		return next;
	uint64_t now = ory_now_ns(), shortest = UINT64_MAX;
	for (unsigned i = 0; i < j->rt->ndevices; i++) {
		struct ory_device *d = &j->rt->devices[i];
		if (!d->ops->trusted && d->active && !atomic_load(&d->quarantined)) {
			uint64_t t = timeout_ns(j, d);
			shortest = t < shortest ? t : shortest;
		}
	}
	for (unsigned i = 0; i < j->pool.count; i++) {
		struct ory_chunk_slot *s = &j->pool.slots[i];
		int state = atomic_load_explicit(&s->state, memory_order_acquire);
		/* A queued chunk may start on a watched device at any moment, without telling us:
		 * its deadline is at least one timeout away, so look again by then. */
		if (state == SLOT_QUEUED && shortest != UINT64_MAX && now + shortest < next)
			next = now + shortest;
		if (state != SLOT_RUNNING)
			continue;
		struct ory_device *d = &j->rt->devices[s->device];
		if (d->ops->trusted)
			continue;
		uint64_t limit = timeout_ns(j, d);
		uint64_t deadline = atomic_load_explicit(&s->started_ns, memory_order_relaxed) + limit;
		if (now < deadline) {
			next = deadline < next ? deadline : next;
			continue;
		}
		int running = SLOT_RUNNING;
		if (!atomic_compare_exchange_strong_explicit(&s->state, &running, SLOT_TIMED_OUT,
							     memory_order_acq_rel,
							     memory_order_acquire))
			continue; /* it finished just now */
		d->timeouts++;
		d->failures++;
		d->hung = true;
		ory_log(j->rt, ORY_LOG_WARN, "chunk %llu timed out on %s after %llu ms",
			(unsigned long long)s->c.seq, d->desc.name,
			(unsigned long long)(limit / MS));
		int rc = quarantine(j, d, "a chunk timed out after %llu ms",
				    (unsigned long long)(limit / MS));
		/* Let its worker go now: the late answer comes back and returns its buffer. */
		if (d->ops->abort)
			d->ops->abort(d->dev);
		if (rc == 0)
			rc = rescue(j, s, d);
		if (rc < 0) {
			*err = rc;
			return 0;
		}
	}
	return next;
}
