/* SPDX-License-Identifier: MIT */
/* reader.h - fills chunks from the job's input with io_uring (or points them into the caller's
 * memory) and hands them out strictly in input order, primed with their dictionary. */
#ifndef ORY_READER_H
#define ORY_READER_H

#include <liburing.h>

#include "pool.h"

struct ory_reader {
	struct ory_runtime *rt;
	struct io_uring *ring;
	struct ory_pool *pool;
	size_t chunk_size;
	int fd;                     /* -1: memory source */
	bool seekable;              /* regular file: reads at offsets, several in flight */
	bool fixed;                 /* buffers registered: IORING_OP_READ_FIXED */
	unsigned depth;             /* reads in flight at most */
	unsigned inflight;
	const uint8_t *mem;
	size_t mem_len;
	uint64_t base_off;          /* file offset of the first input byte */
	uint64_t next_seq;          /* next chunk to start reading */
	uint64_t eof_seq;           /* number of chunks in the input; UINT64_MAX until known */
	uint64_t next_out;          /* next chunk to hand out */
	uint64_t data_end;          /* 1 + highest chunk that held data */
	struct ory_chunk_slot **ready; /* by seq % pool count: chunks read, not yet handed out */
	/* Dictionary priming: the last dict_size bytes of the input handed out so far. Copied
	 * because the previous chunk's buffer may already be committed and reused. */
	size_t dict_size;
	uint8_t *tail;
	size_t tail_len;
	int error;                  /* first read error (negative errno); message in rt */
};

int ory_reader_init(struct ory_reader *r, struct ory_runtime *rt, struct io_uring *ring,
		    struct ory_pool *pool, const struct ory_source *src, size_t chunk_size,
		    size_t dict_size);
void ory_reader_fini(struct ory_reader *r);

/* Whether another chunk read may start now (input left, below the depth). */
bool ory_reader_wants(const struct ory_reader *r);
/* Start filling slot `s` with the next chunk. Queues SQEs; the caller submits. */
void ory_reader_start(struct ory_reader *r, struct ory_chunk_slot *s);
/* Account one read completion of slot `s` (from its CQE). */
void ory_reader_complete(struct ory_reader *r, struct ory_chunk_slot *s, int res);
/* The next chunk in input order if it is fully read, primed with its dictionary; else NULL. */
struct ory_chunk_slot *ory_reader_next(struct ory_reader *r);
/* All chunks of the input handed out. */
bool ory_reader_done(const struct ory_reader *r);
/* Cancel reads in flight and wait until the kernel is done with their buffers. */
void ory_reader_cancel(struct ory_reader *r);

#endif /* ORY_READER_H */
