/* SPDX-License-Identifier: MIT */
/*
 * ring.h - bounded lock-free MPMC ring of pointers (Vyukov's sequence-per-cell design) and an
 * eventcount that lets an idle consumer sleep on a futex instead of spinning.
 *
 * Ring: every cell carries a sequence number. A producer may write cell i when its sequence
 * equals the position it claimed; a consumer may read it when the sequence is position + 1.
 * Positions are claimed with a relaxed CAS (the cell sequence, not the counter, publishes the
 * data), the data is published with a release store of the sequence and taken with an acquire
 * load, so a consumer that sees the sequence sees the pointer and everything written before the
 * push. Capacity is a power of two; the runtime sizes every ring to hold every item that can be
 * in it at once. That alone does not make a push infallible: a consumer frees its cell only
 * after its CAS on the tail (the sequence store ends the pop), and one preempted in between
 * holds that cell while others pop on; a lap later the producer that reaches it finds it
 * taken, however few items the ring holds. ory_ring_put waits for that consumer (it is between
 * two instructions, not blocked) instead of failing; ory_ring_push fails, for callers with
 * somewhere else to put the item.
 *
 * Eventcount (the pattern of folly/Eigen's EventCount): a waiter announces itself (waiters++,
 * seq_cst), reads the current epoch, re-checks its condition and only then sleeps on the epoch.
 * A notifier publishes its work, then reads `waiters` with a seq_cst read-modify-write. The two
 * RMWs on one variable are ordered: either the waiter's re-check sees the work, or the notifier
 * sees the waiter and bumps the epoch, which makes the futex wait return at once.
 */
#ifndef ORY_RING_H
#define ORY_RING_H

#include <errno.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <limits.h>
#include <sched.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define ORY_CACHELINE 64

struct ory_ring_cell {
	_Atomic size_t seq;
	void *data;
};

struct ory_ring {
	size_t mask;
	_Alignas(ORY_CACHELINE) _Atomic size_t head; /* next position to push */
	_Alignas(ORY_CACHELINE) _Atomic size_t tail; /* next position to pop */
	_Alignas(ORY_CACHELINE) struct ory_ring_cell cells[];
};

/* Bytes a ring of `capacity` (a power of two) needs; 0 if capacity is not one. */
static inline size_t ory_ring_memsize(size_t capacity)
{
	if (capacity < 2 || (capacity & (capacity - 1)))
		return 0;
	return sizeof(struct ory_ring) + capacity * sizeof(struct ory_ring_cell);
}

/* Initialise a ring in caller memory of ory_ring_memsize(capacity) bytes, aligned to 64.
 * Not thread-safe: no other thread may use the ring until this returns. */
static inline void ory_ring_init(struct ory_ring *r, size_t capacity)
{
	r->mask = capacity - 1;
	atomic_init(&r->head, 0);
	atomic_init(&r->tail, 0);
	for (size_t i = 0; i < capacity; i++) {
		atomic_init(&r->cells[i].seq, i);
		r->cells[i].data = NULL;
	}
}

/* Push one pointer. Returns false if the ring is full. Any thread. */
static inline bool ory_ring_push(struct ory_ring *r, void *p)
{
	size_t pos = atomic_load_explicit(&r->head, memory_order_relaxed);
	struct ory_ring_cell *c;

	for (;;) {
		c = &r->cells[pos & r->mask];
		/* acquire: pairs with the consumer's release that freed the cell, so our write of
		 * `data` cannot be overtaken by its read of the previous value. */
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->head, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return false;
		} else {
			pos = atomic_load_explicit(&r->head, memory_order_relaxed);
		}
	}
	c->data = p;
	/* release: publishes `data` (and all the producer wrote before) to the consumer. */
	atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
	return true;
}

/* Push one pointer into a ring sized for every item that can be in it: never fails, but may
 * wait for a consumer that was preempted in the middle of its pop (see top). Any thread. */
static inline void ory_ring_put(struct ory_ring *r, void *p)
{
	while (!ory_ring_push(r, p))
		sched_yield();
}

#ifdef ORY_TEST_STALL_POPS
/* Test builds (-DORY_TEST_STALL_POPS=ON, the TSan build of scripts/test): every 31st pop of a
 * thread sleeps 5 ms between claiming its cell and freeing it, the window described at the
 * top, long enough for the other threads to lap a dispatch ring: with the pushes that used to
 * ignore a failure, requests/eight_threads_... then hung in each of two runs (without stalls:
 * once in hundreds). It doubles the TSan run (40 to 90 s). */
static inline void ory_ring_test_stall(void)
{
	static _Thread_local unsigned pops;
	if (++pops % 31 == 0)
		usleep(5000);
}
#endif

/* Pop one pointer, or NULL if the ring is empty. Any thread. */
static inline void *ory_ring_pop(struct ory_ring *r)
{
	size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
	struct ory_ring_cell *c;

	for (;;) {
		c = &r->cells[pos & r->mask];
		/* acquire: pairs with the producer's release; we then see `data`. */
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&r->tail, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed))
				break;
		} else if (dif < 0) {
			return NULL;
		} else {
			pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
		}
	}
#ifdef ORY_TEST_STALL_POPS
	ory_ring_test_stall();
#endif
	void *p = c->data;
	/* release: our read of `data` happens before a producer reuses the cell one lap later. */
	atomic_store_explicit(&c->seq, pos + r->mask + 1, memory_order_release);
	return p;
}

/* Whether a pop would find nothing now. Any thread; acquire, like a pop. */
static inline bool ory_ring_empty(struct ory_ring *r)
{
	size_t pos = atomic_load_explicit(&r->tail, memory_order_relaxed);
	size_t seq = atomic_load_explicit(&r->cells[pos & r->mask].seq, memory_order_acquire);
	return (intptr_t)seq - (intptr_t)(pos + 1) < 0;
}

struct ory_evcount {
	_Atomic uint32_t epoch;
	_Atomic uint32_t waiters;
};

static inline void ory_evcount_init(struct ory_evcount *e)
{
	atomic_init(&e->epoch, 0);
	atomic_init(&e->waiters, 0);
}

/* Announce a wait; returns the key to pass to ory_evcount_wait. The caller must re-check its
 * condition after this and then call either ory_evcount_cancel or ory_evcount_wait. */
static inline uint32_t ory_evcount_prepare(struct ory_evcount *e)
{
	atomic_fetch_add_explicit(&e->waiters, 1, memory_order_seq_cst);
	return atomic_load_explicit(&e->epoch, memory_order_seq_cst);
}

static inline void ory_evcount_cancel(struct ory_evcount *e)
{
	atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
}

/* Sleep until the epoch moves past `key` (returns at once if it already has). */
static inline void ory_evcount_wait(struct ory_evcount *e, uint32_t key)
{
	while (atomic_load_explicit(&e->epoch, memory_order_acquire) == key)
		syscall(SYS_futex, &e->epoch, FUTEX_WAIT_PRIVATE, key, NULL, NULL, 0);
	atomic_fetch_sub_explicit(&e->waiters, 1, memory_order_relaxed);
}

/* Wake up to `n` waiters (INT_MAX: all). Call after publishing the work they wait for.
 * Returns whether anyone was waiting (or about to). */
static inline bool ory_evcount_notify(struct ory_evcount *e, int n)
{
	/* An RMW, not a plain load: both sides' RMWs on `waiters` are totally ordered. If ours
	 * comes first, the waiter's increment reads it and acquires our published work; if the
	 * waiter's comes first, we read it and wake. (A fence would do, but TSan cannot see
	 * fences.) */
	if (atomic_fetch_add_explicit(&e->waiters, 0, memory_order_seq_cst) == 0)
		return false;
	atomic_fetch_add_explicit(&e->epoch, 1, memory_order_release);
	syscall(SYS_futex, &e->epoch, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
	return true;
}

/* Sleep until *a != va or *b != vb, or until `abs` (CLOCK_MONOTONIC; NULL: no limit), or for
 * no reason (callers look again): Linux's futex_waitv (5.16). -ENOSYS on an older kernel, else
 * 0. A device's reap_or_work waits so on its own completion word and the runtime's. */
static inline int ory_futex_wait2(_Atomic uint32_t *a, uint32_t va, _Atomic uint32_t *b,
				  uint32_t vb, const struct timespec *abs)
{
	struct futex_waitv w[2] = {
		{ .val = va, .uaddr = (uintptr_t)a, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG },
		{ .val = vb, .uaddr = (uintptr_t)b, .flags = FUTEX_32 | FUTEX_PRIVATE_FLAG },
	};
	if (syscall(SYS_futex_waitv, w, 2, 0, abs, CLOCK_MONOTONIC) < 0 && errno == ENOSYS)
		return -ENOSYS;
	return 0;
}

#endif /* ORY_RING_H */
