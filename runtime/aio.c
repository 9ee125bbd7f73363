/* SPDX-License-Identifier: MIT */
/*
 * aio.c - reads, writes and the doorbell of the service thread.
 *
 * io_uring is the normal path: reads go straight into the pool's registered buffers
 * (READ_FIXED), writes go out from them, and the service thread sleeps in io_uring_enter, where
 * the completion of a read armed on the doorbell eventfd wakes it. Registration is sparse and
 * per buffer, made the first time a buffer is read into, and covers the bytes used: pinning a
 * buffer faults it in, and the pool's memory should follow what the input uses.
 *
 * When the ring cannot be created (its memory is charged to RLIMIT_MEMLOCK: `ulimit -l 0` as a
 * non-root user forbids it), one helper thread runs the same operations with plain blocking
 * calls, one at a time, and rings the doorbell after each; the service thread then sleeps in
 * poll() on the doorbell. A pipe read is preceded by poll() on the pipe and a wake-up eventfd,
 * so a cancel does not wait for the writer. Slower, but every request still works.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aio.h"

#define DOORBELL_TAG ((void *)1)

enum { OP_READ, OP_WRITE, OP_POLL };

struct aio_op {
	struct aio_op *next;
	int kind;
	int fd;
	void *buf;
	unsigned len;
	int64_t off;
	void *tag;
	int res;
	bool cancelled;
};

static void *helper_main(void *arg);

int ory_aio_init(struct ory_aio *a, struct ory_runtime *rt, unsigned entries, unsigned nbufs)
{
	memset(a, 0, sizeof(*a));
	a->rt = rt;
	a->wake = -1;
	/* Blocking: io_uring would answer a read of a non-blocking eventfd with -EAGAIN instead
	 * of waiting for it. */
	a->doorbell = eventfd(0, EFD_CLOEXEC);
	if (a->doorbell < 0)
		return -errno;
	int rc = io_uring_queue_init(entries, &a->ring, 0);
	if (rc == 0) {
		a->uring = true;
		/* Sparse: each buffer is registered when first read into (see top). */
		a->fixed = io_uring_register_buffers_sparse(&a->ring, nbufs) == 0;
		if (!a->fixed)
			ory_log(rt, ORY_LOG_INFO, "io_uring: no registered buffers here; plain reads");
		return 0;
	}
	ory_log(rt, ORY_LOG_INFO, "io_uring: %s (RLIMIT_MEMLOCK?); a helper thread does the I/O",
		strerror(-rc));
	fcntl(a->doorbell, F_SETFL, O_NONBLOCK); /* drained without waiting in poll's loop */
	a->ops = calloc(entries, sizeof(*a->ops));
	a->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!a->ops || a->wake < 0) {
		ory_aio_fini(a);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < entries; i++) {
		a->ops[i].next = a->free_ops;
		a->free_ops = &a->ops[i];
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_cond_init(&a->cond, NULL);
	rc = pthread_create(&a->thread, NULL, helper_main, a);
	if (rc) {
		pthread_mutex_destroy(&a->lock);
		pthread_cond_destroy(&a->cond);
		ory_aio_fini(a);
		return -rc;
	}
	a->thread_started = true;
	return 0;
}

void ory_aio_fini(struct ory_aio *a)
{
	if (a->uring) {
		io_uring_queue_exit(&a->ring);
	} else if (a->thread_started) {
		pthread_mutex_lock(&a->lock);
		a->stop = true;
		pthread_cond_signal(&a->cond);
		pthread_mutex_unlock(&a->lock);
		uint64_t one = 1;
		ssize_t n = write(a->wake, &one, sizeof(one));
		(void)n;
		pthread_join(a->thread, NULL);
		pthread_mutex_destroy(&a->lock);
		pthread_cond_destroy(&a->cond);
	}
	if (a->wake >= 0)
		close(a->wake);
	if (a->doorbell >= 0)
		close(a->doorbell);
	free(a->ops);
	memset(a, 0, sizeof(*a));
	a->doorbell = a->wake = -1;
}

bool ory_aio_register(struct ory_aio *a, unsigned index, void *base, size_t len)
{
	if (!a->fixed)
		return false;
	struct iovec iov = { .iov_base = base, .iov_len = len };
	__u64 tag = 0;
	if (io_uring_register_buffers_update_tag(&a->ring, index, &iov, &tag, 1) == 1)
		return true;
	/* Over RLIMIT_MEMLOCK, most likely: registered buffers are pinned memory. */
	ory_log(a->rt, ORY_LOG_INFO, "io_uring: cannot register more buffers; plain reads");
	a->fixed = false;
	return false;
}

static struct io_uring_sqe *sqe_get(struct ory_aio *a)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);
	if (!sqe) { /* full: hand the queued ones to the kernel, which frees the slots */
		io_uring_submit(&a->ring);
		a->queued = 0;
		sqe = io_uring_get_sqe(&a->ring);
	}
	a->queued++;
	return sqe;
}

/* Fallback: queue an operation for the helper thread. */
static void helper_queue(struct ory_aio *a, int kind, int fd, void *buf, unsigned len, int64_t off,
			 void *tag)
{
	pthread_mutex_lock(&a->lock);
	struct aio_op *op = a->free_ops; /* never empty: entries covers every operation in flight */
	a->free_ops = op->next;
	*op = (struct aio_op){ .kind = kind, .fd = fd, .buf = buf, .len = len, .off = off,
			       .tag = tag };
	if (a->todo_tail)
		a->todo_tail->next = op;
	else
		a->todo = op;
	a->todo_tail = op;
	pthread_cond_signal(&a->cond);
	pthread_mutex_unlock(&a->lock);
}

void ory_aio_read(struct ory_aio *a, int fd, void *buf, unsigned len, int64_t off, int fixed,
		  void *tag)
{
	if (!a->uring)
		return helper_queue(a, OP_READ, fd, buf, len, off, tag);
	struct io_uring_sqe *sqe = sqe_get(a);
	if (fixed >= 0 && a->fixed)
		io_uring_prep_read_fixed(sqe, fd, buf, len, (__u64)off, fixed);
	else
		io_uring_prep_read(sqe, fd, buf, len, (__u64)off);
	io_uring_sqe_set_data(sqe, tag);
}

void ory_aio_write(struct ory_aio *a, int fd, const void *buf, unsigned len, int64_t off,
		   void *tag)
{
	if (!a->uring)
		return helper_queue(a, OP_WRITE, fd, (void *)buf, len, off, tag);
	struct io_uring_sqe *sqe = sqe_get(a);
	io_uring_prep_write(sqe, fd, buf, len, (__u64)off);
	io_uring_sqe_set_data(sqe, tag);
}

void ory_aio_poll_in(struct ory_aio *a, int fd, void *tag)
{
	if (!a->uring)
		return helper_queue(a, OP_POLL, fd, NULL, 0, -1, tag);
	struct io_uring_sqe *sqe = sqe_get(a);
	io_uring_prep_poll_add(sqe, fd, POLLIN);
	io_uring_sqe_set_data(sqe, tag);
}

void ory_aio_cancel(struct ory_aio *a, void *tag)
{
	if (a->uring) {
		struct io_uring_sqe *sqe = sqe_get(a);
		io_uring_prep_cancel(sqe, tag, 0);
		io_uring_sqe_set_data(sqe, NULL);
		return;
	}
	pthread_mutex_lock(&a->lock);
	for (struct aio_op *op = a->todo; op; op = op->next)
		op->cancelled |= op->tag == tag;
	if (a->running && a->running->tag == tag) {
		a->running->cancelled = true;
		uint64_t one = 1;
		ssize_t n = write(a->wake, &one, sizeof(one));
		(void)n;
	}
	pthread_mutex_unlock(&a->lock);
}

void ory_aio_ring_doorbell(struct ory_aio *a)
{
	uint64_t one = 1;
	/* A full counter (EAGAIN) still wakes the reader: nothing is lost. */
	ssize_t n = write(a->doorbell, &one, sizeof(one));
	(void)n;
}

/* Wait until fd is readable or the wake-up eventfd fires. False if the op was cancelled. */
static bool helper_wait_readable(struct ory_aio *a, struct aio_op *op)
{
	struct stat st;
	if (fstat(op->fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)))
		return true;
	for (;;) {
		struct pollfd p[2] = { { .fd = op->fd, .events = POLLIN }, { .fd = a->wake, .events = POLLIN } };
		int n = poll(p, 2, -1);
		if (p[1].revents) {
			uint64_t v;
			ssize_t r = read(a->wake, &v, sizeof(v));
			(void)r;
		}
		pthread_mutex_lock(&a->lock);
		bool cancelled = op->cancelled || a->stop;
		pthread_mutex_unlock(&a->lock);
		if (cancelled)
			return false;
		if (n > 0 && p[0].revents)
			return true;
	}
}

static void *helper_main(void *arg)
{
	struct ory_aio *a = arg;
	pthread_mutex_lock(&a->lock);
	for (;;) {
		while (!a->todo && !a->stop)
			pthread_cond_wait(&a->cond, &a->lock);
		if (a->stop)
			break;
		struct aio_op *op = a->todo;
		a->todo = op->next;
		if (!a->todo)
			a->todo_tail = NULL;
		a->running = op;
		bool cancelled = op->cancelled;
		pthread_mutex_unlock(&a->lock);

		ssize_t n = -1;
		errno = ECANCELED;
		if (!cancelled && op->kind == OP_POLL) {
			n = helper_wait_readable(a, op) ? 0 : -1;
		} else if (!cancelled && (op->kind == OP_WRITE || helper_wait_readable(a, op))) {
			do {
				if (op->kind == OP_WRITE && op->off >= 0)
					n = pwrite(op->fd, op->buf, op->len, op->off);
				else if (op->kind == OP_WRITE)
					n = write(op->fd, op->buf, op->len);
				else if (op->off >= 0)
					n = pread(op->fd, op->buf, op->len, op->off);
				else
					n = read(op->fd, op->buf, op->len);
			} while (n < 0 && errno == EINTR);
		}
		op->res = n < 0 ? -errno : (int)n;

		pthread_mutex_lock(&a->lock);
		a->running = NULL;
		op->next = a->done;
		a->done = op;
		pthread_mutex_unlock(&a->lock);
		ory_aio_ring_doorbell(a);
		pthread_mutex_lock(&a->lock);
	}
	pthread_mutex_unlock(&a->lock);
	return NULL;
}

static void drain_doorbell(struct ory_aio *a)
{
	uint64_t v;
	ssize_t n = read(a->doorbell, &v, sizeof(v));
	(void)n;
}

static int run_fallback(struct ory_aio *a, bool wait, uint64_t deadline,
			void (*fn)(void *arg, void *tag, int res), void *arg)
{
	if (wait) {
		int ms = -1;
		if (deadline != UINT64_MAX) {
			uint64_t now = ory_now_ns();
			ms = deadline > now ? (int)ORY_MIN((deadline - now + 999999) / 1000000, 1u << 30) : 0;
		}
		struct pollfd p = { .fd = a->doorbell, .events = POLLIN };
		poll(&p, 1, ms);
		ory_aio_wont_sleep(a);
	}
	drain_doorbell(a);
	pthread_mutex_lock(&a->lock);
	struct aio_op *done = a->done;
	a->done = NULL;
	pthread_mutex_unlock(&a->lock);
	/* The list is newest first; completions of one request's reads may come in any order. */
	while (done) {
		struct aio_op *op = done;
		done = op->next;
		void *tag = op->tag;
		int res = op->res;
		pthread_mutex_lock(&a->lock);
		op->next = a->free_ops;
		a->free_ops = op;
		pthread_mutex_unlock(&a->lock);
		fn(arg, tag, res);
	}
	return 0;
}

int ory_aio_run(struct ory_aio *a, bool wait, uint64_t deadline,
		void (*fn)(void *arg, void *tag, int res), void *arg)
{
	if (!a->uring)
		return run_fallback(a, wait, deadline, fn, arg);
	if (wait && !a->doorbell_armed) {
		struct io_uring_sqe *sqe = sqe_get(a);
		io_uring_prep_read(sqe, a->doorbell, &a->doorbell_buf, sizeof(a->doorbell_buf), 0);
		io_uring_sqe_set_data(sqe, DOORBELL_TAG);
		a->doorbell_armed = true;
	}
	int rc;
	if (!wait) {
		rc = a->queued ? io_uring_submit(&a->ring) : 0;
	} else if (deadline == UINT64_MAX) {
		rc = io_uring_submit_and_wait(&a->ring, 1);
	} else {
		uint64_t now = ory_now_ns(), left = deadline > now ? deadline - now : 0;
		struct __kernel_timespec ts = { .tv_sec = (long long)(left / 1000000000u),
						.tv_nsec = (long long)(left % 1000000000u) };
		struct io_uring_cqe *cqe;
		rc = io_uring_submit_and_wait_timeout(&a->ring, &cqe, 1, &ts, NULL);
		if (rc == -ETIME)
			rc = 0;
	}
	a->queued = 0;
	if (wait)
		ory_aio_wont_sleep(a);
	if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY)
		return rc;

	struct io_uring_cqe *cqe;
	unsigned head, n = 0;
	io_uring_for_each_cqe(&a->ring, head, cqe) {
		void *tag = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		n++;
		if (tag == DOORBELL_TAG)
			a->doorbell_armed = false;
		else if (tag)
			fn(arg, tag, res);
	}
	io_uring_cq_advance(&a->ring, n);
	return 0;
}
