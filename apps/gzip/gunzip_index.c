/* SPDX-License-Identifier: MIT */
/*
 * gunzip_index.c - decompression of our own files through their index (docs/format.md): the
 * chunks, cut where the index says, inflate on any CPU worker at once, and come back in order.
 * Every chunk is checked against its entry (size, CRC-32) and, when the whole member is read,
 * the combination against the member's trailer: a damaged file gives an error naming the
 * chunk, never other bytes. A range of the original (random access) inflates only the chunks
 * that cover it and writes only the bytes asked for.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "../../runtime/rt.h"
#include "gzip_internal.h"

struct gi_frame {
	struct inflate_params p;
	const struct gzip_index *x;
	size_t first, n;        /* the chunks read */
	uint64_t skip;          /* bytes of the first chunk's output before the range */
	uint64_t want;          /* bytes of the range (UINT64_MAX: to the end) */
	uint64_t written;
	bool whole;             /* every chunk: the trailer's CRC-32 and ISIZE are checked too */
	uint32_t crc;
	uint64_t total;
};
_Static_assert(sizeof(struct gi_frame) <= sizeof(struct req_frame_store), "frame too big");

static void gi_cut(struct req *r, uint64_t seq, uint64_t *off, size_t *len)
{
	struct gi_frame *f = r->spec.frame;
	size_t k = f->first + (size_t)seq;
	*off = f->x->coff[k];
	*len = f->x->e[k].out_len;
}

static uint64_t gi_place(struct req *r, uint64_t seq, size_t *len)
{
	struct gi_frame *f = r->spec.frame;
	size_t k = f->first + (size_t)seq;
	*len = f->x->e[k].in_len;
	return f->x->uoff[k] - f->x->uoff[f->first];
}

/* Every chunk against its index entry, before a range trims its output. */
static int gi_check(struct req *r, const struct ory_chunk *c)
{
	struct gi_frame *f = r->spec.frame;
	size_t k = f->first + (size_t)c->seq;
	const struct ory_chunk_info *e = &f->x->e[k];
	if (c->check != e->crc32 || c->out_len != e->in_len)
		return ory_req_fail(r, ORY_ORIGIN_INPUT, -EBADMSG,
				    "invalid compressed data--chunk %zu does not match the index "
				    "(%s)", k, c->out_len != e->in_len ? "length" : "crc");
	return 0;
}

static int gi_committed(struct req *r, const struct ory_chunk *c)
{
	struct gi_frame *f = r->spec.frame;
	int rc = gi_check(r, c);
	if (rc < 0)
		return rc;
	f->crc = (uint32_t)crc32_combine64(f->crc, c->check, (z_off64_t)c->out_len);
	f->total += c->out_len;
	if (f->whole && c->seq + 1 == f->n && (f->crc != f->x->crc || f->total != f->x->total))
		return ory_req_fail(r, ORY_ORIGIN_INPUT, -EBADMSG,
				    "invalid compressed data--crc or length error");
	return 0;
}

/* A range: only its bytes of each chunk's output. */
static int gi_emit(struct req *r, struct ory_chunk *c, const uint8_t **data, size_t *len)
{
	struct gi_frame *f = r->spec.frame;
	int rc = gi_check(r, c);
	if (rc < 0)
		return rc;
	uint64_t skip = c->seq == 0 ? f->skip : 0;
	uint64_t n = c->out_len > skip ? c->out_len - skip : 0;
	if (n > f->want - f->written)
		n = f->want - f->written;
	*data = c->out + skip;
	*len = (size_t)n;
	f->written += n;
	return 0;
}

struct gi_args {
	const struct gzip_index *x;
	int in_fd;
	const uint8_t *in;
	uint64_t in_len;
	size_t first, n;
	uint64_t skip, want;
	int out_fd;
	uint8_t *out;
	size_t out_cap;
};

static int gi_prepare(struct req *r, const void *arg)
{
	const struct gi_args *a = arg;
	struct gi_frame *f = r->spec.frame;
	memset(f, 0, sizeof(*f));
	f->p = (struct inflate_params){ .framing = ORY_FRAMING_GZIP, .chunk = true };
	f->x = a->x;
	f->first = a->first;
	f->n = a->n;
	f->skip = a->skip;
	f->want = a->want;
	f->whole = a->first == 0 && a->n == a->x->n && a->want == UINT64_MAX;
	r->src = a->in_fd >= 0 ? (struct ory_source){ .fd = a->in_fd }
			       : (struct ory_source){ .fd = -1, .mem = a->in, .mem_len = a->in_len };
	r->sink = a->out_fd >= 0 ? (struct ory_sink){ .fd = a->out_fd }
				 : (struct ory_sink){ .fd = -1, .mem = a->out, .mem_cap = a->out_cap };
	bool range = a->want != UINT64_MAX || a->skip;
	r->spec = (struct ory_job_spec){
		.app = &ory_inflate_app,
		.params = &f->p,
		.chunk_size = a->x->chunk_size,
		.header = (const uint8_t *)"",
		.cut = gi_cut,
		.cut_n = a->n,
		.place = range || !a->out ? NULL : gi_place,
		.emit = range ? gi_emit : NULL,
		.committed = range ? NULL : gi_committed,
		.frame = f,
	};
	r->aq = ory_app_queues(r->rt, &ory_inflate_app);
	return 0;
}

static int run(struct ory_runtime *rt, const struct gi_args *a, const struct ory_gunzip_opts *o,
	       struct ory_request *req)
{
	ory_request_init(req, ORY_OP_INFLATE);
	bool progress = o && o->struct_size >= offsetof(struct ory_gunzip_opts, progress_arg) +
							sizeof(o->progress_arg);
	return ory_sync_with(rt, req, gi_prepare, a, progress ? o->progress : NULL,
			     progress ? o->progress_arg : NULL, NULL);
}

/* Can this runtime read x through its index? Its buffers must hold a chunk. */
static bool usable(const struct ory_runtime *rt, const struct gzip_index *x)
{
	return x->rest == 0 && x->chunk_size <= rt->opts.chunk_size && x->n > 0;
}

int gunzip_indexed_fd(struct ory_runtime *rt, int in_fd, int out_fd,
		      const struct ory_gunzip_opts *o, struct ory_gunzip_result *res)
{
	struct stat st;
	off_t base = lseek(in_fd, 0, SEEK_CUR);
	if (fstat(in_fd, &st) < 0 || !S_ISREG(st.st_mode) || base < 0 || st.st_size <= base)
		return -ENOENT;
	struct gzip_index x;
	char why[160];
	int rc = gzip_index_load(&x, in_fd, NULL, (uint64_t)base, (uint64_t)st.st_size, why,
				 sizeof(why));
	/* Not ours, or not readable by index here: the streaming reader decides (it reads what
	 * GNU gzip reads, and a damaged index does not stop a sound data member). */
	if (rc < 0 || !usable(rt, &x)) {
		gzip_index_free(&x);
		return rc == -ENOMEM || rc == -EIO ? rc : -ENOENT;
	}
	struct gi_args a = { .x = &x, .in_fd = in_fd, .n = x.n, .want = UINT64_MAX,
			     .out_fd = out_fd };
	struct ory_request req;
	rc = run(rt, &a, o, &req);
	if (rc == 0) {
		lseek(in_fd, st.st_size, SEEK_SET); /* all read, as a streaming reader leaves it */
		if (res) {
			res->bytes_in = (uint64_t)(st.st_size - base);
			res->bytes_out = x.total;
			res->members = 1;
			res->trailing_garbage = false;
			res->chunks = x.n;
		}
	}
	gzip_index_free(&x);
	return rc;
}

int gunzip_indexed_buf(struct ory_runtime *rt, const uint8_t *in, size_t in_len, uint8_t *out,
		       size_t out_cap, size_t *out_len, const struct ory_gunzip_opts *o,
		       struct ory_gunzip_result *res)
{
	struct gzip_index x;
	char why[160];
	int rc = gzip_index_load(&x, -1, in, 0, in_len, why, sizeof(why));
	if (rc < 0 || !usable(rt, &x)) {
		gzip_index_free(&x);
		return rc == -ENOMEM ? rc : -ENOENT;
	}
	if (x.total > out_cap) {
		gzip_index_free(&x);
		return ory_tls_fail(rt, ORY_ORIGIN_OUTPUT, -ENOSPC, "output buffer too small");
	}
	struct gi_args a = { .x = &x, .in_fd = -1, .in = in, .in_len = in_len, .n = x.n,
			     .want = UINT64_MAX,
			     .out_fd = -1, .out = out, .out_cap = out_cap };
	struct ory_request req;
	rc = run(rt, &a, o, &req);
	*out_len = rc == 0 ? (size_t)x.total : 0;
	if (rc == 0 && res) {
		res->bytes_in = in_len;
		res->bytes_out = x.total;
		res->members = 1;
		res->trailing_garbage = false;
		res->chunks = x.n;
	}
	gzip_index_free(&x);
	return rc;
}

int ory_gunzip_range(struct ory_runtime *rt, int in_fd, uint64_t offset, uint64_t len,
		     void *out, size_t out_cap, size_t *out_len, const struct ory_gunzip_opts *opts)
{
	if (!rt || in_fd < 0 || !out_len || (!out && out_cap))
		return -EINVAL;
	*out_len = 0;
	ory_tls_set_error(rt, ORY_ORIGIN_NONE, "");
	struct stat st;
	if (fstat(in_fd, &st) < 0)
		return ory_tls_fail(rt, ORY_ORIGIN_INPUT, -errno, "%s", strerror(errno));
	if (!S_ISREG(st.st_mode))
		return ory_tls_fail(rt, ORY_ORIGIN_INPUT, -ESPIPE,
				    "random access needs a file, not a pipe or device");
	struct gzip_index x;
	char why[160];
	int rc = gzip_index_load(&x, in_fd, NULL, 0, (uint64_t)st.st_size, why, sizeof(why));
	if (rc == -ENOENT) {
		gzip_index_free(&x);
		return ory_tls_fail(rt, ORY_ORIGIN_INPUT, -ENOTSUP,
				    "random access is not available: no chunk index (not written by "
				    "octoray, or with --primed or one chunk)");
	}
	if (rc < 0) {
		gzip_index_free(&x);
		return rc == -EBADMSG ? ory_tls_fail(rt, ORY_ORIGIN_INPUT, rc, "%s", why)
				      : ory_tls_fail(rt, ORY_ORIGIN_INPUT, rc, "%s", ory_strerror(rc));
	}
	if (offset >= x.total || len == 0) {
		gzip_index_free(&x);
		return 0; /* past the end, as dd reads nothing there */
	}
	if (len > x.total - offset)
		len = x.total - offset;
	if (len > out_cap) {
		gzip_index_free(&x);
		return ory_tls_fail(rt, ORY_ORIGIN_OUTPUT, -ENOSPC, "output buffer too small");
	}
	if (x.chunk_size > rt->opts.chunk_size) {
		gzip_index_free(&x);
		return ory_tls_fail(rt, ORY_ORIGIN_INPUT, -ENOTSUP,
				    "its chunks (%u KiB) are larger than the runtime's (%zu KiB)",
				    x.chunk_size >> 10, rt->opts.chunk_size >> 10);
	}
	size_t first = gzip_index_chunk_at(&x, offset);
	size_t last = gzip_index_chunk_at(&x, offset + len - 1);
	struct gi_args a = { .x = &x, .in_fd = in_fd, .first = first, .n = last - first + 1,
			     .skip = offset - x.uoff[first], .want = len, .out_fd = -1,
			     .out = out, .out_cap = out_cap };
	struct ory_request req;
	rc = run(rt, &a, opts, &req);
	*out_len = rc == 0 ? (size_t)len : 0;
	gzip_index_free(&x);
	return rc;
}

int ory_gzip_info(int fd, struct ory_gzip_info *info, char *errmsg, size_t errmsg_len)
{
	char scratch[1];
	if (!errmsg) {
		errmsg = scratch;
		errmsg_len = sizeof(scratch);
	}
	if (errmsg_len)
		errmsg[0] = '\0';
	if (fd < 0 || !info || info->struct_size < sizeof(info->struct_size))
		return -EINVAL;
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	struct ory_gzip_info full = { .struct_size = sizeof(full) };
	struct gzip_index x;
	int rc = S_ISREG(st.st_mode)
			 ? gzip_index_load(&x, fd, NULL, 0, (uint64_t)st.st_size, errmsg, errmsg_len)
			 : -ENOENT;
	if (rc == 0) {
		full.indexed = true;
		full.index_at_end = x.rest == 0 && x.data_end < (uint64_t)st.st_size;
		full.chunks = x.n;
		full.chunk_size = x.chunk_size;
		full.size = x.total;
		full.crc32 = x.crc;
	}
	gzip_index_free(&x);
	size_t n = ORY_MIN(info->struct_size, sizeof(full));
	full.struct_size = n;
	memcpy(info, &full, n);
	return rc == -ENOENT ? 0 : rc;
}
