/* SPDX-License-Identifier: MIT */
/* gzip.c - compression requests: options, gzip / zlib / raw framing and the check values
 * combined chunk by chunk around the runtime, and the synchronous calls of the public API. */
#include <errno.h>
#include <string.h>

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
}

/* A request's framing state: check values of everything committed so far, combined chunk by
 * chunk in input order. Full chunks all have the same length, so their CRC combine operator
 * is computed once. */
struct gzip_frame {
	struct gzip_params p;
	enum ory_framing framing;
	bool unterminated;
	uint32_t crc, adler;
	uint64_t total;
	size_t chunk_size;
	uLong full_op;
	uint8_t header[10 + NAME_MAX_LEN + 1];
};
_Static_assert(sizeof(struct gzip_frame) <= sizeof(struct req_frame_store), "frame too big");

static void frame_committed(struct req *r, const struct ory_chunk *c)
{
	struct gzip_frame *f = r->spec.frame;
	f->crc = c->in_len == f->chunk_size
			 ? (uint32_t)crc32_combine_op(f->crc, c->check, f->full_op)
			 : (uint32_t)crc32_combine64(f->crc, c->check, (z_off64_t)c->in_len);
	if (f->p.adler)
		f->adler = (uint32_t)adler32_combine64(f->adler, c->check2, (z_off64_t)c->in_len);
	f->total += c->in_len;
}

static size_t frame_trailer(struct req *r, uint8_t *buf)
{
	struct gzip_frame *f = r->spec.frame;
	switch (f->framing) {
	case ORY_FRAMING_ZLIB:
		return zlib_trailer(buf, f->adler);
	case ORY_FRAMING_RAW:
		if (f->unterminated)
			return 0;
		memcpy(buf, "\x03\x00", GZIP_FINAL_BLOCK_LEN);
		return GZIP_FINAL_BLOCK_LEN;
	default:
		return gzip_trailer(buf, f->crc, f->total);
	}
}

static void frame_finish(struct req *r)
{
	struct gzip_frame *f = r->spec.frame;
	r->pub->crc32 = f->crc;
	r->pub->adler32 = f->p.adler ? f->adler : 0;
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
	if (o.dict_len && (!o.dict || !primed || o.framing == ORY_FRAMING_GZIP))
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL,
				    "a preset dictionary needs raw or zlib framing at levels 1-3 "
				    "(ISA-L) without `independent`: libdeflate (4-9) has none");
	if (o.name && strlen(o.name) > NAME_MAX_LEN)
		return ory_req_fail(r, ORY_ORIGIN_NONE, -EINVAL, "file name over %d bytes for the header",
				    NAME_MAX_LEN);
	int rc = ory_req_endpoints(r, true);
	if (rc < 0)
		return rc;

	struct gzip_frame *f = r->spec.frame;
	memset(f, 0, offsetof(struct gzip_frame, header));
	f->p = (struct gzip_params){ .level = o.level, .primed = primed,
				     .adler = o.framing == ORY_FRAMING_ZLIB };
	f->framing = o.framing;
	f->unterminated = o.unterminated && o.framing == ORY_FRAMING_RAW;
	f->adler = 1;
	f->chunk_size = chunk;
	f->full_op = crc32_combine_gen64((z_off64_t)chunk);
	/* only the last 32 KiB of a dictionary can matter to deflate */
	const uint8_t *dict = o.dict;
	size_t dict_len = o.dict_len;
	if (dict_len > ORY_DICT_MAX) {
		dict += dict_len - ORY_DICT_MAX;
		dict_len = ORY_DICT_MAX;
	}
	size_t hlen = 0;
	if (o.framing == ORY_FRAMING_GZIP)
		hlen = gzip_header(f->header, sizeof(f->header), o.level, o.name, o.mtime);
	else if (o.framing == ORY_FRAMING_ZLIB)
		hlen = zlib_header(f->header, o.level, dict, dict_len);
	/* A memory input smaller than a chunk needs only its own bound. */
	size_t bound_in = r->src.fd < 0 && !r->src.iov ? ORY_MIN(chunk, r->src.mem_len) : chunk;
	r->spec = (struct ory_job_spec){
		.app = &ory_gzip_app,
		.params = &f->p,
		.chunk_size = chunk,
		.dict_size = primed ? ORY_DICT_MAX : 0,
		.dict = dict,
		.dict_len = dict_len,
		.out_bound = gzip_chunk_bound(bound_in),
		.header = f->header,
		.header_len = hlen,
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
	struct gzip_frame *f = r->spec.frame;
	memset(f, 0, offsetof(struct gzip_frame, header));
	f->chunk_size = r->rt->opts.chunk_size;
	f->full_op = crc32_combine_gen64((z_off64_t)f->chunk_size);
	r->spec = (struct ory_job_spec){
		.app = &ory_crc_app,
		.params = &f->p,
		.chunk_size = f->chunk_size,
		.committed = frame_committed,
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
	size_t chunk = rt->opts.chunk_size;
	size_t full = in_len / chunk, rest = in_len % chunk;
	return 10 + 10 + full * gzip_chunk_bound(chunk) + (rest ? gzip_chunk_bound(rest) : 0);
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
