/* SPDX-License-Identifier: MIT */
/* gzip.c - the gzip jobs of the public API: parameters, framing and CRC combining around the
 * engine. */
#include <errno.h>
#include <string.h>

#include <zlib.h>

#include "../../runtime/internal.h"
#include "gzip_internal.h"

void ory_gzip_opts_init(struct ory_gzip_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->struct_size = sizeof(*o);
	o->level = 6;
}

/* CRC-32 and length of everything committed so far, combined chunk by chunk in input order.
 * Full chunks all have the same length, so their combine operator is computed once. */
struct gzip_frame {
	uint32_t crc;
	uint64_t total;
	size_t chunk_size;
	uLong full_op;
};

static void frame_committed(void *arg, const struct ory_chunk *c)
{
	struct gzip_frame *f = arg;
	f->crc = c->in_len == f->chunk_size
			 ? (uint32_t)crc32_combine_op(f->crc, c->check, f->full_op)
			 : (uint32_t)crc32_combine64(f->crc, c->check, (z_off64_t)c->in_len);
	f->total += c->in_len;
}

static size_t frame_trailer(void *arg, uint8_t *buf, size_t cap)
{
	struct gzip_frame *f = arg;
	(void)cap;
	return gzip_trailer(buf, f->crc, f->total);
}

static int run_gzip(struct ory_runtime *rt, const struct ory_source *src, struct ory_sink *sink,
		    const struct ory_gzip_opts *in_opts, struct ory_job_stats *stats)
{
	struct ory_gzip_opts o;
	ory_gzip_opts_init(&o);
	if (in_opts &&
	    !ory_take_struct(&o, sizeof(o), in_opts, offsetof(struct ory_gzip_opts, independent)))
		return ory_fail(rt, -EINVAL, "gzip options struct too small");
	if (o.level < 1 || o.level > 9)
		return ory_fail(rt, -EINVAL, "compression level %d out of range 1..9", o.level);

	uint8_t header[10 + 256];
	size_t hlen = gzip_header(header, sizeof(header), o.level, o.name, o.mtime);
	if (!hlen)
		return ory_fail(rt, -EINVAL, "file name too long for the gzip header");

	struct gzip_params params = {
		.level = o.level,
		.primed = !o.independent && o.level <= 3,
	};
	size_t chunk = rt->opts.chunk_size;
	struct gzip_frame frame = {
		.crc = 0,
		.chunk_size = chunk,
		.full_op = crc32_combine_gen64((z_off64_t)chunk),
	};
	struct ory_job_spec spec = {
		.app = &ory_gzip_app,
		.params = &params,
		.dict_size = params.primed ? ORY_DICT_MAX : 0,
		.out_bound = gzip_chunk_bound(chunk),
		.header = header,
		.header_len = hlen,
		.committed = frame_committed,
		.trailer = frame_trailer,
		.frame_arg = &frame,
		.progress = o.progress,
		.progress_arg = o.progress_arg,
	};
	return ory_engine_run(rt, &spec, src, sink, stats);
}

int ory_gzip_fd(struct ory_runtime *rt, int in_fd, int out_fd, const struct ory_gzip_opts *opts,
		struct ory_job_stats *stats)
{
	if (!rt || in_fd < 0 || out_fd < 0)
		return -EINVAL;
	int rc = ory_job_enter(rt);
	if (rc < 0)
		return rc;
	struct ory_source src = { .fd = in_fd };
	struct ory_sink sink = { .fd = out_fd };
	rc = run_gzip(rt, &src, &sink, opts, stats);
	ory_job_leave(rt);
	return rc;
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
	int rc = ory_job_enter(rt);
	if (rc < 0)
		return rc;
	struct ory_source src = { .fd = -1, .mem = in, .mem_len = in_len };
	struct ory_sink sink = { .fd = -1, .mem = out, .mem_cap = out_cap };
	rc = run_gzip(rt, &src, &sink, opts, stats);
	*out_len = sink.mem_len;
	ory_job_leave(rt);
	return rc;
}
