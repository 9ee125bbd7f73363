/* SPDX-License-Identifier: MIT */
/*
 * reader.c - the input side of a request, on the service thread.
 *
 * Memory is read in place: a chunk points into the caller's buffer, its dictionary is the
 * bytes before it. An iovec is gathered into the pool, a chunk at a time. A regular file is
 * read at fixed offsets, chunk k at base + k * chunk_size, with up to `depth` reads in flight
 * into the pool's registered buffers (READ_FIXED), so the kernel copies straight from the page
 * cache into pinned, NUMA-local memory; or, when the runtime maps files and only CPU workers
 * run the app, the file is mapped and read in place like memory. Reads may complete in any
 * order and may be short; a short read is continued at the next offset until the chunk is full
 * or the file ends. The first read that returns 0 fixes the number of chunks. Pipes, sockets
 * and ttys have no offsets: one read at a time, continued until the chunk is full, so chunk
 * boundaries still depend on the chunk size alone. When the app must know whether the first
 * chunk is the whole input (spec.first_chunk), a pipe's full first chunk leaves only once the
 * next read has said.
 *
 * When the app ends chunks where the content says (spec.boundary: gzip --rsyncable), a chunk is
 * read as a window of chunk_size bytes from where the one before it ended and the app picks
 * its end in it; the bytes after that end are copied aside (the carry) and start the next
 * window, so nothing is read twice and a pipe works the same. The next chunk's offset is known
 * only then: one read in flight per request (other requests still read alongside).
 *
 * Chunks leave in input order, which is what lets the reader prime chunk k with the last
 * 32 KiB of chunk k-1 when it was not read in place: that data is copied aside when k-1 leaves,
 * because by the time k leaves, k-1 may have been compressed, committed and its buffer reused.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rt.h"

static struct ory_chunk_slot **cell(struct req *r, uint64_t seq)
{
	return &r->cells[seq % r->rt->pool.count];
}

/* Map [off, off + len) of a regular file for reading in place. */
static int map_file(struct req *r, uint64_t off, uint64_t len)
{
	struct ory_reader *rd = &r->reader;
	uint64_t start = off & ~(uint64_t)4095;
	size_t maplen = (size_t)(len + (off - start));
	void *p = mmap(NULL, maplen, PROT_READ, MAP_SHARED, rd->fd, (off_t)start);
	if (p == MAP_FAILED)
		return -errno;
	/* Sequential: the kernel reads ahead in large steps and drops pages behind. */
	(void)madvise(p, maplen, MADV_SEQUENTIAL);
	rd->map = p;
	rd->map_len = maplen;
	rd->mem = (const uint8_t *)p + (off - start);
	rd->mem_len = (size_t)len;
	return 0;
}

static int open_file(struct req *r)
{
	struct ory_reader *rd = &r->reader;
	struct ory_runtime *rt = r->rt;
	struct stat st;
	if (fstat(rd->fd, &st) < 0)
		return ory_req_fail(r, ORY_ORIGIN_INPUT, -errno, "cannot stat input: %s",
				    strerror(errno));
	if (S_ISDIR(st.st_mode))
		return ory_req_fail(r, ORY_ORIGIN_INPUT, -EISDIR, "input is a directory");
	/* An app that cuts the source counts offsets from the file's start. */
	int64_t off = r->spec.cut ? 0 : r->src.has_offset ? (int64_t)r->src.offset : -1;
	if (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode)) {
		if (off < 0)
			off = lseek(rd->fd, 0, SEEK_CUR);
		rd->seekable = off >= 0;
	} else if (off >= 0) {
		return ory_req_fail(r, ORY_ORIGIN_INPUT, -ESPIPE,
				    "input offset %lld asked of a file that cannot seek",
				    (long long)off);
	}
	rd->limit = r->src.len && !r->spec.cut ? r->src.len : UINT64_MAX;
	/* at most; a file that ends first says so with a short read */
	if (rd->limit != UINT64_MAX && !rd->cdc)
		rd->eof_seq = (rd->limit + rd->chunk_size - 1) / rd->chunk_size;
	if (!rd->seekable) {
		rd->depth = 1;
		return 0;
	}
	rd->base_off = (uint64_t)off;
	rd->depth = rd->cdc ? 1 : rt->opts.read_depth;
	/* the input bytes a regular file holds, as far as its size says */
	uint64_t len = ORY_MIN((uint64_t)st.st_size > rd->base_off
				       ? (uint64_t)st.st_size - rd->base_off : 0,
			       rd->limit);
	if (S_ISREG(st.st_mode) && !rd->cdc && !r->spec.cut)
		rd->expect = len;
	if (rt->opts.map_files && S_ISREG(st.st_mode) && r->aq->cpu_only) {
		if (len == 0) {
			rd->mapped = true; /* nothing to read: an empty memory source */
			rd->mem_len = 0;
			return 0;
		}
		if (len <= SIZE_MAX && map_file(r, rd->base_off, len) == 0) {
			rd->mapped = true;
			rd->fd = -1;
		}
	}
	return 0;
}

static int cdc_count_known(struct req *r);

int ory_reader_open(struct req *r)
{
	struct ory_reader *rd = &r->reader;
	uint8_t *tail = rd->tail, *carry = rd->carry; /* the record's, kept for the next request */
	size_t carry_cap = rd->carry_cap;
	memset(rd, 0, sizeof(*rd));
	rd->tail = tail;
	rd->carry = carry;
	rd->carry_cap = carry_cap;
	rd->cdc = r->spec.boundary != NULL;
	rd->fd = r->src.fd;
	rd->mem = r->src.mem;
	rd->mem_len = r->src.mem_len;
	rd->iov = r->src.iov;
	rd->iovcnt = r->src.iovcnt;
	rd->chunk_size = r->spec.chunk_size;
	rd->dict_size = r->spec.dict_size;
	rd->eof_seq = UINT64_MAX;
	rd->expect = UINT64_MAX;
	rd->whole = r->spec.whole;

	if (rd->fd >= 0) {
		int rc = open_file(r);
		if (rc < 0)
			return rc;
		if (r->spec.cut && !rd->seekable && !rd->mapped)
			return ory_req_fail(r, ORY_ORIGIN_INPUT, -ESPIPE,
					    "chunks by an index need a file that can seek");
	} else if (rd->iov) {
		for (unsigned i = 0; i < rd->iovcnt; i++)
			rd->mem_len += rd->iov[i].iov_len;
	}
	if (rd->fd < 0) { /* memory, iovec or mapping: the size is known */
		rd->eof_seq = rd->whole ? (rd->mem_len > 0)
					: (rd->mem_len + rd->chunk_size - 1) / rd->chunk_size;
		rd->depth = UINT32_MAX;
		if (rd->cdc && cdc_count_known(r) < 0)
			return ory_req_fail(r, ORY_ORIGIN_NONE, -ENOMEM, "out of memory");
	} else if (rd->cdc && rd->carry_cap < rd->chunk_size) {
		free(rd->carry);
		rd->carry_cap = 0;
		if (!(rd->carry = malloc(rd->chunk_size)))
			return ory_req_fail(r, ORY_ORIGIN_NONE, -ENOMEM, "out of memory");
		rd->carry_cap = rd->chunk_size;
	}
	if (r->spec.cut)
		rd->eof_seq = r->spec.cut_n;
	bool in_place = rd->fd < 0 && !rd->iov;
	if ((rd->dict_size || r->spec.dict_len) && !in_place) {
		if (!rd->tail && !(rd->tail = malloc(ORY_DICT_MAX)))
			return ory_req_fail(r, ORY_ORIGIN_NONE, -ENOMEM, "out of memory");
		rd->tail_len = r->spec.dict_len;
		if (rd->tail_len)
			memcpy(rd->tail, r->spec.dict, rd->tail_len);
	}
	return 0;
}

void ory_reader_close(struct req *r)
{
	struct ory_reader *rd = &r->reader;
	if (rd->map)
		munmap(rd->map, rd->map_len);
	rd->map = NULL;
}

bool ory_reader_wants(const struct req *r)
{
	const struct ory_reader *rd = &r->reader;
	return rd->next_seq < rd->eof_seq && rd->inflight < rd->depth &&
	       (rd->expect == UINT64_MAX || rd->next_seq * rd->chunk_size <= rd->expect);
}

/* The bytes of chunk seq that lie before input offset `end` (UINT64_MAX: a whole chunk). */
static size_t bytes_before(const struct ory_reader *rd, uint64_t seq, uint64_t end)
{
	uint64_t start = seq * rd->chunk_size;
	if (end == UINT64_MAX)
		return rd->chunk_size;
	return start >= end ? 0 : (size_t)ORY_MIN((uint64_t)rd->chunk_size, end - start);
}

/* What chunk seq of a regular file is expected to hold: 0 for the one that starts at its end,
 * whose read only confirms the end (a file may grow). */
static size_t expected_at(const struct ory_reader *rd, uint64_t seq)
{
	return bytes_before(rd, seq, rd->expect);
}

size_t ory_reader_expected(const struct req *r)
{
	const struct ory_reader *rd = &r->reader;
	if (rd->fd >= 0)
		return expected_at(rd, rd->next_seq);
	if (rd->whole)
		return rd->mem_len;
	/* memory or an iovec: what is left of it */
	return bytes_before(rd, rd->next_seq, rd->cdc || r->spec.cut ? UINT64_MAX : rd->mem_len);
}

/* Bytes chunk seq holds at most: a chunk, or what is left of a range. */
static size_t chunk_want(const struct ory_reader *rd, uint64_t seq)
{
	return bytes_before(rd, seq, rd->limit);
}

static void queue_read(struct req *r, struct ory_chunk_slot *s)
{
	struct ory_reader *rd = &r->reader;
	struct ory_runtime *rt = r->rt;
	uint8_t *dst = s->in_area + ORY_DICT_MAX + s->fill;
	unsigned len = (unsigned)(s->want - s->fill);
	int fixed = -1;
	/* Registered once per buffer, for the bytes a chunk of this size needs (a cut chunk,
	 * compressed, may need a little more); registering pins every page of it, so not for a
	 * read expected to fill less than half of it (the kernel then touches what it writes). */
	size_t need = ORY_MAX(ORY_DICT_MAX + rd->chunk_size, (size_t)(dst + len - s->in_area));
	bool registered = s->registered >= need;
	if (rd->seekable && !registered && 2 * expected_at(rd, s->c.seq) >= rd->chunk_size &&
	    ory_aio_register(&rt->aio, s->index, s->in_area, (need + 4095) & ~(size_t)4095)) {
		s->registered = (need + 4095) & ~(size_t)4095;
		registered = true;
	}
	if (rd->seekable && registered)
		fixed = (int)s->index;
	/* A pipe has no offset: -1 reads at its current position. */
	int64_t off = rd->seekable ? (int64_t)(s->file_off + s->fill) : -1;
	ory_aio_read(&rt->aio, rd->fd, dst, len, off, fixed, s);
}

/* Copy the next len bytes of an iovec source to dst; advance: move past them. */
static void gather_to(struct ory_reader *rd, uint8_t *dst, size_t len, bool advance)
{
	unsigned i = rd->iov_i;
	size_t off = rd->iov_off;
	for (size_t done = 0; done < len;) {
		const struct iovec *v = &rd->iov[i];
		size_t n = ORY_MIN(len - done, v->iov_len - off);
		if (dst)
			memcpy(dst + done, (const uint8_t *)v->iov_base + off, n);
		done += n;
		off += n;
		if (off == v->iov_len) {
			i++;
			off = 0;
		}
	}
	if (advance) {
		rd->iov_i = i;
		rd->iov_off = off;
	}
}

static void gather(struct ory_reader *rd, struct ory_chunk_slot *s, size_t len)
{
	gather_to(rd, s->in_area + ORY_DICT_MAX, len, true);
}

/* A source in memory with chunks the app ends: the number of chunks is known at once only
 * when the input fits one window (and, exactly one window, when the app keeps it whole). The
 * header of a one-chunk file differs, and a file read from disk must get the same bytes. */
static int cdc_count_known(struct req *r)
{
	struct ory_reader *rd = &r->reader;
	size_t n = rd->chunk_size;
	rd->eof_seq = rd->mem_len < n ? (rd->mem_len > 0) : UINT64_MAX;
	if (rd->mem_len != n)
		return 0;
	const uint8_t *p = rd->mem;
	uint8_t *copy = NULL;
	if (rd->iov) {
		if (!(copy = malloc(n)))
			return -ENOMEM;
		gather_to(rd, copy, n, false);
		p = copy;
	}
	if (r->spec.boundary(p, n) == n)
		rd->eof_seq = 1;
	free(copy);
	return 0;
}

/* The next chunk of a memory or iovec source whose chunks the app ends: its offset and length
 * (the iovec's bytes gathered into the slot). */
static void cdc_mem_next(struct req *r, struct ory_chunk_slot *s, size_t *off, size_t *len)
{
	struct ory_reader *rd = &r->reader;
	*off = (size_t)rd->next_off;
	size_t window = ORY_MIN(rd->chunk_size, rd->mem_len - *off);
	const uint8_t *p = rd->mem + *off;
	if (rd->iov) {
		gather_to(rd, s->in_area + ORY_DICT_MAX, window, false);
		p = s->in_area + ORY_DICT_MAX;
	}
	*len = window == rd->chunk_size ? r->spec.boundary(p, window) : window;
	if (rd->iov)
		gather_to(rd, NULL, *len, true);
	rd->next_off += *len;
	if (rd->next_off == rd->mem_len)
		rd->eof_seq = s->c.seq + 1;
	rd->data_end = s->c.seq + 1;
}

void ory_reader_start(struct req *r, struct ory_chunk_slot *s)
{
	struct ory_reader *rd = &r->reader;
	uint64_t seq = rd->next_seq++;
	s->c.seq = seq;
	s->c.status = 0;
	s->c.out_len = 0;
	s->tries = 0;
	s->device = -1;
	s->committable = false;
	s->strict = false;
	memset(s->avoid, 0, sizeof(s->avoid));
	*cell(r, seq) = s;

	uint64_t cut_off = 0;
	size_t cut_len = 0;
	if (r->spec.cut)
		r->spec.cut(r, seq, &cut_off, &cut_len);
	if (rd->fd < 0) {
		size_t off = r->spec.cut ? (size_t)cut_off : seq * rd->chunk_size;
		size_t len = r->spec.cut ? cut_len
			     : rd->whole ? rd->mem_len
					 : ORY_MIN(rd->chunk_size, rd->mem_len - off);
		if (rd->cdc)
			cdc_mem_next(r, s, &off, &len);
		if (rd->iov) {
			if (!rd->cdc)
				gather(rd, s, len);
			s->c.in = s->in_area + ORY_DICT_MAX;
		} else {
			s->c.in = rd->mem + off;
			/* In place, the dictionary is the input before the chunk (or the preset one
			 * before the first). */
			s->c.dict_len = ORY_MIN(rd->dict_size, off);
			s->c.dict = s->c.in - s->c.dict_len;
			if (seq == 0 && r->spec.dict_len) {
				s->c.dict = r->spec.dict;
				s->c.dict_len = r->spec.dict_len;
			}
		}
		s->c.in_len = len;
		atomic_store_explicit(&s->state, SLOT_READ, memory_order_relaxed);
		return;
	}
	s->file_off = r->spec.cut ? cut_off : rd->base_off + seq * rd->chunk_size;
	s->want = r->spec.cut ? cut_len : chunk_want(rd, seq);
	s->fill = 0;
	if (rd->cdc) { /* the window starts with what the chunk before left over */
		s->file_off = rd->base_off + rd->next_off;
		s->want = rd->limit == UINT64_MAX
				  ? rd->chunk_size
				  : (size_t)ORY_MIN((uint64_t)rd->chunk_size, rd->limit - rd->next_off);
		memcpy(s->in_area + ORY_DICT_MAX, rd->carry, rd->carry_len);
		s->fill = rd->carry_len;
		rd->carry_len = 0;
	}
	s->reading = true;
	s->c.in = s->in_area + ORY_DICT_MAX;
	rd->inflight++;
	atomic_store_explicit(&s->state, SLOT_READING, memory_order_relaxed);
	queue_read(r, s);
}

/* A window read in full: the app ends the chunk in it and the rest waits for the next one; a
 * window the input's end cut short is the last chunk. */
static void cdc_complete(struct req *r, struct ory_chunk_slot *s)
{
	struct ory_reader *rd = &r->reader;
	size_t n = s->fill;
	if (n == rd->chunk_size) {
		size_t cut = r->spec.boundary(s->c.in, n);
		rd->carry_len = n - cut;
		memcpy(rd->carry, s->c.in + cut, rd->carry_len);
		n = cut;
	} else if (s->c.seq + (n > 0) < rd->eof_seq) {
		rd->eof_seq = s->c.seq + (n > 0);
	}
	rd->next_off += n;
	if (n && s->c.seq + 1 > rd->data_end)
		rd->data_end = s->c.seq + 1;
	if (rd->data_end > rd->eof_seq)
		ory_req_fail(r, ORY_ORIGIN_INPUT, -EIO, "input changed while it was read");
	s->c.in_len = n;
	atomic_store_explicit(&s->state, SLOT_READ, memory_order_relaxed);
}

void ory_reader_complete(struct req *r, struct ory_chunk_slot *s, int res)
{
	struct ory_reader *rd = &r->reader;
	bool gone = atomic_load_explicit(&r->abandoned, memory_order_relaxed);
	if (!gone && (res == -EINTR || res == -EAGAIN)) {
		if (res == -EAGAIN) /* a non-blocking pipe: wait until it has data */
			ory_aio_poll_in(&r->rt->aio, rd->fd, s);
		else
			queue_read(r, s);
		return;
	}
	size_t want = s->want;
	if (res > 0) {
		s->fill += (size_t)res;
		if (s->fill < want && !gone) {
			queue_read(r, s);
			return;
		}
	}
	rd->inflight--;
	s->reading = false;
	if (res < 0) {
		if (res != -ECANCELED)
			ory_req_fail(r, ORY_ORIGIN_INPUT, -EIO, "read error: %s", strerror(-res));
		return;
	}
	if (rd->cdc) {
		cdc_complete(r, s);
		return;
	}
	if (s->fill && s->c.seq + 1 > rd->data_end)
		rd->data_end = s->c.seq + 1;
	/* A file that grew: the next chunk may hold data too. */
	if (rd->expect != UINT64_MAX && s->file_off + s->fill - rd->base_off > rd->expect)
		rd->expect = s->file_off + s->fill - rd->base_off;
	if (r->spec.cut && s->fill < want) { /* the file is shorter than the index says */
		ory_req_fail(r, ORY_ORIGIN_INPUT, -EBADMSG, "unexpected end of file");
		return;
	}
	if (!r->spec.cut && (s->fill < want || (rd->limit != UINT64_MAX &&
						(s->c.seq + 1) * rd->chunk_size >= rd->limit))) {
		/* end of input inside (or at the start of) this chunk, or the end of the range */
		uint64_t end = s->fill ? s->c.seq + 1 : s->c.seq;
		if (end < rd->eof_seq)
			rd->eof_seq = end;
	}
	/* Data past the end we found means the file shrank (or grew) while we read it. */
	if (rd->data_end > rd->eof_seq)
		ory_req_fail(r, ORY_ORIGIN_INPUT, -EIO, "input changed while it was read");
	s->c.in_len = s->fill;
	atomic_store_explicit(&s->state, SLOT_READ, memory_order_relaxed);
}

/* Put the last dict_size bytes of input before chunk s in front of it, then remember s's tail
 * for the chunk after it. */
static void prime(struct ory_reader *rd, struct ory_chunk_slot *s)
{
	memcpy(s->in_area + ORY_DICT_MAX - rd->tail_len, rd->tail, rd->tail_len);
	s->c.dict_len = rd->tail_len;
	s->c.dict = s->in_area + ORY_DICT_MAX - rd->tail_len;

	size_t n = s->c.in_len;
	if (n >= rd->dict_size) {
		memcpy(rd->tail, s->c.in + n - rd->dict_size, rd->dict_size);
		rd->tail_len = rd->dict_size;
		return;
	}
	size_t keep = ORY_MIN(rd->tail_len, rd->dict_size - n);
	memmove(rd->tail, rd->tail + rd->tail_len - keep, keep);
	memcpy(rd->tail + keep, s->c.in, n);
	rd->tail_len = keep + n;
}

struct ory_chunk_slot *ory_reader_next(struct req *r)
{
	struct ory_reader *rd = &r->reader;
	if (rd->next_out >= rd->eof_seq)
		return NULL;
	struct ory_chunk_slot *s = *cell(r, rd->next_out);
	if (!s || s->c.seq != rd->next_out ||
	    atomic_load_explicit(&s->state, memory_order_relaxed) != SLOT_READ)
		return NULL;
	if (s->c.seq == 0 && r->spec.first_chunk) {
		if (!ory_reader_count_known(rd))
			return NULL; /* a pipe's full first chunk: until the next read says */
		r->spec.first_chunk(r, rd->eof_seq == 1);
	}
	if (rd->fd >= 0 || rd->iov) {
		/* Priming from the input before, or only the first chunk from a preset dictionary
		 * (the tail holds it until then). */
		if (rd->dict_size || (s->c.seq == 0 && rd->tail_len)) {
			prime(rd, s);
		} else {
			s->c.dict_len = 0;
			s->c.dict = s->c.in;
		}
	}
	rd->next_out++;
	return s;
}

bool ory_reader_done(const struct req *r)
{
	return r->reader.next_out >= r->reader.eof_seq && r->reader.inflight == 0;
}

void ory_reader_cancel(struct req *r)
{
	struct ory_reader *rd = &r->reader;
	if (rd->fd < 0 || rd->inflight == 0)
		return;
	/* Each read's completion still comes back and returns its buffer. */
	for (uint64_t seq = rd->next_out; seq < rd->next_seq; seq++) {
		struct ory_chunk_slot *s = *cell(r, seq);
		if (s && s->c.seq == seq && s->reading)
			ory_aio_cancel(&r->rt->aio, s);
	}
}
