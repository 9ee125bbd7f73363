/* SPDX-License-Identifier: MIT */
/*
 * request.c - requests from the caller's side: records, submission, small requests run inline,
 * cancel, completion queues, and the synchronous calls as submit-and-wait.
 *
 * Records. Each request in flight has a record, taken from a lock-free ring of free ones at
 * submit; none left is -EAGAIN, which is how max_requests bounds the runtime's work. A request
 * completed into a queue keeps its record until ory_queue_poll takes it, so a queue can never
 * hold more than max_requests entries and its ring never overflows.
 *
 * Inline. A small request, memory to memory, of an app only CPU workers run, costs a few
 * microseconds of kernel time; handing it to the service thread and a worker and back costs
 * tens. So it runs on the submitting thread, with a kernel state taken from a per-app ring of
 * idle ones (a state holds per-level buffers that are too costly to set up per request).
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <poll.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#include "rt.h"

#define KiB ((size_t)1024)
#define INLINE_CPU (64 * KiB)
#define MAX_CALLBACK_DEPTH 8

/* Requests completed inline whose callbacks run inside ory_submit: bounded nesting. */
static __thread unsigned callback_depth;

void ory_request_init(struct ory_request *req, enum ory_op op)
{
	memset(req, 0, sizeof(*req));
	req->struct_size = sizeof(*req);
	req->op = op;
	req->in_fd = -1;
	req->out_fd = -1;
	req->in_offset = -1;
}

void ory_req_release(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	uint64_t t = atomic_load_explicit(&r->ticket, memory_order_relaxed);
	atomic_store_explicit(&r->owner, NULL, memory_order_relaxed);
	/* release: a canceller that reads the new generation sees the owner cleared */
	atomic_store_explicit(&r->ticket, (t | 1) + 1, memory_order_release);
	r->pub = NULL;
	ory_ring_put(rt->free_reqs, r);
	ory_evcount_notify(&rt->room, 1);
}

static void run_callback(struct ory_request *pub)
{
	callback_depth++;
	pub->done(pub);
	callback_depth--;
}

void ory_req_complete(struct req *r)
{
	struct ory_request *pub = r->pub;
	struct ory_queue *q = r->q;
	pub->status = r->error;
	if (r->error == 0) {
		pub->origin = ORY_ORIGIN_NONE;
		pub->errmsg[0] = '\0';
	}
	if (!q) {
		/* The record first: the callback may submit again. */
		ory_req_release(r);
		return run_callback(pub);
	}
	/* Once the entry is in, the poller may take it and destroy the queue while we still
	 * write the eventfd: destroy waits for `writers` to drop to zero. */
	atomic_fetch_add_explicit(&q->writers, 1, memory_order_relaxed);
	ory_ring_put(q->done, r);
	/* RMW on both sides (ory_queue_poll's exchange): either the poller sees the entry or we
	 * see it reset the flag and write the eventfd. */
	if (!atomic_exchange_explicit(&q->signalled, 1, memory_order_seq_cst)) {
		struct ory_owed *o = ory_owed;
		if (o && o->nq < o->cap) { /* `writers` held till it is paid */
			o->queues[o->nq++] = q;
			return;
		}
		return ory_queue_ring(q);
	}
	atomic_fetch_sub_explicit(&q->writers, 1, memory_order_release);
}

__thread struct ory_owed *ory_owed;

void ory_owed_pay(struct ory_owed *o)
{
	for (unsigned i = 0; i < o->nq; i++)
		ory_queue_ring(o->queues[i]);
	for (unsigned i = 0; i < o->nf; i++)
		syscall(SYS_futex, o->futexes[i], FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	o->nq = o->nf = 0;
}

void ory_req_deliver(struct req *r)
{
	struct ory_request *pub = r->pub;
	pub->bytes_in = r->bytes_in;
	pub->bytes_out = r->bytes_out;
	pub->chunks = r->chunks;
	pub->retries = r->retries;
	if (r->spec.finish)
		r->spec.finish(r);
	ory_req_complete(r);
}

void ory_queue_ring(struct ory_queue *q)
{
	uint64_t one = 1;
	ssize_t n = write(q->efd, &one, sizeof(one));
	(void)n;
	atomic_fetch_sub_explicit(&q->writers, 1, memory_order_release);
}

/* ---- submission -------------------------------------------------------------------------- */

static int (*const prepare[])(struct req *r) = {
	[ORY_OP_DEFLATE] = ory_deflate_prepare,
	[ORY_OP_INFLATE] = ory_inflate_prepare,
	[ORY_OP_CRC32] = ory_crc_prepare,
	[ORY_OP_CNV] = ory_cnv_prepare,
};

/* A synchronous caller waits anyway: its one-chunk request runs on its own thread rather than
 * wake a worker and sleep (1 MiB at level 1 from 8 threads: 0.43-0.81x of the same threads
 * calling ISA-L through the workers). runs_inline bounds it to one chunk. */
static size_t inline_limit(const struct req *r)
{
	size_t max = r->rt->opts.inline_max;
	if (max != ORY_INLINE_AUTO)
		return max;
	return !r->aq->cpu_only ? 0 : r->sync ? SIZE_MAX : INLINE_CPU;
}

static bool runs_inline(const struct req *r)
{
	const struct ory_job_spec *spec = &r->spec;
	if (r->src.fd >= 0 || r->src.iov || r->sink.fd >= 0 || spec->emit || spec->cut ||
	    !spec->app->sw ||
	    callback_depth >= MAX_CALLBACK_DEPTH || r->src.mem_len > inline_limit(r))
		return false;
	if (spec->whole)
		return true;
	/* one chunk, whose output fits the caller's buffer whatever it compresses to */
	size_t room = spec->header_len + spec->out_bound + (spec->trailer ? TRAILER_ROOM : 0);
	return r->src.mem_len <= spec->chunk_size && (!r->sink.mem || r->sink.mem_cap >= room);
}

/* An idle state from `cache`, or a new one (a kernel may need none: NULL is a state too). */
static int state_get(struct ory_ring *cache, const struct ory_kernel_ops *k, void **st)
{
	*st = ory_ring_pop(cache);
	return *st ? 0 : k->open(st);
}

static void state_put(struct ory_ring *cache, const struct ory_kernel_ops *k, void *st)
{
	if (!st || !ory_ring_push(cache, st))
		k->close(st);
}

/* Run a one-chunk request here and now, as the service thread and a CPU worker would. */
static void run_inline(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	const struct ory_job_spec *spec = &r->spec;
	const struct ory_app *app = spec->app;
	struct app_queues *aq = r->aq;
	struct ory_sink *k = &r->sink;
	struct ory_chunk c = {
		.app = app,
		.params = spec->params,
		.in = r->src.mem,
		.in_len = r->src.mem_len,
		.dict = spec->dict_len ? spec->dict : r->src.mem,
		.dict_len = spec->dict_len,
	};
	r->bytes_in = r->bytes_out = r->chunks = r->retries = 0;
	if (k->mem) {
		if (spec->header_len)
			memcpy(k->mem, spec->header, spec->header_len);
		c.out = k->mem + spec->header_len;
		c.out_cap = k->mem_cap - spec->header_len - (spec->trailer ? TRAILER_ROOM : 0);
	}
	int rc = 0;
	if (c.in_len || spec->whole) {
		void *ks, *vs;
		if (spec->first_chunk)
			spec->first_chunk(r, true); /* no more than one chunk runs inline */
		rc = state_get(aq->kcache, app->sw, &ks);
		if (rc == 0) {
			rc = app->sw->run(ks, &c);
			state_put(aq->kcache, app->sw, ks);
		}
		const struct ory_kernel_ops *v = app->verify;
		if (rc == 0 && v && rt->opts.verify == ORY_VERIFY_ALL &&
		    (rc = state_get(aq->vcache, v, &vs)) == 0) {
			rc = v->run(vs, &c);
			state_put(aq->vcache, v, vs);
		}
		if (rc == 0 && app->post)
			rc = app->post(&c);
		c.status = rc;
		int origin = ORY_ORIGIN_INPUT;
		const char *bad = rc < 0 && app->final_error ? app->final_error(&c, &origin) : NULL;
		if (bad)
			ory_req_fail(r, (enum ory_error_origin)origin, rc, "%s", bad);
		else if (rc == -ENOSPC || rc == -EOVERFLOW)
			ory_req_fail(r, ORY_ORIGIN_OUTPUT, -ENOSPC, "output buffer too small");
		else if (rc < 0)
			ory_req_fail(r, ORY_ORIGIN_DEVICE, rc, "CPU kernel: %s", ory_strerror(rc));
		if (rc == 0) {
			r->chunks = 1;
			r->bytes_in = c.in_len;
			if (spec->committed)
				spec->committed(r, &c); /* a failure sets r->error and the message */
		}
	}
	size_t tl = 0, hl = 0;
	const uint8_t *head = NULL;
	const uint8_t *tail = r->error || !spec->trailer ? NULL
						       : spec->trailer(r, &tl, &head, &hl);
	if (r->error == 0 && spec->trailer && !tail)
		ory_req_fail(r, ORY_ORIGIN_NONE, -ENOMEM, "out of memory");
	if (r->error == 0) {
		if (k->mem && tl)
			memcpy(c.out + c.out_len, tail, tl);
		if (k->mem && head) /* one chunk has no index: never, but the rule is the rule */
			memcpy(k->mem, head, hl);
		r->bytes_out = spec->header_len + c.out_len + tl;
		k->mem_len = r->bytes_out;
	}
	ory_req_deliver(r);
}

/* The part of ory_submit shared with ory_run_spec: r is prepared. */
static int submit_prepared(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	if (runs_inline(r)) {
		run_inline(r);
		return 0;
	}
	if (ory_express_start(r))
		return 0;
	ory_ring_put(rt->submitted, r);
	ory_aio_ring(&rt->aio);
	return 0;
}

static struct req *take_record(struct ory_runtime *rt, struct ory_request *pub,
			       struct ory_queue *q)
{
	struct req *r = ory_ring_pop(rt->free_reqs);
	if (!r)
		return NULL;
	if (!r->rt) { /* its first use (make_requests); the record is ours alone now */
		unsigned i = (unsigned)(r - rt->reqs), seen = atomic_load(&rt->reqs_touched);
		r->rt = rt;
		r->cells = rt->cells + (size_t)i * rt->pool.count;
		while (seen <= i && !atomic_compare_exchange_weak(&rt->reqs_touched, &seen, i + 1))
			;
	}
	r->pub = pub;
	r->q = q;
	r->sync = false;
	r->error = 0;
	r->aq = NULL;
	memset(&r->spec, 0, sizeof(r->spec));
	r->spec.frame = &r->frame;
	memset(&r->src, 0, sizeof(r->src));
	memset(&r->sink, 0, sizeof(r->sink));
	r->src.fd = r->sink.fd = -1;
	pub->status = 0;
	pub->origin = ORY_ORIGIN_NONE;
	pub->errmsg[0] = '\0';
	pub->bytes_in = pub->bytes_out = pub->chunks = pub->retries = 0;
	pub->crc32 = pub->adler32 = 0;
	pub->priv = r;
	atomic_store_explicit(&r->owner, pub, memory_order_relaxed);
	return r;
}

/* Refuse a request that has a record: its message is in pub->errmsg. */
static int refuse(struct req *r, int rc)
{
	ory_req_release(r);
	return rc;
}

int ory_submit(struct ory_runtime *rt, struct ory_queue *q, struct ory_request *pub)
{
	if (!rt || !pub || pub->struct_size < sizeof(struct ory_request) || (q && q->rt != rt))
		return -EINVAL;
	if (atomic_load_explicit(&rt->closing, memory_order_acquire))
		return -ESHUTDOWN;
	if (!q && !pub->done) {
		snprintf(pub->errmsg, sizeof(pub->errmsg),
			 "a request submitted without a queue needs a done callback");
		return -EINVAL;
	}
	if (pub->op < ORY_OP_DEFLATE || pub->op > ORY_OP_CNV) {
		snprintf(pub->errmsg, sizeof(pub->errmsg), "unknown operation %d", (int)pub->op);
		return -EINVAL;
	}
	struct req *r = take_record(rt, pub, q);
	if (!r)
		return -EAGAIN;
	int rc = prepare[pub->op](r);
	if (rc < 0)
		return refuse(r, rc);
	if (!r->aq || !r->aq->attached)
		return refuse(r, ory_req_fail(r, ORY_ORIGIN_DEVICE, -ENODEV, "no device can run %s",
					      r->spec.app->name));
	return submit_prepared(r);
}

int ory_cancel(struct ory_runtime *rt, struct ory_request *pub)
{
	if (!rt || !pub)
		return -EINVAL;
	struct req *r = pub->priv;
	if (!r || r < rt->reqs || r >= rt->reqs + rt->opts.max_requests)
		return -ENOENT;
	uint64_t t = atomic_load_explicit(&r->ticket, memory_order_acquire);
	if (atomic_load_explicit(&r->owner, memory_order_relaxed) != pub)
		return -ENOENT;
	if (t & 1)
		return 0;
	/* Fails if the request completed (and its record moved on) since we looked. */
	if (!atomic_compare_exchange_strong_explicit(&r->ticket, &t, t | 1, memory_order_acq_rel,
						     memory_order_relaxed))
		return -ENOENT;
	ory_ring_put(rt->cancels, r);
	ory_aio_ring(&rt->aio);
	return 0;
}

/* ---- completion queues ------------------------------------------------------------------- */

int ory_queue_create(struct ory_runtime *rt, struct ory_queue **out)
{
	if (!rt || !out)
		return -EINVAL;
	*out = NULL;
	struct ory_queue *q = calloc(1, sizeof(*q));
	size_t cap = 2;
	while (cap < rt->opts.max_requests)
		cap <<= 1;
	if (!q || !(q->done = aligned_alloc(ORY_CACHELINE, (ory_ring_memsize(cap) + 63) & ~63ul))) {
		free(q);
		return -ENOMEM;
	}
	ory_ring_init(q->done, cap);
	q->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (q->efd < 0) {
		int rc = -errno;
		free(q->done);
		free(q);
		return rc;
	}
	q->rt = rt;
	*out = q;
	return 0;
}

void ory_queue_destroy(struct ory_queue *q)
{
	if (!q)
		return;
	/* A completion that posted the last entry may still be ringing the eventfd. */
	while (atomic_load_explicit(&q->writers, memory_order_acquire))
		sched_yield();
	close(q->efd);
	free(q->done);
	free(q);
}

int ory_queue_fd(const struct ory_queue *q)
{
	return q ? q->efd : -EINVAL;
}

int ory_queue_poll(struct ory_queue *q, struct ory_request **reqs, unsigned max, int timeout_ms)
{
	if (!q || (!reqs && max))
		return -EINVAL;
	uint64_t deadline = timeout_ms > 0 ? ory_now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
	for (;;) {
		unsigned n = 0;
		struct req *r;
		while (n < max && (r = ory_ring_pop(q->done))) {
			struct ory_request *pub;
			/* its runtime is gone: the entry is the request, with no record */
			if ((uintptr_t)r & ORY_QUEUE_DETACHED) {
				pub = (struct ory_request *)((uintptr_t)r & ~ORY_QUEUE_DETACHED);
			} else {
				pub = r->pub;
				ory_req_release(r);
			}
			if (pub->done)
				run_callback(pub);
			reqs[n++] = pub;
		}
		if (n || timeout_ms == 0 || max == 0)
			return (int)n;
		/* Empty: reset the eventfd, then look once more before sleeping on it. */
		atomic_exchange_explicit(&q->signalled, 0, memory_order_seq_cst);
		uint64_t v;
		ssize_t got = read(q->efd, &v, sizeof(v));
		(void)got;
		if (!ory_ring_empty(q->done))
			continue;
		int ms = -1;
		if (timeout_ms > 0) {
			uint64_t now = ory_now_ns();
			if (now >= deadline)
				return 0;
			ms = (int)((deadline - now + 999999) / 1000000);
		}
		struct pollfd p = { .fd = q->efd, .events = POLLIN };
		poll(&p, 1, ms);
	}
}

/* At destroy, once every request has completed: requests posted to a queue and not yet polled
 * hold records that are about to be freed, so each such entry becomes the request itself,
 * marked, which ory_queue_poll hands out with no record to release. Going round the ring once
 * (the first marked entry popped is where we started) keeps the entries in order. Destroy
 * overlaps no other call, so nobody polls meanwhile. */
void ory_queues_detach(struct ory_runtime *rt)
{
	for (unsigned i = 0; i < atomic_load(&rt->reqs_touched); i++) {
		struct req *r = &rt->reqs[i];
		if (!r->q || !atomic_load_explicit(&r->owner, memory_order_relaxed))
			continue;
		struct ory_queue *q = r->q;
		void *e;
		while ((e = ory_ring_pop(q->done))) {
			if ((uintptr_t)e & ORY_QUEUE_DETACHED) {
				ory_ring_put(q->done, e);
				break;
			}
			struct req *x = e;
			atomic_store_explicit(&x->owner, NULL, memory_order_relaxed);
			ory_ring_put(q->done, (void *)((uintptr_t)x->pub | ORY_QUEUE_DETACHED));
		}
	}
}

/* ---- synchronous calls ------------------------------------------------------------------- */

struct sync_wait {
	_Atomic uint32_t done; /* 0, 1 done, or 2: the caller sleeps on it (wake it) */
};

static void sync_done(struct ory_request *pub)
{
	struct sync_wait *w = pub->cookie;
	/* A caller that has not gone to sleep (a request run inline, on its own thread, or one
	 * that finished at once) needs no wake-up: no futex call. */
	if (atomic_exchange_explicit(&w->done, 1, memory_order_acq_rel) != 2)
		return;
	struct ory_owed *o = ory_owed;
	if (o && o->nf < o->cap) { /* a runtime thread: before it waits */
		o->futexes[o->nf++] = &w->done;
		return;
	}
	/* The waiter may be gone already (woken by its progress tick, it saw `done`): a wake of
	 * an address nobody waits on does nothing. */
	syscall(SYS_futex, &w->done, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

int ory_sync_with(struct ory_runtime *rt, struct ory_request *pub,
		  int (*prep)(struct req *r, const void *arg), const void *arg,
		  ory_progress_fn progress, void *progress_arg, struct ory_job_stats *stats)
{
	struct sync_wait w = { .done = 0 };
	uint64_t t0 = ory_now_ns();
	pub->done = sync_done;
	pub->cookie = &w;
	ory_tls_set_error(rt, ORY_ORIGIN_NONE, "");
	if (atomic_load_explicit(&rt->closing, memory_order_acquire))
		return ory_tls_fail(rt, ORY_ORIGIN_NONE, -ESHUTDOWN, "runtime is being destroyed");
	struct req *r;
	for (;;) {
		uint32_t key = ory_evcount_prepare(&rt->room);
		r = take_record(rt, pub, NULL);
		if (r) {
			ory_evcount_cancel(&rt->room);
			break;
		}
		ory_evcount_wait(&rt->room, key);
	}
	r->sync = true;
	int rc = prep(r, arg);
	if (rc == 0 && (!r->aq || !r->aq->attached))
		rc = ory_req_fail(r, ORY_ORIGIN_DEVICE, -ENODEV, "no device can run %s",
				  r->spec.app->name);
	if (rc < 0) {
		ory_tls_set_error(rt, pub->origin, pub->errmsg);
		refuse(r, rc);
		return rc;
	}
	submit_prepared(r);
	for (;;) {
		uint32_t v = 0;
		if (!atomic_compare_exchange_strong_explicit(&w.done, &v, 2, memory_order_acq_rel,
							     memory_order_acquire) &&
		    v == 1)
			break;
		struct timespec tick = { 0, 100 * 1000000 };
		syscall(SYS_futex, &w.done, FUTEX_WAIT_PRIVATE, 2, progress ? &tick : NULL, NULL, 0);
		if (progress && atomic_load_explicit(&w.done, memory_order_acquire) != 1)
			progress(progress_arg, __atomic_load_n(&pub->bytes_in, __ATOMIC_RELAXED),
				 __atomic_load_n(&pub->bytes_out, __ATOMIC_RELAXED));
	}
	if (progress && pub->status == 0)
		progress(progress_arg, pub->bytes_in, pub->bytes_out);
	if (stats) {
		struct ory_job_stats st = {
			.struct_size = sizeof(st),
			.bytes_in = pub->bytes_in,
			.bytes_out = pub->bytes_out,
			.chunks = pub->chunks,
			.retries = pub->retries,
			.seconds = (double)(ory_now_ns() - t0) * 1e-9,
			.pool_bytes = ory_pool_bytes(&rt->pool),
		};
		size_t n = ORY_MIN(stats->struct_size, sizeof(st));
		st.struct_size = n;
		memcpy(stats, &st, n);
	}
	if (pub->status < 0)
		ory_tls_set_error(rt, pub->origin, pub->errmsg);
	return pub->status;
}

static int prep_op(struct req *r, const void *arg)
{
	(void)arg;
	return prepare[r->pub->op](r);
}

int ory_sync(struct ory_runtime *rt, struct ory_request *pub, ory_progress_fn progress,
	     void *progress_arg, struct ory_job_stats *stats)
{
	return ory_sync_with(rt, pub, prep_op, NULL, progress, progress_arg, stats);
}

struct spec_arg {
	const struct ory_job_spec *spec;
	const struct ory_source *src;
	const struct ory_sink *sink;
};

static int prep_spec(struct req *r, const void *arg)
{
	const struct spec_arg *a = arg;
	r->spec = *a->spec;
	if (!r->spec.chunk_size)
		r->spec.chunk_size = r->rt->opts.chunk_size;
	r->src = *a->src;
	r->sink = *a->sink;
	r->aq = ory_app_queues(r->rt, r->spec.app);
	return 0;
}

int ory_run_spec(struct ory_runtime *rt, struct ory_request *pub, const struct ory_job_spec *spec,
		 const struct ory_source *src, struct ory_sink *sink, ory_progress_fn progress,
		 void *progress_arg, struct ory_job_stats *stats)
{
	struct spec_arg a = { spec, src, sink };
	int rc = ory_sync_with(rt, pub, prep_spec, &a, progress, progress_arg, stats);
	sink->mem_len = pub->bytes_out;
	return rc;
}
