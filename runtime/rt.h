/* SPDX-License-Identifier: MIT */
/* rt.h - the resident runtime as its files share it: the runtime object, requests as the
 * service thread tracks them, completion queues and the per-request reader. */
#ifndef ORY_RT_H
#define ORY_RT_H

#include "aio.h"
#include "pool.h"

/* The input side of one request (reader.c). */
struct ory_reader {
	int fd;                     /* -1: memory, iovec or a mapped file */
	bool seekable;              /* regular file: reads at offsets, several in flight */
	bool mapped;                /* a regular file mapped and read in place */
	bool whole;                 /* one chunk of memory, whatever its size */
	unsigned depth;             /* reads in flight at most */
	unsigned inflight;
	const uint8_t *mem;         /* memory source or mapping */
	size_t mem_len;
	void *map;                  /* the mapping to undo, and its length */
	size_t map_len;
	const struct iovec *iov;    /* iovec source: next piece and offset in it */
	unsigned iovcnt, iov_i;
	size_t iov_off;
	uint64_t base_off;          /* file offset of the first input byte */
	uint64_t limit;             /* input bytes at most (UINT64_MAX: to the end) */
	/* Bytes a regular file holds from base_off as far as we know (its size at open, more if
	 * reads find more; UINT64_MAX: not a regular file): no read starts past it, and buffers
	 * are locked for what a chunk is expected to hold, so a small file costs its pages, not
	 * read_depth chunks of them. */
	uint64_t expect;
	size_t chunk_size;
	uint64_t next_seq;          /* next chunk to start reading */
	uint64_t eof_seq;           /* number of chunks in the input; UINT64_MAX until known */
	uint64_t next_out;          /* next chunk to hand out */
	uint64_t data_end;          /* 1 + highest chunk that held data */
	/* Dictionary priming for chunks not read in place: the last dict_size bytes of the input
	 * handed out so far, copied because the previous chunk's buffer may already be reused. */
	size_t dict_size;
	uint8_t *tail;              /* ORY_DICT_MAX bytes, the record's, kept across requests */
	size_t tail_len;
	/* Chunks the app ends (spec.boundary): where the next one starts, and the bytes read past
	 * the last chunk's end that belong to it (the record's buffer, kept across requests). */
	bool cdc;
	uint64_t next_off;
	uint8_t *carry;
	size_t carry_len, carry_cap;
};

/* Whether the reader knows if the input is more than one chunk: its end was seen, or a second
 * chunk held data. Of a pipe whose first chunk is full, only the next read tells. */
static inline bool ory_reader_count_known(const struct ory_reader *rd)
{
	return rd->eof_seq != UINT64_MAX || rd->data_end >= 2;
}

/* Wake-ups of completed requests' waiters (queues' eventfds, synchronous callers) that a
 * runtime thread owes and gives before it waits or goes on to other work: woken at once, the
 * waiter would preempt it in the middle of its work on a busy host (request.c). */
struct ory_owed {
	struct ory_queue **queues;
	_Atomic uint32_t **futexes;
	unsigned nq, nf, cap;
};
/* This thread's (the service thread's, a worker's); NULL: wake at once. */
extern __thread struct ory_owed *ory_owed;
void ory_owed_pay(struct ory_owed *o);

/* A request in flight: one record per request, preallocated (max_requests of them). */
struct req {
	struct ory_runtime *rt;
	struct ory_request *pub;
	_Atomic(struct ory_request *) owner; /* pub, for ory_cancel's check from any thread */
	struct ory_queue *q;
	bool sync;                  /* a synchronous call: its caller waits for it */
	struct app_queues *aq;
	struct ory_job_spec spec;
	struct ory_source src;
	struct ory_sink sink;
	/* 2 * generation + cancelled: ory_cancel can only hit the request it was asked for. */
	_Atomic uint64_t ticket;
	/* Failed or cancelled: workers skip its chunks. Set by the service thread. */
	_Atomic bool abandoned;
	/* ---- service thread ---- */
	struct req *next_feed;      /* the list of requests waiting for buffers */
	bool feeding;
	struct req *prev_active, *next_active; /* every request the service thread holds */
	bool in_service;
	struct ory_reader reader;
	struct ory_chunk_slot **cells; /* its chunks by seq % pool count, from read to release */
	unsigned held;              /* pool buffers it holds, a hung device's included */
	uint64_t next_commit;       /* next chunk to commit */
	uint64_t next_write;        /* next committed chunk to write (fd sink) */
	bool header_done, trailer_done, rehead_done, writing;
	enum { PIECE_HEADER, PIECE_CHUNK, PIECE_TRAILER, PIECE_REHEAD } piece;
	size_t write_off;           /* bytes of the piece being written that are out */
	int64_t out_start;          /* where the output began in a seekable output, else -1 */
	int64_t out_pos;            /* where the next write goes in a seekable output, else -1 */
	bool tail_known;            /* the app's trailer was asked for */
	const uint8_t *tail;        /* what ends the output, and the header to write again */
	size_t tail_len;
	const uint8_t *rehead;
	size_t rehead_len;
	int error;                  /* first failure (its message is in pub->errmsg) */
	uint64_t bytes_in, bytes_out, chunks, retries;
	struct req_frame_store frame; /* the app's per-request state (spec.frame points here) */
};

/* A completion queue (request.c). */
/* Low bit of a queue entry: the entry is a request whose runtime was destroyed, not a record. */
#define ORY_QUEUE_DETACHED ((uintptr_t)1)

struct ory_queue {
	struct ory_runtime *rt;
	struct ory_ring *done;      /* completed requests, oldest first */
	int efd;
	_Atomic unsigned signalled; /* efd written since the consumer last reset it */
	_Atomic unsigned writers;   /* completions between posting and ringing the eventfd */
};

struct ory_runtime {
	struct ory_topo topo;
	struct ory_runtime_opts opts;
	char *cpus_copy;               /* opts.cpus, ours */
	unsigned ndevices;
	struct ory_device *devices;
	hwloc_bitmap_t nodeset;        /* NUMA nodes of all devices: where the pool lives */
	char *spec_copy;               /* parsed device spec; devices' args point into it */
	unsigned napps;
	struct app_queues apps[ORY_MAX_APPS];
	size_t out_stride_need;        /* the largest output any app's chunk needs */
	/* Workers sleep in groups of the same apps (and reserve or not), so that new work wakes
	 * a worker that can take it: one eventcount each. */
	unsigned ngroups;
	struct worker_group *groups;
	struct ory_evcount readmit;    /* quarantined workers wait here to be put back */
	struct ory_evcount started;    /* create waits here for every worker's attach */
	_Atomic unsigned begun;
	_Atomic bool go;               /* create counted every device's apps: take chunks */
	_Atomic bool stop;             /* destroy: workers finish what they hold and exit */
	/* Requests */
	struct req *reqs;              /* max_requests records, set up as first taken */
	_Atomic unsigned reqs_touched; /* every record ever taken is below this (destroy looks
					* there; some below were never taken: rt NULL) */
	struct ory_chunk_slot **cells; /* max_requests x pool count */
	struct ory_ring *free_reqs;    /* records not in use */
	struct ory_ring *submitted;    /* records handed to the service thread */
	struct ory_ring *cancels;      /* records ory_cancel marked */
	struct ory_evcount room;       /* synchronous callers wait here for a free record */
	_Atomic bool closing;          /* destroy began: no more submissions */
	/* Express requests (express.c): the slots set aside for them, and how many are on a
	 * worker's path now (the service thread outlives them all). */
	struct ory_ring *express;
	unsigned nexpress;
	_Atomic unsigned express_inflight;
	/* The service thread's last watchdog scan found express requests in flight, so it wakes
	 * again within a timeout (failover.c); when not, the next express submitter wakes it. */
	_Atomic bool express_watched;
	/* The service thread */
	pthread_t service;
	bool service_started;
	struct ory_pool pool;
	struct ory_aio aio;
	struct ory_ring *done;         /* chunks back from devices, in any order */
	struct req *feed_head, *feed_tail;
	struct req *active;            /* requests activated and not complete */
	unsigned spare;                /* buffers kept back for watchdog retries */
	unsigned watched;              /* devices the watchdog looks after */
	unsigned cap_per_req;          /* buffers one request may hold while others wait */
	/* Wake-ups the service thread owes and gives at the end of its turn (ory_pay_wakes): one
	 * woken thread at a time would preempt it in the middle of its batch on a busy host. */
	unsigned owed_chunks[ORY_MAX_APPS];
	struct ory_owed owed;           /* completions' wake-ups, max_requests at most */
};

/* Give the wake-ups owed (service thread, before it sleeps or at the end of its turn). */
void ory_pay_wakes(struct ory_runtime *rt);

struct worker_group {
	struct ory_evcount ev;         /* idle workers */
	struct ory_evcount more;       /* workers with chunks in flight and a free slot */
	uint32_t apps;
	bool reserve;
};

/* Wake up to n workers that may take a chunk of app `app` now; ory_wake_all: every worker
 * (the set of who may take what changed, or the runtime stops). Any thread. */
void ory_wake(struct ory_runtime *rt, unsigned app, int n);
void ory_wake_all(struct ory_runtime *rt);

/* The app queues a device worker sees: rt->apps[i]. */
static inline bool ory_device_runs(const struct ory_device *d, unsigned app)
{
	return d->apps >> app & 1;
}

/* reader.c: all on the service thread. */
int ory_reader_open(struct req *r);
/* Input bytes the next chunk to start is expected to hold (chunk_size when unknown). */
size_t ory_reader_expected(const struct req *r);
void ory_reader_close(struct req *r);
bool ory_reader_wants(const struct req *r);
void ory_reader_start(struct req *r, struct ory_chunk_slot *s);
void ory_reader_complete(struct req *r, struct ory_chunk_slot *s, int res);
struct ory_chunk_slot *ory_reader_next(struct req *r);
bool ory_reader_done(const struct req *r);
void ory_reader_cancel(struct req *r);

/* The longest trailer a chunk written straight into a caller's buffer must leave room for
 * (service.c, and request.c's inline runs). */
#define TRAILER_ROOM 16

/* service.c */
void *ory_service_main(void *arg);
/* Return a chunk's buffer to the pool and account it to its request. */
void ory_slot_release(struct ory_runtime *rt, struct ory_chunk_slot *s);
/* The same without the check: the request may be complete after it, so the caller must end
 * with ory_check_done(r) and not touch r after that (the record may be someone else's then). */
void ory_slot_put(struct ory_runtime *rt, struct ory_chunk_slot *s);
/* Complete r if nothing of it is left anywhere (no buffer, read or write), writing its
 * trailer first when everything was committed. */
void ory_check_done(struct req *r);
/* Fail r with rc (message set unless one was) and stop what it still has going. */
void ory_req_abort(struct req *r, int rc);
/* Failed or cancelled: its chunks are skipped. */
static inline bool ory_abandoned(const struct req *r)
{
	return atomic_load_explicit(&r->abandoned, memory_order_relaxed);
}

/* sink.c: the output side, on the service thread (for an express request, the memory sink's
 * header on its submitter and its output on its worker, express.c). */
/* Append to a memory sink (a device may have written it in place already). 0 or -ENOSPC. */
int ory_sink_put(struct req *r, const uint8_t *data, size_t len);
/* Whether the header can be decided: the input says whether it is more than one chunk. */
bool ory_sink_header_known(const struct req *r);
/* Decide the header, given the input's number of chunks (UINT64_MAX: not known), and put it
 * into a memory sink (or none). 0 or -ENOSPC. */
int ory_sink_mem_header(struct req *r, uint64_t chunks);
/* Commit every finished chunk that is next in input order, then write (fd) or complete. */
void ory_sink_commit(struct req *r);
/* Start the next write of an fd sink, if one can go; else see whether r is done. */
void ory_sink_pump(struct req *r);
/* A write of r's completed with res (bytes or a negative errno). */
void ory_sink_write_done(struct req *r, int res);

/* worker.c */
void *ory_worker_main(void *arg);

/* express.c: requests of one chunk, memory to memory, that go from the submitting thread to a
 * device's worker and back without the service thread. */
/* Submitting thread: start r that way if it qualifies and a slot is free; false: it did
 * nothing, take the usual path. */
bool ory_express_start(struct req *r);
/* The worker, for its express chunk s that its device finished (and it still holds): commit,
 * complete r and free the slot, true; false when s failed or r was cancelled: the service
 * thread adopts it (ory_adopt). */
bool ory_express_commit(struct ory_device *d, struct ory_chunk_slot *s);
/* Return an express slot to the set (whoever holds it). */
void ory_express_put(struct ory_runtime *rt, struct ory_chunk_slot *s);
/* service.c: the service thread takes over the request of express chunk s (a failure, a
 * cancel, a timeout): from now on it is an ordinary request holding s as its only chunk. The
 * caller clears s->express unless a worker may still hold s (the watchdog's case). */
void ory_adopt(struct ory_runtime *rt, struct ory_chunk_slot *s);

/* failover.c: all on the service thread. */
/* A device returned `s`: file it, retry it, or recycle a late one. Returns 0 when filed (a
 * success, or a failure of an abandoned request), 1 when queued again, 2 when a late answer was
 * recycled, or a negative errno that fails its request (message set). */
int ory_failover_collect(struct ory_runtime *rt, struct ory_chunk_slot *s);
/* Take chunks away from devices that have held them too long, and put quarantined devices
 * back in service when their time is up. Returns the time (ns) of the next deadline,
 * UINT64_MAX if none. */
uint64_t ory_failover_watch(struct ory_runtime *rt);
/* How long device d may take for a chunk of `bytes` before the watchdog takes it away (its
 * worker fixes a chunk's deadline when it starts it). Any thread. */
uint64_t ory_failover_timeout(struct ory_runtime *rt, struct ory_device *d, size_t bytes);
/* Queue a chunk for (another) run, avoiding the devices that failed it. */
void ory_failover_requeue(struct ory_runtime *rt, struct ory_chunk_slot *s);
/* Queue a chunk for its first run. */
void ory_dispatch(struct ory_runtime *rt, struct ory_chunk_slot *s);

/* request.c */
/* Deliver a finished request to its queue or callback and free its record. Any thread. */
void ory_req_complete(struct req *r);
/* Its counts into the public request, the app's finish hook, then ory_req_complete. */
void ory_req_deliver(struct req *r);
/* Is the request cancelled? Any thread. */
static inline bool ory_req_cancelled(const struct req *r)
{
	return atomic_load_explicit(&r->ticket, memory_order_relaxed) & 1;
}
/* Write q's eventfd and drop the `writers` count its completion took. Any thread. */
void ory_queue_ring(struct ory_queue *q);
/* Release a record (complete or refused). */
void ory_req_release(struct req *r);
/* Destroy: turn the entries of queues still holding records into the requests (request.c). */
void ory_queues_detach(struct ory_runtime *rt);

/* The synchronous calls: submit pub (its op and options set) from this thread, waiting for
 * room rather than -EAGAIN, and wait for it; progress as in octoray.h. Returns pub->status and
 * leaves a failure's message for ory_runtime_errmsg. */
int ory_sync(struct ory_runtime *rt, struct ory_request *pub, ory_progress_fn progress,
	     void *progress_arg, struct ory_job_stats *stats);
/* ory_sync with the record prepared by prep(r, arg) instead of by the op's prepare. */
int ory_sync_with(struct ory_runtime *rt, struct ory_request *pub,
		  int (*prep)(struct req *r, const void *arg), const void *arg,
		  ory_progress_fn progress, void *progress_arg, struct ory_job_stats *stats);

/* apps/gzip/gzip.c: r->src and r->sink from the public request's input and output fields;
 * need_out: the operation writes output. Returns 0 or -EINVAL (message set). */
int ory_req_endpoints(struct req *r, bool need_out);

/* apps: fill r->spec, r->src and r->sink from r->pub (called by ory_submit on the submitting
 * thread). Returns 0 or -EINVAL/-ENOTSUP/-ENOMEM with the reason set by ory_req_fail. */
int ory_deflate_prepare(struct req *r);
int ory_inflate_prepare(struct req *r);
int ory_crc_prepare(struct req *r);
int ory_cnv_prepare(struct req *r);

#endif /* ORY_RT_H */
