/* SPDX-License-Identifier: MIT */
/* test_ring.c - the MPMC ring and the eventcount, alone and under concurrent stress. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "runtime/ring.h"

static struct ory_ring *ring_alloc(size_t cap)
{
	size_t sz = ory_ring_memsize(cap);
	struct ory_ring *r = aligned_alloc(64, (sz + 63) & ~(size_t)63);
	ory_ring_init(r, cap);
	return r;
}

Test(ring, rejects_capacities_that_are_not_powers_of_two)
{
	cr_expect_eq(ory_ring_memsize(0), 0);
	cr_expect_eq(ory_ring_memsize(1), 0);
	cr_expect_eq(ory_ring_memsize(12), 0);
	cr_expect_neq(ory_ring_memsize(16), 0);
}

Test(ring, pops_in_push_order_and_reports_full_and_empty)
{
	struct ory_ring *r = ring_alloc(8);
	cr_expect_null(ory_ring_pop(r));
	for (uintptr_t i = 1; i <= 8; i++)
		cr_assert(ory_ring_push(r, (void *)i));
	cr_expect_not(ory_ring_push(r, (void *)9), "a full ring must refuse a push");
	for (uintptr_t i = 1; i <= 8; i++)
		cr_expect_eq((uintptr_t)ory_ring_pop(r), i);
	cr_expect_null(ory_ring_pop(r));
	/* wrap around many laps */
	for (uintptr_t i = 1; i < 1000; i++) {
		cr_assert(ory_ring_push(r, (void *)i));
		cr_assert_eq((uintptr_t)ory_ring_pop(r), i);
	}
	free(r);
}

#define PRODUCERS 3
#define CONSUMERS 3
#define PER_PRODUCER 200000

struct stress {
	struct ory_ring *r;
	struct ory_evcount ev;
	_Atomic unsigned producers_left;
	_Atomic uint64_t consumed;
	_Atomic uint8_t *seen;
	unsigned id;
};

struct arg {
	struct stress *s;
	unsigned id;
};

static void *producer(void *p)
{
	struct arg *a = p;
	for (uintptr_t i = 0; i < PER_PRODUCER; i++) {
		uintptr_t v = 1 + a->id * (uintptr_t)PER_PRODUCER + i;
		while (!ory_ring_push(a->s->r, (void *)v))
			sched_yield();
		ory_evcount_notify(&a->s->ev, 1);
	}
	atomic_fetch_sub(&a->s->producers_left, 1);
	ory_evcount_notify(&a->s->ev, 1 << 30);
	return NULL;
}

static void *consumer(void *p)
{
	struct arg *a = p;
	struct stress *s = a->s;
	for (;;) {
		void *v = ory_ring_pop(s->r);
		if (!v) {
			uint32_t key = ory_evcount_prepare(&s->ev);
			v = ory_ring_pop(s->r);
			if (!v && atomic_load(&s->producers_left) == 0) {
				ory_evcount_cancel(&s->ev);
				return NULL;
			}
			if (!v) {
				ory_evcount_wait(&s->ev, key);
				continue;
			}
			ory_evcount_cancel(&s->ev);
		}
		uintptr_t idx = (uintptr_t)v - 1;
		atomic_fetch_add(&s->seen[idx], 1);
		atomic_fetch_add(&s->consumed, 1);
	}
}

/* A consumer preempted between its CAS on the tail and the store that frees its cell: made
 * here by hand. Other consumers pop on; a lap later a push finds that cell still taken. */
struct stalled {
	struct ory_ring *r;
	size_t pos;
	_Atomic int put_done;
};

static void *finish_pop_late(void *arg)
{
	struct stalled *st = arg;
	usleep(50000);
	cr_expect_eq(atomic_load(&st->put_done), 0, "ory_ring_put returned before the cell was free");
	atomic_store_explicit(&st->r->cells[st->pos & st->r->mask].seq, st->pos + st->r->mask + 1,
			      memory_order_release);
	return NULL;
}

Test(ring, a_consumer_preempted_mid_pop_makes_push_fail_and_put_wait, .timeout = 30)
{
	struct ory_ring *r = ring_alloc(8);
	cr_assert(ory_ring_push(r, (void *)1));
	/* the stalled pop: the tail moves on, the cell is not yet given back */
	size_t pos = atomic_load(&r->tail);
	cr_assert(atomic_compare_exchange_strong(&r->tail, &pos, pos + 1));
	/* one item in the ring at most from here on, a lap of them */
	for (uintptr_t i = 2; i <= 8; i++) {
		cr_assert(ory_ring_push(r, (void *)i));
		cr_assert_eq((uintptr_t)ory_ring_pop(r), i);
	}
	cr_expect_not(ory_ring_push(r, (void *)9), "an empty ring refused a push: the hazard");
	struct stalled st = { .r = r, .pos = pos };
	pthread_t t;
	pthread_create(&t, NULL, finish_pop_late, &st);
	ory_ring_put(r, (void *)9);
	atomic_store(&st.put_done, 1);
	pthread_join(t, NULL);
	cr_expect_eq((uintptr_t)ory_ring_pop(r), 9, "the item put is in the ring");
	cr_expect_null(ory_ring_pop(r));
	free(r);
}

Test(ring, delivers_every_item_exactly_once_across_producers_and_sleeping_consumers,
     .timeout = 120)
{
	struct stress s = { .r = ring_alloc(64) };
	ory_evcount_init(&s.ev);
	atomic_init(&s.producers_left, PRODUCERS);
	s.seen = calloc(PRODUCERS * PER_PRODUCER, 1);
	pthread_t p[PRODUCERS], c[CONSUMERS];
	struct arg pa[PRODUCERS], ca[CONSUMERS];
	for (unsigned i = 0; i < CONSUMERS; i++) {
		ca[i] = (struct arg){ &s, i };
		pthread_create(&c[i], NULL, consumer, &ca[i]);
	}
	for (unsigned i = 0; i < PRODUCERS; i++) {
		pa[i] = (struct arg){ &s, i };
		pthread_create(&p[i], NULL, producer, &pa[i]);
	}
	for (unsigned i = 0; i < PRODUCERS; i++)
		pthread_join(p[i], NULL);
	for (unsigned i = 0; i < CONSUMERS; i++)
		pthread_join(c[i], NULL);
	cr_assert_eq(atomic_load(&s.consumed), (uint64_t)PRODUCERS * PER_PRODUCER);
	size_t bad = 0;
	for (size_t i = 0; i < (size_t)PRODUCERS * PER_PRODUCER; i++)
		bad += s.seen[i] != 1;
	cr_expect_eq(bad, 0, "%zu items not seen exactly once", bad);
	free((void *)s.seen);
	free(s.r);
}

static struct ory_evcount wake_ev;
static _Atomic int wake_flag;

static void *sleeper(void *p)
{
	(void)p;
	for (;;) {
		uint32_t key = ory_evcount_prepare(&wake_ev);
		if (atomic_load(&wake_flag)) {
			ory_evcount_cancel(&wake_ev);
			return NULL;
		}
		ory_evcount_wait(&wake_ev, key);
	}
}

Test(ring, eventcount_wakes_a_sleeping_waiter, .timeout = 30)
{
	for (int round = 0; round < 200; round++) {
		ory_evcount_init(&wake_ev);
		atomic_store(&wake_flag, 0);
		pthread_t t;
		pthread_create(&t, NULL, sleeper, NULL);
		if (round & 1)
			usleep(100);
		atomic_store(&wake_flag, 1);
		ory_evcount_notify(&wake_ev, 1);
		pthread_join(t, NULL); /* hangs (and times out) on a lost wakeup */
	}
}
