/* SPDX-License-Identifier: MIT */
/* job.h - one running job, shared by the event loop (engine.c), the device workers (worker.c)
 * and the failover bookkeeping (failover.c). */
#ifndef ORY_JOB_H
#define ORY_JOB_H

#include <pthread.h>

#include "reader.h"
#include "ring.h"

#define EVENTFD_TAG ((void *)1)

struct worker {
	struct job *job;
	struct ory_device *d;
	unsigned index;
	pthread_t thread;
	bool started;
	void *verify_state;   /* the app's verifier for this worker, when d->verify */
};

struct job {
	struct ory_runtime *rt;
	const struct ory_job_spec *spec;
	struct ory_job_desc desc;
	struct ory_pool pool;
	/* Chunks to run: `dispatch` in input order; `retry` holds chunks that failed somewhere
	 * and is looked at first. Workers pull from both. */
	struct ory_ring *dispatch, *retry;
	/* Chunks that used up max_tries, for the reserve CPU workers (fallback) to finish. */
	struct ory_ring *last;
	unsigned reserves;            /* reserve workers running the job */
	struct ory_ring *done;        /* finished, failed or late chunks, in any order */
	struct ory_evcount work;      /* workers sleep here while there is nothing to take */
	struct ory_evcount fallback;  /* reserve workers sleep here while other devices are healthy */
	_Atomic bool stop;            /* set once; workers then finish what they hold and exit */
	_Atomic unsigned healthy;     /* non-reserve devices running the job, not quarantined */
	struct ory_evcount started;   /* the calling thread waits here for workers' job_begin */
	_Atomic unsigned begun, active;
	int efd;                      /* workers -> calling thread: "something finished" */
	uint64_t efd_buf;
	bool efd_armed;
	struct io_uring ring;
	bool ring_ok;
	struct ory_reader reader;
	struct ory_chunk_slot **window; /* finished chunks by seq % pool count */
	uint64_t next_commit;
	unsigned spare;               /* buffers kept back from the reader for watchdog retries */
	unsigned watched;             /* devices the watchdog looks after */
	struct worker *workers;
	uint64_t retries;
};

uint64_t ory_now_ns(void);

/* worker.c */
void *ory_worker_main(void *arg);

/* failover.c: all on the calling thread. */
/* A device returned `s`: file it, retry it, or recycle a late one. Returns 1 when the chunk
 * was queued again, 0 when filed or recycled, or a negative errno that ends the job. */
int ory_failover_collect(struct job *j, struct ory_chunk_slot *s);
/* Take chunks away from devices that have held them too long. Returns the time (ns) of the
 * next deadline, UINT64_MAX if none, or 0 with an error set in *err. */
uint64_t ory_failover_watch(struct job *j, int *err);
/* Queue a chunk for (another) run, avoiding the devices that failed it. */
void ory_failover_requeue(struct job *j, struct ory_chunk_slot *s);

#endif /* ORY_JOB_H */
