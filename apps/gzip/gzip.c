/* SPDX-License-Identifier: MIT */
/* gzip.c - compression requests: options, gzip / zlib / raw framing and the check values
 * combined chunk by chunk around the runtime, and the synchronous calls of the public API. */
#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "../../runtime/rt.h"
#include "gzip_internal.h"

#define KiB ((size_t)1024)
#define NAME_MAX_LEN 1023

void ory_gzip_opts_init(struct ory_gzip_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->struct_size = sizeof(*o);
	o->level = 6;
	o->independent = true;
	o->index = true;
}

/* A request's framing (framer.c) and where its chunks' results go. */
struct gzip_frame {
	struct gzip_params p;
	struct ory_gzip_framer *fr;
	struct ory_chunk_info *info;   /* the caller's, or NULL */
	uint64_t info_cap, info_n;
};
_Static_assert(sizeof(struct gzip_frame) <= sizeof(struct req_frame_store), "frame too big");

static int frame_committed(struct req *r, const struct ory_chunk *c)
{
	struct gzip_frame *f = r->spec.frame;
	struct ory_chunk_info ci = { .out_len = (uint32_t)c->out_len, .in_len = (uint32_t)c->in_len,
				     .crc32 = c->check };
	if (f->info) {
		if (f->info_n == f->info_cap)
			return ory_req_fail(r, ORY_ORIGIN_OUTPUT, -ENOSPC,
					    "more than the %llu chunk_info entries given",
					    (unsigned long long)f->info_cap);
		f->info[f->info_n++] = ci;
	}
	if (gzip_framer_add(f->fr, &ci, c->check2) < 0)
		return ory_req_fail(r, ORY_ORIGIN_NONE, -ENOMEM, "out of memory");
	if (gzip_chunk_ends(c))
		gzip_framer_ended(f->fr);
	return 0;
}

static void frame_first_chunk(struct req *r, bool alone)
{
	struct gzip_frame *f = r->spec.frame;
	f->p.first_ends = alone;
}

static void frame_before_header(struct req *r, uint64_t chunks)
{
	struct gzip_frame *f = r->spec.frame;
	if (chunks <= 1) {
		gzip_framer_one_chunk(f->fr);
		r->spec.header = gzip_framer_header(f->fr, &r->spec.header_len);
	}
}

static const uint8_t *frame_trailer(struct req *r, size_t *len, const uint8_t **head,
				    size_t *head_len)
{
	struct gzip_frame *f = r->spec.frame;
	return gzip_framer_finish(f->fr, len, head, head_len);
}

static void frame_finish(struct req *r)
{
	struct gzip_frame *f = r->spec.frame;
	r->pub->crc32 = gzip_framer_crc(f->fr);
	r->pub->adler32 = f->p.adler ? gzip_framer_adler(f->fr) : 0;
	gzip_framer_free(f->fr);
	f->fr = NULL;
}

/* The input's size if it can be known now (a buffer, or the rest of a regular file), and
 * whether the output can take its header again at the end (a buffer, or a regular file). */
static uint64_t input_size(const struct req *r)
{
	const struct ory_source *src = &r->src;
	if (src->fd < 0) {
		uint64_t n = src->mem_len;
		for (unsigned i = 0; src->iov && i < src->iovcnt; i++)
			n += src->iov[i].iov_len;
		return n;
	}
	struct stat st;
	if (fstat(src->fd, &st) < 0 || !S_ISREG(st.st_mode))
		return UINT64_MAX;
	off_t pos = src->has_offset ? (off_t)src->offset : lseek(src->fd, 0, SEEK_CUR);
	uint64_t left = pos >= 0 && st.st_size > pos ? (uint64_t)(st.st_size - pos) : 0;
	return src->len && src->len < left ? src->len : left;
}

static bool output_rewritable(const struct req *r)
{
	struct stat st;
	if (r->sink.fd < 0)
		return true;
	return fstat(r->sink.fd, &st) == 0 && S_ISREG(st.st_mode) &&
	       lseek(r->sink.fd, 0, SEEK_CUR) >= 0;
}

/* Input and output of a request as the runtime reads and writes them. */
int ory_req_endpoints(struct req *r, bool need_out)
{
	const struct ory_request *pub = r->pub;
	if (pub->in_fd >= 0) {
		r->src = (struct ory_source){ .fd = pub->in_fd, .has_offset = pub->in_offset >= 0,
					      .offset = (uint64_t)pub->in_offset, .len = pub->in_len };
	} else if (pub->in_iov) {
		r->src = (struct ory_source){ .fd = -1, .iov = pub->in_iov,
					      .iovcnt = pub->in_iovcnt };
	} else {
		if (!pub->in && pub->in_len)
			return ory_req_fail(r, ORY_ORIGIN_INPUT, -EINVAL, "no input buffer");
		r->src = (struct ory_source){ .fd = -1, .mem = pub->in, .mem_len = pub->in_len };
	}
	if (pub->out_fd >= 0)
		r->sink = (struct ory_sink){ .fd = pub->out_fd };
	else if (need_out && !pub->out)
		return ory_req_fail(r, ORY_ORIGIN_OUTPUT, -EINVAL, "no output buffer or file");
	else
		r->sink = (struct ory_sink){ .fd = -1, .mem = pub->out, .mem_cap = pub->out_cap };
	return 0;
}

int ory_deflate_prepare(struct req *r)
{
	struct ory_runtime *rt = r->rt;
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	if (r->pub->gzip &&
	    !ory_take_struct(&o, sizeof(o), r->pub->gzip, offsetof(struct ory_gzip_opts, independent)))
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL, "gzip options struct too small");
	if (o.level < 1 || o.level > 9)
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL, "compression level %d out of range 1..9",
				    o.level);
	if (o.framing > ORY_FRAMING_RAW)
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL, "unknown framing %d", (int)o.framing);
	size_t chunk = o.chunk_size ? o.chunk_size : rt->opts.chunk_size;
	if (chunk < 32 * KiB || chunk > rt->opts.chunk_size)
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL,
				    "chunk size %zu out of range (32 KiB .. the runtime's %zu)", chunk,
				    rt->opts.chunk_size);
	bool primed = !o.independent && o.level <= 3;
	if (o.rsyncable && (!o.independent || o.dict_len))
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL,
				    "--rsyncable needs independent chunks and no preset dictionary: "
				    "a chunk must not depend on the bytes before it");
	if (o.dict_len && (!o.dict || o.level > 3 || o.framing == ORY_FRAMING_GZIP))
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL,
				    "a preset dictionary needs raw or zlib framing at levels 1-3 "
				    "(ISA-L): libdeflate (4-9) has none, gzip no place to name it");
	if (o.name && strlen(o.name) > NAME_MAX_LEN)
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL, "file name over %d bytes for the header",
				    NAME_MAX_LEN);
	int rc = ory_req_endpoints(r, true);
	if (rc < 0)
		return rc;

	/* only the last 32 KiB of a dictionary can matter to deflate */
	if (o.dict_len > ORY_DICT_MAX) {
		o.dict = (const uint8_t *)o.dict + o.dict_len - ORY_DICT_MAX;
		o.dict_len = ORY_DICT_MAX;
	}
	o.independent = !primed;
	struct gzip_frame *f = r->spec.frame;
	memset(f, 0, sizeof(*f));
	f->p = (struct gzip_params){ .level = o.level, .primed = primed,
				     .adler = o.framing == ORY_FRAMING_ZLIB, .rsync = o.rsyncable };
	f->info = r->pub->chunk_info;
	f->info_cap = r->pub->chunk_info_cap;
	rc = gzip_framer_new(&o, chunk, input_size(r), output_rewritable(r), &f->fr);
	if (rc < 0)
		return ory_req_fail(r, ORY_ORIGIN_NONE, rc, "out of memory");
	size_t hlen;
	const uint8_t *header = gzip_framer_header(f->fr, &hlen);
	/* A memory input smaller than a chunk needs only its own bound. */
	size_t bound_in = r->src.fd < 0 && !r->src.iov ? ORY_MIN(chunk, r->src.mem_len) : chunk;
	r->spec = (struct ory_job_spec){
		.app = &ory_gzip_app,
		.params = &f->p,
		.chunk_size = chunk,
		.dict_size = primed ? ORY_DICT_MAX : 0,
		.dict = o.dict,
		.dict_len = o.dict_len,
		.out_bound = gzip_chunk_bound(bound_in),
		.header = header,
		.header_len = hlen,
		.boundary = o.rsyncable ? gzip_rsync_cut : NULL,
		.before_header = frame_before_header,
		.first_chunk = gzip_may_end(&o) ? frame_first_chunk : NULL,
		.committed = frame_committed,
		.trailer = frame_trailer,
		.finish = frame_finish,
		.frame = f,
	};
	r->aq = ory_app_queues(rt, &ory_gzip_app);
	return 0;
}

/* ---- CRC-32 only ------------------------------------------------------------------------- */

int ory_crc_prepare(struct req *r)
{
	int rc = ory_req_endpoints(r, false);
	if (rc < 0)
		return rc;
	r->sink = (struct ory_sink){ .fd = -1 }; /* no output */
	/* A raw, unterminated framer: no bytes around the data, just the CRC combined. */
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	o.framing = ORY_FRAMING_RAW;
	o.unterminated = true;
	struct gzip_frame *f = r->spec.frame;
	memset(f, 0, sizeof(*f));
	rc = gzip_framer_new(&o, r->rt->opts.chunk_size, UINT64_MAX, false, &f->fr);
	if (rc < 0)
		return ory_req_fail(r, ORY_ORIGIN_NONE, rc, "out of memory");
	r->spec = (struct ory_job_spec){
		.app = &ory_crc_app,
		.params = &f->p,
		.chunk_size = r->rt->opts.chunk_size,
		.header = (const uint8_t *)"",
		.committed = frame_committed,
		.trailer = frame_trailer,
		.finish = frame_finish,
		.frame = f,
	};
	r->aq = ory_app_queues(r->rt, &ory_crc_app);
	return 0;
}

/* ---- the synchronous calls --------------------------------------------------------------- */

int ory_gzip_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_gzip_opts *opts,
		struct ory_job_stats *stats)
{
	if (!rt || in_fd < 0 || out_fd < 0)
		return -EINVAL;
	struct ory_request req;
	ory_request_init(&req, ORY_OP_DEFLATE);
	req.in_fd = in_fd;
	req.out_fd = out_fd;
	req.gzip = opts;
	bool progress = opts && opts->struct_size >= offsetof(struct ory_gzip_opts, progress_arg);
	return ory_sync(rt, &req, progress ? opts->progress : NULL,
			progress ? opts->progress_arg : NULL, stats);
}

size_t ory_gzip_bound(const struct ory_runtime *rt, size_t in_len)
{
	/* Chunks of --rsyncable hold more than 7/8 of the chunk size (but the last), and each
	 * adds at most 5 bytes per 65535 of its input (stored blocks) plus 5 + 8. */
	size_t chunks = in_len / (rt->opts.chunk_size - rt->opts.chunk_size / 8) + 1;
	/* header, its extra field's length, the index (in the header or after the data), the
	 * chunks, the final block and trailer */
	return 10 + 2 + gzip_index_bound(chunks) + in_len + 5 * (in_len / 65535) + 13 * chunks + 10;
}

int ory_gzip_buf(struct ory_runtime *rt, const void *in, size_t in_len, void *out,
		 size_t out_cap, size_t *out_len, const struct ory_gzip_opts *opts,
		 struct ory_job_stats *stats)
{
	if (!rt || (!in && in_len) || !out || !out_len)
		return -EINVAL;
	struct ory_request req;
	ory_request_init(&req, ORY_OP_DEFLATE);
	req.in = in;
	req.in_len = in_len;
	req.out = out;
	req.out_cap = out_cap;
	req.gzip = opts;
	bool progress = opts && opts->struct_size >= offsetof(struct ory_gzip_opts, progress_arg);
	int rc = ory_sync(rt, &req, progress ? opts->progress : NULL,
			  progress ? opts->progress_arg : NULL, stats);
	*out_len = rc == 0 ? req.bytes_out : 0;
	return rc;
}
