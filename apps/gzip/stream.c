/* SPDX-License-Identifier: MIT */
/*
 * stream.c - compression of data that arrives in pieces, on top of requests.
 *
 * What is written fills a chunk buffer; a full buffer becomes a request for raw deflate of one
 * chunk, unterminated, primed with the 32 KiB of input before it (kept aside in `tail`) exactly
 * as the runtime primes the chunks of one large request. Its output is therefore the bytes that
 * chunk gets inside ory_gzip_fd; the stream adds the same header and, from each chunk's CRC-32
 * (and Adler-32), the same trailer. `depth` buffers rotate: while some compress, the caller
 * fills the next; outputs are delivered strictly in order.
 */
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>

#include <isa-l/igzip_lib.h>
#include <zlib.h>

#include "../../runtime/rt.h"
#include "gzip_internal.h"

enum { BUF_FREE, BUF_FILLING, BUF_INFLIGHT };

struct sbuf {
	struct ory_request req;
	struct ory_gzip_opts g;
	struct ory_stream *s;
	uint8_t *in;           /* ORY_DICT_MAX bytes of dictionary room, then the chunk */
	size_t len;
	uint8_t *out;
	size_t out_read;       /* pull mode: bytes of out already read */
	int state;
	bool retired;          /* its check values and sizes are in the stream's totals */
	uint32_t adler;        /* of its input, for zlib framing */
	_Atomic bool done;
};

/* Header or trailer bytes (the framer's) and how far they were handed out. */
struct frame_bytes {
	const uint8_t *b;
	size_t len, done;
};

struct ory_stream {
	struct ory_runtime *rt;
	struct ory_stream_opts o;
	struct ory_gzip_opts g;
	size_t chunk, bound;
	unsigned depth;
	struct sbuf *bufs;
	unsigned head, count;  /* oldest submitted buffer; buffers submitted and not delivered */
	unsigned fill;         /* the buffer being filled (BUF_FILLING) or next to be */
	uint8_t tail[ORY_DICT_MAX];
	size_t tail_len;
	struct frame_bytes header, trail;
	bool header_set;       /* header is final: no output before it is (set_header) */
	struct ory_gzip_framer *fr;
	bool finished;
	_Atomic uint32_t completions; /* futex word: bumped by every chunk's completion */
	uint64_t submitted;    /* buffers handed to the runtime */
	uint64_t total, out_total, chunks, retries, t0;
	int error;
	char errmsg[256];
};

void ory_stream_opts_init(struct ory_stream_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->struct_size = sizeof(*o);
	o->depth = 4;
}

static void chunk_done(struct ory_request *req)
{
	struct sbuf *b = req->cookie;
	struct ory_stream *s = b->s;
	atomic_store_explicit(&b->done, true, memory_order_release);
	atomic_fetch_add_explicit(&s->completions, 1, memory_order_release);
	syscall(SYS_futex, &s->completions, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}

static int fail(struct ory_stream *s, int rc, const char *msg)
{
	if (!s->error) {
		s->error = rc;
		snprintf(s->errmsg, sizeof(s->errmsg), "%s", msg);
	}
	return s->error;
}

/* Sleep until a completion after `seen` (or `ms` milliseconds, when not 0). */
static void wait_completion(struct ory_stream *s, uint32_t seen, unsigned ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	syscall(SYS_futex, &s->completions, FUTEX_WAIT_PRIVATE, seen, ms ? &ts : NULL, NULL, 0);
}

/* Add a finished chunk to the totals (in input order: CRC combining needs it). */
static int retire(struct ory_stream *s, struct sbuf *b)
{
	if (b->retired)
		return 0;
	if (b->req.status < 0)
		return fail(s, b->req.status, b->req.errmsg);
	b->retired = true;
	struct ory_chunk_info ci = { .out_len = (uint32_t)b->req.bytes_out,
				     .in_len = (uint32_t)b->len, .crc32 = b->req.crc32 };
	if (gzip_framer_add(s->fr, &ci, b->adler) < 0)
		return fail(s, -ENOMEM, "out of memory");
	s->total += b->len;
	s->out_total += b->req.bytes_out;
	s->chunks++;
	s->retries += b->req.retries;
	return 0;
}

static void recycle(struct ory_stream *s, struct sbuf *b)
{
	b->state = BUF_FREE;
	b->retired = false;
	b->len = b->out_read = 0;
	b->adler = 1;
	s->head = (s->head + 1) % s->depth;
	s->count--;
}

/* Callback mode: hand out the header, then every finished chunk in order; `all`: wait for
 * every chunk in flight. */
static int put_frame(struct ory_stream *s, struct frame_bytes *f)
{
	if (f->done < f->len) {
		int rc = s->o.out(s->o.out_arg, f->b + f->done, f->len - f->done);
		if (rc < 0)
			return fail(s, rc, "output callback failed");
		f->done = f->len;
	}
	return 0;
}

/* Wait until buffer b's request has completed. */
static void wait_done(struct ory_stream *s, struct sbuf *b)
{
	while (!atomic_load_explicit(&b->done, memory_order_acquire)) {
		uint32_t seen = atomic_load_explicit(&s->completions, memory_order_acquire);
		if (!atomic_load_explicit(&b->done, memory_order_acquire))
			wait_completion(s, seen, 0);
	}
}

static int deliver(struct ory_stream *s, bool all)
{
	if (!s->header_set)
		return s->error;
	if (put_frame(s, &s->header) < 0)
		return s->error;
	while (s->count && !s->error) {
		struct sbuf *b = &s->bufs[s->head];
		if (!atomic_load_explicit(&b->done, memory_order_acquire)) {
			if (!all)
				return 0;
			wait_done(s, b);
		}
		int rc = retire(s, b);
		if (rc == 0 && b->req.bytes_out)
			rc = s->o.out(s->o.out_arg, b->out, b->req.bytes_out);
		if (rc < 0)
			return fail(s, rc, s->error ? s->errmsg : "output callback failed");
		recycle(s, b);
	}
	return s->error;
}

/* The input so far ends with buffer b: keep its last 32 KiB for the next chunk's dictionary. */
static void keep_tail(struct ory_stream *s, const uint8_t *data, size_t n)
{
	if (n >= ORY_DICT_MAX) {
		memcpy(s->tail, data + n - ORY_DICT_MAX, ORY_DICT_MAX);
		s->tail_len = ORY_DICT_MAX;
		return;
	}
	size_t keep = ORY_MIN(s->tail_len, ORY_DICT_MAX - n);
	memmove(s->tail, s->tail + s->tail_len - keep, keep);
	memcpy(s->tail + keep, data, n);
	s->tail_len = keep + n;
}

/* Output starts once it is known whether the first chunk is the only one, as ory_gzip_fd
 * waits for the next read of a pipe: one chunk has no index. A write of more data, a flush or
 * the finish says. */
static void set_header(struct ory_stream *s, bool one_chunk)
{
	if (s->header_set)
		return;
	if (one_chunk)
		gzip_framer_one_chunk(s->fr);
	s->header.b = gzip_framer_header(s->fr, &s->header.len);
	s->header_set = true;
}

/* Turn the filling buffer into a request; `last`: the stream's last one. */
static int submit(struct ory_stream *s, bool last)
{
	struct sbuf *b = &s->bufs[s->fill];
	if (b->state != BUF_FILLING || b->len == 0)
		return 0;
	bool primed = !s->g.independent && s->g.level <= 3;
	/* A stream of one chunk ends in it, as that input does in ory_gzip_fd (gzip_chunk_ends):
	 * the request is terminated, and the trailer adds no final block. */
	bool ends = last && s->submitted == 0 && gzip_may_end(&s->g);
	if (ends)
		gzip_framer_ended(s->fr);
	s->submitted++;
	b->g = s->g;
	b->g.framing = ORY_FRAMING_RAW;
	b->g.unterminated = !ends;
	b->g.name = NULL;
	b->g.progress = NULL;
	b->g.dict = NULL;
	b->g.dict_len = 0;
	/* the input before (primed), or a preset dictionary: only the first chunk has it then */
	if (s->tail_len) {
		memcpy(b->in + ORY_DICT_MAX - s->tail_len, s->tail, s->tail_len);
		b->g.dict = b->in + ORY_DICT_MAX - s->tail_len;
		b->g.dict_len = s->tail_len;
	}
	if (primed)
		keep_tail(s, b->in + ORY_DICT_MAX, b->len);
	else
		s->tail_len = 0; /* a preset dictionary was for the first chunk only */
	ory_request_init(&b->req, ORY_OP_DEFLATE);
	b->req.in = b->in + ORY_DICT_MAX;
	b->req.in_len = b->len;
	b->req.out = b->out;
	b->req.out_cap = s->bound;
	b->req.gzip = &b->g;
	b->req.done = chunk_done;
	b->req.cookie = b;
	atomic_store_explicit(&b->done, false, memory_order_relaxed);
	b->state = BUF_INFLIGHT;
	s->count++;
	s->fill = (s->fill + 1) % s->depth;
	for (;;) {
		uint32_t seen = atomic_load_explicit(&s->completions, memory_order_acquire);
		int rc = ory_submit(s->rt, NULL, &b->req);
		if (rc == 0)
			return 0;
		if (rc != -EAGAIN) {
			atomic_store_explicit(&b->done, true, memory_order_relaxed);
			b->req.status = rc;
			return fail(s, rc, b->req.errmsg[0] ? b->req.errmsg : ory_strerror(rc));
		}
		/* The runtime is full: a completion (ours or another's) makes room. */
		wait_completion(s, seen, 1);
	}
}

int ory_stream_create(struct ory_runtime *rt, const struct ory_stream_opts *opts,
		      struct ory_stream **out)
{
	if (!rt || !out)
		return -EINVAL;
	*out = NULL;
	struct ory_stream *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ory_stream_opts_init(&s->o);
	ory_gzip_opts_init(&s->g);
	int rc = -EINVAL;
	if (opts && !ory_take_struct(&s->o, sizeof(s->o), opts, sizeof(size_t)))
		goto fail;
	if (s->o.gzip && !ory_take_struct(&s->g, sizeof(s->g), s->o.gzip,
					  offsetof(struct ory_gzip_opts, independent)))
		goto fail;
	s->o.gzip = NULL;
	s->chunk = s->g.chunk_size ? s->g.chunk_size : rt->opts.chunk_size;
	if (s->o.depth < 1 || s->o.depth > 64 || s->g.level < 1 || s->g.level > 9 ||
	    s->g.framing > ORY_FRAMING_RAW || s->chunk > rt->opts.chunk_size ||
	    s->chunk < 32 * 1024 || (s->g.name && strlen(s->g.name) > 1023))
		goto fail;
	/* A stream's chunks end where its writer's buffers do, not where the content says. */
	rc = -ENOTSUP;
	if (s->g.rsyncable)
		goto fail;
	rc = -EINVAL;
	bool primed = !s->g.independent && s->g.level <= 3;
	if (s->g.dict_len && (!s->g.dict || s->g.level > 3 || s->g.framing == ORY_FRAMING_GZIP))
		goto fail;
	s->rt = rt;
	s->depth = s->o.depth;
	s->bound = gzip_chunk_bound(s->chunk);
	s->bufs = calloc(s->depth, sizeof(*s->bufs));
	rc = -ENOMEM;
	if (!s->bufs)
		goto fail;
	for (unsigned i = 0; i < s->depth; i++) {
		s->bufs[i].s = s;
		s->bufs[i].in = malloc(ORY_DICT_MAX + s->chunk);
		s->bufs[i].out = malloc(s->bound);
		if (!s->bufs[i].in || !s->bufs[i].out)
			goto fail;
	}
	if (s->g.dict_len) /* a preset dictionary primes the first chunk */
		keep_tail(s, s->g.dict, s->g.dict_len);
	/* the framer reads the dictionary for zlib's DICTID: it is in tail now */
	s->g.dict = s->tail;
	s->g.dict_len = s->tail_len;
	s->g.independent = !primed;
	rc = gzip_framer_new(&s->g, s->chunk, UINT64_MAX, false, &s->fr);
	if (rc < 0)
		goto fail;
	s->g.dict = NULL;
	s->g.dict_len = 0;
	s->g.name = NULL;
	for (unsigned i = 0; i < s->depth; i++)
		s->bufs[i].adler = 1;
	s->t0 = ory_now_ns();
	*out = s;
	return 0;
fail:
	ory_stream_destroy(s);
	return rc;
}

long ory_stream_write(struct ory_stream *s, const void *data, size_t len)
{
	if (!s || (!data && len) || s->finished)
		return -EINVAL;
	const uint8_t *p = data;
	size_t taken = 0;
	while (taken < len && !s->error) {
		/* Data after a full chunk: that chunk was not the last (the first waits to know). */
		if (s->bufs[s->fill].state == BUF_FILLING && s->bufs[s->fill].len == s->chunk)
			submit(s, false);
		if (s->submitted)
			set_header(s, false);
		struct sbuf *b = &s->bufs[s->fill];
		if (b->state == BUF_INFLIGHT) { /* every buffer busy: the oldest must go first */
			if (!s->o.out)
				break; /* pull mode never waits: the caller reads, then writes again */
			if (deliver(s, false) == 0 && b->state == BUF_INFLIGHT)
				wait_done(s, &s->bufs[s->head]);
			continue;
		}
		b->state = BUF_FILLING;
		size_t n = ORY_MIN(len - taken, s->chunk - b->len);
		memcpy(b->in + ORY_DICT_MAX + b->len, p + taken, n);
		/* zlib's check: taken here, in input order, while the piece is in cache */
		if (s->g.framing == ORY_FRAMING_ZLIB)
			b->adler = isal_adler32(b->adler, p + taken, n);
		b->len += n;
		taken += n;
		if (b->len == s->chunk && s->submitted)
			submit(s, false);
	}
	if (s->o.out && !s->error)
		deliver(s, false);
	if (s->error)
		return s->error;
	return (long)taken;
}

int ory_stream_flush(struct ory_stream *s)
{
	if (!s || s->finished)
		return -EINVAL;
	submit(s, false);
	if (s->submitted)
		set_header(s, false);
	return s->o.out ? deliver(s, true) : s->error;
}

static size_t take_frame(struct frame_bytes *f, uint8_t *dst, size_t cap)
{
	size_t n = ORY_MIN(cap, f->len - f->done);
	memcpy(dst, f->b + f->done, n);
	f->done += n;
	return n;
}

long ory_stream_read(struct ory_stream *s, void *buf, size_t cap)
{
	if (!s || (!buf && cap) || s->o.out)
		return -EINVAL;
	if (!s->header_set)
		return s->error; /* the first chunk waits to know if it is the only one */
	uint8_t *dst = buf;
	size_t got = take_frame(&s->header, dst, cap);
	while (got < cap && s->count && !s->error) {
		struct sbuf *b = &s->bufs[s->head];
		if (!atomic_load_explicit(&b->done, memory_order_acquire)) {
			if (got)
				break; /* return what there is now */
			wait_done(s, b);
		}
		if (retire(s, b) < 0)
			break;
		size_t n = ORY_MIN(cap - got, b->req.bytes_out - b->out_read);
		memcpy(dst + got, b->out + b->out_read, n);
		b->out_read += n;
		got += n;
		if (b->out_read == b->req.bytes_out)
			recycle(s, b);
	}
	if (!s->count && s->finished)
		got += take_frame(&s->trail, dst + got, cap - got);
	if (s->error)
		return s->error;
	return (long)got;
}

int ory_stream_finish(struct ory_stream *s, struct ory_job_stats *stats)
{
	if (!s || s->finished)
		return -EINVAL;
	submit(s, true);
	set_header(s, s->submitted <= 1);
	s->finished = true;
	int rc = s->o.out ? deliver(s, true) : s->error;
	/* Pulling, the chunks not read yet still count: they are retired in order, not read. */
	for (unsigned i = 0, k = s->head; rc == 0 && i < s->count; i++, k = (k + 1) % s->depth) {
		wait_done(s, &s->bufs[k]);
		rc = retire(s, &s->bufs[k]);
	}
	if (rc < 0)
		return rc;
	struct frame_bytes *t = &s->trail;
	const uint8_t *head;
	size_t head_len;
	t->b = gzip_framer_finish(s->fr, &t->len, &head, &head_len); /* no header to rewrite */
	if (!t->b)
		return fail(s, -ENOMEM, "out of memory");
	if (s->o.out && put_frame(s, t) < 0)
		return s->error;
	if (stats) {
		struct ory_job_stats st = {
			.struct_size = sizeof(st),
			.bytes_in = s->total,
			.bytes_out = s->header.len + s->out_total + t->len,
			.chunks = s->chunks,
			.retries = s->retries,
			.seconds = (double)(ory_now_ns() - s->t0) * 1e-9,
			.pool_bytes = ory_pool_bytes(&s->rt->pool),
		};
		size_t n = ORY_MIN(stats->struct_size, sizeof(st));
		st.struct_size = n;
		memcpy(stats, &st, n);
	}
	return 0;
}

const char *ory_stream_errmsg(const struct ory_stream *s)
{
	return s ? s->errmsg : "";
}

void ory_stream_destroy(struct ory_stream *s)
{
	if (!s)
		return;
	/* Requests in flight own their buffers until they complete. */
	for (unsigned i = 0; s->bufs && i < s->depth; i++)
		if (s->bufs[i].state == BUF_INFLIGHT && !atomic_load(&s->bufs[i].done))
			ory_cancel(s->rt, &s->bufs[i].req);
	for (unsigned i = 0; s->bufs && i < s->depth; i++) {
		struct sbuf *b = &s->bufs[i];
		if (b->state == BUF_INFLIGHT)
			wait_done(s, b);
		free(b->in);
		free(b->out);
	}
	free(s->bufs);
	gzip_framer_free(s->fr);
	free(s);
}
