/* SPDX-License-Identifier: MIT */
/*
 * reader.c - the input side of a job.
 *
 * A regular file is read at fixed offsets, chunk k at base + k * chunk_size, with up to `depth`
 * reads in flight into registered buffers (IORING_OP_READ_FIXED), so the kernel copies straight
 * from the page cache into pinned, NUMA-local memory. Reads may complete in any order and may
 * be short; a short read is continued at the next offset until the chunk is full or the file
 * ends. The first read that returns 0 fixes the number of chunks, and empty reads past it go
 * back to the pool. Pipes, sockets and ttys have no offsets: one read at a time, continued
 * until the chunk is full, so chunk boundaries still depend on the chunk size alone.
 *
 * Chunks leave in input order, which is what lets the reader prime chunk k with the last
 * 32 KiB of chunk k-1: that data is copied aside when k-1 leaves, because by the time k leaves,
 * k-1 may have been compressed, committed and its buffer reused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "reader.h"

int ory_reader_init(struct ory_reader *r, struct ory_runtime *rt, struct io_uring *ring,
		    struct ory_pool *pool, const struct ory_source *src, size_t chunk_size,
		    size_t dict_size)
{
	memset(r, 0, sizeof(*r));
	r->rt = rt;
	r->ring = ring;
	r->pool = pool;
	r->chunk_size = chunk_size;
	r->fd = src->fd;
	r->mem = src->mem;
	r->mem_len = src->mem_len;
	r->eof_seq = UINT64_MAX;
	r->dict_size = dict_size;
	r->depth = rt->opts.read_depth;
	r->ready = calloc(pool->count, sizeof(*r->ready));
	if (!r->ready)
		return -ENOMEM;

	if (r->fd < 0) {
		r->eof_seq = (r->mem_len + r->chunk_size - 1) / r->chunk_size;
		return 0;
	}
	if (dict_size && !(r->tail = malloc(dict_size)))
		return -ENOMEM;

	struct stat st;
	if (fstat(r->fd, &st) < 0)
		return ory_fail_at(rt, ORY_ORIGIN_INPUT, -errno, "cannot stat input: %s", strerror(errno));
	if (S_ISDIR(st.st_mode))
		return ory_fail_at(rt, ORY_ORIGIN_INPUT, -EISDIR, "input is a directory");
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		off_t off = lseek(r->fd, 0, SEEK_CUR);
		if (off >= 0) {
			r->seekable = true;
			r->base_off = (uint64_t)off;
		}
	}
	if (!r->seekable)
		r->depth = 1;

	if (r->seekable) {
		struct iovec *iov = calloc(pool->count, sizeof(*iov));
		if (!iov)
			return -ENOMEM;
		for (unsigned i = 0; i < pool->count; i++) {
			iov[i].iov_base = pool->slots[i].in_area;
			iov[i].iov_len = pool->in_stride;
		}
		int rc = io_uring_register_buffers(ring, iov, pool->count);
		free(iov);
		r->fixed = rc == 0;
		if (rc < 0)
			ory_log(rt, ORY_LOG_INFO, "io_uring buffer registration failed (%s); "
				"using plain reads", strerror(-rc));
	}
	return 0;
}

void ory_reader_fini(struct ory_reader *r)
{
	if (r->fixed)
		io_uring_unregister_buffers(r->ring);
	free(r->ready);
	free(r->tail);
	memset(r, 0, sizeof(*r));
}

bool ory_reader_wants(const struct ory_reader *r)
{
	return r->error == 0 && r->next_seq < r->eof_seq && r->inflight < r->depth;
}

static void queue_read(struct ory_reader *r, struct ory_chunk_slot *s)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(r->ring);
	if (!sqe) { /* the ring holds 2 * depth + 2 entries; make room anyway */
		io_uring_submit(r->ring);
		sqe = io_uring_get_sqe(r->ring);
	}
	uint8_t *dst = s->in_area + ORY_DICT_MAX + s->fill;
	unsigned len = (unsigned)(r->chunk_size - s->fill);
	/* A pipe has no offset: -1 reads at its current position. */
	uint64_t off = r->seekable ? s->file_off + s->fill : (uint64_t)-1;
	if (r->fixed)
		io_uring_prep_read_fixed(sqe, r->fd, dst, len, off, (int)s->index);
	else
		io_uring_prep_read(sqe, r->fd, dst, len, off);
	io_uring_sqe_set_data(sqe, s);
}

void ory_reader_start(struct ory_reader *r, struct ory_chunk_slot *s)
{
	uint64_t seq = r->next_seq++;
	s->c.seq = seq;
	s->c.status = 0;
	s->c.out_len = 0;
	s->tries = 0;
	s->device = -1;

	if (r->fd < 0) {
		size_t off = seq * r->chunk_size;
		s->c.in = r->mem + off;
		s->c.in_len = ORY_MIN(r->chunk_size, r->mem_len - off);
		s->c.dict_len = ORY_MIN(r->dict_size, off);
		r->ready[seq % r->pool->count] = s;
		return;
	}
	s->file_off = r->base_off + seq * r->chunk_size;
	s->fill = 0;
	s->reading = true;
	s->c.in = s->in_area + ORY_DICT_MAX;
	r->inflight++;
	queue_read(r, s);
}

void ory_reader_complete(struct ory_reader *r, struct ory_chunk_slot *s, int res)
{
	if (res == -EINTR || res == -EAGAIN) {
		queue_read(r, s);
		return;
	}
	if (res > 0) {
		s->fill += (size_t)res;
		if (s->fill < r->chunk_size) {
			queue_read(r, s);
			return;
		}
	}
	r->inflight--;
	s->reading = false;
	if (res < 0) {
		if (!r->error)
			r->error = res == -ECANCELED
					   ? res
					   : ory_fail_at(r->rt, ORY_ORIGIN_INPUT, -EIO, "read error: %s", strerror(-res));
		ory_pool_put(r->pool, s);
		return;
	}
	if (s->fill && s->c.seq + 1 > r->data_end)
		r->data_end = s->c.seq + 1;
	if (s->fill < r->chunk_size) { /* end of input inside (or at the start of) this chunk */
		uint64_t end = s->fill ? s->c.seq + 1 : s->c.seq;
		if (end < r->eof_seq)
			r->eof_seq = end;
	}
	/* Data past the end we found means the file shrank (or grew) while we read it. */
	if (r->data_end > r->eof_seq && !r->error)
		r->error = ory_fail_at(r->rt, ORY_ORIGIN_INPUT, -EIO, "input changed while it was read");
	if (s->c.seq >= r->eof_seq || r->error) {
		ory_pool_put(r->pool, s);
		return;
	}
	s->c.in_len = s->fill;
	r->ready[s->c.seq % r->pool->count] = s;
}

/* Put the last dict_size bytes of input before chunk s in front of it, then remember s's tail
 * for the chunk after it. */
static void prime(struct ory_reader *r, struct ory_chunk_slot *s)
{
	memcpy(s->in_area + ORY_DICT_MAX - r->tail_len, r->tail, r->tail_len);
	s->c.dict_len = r->tail_len;

	size_t n = s->c.in_len;
	if (n >= r->dict_size) {
		memcpy(r->tail, s->c.in + n - r->dict_size, r->dict_size);
		r->tail_len = r->dict_size;
		return;
	}
	size_t keep = ORY_MIN(r->tail_len, r->dict_size - n);
	memmove(r->tail, r->tail + r->tail_len - keep, keep);
	memcpy(r->tail + keep, s->c.in, n);
	r->tail_len = keep + n;
}

struct ory_chunk_slot *ory_reader_next(struct ory_reader *r)
{
	if (r->next_out >= r->eof_seq)
		return NULL;
	struct ory_chunk_slot **cell = &r->ready[r->next_out % r->pool->count];
	struct ory_chunk_slot *s = *cell;
	if (!s || s->c.seq != r->next_out)
		return NULL;
	*cell = NULL;
	if (r->fd >= 0) {
		if (r->dict_size)
			prime(r, s);
		else
			s->c.dict_len = 0;
	}
	r->next_out++;
	return s;
}

bool ory_reader_done(const struct ory_reader *r)
{
	return r->next_out >= r->eof_seq && r->inflight == 0;
}

void ory_reader_cancel(struct ory_reader *r)
{
	if (r->fd < 0 || r->inflight == 0)
		return;
	struct io_uring_sqe *sqe = io_uring_get_sqe(r->ring);
	if (sqe) {
		io_uring_prep_cancel_fd(sqe, r->fd, IORING_ASYNC_CANCEL_ALL);
		io_uring_sqe_set_data(sqe, NULL);
	}
	io_uring_submit(r->ring);
	/* The kernel may still be copying into our buffers until each read's CQE arrives. */
	while (r->inflight) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(r->ring, &cqe) < 0)
			break;
		struct ory_chunk_slot *s = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(r->ring, cqe);
		/* A cancelled or finished read ends here; it is never continued. */
		if (s && (uintptr_t)s > 1 && s->reading) {
			r->inflight--;
			s->reading = false;
		}
		(void)res;
	}
}
