/* SPDX-License-Identifier: MIT */
/* aio.h - the service thread's asynchronous I/O: reads and writes of requests' files and the
 * doorbell that wakes it, through io_uring, or through a helper thread when io_uring cannot be
 * set up (its ring memory counts against RLIMIT_MEMLOCK: a limit of 0 forbids it). */
#ifndef ORY_AIO_H
#define ORY_AIO_H

#include <liburing.h>
#include <pthread.h>

#include "internal.h"

struct aio_op;

struct ory_aio {
	struct ory_runtime *rt;
	bool uring;
	struct io_uring ring;
	bool fixed;                 /* registered buffers usable */
	unsigned queued;            /* SQEs not yet submitted */
	/* The doorbell: an eventfd whose read is armed in the ring (or polled, in fallback). */
	int doorbell;
	uint64_t doorbell_buf;
	bool doorbell_armed;
	_Atomic unsigned sleeping;  /* the service thread is about to wait: ring the doorbell */
	/* Fallback: one thread runs the operations, blocking, one at a time. */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct aio_op *ops;         /* free list and queues, linked through aio_op */
	struct aio_op *free_ops, *todo, *todo_tail, *done, *running;
	int wake;                   /* eventfd that interrupts the helper's poll on a pipe */
	bool stop;
};

/* Set up for `entries` operations in flight (reads, writes, cancels). Falls back to the helper
 * thread when io_uring cannot be set up, logging why once. Returns 0 or a negative errno. */
int ory_aio_init(struct ory_aio *a, struct ory_runtime *rt, unsigned entries, unsigned nbufs);
void ory_aio_fini(struct ory_aio *a);

/* Register buffer `index` of the pool as [base, base + len) for fixed reads. False when fixed
 * reads are not available (plain reads then work as well, with one more page walk). */
bool ory_aio_register(struct ory_aio *a, unsigned index, void *base, size_t len);

/* Queue a read of len bytes at off (-1: the file's position) into buf; fixed >= 0 names the
 * registered buffer buf lies in. `tag` comes back with the result. */
void ory_aio_read(struct ory_aio *a, int fd, void *buf, unsigned len, int64_t off, int fixed,
		  void *tag);
/* Queue a write of len bytes at off (-1: a pipe's or socket's position). */
void ory_aio_write(struct ory_aio *a, int fd, const void *buf, unsigned len, int64_t off,
		   void *tag);
/* Queue a wait until fd is readable (a non-blocking pipe's read said -EAGAIN); res >= 0 then. */
void ory_aio_poll_in(struct ory_aio *a, int fd, void *tag);
/* Ask for the operation with `tag` to end early; its completion still comes (-ECANCELED, or
 * its real result if it was done). */
void ory_aio_cancel(struct ory_aio *a, void *tag);

/* Submit what is queued, then (wait) sleep until a completion, the doorbell or `deadline`
 * (ns of CLOCK_MONOTONIC; UINT64_MAX: none). Calls fn for each completion. Returns 0 or a
 * negative errno (the ring failed). Service thread only. */
int ory_aio_run(struct ory_aio *a, bool wait, uint64_t deadline,
		void (*fn)(void *arg, void *tag, int res), void *arg);

/* Sleeping protocol. The service thread calls ory_aio_will_sleep, checks its rings once more,
 * then either ory_aio_run(wait) or ory_aio_wont_sleep. Producers publish their work, then call
 * ory_aio_ring, which writes the doorbell only if the service thread said it will sleep: both
 * sides' read-modify-writes on `sleeping` are ordered, so either the re-check sees the work or
 * the producer sees the sleeper (the pattern of ring.h's eventcount). */
static inline void ory_aio_will_sleep(struct ory_aio *a)
{
	atomic_exchange_explicit(&a->sleeping, 1, memory_order_seq_cst);
}

static inline void ory_aio_wont_sleep(struct ory_aio *a)
{
	atomic_store_explicit(&a->sleeping, 0, memory_order_relaxed);
}

void ory_aio_ring_doorbell(struct ory_aio *a);

static inline void ory_aio_ring(struct ory_aio *a)
{
	/* Only the first producer to find it asleep rings: the thread looks at every ring once it
	 * is up, and announces its next sleep again (a producer after that sees it). */
	if (atomic_exchange_explicit(&a->sleeping, 0, memory_order_seq_cst))
		ory_aio_ring_doorbell(a);
}

#endif /* ORY_AIO_H */
