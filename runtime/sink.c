/* SPDX-License-Identifier: MIT */
/*
 * sink.c - the output side of a request, on the service thread: committing its chunks in
 * input order (the app's emit and committed hooks), the header once the input says how many
 * chunks there are, and the writes to a memory sink or, one piece at a time through io_uring,
 * to an fd (header, chunks, trailer, and the header again when it holds the index).
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "rt.h"

int ory_sink_put(struct req *r, const uint8_t *data, size_t len)
{
	struct ory_sink *k = &r->sink;
	if (data == k->mem + k->mem_len) { /* written in place by the device */
		k->mem_len += len;
		return 0;
	}
	if (len > k->mem_cap - k->mem_len)
		return ory_req_fail(r, ORY_ORIGIN_OUTPUT, -ENOSPC, "output buffer too small");
	if (len)
		memcpy(k->mem + k->mem_len, data, len);
	k->mem_len += len;
	return 0;
}

/* The header depends on whether there is more than one chunk: it waits until the input says
 * (a pipe of exactly one chunk ends only with the next read), so that the bytes never depend
 * on timing. */
bool ory_sink_header_known(const struct req *r)
{
	return !r->spec.before_header || ory_reader_count_known(&r->reader);
}

static void header_fix(struct req *r, uint64_t chunks)
{
	if (!r->spec.before_header)
		return;
	size_t was = r->spec.header_len;
	r->spec.before_header(r, chunks);
	r->spec.before_header = NULL;
	r->bytes_out = r->bytes_out - was + r->spec.header_len;
}

/* A memory sink (or none) takes the header once it is known. */
int ory_sink_mem_header(struct req *r, uint64_t chunks)
{
	header_fix(r, chunks);
	r->header_done = true;
	return r->sink.mem ? ory_sink_put(r, r->spec.header, r->spec.header_len) : 0;
}

/* The next piece an fd sink must write: header, committed chunks in order, trailer, and last
 * the header again when the app asks for it (it holds the index). *off: where it goes (-1: a
 * pipe's position). */
static bool next_piece(struct req *r, const uint8_t **data, size_t *len, int64_t *off)
{
	*off = r->out_pos < 0 ? -1 : r->out_pos;
	if (!r->header_done && r->write_off == 0) {
		if (!ory_sink_header_known(r))
			return false;
		header_fix(r, r->reader.eof_seq);
	}
	if (!r->header_done) {
		*data = r->spec.header;
		*len = r->spec.header_len;
		r->piece = PIECE_HEADER;
		return true;
	}
	if (r->next_write < r->next_commit) {
		struct ory_chunk_slot *s = r->cells[r->next_write % r->rt->pool.count];
		*data = s->c.out;
		*len = s->c.out_len;
		r->piece = PIECE_CHUNK;
		return true;
	}
	if (!r->tail_known)
		return false;
	if (!r->trailer_done) {
		*data = r->tail;
		*len = r->tail_len;
		r->piece = PIECE_TRAILER;
		return true;
	}
	if (r->rehead && !r->rehead_done && r->out_start >= 0) {
		*data = r->rehead;
		*len = r->rehead_len;
		*off = r->out_start + (int64_t)r->write_off;
		r->piece = PIECE_REHEAD;
		return true;
	}
	return false;
}

void ory_sink_pump(struct req *r)
{
	const uint8_t *data;
	size_t len;
	int64_t off;
	while (!r->writing && !ory_abandoned(r) && next_piece(r, &data, &len, &off)) {
		if (r->write_off < len) {
			size_t n = ORY_MIN(len - r->write_off, (size_t)1 << 30);
			ory_aio_write(&r->rt->aio, r->sink.fd, data + r->write_off, (unsigned)n, off, r);
			r->writing = true;
			return;
		}
		/* the piece is out (or empty) */
		r->write_off = 0;
		switch (r->piece) {
		case PIECE_HEADER:
			r->header_done = true;
			break;
		case PIECE_CHUNK: {
			struct ory_chunk_slot *s = r->cells[r->next_write % r->rt->pool.count];
			r->next_write++;
			ory_slot_put(r->rt, s);
			break;
		}
		case PIECE_TRAILER:
			r->trailer_done = true;
			break;
		case PIECE_REHEAD:
			r->rehead_done = true;
			break;
		}
	}
	ory_check_done(r);
}

void ory_sink_write_done(struct req *r, int res)
{
	r->writing = false;
	if (res < 0) {
		int e = -res;
		/* Keep the errno the caller can act on (ENOSPC, EPIPE); the rest is I/O. */
		int rc = (e == ENOSPC || e == EPIPE || e == EDQUOT || e == EFBIG || e == EBADF)
				 ? -e
				 : -EIO;
		if (e != ECANCELED)
			ory_req_fail(r, ORY_ORIGIN_OUTPUT, rc, "write error: %s", strerror(e));
		ory_req_abort(r, e == ECANCELED ? -ECANCELED : rc);
	} else if (res == 0) {
		ory_req_abort(r, ory_req_fail(r, ORY_ORIGIN_OUTPUT, -EIO,
				     "write error: device accepts no more data"));
	} else {
		r->write_off += (size_t)res;
		if (r->out_pos >= 0 && r->piece != PIECE_REHEAD)
			r->out_pos += res;
	}
	/* The piece being written when the request failed is no longer held by the kernel. */
	if (ory_abandoned(r)) {
		struct ory_chunk_slot *s = r->cells[r->next_write % r->rt->pool.count];
		if (r->piece == PIECE_CHUNK && s && s->c.seq == r->next_write &&
		    r->next_write < r->next_commit)
			ory_slot_put(r->rt, s);
		ory_check_done(r);
		return;
	}
	ory_sink_pump(r);
}

/* Write every finished chunk that is next in input order. */
void ory_sink_commit(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	const struct ory_job_spec *spec = &r->spec;
	while (!ory_abandoned(r)) {
		struct ory_chunk_slot *s = r->cells[r->next_commit % rt->pool.count];
		if (!s || s->c.seq != r->next_commit || !s->committable)
			break;
		if (r->sink.fd < 0 && !r->header_done) {
			int rc = ory_sink_header_known(r) ? ory_sink_mem_header(r, r->reader.eof_seq) : 0;
			if (rc < 0)
				return ory_req_abort(r, rc);
			if (!r->header_done)
				break; /* on_io commits when the input says */
		}
		struct ory_chunk *c = &s->c;
		const uint8_t *data = c->out;
		size_t len = c->out_len;
		int rc = spec->emit ? spec->emit(r, c, &data, &len) : 0;
		if (rc == 0 && r->sink.fd < 0 && r->sink.mem)
			rc = ory_sink_put(r, data, len);
		if (rc < 0)
			return ory_req_abort(r, rc);
		/* An fd sink writes from the chunk: keep what emit chose there. */
		c->out = (uint8_t *)data;
		c->out_len = len;
		if (spec->committed && (rc = spec->committed(r, c)) < 0)
			return ory_req_abort(r, rc);
		struct ory_device *d = &rt->devices[s->device];
		atomic_fetch_add_explicit(&d->chunks, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&d->bytes_in, c->in_len, memory_order_relaxed);
		if (s->tries)
			atomic_fetch_add_explicit(&d->retries, 1, memory_order_relaxed);
		r->chunks++;
		r->bytes_in += c->in_len;
		r->bytes_out += len;
		__atomic_store_n(&r->pub->bytes_in, r->bytes_in, __ATOMIC_RELAXED);
		__atomic_store_n(&r->pub->bytes_out, r->bytes_out, __ATOMIC_RELAXED);
		r->next_commit++;
		if (r->sink.fd < 0) {
			r->next_write = r->next_commit;
			ory_slot_put(rt, s);
		}
	}
	if (r->sink.fd >= 0)
		ory_sink_pump(r);
	else
		ory_check_done(r);
}

